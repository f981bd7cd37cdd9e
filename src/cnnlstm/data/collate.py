"""Batching sequences of different lengths: zero padding plus a ``lengths`` vector.

``pad_collate`` is a ``DataLoader`` ``collate_fn`` for items ``(x (T_i, ...), y)``; the
``(x, lengths, y)`` it returns go straight to ``TimeDistributed(..., lengths=)`` and
``CNNLSTM(..., lengths=)``, which ignore the padded steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import default_collate

from cnnlstm.errors import ShapeError
from cnnlstm.functional import format_shape

__all__ = ["pad_collate", "pad_sequences"]


def pad_sequences(
    sequences: Sequence[Tensor], *, padding_value: float = 0.0, length: int | None = None
) -> tuple[Tensor, Tensor]:
    """Stack sequences of different lengths along a new batch axis, padding the ends.

    Args:
        sequences: ``B`` tensors ``(T_i, ...)`` whose trailing dimensions agree.
        padding_value: the value of the padded steps.
        length: pad to this many steps instead of the longest ``T_i`` (for a fixed ``T``).

    Returns:
        ``(x, lengths)``: ``x`` is ``(B, T_max, ...)`` with the dtype of the first sequence,
        ``lengths`` is ``(B,)`` int64 holding each ``T_i``.

    Raises:
        ShapeError: no sequences, a sequence without a time axis or without steps, trailing
            dimensions that differ, or a sequence longer than ``length``.

    Example:
        >>> x, lengths = pad_sequences([torch.ones(3, 2), torch.ones(5, 2)])
        >>> lengths.tolist()
        [3, 5]
        >>> x.shape
        torch.Size([2, 5, 2])
    """
    if len(sequences) == 0:
        raise ShapeError("pad_sequences: expected at least one sequence, got an empty batch.")
    first = sequences[0]
    for i, seq in enumerate(sequences):
        if seq.dim() == 0 or seq.shape[0] == 0:
            raise ShapeError(
                f"pad_sequences: sequence {i} has shape {format_shape(seq.shape)}; expected "
                f"(T, ...) with T >= 1 steps."
            )
        if seq.shape[1:] != first.shape[1:]:
            raise ShapeError(
                f"pad_sequences: sequence {i} has shape {format_shape(seq.shape)} but sequence 0 "
                f"has {format_shape(first.shape)}; only the first (time) axis may differ. Resize "
                f"the frames to one size (e.g. size=(H, W) in the reader)."
            )
    lengths = torch.tensor([seq.shape[0] for seq in sequences], dtype=torch.int64)  # (B,)
    steps = int(lengths.max())
    if length is not None:
        if length < steps:
            raise ShapeError(
                f"pad_sequences: length={length} is shorter than the longest sequence "
                f"({steps} steps); pass length >= {steps} or None."
            )
        steps = length
    out = first.new_full((len(sequences), steps, *first.shape[1:]), padding_value)  # (B, T, ...)
    for i, seq in enumerate(sequences):
        out[i, : seq.shape[0]] = seq
    return out, lengths


def pad_collate(
    batch: Sequence[Any], *, padding_value: float = 0.0, label_padding_value: float = -100
) -> tuple[Any, ...]:
    """``collate_fn`` for items of different lengths: pads them and says how long each is.

    Args:
        batch: items ``(x, y, ...)`` with ``x`` of shape ``(T_i, ...)``, or bare tensors ``x``.
        padding_value: the value of the padded steps of ``x``.
        label_padding_value: the value of the padded steps of per-step labels (tensors of
            different lengths); ``-100`` is the ``ignore_index`` of ``cross_entropy``.

    Returns:
        ``(x (B, T_max, ...), lengths (B,) int64, y, ...)``: the rest of each item collated as
        ``DataLoader`` does by default (labels stacked to ``(B,)``); ``(x, lengths)`` for bare
        tensors.

    Example:
        >>> batch = [(torch.ones(4, 3, 8, 8), 1), (torch.ones(6, 3, 8, 8), 0)]
        >>> x, lengths, y = pad_collate(batch)
        >>> lengths.tolist(), y.tolist()
        ([4, 6], [1, 0])
        >>> x.shape
        torch.Size([2, 6, 3, 8, 8])
    """
    if len(batch) == 0:
        raise ShapeError("pad_collate: expected at least one item, got an empty batch.")
    if isinstance(batch[0], Tensor):
        return pad_sequences(batch, padding_value=padding_value)
    fields = list(zip(*batch, strict=True))
    x, lengths = pad_sequences(fields[0], padding_value=padding_value)
    rest = []
    for values in fields[1:]:
        ragged = (
            all(isinstance(v, Tensor) and v.dim() >= 1 for v in values)
            and len({tuple(v.shape) for v in values}) > 1
        )
        if ragged:
            rest.append(pad_sequences(values, padding_value=label_padding_value)[0])
        else:
            rest.append(default_collate(list(values)))
    return (x, lengths, *rest)
