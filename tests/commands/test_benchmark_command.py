"""``cnnlstm benchmark skab --quick`` on three SKAB files: our row, the floor row (checked
against the labels read independently here), the leaderboard, and the files it writes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cnnlstm.anomaly.baselines import PCABaseline, ZScoreBaseline
from cnnlstm.anomaly.detector import AnomalyDetector
from cnnlstm.commands import benchmark as benchmark_command
from cnnlstm.commands.benchmark import DEFAULT_MODELS, FLOOR, QUICK_EPOCHS, main

SKAB_DIR = Path("/work/shared/data/skab")
QUICK_FILES = ("valve1/0.csv", "valve2/0.csv", "other/1.csv")  # the first file of each folder


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    out = tmp_path_factory.mktemp("skab")
    code = main(
        ["skab", str(SKAB_DIR), "--quick", "--model", "window_cnnlstm", "--output", str(out)]
    )
    return code, out


def test_quick_run_prints_our_row_beside_the_leaderboard(
    quick_run: tuple[int, Path],
) -> None:
    code, out = quick_run
    assert code == 0
    table, places_table = (out / "skab.md").read_text().split("where the false alarms fall")
    assert "SKAB (3 files, quick)" in table
    ours = [line for line in table.splitlines() if line.startswith("| window_cnnlstm |")]
    assert len(ours) == 1 and ours[0].endswith("| this run |")
    assert "| Conv-AE | 0.78 | 13.55 | 28.02 | 23.61 | SKAB |" in table
    document = json.loads((out / "skab.json").read_text())
    names = [row["name"] for row in document["rows"]]
    assert names == ["window_cnnlstm", "window_cnnlstm (error score)", FLOOR]
    for row in document["rows"][:2]:
        assert row["files"] == 3
        judged = row["tp"] + row["fp"] + row["fn"] + row["tn"]
        assert judged == sum(len(pd.read_csv(SKAB_DIR / f, sep=";")) - 400 for f in QUICK_FILES)
        assert 0.0 <= row["f1"] <= 1.0 and 0.0 <= row["far"] <= 1.0
        places = row["false_alarms"]
        assert places["before"] + places["between"] + places["after"] == row["fp"]
        normal = places["normal_before"] + places["normal_between"] + places["normal_after"]
        assert normal == row["fp"] + row["tn"]
        assert sorted(row["folders"]) == ["other", "valve1", "valve2"]
    assert places_table.count("\n| window_cnnlstm") == 2  # and its error score's row


def test_per_folder_scores_are_each_files_own_counts(quick_run: tuple[int, Path]) -> None:
    """With one file per folder, a folder's F1 is that file's alone: recount the floor's by hand
    (it flags every row, so its F1 is 2 * anomalous / (2 * anomalous + normal))."""
    _, out = quick_run
    floor = json.loads((out / "skab.json").read_text())["rows"][-1]
    for file in QUICK_FILES:
        labels = pd.read_csv(SKAB_DIR / file, sep=";")["anomaly"].to_numpy()[400:]
        anomalous, normal = int(labels.sum()), int((labels == 0).sum())
        scores = floor["folders"][file.split("/")[0]]
        assert scores["f1"] == pytest.approx(2 * anomalous / (2 * anomalous + normal))
        assert normal > 0 and scores["far"] == 1.0 and scores["mar"] == 0.0


def test_the_error_score_row_is_a_detector_fitted_with_scoring_error(
    quick_run: tuple[int, Path],
) -> None:
    _, out = quick_run
    row = json.loads((out / "skab.json").read_text())["rows"][1]
    tp = fp = 0
    for name in QUICK_FILES:  # the protocol again, by hand, with the error score alone
        frame = pd.read_csv(SKAB_DIR / name, sep=";")
        rows = frame.drop(columns=["datetime", "anomaly", "changepoint"]).to_numpy()
        detector = AnomalyDetector(scoring="error", epochs=QUICK_EPOCHS, seed=0).fit(rows[:400])
        flags = detector.predict(rows)[400:]
        labels = frame["anomaly"].to_numpy()[400:]
        tp += int(((flags == 1) & (labels == 1)).sum())
        fp += int(((flags == 1) & (labels == 0)).sum())
    assert (row["tp"], row["fp"]) == (tp, fp)


def test_level_mean_is_the_detectors_setting(tmp_path: Path) -> None:
    """--level-mean 10: the row is the protocol run by hand with ``level_mean=10``, named in the
    title; 0 is refused."""
    argv = ["skab", str(SKAB_DIR), "--quick", "--model", "window_cnnlstm", "--scoring", "level"]
    assert main([*argv, "--level-mean", "10", "--output", str(tmp_path)]) == 0
    document = json.loads((tmp_path / "skab.json").read_text())
    assert document["benchmark"] == "SKAB (3 files, quick, --level-mean 10)"
    tp = fp = 0
    changed = False
    for name in QUICK_FILES:
        frame = pd.read_csv(SKAB_DIR / name, sep=";")
        rows = frame.drop(columns=["datetime", "anomaly", "changepoint"]).to_numpy()
        ten = AnomalyDetector(epochs=QUICK_EPOCHS, seed=0, level_mean=10).fit(rows[:400])
        flags = ten.predict(rows)[400:]
        five = AnomalyDetector(epochs=QUICK_EPOCHS, seed=0).fit(rows[:400])
        changed |= bool((five.predict(rows)[400:] != flags).any())
        labels = frame["anomaly"].to_numpy()[400:]
        tp += int(((flags == 1) & (labels == 1)).sum())
        fp += int(((flags == 1) & (labels == 0)).sum())
    assert changed  # the setting matters on these files
    assert (document["rows"][0]["tp"], document["rows"][0]["fp"]) == (tp, fp)
    assert main([*argv, "--level-mean", "0"]) == 2
    with pytest.raises(SystemExit):
        main([*argv, "--level-floor", "-1"])


def test_floor_row_equals_the_labels_counted_by_hand(quick_run: tuple[int, Path]) -> None:
    _, out = quick_run
    anomalous = normal = 0
    for name in QUICK_FILES:
        labels = pd.read_csv(SKAB_DIR / name, sep=";")["anomaly"].iloc[400:]
        anomalous += int((labels == 1).sum())
        normal += int((labels == 0).sum())
    f1 = anomalous / (anomalous + normal / 2)  # every row flagged: FP = normal rows, FN = 0
    floor = json.loads((out / "skab.json").read_text())["rows"][-1]
    assert floor["name"] == FLOOR
    assert floor["tp"] == anomalous and floor["fp"] == normal
    assert floor["fn"] == floor["tn"] == 0
    assert floor["f1"] == pytest.approx(f1)
    assert floor["far"] == 1.0 and floor["mar"] == 0.0
    assert f"| {FLOOR} | {f1:.2f} | 100.00 | 0.00 |" in (out / "skab.md").read_text()


def test_quick_run_prints_the_tables_and_writes_the_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The screen shows the tables only (as ``benchmark files``); the JSON goes to --output."""
    argv = ["skab", str(SKAB_DIR), "--quick", "--model", "mscred", "--scoring", "error"]
    assert main([*argv, "--output", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("### SKAB (3 files, quick)\n")
    assert '"rows"' not in printed and "{" not in printed
    assert (tmp_path / "skab.md").read_text() in printed
    document = json.loads((tmp_path / "skab.json").read_text())
    assert [row["name"] for row in document["rows"]] == ["mscred (error score)", FLOOR]
    assert "| mscred (error score) |" in printed and "| MSCRED | 0.36 |" in printed
    assert main(["skab", str(SKAB_DIR), "--quick", "--scoring", "level,nope"]) == 2
    assert "--scoring has to name some of level, error, but got nope" in capsys.readouterr().err


def test_models_option_takes_a_comma_separated_list(capsys: pytest.CaptureFixture[str]) -> None:
    parser = benchmark_command.build_parser()
    args = parser.parse_args(["skab", str(SKAB_DIR), "--models", "mscred, window_cnnlstm"])
    assert args.models == "mscred, window_cnnlstm"
    code = main(["skab", str(SKAB_DIR), "--quick", "--models", "nope,mscred", "--model", "x"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--model and --models have to name" in err
    assert "but got x, nope" in err  # --model first, then --models, in order
    assert main(["skab", str(SKAB_DIR), "--quick", "--models", "window_cnnlstm,pcaa"]) == 2
    assert "error: --models has to name the detector families" in capsys.readouterr().err


def test_bad_arguments_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["skab", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a folder" in err[0]
    assert main(["skab", str(SKAB_DIR), "--quick", "--model", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "cnnlstm benchmark: error: --model has to name the detector families "
        "window_cnnlstm, mscred, convlstm_ae or the baselines pca, zscore, but got nope"
    ]


def test_add_parser_wires_the_command() -> None:
    parser = argparse.ArgumentParser(prog="cnnlstm")
    benchmark_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["benchmark", "skab", "data", "--model", "mscred", "--quick"])
    assert args.func is benchmark_command.run
    assert args.model == ["mscred"] and args.quick and args.data_dir == Path("data")


def test_the_figures_do_not_depend_on_the_jobs(quick_run: tuple[int, Path], tmp_path: Path) -> None:
    """Three SKAB files in two processes: every figure as with one job (only seconds differ)."""
    argv = ["skab", str(SKAB_DIR), "--quick", "--model", "window_cnnlstm", "--jobs", "2"]
    assert main([*argv, "--output", str(tmp_path)]) == 0
    _, out = quick_run

    def figures(folder: Path) -> list[dict[str, object]]:
        rows = json.loads((folder / "skab.json").read_text())["rows"]
        return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]

    assert figures(tmp_path) == figures(out)
    assert (tmp_path / "skab.md").read_text() == (out / "skab.md").read_text()
    assert main(["skab", str(SKAB_DIR), "--quick", "--jobs", "0"]) == 2


def test_the_baselines_run_by_default_and_count_as_the_detectors_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``pca`` and ``zscore`` are default models, and their rows are each baseline fitted on a
    file's first 400 rows, its flags on the rest counted here with numpy."""
    assert DEFAULT_MODELS == ("window_cnnlstm", "mscred", "convlstm_ae", "pca", "zscore")
    argv = ["skab", str(SKAB_DIR), "--quick", "--models", "pca,zscore", "--scoring", "error"]
    assert main([*argv, "--output", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    document = json.loads((tmp_path / "skab.json").read_text())
    rows = {row["name"]: row for row in document["rows"]}
    assert list(rows) == ["pca", "zscore", FLOOR]  # one row each, whatever --scoring says
    assert "| pca |" in printed and "| zscore |" in printed
    for name, baseline in (("pca", PCABaseline), ("zscore", ZScoreBaseline)):
        counts = np.zeros(4, dtype=np.int64)
        for file in QUICK_FILES:
            frame = pd.read_csv(SKAB_DIR / file, sep=";")
            x = frame.drop(columns=["datetime", "anomaly", "changepoint"]).to_numpy(float)
            fitted = baseline().fit(x[:400])
            assert fitted.threshold_ is not None
            flags = fitted.score(x[400:]) > fitted.threshold_
            truth = frame["anomaly"].to_numpy()[400:] == 1
            counts += [
                (flags & truth).sum(),
                (flags & ~truth).sum(),
                (~flags & truth).sum(),
                (~flags & ~truth).sum(),
            ]
        row = rows[name]
        assert [row["tp"], row["fp"], row["fn"], row["tn"]] == counts.tolist()
        tp, fp, fn, tn = counts
        assert row["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
        assert row["far"] == pytest.approx(fp / (fp + tn))
        assert row["mar"] == pytest.approx(fn / (fn + tp))
