"""The ``cnnlstm`` command line.

Commands:

- ``fit``, ``validate``, ``test``, ``predict`` run Lightning's ``LightningCLI`` on a YAML config
  (``cnnlstm fit --config digit_clips``: a shipped config by name, or a path): ``model:`` takes a
  task (``class_path: cnnlstm.tasks.ClassificationTask``) and ``data:`` a DataModule. Every run
  gets a progress bar; CSV and TensorBoard logs in ``runs/<name>/version_<n>`` (``<name>`` is the
  config file's name); checkpoints in ``runs/<name>/checkpoints``: ``last.ckpt`` and the best by the
  task's validation metric, so ``--ckpt_path last`` resumes; early stopping on the same metric;
  and ``--seed_everything``. ``--print_config`` prints a complete starting config.
- ``summary`` prints the config's model stage by stage: each output shape and the parameters.
- ``compare`` trains one config with each of several bridges on the same data, seed and budget,
  and prints a table, writes a plot and a JSON: which bridge suits this data.
- ``export`` writes a checkpoint's model to ONNX or TorchScript and checks the exported file
  against PyTorch.
- ``demo`` builds the three bridges and a ConvLSTM, each in a small model, prints every stage's
  shape, trains each for a few steps on generated data and prints the loss before and after. It
  downloads nothing and finishes in well under a minute on two CPU cores.
- ``configs``, ``generate``, ``detect``, ``benchmark`` (also ``bench``) and ``convert`` live in
  :mod:`cnnlstm.commands`: list or copy the shipped configs, write the built-in data to files,
  detect anomalies in a sensor file, run the SKAB protocol, convert a saved Keras model to a
  PyTorch state dict or ONNX.

Only the commands that train or load a task (``fit``, ``validate``, ``test``, ``predict``,
``summary``, ``compare``, ``export``) import Lightning, when they run: the Lightning side lives in
:mod:`cnnlstm.commands.train`, and its names (:class:`CNNLSTMCLI`, :func:`build_cli`,
:func:`run_summary`, ...) are importable from here too, imported on first use. So ``cnnlstm
detect --stream`` in a pipeline, ``generate``, ``benchmark``, ``demo`` and ``--help`` start without
importing Lightning or jsonargparse.

User mistakes (a bad option, a missing file, an unknown model, a bridge that cannot take the
input) end with one ``cnnlstm: error: ...`` line on stderr and exit code 2 (LightningCLI prints
its usage before the line for options it cannot parse). A failed export check exits with 1.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from torch import Tensor, nn

from cnnlstm.errors import CNNLSTMError
from cnnlstm.extras import missing_extra
from cnnlstm.layers.convlstm import ConvLSTM
from cnnlstm.layers.pooling import GlobalPoolBridge
from cnnlstm.layers.spatial import SpatialSequence
from cnnlstm.layers.time_distributed import TimeDistributed
from cnnlstm.models.cnnlstm import CNNLSTM
from cnnlstm.summary import summary

if TYPE_CHECKING:  # at run time, __getattr__ below imports these (and Lightning) on first use
    from cnnlstm.commands.train import (
        CNNLSTMCLI,
        RUNS_DIR,
        PredictionWriter,
        TaskEarlyStopping,
        build_cli,
        metric_mode,
        monitored_metric,
        quiet_lightning,
        run_name,
        run_summary,
    )

__all__ = [
    "ALIASES",
    "CNNLSTMCLI",
    "COMMAND_EXTRAS",
    "LIGHTNING_COMMANDS",
    "RUNS_DIR",
    "PredictionWriter",
    "TaskEarlyStopping",
    "build_cli",
    "main",
    "metric_mode",
    "monitored_metric",
    "quiet_lightning",
    "run_name",
    "run_summary",
]

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


# ----------------------------------------------------------------------------- LightningCLI

# ----------------------------------------------------------------------------- LightningCLI

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")
"""The commands ``main`` hands to :class:`~cnnlstm.commands.train.CNNLSTMCLI`."""

_TRAIN_NAMES = frozenset(
    {
        "CNNLSTMCLI",
        "RUNS_DIR",
        "PredictionWriter",
        "TaskEarlyStopping",
        "build_cli",
        "metric_mode",
        "monitored_metric",
        "quiet_lightning",
        "run_name",
        "run_summary",
    }
)
"""Names of :mod:`cnnlstm.commands.train` that this module answers to as well."""


def __getattr__(name: str) -> Any:
    """``cnnlstm.cli.CNNLSTMCLI`` and the other names of :mod:`cnnlstm.commands.train`.

    They are looked up there on first use, so that importing this module does not import
    Lightning.
    """
    if name in _TRAIN_NAMES:
        from cnnlstm.commands import train

        return getattr(train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_TRAIN_NAMES})


# ----------------------------------------------------------------------------- argument parsing


class _UsageError(Exception):
    """A mistake on the command line; main() prints it as one line and returns 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"has to be a positive integer, but got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"has to be an integer, but got {text!r}") from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"has to be a positive number, but got {text!r}")
    return value


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"has to be a comma-separated list, but got {text!r}")
    return names


