"""``cnnlstm detect`` on a real SKAB file with one sentinel cell (1e300, a historian's "no
value"): the scores used to turn NaN from that row on and every later row was written as
normal. Now the run stops at that cell, by file, line and column, offline and as a stream."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

RunDetect = Callable[[list[str]], tuple[int, str, str]]

VALVE = Path(__file__).resolve().parents[3] / "shared" / "data" / "skab" / "valve1" / "0.csv"
TINY = ["--window", "8", "--epochs", "1", "--steps", "5"]


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = pd.read_csv(VALVE, sep=";")
    frame.loc[700, "Voltage"] = 1e300  # line 702 of the file: the header, then row 0 on line 2
    path = tmp_path_factory.mktemp("far") / "sentinel.csv"
    frame.to_csv(path, sep=";", index=False)
    return path


def test_a_sentinel_cell_stops_the_run_at_its_line(
    sentinel: Path, tmp_path: Path, run_detect: RunDetect
) -> None:
    out = tmp_path / "out.csv"
    code, _, err = run_detect([str(sentinel), "-o", str(out), *TINY])
    assert code == 2 and not out.exists()
    assert f"{sentinel}: line 702, column 'Voltage': 1e+300 is " in err
    assert "training sds from that sensor's training mean" in err and "--nan ffill" in err
    assert "Traceback" not in err


def test_a_sentinel_cell_stops_a_stream_at_its_line(
    sentinel: Path, tmp_path: Path, run_detect: RunDetect, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = tmp_path / "d.pt"
    code, _, err = run_detect([str(VALVE), "-o", str(tmp_path / "fit.csv"), "--save", str(saved)])
    assert code == 0, err
    monkeypatch.setattr(sys, "stdin", io.StringIO(sentinel.read_text()))
    code, printed, err = run_detect(["-", "--stream", "--load", str(saved)])
    assert code == 2
    assert "stdin: line 702, column 'Voltage': 1e+300 is " in err
    assert len(printed.splitlines()) == 1 + 700  # the header, then the rows before it
