"""Delimited text as a table: the delimiter, the decimal mark, numbers, time cells, units rows.

Plant exports come in many spellings: ``;``, ``,``, tabs or blanks between cells, a decimal comma
(``1,25``) and grouped thousands (``1.234,5``), a line of units under the header, a date and a
time of day in two columns. These functions tell them apart from a file's first lines
(:func:`sniff_delimiter`, :func:`sniff_decimal`), read one cell (:func:`read_number`), and read a
whole file into a DataFrame of text cells (:func:`read_table`) for
:class:`~cnnlstm.data.sensors.SensorCSV` to check column by column.
"""

from __future__ import annotations

import csv
import io
import math
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from cnnlstm.errors import DataError

if TYPE_CHECKING:  # pandas loads on first use: `import cnnlstm` stays fast
    import pandas as pd

__all__ = [
    "WHITESPACE",
    "Decimal",
    "Table",
    "read_number",
    "read_table",
    "sniff_decimal",
    "sniff_delimiter",
]

Decimal = Literal["auto", ".", ","]

_DELIMITERS = (";", ",", "\t", "|")
WHITESPACE = "whitespace"
_TIME_NAMES = frozenset(
    {"datetime", "timestamp", "time", "date", "datum", "zeit", "uhrzeit", "zeitstempel"}
)
# numbers as plant exports write them: a decimal comma ("1,25", "1.234,5": "." groups
# thousands), or a decimal point with "," grouping thousands ("1,234.5")
_COMMA_DECIMAL = re.compile(r"[+-]?\d[\d.]*,\d+(?:[eE][+-]?\d+)?")
_COMMA_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?(?:[eE][+-]?\d+)?")
_POINT_DECIMAL = re.compile(r"[+-]?\d*\.\d+(?:[eE][+-]?\d+)?")
_DOT_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+")
_COMMA_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?:[eE][+-]?\d+)?")
# a date without a time of day, and a time of day without a date: two columns of one clock
_DATE_ONLY = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")
_CLOCK_ONLY = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s*[AaPp][Mm])?")
_MISSING = frozenset({"", "nan", "na", "n/a", "null", "none", "-", "?"})
_SNIFF_LINES = 50


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
        if _COMMA_DECIMAL.fullmatch(text) and _COMMA_NUMBER.fullmatch(text):
            comma = True
        elif _POINT_DECIMAL.fullmatch(text) and not _DOT_THOUSANDS.fullmatch(text):
            return "."
    return "," if comma else "."


def _plain_numbers(text: pd.Series, decimal: str) -> pd.Series:
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
    if value.lower() in _MISSING:
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


def _looks_like_time(text: str) -> bool:
    import pandas as pd

    if _is_number(text, ",") or _is_number(text) or not any(ch.isdigit() for ch in text):
        return False  # "1,5" is a number with a decimal comma, not the 5th of January
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return not pd.isna(pd.to_datetime(text, errors="coerce"))


def _all_match(column: pd.Series, pattern: re.Pattern[str]) -> bool:
    """Whether the first cells of ``column`` all match ``pattern`` (and there are some)."""
    head = [str(v).strip() for v in column.iloc[:_SNIFF_LINES]]
    return bool(head) and all(pattern.fullmatch(v) for v in head)


def _is_units_row(cells: Sequence[str], decimal: str) -> bool:
    """Whether a line's cells are units (``s;degC;bar``): text in two or more cells and no
    number, date or time in any."""
    texts = 0
    for cell in cells:
        text = cell.strip()
        if _is_number(text, decimal) or _looks_like_time(text):
            return False
        texts += text.lower() not in _MISSING
    return texts >= 2


def _time_name(name: str) -> bool:
    """Whether a column is named like a time: ``Time (s)``, ``date_time``, ``Timestamp [UTC]``."""
    bare = re.sub(r"[\(\[].*?[\)\]]", "", name).lower()  # drop units in brackets
    return re.sub(r"[^a-z0-9]", "", bare) in _TIME_NAMES


