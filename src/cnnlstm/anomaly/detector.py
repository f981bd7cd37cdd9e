"""The anomaly detector: fit on normal sensor rows, score each row, flag, save and load.

:class:`AnomalyDetector` standardises the sensors with a
:class:`~cnnlstm.data.scaler.StandardScaler` fitted on the training rows, trains one of the
model families of :mod:`cnnlstm.models.detectors` on windows of those rows within a budget of
optimisation steps, and sets its threshold from the training rows' own scores
(:mod:`cnnlstm.anomaly.thresholds`): never from test rows or labels. Its class docstring says
how a row's score is made; :mod:`cnnlstm.anomaly.streaming` gives the same scores row by row or
chunk by chunk.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import Tensor, nn

from cnnlstm.anomaly.combine import ERROR_WEIGHT, HOLD, combine_scores
from cnnlstm.anomaly.held_shift import FAST, FLOOR, LEVEL_FACTOR, ROWS_PER_SENSOR, HeldShift
from cnnlstm.anomaly.row_checks import PCA_BOUND, PCA_FACTOR, PCA_TAU, RowChecks
from cnnlstm.anomaly.rows import (
    as_rows,
    check_standardised,
    check_training_rows,
    longest_repeats,
    torch_threads,
)
from cnnlstm.anomaly.saved import detector_state, read_state, restore_fitted
from cnnlstm.anomaly.settings import check_settings
from cnnlstm.anomaly.streaming import ChunkScorer, StreamScorer
from cnnlstm.anomaly.thresholds import ThresholdName, score_threshold
from cnnlstm.anomaly.training import (
    DEFAULT_STEPS,
    check_windows,
    said_in_lines,
    step_budget,
    train_windows,
)
from cnnlstm.data.scaler import StandardScaler
from cnnlstm.errors import ConfigError, DataError
from cnnlstm.models.detectors import DETECTOR_FAMILIES
from cnnlstm.models.registry import create_model

__all__ = [
    "DEFAULT_EPOCHS",
    "AnomalyDetector",
]

CombineName = Literal["max", "mean"]
ScoringName = Literal["error", "level"]
ScorePart = Literal["all", "error", "level"]

DEFAULT_EPOCHS: dict[str, int] = {"window_cnnlstm": 40, "mscred": 10, "convlstm_ae": 10}
"""Training passes per family when ``epochs`` is None. A window model sees each row in ``window``
overlapping windows of every pass and runs a ``window``-step ConvLSTM per window, so a pass
costs it several times what it costs ``window_cnnlstm``, and it gets fewer passes: set for time,
not tuned for accuracy (the design notes have the timings)."""

_EPS = 1e-8


class AnomalyDetector:
    """Fit on normal sensor rows, then score, flag, save and stream new rows.

    A row's score is the largest of its parts, each over its own alarm level, so
    :attr:`threshold_` is 1.0 (``scoring="level"``, the default):

    - the model's per-sensor squared error of the standardised row, over the sensor's mean
      calibration error, averaged over the last ``smooth`` rows, the worst sensor (``combine``);
      with ``window_cnnlstm`` the error of row ``t`` is that of its prediction from the rows
      before it, with the window models that of the window ending at ``t``; rows before
      :meth:`first_scored` have none;
    - a held-shift level score (:class:`~cnnlstm.anomaly.held_shift.HeldShift`): a level that
      moves and stays, which a next-row predictor learns to expect;
    - the row checks (:class:`~cnnlstm.anomaly.row_checks.RowChecks`): PCA T² against a moving
      mean of the rows before, and the joint states of the discrete sensors (PLC signals).

    ``scoring="error"`` keeps the error alone, over its own threshold; :meth:`score` gives a part
    with ``part=``. All of it is causal, so :meth:`stream` and :meth:`chunks` give the offline
    scores. The weights are fitted on the first ``1 - holdout`` of the training rows; the rest,
    scored out of sample, set the error scale and every alarm level: test rows and labels never
    touch them. The manual says more ("What a row's score is") and how the defaults were chosen
    (``docs/design-notes.md``, "The anomaly detector's defaults").

    Args:
        model: a detector family, one of
            :data:`~cnnlstm.models.detectors.DETECTOR_FAMILIES` (``"window_cnnlstm"``,
            ``"mscred"``, ``"convlstm_ae"``).
        model_args: keyword arguments of the family's factory (``n_sensors`` and ``window`` are
            set by the detector).
        window: rows per training window (and per scored window for the window models).
        epochs: passes over the training windows; None picks the family's
            (:data:`DEFAULT_EPOCHS`: 40 for ``window_cnnlstm``, 10 for the window models).
        steps: the budget of optimisation steps (batches) over all epochs (wide rows get the
            same work in fewer steps: :meth:`step_budget`); None for no budget. Training stops at
            it, or earlier once the held-out loss stops improving (:attr:`steps_` says how many
            ran; :mod:`cnnlstm.anomaly.training`). Small training sets never reach it.
        batch_size: windows per optimisation step.
        lr: Adam's learning rate.
        threshold: ``"quantile"`` or ``"pot"`` (:mod:`cnnlstm.anomaly.thresholds`).
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
        scoring: ``"level"``, the model's error score beside a held-shift level score and the
            row checks (see above, :mod:`cnnlstm.anomaly.held_shift` and
            :mod:`cnnlstm.anomaly.row_checks`), or ``"error"``, the error score alone.
        error_weight: with ``scoring="level"`` the error part is ``error_weight`` times the
            error score over its threshold (1: it alarms at its own threshold).
        pca_factor: with ``scoring="level"``, PCA T² of the row alarms at this times its
            ``quantile`` on the calibration rows; None leaves T² out.
        pca_tau: the time constant (rows) of the moving mean of the rows T² judges a row
            against (so a slow drift does not alarm); None judges it against the training mean.
        pca_bound: a row whose T² is above this times its alarm level moves that moving mean
            only as far as a row at that level would, so T² does not alarm for hundreds of rows
            after a glitch of one row (a ``-9999`` for a missing value; the level part still
            flags the rows its trailing mean and hold cover); None: no bound.
        level_mean: with ``scoring="level"``, the rows of each sensor's trailing mean that the
            held-shift level score judges (:class:`~cnnlstm.anomaly.held_shift.HeldShift`'s
            ``fast``): 5 finds short events; 10 keeps a long held fault visible through its
            noise (the design notes, "Defaults for other machines").
        level_floor: with ``scoring="level"``, the smallest unit of a sensor's level deviation,
            in its own training sds (``HeldShift``'s ``floor``): a sensor tied to others by a
            near-exact relation, or held nearly constant, does not count a move of a few
            hundredths of its sd as a large shift; 0: no floor.
        discrete: with ``scoring="level"``, the sensors with a few whole values (PLC signals,
            steps, modes) are judged by their joint states and state changes against those
            of the training rows, not by their errors and levels
            (:mod:`cnnlstm.anomaly.discrete`); False treats them as the others.
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
        level_: the fitted :class:`~cnnlstm.anomaly.held_shift.HeldShift` (``scoring="level"``),
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
        smooth: int = 1,
        combine: CombineName = "max",
        scoring: ScoringName = "level",
        error_weight: float = ERROR_WEIGHT,
        pca_factor: float | None = PCA_FACTOR,
        pca_tau: int | None = PCA_TAU,
        pca_bound: float | None = PCA_BOUND,
        level_mean: int = FAST,
        level_floor: float = FLOOR,
        discrete: bool = True,
        seed: int = 0,
        device: str = "cpu",
        num_threads: int = 1,
    ) -> None:
        if epochs is None:  # a family's own default; other registered models get the window's
            epochs = DEFAULT_EPOCHS.get(model, DEFAULT_EPOCHS["window_cnnlstm"])
        self.model_name = model
        self.model_args = dict(model_args or {})
        check_settings(
            model_args=self.model_args,
            window=window,
            epochs=epochs,
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            threshold=threshold,
            quantile=quantile,
            factor=factor,
            pot_init=pot_init,
            holdout=holdout,
            smooth=smooth,
            combine=combine,
            scoring=scoring,
            error_weight=error_weight,
            pca_factor=pca_factor,
            pca_tau=pca_tau,
            pca_bound=pca_bound,
            level_mean=level_mean,
            level_floor=level_floor,
            num_threads=num_threads,
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
        self.error_weight = float(error_weight)
        self.pca_factor = None if pca_factor is None else float(pca_factor)
        self.pca_tau = pca_tau
        self.pca_bound = None if pca_bound is None else float(pca_bound)
        self.level_mean = level_mean
        self.level_floor = float(level_floor)
        self.discrete = bool(discrete)
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
        self.checks_: RowChecks | None = None
        self.error_threshold_: float = math.nan
        self.level_threshold_: float = math.nan
        self.longest_repeat_: np.ndarray = np.zeros(0, dtype=np.int64)

    # --- building and fitting ----------------------------------------------------------------

    def build_model(self, n_sensors: int) -> nn.Module:
        """The unfitted model of this detector's family for ``n_sensors`` sensors, on its device.

        Raises:
            ConfigError: the settings build no detector family.
        """
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
                f"AnomalyDetector: model has to be a detector family "
                f"({', '.join(DETECTOR_FAMILIES)}), but got {self.model_name!r}, which has no "
                f"errors()."
            )
        return model.to(self.device)

    @property
    def causal(self) -> bool:
        """True for the one-pass next-row model, False for the window models."""
        return bool(getattr(self.fitted_model(), "causal", False))

    def fitted_model(self) -> nn.Module:
        """The fitted model.

        Raises:
            DataError: the detector is not fitted.
        """
        if self.model_ is None:
            raise DataError("AnomalyDetector has to be fitted first (call fit), but it is not.")
        return self.model_

    def fit(
        self,
        train: np.ndarray,
        *,
        columns: Sequence[str] | None = None,
        progress: bool = False,
        log: Callable[[str], None] | None = None,
    ) -> AnomalyDetector:
        """Fit the scaler, the model and the threshold on normal rows.

        Args:
            train: ``(N, S)`` normal rows, ``N >= window``.
            columns: the ``S`` sensor names (default ``column0``...).
            progress: show a progress bar (rich).
            log: called with a line of text at each tenth of the optimisation steps, at the end
                of training and at the end of calibration (each with its time), for a log file
                where no progress bar shows.

        Returns:
            ``self``.

        Raises:
            DataError: fewer rows than ``window + smooth - 1`` (the first scored row), NaN or
                infinite values, ``columns`` of another length than ``S``, or a value more than
                :data:`~cnnlstm.anomaly.rows.STANDARD_LIMIT` spreads from its column's median
                (:class:`~cnnlstm.anomaly.rows.FarValue`: a sentinel among the training rows).

        Warns:
            UserWarning: with ``scoring="level"``, fewer than
                :data:`~cnnlstm.anomaly.held_shift.ROWS_PER_SENSOR` rows a sensor.
        """
        rows = as_rows(train, "AnomalyDetector.fit")
        n_sensors = rows.shape[1]
        self.columns_ = check_training_rows(
            rows,
            columns,
            first_scored=self.first_scored(),
            settings=f"window={self.window}, smooth={self.smooth}",
            rows_per_sensor=ROWS_PER_SENSOR if self.scoring == "level" else None,
        )
        self.longest_repeat_ = longest_repeats(rows)
        self.n_features_ = n_sensors
        self.scaler = StandardScaler().fit(rows)
        torch.manual_seed(self.seed)
        self.model_ = self.build_model(n_sensors)
        standard = np.asarray(self.scaler.transform(rows), dtype=np.float64)  # (N, S)
        scaled = torch.as_tensor(standard, dtype=torch.float32)  # (N, S)
        split = self._split(len(rows))
        with torch_threads(self.num_threads):
            self._train(scaled[:split], progress, held_out=scaled[split:], log=log)
            trained = time.perf_counter()
            errors = self._row_errors(scaled)  # (N, S), zeros where unscored
        first = self.first_scored()  # < len(rows), checked above
        calibrate = max(split, first) if split < len(rows) else first  # else: the fitted rows
        self.checks_ = None
        if self.scoring == "level":
            self.checks_ = RowChecks(
                pca_factor=self.pca_factor,
                pca_tau=self.pca_tau,
                pca_bound=self.pca_bound,
                discrete=self.discrete,
                quantile=self.quantile,
            ).fit(rows, calibrate=calibrate)
        discrete = self.discrete_columns
        self.error_scale_ = errors[calibrate:].mean(axis=0) + _EPS
        self.error_scale_[discrete] = np.inf  # their states count, not their errors
        self.train_scores_ = self._scores_from_errors(errors)
        self.threshold_ = self.error_threshold_ = self._threshold(self.train_scores_[calibrate:])
        self.level_ = None
        self.level_threshold_ = math.nan
        if self.checks_ is not None:
            self.level_ = HeldShift(fast=self.level_mean, floor=self.level_floor).fit(
                standard, leave_out=discrete
            )
            level = self.level_.score(standard)  # (N,)
            self.level_threshold_ = float(np.quantile(level[calibrate:], self.quantile))
            self.level_threshold_ *= LEVEL_FACTOR
            combined = self._combined(self.train_scores_, level)
            self.train_scores_ = np.maximum(combined, self.checks_.scores(rows))
            self.threshold_ = 1.0
        if log is not None:
            kind = "held-out" if split < len(rows) else "fitted"
            log(
                f"calibrate: the error scale and the threshold from {len(rows) - calibrate} "
                f"{kind} rows ({time.perf_counter() - trained:.1f} s)"
            )
        return self

    def _combined(self, error_scores: np.ndarray, level_scores: np.ndarray) -> np.ndarray:
        """``scoring="level"``: the error and level scores as one, in units of the alarm level."""
        return combine_scores(
            error_scores,
            self.error_threshold_,
            level_scores,
            self.level_threshold_,
            error_weight=self.error_weight,
            hold=HOLD,
        )

    @property
    def discrete_columns(self) -> np.ndarray:
        """``(D,)`` int64: the sensors judged by their states, not their errors and levels
        (``discrete=True`` with ``scoring="level"``; see :mod:`cnnlstm.anomaly.row_checks`)."""
        if self.checks_ is None:
            return np.zeros(0, dtype=np.int64)
        return self.checks_.discrete_columns

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

    def _train(
        self,
        scaled: Tensor,
        progress: bool,
        held_out: Tensor | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        rows = scaled.to(self.device)  # (N, S); windows are gathered batch by batch
        count = len(rows) - self.window + 1  # windows: (N-W+1, W, S) if made all at once
        planned = self.epochs * math.ceil(count / self.batch_size)
        budget = planned if self.steps is None else min(planned, self.step_budget(rows.shape[1]))
        checks = None
        if budget < planned and held_out is not None:
            checks = check_windows(held_out, self.window)
            checks = None if checks is None else checks.to(self.device)
        trained = train_windows(
            self.fitted_model(),
            rows,
            window=self.window,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            seed=self.seed,
            budget=budget,
            checks=checks,
            progress=f"fit {self.model_name}" if progress else None,
            log=None if log is None else said_in_lines(log, len(rows)),
        )
        self.steps_ = trained.steps
        self.train_loss_ = trained.train_loss
        self.holdout_loss_ = trained.holdout_loss

    def step_budget(self, sensors: int) -> int:
        """The fit's budget of steps for ``sensors`` sensors
        (:func:`~cnnlstm.anomaly.training.step_budget` of :attr:`steps`).

        Example:
            >>> detector = AnomalyDetector()
            >>> detector.step_budget(20), detector.step_budget(640), detector.step_budget(2000)
            (500, 50, 20)
        """
        return step_budget(self.steps, sensors)

    # --- scoring -----------------------------------------------------------------------------

    def first_error(self) -> int:
        """The first row with an error, ``window - 1``: every model has warmed up by then."""
        return self.window - 1

    def first_scored(self) -> int:
        """The first row that gets a score: the first whose smoothing mean is over ``smooth``."""
        return self.first_error() + self.smooth - 1

    @torch.inference_mode()
    def _row_errors(self, scaled: Tensor) -> np.ndarray:
        """``(M, S)`` standardised rows -> ``(M, S)`` per-sensor errors (0 where unscored)."""
        model = self.fitted_model()
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
        first = self.first_scored()
        smoothed = np.zeros_like(scaled)
        if len(scaled) > first:
            # each window summed on its own: a running (cumulative) sum would carry a huge
            # error's rounding into every later row
            windows = sliding_window_view(scaled, self.smooth, axis=0)  # (M-smooth+1, S, smooth)
            smoothed[first:] = windows[first - self.smooth + 1 :].sum(axis=-1) / self.smooth
        return smoothed

    def _scores_from_errors(self, errors: np.ndarray) -> np.ndarray:
        """``(M, S)`` errors -> ``(M,)`` scores: scaled, smoothed per sensor, then combined."""
        return self.combine_sensors(self._smoothed_errors(errors))

    def combine_sensors(self, smoothed: np.ndarray) -> np.ndarray:
        """``(M, S)`` smoothed errors -> ``(M,)``: the worst sensor, or their mean."""
        scores: np.ndarray = smoothed.max(axis=1) if self.combine == "max" else smoothed.mean(1)
        return scores

    def _threshold(self, scores: np.ndarray) -> float:
        return score_threshold(
            scores,
            method=self.threshold,
            quantile=self.quantile,
            factor=self.factor,
            pot_init=self.pot_init,
        )

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
        """Score each row; the rows before :meth:`first_scored` score 0.0 (see the class).

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
        standard = self.standardised(x, columns=columns, who="AnomalyDetector.score")  # (M, S)
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
        if self.checks_ is not None and part == "all":
            scores = np.maximum(scores, self.checks_.scores(x))
        return scores

    def standardised(
        self, x: Any, *, columns: Sequence[str] | None = None, who: str = "AnomalyDetector"
    ) -> np.ndarray:
        """Checked ``(M, S)`` rows, standardised with the training rows' scaler (float64).

        Raises:
            DataError: not fitted, another number (or other names) of columns, NaN, or a value
                past :data:`~cnnlstm.anomaly.rows.STANDARD_LIMIT` training sds
                (:class:`~cnnlstm.anomaly.rows.FarValue`); the message starts with ``who``.
        """
        self.fitted_model()
        rows = as_rows(x, who)
        self._check_columns(rows.shape[1], columns, who)
        standard = np.asarray(self.scaler.transform(rows), dtype=np.float64)  # (M, S)
        check_standardised(standard, rows, self.columns_, who)
        return standard

    def _errors(self, standard: np.ndarray) -> np.ndarray:
        """``(M, S)`` standardised rows -> the model's ``(M, S)`` errors, on its threads."""
        with torch_threads(self.num_threads):
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
        standard = self.standardised(
            x, columns=columns, who="AnomalyDetector.score_detail"
        )  # (M, S)
        smoothed = self._smoothed_errors(self._errors(standard))  # (M, S)
        scores = self.combine_sensors(smoothed)  # (M,)
        if self.level_ is None:
            return scores, smoothed
        deviations = self.level_.deviations(standard)  # (M, S), as HeldShift.score takes them
        level = deviations.max(axis=1) if deviations.shape[1] else np.zeros(len(deviations))
        parts = self._combined(smoothed, deviations)  # (M, S): each sensor on its own
        scores = self._combined(scores, level)
        if self.checks_ is not None:
            checked = self.checks_.parts(x)  # (M, S)
            parts = np.maximum(parts, checked)
            scores = np.maximum(scores, checked.max(axis=1) if checked.shape[1] else 0.0)
        return scores, parts

    def sensor_scores(self, x: np.ndarray, *, columns: Sequence[str] | None = None) -> np.ndarray:
        """``(M, S)``: each sensor's part of each row's score (see :meth:`score_detail`)."""
        return self.score_detail(x, columns=columns)[1]

    def predict(self, x: np.ndarray, *, columns: Sequence[str] | None = None) -> np.ndarray:
        """``(M,)`` int64 flags: 1 where the score is above :attr:`threshold_`."""
        return (self.score(x, columns=columns) > self.threshold_).astype(np.int64)

    def stream(self) -> StreamScorer:
        """A :class:`~cnnlstm.anomaly.streaming.StreamScorer` that scores rows one at a time, from a
        fresh state."""
        self.fitted_model()
        return StreamScorer(self)

    def chunks(self) -> ChunkScorer:
        """A :class:`~cnnlstm.anomaly.streaming.ChunkScorer` that scores a stream in chunks of rows,
        from a fresh state."""
        self.fitted_model()
        return ChunkScorer(self)

    # --- saving ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the fitted detector to one file (``torch.save`` of plain values and tensors:
        :func:`~cnnlstm.anomaly.saved.detector_state`)."""
        torch.save(detector_state(self), Path(path))

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu") -> AnomalyDetector:
        """Read a detector written by :meth:`save` (``weights_only=True``: no code runs); a file
        saved before a setting existed scores as it did (:data:`~cnnlstm.anomaly.saved.BEFORE`).

        Raises:
            DataError: the file is missing or not a saved detector.
        """
        state = read_state(Path(path))
        detector = cls(
            model=state["model"], model_args=state["model_args"], device=device, **state["config"]
        )
        restore_fitted(detector, state, Path(path))
        return detector

    def __repr__(self) -> str:
        fitted = f"threshold_={self.threshold_:.4g}" if self.model_ is not None else "unfitted"
        return (
            f"AnomalyDetector(model={self.model_name!r}, window={self.window}, "
            f"threshold={self.threshold!r}, {fitted})"
        )
