"""One alarm score from the detector's parts: the model's error beside the held-shift level
score, a level alarm held for a few rows (pure NumPy).

:func:`combine_scores` divides each part by its own alarm level and takes the larger, so a row
is flagged when either part is above its level; :func:`trailing_max` (and :class:`TrailingMax`
for streams) holds a level alarm for :data:`HOLD` rows after it ends.
"""

from __future__ import annotations

import collections

import numpy as np

__all__ = ["ERROR_WEIGHT", "HOLD", "TrailingMax", "combine_scores", "trailing_max"]

ERROR_WEIGHT = 1.0
"""The predictor's error counts at this weight: it alarms at ``1 / ERROR_WEIGHT`` times its own
threshold. 0.5 until the defaults were chosen again on other machines' data (the design notes,
"Defaults for other machines"): the error alarms at its own threshold, like the other parts."""
HOLD = 15
"""Rows a level alarm is held after the shift ends (a trailing max of the level score)."""


def _check_hold(hold: object) -> None:
    if isinstance(hold, bool) or not isinstance(hold, int) or hold < 1:
        raise ValueError(f"hold has to be a positive int, but got {hold!r}")


def trailing_max(scores: np.ndarray, hold: int) -> np.ndarray:
    """Each value replaced by the largest of the last ``hold`` values (itself included), along
    the first axis (each column of ``(N, S)`` on its own).

    Example:
        >>> trailing_max(np.array([0.0, 3.0, 0.0, 0.0, 1.0]), 2).tolist()
        [0.0, 3.0, 3.0, 0.0, 1.0]
    """
    _check_hold(hold)
    values: np.ndarray = np.asarray(scores, dtype=np.float64)
    return _trailing_max(values, hold)


def _trailing_max(values: np.ndarray, hold: int) -> np.ndarray:
    """:func:`trailing_max` by doubling: the max over 2, 4, 8... rows, then two windows that
    overlap to ``hold`` rows; about ``2 log2(hold)`` passes instead of ``hold - 1`` (exact:
    a max rounds nothing)."""
    out: np.ndarray = values.copy()
    n = len(values)
    width = 1  # out[t] is the max of rows t - width + 1 .. t (fewer at the start)
    while 2 * width <= hold and width < n:
        out[width:] = np.maximum(out[width:], out[:-width])  # made whole, then stored
        width *= 2
    rest = min(hold, n) - width  # the rows of the window `out` does not cover yet
    if rest > 0:
        # the window of rows t - hold + 1 .. t is that of out[t] and of out[t - rest]
        out[rest:] = np.maximum(out[rest:], out[:-rest])
    return out


class TrailingMax:
    """:func:`trailing_max` one value at a time, for streams.

    Example:
        >>> held = TrailingMax(2)
        >>> [held.update(v) for v in (0.0, 3.0, 0.0, 0.0)]
        [0.0, 3.0, 3.0, 0.0]
    """

    def __init__(self, hold: int) -> None:
        _check_hold(hold)
        self._recent: collections.deque[float] = collections.deque(maxlen=hold)

    def update(self, value: float) -> float:
        """Add ``value``; returns the largest of the last ``hold`` values."""
        self._recent.append(float(value))
        return max(self._recent)


def combine_scores(
    error_scores: np.ndarray,
    error_threshold: float,
    level_scores: np.ndarray,
    level_threshold: float,
    *,
    error_weight: float = ERROR_WEIGHT,
    hold: int = HOLD,
) -> np.ndarray:
    """One score in units of the alarm level: ``max(w * error / t_e, held(level / t_l))``.

    A row is flagged when the result is above 1: the error above ``t_e / w`` or the level score
    above ``t_l`` within the last ``hold`` rows. A threshold that is not positive (nothing to
    score) switches its part off.

    Args:
        error_scores: ``(N,)`` the predictor's scores, or ``(N, S)``: each column on its own
            (each sensor's part of the scores, as one would combine each column alone).
        error_threshold: their threshold ``t_e``.
        level_scores: ``(N,)`` :meth:`~cnnlstm.anomaly.held_shift.HeldShift.score` values
            (``(N, S)`` with the errors).
        level_threshold: their threshold ``t_l``.
        error_weight: ``w``.
        hold: rows a level alarm is held (:func:`trailing_max`).

    Returns:
        ``(N,)`` (or ``(N, S)``) combined scores.

    Example:
        >>> error, level = np.array([0.0, 0.0, 0.0, 8.0]), np.array([2.0, 0.0, 0.0, 0.0])
        >>> combine_scores(error, 2.0, level, 1.0, error_weight=0.5, hold=2).tolist()
        [2.0, 2.0, 0.0, 2.0]
    """
    error = np.asarray(error_scores, dtype=np.float64)
    level = np.asarray(level_scores, dtype=np.float64)
    if error.shape != level.shape or error.ndim not in (1, 2):
        raise ValueError(
            f"error_scores and level_scores have to be (N,) or (N, S) of one shape, but got "
            f"{error.shape} and {level.shape}"
        )
    out = np.zeros_like(error)
    if error_threshold > 0:
        out = np.maximum(out, error_weight * error / error_threshold)
    if level_threshold > 0:
        out = np.maximum(out, trailing_max(level / level_threshold, hold))
    return out
