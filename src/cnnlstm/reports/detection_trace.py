"""A detection run's rows decimated for a plot, gathered chunk by chunk in bounded memory.

:class:`MinMaxColumns` keeps each lane's minimum and maximum per bucket of rows (between
``columns`` and ``2 * columns`` buckets, whatever the number of rows), so a one-row spike in
months of rows stays visible. :class:`DetectionTrace` keeps, that way, what
:func:`~cnnlstm.reports.anomaly.draw_detection` draws of a run: the time axis, each sensor, the
score, the flags and the labels, with each sensor's mean and standard deviation over all rows.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cnnlstm.errors import ShapeError
from cnnlstm.extras import importing

__all__ = ["DetectionTrace", "MinMaxColumns"]


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
        with importing("drawing plots (cnnlstm.reports.detection_trace)", "plots"):
            from matplotlib import dates as mdates

        assert self._origin is not None
        day0 = float(mdates.date2num(self._origin))  # type: ignore[no-untyped-call]
        return day0 + first / 86400.0, day0 + end / 86400.0

    def row_x(self, row: int, x: NDArray[np.float64], end: float) -> float:
        """The x number of ``row`` (a bucket's resolution once rows share buckets)."""
        if row >= self.rows:
            return end
        return float(np.interp(row, self.starts, x))
