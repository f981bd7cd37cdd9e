"""The sensor rows an anomaly detector takes: checked, measured, and the threads they run on.

:func:`as_rows` checks rows (an array, a list or a DataFrame of numeric columns) into a
float64 ``(N, S)`` array with messages that say what to pass instead, :func:`all_finite` checks
one streamed row fast, :func:`longest_repeats` measures how long each sensor holds one value
(what a sensor that goes flat is judged against), and :func:`torch_threads` runs a block on a
given number of torch threads.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from cnnlstm.errors import DataError

__all__ = [
    "STANDARD_LIMIT",
    "FarValue",
    "all_finite",
    "as_rows",
    "check_standardised",
    "check_training_rows",
    "check_training_spread",
    "longest_repeats",
    "torch_threads",
]

_BLOCK_COLUMNS = 256
"""Columns :func:`check_training_spread` and :func:`longest_repeats` take at once."""
STANDARD_LIMIT = 1e9
"""The most training sds from its training mean a value may be and still be scored: past it the
models' float32 arithmetic overflows (a square of 1e20 is inf) and the scores turn NaN, which is
never above a threshold. No sensor reading is that far; a sentinel (1e300, 9.99e37) or a unit
error is."""


class FarValue(DataError):
    """A value more than :data:`STANDARD_LIMIT` training sds from its training mean: ``row`` and
    ``column`` index the rows given, ``value`` is the value as given, ``sds`` how far it is."""

    def __init__(
        self,
        where: str,
        *,
        row: int,
        column: int,
        value: float,
        sds: float,
        unit: str = "training sds from that sensor's training mean",
    ) -> None:
        self.row, self.column, self.value, self.sds, self.unit = row, column, value, sds, unit
        super().__init__(self.located(where))

    @classmethod
    def in_rows(
        cls,
        who: str,
        rows: np.ndarray,
        columns: Sequence[str],
        far: np.ndarray,
        sds: np.ndarray,
        *,
        first_column: int = 0,
        **unit: str,
    ) -> FarValue:
        """The error for the first value ``far`` ``(M, s)`` marks in ``rows`` ``(M, s)``, the
        columns ``first_column`` on of ``columns``; ``sds`` ``(M, s)`` says how far each value
        is, ``who`` whose rows (``"fit: training"``, ``"score:"``); ``unit`` passes on."""
        row, at = (int(i) for i in np.argwhere(far)[0])
        column = first_column + at
        name = columns[column] if column < len(columns) else str(column)
        return cls(
            f"{who} row {row}, sensor {name!r}",
            row=row,
            column=column,
            value=float(rows[row, at]),
            sds=float(sds[row, at]),
            **unit,
        )

    def located(self, where: str) -> str:
        """The message, with ``where`` (a file and line, or a row and sensor) in front."""
        return (
            f"{where}: {self.value:.6g} is {self.sds:.3g} {self.unit}, more than the "
            f"{STANDARD_LIMIT:g} the detector can score (its arithmetic would overflow); a "
            f"sentinel value or a unit error? Leave that cell empty and fill the gap (--nan "
            f"ffill), or fix the unit."
        )


def check_standardised(
    standard: np.ndarray, rows: np.ndarray, columns: list[str], who: str
) -> None:
    """Raise :class:`FarValue` for the first value of ``(M, S)`` standardised ``standard`` (of the
    given ``rows``) beyond :data:`STANDARD_LIMIT` training sds.

    Example:
        >>> rows = np.array([[1.0, 2.0], [3.0, 1e300]])
        >>> check_standardised(rows / 1.0, rows, ["a", "b"], "score")
        Traceback (most recent call last):
        ...
        cnnlstm.anomaly.rows.FarValue: score: row 1, sensor 'b': 1e+300 is 1e+300 training sds ...
    """
    if not len(standard) or float(np.abs(standard).max()) <= STANDARD_LIMIT:
        return
    far = np.abs(standard)
    raise FarValue.in_rows(f"{who}:", rows, columns, far > STANDARD_LIMIT, far)


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch CPU threads (0: unchanged), then restore the setting."""
    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _converts(values: Any) -> bool:
    """Whether ``values`` (one column) can be read as float64."""
    try:
        np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return True


