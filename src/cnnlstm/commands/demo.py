"""``cnnlstm demo``: the three bridges and a ConvLSTM, each in a small model, trained a few steps.

Global pooling, spatial slicing and temporal reshaping, each in a small CNN-LSTM, and a ConvLSTM
that predicts the next frame: every stage's shape is printed with :func:`~cnnlstm.summary`, each
model is trained for ``--steps`` Adam steps on generated data made for its bridge, and the loss on
a held-out batch is printed before and after. It downloads nothing and finishes in well under a
minute on two CPU cores. rich (the ``train`` extra) prints the tables and the progress bar; it is
imported when the demo runs, so ``cnnlstm --help`` needs no extra.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlstm.commands import Command, positive_int
from cnnlstm.extras import importing
from cnnlstm.layers.convlstm import ConvLSTM
from cnnlstm.layers.pooling import GlobalPoolBridge
from cnnlstm.layers.spatial import SpatialSequence
from cnnlstm.layers.time_distributed import TimeDistributed
from cnnlstm.models.cnnlstm import CNNLSTM
from cnnlstm.summary import summary

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "DEMOS",
    "NextFrame",
    "add_parser",
    "build_parser",
    "main",
    "make_blob_images",
    "make_growing_squares",
    "make_moving_dots",
    "make_text_lines",
    "run",
    "run_demo",
]

COMMAND = "demo"
_HELP = "build the three bridges and a ConvLSTM, print their shapes, train a few steps"

# ----------------------------------------------------------------------------- generated data
# Each generator returns (inputs, targets) whose targets depend on the inputs, so a model that
# learns anything shows a falling loss.


def make_blob_images(n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Images ``(n, 3, 32, 32)`` of noise with one bright 8x8 blob; the label is its channel.

    Where the blob is does not matter, what is there does: global pooling's case.
    """
    labels = torch.randint(0, 3, (n,), generator=generator)
    images = 0.3 * torch.randn(n, 3, 32, 32, generator=generator)
    corners = torch.randint(0, 25, (n, 2), generator=generator)
    for i in range(n):
        r, c = corners[i].tolist()
        images[i, labels[i], r : r + 8, c : c + 8] += 2.0
    return images, labels


