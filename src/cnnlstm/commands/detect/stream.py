"""``cnnlstm detect - --stream``: score rows from standard input as they arrive.

A header line and then rows come on standard input; each row's ``datetime,score,anomaly`` goes to
standard output at once, with :meth:`AnomalyDetector.stream
<cnnlstm.anomaly.detector.AnomalyDetector.stream>`: the recurrent state carries from row to row, so
the scores equal the offline run's (with ``--train``, warmed up on its last rows as the offline
run is, when the first row's time follows the training file's last). The bytes are decoded as
the offline run decodes a file (:class:`~cnnlstm.data.text_encoding.LineDecoder`: a byte order
mark, UTF-8, else Windows-1252 with a note as soon as a line says so; ``--encoding`` names it),
the delimiter is sniffed from the header and the first row (a header with another delimiter than
the row is refused), the decimal mark from the first row; the cells are read one by one
(:func:`_cell`), gaps filled as ``--nan ffill`` says, and the times written as the offline run
writes them. The notes go to standard error.
"""

from __future__ import annotations

import itertools
import math
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from cnnlstm.anomaly.rows import FarValue
from cnnlstm.anomaly.streaming import StreamScorer
from cnnlstm.commands.detect.baseline import BaselineStream, Detector, load_detector
from cnnlstm.commands.detect.fitting import check_saved_columns, fit_detector, save_detector
from cnnlstm.commands.detect.notes import Notes
from cnnlstm.commands.detect.outputs import check_places
from cnnlstm.commands.detect.reading import INDEX_NAMES, columns_flag, in_flags
from cnnlstm.commands.detect.settings import DetectSettings, ReadOptions
from cnnlstm.commands.detect.warm import warm_up
from cnnlstm.data.csv_text import (
    header_delimiter_error,
    is_units_row,
    read_number,
    sniff_decimal,
    sniff_delimiter,
    split_cells,
)
from cnnlstm.data.sensor_times import is_time_name, pair_time_columns
from cnnlstm.data.text_encoding import LineDecoder
from cnnlstm.errors import DataError
from cnnlstm.extras import importing

__all__ = ["run_stream"]

_LABELS = ("anomaly", "changepoint")
_CHUNK = 1 << 16
"""Bytes read from standard input at most at once (fewer when fewer have arrived)."""

Row = tuple[int, list[str]]
"""A line's number and its cells."""


def run_stream(settings: DetectSettings) -> int:
    """Fit (or load) the detector, then score the rows of standard input as they arrive, each
    written to standard output at once; returns the exit code (0)."""
    notes = Notes(stderr=True)
    check_places(settings)
    tail = None
    if settings.fit.load is not None:
        detector = load_detector(settings.fit.load)
    else:
        detector, _, tail = fit_detector(settings.fit, None, settings.read, notes)
    if settings.save is not None:
        save_detector(detector, settings.save, notes)
    source: TextIO = sys.stdin
    out: TextIO = sys.stdout
    sniffed: dict[str, str | None] = {}
    rows = _stdin_rows(_stdin_lines(source, settings.read.encoding, notes), sniffed)
    header = next(rows, None)
    if header is None:
        raise DataError("stdin: no header line; expected the column names, then rows.")
    columns = [c.strip() for c in header[1]]
    first = next(rows, None)
    if first is not None and is_units_row(first[1], ".") and is_units_row(first[1], ","):
        first = next(rows, None)  # a units row under the header, as SensorCSV skips it
    if first is not None:
        rows = itertools.chain([first], rows)
    if settings.read.columns is not None and settings.fit.load is not None:
        check_saved_columns(detector, settings.read.columns, "--columns")
    time_at, sensor_at = _layout(detector, columns, first, settings.read)
    scorer: StreamScorer | BaselineStream = detector.stream()
    if tail is not None and settings.fit.warm_start and first is not None:
        clock = " ".join(first[1][i].strip() for i in time_at)
        begin = _time_value(clock, first[0]) if time_at else None
        warm, note = warm_up(tail, begin, Path("stdin"))
        notes.say(note)
        for row in warm if warm is not None else ():
            scorer.update(row)  # the training file's last rows: their scores are dropped
    print(f"{'datetime' if time_at else 'row'},score,anomaly", file=out, flush=True)
    last: np.ndarray | None = None
    decimal: str = settings.read.decimal
    gaps = {word.lower() for word in settings.read.missing}
    for count, (line, cells) in enumerate(rows):
        if len(cells) != len(columns):
            raise DataError(
                f"stdin: line {line} has {len(cells)} fields, but the header has {len(columns)}."
            )
        if decimal == "auto":  # from the first row, as SensorCSV sniffs it from the first lines
            decimal = sniff_decimal(cells, sniffed.get("delimiter"))
        values = np.array([_cell(cells[i], line, columns[i], decimal, gaps) for i in sensor_at])
        holes = np.isnan(values)
        if holes.any():
            if settings.read.nan == "fail" or last is None:
                name = detector.columns_[int(np.flatnonzero(holes)[0])]
                raise DataError(
                    f"stdin: line {line}, column {name!r} is empty (NaN); pass --nan ffill to "
                    f"repeat the last value."
                )
            values[holes] = last[holes]
        last = values
        try:
            score, flag = scorer.update(values)
        except FarValue as far:
            where = f"stdin: line {line}, column {detector.columns_[far.column]!r}"
            raise DataError(far.located(where)) from None
        clock = " ".join(cells[i].strip() for i in time_at)
        when = _stream_time(clock, line) if time_at else str(count)
        print(f"{when},{score:.8g},{flag}", file=out, flush=True)
    return 0


