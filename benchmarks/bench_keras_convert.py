"""Inference speed of Keras models converted by ``from_keras``, beside the same architecture built
by hand from cnnlstm and torch layers, and beside Keras 3 itself (torch backend).

Three cases:

- ``video_classifier``: LRCN-style ``TimeDistributed(Conv2D + MaxPooling2D)`` x2,
  ``TimeDistributed(GlobalAveragePooling2D)``, ``LSTM``, ``Dense``. By hand: cnnlstm's
  ``TimeDistributed`` around ``nn.Sequential`` of the same convs, ``nn.LSTM``, ``nn.Linear``, fed
  channels-first clips (the converted model takes Keras's channels-last clips and permutes them
  itself; that permute is in its time).
- ``conv_lstm``: keras-io's next-frame model shape: ``ConvLSTM2D(same, return_sequences)`` then
  ``Conv3D(1, 3x3x3, sigmoid)``. By hand: cnnlstm's ``ConvLSTM`` and an ``nn.Conv3d`` on
  ``(B, C, T, H, W)``.
- ``lstm_relu``: ``LSTM(activation="relu")``, which torch's ``nn.LSTM`` cannot run, converted to
  cnnlstm's ``KerasRNN`` loop, beside ``nn.LSTM`` (tanh) of the same size: the price of an
  activation torch has no kernel for. ``KerasRNN`` runs its loop compiled by TorchScript;
  ``python_loop_ms`` times the same loop run by Python (what a trace records, and the fallback
  where TorchScript is missing), so one run shows both.

Every call is a forward pass in eval mode without gradients; all variants of a case are timed
interleaved in one run, so the ratios are fair on a busy machine (absolute times are not
comparable across machines).

Run: ``KERAS_BACKEND=torch python -m benchmarks.bench_keras_convert`` (about a minute on 2
cores), or ``--quick`` for tiny sizes in seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.common import (
    add_clock_arguments,
    configure_clock,
    cpu_pressure,
    report,
    time_interleaved,
)
from cnnlstm.interop.keras import KerasRNN, from_keras
from cnnlstm.interop.keras.recurrent import keras_rnn_scan
from cnnlstm.layers.convlstm import ConvLSTM
from cnnlstm.layers.time_distributed import TimeDistributed


@dataclass(frozen=True)
class Size:
    """``batch`` clips of ``steps`` frames, ``side`` x ``side``, ``width`` channels/units."""

    batch: int
    steps: int
    side: int
    width: int

    @property
    def label(self) -> str:
        return f"B={self.batch} T={self.steps} {self.side}x{self.side} w={self.width}"


FULL = Size(4, 16, 64, 32)
QUICK = Size(2, 3, 12, 4)


def _video_classifier_keras(size: Size) -> Any:
    import keras

    L = keras.layers
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((size.steps, size.side, size.side, 3)),
            L.TimeDistributed(L.Conv2D(size.width, 3, padding="same", activation="relu")),
            L.TimeDistributed(L.MaxPooling2D(2)),
            L.TimeDistributed(L.Conv2D(size.width, 3, padding="same", activation="relu")),
            L.TimeDistributed(L.MaxPooling2D(2)),
            L.TimeDistributed(L.GlobalAveragePooling2D()),
            L.LSTM(size.width),
            L.Dense(10),
        ]
    )


class _HandVideoClassifier(nn.Module):
    """The video classifier built by hand: channels-first clips ``(B, T, 3, H, W)``."""

    def __init__(self, width: int) -> None:
        super().__init__()
        cnn = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.cnn = TimeDistributed(cnn)
        self.lstm = nn.LSTM(width, width, batch_first=True)
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.cnn(x)  # (B, T, width)
        return self.head(self.lstm(features)[0][:, -1])  # type: ignore[no-any-return]


def _conv_lstm_keras(size: Size) -> Any:
    import keras

    L = keras.layers
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((size.steps, size.side, size.side, 1)),
            L.ConvLSTM2D(size.width, 3, padding="same", return_sequences=True),
            L.Conv3D(1, 3, padding="same", activation="sigmoid"),
        ]
    )


class _HandConvLSTM(nn.Module):
    """The next-frame model built by hand: ``(B, T, 1, H, W)`` in and out."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.convlstm = ConvLSTM(1, width, 3)
        self.readout = nn.Conv3d(width, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.convlstm(x)[0].transpose(1, 2)  # (B, width, T, H, W)
        return torch.sigmoid(self.readout(hidden)).transpose(1, 2)  # (B, T, 1, H, W)


def _lstm_relu_keras(size: Size) -> Any:
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((size.steps * 4, size.width)),
            keras.layers.LSTM(size.width, activation="relu", return_sequences=True),
        ]
    )


