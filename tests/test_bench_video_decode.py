"""The video decode benchmark runs end to end in quick mode (no timing is asserted)."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks.bench_video_decode import main


def test_quick_run_reports_every_reader(capsys: pytest.CaptureFixture[str]) -> None:
    result = main(["--quick"])
    printed = capsys.readouterr().out
    document = json.loads(printed[: printed.index("\n### ")])
    assert document["benchmark"] == "video decode throughput"
    readers = [row["reader"] for row in result["rows"]]
    assert readers[0] == "plain PyAV loop" and "VideoFolder(frames=None)" in readers
    whole = {
        row["reader"]: row["frames_out"] for row in result["rows"] if "=16" not in row["reader"]
    }
    assert set(whole.values()) == {2 * 24}  # every reader decoded every frame of both clips
    sampled = next(row for row in result["rows"] if "frames=16" in row["reader"])
    assert sampled["frames_out"] == 2 * 16
    assert all(row["seconds"] > 0 and row["vs_plain"] > 0 for row in result["rows"])
    assert result["videofolder_vs_plain"] == result["rows"][2]["vs_plain"]
    assert "| reader | frames_out |" in printed


def test_quick_run_in_cpu_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    threads = torch.get_num_threads()
    try:
        result = main(["--quick", "--cpu-time"])  # sets one torch thread
    finally:
        torch.set_num_threads(threads)
    capsys.readouterr()
    assert result["clock"] == "cpu seconds, one decoding thread"
    assert all(row["seconds"] > 0 and row["spread_pct"] >= 0 for row in result["rows"])
    assert {row["frames_out"] for row in result["rows"] if "=16" not in row["reader"]} == {48}
