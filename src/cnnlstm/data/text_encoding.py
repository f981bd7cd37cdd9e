"""A delimited file's bytes as text lines: the encoding, told from the bytes or given.

Plant exports come as UTF-8, UTF-16 or UTF-32 text with or without a byte order mark, or as
Windows-1252 (``Temperatur Kühlwasser``). :class:`LineDecoder` decodes bytes as they arrive
(a whole file, or standard input read by parts) into whole lines: a BOM says the codec, else
UTF-8, else Windows-1252 (Latin-1 for a byte Windows-1252 leaves undefined) with an
:class:`EncodingNote` warning that says so. Binary files passed for a CSV (archives, workbooks,
images) are named. :func:`decode_text` decodes a whole file at once; :func:`check_encoding`
checks an encoding a user names.
"""

from __future__ import annotations

import codecs
import functools
import re

from cnnlstm.errors import DataError

__all__ = ["EncodingNote", "LineDecoder", "check_encoding", "decode_text"]


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_FALLBACKS = ("cp1252", "latin-1")
"""What text without a BOM that is not UTF-8 is read as: Windows-1252, the code page of Western
European Windows exports; Latin-1 when it holds a byte that Windows-1252 leaves undefined."""
_CODEC_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 (with a byte order mark)",
    "utf-16": "UTF-16",
    "utf-32": "UTF-32",
    "cp1252": "cp1252 (Windows-1252, Western European)",
    "latin-1": "Latin-1 (ISO 8859-1)",
}
# bytes that no text holds: C0 controls but tab, line ends, vertical tab, form feed and Ctrl-Z
# (the end of old DOS files), and DEL. UTF-16 letters are NUL-padded: the BOM tells them apart.
_CONTROL_TEXT = re.compile("[\x00-\x08\x0e-\x19\x1b-\x1f\x7f]")
_CONTROL_BYTES = re.compile(b"[\x00-\x08\x0e-\x19\x1b-\x1f\x7f]")
_TEXT_BYTES = bytes(b for b in range(256) if not _CONTROL_BYTES.fullmatch(bytes([b])))
_NON_ASCII = re.compile(b"[\x80-\xff]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")
_SIGNATURES = (
    (b"\x1f\x8b", "a gzip archive", "decompress it first (gunzip)"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook?)", "save the sheet as CSV"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel .xls workbook", "save the sheet as CSV"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image", ""),
    (b"\xff\xd8\xff", "a JPEG image", ""),
    (b"%PDF-", "a PDF document", ""),
    (b"PAR1", "a Parquet file", "pandas.read_parquet(...).to_csv(...) writes it as CSV"),
    (b"BZh", "a bzip2 archive", "decompress it first (bunzip2)"),
    (b"\xfd7zXZ\x00", "an xz archive", "decompress it first (unxz)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "extract it first"),
    (b"\x28\xb5\x2f\xfd", "a Zstandard archive", "decompress it first (unzstd)"),
    (b"SQLite format 3\x00", "an SQLite database", ""),
    (b"\x93NUMPY", "a NumPy .npy array", ""),
)
"""The first bytes of binary files that get passed for a CSV, and what to say of each."""
_HEAD_BYTES = 64
_EXCERPT = 60


def _control(data: bytes) -> re.Match[bytes] | None:
    """The first byte that no text holds, or None (``bytes.translate`` rules most out fast)."""
    return _CONTROL_BYTES.search(data) if data.translate(None, _TEXT_BYTES) else None


@functools.cache
def _ascii_compatible(codec: str) -> bool:
    """Whether ``codec`` writes ASCII, control bytes included, as ASCII bytes (UTF-8 and the
    code pages do; UTF-16 does not)."""
    sample = "\t\n\x00\x01\x7f az"
    try:
        encoded = sample.encode(codec)
    except UnicodeError:
        return False
    return encoded.removeprefix(codecs.BOM_UTF8) == sample.encode("ascii")


class EncodingNote(UserWarning):
    """Text without a byte order mark that is not UTF-8 was read as Windows-1252 (or Latin-1);
    the message quotes a line as read and says how to pass the encoding."""


def check_encoding(encoding: str) -> str:
    """``"auto"``, or the codec ``encoding`` names, as Python spells it (``"latin1"`` ->
    ``"iso8859-1"``).

    Raises:
        ValueError: ``encoding`` is neither ``"auto"`` nor the name of a text encoding.

    Example:
        >>> check_encoding("auto"), check_encoding("Windows-1252"), check_encoding("UTF8")
        ('auto', 'cp1252', 'utf-8')
    """
    if encoding == "auto":
        return encoding
    try:  # a LookupError for unknown names, and for codecs of bytes to bytes (base64, rot13...)
        codecs.lookup(encoding)
        b"\n".decode(encoding, errors="ignore")
    except (LookupError, TypeError):
        raise ValueError(
            f"encoding has to be 'auto' or the name of a text encoding ('utf-8', 'cp1252', "
            f"'latin-1', 'utf-16'...), but got {encoding!r}"
        ) from None
    return codecs.lookup(encoding).name


def _excerpt(line: str, at: int) -> str:
    """``line``, or :data:`_EXCERPT` characters of it around position ``at``."""
    if len(line) <= _EXCERPT:
        return line
    start = max(0, min(at - _EXCERPT // 2, len(line) - _EXCERPT))
    end = start + _EXCERPT
    return ("..." if start else "") + line[start:end] + ("..." if end < len(line) else "")


class LineDecoder:
    """Bytes in as they arrive, whole lines of text out: how files and standard input are
    decoded.

    With ``encoding="auto"`` a byte order mark says UTF-8, UTF-16 or UTF-32 (LE or BE). Without
    one the text is UTF-8 when its first line with a byte above 127 reads as UTF-8, and
    Windows-1252 otherwise (Latin-1 when a byte that Windows-1252 leaves undefined has come);
    :attr:`note` then says so, quotes that line as read and says how to pass the encoding. A
    named ``encoding`` decodes every byte so. Either way a leading byte order mark is dropped,
    lines end at ``\\n``, ``\\r\\n`` or ``\\r``, and a byte that no text holds (NUL and the other
    control bytes but tab, line ends and form feed) is a :class:`DataError`: the file is binary
    (the message names a gzip, a ZIP or Excel workbook, an image...), or UTF-16 without a byte
    order mark (NUL bytes between the letters).

    Attributes:
        encoding: the codec the text is decoded with (``"utf-8"``, ``"utf-8-sig"``,
            ``"utf-16"``, ``"cp1252"``...); ``None`` while every byte so far was ASCII.
        note: with ``"auto"``, once the text turned out not to be UTF-8: what was assumed and
            how to override it; else ``None``.
        source: the file's name, for messages.

    Args:
        encoding: ``"auto"`` or a codec name (``"utf-8"``, ``"cp1252"``, ``"utf-16-le"``...).
        source: the file's name, for messages.

    Raises:
        ValueError: ``encoding`` names no text encoding.

    Example:
        >>> decoder = LineDecoder(source="pump.csv")
        >>> decoder.feed(b"Zeit;Temperatur K\\xfchlwasser\\r\\n0;1")
        ['Zeit;Temperatur Kühlwasser']
        >>> decoder.feed(b",5\\r\\n", final=True), decoder.encoding
        (['0;1,5'], 'cp1252')
    """

    def __init__(self, encoding: str = "auto", *, source: str = "stdin") -> None:
        named = check_encoding(encoding)
        self.source = source
        self.note: str | None = None
        self.encoding: str | None = None
        self._decoder: codecs.IncrementalDecoder | None = None
        self._why = ""  # why the codec was chosen and what to pass, when a later byte fails
        self._raw = b""  # bytes not decoded yet, while the encoding is undecided
        self._head = b""  # the first bytes, to name a binary file's kind
        self._text = ""  # decoded text after the last line handed out
        self._lines = 0  # lines handed out
        self._started = False  # the BOM has been looked for
        self._bom_dropped = False
        if named != "auto":
            other = "latin-1" if named == "cp1252" else "cp1252"
            self._use(
                named,
                f"; pass the file's encoding, e.g. encoding='{other}', or encoding='auto' to "
                f"detect it",
            )

    def _use(self, codec: str, why: str) -> None:
        self.encoding = codec
        self._why = why
        self._decoder = codecs.getincrementaldecoder(codec)(errors="strict")

    def feed(self, data: bytes, *, final: bool = False) -> list[str]:
        """The lines that ``data`` completes, without their line ends; with ``final`` (the
        end of the input) the last line too.

        Raises:
            DataError: the bytes are binary, or a line cannot be read in the encoding chosen.
        """
        return self._split(self.decode(data, final=final), final)

    def decode(self, data: bytes, *, final: bool = False) -> str:
        """The text of ``data`` as far as it can be decoded yet (bytes of a character or a
        line that decides the encoding may wait for the next call); line ends are kept. Mixing
        it with :meth:`feed` puts lines out of order.

        Raises:
            DataError: the bytes are binary, or a line cannot be read in the encoding chosen.
        """
        if len(self._head) < _HEAD_BYTES:
            self._head += data[: _HEAD_BYTES - len(self._head)]
        if self._decoder is not None:
            return self._decode(data, final)
        self._raw += data
        if not self._started:
            if len(self._raw) < 4 and not final:
                return ""  # a byte order mark takes up to 4 bytes
            self._started = True
            for bom, codec in _BOMS:
                if self._raw.startswith(bom):
                    self._use(
                        codec,
                        ", the encoding its byte order mark says; pass the file's encoding, "
                        "e.g. encoding='cp1252'",
                    )
                    break
        text = "" if self._decoder is not None else self._undecided(final)
        if self._decoder is None:
            return text
        data, self._raw = self._raw, b""
        return text + self._decode(data, final, before=text)

    def _undecided(self, final: bool) -> str:
        """While every byte was ASCII: the ASCII lines of :attr:`_raw` as text (and the rest
        kept), until a line with a byte above 127 decides the encoding (:meth:`_use`)."""
        control = _control(self._raw)
        if control is not None:
            raise self._binary(self._raw[control.start()], self._line_of(self._raw, control))
        high = None if self._raw.isascii() else _NON_ASCII.search(self._raw)
        if high is None:
            text, self._raw = self._raw.decode("ascii"), b""
            if final and self.encoding is None:
                self.encoding = "utf-8"  # all ASCII: as good as UTF-8
            return text
        start = max(
            self._raw.rfind(b"\n", 0, high.start()), self._raw.rfind(b"\r", 0, high.start())
        )
        start += 1
        ends = _LINE_BREAK_BYTES.search(self._raw, high.start())
        if ends is None and not final:  # the line is not whole yet: wait for its end
            text, self._raw = self._raw[:start].decode("ascii"), self._raw[start:]
            return text
        line = self._raw[start : len(self._raw) if ends is None else ends.start()]
        number = self._line_of(self._raw, high)
        text, self._raw = self._raw[:start].decode("ascii"), self._raw[start:]
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as error:
            bad = line[error.start]
        else:
            self._use(
                "utf-8",
                f", though line {number} was: the file mixes encodings. Save it in one, or pass "
                f"encoding='cp1252' to read every line as Windows-1252",
            )
            return text
        codec = _FALLBACKS[-1]
        for candidate in _FALLBACKS:  # all the bytes so far: a whole file when read at once
            try:
                self._raw.decode(candidate)
            except UnicodeDecodeError:
                continue
            codec = candidate
            break
        shown = line.decode(codec)
        at = len(line[: high.start() - start].decode(codec))
        self._use(
            codec,
            f", as line {number} was not UTF-8; pass the file's encoding, e.g. encoding='latin-1'",
        )
        self.note = (
            f"{self.source}: line {number} is not UTF-8 (byte 0x{bad:02x}) and there is no byte "
            f"order mark, so the text was read as {_CODEC_NAMES[codec]}: line {number} reads "
            f"{_excerpt(shown, at)!r}. If that is wrong, pass the file's encoding, e.g. "
            f"encoding='cp1250' (Central European) or encoding='cp850' (DOS); "
            f"encoding='{codec}' reads it so without this note."
        )
        return text

    def _line_of(self, raw: bytes, match: re.Match[bytes]) -> int:
        """The line number of a match in the undecided bytes."""
        before = len(_LINE_BREAK.findall(self._text))
        return self._lines + before + len(_LINE_BREAK_BYTES.findall(raw, 0, match.start())) + 1

    def _decode(self, data: bytes, final: bool, before: str = "") -> str:
        """``data`` decoded with the codec chosen; ``before`` is the text decoded ahead of it
        that :attr:`_text` does not hold yet (for line numbers)."""
        assert self._decoder is not None and self.encoding is not None
        ahead = self._text + before
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError as error:
            before = error.object[: error.start].decode(self.encoding, errors="replace")
            number = self._lines + len(_LINE_BREAK.findall(ahead + before)) + 1
            bad = error.object[error.start : error.start + 1].hex()
            control = _CONTROL_TEXT.search(before)
            if control is not None or any(self._head.startswith(s[0]) for s in _SIGNATURES):
                code = ord(control.group()) if control is not None else error.object[0]
                raise self._binary(code, number) from None  # binary, whatever the encoding
            raise DataError(
                f"{self.source}: line {number} cannot be read as {self.encoding} (byte 0x{bad})"
                f"{self._why}."
            ) from None
        except UnicodeError as error:  # e.g. "UTF-16 stream does not start with BOM"
            raise DataError(
                f"{self.source}: cannot be read as {self.encoding} ({error}){self._why}."
            ) from None
        if not self._bom_dropped and text:
            self._bom_dropped = True
            text = text.removeprefix("\ufeff")
        # the same bytes in every codec that writes ASCII as ASCII: faster looked for there
        ascii_bytes = _ascii_compatible(self.encoding)
        control = None
        if not ascii_bytes or _control(data) is not None:
            control = _CONTROL_TEXT.search(text)
        if control is not None:
            number = self._lines + len(_LINE_BREAK.findall(ahead + text[: control.start()]))
            raise self._binary(ord(control.group()), number + 1)
        return text

    def _binary(self, code: int, line: int) -> DataError:
        """The error for a byte that no text holds."""
        for signature, kind, advice in _SIGNATURES:
            if self._head.startswith(signature):
                return DataError(
                    f"{self.source}: is {kind}, not text{': ' + advice if advice else ''}; "
                    f"expected a delimited sensor file (CSV)."
                )
        for bom, codec in _BOMS[:2] + _BOMS[3:]:  # read in another encoding than its BOM's
            if self._head.startswith(bom):
                return DataError(
                    f"{self.source}: starts with the byte order mark of {_CODEC_NAMES[codec]} "
                    f"but was read as {self.encoding}; pass encoding='{codec}' or "
                    f"encoding='auto'."
                )
        pairs = self._head[: len(self._head) // 2 * 2]
        odd, even = pairs[1::2], pairs[0::2]
        for nuls, letters, order in ((odd, even, "le"), (even, odd, "be")):
            if len(nuls) >= 2 and nuls.count(0) >= 0.75 * len(nuls) and 0 not in letters:
                return DataError(
                    f"{self.source}: has NUL bytes between its letters: UTF-16 {order.upper()} "
                    f"text without a byte order mark? Pass encoding='utf-16-{order}'."
                )
        return DataError(
            f"{self.source}: line {line} holds the byte 0x{code:02x}, which no text holds: the "
            f"file is binary; expected a delimited sensor file (CSV)."
        )

    def _split(self, text: str, final: bool) -> list[str]:
        """The whole lines of the text so far; the rest waits for its line end."""
        buffer = self._text + text
        hold = ""
        if not final and buffer.endswith("\r"):  # "\r\n" may be cut between two reads
            buffer, hold = buffer[:-1], "\r"
        lines = _LINE_BREAK.split(buffer)
        rest = lines.pop()
        if final and rest:
            lines.append(rest)
            rest = ""
        self._text = rest + hold
        self._lines += len(lines)
        return lines


def decode_text(
    data: bytes, encoding: str = "auto", *, source: str = "text"
) -> tuple[str, str, str | None]:
    """A whole file's bytes as text, decoded as :class:`LineDecoder` decodes them.

    Args:
        data: the file's bytes.
        encoding: ``"auto"`` or a codec name.
        source: the file's name, for messages.

    Returns:
        ``(text, codec, note)``: the text (its line ends as they were, a leading byte order
        mark dropped), the codec read with (``"utf-8"`` for ASCII), and
        :attr:`LineDecoder.note`.

    Raises:
        DataError: the bytes are binary, or a line cannot be read in the encoding chosen.

    Example:
        >>> text, codec, note = decode_text("Temperatur Kühlwasser;Druck\\r\\n".encode("utf-16"))
        >>> text, codec, note
        ('Temperatur Kühlwasser;Druck\\r\\n', 'utf-16', None)
    """
    decoder = LineDecoder(encoding, source=source)
    text = decoder.decode(data, final=True)
    return text, decoder.encoding or "utf-8", decoder.note
