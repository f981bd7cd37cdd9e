"""Wide files on the command line: the warning for few training rows a sensor, and span tables
that name a few sensors, not hundreds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cnnlstm.anomaly.held_shift import ROWS_PER_SENSOR

TINY = ["--window", "8", "--epochs", "2"]


def _wide_file(path: Path, sensors: int, rows: int, *, jump_at: int | None = None) -> Path:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(rows, 1))
    values = base + 0.3 * rng.normal(size=(rows, sensors))  # one shared level, sensor noise
    if jump_at is not None:
        values[jump_at : jump_at + 30] += 12.0  # every sensor jumps at once
    frame = pd.DataFrame(values, columns=[f"s{k:02d}" for k in range(sensors)])
    frame.to_csv(path, index=False)
    return path


def test_few_training_rows_a_sensor_warn_with_what_to_change(tmp_path, run_detect):
    sensors = 30
    few = ROWS_PER_SENSOR * sensors - 1
    path = _wide_file(tmp_path / "wide.csv", sensors, 400)
    code, out, _ = run_detect(
        [str(path), "--train-rows", str(few), "-o", str(tmp_path / "a.csv"), *TINY]
    )
    assert code == 0
    warning = [line for line in out.splitlines() if line.startswith("warning:")]
    assert warning == [
        f"warning: {few} training rows for {sensors} sensors: the level score needs about "
        f"{ROWS_PER_SENSOR} rows a sensor ({ROWS_PER_SENSOR * sensors} here), or it flags most "
        "later rows; pass more normal rows (--train-rows, --train), fewer sensors (--columns) "
        "or --scoring error"
    ]
    enough = ROWS_PER_SENSOR * sensors
    for argv in (["--train-rows", str(enough)], ["--train-rows", str(few), "--scoring", "error"]):
        code, out, _ = run_detect([str(path), *argv, "-o", str(tmp_path / "b.csv"), *TINY])
        assert code == 0
        assert "warning:" not in out


def test_a_span_behind_many_sensors_names_five_and_counts_the_rest(tmp_path, run_detect):
    path = _wide_file(tmp_path / "wide.csv", 12, 400, jump_at=300)
    code, out, _ = run_detect(
        [str(path), "--train-rows", "200", "-o", str(tmp_path / "out.csv"), *TINY]
    )
    assert code == 0
    listed = [line for line in out.splitlines() if "and 7 more" in line]
    assert listed, out  # 12 sensors jumped: 5 named, the other 7 counted
    names = [w.strip(",") for w in listed[0].split() if w.strip(",").startswith("s")]
    assert len(names) == 5