def _layout(
    detector: Detector, columns: list[str], first: Row | None, read: ReadOptions
) -> tuple[list[int], list[int]]:
    """Where the header's ``columns`` hold the time (none, one column, or a date and a time
    column) and the detector's sensors.

    A column named as an index of the rows (:data:`INDEX_NAMES`) that is not one of the
    detector's sensors is skipped. With ``--columns`` the columns left over are skipped, but for
    the datetime: ``--datetime``, else the first named like one, or the only one left; a date
    column and a time-of-day column beside it are one clock, as SensorCSV reads them.
    """
    missing = [c for c in detector.columns_ if c not in columns]
    if missing:
        raise DataError(
            f"stdin: the header's columns {columns} lack the saved detector's {missing}; the "
            f"detector was fitted on {detector.columns_}."
        )
    others = [c for c in columns if c not in detector.columns_ and c.lower() not in _LABELS]
    others = [c for c in others if c.strip().lower() not in INDEX_NAMES]  # an index of the rows
    named = [c for c in others if is_time_name(c)]
    time_name = named[0] if named else others[0] if len(others) == 1 else None
    if read.datetime is None:
        time_name = None
    elif read.datetime != "auto":
        if read.datetime not in columns:
            raise DataError(
                f"stdin: has no datetime column {read.datetime!r}; its columns are {columns}. "
                f"Pass --datetime none for rows without one."
            )
        time_name = read.datetime
    time_names = [] if time_name is None else _time_pair(time_name, columns, first)
    counted = [c for c in others if c not in time_names[1:]]  # a date + time pair is one
    if len(counted) > 1 and read.columns is None:
        raise DataError(
            f"stdin: the columns {others} are neither the detector's sensors "
            f"{detector.columns_} nor labels; only the datetime (or a date and a time column) "
            f"may be added, or pass {columns_flag(detector.columns_)} to read those and leave "
            f"the rest."
        )
    return [columns.index(name) for name in time_names], [
        columns.index(c) for c in detector.columns_
    ]


def _time_pair(name: str, columns: list[str], first: Row | None) -> list[str]:
    """``[name]``, or the date and time-of-day columns ``name`` is one of (read from the first
    row)."""
    if first is None or len(first[1]) != len(columns):
        return [name]
    with importing("reading and writing sensor files (cnnlstm.commands.detect.stream)", "sensors"):
        import pandas as pd

    frame = pd.DataFrame([[cell.strip() for cell in first[1]]], columns=columns)
    return pair_time_columns(frame, name, columns=columns)


