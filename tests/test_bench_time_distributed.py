"""The TimeDistributed benchmark runs end to end in --quick mode, so it cannot rot."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from benchmarks import bench_time_distributed as bench
from benchmarks import common


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # inside Keras
def test_quick_run_prints_json_and_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    result = bench.main(["--quick"])
    printed = capsys.readouterr().out
    document = json.loads(printed[: printed.index("\n### ")])
    assert document["rows"] == result["rows"]
    assert "| size | frames | auto_chunk |" in printed

    (row,) = result["rows"]
    size = bench.QUICK_SIZES[0]
    assert row["frames"] == size.batch * size.steps
    for key in ("auto_ms", "all_ms", "per_frame_ms", "keras_ms", "gflops_per_s"):
        assert row[key] > 0, key
    assert row["speedup_vs_keras"] == pytest.approx(row["keras_ms"] / row["auto_ms"])
    assert result["matmul_gflops"] > 0
    assert result["auto_meets_target_everywhere"] == row["auto_meets_target"]
    assert isinstance(row["auto_meets_target"], bool)


def test_training_flops_count_convs_by_hand() -> None:
    # Counted the slow obvious way: a 3x3 conv makes 2*9*C_in FLOPs per output value forward,
    # and backward costs twice forward (input and weight gradients); the first conv has no
    # input gradient. The LSTM and head add 3 * 2 * B*T * 4H(I+H) and 3 * 2 * B * H * classes.
    batch, steps, side = 2, 3, 16
    model = bench.ClipClassifier(chunk_size="all")
    x = torch.randn(batch, steps, 3, side, side)
    y = torch.randint(0, bench.CLASSES, (batch,))

    frames, conv_forward, in_channels, width = batch * steps, [], 3, side
    for out_channels in bench.CHANNELS:
        conv_forward.append(2 * 9 * in_channels * out_channels * width * width * frames)
        in_channels, width = out_channels, width // 2
    convs = 2 * conv_forward[0] + sum(3 * f for f in conv_forward[1:])
    lstm = 3 * 2 * frames * 4 * bench.HIDDEN * (bench.CHANNELS[-1] + bench.HIDDEN)
    head = 3 * 2 * batch * bench.HIDDEN * bench.CLASSES
    assert bench.training_flops(model, x, y) == convs + lstm + head
    assert all(p.grad is None for p in model.parameters())


def test_the_models_share_one_architecture() -> None:
    model = bench.ClipClassifier(chunk_size=1)
    convs = [m for m in model.frames.module.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == list(bench.CHANNELS)
    out = model(torch.randn(2, 3, 3, 16, 16))
    assert out.shape == (2, bench.CLASSES)


def test_spread_and_interleaved_samples() -> None:
    assert common.spread_pct([1.0, 2.0, 3.0]) == pytest.approx(100.0)
    assert common.spread_pct([0.5]) == 0.0
    ticks = iter(range(100))
    calls: list[str] = []
    samples = common.time_interleaved_samples(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
        warmup=1,
        repeat=3,
        clock=lambda: float(next(ticks)),
    )
    assert calls == ["a", "b", "a", "b", "a", "b", "a", "b"]  # warm-up, then round-robin
    assert samples == {"a": [1.0, 1.0, 1.0], "b": [1.0, 1.0, 1.0]}
