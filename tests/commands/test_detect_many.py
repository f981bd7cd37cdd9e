"""``cnnlstm detect`` over a folder or a glob: each file exactly as a run on it alone, a table of
all of them (printed and summary.csv), a bad file that fails alone, and the same outputs for any
number of jobs."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cnnlstm.commands.detect import main
from cnnlstm.commands.detect.many import SUMMARY, find_inputs
from cnnlstm.data.sensor_plant import SensorPlant

TINY = ["--window", "8", "--epochs", "2"]
TRAIN_ROWS = "200"
BAD = "datetime;a;b\n2020-01-01 00:00:00;1;x\n2020-01-01 00:00:01;2;3\n"


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """plant/p0.csv, p1.csv (labelled), sub/p2.csv (labelled), sub/normal.csv (no labels)."""
    root = tmp_path_factory.mktemp("many") / "plant"
    (root / "sub").mkdir(parents=True)
    for seed, name in enumerate(("p0.csv", "p1.csv", "sub/p2.csv")):
        SensorPlant(
            seed=seed, n_anomalies=2, normal_rows=200, anomaly_kinds=("spike", "noise")
        ).write_csv(root / name, 600)
    SensorPlant(seed=9).write_normal_csv(root / "sub" / "normal.csv", 300)
    return root


def _run(argv: list[str]) -> tuple[int, str]:
    capture = io.StringIO()
    stdout, sys.stdout = sys.stdout, capture
    try:
        code = main(argv)
    finally:
        sys.stdout = stdout
    return code, capture.getvalue()


def _summary(folder: Path) -> list[dict[str, str]]:
    with open(folder / "summary.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def one_job(plant: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    out = tmp_path_factory.mktemp("one") / "out"
    report = out.parent / "report"
    argv = [f"{plant}/**/*.csv", "--train-rows", TRAIN_ROWS, *TINY, "-o", str(out)]
    code, printed = _run([*argv, "--report", str(report)])
    return code, printed, out


def test_each_output_is_the_one_a_run_on_the_file_alone_writes(
    plant: Path, one_job: tuple[int, str, Path], tmp_path: Path
) -> None:
    code, printed, out = one_job
    assert code == 0, printed
    for name in ("p0.csv", "p1.csv", "sub/p2.csv", "sub/normal.csv"):
        alone = tmp_path / name.replace("/", "-")
        code, single = _run(
            [str(plant / name), "--train-rows", TRAIN_ROWS, *TINY, "-o", str(alone)]
        )
        assert code == 0
        assert (out / name).read_bytes() == alone.read_bytes(), name
        headline = r"flagged (\d+) of the (\d+) rows after the (\d+) training rows, in (\d+) span"
        flagged = re.search(headline, single)
        assert flagged is not None
        count, after, training, spans = flagged.groups()
        (row,) = [r for r in _summary(out) if r["file"] == name]
        assert (row["flagged"], row["spans"]) == (count, spans)
        assert int(row["rows"]) == int(after) + int(training)  # the summary counts every row
        f1 = re.search(r"│ +[\d.]+ │ +[\d.]+ │ +([\d.]+) │", single)  # precision, recall, F1
        if name == "sub/normal.csv":
            assert f1 is None and row["f1"] == "" and row["error"] == ""
        else:
            assert f1 is not None and f"{float(row['f1']):.3f}" == f1.group(1)
    report = out.parent / "report"
    assert (report / "sub" / "p2" / "detection.png").exists()
    assert (report / "p0" / "summary.md").exists()


def test_the_table_lists_every_file_and_says_where_the_outputs_went(
    one_job: tuple[int, str, Path],
) -> None:
    _, printed, out = one_job
    assert "4 files below" in printed and "1 at a time" in printed
    for name in ("p0.csv", "p1.csv", "sub/p2.csv", "sub/normal.csv"):
        assert re.search(
            rf"\[\d/4\] {re.escape(name)}: \d+ rows, \d+ flagged in \d+ spans?", printed
        )
        assert re.search(rf"│ {re.escape(name)} +│ +\d+ │", printed)
    assert [r["file"] for r in _summary(out)] == [
        "p0.csv",
        "p1.csv",
        "sub/normal.csv",
        "sub/p2.csv",
    ]
    assert f"wrote {out / 'summary.csv'}" in printed


def test_two_jobs_write_the_same_outputs(
    plant: Path, one_job: tuple[int, str, Path], tmp_path: Path
) -> None:
    _, _, out = one_job
    two = tmp_path / "two"
    code, printed = _run(
        [f"{plant}/**/*.csv", "--train-rows", TRAIN_ROWS, *TINY, "-o", str(two), "-j", "2"]
    )
    assert code == 0, printed
    assert "2 at a time" in printed
    for name in ("p0.csv", "p1.csv", "sub/p2.csv", "sub/normal.csv", "summary.csv"):
        assert (two / name).read_bytes() == (out / name).read_bytes(), name


def test_a_bad_file_fails_alone(plant: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("p0.csv", "p1.csv"):
        (folder / name).write_bytes((plant / name).read_bytes())
    (folder / "bad.csv").write_text(BAD)
    (folder / "notes.md").write_text("not a sensor file\n")
    out = tmp_path / "out"
    code, printed = _run([str(folder), "--train-rows", TRAIN_ROWS, *TINY, "-o", str(out)])
    assert code == 1
    rows = {r["file"]: r for r in _summary(out)}
    assert sorted(rows) == ["bad.csv", "p0.csv", "p1.csv"]  # the folder's sensor files
    assert rows["bad.csv"]["rows"] == "" and "line 2, column 'b': 'x'" in rows["bad.csv"]["error"]
    assert rows["p0.csv"]["error"] == "" and int(rows["p0.csv"]["rows"]) == 600
    assert (out / "p0.csv").exists() and (out / "p1.csv").exists()
    assert not (out / "bad.csv").exists()
    assert f"bad.csv: error: {folder / 'bad.csv'}: line 2" in printed
    assert "1 of 3 files failed" in printed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{plant}/*.nothing", "-o", "{tmp}/o"], "matches no file"),
        (["{plant}/*.csv"], "--output OUTDIR has to be given"),
        (["{plant}/*.csv", "-o", "{plant}"], "would write over a file it reads"),
        (["{plant}/*.csv", "-o", "{tmp}/o", "-j", "0"], "--jobs has to be a positive int"),
        (["{plant}/*.csv", "-o", "{tmp}/o", "--window", "1"], "--window has to be at least 2"),
        (["{tmp}", "-o", "{tmp}/o"], "is a folder without .csv, .tsv, .txt files"),
    ],
)
def test_mistakes_in_the_flags_stop_before_any_file(
    plant: Path,
    tmp_path: Path,
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    filled = [a.format(plant=plant, tmp=tmp_path) for a in argv]
    assert main([*filled, "--train-rows", TRAIN_ROWS]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cnnlstm detect: error: ") and message in err[0]
    assert not (tmp_path / "o").exists()


def test_find_inputs_takes_a_folder_a_pattern_or_one_file(plant: Path) -> None:
    assert find_inputs(str(plant / "p0.csv")) is None
    assert find_inputs(str(plant / "missing.csv")) is None  # the one-file run says it is missing
    files, root = find_inputs(str(plant / "sub"))  # type: ignore[misc]
    assert [f.name for f in files] == ["normal.csv", "p2.csv"] and root == plant / "sub"
    files, root = find_inputs(f"{plant}/**/p*.csv")  # type: ignore[misc]
    assert [f.relative_to(plant).as_posix() for f in files] == ["p0.csv", "p1.csv", "sub/p2.csv"]
    assert root == plant


def test_summary_csv_gives_far_and_mar_in_percent_as_the_table_does(
    plant: Path, one_job: tuple[int, str, Path]
) -> None:
    """FAR and MAR counted here from each file's labels and its OUT flags (the rows after the
    training rows), in percent: what summary.csv's far_percent and mar_percent hold, and what
    the printed table shows."""
    _, printed, out = one_job
    rows = _summary(out)
    assert list(rows[0]) == [
        "file", "rows", "flagged", "spans", "precision", "recall", "f1",
        "far_percent", "mar_percent", "nab", "error",
    ]  # fmt: skip
    for name in ("p0.csv", "p1.csv", "sub/p2.csv"):
        with open(plant / name, newline="", encoding="utf-8") as handle:
            labels = [int(float(r["anomaly"])) for r in csv.DictReader(handle, delimiter=";")]
        with open(out / name, newline="", encoding="utf-8") as handle:
            flags = [int(r["anomaly"]) for r in csv.DictReader(handle)]
        pairs = list(zip(labels, flags, strict=True))[int(TRAIN_ROWS) :]
        false_alarms = sum(1 for label, flag in pairs if flag and not label)
        missed = sum(1 for label, flag in pairs if label and not flag)
        normal = sum(1 for label, _ in pairs if not label)
        far, mar = 100 * false_alarms / normal, 100 * missed / (len(pairs) - normal)
        (row,) = [r for r in rows if r["file"] == name]
        assert float(row["far_percent"]) == pytest.approx(far, rel=1e-5)
        assert float(row["mar_percent"]) == pytest.approx(mar, rel=1e-5)
        shown = re.search(rf"│ {re.escape(name)} +│(.*)│\n", printed)
        assert shown is not None
        cells = [cell.strip() for cell in shown.group(1).split("│")]
        assert cells[6:8] == [f"{far:.2f}", f"{mar:.2f}"]  # rows, flagged, spans, P, R, F1
    (normal_row,) = [r for r in rows if r["file"] == "sub/normal.csv"]
    assert normal_row["far_percent"] == normal_row["mar_percent"] == ""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_missing_optional_package_stops_the_run_once(
    plant: Path, tmp_path: Path, jobs: str
) -> None:
    """matplotlib made missing (a package of that name that cannot be imported, first on the
    path, in the workers too): --report needs it for every file, so the run stops with the one
    error line, exit code 2, not once per file in a table of failures."""
    fake = tmp_path / "site" / "matplotlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'matplotlib'\", name='matplotlib')\n"
    )
    path = os.pathsep.join(filter(None, [str(fake.parent), os.environ.get("PYTHONPATH")]))
    out = tmp_path / "out"
    argv = [str(plant), "--train-rows", TRAIN_ROWS, *TINY, "-o", str(out), "-j", jobs]
    ran = subprocess.run(
        [sys.executable, "-m", "cnnlstm.cli", "detect", *argv, "--report", str(tmp_path / "r")],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 2, ran.stdout + ran.stderr
    errors = ran.stderr.strip().splitlines()
    assert len(errors) == 1, errors
    assert errors[0].startswith("cnnlstm detect: error: ")
    assert "needs the package 'matplotlib', which is not installed" in errors[0]
    assert "error" not in ran.stdout and "failed" not in ran.stdout  # no line per file
    assert not (out / SUMMARY).exists()
