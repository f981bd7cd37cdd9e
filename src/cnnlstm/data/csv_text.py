"""Delimited text as a table: the encoding, the delimiter, the decimal mark, numbers, time cells,
units rows.

Plant exports come in many spellings: UTF-8, UTF-16 or Windows-1252 text (``Temperatur
Kühlwasser``), ``;``, ``,``, tabs or blanks between cells, a decimal comma (``1,25``) and grouped
thousands (``1.234,5``), a line of units under the header, a date and a time of day in two
columns. These functions tell them apart from a file's bytes and first lines
(:func:`decode_text` and :class:`LineDecoder`, :func:`sniff_delimiter`, :func:`sniff_decimal`),
read one cell (:func:`read_number`), and read a whole file into a DataFrame of text cells
(:func:`read_table`) for :class:`~cnnlstm.data.sensors.SensorCSV` to check column by column.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import math
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from cnnlstm.errors import DataError

if TYPE_CHECKING:  # pandas loads on first use: `import cnnlstm` stays fast
    import pandas as pd

__all__ = [
    "COMMA_DECIMAL",
    "MISSING",
    "POINT_DECIMAL",
    "SNIFF_LINES",
    "WHITESPACE",
    "Decimal",
    "EncodingNote",
    "LineDecoder",
    "Table",
    "TableChunks",
    "check_encoding",
    "decode_text",
    "header_delimiter_error",
    "is_units_row",
    "looks_like_time",
    "plain_numbers",
    "read_number",
    "read_table",
    "sniff_decimal",
    "sniff_delimiter",
    "split_cells",
    "units_hint",
]

Decimal = Literal["auto", ".", ","]

_DELIMITERS = (";", ",", "\t", "|")
WHITESPACE = "whitespace"
# numbers as plant exports write them: a decimal comma ("1,25", "1.234,5": "." groups
# thousands), or a decimal point with "," grouping thousands ("1,234.5")
COMMA_DECIMAL = re.compile(r"[+-]?\d[\d.]*,\d+(?:[eE][+-]?\d+)?")
"""A number written with a decimal comma (``1,25``, ``1.234,5``)."""
_COMMA_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?(?:[eE][+-]?\d+)?")
POINT_DECIMAL = re.compile(r"[+-]?\d*\.\d+(?:[eE][+-]?\d+)?")
"""A number written with a decimal point (``0.5``, ``-1.5e3``)."""
_DOT_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+")
_COMMA_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?:[eE][+-]?\d+)?")
MISSING = frozenset({"", "nan", "na", "n/a", "null", "none", "-", "?"})
"""Cells (stripped, lower case) that mean a missing value."""
SNIFF_LINES = 50
"""How many of a file's first lines (or a column's first cells) are read to tell how it is
written."""


# -- the encoding ---------------------------------------------------------------------------

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


def _field_counts(lines: Sequence[str], delimiter: str) -> list[int]:
    if delimiter == WHITESPACE:
        return [len(line.split()) for line in lines]
    return [len(row) for row in csv.reader(lines, delimiter=delimiter)]


def sniff_delimiter(lines: Sequence[str]) -> str | None:
    """The delimiter of a few lines of a table: ``; , \\t |``, ``"whitespace"`` or ``None``.

    ``csv.Sniffer`` guesses first, among ``; , \\t |``; its guess is kept when it splits the
    header into more than one field and the other lines into as many. Otherwise the candidate
    that splits the most lines like the header wins, then runs of whitespace. ``None`` means one
    column.

    Example:
        >>> sniff_delimiter(["time;a;b", "2020-01-01 10:00:00;1,5;2"])
        ';'
        >>> sniff_delimiter(["a  b  c", "1 2 3"])
        'whitespace'
    """
    lines = [line for line in lines if line.strip()]
    if not lines:
        return None
    try:
        guess = csv.Sniffer().sniff("\n".join(lines), delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        guess = None
    if guess is not None:
        counts = _field_counts(lines, guess)
        if counts[0] > 1 and all(c == counts[0] for c in counts):
            return guess
    best, best_share = None, 0.0
    for candidate in (*_DELIMITERS, WHITESPACE):
        counts = _field_counts(lines, candidate)
        if counts[0] < 2:
            continue
        share = sum(c == counts[0] for c in counts) / len(counts)
        if share > best_share:
            best, best_share = candidate, share
    return best


def sniff_decimal(cells: Iterable[str], delimiter: str | None) -> Literal[".", ","]:
    """The decimal mark of a table's cells: ``","`` or ``"."``.

    A comma is the decimal mark when the table is not comma-separated, some cell is written
    with a decimal comma (``1,25``; ``1.234,5`` with ``.`` grouping thousands) and no cell with
    a decimal point (``0.5``; ``1.234`` could group thousands, so it does not count). Anything
    else reads with a decimal point (``1,234.5`` is then a thousand and more). Text, dates and
    times match neither, so the cells of a whole row can be given.

    Example:
        >>> sniff_decimal(["12.01.2021 23:55:00", "0,192", "-1,5", "2"], ";")
        ','
        >>> sniff_decimal(["0.192", "1,234.5"], ";"), sniff_decimal(["1,5"], ",")
        ('.', '.')
    """
    if delimiter == ",":
        return "."
    comma = False
    for cell in cells:
        text = cell.strip()
        if COMMA_DECIMAL.fullmatch(text) and _COMMA_NUMBER.fullmatch(text):
            comma = True
        elif POINT_DECIMAL.fullmatch(text) and not _DOT_THOUSANDS.fullmatch(text):
            return "."
    return "," if comma else "."


def plain_numbers(text: pd.Series, decimal: str) -> pd.Series:
    """Cells written with ``decimal`` and grouped thousands, rewritten as Python reads
    numbers (``1.234,5`` -> ``1234.5`` with ``","``; ``1,234.5`` -> ``1234.5`` with ``"."``).
    With ``","`` any other cell with a point (``0.5``) is made text; other cells are left."""
    if decimal == ",":
        if not text.str.contains(".", regex=False).any():  # no points: the common case, fast
            return text.str.replace(",", ".", regex=False)
        marked = text.str.fullmatch(_COMMA_NUMBER.pattern).fillna(False).astype(bool)
        plain = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        pointed = ~marked & text.str.contains(".", regex=False).fillna(False).astype(bool)
        return text.where(~marked, plain).where(~pointed, "#" + text)
    marked = text.str.fullmatch(_COMMA_THOUSANDS.pattern).fillna(False).astype(bool)
    return text.where(~marked, text.str.replace(",", "", regex=False))


def read_number(text: str, decimal: str = ".") -> float:
    """One cell as a float: NaN for an empty or missing-value cell (``""``, ``nan``, ``n/a``,
    ``-``...), the number with ``decimal`` as its mark (and grouped thousands) otherwise.

    Raises:
        ValueError: the cell is text, not a number.

    Example:
        >>> read_number("1.234,5", ","), read_number("1,234.5"), read_number(" n/a ")
        (1234.5, 1234.5, nan)
    """
    value = text.strip()
    if value.lower() in MISSING:
        return math.nan
    if decimal == "," and _COMMA_NUMBER.fullmatch(value):
        value = value.replace(".", "").replace(",", ".")
    elif decimal == "," and "." in value:
        raise ValueError(f"{value!r} has a decimal point, but the decimal mark is a comma")
    elif decimal == "." and _COMMA_THOUSANDS.fullmatch(value):
        value = value.replace(",", "")
    return float(value)


def _is_number(text: str, decimal: str = ".") -> bool:
    if decimal == "," and _COMMA_NUMBER.fullmatch(text):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def looks_like_time(text: str) -> bool:
    """Whether a cell reads as a date or a time (and not as a number: ``1,5`` is one with a
    decimal comma).

    Example:
        >>> looks_like_time("2021-03-01 10:00"), looks_like_time("1,5"), looks_like_time("on")
        (True, False, False)
    """
    import pandas as pd

    if _is_number(text, ",") or _is_number(text) or not any(ch.isdigit() for ch in text):
        return False  # "1,5" is a number with a decimal comma, not the 5th of January
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return not pd.isna(pd.to_datetime(text, errors="coerce"))


def is_units_row(cells: Sequence[str], decimal: str) -> bool:
    """Whether a line's cells are units (``s;degC;bar``): text in two or more cells and no
    number, date or time in any."""
    texts = 0
    for cell in cells:
        text = cell.strip()
        if _is_number(text, decimal) or looks_like_time(text):
            return False
        texts += text.lower() not in MISSING
    return texts >= 2


def split_cells(line: str, delimiter: str | None) -> list[str]:
    """A line's cells: split at ``delimiter`` as a CSV reader does (quotes kept together), at
    runs of blanks for ``"whitespace"``, or the whole line for ``None`` (one column).

    Example:
        >>> split_cells('1;"a;b";2', ";"), split_cells(" 1  2 ", WHITESPACE)
        (['1', 'a;b', '2'], ['1', '2'])
    """
    if delimiter is None:
        return [line]
    if delimiter == WHITESPACE:
        return line.split()
    return next(csv.reader([line], delimiter=delimiter))


_DELIMITER_NAMES = {";": "semicolons", ",": "commas", "\t": "tabs", "|": "bars"}


def _holds_delimiter(cell: str, delimiter: str) -> bool:
    """Whether a cell holds another delimiter than ``delimiter`` (a comma inside a number
    written with a decimal comma does not count)."""
    text = cell.strip()
    for other in _DELIMITERS:
        decimal_comma = other == "," and _COMMA_NUMBER.fullmatch(text) is not None
        if other != delimiter and other in text and not decimal_comma:
            return True
    return False


def _line_delimiter(line: str) -> str | None:
    """The delimiter of ``; , \\t |`` that splits ``line`` into the most cells, two or more,
    none of which holds another of them (but as a decimal comma: ``0;1,5`` is ``;``); None when
    none does."""
    best, most = None, 1
    for delimiter in _DELIMITERS:
        cells = split_cells(line, delimiter)
        if len(cells) > most and not any(_holds_delimiter(c, delimiter) for c in cells):
            best, most = delimiter, len(cells)
    return best


def header_delimiter_error(
    header: str, row: str, *, source: str, lines: tuple[int, int]
) -> DataError | None:
    """The error for a header whose cells are separated by another delimiter than a row's
    (``time,flow`` over ``0;1.5``), or None.

    Each line's delimiter is the one of ``; , \\t |`` that splits it into cells none of which
    holds another (a comma in ``1,5`` is a decimal comma); a line that no delimiter splits so
    (a name or a text cell with a comma) is taken to agree.

    Args:
        header: the header line.
        row: the first row under it.
        source: the file's name, for the message.
        lines: the line numbers of the header and of the row.

    Example:
        >>> error = header_delimiter_error(
        ...     "time,flow,level", "0;1.5;2", source="pump.csv", lines=(1, 2)
        ... )
        >>> str(error).split(":")[1].strip()
        "the header (line 1) is separated by commas (',') but the rows by semicolons (';')"
        >>> header_delimiter_error("time;flow", "0;1,5", source="pump.csv", lines=(1, 2))
        >>> header_delimiter_error("a;b;c", "1,5;2,5", source="pump.csv", lines=(1, 2))
    """
    ours, theirs = _line_delimiter(header), _line_delimiter(row)
    if ours is None or theirs is None or ours == theirs:
        return None
    return DataError(
        f"{source}: the header (line {lines[0]}) is separated by {_DELIMITER_NAMES[ours]} "
        f"({ours!r}) but the rows by {_DELIMITER_NAMES[theirs]} ({theirs!r}): header "
        f"{header.strip()!r}, line {lines[1]} {row.strip()!r}. Write the header with "
        f"{theirs!r} between its names, like the rows."
    )


def units_hint(lines: np.ndarray, row: int) -> str:
    """The end of a message about a bad cell on row ``row`` (``lines`` are the rows' line
    numbers): on the first row, that line may be a second header line; else ``""``."""
    if row != 0 or len(lines) < 2:
        return ""
    return (
        f" If line {lines[0]} is a second header line (units, descriptions), delete it:"
        f" one header line is read (and one line of units under it)."
    )


class Table(NamedTuple):
    """A delimited file as :func:`read_table` reads it."""

    frame: pd.DataFrame
    """The cells as text (numeric columns as numbers), named by the header or ``column0``..."""
    lines: np.ndarray
    """``(N,)`` the line of the file each row came from (1-based)."""
    delimiter: str | None
    """The sniffed delimiter (``"whitespace"`` for runs of blanks, ``None`` for one column)."""
    decimal: Literal[".", ","]
    """The decimal mark numbers are written with."""
    units: dict[str, str]
    """The units row under the header, ``{column: unit}``, or ``{}``."""
    encoding: str = "utf-8"
    """The codec the bytes were decoded with (``"utf-8"``, ``"utf-16"``, ``"cp1252"``...)."""


def read_table(path: Path, decimal: Decimal = "auto", encoding: str = "auto") -> Table:
    """Read a delimited file as a table of cells, sniffing how it is written.

    The bytes are decoded as :class:`LineDecoder` decodes them: with ``"auto"`` a byte order
    mark says UTF-8, UTF-16 or UTF-32, else UTF-8 or, when the text is not UTF-8, Windows-1252
    with an :class:`EncodingNote` warning that says so. The delimiter is sniffed from the first
    lines (:func:`sniff_delimiter`), the decimal mark too with ``"auto"``
    (:func:`sniff_decimal`); blank lines are skipped; a first line of numbers (and dates) is
    data, not a header, and columns are then named ``column0``...; a line of units under the
    header (text in two or more cells and no number) is skipped and kept in
    :attr:`Table.units`. Cells stay text where pandas does not read them as numbers: empty and
    ``nan`` cells too, so that the caller decides what they mean.

    Args:
        path: the file.
        decimal: the decimal mark: ``"."``, ``","`` or ``"auto"`` (sniffed).
        encoding: ``"auto"`` or a codec name (``"utf-8"``, ``"cp1252"``, ``"utf-16"``...).

    Raises:
        DataError: the file is missing, binary (or not in ``encoding``), empty, has rows of
            different lengths, a header with another delimiter than its rows, repeats a column
            name, or has a header but no rows.
        ValueError: ``encoding`` names no text encoding.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "pump.csv"
        >>> _ = path.write_text("time;flow;level\\ns;l/min;m\\n0;1,5;2\\n\\n1;1,25;3\\n")
        >>> table = read_table(path)
        >>> table.delimiter, table.decimal, table.units, table.lines.tolist()
        (';', ',', {'time': 's', 'flow': 'l/min', 'level': 'm'}, [3, 5])
        >>> table.frame.shape
        (2, 3)
    """
    check_encoding(encoding)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; expected a delimited sensor file.") from None
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror or type(err).__name__}).") from None
    text, codec, note = decode_text(data, encoding, source=str(path))
    if note is not None:
        warnings.warn(note, EncodingNote, stacklevel=3)  # read_table, SensorCSV, its caller
    all_lines = text.splitlines()
    layout, kept, numbers = _layout(path, all_lines, 1, decimal)
    frame = _parse(path, kept, numbers, layout, header=layout.has_header)
    lines = np.asarray(numbers[1:] if layout.has_header else numbers, dtype=np.int64)
    return Table(frame, lines, layout.delimiter, layout.decimal, layout.units, codec)


class _Layout(NamedTuple):
    """How a file is written, as sniffed from its first lines."""

    delimiter: str | None
    decimal: Literal[".", ","]
    has_header: bool
    units: dict[str, str]
    names: list[str]
    """The header's names (stripped), or ``column0``... without a header."""


