"""The classic baselines against computations written here: covariance eigenvectors and loops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cnnlstm.anomaly.baselines import BASELINES, PCABaseline, ZScoreBaseline
from cnnlstm.errors import DataError

SMD = Path(__file__).resolve().parents[3] / "shared" / "data" / "smd"


def _reference_t2(train: np.ndarray, rows: np.ndarray, variance: float) -> np.ndarray:
    """Hotelling T² the textbook way: eigenvectors of the covariance, one row at a time."""
    mean = train.mean(axis=0)
    sd = train.std(axis=0)
    sd[sd == 0] = 1.0
    z_train = (train - mean) / sd
    cov = z_train.T @ z_train / len(z_train)  # population covariance of the standardised rows
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    total, keep, running = values.sum(), 0, 0.0
    while running / total < variance - 1e-12:
        running += values[keep]
        keep += 1
    keep = max(keep, 1)
    scores = np.empty(len(rows))
    for i, row in enumerate(rows):
        z = (row - mean) / sd
        scores[i] = sum((z @ vectors[:, k]) ** 2 / values[k] for k in range(keep))
    return scores


def _correlated(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(3, 6))
    return rng.normal(size=(n, 3)) @ mix + 0.05 * rng.normal(size=(n, 6)) + np.arange(6)


@pytest.mark.parametrize("variance", [0.5, 0.9, 0.95, 0.999])
def test_pca_t2_matches_the_covariance_eigenvectors(variance):
    train, test = _correlated(800, 0), _correlated(50, 1)
    test[7] += 4.0  # an outlier row
    pca = PCABaseline(variance=variance).fit(train)
    expected = _reference_t2(train, test, variance)
    np.testing.assert_allclose(pca.score(test), expected, rtol=1e-8)
    assert pca.components_ is not None and pca.components_.shape[1] == 6
    # the threshold is the training rows' quantile of the scores computed here
    assert pca.threshold_ == pytest.approx(
        float(np.quantile(_reference_t2(train, train, variance), 0.99)), rel=1e-8
    )


def test_pca_on_real_server_telemetry_with_constant_metrics():
    """SMD's metrics are min-max scaled by their publishers and several never move in training."""
    train = pd.read_csv(SMD / "machine-1-7_train.csv").drop(columns="datetime").to_numpy()
    test = pd.read_csv(SMD / "machine-1-7_test.csv")
    labels = test.pop("anomaly").to_numpy()
    rows = test.drop(columns="datetime").to_numpy()
    assert (train.std(axis=0) == 0).any()  # the case this test is about
    pca = PCABaseline().fit(train)
    scores = pca.score(rows[:300])
    np.testing.assert_allclose(scores, _reference_t2(train, rows[:300], 0.95), rtol=1e-6)
    flags = pca.predict(rows)
    # it finds something and is not an alarm on every row
    assert flags[labels == 1].mean() > 0 and flags[labels == 0].mean() < 0.5


def test_zscore_is_the_largest_standardised_deviation_row_by_row():
    train, test = _correlated(400, 2), _correlated(30, 3)
    test[4, 2] -= 10.0
    z = ZScoreBaseline(quantile=0.9).fit(train)
    mean, sd = train.mean(axis=0), train.std(axis=0)
    expected = [max(abs(row[s] - mean[s]) / sd[s] for s in range(6)) for row in test]
    np.testing.assert_allclose(z.score(test), expected, rtol=1e-12)
    train_scores = [max(abs(row[s] - mean[s]) / sd[s] for s in range(6)) for row in train]
    assert z.threshold_ == pytest.approx(float(np.quantile(train_scores, 0.9)), rel=1e-12)
    assert z.predict(test)[4] == 1


def test_scores_use_no_other_row():
    train, test = _correlated(300, 4), _correlated(40, 5)
    for detector in (PCABaseline().fit(train), ZScoreBaseline().fit(train)):
        whole = detector.score(test)
        parts = np.concatenate([detector.score(test[:13]), detector.score(test[13:])])
        np.testing.assert_allclose(parts, whole, rtol=1e-12)


@pytest.mark.parametrize("cls", [PCABaseline, ZScoreBaseline])
def test_bad_input_says_what_to_change(cls):
    detector = cls()
    with pytest.raises(ValueError, match="has to be fitted first"):
        detector.score(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\(N, S\) rows, but got shape \(5,\)"):
        detector.fit(np.zeros(5))
    rows = _correlated(50, 6)
    rows[7, 2] = np.nan
    with pytest.raises(DataError, match="row 7, sensor 2 is nan"):
        detector.fit(rows)
    detector.fit(_correlated(50, 7))
    with pytest.raises(ValueError, match=r"has to have 6 sensors .* but got 4"):
        detector.score(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"quantile has to be in \(0, 1\), but got 1.5"):
        cls(quantile=1.5)


def test_baselines_are_named_as_a_model_option_names_them():
    assert list(BASELINES) == ["pca", "zscore"]
    for name, cls in BASELINES.items():
        made = cls()
        assert made.name == name and made.threshold_ is None
