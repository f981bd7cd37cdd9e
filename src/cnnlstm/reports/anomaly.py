"""The report of an anomaly-detection run: a plot of sensors and score, and a Markdown summary.

``cnnlstm detect INPUT.csv --report DIR`` writes both. :func:`plot_detection` draws three panels
on one time axis:

1. the sensors, each standardised in a lane of its own (up to :data:`MAX_LANES` sensors; more
   share one axis), so a stuck, drifting or noisy sensor shows in its own line;
2. the anomaly score on a log axis with the threshold, the score above it filled blue;
3. a strip with the labelled anomaly spans (red) above the detected spans (blue), so a hit, a
   miss and a false alarm read at a glance.

Labelled spans are also shaded light red behind the first two panels, and the training rows
(when given) grey. :func:`write_summary` says what was run, how many rows were flagged in how
many spans, the metrics when the input had labels, and embeds the plot.

Long runs are drawn in bounded memory and in seconds: a :class:`DetectionTrace` takes the rows
chunk by chunk (``cnnlstm detect`` feeds it each part as it is scored) and keeps each lane's
minimum and maximum per pixel column (:class:`MinMaxColumns`), so a one-row spike in months of
rows still shows, and :func:`draw_detection` draws it; :func:`plot_detection` does both for rows
in memory. Up to 4096 rows every row is drawn as it is.

matplotlib is imported inside :func:`draw_detection` (with the Agg renderer, no display needed),
so importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cnnlstm.anomaly.evaluation import spans_from_binary
from cnnlstm.errors import ShapeError

__all__ = [
    "DETECTED_COLOR",
    "LABEL_COLOR",
    "MAX_LANES",
    "THRESHOLD_COLOR",
    "DetectionTrace",
    "MinMaxColumns",
    "draw_detection",
    "plot_detection",
    "write_summary",
]

LABEL_COLOR = "#d62728"  # labelled anomaly spans: red
DETECTED_COLOR = "#1f77b4"  # detected spans: blue
THRESHOLD_COLOR = "#ff7f0e"  # the threshold: orange
MAX_LANES = 16
"""Up to this many sensors get a lane each; more are drawn on one shared axis."""
_TRAIN_COLOR = "#7f7f7f"
_SHADE_ALPHA = 0.18
_LEGEND_NAMES = 40  # past MAX_LANES, up to this many sensors are named in a legend
_LANE_CLIP = 4.0  # a lane shows -4..4 standard deviations; beyond is clipped to the lane


def _metrics_text(metrics: Mapping[str, float]) -> str:
    """``F1 0.667 · precision 0.755 · ...`` for a plot's title (FAR and MAR in percent)."""
    parts = []
    for key, name in (
        ("f1", "F1"),
        ("precision", "precision"),
        ("recall", "recall"),
        ("far", "FAR"),
        ("mar", "MAR"),
        ("nab", "NAB"),
    ):
        if key not in metrics or math.isnan(float(metrics[key])):
            continue
        value = float(metrics[key])
        shown = f"{100 * value:.1f} %" if key in ("far", "mar") else f"{value:.3f}"
        if key == "nab":
            shown = f"{value:.1f}"
        parts.append(f"{name} {shown}")
    return "  ·  ".join(parts)


def _check_int(name: str, value: object, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} has to be an int >= {least}, but got {value!r}")
    return value