def _split(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return [line]
    if delimiter == WHITESPACE:
        return line.split()
    return next(csv.reader([line], delimiter=delimiter))


def _units_hint(lines: np.ndarray, row: int) -> str:
    """For a cell on the first row (``lines`` are the rows' line numbers): the file may have a
    second header line."""
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


def read_table(path: Path, decimal: Decimal = "auto") -> Table:
    """Read a delimited file as a table of cells, sniffing how it is written.

    The delimiter is sniffed from the first lines (:func:`sniff_delimiter`), the decimal mark too
    with ``"auto"`` (:func:`sniff_decimal`); blank lines are skipped; a first line of numbers
    (and dates) is data, not a header, and columns are then named ``column0``...; a line of
    units under the header (text in two or more cells and no number) is skipped and kept in
    :attr:`Table.units`. Cells stay text where pandas does not read them as numbers: empty and
    ``nan`` cells too, so that the caller decides what they mean.

    Raises:
        DataError: the file is missing, not text, empty, has rows of different lengths, repeats
            a column name, or has a header but no rows.

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
    import pandas as pd

    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; expected a delimited sensor file.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read as text ({type(err).__name__}).") from None
    all_lines = text.splitlines()
    sample = [line for line in all_lines[: 4 * _SNIFF_LINES] if line.strip()]
    if not sample:
        raise DataError(f"{path}: the file is empty; expected a header and rows.")
    delimiter = sniff_delimiter(sample[:_SNIFF_LINES])
    # a blank line holds nothing but blanks; in a tab-separated file tabs are cells
    blanks = " \r\n\f\v" if delimiter == "\t" else None
    numbers = [i + 1 for i, line in enumerate(all_lines) if line.strip(blanks)]
    kept = [all_lines[i - 1] for i in numbers]
    if decimal == "auto":  # the first line may be the header: names are no numbers
        head = kept[1 : 4 * _SNIFF_LINES] or kept[:1]
        decimal = sniff_decimal((c for line in head for c in _split(line, delimiter)), delimiter)
    mark: Literal[".", ","] = decimal
    units: dict[str, str] = {}
    first = _split(kept[0], delimiter)
    has_header = not all(_is_number(f.strip(), mark) or _looks_like_time(f.strip()) for f in first)
    if has_header and len(kept) > 2:
        below = _split(kept[1], delimiter)
        if _is_units_row(below, mark) and not _is_units_row(_split(kept[2], delimiter), mark):
            units = {
                name.strip(): unit.strip()
                for name, unit in zip(first, below, strict=False)
                if unit.strip()
            }
            del kept[1], numbers[1]
    options: dict[str, Any] = {
        "na_filter": False,  # "" and "nan" stay text here; the caller decides what they mean
        "low_memory": False,
        "skip_blank_lines": False,
        "header": 0 if has_header else None,
        "index_col": False,
    }
    if mark == ",":  # pandas leaves "1.234" and "0.5" as text: the caller reads them
        options["decimal"] = ","
    if delimiter == WHITESPACE:
        options["sep"] = r"\s+"
    else:
        options["sep"] = delimiter or "\x1f"  # one column: a separator that never occurs
        options["skipinitialspace"] = True
    try:
        frame = pd.read_csv(io.StringIO("\n".join(kept)), **options)
    except pd.errors.ParserError as err:
        message = str(err).strip().splitlines()[-1]
        match = re.search(r"line (\d+)", message)
        where = f"line {numbers[int(match.group(1)) - 1]}: " if match else ""
        raise DataError(
            f"{path}: {where}rows have different numbers of fields "
            f"(delimiter {delimiter!r}): {message}"
        ) from None
    except (pd.errors.EmptyDataError, ValueError) as err:
        raise DataError(f"{path}: cannot read as a table ({err}).") from None
    if not has_header:
        frame.columns = [f"column{i}" for i in range(frame.shape[1])]
    if has_header:
        names = [f.strip() for f in first]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise DataError(f"{path}: the header repeats the column names {duplicates}.")
        if len(names) == frame.shape[1]:
            frame.columns = names  # pandas would rename repeats and keep blanks
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        raise DataError(f"{path}: has a header but no rows.")
    lines = np.asarray(numbers[1:] if has_header else numbers, dtype=np.int64)
    return Table(frame, lines, delimiter, mark, units)
