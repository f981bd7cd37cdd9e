"""``cnnlstm detect`` on files as plants export them: headers in Windows-1252 or UTF-16
(``Temperatur Kühlwasser (°C)``), binary files passed for a CSV, output places that cannot be
written, a header with another delimiter than its rows.

The exports are :class:`SensorPlant`'s rows under German names, encoded here with Python's
codecs; the same table written as UTF-8 is the reference a run has to reproduce byte for byte,
and ``pandas.read_csv(encoding=...)`` on the same file the independent reading of its names
and times."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cnnlstm.commands.detect import main, reading
from cnnlstm.data.sensor_plant import SensorPlant

RunDetect = Callable[[list[str]], tuple[int, str, str]]
"""The ``run_detect`` fixture (conftest.py): exit code, standard output, standard error."""
OneError = Callable[[str], str]
"""The ``one_error`` fixture: the one error line of a standard error."""

TINY = ["--window", "8", "--epochs", "2", "--smooth", "5"]
TRAIN_ROWS = "200"
GERMAN = [
    "Zeitstempel",
    "Beschleunigung 1 (m/s²)",
    "Beschleunigung 2 (m/s²)",
    "Strom (A)",
    "Druck (bar)",
    "Temperatur Kühlwasser (°C)",
    "Thermoelement (°C)",
    "Spannung (V)",
    "Durchfluss (m³/h)",
    "anomaly",
    "changepoint",
]
# how the export is written, and what pandas is told to read it with
ENCODINGS = {
    "cp1252": ("cp1252", "cp1252"),
    "utf-16 LE BOM": ("utf-16-le", "utf-16"),
    "utf-16 BE BOM": ("utf-16-be", "utf-16"),
    "utf-8 BOM": ("utf-8-sig", "utf-8-sig"),
}


def _export_bytes(source: Path, codec: str) -> bytes:
    """SensorPlant's file under German names, CRLF, encoded with ``codec`` (a BOM for UTF-16)."""
    with source.open(newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    assert len(rows[0]) == len(GERMAN)
    text = "\r\n".join(";".join(row) for row in [GERMAN, *rows[1:]]) + "\r\n"
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}.get(codec, b"")
    return bom + text.encode(codec)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The plant's file, its German export as UTF-8, and a run on that export (out.csv and the
    detector saved)."""
    root = tmp_path_factory.mktemp("plant_files")
    plant = SensorPlant(seed=1, n_anomalies=1, normal_rows=200, anomaly_kinds=("spike",))
    plant.write_csv(root / "plant.csv", 400)
    export = root / "export-utf8.csv"
    export.write_bytes(_export_bytes(root / "plant.csv", "utf-8"))
    out, saved = root / "reference.csv", root / "detector.pt"
    argv = [str(export), "--train-rows", TRAIN_ROWS, "-o", str(out), "--save", str(saved)]
    assert main([*argv, *TINY]) == 0
    return {"plant": root / "plant.csv", "export": export, "out": out, "saved": saved}


# ----------------------------------------------------------------------------- encodings


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_an_export_in_another_encoding_scores_as_the_utf_8_file(
    files: dict[str, Path],
    tmp_path: Path,
    name: str,
    run_detect: RunDetect,
) -> None:
    codec, told = ENCODINGS[name]
    path = tmp_path / "export.csv"
    path.write_bytes(_export_bytes(files["plant"], codec))
    independent = pd.read_csv(path, sep=";", encoding=told)
    assert list(independent.columns) == GERMAN  # the file holds what the test meant to write

    out = tmp_path / "out.csv"
    code, printed, err = run_detect([str(path), "--train-rows", TRAIN_ROWS, "-o", str(out), *TINY])
    assert code == 0, err
    assert out.read_bytes() == files["out"].read_bytes()
    scores = pd.read_csv(out)
    assert scores["datetime"].tolist() == independent["Zeitstempel"].tolist()
    assert "precision" in printed  # the labels were found beside the German names
    notes = [line for line in printed.splitlines() if line.startswith("note: ")]
    if codec == "cp1252":
        (note,) = notes
        assert note == (
            f"note: {path}: line 1 is not UTF-8 (byte 0xb2) and there is no byte order mark, "
            f"so the text was read as cp1252 (Windows-1252, Western European): line 1 reads "
            f"'...tstempel;Beschleunigung 1 (m/s²);Beschleunigung 2 (m/s²);Str...'. "
            f"If that is wrong, pass the file's encoding, e.g. --encoding cp1250 (Central "
            f"European) or --encoding cp850 (DOS); --encoding cp1252 reads it so without this "
            f"note."
        )
    else:
        assert not notes


def test_encoding_names_the_files_encoding(
    files: dict[str, Path],
    tmp_path: Path,
    run_detect: RunDetect,
    one_error: OneError,
) -> None:
    path, out = tmp_path / "export.csv", tmp_path / "out.csv"
    path.write_bytes(_export_bytes(files["plant"], "cp1252"))
    base = [str(path), "--train-rows", TRAIN_ROWS, "-o", str(out), *TINY]
    for given in ("cp1252", "latin-1", "Windows-1252"):
        code, printed, err = run_detect([*base, "--encoding", given])
        assert code == 0, err
        assert "note:" not in printed  # named: nothing is assumed
        assert out.read_bytes() == files["out"].read_bytes()
    out.unlink()
    code, _, err = run_detect([*base, "--encoding", "utf-8"])
    assert code == 2 and not out.exists()
    assert one_error(err) == (
        f"cnnlstm detect: error: {path}: line 1 cannot be read as utf-8 (byte 0xb2); pass the "
        f"file's encoding, e.g. --encoding cp1252, or --encoding auto to detect it."
    )
    code, _, err = run_detect([*base, "--encoding", "klingon"])
    assert code == 2 and not out.exists()
    assert "--encoding has to be auto or the name of a text encoding" in one_error(err)
    assert "but got 'klingon'" in err
    # the training file is read the same way, each file's encoding found on its own
    normal = tmp_path / "normal.csv"
    normal.write_bytes(_export_bytes(files["plant"], "utf-16-le"))
    argv = [str(path), "--train", str(normal), "-o", str(out), *TINY]
    code, printed, err = run_detect(argv)
    assert code == 0, err
    assert f"note: {path}: line 1 is not UTF-8" in printed and f"note: {normal}" not in printed
    code, _, err = run_detect([*argv, "--encoding", "cp1252"])
    assert code == 2
    assert one_error(err).endswith(
        f"error: {normal}: starts with the byte order mark of UTF-16 but was read as cp1252; "
        f"pass --encoding utf-16 or --encoding auto."
    )


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    """Standard input as the shell gives it: bytes under a text layer."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


