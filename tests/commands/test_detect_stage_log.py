"""Where its output is not a terminal (a log file, a pipe), ``cnnlstm detect`` logs a line at
each stage with its time (read, fit, calibrate, score, write) and a line each tenth of the fit,
where a terminal shows progress bars instead; a terminal's output is as it was."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cnnlstm.anomaly.training import LOG_LINES, train_windows
from cnnlstm.commands.detect import main, reading
from cnnlstm.models.detectors import WindowCNNLSTM

RunDetect = Callable[[list[str]], tuple[int, str, str]]

SKAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "skab"
VALVE = SKAB / "valve1" / "1.csv"
FREE = SKAB / "anomaly-free" / "anomaly-free.csv"
TINY = ["--window", "8", "--smooth", "5", "--epochs", "1", "--steps", "20"]
SECONDS = r"\(\d+\.\d s\)"


def test_a_log_file_gets_a_line_per_stage_in_order(tmp_path: Path, run_detect: RunDetect) -> None:
    out, saved, report = tmp_path / "out.csv", tmp_path / "d.pt", tmp_path / "report"
    argv = [str(VALVE), "--train", str(FREE), "-o", str(out), "--save", str(saved)]
    code, printed, err = run_detect([*argv, "--report", str(report), *TINY])
    assert code == 0, err
    lines = printed.splitlines()
    expected = [
        rf"read: 1145 rows of {re.escape(str(VALVE))} {SECONDS}",  # the whole file
        rf"read: 9405 rows of {re.escape(str(FREE))} {SECONDS}",
        r"fitting window_cnnlstm on the 9405 rows of ",
        *[rf"fit: step {2 * k} of 20, loss [\d.e+-]+ {SECONDS}" for k in range(1, LOG_LINES)],
        rf"fit: 20 steps on \d+ rows, loss [\d.e+-]+ {SECONDS}",
        rf"calibrate: the error scale and the threshold from \d+ held-out rows {SECONDS}",
        r"fitted in \d+\.\d s \(20 steps\)",
        r"scored 1145 rows in \d+\.\d s",
        rf"write: {re.escape(str(out))}, {re.escape(str(saved))}, "
        rf"{re.escape(str(report / 'detection.png'))}, {re.escape(str(report / 'summary.md'))} "
        rf"{SECONDS}",
    ]
    at = [next(i for i, line in enumerate(lines) if re.match(p, line)) for p in expected]
    assert at == sorted(at), lines[:30]


def test_a_terminal_gets_no_log_lines(tmp_path: Path) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    stdout, sys.stdout = sys.stdout, screen
    try:
        code = main([str(VALVE), "--train-rows", "300", "-o", str(tmp_path / "o.csv"), *TINY])
    finally:
        sys.stdout = stdout
    assert code == 0
    shown = screen.getvalue()
    assert "fitting window_cnnlstm on the first 300 rows" in shown and "scored 1145 rows" in shown
    for stage in ("read: ", "fit: step", "calibrate: ", "write: "):
        assert stage not in shown


def test_stream_logs_its_fit_on_standard_error(
    monkeypatch: pytest.MonkeyPatch, run_detect: RunDetect
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(VALVE.read_text()))
    code, streamed, err = run_detect(["-", "--stream", "--train", str(FREE), *TINY])
    assert code == 0, err
    assert streamed.splitlines()[0] == "datetime,score,anomaly"
    assert len(streamed.splitlines()) == 1146  # the rows alone: the log is on standard error
    assert "fit: 20 steps on" in err and "calibrate: " in err and "read: 9405 rows" in err


def test_train_windows_log_is_called_each_tenth_and_at_the_end() -> None:
    model = WindowCNNLSTM(n_sensors=3, window=8)
    calls: list[tuple[int, int, float]] = []
    done = train_windows(
        model,
        torch.randn(200, 3),
        window=8,
        epochs=3,
        batch_size=16,
        lr=1e-3,
        seed=0,
        budget=25,
        log=lambda steps, budget, loss: calls.append((steps, budget, loss)),
    )
    assert done.steps == 25
    assert [c[0] for c in calls] == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 25]
    assert all(budget == 25 for _, budget, _ in calls[:-1]) and calls[-1][1] == 25
    assert calls[-1][2] == done.train_loss[-1]


def test_the_read_line_says_the_first_rows_only_when_the_file_goes_on(
    tmp_path: Path, run_detect: RunDetect, monkeypatch: pytest.MonkeyPatch
) -> None:
    """valve1/1.csv (1145 rows, counted here) read in parts of 100 rows: fitting on the first 300
    reads 4 parts, and the file goes on; in one part, the same run reads the whole file. The
    part read to know that is scored too: the outputs are the same rows and flags."""
    rows = len(VALVE.read_text().splitlines()) - 1
    assert rows == 1145
    argv = [str(VALVE), "--train-rows", "300", *TINY]
    code, printed, err = run_detect([*argv, "-o", str(tmp_path / "whole.csv")])
    assert code == 0, err
    assert f"read: {rows} rows of {VALVE} (" in printed and "read: the first" not in printed
    monkeypatch.setattr(reading, "MIN_CHUNK_ROWS", 100)
    monkeypatch.setattr(reading, "CELLS_PER_CHUNK", 100)
    code, printed, err = run_detect([*argv, "-o", str(tmp_path / "parts.csv")])
    assert code == 0, err
    assert f"read: the first 400 rows of {VALVE} (" in printed
    assert f"scored {rows} rows" in printed
    whole, in_parts = (pd.read_csv(tmp_path / name) for name in ("whole.csv", "parts.csv"))
    assert len(whole) == len(in_parts) == rows
    assert in_parts["datetime"].tolist() == whole["datetime"].tolist()
    np.testing.assert_allclose(in_parts["score"], whole["score"], rtol=1e-5)  # float32 sums
    assert in_parts["anomaly"].tolist() == whole["anomaly"].tolist()
