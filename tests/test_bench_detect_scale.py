"""The scale benchmark runs end to end in --quick mode, so it cannot rot."""

from __future__ import annotations

import json

import pytest

from benchmarks import bench_detect_scale as bench


def test_quick_run_prints_json_and_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    result = bench.main(["--quick"])
    printed = capsys.readouterr().out
    document = json.loads(printed[: printed.index("\n### ")])
    assert document["rows"] == result["rows"]
    assert "| rows | sensors | csv_mb |" in printed
    (row,) = result["rows"]
    assert row["rows"] == 3000 and row["sensors"] == 8
    assert row["detect_peak_mib"] > 0 and row["fit_steps"] > 0
    assert row["batched_over_stream"] > 0
    assert row["report_peak_mib"] > 0 and row["report_png_kb"] > 10
    assert row["generate_rows"] == 20_000 and row["generate_peak_mib"] > 0
    assert row["wide_sensors"] == 100 and row["wide_fit_steps"] > 0 and row["wide_score_s"] >= 0
