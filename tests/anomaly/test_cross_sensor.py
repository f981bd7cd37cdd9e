"""Each sensor against the others of its row: the one-inverse ridge fits against one textbook
fit per sensor, residuals, and the lag-1 autocorrelation against a loop."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlstm.anomaly.cross_sensor import (
    cross_sensor_residuals,
    cross_sensor_weights,
    lag1_autocorrelation,
)


def test_cross_sensor_weights_and_residuals() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(size=(500, 1))
    rows = np.hstack([base, 2 * base + 0.1 * rng.normal(size=(500, 1)), rng.normal(size=(500, 1))])
    rows += np.array([5.0, -3.0, 1.0])
    weights = cross_sensor_weights(rows, ridge=0.0)
    assert weights.shape == (4, 3)
    np.testing.assert_array_equal(np.diag(weights[:3]), 0.0)
    assert weights[0, 1] == pytest.approx(2.0, abs=0.05)  # sensor 1 is twice sensor 0
    residual = cross_sensor_residuals(rows, weights)
    np.testing.assert_allclose(residual.mean(axis=0), 0.0, atol=1e-9)  # intercepts fitted
    assert residual[:, 1].std() < 0.15 < residual[:, 2].std()  # explained vs independent


@pytest.mark.parametrize(
    ("rows", "sensors", "ridge"), [(500, 3, 1.0), (60, 40, 0.5), (300, 120, 2.0)]
)
def test_cross_sensor_weights_match_one_ridge_fit_per_sensor(
    rows: int, sensors: int, ridge: float
) -> None:
    """The one-inverse path against the textbook: each sensor's ridge fit on the others as an
    augmented least-squares problem ``[X; sqrt(ridge) I] w = [x_s; 0]``, solved on its own
    (``rows < sensors`` included: only the penalty makes that one well posed)."""
    rng = np.random.default_rng(sensors)
    mixing = rng.normal(size=(sensors, sensors)) / np.sqrt(sensors)
    x = rng.normal(size=(rows, sensors)) @ mixing + rng.normal(size=sensors) * 10
    weights = cross_sensor_weights(x, ridge=ridge)
    centred = x - x.mean(axis=0)
    for s in range(sensors):
        others = [o for o in range(sensors) if o != s]
        design = np.vstack([centred[:, others], np.sqrt(ridge) * np.eye(len(others))])
        target = np.concatenate([centred[:, s], np.zeros(len(others))])
        expected = np.linalg.lstsq(design, target, rcond=None)[0]
        np.testing.assert_allclose(weights[others, s], expected, rtol=1e-7, atol=1e-9)
        assert weights[s, s] == 0.0
        intercept = x[:, s].mean() - x.mean(axis=0)[others] @ expected
        assert weights[sensors, s] == pytest.approx(intercept, rel=1e-7, abs=1e-9)


def test_lag1_autocorrelation_matches_a_loop() -> None:
    x = np.random.default_rng(2).normal(size=(50, 3)).cumsum(axis=0)
    for s in range(3):
        c = x[:, s] - x[:, s].mean()
        expected = sum(c[t] * c[t - 1] for t in range(1, 50)) / sum(v * v for v in c)
        assert lag1_autocorrelation(x)[s] == pytest.approx(expected)
    assert lag1_autocorrelation(np.ones((10, 1)))[0] == 1.0  # constant: persistent
