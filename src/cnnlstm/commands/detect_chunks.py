"""``cnnlstm detect`` on files of any length: INPUT read, scored and written chunk by chunk.

INPUT is read in parts of rows (:class:`~cnnlstm.data.sensors.SensorChunks`), each part is scored
with the state of the rows before it (:class:`~cnnlstm.detect.ChunkScorer`: the scores equal the
whole file's) and its lines go to OUT.csv's temporary file at once, so memory stays bounded
whatever the number of rows. What the end of the run needs is kept per row in compact arrays
(the score as float32, the flag and the labels as int8: 7 bytes a row), and per flagged span its
rows and the sensors behind it (:class:`SpanTracker`). The messages of the reader are said in
the command line's flags, as :func:`~cnnlstm.commands.detect_fit._read` says them.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from cnnlstm.commands.detect_fit import (
    _columns,
    _encoding,
    _in_flags,
    _missing,
    _note,
    _said_in_flags,
)
from cnnlstm.data.csv_text import EncodingNote
from cnnlstm.data.sensor_times import GAPS_NOTE
from cnnlstm.data.sensors import SensorChunks, SensorPart
from cnnlstm.errors import DataError

__all__ = ["SpanTracker", "time_texts"]

CELLS_PER_CHUNK = 500_000
"""INPUT is read in parts of about this many cells (rows x columns)."""
_COUNTER_RISES = 10


class Head(NamedTuple):
    """The first rows of INPUT, read to fit on (what :func:`~cnnlstm.commands.detect_fit._fit`
    needs of a file)."""

    path: Path
    features: np.ndarray
    missing: np.ndarray
    lines: np.ndarray
    feature_names: list[str]
    total: int
    """The rows of the file when all were read, else a number above any (the file goes on)."""


def open_chunks(args: argparse.Namespace, path: Path) -> SensorChunks:
    """INPUT as :class:`SensorChunks`, with the flags' reading options."""
    datetime = getattr(args, "datetime", "auto")
    decimal: Any = getattr(args, "decimal", "auto")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            chunks = SensorChunks(
                path,
                cells=getattr(args, "cells", None) or CELLS_PER_CHUNK,
                nan_policy=args.nan,
                columns=_columns(args),
                decimal=decimal,
                datetime_column=None if datetime.lower() == "none" else datetime,
                missing_values=_missing(args),
                encoding=_encoding(args),
            )
    except DataError as error:
        raise _said_in_flags(args, error) from None
    _pass_on(args, caught)
    return chunks


def _pass_on(args: argparse.Namespace, caught: Sequence[warnings.WarningMessage]) -> None:
    for warning in caught:
        text = _in_flags(str(warning.message).replace(GAPS_NOTE, ""))
        if issubclass(warning.category, EncodingNote):
            _note(args, f"note: {text}")
            continue
        warnings.warn_explicit(text, warning.category, warning.filename, warning.lineno)


def parts(args: argparse.Namespace, chunks: SensorChunks) -> Iterator[SensorPart]:
    """The parts of INPUT; the reader's messages said in flags."""
    source = iter(chunks)
    while True:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                part = next(source, None)
        except DataError as error:
            raise _said_in_flags(args, error) from None
        _pass_on(args, caught)
        if part is None:
            return
        yield part


