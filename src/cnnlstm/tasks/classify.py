"""``ClassificationTask``: one label per clip, image or sequence, trained with cross-entropy."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
)

from cnnlstm.errors import ConfigError, ShapeError
from cnnlstm.functional import format_shape
from cnnlstm.tasks.base import SchedulerName, TaskBase
from cnnlstm.tasks.metrics import format_confusion

__all__ = ["ClassificationTask"]

_LAYOUTS = {2: "(x, y)", 3: "(x, lengths, y)"}


class ClassificationTask(TaskBase):
    """Classify clips ``(B, T, C, H, W)``, images ``(B, C, H, W)`` or sequences with any model
    of the registry whose forward returns logits ``(B, K)``.

    Batches are ``(x, y)`` or, for clips of different lengths padded by
    :func:`~cnnlstm.data.collate.pad_collate`, ``(x, lengths, y)``; the lengths go to the model.
    Logged: ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``val/f1``, ``test/loss``,
    ``test/acc``, ``test/f1`` (accuracy over items; F1 averaged over classes, "macro"). After
    ``trainer.test`` the confusion matrix is kept in :attr:`test_confusion` (rows true classes,
    columns predictions) and printed as a table. ``predict`` returns class probabilities
    ``(B, K)``.

    Args:
        model: a name from ``cnnlstm.models.list_models()``.
        model_args: keyword arguments of the model factory, except ``num_classes``.
        num_classes: ``K``, passed to the model factory and to the metrics.
        lr: the AdamW learning rate (the peak for ``"onecycle"``).
        weight_decay: AdamW's weight decay.
        scheduler: ``"none"``, ``"cosine"`` or ``"onecycle"``, stepped every batch.
        label_smoothing: the cross-entropy's label smoothing, in ``[0, 1)``.

    Raises:
        ValueError: for fewer than 2 classes, ``num_classes`` inside ``model_args``, or bad
            optimizer settings.
        ConfigError: at the start of a run, when the DataModule says it holds another number
            of classes (its ``num_classes``, e.g. the class folders of a ``VideoDataModule``).

    Example:
        >>> task = ClassificationTask(
        ...     "clip_classifier",
        ...     {"frames": 4, "image_size": (16, 16), "channels": (4, 8), "hidden_size": 8},
        ...     num_classes=3,
        ... )
        >>> task(torch.rand(2, 4, 1, 16, 16)).shape
        torch.Size([2, 3])
    """

    monitor: ClassVar[str] = "val/acc"
    monitor_mode: ClassVar[Literal["min", "max"]] = "max"
    test_confusion: Tensor | None
    """``(K, K)`` counts from the last ``trainer.test`` run, or ``None`` before one."""

    def __init__(
        self,
        model: str = "clip_classifier",
        model_args: dict[str, Any] | None = None,
        *,
        num_classes: int = 10,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        scheduler: SchedulerName = "cosine",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(lr=lr, weight_decay=weight_decay, scheduler=scheduler)
        if num_classes < 2:
            raise ValueError(f"num_classes has to be at least 2, but got {num_classes}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing has to be in [0, 1), but got {label_smoothing}")
        self.save_hyperparameters()
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.model = self.build_model(model, model_args, num_classes=num_classes)
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_f1 = MulticlassF1Score(num_classes, average="macro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_f1 = MulticlassF1Score(num_classes, average="macro")
        self.test_confusion_matrix = MulticlassConfusionMatrix(num_classes)
        self.test_confusion = None

    def setup(self, stage: str) -> None:
        """Check ``num_classes`` against the DataModule's, which Lightning has set up by now."""
        trainer = getattr(self, "_trainer", None)
        data = trainer.datamodule if trainer is not None else None
        found = getattr(data, "num_classes", None)
        names = getattr(data, "classes", None)  # named classes (folders): the count is exact
        if isinstance(found, int) and (
            found > self.num_classes or (names and found != self.num_classes)
        ):
            shown = f" {list(names)}" if names else f" (labels 0..{found - 1})"
            if stage == "fit" and getattr(trainer, "ckpt_path", None) is None:
                fix = (
                    f"set num_classes: {found} under model.init_args (or "
                    f"--model.init_args.num_classes {found})"
                )
            else:  # the weights come from a checkpoint: its classes are fixed
                fix = (
                    "a checkpoint's classes are fixed, so give the data the model was trained "
                    f"on, or a checkpoint trained on these {found} classes"
                )
            raise ConfigError(
                f"ClassificationTask: the data has {found} classes{shown}, but the model was "
                f"built for num_classes={self.num_classes}; {fix}."
            )

    def _logits(self, x: Tensor, lengths: Tensor | None) -> Tensor:
        logits: Tensor = self(x, lengths)
        expected = (x.shape[0], self.num_classes)
        if tuple(logits.shape) != expected:
            raise ShapeError(
                f"ClassificationTask: expected the model to return logits of shape "
                f"{format_shape(expected)} (B, num_classes), but got "
                f"{format_shape(logits.shape)}. Use a model that ends in a classification head "
                f"with num_classes={self.num_classes}."
            ) from None
        return logits

    def _step(self, batch: Any) -> tuple[Tensor, Tensor, Tensor]:
        """``(loss, predicted classes (B,), labels (B,))`` of a batch."""
        fields = self.unpack_batch(batch, _LAYOUTS)
        x, lengths, y = fields if len(fields) == 3 else (fields[0], None, fields[1])
        logits = self._logits(x, lengths)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        return loss, logits.argmax(dim=-1), y

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        loss, preds, y = self._step(batch)
        self.train_acc(preds, y)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(y))
        self.log("train/acc", self.train_acc, on_step=True, on_epoch=False, batch_size=len(y))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        loss, preds, y = self._step(batch)
        self.val_acc.update(preds, y)
        self.val_f1.update(preds, y)
        self.log("val/loss", loss, prog_bar=True, batch_size=len(y), sync_dist=True)
        self.log("val/acc", self.val_acc, prog_bar=True, batch_size=len(y))
        self.log("val/f1", self.val_f1, batch_size=len(y))

    def test_step(self, batch: Any, batch_idx: int) -> None:
        loss, preds, y = self._step(batch)
        self.test_acc.update(preds, y)
        self.test_f1.update(preds, y)
        self.test_confusion_matrix.update(preds, y)
        self.log("test/loss", loss, batch_size=len(y), sync_dist=True)
        self.log("test/acc", self.test_acc, batch_size=len(y))
        self.log("test/f1", self.test_f1, batch_size=len(y))

    def on_test_epoch_end(self) -> None:
        confusion = self.test_confusion_matrix.compute().cpu()
        self.test_confusion_matrix.reset()
        self.test_confusion = confusion
        table = format_confusion(confusion)
        rank_zero_info(f"Confusion matrix (rows: true class, columns: predicted class)\n{table}")
        experiment = getattr(self.logger, "experiment", None)
        if experiment is not None and hasattr(experiment, "add_text"):  # TensorBoard
            experiment.add_text("test/confusion", f"```\n{table}\n```", self.global_step)

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Class probabilities ``(B, K)`` for a batch ``x``, ``(x, y)`` or ``(x, lengths, y)``."""
        if isinstance(batch, Tensor):
            x, lengths = batch, None
        else:
            fields = self.unpack_batch(batch, {1: "x", **_LAYOUTS})
            x, lengths = fields[0], (fields[1] if len(fields) == 3 else None)
        return torch.softmax(self._logits(x, lengths), dim=-1)
