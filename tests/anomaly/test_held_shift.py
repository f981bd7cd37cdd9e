"""Held-shift scores: against slow loops written here, streaming, and the detector option."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cnnlstm.anomaly.combine import trailing_max
from cnnlstm.anomaly.detector import AnomalyDetector
from cnnlstm.anomaly.held_shift import FAST, HeldShift
from cnnlstm.data.sensor_plant import SensorPlant

SETTINGS = {"fast": 5, "tau": 20.0, "freeze": 3.0, "max_freeze": 30, "persistence": 0.5}


def slow_held_shift(
    train: np.ndarray,
    rows: np.ndarray,
    *,
    fast: int,
    tau: float,
    freeze: float,
    max_freeze: int,
    persistence: float,
    release: float = 1.0,
    ridge: float = 1.0,
    warmup: int = 100,
    floor: float = 0.0,
) -> tuple[np.ndarray, list[bool], int]:
    """The module docstring's recipe, one sensor and one row at a time.

    Returns the (N, S) scaled absolute deviations, the gate, and how often a baseline was
    released after ``max_freeze`` frozen rows (so a test can check that path ran)."""
    n_sensors = train.shape[1]
    mean = train.mean(axis=0)
    train_residual = np.zeros_like(train)
    residual = np.zeros_like(rows)
    for s in range(n_sensors):
        others = [o for o in range(n_sensors) if o != s]
        x = train[:, others] - mean[others]
        y = train[:, s] - mean[s]
        # ridge as an augmented least-squares problem: [X; sqrt(ridge) I] w = [y; 0]
        a = np.vstack([x, math.sqrt(ridge) * np.eye(len(others))])
        b = np.concatenate([y, np.zeros(len(others))])
        w = np.linalg.lstsq(a, b, rcond=None)[0]
        train_residual[:, s] = y - x @ w
        residual[:, s] = (rows[:, s] - mean[s]) - (rows[:, others] - mean[others]) @ w
    sds = []
    for s in range(n_sensors):
        sd = math.sqrt(sum(v * v for v in train_residual[:, s]) / len(train))  # mean 0
        train_residual[:, s] /= sd
        residual[:, s] /= sd
        sds.append(sd)
    active = []
    for s in range(n_sensors):
        r = train_residual[:, s] - train_residual[:, s].mean()
        top = sum(r[t] * r[t - 1] for t in range(1, len(r)))
        active.append(top / sum(v * v for v in r) < persistence)
    releases = 0

    def run(series: np.ndarray, scale: float, use_freeze: bool) -> list[float]:
        nonlocal releases
        out, base, frozen, released = [], 0.0, 0, False
        for t in range(len(series)):
            if t + 1 < fast:
                out.append(0.0)
                base += (series[t] - base) / tau
                continue
            dev = sum(series[t - fast + 1 : t + 1]) / fast - base
            out.append(dev)
            follow = True
            # frozen above `freeze` units, and while frozen above `release * freeze`
            level = release * freeze if frozen else freeze
            if use_freeze and abs(dev) / scale > level:
                frozen += 1
                if frozen > max_freeze and not released:
                    releases += 1
                    released = True  # follows until the alarm ends
                follow = released
            elif use_freeze:
                frozen, released = 0, False
            if follow:
                base += (series[t] - base) / tau
        return out

    result = np.zeros_like(rows)
    for s in range(n_sensors):
        free = run(train_residual[:, s], 1.0, False)[min(warmup, len(train) // 2) :]
        # the unit: at least 1e-3 residual sds, and at least `floor` in the rows' own units
        scale = max(math.sqrt(sum(d * d for d in free) / len(free)), 1e-3, floor / sds[s])
        if active[s]:
            result[:, s] = [abs(d) / scale for d in run(residual[:, s], scale, True)]
    return result, active, releases


@pytest.fixture(scope="module")
def sensors() -> tuple[np.ndarray, np.ndarray]:
    """Train (300, 4) and test (200, 4): three noisy sensors sharing a load, one random walk;
    in the test rows sensor 0 shifts by 4 sd and holds it longer than ``max_freeze``."""
    rng = np.random.default_rng(7)
    n = 500
    load = np.sin(np.arange(n) / 15.0)
    rows = np.stack(
        [
            load + 0.5 * rng.normal(size=n),
            -load + 0.5 * rng.normal(size=n),
            0.5 * load + 0.5 * rng.normal(size=n),
            np.cumsum(rng.normal(size=n)),
        ],
        axis=1,
    )
    rows[380:460, 0] -= 4.0
    return rows[:300], rows[300:]


@pytest.mark.parametrize("release", [1.0, 0.5, 0.25])
def test_deviations_match_a_slow_loop(
    sensors: tuple[np.ndarray, np.ndarray], release: float
) -> None:
    train, test = sensors
    held = HeldShift(**SETTINGS, release=release).fit(train)  # type: ignore[arg-type]
    expected, active, releases = slow_held_shift(
        train,
        test,
        **SETTINGS,  # type: ignore[arg-type]
        release=release,
    )
    if release < 1:  # the hysteresis changes the deviations of these rows
        without, _, _ = slow_held_shift(train, test, **SETTINGS)  # type: ignore[arg-type]
        assert np.abs(expected - without).max() > 0.5
    state = held.start()
    streamed = [held.update(state, row) for row in test]
    np.testing.assert_allclose(streamed, expected.max(axis=1), rtol=1e-9, atol=1e-9)
    assert active == [True, True, True, False]  # the random walk is left out
    assert releases > 0  # the held shift outlasted max_freeze: the release path ran
    np.testing.assert_allclose(held.deviations(test), expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(held.score(test), expected.max(axis=1), rtol=1e-9, atol=1e-9)
    assert held.active_.tolist() == active


def test_the_floor_on_the_unit_matches_the_slow_loop(
    sensors: tuple[np.ndarray, np.ndarray],
) -> None:
    """A floor above some sensors' units (0.25 of the rows' units: sensor 2's unit is 0.22,
    sensors 0 and 1 are 0.28) raises those and leaves the others; the deviations follow the
    slow loop."""
    train, test = sensors
    plain = HeldShift(**SETTINGS, floor=0.0).fit(train)  # type: ignore[arg-type]
    held = HeldShift(**SETTINGS, floor=0.25).fit(train)  # type: ignore[arg-type]
    expected, _, _ = slow_held_shift(train, test, **SETTINGS, floor=0.25)  # type: ignore[arg-type]
    np.testing.assert_allclose(held.deviations(test), expected, rtol=1e-9, atol=1e-9)
    units = held.deviation_scale_ * held.residual_scale_  # in the rows' units
    plain_units = plain.deviation_scale_ * plain.residual_scale_
    raised = plain_units < 0.25
    assert raised.tolist() == [False, False, True, False]  # the floor binds on sensor 2 only
    np.testing.assert_allclose(units[raised], 0.25, rtol=1e-12)
    np.testing.assert_array_equal(units[~raised], plain_units[~raised])
    again = HeldShift.from_state_dict(held.state_dict())
    assert again.floor == 0.25
    np.testing.assert_array_equal(again.score(test), held.score(test))
    state = held.state_dict()
    del state["floor"]  # a file written before the setting: its units are kept as fitted
    np.testing.assert_array_equal(HeldShift.from_state_dict(state).score(test), held.score(test))


def test_the_floor_ignores_a_tiny_break_of_a_tight_relation() -> None:
    """Two metrics whose sum is nearly constant (its sd 1 % of theirs), as server telemetry
    has: a 0.05 sd break of the relation is 5 of its units, and alarms without the floor; with
    the default floor (0.1 sd) it does not, and a 1 sd shift still alarms as far."""
    rng = np.random.default_rng(3)
    n = 1400
    a = rng.normal(size=n).cumsum() * 0.05 + rng.normal(size=n)
    rows = np.stack([a, -a + 0.01 * rng.normal(size=n), rng.normal(size=n)], axis=1)
    mean, sd = rows[:800].mean(axis=0), rows[:800].std(axis=0)
    rows[1000:1100, 0] += 0.05 * sd[0]  # a tiny break of the relation
    rows[1200:1300, 0] += 1.0 * sd[0]  # a real shift of one metric
    z = (rows - mean) / sd
    plain = HeldShift(floor=0.0).fit(z[:800])
    floored = HeldShift().fit(z[:800])
    assert floored.floor == 0.1
    level = {}
    for name, held in (("plain", plain), ("floored", floored)):
        scores = held.score(z)
        alarm = 2.0 * float(np.quantile(scores[400:800], 0.99))  # the detector's level factor
        level[name] = scores / alarm
    assert level["plain"][1010:1100].mean() > 1.0  # the break alarms without the floor
    assert level["floored"][1010:1100].max() < 1.0  # not with it
    assert level["floored"][1210:1300].min() > 1.0  # a shift of 1 sd still does


def test_stream_equals_offline(sensors: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = sensors
    held = HeldShift(**SETTINGS).fit(train)  # type: ignore[arg-type]
    state = held.start()
    streamed = [held.update(state, row) for row in test]
    np.testing.assert_allclose(streamed, held.score(test), rtol=1e-12, atol=1e-12)


def test_a_huge_residual_leaves_nothing_behind(sensors: tuple[np.ndarray, np.ndarray]) -> None:
    """The trailing mean is made again from the kept residuals every row, not kept running:
    a huge value that enters and leaves it leaves no residue in later deviations."""
    train, test = sensors
    test = test.copy()
    test[40, 0] += 1e12  # in the trailing mean of rows 40-44 (fast = 5)
    held = HeldShift(**SETTINGS).fit(train)  # type: ignore[arg-type]
    expected, _, _ = slow_held_shift(train, test, **SETTINGS)  # type: ignore[arg-type]
    assert expected[40:45, 0].min() > 1e9 and expected[45:, :3].max() < 100
    np.testing.assert_allclose(held.deviations(test), expected, rtol=1e-9, atol=1e-9)
    state = held.start()
    streamed = [held.update(state, row) for row in test]
    np.testing.assert_allclose(streamed, expected.max(axis=1), rtol=1e-9, atol=1e-9)


def test_a_held_shift_stays_visible_and_a_false_alarm_is_released() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=(400, 3))
    test = rng.normal(size=(700, 3))
    test[200:, 1] += 3.0  # held from row 200 to the end
    # a 10-row mean: its noise stays under the freeze level while the 3 sd shift is held (a
    # 5-row mean, the default, dips under it now and then, and the baseline creeps to the shift)
    frozen = HeldShift(fast=10, tau=50.0, max_freeze=300).fit(train)
    following = HeldShift(fast=10, tau=50.0, freeze=1e9).fit(train)  # never frozen
    held, free = frozen.score(test), following.score(test)
    quiet = held[20:200].max()
    assert held[220:500].min() > 2 * quiet  # visible while held, up to max_freeze
    assert free[400:500].max() < held[400:500].min() / 2  # an unfrozen baseline absorbs it
    assert held[650:].max() < held[220:500].min() / 2  # after max_freeze it follows again


def test_a_noisy_mean_keeps_a_held_shift_with_hysteresis() -> None:
    """A 5-row mean dips under the freeze level now and then while a 3 sd shift is held: without
    hysteresis the baseline follows on those rows and creeps to the shift; with ``release``
    0.5 it stays frozen, and the shift stays visible until ``max_freeze``."""
    rng = np.random.default_rng(0)
    train = rng.normal(size=(400, 3))
    test = rng.normal(size=(700, 3))
    test[200:, 1] += 3.0
    plain = HeldShift(fast=5, tau=50.0, max_freeze=300).fit(train)
    kept = HeldShift(fast=5, tau=50.0, max_freeze=300, release=0.5).fit(train)
    before, after = plain.score(test), kept.score(test)
    quiet = max(before[20:200].max(), after[20:200].max())
    held = [(start, start + 70) for start in range(220, 500, 70)]  # four stretches of the shift
    crept = [float(np.median(before[a:b])) for a, b in held]
    kept_up = [float(np.median(after[a:b])) for a, b in held]
    assert crept[-1] < crept[0] / 2 and before[220:500].min() < quiet  # absorbed on the way
    assert min(kept_up) > 0.9 * max(kept_up) and after[220:500].min() > quiet  # visible
    assert np.median(after[650:]) < min(kept_up) / 3  # after max_freeze it follows again


def test_a_held_shift_saved_before_the_hysteresis_loads_without_it() -> None:
    held = HeldShift(release=0.5).fit(np.random.default_rng(0).normal(size=(300, 3)))
    state = held.state_dict()
    assert state["release"] == 0.5
    assert HeldShift.from_state_dict(state).release == 0.5
    del state["release"]  # a file written before the setting existed
    assert HeldShift.from_state_dict(state).release == 1.0


def test_state_dict_round_trip(sensors: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = sensors
    held = HeldShift(**SETTINGS).fit(train)  # type: ignore[arg-type]
    again = HeldShift.from_state_dict(held.state_dict())
    # A round trip restores the same arrays: scoring promises bitwise equality.
    np.testing.assert_array_equal(again.score(test), held.score(test))
    assert "active=3/4" in repr(again)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fast": 0}, "fast has to be a positive int"),
        ({"tau": 0.5}, "tau has to be at least 1"),
        ({"freeze": 0.0}, "freeze has to be positive"),
        ({"max_freeze": 0}, "max_freeze has to be a positive int"),
        ({"persistence": 2.0}, "persistence has to be in"),
        ({"ridge": -1.0}, "ridge has to be >= 0"),
        ({"warmup": -1}, "warmup has to be a non-negative int"),
        ({"floor": -0.1}, "floor has to be a finite number >= 0"),
    ],
)
def test_bad_settings_fail_when_built(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HeldShift(**kwargs)  # type: ignore[arg-type]


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="has to be fitted first"):
        HeldShift().score(np.zeros((5, 2)))
    held = HeldShift().fit(np.random.default_rng(0).normal(size=(50, 2)))
    with pytest.raises(ValueError, match="the 2 sensors it was fitted on, but got 3"):
        held.score(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"rows \(N, S\), but got an array of shape \(5,\)"):
        held.score(np.zeros(5))
    with pytest.raises(ValueError, match="hold has to be a positive int"):
        trailing_max(np.zeros(3), 0)


# --- the detector option -------------------------------------------------------------------


@pytest.fixture(scope="module")
def plant_rows() -> np.ndarray:
    generator = SensorPlant(seed=0)
    return np.asarray(generator.generate(1500)[generator.sensor_names].to_numpy())


@pytest.fixture(scope="module")
def level_detector(plant_rows: np.ndarray) -> AnomalyDetector:
    # the error and level parts alone: T² has tests of its own (tests/anomaly/test_row_checks.py)
    detector = AnomalyDetector(
        scoring="level", window=16, epochs=2, batch_size=32, seed=0, pca_factor=None
    )
    return detector.fit(plant_rows[:400])


def test_detector_level_scores_combine_error_and_level(
    level_detector: AnomalyDetector, plant_rows: np.ndarray
) -> None:
    detector = level_detector
    assert detector.threshold_ == 1.0 and detector.level_ is not None
    assert detector.level_threshold_ > 0 and detector.error_threshold_ > 0
    rows = plant_rows[:900]
    error_only = AnomalyDetector(window=16, epochs=2, batch_size=32, seed=0, scoring="error")
    error_only.fit(rows[:400])
    assert error_only.threshold_ == pytest.approx(detector.error_threshold_)  # same weights
    errors = error_only.score(rows)
    standard = (rows - rows[:400].mean(axis=0)) / rows[:400].std(axis=0)
    level = HeldShift().fit(standard[:400]).score(standard)
    level_threshold = 2.0 * np.quantile(level[300:400], 0.99)  # LEVEL_FACTOR x the quantile
    assert detector.level_threshold_ == pytest.approx(level_threshold)
    expected = [
        max(
            1.0 * errors[t] / error_only.threshold_,  # ERROR_WEIGHT
            max(level[max(0, t - 14) : t + 1]) / level_threshold,
        )
        for t in range(len(rows))
    ]
    np.testing.assert_allclose(detector.score(rows), expected, rtol=1e-6, atol=1e-9)
    assert (detector.train_scores_ >= 0).all() and len(detector.train_scores_) == 400


def test_detector_level_mean_sets_the_held_shift_mean(
    level_detector: AnomalyDetector, plant_rows: np.ndarray, tmp_path: Path
) -> None:
    """``level_mean`` is the held-shift score's trailing mean: the detector's level part is a
    ``HeldShift(fast=10)`` fitted on the standardised training rows, and saving keeps it."""
    rows = plant_rows[:900]
    ten = AnomalyDetector(
        scoring="level", window=16, epochs=2, batch_size=32, seed=0, pca_factor=None, level_mean=10
    ).fit(rows[:400])
    standard = (rows - rows[:400].mean(axis=0)) / rows[:400].std(axis=0)
    expected = HeldShift(fast=10).fit(standard[:400]).score(standard)
    np.testing.assert_allclose(ten.score(rows, part="level"), expected, rtol=1e-9, atol=1e-9)
    default = level_detector.score(rows, part="level")  # the 5-row mean, FAST
    assert level_detector.level_ is not None and level_detector.level_.fast == FAST == 5
    assert np.abs(default - expected).max() > 0.5
    ten.save(tmp_path / "ten.pt")
    again = AnomalyDetector.load(tmp_path / "ten.pt")
    assert again.level_mean == 10 and again.level_ is not None and again.level_.fast == 10
    np.testing.assert_allclose(again.score(rows), ten.score(rows), rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="level_mean has to be a positive int, but got 0"):
        AnomalyDetector(level_mean=0)


def test_detector_level_stream_equals_offline(
    level_detector: AnomalyDetector, plant_rows: np.ndarray
) -> None:
    rows = plant_rows[300:700]
    offline = level_detector.score(rows)
    scorer = level_detector.stream()
    streamed = [scorer.update(row) for row in rows]
    np.testing.assert_allclose([s for s, _ in streamed], offline, rtol=1e-5, atol=1e-5)
    assert level_detector.level_ is not None
    fast = level_detector.level_.fast
    assert offline[: fast - 1].max() == 0.0 < offline[fast - 1]  # the level from row fast - 1
    flags = np.array([f for _, f in streamed])
    assert (flags == (offline > 1.0)).mean() > 0.99  # equal up to ties at 1e-5


def test_detector_level_save_load(
    level_detector: AnomalyDetector, plant_rows: np.ndarray, tmp_path: Path
) -> None:
    path = tmp_path / "level.pt"
    level_detector.save(path)
    loaded = AnomalyDetector.load(path)
    assert loaded.scoring == "level" and loaded.level_ is not None
    assert loaded.level_threshold_ == level_detector.level_threshold_
    rows = plant_rows[400:700]
    np.testing.assert_allclose(loaded.score(rows), level_detector.score(rows), rtol=1e-6)


def test_detector_rejects_an_unknown_scoring() -> None:
    with pytest.raises(ValueError, match="scoring has to be 'error' or 'level', but got 'x'"):
        AnomalyDetector(scoring="x")  # type: ignore[arg-type]


@pytest.mark.parametrize("frozen", [True, False])
def test_held_shift_in_blocks_equals_one_row_at_a_time(frozen: bool) -> None:
    """The quiet rows are run a block at a time; the alarms (a held shift past max_freeze, a
    burst) one row at a time, as update() runs every row: the same deviations to rounding."""
    rng = np.random.default_rng(0)
    held = HeldShift(max_freeze=200).fit(rng.normal(size=(400, 6)))
    rows = rng.normal(size=(3000, 6))
    rows[500:900, 0] -= 4.0  # held for longer than max_freeze: the baseline is released
    rows[1500:1510, 3] += 9.0
    rows[2990:, 5] += 6.0  # to the last row
    state = held.start()
    residuals = rows @ state.project + state.offset
    one_by_one = np.array([held._step(state, r, frozen).copy() for r in residuals])
    state = held.start()
    blocks = np.concatenate(
        [held._run(state, rows[i : i + 250], frozen) for i in range(0, 3000, 250)]
    )
    np.testing.assert_allclose(blocks, one_by_one, rtol=1e-12, atol=1e-12)
    assert state.rows == 3000
    assert (one_by_one > state.limit).any(axis=1).sum() > 100  # alarming rows, one at a time


def test_a_long_stream_in_blocks_matches_the_slow_loop() -> None:
    """Thousands of rows: the quiet ones go through the block path (sliding sums, the baselines
    64 rows at a time), the alarms one by one; the docstring's recipe, one row at a time, agrees."""
    rng = np.random.default_rng(1)
    settings = {"fast": 10, "tau": 100.0, "freeze": 5.0, "max_freeze": 200, "persistence": 0.5}
    train = rng.normal(size=(400, 5))
    rows = rng.normal(size=(3000, 5))
    rows[500:900, 0] -= 4.0  # held past max_freeze: the baseline is released
    rows[1500:1510, 3] += 9.0  # a burst
    rows[2990:, 4] += 6.0  # to the last row
    held = HeldShift(**settings).fit(train)  # type: ignore[arg-type]
    expected, _, releases = slow_held_shift(train, rows, **settings)  # type: ignore[arg-type]
    assert releases > 0
    np.testing.assert_allclose(held.deviations(rows), expected, rtol=1e-9, atol=1e-9)
