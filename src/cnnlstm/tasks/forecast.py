"""``ForecastTask``: predict the next frames of a sequence, scored as video-prediction papers do."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor
from torchmetrics import Metric, MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from cnnlstm.errors import ShapeError
from cnnlstm.functional import format_shape
from cnnlstm.models.forecaster import copy_last_frame
from cnnlstm.tasks.base import SchedulerName, TaskBase
from cnnlstm.tasks.metrics import FrameMAE, FrameMSE

__all__ = ["ForecastTask"]

_LAYOUTS = {2: "(inputs, targets)"}


class ForecastTask(TaskBase):
    """Next-frame prediction: ``N`` input frames ``(B, N, C, H, W)`` -> ``K`` predicted frames.

    Batches are ``(inputs (B, N, C, H, W), targets (B, K, C, H, W))`` as
    :class:`~cnnlstm.data.MovingDigits` yields them, with values in ``[0, 1]``. The loss is the
    mean squared error over values; with ``loss="l1+l2"`` that plus the mean absolute error; with
    ``loss="bce"`` the binary cross-entropy of the predicted intensities (in ``(0, 1)``) against
    the true ones, averaged over values, as many Moving MNIST codes train (the metrics stay the
    same). ``teacher_forcing`` turns on scheduled sampling for models that take ``targets``.

    Logged for ``val`` and ``test``: ``loss``; ``mse`` and ``mae`` per frame as OpenSTL reports
    them (the error summed over a frame's ``C*H*W`` values, averaged over frames: see
    :class:`~cnnlstm.tasks.metrics.FrameMSE`); ``ssim`` and ``psnr`` over frames with
    ``data_range=1`` (PSNR computed per frame, then averaged); and ``mse_copy_last``, the per-frame
    MSE of repeating the last input frame, so every run shows whether the model beats that
    baseline. ``predict`` returns the predicted frames ``(B, K, C, H, W)``.

    Args:
        model: a name from ``cnnlstm.models.list_models()``; a forecaster taking
            ``(B, N, C, H, W)`` and returning ``(B, K, C, H, W)``.
        model_args: keyword arguments of the model factory (``in_channels``, ``image_size``,
            ``input_frames``, ``output_frames``, ...).
        loss: ``"mse"``, ``"l1+l2"`` or ``"bce"``.
        lr: the AdamW learning rate (the peak for ``"onecycle"``).
        weight_decay: AdamW's weight decay.
        scheduler: ``"none"``, ``"cosine"`` or ``"onecycle"``, stepped every batch.
        teacher_forcing: scheduled sampling in training: the probability, at the first step,
            that the forecaster is fed the true previous frame instead of its own prediction
            (the model's ``teacher_forcing``); it falls linearly to 0 over the first
            ``teacher_forcing_decay`` of the training steps. 0 (the default) always feeds the
            model its own predictions, as at test time.
        teacher_forcing_decay: the fraction of the run, in ``(0, 1]``, over which
            ``teacher_forcing`` falls to 0.

    Raises:
        ValueError: for an unknown loss or bad optimizer settings.

    Example:
        >>> import torch
        >>> task = ForecastTask(
        ...     model_args={"image_size": (16, 16), "input_frames": 4, "output_frames": 2,
        ...                 "hidden_channels": (4,), "patch_size": 2},
        ... )
        >>> task(torch.rand(3, 4, 1, 16, 16)).shape
        torch.Size([3, 2, 1, 16, 16])
    """

    monitor: ClassVar[str] = "val/mse"
    monitor_mode: ClassVar[Literal["min", "max"]] = "min"

    def __init__(
        self,
        model: str = "convlstm_forecaster",
        model_args: dict[str, Any] | None = None,
        *,
        loss: Literal["mse", "l1+l2", "bce"] = "mse",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        scheduler: SchedulerName = "cosine",
        teacher_forcing: float = 0.0,
        teacher_forcing_decay: float = 0.5,
    ) -> None:
        super().__init__(lr=lr, weight_decay=weight_decay, scheduler=scheduler)
        if loss not in ("mse", "l1+l2", "bce"):
            raise ValueError(f"loss has to be 'mse', 'l1+l2' or 'bce', but got {loss!r}")
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ValueError(
                f"teacher_forcing has to be a probability in [0, 1], but got {teacher_forcing!r}"
            )
        if not 0.0 < teacher_forcing_decay <= 1.0:
            raise ValueError(
                f"teacher_forcing_decay has to be a fraction in (0, 1], but got "
                f"{teacher_forcing_decay!r}"
            )
        self.teacher_forcing = teacher_forcing
        self.teacher_forcing_decay = teacher_forcing_decay
        self.save_hyperparameters()
        self.loss_name = loss
        self.model = self.build_model(model, model_args)
        self.val_metrics = self._frame_metrics("val/")
        self.test_metrics = self._frame_metrics("test/")
        self.val_mse_copy_last = FrameMSE()
        self.test_mse_copy_last = FrameMSE()

    @staticmethod
    def _frame_metrics(prefix: str) -> MetricCollection:
        """Per-frame MSE, MAE, SSIM and PSNR of frames ``(N, C, H, W)``, named ``prefix + name``."""
        metrics: dict[str, Metric | MetricCollection] = {
            "mse": FrameMSE(),
            "mae": FrameMAE(),
            "ssim": StructuralSimilarityIndexMeasure(data_range=1.0),
            "psnr": PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3)),
        }
        return MetricCollection(metrics, prefix=prefix, compute_groups=False)

    def teacher_forcing_probability(self) -> float:
        """This training step's scheduled-sampling probability (0 outside a ``Trainer`` fit)."""
        if self.teacher_forcing == 0 or self._trainer is None:
            return 0.0
        total = self.trainer.estimated_stepping_batches
        if not math.isfinite(total) or total < 1:
            return self.teacher_forcing
        until = self.teacher_forcing_decay * total
        return self.teacher_forcing * max(0.0, 1.0 - self.global_step / until)

    def _predict(self, inputs: Tensor, targets: Tensor | None = None) -> Tensor:
        if inputs.dim() != 5:
            raise ShapeError(
                f"ForecastTask: expected input frames (B, N, C, H, W), but got a "
                f"{inputs.dim()}-D tensor of shape {format_shape(inputs.shape)}."
            ) from None
        probability = self.teacher_forcing_probability() if targets is not None else 0.0
        if probability > 0:
            forced: Tensor = self.model(inputs, targets, teacher_forcing=probability)
            return forced
        preds: Tensor = self(inputs)
        return preds

    def _step(self, batch: Any, *, train: bool = False) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(loss, inputs, predictions, targets)`` of a batch (scheduled sampling if ``train``)."""
        inputs, targets = self.unpack_batch(batch, _LAYOUTS)
        preds = self._predict(inputs, targets if train else None)
        if preds.shape != targets.shape:
            raise ShapeError(
                f"ForecastTask: the model predicted frames of shape {format_shape(preds.shape)} "
                f"but the targets have shape {format_shape(targets.shape)}. Build the model with "
                f"output_frames={targets.shape[1] if targets.dim() == 5 else '?'} and the targets' "
                f"channels and size (model_args)."
            ) from None
        if self.loss_name == "bce":
            # autocast refuses binary_cross_entropy on probabilities: compute it in float32
            with torch.autocast(preds.device.type, enabled=False):
                loss = F.binary_cross_entropy(preds.float(), targets.float())
            return loss, inputs, preds, targets
        loss = F.mse_loss(preds, targets)
        if self.loss_name == "l1+l2":
            loss = loss + F.l1_loss(preds, targets)
        return loss, inputs, preds, targets

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        loss, inputs, _, _ = self._step(batch, train=True)
        self.log("train/loss", loss, prog_bar=True, batch_size=inputs.shape[0])
        return loss

    def _evaluate(self, batch: Any, stage: str) -> None:
        loss, inputs, preds, targets = self._step(batch)
        frames = rearrange(preds.detach(), "b k c h w -> (b k) c h w")  # (B*K, C, H, W)
        true_frames = rearrange(targets, "b k c h w -> (b k) c h w")  # (B*K, C, H, W)
        copy_last = copy_last_frame(inputs, targets.shape[1])  # (B, K, C, H, W)
        metrics = self.val_metrics if stage == "val" else self.test_metrics
        baseline = self.val_mse_copy_last if stage == "val" else self.test_mse_copy_last
        metrics.update(frames, true_frames)
        baseline.update(copy_last, targets)
        batch_size = inputs.shape[0]
        self.log(
            f"{stage}/loss", loss, prog_bar=stage == "val", batch_size=batch_size, sync_dist=True
        )
        self.log_dict(metrics, batch_size=batch_size)
        self.log(f"{stage}/mse_copy_last", baseline, batch_size=batch_size)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """The predicted frames ``(B, K, C, H, W)`` for ``inputs`` or ``(inputs, targets)``."""
        if isinstance(batch, Tensor):
            return self._predict(batch)
        inputs = self.unpack_batch(batch, {1: "inputs", **_LAYOUTS})[0]
        return self._predict(inputs)
