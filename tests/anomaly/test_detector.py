"""AnomalyDetector: fitting, per-row scores, thresholds, POT, save/load, streaming, errors."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnlstm.anomaly.baselines import PCABaseline
from cnnlstm.anomaly.detector import DEFAULT_EPOCHS, AnomalyDetector
from cnnlstm.anomaly.rows import STANDARD_LIMIT, FarValue
from cnnlstm.anomaly.thresholds import pot_threshold
from cnnlstm.anomaly.training import MIN_WIDE_STEPS, WIDE_SENSORS
from cnnlstm.data.sensor_plant import SensorPlant
from cnnlstm.errors import DataError

TRAIN_ROWS = 400


@pytest.fixture(scope="module")
def plant() -> tuple[np.ndarray, np.ndarray, list[str]]:
    generator = SensorPlant(seed=0)
    frame = generator.generate(2000)
    names = generator.sensor_names
    return frame[names].to_numpy(), frame["anomaly"].to_numpy().astype(np.int64), names


@pytest.fixture(scope="module")
def fitted(plant: tuple[np.ndarray, np.ndarray, list[str]]) -> AnomalyDetector:
    rows, _, names = plant
    return AnomalyDetector().fit(rows[:TRAIN_ROWS], columns=names)  # the defaults, as shipped


@pytest.fixture(scope="module")
def small_rows() -> np.ndarray:
    rng = np.random.default_rng(3)
    t = np.arange(300)[:, None]
    return np.sin(t / 7.0 + np.arange(4)) + 0.1 * rng.normal(size=(300, 4))


def quick(**kwargs: object) -> AnomalyDetector:
    # the error score's machinery; the level score (the default) has tests of its own
    args: dict[str, object] = {"window": 16, "epochs": 2, "batch_size": 32, "scoring": "error"}
    args.update(kwargs)
    return AnomalyDetector(**args)  # type: ignore[arg-type]


def precision_recall(flags: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    hits = float((flags & labels).sum())
    return hits / max(int(flags.sum()), 1), hits / max(int(labels.sum()), 1)


def test_finds_injected_anomalies_better_than_chance(
    fitted: AnomalyDetector, plant: tuple[np.ndarray, np.ndarray, list[str]]
) -> None:
    rows, labels, names = plant
    flags = fitted.predict(rows, columns=names)[TRAIN_ROWS:]
    truth = labels[TRAIN_ROWS:]
    precision, recall = precision_recall(flags, truth)
    rng = np.random.default_rng(0)
    shuffled = [precision_recall(flags, rng.permutation(truth)) for _ in range(50)]
    chance_precision = max(p for p, _ in shuffled)
    chance_recall = max(r for _, r in shuffled)
    assert precision > 1.5 * chance_precision
    assert recall > 1.5 * chance_recall
    assert recall > 0.3


def test_threshold_comes_from_the_training_rows_alone(
    fitted: AnomalyDetector, plant: tuple[np.ndarray, np.ndarray, list[str]]
) -> None:
    rows, _, _ = plant
    before = fitted.threshold_
    fitted.score(rows[TRAIN_ROWS:] * 3.0)
    fitted.predict(rows[TRAIN_ROWS:])
    assert fitted.threshold_ == before
    # Recomputed from the public scores of the training rows: the held-out quarter's quantiles.
    train_scores = fitted.score(rows[:TRAIN_ROWS])
    np.testing.assert_allclose(train_scores, fitted.train_scores_, rtol=1e-6, atol=1e-9)
    calibration = slice(TRAIN_ROWS - TRAIN_ROWS // 4, TRAIN_ROWS)
    error = fitted.score(rows[:TRAIN_ROWS], part="error")
    level = fitted.score(rows[:TRAIN_ROWS], part="level")
    assert fitted.error_threshold_ == pytest.approx(np.quantile(error[calibration], 0.99) * 1.5)
    assert fitted.level_threshold_ == pytest.approx(np.quantile(level[calibration], 0.99) * 2.0)
    assert before == 1.0  # the combined score is in units of the alarm level
    held = [max(level[max(0, t - 14) : t + 1]) for t in range(TRAIN_ROWS)]  # 15 rows, slowly
    # T² (PCABaseline is checked against covariance eigenvectors in test_baselines) alarms at
    # 3x its 0.99 quantile on the calibration rows; T² of each standardised row minus the
    # moving mean (time constant 50) of the rows before it, a loop
    pca = PCABaseline().fit(rows[:TRAIN_ROWS])
    assert pca.scaler.mean is not None and pca.scaler.std is not None
    assert pca.components_ is not None and pca.eigenvalues_ is not None
    z = (rows[:TRAIN_ROWS] - pca.scaler.mean) / pca.scaler.std
    moving, t2 = np.zeros(z.shape[1]), np.empty(TRAIN_ROWS)
    for t, row in enumerate(z):
        t2[t] = (((row - moving) @ pca.components_.T) ** 2 / pca.eigenvalues_).sum()
        moving = moving + (row - moving) / 50
    t2_threshold = 3.0 * np.quantile(t2[calibration], 0.99)
    expected = np.maximum.reduce(
        [
            error / fitted.error_threshold_,
            np.array(held) / fitted.level_threshold_,
            t2 / t2_threshold,
        ]
    )
    np.testing.assert_allclose(train_scores, expected, rtol=1e-9)
    assert (t2 / t2_threshold > expected - 1e-12).any()  # each part is the largest somewhere
    assert (error / fitted.error_threshold_ > expected - 1e-12).any()


def test_scoring_error_keeps_the_error_score_alone(
    plant: tuple[np.ndarray, np.ndarray, list[str]], small_rows: np.ndarray
) -> None:
    detector = AnomalyDetector(window=16, epochs=2, scoring="error").fit(small_rows[:150])
    assert detector.level_ is None and detector.threshold_ == detector.error_threshold_
    np.testing.assert_array_equal(
        detector.score(small_rows), detector.score(small_rows, part="error")
    )
    with pytest.raises(
        ValueError, match="part='level' needs a detector fitted with scoring='level'"
    ):
        detector.score(small_rows, part="level")
    with pytest.raises(ValueError, match="part has to be 'all', 'error' or 'level', but got 'x'"):
        detector.score(small_rows, part="x")  # type: ignore[arg-type]


def test_threshold_does_not_depend_on_test_rows(small_rows: np.ndarray) -> None:
    train = small_rows[:200]
    one = quick().fit(train)
    one.score(small_rows[200:])
    two = quick().fit(train)
    # Two fits of one seed on the same rows run the same ops: the detector promises bitwise.
    assert one.threshold_ == two.threshold_
    np.testing.assert_array_equal(one.score(small_rows), two.score(small_rows))


def test_scores_are_causal(
    fitted: AnomalyDetector, plant: tuple[np.ndarray, np.ndarray, list[str]]
) -> None:
    rows, _, _ = plant
    rows = rows[:700].copy()
    before = fitted.score(rows)
    rows[500] += 10.0 * rows[:400].std(axis=0)
    after = fitted.score(rows)
    # Causal: rows before 500 are computed from the same numbers by the same ops, so bitwise.
    np.testing.assert_array_equal(before[:500], after[:500])
    assert after[500] > before[500] + 1.0
    assert fitted.score(rows[:1], part="error")[0] == 0.0  # row 0 has no prediction
    assert before[0] > 0.0  # but it has a T² and a level


def test_stream_equals_offline(
    fitted: AnomalyDetector, plant: tuple[np.ndarray, np.ndarray, list[str]]
) -> None:
    rows, _, _ = plant
    rows = rows[300:700]
    offline = fitted.score(rows)
    scorer = fitted.stream()
    streamed = [scorer.update(row) for row in rows]
    scores = np.array([score for score, _ in streamed])
    np.testing.assert_allclose(scores, offline, rtol=1e-5, atol=1e-5)
    flags = np.array([flag for _, flag in streamed])
    assert (flags == (offline > fitted.threshold_)).mean() > 0.99  # equal up to ties at 1e-5


@pytest.mark.parametrize("model", ["convlstm_ae", "mscred"])
def test_window_models_stream_like_offline(model: str, small_rows: np.ndarray) -> None:
    args = {"mscred": {"scales": (4, 8), "steps": 3, "gap": 3, "channels": 4}}.get(model, {})
    detector = quick(model=model, model_args=args, smooth=3).fit(small_rows[:150])
    rows = small_rows[150:220]
    offline = detector.score(rows)
    assert (offline[:17] == 0).all() and (offline[17:] > 0).all()  # window + smooth - 2 unscored
    scorer = detector.stream()
    streamed = np.array([scorer.update(row)[0] for row in rows])
    np.testing.assert_allclose(streamed, offline, rtol=1e-5, atol=1e-6)


def _error_ratios(detector: AnomalyDetector, rows: np.ndarray) -> np.ndarray:
    """``(M - 1, S)``: each row's squared errors from the model itself, over the error scale;
    row ``k`` is row ``k + 1`` of ``rows``."""
    model = detector.model_
    assert model is not None
    scaled = (rows - detector.scaler.mean) / detector.scaler.std
    with torch.no_grad():
        errors = model.errors(torch.as_tensor(scaled, dtype=torch.float32)[None])[0].double()
    ratios: np.ndarray = errors.numpy() / detector.error_scale_
    return ratios


@pytest.mark.parametrize("combine", ["max", "mean"])
def test_scores_are_smoothed_per_sensor_then_combined(combine: str, small_rows: np.ndarray) -> None:
    detector = quick(smooth=4, combine=combine).fit(small_rows[:150])
    rows = small_rows[150:190]
    ratios = _error_ratios(detector, rows)  # (M - 1, S): ratios[k] is row k + 1
    first = detector.window - 1 + 3  # window - 1 warm-up rows, then 4 errors for the first mean
    expected = [0.0] * first
    for t in range(first, len(rows)):  # the slow obvious way: each sensor's mean, then max or mean
        recent = ratios[t - 4 : t]  # rows t-3..t
        per_sensor = [sum(recent[:, j]) / len(recent) for j in range(rows.shape[1])]
        expected.append(max(per_sensor) if combine == "max" else sum(per_sensor) / len(per_sensor))
    np.testing.assert_allclose(detector.score(rows), expected, rtol=1e-6, atol=1e-9)
    scorer = detector.stream()
    streamed = [scorer.update(row)[0] for row in rows]
    np.testing.assert_allclose(streamed, expected, rtol=1e-5, atol=1e-6)


def test_smoothing_keeps_nothing_of_a_huge_error(small_rows: np.ndarray) -> None:
    """The stream and the offline pass sum each row's smoothing window anew, so a huge error
    that enters and leaves the window leaves no residue in later scores (a running or
    cumulative sum would carry ~1e-16 of it, here ~1e3 against scores near 1)."""
    detector = quick(smooth=4).fit(small_rows[:150])
    rows = small_rows[150:260].copy()
    rows[30, 1] += 0.9e9 * small_rows[:150, 1].std()  # a squared error near 1e18, under the
    # limit (STANDARD_LIMIT) past which a value is refused
    ratios = _error_ratios(detector, rows)  # (M - 1, S): ratios[k] is row k + 1
    first = detector.window - 1 + 3
    expected = [0.0] * first
    for t in range(first, len(rows)):  # each window's sums, made from scratch
        recent = ratios[t - 4 : t]
        expected.append(max(sum(recent[:, j]) / len(recent) for j in range(rows.shape[1])))
    assert min(expected[30:35]) > 1e17 and max(expected[36:]) < 100  # in the window, then out
    scorer = detector.stream()
    streamed = [scorer.update(row)[0] for row in rows]
    np.testing.assert_allclose(streamed, expected, rtol=1e-5, atol=1e-6)
    offline = detector.score(rows, part="error")  # each window summed on its own there too
    np.testing.assert_allclose(offline, expected, rtol=1e-5, atol=1e-6)


def test_stream_rejects_nan_inf_and_sentinels_but_takes_large_values(
    small_rows: np.ndarray,
) -> None:
    detector = quick().fit(small_rows[:150])
    scorer = detector.stream()
    scorer.update(small_rows[150])
    for bad in (np.nan, np.inf, -np.inf):
        row = small_rows[151].copy()
        row[2] = bad
        with pytest.raises(DataError, match="expected 4 finite values"):
            scorer.update(row)
    with pytest.raises(FarValue, match="row 0, sensor 'column0': 1e\\+308 is"):
        scorer.update(np.full(4, 1e308))  # finite, but its square overflows: a sentinel
    assert scorer.rows_seen == 1  # a rejected row does not advance the stream
    for row in small_rows[151:200]:  # past the warm-up: every row gets a score
        scorer.update(row)
    large = detector.scaler.mean + 0.5 * STANDARD_LIMIT * detector.scaler.std
    score, flag = scorer.update(large)  # half a billion training sds: scored, and flagged
    assert scorer.rows_seen == 51 and np.isfinite(score) and flag == 1


def test_window_models_get_fewer_epochs_by_default() -> None:
    assert AnomalyDetector().epochs == DEFAULT_EPOCHS["window_cnnlstm"] == 40
    assert AnomalyDetector(model="mscred").epochs == DEFAULT_EPOCHS["mscred"] == 10
    assert AnomalyDetector(model="convlstm_ae").epochs == 10
    assert AnomalyDetector(model="mscred", epochs=3).epochs == 3


def test_save_and_load_give_identical_scores(
    fitted: AnomalyDetector, plant: tuple[np.ndarray, np.ndarray, list[str]], tmp_path: Path
) -> None:
    rows, _, names = plant
    path = tmp_path / "detector.pt"
    fitted.save(path)
    loaded = AnomalyDetector.load(path)
    assert loaded.threshold_ == fitted.threshold_
    assert loaded.columns_ == names and loaded.n_features_ == 8
    assert loaded.window == fitted.window and loaded.smooth == fitted.smooth
    assert loaded.combine == fitted.combine == "max" and loaded.epochs == fitted.epochs
    np.testing.assert_array_equal(loaded.longest_repeat_, fitted.longest_repeat_)
    # save/load restores the same weights and state: scoring promises bitwise equality.
    np.testing.assert_array_equal(loaded.score(rows[:600]), fitted.score(rows[:600]))
    torch.load(path, weights_only=True)  # plain values and tensors only
    # a file written before the combine option scored with the sensors' mean: it still does
    state = torch.load(path, weights_only=True)
    del state["config"]["combine"]
    torch.save(state, tmp_path / "older.pt")
    assert AnomalyDetector.load(tmp_path / "older.pt").combine == "mean"
    del state["longest_repeat_"]  # nor did one saved before the repeats were kept
    torch.save(state, tmp_path / "older.pt")
    assert len(AnomalyDetector.load(tmp_path / "older.pt").longest_repeat_) == 0
    state["state_dict"]["convs.0.weight"] = torch.zeros(8, 1, 3, 3)  # another kernel size
    torch.save(state, tmp_path / "other_sizes.pt")
    with pytest.raises(DataError, match=r"do not fit a 'window_cnnlstm'.*fit it again"):
        AnomalyDetector.load(tmp_path / "other_sizes.pt")


def test_pot_threshold_in_the_detector(small_rows: np.ndarray) -> None:
    detector = quick(threshold="pot", quantile=0.99, pot_init=0.8, factor=1.5).fit(small_rows[:200])
    calibration = detector.train_scores_[150:]
    expected = pot_threshold(calibration, risk=0.01, init=0.8) * 1.5
    assert detector.threshold_ == pytest.approx(expected)


def test_too_few_rows_nan_and_unfitted(small_rows: np.ndarray) -> None:
    with pytest.raises(DataError, match=r"needs at least window \+ smooth - 1 = 30 .* got 29"):
        quick(smooth=15).fit(small_rows[:29])
    with pytest.raises(DataError, match=r"needs at least window \+ smooth - 1 = 16 .* got 15"):
        quick().fit(small_rows[:15])
    bad = small_rows[:100].copy()
    bad[7, 2] = np.nan
    with pytest.raises(DataError, match="row 7, column 2 is NaN"):
        quick().fit(bad)
    with pytest.raises(DataError, match="fitted first"):
        quick().score(small_rows)
    with pytest.raises(DataError, match="columns has to name the 4 sensors"):
        quick().fit(small_rows[:100], columns=["a", "b"])


def test_a_dataframe_with_text_columns_names_them(
    fitted: AnomalyDetector, small_rows: np.ndarray
) -> None:
    import pandas as pd  # the detector itself never imports it

    frame = pd.DataFrame(small_rows[:100], columns=["a", "b", "c", "d"])
    frame.insert(0, "datetime", [f"2021-01-01 00:{i // 60:02d}:{i % 60:02d}" for i in range(100)])
    frame["label"] = ["normal"] * 99 + ["fault"]
    frame["when"] = pd.to_datetime(frame["datetime"])  # datetimes convert, but are no sensor
    with pytest.raises(DataError) as info:
        quick().fit(frame)
    message = str(info.value)
    assert message.startswith("AnomalyDetector.fit: the DataFrame's column(s) 'datetime'")
    assert "'label'" in message and "'when' (datetime64" in message
    assert "frame[['a', 'b', 'c', 'd']]" in message and "SensorCSV" in message
    assert "could not convert" not in message
    with pytest.raises(DataError, match=r"AnomalyDetector.score: .*'datetime'"):
        fitted.score(frame)
    # The numeric columns alone are accepted, and read as the same rows as the array. Bitwise:
    # the detector brings every input to one C-ordered float64 layout (a DataFrame converts to
    # Fortran order, whose strides took other oneDNN kernels under ONEDNN_MAX_CPU_ISA=AVX2).
    sensors = frame[["a", "b", "c", "d"]]
    assert not np.asarray(sensors, dtype=np.float64).flags.c_contiguous  # the case that bit
    from_frame = quick(epochs=1).fit(sensors)
    from_array = quick(epochs=1).fit(small_rows[:100])
    assert from_frame.threshold_ == from_array.threshold_
    np.testing.assert_array_equal(from_frame.score(sensors), from_array.score(small_rows[:100]))


def test_a_text_array_names_the_first_bad_column(small_rows: np.ndarray) -> None:
    table = small_rows[:100].astype(object)
    table[3, 2] = "n/a"
    table[5, 3] = "fault"
    with pytest.raises(DataError, match=r"column 2 \(the first such\) is not: row 3 holds 'n/a'"):
        quick().fit(table)
    strings = np.array([["1.0", "2.0"], ["3.0", "2021-01-01"]])
    with pytest.raises(DataError, match=r"column 1 .* row 1 holds '2021-01-01', a str"):
        quick().fit(strings)
    with pytest.raises(DataError, match="could not be read as float64"):
        quick().fit([[1.0, 2.0], [3.0]])  # ragged rows


@pytest.mark.parametrize("model", ["window_cnnlstm", "convlstm_ae"])
def test_the_fewest_training_rows_still_give_a_threshold(
    model: str, small_rows: np.ndarray
) -> None:
    detector = quick(model=model, smooth=5).fit(small_rows[:20])  # window 16 + smooth 5 - 1
    scores = detector.train_scores_
    assert (scores[:19] == 0).all() and scores[19] > 0  # one scored row: the threshold's
    assert detector.threshold_ == pytest.approx(scores[19] * detector.factor)


def test_other_columns_are_a_data_error(
    fitted: AnomalyDetector, plant: tuple[np.ndarray, np.ndarray, list[str]]
) -> None:
    rows, _, names = plant
    with pytest.raises(DataError, match=r"fitted on 8 columns \['Accelerometer1RMS'.*7 unnamed"):
        fitted.score(rows[:50, :7])
    renamed = [*names[:-1], "Other"]
    with pytest.raises(DataError, match=r"'Volume Flow RateRMS'\].*'Other'\]"):
        fitted.score(rows[:50], columns=renamed)
    with pytest.raises(DataError, match="expected 8 finite values"):
        fitted.stream().update(rows[0, :3])


def test_load_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(DataError, match="not a saved AnomalyDetector"):
        AnomalyDetector.load(path)
    with pytest.raises(DataError, match="no such file"):
        AnomalyDetector.load(tmp_path / "missing.pt")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 1}, "window has to be at least 2"),
        ({"epochs": 0}, "epochs has to be a positive int"),
        ({"threshold": "max"}, "threshold has to be 'quantile' or 'pot'"),
        ({"quantile": 1.0}, r"quantile has to be in \(0, 1\)"),
        ({"threshold": "pot", "pot_init": 0.995}, "pot_init has to be in"),
        ({"holdout": 1.0}, r"holdout has to be in \[0, 1\)"),
        ({"model_args": {"window": 8}}, "model_args has to leave out 'window'"),
        ({"factor": 0}, "factor has to be positive"),
        ({"combine": "median"}, "combine has to be 'max' or 'mean'"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AnomalyDetector(**kwargs)  # type: ignore[arg-type]


def test_progress_bar_and_thread_setting_restored(small_rows: np.ndarray) -> None:
    threads = torch.get_num_threads()
    detector = quick(epochs=1).fit(small_rows[:100], progress=True)
    assert torch.get_num_threads() == threads
    assert len(detector.train_loss_) == 1 and math.isfinite(detector.train_loss_[0])
    assert "threshold_=" in repr(detector)


def test_sensor_scores_make_up_the_score(
    fitted: AnomalyDetector, plant: tuple[np.ndarray, np.ndarray, list[str]], small_rows: np.ndarray
) -> None:
    rows, _, _ = plant
    scores, parts = fitted.score_detail(rows)
    np.testing.assert_array_equal(scores, fitted.score(rows))  # the same scores, one pass
    np.testing.assert_allclose(parts.max(axis=1), scores)
    np.testing.assert_array_equal(fitted.sensor_scores(rows), parts)
    mean = quick(combine="mean").fit(small_rows[:150])
    np.testing.assert_allclose(mean.sensor_scores(small_rows).mean(axis=1), mean.score(small_rows))


def test_sensor_scores_name_the_sensor_each_anomaly_was_injected_in(
    fitted: AnomalyDetector, plant: tuple[np.ndarray, np.ndarray, list[str]]
) -> None:
    rows, _, names = plant
    generator = SensorPlant(seed=0)
    generator.generate(2000)  # the same recording as the fixture: its anomalies, with sensors
    parts = fitted.sensor_scores(rows)
    flagged = fitted.score(rows) > fitted.threshold_
    named = 0
    for anomaly in generator.anomalies:
        inside = flagged[anomaly.start : anomaly.end]
        if inside.any():  # a detected anomaly: its largest part comes from an injected sensor
            top = parts[anomaly.start : anomaly.end][inside].sum(axis=0).argmax()
            assert names[top] in anomaly.sensors, (anomaly, names[top])
            named += 1
    assert named >= 4  # of the 5 anomalies


def test_a_wide_fit_gets_the_work_of_the_budget_on_64_sensors() -> None:
    assert AnomalyDetector().step_budget(64) == 500
    assert AnomalyDetector().step_budget(128) == 250
    assert AnomalyDetector().step_budget(2000) == MIN_WIDE_STEPS == 20
    assert AnomalyDetector(steps=5).step_budget(2000) == 5
    assert AnomalyDetector(steps=None).step_budget(10**6) > 10**9
    rows = np.random.default_rng(0).normal(size=(1000, 2 * WIDE_SENSORS))
    detector = AnomalyDetector(steps=40).fit(rows)  # 640 steps planned, 20 in the budget
    assert detector.steps_ <= 20 and len(detector.holdout_loss_) >= 1


def test_few_training_rows_a_sensor_warn_from_the_library() -> None:
    rng = np.random.default_rng(5)
    rows = rng.normal(size=(60, 20))  # 3 rows a sensor: under ROWS_PER_SENSOR (5)
    with pytest.warns(UserWarning, match=r"60 training rows for 20 sensors: .* \(100 here\)"):
        AnomalyDetector(window=8, epochs=1).fit(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none with enough rows, nor for the error score alone
        AnomalyDetector(window=8, epochs=1).fit(rng.normal(size=(100, 20)))
        AnomalyDetector(window=8, epochs=1, scoring="error").fit(rows)