_LIGHTNING_HELP = {
    "fit": "train a task from a YAML config (LightningCLI; cnnlstm fit --help lists the options)",
    "validate": "evaluate a checkpoint on the validation data (LightningCLI)",
    "test": "evaluate a checkpoint on the test data (LightningCLI)",
    "predict": "write a checkpoint's predictions to runs/<name>/predictions (LightningCLI)",
}

_OVERRIDES = "further --key value options override the config, as they do for cnnlstm fit"


def build_parser() -> argparse.ArgumentParser:
    """The ``cnnlstm`` argument parser with its subcommands.

    ``fit``, ``validate``, ``test`` and ``predict`` are listed for ``--help`` only: ``main``
    hands them to :class:`CNNLSTMCLI` before this parser sees them.
    """
    parser = _Parser(
        prog="cnnlstm",
        description="CNN-LSTM models in PyTorch: train, evaluate, compare and export them.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, text in _LIGHTNING_HELP.items():
        commands.add_parser(name, help=text, add_help=False)

    summary_ = commands.add_parser(
        "summary",
        help="print the model of a config stage by stage, with shapes and parameters",
        description=f"Build the task of a config without training and print every stage's "
        f"output shape and parameters; {_OVERRIDES}.",
    )
    summary_.add_argument("--config", required=True, help="a YAML config, as for cnnlstm fit")

    compare = commands.add_parser(
        "compare",
        help="train one config with each of several bridges; print, plot and save the results",
        description=f"Train the model of a config with each bridge on the same data, seed and "
        f"budget (early stopping off); print the task's metric, parameters and seconds per "
        f"epoch, and write a plot and a JSON to the output folder; {_OVERRIDES}.",
    )
    compare.add_argument("--config", required=True, help="a YAML config, as for cnnlstm fit")
    compare.add_argument(
        "--bridges",
        type=_names,
        required=True,
        help="comma-separated bridges, e.g. temporal,convlstm,single_frame for clips or "
        "columns,raster,pool for images",
    )
    compare.add_argument(
        "--max-epochs", type=_positive_int, default=None, help="epochs per run (the config's)"
    )
    compare.add_argument(
        "--output",
        default=None,
        help="folder for the plot, the JSON and the runs (runs/compare-<name>)",
    )

    export = commands.add_parser(
        "export",
        help="export a checkpoint's model to ONNX or TorchScript and check it against PyTorch",
        description="Load the task of a checkpoint, export its model with a dynamic batch axis "
        "(and a dynamic time or width axis where the model allows it), run the exported file on "
        "random inputs and print the largest difference from PyTorch. Exits with 1 when it is "
        "above the tolerance.",
    )
    export.add_argument("--ckpt", required=True, help="a checkpoint written by cnnlstm fit")
    export.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    export.add_argument(
        "--output",
        default=None,
        help="the file to write (default: beside the checkpoint, named after it)",
    )
    export.add_argument(
        "--tolerance", type=_positive_float, default=1e-4, help="largest difference allowed (1e-4)"
    )

    for module in _command_modules().values():
        module.add_parser(_WithAliases(commands))

    demo = commands.add_parser(
        "demo",
        help="build the three bridges and a ConvLSTM, print their shapes, train a few steps",
        description=(
            "Build global pooling, spatial slicing and temporal reshaping, each in a small "
            "CNN-LSTM, and a ConvLSTM; print every stage's shape; train each on generated "
            "data and print the loss before and after."
        ),
    )
    demo.add_argument(
        "--steps", type=_positive_int, default=30, help="training steps per model (30)"
    )
    demo.add_argument("--seed", type=_int, default=0, help="random seed (0)")
    return parser


_COMMAND_MODULES = ("configs", "generate", "detect", "benchmark", "convert")
"""Commands in modules of their own (:mod:`cnnlstm.commands`), each with ``add_parser(subparsers)``
and ``run(args) -> int``; the ones that exist are added."""

COMMAND_EXTRAS = {
    **dict.fromkeys((*LIGHTNING_COMMANDS, "summary", "compare", "demo"), "train"),
    **dict.fromkeys(("detect", "benchmark", "bench"), "detect"),
    "convert": "keras",
    "export": "export",
}
"""The extra a command's error names when one of its packages is missing (see
:mod:`cnnlstm.extras`)."""

ALIASES: dict[str, tuple[str, ...]] = {"benchmark": ("bench",)}
"""Other names a command answers to: ``cnnlstm bench`` is ``cnnlstm benchmark`` (DESIGN.md's
name for it)."""

_ALIAS_OF = {alias: name for name, aliases in ALIASES.items() for alias in aliases}


class _WithAliases:
    """The subcommands as a command module sees them: ``add_parser(name, ...)`` adds the
    command with its :data:`ALIASES` (argparse's ``aliases=``)."""

    def __init__(self, subparsers: argparse._SubParsersAction[Any]) -> None:
        self._subparsers = subparsers

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        kwargs.setdefault("aliases", list(ALIASES.get(name, ())))
        parser: argparse.ArgumentParser = self._subparsers.add_parser(name, **kwargs)
        return parser


_COMMANDS = ("demo", *LIGHTNING_COMMANDS, "summary", "compare", "export")
_TAKES_OVERRIDES = ("summary", "compare")


def _command_modules() -> dict[str, Any]:
    """The modules of :data:`_COMMAND_MODULES` that exist, by command name."""
    modules = {}
    for name in _COMMAND_MODULES:
        if importlib.util.find_spec(f"cnnlstm.commands.{name}") is not None:
            modules[name] = importlib.import_module(f"cnnlstm.commands.{name}")
    return modules


def _one_line(error: BaseException) -> str:
    """The error's message on one line. An error raised in a DataLoader worker comes back as
    "Caught X in DataLoader worker process N. Original Traceback ...": keep its message only."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if len(lines) > 1 and lines[1].startswith("Original Traceback"):
        kind = type(error)
        heads = (f"{kind.__module__}.{kind.__qualname__}: ", f"{kind.__qualname__}: ")
        starts = [i for i, line in enumerate(lines) if line.startswith(heads)]
        if starts:
            first = lines[starts[-1]]
            lines = [first[first.index(": ") + 2 :], *lines[starts[-1] + 1 :]]
    return " ".join(lines)


def _end_distributed() -> None:
    """Destroy the process group a DDP run started, so that every rank exits cleanly.

    Lightning leaves it initialised after ``fit``; with gloo, its threads still alive at
    interpreter exit can abort a rank ("terminate called without an active exception").
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def _run(argv: list[str]) -> int:
    if argv and argv[0] in LIGHTNING_COMMANDS:
        from cnnlstm.commands.train import build_cli

        try:
            build_cli(argv)
        finally:
            _end_distributed()
        return 0
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        names = ", ".join([*_COMMANDS, *_command_modules()])
        parser.error(f"choose a command: {names} (cnnlstm --help lists them)")
    if extra and args.command not in _TAKES_OVERRIDES:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    modules = _command_modules()
    command = _ALIAS_OF.get(args.command, args.command)
    if command in modules:
        code: int = modules[command].run(args)
        return code
    if args.command == "demo":
        run_demo(steps=args.steps, seed=args.seed)
    elif args.command == "summary":
        from cnnlstm.commands.train import run_summary

        run_summary(args.config, extra)
    elif args.command == "compare":
        from cnnlstm.commands.compare import compare_bridges

        compare_bridges(
            args.config,
            args.bridges,
            max_epochs=args.max_epochs,
            output=args.output,
            overrides=extra,
        )
    elif args.command == "export":
        from cnnlstm.commands.export import export_checkpoint

        report = export_checkpoint(
            args.ckpt, format=args.format, output=args.output, tolerance=args.tolerance
        )
        return 0 if report.ok else 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 1 a failed check, 2 a user mistake).

    Example:
        >>> main(["demo", "--steps", "0"])
        2
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(args)
    except _UsageError as error:
        print(f"cnnlstm: error: {error}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help, --print_config, LightningCLI's usage errors
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except (CNNLSTMError, FileNotFoundError) as error:  # a MissingExtraError too
        print(f"cnnlstm: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:  # a package of an extra imported by no importing()
        command = args[0] if args else ""
        missing = missing_extra(error, f"cnnlstm {command}", COMMAND_EXTRAS.get(command))
        if missing is None:
            raise
        print(f"cnnlstm: error: {missing}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cnnlstm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
