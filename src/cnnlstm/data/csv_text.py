"""Delimited text as a table: the delimiter, the decimal mark, numbers, time cells, units rows.

Plant exports come in many spellings: ``;``, ``,``, tabs or blanks between cells, a decimal
comma (``1,25``) and grouped thousands (``1.234,5``), a line of units under the header, a date
and a time of day in two columns. These functions tell them apart from a file's first lines
(:func:`sniff_delimiter`, :func:`sniff_decimal`), read one cell (:func:`read_number`), and read
a whole file, whole (:func:`read_table`) or in chunks (:class:`TableChunks`), into a DataFrame of
text cells for :class:`~cnnlstm.data.sensors.SensorCSV` to check column by column. The bytes
become text in :mod:`cnnlstm.data.text_encoding`.
"""

from __future__ import annotations

import csv
import io
import math
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from cnnlstm.data.text_encoding import EncodingNote, LineDecoder, check_encoding, decode_text
from cnnlstm.errors import DataError
from cnnlstm.extras import importing

if TYPE_CHECKING:  # pandas loads on first use: `import cnnlstm` stays fast
    import pandas as pd

__all__ = [
    "COMMA_DECIMAL",
    "MISSING",
    "POINT_DECIMAL",
    "SNIFF_LINES",
    "WHITESPACE",
    "Decimal",
    "Table",
    "TableChunks",
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
    with importing("reading and writing sensor files (cnnlstm.data.csv_text)", "sensors"):
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
    with importing("reading and writing sensor files (cnnlstm.data.csv_text)", "sensors"):
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
