"""``cnnlstm detect`` end to end on generated plant files: output, metrics, report, save/load,
streaming, and one clear error line for each kind of bad input."""

from __future__ import annotations

import io
import os
import re
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cnnlstm.anomaly.detector import AnomalyDetector
from cnnlstm.commands import detect as detect_command
from cnnlstm.commands.detect import main, offline
from cnnlstm.data.sensor_plant import SensorPlant

TINY = ["--window", "8", "--epochs", "2"]
TRAIN_ROWS = 200


@pytest.fixture(scope="module")
def plant_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A labelled recording (600 rows, 2 anomalies after 200 clean rows) and a normal one."""
    root = tmp_path_factory.mktemp("plant")
    plant = SensorPlant(
        seed=0, n_anomalies=2, normal_rows=TRAIN_ROWS, anomaly_kinds=("spike", "noise")
    )
    plant.write_csv(root / "plant.csv", 600)
    plant.write_normal_csv(root / "normal.csv", 300)
    return {"plant": root / "plant.csv", "normal": root / "normal.csv", "root": root}


@pytest.fixture(scope="module")
def fitted_run(plant_files: dict[str, Path]) -> dict[str, object]:
    """One offline run with --train-rows, --report and --save, and what it printed."""
    root = plant_files["root"]
    out, report, saved = root / "out.csv", root / "report", root / "detector.pt"
    capture = io.StringIO()
    stdout, sys.stdout = sys.stdout, capture
    try:
        code = main(
            [
                str(plant_files["plant"]),
                "--train-rows",
                str(TRAIN_ROWS),
                "--output",
                str(out),
                "--report",
                str(report),
                "--save",
                str(saved),
                *TINY,
            ]
        )
    finally:
        sys.stdout = stdout
    return {
        "code": code,
        "out": out,
        "report": report,
        "saved": saved,
        "printed": capture.getvalue(),
    }


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("cnnlstm detect: error: ")
    return err[0]


def test_output_has_one_row_per_input_row_in_order(
    plant_files: dict[str, Path], fitted_run: dict[str, object]
) -> None:
    assert fitted_run["code"] == 0
    out = pd.read_csv(fitted_run["out"])  # type: ignore[arg-type]
    source = pd.read_csv(plant_files["plant"], sep=";")
    assert list(out.columns) == ["datetime", "score", "anomaly"]
    assert len(out) == len(source) == 600
    assert out["datetime"].tolist() == source["datetime"].tolist()
    detector = AnomalyDetector.load(fitted_run["saved"])  # type: ignore[arg-type]
    flags = (out["score"].to_numpy() > detector.threshold_).astype(int)
    np.testing.assert_array_equal(out["anomaly"].to_numpy(), flags)
    assert set(out["anomaly"].unique()) <= {0, 1}
    # row 0 has no prediction yet and no level: its score is its T² part alone
    assert detector.checks_ is not None
    first = source[detector.columns_].to_numpy()[:1]
    assert out["score"].iloc[0] == pytest.approx(detector.checks_.scores(first)[0], abs=1e-7)
    assert detector.score(first, part="error")[0] == 0.0


def test_metrics_are_printed_for_the_rows_after_the_training_rows(
    plant_files: dict[str, Path], fitted_run: dict[str, object]
) -> None:
    printed = str(fitted_run["printed"])
    out = pd.read_csv(fitted_run["out"])  # type: ignore[arg-type]
    labels = pd.read_csv(plant_files["plant"], sep=";")["anomaly"].to_numpy().astype(int)
    flags = out["anomaly"].to_numpy()
    tp = fp = fn = tn = 0
    for label, flag in zip(labels[TRAIN_ROWS:], flags[TRAIN_ROWS:], strict=True):
        tp += int(label == 1 and flag == 1)
        fp += int(label == 0 and flag == 1)
        fn += int(label == 1 and flag == 0)
        tn += int(label == 0 and flag == 0)
    f1 = tp / (tp + (fp + fn) / 2)
    far, mar = 100 * fp / (fp + tn), 100 * fn / (fn + tp)
    for heading in ("precision", "recall", "F1", "FAR", "MAR", "NAB (standard)"):
        assert heading in printed
    assert f"{f1:.3f}" in printed and f"{far:.2f}" in printed and f"{mar:.2f}" in printed
    assert f"rows {TRAIN_ROWS}-599" in printed
    # flags in the training rows are counted apart (issue 15): the headline counts the rest
    judged = f"of the {600 - TRAIN_ROWS} rows after the {TRAIN_ROWS} training rows, in "
    assert f"flagged {flags[TRAIN_ROWS:].sum()} {judged}" in printed
    inside = flags[:TRAIN_ROWS].sum()
    assert (
        f"in the training rows 0-199 (fitted on, not counted above): {inside} rows" in printed
    ) == (inside > 0)
    assert f"fitting window_cnnlstm on the first {TRAIN_ROWS} rows" in printed


def test_report_writes_plot_and_summary(fitted_run: dict[str, object]) -> None:
    report = Path(str(fitted_run["report"]))
    png = (report / "detection.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (report / "summary.md").read_text()
    assert summary.startswith("# Anomaly detection")
    assert "](detection.png)" in summary and "F1" in summary


def test_save_then_load_gives_identical_scores(
    plant_files: dict[str, Path], fitted_run: dict[str, object], tmp_path: Path
) -> None:
    again = tmp_path / "again.csv"
    code = main(
        [str(plant_files["plant"]), "--load", str(fitted_run["saved"]), "--output", str(again)]
    )
    assert code == 0
    assert again.read_bytes() == Path(str(fitted_run["out"])).read_bytes()


def test_stream_gives_the_offline_scores(
    plant_files: dict[str, Path],
    fitted_run: dict[str, object],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(plant_files["plant"].read_text()))
    code = main(["-", "--stream", "--load", str(fitted_run["saved"])])
    assert code == 0
    streamed = pd.read_csv(io.StringIO(capsys.readouterr().out))
    offline = pd.read_csv(fitted_run["out"])  # type: ignore[arg-type]
    assert list(streamed.columns) == ["datetime", "score", "anomaly"]
    assert streamed["datetime"].tolist() == offline["datetime"].tolist()
    np.testing.assert_allclose(streamed["score"], offline["score"], atol=1e-5, rtol=0)
    near = np.abs(offline["score"] - AnomalyDetector.load(fitted_run["saved"]).threshold_) < 1e-5
    same = streamed["anomaly"].to_numpy() == offline["anomaly"].to_numpy()
    assert (same | near.to_numpy()).all()


def test_stream_with_train_gives_the_offline_scores(
    plant_files: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "offline.csv"
    fit = ["--train", str(plant_files["normal"]), *TINY]
    assert main([str(plant_files["plant"]), "-o", str(out), *fit]) == 0
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", io.StringIO(plant_files["plant"].read_text()))
    assert main(["-", "--stream", *fit]) == 0
    captured = capsys.readouterr()
    assert "fitting window_cnnlstm on the 300 rows" in captured.err  # stdout carries the rows
    streamed = pd.read_csv(io.StringIO(captured.out))
    np.testing.assert_allclose(streamed["score"], pd.read_csv(out)["score"], atol=1e-5, rtol=0)


def test_fit_on_a_normal_file_without_labels_in_input(
    plant_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.read_csv(plant_files["plant"], sep=";").drop(columns=["anomaly", "changepoint"])
    frame = frame.drop(columns=["datetime"])
    unlabelled = tmp_path / "unlabelled.csv"
    frame.to_csv(unlabelled, index=False)  # commas, no datetime, no labels
    out = tmp_path / "out.csv"
    code = main([str(unlabelled), "--train", str(plant_files["normal"]), "-o", str(out), *TINY])
    assert code == 0
    printed = capsys.readouterr().out
    assert "on the 300 rows of" in printed and "precision" not in printed
    written = pd.read_csv(out)
    assert list(written.columns) == ["row", "score", "anomaly"]
    assert written["row"].tolist() == list(range(600))


def test_default_train_rows_are_said(
    plant_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([str(plant_files["plant"]), "-o", str(tmp_path / "o.csv"), *TINY])
    assert code == 0
    assert "on the first 300 rows" in capsys.readouterr().out  # 400 capped at half of 600


# ----------------------------------------------------------------------------- bad input


def _plant_text(plant_files: dict[str, Path]) -> list[str]:
    return plant_files["plant"].read_text().splitlines()


def _garbled(lines: list[str]) -> str:
    return "\n".join([lines[0]] + [line.replace(";", ",", 3) for line in lines[1:]])


def _ragged(lines: list[str]) -> str:
    return "\n".join([*lines[:100], lines[100] + ";7;7", *lines[101:]])


def _text_cell(lines: list[str]) -> str:
    cells = lines[50].split(";")
    cells[2] = "broken"
    return "\n".join([*lines[:50], ";".join(cells), *lines[51:]])


def _nan_rows(lines: list[str]) -> str:
    cells = lines[300].split(";")
    cells[1] = ""
    return "\n".join([*lines[:300], ";".join(cells), *lines[301:]])


BAD_FILES = [
    ("wrong delimiter", _garbled, [], "line 2, column 'datetime'"),
    ("ragged rows", _ragged, [], "line 101: rows have different numbers of fields"),
    ("text in a sensor column", _text_cell, [], "line 51, column 'Accelerometer2RMS': 'broken'"),
    ("NaN row, default --nan fail", _nan_rows, [], "--nan ffill"),
    ("fewer training rows than a first score", None, ["--train-rows", "5"], "the 8 a first"),
    ("no rows left to score", None, ["--train-rows", "600"], "has to leave rows to score"),
]


@pytest.mark.parametrize(
    ("name", "edit", "extra", "expected"), BAD_FILES, ids=[b[0] for b in BAD_FILES]
)
def test_bad_input_is_one_line_and_no_output(
    name: str,
    edit: object,
    extra: list[str],
    expected: str,
    plant_files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "input.csv"
    lines = _plant_text(plant_files)
    source.write_text(edit(lines) if callable(edit) else "\n".join(lines))
    out = tmp_path / "out.csv"
    assert main([str(source), "-o", str(out), *TINY, *extra]) == 2
    assert expected in _error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.csv"]  # no output, no temp


def test_nan_rows_are_filled_with_ffill(
    plant_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "holes.csv"
    source.write_text(_nan_rows(_plant_text(plant_files)))
    out = tmp_path / "out.csv"
    assert main([str(source), "-o", str(out), "--nan", "ffill", *TINY]) == 0
    assert len(pd.read_csv(out)) == 600


def test_columns_that_differ_from_the_saved_detector(
    plant_files: dict[str, Path],
    fitted_run: dict[str, object],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = _plant_text(plant_files)
    source = tmp_path / "renamed.csv"
    source.write_text("\n".join([lines[0].replace("Current", "Amps"), *lines[1:]]))
    out = tmp_path / "out.csv"
    assert main([str(source), "--load", str(fitted_run["saved"]), "-o", str(out)]) == 2
    line = _error_line(capsys)
    assert "'Amps'" in line and "'Current'" in line  # both lists are named
    assert not out.exists()


def _with_status_column(plant_files: dict[str, Path], path: Path) -> Path:
    """The plant file with a text column (an operator's note) after the datetime."""
    lines = _plant_text(plant_files)
    first, rest = lines[0].split(";", 1)
    notes = ["ok", "check pump", "ok"]
    rows = [
        f"{r.split(';', 1)[0]};{notes[i % 3]};{r.split(';', 1)[1]}" for i, r in enumerate(lines[1:])
    ]
    path.write_text("\n".join([f"{first};status;{rest}", *rows]))
    return path


def _suggested_flag(line: str) -> list[str]:
    """``["--columns", "A,B"]`` as the error line suggests it, split as a shell would."""
    match = re.search(r"(--columns (?:'[^']*'|[^\s)]+))", line)
    assert match is not None, line
    return shlex.split(match.group(1))


def test_a_text_column_is_named_and_columns_leaves_it_out(
    plant_files: dict[str, Path],
    fitted_run: dict[str, object],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = _with_status_column(plant_files, tmp_path / "notes.csv")
    out = tmp_path / "out.csv"
    fit = ["--train-rows", str(TRAIN_ROWS), *TINY]
    assert main([str(source), "-o", str(out), *fit]) == 2
    line = _error_line(capsys)
    assert "line 2, column 'status': 'ok' is not a finite number" in line
    assert "columns=[" not in line  # the Python argument; the command line has --columns
    flag = _suggested_flag(line)
    sensors = pd.read_csv(plant_files["plant"], sep=";").columns[1:-2].tolist()
    assert flag == ["--columns", ",".join(sensors)]
    assert not out.exists()
    # The suggested flag works, and gives the scores of the file without the text column.
    assert main([str(source), "-o", str(out), *fit, *flag]) == 0
    got, expected = pd.read_csv(out), pd.read_csv(fitted_run["out"])  # type: ignore[arg-type]
    assert got["datetime"].tolist() == expected["datetime"].tolist()
    np.testing.assert_allclose(got["score"], expected["score"], atol=1e-6, rtol=0)
    capsys.readouterr()
    # A name that is not in the file says which are.
    assert main([str(source), "-o", str(out), *fit, "--columns", "Current,Amps"]) == 2
    assert "has no column 'Amps'; its columns are ['datetime', 'status'" in _error_line(capsys)


def test_columns_with_load_and_with_stream(
    plant_files: dict[str, Path],
    fitted_run: dict[str, object],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = _with_status_column(plant_files, tmp_path / "notes.csv")
    saved = str(fitted_run["saved"])
    detector = AnomalyDetector.load(saved)
    flag = ["--columns", ",".join(detector.columns_)]
    offline = pd.read_csv(fitted_run["out"])  # type: ignore[arg-type]
    out = tmp_path / "out.csv"
    assert main([str(source), "--load", saved, "-o", str(out), *flag]) == 0
    assert out.read_bytes() == Path(str(fitted_run["out"])).read_bytes()
    # Another order than the detector's: the error says the order that works.
    swapped = ["--columns", ",".join([*detector.columns_[1:], detector.columns_[0]])]
    assert main([str(source), "--load", saved, "-o", str(tmp_path / "x.csv"), *swapped]) == 2
    assert _suggested_flag(_error_line(capsys)) == flag
    # --stream: the rows hold the text column too; without --columns it is refused ...
    text = source.read_text()
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    assert main(["-", "--stream", "--load", saved]) == 2
    line = _error_line(capsys)
    assert "['datetime', 'status']" in line and _suggested_flag(line) == flag
    # ... and with it, the datetime is found by its name and the scores are the offline ones.
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    assert main(["-", "--stream", "--load", saved, *flag]) == 0
    streamed = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert streamed["datetime"].tolist() == offline["datetime"].tolist()
    np.testing.assert_allclose(streamed["score"], offline["score"], atol=1e-5, rtol=0)
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    assert main(["-", "--stream", "--load", saved, *swapped]) == 2
    assert "--columns: the sensor columns" in _error_line(capsys)


def test_columns_with_train_reads_the_same_columns_of_both_files(
    plant_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _with_status_column(plant_files, tmp_path / "notes.csv")
    out = tmp_path / "out.csv"
    picked = ["Current", "Pressure", "Voltage"]
    argv = [str(source), "--train", str(plant_files["normal"]), "-o", str(out), *TINY]
    saved = tmp_path / "d.pt"
    assert main([*argv, "--columns", ",".join(picked), "--save", str(saved)]) == 0
    assert AnomalyDetector.load(saved).columns_ == picked
    assert len(pd.read_csv(out)) == 600


def test_the_gap_warning_on_the_command_line_lists_gaps_without_dot_gaps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    steps = np.ones(200)
    steps[[50, 120, 150]] = 9.0
    steps[90] = 29.0  # the longest gap: 29 s before row 90, on line 92
    seconds = np.cumsum(steps)
    values = np.sin(np.arange(200)[:, None] / 5 + np.arange(2)) + 0.1 * rng.normal(size=(200, 2))
    lines = [
        "time,a,b",
        *(f"{t:g},{a:.5f},{b:.5f}" for t, (a, b) in zip(seconds, values, strict=True)),
    ]
    source = tmp_path / "gaps.csv"
    source.write_text("\n".join(lines))
    assert main([str(source), "-o", str(tmp_path / "o.csv"), "--train-rows", "60", *TINY]) == 0
    warned = [w for w in capsys.readouterr().out.splitlines() if w.startswith("warning:")]
    assert warned == [
        f"warning: {source}: 4 gaps in time longer than 2 x the usual step of 1 s; the 3 "
        f"longest: 29 s before line 92, 9 s before line 52, 9 s before line 122."
    ]


def test_training_file_with_other_columns(
    plant_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    normal = pd.read_csv(plant_files["normal"], sep=";").rename(columns={"Voltage": "Volts"})
    train = tmp_path / "normal.csv"
    normal.to_csv(train, sep=";", index=False)
    out = tmp_path / "out.csv"
    assert main([str(plant_files["plant"]), "--train", str(train), "-o", str(out), *TINY]) == 2
    line = _error_line(capsys)
    assert f"{train.name} lacks 'Voltage' (a sensor column of plant.csv)" in line
    assert f"plant.csv lacks 'Volts' (a sensor column of {train.name})" in line
    assert "[]" not in line
    kept = [c for c in normal.columns if c not in ("datetime", "Volts")]
    assert f"pass --columns {shlex.quote(','.join(kept))} to read the columns both" in line
    assert not out.exists()


def test_training_file_with_more_columns_names_them_and_the_columns_flag(
    plant_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A training file with INPUT's columns and more: the message says which file lacks which
    (no empty half) and the --columns it suggests runs."""
    normal = pd.read_csv(plant_files["normal"], sep=";")
    train = tmp_path / "wider.csv"
    normal.assign(Spare=1.0, Extra=2.0).to_csv(train, sep=";", index=False)
    out = tmp_path / "out.csv"
    argv = [str(plant_files["plant"]), "--train", str(train), "-o", str(out), *TINY]
    assert main(argv) == 2
    line = _error_line(capsys)
    assert "plant.csv lacks 'Spare', 'Extra' (sensor columns of wider.csv)" in line
    assert "[]" not in line and "wider.csv lacks" not in line
    suggested = line.split("pass ", 1)[1].split(" to read INPUT's columns from both files.")[0]
    inputs = [c for c in normal.columns if c != "datetime"]
    assert shlex.split(suggested) == ["--columns", ",".join(inputs)]
    assert main([*argv, *shlex.split(suggested)]) == 0
    assert len(pd.read_csv(out)) == 600


def test_training_file_sharing_no_column_is_said_so(
    plant_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = tmp_path / "other.csv"
    train.write_text("time,x,y\n" + "".join(f"{i},{i % 7},{i % 5}\n" for i in range(100)))
    out = tmp_path / "out.csv"
    assert main([str(plant_files["plant"]), "--train", str(train), "-o", str(out), *TINY]) == 2
    line = _error_line(capsys)
    assert "plant.csv lacks 'x', 'y' (sensor columns of other.csv)" in line
    assert "the files share no sensor column: is other.csv the right --train file?" in line


def test_training_file_shorter_than_a_window(
    plant_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = tmp_path / "short.csv"
    train.write_text("\n".join(plant_files["normal"].read_text().splitlines()[:6]))  # 5 rows
    out = tmp_path / "out.csv"
    assert main([str(plant_files["plant"]), "--train", str(train), "-o", str(out), *TINY]) == 2
    line = _error_line(capsys)
    assert "short.csv: the file has 5 training rows, fewer than the 8 a first score needs" in line
    assert "(--window 8 + --smooth 1 - 1)" in line
    assert capsys.readouterr().out == ""  # nothing said about fitting
    assert not out.exists()


def test_missing_input_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.csv"
    assert main([str(tmp_path / "nowhere.csv"), "-o", str(out)]) == 2
    assert "nowhere.csv: no such file" in _error_line(capsys)
    assert not out.exists()


def test_failure_while_writing_leaves_no_partial_output(
    plant_files: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out.csv"
    out.write_text("the previous run\n")

    def short_times(times: object, start: int, count: int, *, utc: bool) -> list[str]:
        return ["0", "1", "2"]  # 3 times for 600 scores: the writer fails after 3 lines

    monkeypatch.setattr(offline, "time_texts", short_times)
    assert main([str(plant_files["plant"]), "-o", str(out), *TINY]) == 2
    _error_line(capsys)
    assert out.read_text() == "the previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]  # no temporary file left


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["-", "--stream"], "--stream needs a detector"),
        (["in.csv", "--stream", "--load", "d.pt"], "INPUT has to be '-' with --stream"),
        (["in.csv", "--load", "d.pt", "--window", "4", "-o", "o.csv"], "--window"),
        (["in.csv"], "--output OUT.csv has to be given"),
        (["in.csv", "-o", "o.csv", "--model", "crnn"], "detector families window_cnnlstm,"),
        (["-", "--stream", "--load", "d.pt", "--nan", "interpolate"], "fail or ffill"),
        (["in.csv", "-o", "o.csv", "--report", __file__], "--report has to be a folder"),
        (["in.csv", "-o", "o.csv", "--columns", "a,,b"], "separated by commas, like --columns"),
        (["in.csv", "-o", "o.csv", "--columns", "a,b,a"], "each column once, but got ['a']"),
    ],
)
def test_argument_mistakes(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert expected in _error_line(capsys)


def test_add_parser_wires_the_command() -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="cnnlstm")
    detect_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["detect", "in.csv", "-o", "out.csv", "--window", "8"])
    assert args.func is detect_command.run and args.window == 8 and args.model is None


# ----------------------------------------------------------------------------- the quick start


def test_quick_start_pipeline_generate_detect_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's first command, smaller (1500 rows, 3 anomalies), through ``cnnlstm``."""
    from PIL import Image

    from cnnlstm import cli

    monkeypatch.chdir(tmp_path)
    assert (
        cli.main(["generate", "sensor-plant", "plant.csv", "--rows", "1500", "--anomalies", "3"])
        == 0
    )
    assert "--train-rows 400" in capsys.readouterr().out
    argv = ["detect", "plant.csv", "--train-rows", "400", "--output", "scores.csv"]
    assert cli.main([*argv, "--report", "report"]) == 0
    printed = capsys.readouterr().out

    with Image.open(tmp_path / "report" / "detection.png") as image:
        assert image.format == "PNG" and image.size == (1600, 900)
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert "](detection.png)" in summary and "| F1 |" in summary
    assert "flagged spans and the sensors behind them" in printed
    spans = re.findall(r"  - rows (\d+)-(\d+): ([A-Za-z0-9 ,]+)", summary)  # each span, named
    assert spans and all(names for _, _, names in spans)
    # the summary counts the rows the console does: those after the training rows
    headline = re.search(r"flagged (\d+) of the (\d+) rows after the 400 training rows", printed)
    assert headline is not None
    flagged, judged = headline.groups()
    assert f"- rows judged: {judged} (after the 400 training rows)" in summary
    assert f"- rows flagged: {flagged} (" in summary

    source = pd.read_csv(tmp_path / "plant.csv", sep=";")
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert len(source) == len(scores) == 1500
    assert scores["datetime"].tolist() == source["datetime"].tolist()
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "scores.csv").stat().st_mode & 0o777 == 0o666 & ~mask  # not 0o600

    labels = source["anomaly"].to_numpy().astype(int)[400:]
    flags = scores["anomaly"].to_numpy()[400:]
    tp = int(((labels == 1) & (flags == 1)).sum())
    fp = int(((labels == 0) & (flags == 1)).sum())
    fn = int(((labels == 1) & (flags == 0)).sum())
    f1 = tp / (tp + (fp + fn) / 2)
    positives = int(labels.sum())
    floor = positives / (positives + (len(labels) - positives) / 2)  # flag every row
    assert "F1" in printed and f"{f1:.3f}" in printed
    assert f1 > floor, (f1, floor)


def test_readme_quick_start_commands_parse() -> None:
    """The cnnlstm commands of the README's quick start exist with the flags it gives them."""
    from cnnlstm import cli

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1]
    first = section.split("```bash\n", 1)[1].splitlines()[0]
    parts = [part.split() for part in first.split("&&")]
    commands = [part[1:] for part in parts if part[0] == ".venv/bin/cnnlstm"]
    assert [c[0] for c in commands] == ["generate", "detect"]
    parser = cli.build_parser()
    generate, detect = (parser.parse_args(c) for c in commands)
    assert generate.name == "sensor-plant" and str(generate.output) == detect.input
    assert detect.report is not None and detect.train_rows is not None


def test_help_says_output_is_required_but_with_stream(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--output`` cannot be an argparse required flag (``--stream`` forbids it), so the usage
    gives the command's forms, with ``--output`` outside brackets, and its help says so."""
    with pytest.raises(SystemExit):
        main(["--help"])
    printed = capsys.readouterr().out
    usage = printed.split("\n\n", 1)[0]
    assert usage.splitlines()[0].startswith("usage: cnnlstm detect INPUT --output OUT.csv ")
    assert "[--output" not in usage and "-o OUT.csv]" not in usage
    assert "cnnlstm detect - --stream (--load DETECTOR.pt | --train NORMAL.csv)" in usage
    flag = printed.split("--output OUT.csv, -o OUT.csv", 1)[1].split("\n  --", 1)[0]
    assert " ".join(flag.split()).startswith("required (but with --stream, which writes to")
    assert main([str(Path("plant.csv"))]) == 2
    assert "--output OUT.csv has to be given" in capsys.readouterr().err


def test_fit_flags_reach_the_saved_detector(plant_files: dict[str, Path], tmp_path: Path) -> None:
    """--smooth, --combine, --factor and --scoring set the detector's options (read back from
    --save)."""
    saved = tmp_path / "detector.pt"
    flags = ["--smooth", "3", "--combine", "mean", "--factor", "2.5", "--scoring", "error"]
    code = main(
        [
            str(plant_files["plant"]),
            "--train-rows",
            str(TRAIN_ROWS),
            "--output",
            str(tmp_path / "out.csv"),
            "--save",
            str(saved),
            *TINY,
            *flags,
        ]
    )
    assert code == 0
    detector = AnomalyDetector.load(saved)
    assert (detector.smooth, detector.combine, detector.factor) == (3, "mean", 2.5)
    assert (detector.window, detector.epochs) == (8, 2)
    assert detector.scoring == "error" and detector.level_ is None