def _layout(
    path: Path, all_lines: list[str], first_number: int, decimal: Decimal
) -> tuple[_Layout, list[str], list[int]]:
    """Sniff how the lines (the file's first, numbered from ``first_number``) are written.

    Returns:
        The layout, and the non-blank lines with their numbers (a units row taken out).
    """
    sample = [line for line in all_lines[: 4 * SNIFF_LINES] if line.strip()]
    if not sample:
        raise DataError(f"{path}: the file is empty; expected a header and rows.")
    delimiter = sniff_delimiter(sample[:SNIFF_LINES])
    numbers = _kept_numbers(all_lines, first_number, delimiter)
    kept = [all_lines[i - first_number] for i in numbers]
    if decimal == "auto":  # the first line may be the header: names are no numbers
        head = kept[1 : 4 * SNIFF_LINES] or kept[:1]
        decimal = sniff_decimal(
            (c for line in head for c in split_cells(line, delimiter)), delimiter
        )
    mark: Literal[".", ","] = decimal
    units: dict[str, str] = {}
    first = split_cells(kept[0], delimiter)
    has_header = not all(_is_number(f.strip(), mark) or looks_like_time(f.strip()) for f in first)
    if has_header and len(kept) > 2:
        below = split_cells(kept[1], delimiter)
        if is_units_row(below, mark) and not is_units_row(split_cells(kept[2], delimiter), mark):
            units = {
                name.strip(): unit.strip()
                for name, unit in zip(first, below, strict=False)
                if unit.strip()
            }
            del kept[1], numbers[1]
    if has_header and len(kept) > 1:
        mixed = header_delimiter_error(
            kept[0], kept[1], source=str(path), lines=(numbers[0], numbers[1])
        )
        if mixed is not None:
            raise mixed
    if has_header:
        names = [f.strip() for f in first]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise DataError(f"{path}: the header repeats the column names {duplicates}.")
    else:
        names = [f"column{i}" for i in range(len(first))]
    return _Layout(delimiter, mark, has_header, units, names), kept, numbers