@pytest.mark.parametrize("name", ["cp1252", "utf-16 LE BOM", "utf-8 BOM"])
def test_stream_reads_the_bytes_as_the_file_is_read(
    files: dict[str, Path],
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    run_detect: RunDetect,
) -> None:
    data = _export_bytes(files["plant"], ENCODINGS[name][0])
    _stdin(monkeypatch, data)
    code, streamed, err = run_detect(["-", "--stream", "--load", str(files["saved"])])
    assert code == 0, err
    live, offline = pd.read_csv(io.StringIO(streamed)), pd.read_csv(files["out"])
    assert live["datetime"].tolist() == offline["datetime"].tolist()
    np.testing.assert_allclose(live["score"], offline["score"], atol=1e-5, rtol=0)
    if name == "cp1252":
        assert "note: stdin: line 1 is not UTF-8 (byte 0xb2)" in err
        assert "--encoding cp1252 reads it so without this note." in err
        _stdin(monkeypatch, data)
        argv = ["-", "--stream", "--load", str(files["saved"]), "--encoding", "cp1252"]
        code, again, err = run_detect(argv)
        assert code == 0 and again == streamed and "note:" not in err
    else:
        assert "note:" not in err


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("png", "is a PNG image, not text; expected a delimited sensor file (CSV)."),
        ("gzip", "is a gzip archive, not text: decompress it first (gunzip);"),
        ("random", "which no text holds: the file is binary;"),
    ],
)
def test_a_binary_file_is_refused_as_binary(
    files: dict[str, Path],
    tmp_path: Path,
    kind: str,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    run_detect: RunDetect,
    one_error: OneError,
) -> None:
    if kind == "png":
        data = _png()
    elif kind == "gzip":
        data = gzip.compress(files["export"].read_bytes())
    else:
        data = np.random.default_rng(0).bytes(4096)
    path, out = tmp_path / "export.csv", tmp_path / "out.csv"
    path.write_bytes(data)
    for argv in (
        [str(path), "-o", str(out), *TINY],
        [str(path), "-o", str(out), "--encoding", "cp1252", *TINY],
        [str(files["export"]), "--train", str(path), "-o", str(out), *TINY],
    ):
        code, _, err = run_detect(argv)
        assert code == 2 and not out.exists()
        line = one_error(err)
        assert f"error: {path}: " in line and expected in line
    _stdin(monkeypatch, data)
    code, _, err = run_detect(["-", "--stream", "--load", str(files["saved"])])
    assert code == 2 and "error: stdin: " in one_error(err) and expected in err


