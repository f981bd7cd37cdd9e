"""``cnnlstm benchmark files``: its figures against counts made here (row loops over flags from
baselines and detectors fitted here), on real server telemetry and on files written here; the
same figures for any ``--jobs``; one error line for each kind of bad input."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cnnlstm.anomaly.baselines import PCABaseline, ZScoreBaseline
from cnnlstm.anomaly.detector import AnomalyDetector
from cnnlstm.commands.benchmark import main
from cnnlstm.commands.benchmark.files import find_data_sets, run_files

ASD = Path(__file__).resolve().parents[3] / "shared" / "data" / "asd"
SENSORS = ["flow", "pressure", "temp", "valve"]


def _write_plant(path: Path, *, seed: int, rows: int = 1000) -> None:
    """A labelled plant file as a European historian writes it: ``;``, decimal commas, dates."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(SENSORS)))
    x[:, 1] += 0.8 * x[:, 0]  # two sensors that move together
    labels = np.zeros(rows, dtype=int)
    for start, stop, sensor, shift in (
        (450, 453, 0, 8.0),
        (520, 560, 1, 5.0),
        (700, 701, 2, 9.0),
        (800, 806, 3, 0.3),
        (900, 930, 1, -4.0),
    ):
        x[start:stop, sensor] += shift
        labels[start:stop] = 1
    frame = pd.DataFrame(x, columns=SENSORS)
    frame.insert(0, "datetime", pd.date_range("2024-01-01", periods=rows, freq="1s"))
    frame["anomaly"] = labels
    frame.to_csv(path, sep=";", decimal=",", index=False)


def _read_plant(path: Path) -> tuple[np.ndarray, np.ndarray]:
    frame = pd.read_csv(path, sep=";", decimal=",")
    return frame[SENSORS].to_numpy(float), frame["anomaly"].to_numpy()


def _reference(labels: np.ndarray, flags: np.ndarray) -> dict[str, object]:
    """Counts by walking the rows: confusion counts, events (runs of ones), each event's first
    flag, and the point-adjusted counts."""
    labels, flags = [int(v) for v in labels], [int(v) for v in flags]
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for y, f in zip(labels, flags, strict=True):
        counts[("t" if y == f else "f") + ("p" if f else "n")] += 1
    events, delays = 0, []
    adjusted = list(flags)
    i = 0
    while i < len(labels):
        if not labels[i]:
            i += 1
            continue
        j = i
        while j < len(labels) and labels[j]:
            j += 1
        events += 1
        hits = [k - i for k in range(i, j) if flags[k]]
        if hits:
            delays.append(hits[0])
            adjusted[i:j] = [1] * (j - i)
        i = j
    pa = {"tp": 0, "fp": 0, "fn": 0}
    for y, f in zip(labels, adjusted, strict=True):
        if y and f:
            pa["tp"] += 1
        elif f:
            pa["fp"] += 1
        elif y:
            pa["fn"] += 1
    return {**counts, "events": events, "delays": delays, "pa": pa}


def _pool(parts: list[dict[str, object]]) -> dict[str, object]:
    pooled: dict[str, object] = {key: sum(p[key] for p in parts) for key in ("tp", "fp", "fn")}
    pooled["tn"] = sum(p["tn"] for p in parts)
    pooled["events"] = sum(p["events"] for p in parts)
    pooled["delays"] = [d for p in parts for d in p["delays"]]
    pooled["pa"] = {k: sum(p["pa"][k] for p in parts) for k in ("tp", "fp", "fn")}
    return pooled