def read_head(
    chunks: SensorChunks, source: Iterator[SensorPart], rows: int
) -> tuple[Head, list[SensorPart]]:
    """Read parts until ``rows`` rows (or the end); the head and the parts read."""
    read: list[SensorPart] = []
    count = 0
    ended = False
    while count < rows:
        part = next(source, None)
        if part is None:
            ended = True
            break
        read.append(part)
        count += len(part.features)
    width = len(chunks.feature_names)

    def joined(name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        if not read:
            return np.zeros(shape, dtype=dtype)
        return np.concatenate([getattr(part, name) for part in read])

    head = Head(
        path=chunks.path,
        features=joined("features", (0, width), np.float64),
        missing=joined("missing", (0, width), bool),
        lines=joined("lines", (0,), np.int64),
        feature_names=list(chunks.feature_names),
        total=count if ended else np.iinfo(np.int64).max,
    )
    return head, read


class SpanTracker:
    """Flagged spans found chunk by chunk, with the sensors behind each, as
    :func:`~cnnlstm.evaluation.spans_from_binary` and
    :func:`~cnnlstm.commands.detect_report.span_sensors` find them on the whole file.

    Example:
        >>> tracker = SpanTracker(["flow", "pressure"], threshold=1.0)
        >>> tracker.add(np.array([0, 1]), np.array([[0.1, 0.2], [3.0, 1.5]]))
        >>> tracker.add(np.array([1, 0]), np.array([[0.2, 2.0], [0.0, 0.0]]))
        >>> tracker.spans, tracker.sensors
        ([(1, 3)], [['flow', 'pressure']])
    """

    def __init__(self, names: Sequence[str], threshold: float) -> None:
        self.names = list(names)
        self.threshold = threshold
        self.spans: list[tuple[int, int]] = []
        self.sensors: list[list[str]] = []
        self.peaks: list[float] = []
        self.rows = 0
        self._open: int | None = None  # the start of a span still running at the chunk's end
        self._peak: np.ndarray | None = None  # (S,): its sensors' largest parts so far

    def add(self, flags: np.ndarray, parts: np.ndarray) -> None:
        """The next rows' ``(n,)`` 0/1 flags and ``(n, S)`` sensor parts of the score."""
        n = len(flags)
        step = np.diff(np.asarray(flags, dtype=np.int8), prepend=np.int8(0), append=np.int8(0))
        starts = np.flatnonzero(step == 1).tolist()
        stops = np.flatnonzero(step == -1).tolist()
        if self._open is not None:
            if starts and starts[0] == 0:  # the open span goes on into this chunk
                starts[0] = -1
            else:
                self._close(self.rows, self._peak)
        for start, stop in zip(starts, stops, strict=True):
            peak = parts[max(start, 0) : stop].max(axis=0)  # (S,)
            if start < 0 and self._peak is not None:
                peak = np.maximum(peak, self._peak)
            begin = self.rows + start if start >= 0 else self._open
            assert begin is not None
            if stop == n:  # runs on past the chunk
                self._open, self._peak = begin, peak
            else:
                self._open = begin
                self._close(self.rows + stop, peak)
        self.rows += n

    def _close(self, stop: int, peak: np.ndarray | None) -> None:
        assert self._open is not None and peak is not None
        order = np.argsort(-peak, kind="stable")
        above = [self.names[k] for k in order if peak[k] > self.threshold]
        self.spans.append((self._open, stop))
        self.sensors.append(above or [self.names[order[0]]])
        self.peaks.append(float(peak.max()))
        self._open, self._peak = None, None

    def finish(self) -> None:
        """Close a span that runs to the last row."""
        if self._open is not None:
            self._close(self.rows, self._peak)


class CounterWatch:
    """Sensors that only ever rise from row to row (counters, totals), watched chunk by chunk
    as :func:`~cnnlstm.commands.detect_fit._warn_counters` looks at a whole file."""

    def __init__(self, width: int) -> None:
        self._last: np.ndarray | None = None
        self._never_fell = np.ones(width, dtype=bool)
        self._rises = np.zeros(width, dtype=np.int64)
        self.rows = 0

    def add(self, rows: np.ndarray) -> None:
        """The next ``(n, S)`` rows."""
        if not len(rows):
            return
        joined = rows if self._last is None else np.concatenate([self._last[None], rows])
        steps = np.diff(joined, axis=0)
        self._never_fell &= (steps >= 0).all(axis=0)
        self._rises += (steps > 0).sum(axis=0)
        self._last = rows[-1].copy()
        self.rows += len(rows)

    def rising(self) -> np.ndarray:
        """``(S,)`` bool: the sensors that never fell and rose on enough rows."""
        if self.rows < 3:
            return np.zeros_like(self._never_fell)
        return self._never_fell & (self._rises >= _COUNTER_RISES)


def time_texts(times: np.ndarray | None, start: int, count: int, *, utc: bool) -> list[str]:
    """OUT.csv's first cell of ``count`` rows from row ``start``: the time as
    ``2020-03-09 10:14:33`` (``+00:00`` added for times that had offsets), seconds to 15
    digits, or the row number without times. Equal to formatting each row on its own, faster.

    Example:
        >>> times = np.array(["2020-03-09T10:14:33", "2020-03-09T10:14:33.5"], "datetime64[ns]")
        >>> time_texts(times, 0, 2, utc=False)
        ['2020-03-09 10:14:33', '2020-03-09 10:14:33.500000']
    """
    if times is None:
        return [str(i) for i in range(start, start + count)]
    if not np.issubdtype(times.dtype, np.datetime64):
        return [f"{value:.15g}" for value in np.asarray(times, dtype=np.float64).tolist()]
    stamps = times.astype("datetime64[ns]")
    seconds = stamps.astype("datetime64[s]")
    text: list[str] = np.char.replace(np.datetime_as_string(seconds), "T", " ").tolist()
    odd = np.flatnonzero((stamps - seconds).astype(np.int64) != 0)
    if len(odd):
        import pandas as pd

        for i in odd.tolist():
            text[i] = str(pd.Timestamp(stamps[i]))
    if utc:
        return [f"{t}+00:00" for t in text]
    return text