# ----------------------------------------------------------------------------- outputs


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _never_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading a file fails the test: a bad output place is found before any input is read
    (and so before fitting: at once)."""

    def read(*args: object, **kwargs: object) -> None:
        raise AssertionError("an input was read before the output places were checked")

    monkeypatch.setattr(reading, "SensorCSV", read)
    monkeypatch.setattr(reading, "SensorChunks", read)


@pytest.mark.parametrize(
    ("flag", "place", "expected"),
    [
        ("--report", "a_file/rep", "--report {path} cannot be written: {root}/a_file is a file"),
        ("--report", "a_file", "--report has to be a folder, but got the file {path}"),
        ("--output", "a_file/out.csv", "--output {path} cannot be written: {root}/a_file is a"),
        ("--output", "a_dir", "--output has to be a file, but got the folder {path}"),
        ("--save", "a_file/deep/d.pt", "--save {path} cannot be written: {root}/a_file is a"),
        ("--save", "a_dir", "--save has to be a file, but got the folder {path}"),
        ("--output", "export.csv", "--output has to be another path than INPUT, but both are"),
        ("--save", "out.csv", "--save has to be another path than --output, but both are"),
        ("--report", "locked/rep", "--report {path} cannot be written: the folder {root}/locked"),
        ("--output", "nodir/out.csv", "--output {path} cannot be written: the folder {root}/nodir"),
        ("--save", "new/d.pt", "--save {path} cannot be written: the folder {root}/new does not"),
    ],
)
def test_an_output_place_that_cannot_be_written_stops_the_run_at_once(
    files: dict[str, Path],
    tmp_path: Path,
    flag: str,
    place: str,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    run_detect: RunDetect,
    one_error: OneError,
) -> None:
    (tmp_path / "a_file").write_text("not a folder\n")
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "export.csv").write_bytes(files["export"].read_bytes())
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: the folder is read-only as a user sees it
        access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != locked and access(p, mode))
    before = _listing(tmp_path)
    places = {"--output": "out.csv", "--report": "rep", "--save": "d.pt", flag: place}
    argv = [str(tmp_path / "export.csv"), *TINY]
    for option, where in places.items():
        argv += [option, str(tmp_path / where)]
    _never_read(monkeypatch)
    code, printed, err = run_detect(argv)
    assert code == 2 and printed == ""
    line = one_error(err)
    assert expected.format(path=tmp_path / place, root=tmp_path) in line
    assert flag in line and str(tmp_path / place) in line
    assert _listing(tmp_path) == before  # no out.csv, no folder made
    locked.chmod(0o755)


def test_stream_checks_save_before_reading(
    files: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_detect: RunDetect,
    one_error: OneError,
) -> None:
    (tmp_path / "a_file").write_text("not a folder\n")
    _stdin(monkeypatch, b"")
    _never_read(monkeypatch)
    save = tmp_path / "a_file" / "d.pt"
    argv = ["-", "--stream", "--train", str(files["export"]), "--save", str(save), *TINY]
    code, printed, err = run_detect(argv)
    assert code == 2 and printed == ""
    assert f"--save {save} cannot be written: {tmp_path / 'a_file'} is a file" in one_error(err)


def test_a_run_that_fails_while_writing_leaves_no_output(
    files: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_detect: RunDetect,
    one_error: OneError,
) -> None:
    import cnnlstm.reports.anomaly as anomaly

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device", "detection.png")

    monkeypatch.setattr(anomaly, "draw_detection", full_disk)
    new, outs = tmp_path / "new", tmp_path / "outs"
    outs.mkdir()
    argv = [str(files["export"]), "--train-rows", TRAIN_ROWS, *TINY]
    argv += ["-o", str(outs / "out.csv"), "--save", str(outs / "d.pt")]
    argv += ["--report", str(new / "rep")]
    code, printed, err = run_detect(argv)
    assert code == 2
    assert "detection.png: No space left on device." in one_error(err)
    assert _listing(outs) == []  # no out.csv, no detector
    assert not new.exists()  # nor the report's folder made for it
    assert "wrote" not in printed and "saved the detector" not in printed
    # an earlier OUT.csv stays as it was
    (outs / "out.csv").write_text("the previous run\n")
    assert main(argv) == 2
    assert _listing(outs) == ["out.csv"]
    assert (outs / "out.csv").read_text() == "the previous run\n"


def test_a_run_that_writes_puts_every_output_in_place(
    files: dict[str, Path], tmp_path: Path, run_detect: RunDetect
) -> None:
    new = tmp_path / "new"
    (new / "a").mkdir(parents=True)  # the folders of the files named exist; --report's is made
    (new / "b").mkdir()
    argv = [str(files["export"]), "--train-rows", TRAIN_ROWS, *TINY]
    argv += ["-o", str(new / "a" / "out.csv"), "--save", str(new / "b" / "d.pt")]
    code, printed, err = run_detect([*argv, "--report", str(new / "rep")])
    assert code == 0, err
    assert _listing(new) == [
        "a",
        "a/out.csv",
        "b",
        "b/d.pt",
        "rep",
        "rep/detection.png",
        "rep/summary.md",
    ]
    assert (new / "a" / "out.csv").read_bytes() == files["out"].read_bytes()
    assert "](detection.png)" in (new / "rep" / "summary.md").read_text()  # not the temp name
    assert f"saved the detector to {new / 'b' / 'd.pt'}" in printed
    assert f"wrote {new / 'rep' / 'detection.png'} and {new / 'rep' / 'summary.md'}" in printed


# ----------------------------------------------------------------------------- messages


def test_a_header_with_another_delimiter_says_so(
    files: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_detect: RunDetect,
    one_error: OneError,
) -> None:
    lines = files["plant"].read_text().splitlines()
    header, first = lines[0].replace(";", ","), lines[1]
    path, out = tmp_path / "mixed.csv", tmp_path / "out.csv"
    path.write_text("\n".join([header, *lines[1:]]) + "\n")
    code, _, err = run_detect([str(path), "-o", str(out), *TINY])
    assert code == 2 and not out.exists()
    line = one_error(err)
    assert line == (
        f"cnnlstm detect: error: {path}: the header (line 1) is separated by commas (',') but "
        f"the rows by semicolons (';'): header {header!r}, line 2 {first!r}. Write the header "
        f"with ';' between its names, like the rows."
    )
    assert line.count(first) == 1
    _stdin(monkeypatch, path.read_bytes())
    code, _, err = run_detect(["-", "--stream", "--load", str(files["saved"])])
    assert code == 2
    assert "error: stdin: the header (line 1) is separated by commas (',')" in one_error(err)
