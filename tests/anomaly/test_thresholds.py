"""Thresholds: the GPD fit by moments and POT against known tails, the quantile threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnlstm.anomaly.thresholds import fit_gpd, pot_threshold, score_threshold


def test_fit_gpd_hand_computed() -> None:
    # excesses 1, 2, 3: mean 2, sample variance 1, m^2/v = 4 -> xi = -1.5, sigma = 5
    xi, sigma = fit_gpd(np.array([1.0, 2.0, 3.0]))
    assert xi == pytest.approx(-1.5) and sigma == pytest.approx(5.0)


@pytest.mark.parametrize(("xi", "sigma"), [(0.2, 1.0), (-0.2, 2.0), (0.0, 0.5)])
def test_pot_recovers_a_known_tail(xi: float, sigma: float) -> None:
    rng = np.random.default_rng(0)
    uniform = rng.uniform(size=200_000)
    exponential = -sigma * np.log1p(-uniform)
    samples = exponential if xi == 0 else sigma / xi * ((1 - uniform) ** (-xi) - 1)  # inverse CDF
    fit_xi, fit_sigma = fit_gpd(samples)
    assert fit_xi == pytest.approx(xi, abs=0.03)
    assert fit_sigma == pytest.approx(sigma, rel=0.05)
    risk = 1e-3
    true_level = -sigma * math.log(risk) if xi == 0 else sigma / xi * (risk ** (-xi) - 1)
    assert pot_threshold(samples, risk=risk, init=0.9) == pytest.approx(true_level, rel=0.05)
    assert np.mean(samples > true_level) == pytest.approx(risk, rel=0.2)


def test_score_threshold_is_the_quantile_or_pot_times_the_factor() -> None:
    scores = np.random.default_rng(0).exponential(1.0, 5000)
    ordered = np.sort(scores)
    # numpy's default quantile: linear between the order statistics at (n - 1) * q
    at = (len(ordered) - 1) * 0.99
    below = ordered[math.floor(at)]
    linear = below + (at - math.floor(at)) * (ordered[math.floor(at) + 1] - below)
    assert score_threshold(scores, quantile=0.99, factor=1.5) == pytest.approx(1.5 * linear)
    pot = score_threshold(scores, method="pot", quantile=0.999, factor=2.0, pot_init=0.9)
    assert pot == pytest.approx(2.0 * pot_threshold(scores, risk=1e-3, init=0.9))
