"""Anomaly detection on multivariate sensor streams: fit on normal rows, score, threshold, stream.

:class:`AnomalyDetector` standardises the sensors with a :class:`~cnnlstm.data.sensors.
StandardScaler` fitted on the training rows, trains one of the model families of
:mod:`cnnlstm.models.detectors` on windows of those rows, and sets its threshold from the
training rows' own scores: never from test rows or labels. It scores every row of a stream,
flags rows above the threshold, saves to and loads from one file, and streams row by row.

Scores. A model gives per-sensor squared errors of standardised rows. Each sensor's error is
divided by its mean error on the calibration rows (so a noisy sensor does not drown a quiet one)
and smoothed over time, per sensor, by a trailing (causal) mean over the last ``smooth`` scored
rows; a row's score then combines the sensors: ``combine="max"`` (the default) takes the worst
sensor, so a fault in one sensor of many is not averaged away, ``"mean"`` their mean. With
``window_cnnlstm`` (the default model) the error of row ``t`` is that of the prediction made from
rows ``< t``, so the whole stream is scored in one causal pass. With the window models
(``mscred``, ``convlstm_ae``) the error of row ``t`` is that of the window of ``window`` rows that
ends at ``t``. Either way the first ``window - 1`` rows have no error: the window models have no
whole window yet, and the causal model's first predictions (from a few rows, a cold LSTM) are
warm-up, not evidence. A row is scored once ``smooth`` errors exist (row ``window + smooth - 2``
on), so every score is a mean over as many rows as the threshold's; earlier rows score 0.0,
which is never above a threshold, so they are never flagged. Everything after the model is
causal, so :meth:`AnomalyDetector.stream` gives the offline scores row by row.

Held shifts (``scoring="level"``, the default). A next-row predictor sees a held level shift (a
valve that closes and stays closed) when it starts, then learns to expect it. So a
:class:`~cnnlstm.anomaly.scoring.HeldShift` also scores each sensor's level, relative to the other
sensors, against a slow baseline that is frozen while the sensor is off it (see
:mod:`cnnlstm.anomaly.scoring`), with its own threshold from the same calibration rows (``quantile``
times :data:`~cnnlstm.anomaly.scoring.LEVEL_FACTOR`), and a row's score becomes
:func:`~cnnlstm.anomaly.scoring.combine_scores`: ``max(error weight * error score / error threshold,
held level score / level threshold)``, so :attr:`AnomalyDetector.threshold_` is 1.0. Rows with
no error score yet carry the level part alone. On valve1 (oracle-threshold F1 0.88, row AUC 0.91,
against 0.80 and 0.85) it gave F1 0.88, FAR 9 %, MAR 16 %, NAB 42 (the error score: 0.79, 17 %,
26 %, 39); on SensorPlant seeds 0-7 0.75 / 7 % / 29 % (0.64 / 9 % / 42 %), and on seeds 8-15,
not used to choose it, 0.79 / 7 % / 24 % (0.71 / 7 % / 36 %). Then, frozen, one run on all 34
SKAB files: F1 0.85, FAR 17 %, MAR 15 %, NAB 38 (the error score in the same run: 0.77, 19 %,
27 %, 34); its false alarms come mostly from ``other/`` (29 %). ``scoring="error"`` keeps the
error score alone; :meth:`AnomalyDetector.score` gives either part with ``part=``.

Calibration. The weights are fitted on the first ``1 - holdout`` of the training rows; the
rest, scored out of sample as test rows will be, give the error scale and the threshold. All of
them are training rows: test rows and labels never touch the threshold.

Thresholds. ``"quantile"``: ``quantile(calibration scores, quantile) * factor``. ``"pot"``: peaks
over threshold (Siffer et al. 2017): an initial threshold ``u`` at the ``pot_init`` quantile of
the calibration scores, a generalized Pareto distribution fitted to the excesses over ``u`` by
the method of moments (:func:`fit_gpd`), and the level the scores exceed with probability
``risk = 1 - quantile`` under that tail (:func:`pot_threshold`), times ``factor``.

How the defaults were chosen: on SKAB's ``valve1`` folder (16 files, each fitted on its first 400
rows and judged on the rest, counts pooled) and on generated
:class:`~cnnlstm.data.sensor_plant.SensorPlant` recordings (seeds 0-2, 2000 rows, fitted on the
first 400), never on the rest of SKAB. Calibrating on the rows the weights were fitted on gave
false-alarm rates up to 60 % on later normal rows (in-sample errors are too small), so a quarter
is held out; holding out half was worse (valve1 F1 0.74 vs 0.77). The later normal rows of a
recording have errors 1-3x those of the calibration rows (the plant drifts), so a raw-score
threshold alarms on normal rows, and smoothing only helps together with a margin: the factor
1.5 on the 0.99 quantile. Averaging the sensors hid faults seen in one sensor (SKAB's valve
faults show mainly in the flow rate), so the worst sensor is taken. Grid on both data sets:
``smooth`` 5/10/15/20/30/60 x ``combine`` mean/max x ``factor`` 1-3; the rule was the best mean
F1 over valve1 and the plant data with false alarms under 20 % on both: ``smooth=15``, ``max``,
``factor=1.5``. With ``window_cnnlstm``'s conv kernel widened from 3 to 9 sensors (a CSV's
column order says nothing about which sensors interact): valve1 F1 0.79, FAR 17 %, MAR 26 %,
NAB 39; plant F1 0.64, FAR 12 %; the previous defaults (kernel 3, 5 rows, mean, factor 1) gave
valve1 0.76 / 18 % / 29 % / NAB 36 and plant 0.61. Window 32, batches of 64, lr 3e-3 and 40
epochs fit ``window_cnnlstm`` in 2-5 s on one core; a window of 64 or 10 epochs were worse on
valve1 (F1 0.75, 0.73 with kernel 3 at the new post-processing, against 0.77).
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import Tensor, nn

from cnnlstm.anomaly.scoring import (
    ERROR_WEIGHT,
    HOLD,
    LEVEL_FACTOR,
    HeldShift,
    TrailingMax,
    combine_scores,
    trailing_max,
)
from cnnlstm.data.sensors import StandardScaler
from cnnlstm.errors import ConfigError, DataError
from cnnlstm.models.registry import create_model

__all__ = [
    "DEFAULT_EPOCHS",
    "DEFAULT_STEPS",
    "MIN_WIDE_STEPS",
    "WIDE_SENSORS",
    "AnomalyDetector",
    "ChunkScorer",
    "StreamScorer",
    "fit_gpd",
    "longest_repeats",
    "pot_threshold",
]

ThresholdName = Literal["quantile", "pot"]
CombineName = Literal["max", "mean"]
ScoringName = Literal["error", "level"]
ScorePart = Literal["all", "error", "level"]

DEFAULT_EPOCHS: dict[str, int] = {"window_cnnlstm": 40, "mscred": 10, "convlstm_ae": 10}
"""Training passes per family when ``epochs`` is None. A window model sees each row in ``window``
overlapping windows of every pass and runs a ``window``-step ConvLSTM per window, so a pass
costs it several times what it costs ``window_cnnlstm``; 10 passes keep a fit at 2-4 s on one
core (SKAB's 34 files x 3 models under 10 minutes). Set for time, not tuned for accuracy."""

DEFAULT_STEPS = 500
"""The fit's budget of optimisation steps (batches). A small training set runs all its epochs
within it (SKAB's 400 rows: 5 batches x 40 epochs = 200 steps), so it trains as it did before
there was a budget; a large one stops at the budget, or earlier when the held-out calibration
loss stops improving, so a fit costs bounded time whatever the number of training rows."""
WIDE_SENSORS = 64
"""Up to this many sensors the fit's budget is :data:`DEFAULT_STEPS` steps; a step costs in
proportion to the sensors, so past it the budget is the work of those steps on this many sensors
(:meth:`AnomalyDetector.step_budget`): 2,000 sensors get 20 steps, about a minute on one core.
On SensorPlant recordings of 64 sensors (seeds 0-3, fitted on 1,000 rows, judged on 3,000) 20
steps detected as well as 500 (F1 0.79 against 0.77, FAR 2.7 % both): the level score carries
most of the detection, and a few steps of the predictor learn the rows' persistence."""
MIN_WIDE_STEPS = 20
"""The fewest steps a wide fit gets."""
_CHECKS = 10
"""With a binding budget, the held-out loss is measured this many times over the budget."""
_PATIENCE = 3
"""... and the fit stops after this many measurements without a 0.1 % improvement."""
_CHECK_WINDOWS = 1024
"""The held-out windows the loss is measured on (evenly spaced), at most."""
_FORMAT = "cnnlstm.AnomalyDetector/1"
_ROWS_PER_PASS = 8192
"""Rows :class:`ChunkScorer` runs through the model at once (its activations stay small)."""
_EPS = 1e-8
importlib.import_module("cnnlstm.models.detectors")  # registers the detector model families


def fit_gpd(excesses: np.ndarray) -> tuple[float, float]:
    """Fit a generalized Pareto distribution to positive excesses by the method of moments.

    With mean ``m`` and variance ``v`` of the excesses, the GPD with shape ``xi < 1/2`` has
    ``m = sigma / (1 - xi)`` and ``v = sigma^2 / ((1 - xi)^2 (1 - 2 xi))``, so
    ``xi = (1 - m^2 / v) / 2`` and ``sigma = m (1 + m^2 / v) / 2``.

    Args:
        excesses: ``(n,)`` values above the initial threshold minus that threshold, ``n >= 2``.

    Returns:
        ``(xi, sigma)``: shape and scale.

    Raises:
        ValueError: fewer than 2 excesses, or excesses that are not positive and finite.

    Example:
        >>> xi, sigma = fit_gpd(np.random.default_rng(0).exponential(2.0, 20000))
        >>> round(xi, 1), round(sigma, 1)
        (0.0, 2.0)
    """
    y = np.asarray(excesses, dtype=np.float64)
    if y.ndim != 1 or y.size < 2 or not np.isfinite(y).all() or (y < 0).any():
        raise ValueError(
            f"excesses has to be at least 2 finite non-negative values, but got {y.size} values"
        )
    mean, var = float(y.mean()), float(y.var(ddof=1))
    if var <= 0 or mean <= 0:
        return 0.0, max(mean, _EPS)
    ratio = mean * mean / var
    return 0.5 * (1.0 - ratio), 0.5 * mean * (1.0 + ratio)


def pot_threshold(scores: np.ndarray, *, risk: float = 0.01, init: float = 0.9) -> float:
    """Peaks-over-threshold level: exceeded with probability ``risk`` under a fitted GPD tail.

    ``u = quantile(scores, init)``; the ``n_u`` excesses ``scores[scores > u] - u`` get a GPD
    (:func:`fit_gpd`); with ``n`` scores the level is
    ``u + sigma / xi * ((risk * n / n_u) ** -xi - 1)`` (``u - sigma * log(risk * n / n_u)``
    when ``xi`` is 0).

    Args:
        scores: ``(n,)`` finite scores (of the training rows).
        risk: the probability of a normal score above the level, below ``1 - init``.
        init: the quantile of the initial threshold.

    Returns:
        The threshold.

    Raises:
        ValueError: ``risk`` or ``init`` out of range, or fewer than 2 excesses over ``u``.

    Example:
        >>> x = np.random.default_rng(0).exponential(1.0, 100000)
        >>> round(pot_threshold(x, risk=1e-3), 1)  # exact: log(1000) = 6.9
        6.9
    """
    if not 0 < init < 1:
        raise ValueError(f"init has to be in (0, 1), but got {init}")
    if not 0 < risk < 1 - init:
        raise ValueError(f"risk has to be in (0, 1 - init) = (0, {1 - init:.3g}), but got {risk}")
    values = np.asarray(scores, dtype=np.float64).ravel()
    u = float(np.quantile(values, init))
    excesses = values[values > u] - u
    if excesses.size < 2:
        raise ValueError(
            f"pot_threshold: needs at least 2 scores above the initial threshold {u:.4g}, but got "
            f"{excesses.size}; pass more scores or a lower init."
        )
    xi, sigma = fit_gpd(excesses)
    ratio = risk * values.size / excesses.size
    if abs(xi) < 1e-6:
        return u - sigma * math.log(ratio)
    return float(u + sigma / xi * (ratio ** (-xi) - 1.0))


@contextlib.contextmanager
def _threads(count: int) -> Iterator[None]:
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


def _all_finite(values: np.ndarray) -> bool:
    """True when no value is NaN or infinite; a sum of floats is finite only then, unless it
    overflows, so the exact check runs only for huge values or a bad row."""
    return math.isfinite(sum(values.tolist())) or bool(np.isfinite(values).all())


def _as_rows(x: Any, who: str) -> np.ndarray:
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
    for first in range(0, values.shape[1], 256):  # a block of columns: (N, 256) at most
        block = values[:, first : first + 256]  # (N, s)
        changed = np.ones(block.shape, dtype=bool)
        changed[1:] = block[1:] != block[:-1]
        starts = np.maximum.accumulate(np.where(changed, index, 0), axis=0)  # each run's start
        longest[first : first + 256] = (index - starts).max(axis=0) + 1
    return longest


class AnomalyDetector:
    """Fit on normal sensor rows, then score, flag, save and stream new rows.

    See the module docstring for how scores and thresholds are made and how the defaults were
    chosen.

    Args:
        model: a detector family: ``"window_cnnlstm"``, ``"mscred"`` or ``"convlstm_ae"``.
        model_args: keyword arguments of the family's factory (``n_sensors`` and ``window`` are
            set by the detector).
        window: rows per training window (and per scored window for the window models).
        epochs: passes over the training windows; None picks the family's
            (:data:`DEFAULT_EPOCHS`: 40 for ``window_cnnlstm``, 10 for the window models).
        steps: the budget of optimisation steps (batches) over all epochs, for up to
            :data:`WIDE_SENSORS` sensors (wider rows get the same work in fewer steps:
            :meth:`step_budget`); None for no budget. When the epochs would take more steps,
            training stops at the budget, or earlier once the loss on the held-out calibration
            windows has not improved by 0.1 % over 3 of 10 measurements spread over the budget
            (:attr:`steps_` says how many ran). Small training sets never reach it
            (:data:`DEFAULT_STEPS`).
        batch_size: windows per optimisation step.
        lr: Adam's learning rate.
        threshold: ``"quantile"`` or ``"pot"``.
        quantile: the training-score quantile of ``"quantile"``; ``"pot"`` uses
            ``risk = 1 - quantile``.
        factor: multiplies the threshold.
        pot_init: the quantile of POT's initial threshold (below ``quantile``).
        holdout: the share of the training rows, at their end, that the weights are not fitted
            on; their scores (out of sample, as test scores are) give the error scale and the
            threshold. 0 calibrates on the fitted rows themselves.
        smooth: each sensor's scaled error is averaged over the last ``smooth`` scored rows
            (the row itself included): causal, so streaming gives the same; 1 keeps the raw
            errors.
        combine: how a row's smoothed per-sensor errors become its score: ``"max"``, the
            worst sensor, or ``"mean"``.
        scoring: ``"level"``, the model's error score beside a held-shift level score (see the
            module docstring and :mod:`cnnlstm.anomaly.scoring`), or ``"error"``, the error score
            alone.
        seed: seeds the weights and the batch order.
        device: where the model runs.
        num_threads: torch CPU threads while fitting and scoring (restored after); these models
            are small, so one thread is fastest and does not fight other work for the cores.
            0 keeps torch's setting.

    Attributes:
        threshold_: the threshold, set by :meth:`fit`.
        columns_: the sensor names (given to :meth:`fit`, or ``column0``...).
        n_features_: the number of sensors.
        train_scores_: the training rows' scores the threshold came from.
        error_scale_: ``(S,)`` each sensor's mean training error, the unit of its error.
        level_: the fitted :class:`~cnnlstm.anomaly.scoring.HeldShift` (``scoring="level"``),
            or None.
        error_threshold_: the error score's own threshold (``threshold_`` with ``"error"``).
        steps_: the optimisation steps the fit ran.
        holdout_loss_: the held-out loss at each measurement (empty when the budget did not
            bind).
        level_threshold_: the level score's threshold (``scoring="level"``), else NaN.
        longest_repeat_: ``(S,)`` each sensor's longest run of one repeated value in the
            training rows (rows), what a sensor that goes flat is judged against (empty for a
            detector saved before it was kept).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> train = rng.normal(size=(200, 3))
        >>> detector = AnomalyDetector(window=16, epochs=1).fit(train)
        >>> detector.score(rng.normal(size=(50, 3))).shape
        (50,)
    """

    def __init__(
        self,
        *,
        model: str = "window_cnnlstm",
        model_args: Mapping[str, Any] | None = None,
        window: int = 32,
        epochs: int | None = None,
        steps: int | None = DEFAULT_STEPS,
        batch_size: int = 64,
        lr: float = 3e-3,
        threshold: ThresholdName = "quantile",
        quantile: float = 0.99,
        factor: float = 1.5,
        pot_init: float = 0.9,
        holdout: float = 0.25,
        smooth: int = 15,
        combine: CombineName = "max",
        scoring: ScoringName = "level",
        seed: int = 0,
        device: str = "cpu",
        num_threads: int = 1,
    ) -> None:
        if epochs is None:  # a family's own default; other registered models get the window's
            epochs = DEFAULT_EPOCHS.get(model, DEFAULT_EPOCHS["window_cnnlstm"])
        for name, value in (
            ("window", window),
            ("epochs", epochs),
            ("batch_size", batch_size),
            ("smooth", smooth),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} has to be a positive int, but got {value!r}")
        bad_steps = not isinstance(steps, int) or isinstance(steps, bool) or steps < 1
        if steps is not None and bad_steps:
            raise ValueError(f"steps has to be a positive int or None, but got {steps!r}")
        if window < 2:
            raise ValueError(f"window has to be at least 2, but got {window}")
        if not lr > 0:
            raise ValueError(f"lr has to be positive, but got {lr!r}")
        if combine not in ("max", "mean"):
            raise ValueError(f"combine has to be 'max' or 'mean', but got {combine!r}")
        if threshold not in ("quantile", "pot"):
            raise ValueError(f"threshold has to be 'quantile' or 'pot', but got {threshold!r}")
        if not 0 < quantile < 1:
            raise ValueError(f"quantile has to be in (0, 1), but got {quantile!r}")
        if threshold == "pot" and not 0 < pot_init < quantile:
            raise ValueError(
                f"pot_init has to be in (0, quantile) = (0, {quantile}), but got {pot_init!r}"
            )
        if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 0:
            raise ValueError(f"num_threads has to be a non-negative int, but got {num_threads!r}")
        if not 0 <= holdout < 1:
            raise ValueError(f"holdout has to be in [0, 1), but got {holdout!r}")
        if not factor > 0:
            raise ValueError(f"factor has to be positive, but got {factor!r}")
        if scoring not in ("error", "level"):
            raise ValueError(f"scoring has to be 'error' or 'level', but got {scoring!r}")
        self.model_name = model
        self.model_args = dict(model_args or {})
        for key in ("n_sensors", "window"):
            if key in self.model_args:
                raise ValueError(
                    f"model_args has to leave out {key!r} (the detector sets it), but got "
                    f"{key}={self.model_args[key]!r}"
                )
        self.window = window
        self.epochs: int = epochs
        self.steps = steps
        self.steps_ = 0
        self.holdout_loss_: list[float] = []
        self.batch_size = batch_size
        self.lr = float(lr)
        self.threshold: ThresholdName = threshold
        self.quantile = float(quantile)
        self.factor = float(factor)
        self.pot_init = float(pot_init)
        self.holdout = float(holdout)
        self.smooth = smooth
        self.combine: CombineName = combine
        self.scoring: ScoringName = scoring
        self.seed = seed
        self.device = torch.device(device)
        self.num_threads = num_threads
        self.scaler = StandardScaler()
        self.model_: nn.Module | None = None
        self.threshold_: float = math.nan
        self.columns_: list[str] = []
        self.n_features_: int = 0
        self.train_scores_: np.ndarray = np.empty(0)
        self.error_scale_: np.ndarray = np.empty(0)
        self.train_loss_: list[float] = []
        self.level_: HeldShift | None = None
        self.error_threshold_: float = math.nan
        self.level_threshold_: float = math.nan
        self.longest_repeat_: np.ndarray = np.zeros(0, dtype=np.int64)

    # --- building and fitting ----------------------------------------------------------------

    def _build(self, n_sensors: int) -> nn.Module:
        try:
            model = create_model(
                self.model_name, n_sensors=n_sensors, window=self.window, **self.model_args
            )
        except TypeError as error:
            raise ConfigError(
                f"AnomalyDetector: cannot build {self.model_name!r}: {error}"
            ) from None
        if not hasattr(model, "errors") or not hasattr(model, "causal"):
            raise ConfigError(
                f"AnomalyDetector: model has to be a detector family (window_cnnlstm, mscred, "
                f"convlstm_ae), but got {self.model_name!r}, which has no errors()."
            )
        return model.to(self.device)

    @property
    def causal(self) -> bool:
        """True for the one-pass next-row model, False for the window models."""
        return bool(getattr(self._model(), "causal", False))

    def _model(self) -> nn.Module:
        if self.model_ is None:
            raise DataError("AnomalyDetector has to be fitted first (call fit), but it is not.")
        return self.model_

    def fit(
        self,
        train: np.ndarray,
        *,
        columns: Sequence[str] | None = None,
        progress: bool = False,
    ) -> AnomalyDetector:
        """Fit the scaler, the model and the threshold on normal rows.

        Args:
            train: ``(N, S)`` normal rows, ``N >= window``.
            columns: the ``S`` sensor names (default ``column0``...).
            progress: show a progress bar (rich).

        Returns:
            ``self``.

        Raises:
            DataError: fewer rows than ``window + smooth - 1`` (the first scored row), NaN or
                infinite values, or ``columns`` of another length than ``S``.
        """
        rows = _as_rows(train, "AnomalyDetector.fit")
        if rows.shape[0] <= self._first_scored():
            raise DataError(
                f"AnomalyDetector.fit: needs at least window + smooth - 1 = "
                f"{self._first_scored() + 1} training rows (window={self.window}, "
                f"smooth={self.smooth}) to score one, but got "
                f"{rows.shape[0]}; pass more normal rows, or a smaller window or smooth."
            )
        n_sensors = rows.shape[1]
        names = [str(c) for c in columns] if columns is not None else None
        if names is not None and len(names) != n_sensors:
            raise DataError(
                f"AnomalyDetector.fit: columns has to name the {n_sensors} sensors of the rows, "
                f"but got {len(names)} names: {names}."
            )
        self.columns_ = names or [f"column{i}" for i in range(n_sensors)]
        self.longest_repeat_ = longest_repeats(rows)
        self.n_features_ = n_sensors
        self.scaler = StandardScaler().fit(rows)
        torch.manual_seed(self.seed)
        self.model_ = self._build(n_sensors)
        scaled = torch.as_tensor(self.scaler.transform(rows), dtype=torch.float32)  # (N, S)
        split = self._split(len(rows))
        with _threads(self.num_threads):
            self._train(scaled[:split], progress, held_out=scaled[split:])
            errors = self._row_errors(scaled)  # (N, S), zeros where unscored
        first = self._first_scored()  # < len(rows), checked above
        calibrate = max(split, first) if split < len(rows) else first  # else: the fitted rows
        self.error_scale_ = errors[calibrate:].mean(axis=0) + _EPS
        self.train_scores_ = self._scores_from_errors(errors)
        self.threshold_ = self.error_threshold_ = self._threshold(self.train_scores_[calibrate:])
        self.level_ = None
        self.level_threshold_ = math.nan
        if self.scoring == "level":
            standard = np.asarray(self.scaler.transform(rows), dtype=np.float64)  # (N, S)
            self.level_ = HeldShift().fit(standard)
            level = self.level_.score(standard)  # (N,)
            self.level_threshold_ = float(np.quantile(level[calibrate:], self.quantile))
            self.level_threshold_ *= LEVEL_FACTOR
            self.train_scores_ = self._combined(self.train_scores_, level)
            self.threshold_ = 1.0
        return self

    def _combined(self, error_scores: np.ndarray, level_scores: np.ndarray) -> np.ndarray:
        """``scoring="level"``: the error and level scores as one, in units of the alarm level."""
        return combine_scores(
            error_scores,
            self.error_threshold_,
            level_scores,
            self.level_threshold_,
            error_weight=ERROR_WEIGHT,
            hold=HOLD,
        )

    def _split(self, rows: int) -> int:
        """The rows the weights are fitted on; the rest (``holdout``) calibrate the scores."""
        if self.holdout == 0:
            return rows
        split = round(rows * (1 - self.holdout))
        calibration = max(2, self.window // 2) if self.causal else self.window
        need = self.window + calibration
        if rows < need:
            return rows  # too few rows to hold any out: calibrate on the fitted rows
        return min(max(split, self.window), rows - calibration)

    def _train(self, scaled: Tensor, progress: bool, held_out: Tensor | None = None) -> None:
        model = self._model()
        rows = scaled.to(self.device)  # (N, S); windows are gathered batch by batch
        count = len(rows) - self.window + 1  # windows: (N-W+1, W, S) if made all at once
        offsets = torch.arange(self.window, device=self.device)  # (W,)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
        generator = torch.Generator().manual_seed(self.seed)
        batches = math.ceil(count / self.batch_size)
        planned = self.epochs * batches
        budget = planned if self.steps is None else min(planned, self.step_budget(rows.shape[1]))
        checks = self._check_windows(held_out) if budget < planned else None
        every = max(1, budget // _CHECKS)
        self.train_loss_ = []
        self.holdout_loss_ = []
        self.steps_ = 0
        bar: Any = None
        task: Any = None
        if progress:
            from rich.progress import Progress

            bar = Progress()
            bar.start()
            what = f"{budget} steps of {planned}" if budget < planned else f"{self.epochs} epochs"
            task = bar.add_task(f"fit {self.model_name} ({what})", total=budget)
        model.train()
        try:
            for _ in range(self.epochs):
                order = torch.randperm(count, generator=generator)
                total, seen = 0.0, 0
                for b in range(batches):
                    starts = order[b * self.batch_size : (b + 1) * self.batch_size]  # (B,)
                    batch = rows[starts[:, None] + offsets]  # (B, W, S)
                    loss = model.loss(batch)  # type: ignore[operator]
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    total += float(loss.detach()) * len(batch)
                    seen += len(batch)
                    self.steps_ += 1
                    if bar is not None:
                        bar.advance(task)
                    if self.steps_ >= budget:
                        break
                    if checks is not None and self.steps_ % every == 0 and self._stalled(checks):
                        budget = self.steps_
                        break
                self.train_loss_.append(total / seen)
                if self.steps_ >= budget:
                    break
        finally:
            if bar is not None:
                bar.stop()
        model.eval()

    def step_budget(self, sensors: int) -> int:
        """The fit's budget of steps for ``sensors`` sensors: :attr:`steps` up to
        :data:`WIDE_SENSORS` sensors; past that the work of :attr:`steps` steps of
        :data:`WIDE_SENSORS` sensors (a step costs in proportion to the sensors), but at least
        :data:`MIN_WIDE_STEPS` (or :attr:`steps`, when fewer). Without a budget (``steps=None``)
        a large number.

        Example:
            >>> detector = AnomalyDetector()
            >>> detector.step_budget(20), detector.step_budget(640), detector.step_budget(2000)
            (500, 50, 20)
        """
        if self.steps is None:
            return np.iinfo(np.int64).max
        if sensors <= WIDE_SENSORS:
            return self.steps
        return max(min(self.steps, MIN_WIDE_STEPS), self.steps * WIDE_SENSORS // sensors)

    def _check_windows(self, held_out: Tensor | None) -> Tensor | None:
        """Up to :data:`_CHECK_WINDOWS` held-out windows, evenly spaced, or None if none."""
        if held_out is None or len(held_out) < self.window:
            return None
        windows = held_out.unfold(0, self.window, 1).permute(0, 2, 1)  # (K, W, S)
        count = _CHECK_WINDOWS * WIDE_SENSORS // max(WIDE_SENSORS, windows.shape[-1])
        count = max(count, _CHECK_WINDOWS // 64)  # the work of 1024 windows of 64 sensors, >= 16
        step = max(1, len(windows) // count)
        return windows[::step][:count].contiguous().to(self.device)

    def _stalled(self, checks: Tensor) -> bool:
        """Measure the held-out loss; whether it has not improved by 0.1 % for
        :data:`_PATIENCE` measurements."""
        model = self._model()
        model.eval()
        with torch.inference_mode():
            losses = [
                float(model.loss(checks[i : i + 256])) * len(checks[i : i + 256])  # type: ignore[operator]
                for i in range(0, len(checks), 256)
            ]
        model.train()
        self.holdout_loss_.append(sum(losses) / len(checks))
        history = self.holdout_loss_
        if len(history) <= _PATIENCE:
            return False
        best_before = min(history[:-_PATIENCE])
        return min(history[-_PATIENCE:]) > best_before * (1 - 1e-3)

    # --- scoring -----------------------------------------------------------------------------

    def _first_error(self) -> int:
        """The first row with an error, ``window - 1``: every model has warmed up by then."""
        return self.window - 1

    def _first_scored(self) -> int:
        """The first row that gets a score: the first whose smoothing mean is over ``smooth``."""
        return self._first_error() + self.smooth - 1

    @torch.inference_mode()
    def _row_errors(self, scaled: Tensor) -> np.ndarray:
        """``(M, S)`` standardised rows -> ``(M, S)`` per-sensor errors (0 where unscored)."""
        model = self._model()
        rows = scaled.to(self.device)
        errors = torch.zeros_like(rows)
        if self.causal:
            if len(rows) >= 2:
                errors[1:] = model.errors(rows.unsqueeze(0))[0]  # type: ignore[operator]
        elif len(rows) >= self.window:
            windows = rows.unfold(0, self.window, 1).permute(0, 2, 1)  # (M-W+1, W, S)
            chunks = [
                model.errors(windows[i : i + 256])  # type: ignore[operator]
                for i in range(0, len(windows), 256)
            ]
            errors[self.window - 1 :] = torch.cat(chunks)  # (M-W+1, S)
        return errors.double().cpu().numpy()

    def _smoothed_errors(self, errors: np.ndarray) -> np.ndarray:
        """``(M, S)`` errors -> ``(M, S)``: scaled, then each sensor's mean over the last
        ``smooth`` rows (0.0 before the first scored row)."""
        scaled = np.asarray(errors / self.error_scale_, dtype=np.float64)  # (M, S)
        first = self._first_scored()
        smoothed = np.zeros_like(scaled)
        if len(scaled) > first:
            # each window summed on its own: a running (cumulative) sum would carry a huge
            # error's rounding into every later row
            windows = sliding_window_view(scaled, self.smooth, axis=0)  # (M-smooth+1, S, smooth)
            smoothed[first:] = windows[first - self.smooth + 1 :].sum(axis=-1) / self.smooth
        return smoothed

    def _scores_from_errors(self, errors: np.ndarray) -> np.ndarray:
        """``(M, S)`` errors -> ``(M,)`` scores: scaled, smoothed per sensor, then combined."""
        return self._combine_sensors(self._smoothed_errors(errors))

    def _combine_sensors(self, smoothed: np.ndarray) -> np.ndarray:
        """``(M, S)`` smoothed errors -> ``(M,)``: the worst sensor, or their mean."""
        scores: np.ndarray = smoothed.max(axis=1) if self.combine == "max" else smoothed.mean(1)
        return scores

    def _threshold(self, scores: np.ndarray) -> float:
        if self.threshold == "quantile":
            level = float(np.quantile(scores, self.quantile))
        else:
            level = pot_threshold(scores, risk=1 - self.quantile, init=self.pot_init)
        return level * self.factor

    def _check_columns(self, width: int, columns: Sequence[str] | None, who: str) -> None:
        given = [str(c) for c in columns] if columns is not None else None
        if width != self.n_features_ or (given is not None and given != self.columns_):
            shown = given if given is not None else f"{width} unnamed columns"
            raise DataError(
                f"{who}: the detector was fitted on {self.n_features_} columns {self.columns_}, "
                f"but got {shown}. Score files with the same sensor columns as the training data."
            )

    def score(
        self, x: np.ndarray, *, columns: Sequence[str] | None = None, part: ScorePart = "all"
    ) -> np.ndarray:
        """Score each row; see the module docstring for the rows that score 0.0.

        Args:
            x: ``(M, S)`` rows in the units of the training rows.
            columns: their names, checked against :attr:`columns_` when given.
            part: ``"all"``, the detector's score (judged against :attr:`threshold_`);
                ``"error"``, the model's error score alone (against :attr:`error_threshold_`);
                ``"level"``, the held-shift level score alone (against
                :attr:`level_threshold_`; ``scoring="level"`` only).

        Returns:
            ``(M,)`` float64 scores.

        Raises:
            DataError: not fitted, another number (or other names) of columns, NaN.
            ValueError: an unknown ``part``, or ``"level"`` with ``scoring="error"``.
        """
        if part not in ("all", "error", "level"):
            raise ValueError(f"part has to be 'all', 'error' or 'level', but got {part!r}")
        standard = self._standardised(x, columns, "AnomalyDetector.score")  # (M, S)
        level: np.ndarray | None = None
        if part == "level" or (part == "all" and self.level_ is not None):
            if self.level_ is None:
                raise ValueError("part='level' needs a detector fitted with scoring='level'")
            level = self.level_.score(standard)
            if part == "level":
                return level
        scores = self._scores_from_errors(self._errors(standard))
        if level is not None:
            scores = self._combined(scores, level)
        return scores

    def _standardised(self, x: Any, columns: Sequence[str] | None, who: str) -> np.ndarray:
        """Checked ``(M, S)`` rows, standardised with the training rows' scaler (float64)."""
        self._model()
        rows = _as_rows(x, who)
        self._check_columns(rows.shape[1], columns, who)
        return np.asarray(self.scaler.transform(rows), dtype=np.float64)

    def _errors(self, standard: np.ndarray) -> np.ndarray:
        """``(M, S)`` standardised rows -> the model's ``(M, S)`` errors, on its threads."""
        with _threads(self.num_threads):
            return self._row_errors(torch.as_tensor(standard, dtype=torch.float32))

    def score_detail(
        self, x: np.ndarray, *, columns: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each row's score and each sensor's part of it, from one pass over the rows.

        A sensor's part is the row score its own values would give: with ``scoring="level"``,
        ``max(error weight * its smoothed error / error threshold, its held level score / level
        threshold)``; with ``"error"``, its smoothed error. With ``combine="max"`` (the default)
        a row's score is the largest of its sensors' parts (with ``"mean"`` the error part is
        their mean instead), so the part says which sensor raised an alarm.

        Args:
            x: ``(M, S)`` rows in the units of the training rows.
            columns: their names, checked against :attr:`columns_` when given.

        Returns:
            ``(scores (M,), parts (M, S))``, float64: ``scores`` is :meth:`score`'s.

        Example:
            >>> rng = np.random.default_rng(0)
            >>> detector = AnomalyDetector(window=16, epochs=1).fit(rng.normal(size=(200, 3)))
            >>> rows = rng.normal(size=(100, 3))
            >>> rows[60:, 1] += 8.0  # sensor 1 jumps and stays
            >>> scores, parts = detector.score_detail(rows)
            >>> bool(np.array_equal(parts.max(axis=1), scores))
            True
            >>> int(parts[70].argmax())
            1
        """
        standard = self._standardised(x, columns, "AnomalyDetector.score_detail")  # (M, S)
        smoothed = self._smoothed_errors(self._errors(standard))  # (M, S)
        scores = self._combine_sensors(smoothed)  # (M,)
        if self.level_ is None:
            return scores, smoothed
        deviations = self.level_.deviations(standard)  # (M, S), as HeldShift.score takes them
        level = deviations.max(axis=1) if deviations.shape[1] else np.zeros(len(deviations))
        parts = self._combined(smoothed, deviations)  # (M, S): each sensor on its own
        return self._combined(scores, level), parts

    def sensor_scores(self, x: np.ndarray, *, columns: Sequence[str] | None = None) -> np.ndarray:
        """``(M, S)``: each sensor's part of each row's score (see :meth:`score_detail`)."""
        return self.score_detail(x, columns=columns)[1]

    def predict(self, x: np.ndarray, *, columns: Sequence[str] | None = None) -> np.ndarray:
        """``(M,)`` int64 flags: 1 where the score is above :attr:`threshold_`."""
        return (self.score(x, columns=columns) > self.threshold_).astype(np.int64)

    def stream(self) -> StreamScorer:
        """A :class:`StreamScorer` that scores rows one at a time, from a fresh state."""
        self._model()
        return StreamScorer(self)

    def chunks(self) -> ChunkScorer:
        """A :class:`ChunkScorer` that scores a stream in chunks of rows, from a fresh state."""
        self._model()
        return ChunkScorer(self)

    # --- saving ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the fitted detector to one file (``torch.save`` of plain values and tensors)."""
        model = self._model()
        state = {
            "format": _FORMAT,
            "model": self.model_name,
            "model_args": {
                k: list(v) if isinstance(v, tuple) else v for k, v in self.model_args.items()
            },
            "config": {
                "window": self.window,
                "epochs": self.epochs,
                "steps": self.steps,
                "batch_size": self.batch_size,
                "lr": self.lr,
                "threshold": self.threshold,
                "quantile": self.quantile,
                "factor": self.factor,
                "pot_init": self.pot_init,
                "holdout": self.holdout,
                "smooth": self.smooth,
                "combine": self.combine,
                "scoring": self.scoring,
                "seed": self.seed,
                "num_threads": self.num_threads,
            },
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "scaler": self.scaler.state_dict(),
            "threshold_": self.threshold_,
            "columns_": list(self.columns_),
            "error_scale_": torch.from_numpy(self.error_scale_.copy()),
            "train_scores_": torch.from_numpy(self.train_scores_.copy()),
            "error_threshold_": self.error_threshold_,
            "level_threshold_": self.level_threshold_,
            "longest_repeat_": torch.from_numpy(self.longest_repeat_.copy()),
            "level_": self.level_.state_dict() if self.level_ is not None else None,
        }
        torch.save(state, Path(path))

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu") -> AnomalyDetector:
        """Read a detector written by :meth:`save` (``weights_only=True``: no code runs).

        Raises:
            DataError: the file is missing or not a saved detector.
        """
        path = Path(path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise DataError(f"{path}: no such file.") from None
        except Exception as error:
            raise DataError(f"{path}: not a saved AnomalyDetector ({error}).") from None
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise DataError(f"{path}: not a saved AnomalyDetector (format {_FORMAT}).")
        # files saved before combine: mean; before the budget: none (they are fitted already)
        config = {"combine": "mean", "steps": None, **state["config"]}
        detector = cls(
            model=state["model"], model_args=state["model_args"], device=device, **config
        )
        detector.columns_ = list(state["columns_"])
        detector.n_features_ = len(detector.columns_)
        detector.scaler = StandardScaler().load_state_dict(state["scaler"])
        detector.model_ = detector._build(detector.n_features_)
        try:
            detector.model_.load_state_dict(state["state_dict"])
        except RuntimeError as error:  # e.g. saved when the family had other default sizes
            first = str(error).strip().splitlines()[-1].strip()
            raise DataError(
                f"{path}: its weights do not fit a {state['model']!r} built from the saved "
                f"settings ({first}); it was saved by another cnnlstm version: fit it again."
            ) from None
        detector.model_.eval()
        detector.threshold_ = float(state["threshold_"])
        detector.error_scale_ = state["error_scale_"].numpy()
        detector.train_scores_ = state["train_scores_"].numpy()
        detector.error_threshold_ = float(state.get("error_threshold_", detector.threshold_))
        detector.level_threshold_ = float(state.get("level_threshold_", math.nan))
        if state.get("longest_repeat_") is not None:  # saved before it was kept: unknown
            detector.longest_repeat_ = state["longest_repeat_"].numpy()
        if state.get("level_") is not None:
            detector.level_ = HeldShift.from_state_dict(state["level_"])
        return detector

    def __repr__(self) -> str:
        fitted = f"threshold_={self.threshold_:.4g}" if self.model_ is not None else "unfitted"
        return (
            f"AnomalyDetector(model={self.model_name!r}, window={self.window}, "
            f"threshold={self.threshold!r}, {fitted})"
        )


class StreamScorer:
    """Scores rows one at a time with a fitted :class:`AnomalyDetector`.

    For ``window_cnnlstm`` it runs the model's :class:`~cnnlstm.models.detectors.RowStepper`
    (the weights as plain arrays, buffers of the last rows of each conv layer, the LSTM
    state), so each row costs the same small work and no torch call, and the scores equal
    :meth:`AnomalyDetector.score` on the whole stream (up to float32 rounding). For the window
    models it keeps the last ``window`` rows and re-scores that window for each new row (the
    same scores as offline too). The per-sensor smoothing keeps the last ``smooth`` scaled
    errors. Rows before the first score (see the module docstring) return ``(0.0, 0)``; with
    ``scoring="level"`` they return the level part alone, and every row advances the
    :class:`~cnnlstm.anomaly.scoring.HeldShift` state and the hold, as offline.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> detector = AnomalyDetector(window=16, epochs=1).fit(rng.normal(size=(100, 3)))
        >>> scorer = detector.stream()
        >>> scorer.update(rng.normal(size=3))  # row 0: nothing predicted it yet
        (0.0, 0)
        >>> scorer.rows_seen
        1
    """

    def __init__(self, detector: AnomalyDetector) -> None:
        self.detector = detector
        self.model = detector._model()
        self.causal = detector.causal
        self._stepper: Any = self.model.stepper() if self.causal else None  # type: ignore[operator]
        self._rows: collections.deque[Tensor] = collections.deque(maxlen=detector.window)
        self._prediction: np.ndarray | None = None
        self._mean = np.asarray(detector.scaler.mean, dtype=np.float64)  # (S,)
        self._std = np.asarray(detector.scaler.std, dtype=np.float64)  # (S,)
        self._error_scale: np.ndarray = np.asarray(detector.error_scale_, dtype=np.float64)
        n = detector.n_features_
        self._recent = np.zeros((detector.smooth, n))  # (smooth, S): the last scaled errors
        self._slots = list(self._recent)  # its rows, views: slot k is overwritten next
        self._ones = np.ones(detector.smooth)  # ones @ _recent: each sensor's sum of errors
        self._sums = np.zeros(n)  # (S,)
        self._standard = np.zeros(n)  # (S,) float64: the row standardised
        self._scaled = np.zeros(n, dtype=np.float32)  # (S,): the model's input
        self._squared = np.zeros(n, dtype=np.float32)  # (S,): the row's squared error
        self._slot = 0
        self._filled = 0
        self._max = detector.combine == "max"
        self._threshold = detector.threshold_
        self._error_threshold = detector.error_threshold_
        self._level_threshold = detector.level_threshold_
        self._first = detector._first_error()
        self._level = detector.level_
        self._level_state = self._level.start() if self._level is not None else None
        self._held = TrailingMax(HOLD)
        self.rows_seen = 0

    def update(self, row: np.ndarray) -> tuple[float, int]:
        """Score one row ``(S,)``; returns ``(score, flag)`` with flag 1 above the threshold.

        The window models run with the detector's ``num_threads`` torch threads (restored
        after); ``window_cnnlstm`` needs no torch call.

        Raises:
            DataError: another number of values than the fitted columns, or NaN.
        """
        values = np.asarray(row, dtype=np.float64)
        if values.shape != self._mean.shape or not _all_finite(values):
            raise DataError(
                f"StreamScorer.update: expected {self.detector.n_features_} finite values for the "
                f"columns {self.detector.columns_}, but got shape {values.shape}: {values}."
            )
        standard = np.subtract(values, self._mean, out=self._standard)
        np.divide(standard, self._std, out=standard)  # (S,) float64, as score() does
        scaled = self._scaled
        scaled[...] = standard  # (S,) float32, the model's input, as score() does
        self.rows_seen += 1
        score = self._error_score(scaled)
        if self._level is not None and self._level_state is not None:
            level = self._level.update(self._level_state, standard)
            combined = 0.0
            if self._error_threshold > 0:
                combined = ERROR_WEIGHT * score / self._error_threshold
            if self._level_threshold > 0:
                combined = max(combined, self._held.update(level / self._level_threshold))
            score = combined
        return score, int(score > self._threshold)

    def _error_score(self, scaled: np.ndarray) -> float:
        """The error score of one ``(S,)`` standardised row (0.0 before the first score)."""
        errors: np.ndarray | None = None
        if self.causal:
            if self._prediction is not None and self.rows_seen > self._first:  # else: warm-up
                errors = np.subtract(self._prediction, scaled, out=self._squared)
                np.square(errors, out=errors)  # (S,) float32, as offline
            self._prediction = self._stepper.update(scaled)
        else:
            with _threads(self.detector.num_threads):
                errors = self._window_errors(scaled)
        if errors is None:
            return 0.0
        np.divide(errors, self._error_scale, out=self._slots[self._slot])  # over the oldest
        self._slot = (self._slot + 1) % len(self._slots)
        if self._filled < len(self._slots):
            self._filled += 1
            if self._filled < len(self._slots):
                return 0.0  # fewer than `smooth` errors yet: not scored, as offline
        # Each sensor's sum is made again from the kept errors every row (one product), not
        # kept running: a huge error leaves nothing behind once it is out of the window.
        sums = np.dot(self._ones, self._recent, out=self._sums)  # (S,)
        if not self._max:
            return float(sums.mean()) / len(self._slots)
        values = sums.tolist()  # Python's max of a few floats is cheaper than numpy's
        if math.isnan(sum(values)):  # numpy's max gives NaN for any NaN; Python's may not
            return float(sums.max()) / len(self._slots)
        return float(max(values)) / len(self._slots)

    @torch.inference_mode()
    def _window_errors(self, scaled: np.ndarray) -> np.ndarray | None:
        row = torch.from_numpy(scaled.copy())  # a copy: `scaled` is reused for the next row
        self._rows.append(row.to(self.detector.device))
        if len(self._rows) < self.detector.window:
            return None
        window = torch.stack(list(self._rows)).unsqueeze(0)  # (1, W, S)
        errors: Tensor = self.model.errors(window)  # type: ignore[operator]  # (1, S)
        result: np.ndarray = errors[0].double().cpu().numpy()  # (S,)
        return result


class ChunkScorer:
    """Scores one stream of rows in consecutive chunks, as :meth:`AnomalyDetector.score_detail`
    scores it whole.

    Everything the score of a row depends on is carried from chunk to chunk: for
    ``window_cnnlstm`` the last ``receptive_field - 1`` rows the causal convolutions see, the
    LSTM's ``(h, c)`` and the prediction of the next row; for the window models the last
    ``window - 1`` rows; the last ``smooth - 1`` scaled errors; the
    :class:`~cnnlstm.anomaly.scoring.HeldShift` state and the last ``HOLD - 1`` level scores. So a
    file is scored in bounded memory, one chunk at a time, with the scores of the whole file (to
    float32 rounding: the batched matrix products may round differently by chunk length).
    A chunk may hold any number of rows, fewer than the window too.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> detector = AnomalyDetector(window=16, epochs=1).fit(rng.normal(size=(200, 3)))
        >>> rows = rng.normal(size=(100, 3))
        >>> scorer = detector.chunks()
        >>> parts = [scorer.update(rows[i : i + 7])[0] for i in range(0, 100, 7)]
        >>> bool(np.allclose(np.concatenate(parts), detector.score(rows), atol=1e-6))
        True
    """

    def __init__(self, detector: AnomalyDetector) -> None:
        self.detector = detector
        self.model = detector._model()
        self.causal = detector.causal
        self.rows_seen = 0
        n = detector.n_features_
        keep = self.model.receptive_field - 1 if self.causal else detector.window - 1  # type: ignore[operator]
        self._keep = int(keep)
        self._tail = torch.zeros((0, n), dtype=torch.float32)  # (<= keep, S) standardised rows
        self._state: tuple[Tensor, Tensor] | None = None  # the LSTM's (h, c)
        self._prediction: Tensor | None = None  # (S,) the next row, predicted
        self._errors = np.zeros((0, n))  # (<= smooth - 1, S): the last scaled errors
        self._level = detector.level_
        self._level_state = self._level.start() if self._level is not None else None
        self._held_rows = np.zeros((0, n))  # (<= HOLD - 1, S): the last deviations / threshold
        self._held = np.zeros(0)  # (<= HOLD - 1,): the last level scores / threshold

    def update(
        self, x: np.ndarray, *, columns: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Score the next ``(M, S)`` rows of the stream.

        Args:
            x: ``(M, S)`` rows in the units of the training rows, ``M >= 0``.
            columns: their names, checked against :attr:`AnomalyDetector.columns_`.

        Returns:
            ``(scores (M,), parts (M, S))`` as :meth:`AnomalyDetector.score_detail` gives
            them for these rows of the whole stream.

        Raises:
            DataError: another number (or other names) of columns, NaN.
        """
        detector = self.detector
        rows = np.asarray(x, dtype=np.float64)
        if rows.ndim == 2 and len(rows) == 0 and rows.shape[1] == detector.n_features_:
            return np.zeros(0), np.zeros((0, detector.n_features_))
        standard = detector._standardised(rows, columns, "ChunkScorer.update")  # (M, S)
        scaled = torch.as_tensor(standard, dtype=torch.float32)  # (M, S)
        with _threads(detector.num_threads):  # the model's activations: a few MB at a time
            errors = np.concatenate(
                [
                    self._chunk_errors(scaled[i : i + _ROWS_PER_PASS])
                    for i in range(0, len(scaled), _ROWS_PER_PASS)
                ]
            )
        smoothed = self._smoothed(errors)  # (M, S)
        self.rows_seen += len(standard)
        scores = detector._combine_sensors(smoothed)  # (M,)
        if self._level is None or self._level_state is None:
            return scores, smoothed
        deviations = self._level.advance(self._level_state, standard)  # (M, S)
        level = deviations.max(axis=1) if deviations.shape[1] else np.zeros(len(deviations))
        parts = self._combine(smoothed, deviations, carry="_held_rows")
        return self._combine(scores, level, carry="_held"), parts

    @torch.inference_mode()
    def _chunk_errors(self, rows: Tensor) -> np.ndarray:
        """``(M, S)`` standardised rows -> ``(M, S)`` errors, 0 where the whole pass has none."""
        detector, model = self.detector, self.model
        extended = torch.cat([self._tail, rows]).to(detector.device)  # (K + M, S)
        skip = len(self._tail)
        errors = torch.zeros_like(rows)
        if self.causal:
            sequence = extended.unsqueeze(0)  # (1, K + M, S)
            features = model._conv_sequence(sequence)[:, skip:]  # type: ignore[operator]
            out, self._state = model.lstm(features, self._state)  # type: ignore[operator]
            predictions = rows + model.forward_head(out)[0]  # type: ignore[operator]  # (M, S)
            if len(rows) > 1:
                errors[1:] = (predictions[:-1] - rows[1:]) ** 2
            if self._prediction is not None:
                errors[0] = (self._prediction - rows[0]) ** 2
            self._prediction = predictions[-1]
        elif len(extended) >= detector.window:
            windows = extended.unfold(0, detector.window, 1).permute(0, 2, 1)  # (K+M-W+1, W, S)
            chunks = [
                model.errors(windows[i : i + 256])  # type: ignore[operator]
                for i in range(0, len(windows), 256)
            ]
            found = torch.cat(chunks)  # (K + M - W + 1, S): rows W-1.. of extended
            errors[len(errors) - len(found) :] = found
        self._tail = extended[len(extended) - min(self._keep, len(extended)) :].cpu()
        return errors.double().cpu().numpy()

    def _smoothed(self, errors: np.ndarray) -> np.ndarray:
        """As :meth:`AnomalyDetector._smoothed_errors` on the whole stream, for these rows."""
        detector = self.detector
        smooth, first = detector.smooth, detector._first_scored()
        scaled = np.asarray(errors / detector.error_scale_, dtype=np.float64)  # (M, S)
        extended = np.concatenate([self._errors, scaled])  # (K + M, S)
        skip = len(self._errors)
        smoothed = np.zeros_like(scaled)
        begin = max(first - self.rows_seen, 0)  # the chunk's first scored row
        if begin < len(scaled):
            windows = sliding_window_view(extended, smooth, axis=0)  # (K+M-smooth+1, S, smooth)
            # window j ends at extended row j + smooth - 1 = chunk row j + smooth - 1 - skip
            start = begin + skip - smooth + 1
            smoothed[begin:] = windows[start:].sum(axis=-1) / smooth
        self._errors = extended[len(extended) - min(smooth - 1, len(extended)) :]
        return smoothed

    def _combine(self, error_scores: np.ndarray, level_scores: np.ndarray, *, carry: str) -> Any:
        """:meth:`AnomalyDetector._combined` of these rows of the stream: the held level score
        reaches back over the last ``HOLD - 1`` rows (kept in the attribute ``carry``)."""
        detector = self.detector
        out = np.zeros_like(error_scores)
        if detector.error_threshold_ > 0:
            out = np.maximum(out, ERROR_WEIGHT * error_scores / detector.error_threshold_)
        if detector.level_threshold_ > 0:
            level = level_scores / detector.level_threshold_
            before = getattr(self, carry)
            extended = np.concatenate([before, level])  # (K + M, ...)
            held = trailing_max(extended, HOLD)
            out = np.maximum(out, held[len(before) :])
            setattr(self, carry, extended[len(extended) - min(HOLD - 1, len(extended)) :])
        return out
