"""The error and level parts as one score, and the held level alarm, against plain loops."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlstm.anomaly.combine import TrailingMax, combine_scores, trailing_max


def test_trailing_max_and_its_stream_match_a_loop() -> None:
    values = np.random.default_rng(3).normal(size=40)
    for hold in (1, 3, 15, 60):
        expected = [max(values[max(0, t - hold + 1) : t + 1]) for t in range(40)]
        np.testing.assert_array_equal(trailing_max(values, hold), expected)
        stream = TrailingMax(hold)
        np.testing.assert_array_equal([stream.update(v) for v in values], expected)


def test_combine_scores_matches_a_loop() -> None:
    rng = np.random.default_rng(4)
    error, level = rng.exponential(size=30), rng.exponential(size=30)
    got = combine_scores(error, 2.0, level, 3.0, error_weight=0.5, hold=4)
    expected = [
        max(0.5 * error[t] / 2.0, max(level[max(0, t - 3) : t + 1]) / 3.0) for t in range(30)
    ]
    np.testing.assert_allclose(got, expected)
    only_error = combine_scores(error, 2.0, level, 0.0, error_weight=0.5, hold=4)
    np.testing.assert_allclose(only_error, 0.25 * error)  # a zero threshold switches a part off


def test_combine_scores_of_columns_equals_each_column_alone() -> None:
    rng = np.random.default_rng(0)
    error = rng.exponential(size=(300, 7))
    level = rng.exponential(size=(300, 7)) * (rng.random((300, 7)) < 0.05)
    both = combine_scores(error, 2.0, level, 3.0, error_weight=0.5, hold=15)
    for k in range(7):
        alone = combine_scores(error[:, k], 2.0, level[:, k], 3.0, error_weight=0.5, hold=15)
        np.testing.assert_array_equal(both[:, k], alone)
    with pytest.raises(ValueError, match=r"\(N,\) or \(N, S\) of one shape"):
        combine_scores(error, 2.0, level[:, :3], 3.0)


def _plain_trailing_max(values: np.ndarray, hold: int) -> np.ndarray:
    out = values.copy()
    for lag in range(1, min(hold, len(values))):
        out[lag:] = np.maximum(out[lag:], values[:-lag])
    return out


@pytest.mark.parametrize("hold", [1, 2, 3, 7, 8, 9, 15, 16, 40])
def test_trailing_max_equals_the_max_over_each_lag(hold: int) -> None:
    values = np.random.default_rng(hold).normal(size=(37, 3))
    for n in (0, 1, 5, 37):
        np.testing.assert_array_equal(
            trailing_max(values[:n], hold), _plain_trailing_max(values[:n], hold)
        )
