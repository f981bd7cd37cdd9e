"""ChunkScorer scores a stream cut into chunks as score_detail scores it whole; the fit budget."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlstm.anomaly.detector import AnomalyDetector


@pytest.fixture(scope="module")
def rows() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    train = rng.normal(size=(300, 6)).cumsum(axis=0) * 0.1 + rng.normal(size=(300, 6))
    test = rng.normal(size=(260, 6))
    test[120:180, 2] += 6.0  # a held shift
    test[200, 4] += 9.0  # a spike
    return train, test


@pytest.mark.parametrize("model", ["window_cnnlstm", "mscred", "convlstm_ae"])
@pytest.mark.parametrize("scoring", ["level", "error"])
def test_chunks_score_as_the_whole_stream(
    rows: tuple[np.ndarray, np.ndarray], model: str, scoring: str
) -> None:
    train, test = rows
    window = 16 if model == "window_cnnlstm" else 32
    detector = AnomalyDetector(model=model, window=window, epochs=1, scoring=scoring)
    detector.fit(train)
    whole, whole_parts = detector.score_detail(test)
    for size in (1, 5, window - 1, window + 3, 97, len(test)):  # shorter than the window too
        scorer = detector.chunks()
        pieces = [scorer.update(test[i : i + size]) for i in range(0, len(test), size)]
        scores = np.concatenate([p[0] for p in pieces])
        parts = np.concatenate([p[1] for p in pieces])
        np.testing.assert_allclose(scores, whole, rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(parts, whole_parts, rtol=2e-5, atol=1e-6)
        assert scorer.rows_seen == len(test)


def test_an_empty_chunk_changes_nothing(rows: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = rows
    detector = AnomalyDetector(window=16, epochs=1).fit(train)
    scorer = detector.chunks()
    first = scorer.update(test[:50])[0]
    empty = scorer.update(test[:0])
    assert empty[0].shape == (0,) and empty[1].shape == (0, 6)
    rest = scorer.update(test[50:])[0]
    np.testing.assert_allclose(np.concatenate([first, rest]), detector.score(test), atol=1e-6)


def test_a_small_training_set_trains_as_without_a_budget(
    rows: tuple[np.ndarray, np.ndarray],
) -> None:
    train, test = rows
    budget = AnomalyDetector(window=16, epochs=3).fit(train)
    free = AnomalyDetector(window=16, epochs=3, steps=None).fit(train)
    assert budget.steps_ == free.steps_ == 3 * 4  # 3 epochs of 4 batches: within the budget
    assert np.array_equal(budget.score(test), free.score(test))
    assert budget.holdout_loss_ == []


def test_a_large_training_set_stops_at_the_budget(rows: tuple[np.ndarray, np.ndarray]) -> None:
    train, _ = rows
    detector = AnomalyDetector(window=16, epochs=50, steps=30).fit(train)
    assert detector.steps_ <= 30
    assert 1 <= len(detector.holdout_loss_) <= 10  # measured on the held-out rows
    assert len(detector.train_loss_) <= 50


def test_the_fit_stops_when_the_held_out_loss_stalls(rows: tuple[np.ndarray, np.ndarray]) -> None:
    train, _ = rows
    detector = AnomalyDetector(window=16, epochs=400, steps=1000, lr=1e-9).fit(train)
    # with a learning rate that moves nothing the loss never improves: 4 measurements
    assert detector.steps_ == 4 * 100
    assert len(detector.holdout_loss_) == 4


@pytest.mark.parametrize("steps", [0, -1, 1.5, True])
def test_bad_budgets_fail(steps: object) -> None:
    with pytest.raises(ValueError, match="steps has to be a positive int or None"):
        AnomalyDetector(steps=steps)  # type: ignore[arg-type]


def test_the_budget_is_saved(rows: tuple[np.ndarray, np.ndarray], tmp_path: object) -> None:
    from pathlib import Path

    train, _ = rows
    detector = AnomalyDetector(window=16, epochs=1, steps=7).fit(train)
    path = Path(str(tmp_path)) / "d.pt"
    detector.save(path)
    assert AnomalyDetector.load(path).steps == 7