def _check_row(row: dict[str, object], ref: dict[str, object]) -> None:
    tp, fp, fn, tn = (ref[k] for k in ("tp", "fp", "fn", "tn"))
    assert [row["tp"], row["fp"], row["fn"], row["tn"]] == [tp, fp, fn, tn]
    assert row["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert row["far"] == pytest.approx(fp / (fp + tn))
    assert row["mar"] == pytest.approx(fn / (fn + tp))
    pa = ref["pa"]
    assert row["pa_f1"] == pytest.approx(2 * pa["tp"] / (2 * pa["tp"] + pa["fp"] + pa["fn"]))
    assert row["events"] == ref["events"]
    assert row["events_found"] == len(ref["delays"])
    assert row["event_recall"] == pytest.approx(len(ref["delays"]) / ref["events"])
    median = statistics.median(ref["delays"]) if ref["delays"] else None
    assert row["median_delay"] == median


def _document(out: Path) -> dict[str, object]:
    return json.loads((out / "files.json").read_text())


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plant") / "line3.csv"
    _write_plant(path, seed=1)
    return path


def test_baselines_on_real_telemetry_and_a_plant_file_match_counts_made_here(
    plant: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ASD's omi-2 (a train/test pair) and a one-file plant data set (fitted on its first 400
    rows, cnnlstm detect's default): per data set and pooled, every figure is the baselines'
    flags counted here."""
    argv = ["files", str(ASD / "omi-2_train.csv"), str(plant), "--models", "pca,zscore"]
    assert main([*argv, "--output", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    document = _document(tmp_path)
    names = [d["name"] for d in document["data_sets"]]
    assert len(names) == 2 and names[0].endswith("asd/omi-2") and names[1].endswith("/line3")
    train = pd.read_csv(ASD / "omi-2_train.csv").drop(columns="datetime").to_numpy(float)
    test = pd.read_csv(ASD / "omi-2_test.csv")
    sets = {
        names[0]: (
            train,
            test.drop(columns=["datetime", "anomaly"]).to_numpy(float),
            test["anomaly"].to_numpy(),
        ),
    }
    x, y = _read_plant(plant)
    sets[names[1]] = (x[:400], x[400:], y[400:])
    assert document["data_sets"][1]["train_rows"] == 400
    assert document["data_sets"][1]["test_rows"] == 600
    for index, (model, baseline) in enumerate((("pca", PCABaseline), ("zscore", ZScoreBaseline))):
        parts = []
        for name, (normal, judged, labels) in sets.items():
            fitted = baseline().fit(normal)
            assert fitted.threshold_ is not None
            ref = _reference(labels, fitted.score(judged) > fitted.threshold_)
            row = document["per_data_set"][name][index]
            assert row["detector"] == model
            _check_row(row, ref)
            parts.append(ref)
        _check_row(document["rows"][index], _pool(parts))
    markdown = (tmp_path / "files.md").read_text()
    assert markdown.strip() == printed.strip()
    assert markdown.startswith("### All data sets (2: 4,920 judged rows, 9 labelled events)")
    assert "fitted on the 8,640 rows of omi-2_train.csv" in markdown
    assert "fitted on its first 400 rows" in markdown
    pca = document["rows"][0]
    assert (
        f"| pca | {pca['f1']:.3f} | {pca['far'] * 100:.1f} | {pca['mar'] * 100:.1f} | "
        f"{pca['pa_f1']:.3f} | {pca['event_recall']:.2f} ({pca['events_found']}/9) |"
    ) in markdown


def test_a_detector_is_fitted_on_the_training_rows_and_scores_them_warm(
    plant: Path, tmp_path: Path
) -> None:
    """window_cnnlstm with tiny settings: its flags are a detector's fitted here on the first 400
    rows, scoring the last --warm-rows training rows before the judged ones (the whole file
    with the default 400), or the judged rows alone with --warm-rows 0."""
    x, y = _read_plant(plant)
    detector = AnomalyDetector(epochs=1, seed=0).fit(x[:400], columns=SENSORS)
    for warm, scored in (("400", x), ("0", x[400:]), ("50", x[350:])):
        out = tmp_path / warm
        argv = ["files", str(plant), "--models", "window_cnnlstm", "--epochs", "1"]
        assert main([*argv, "--warm-rows", warm, "--output", str(out)]) == 0
        flags = detector.score(scored)[len(scored) - 600 :] > detector.threshold_
        (row,) = _document(out)["rows"]
        ref = _reference(y[400:], flags)
        assert [row["tp"], row["fp"], row["fn"], row["tn"]] == [
            ref[k] for k in ("tp", "fp", "fn", "tn")
        ]
        assert row["events_found"] == len(ref["delays"]) and row["events"] == 5


def test_level_mean_and_steps_reach_the_detector(plant: Path, tmp_path: Path) -> None:
    """--level-mean 10 --steps 3: the flags of a detector fitted here with ``level_mean=10``
    and ``steps=3``, not the default's, and the settings are in files.json; 0 is refused."""
    x, y = _read_plant(plant)
    ten = AnomalyDetector(epochs=1, steps=3, seed=0, level_mean=10).fit(x[:400], columns=SENSORS)
    five = AnomalyDetector(epochs=1, steps=3, seed=0).fit(x[:400], columns=SENSORS)
    assert ten.steps_ == 3
    flags = {d: d.score(x)[400:] > d.threshold_ for d in (ten, five)}
    assert (flags[ten] != flags[five]).any()  # the setting matters on this file
    argv = ["files", str(plant), "--models", "window_cnnlstm", "--epochs", "1"]
    argv += ["--steps", "3"]
    assert main([*argv, "--level-mean", "10", "--output", str(tmp_path / "ten")]) == 0
    document = _document(tmp_path / "ten")
    settings = {"seed": 0, "epochs": 1, "steps": 3, "level_mean": 10}
    assert document["detector_settings"] == settings
    (row,) = document["rows"]
    ref = _reference(y[400:], flags[ten])
    assert [row["tp"], row["fp"], row["fn"], row["tn"]] == [
        ref[k] for k in ("tp", "fp", "fn", "tn")
    ]
    with pytest.raises(ValueError, match="--level-mean has to be a positive int, but got 0"):
        run_files(find_data_sets([plant]), models=["window_cnnlstm"], level_mean=0)
    with pytest.raises(ValueError, match="--steps has to be a positive int, but got 0"):
        run_files(find_data_sets([plant]), models=["window_cnnlstm"], steps=0)


def test_level_floor_and_pca_bound_reach_the_detector(plant: Path, tmp_path: Path) -> None:
    """--level-floor 0.5 --pca-bound off: the flags of a detector fitted here with those
    settings, not the default's, and the settings are in files.json; bad values are refused."""
    x, y = _read_plant(plant)
    given = AnomalyDetector(epochs=1, steps=3, seed=0, level_floor=0.5, pca_bound=None)
    given.fit(x[:400], columns=SENSORS)
    default = AnomalyDetector(epochs=1, steps=3, seed=0).fit(x[:400], columns=SENSORS)
    flags = {d: d.score(x)[400:] > d.threshold_ for d in (given, default)}
    assert (flags[given] != flags[default]).any()  # the settings matter on this file
    argv = ["files", str(plant), "--models", "window_cnnlstm", "--epochs", "1", "--steps", "3"]
    argv += ["--level-floor", "0.5", "--pca-bound", "off", "--output", str(tmp_path / "out")]
    assert main(argv) == 0
    document = _document(tmp_path / "out")
    settings = {"seed": 0, "epochs": 1, "steps": 3, "level_floor": 0.5, "pca_bound": None}
    assert document["detector_settings"] == settings
    (row,) = document["rows"]
    ref = _reference(y[400:], flags[given])
    assert [row["tp"], row["fp"], row["fn"], row["tn"]] == [
        ref[k] for k in ("tp", "fp", "fn", "tn")
    ]
    sets = find_data_sets([plant])
    with pytest.raises(ValueError, match="--level-floor has to be a finite number >= 0"):
        run_files(sets, models=["window_cnnlstm"], level_floor=-1.0)
    with pytest.raises(ValueError, match="--pca-bound has to be a positive number or off"):
        run_files(sets, models=["window_cnnlstm"], pca_bound=0.0)


def test_the_figures_do_not_depend_on_the_jobs(tmp_path: Path) -> None:
    """Two data sets (a pair in a folder, one file beside it) in two processes: every figure as
    with one job, only the seconds differ."""
    data = tmp_path / "data"
    data.mkdir()
    _write_plant(data / "line1_train.csv", seed=2, rows=600)
    _write_plant(data / "line1_test.csv", seed=3)
    _write_plant(data / "line2.csv", seed=4)
    argv = ["files", str(data), "--models", "window_cnnlstm,pca,zscore", "--epochs", "1"]
    assert main([*argv, "--output", str(tmp_path / "one")]) == 0
    assert main([*argv, "--jobs", "2", "--output", str(tmp_path / "two")]) == 0

    def figures(out: Path) -> dict[str, object]:
        document = _document(out)
        rows = [*document["rows"], *(r for rs in document["per_data_set"].values() for r in rs)]
        for row in rows:
            row.pop("seconds")
        document.pop("wall_seconds")
        return document

    one = figures(tmp_path / "one")
    assert [d["name"] for d in one["data_sets"]] == ["line1", "line2"]
    assert one == figures(tmp_path / "two")


def test_data_sets_pair_train_and_test_files_by_name(tmp_path: Path) -> None:
    for folder, name in (
        ("a", "x_train.csv"),
        ("a", "x_test.csv"),
        ("b", "y_test.csv"),
        ("b", "z.tsv"),
        ("b", "README.md"),
    ):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / name).write_text("s,anomaly\n1,0\n")
    found = find_data_sets([tmp_path / "a", tmp_path / "b", tmp_path / "a" / "x_test.csv"])
    assert [(d.name, d.test.name, d.train and d.train.name) for d in found] == [
        ("a/x", "x_test.csv", "x_train.csv"),  # once, though named twice
        ("b/y_test", "y_test.csv", None),  # a test file without its training file: one file
        ("b/z", "z.tsv", None),
    ]


def _one_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("cnnlstm benchmark: error: ")
    return err[0]


def test_bad_input_is_one_error_line_naming_the_file(
    plant: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "pump_train.csv").write_text("s\n1\n2\n")
    assert main(["files", str(lonely)]) == 2
    line = _one_error(capsys)
    assert "pump_train.csv: a training file without its test file pump_test.csv" in line

    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text("a,b\n" + "".join(f"{i},{i % 7}\n" for i in range(100)))
    assert main(["files", str(unlabelled), "--models", "pca"]) == 2
    assert f"{unlabelled}: has no 'anomaly' label column" in _one_error(capsys)

    broken = tmp_path / "broken.csv"
    broken.write_text("a,anomaly\n" + "".join(f"{i},0\n" for i in range(50)) + "oops,0\n")
    assert main(["files", str(broken), "--models", "pca"]) == 2
    line = _one_error(capsys)
    assert line.startswith(f"cnnlstm benchmark: error: {broken}") and "oops" in line

    assert main(["files", str(tmp_path / "nowhere.csv")]) == 2
    assert "nowhere.csv: no such file or folder" in _one_error(capsys)
    assert main(["files", str(plant), "--models", "pca,nope"]) == 2
    assert "but got nope" in _one_error(capsys)
    assert main(["files", str(plant), "--warm-rows", "-1"]) == 2
    assert "--warm-rows has to be an int >= 0, but got -1" in _one_error(capsys)
    assert main(["files", str(plant), "--train-rows", "1000", "--models", "pca"]) == 2
    assert "--train-rows has to leave rows to judge, but got 1000 of 1000" in _one_error(capsys)


def test_one_bad_data_set_among_many_is_reported_and_the_others_go_on(
    plant: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text("flow,pressure,temp,valve\n" + "1,2,3,4\n" * 30)
    argv = ["files", str(plant), str(unlabelled), "--models", "zscore"]
    assert main([*argv, "--output", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert "unlabelled: error: " in captured.err and "line3: done in" in captured.err
    assert "### All data sets (1: 600 judged rows, 5 labelled events)" in captured.out
    assert "#### Data sets that failed" in captured.out
    assert "no 'anomaly' label column" in captured.out.split("failed")[-1]
    document = _document(tmp_path / "out")
    assert [d["error"] is None for d in document["data_sets"]] == [True, False]
    assert list(document["per_data_set"]) == [document["data_sets"][0]["name"]]


def test_files_are_read_as_detect_reads_them(plant: Path, tmp_path: Path) -> None:
    """A pandas index column (``Unnamed: 0``, counting the rows) is their index, not a sensor:
    the figures are those of the file without it."""
    indexed = tmp_path / "line3.csv"
    pd.read_csv(plant, sep=";", decimal=",").to_csv(indexed, sep=";", decimal=",")
    assert pd.read_csv(indexed, sep=";").columns[0] == "Unnamed: 0"
    for path, out in ((plant, tmp_path / "plain"), (indexed, tmp_path / "indexed")):
        assert main(["files", str(path), "--models", "pca,zscore", "--output", str(out)]) == 0
    assert _strip(tmp_path / "plain") == _strip(tmp_path / "indexed")


def _strip(out: Path) -> list[dict[str, object]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in _document(out)["rows"]]


def test_labels_coded_minus_one_and_one_fail_their_data_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A -1/1 coded file was counted as all anomalous without a word; now it fails, named by
    its line, and the other data set is scored (exit code 1)."""
    data = tmp_path / "data"
    data.mkdir()
    _write_plant(data / "good.csv", seed=5)
    coded = pd.read_csv(data / "good.csv", sep=";", decimal=",")
    coded["anomaly"] = np.where(coded["anomaly"] == 1, 1, -1)
    coded.to_csv(data / "coded.csv", sep=";", decimal=",", index=False)
    assert main(["files", str(data), "--models", "pca", "--output", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "coded.csv: line 2, label column 'anomaly': '-1' is neither 0 (normal) nor 1" in err
    document = _document(tmp_path / "out")
    failed = {d["name"]: d["error"] for d in document["data_sets"]}
    assert failed["good"] is None and "is neither 0 (normal) nor 1" in failed["coded"]
    assert document["rows"][0]["events"] == 5  # the good file's alone
