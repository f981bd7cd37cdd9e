"""Spatial slicing bridge: read one feature map as a sequence, and put a sequence back."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from cnnlstm.functional import (
    SPATIAL_ORDERS,
    OrderName,
    check_choice,
    check_grid_size,
    sequence_to_spatial,
    spatial_input_shape,
    spatial_output_shape,
    spatial_to_sequence,
)
from cnnlstm.layers.base import Bridge

__all__ = ["SequenceToSpatial", "SpatialSequence"]


class SpatialSequence(Bridge):
    """Read a ``(B, C, H, W)`` feature map as a sequence: its columns, rows, or cells in order.

    Use it when one image holds a sequence: a text line (width is time, as CRNN reads it), a
    spectrogram, a sensor window whose width is time. ``"columns"`` gives ``(B, W, C*H)`` with
    feature index ``c*H + h``; ``"rows"`` gives ``(B, H, C*W)``; the cell orders ``"raster"``
    (row-major), ``"raster_columns"`` (column-major), ``"snake"`` (even rows left to right, odd
    rows right to left) and ``"hilbert"`` (a generalized Hilbert curve for any ``H x W`` whose
    consecutive cells are always neighbours) give ``(B, H*W, C)``; see
    :func:`cnnlstm.functional.scan_order`. The orders are permutations, cached per ``(H, W)``
    and applied with one gather; :class:`SequenceToSpatial` undoes them exactly.

    Args:
        order: one of ``"columns"``, ``"rows"``, ``"raster"``, ``"raster_columns"``,
            ``"snake"``, ``"hilbert"``.

    Raises:
        ValueError: an unknown order.

    Example:
        >>> import torch
        >>> SpatialSequence("columns")(torch.randn(8, 64, 4, 32)).shape
        torch.Size([8, 32, 256])
        >>> SpatialSequence("hilbert").output_shape((8, 64, 6, 5))
        (8, 30, 64)
    """

    def __init__(self, order: OrderName = "columns") -> None:
        super().__init__()
        check_choice("order", order, SPATIAL_ORDERS, "SpatialSequence")
        self.order: OrderName = order

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """``(B, W, C*H)``, ``(B, H, C*W)`` or ``(B, H*W, C)`` for ``(B, C, H, W)``.

        Raises:
            ShapeError: the input is not 4-D.
        """
        return spatial_output_shape(
            input_shape, order=self.order, who=f"SpatialSequence({self.extra_repr()})"
        )

    def forward(self, x: Tensor) -> Tensor:
        """Slice ``x``: ``(B, C, H, W)`` to ``(B, L, F)``."""
        self.output_shape(x.shape)
        return spatial_to_sequence(x, order=self.order)

    def extra_repr(self) -> str:
        return f"order={self.order!r}"


class SequenceToSpatial(nn.Module):
    """Put a sequence back on its ``H x W`` grid: the exact inverse of :class:`SpatialSequence`.

    For decoders and autoencoders that speak the same vocabulary as the encoder's bridge.

    Args:
        order: the order the sequence was read in (as given to :class:`SpatialSequence`).
        height: ``H`` of the feature map.
        width: ``W`` of the feature map.

    Raises:
        ValueError: an unknown order, or a size below 1.

    Example:
        >>> import torch
        >>> SequenceToSpatial("columns", height=4, width=32)(torch.randn(8, 32, 256)).shape
        torch.Size([8, 64, 4, 32])
        >>> SequenceToSpatial("snake", height=6, width=5).output_shape((8, 30, 64))
        (8, 64, 6, 5)
    """

    def __init__(self, order: OrderName = "columns", *, height: int, width: int) -> None:
        super().__init__()
        check_choice("order", order, SPATIAL_ORDERS, "SequenceToSpatial")
        check_grid_size(height, width, "SequenceToSpatial")
        self.order: OrderName = order
        self.height = height
        self.width = width

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """``(B, C, H, W)`` for a sequence of ``input_shape`` (batch axis included).

        Raises:
            ShapeError: the sequence does not fit the order, height and width.
        """
        return spatial_input_shape(
            input_shape,
            order=self.order,
            height=self.height,
            width=self.width,
            channels=None,
            who=f"SequenceToSpatial({self.extra_repr()})",
        )

    def forward(self, seq: Tensor) -> Tensor:
        """Unslice ``seq``: ``(B, L, F)`` to ``(B, C, H, W)``."""
        self.output_shape(seq.shape)
        return sequence_to_spatial(seq, order=self.order, height=self.height, width=self.width)

    def extra_repr(self) -> str:
        return f"order={self.order!r}, height={self.height}, width={self.width}"
