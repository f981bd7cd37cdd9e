"""Each sensor against the others of its row: ridge regressions, residuals, persistence
(pure NumPy).

The held-shift level score (:mod:`cnnlstm.anomaly.held_shift`) judges what one sensor does on
its own: each standardised sensor minus a ridge regression of it on the other sensors of the
same row, so what a plant's shared load explains cancels. A residual that wanders by itself
(a high lag-1 autocorrelation, e.g. a temperature) says nothing by its level.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_matrix", "cross_sensor_residuals", "cross_sensor_weights", "lag1_autocorrelation"]


def as_matrix(x: Any, who: str) -> np.ndarray:
    """``x`` as float64 rows ``(N, S)``; a ``ValueError`` naming ``who`` otherwise."""
    rows: np.ndarray = np.asarray(x, dtype=np.float64)
    if rows.ndim != 2:
        raise ValueError(f"{who} has to be rows (N, S), but got an array of shape {rows.shape}")
    return rows


def lag1_autocorrelation(x: np.ndarray) -> np.ndarray:
    """Each column's lag-1 autocorrelation, about its mean.

    ``sum((x[t] - m)(x[t-1] - m)) / sum((x[t] - m)^2)``; a constant column has no
    autocorrelation to measure and gets 1.0 (it counts as persistent).

    Args:
        x: ``(N, S)`` rows, ``N >= 2``.

    Returns:
        ``(S,)`` autocorrelations.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(5000, 2)).cumsum(axis=0)
        >>> lag1_autocorrelation(x).round(1)
        array([1., 1.])
    """
    rows = as_matrix(x, "x")
    if rows.shape[0] < 2:
        raise ValueError(f"x has to have at least 2 rows, but got {rows.shape[0]}")
    centred = rows - rows.mean(axis=0)
    power = (centred * centred).sum(axis=0)  # (S,)
    lagged = (centred[1:] * centred[:-1]).sum(axis=0)  # (S,)
    safe = np.where(power > 0, power, 1.0)
    return np.where(power > 0, lagged / safe, 1.0)


def cross_sensor_weights(rows: np.ndarray, *, ridge: float = 1.0) -> np.ndarray:
    """Ridge regression of each sensor on the other sensors of the same row.

    For sensor ``s``, ``w_s = argmin |x_s - c_s - X_{-s} w|^2 + ridge |w|^2`` on centred columns
    (the intercept ``c_s`` is not penalised).

    Args:
        rows: ``(N, S)`` training rows.
        ridge: the penalty, ``>= 0``.

    Returns:
        ``(S + 1, S)``: column ``s`` holds sensor ``s``'s coefficients on the ``S`` sensors
        (its own is 0) and, last, its intercept, so the prediction is ``[x, 1] @ W``.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(100, 3))
        >>> cross_sensor_weights(x).shape
        (4, 3)
    """
    x: np.ndarray = as_matrix(rows, "rows")
    if not ridge >= 0:
        raise ValueError(f"ridge has to be >= 0, but got {ridge!r}")
    n_sensors = x.shape[1]
    mean = x.mean(axis=0)
    centred = x - mean
    weights = np.zeros((n_sensors + 1, n_sensors))
    coefficients = _all_regressions(centred, ridge) if ridge > 0 and n_sensors > 1 else None
    if coefficients is not None:
        weights[:n_sensors] = coefficients
    else:  # no penalty (the Gram matrix may be singular): one least-squares problem a sensor
        for s in range(n_sensors):
            others = [o for o in range(n_sensors) if o != s]
            if others:
                design = centred[:, others]  # (N, S-1)
                gram = design.T @ design + ridge * np.eye(len(others))
                coef = np.linalg.lstsq(gram, design.T @ centred[:, s], rcond=None)[0]
                weights[others, s] = coef
    weights[n_sensors] = mean - mean @ weights[:n_sensors]
    return weights


def _all_regressions(centred: np.ndarray, ridge: float) -> np.ndarray | None:
    """Every sensor's ridge coefficients on the others from one inverse, or None if unstable.

    With ``P = (X^T X + ridge I)^-1`` over all ``S`` sensors, sensor ``s``'s coefficients on the
    others are ``-P[o, s] / P[s, s]`` (the block inverse of the Gram matrix; the penalty on
    ``s``'s own diagonal cancels). One ``(S, S)`` inverse instead of ``S`` solves of size
    ``S - 1``: 1,000 sensors take under a second instead of minutes.

    Returns:
        ``(S, S)``: column ``s`` holds sensor ``s``'s coefficients, 0 on the diagonal.
    """
    gram = centred.T @ centred  # (S, S)
    gram[np.diag_indices_from(gram)] += ridge
    try:
        inverse = np.linalg.inv(gram)
    except np.linalg.LinAlgError:
        return None
    diagonal = np.diag(inverse).copy()
    if not (np.isfinite(inverse).all() and (diagonal > 0).all()):
        return None
    coefficients: np.ndarray = -inverse / diagonal  # (S, S): column s divided by P[s, s]
    coefficients[np.diag_indices_from(coefficients)] = 0.0
    return coefficients


def cross_sensor_residuals(rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``(N, S)`` rows minus what :func:`cross_sensor_weights` predicts from the other sensors.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(100, 3))
        >>> cross_sensor_residuals(x, cross_sensor_weights(x)).shape
        (100, 3)
    """
    x: np.ndarray = as_matrix(rows, "rows")
    if weights.shape != (x.shape[1] + 1, x.shape[1]):
        raise ValueError(
            f"weights has to be (S + 1, S) = ({x.shape[1] + 1}, {x.shape[1]}) for {x.shape[1]} "
            f"sensors, but got {weights.shape}"
        )
    prediction: np.ndarray = x @ weights[:-1] + weights[-1]  # (N, S)
    residual: np.ndarray = x - prediction
    return residual
