"""The streaming benchmark runs end to end in --quick mode, so it cannot rot."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks import bench_stream as bench


def test_quick_run_prints_json_and_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    threads = torch.get_num_threads()
    result = bench.main(["--quick"])
    assert torch.get_num_threads() == threads  # restored
    printed = capsys.readouterr().out
    document = json.loads(printed[: printed.index("\n### ")])
    assert document["rows"] == result["rows"]
    assert "| window | receptive_field | stream_ms_per_row |" in printed

    (row,) = result["rows"]
    assert row["window"] == 32 and row["receptive_field"] == 5
    assert row["stream_ms_per_row"] > 0 and row["rescore_ms_per_row"] > 0
    assert row["speedup"] == pytest.approx(row["rescore_ms_per_row"] / row["stream_ms_per_row"])
    # The streamed scores were checked against the offline pass before timing.
    assert row["max_abs_diff_vs_offline"] < 1e-4