def _non_numeric_columns(frame: Any) -> list[tuple[str, str]]:
    """``(name, dtype)`` of each column of a DataFrame that is not numbers (duck-typed:
    ``.columns``, ``.dtypes``, ``.iloc``; pandas is not imported). Datetimes count as not
    numbers even though they convert: fitting on a clock is never meant."""
    bad = []
    for index, (name, dtype) in enumerate(zip(frame.columns, frame.dtypes, strict=True)):
        kind = getattr(dtype, "kind", "O")
        if kind in "biuf":
            continue
        if kind in "mM" or not _converts(frame.iloc[:, index]):
            bad.append((str(name), str(dtype)))
    return bad


def _first_bad_value(x: Any) -> tuple[int, int, Any] | None:
    """``(column, row, value)`` of the first column of a 2-D array-like that is not numbers."""
    try:
        table = np.asarray(x, dtype=object)
    except (TypeError, ValueError):  # ragged rows
        return None
    if table.ndim != 2:
        return None
    for column in range(table.shape[1]):
        if not _converts(table[:, column]):
            row = next(r for r in range(table.shape[0]) if not _converts([table[r, column]]))
            return column, row, table[row, column]
    return None


def all_finite(values: np.ndarray) -> bool:
    """True when no value is NaN or infinite; a sum of floats is finite only then, unless it
    overflows, so the exact check runs only for huge values or a bad row."""
    return math.isfinite(sum(values.tolist())) or bool(np.isfinite(values).all())


def as_rows(x: Any, who: str) -> np.ndarray:
    """Sensor rows as a C-ordered float64 ``(N, S)`` array, or a :class:`DataError` that says
    what is wrong and what to pass instead.

    Args:
        x: an array-like of rows, or a DataFrame of numeric sensor columns only.
        who: what was given the rows (``"AnomalyDetector.fit"``), for messages.

    Raises:
        DataError: columns that are not numbers, not 2-D, or a NaN or infinite value.

    Example:
        >>> as_rows([[1, 2], [3, 4]], "fit").dtype, as_rows([[1, 2], [3, 4]], "fit").shape
        (dtype('float64'), (2, 2))
    """
    is_frame = hasattr(x, "columns") and hasattr(x, "dtypes") and hasattr(x, "iloc")
    if is_frame and (bad := _non_numeric_columns(x)):
        named = ", ".join(f"{name!r} ({dtype})" for name, dtype in bad)
        numeric = [str(c) for c in x.columns if str(c) not in {name for name, _ in bad}]
        raise DataError(
            f"{who}: the DataFrame's column(s) {named} are not numbers; the detector reads "
            f"sensor values only. Pass only the numeric sensor columns, e.g. frame[{numeric}], "
            f"or read the file with SensorCSV, which keeps datetime and labels apart."
        )
    try:
        rows = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        first = _first_bad_value(x)
        if first is None:
            raise DataError(
                f"{who}: expected rows (N, S) of sensor values (numbers), but they could not be "
                f"read as float64: {str(error).rstrip('.')}."
            ) from None
        column, row, value = first
        raise DataError(
            f"{who}: expected rows (N, S) of numbers, but column {column} (the first such) is "
            f"not: row {row} holds {value!r}, a {type(value).__name__}. Pass only the numeric "
            f"sensor columns, or read the file with SensorCSV, which keeps datetime and labels "
            f"apart."
        ) from None
    if rows.ndim != 2:
        raise DataError(
            f"{who}: expected rows (N, S) of sensor values, got an array of shape {rows.shape}."
        )
    # One layout for every source: a DataFrame converts to a Fortran-ordered array, and other
    # strides take other CPU kernels (oneDNN, ATen), whose sums round differently. C order here
    # makes a DataFrame, a list and an array the same computation, bit for bit, on any CPU.
    rows = np.ascontiguousarray(rows)
    if not np.isfinite(rows).all():
        bad = np.argwhere(~np.isfinite(rows))[0]
        raise DataError(
            f"{who}: row {int(bad[0])}, column {int(bad[1])} is NaN or infinite; fill the gaps "
            f"first (SensorCSV(nan_policy='ffill' or 'interpolate'))."
        )
    return rows


