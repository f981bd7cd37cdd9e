"""PCA T² and discrete states beside the model: against eigenvectors and loops, and in the
detector's offline, chunked, streamed and saved scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cnnlstm.anomaly.combine import HOLD
from cnnlstm.anomaly.detector import AnomalyDetector
from cnnlstm.anomaly.discrete import DiscreteStates
from cnnlstm.anomaly.held_shift import FAST
from cnnlstm.anomaly.row_checks import DISCRETE_SCORE, RowChecks, moving_means

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _machine(rows: int, seed: int) -> np.ndarray:
    """A pick-and-place cycle of 6 steps, 4-7 rows each: 3 PLC flags and 3 motor currents."""
    rng = np.random.default_rng(seed)
    steps = []
    while len(steps) < rows:
        for step in range(6):
            steps += [step] * int(rng.integers(4, 8))
    step = np.array(steps[:rows])
    down = np.isin(step, (1, 4)).astype(float)
    closed = np.isin(step, (2, 3, 4)).astype(float)
    vacuum = np.isin(step, (2, 3)).astype(float)
    x = 1.0 + 0.5 * np.isin(step, (3,)) + rng.normal(0, 0.05, rows)
    z = 0.8 * down + rng.normal(0, 0.05, rows)
    pump = 0.6 * vacuum + rng.normal(0, 0.05, rows)
    return np.stack([down, closed, vacuum, x, z, pump], axis=1)


def _t2(
    train: np.ndarray, rows: np.ndarray, tau: int | None = None, variance: float = 0.95
) -> np.ndarray:
    """T² the textbook way (covariance eigenvectors), of each standardised row minus the moving
    mean of the rows before it (a loop: m += (z - m) / tau from 0), or as it is (tau None)."""
    mean, sd = train.mean(axis=0), train.std(axis=0)
    sd[sd == 0] = 1.0
    z = (train - mean) / sd
    values, vectors = np.linalg.eigh(z.T @ z / len(z))
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    keep = int(np.searchsorted(np.cumsum(values) / values.sum(), variance - 1e-12) + 1)
    out = np.empty(len(rows))
    moving = np.zeros(rows.shape[1])
    for i, row in enumerate((rows - mean) / sd):
        d = row - moving if tau is not None else row
        out[i] = sum((d @ vectors[:, k]) ** 2 / values[k] for k in range(keep))
        if tau is not None:
            moving = moving + (row - moving) / tau
    return out


def test_parts_against_eigenvectors_and_the_states() -> None:
    train, test = _machine(600, 0), _machine(200, 1)
    test[40, 2] = 1.0 - test[40, 2]  # the vacuum flips on its own
    test[90, 4] += 3.0  # a motor jumps
    checks = RowChecks().fit(train, calibrate=450)
    assert checks.discrete_columns.tolist() == [0, 1, 2]
    t2_train, t2 = _t2(train, train, 50), _t2(train, test, 50)  # test: a stream of its own
    threshold = 3.0 * np.quantile(t2_train[450:], 0.99)
    assert checks.pca_threshold_ == pytest.approx(threshold, rel=1e-9)
    state = checks.start()
    state.previous = train[-1]
    parts = checks.parts(test, state)
    blame = DiscreteStates().fit(train).unseen(test, previous=train[-1])
    for i in range(len(test)):  # the largest part of a row: T², or an unseen state's
        want = max(t2[i] / threshold, DISCRETE_SCORE if blame[i].any() else 0.0)
        assert parts[i].max() == pytest.approx(want, rel=1e-9)
    again = checks.start()
    again.previous = train[-1]
    np.testing.assert_allclose(checks.scores(test, again), parts.max(axis=1), rtol=1e-12)
    np.testing.assert_allclose(again.mean, state.mean, rtol=1e-12)
    assert parts[40, 2] == DISCRETE_SCORE
    assert parts[90].argmax() == 4 and parts[90, 4] > 1.0  # T² names the motor that jumped


def test_pca_sensor_terms_sum_to_t2_and_match_a_loop() -> None:
    train, test = _machine(500, 2), _machine(50, 3)
    checks = RowChecks(discrete=False, pca_tau=None).fit(train)
    assert checks.pca_ is not None
    terms = checks.pca_.sensor_terms(test)
    np.testing.assert_allclose(terms.sum(axis=1), _t2(train, test), rtol=1e-9)
    pca = checks.pca_
    assert pca.components_ is not None and pca.eigenvalues_ is not None
    assert pca.scaler.mean is not None and pca.scaler.std is not None
    z = (test - pca.scaler.mean) / pca.scaler.std
    for i in range(5):
        for s in range(test.shape[1]):
            loop = sum(
                z[i, s] * pca.components_[k, s] * (z[i] @ pca.components_[k]) / pca.eigenvalues_[k]
                for k in range(len(pca.eigenvalues_))
            )
            assert terms[i, s] == pytest.approx(loop, rel=1e-9, abs=1e-12)


@pytest.fixture(scope="module")
def machine_detector() -> AnomalyDetector:
    return AnomalyDetector(window=16, epochs=3, batch_size=32).fit(_machine(800, 0))


def test_the_detector_judges_flags_by_their_states(machine_detector: AnomalyDetector) -> None:
    detector = machine_detector
    assert detector.discrete_columns.tolist() == [0, 1, 2]
    assert (
        np.isinf(detector.error_scale_[:3]).all() and np.isfinite(detector.error_scale_[3:]).all()
    )
    assert detector.level_ is not None and not detector.level_.active_[:3].any()
    test = _machine(300, 5)
    test[150, 2] = 1.0 if test[150, 2] == 0 else 0.0  # the vacuum alone
    scores = detector.score(test)
    assert scores[150] >= DISCRETE_SCORE
    plain = AnomalyDetector(window=16, epochs=3, batch_size=32, discrete=False, pca_factor=None)
    plain.fit(_machine(800, 0))
    assert plain.score(test)[150] < scores[150]


def test_offline_chunks_stream_and_saved_agree(
    machine_detector: AnomalyDetector, tmp_path: Path
) -> None:
    detector = machine_detector
    test = _machine(240, 6)
    test[100, 0] = 3.0  # a value no flag took
    test[180:183, 3] += 2.0
    offline, parts = detector.score_detail(test)
    np.testing.assert_array_equal(offline, detector.score(test))
    np.testing.assert_allclose(parts.max(axis=1), offline, rtol=1e-12)
    scorer = detector.chunks()
    pieces = [scorer.update(test[i : i + 37]) for i in range(0, len(test), 37)]
    np.testing.assert_allclose(np.concatenate([p[0] for p in pieces]), offline, atol=1e-5)
    np.testing.assert_allclose(np.concatenate([p[1] for p in pieces]), parts, atol=1e-5)
    stream = detector.stream()
    streamed = np.array([stream.update(row)[0] for row in test])
    np.testing.assert_allclose(streamed, offline, atol=1e-5)
    assert offline[100] >= DISCRETE_SCORE and offline[181] > 1.0
    detector.save(tmp_path / "d.pt")
    again = AnomalyDetector.load(tmp_path / "d.pt")
    np.testing.assert_array_equal(again.score(test), offline)
    assert again.discrete_columns.tolist() == [0, 1, 2] and again.error_weight == 1.0


def test_a_file_saved_before_the_row_checks_scores_as_it_did(
    machine_detector: AnomalyDetector, tmp_path: Path
) -> None:
    """A detector saved before: no checks, the error at weight 0.5; its scores are those of a
    detector fitted that way now."""
    old = AnomalyDetector(
        window=16, epochs=3, batch_size=32, discrete=False, pca_factor=None, error_weight=0.5
    ).fit(_machine(800, 0))
    old.save(tmp_path / "old.pt")
    state = torch.load(tmp_path / "old.pt", weights_only=True)
    for key in ("error_weight", "pca_factor", "discrete"):
        del state["config"][key]
    del state["checks_"]
    torch.save(state, tmp_path / "old.pt")
    loaded = AnomalyDetector.load(tmp_path / "old.pt")
    assert loaded.checks_ is None and loaded.error_weight == 0.5
    test = _machine(200, 7)
    np.testing.assert_array_equal(loaded.score(test), old.score(test))
    with pytest.raises(ValueError, match="pca_factor has to be positive or None"):
        AnomalyDetector(pca_factor=0.0)
    with pytest.raises(ValueError, match="error_weight has to be positive"):
        AnomalyDetector(error_weight=-1.0)


def _scores_row_by_row_and_in_chunks(checks: RowChecks, test: np.ndarray) -> np.ndarray:
    """``checks.scores(test)``, after checking that row-by-row :meth:`RowChecks.score_row` and
    chunks of 23 rows give the same."""
    batch = checks.scores(test)
    state = checks.start()
    for i, row in enumerate(test):
        assert checks.score_row(row, state) == pytest.approx(batch[i], rel=1e-9, abs=1e-12)
    chunked = checks.start()
    pieces = [checks.scores(test[i : i + 23], chunked) for i in range(0, len(test), 23)]
    np.testing.assert_allclose(np.concatenate(pieces), batch, rtol=1e-9)
    return batch


def test_score_row_is_scores_one_row_at_a_time() -> None:
    train, test = _machine(600, 0), _machine(300, 8)
    test[30, 1] = 1.0 - test[30, 1]  # a flag alone: an unseen state
    test[31:33, 0] = 3.0  # a value no flag took, twice: the second row's change is not judged
    test[200, 5] += 2.0
    checks = RowChecks().fit(train, calibrate=450)
    batch = _scores_row_by_row_and_in_chunks(checks, test)
    assert batch[30] == batch[31] == batch[32] == DISCRETE_SCORE
    plain = RowChecks(pca_factor=None, discrete=False).fit(train)
    assert plain.score_row(test[0], plain.start()) == 0.0


@pytest.mark.parametrize("tau", [1, 7, 50, 1000])
def test_moving_means_against_a_loop(tau: int) -> None:
    rng = np.random.default_rng(tau)
    rows = rng.normal(size=(300, 3)) + np.linspace(0, 5, 300)[:, None]  # drifts across blocks
    start = np.array([1.0, -2.0, 0.5])
    before, after = moving_means(rows, tau, start)
    mean = start.copy()
    for t, row in enumerate(rows):
        np.testing.assert_allclose(before[t], mean, rtol=1e-10, atol=1e-12)
        mean = mean + (row - mean) / tau
    np.testing.assert_allclose(after, mean, rtol=1e-10, atol=1e-12)
    empty_before, empty_after = moving_means(rows[:0], tau, start)
    assert empty_before.shape == (0, 3) and np.array_equal(empty_after, start)


def _bounded_loop(
    rows: np.ndarray, tau: int, start: np.ndarray, project: np.ndarray, limit: float
) -> tuple[list[list[float]], list[float]]:
    """The bounded moving mean by scalar loops: a step whose T² is over ``limit`` is scaled by
    ``sqrt(limit / T²)`` before it moves the mean."""
    mean = start.tolist()
    befores = []
    for row in rows.tolist():
        befores.append(list(mean))
        step = [x - m for x, m in zip(row, mean, strict=True)]
        images = [sum(step[s] * project[s, k] for s in range(len(step))) for k in range(2)]
        t2 = sum(v * v for v in images)
        shrink = 1.0 if t2 <= limit else (limit / t2) ** 0.5
        mean = [m + d * shrink / tau for m, d in zip(mean, step, strict=True)]
    return befores, mean


@pytest.mark.parametrize("tau", [1, 7, 50])
def test_bounded_moving_means_against_a_loop(tau: int) -> None:
    rng = np.random.default_rng(10 + tau)
    rows = rng.normal(size=(400, 3)) + np.linspace(0, 5, 400)[:, None]
    rows[[5, 63, 64, 65, 200]] += np.array([1e4, -50.0, 30.0])  # glitches, across a block edge
    rows[300:340, 1] += 8.0  # a held change: a run of shrunk steps
    project = rng.normal(size=(3, 2))
    start = np.array([1.0, -2.0, 0.5])
    limit = 25.0
    before, after = moving_means(rows, tau, start, project=project, limit=limit)
    befores, mean = _bounded_loop(rows, tau, start, project, limit)
    np.testing.assert_allclose(before, np.array(befores), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(after, np.array(mean), rtol=1e-9, atol=1e-9)
    steps = rows - before
    shrunk = ((steps @ project) ** 2).sum(axis=1) > limit
    assert 10 < shrunk.sum() < 200  # the bound acts on some rows, not on most
    plain, _ = moving_means(rows, tau, start)
    assert np.abs(plain - before).max() > 10  # and it changes the means
    # with no row over the limit, the bounded mean is the plain one
    calm = rng.normal(size=(100, 3))
    np.testing.assert_allclose(
        moving_means(calm, tau, start, project=project, limit=1e12)[0],
        moving_means(calm, tau, start)[0],
        rtol=1e-12,
        atol=1e-12,
    )


def test_bounded_t2_streams_chunks_and_saves_as_it_scores() -> None:
    train, test = _machine(600, 0), _machine(300, 8)
    test[50, 3] += 1e4  # a glitch
    test[150:190, 4] += 1.0  # a held change
    checks = RowChecks(pca_bound=1.0).fit(train, calibrate=450)
    batch = _scores_row_by_row_and_in_chunks(checks, test)
    again = RowChecks.from_state_dict(checks.state_dict())
    assert again.pca_bound == 1.0
    np.testing.assert_array_equal(again.scores(test), batch)
    # the alarm level is the plain moving mean's: the bound changes only later rows' scores
    plain = RowChecks(pca_bound=None).fit(train, calibrate=450)
    assert plain.pca_threshold_ == checks.pca_threshold_
    np.testing.assert_array_equal(plain.scores(test)[:51], batch[:51])
    assert (plain.scores(test)[51:] > 1).sum() > (batch[51:] > 1).sum() + 20
    with pytest.raises(ValueError, match="pca_bound has to be positive or None"):
        RowChecks(pca_bound=0.0)


def test_a_glitch_in_a_real_file_flags_a_few_rows() -> None:
    """SKAB valve1/1.csv fitted on its first 400 rows: a reading 10,000 training sds off, in
    one judged row of each sensor in turn, adds to the default detector's flags only the rows
    whose level part's trailing mean holds it, and the level alarm's hold after them (T²
    against an unbounded moving mean alone added over 100)."""
    frame = pd.read_csv(DATA / "skab" / "valve1" / "1.csv", sep=";", index_col="datetime")
    x = frame.drop(columns=["anomaly", "changepoint"]).to_numpy(np.float64)
    train, test = x[:400], x[400:]
    detector = AnomalyDetector().fit(train)
    assert detector.pca_bound is not None and detector.checks_ is not None
    flags = detector.predict(test)
    unbounded = RowChecks(pca_bound=None).fit(train, calibrate=300)
    unbounded.pca_threshold_ = detector.checks_.pca_threshold_  # the same T², no bound
    plain_t2 = unbounded.scores(test) > 1
    sd = train.std(axis=0)
    for sensor in range(x.shape[1]):
        moved = test.copy()
        moved[100, sensor] += 1e4 * sd[sensor]
        added = detector.predict(moved) & ~flags
        assert added[100], sensor
        assert not added[100 + FAST + HOLD - 1 :].any(), (sensor, np.flatnonzero(added))
        assert ((unbounded.scores(moved) > 1) & ~plain_t2).sum() > 100  # what the bound stops


def test_a_file_saved_before_the_bound_loads_without_it(
    machine_detector: AnomalyDetector, tmp_path: Path
) -> None:
    """A detector saved before ``pca_bound`` existed scores as it did then: T²'s moving mean
    unbounded, so a glitch drags it and the rows after the glitch score higher."""
    assert machine_detector.pca_bound == 2.0
    machine_detector.save(tmp_path / "d.pt")
    state = torch.load(tmp_path / "d.pt", weights_only=True)
    del state["config"]["pca_bound"]
    del state["checks_"]["pca_bound"]
    torch.save(state, tmp_path / "old.pt")
    old = AnomalyDetector.load(tmp_path / "old.pt")
    assert old.pca_bound is None and old.checks_ is not None and old.checks_.pca_bound is None
    test = _machine(300, 9)
    test[150, 4] += 1e4  # a glitch in a motor current
    bounded, unbounded = machine_detector.score(test), old.score(test)
    np.testing.assert_array_equal(unbounded[:151], bounded[:151])
    assert (unbounded[151:] > 1).sum() > (bounded[151:] > 1).sum() + 20
