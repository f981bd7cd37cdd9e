"""Pure tensor functions behind the layers: folding time into the batch, bridges, scan orders.

Every function checks its input and raises :class:`~cnnlstm.errors.ShapeError` with a message that
names the expected and the received shape. The ``nn.Module`` wrappers in :mod:`cnnlstm.layers`
store settings and call these.

Axis vocabulary: ``B`` batch, ``T`` time, ``C`` channels, ``H`` height, ``W`` width, ``L`` sequence
length after a bridge, ``F`` features per step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from cnnlstm.errors import ShapeError

__all__ = [
    "check_lengths",
    "fold_time",
    "format_shape",
    "lengths_to_mask",
    "unfold_time",
]


def format_shape(shape: Sequence[int] | torch.Size) -> str:
    """Format a shape the way the error messages print it: ``(8, 3, 32, 32)``.

    Example:
        >>> format_shape(torch.Size([8, 3, 32, 32]))
        '(8, 3, 32, 32)'
    """
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def fold_time(x: Tensor) -> Tensor:
    """Merge batch and time so a per-frame module sees ordinary batches.

    Args:
        x: ``(B, T, ...)`` with at least 3 dimensions.

    Returns:
        ``(B*T, ...)``, a view when ``x`` is contiguous.

    Example:
        >>> fold_time(torch.zeros(2, 5, 3, 8, 8)).shape
        torch.Size([10, 3, 8, 8])
    """
    if x.dim() < 3:
        raise ShapeError(
            f"fold_time: expected a sequence (B, T, ...) with at least 3 dimensions, got a "
            f"{x.dim()}-D tensor of shape {format_shape(x.shape)}."
        ) from None
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])  # (B*T, ...)


def unfold_time(x: Tensor, batch_size: int) -> Tensor:
    """Split ``(B*T, ...)`` back into ``(B, T, ...)``; the inverse of :func:`fold_time`.

    Example:
        >>> unfold_time(torch.zeros(10, 16), 2).shape
        torch.Size([2, 5, 16])
    """
    if batch_size <= 0 or x.shape[0] % batch_size != 0:
        raise ShapeError(
            f"unfold_time: the leading dimension {x.shape[0]} of a tensor of shape "
            f"{format_shape(x.shape)} is not a multiple of the batch size {batch_size}."
        ) from None
    return x.reshape(batch_size, x.shape[0] // batch_size, *x.shape[1:])  # (B, T, ...)


def check_lengths(lengths: Tensor, batch_size: int, steps: int, *, who: str) -> Tensor:
    """Check a ``lengths`` vector against a batch of ``steps`` time steps and return it as int64.

    Args:
        lengths: ``(B,)`` integers, each in ``[1, steps]``.
        batch_size: ``B`` of the sequence the lengths describe.
        steps: ``T`` of the sequence.
        who: the layer name used in error messages.

    Raises:
        ShapeError: wrong size, a length of 0, or a length above ``steps``.
    """
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.shape[0] != batch_size:
        raise ShapeError(
            f"{who}: lengths has to be a 1-D tensor of {batch_size} lengths (one per sequence in "
            f"the batch), but got shape {format_shape(lengths.shape)}."
        ) from None
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise ShapeError(f"{who}: lengths has to hold integers, but got dtype {lengths.dtype}.")
    lengths = lengths.to(torch.int64)
    if batch_size and (int(lengths.min()) < 1 or int(lengths.max()) > steps):
        raise ShapeError(
            f"{who}: every length has to be between 1 and T={steps}, but got lengths "
            f"{lengths.tolist()}."
        ) from None
    return lengths


def lengths_to_mask(lengths: Tensor, steps: int) -> Tensor:
    """Boolean mask ``(B, T)`` that is True on the valid steps of each sequence.

    Example:
        >>> lengths_to_mask(torch.tensor([2, 3]), 4).int().tolist()
        [[1, 1, 0, 0], [1, 1, 1, 0]]
    """
    steps_range = torch.arange(steps, device=lengths.device)  # (T,)
    return steps_range.unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
