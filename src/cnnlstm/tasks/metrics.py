"""Metrics the tasks log that torchmetrics does not have in the form the literature reports.

- :class:`FrameMSE` and :class:`FrameMAE`: the per-frame errors of video prediction as OpenSTL
  (and the Moving MNIST papers before it) report them: the error of one frame is the **sum** over
  its ``C x H x W`` values, and the metric is the mean of that over every frame of every sequence.
  ``torchmetrics.MeanSquaredError`` averages over values instead, which is smaller by ``C*H*W``.
- :class:`WordAccuracy`: the share of predicted strings that equal their reference exactly.
- :func:`format_confusion`: a confusion matrix as a plain-text table for logs.

Each metric keeps sums and a count as its state, so it accumulates over batches and reduces
across processes (DDP) exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from cnnlstm.errors import ShapeError
from cnnlstm.functional import format_shape

__all__ = ["FrameMAE", "FrameMSE", "WordAccuracy", "format_confusion"]


class _FrameError(Metric):
    """Mean over frames of the summed elementwise error of each frame; see :class:`FrameMSE`."""

    is_differentiable = True
    higher_is_better = False
    full_state_update = False

    sum_error: Tensor
    frames: Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("sum_error", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("frames", default=torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")

    def _elementwise(self, diff: Tensor) -> Tensor:
        raise NotImplementedError

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add the frames of a batch.

        Args:
            preds: ``(B, T, C, H, W)`` predicted frames, or ``(B, C, H, W)`` single frames.
            target: the true frames, of the same shape.

        Raises:
            ShapeError: when the shapes differ or are not 4-D or 5-D.
        """
        name = type(self).__name__
        if preds.shape != target.shape:
            raise ShapeError(
                f"{name}: preds and target have to have the same shape, but got preds "
                f"{format_shape(preds.shape)} and target {format_shape(target.shape)}. Predict "
                f"as many frames as the target holds."
            ) from None
        if preds.dim() not in (4, 5):
            raise ShapeError(
                f"{name}: expected frames (B, T, C, H, W) or (B, C, H, W), but got a "
                f"{preds.dim()}-D tensor of shape {format_shape(preds.shape)}."
            ) from None
        diff = preds.detach().float() - target.detach().float()
        per_frame = self._elementwise(diff).sum(dim=(-3, -2, -1))  # (B, T) or (B,)
        self.sum_error += per_frame.sum()
        self.frames += per_frame.numel()

    def compute(self) -> Tensor:
        """The mean per-frame error; NaN before any frame was seen."""
        return self.sum_error / self.frames


class FrameMSE(_FrameError):
    """Mean squared error per frame as OpenSTL reports it: ``mean_frames(sum_CHW((p - y)^2))``.

    Example:
        >>> metric = FrameMSE()
        >>> metric.update(torch.zeros(2, 3, 1, 4, 4), torch.ones(2, 3, 1, 4, 4))
        >>> metric.compute()
        tensor(16.)
    """

    def _elementwise(self, diff: Tensor) -> Tensor:
        return diff.square()


class FrameMAE(_FrameError):
    """Mean absolute error per frame as OpenSTL reports it: ``mean_frames(sum_CHW(|p - y|))``.

    Example:
        >>> metric = FrameMAE()
        >>> metric.update(torch.zeros(2, 1, 4, 4), torch.full((2, 1, 4, 4), -0.5))
        >>> metric.compute()
        tensor(8.)
    """

    def _elementwise(self, diff: Tensor) -> Tensor:
        return diff.abs()


class WordAccuracy(Metric):
    """The share of predicted strings that equal their reference string exactly.

    Example:
        >>> metric = WordAccuracy()
        >>> metric.update(["cat", "dog", "bird"], ["cat", "dot", "bird"])
        >>> round(float(metric.compute()), 4)
        0.6667
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    correct: Tensor
    total: Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("correct", default=torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, preds: Sequence[str], target: Sequence[str]) -> None:
        """Add a batch of predicted and reference strings.

        Raises:
            ValueError: when the two lists differ in length.
        """
        if len(preds) != len(target):
            raise ValueError(
                f"WordAccuracy: preds and target have to hold as many strings, but got "
                f"{len(preds)} predictions and {len(target)} references."
            )
        self.correct += sum(p == t for p, t in zip(preds, target, strict=True))
        self.total += len(target)

    def compute(self) -> Tensor:
        """The share of exact matches (float32); NaN before any string was seen."""
        return (self.correct / self.total).to(torch.float32)


def format_confusion(matrix: Tensor, labels: Sequence[str] | None = None) -> str:
    """A confusion matrix as a text table: rows are true classes, columns predicted ones.

    Args:
        matrix: ``(K, K)`` counts, ``matrix[i, j]`` = items of class ``i`` predicted as ``j``
            (the layout of ``torchmetrics`` ``MulticlassConfusionMatrix``).
        labels: ``K`` class names; ``0 .. K-1`` when ``None``.

    Raises:
        ShapeError: when ``matrix`` is not square or ``labels`` does not have ``K`` names.

    Example:
        >>> print(format_confusion(torch.tensor([[5, 1], [0, 4]])))
        true\\pred  0  1
        0          5  1
        1          0  4
    """
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ShapeError(
            f"format_confusion: expected a square (K, K) matrix, but got shape "
            f"{format_shape(matrix.shape)}."
        ) from None
    classes = matrix.shape[0]
    names = [str(k) for k in range(classes)] if labels is None else [str(n) for n in labels]
    if len(names) != classes:
        raise ShapeError(
            f"format_confusion: expected {classes} labels for a {classes}x{classes} matrix, but "
            f"got {len(names)}."
        ) from None
    cells = [[str(int(v)) for v in row] for row in matrix.tolist()]
    corner = "true\\pred"
    first = max([len(corner), *(len(n) for n in names)])
    widths = [max([len(names[j]), *(len(row[j]) for row in cells)]) for j in range(classes)]
    lines = [
        corner.ljust(first) + "".join(f"  {n:>{w}}" for n, w in zip(names, widths, strict=True))
    ]
    for name, row in zip(names, cells, strict=True):
        lines.append(
            name.ljust(first) + "".join(f"  {v:>{w}}" for v, w in zip(row, widths, strict=True))
        )
    return "\n".join(lines)
