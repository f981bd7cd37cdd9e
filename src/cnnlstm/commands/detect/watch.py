"""What ``cnnlstm detect`` watches as the parts of INPUT go by, to say it once at the end.

Flagged spans with the sensors behind each (:class:`SpanTracker`), sensors that only ever rise
(:class:`CounterWatch`: counters, totals) and sensors that hold one value for long
(:class:`FlatWatch`: stuck, or a dead link), each found part by part as on the whole file, in
memory that does not grow with the rows; :func:`flat_message` says the flat runs in one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from cnnlstm.commands.detect.outputs import time_texts

__all__ = [
    "FLAT_ROWS",
    "FLAT_TIMES",
    "CounterWatch",
    "FlatRun",
    "FlatWatch",
    "SpanTracker",
    "flat_message",
]

_COUNTER_RISES = 10
"""A sensor that never falls and rises on at least this many rows is warned of as a counter."""


class SpanTracker:
    """Flagged spans found chunk by chunk, with the sensors behind each, as
    :func:`~cnnlstm.anomaly.evaluation.spans_from_binary` and
    :func:`~cnnlstm.commands.detect.report.span_sensors` find them on the whole file.

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
        self._top = 0.0  # its highest score so far

    def add(self, flags: np.ndarray, parts: np.ndarray, scores: np.ndarray | None = None) -> None:
        """The next rows' ``(n,)`` 0/1 flags, ``(n, S)`` sensor parts of the score and ``(n,)``
        scores (a span's peak score; without them, its largest part: the score where a row's
        score is its largest part)."""
        n = len(flags)
        step = np.diff(np.asarray(flags, dtype=np.int8), prepend=np.int8(0), append=np.int8(0))
        starts = np.flatnonzero(step == 1).tolist()
        stops = np.flatnonzero(step == -1).tolist()
        if self._open is not None:
            if starts and starts[0] == 0:  # the open span goes on into this chunk
                starts[0] = -1
            else:
                self._close(self.rows, self._peak, self._top)
        for start, stop in zip(starts, stops, strict=True):
            peak = parts[max(start, 0) : stop].max(axis=0)  # (S,)
            top = float(peak.max() if scores is None else scores[max(start, 0) : stop].max())
            if start < 0 and self._peak is not None:
                peak, top = np.maximum(peak, self._peak), max(top, self._top)
            begin = self.rows + start if start >= 0 else self._open
            assert begin is not None
            if stop == n:  # runs on past the chunk
                self._open, self._peak, self._top = begin, peak, top
            else:
                self._open = begin
                self._close(self.rows + stop, peak, top)
        self.rows += n

    def _close(self, stop: int, peak: np.ndarray | None, top: float) -> None:
        assert self._open is not None and peak is not None
        order = np.argsort(-peak, kind="stable")
        above = [self.names[k] for k in order if peak[k] > self.threshold]
        self.spans.append((self._open, stop))
        self.sensors.append(above or [self.names[order[0]]])
        self.peaks.append(top)
        self._open, self._peak = None, None

    def cut(self) -> None:
        """End a span that runs at this row here: the rows after it start spans of their own
        (the training rows' spans are kept apart from the rest's)."""
        if self._open is not None:
            self._close(self.rows, self._peak, self._top)

    def finish(self) -> None:
        """Close a span that runs to the last row."""
        self.cut()


class CounterWatch:
    """Sensors that only ever rise from row to row (counters, totals), watched chunk by chunk:
    the rows after the training rows lie above all the detector saw, so they score high
    whatever happens.

    Example:
        >>> watch = CounterWatch(2)
        >>> watch.add(np.array([[float(i), 1.0] for i in range(6)]))
        >>> watch.add(np.array([[float(i), 1.0] for i in range(6, 12)]))
        >>> watch.rising().tolist()
        [True, False]
    """

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


FLAT_ROWS = 300
"""A sensor that holds one value for at least this many rows, and at least :data:`FLAT_TIMES`
times its longest repeat in the training rows, is said to be flat (stuck)."""
FLAT_TIMES = 10
_FLAT_SHOWN = 3