def check_training_rows(
    rows: np.ndarray,
    columns: Sequence[str] | None,
    *,
    first_scored: int,
    settings: str,
    rows_per_sensor: int | None,
) -> list[str]:
    """The checks :meth:`~cnnlstm.anomaly.detector.AnomalyDetector.fit` makes of ``(N, S)``
    training rows; returns their ``S`` sensor names (``column0``... without ``columns``).

    Raises:
        DataError: no more rows than ``first_scored`` (``settings`` names the window and the
            smoothing that set it), ``columns`` of another length than ``S``, or a sentinel
            (:func:`check_training_spread`).

    Warns:
        UserWarning: fewer than ``rows_per_sensor`` rows a sensor (None: no such need).
    """
    n_rows, n_sensors = rows.shape
    if n_rows <= first_scored:
        raise DataError(
            f"AnomalyDetector.fit: needs at least window + smooth - 1 = {first_scored + 1} "
            f"training rows ({settings}) to score one, but got {n_rows}; pass more normal "
            f"rows, or a smaller window or smooth."
        )
    if rows_per_sensor is not None and n_rows < rows_per_sensor * n_sensors:
        warnings.warn(
            f"AnomalyDetector.fit: {n_rows} training rows for {n_sensors} sensors: the level "
            f"score needs about {rows_per_sensor} rows a sensor ({rows_per_sensor * n_sensors} "
            f"here), or it flags most later rows; fit on more normal rows, fewer sensors, or "
            f"scoring='error'",
            stacklevel=3,
        )
    names = [str(c) for c in columns] if columns is not None else None
    if names is not None and len(names) != n_sensors:
        raise DataError(
            f"AnomalyDetector.fit: columns has to name the {n_sensors} sensors of the rows, "
            f"but got {len(names)} names: {names}."
        )
    names = names or [f"column{i}" for i in range(n_sensors)]
    check_training_spread(rows, names, "AnomalyDetector.fit")
    return names


def check_training_spread(rows: np.ndarray, columns: list[str], who: str) -> None:
    """Raise :class:`FarValue` for the first training value more than :data:`STANDARD_LIMIT`
    robust spreads from its column's median: a sentinel among the training rows would make
    the column's sd its own (every other value then stands at 0), or overflow it.

    The spread is the median absolute deviation, or the sd where that is 0 (a column that holds
    one value in most rows); a constant column has none and is never refused.

    Example:
        >>> rows = np.array([[1.0, 2.0], [3.0, 1e20], [2.0, 2.5], [2.5, 3.0]])
        >>> check_training_spread(rows, ["a", "b"], "fit")
        Traceback (most recent call last):
        ...
        cnnlstm.anomaly.rows.FarValue: fit: training row 1, sensor 'b': 1e+20 is 2e+20 times ...
    """
    values = np.asarray(rows, dtype=np.float64)
    if not len(values):
        return
    for first in range(0, values.shape[1], _BLOCK_COLUMNS):  # (N, 256) scratch at most
        block = values[:, first : first + _BLOCK_COLUMNS]  # (N, s)
        with np.errstate(over="ignore", invalid="ignore"):
            deviation = np.abs(block - np.median(block, axis=0))  # (N, s)
            spread = np.median(deviation, axis=0)  # (s,)
            spread = np.where(spread > 0, spread, block.std(axis=0))
            usable = np.isfinite(spread) & (spread > 0)
            limit = STANDARD_LIMIT * np.where(usable, spread, np.inf)
            far = (deviation > limit) | ~np.isfinite(deviation)
        if not far.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            sds = np.where(usable, deviation / spread, math.inf)  # (N, s)
        raise FarValue.in_rows(
            f"{who}: training",
            block,
            columns,
            far,
            sds,
            first_column=first,
            unit="times the spread of that sensor's training rows from their median",
        )


def longest_repeats(rows: np.ndarray) -> np.ndarray:
    """``(S,)``: each column's longest run of one value repeated on consecutive rows (1 when no
    value repeats, 0 without rows).

    Example:
        >>> longest_repeats(np.array([[1.0, 5.0], [1.0, 6.0], [1.0, 6.0], [2.0, 7.0]])).tolist()
        [3, 2]
    """
    values = np.asarray(rows, dtype=np.float64)
    longest = np.zeros(values.shape[1], dtype=np.int64)
    if not len(values):
        return longest
    index = np.arange(len(values))[:, None]  # (N, 1)
    for first in range(0, values.shape[1], _BLOCK_COLUMNS):  # a block: (N, 256) at most
        block = values[:, first : first + _BLOCK_COLUMNS]  # (N, s)
        changed = np.ones(block.shape, dtype=bool)
        changed[1:] = block[1:] != block[:-1]
        starts = np.maximum.accumulate(np.where(changed, index, 0), axis=0)  # each run's start
        longest[first : first + _BLOCK_COLUMNS] = (index - starts).max(axis=0) + 1
    return longest
