"""cnnlstm detect reads, scores and writes INPUT in chunks: the same output whatever their size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cnnlstm.anomaly.evaluation import spans_from_binary
from cnnlstm.commands.detect import main, reading
from cnnlstm.commands.detect.outputs import time_texts
from cnnlstm.commands.detect.report import span_sensors
from cnnlstm.commands.detect.watch import FlatWatch, SpanTracker
from cnnlstm.data.sensor_plant import SensorPlant

TINY = ["--window", "8", "--epochs", "2"]


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chunks")
    SensorPlant(seed=0, n_anomalies=3, normal_rows=200).write_csv(root / "plant.csv", 1200)
    return root / "plant.csv"


@pytest.mark.parametrize("cells", [7 * 11, 11 * 300])  # 7 rows (under the window), 300 rows
def test_the_output_is_the_same_in_chunks(
    plant: Path,
    tmp_path: Path,
    cells: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    whole, chunked = tmp_path / "whole.csv", tmp_path / "chunked.csv"
    argv = [str(plant), "--train-rows", "200", *TINY]
    assert main([*argv, "-o", str(whole)]) == 0  # one chunk: 1,200 rows x 11 columns
    printed_whole = capsys.readouterr().out
    monkeypatch.setattr(reading, "CELLS_PER_CHUNK", cells)
    monkeypatch.setattr(reading, "MIN_CHUNK_ROWS", 1)
    assert main([*argv, "-o", str(chunked)]) == 0
    printed_chunked = capsys.readouterr().out
    a, b = pd.read_csv(whole), pd.read_csv(chunked)
    assert list(a["datetime"]) == list(b["datetime"]) and len(a) == 1200
    np.testing.assert_allclose(b["score"], a["score"], rtol=1e-5, atol=1e-6)
    assert (a["anomaly"] != b["anomaly"]).sum() <= 1  # a score on the threshold may tip
    assert printed_whole.splitlines()[-3:] == printed_chunked.splitlines()[-3:]  # the metrics


def test_span_tracker_finds_the_whole_files_spans() -> None:
    rng = np.random.default_rng(0)
    flags = (rng.random(500) < 0.3).astype(np.int8)
    flags[:3] = 1  # a span from the first row
    flags[-4:] = 1  # and one to the last
    parts = rng.random((500, 4)) * 2
    names = ["a", "b", "c", "d"]
    spans = spans_from_binary(flags)
    expected = span_sensors(parts, spans, names, 1.0)
    for size in (1, 2, 7, 500):
        tracker = SpanTracker(names, 1.0)
        for i in range(0, 500, size):
            tracker.add(flags[i : i + size], parts[i : i + size])
        tracker.finish()
        assert tracker.spans == spans
        assert tracker.sensors == expected
        assert tracker.peaks == [float(parts[a:b].max()) for a, b in spans]


def test_time_texts_are_each_time_formatted() -> None:
    stamps = pd.to_datetime(
        ["2021-01-01 00:00:00", "2021-01-01 00:00:00.25", "2021-01-01 00:00:01.000000001"],
        format="ISO8601",
    ).to_numpy()
    assert time_texts(stamps, 0, 3, utc=True) == [str(pd.Timestamp(t)) + "+00:00" for t in stamps]
    assert time_texts(np.array([1.5, 1615284873.25]), 0, 2, utc=False) == [
        "1.5",
        "1615284873.25",
    ]
    assert time_texts(None, 10, 3, utc=False) == ["10", "11", "12"]


def test_a_malformed_line_late_in_the_file_leaves_no_output(
    plant: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = plant.read_text().splitlines()
    lines[1000] += ";9.9"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    monkeypatch.setattr(reading, "CELLS_PER_CHUNK", 11 * 100)
    monkeypatch.setattr(reading, "MIN_CHUNK_ROWS", 1)
    assert main([str(bad), "--train-rows", "200", *TINY, "-o", str(out)]) == 2
    error = capsys.readouterr().err
    assert "line 1001" in error and "different numbers of fields" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def _plain_flat_runs(values: np.ndarray, least: np.ndarray) -> list[tuple[int, float, int, int]]:
    """``(sensor, value, start, stop)`` of each run of one value of at least ``least`` rows, by
    a plain loop over each sensor's rows."""
    runs = []
    for j in range(values.shape[1]):
        start = 0
        for row in range(1, len(values) + 1):
            if row == len(values) or values[row, j] != values[start, j]:
                if row - start >= least[j]:
                    runs.append((j, float(values[start, j]), start, row))
                start = row
    return sorted(runs, key=lambda run: (run[3], run[0]))


@pytest.mark.parametrize("cut", [1, 7, 50, 1000])
def test_flat_watch_finds_each_run_once_however_the_rows_are_cut(cut: int) -> None:
    rng = np.random.default_rng(cut)
    values = rng.integers(0, 3, size=(600, 4)).astype(float)  # short runs everywhere
    values[:80, 0] = 9.0  # from the first row
    values[100:260, 1] = 5.0  # across many cuts
    values[300:340, 2] = 7.0  # under `least` for sensor 2 (50)
    values[500:, 3] = 1.5  # to the last row
    values[420:470, 1] = -1.0  # a second run of sensor 1
    least = np.array([30, 30, 50, 30])
    watch = FlatWatch(["a", "b", "c", "d"], least)
    lines = np.arange(600) + 2
    for first in range(0, 600, cut):
        watch.add(values[first : first + cut], None, lines[first : first + cut])
    watch.finish()
    got = sorted(
        (("abcd".index(r.sensor), r.value, r.start, r.stop) for r in watch.runs),
        key=lambda run: (run[3], run[0]),
    )
    assert got == _plain_flat_runs(values, least)
    assert {(r.start, r.stop): r.lines for r in watch.runs}[(100, 260)] == (102, 261)
    assert [r.times for r in watch.runs] == [None] * len(watch.runs)


def test_a_sensor_flat_for_hours_is_said_once_with_its_span(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = SensorPlant(seed=2, n_anomalies=0).generate(12_000, anomalies=False)
    frame.loc[3000:10_199, "Pressure"] = frame.loc[2999, "Pressure"]  # rows 2999-10199: 2 h
    frame["datetime"] = frame["datetime"].dt.strftime("%Y-%m-%d %H:%M:%S")
    frame.loc[11_000:, "datetime"] = (
        pd.to_datetime(frame.loc[11_000:, "datetime"]) + pd.Timedelta(hours=3)
    ).dt.strftime("%Y-%m-%d %H:%M:%S")  # and a gap of 3 hours
    path = tmp_path / "flat.csv"
    frame.to_csv(path, sep=";", index=False)
    monkeypatch.setattr(reading, "CELLS_PER_CHUNK", 9 * 700)  # the run spans 11 parts
    monkeypatch.setattr(reading, "MIN_CHUNK_ROWS", 1)
    argv = [str(path), "--train-rows", "2000", *TINY, "-o", str(tmp_path / "out.csv")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    flat = [line for line in printed.splitlines() if "holds" in line]
    assert flat == [
        f"warning: {path}: Pressure holds {frame.loc[2999, 'Pressure']:g} for 7201 rows, rows "
        f"2999-10199 (lines 3001-10201, 2021-01-01 00:49:59 to 2021-01-01 02:49:59, 2.0 h): "
        f"stuck?" + flat[0].split("stuck?")[1]
    ]
    gaps = [line for line in printed.splitlines() if "gap" in line]
    assert gaps == [
        f"warning: {path}: 1 gap in time longer than 2 x the usual step of 1 s: 3.0 h before "
        f"line 11002."
    ]
