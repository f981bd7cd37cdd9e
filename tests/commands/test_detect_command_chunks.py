"""cnnlstm detect reads, scores and writes INPUT in chunks: the same output whatever their size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cnnlstm.commands import detect_chunks
from cnnlstm.commands.detect import main
from cnnlstm.commands.detect_chunks import SpanTracker, time_texts
from cnnlstm.commands.detect_report import span_sensors
from cnnlstm.data.sensor_plant import SensorPlant
from cnnlstm.evaluation import spans_from_binary

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
    monkeypatch.setattr(detect_chunks, "CELLS_PER_CHUNK", cells)
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
    monkeypatch.setattr(detect_chunks, "CELLS_PER_CHUNK", 11 * 100)
    assert main([str(bad), "--train-rows", "200", *TINY, "-o", str(out)]) == 2
    error = capsys.readouterr().err
    assert "line 1001" in error and "different numbers of fields" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]
