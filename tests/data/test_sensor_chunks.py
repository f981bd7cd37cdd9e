"""SensorChunks reads a file part by part as SensorCSV reads it whole."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from cnnlstm.data.sensor_chunks import SensorChunks
from cnnlstm.data.sensors import SensorCSV
from cnnlstm.errors import DataError


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _file(tmp_path: Path, *, holes: bool = False, gaps: bool = False) -> Path:
    rng = np.random.default_rng(0)
    lines = ["datetime;flow;level;anomaly;changepoint"]
    second = 0
    for row in range(300):
        second += 30 if gaps and row in (40, 41, 170) else 1
        minute, sec = divmod(second, 60)
        flow, level = rng.normal(size=2).round(4)
        cells = [f"{flow}", f"{level}"]
        if holes and row in (0, 1, 19, 20, 21, 22, 99, 100, 250, 299):
            cells[row % 2] = ""  # gaps at the start, across cuts, at the end
        if holes and 130 <= row < 160:
            cells[0] = ""  # a long gap over several chunks
        lines.append(
            f"2021-01-01 00:{minute:02d}:{sec:02d};{cells[0]};{cells[1]};{int(row > 200)};0"
        )
    return _write(tmp_path / "plant.csv", lines)


def _joined(chunks: SensorChunks) -> dict[str, np.ndarray]:
    parts = list(chunks)
    starts = [part.start for part in parts]
    lengths = [len(part.features) for part in parts]
    assert starts == list(np.cumsum([0, *lengths[:-1]]))
    return {
        name: np.concatenate([getattr(part, name) for part in parts])
        for name in ("features", "missing", "labels", "times", "lines")
    }


@pytest.mark.parametrize("cells", [5, 21, 100, 10_000])
@pytest.mark.parametrize("policy", ["ffill", "interpolate"])
def test_parts_are_the_whole_file(tmp_path: Path, cells: int, policy: str) -> None:
    path = _file(tmp_path, holes=True)
    whole = SensorCSV(path, window=1, nan_policy=policy)  # type: ignore[arg-type]
    got = _joined(SensorChunks(path, cells=cells, nan_policy=policy))
    np.testing.assert_array_equal(got["features"], whole.features)
    np.testing.assert_array_equal(got["missing"], whole.missing)
    np.testing.assert_array_equal(got["labels"], whole.labels)
    np.testing.assert_array_equal(got["times"], whole.times)
    np.testing.assert_array_equal(got["lines"], whole.lines)


def test_gaps_are_warned_of_once(tmp_path: Path) -> None:
    path = _file(tmp_path, gaps=True)
    with warnings.catch_warnings(record=True) as whole_warnings:
        warnings.simplefilter("always")
        whole = SensorCSV(path, window=1)
    chunks = SensorChunks(path, cells=50)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        list(chunks)
    assert chunks.gaps == whole.gaps
    assert [str(w.message) for w in caught] == [str(w.message) for w in whole_warnings]


def test_a_malformed_line_in_a_later_chunk_names_its_line(tmp_path: Path) -> None:
    lines = ["time;a;b"] + [f"{i};{i};{2 * i}" for i in range(500)]
    lines[400] = "399;1;2;3;4"
    path = _write(tmp_path / "bad.csv", lines)
    chunks = SensorChunks(path, cells=60)
    with pytest.raises(DataError, match=r"bad.csv: line 401: rows have different numbers"):
        list(chunks)


def test_text_in_a_later_chunk_names_its_line(tmp_path: Path) -> None:
    lines = ["time;a;b"] + [f"{i};{i};{2 * i}" for i in range(500)]
    lines[333] = "332;oops;2"
    path = _write(tmp_path / "text.csv", lines)
    with pytest.raises(DataError, match=r"line 334, column 'a': 'oops' is not a finite number"):
        list(SensorChunks(path, cells=60))


def test_time_order_is_checked_across_the_cut(tmp_path: Path) -> None:
    lines = ["time;a"] + [f"{i};{i}" for i in range(100)]
    lines[51] = "10;5"  # row 50 goes back in time: the first row of a chunk of 50
    path = _write(tmp_path / "order.csv", lines)
    with pytest.raises(DataError, match="line 52: time 10 comes before 49"):
        list(SensorChunks(path, cells=100))