def _kept_numbers(lines: list[str], first_number: int, delimiter: str | None) -> list[int]:
    """The numbers of the lines that are not blank (in a tab-separated file tabs are cells)."""
    blanks = " \r\n\f\v" if delimiter == "\t" else None
    return [i for i, line in enumerate(lines, start=first_number) if line.strip(blanks)]


def _parse(
    path: Path, kept: list[str], numbers: list[int], layout: _Layout, *, header: bool
) -> pd.DataFrame:
    """The cells of ``kept`` (numbered ``numbers``) as a frame: the first line is the header
    when ``header``, else every line is a row and the columns take ``layout.names``."""
    import pandas as pd

    options: dict[str, Any] = {
        "na_filter": False,  # "" and "nan" stay text here; the caller decides what they mean
        "low_memory": False,
        "skip_blank_lines": False,
        "header": 0 if header else None,
        "index_col": False,
    }
    if not header and layout.has_header:
        options["names"] = layout.names
    if layout.decimal == ",":  # pandas leaves "1.234" and "0.5" as text: the caller reads them
        options["decimal"] = ","
    if layout.delimiter == WHITESPACE:
        options["sep"] = r"\s+"
    else:
        options["sep"] = layout.delimiter or "\x1f"  # one column: a separator that never occurs
        options["skipinitialspace"] = True
    try:
        frame = pd.read_csv(io.StringIO("\n".join(kept)), **options)
    except pd.errors.ParserError as err:
        message = str(err).strip().splitlines()[-1]
        match = re.search(r"line (\d+)", message)
        where = ""
        if match and 0 < int(match.group(1)) <= len(numbers):
            where = f"line {numbers[int(match.group(1)) - 1]}: "
            message = message.replace(f"line {match.group(1)}", where[:-2])
        raise DataError(
            f"{path}: {where}rows have different numbers of fields "
            f"(delimiter {layout.delimiter!r}): {message}"
        ) from None
    except (pd.errors.EmptyDataError, ValueError) as err:
        raise DataError(f"{path}: cannot read as a table ({err}).") from None
    if not layout.has_header:
        frame.columns = layout.names[: frame.shape[1]] + [
            f"column{i}" for i in range(len(layout.names), frame.shape[1])
        ]
    elif len(layout.names) == frame.shape[1]:
        frame.columns = layout.names  # pandas would rename repeats and keep blanks
    frame.columns = [str(c).strip() for c in frame.columns]
    if header and len(frame) == 0:
        raise DataError(f"{path}: has a header but no rows.")
    return frame