class MinMaxColumns:
    """Rows of ``L`` lanes decimated to each lane's minimum and maximum per column, fed chunk by
    chunk in bounded memory.

    The rows are cut into buckets of :attr:`per` consecutive rows (a power of two). While there
    are at most ``2 * columns`` rows each row is a bucket of its own; past that, neighbouring
    buckets are merged pairwise (a merged bucket's minimum is the smaller of two minima, so the
    merge is exact) and :attr:`per` doubles. So rows of any number end in between ``columns``
    and ``2 * columns`` buckets: drawn ``columns`` pixels wide or narrower, a bucket is at most a
    pixel column, and a one-row spike stays in its bucket's maximum (nothing is averaged away).
    Memory: ``4 * columns * L`` float64 values, whatever the number of rows.

    Args:
        lanes: values per row, ``L``.
        columns: the buckets kept are between this many and twice as many.

    Attributes:
        rows: the rows added so far.
        per: rows per bucket (the last bucket may hold fewer).

    Example:
        >>> columns = MinMaxColumns(1, columns=4)
        >>> values = np.zeros((1000, 1))
        >>> values[637] = 9.0  # a one-row spike
        >>> for i in range(0, 1000, 300):
        ...     columns.add(values[i : i + 300])
        >>> len(columns.starts), columns.per, float(columns.maximum.max())
        (8, 128, 9.0)
    """

    def __init__(self, lanes: int, *, columns: int = 2048) -> None:
        self.lanes = _check_int("lanes", lanes, 0)
        self.columns = _check_int("columns", columns, 1)
        capacity = 2 * self.columns
        self._min: NDArray[np.float64] = np.empty((capacity, lanes))  # (2 * columns, L)
        self._max: NDArray[np.float64] = np.empty((capacity, lanes))  # (2 * columns, L)
        self._starts: NDArray[np.int64] = np.zeros(capacity, dtype=np.int64)
        self._count = 0  # buckets begun, the last one maybe partly filled
        self._fill = 0  # rows in the last bucket
        self.per = 1
        self.rows = 0

    @property
    def starts(self) -> NDArray[np.int64]:
        """``(K,)`` each bucket's first row."""
        kept: NDArray[np.int64] = self._starts[: self._count].copy()
        return kept

    @property
    def minimum(self) -> NDArray[np.float64]:
        """``(K, L)`` each lane's smallest value in each bucket."""
        kept: NDArray[np.float64] = self._min[: self._count].copy()
        return kept

    @property
    def maximum(self) -> NDArray[np.float64]:
        """``(K, L)`` each lane's largest value in each bucket."""
        kept: NDArray[np.float64] = self._max[: self._count].copy()
        return kept

    def add(self, values: ArrayLike) -> None:
        """The next ``(n, L)`` rows.

        Raises:
            ShapeError: not ``(n, L)``.
        """
        rows = np.asarray(values, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.lanes:
            raise ShapeError(
                f"MinMaxColumns.add: expected rows (n, L) with L = {self.lanes} lanes, but got "
                f"shape {tuple(rows.shape)}."
            ) from None
        n, i = len(rows), 0
        while i < n:
            last = self._count - 1
            if self._count and self._fill < self.per:  # top up the last bucket
                block = rows[i : i + min(self.per - self._fill, n - i)]  # (m, L)
                np.minimum(self._min[last], block.min(axis=0), out=self._min[last])
                np.maximum(self._max[last], block.max(axis=0), out=self._max[last])
                self._fill += len(block)
                i += len(block)
                continue
            if self._count == len(self._starts):  # full, every bucket whole: merge pairs
                half = self._count // 2
                self._min[:half] = np.minimum(self._min[0::2], self._min[1::2])
                self._max[:half] = np.maximum(self._max[0::2], self._max[1::2])
                self._starts[:half] = self._starts[0::2]
                self._count, self.per = half, 2 * self.per
                self._fill = self.per
                continue
            whole = min((n - i) // self.per, len(self._starts) - self._count)
            if whole:  # whole buckets at once
                block = rows[i : i + whole * self.per].reshape(whole, self.per, self.lanes)
            else:  # fewer rows than a bucket: a new bucket, partly filled
                block = rows[i:][None]  # (1, n - i, L)
            k, taken = len(block), block.shape[0] * block.shape[1]
            self._min[self._count : self._count + k] = block.min(axis=1)
            self._max[self._count : self._count + k] = block.max(axis=1)
            first = self.rows + i
            self._starts[self._count : self._count + k] = first + self.per * np.arange(k)
            self._count += k
            self._fill = block.shape[1]
            i += taken
        self.rows += n


_PASS_ROWS = 65_536
""":meth:`DetectionTrace.add` decimates this many rows at a time (its scratch space)."""
_TRACE_CELLS = 1 << 20
"""A trace keeps about ``4 * columns * lanes <= 4 * this`` values: fewer columns for many
sensors (2048 up to 500 sensors; the extra sensors share one axis anyway)."""


class DetectionTrace:
    """What :func:`draw_detection` draws of a detection run, gathered chunk by chunk in bounded
    memory: the time axis, each sensor, the score, the flags and the labels, decimated to
    their minimum and maximum per pixel column (:class:`MinMaxColumns`), and what the plot
    needs of all rows: each sensor's mean and standard deviation (to standardise its lane), the
    rows, the flagged rows and the flagged spans.

    Args:
        n_sensors: sensors per row, ``S``.
        labels: whether :meth:`add` gets labelled anomalies (the plot's red lane).
        columns: the buckets kept are between this many and twice as many (default: 2048,
            fewer past 500 sensors).

    Example:
        >>> trace = DetectionTrace(2)
        >>> rng = np.random.default_rng(0)
        >>> for _ in range(3):
        ...     scores = rng.random(100)
        ...     trace.add(None, rng.normal(size=(100, 2)), scores, predictions=scores > 0.9)
        >>> trace.rows, trace.flagged == int(trace.flags.sum())
        (300, True)
    """

    def __init__(self, n_sensors: int, *, labels: bool = False, columns: int | None = None) -> None:
        self.n_sensors = _check_int("n_sensors", n_sensors, 1)
        self.has_labels = bool(labels)
        lanes = n_sensors + 5  # x, the sensors, the score (max, positive min), flags, labels
        if columns is None:
            columns = max(64, min(2048, _TRACE_CELLS // lanes))
        self._columns = MinMaxColumns(lanes, columns=columns)
        self.flagged = 0
        """Rows flagged so far."""
        self.spans = 0
        """Flagged spans so far (a span running on across two chunks counts once)."""
        self._last_flag = 0
        self._origin: np.datetime64 | None = None
        self._kind: str | None = None  # "rows", "numbers" or "dates", from the first rows
        self._count = 0
        self._mean = np.zeros(n_sensors)  # (S,)
        self._squares = np.zeros(n_sensors)  # (S,): the sum of squared deviations from the mean

    @property
    def rows(self) -> int:
        """Rows added so far."""
        return self._columns.rows

    @property
    def is_date(self) -> bool:
        """Whether the time axis is dates."""
        return self._kind == "dates"

    def add(
        self,
        times: ArrayLike | None,
        values: ArrayLike,
        scores: ArrayLike,
        *,
        predictions: ArrayLike,
        labels: ArrayLike | None = None,
    ) -> None:
        """The next rows of the run.

        Args:
            times: ``(n,)`` timestamps (datetime64, strings, Timestamps) or numbers, or ``None``
                for row numbers; the first rows say which, for every later chunk.
            values: ``(n, S)`` sensor readings.
            scores: ``(n,)`` anomaly scores.
            predictions: ``(n,)`` 0/1 flagged rows.
            labels: ``(n,)`` 0/1 labelled anomalies (when the trace was made with ``labels``).

        Raises:
            ShapeError: an array without one entry per row, or another number of sensors.
            ValueError: labels given or left out against ``labels`` of the constructor, or times
                of another kind than the first rows'.
        """
        score_arr = np.asarray(scores, dtype=np.float64)
        n = len(score_arr) if score_arr.ndim == 1 else -1
        sensors = np.asarray(values, dtype=np.float64)
        if sensors.ndim == 1 and self.n_sensors == 1:
            sensors = sensors[:, None]  # (n, 1)
        flags = np.asarray(predictions)
        for name, shape, want in (
            ("scores", score_arr.shape, (n,)),
            ("values", sensors.shape, (n, self.n_sensors)),
            ("predictions", flags.shape, (n,)),
        ):
            if n < 0 or shape != want:
                raise ShapeError(
                    f"DetectionTrace.add: {name} has to be {want if n >= 0 else '(n,)'}: one "
                    f"entry per row of scores and {self.n_sensors} sensors, but got shape "
                    f"{tuple(shape)}."
                ) from None
        if (labels is None) == self.has_labels:
            raise ValueError(
                f"labels has to be {'given' if self.has_labels else 'None'} (the trace was made "
                f"with labels={self.has_labels}), but got "
                f"{'None' if labels is None else 'labels'}"
            )
        labelled = np.zeros(n) if labels is None else np.asarray(labels, dtype=np.float64)
        if labelled.shape != (n,):
            raise ShapeError(
                f"DetectionTrace.add: labels has to be ({n},), one per row, but got shape "
                f"{tuple(labelled.shape)}."
            ) from None
        x = self._x(times, n)
        self._moments(sensors)
        flagged = flags.astype(bool)
        self.flagged += int(np.count_nonzero(flagged))
        if n:
            ints = flagged.astype(np.int8)
            self.spans += int(np.count_nonzero(np.diff(ints, prepend=np.int8(self._last_flag)) > 0))
            self._last_flag = int(ints[-1])
        for i in range(0, n, _PASS_ROWS):
            part = slice(i, i + _PASS_ROWS)
            block = np.empty((len(score_arr[part]), self._columns.lanes))  # (m, S + 5)
            block[:, 0] = x[part]
            block[:, 1 : 1 + self.n_sensors] = sensors[part]
            block[:, -4] = score_arr[part]
            block[:, -3] = np.where(score_arr[part] > 0, score_arr[part], np.inf)
            block[:, -2] = flagged[part]
            block[:, -1] = labelled[part]
            self._columns.add(block)

    def _x(self, times: ArrayLike | None, n: int) -> NDArray[np.float64]:
        """``(n,)`` x numbers: row numbers, the numbers given, or seconds since the first time."""
        if times is None:
            kind = "rows"
            x = np.arange(self.rows, self.rows + n, dtype=np.float64)
        else:
            arr = np.asarray(times)
            if arr.shape != (n,):
                raise ShapeError(
                    f"DetectionTrace.add: times has to be ({n},), one per row like scores, but "
                    f"got shape {tuple(arr.shape)}. Pass one timestamp per row, or None for row "
                    f"numbers."
                ) from None
            if arr.dtype.kind in "iuf":
                kind, x = "numbers", arr.astype(np.float64)
            else:
                kind = "dates"
                stamps = arr.astype("datetime64[ns]")  # strings, Timestamps, datetimes parse
                if self._origin is None and n:
                    self._origin = stamps[0]
                origin = self._origin if self._origin is not None else np.datetime64(0, "ns")
                x = (stamps - origin).astype(np.int64) / 1e9  # seconds since the first row
        if self._kind is None and n:
            self._kind = kind
        elif n and kind != self._kind:
            raise ValueError(
                f"times has to be of one kind in every chunk ({self._kind} from the first rows), "
                f"but got {kind}"
            )
        return np.asarray(x, dtype=np.float64)

    def _moments(self, sensors: NDArray[np.float64]) -> None:
        """Merge the rows' mean and squared deviations into the running ones (Chan et al.)."""
        m = len(sensors)
        if not m:
            return
        mean = sensors.mean(axis=0)  # (S,)
        squares = ((sensors - mean) ** 2).sum(axis=0)  # (S,)
        total = self._count + m
        delta = mean - self._mean
        self._mean = self._mean + delta * (m / total)
        self._squares = self._squares + squares + delta**2 * (self._count * m / total)
        self._count = total

    @property
    def starts(self) -> NDArray[np.int64]:
        """``(K,)`` each bucket's first row."""
        return self._columns.starts

    @property
    def x(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(first, last)``: each bucket's smallest and largest x (row, number, or seconds
        since the first row)."""
        return self._columns.minimum[:, 0], self._columns.maximum[:, 0]

    @property
    def sensors(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(minimum, maximum)``, each ``(K, S)``: every sensor's range in each bucket."""
        lanes = slice(1, 1 + self.n_sensors)
        return self._columns.minimum[:, lanes], self._columns.maximum[:, lanes]

    @property
    def scores(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(lowest positive, highest)``, each ``(K,)``: the score's range in each bucket
        (``inf`` for a bucket of unscored rows only)."""
        return self._columns.minimum[:, -3], self._columns.maximum[:, -4]

    @property
    def flags(self) -> NDArray[np.bool_]:
        """``(K,)`` whether any row of each bucket was flagged."""
        return self._columns.maximum[:, -2] > 0

    @property
    def labels(self) -> NDArray[np.bool_] | None:
        """``(K,)`` whether any row of each bucket is labelled, or None without labels."""
        return self._columns.maximum[:, -1] > 0 if self.has_labels else None

    def standard(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(mean, sd)``, each ``(S,)``: every sensor's over all rows (sd 1 when constant)."""
        sd = np.sqrt(self._squares / max(self._count, 1))
        return self._mean.copy(), np.where(sd > 0, sd, 1.0)

    def x_numbers(self) -> tuple[NDArray[np.float64], float]:
        """Each bucket's first x as matplotlib's x numbers (days for dates), and the x where the
        last bucket ends (its last row plus one row's step)."""
        first, last = self.x
        k = len(first)
        step = float(np.median(np.diff(first))) / self._columns.per if k > 1 else 1.0
        if not step > 0:
            step = 1.0
        end = float(last[-1]) + step if k else 1.0
        if self._kind != "dates":
            return first, end
        from matplotlib import dates as mdates

        assert self._origin is not None
        day0 = float(mdates.date2num(self._origin))  # type: ignore[no-untyped-call]
        return day0 + first / 86400.0, day0 + end / 86400.0

    def row_x(self, row: int, x: NDArray[np.float64], end: float) -> float:
        """The x number of ``row`` (a bucket's resolution once rows share buckets)."""
        if row >= self.rows:
            return end
        return float(np.interp(row, self.starts, x))


def _span_bars(
    on: NDArray[np.bool_], x: NDArray[np.float64], end: float
) -> list[tuple[float, float]]:
    """``(x_start, width)`` for each run of buckets that are on; a run ends where the next bucket
    begins, and is drawn at least 0.2 % of the axis wide (a span of a row or two would vanish at
    1600 px)."""
    if not len(x):
        return []
    min_width = 0.002 * float(end - x[0])
    bars = []
    for start, stop in spans_from_binary(on.astype(np.int8)):
        stop_x = x[stop] if stop < len(x) else end
        bars.append((float(x[start]), max(float(stop_x - x[start]), min_width)))
    return bars


def _zigzag(
    x: NDArray[np.float64], low: NDArray[np.float64], high: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A line through each bucket's minimum and maximum (in turn low-high, high-low), so that
    drawn it covers every value each bucket held; one row a bucket draws the plain line."""
    k = len(x)
    xs = np.repeat(x, 2)  # (2K,)
    pairs = np.stack([low, high], axis=1)  # (K, 2, ...)
    pairs[1::2] = pairs[1::2, ::-1]
    return xs, pairs.reshape(2 * k, *low.shape[1:])


def _check_rows(times: ArrayLike | None, flags: ArrayLike | None, name: str, n: int) -> None:
    if times is not None:
        arr = np.asarray(times)
        if arr.ndim != 1 or arr.shape[0] != n:
            raise ShapeError(
                f"plot_detection: times has to be (N,) with N = {n} rows like scores, but got "
                f"shape {tuple(arr.shape)}. Pass one timestamp per row, or times=None for row "
                f"numbers."
            ) from None
    if flags is not None and np.asarray(flags).shape != (n,):
        raise ShapeError(
            f"plot_detection: {name} has to be (N,) with N = {n} like scores, but got shape "
            f"{tuple(np.asarray(flags).shape)}. Pass one 0/1 value per row."
        ) from None


def plot_detection(
    times: ArrayLike | None,
    values: ArrayLike,
    scores: ArrayLike,
    threshold: float,
    *,
    labels: ArrayLike | None = None,
    predictions: ArrayLike | None = None,
    columns: Sequence[str] | None = None,
    train_rows: int = 0,
    metrics: Mapping[str, float] | None = None,
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Draw sensors, score and threshold, labelled and detected spans, to a 1600x900 PNG.

    The rows go through a :class:`DetectionTrace` and are drawn by :func:`draw_detection`: up
    to 4096 rows as they are, longer runs as each lane's minimum and maximum per pixel column.

    Args:
        times: ``(N,)`` timestamps (datetime64, strings, Timestamps) or numbers; ``None`` for
            row numbers.
        values: ``(N, S)`` sensor readings; each column is standardised for the plot.
        scores: ``(N,)`` anomaly scores (rows scoring 0, before the first prediction, are left
            out of the log axis).
        threshold: the score above which a row is flagged.
        labels: ``(N,)`` 0/1 labelled anomalies: shaded red, and a red lane in the strip.
        predictions: ``(N,)`` 0/1 flagged rows, the blue lane of the strip; by default
            ``scores > threshold``.
        columns: ``S`` sensor names for the lanes (or the legend, past :data:`MAX_LANES`).
        train_rows: the first rows the detector was fitted on, shaded grey; 0 for none.
        metrics: scores against the labels (``f1``, ``precision``, ``recall``, ``far``,
            ``mar``, ``nab``) to print under the title.
        path: the PNG to write.
        title: a title over the panels.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ShapeError: the arrays do not have one entry per row, or ``values`` is not 2-D.
        ValueError: ``columns`` of another length than ``S``, ``train_rows`` out of range.

    Example:
        >>> import tempfile, os
        >>> out = plot_detection(None, np.zeros((50, 2)), np.arange(50.0), 40.0,
        ...                      path=os.path.join(tempfile.mkdtemp(), "plot.png"))
        >>> out.suffix
        '.png'
    """
    score_arr = np.asarray(scores, dtype=np.float64)
    if score_arr.ndim != 1:
        raise ShapeError(
            f"plot_detection: scores has to be (N,), but got shape {tuple(score_arr.shape)}."
        ) from None
    n = score_arr.shape[0]
    sensors = np.asarray(values, dtype=np.float64)
    if sensors.ndim == 1:
        sensors = sensors[:, None]  # (N, 1)
    if sensors.ndim != 2 or sensors.shape[0] != n:
        raise ShapeError(
            f"plot_detection: values has to be (N, S) with N = {n} rows like scores, but got "
            f"shape {tuple(sensors.shape)}. Pass one row of sensor readings per score."
        ) from None
    _check_rows(times, predictions, "predictions", n)
    _check_rows(None, labels, "labels", n)
    if columns is not None and len(columns) != sensors.shape[1]:
        raise ValueError(
            f"columns has to name the {sensors.shape[1]} sensor columns, but got {len(columns)} "
            f"names"
        )
    if not 0 <= train_rows <= n:
        raise ValueError(f"train_rows has to be in [0, {n}], but got {train_rows}")
    flagged = score_arr > threshold if predictions is None else np.asarray(predictions)
    trace = DetectionTrace(sensors.shape[1], labels=labels is not None)
    trace.add(times, sensors, score_arr, predictions=flagged, labels=labels)
    return draw_detection(
        trace,
        threshold,
        columns=columns,
        train_rows=train_rows,
        metrics=metrics,
        path=path,
        title=title,
    )


def draw_detection(
    trace: DetectionTrace,
    threshold: float,
    *,
    columns: Sequence[str] | None = None,
    train_rows: int = 0,
    metrics: Mapping[str, float] | None = None,
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Draw a :class:`DetectionTrace` to a 1600x900 PNG: the panels :func:`plot_detection`
    describes, each lane drawn through its minimum and maximum per pixel column.

    Args:
        trace: the run's rows, gathered chunk by chunk.
        threshold: the score above which a row is flagged.
        columns: ``S`` sensor names for the lanes (or the legend, past :data:`MAX_LANES`).
        train_rows: the first rows the detector was fitted on, shaded grey; 0 for none.
        metrics: scores against the labels to print under the title.
        path: the PNG to write.
        title: a title over the panels.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: ``columns`` of another length than ``S``, ``train_rows`` out of range.
    """
    n = trace.rows
    if columns is not None and len(columns) != trace.n_sensors:
        raise ValueError(
            f"columns has to name the {trace.n_sensors} sensor columns, but got {len(columns)} "
            f"names"
        )
    if not 0 <= train_rows <= n:
        raise ValueError(f"train_rows has to be in [0, {n}], but got {train_rows}")
    names = (
        list(columns) if columns is not None else [f"sensor {i}" for i in range(trace.n_sensors)]
    )
    x, end = trace.x_numbers()  # (K,) each bucket's first x, and where the last one ends
    detected = _span_bars(trace.flags, x, end)
    label_flags = trace.labels
    labelled = _span_bars(label_flags, x, end) if label_flags is not None else None
    trained = [(float(x[0]), trace.row_x(train_rows, x, end) - float(x[0]))] if train_rows else []

    from matplotlib import dates as mdates
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig = Figure(figsize=(16, 9), dpi=100, layout="constrained")
    ax_sensors, ax_score, ax_spans = fig.subplots(3, 1, sharex=True, height_ratios=(5.0, 2.6, 0.9))
    for ax in (ax_sensors, ax_score):
        trans = ax.get_xaxis_transform()  # x in data, y in 0..1 of the axes
        if trained:
            ax.broken_barh(trained, (0, 1), transform=trans, color=_TRAIN_COLOR, alpha=0.12, lw=0)
        if labelled:
            ax.broken_barh(
                labelled, (0, 1), transform=trans, color=LABEL_COLOR, alpha=_SHADE_ALPHA, lw=0
            )

    # 1. sensors: a lane each, standardised and clipped to the lane
    mean, sd = trace.standard()  # (S,) each
    low, high = trace.sensors  # (K, S) each
    xs, standard = _zigzag(x, (low - mean) / sd, (high - mean) / sd)  # (2K,), (2K, S)
    lanes = len(names) <= MAX_LANES
    colors = [f"C{j % 10}" for j in range(len(names))]
    if lanes:
        spacing = 2 * _LANE_CLIP
        centres = [-spacing * j for j in range(len(names))]  # the first sensor on top
        for j, centre in enumerate(centres):
            lane = np.clip(standard[:, j], -_LANE_CLIP, _LANE_CLIP) + centre  # (2K,)
            ax_sensors.plot(xs, lane, lw=0.7, color=colors[j])
        ax_sensors.set_yticks(centres, names, fontsize=10)
        for label, color in zip(ax_sensors.get_yticklabels(), colors, strict=True):
            label.set_color(color)
        ax_sensors.set_ylim(centres[-1] - spacing / 2, spacing / 2)
        ax_sensors.tick_params(axis="y", length=0)
        ax_sensors.set_title("Sensors (each standardised, one lane each)", fontsize=13, loc="left")
    else:
        for j, name in enumerate(names):
            ax_sensors.plot(xs, standard[:, j], lw=0.5, alpha=0.7, color=colors[j], label=name)
        ax_sensors.set_ylabel("standardised value", fontsize=11)
        ax_sensors.set_title(f"{len(names)} sensors (standardised)", fontsize=13, loc="left")
    if trace.rows > len(x):
        ax_sensors.set_title(
            f"{trace.rows:,} rows, each pixel column drawn through its rows' lowest and highest "
            f"values",
            fontsize=10,
            loc="right",
            color="#555555",
        )

    # 2. score on a log axis: unscored rows (0) are left out
    lowest, highest = trace.scores  # (K,) each
    top = np.where(highest > 0, highest, np.nan)  # (K,)
    bottom = np.where(np.isfinite(lowest), lowest, np.nan)  # (K,)
    xs_score, shown = _zigzag(x, bottom, top)  # (2K,) each
    ax_score.plot(xs_score, shown, color="#222222", lw=0.8)
    ax_score.fill_between(
        x,
        threshold,
        top,
        where=np.nan_to_num(top) > threshold,
        color=DETECTED_COLOR,
        alpha=0.45,
        lw=0,
        interpolate=True,
    )
    ax_score.axhline(threshold, color=THRESHOLD_COLOR, lw=1.8, ls="--")
    positive = bottom[np.isfinite(bottom)]
    if positive.size and threshold > 0:
        ax_score.set_yscale("log")
        floor = min(float(np.quantile(positive, 0.01)), threshold) / 1.5
        ax_score.set_ylim(floor, max(float(np.nanmax(top)), threshold) * 1.5)
    ax_score.set_ylabel("score (log)" if threshold > 0 else "score", fontsize=11)
    ax_score.set_title(
        f"Anomaly score: {trace.flagged} of {n} rows above the threshold {threshold:.4g}, in "
        f"{trace.spans} spans",
        fontsize=13,
        loc="left",
    )

    # 3. the spans: labelled (red) above detected (blue)
    rows = [("detected", DETECTED_COLOR, detected)]
    if labelled is not None:
        rows.insert(0, ("labelled", LABEL_COLOR, labelled))
    for k, (_, color, bars) in enumerate(reversed(rows)):
        if bars:
            ax_spans.broken_barh(bars, (k + 0.15, 0.7), color=color, lw=0)
    if trained:
        ax_spans.broken_barh(trained, (0, len(rows)), color=_TRAIN_COLOR, alpha=0.12, lw=0)
    ax_spans.set_ylim(0, len(rows))
    ax_spans.set_yticks([k + 0.5 for k in range(len(rows))], [r[0] for r in reversed(rows)])
    ax_spans.tick_params(axis="y", length=0, labelsize=10)
    for tick, row in zip(ax_spans.get_yticklabels(), reversed(rows), strict=True):
        tick.set_color(row[1])

    handles: list[Any] = [
        Patch(color=DETECTED_COLOR, alpha=0.7, label="detected (score above threshold)"),
        Line2D([], [], color=THRESHOLD_COLOR, lw=1.8, ls="--", label="threshold"),
        Line2D([], [], color="#222222", lw=1.2, label="anomaly score"),
    ]
    if labelled is not None:
        handles.insert(0, Patch(color=LABEL_COLOR, alpha=0.5, label="labelled anomaly"))
    if trained:
        handles.append(Patch(color=_TRAIN_COLOR, alpha=0.3, label=f"training rows ({train_rows})"))
    if not lanes and len(names) <= _LEGEND_NAMES:  # the sensors' names beside their panel
        ax_sensors.legend(
            loc="upper left",
            bbox_to_anchor=(1.005, 1.0),
            ncols=math.ceil(len(names) / 20),
            fontsize=8,
            frameon=False,
            handlelength=1.2,
        )
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=len(handles),
        fontsize=10,
        frameon=False,
    )

    ax_spans.set_xlabel("time" if trace.is_date else "row", fontsize=11)
    if trace.is_date:
        locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
        ax_spans.xaxis.set_major_locator(locator)
        formatter = mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
        ax_spans.xaxis.set_major_formatter(formatter)
    for ax in (ax_sensors, ax_score, ax_spans):
        ax.tick_params(axis="x", labelsize=10)
        ax.grid(True, axis="x", alpha=0.3, lw=0.5)
        ax.set_xlim(float(x[0]) if n else 0.0, end)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    ax_score.grid(True, axis="y", which="major", alpha=0.3, lw=0.5)
    heading = title or ""
    if metrics:
        heading = f"{heading}\n{_metrics_text(metrics)}" if heading else _metrics_text(metrics)
    if heading:
        fig.suptitle(heading, fontsize=14)

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=100)
    return out


def _metrics_lines(metrics: Mapping[str, Any]) -> list[str]:
    """Markdown table rows of metrics; FAR and MAR (fractions) are shown in percent."""
    percent = {"far": "FAR, %", "mar": "MAR, %"}
    named = {"f1": "F1", "precision": "precision", "recall": "recall", "nab": "NAB (standard)"}
    lines = ["| metric | value |", "|---|---|"]
    for key, value in metrics.items():
        if isinstance(value, float) and math.isnan(value):
            shown = "n/a"
        elif key in percent:
            shown = f"{100 * float(value):.2f}"
        elif isinstance(value, float):
            shown = f"{value:.3f}" if key != "nab" else f"{value:.2f}"
        else:
            shown = str(value)
        lines.append(f"| {percent.get(key, named.get(key, key))} | {shown} |")
    return lines


def write_summary(
    path: str | Path,
    *,
    input_name: str,
    model: str,
    threshold: float,
    n_rows: int,
    n_flagged: int,
    metrics: Mapping[str, Any] | None,
    plot_name: str,
    flagged_spans: Sequence[tuple[int, int]] | None = None,
    span_sensors: Sequence[Sequence[str]] | None = None,
) -> Path:
    """Write a short Markdown summary of a detection run beside its plot.

    Args:
        path: the Markdown file to write.
        input_name: the file that was scored.
        model: the detector, as a user would name it (e.g. ``"AnomalyDetector(conv-lstm)"``).
        threshold: the score threshold in use.
        n_rows: rows scored.
        n_flagged: rows flagged as anomalous.
        metrics: scores against the input's labels (e.g. from
            :func:`cnnlstm.anomaly.evaluation.skab_scores`, plus ``"nab"``), or ``None`` without
            labels.
        plot_name: the plot's file name, relative to the summary, to embed.
        flagged_spans: ``(start, stop)`` row spans of flagged rows (stop exclusive); the first
            ten are listed.
        span_sensors: the sensors behind each flagged span, listed beside it.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Example:
        >>> import tempfile, os
        >>> p = write_summary(os.path.join(tempfile.mkdtemp(), "summary.md"), input_name="a.csv",
        ...                   model="demo", threshold=1.0, n_rows=10, n_flagged=2, metrics=None,
        ...                   plot_name="plot.png")
        >>> p.read_text().splitlines()[0]
        '# Anomaly detection: a.csv'
    """
    if n_rows < 0 or not 0 <= n_flagged <= n_rows:
        raise ValueError(f"n_flagged has to be between 0 and n_rows={n_rows}, but got {n_flagged}")
    share = 100.0 * n_flagged / n_rows if n_rows else 0.0
    lines = [
        f"# Anomaly detection: {input_name}",
        "",
        f"- model: {model}",
        f"- threshold: {threshold:.6g} (set on the training rows only)",
        f"- rows scored: {n_rows}",
        f"- rows flagged: {n_flagged} ({share:.1f} %)",
    ]
    if flagged_spans is not None and span_sensors is not None:
        lines.append(f"- flagged spans: {len(flagged_spans)}")
        lines += [
            f"  - rows {a}-{b - 1}: {', '.join(names)}"
            for (a, b), names in zip(flagged_spans[:10], span_sensors, strict=False)
        ]
        if len(flagged_spans) > 10:
            lines.append(f"  - and {len(flagged_spans) - 10} more")
    elif flagged_spans is not None:
        shown = ", ".join(f"{a}-{b - 1}" for a, b in flagged_spans[:10])
        more = f", and {len(flagged_spans) - 10} more" if len(flagged_spans) > 10 else ""
        lines.append(
            f"- flagged spans: {len(flagged_spans)}" + (f" (rows {shown}{more})" if shown else "")
        )
    lines.append("")
    if metrics:
        lines += ["## Metrics against the labels", "", *_metrics_lines(metrics), ""]
    else:
        lines += ["No `anomaly` label column in the input: no metrics.", ""]
    lines += [
        "## Plot",
        "",
        "Each sensor (standardised) in a lane of its own; the anomaly score on a log axis "
        "against the threshold (dashed), the score above it filled blue; at the bottom, the "
        "labelled anomalies (red) above the detected spans (blue). Labelled spans are shaded "
        "red behind the sensors and the score, and the training rows, when the detector was "
        "fitted on the first rows of the file, grey.",
        "",
        f"![sensors, score and threshold]({plot_name})",
        "",
    ]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    return out
