"""The ConvLSTM benchmark runs end to end in --quick mode, so it cannot rot."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import bench_convlstm as bench

HAS_CONV_LSTM = importlib.util.find_spec("conv_lstm") is not None


def test_quick_run_prints_json_and_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    result = bench.main(["--quick"])
    printed = capsys.readouterr().out
    document = json.loads(printed[: printed.index("\n### ")])
    assert document["rows"] == result["rows"]
    assert "| case | ours_ms |" in printed

    (row,) = result["rows"]
    assert row["ours_ms"] > 0 and row["ours_gflops"] > 0 and result["matmul_gflops"] > 0
    assert row["speedup_vs_keras"] == pytest.approx(row["keras_ms"] / row["ours_ms"])
    assert 0 < row["ours_conv_share_pct"] < 100
    ceiling = row["keras_ms"] / (row["ours_ms"] * row["ours_conv_share_pct"] / 100)
    assert row["ceiling_vs_keras"] == pytest.approx(ceiling)
    # Every implementation got the same weights and computed the same output before timing.
    assert row["max_abs_diff"] < 1e-5
    assert ("conv_lstm_ms" in row) == HAS_CONV_LSTM  # pip install --no-deps conv-lstm==0.1.2
    if HAS_CONV_LSTM:
        assert row["speedup_vs_conv_lstm"] == pytest.approx(row["conv_lstm_ms"] / row["ours_ms"])
        assert result["conv_lstm"] == "0.1.2"


def test_runs_without_conv_lstm(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "conv_lstm", None)  # makes `import conv_lstm` fail
    result = bench.main(["--quick", "--no-keras"])
    captured = capsys.readouterr()
    assert "conv-lstm is not importable" in captured.err
    assert result["conv_lstm"] == "not installed"
    (row,) = result["rows"]
    assert set(row) == {
        "case",
        "ours_ms",
        "ours_gflops",
        "ours_pct_of_matmul",
        "ours_work_pct_of_matmul",
        "ours_spread_pct",
        "ours_conv_share_pct",
        "max_abs_diff",
    }
    assert row["ours_ms"] > 0 and row["ours_spread_pct"] >= 0


def test_forward_flops_count_convs_by_hand() -> None:
    # The cost model: every step convolves [x_t, h] (C_in + hidden channels) to 4 * hidden,
    # counted here by torch's FLOP counter on exactly those convolutions.
    case = bench.Case("t", batch=2, steps=3, channels=5, side=6, hidden=4, layers=2)
    with FlopCounterMode(display=False) as counter:
        in_channels = case.channels
        for _ in range(case.layers):
            weight = torch.zeros(4 * case.hidden, in_channels + case.hidden, 3, 3)
            for _ in range(case.steps):
                frame = torch.zeros(case.batch, in_channels + case.hidden, case.side, case.side)
                F.conv2d(frame, weight, padding=1)
            in_channels = case.hidden
    assert case.forward_flops() == counter.get_total_flops()


def test_work_flops_are_what_torch_counts_in_our_forward_and_backward() -> None:
    # torch's FLOP counter sees every convolution (and its backward, with only the gradients
    # asked for) that cnnlstm's ConvLSTM actually runs.
    case = bench.Case("t", batch=2, steps=3, channels=5, side=6, hidden=4, layers=2)
    model = bench.ours_model(case)
    x = torch.randn(case.batch, case.steps, case.channels, case.side, case.side)
    with FlopCounterMode(display=False) as counter:
        model(x)[0].sum().backward()
    assert case.work_flops() == counter.get_total_flops()


def test_cpu_time_mode_runs_on_one_thread(capsys: pytest.CaptureFixture[str]) -> None:
    threads = torch.get_num_threads()
    try:
        result = bench.main(["--quick", "--no-keras", "--cpu-time"])
        assert result["threads"] == 1 and result["clock"] == "cpu seconds"
    finally:
        torch.set_num_threads(threads)
    (row,) = result["rows"]
    assert row["ours_ms"] > 0
    assert "clock: cpu seconds" in capsys.readouterr().out


def test_conv_time_share_sees_convolutions() -> None:
    weight = torch.randn(8, 4, 3, 3, requires_grad=True)
    x = torch.randn(2, 4, 16, 16)

    def conv_step() -> None:
        F.conv2d(x, weight, padding=1).sum().backward()

    def no_conv_step() -> None:
        (x * 2).sum()

    assert 0.0 < bench.conv_time_share(conv_step) <= 1.0
    assert bench.conv_time_share(no_conv_step) == 0.0
