"""Counting by event: a labelled anomaly is found when any of its rows is flagged.

Row counts (:func:`~cnnlstm.anomaly.evaluation.binary_counts`) reward a detector that flags
many rows of one long event and miss that it never flags three short ones. These count events:
:func:`point_adjusted_counts` (an event found counts all its rows as found, as Xu et al. 2018
score their detectors), :func:`event_recall` (the share of labelled events with at least one
flagged row) and :func:`detection_delays` (rows from an event's start to its first flag).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from cnnlstm.anomaly.evaluation import Counts, binary_counts, spans_from_binary
from cnnlstm.errors import ShapeError

__all__ = ["detection_delays", "event_recall", "point_adjusted_counts"]


def _pair(y_true: ArrayLike, y_pred: ArrayLike, who: str) -> tuple[np.ndarray, np.ndarray]:
    truth = np.asarray(y_true).astype(bool)
    flags = np.asarray(y_pred).astype(bool)
    if truth.ndim != 1 or truth.shape != flags.shape:
        raise ShapeError(
            f"{who}: y_true and y_pred have to be (N,) rows of the same length, but got shapes "
            f"{tuple(truth.shape)} and {tuple(flags.shape)}"
        )
    return truth, flags


def point_adjusted_counts(y_true: ArrayLike, y_pred: ArrayLike) -> Counts:
    """Row counts after point adjustment: every row of a found event counts as flagged.

    Args:
        y_true: ``(N,)`` labels, 0/1; each run of ones is one event.
        y_pred: ``(N,)`` flags, 0/1.

    Returns:
        The confusion counts of the adjusted flags; rows outside events are counted as they are.

    Example:
        >>> point_adjusted_counts([0, 1, 1, 1, 0, 1, 1], [1, 0, 1, 0, 0, 0, 0])
        Counts(tp=3, fp=1, fn=2, tn=1)
    """
    truth, flags = _pair(y_true, y_pred, "point_adjusted_counts")
    adjusted = flags.copy()
    for start, stop in spans_from_binary(truth):
        if flags[start:stop].any():
            adjusted[start:stop] = True
    return binary_counts(truth, adjusted)


def event_recall(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """The share of labelled events with at least one flagged row; NaN without events.

    Example:
        >>> event_recall([0, 1, 1, 0, 1, 0, 1], [0, 0, 1, 0, 0, 0, 1])
        0.6666666666666666
    """
    truth, flags = _pair(y_true, y_pred, "event_recall")
    events = spans_from_binary(truth)
    if not events:
        return float("nan")
    return sum(bool(flags[a:b].any()) for a, b in events) / len(events)


def detection_delays(y_true: ArrayLike, y_pred: ArrayLike) -> list[int | None]:
    """Rows from each labelled event's first row to its first flagged row, None if not found.

    Example:
        >>> detection_delays([0, 1, 1, 1, 0, 1, 1], [0, 0, 0, 1, 0, 0, 0])
        [2, None]
    """
    truth, flags = _pair(y_true, y_pred, "detection_delays")
    delays: list[int | None] = []
    for start, stop in spans_from_binary(truth):
        hits = np.flatnonzero(flags[start:stop])
        delays.append(int(hits[0]) if hits.size else None)
    return delays