def make_text_lines(n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Text-line-like images ``(n, 1, 16, 64)`` holding 1 to 4 vertical strokes; label: count - 1.

    The width is the sequence: spatial slicing by columns reads the strokes one after another.
    """
    labels = torch.randint(0, 4, (n,), generator=generator)
    lines = 0.2 * torch.randn(n, 1, 16, 64, generator=generator)
    for i in range(n):
        slots = torch.randperm(8, generator=generator)[: int(labels[i]) + 1]
        for slot in slots.tolist():
            left = 8 * slot + int(torch.randint(0, 5, (1,), generator=generator))
            top = int(torch.randint(1, 5, (1,), generator=generator))
            lines[i, 0, top : top + 10, left : left + 3] += 1.5
    return lines, labels


def make_growing_squares(n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Clips ``(n, 6, 1, 16, 16)`` of a square that grows (label 0) or shrinks (label 1).

    Each frame alone says nothing about the label; the order of the frames does: temporal
    reshaping's case.
    """
    labels = torch.randint(0, 2, (n,), generator=generator)
    clips = 0.2 * torch.randn(n, 6, 1, 16, 16, generator=generator)
    sizes = [2, 4, 6, 8, 10, 12]
    for i in range(n):
        order = sizes if int(labels[i]) == 0 else sizes[::-1]
        cy, cx = torch.randint(6, 11, (2,), generator=generator).tolist()
        for t, size in enumerate(order):
            top, left = max(cy - size // 2, 0), max(cx - size // 2, 0)
            clips[i, t, 0, top : top + size, left : left + size] += 1.0
    return clips, labels


def make_moving_dots(n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Clips ``(n, 6, 1, 16, 16)`` of a 3x3 dot moving one pixel a frame; target: the next frame.

    Returns ``(clips, clips)``: the model sees frames ``0..T-2`` and predicts ``1..T-1``, an
    output that is itself spatial: ConvLSTM's case.
    """
    clips = torch.zeros(n, 6, 1, 16, 16)
    moves = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    for i in range(n):
        dy, dx = moves[int(torch.randint(0, len(moves), (1,), generator=generator))]
        y, x = torch.randint(0, 14, (2,), generator=generator).tolist()
        frame = torch.zeros(16, 16)
        frame[y : y + 3, x : x + 3] = 1.0
        for t in range(6):
            clips[i, t, 0] = torch.roll(frame, shifts=(t * dy, t * dx), dims=(0, 1))
    return clips, clips


# ----------------------------------------------------------------------------- demo models


class NextFrame(nn.Module):
    """A ConvLSTM and a 1x1 convolution per frame: frames ``(B, T, 1, H, W)`` -> logits of the
    next frames ``(B, T, 1, H, W)``."""

    def __init__(self, hidden_channels: int = 8) -> None:
        super().__init__()
        self.convlstm = ConvLSTM(1, hidden_channels, 3)
        self.readout = TimeDistributed(nn.Conv2d(hidden_channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        hidden, _ = self.convlstm(x)  # (B, T, hidden, H, W)
        return self.readout(hidden)  # type: ignore[no-any-return]  # (B, T, 1, H, W)


def _small_cnn(in_channels: int) -> nn.Sequential:
    """(N, C, H, W) -> (N, 16, H/4, W/4)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


def _classification_loss(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(model(x), y)


def _next_frame_loss(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    logits = model(x[:, :-1])  # (B, T-1, 1, H, W): predictions of frames 1..T-1
    return F.binary_cross_entropy_with_logits(logits, y[:, 1:])


@dataclass
class _Demo:
    title: str
    data: str
    build: Callable[[], nn.Module]
    make_data: Callable[[int, torch.Generator], tuple[Tensor, Tensor]]
    loss: Callable[[nn.Module, Tensor, Tensor], Tensor]
    input_shape: tuple[int, ...]
    lr: float = 1e-2
    batch_size: int = 32


DEMOS = [
    _Demo(
        title="Global pooling",
        data="images: which channel holds the blob (3 classes)",
        build=lambda: CNNLSTM(
            _small_cnn(3),
            GlobalPoolBridge("avgmax"),
            input_shape=(3, 32, 32),
            hidden_size=32,
            head=3,
        ),
        make_data=make_blob_images,
        loss=_classification_loss,
        input_shape=(3, 32, 32),
    ),
    _Demo(
        title="Spatial slicing",
        data="text lines read by columns: how many strokes (4 classes)",
        build=lambda: CNNLSTM(
            _small_cnn(1),
            SpatialSequence("columns"),
            input_shape=(1, 16, 64),
            hidden_size=32,
            head=4,
        ),
        make_data=make_text_lines,
        loss=_classification_loss,
        input_shape=(1, 16, 64),
    ),
    _Demo(
        title="Temporal reshaping",
        data="clips: does the square grow or shrink (2 classes)",
        build=lambda: CNNLSTM(
            TimeDistributed(_small_cnn(1)),
            GlobalPoolBridge("avg"),
            input_shape=(6, 1, 16, 16),
            hidden_size=32,
            head=2,
        ),
        make_data=make_growing_squares,
        loss=_classification_loss,
        input_shape=(6, 1, 16, 16),
        batch_size=16,
    ),
    _Demo(
        title="ConvLSTM",
        data="keep the grid: predict the next frame of a moving dot",
        build=NextFrame,
        make_data=make_moving_dots,
        loss=_next_frame_loss,
        input_shape=(5, 1, 16, 16),
        batch_size=16,
    ),
]


def run_demo(
    *, steps: int = 30, seed: int = 0, console: Console | None = None
) -> list[tuple[str, float, float]]:
    """Build, summarise and train each demo model; return ``(title, loss before, loss after)``.

    The losses are measured on one held-out batch, before and after ``steps`` Adam steps on
    fresh generated batches.
    """
    with importing("cnnlstm demo", "train"):
        from rich.console import Console
        from rich.table import Table

    console = console or Console()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # models this small run faster on one thread than on several
    try:
        results = [
            _run_one(number, demo, steps, seed, console)
            for number, demo in enumerate(DEMOS, start=1)
        ]
    finally:
        torch.set_num_threads(threads)

    table = Table(title="Loss before and after training")
    table.add_column("model")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    for title, before, after in results:
        table.add_row(title, f"{before:.3f}", f"{after:.3f}")
    console.print(table)
    return results


def _run_one(
    number: int, demo: _Demo, steps: int, seed: int, console: Console
) -> tuple[str, float, float]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = demo.build()
    console.rule(f"[bold]{number}. {demo.title}[/bold]: {demo.data}")
    console.print(summary(model, (2, *demo.input_shape), depth=2))
    held_x, held_y = demo.make_data(32, generator)
    before = _evaluate(model, demo, held_x, held_y)
    optimizer = torch.optim.Adam(model.parameters(), lr=demo.lr)
    model.train()
    columns = (
        TextColumn("training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[loss]}"),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("train", total=steps, loss="")
        for _ in range(steps):
            x, y = demo.make_data(demo.batch_size, generator)
            loss = demo.loss(model, x, y)
            optimizer.zero_grad()
            torch.autograd.backward(loss)
            optimizer.step()
            progress.update(task, advance=1, loss=f"loss {loss.item():.3f}")
    after = _evaluate(model, demo, held_x, held_y)
    console.print(f"loss on a held-out batch: {before:.3f} -> {after:.3f} after {steps} steps")
    return (demo.title, before, after)


def _evaluate(model: nn.Module, demo: _Demo, x: Tensor, y: Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float(demo.loss(model, x, y))


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"has to be an integer, but got {text!r}") from None


def _configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.description = (
        "Build global pooling, spatial slicing and temporal reshaping, each in a small "
        "CNN-LSTM, and a ConvLSTM; print every stage's shape; train each on generated "
        "data and print the loss before and after."
    )
    parser.add_argument(
        "--steps", type=positive_int, default=30, help="training steps per model (30)"
    )
    parser.add_argument("--seed", type=_int, default=0, help="random seed (0)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the demo with the parsed ``--steps`` and ``--seed``; returns 0."""
    run_demo(steps=args.steps, seed=args.seed)
    return 0


_COMMAND = Command(COMMAND, _HELP, _configure, run)
add_parser = _COMMAND.add_parser
build_parser = _COMMAND.build_parser
main = _COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