def _stdin_lines(source: TextIO, encoding: str, notes: Notes) -> Iterator[str]:
    """The lines of ``source`` as they arrive, without their line ends.

    Its bytes are decoded as SensorCSV decodes a file's (:class:`LineDecoder`, ``encoding``);
    the note that the text was read as Windows-1252 is said (on stderr) when a line says so.
    A text stream without bytes under it (a ``StringIO``) is read as it is.
    """
    buffer = getattr(source, "buffer", None)
    if buffer is None:
        # readline, not iteration: each line is handed on as soon as it arrives
        for text in iter(source.readline, ""):
            yield text.rstrip("\r\n")
        return
    decoder = LineDecoder(encoding, source="stdin")
    read = getattr(buffer, "read1", buffer.read)  # read1: what has arrived, without waiting
    noted = False
    while True:
        chunk = read(_CHUNK)
        try:
            lines = decoder.feed(chunk, final=not chunk)
        except DataError as error:
            raise DataError(in_flags(str(error))) from None
        if decoder.note is not None and not noted:
            noted = True
            notes.say(f"note: {in_flags(decoder.note)}")
        yield from lines
        if not chunk:
            return


def _stdin_rows(lines: Iterator[str], sniffed: dict[str, str | None]) -> Iterator[Row]:
    """``(line number, cells)`` of the header and each non-blank line, read as they arrive.

    The delimiter is sniffed from the header and the first row, and put in ``sniffed``.

    Raises:
        DataError: the header's delimiter is not the first row's.
    """
    numbered = ((number, text) for number, text in enumerate(lines, start=1) if text.strip())
    first = next(numbered, None)
    if first is None:
        return
    first = (first[0], first[1].lstrip("\ufeff"))  # a byte order mark, as read_table drops it
    second = next(numbered, None)
    if second is not None:
        mixed = header_delimiter_error(
            first[1], second[1], source="stdin", lines=(first[0], second[0])
        )
        if mixed is not None:
            raise mixed
    sample = [first[1]] + ([second[1]] if second is not None else [])
    delimiter = sniffed["delimiter"] = sniff_delimiter(sample)
    yield first[0], split_cells(first[1], delimiter)
    if second is not None:
        yield second[0], split_cells(second[1], delimiter)
    for number, text in numbered:
        yield number, split_cells(text, delimiter)


def _cell(
    text: str,
    line: int,
    column: str,
    decimal: str = ".",
    gaps: frozenset[str] | set[str] = frozenset(),
) -> float:
    """A sensor cell: NaN for a gap (empty, a missing-value marker, a ``--missing`` text, inf),
    else its number."""
    if text.strip().lower() in gaps:
        return math.nan
    try:
        number = read_number(text, decimal)
    except ValueError:
        raise DataError(
            f"stdin: line {line}, column {column!r}: {text.strip()!r} is not a finite number; "
            f"expected numbers in the sensor columns."
        ) from None
    return number if math.isfinite(number) else math.nan


def _time_value(text: str, line: int) -> Any:
    """The time a row's clock text says, as the offline run reads it: float seconds, or a
    ``datetime64`` (in UTC when it carries an offset)."""
    shown = _stream_time(text, line)
    try:
        return float(shown)
    except ValueError:
        return np.datetime64(shown.removesuffix("+00:00"), "ns")


def _stream_time(text: str, line: int) -> str:
    value = text.strip()
    try:
        return f"{float(value):.15g}"
    except ValueError:
        pass
    with importing("reading and writing sensor files (cnnlstm.commands.detect.stream)", "sensors"):
        import pandas as pd

    try:
        dayfirst = bool(re.match(r"\d{1,2}\.\d{1,2}\.\d{4}", value))  # 13.01.2021: day first
        stamp = pd.Timestamp(pd.to_datetime(value, dayfirst=dayfirst))
        if stamp.tzinfo is not None:  # as the offline run writes it: in UTC
            return str(stamp.tz_convert("UTC").tz_localize(None)) + "+00:00"
        return str(stamp)
    except ValueError:
        raise DataError(
            f"stdin: line {line}: {value!r} is not a date and time; expected the datetime in "
            f"the first column that is not a sensor."
        ) from None
