"""Batching sequences of different lengths: zero padding plus a ``lengths`` vector.

``pad_collate`` is a ``DataLoader`` ``collate_fn`` for items ``(x (T_i, ...), y)``; the
``(x, lengths, y)`` it returns go straight to ``TimeDistributed(..., lengths=)`` and
``CNNLSTM(..., lengths=)``, which ignore the padded steps. ``ctc_collate`` batches images whose
targets differ in length, ``(image, target (L_i,), L_i)``, into the layout CTC takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import default_collate

from cnnlstm.errors import ShapeError
from cnnlstm.functional import format_shape

__all__ = ["ctc_collate", "pad_collate", "pad_sequences"]


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


def ctc_collate(batch: Sequence[Any]) -> Tensor | tuple[Tensor, Tensor, Tensor]:
    """``collate_fn`` for CTC: stacked images, their targets concatenated, and the lengths.

    The batches are those of :meth:`~cnnlstm.data.TextLines.collate` (what
    :class:`~cnnlstm.tasks.RecognitionTask` takes), made from items ``(image, target, length)``
    as :class:`~cnnlstm.data.ArrayDataset` yields them for an ``.npz`` with target lengths.
    Each target is cut to its length, so padded targets ``(max_length,)`` may come whole.

    Args:
        batch: items ``(image (C, H, W), target (L_i,) int, length)``, or bare images (for
            ``predict`` on images without targets).

    Returns:
        ``(images (B, C, H, W), targets (sum of lengths,) int64, target_lengths (B,) int64)``,
        or the images ``(B, C, H, W)`` for bare images.

    Raises:
        ShapeError: an empty batch, items that are not ``(image, target, length)``, a target
            that is not 1-D or shorter than its length, or images of different shapes.

    Example:
        >>> items = [(torch.zeros(1, 8, 32), torch.tensor([3, 1, 0]), 2),
        ...          (torch.zeros(1, 8, 32), torch.tensor([5]), 1)]
        >>> images, targets, lengths = ctc_collate(items)
        >>> targets.tolist(), lengths.tolist()
        ([3, 1, 5], [2, 1])
        >>> images.shape
        torch.Size([2, 1, 8, 32])
    """
    if len(batch) == 0:
        raise ShapeError("ctc_collate: expected at least one item, got an empty batch.")
    if all(isinstance(item, Tensor) for item in batch):
        return _stack_images(list(batch))
    for i, item in enumerate(batch):
        if not isinstance(item, (tuple, list)) or len(item) != 3:
            got = f"{len(item)} fields" if isinstance(item, (tuple, list)) else type(item).__name__
            raise ShapeError(
                f"ctc_collate: item {i} has to be (image, target, length), but got {got}. "
                f"ArrayDataset yields it for an .npz with target lengths (lengths_key)."
            )
    images = _stack_images([item[0] for item in batch])  # (B, C, H, W)
    targets, lengths = [], []
    for i, (_, target, length) in enumerate(batch):
        target = torch.as_tensor(target)
        n = int(length)
        if target.dim() != 1 or not 0 <= n <= target.shape[0]:
            raise ShapeError(
                f"ctc_collate: item {i} has a target of shape {format_shape(target.shape)} and "
                f"length {n}; expected a 1-D target (L,) with 0 <= length <= L."
            )
        targets.append(target[:n].to(torch.int64))
        lengths.append(n)
    return images, torch.cat(targets), torch.tensor(lengths, dtype=torch.int64)


def _stack_images(images: list[Tensor]) -> Tensor:
    shapes = {tuple(image.shape) for image in images}
    if len(shapes) > 1:
        raise ShapeError(
            f"ctc_collate: the images of a batch have to share one shape, but got "
            f"{', '.join(format_shape(s) for s in sorted(shapes))}; store them at one height "
            f"and width (pad the narrow ones)."
        )
    return torch.stack(images)  # (B, C, H, W)
