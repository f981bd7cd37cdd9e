"""Scoring a stream as it comes: one row at a time, or in chunks of rows.

:class:`StreamScorer` scores each new row in O(1) work; :class:`ChunkScorer` scores consecutive
chunks of rows in bounded memory. Both carry the state a row's score depends on from one call to
the next, so they give the scores :class:`~cnnlstm.anomaly.detector.AnomalyDetector` gives the
whole stream (to float32 rounding).
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import Tensor

from cnnlstm.anomaly.combine import HOLD, TrailingMax, combine_scores
from cnnlstm.anomaly.rows import STANDARD_LIMIT, all_finite, check_standardised, torch_threads
from cnnlstm.errors import DataError

if TYPE_CHECKING:  # the detector builds its scorers: the type alone comes from there
    from cnnlstm.anomaly.detector import AnomalyDetector

__all__ = ["ChunkScorer", "StreamScorer"]

_ROWS_PER_PASS = 8192
"""Rows :class:`ChunkScorer` runs through the model at once (its activations stay small)."""


class StreamScorer:
    """Scores rows one at a time with a fitted :class:`~cnnlstm.anomaly.detector.AnomalyDetector`.

    For ``window_cnnlstm`` it runs the model's :class:`~cnnlstm.models.detectors.RowStepper`
    (the weights as plain arrays, buffers of the last rows of each conv layer, the LSTM
    state), so each row costs the same small work and no torch call, and the scores equal the
    detector's ``score`` on the whole stream (up to float32 rounding). For the window models it
    keeps the last ``window`` rows and re-scores that window for each new row (the same scores as
    offline too). The per-sensor smoothing keeps the last ``smooth`` scaled errors. Rows before
    the first error score (see the detector's ``first_scored``) return ``(0.0, 0)`` with
    ``scoring="error"``; with ``scoring="level"`` they return the level part and the row checks
    (T² and the discrete states) alone, and every row advances the
    :class:`~cnnlstm.anomaly.held_shift.HeldShift` state, the hold and the checks' state, as
    offline.

    Example:
        >>> from cnnlstm.anomaly import AnomalyDetector
        >>> rng = np.random.default_rng(0)
        >>> detector = AnomalyDetector(window=16, epochs=1).fit(rng.normal(size=(100, 3)))
        >>> scorer = detector.stream()
        >>> score, flag = scorer.update(rng.normal(size=3))  # row 0: nothing predicted it yet,
        >>> flag  # its score is its T² part alone (and the level's, once it has 5 rows)
        0
        >>> scorer.rows_seen
        1
    """

    def __init__(self, detector: AnomalyDetector) -> None:
        self.detector = detector
        self.model = detector.fitted_model()
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
        self._far = np.zeros(n)  # (S,): its absolute values, against STANDARD_LIMIT
        self._scaled = np.zeros(n, dtype=np.float32)  # (S,): the model's input
        self._squared = np.zeros(n, dtype=np.float32)  # (S,): the row's squared error
        self._slot = 0
        self._filled = 0
        self._max = detector.combine == "max"
        self._threshold = detector.threshold_
        self._error_threshold = detector.error_threshold_
        self._level_threshold = detector.level_threshold_
        self._first = detector.first_error()
        self._level = detector.level_
        self._level_state = self._level.start() if self._level is not None else None
        self._held = TrailingMax(HOLD)
        self._weight = detector.error_weight
        self._checks = detector.checks_
        self._checks_state = self._checks.start() if self._checks is not None else None
        self.rows_seen = 0

    def update(self, row: np.ndarray) -> tuple[float, int]:
        """Score one row ``(S,)``; returns ``(score, flag)`` with flag 1 above the threshold.

        The window models run with the detector's ``num_threads`` torch threads (restored
        after); ``window_cnnlstm`` needs no torch call.

        Raises:
            DataError: another number of values than the fitted columns, or NaN; a value past
                :data:`~cnnlstm.anomaly.rows.STANDARD_LIMIT` training sds
                (:class:`~cnnlstm.anomaly.rows.FarValue`).
        """
        values = np.asarray(row, dtype=np.float64)
        if values.shape != self._mean.shape or not all_finite(values):
            raise DataError(
                f"StreamScorer.update: expected {self.detector.n_features_} finite values for the "
                f"columns {self.detector.columns_}, but got shape {values.shape}: {values}."
            )
        standard = np.subtract(values, self._mean, out=self._standard)
        np.divide(standard, self._std, out=standard)  # (S,) float64, as score() does
        if np.abs(standard, out=self._far).max() > STANDARD_LIMIT:  # a sentinel: say where
            check_standardised(standard[None], values[None], self.detector.columns_, "StreamScorer")
        scaled = self._scaled
        scaled[...] = standard  # (S,) float32, the model's input, as score() does
        self.rows_seen += 1
        score = self._error_score(scaled)
        if self._level is not None and self._level_state is not None:
            level = self._level.update(self._level_state, standard)
            combined = 0.0
            if self._error_threshold > 0:
                combined = self._weight * score / self._error_threshold
            if self._level_threshold > 0:
                combined = max(combined, self._held.update(level / self._level_threshold))
            score = combined
        if self._checks is not None and self._checks_state is not None:
            score = max(score, self._checks.score_row(values, self._checks_state))
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
            with torch_threads(self.detector.num_threads):
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
    """Scores one stream of rows in consecutive chunks, as
    :meth:`AnomalyDetector.score_detail <cnnlstm.anomaly.detector.AnomalyDetector.score_detail>`
    scores it whole.

    Everything the score of a row depends on is carried from chunk to chunk: for
    ``window_cnnlstm`` the last ``receptive_field - 1`` rows the causal convolutions see, the
    LSTM's ``(h, c)`` and the prediction of the next row; for the window models the last
    ``window - 1`` rows; the last ``smooth - 1`` scaled errors; the
    :class:`~cnnlstm.anomaly.held_shift.HeldShift` state and the last ``HOLD - 1`` level scores. So
    a file is scored in bounded memory, one chunk at a time, with the scores of the whole file (to
    float32 rounding: the batched matrix products may round differently by chunk length).
    A chunk may hold any number of rows, fewer than the window too.

    Example:
        >>> from cnnlstm.anomaly import AnomalyDetector
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
        self.model = detector.fitted_model()
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
        self._held_rows = np.zeros((0, n))  # (<= HOLD - 1, S): the last deviations
        self._held = np.zeros(0)  # (<= HOLD - 1,): the last level scores
        checks = detector.checks_
        self._checks_state = checks.start() if checks is not None else None  # T²'s mean, ...

    def update(
        self, x: np.ndarray, *, columns: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Score the next ``(M, S)`` rows of the stream.

        Args:
            x: ``(M, S)`` rows in the units of the training rows, ``M >= 0``.
            columns: their names, checked against the detector's ``columns_``.

        Returns:
            ``(scores (M,), parts (M, S))`` as the detector's ``score_detail`` gives them for
            these rows of the whole stream.

        Raises:
            DataError: another number (or other names) of columns, NaN.
        """
        detector = self.detector
        rows = np.asarray(x, dtype=np.float64)
        if rows.ndim == 2 and len(rows) == 0 and rows.shape[1] == detector.n_features_:
            return np.zeros(0), np.zeros((0, detector.n_features_))
        standard = detector.standardised(rows, columns=columns, who="ChunkScorer.update")  # (M, S)
        scaled = torch.as_tensor(standard, dtype=torch.float32)  # (M, S)
        with torch_threads(detector.num_threads):  # the model's activations: a few MB at a time
            errors = np.concatenate(
                [
                    self._chunk_errors(scaled[i : i + _ROWS_PER_PASS])
                    for i in range(0, len(scaled), _ROWS_PER_PASS)
                ]
            )
        smoothed = self._smoothed(errors)  # (M, S)
        self.rows_seen += len(standard)
        scores = detector.combine_sensors(smoothed)  # (M,)
        if self._level is None or self._level_state is None:
            return scores, smoothed
        deviations = self._level.advance(self._level_state, standard)  # (M, S)
        level = deviations.max(axis=1) if deviations.shape[1] else np.zeros(len(deviations))
        parts = self._combine(smoothed, deviations, carry="_held_rows")
        scores = self._combine(scores, level, carry="_held")
        if detector.checks_ is not None and len(rows):
            checked = detector.checks_.parts(rows, self._checks_state)  # (M, S)
            parts = np.maximum(parts, checked)
            scores = np.maximum(scores, checked.max(axis=1) if checked.shape[1] else 0.0)
        return scores, parts

    @torch.inference_mode()
    def _chunk_errors(self, rows: Tensor) -> np.ndarray:
        """``(M, S)`` standardised rows -> ``(M, S)`` errors, 0 where the whole pass has none."""
        detector, model = self.detector, self.model
        extended = torch.cat([self._tail, rows]).to(detector.device)  # (K + M, S)
        skip = len(self._tail)
        errors = torch.zeros_like(rows)
        if self.causal:
            sequence = extended.unsqueeze(0)  # (1, K + M, S)
            features = model.conv_sequence(sequence)[:, skip:]  # type: ignore[operator]
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
        """Each sensor's scaled error averaged over the last ``smooth`` rows, as the detector
        smooths the whole stream, for these rows (0.0 before the stream's first scored row)."""
        detector = self.detector
        smooth, first = detector.smooth, detector.first_scored()
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

    def _combine(
        self, error_scores: np.ndarray, level_scores: np.ndarray, *, carry: str
    ) -> np.ndarray:
        """:func:`~cnnlstm.anomaly.combine.combine_scores` of these rows of the stream, with the
        detector's thresholds: the held level score reaches back over the last ``HOLD - 1``
        level scores, kept in the attribute ``carry`` (their error part is not used again)."""
        detector = self.detector
        before = getattr(self, carry)  # (K, ...), K <= HOLD - 1
        level = np.concatenate([before, level_scores])  # (K + M, ...)
        errors = np.concatenate([np.zeros_like(before), error_scores])  # (K + M, ...)
        combined = combine_scores(
            errors,
            detector.error_threshold_,
            level,
            detector.level_threshold_,
            error_weight=detector.error_weight,
            hold=HOLD,
        )
        setattr(self, carry, level[len(level) - min(HOLD - 1, len(level)) :])
        return combined[len(before) :]