class FlatRun(NamedTuple):
    """A sensor holding one value over rows ``[start, stop)``, and where that lies in the file."""

    sensor: str
    value: float
    start: int
    stop: int
    lines: tuple[int, int]
    """The file's lines of its first and last row."""
    times: tuple[Any, Any] | None
    """The times of its first and last row (None without times)."""


class FlatWatch:
    """Sensors that hold one value for long (stuck, or a dead link whose last value is
    repeated), found chunk by chunk: each such run is kept once, with its rows, lines and times,
    however many chunks it spans.

    Args:
        names: the ``S`` sensor names.
        least: ``(S,)`` the fewest rows a run of one value needs to be kept, per sensor.

    Example:
        >>> watch = FlatWatch(["flow", "pressure"], least=[3, 3])
        >>> rows = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [4.0, 5.0], [5.0, 6.0]])
        >>> watch.add(rows[:2], None, np.arange(2, 4))
        >>> watch.add(rows[2:], None, np.arange(4, 7))
        >>> watch.finish()
        >>> [(run.sensor, run.value, run.start, run.stop, run.lines) for run in watch.runs]
        [('pressure', 5.0, 0, 4, (2, 5))]
    """

    def __init__(self, names: Sequence[str], least: Sequence[int] | np.ndarray) -> None:
        self.names = list(names)
        self.least = np.asarray(least, dtype=np.int64)  # (S,)
        if self.least.shape != (len(self.names),):
            raise ValueError(
                f"least has to be ({len(self.names)},), one per sensor, but got shape "
                f"{self.least.shape}"
            )
        self.runs: list[FlatRun] = []
        self.rows = 0
        width = len(self.names)
        self._last: np.ndarray | None = None  # (S,) the last row's values
        self._last_line = 0
        self._last_time: Any = None
        self._start = np.zeros(width, dtype=np.int64)  # (S,) each sensor's run's first row
        self._start_line = np.zeros(width, dtype=np.int64)  # (S,) and its line
        self._start_time: np.ndarray | None = None  # (S,) and its time

    def add(self, values: np.ndarray, times: np.ndarray | None, lines: np.ndarray) -> None:
        """The next ``(n, S)`` rows, their ``(n,)`` times (or None) and lines."""
        n = len(values)
        if not n:
            return
        changed = np.empty(values.shape, dtype=bool)  # (n, S): a row that starts a new run
        changed[0] = True if self._last is None else values[0] != self._last
        changed[1:] = values[1:] != values[:-1]
        sensors, rows = np.nonzero(changed.T)  # by sensor, then row
        if times is not None and self._start_time is None:
            self._start_time = np.full(len(self.names), times[0])
        ends = self.rows + rows  # each change ends its sensor's run before it
        first = np.ones(len(sensors), dtype=bool)  # the sensor's first change in these rows
        first[1:] = sensors[1:] != sensors[:-1]
        begins = np.empty_like(ends)
        begins[first] = self._start[sensors[first]]
        begins[1:][~first[1:]] = ends[:-1][~first[1:]]
        for k in np.flatnonzero(ends - begins >= self.least[sensors]).tolist():
            self._keep(int(sensors[k]), int(begins[k]), int(ends[k]), values, times, lines)
        last = np.ones(len(sensors), dtype=bool)  # the sensor's last change in these rows
        last[:-1] = sensors[:-1] != sensors[1:]
        self._start[sensors[last]] = ends[last]
        self._start_line[sensors[last]] = lines[rows[last]]
        if times is not None and self._start_time is not None:
            self._start_time[sensors[last]] = times[rows[last]]
        self._last = values[-1].copy()
        self._last_line = int(lines[-1])
        self._last_time = None if times is None else times[-1]
        self.rows += n

    def _keep(
        self,
        sensor: int,
        start: int,
        stop: int,
        values: np.ndarray | None,
        times: np.ndarray | None,
        lines: np.ndarray | None,
    ) -> None:
        """Keep the run ``[start, stop)`` of ``sensor``; ``values``, ``times`` and ``lines`` are
        the rows being added (from row :attr:`rows`), or None once all are in."""
        end = stop - 1 - self.rows  # the run's last row among the rows being added, or < 0
        assert self._last is not None or (values is not None and end >= 0)
        if values is not None and lines is not None and end >= 0:
            value, last_line = float(values[end, sensor]), int(lines[end])
            last_time = None if times is None else times[end]
        else:
            assert self._last is not None
            value, last_line, last_time = (
                float(self._last[sensor]),
                self._last_line,
                self._last_time,
            )
        span_times = None
        if self._start_time is not None and last_time is not None:
            begun = self._start_time[sensor] if start < self.rows else None
            if begun is None and times is not None:
                begun = times[start - self.rows]
            span_times = (begun, last_time)
        first_line = int(self._start_line[sensor]) if start < self.rows else None
        if first_line is None and lines is not None:
            first_line = int(lines[start - self.rows])
        assert first_line is not None
        self.runs.append(
            FlatRun(self.names[sensor], value, start, stop, (first_line, last_line), span_times)
        )

    def finish(self) -> None:
        """Keep the runs that last to the final row."""
        if self._last is None:
            return
        for sensor in np.flatnonzero(self.rows - self._start >= self.least).tolist():
            self._keep(sensor, int(self._start[sensor]), self.rows, None, None, None)


