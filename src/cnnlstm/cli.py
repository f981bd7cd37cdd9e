"""The ``cnnlstm`` command line.

Commands:

- ``fit``, ``validate``, ``test``, ``predict`` run Lightning's ``LightningCLI`` on a YAML config
  (``cnnlstm fit --config configs/digit_clips.yaml``): ``model:`` takes a task
  (``class_path: cnnlstm.tasks.ClassificationTask``) and ``data:`` a DataModule. Every run gets a
  progress bar; CSV and TensorBoard logs in ``runs/<name>/version_<n>`` (``<name>`` is the config
  file's name); checkpoints in ``runs/<name>/checkpoints``: ``last.ckpt`` and the best by the
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
- ``generate``, ``detect`` and ``benchmark`` (also ``bench``) live in :mod:`cnnlstm.commands`:
  write the built-in data to files, detect anomalies in a sensor file, run the SKAB protocol.

User mistakes (a bad option, a missing file, an unknown model, a bridge that cannot take the
input) end with one ``cnnlstm: error: ...`` line on stderr and exit code 2 (LightningCLI prints
its usage before the line for options it cannot parse). A failed export check exits with 1.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import logging
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import (
    BasePredictionWriter,
    Callback,
    EarlyStopping,
    ModelCheckpoint,
    ProgressBar,
    RichProgressBar,
    TQDMProgressBar,
)
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from torch import Tensor, nn

from cnnlstm.errors import CNNLSTMError, ConfigError
from cnnlstm.layers.convlstm import ConvLSTM
from cnnlstm.layers.pooling import GlobalPoolBridge
from cnnlstm.layers.spatial import SpatialSequence
from cnnlstm.layers.time_distributed import TimeDistributed
from cnnlstm.models.cnnlstm import CNNLSTM
from cnnlstm.summary import Summary, summary

__all__ = [
    "ALIASES",
    "CNNLSTMCLI",
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

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")
"""The commands ``main`` hands to :class:`CNNLSTMCLI`."""

RUNS_DIR = "runs"
"""Where runs write logs, checkpoints and predictions, relative to the working directory."""

_TASK_METRICS: dict[str, tuple[str, Literal["min", "max"]]] = {
    "ClassificationTask": ("val/acc", "max"),
    "ForecastTask": ("val/mse", "min"),
    "RecognitionTask": ("val/cer", "min"),
}
_LOWER_IS_BETTER = ("loss", "mse", "mae", "cer", "wer", "error")
_HIGHER_IS_BETTER = ("acc", "f1", "ssim", "psnr", "auroc", "precision", "recall")


def metric_mode(metric: str) -> Literal["min", "max"] | None:
    """``"min"`` for a loss or an error, ``"max"`` for a score, ``None`` when the name says neither.

    Example:
        >>> metric_mode("val/loss"), metric_mode("val/acc"), metric_mode("val/thing")
        ('min', 'max', None)
    """
    name = metric.rsplit("/", 1)[-1].lower()
    if any(word in name for word in _LOWER_IS_BETTER):
        return "min"
    if any(word in name for word in _HIGHER_IS_BETTER):
        return "max"
    return None


def monitored_metric(task: type[Any] | object) -> tuple[str, Literal["min", "max"]]:
    """The validation metric a task is judged by, and whether lower or higher is better.

    A task class says so with ``monitor`` and ``monitor_mode`` attributes; the built-in tasks
    without them use ``val/acc`` (classification, higher is better), ``val/mse`` (forecasting)
    and ``val/cer`` (recognition); any other module ``val/loss``.

    Example:
        >>> from cnnlstm.tasks import ClassificationTask
        >>> monitored_metric(ClassificationTask)
        ('val/acc', 'max')
    """
    klass = task if isinstance(task, type) else type(task)
    metric, mode = getattr(klass, "monitor", None), getattr(klass, "monitor_mode", None)
    if isinstance(metric, str) and mode in ("min", "max"):
        return metric, mode
    for base in klass.__mro__:
        if base.__name__ in _TASK_METRICS:
            return _TASK_METRICS[base.__name__]
    return "val/loss", "min"


def _join_batches(outputs: Sequence[Any]) -> Any:
    """Per-batch outputs as one: tensors concatenated on the batch axis, lists chained."""
    if outputs and all(isinstance(out, Tensor) for out in outputs):
        tensors = [out.detach().cpu() for out in outputs]
        if all(t.dim() > 0 and t.shape[1:] == tensors[0].shape[1:] for t in tensors):
            return torch.cat(tensors)  # (N, ...)
        return tensors
    joined: list[Any] = []
    for out in outputs:
        if isinstance(out, (list, tuple)):
            joined.extend(out)
        else:
            joined.append(out)
    return joined


class PredictionWriter(BasePredictionWriter):
    """Saves what ``cnnlstm predict`` returns to ``output_dir/predictions.pt``.

    The file holds ``{"predictions": ..., "indices": [...]}``: the batch outputs joined (class
    probabilities ``(N, K)``, forecast frames ``(N, K, C, H, W)``, or the list of strings a
    recognizer reads) and each item's index in the dataset. With several processes each writes
    ``predictions_rank<r>.pt``. Read it with ``torch.load(path)``.

    Args:
        output_dir: the folder; ``None`` for ``runs/<name>/predictions``.
    """

    def __init__(self, output_dir: str | None = None) -> None:
        super().__init__(write_interval="epoch")
        self.output_dir = output_dir
        self.path: Path | None = None
        """The file written by the last ``predict``, or ``None`` before one."""

    def write_on_epoch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        predictions: Sequence[Any],
        batch_indices: Sequence[Any],
    ) -> None:
        def indices(batches: Sequence[Any]) -> list[int]:
            return [int(i) for batch in batches for i in (batch or [])]

        # batch_indices has one list per dataloader; predictions too with several dataloaders
        if len(trainer.num_predict_batches) > 1:
            joined: Any = [_join_batches(p) for p in predictions]
            where: Any = [indices(b) for b in batch_indices]
        else:
            joined = _join_batches(predictions)
            where = indices(batch_indices[0]) if batch_indices else []
        folder = Path(self.output_dir or Path(RUNS_DIR) / "predictions")
        folder.mkdir(parents=True, exist_ok=True)
        name = (
            "predictions.pt"
            if trainer.world_size == 1
            else f"predictions_rank{trainer.global_rank}.pt"
        )
        self.path = folder / name
        torch.save({"predictions": joined, "indices": where}, self.path)
        count = len(joined)
        print(f"cnnlstm: wrote {count} predictions to {self.path}")


class TaskEarlyStopping(EarlyStopping):
    """Lightning's ``EarlyStopping`` that a config can switch off with ``enabled: false``.

    ``monitor: auto`` and ``mode: auto`` (the command line's defaults) stand for the task's
    validation metric (:func:`monitored_metric`).

    Args:
        monitor: the logged metric to watch.
        patience: validation checks without improvement before training stops.
        mode: ``"min"`` when lower is better, ``"max"`` when higher is.
        min_delta: the least change that counts as an improvement.
        enabled: ``False`` turns early stopping off.
        verbose: log each decision.
        strict: fail when ``monitor`` is not logged.
        check_finite: stop when the metric becomes NaN or infinite.
        stopping_threshold: stop as soon as the metric reaches this value.
        divergence_threshold: stop as soon as the metric gets worse than this value.
        check_on_train_epoch_end: check at the end of each training epoch instead of after each
            validation; off by default, since an epoch resumed from a checkpoint written after
            its validation ends without logging the metric.
    """

    def __init__(
        self,
        monitor: str = "auto",
        *,
        patience: int = 5,
        mode: str = "auto",
        min_delta: float = 0.0,
        enabled: bool = True,
        verbose: bool = False,
        strict: bool = True,
        check_finite: bool = True,
        stopping_threshold: float | None = None,
        divergence_threshold: float | None = None,
        check_on_train_epoch_end: bool = False,
    ) -> None:
        if monitor == "auto" or mode == "auto":
            raise ConfigError(
                f"TaskEarlyStopping: monitor and mode have to be resolved before it is built (the "
                f"command line does), but got monitor={monitor!r}, mode={mode!r}."
            )
        super().__init__(
            monitor=monitor,
            patience=patience,
            mode=mode,
            min_delta=min_delta,
            verbose=verbose,
            strict=strict,
            check_finite=check_finite,
            stopping_threshold=stopping_threshold,
            divergence_threshold=divergence_threshold,
            check_on_train_epoch_end=check_on_train_epoch_end,
        )
        self.enabled = enabled

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.enabled:
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.enabled:
            super().on_validation_end(trainer, pl_module)


def _next_version(folder: Path) -> int:
    """One more than the largest ``version_<n>`` in ``folder`` (0 when there is none)."""
    numbers = [
        int(path.name[len("version_") :])
        for path in (folder.iterdir() if folder.is_dir() else [])
        if path.is_dir() and path.name[len("version_") :].isdigit()
    ]
    return max(numbers, default=-1) + 1


def _share_logger_versions(loggers: Any) -> None:
    """Give the loggers of a config that write to one folder the same next ``version``.

    Each logger would pick its own, so a CSV and a TensorBoard logger would end up in
    ``version_0`` and ``version_1``.
    """
    if not isinstance(loggers, list):
        return
    groups: dict[tuple[str, str], list[Any]] = {}
    for logger in loggers:
        init = getattr(logger, "init_args", None)
        if init is None or getattr(init, "version", "set") is not None:
            continue
        save_dir, name = getattr(init, "save_dir", None), getattr(init, "name", None)
        if isinstance(save_dir, str) and isinstance(name, str):
            groups.setdefault((save_dir, name), []).append(init)
    for (save_dir, name), inits in groups.items():
        if len(inits) > 1:
            version = _next_version(Path(save_dir) / name)
            for init in inits:
                init.version = version


def _progress_bar() -> ProgressBar:
    """Rich's progress bar when rich works here, else tqdm's."""
    try:
        return RichProgressBar()
    except (ImportError, ModuleNotFoundError):
        return TQDMProgressBar()


def _import(class_path: str) -> Any:
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


class CNNLSTMCLI(LightningCLI):
    """``LightningCLI`` with the command line's defaults: loggers, checkpoints, early stopping.

    ``model:`` takes any ``LightningModule`` (the tasks of :mod:`cnnlstm.tasks`) and ``data:``
    any ``LightningDataModule``, each as ``class_path`` and ``init_args``. Added to Lightning's
    options: ``checkpoint`` (a ``ModelCheckpoint`` into ``runs/<name>/checkpoints`` keeping
    ``last.ckpt`` and the best by the task's metric), ``early_stopping``
    (:class:`TaskEarlyStopping`, patience 5) and ``prediction_writer`` (:class:`PredictionWriter`).
    ``monitor: auto`` and ``mode: auto`` become the task's metric (:func:`monitored_metric`).
    ``trainer.logger`` defaults to a CSV and a TensorBoard logger writing to
    ``runs/<name>/version_<n>``; a progress bar is added unless ``trainer.enable_progress_bar``
    is false. The task's own ``configure_optimizers`` is used (``lr``, ``scheduler``).

    Args:
        *args: ``LightningCLI``'s.
        run_name: ``<name>`` in the paths above.
        runs_dir: the folder the runs go to.
        extra_callbacks: callbacks added to the trainer (besides the configured ones).
        execute: ``False`` builds the task, data and trainer but does not run the command.
        **kwargs: ``LightningCLI``'s; ``args=[...]`` takes the command line.
    """

    def __init__(
        self,
        *args: Any,
        run_name: str = "cnnlstm",
        runs_dir: str = RUNS_DIR,
        extra_callbacks: Sequence[Callback] = (),
        execute: bool = True,
        **kwargs: Any,
    ) -> None:
        self.run_name = run_name
        self.runs_dir = runs_dir
        self.extra_callbacks = list(extra_callbacks)
        self.execute = execute
        self.monitor: tuple[str, str] = ("val/loss", "min")
        defaults: dict[str, Any] = {
            "model_class": pl.LightningModule,
            "datamodule_class": pl.LightningDataModule,
            "subclass_mode_model": True,
            "subclass_mode_data": True,
            "seed_everything_default": 0,
            "auto_configure_optimizers": False,
            "trainer_defaults": {"logger": self._default_loggers()},
            "save_config_kwargs": {"overwrite": True},
            "parser_kwargs": {"prog": "cnnlstm"},
        }
        super().__init__(*args, **{**defaults, **kwargs})

    @property
    def run_dir(self) -> Path:
        """``runs_dir/run_name``: where this run's logs and checkpoints go."""
        return Path(self.runs_dir) / self.run_name

    def _default_loggers(self) -> list[dict[str, Any]]:
        common = {"save_dir": self.runs_dir, "name": self.run_name}
        return [
            {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": common},
            {
                "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                "init_args": {**common, "default_hp_metric": False},
            },
        ]

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.add_lightning_class_args(TaskEarlyStopping, "early_stopping")
        parser.add_lightning_class_args(PredictionWriter, "prediction_writer")
        parser.set_defaults(
            {
                "checkpoint.dirpath": str(self.run_dir / "checkpoints"),
                "checkpoint.filename": "best-{epoch}-{step}",
                "checkpoint.monitor": "auto",
                "checkpoint.mode": "auto",
                "checkpoint.save_last": True,
                "checkpoint.save_top_k": 1,
                "early_stopping.monitor": "auto",
                "early_stopping.mode": "auto",
                "early_stopping.patience": 5,
            }
        )

    def _config(self) -> Any:
        return self.config[self.subcommand] if self.subcommand else self.config

    def before_instantiate_classes(self) -> None:
        """Resolve ``monitor: auto`` / ``mode: auto`` to the task's metric, fill default paths."""
        config = self._config()
        class_path = config.model.class_path
        try:
            task_class = _import(class_path)
        except (ImportError, AttributeError):
            raise ConfigError(f"model.class_path {class_path!r} cannot be imported.") from None
        metric, mode = monitored_metric(task_class)
        self.monitor = (metric, mode)
        for key in ("checkpoint", "early_stopping"):
            group = config[key]
            if group.monitor == "auto":
                group.monitor = metric
            if group.mode == "auto":
                guessed = mode if group.monitor == metric else metric_mode(str(group.monitor))
                if guessed is None:
                    raise ConfigError(
                        f"{key}.mode has to be 'min' or 'max' for {key}.monitor="
                        f"{group.monitor!r} (its name does not say which is better), but got "
                        f"'auto'."
                    )
                group.mode = guessed
        if config.prediction_writer.output_dir is None:
            config.prediction_writer.output_dir = str(self.run_dir / "predictions")
        _share_logger_versions(config.trainer.logger)
        _check_sync_batchnorm(config.trainer)

    def instantiate_classes(self) -> None:
        """Build the task, data and trainer; a rejected argument becomes a ``ConfigError``."""
        try:
            super().instantiate_classes()
        except CNNLSTMError:
            raise
        except (ValueError, TypeError) as error:
            # jsonargparse wraps what a constructor raised in its own ValueError: unwrap it
            root: BaseException = error
            while root.__cause__ is not None:
                root = root.__cause__
            if isinstance(root, CNNLSTMError):
                raise root from None
            raise ConfigError(f"the config cannot be built: {root}") from None

    def instantiate_trainer(self, **kwargs: Any) -> pl.Trainer:
        trainer_config = self._get(self.config_init, "trainer", default={})
        callbacks = trainer_config.get("callbacks") or []
        callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
        callbacks.extend(self.extra_callbacks)
        has_bar = any(isinstance(c, ProgressBar) for c in callbacks)
        if trainer_config.get("enable_progress_bar", True) is not False and not has_bar:
            callbacks.append(_progress_bar())
        return super().instantiate_trainer(**{"callbacks": callbacks, **kwargs})

    def _run_subcommand(self, subcommand: str) -> None:
        if self.execute:
            super()._run_subcommand(subcommand)

    def after_fit(self) -> None:
        """Say where the checkpoints and logs are."""
        log_dir = self.trainer.log_dir  # a collective under DDP: every process asks
        if not self.trainer.is_global_zero:
            return
        callback = self.trainer.checkpoint_callback
        if isinstance(callback, ModelCheckpoint) and callback.dirpath:
            best = callback.best_model_path or "none (nothing validated)"
            print(f"cnnlstm: checkpoints in {callback.dirpath} (best: {best})")
        if log_dir:
            print(f"cnnlstm: logs in {log_dir}")


def _config_paths(argv: Sequence[str]) -> list[str]:
    """The values of ``--config`` / ``-c`` in ``argv``."""
    paths = []
    for i, arg in enumerate(argv):
        if arg in ("-c", "--config") and i + 1 < len(argv):
            paths.append(argv[i + 1])
        elif arg.startswith("--config="):
            paths.append(arg.split("=", 1)[1])
    return paths


def _option(argv: Sequence[str], name: str) -> str | None:
    """The last value of ``--name value`` or ``--name=value`` in ``argv``."""
    value = None
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(f"{name}="):
            value = arg.split("=", 1)[1]
    return value


def _check_sync_batchnorm(trainer: Any) -> None:
    """``trainer.sync_batchnorm`` needs CUDA; on CPU say what to use instead of a traceback."""
    if not trainer.get("sync_batchnorm"):
        return
    accelerator = str(trainer.get("accelerator") or "auto")
    if accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available()):
        raise ConfigError(
            "trainer.sync_batchnorm has to run on GPUs (SyncBatchNorm is CUDA-only), but the "
            f"accelerator is {accelerator!r} on a machine without CUDA; on CPU drop it and set "
            "the model's norm to 'group' or 'instance' (model_args: {norm: group})."
        )


def _check_files(argv: Sequence[str]) -> None:
    """FileNotFoundError for a config or checkpoint file named in ``argv`` that is not there."""
    for path in _config_paths(argv):
        if path.endswith((".yaml", ".yml", ".json")) and not Path(path).is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
    ckpt = _option(argv, "--ckpt_path")
    keywords = ("last", "best", "hpc", "null", "None")
    if ckpt and ckpt not in keywords and "://" not in ckpt and not Path(ckpt).is_file():
        raise FileNotFoundError(
            f"checkpoint file {ckpt} does not exist (--ckpt_path takes a file, 'last' or 'best')"
        )


def run_name(argv: Sequence[str]) -> str:
    """The name a run's folder gets: the first config file's name without suffix, or cnnlstm.

    Example:
        >>> run_name(["fit", "--config", "configs/digit_clips.yaml"])
        'digit_clips'
    """
    for path in _config_paths(argv):
        if path.endswith((".yaml", ".yml", ".json")):
            return Path(path).stem
    return "cnnlstm"


def build_cli(argv: Sequence[str], **kwargs: Any) -> CNNLSTMCLI:
    """Run (or with ``execute=False`` only build) ``cnnlstm fit|validate|test|predict ...``.

    Args:
        argv: the command and its options, e.g. ``["fit", "--config", "configs/x.yaml"]``.
        **kwargs: :class:`CNNLSTMCLI`'s (``run_name`` defaults to the config file's name).

    Raises:
        FileNotFoundError: a config or checkpoint file that is not there.
    """
    _check_files(argv)
    # the tasks and DataModules are imported so that short names find them: --model ForecastTask
    importlib.import_module("cnnlstm.tasks")
    importlib.import_module("cnnlstm.data.datamodules")
    kwargs.setdefault("run_name", run_name(argv))
    with warnings.catch_warnings():
        # LightningCLI warns when sys.argv has arguments too (under pytest, or for compare)
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        return CNNLSTMCLI(args=list(argv), **kwargs)


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Hide Lightning's info messages (seed, accelerators, tips) while building, not training."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def run_summary(
    config: str, overrides: Sequence[str] = (), *, console: Console | None = None
) -> Summary:
    """Build the task of a config without training and print its model stage by stage.

    Args:
        config: a YAML config as ``cnnlstm fit`` takes it.
        overrides: further ``--key value`` options, as for ``cnnlstm fit``.
        console: where to print (the terminal by default).

    Returns:
        The :class:`~cnnlstm.summary.Summary` of the model for a batch of two examples.

    Raises:
        ConfigError: the task's model has no ``example_input_shape``.
    """
    console = console or Console()
    with quiet_lightning():
        cli = build_cli(["fit", "--config", config, *overrides], execute=False)
    task = cli.model
    model = getattr(task, "model", task)
    shape = getattr(model, "example_input_shape", None)
    if shape is None:
        raise ConfigError(
            f"summary: the model of {config} ({type(model).__name__}) has to say its input with "
            f"example_input_shape, as the models of cnnlstm.models do, but it has none."
        )
    name = getattr(task, "hparams", {}).get("model", type(model).__name__)
    metric, mode = cli.monitor
    console.print(
        f"[bold]{config}[/bold]: {type(task).__name__} with model {name!r}; "
        f"checkpoints keep the best {metric} ({mode})"
    )
    result = summary(model, (2, *shape))
    console.print(result)
    return result


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
    export.add_argument("--output", default=None, help="the file (next to the checkpoint)")
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


_COMMAND_MODULES = ("generate", "detect", "benchmark")
"""Commands in modules of their own (:mod:`cnnlstm.commands`), each with ``add_parser(subparsers)``
and ``run(args) -> int``; the ones that exist are added."""

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
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip())


def _run(argv: list[str]) -> int:
    if argv and argv[0] in LIGHTNING_COMMANDS:
        build_cli(argv)
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
        run_summary(args.config, extra)
    elif args.command == "compare":
        from cnnlstm.compare import compare_bridges

        compare_bridges(
            args.config,
            args.bridges,
            max_epochs=args.max_epochs,
            output=args.output,
            overrides=extra,
        )
    elif args.command == "export":
        from cnnlstm.export import export_checkpoint

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
    except (CNNLSTMError, FileNotFoundError) as error:
        print(f"cnnlstm: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cnnlstm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
