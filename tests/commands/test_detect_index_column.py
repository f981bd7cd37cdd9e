"""A column that indexes the rows (``row``, as ``cnnlstm detect`` writes it, ``index``, pandas'
unnamed index) is not a sensor: on a real SKAB file with such a column added, ``cnnlstm detect``
writes the scores and flags of the file without it and says so in a note; a column so named that
does not count the rows stays a sensor, and the note says why."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest

from cnnlstm.commands.detect import main
from cnnlstm.commands.detect.reading import index_columns

RunDetect = Callable[[list[str]], tuple[int, str, str]]

SKAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "skab"
VALVE = SKAB / "valve1" / "1.csv"
FREE = SKAB / "anomaly-free" / "anomaly-free.csv"
TINY = ["--window", "8", "--smooth", "5", "--epochs", "1", "--steps", "10"]


def _with_index(source: Path, target: Path, *, label: str | None, start: int = 0) -> Path:
    """``source`` written by pandas with its index as the first column, named ``label`` (None:
    pandas' index without a name, an empty header cell), counting from ``start``."""
    frame = pd.read_csv(source, sep=";", dtype=str, keep_default_na=False)
    frame.index = frame.index + start
    frame.to_csv(target, sep=";", index=True, index_label=label)
    return target


class Plain(NamedTuple):
    out: bytes
    """OUT.csv of the SKAB file as it is."""
    saved: Path
    """Its detector."""


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Plain:
    """The run on the SKAB file as it is."""
    out = tmp_path_factory.mktemp("plain") / "out.csv"
    argv = [str(VALVE), "-o", str(out), "--train-rows", "300", "--save", str(out.parent / "d.pt")]
    assert main([*argv, *TINY]) == 0
    return Plain(out.read_bytes(), out.parent / "d.pt")


@pytest.mark.parametrize(
    ("label", "start"), [("row", 0), ("index", 1), ("Unnamed: 0", 0), (None, 0)]
)
def test_an_index_column_gives_the_flags_of_the_file_without_it(
    plain: Plain,
    tmp_path: Path,
    run_detect: RunDetect,
    label: str | None,
    start: int,
) -> None:
    indexed = _with_index(VALVE, tmp_path / "indexed.csv", label=label, start=start)
    out = tmp_path / "out.csv"
    code, printed, err = run_detect([str(indexed), "-o", str(out), "--train-rows", "300", *TINY])
    assert code == 0, err
    assert out.read_bytes() == plain.out
    name = repr(label or "")
    assert f"column {name}" in printed
    assert (
        f"counts the rows ({start}, {start + 1}, {start + 2}, ... down its 1145 rows): it is "
        "read as their index, not as a sensor." in printed
    )
    assert "only rise from row to row" not in printed  # the counter warning it set off


def test_an_index_column_in_the_training_file(
    plain: Plain, tmp_path: Path, run_detect: RunDetect
) -> None:
    """The training file's index is left out too, so its columns are INPUT's."""
    free = _with_index(FREE, tmp_path / "free.csv", label="row")
    code, printed, err = run_detect(
        [str(VALVE), "--train", str(free), "-o", str(tmp_path / "a.csv"), *TINY]
    )
    assert code == 0, err
    assert "column 'row' counts the rows (0, 1, 2, ... down its 9405 rows)" in printed
    code, _, err = run_detect(
        [str(VALVE), "--train", str(FREE), "-o", str(tmp_path / "b.csv"), *TINY]
    )
    assert code == 0, err
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_a_column_named_row_that_does_not_count_stays_a_sensor(
    plain: Plain, tmp_path: Path, run_detect: RunDetect
) -> None:
    frame = pd.read_csv(VALVE, sep=";", dtype=str, keep_default_na=False)
    ids = np.arange(len(frame))
    ids[500:] += 7  # a machine's record numbers, with a jump
    frame.insert(0, "row", ids)
    target = tmp_path / "ids.csv"
    frame.to_csv(target, sep=";", index=False)
    out = tmp_path / "out.csv"
    code, printed, err = run_detect([str(target), "-o", str(out), "--train-rows", "300", *TINY])
    assert code == 0, err
    assert (
        "column 'row' is named like an index of the rows, but its row 500 holds 507, not 500, so "
        "it is read as a sensor; leave it out with --columns "
    ) in printed
    assert out.read_bytes() != plain.out


def test_index_columns_reads_names_and_counts() -> None:
    """Against the rule written out: the name (any case, or none), from 0 or 1, no gap."""
    counting = np.arange(6, dtype=np.float64)
    sensor = np.array([5.0, 5.1, 4.9, 5.0, 5.2, 5.1])
    cases = [
        (["row", "flow"], [counting, sensor], ["row"]),
        (["INDEX", "flow"], [counting + 1, sensor], ["INDEX"]),
        (["", "flow"], [counting, sensor], [""]),
        (["row", "flow"], [counting + 2, sensor], []),  # starts at 2
        (["id", "flow"], [counting, sensor], []),  # another name
        (["row"], [counting], []),  # the only column
        (["row", "flow"], [counting * 2, sensor], []),
    ]
    for names, columns, expected in cases:
        rows = np.column_stack(columns)
        found, notes = index_columns(Path("f.csv"), names, rows, rows != rows, whole=True)
        assert found == expected, names
        assert len(notes) == sum(n.strip().lower() in ("row", "index", "") for n in names)
    holes = np.zeros((6, 2), dtype=bool)
    holes[3, 0] = True
    rows = np.column_stack([counting, sensor])
    found, notes = index_columns(Path("f.csv"), ["row", "flow"], rows, holes, whole=False)
    assert found == [] and "its row 3 is empty" in notes[0]


def test_stream_skips_an_index_column(
    plain: Plain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_detect: RunDetect
) -> None:
    """Rows with a ``row`` column stream with the detector fitted without it, as offline."""
    indexed = _with_index(VALVE, tmp_path / "indexed.csv", label="row")
    monkeypatch.setattr(sys, "stdin", io.StringIO(indexed.read_text()))
    code, streamed, err = run_detect(["-", "--stream", "--load", str(plain.saved)])
    assert code == 0, err
    got = pd.read_csv(io.StringIO(streamed))
    offline = pd.read_csv(io.BytesIO(plain.out))
    assert got["datetime"].tolist() == offline["datetime"].tolist()
    np.testing.assert_allclose(got["score"], offline["score"], atol=1e-5, rtol=0)
