"""ConvLSTM forward + backward: cnnlstm vs the ``conv-lstm`` package vs Keras 3's ConvLSTM2D.

``conv-lstm`` (PyPI, module ``conv_lstm``) is the common ConvLSTM_pytorch code: each step it
convolves the concatenation ``[x_t, h]``. cnnlstm convolves the input of all steps in one batched
call and only ``h`` inside the loop (skipping it at step 0, where ``h`` is zero). Keras 3's
``ConvLSTM2D`` runs on the torch backend and is differentiated by torch autograd. All three get
the same weights (their outputs are checked to agree before timing), the same configuration
("same" padding, bias, no peepholes, norm or dropout) and are timed interleaved in one run, so
the ratios are fair on a busy machine. GFLOP/s counts the convolutions analytically (forward
``2 * B*T * H*W * 4h * (C_in + h) * k*k`` per layer, backward twice that, every step counted)
beside the machine's float32 matmul rate measured in the same run; ``ours_work_pct_of_matmul``
counts only the convolutions cnnlstm really runs (:meth:`Case.work_flops`).

How far could cnnlstm still go? One step of ours runs once under ``torch.profiler``:
``ours_conv_share_pct`` is the share of its CPU time spent in convolution kernels (forward and
backward), and ``ceiling_vs_keras`` is the speedup over Keras if everything else took no time
at all: ``keras_ms / (ours_ms * conv_share)``. Keras calls the same oneDNN convolution kernels,
so only arithmetic it does and we skip, or overhead it has and we do not, can separate the two.

``--cpu-time`` times CPU seconds on one thread: on a machine shared with other work, wall time
on 2 threads swings by tens of percent, CPU time by a few.

Install the baseline with ``pip install --no-deps conv-lstm==0.1.2``; without it the script says
so and times the rest.

Run: ``python -m benchmarks.bench_convlstm`` (a few minutes on 2 cores), or ``--quick`` for a
tiny size in seconds.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import torch
from torch import Tensor, nn

from benchmarks.common import (
    add_clock_arguments,
    configure_clock,
    cpu_pressure,
    matmul_gflops,
    report,
    spread_pct,
    time_interleaved_samples,
)
from cnnlstm.layers.convlstm import ConvLSTM


@dataclass(frozen=True)
class Case:
    """One configuration: ``batch`` clips of ``steps`` frames ``channels x side x side``."""

    name: str
    batch: int
    steps: int
    channels: int
    side: int
    hidden: int
    layers: int
    kernel: int = 3

    @property
    def label(self) -> str:
        return (
            f"{self.name}: B={self.batch} T={self.steps} C={self.channels} "
            f"{self.side}x{self.side} h={self.hidden} L={self.layers}"
        )

    def work_flops(self) -> int:
        """FLOPs of the convolutions cnnlstm actually runs for forward + backward.

        Less than ``3 * forward_flops()``: the hidden convolution is skipped at step 0 (the
        state starts at zero), and the first layer's input needs no gradient, so its input
        convolution's backward computes only the weight gradient (1x, not 2x, its forward).
        """
        total, in_channels = 0, self.channels
        pixels = self.batch * self.side * self.side  # of one step
        for layer in range(self.layers):
            input_conv = 2 * pixels * self.steps * 4 * self.hidden * in_channels * self.kernel**2
            hidden_conv = 2 * pixels * (self.steps - 1) * 4 * self.hidden**2 * self.kernel**2
            total += (2 if layer == 0 else 3) * input_conv + 3 * hidden_conv
            in_channels = self.hidden
        return total

    def forward_flops(self) -> int:
        """Analytic FLOPs of the convolutions of one forward pass (every step counted)."""
        total, in_channels = 0, self.channels
        pixels = self.batch * self.steps * self.side * self.side
        for _ in range(self.layers):
            total += 2 * pixels * 4 * self.hidden * (in_channels + self.hidden) * self.kernel**2
            in_channels = self.hidden
        return total


FULL_CASES = (
    Case("frames", batch=4, steps=10, channels=1, side=64, hidden=64, layers=1),
    Case("features", batch=4, steps=10, channels=16, side=64, hidden=64, layers=2),
    # Moving MNIST (64x64) cut into 4x4 patches: 16 channels on a 16x16 grid.
    Case("moving-mnist-patches", batch=8, steps=10, channels=16, side=16, hidden=64, layers=2),
)
QUICK_CASES = (Case("quick", batch=2, steps=3, channels=2, side=8, hidden=8, layers=2),)


def load_conv_lstm() -> Any | None:
    """The ``conv_lstm`` module, or None (with a note on stderr) when it is not installed."""
    try:
        return importlib.import_module("conv_lstm")
    except ImportError:
        print(
            "conv-lstm is not importable (pip install --no-deps conv-lstm==0.1.2); "
            "timing cnnlstm and Keras only.",
            file=sys.stderr,
        )
        return None


def ours_model(case: Case) -> ConvLSTM:
    return ConvLSTM(case.channels, case.hidden, case.kernel, num_layers=case.layers)


def conv_lstm_model(package: Any, ours: ConvLSTM) -> nn.Module:
    """``conv_lstm.ConvLSTM`` with ``ours``'s weights: its one conv per cell sees ``[x_t, h]``
    and orders the gates (i, f, o, g) where cnnlstm uses (i, f, g, o)."""
    hidden = ours.hidden_channels[0]
    model: nn.Module = package.ConvLSTM(
        ours.in_channels, hidden, ours.kernel_size[0], ours.num_layers, True, True, False
    )
    order = [0, 1, 3, 2]  # their (i, f, o, g) taken from our (i, f, g, o)
    with torch.no_grad():
        for theirs, cell in zip(model.cell_list, ours.cells, strict=True):
            weight = torch.cat([cell.input_conv.weight, cell.hidden_conv.weight], dim=1)
            theirs.conv.weight.copy_(torch.cat([weight.chunk(4)[g] for g in order]))
            theirs.conv.bias.copy_(torch.cat([cell.input_conv.bias.chunk(4)[g] for g in order]))
    return model


def keras_model(case: Case, ours: ConvLSTM) -> Any:
    """Stacked ``keras.layers.ConvLSTM2D`` (torch backend) with ``ours``'s weights."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    if keras.backend.backend() != "torch":
        raise RuntimeError(
            f"Keras has to run on the torch backend (KERAS_BACKEND=torch), but it runs on "
            f"{keras.backend.backend()!r}."
        )
    model = keras.Sequential(
        [keras.Input((case.steps, case.side, case.side, case.channels))]
        + [
            keras.layers.ConvLSTM2D(case.hidden, case.kernel, padding="same", return_sequences=True)
            for _ in range(case.layers)
        ]
    )
    for layer, cell in zip(model.layers, ours.cells, strict=True):
        layer.set_weights(
            [
                cell.input_conv.weight.detach().permute(2, 3, 1, 0).numpy(),  # (k, k, C, 4h)
                cell.hidden_conv.weight.detach().permute(2, 3, 1, 0).numpy(),  # (k, k, h, 4h)
                cell.input_conv.bias.detach().numpy(),
            ]
        )
    return model


