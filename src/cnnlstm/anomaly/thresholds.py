"""Thresholds from the training rows' own scores: a quantile, or peaks over threshold (POT).

:func:`score_threshold` is the level :class:`~cnnlstm.anomaly.detector.AnomalyDetector` flags
above: ``"quantile"`` takes ``quantile(scores, quantile) * factor``; ``"pot"`` (Siffer et al.
2017) takes an initial threshold ``u`` at the ``pot_init`` quantile of the scores, fits a
generalized Pareto distribution to the excesses over ``u`` by the method of moments
(:func:`fit_gpd`), and takes the level the scores exceed with probability
``risk = 1 - quantile`` under that tail (:func:`pot_threshold`), times ``factor``.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

__all__ = ["ThresholdName", "fit_gpd", "pot_threshold", "score_threshold"]

ThresholdName = Literal["quantile", "pot"]
_EPS = 1e-8


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


def score_threshold(
    scores: np.ndarray,
    *,
    method: ThresholdName = "quantile",
    quantile: float = 0.99,
    factor: float = 1.0,
    pot_init: float = 0.9,
) -> float:
    """The level above which a score is an anomaly, from normal rows' ``scores``.

    Args:
        scores: ``(n,)`` finite scores of normal (calibration) rows.
        method: ``"quantile"``: the ``quantile`` of the scores; ``"pot"``:
            :func:`pot_threshold` with ``risk = 1 - quantile`` and ``init = pot_init``.
        quantile: the quantile, or one minus POT's risk.
        factor: multiplies the level.
        pot_init: the quantile of POT's initial threshold.

    Returns:
        The threshold.

    Example:
        >>> score_threshold(np.arange(101.0), quantile=0.9, factor=1.5)
        135.0
    """
    if method == "quantile":
        level = float(np.quantile(scores, quantile))
    else:
        level = pot_threshold(scores, risk=1 - quantile, init=pot_init)
    return level * factor