_CHUNK_BYTES = 1 << 22
"""Bytes :class:`TableChunks` reads from the file at once."""


class TableChunks:
    """A delimited file read as consecutive :class:`Table` s of at most ``cells`` cells each,
    so a file of any length is read in bounded memory.

    The encoding, the delimiter, the decimal mark, the header and a units row are sniffed from
    the first lines as :func:`read_table` sniffs them (the attributes say what was found), the
    bytes are decoded as they are read (:class:`LineDecoder`), and every chunk is a table of
    the same columns, its rows numbered with the lines of the file they came from. Concatenated,
    the chunks are :func:`read_table`'s table (but for the column types, which pandas infers
    chunk by chunk: the caller reads the cells).

    Args:
        path: the file.
        decimal: the decimal mark: ``"."``, ``","`` or ``"auto"`` (sniffed).
        encoding: ``"auto"`` or a codec name.
        cells: rows are taken in chunks of about this many cells.
        min_rows: but at least this many rows a chunk (a wide file's chunks of a few rows each
            would spend their time on the work each column costs per chunk).

    Attributes:
        columns: the column names.
        delimiter: as :attr:`Table.delimiter`.
        decimal: as :attr:`Table.decimal`.
        units: as :attr:`Table.units`.
        encoding: the codec, once the bytes tell (``"utf-8"`` while all were ASCII).
        note: :attr:`LineDecoder.note`, once a line says the text is not UTF-8.
        rows_per_chunk: rows in each chunk but the last.

    Raises:
        DataError: as :func:`read_table`, for the chunk where it is found (a line with another
            number of fields names its line).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "pump.csv"
        >>> _ = path.write_text("time;flow\\n" + "".join(f"{i};{i / 2}\\n" for i in range(10)))
        >>> chunks = TableChunks(path, cells=8)
        >>> [len(table.frame) for table in chunks], chunks.columns
        ([4, 4, 2], ['time', 'flow'])
    """

    def __init__(
        self,
        path: str | Path,
        decimal: Decimal = "auto",
        encoding: str = "auto",
        *,
        cells: int = 2_000_000,
        min_rows: int = 1,
    ) -> None:
        check_encoding(encoding)
        self.path = Path(path)
        try:
            self._file = open(self.path, "rb")  # noqa: SIM115  (closed at the end of the chunks)
        except FileNotFoundError:
            raise DataError(
                f"{self.path}: no such file; expected a delimited sensor file."
            ) from None
        except OSError as err:
            raise DataError(
                f"{self.path}: cannot be read ({err.strerror or type(err).__name__})."
            ) from None
        self._decoder = LineDecoder(encoding, source=str(self.path))
        self._pending = ""  # decoded text after the last line end
        self._next_line = 1  # the number of the next line to split off
        self._done = False
        head: list[str] = []
        while len([line for line in head if line.strip()]) < 4 * SNIFF_LINES + 2:
            more = self._lines()
            if more is None:
                break
            head.extend(more)
        layout, kept, numbers = _layout(self.path, head, 1, decimal)
        self._layout = layout
        self.columns = [str(c).strip() for c in layout.names]
        self.delimiter = layout.delimiter
        self.decimal: Literal[".", ","] = layout.decimal
        self.units = layout.units
        self.rows_per_chunk = max(1, min_rows, cells // max(1, len(layout.names)))
        start = 1 if layout.has_header else 0
        self._kept, self._numbers = kept[start:], numbers[start:]
        if layout.has_header and not self._kept and self._peek_empty():
            raise DataError(f"{self.path}: has a header but no rows.")

    @property
    def encoding(self) -> str:
        return self._decoder.encoding or "utf-8"

    @property
    def note(self) -> str | None:
        return self._decoder.note

    def _peek_empty(self) -> bool:
        """Whether no non-blank line is left (reads on until one is, or the end)."""
        while not self._kept:
            more = self._lines()
            if more is None:
                return True
            first = self._next_line - len(more)
            numbers = _kept_numbers(more, first, self._layout.delimiter)
            self._kept = [more[i - first] for i in numbers]
            self._numbers = numbers
        return False

    def _lines(self) -> list[str] | None:
        """The next whole lines of the file (as ``str.splitlines`` splits them), None at the end."""
        if self._done:
            return None
        data = self._file.read(_CHUNK_BYTES)
        final = not data
        text = self._pending + self._decoder.decode(data, final=final)
        if final:
            self._done = True
            self._file.close()
            cut = len(text)
        else:
            cut = max(text.rfind("\n"), text.rfind("\r")) + 1
            if cut == len(text) and text.endswith("\r"):  # "\r\n" may be cut between reads
                cut -= 1
        lines, self._pending = text[:cut].splitlines(), text[cut:]
        self._next_line += len(lines)
        return lines

    def close(self) -> None:
        """Close the file (the chunks end)."""
        self._done = True
        self._file.close()

    def __iter__(self) -> Iterator[Table]:
        """The chunks, in order; each is a :class:`Table` of the same columns."""
        size = self.rows_per_chunk
        try:
            while True:
                while len(self._kept) < size:
                    more = self._lines()
                    if more is None:
                        break
                    first = self._next_line - len(more)
                    numbers = _kept_numbers(more, first, self._layout.delimiter)
                    self._kept.extend(more[i - first] for i in numbers)
                    self._numbers.extend(numbers)
                if not self._kept:
                    return
                kept, self._kept = self._kept[:size], self._kept[size:]
                numbers, self._numbers = self._numbers[:size], self._numbers[size:]
                frame = _parse(self.path, kept, numbers, self._layout, header=False)
                lines = np.asarray(numbers, dtype=np.int64)
                yield Table(frame, lines, self.delimiter, self.decimal, self.units, self.encoding)
        finally:
            self.close()