def backward_step(forward: Callable[[], Tensor], parameters: list[Tensor]) -> Callable[[], None]:
    """A closure running forward, then backward of the output's sum, with fresh gradients."""

    def step() -> None:
        for p in parameters:
            p.grad = None
        forward().sum().backward()

    return step


def conv_time_share(step: Callable[[], None]) -> float:
    """Share of one call's CPU time spent in convolution kernels, forward and backward."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step()
    events = prof.key_averages()
    total = sum(event.self_cpu_time_total for event in events)
    conv = sum(event.self_cpu_time_total for event in events if "convolution" in event.key)
    return conv / total if total > 0 else 0.0


def bench_case(
    case: Case,
    *,
    package: Any | None,
    keras: bool,
    warmup: int,
    repeat: int,
    matmul_rate: float,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """Check that the implementations agree, time them interleaved and return a table row."""
    torch.manual_seed(0)
    x = torch.randn(case.batch, case.steps, case.channels, case.side, case.side)  # (B, T, C, H, W)
    ours = ours_model(case)
    forwards: dict[str, Callable[[], Tensor]] = {"ours": lambda: ours(x)[0]}
    parameters: dict[str, list[Tensor]] = {"ours": list(ours.parameters())}
    if package is not None:
        theirs = conv_lstm_model(package, ours)
        forwards["conv_lstm"] = lambda: theirs(x)[0][0]
        parameters["conv_lstm"] = list(theirs.parameters())
    if keras:
        model = keras_model(case, ours)
        x_last = x.permute(0, 1, 3, 4, 2).contiguous()  # (B, T, H, W, C): Keras is channels-last
        forwards["keras"] = lambda: model(x_last).permute(0, 1, 4, 2, 3)  # (B, T, C', H, W)
        parameters["keras"] = [v.value for v in model.trainable_variables]

    with torch.no_grad():
        reference = forwards["ours"]()
        max_diff = max(
            (float((f() - reference).abs().max()) for n, f in forwards.items() if n != "ours"),
            default=0.0,
        )
    if max_diff > 1e-3:
        raise RuntimeError(f"{case.label}: the implementations disagree by {max_diff:.3g}")

    steps = {name: backward_step(f, parameters[name]) for name, f in forwards.items()}
    print(f"timing {case.label} ...", file=sys.stderr, flush=True)
    samples = time_interleaved_samples(steps, warmup=warmup, repeat=repeat, clock=clock)
    seconds = {name: statistics.median(values) for name, values in samples.items()}

    flops = 3 * case.forward_flops()  # forward + backward (input and weight gradients)
    row: dict[str, Any] = {"case": case.label, "ours_ms": seconds["ours"] * 1e3}
    for name in ("conv_lstm", "keras"):
        if name in seconds:
            row[f"{name}_ms"] = seconds[name] * 1e3
            row[f"speedup_vs_{name}"] = seconds[name] / seconds["ours"]
    for name, value in seconds.items():
        row[f"{name}_gflops"] = flops / value / 1e9
    row["ours_pct_of_matmul"] = 100 * flops / seconds["ours"] / 1e9 / matmul_rate
    # The convolutions cnnlstm really runs, at the matmul rate: no ConvLSTM could beat Keras
    # by more than this without doing less arithmetic or outrunning the matmul.
    row["ours_work_pct_of_matmul"] = 100 * case.work_flops() / seconds["ours"] / 1e9 / matmul_rate
    conv_share = conv_time_share(steps["ours"])
    row["ours_conv_share_pct"] = 100 * conv_share
    if "keras" in seconds:
        row["ceiling_vs_keras"] = seconds["keras"] / (seconds["ours"] * conv_share)
    row["ours_spread_pct"] = spread_pct(samples["ours"])
    row["max_abs_diff"] = max_diff
    return row


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print JSON and a table, and return what was printed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one tiny size, in seconds")
    parser.add_argument("--repeat", type=int, default=None, help="timed rounds per variant")
    parser.add_argument("--no-keras", action="store_true", help="skip the Keras 3 comparison")
    add_clock_arguments(parser)
    args = parser.parse_args(argv)
    clock = configure_clock(args)

    cases = QUICK_CASES if args.quick else FULL_CASES
    repeat = args.repeat or (1 if args.quick else 5)
    warmup = 1
    package = load_conv_lstm()
    pressure_before = cpu_pressure()
    matmul_rate = matmul_gflops(
        256 if args.quick else 1024, repeat=3 if args.quick else 10, clock=clock
    )
    rows = [
        bench_case(
            case,
            package=package,
            keras=not args.no_keras,
            warmup=warmup,
            repeat=repeat,
            matmul_rate=matmul_rate,
            clock=clock,
        )
        for case in cases
    ]
    extra: dict[str, Any] = {
        "matmul_gflops": matmul_rate,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "clock": "cpu seconds" if args.cpu_time else "wall seconds",
        "repeat": repeat,
        "cpu_pressure_pct_before": pressure_before,
        "cpu_pressure_pct_after": cpu_pressure(),
        "conv_lstm": version("conv-lstm") if package is not None else "not installed",
    }
    if package is not None:
        extra["min_speedup_vs_conv_lstm"] = min(row["speedup_vs_conv_lstm"] for row in rows)
    if not args.no_keras:
        import keras

        extra["keras"] = keras.__version__
        extra["min_speedup_vs_keras"] = min(row["speedup_vs_keras"] for row in rows)
    report("ConvLSTM forward + backward (CPU)", rows, extra=extra)
    return {"rows": rows, **extra}


if __name__ == "__main__":
    main()
