"""``TaskBase``: what every task shares: the model from the registry, AdamW and its schedule.

A task is a ``LightningModule`` that owns one model (``self.model``), built by name from the
model registry with the task's ``model_args``, and adds the loss, the metrics and ``predict``.
Tasks call ``save_hyperparameters()``, so ``Task.load_from_checkpoint(path)`` rebuilds the same
model from the checkpoint alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, get_args

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities.types import OptimizerLRScheduler
from torch import Tensor, nn

from cnnlstm.errors import ConfigError, ShapeError
from cnnlstm.functional import format_shape
from cnnlstm.models.registry import create_model

__all__ = ["SCHEDULERS", "SchedulerName", "TaskBase"]

SchedulerName = Literal["none", "cosine", "onecycle"]
SCHEDULERS: tuple[str, ...] = get_args(SchedulerName)
"""The ``scheduler`` names: constant rate, cosine decay to 0, or the one-cycle policy."""


_NOT_STRUCTURAL = frozenset(
    {"lr", "weight_decay", "scheduler", "label_smoothing", "decoder", "beam_width", "_class_path"}
)
"""Hyperparameters that change no weight's shape: left out of a checkpoint mismatch message."""


class TaskBase(pl.LightningModule):
    """Shared parts of the tasks: model creation, optimizer and schedule, batch unpacking.

    Args:
        lr: the AdamW learning rate (the peak rate for ``"onecycle"``).
        weight_decay: AdamW's decoupled weight decay.
        scheduler: ``"none"``; ``"cosine"``: cosine decay from ``lr`` to 0 over the run;
            ``"onecycle"``: warm up to ``lr`` and anneal (``torch.optim.lr_scheduler.OneCycleLR``).
            Both schedules step every batch and take the run's length from the ``Trainer``
            (``max_steps`` or ``max_epochs``).

    Raises:
        ValueError: for a learning rate that is not positive, a negative weight decay or an
            unknown scheduler.
    """

    model: nn.Module
    batch_advice: ClassVar[str] = (
        "Check what the DataModule's loaders yield (its items and its collate_fn)."
    )
    """What to change when a batch has another layout: which DataModules yield the task's."""
    monitor: ClassVar[str] = "val/loss"
    """The logged validation metric the task is judged by: ``cnnlstm fit`` keeps the best
    checkpoint by it and stops early on it."""
    monitor_mode: ClassVar[Literal["min", "max"]] = "min"
    """Whether a lower (``"min"``) or a higher (``"max"``) :attr:`monitor` is better."""

    def __init__(
        self, *, lr: float = 1e-3, weight_decay: float = 0.0, scheduler: SchedulerName = "cosine"
    ) -> None:
        super().__init__()
        if not lr > 0:
            raise ValueError(f"lr has to be a positive learning rate, but got {lr}")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay has to be >= 0, but got {weight_decay}")
        if scheduler not in SCHEDULERS:
            valid = ", ".join(repr(s) for s in SCHEDULERS)
            raise ValueError(f"scheduler has to be one of {valid}, but got {scheduler!r}")
        self.lr = lr
        self.weight_decay = weight_decay
        self.scheduler_name: SchedulerName = scheduler

    @staticmethod
    def build_model(name: str, model_args: Mapping[str, Any] | None, **task_args: Any) -> nn.Module:
        """``create_model(name, **model_args, **task_args)``, refusing arguments set twice.

        ``task_args`` are the model arguments the task owns (``num_classes``), so that the
        task's metrics and the model's head agree.

        Raises:
            ValueError: when ``model_args`` sets one of ``task_args``.
        """
        args = dict(model_args or {})
        for key, value in task_args.items():
            if key in args:
                raise ValueError(
                    f"model_args has to leave {key!r} to the task (set the task's {key}="
                    f"{args[key]!r} instead), but got model_args={args!r}"
                )
            args[key] = value
        model: nn.Module = create_model(name, **args)
        return model

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Any:
        """The model's output for ``x``; ``lengths`` is passed on only when given."""
        if lengths is None:
            return self.model(x)
        return self.model(x, lengths=lengths)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Before a checkpoint's weights are loaded into this task: stop with the settings to
        change when they cannot fit (a model built with another ``num_classes``, ``alphabet``
        or size than the one trained), instead of torch's list of shape mismatches.

        Raises:
            ConfigError: some weight has another shape here than in the checkpoint.
        """
        weights = checkpoint.get("state_dict") or {}
        own = self.state_dict()
        misfits = [
            (name, tuple(value.shape), tuple(own[name].shape))
            for name, value in weights.items()
            if name in own and isinstance(value, Tensor) and value.shape != own[name].shape
        ]
        if not misfits:
            return
        trained = checkpoint.get("hyper_parameters") or {}
        here = dict(self.hparams)
        differ = [
            f"{key}={trained[key]!r} (here {here.get(key)!r})"
            for key in trained
            if key not in _NOT_STRUCTURAL and trained[key] != here.get(key)
        ]
        name, theirs, ours = misfits[0]
        settings = (
            f"it was trained with {', '.join(differ)}: set "
            f"{'these' if len(differ) > 1 else 'that'} under model.init_args as trained"
            if differ
            else "build the model with the settings it was trained with"
        )
        raise ConfigError(
            f"{type(self).__name__}: the checkpoint's weights do not fit this model "
            f"({len(misfits)} differ in shape, e.g. {name}: {format_shape(theirs)} in the "
            f"checkpoint, {format_shape(ours)} here); {settings} (a checkpoint's classes, "
            f"alphabet and layer sizes are fixed)."
        )

    def unpack_batch(self, batch: Any, layouts: Mapping[int, str]) -> tuple[Any, ...]:
        """Check that ``batch`` is a tuple with one of the sizes in ``layouts`` and return it.

        Args:
            batch: what the ``DataLoader`` yields.
            layouts: number of fields -> how the task reads them, for the error message,
                e.g. ``{2: "(x, y)", 3: "(x, lengths, y)"}``.

        Raises:
            ShapeError: for a batch that is not a tuple or list of one of those sizes; the
                message shows what came (the shape of each field) and :attr:`batch_advice`,
                which DataModules yield the layout the task reads. ``cnnlstm fit`` prints it as
                one line.
        """
        if isinstance(batch, (tuple, list)) and len(batch) in layouts:
            return tuple(batch)
        wanted = " or ".join(layouts.values())
        raise ShapeError(
            f"{type(self).__name__}: a batch has to be {wanted}, but got {_describe(batch)}. "
            f"{self.batch_advice}"
        ) from None

    def configure_optimizers(self) -> OptimizerLRScheduler:
        """AdamW over all parameters, with the chosen schedule stepped every batch.

        Raises:
            ConfigError: for a schedule when the ``Trainer`` sets no length of the run.
        """
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if self.scheduler_name == "none":
            return optimizer
        total = self.trainer.estimated_stepping_batches
        if not math.isfinite(total) or total < 1:
            raise ConfigError(
                f"{type(self).__name__}: scheduler={self.scheduler_name!r} needs the length of "
                f"the run, but the Trainer sets neither max_steps nor max_epochs; set one, or "
                f"use scheduler='none'."
            )
        steps = int(total)
        scheduler: torch.optim.lr_scheduler.LRScheduler
        if self.scheduler_name == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        else:
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=self.lr, total_steps=steps
            )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def _describe(batch: Any) -> str:
    """``a list of 2 fields of shapes (4, 1, 32, 128), (4, 10)``, ``a Tensor of shape (4, 3)``."""
    if isinstance(batch, Tensor):
        return f"a Tensor of shape {format_shape(batch.shape)}"
    if not isinstance(batch, (tuple, list)):
        return f"a {type(batch).__name__}"
    fields = ", ".join(
        format_shape(field.shape) if isinstance(field, Tensor) else type(field).__name__
        for field in batch
    )
    count = f"{len(batch)} field" + ("" if len(batch) == 1 else "s")
    shapes = " of shapes" if all(isinstance(field, Tensor) for field in batch) else ":"
    return f"a {type(batch).__name__} of {count}" + (f"{shapes} {fields}" if fields else "")