def _case(
    name: str,
    size: Size,
    keras_model: Any,
    keras_input: np.ndarray,
    hand: nn.Module | None,
    hand_input: torch.Tensor | None,
    *,
    repeat: int,
    clock: Callable[[], float],
    variants: Callable[[nn.Module, torch.Tensor], dict[str, Callable[[], Any]]] | None = None,
) -> dict[str, Any]:
    converted = from_keras(keras_model).eval()
    x = torch.from_numpy(keras_input)
    calls: dict[str, Callable[[], Any]] = {
        "converted": lambda: converted(x),
        "keras": lambda: keras_model(keras_input, training=False),
    }
    if hand is not None and hand_input is not None:
        hand.eval()
        calls["by_hand"] = lambda: hand(hand_input)
    extra = variants(converted, x) if variants is not None else {}
    calls.update(extra)
    with torch.no_grad():
        seconds = time_interleaved(calls, warmup=2, repeat=repeat, clock=clock)
    row: dict[str, Any] = {"case": name, "size": size.label}
    row["converted_ms"] = 1000 * seconds["converted"]
    for variant in extra:
        row[f"{variant}_ms"] = 1000 * seconds[variant]
        if "by_hand" in seconds:
            row[f"{variant}_over_by_hand"] = seconds[variant] / seconds["by_hand"]
    if "by_hand" in seconds:
        row["by_hand_ms"] = 1000 * seconds["by_hand"]
        row["converted_over_by_hand"] = seconds["converted"] / seconds["by_hand"]
    row["keras_ms"] = 1000 * seconds["keras"]
    row["keras_over_converted"] = seconds["keras"] / seconds["converted"]
    return row


def run(size: Size, *, repeat: int, clock: Callable[[], float]) -> list[dict[str, Any]]:
    """Time the three cases at ``size``; one row each."""
    rng = np.random.default_rng(0)
    rows = []
    clips = rng.normal(size=(size.batch, size.steps, size.side, size.side, 3)).astype(np.float32)
    rows.append(
        _case(
            "video_classifier",
            size,
            _video_classifier_keras(size),
            clips,
            _HandVideoClassifier(size.width),
            torch.from_numpy(clips).permute(0, 1, 4, 2, 3).contiguous(),
            repeat=repeat,
            clock=clock,
        )
    )
    frames = rng.normal(size=(size.batch, size.steps, size.side, size.side, 1)).astype(np.float32)
    rows.append(
        _case(
            "conv_lstm",
            size,
            _conv_lstm_keras(size),
            frames,
            _HandConvLSTM(size.width),
            torch.from_numpy(frames).permute(0, 1, 4, 2, 3).contiguous(),
            repeat=repeat,
            clock=clock,
        )
    )
    sequence = rng.normal(size=(size.batch, size.steps * 4, size.width)).astype(np.float32)
    tanh_lstm = nn.LSTM(size.width, size.width, batch_first=True)
    rows.append(
        _case(
            "lstm_relu (by hand: nn.LSTM tanh)",
            size,
            _lstm_relu_keras(size),
            sequence,
            _FirstOutput(tanh_lstm),
            torch.from_numpy(sequence),
            repeat=repeat,
            clock=clock,
            variants=_python_loop,
        )
    )
    return rows


def _python_loop(converted: nn.Module, x: torch.Tensor) -> dict[str, Callable[[], Any]]:
    """The converted ``KerasRNN``'s loop run by Python instead of TorchScript."""
    (rnn,) = (m for m in converted.modules() if isinstance(m, KerasRNN))
    settings = (rnn.kind, rnn.activation, rnn.recurrent_activation, rnn.reset_after)

    def python_loop() -> torch.Tensor:
        gates_x = F.linear(x, rnn.weight_ih, rnn.bias_ih)  # (B, T, 4U)
        return keras_rnn_scan(gates_x, rnn.weight_hh, rnn.bias_hh, None, *settings)[0]

    return {"python_loop": python_loop}


class _FirstOutput(nn.Module):
    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print JSON and a table, and return the JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, in seconds")
    parser.add_argument("--repeat", type=int, default=None, help="timed calls per variant")
    add_clock_arguments(parser)
    args = parser.parse_args(argv)
    clock = configure_clock(args)
    size = QUICK if args.quick else FULL
    repeat = args.repeat or (2 if args.quick else 7)
    rows = run(size, repeat=repeat, clock=clock)
    extra: dict[str, Any] = {
        "threads": torch.get_num_threads(),
        "cpu_pressure_avg60": cpu_pressure(),
        "clock": "cpu" if args.cpu_time else "wall",
    }
    # The table shows the first row's columns: the LSTM(relu) loop run by Python goes below it.
    for row in rows:
        if "python_loop_ms" in row:
            extra["lstm_relu_python_loop_ms"] = row["python_loop_ms"]
            extra["lstm_relu_python_loop_over_by_hand"] = row["python_loop_over_by_hand"]
    report("Keras models converted by from_keras, forward pass", rows, extra=extra)
    return {"rows": rows, **extra}


if __name__ == "__main__":
    main(sys.argv[1:])