def flat_message(
    path: Path,
    runs: Sequence[FlatRun],
    spans: Sequence[tuple[int, int]],
    *,
    step: float | None,
) -> str:
    """One line on the flat runs of a file: each (up to the :data:`_FLAT_SHOWN` longest) with
    its rows, lines, times and length, and the flagged spans that fall in them.

    Example:
        >>> run = FlatRun("Pressure", 0.31, 50, 400, (52, 401), None)
        >>> print(flat_message(Path("a.csv"), [run], [(60, 70), (500, 510)], step=None))
        ... # doctest: +NORMALIZE_WHITESPACE
        a.csv: Pressure holds 0.31 for 350 rows, rows 50-399 (lines 52-401): stuck? 1 flagged
        span falls in it.
    """
    from cnnlstm.data.sensor_times import duration_text

    def said(run: FlatRun) -> str:
        where = f"lines {run.lines[0]}-{run.lines[1]}"
        if run.times is not None:
            first, last = (_time_text(t) for t in run.times)
            where += f", {first} to {last}"
            if step is not None and np.issubdtype(np.asarray(run.times[0]).dtype, np.datetime64):
                seconds = (run.times[1] - run.times[0]) / np.timedelta64(1, "s") + step
                where += f", {duration_text(float(seconds))}"
        return (
            f"{run.sensor} holds {run.value:g} for {run.stop - run.start} rows, rows "
            f"{run.start}-{run.stop - 1} ({where})"
        )

    inside = sum(1 for a, b in spans if any(a < run.stop and run.start < b for run in runs))
    flagged = (
        f" {inside} flagged span{'s' if inside != 1 else ''} "
        f"fall{'s' if inside == 1 else ''} in {'it' if len(runs) == 1 else 'them'}."
        if inside
        else ""
    )
    longest = sorted(runs, key=lambda run: (run.start - run.stop, run.start))[:_FLAT_SHOWN]
    listed = "; ".join(said(run) for run in longest)
    if len(runs) == 1:
        return f"{path}: {listed}: stuck?{flagged}"
    sensors = len({run.sensor for run in runs})
    head = (
        f"{path}: {len(runs)} runs of one value held for long, in {sensors} "
        f"sensor{'s' if sensors > 1 else ''}"
    )
    if len(runs) > _FLAT_SHOWN:
        head += f"; the {_FLAT_SHOWN} longest"
    return f"{head}: {listed}: stuck?{flagged}"


def _time_text(value: Any) -> str:
    if isinstance(value, np.datetime64):
        return time_texts(np.array([value], dtype="datetime64[ns]"), 0, 1, utc=False)[0]
    return f"{float(value):.15g}"
