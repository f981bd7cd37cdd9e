"""The arguments and shapes a ConvLSTM cell and a ConvLSTM layer share: checks and messages.

A :mod:`ConvLSTM layer <cnnlstm.layers.convlstm>` is a stack of :mod:`cells
<cnnlstm.layers.convlstm_cell>` built with the same ``kernel_size`` and ``padding``, and both
check them and name their inputs' axes alike: ``(B, C, H, W)`` for a cell's frame,
``(B, T, C, H, W)`` for a layer's input, with ``(W,)`` or ``(D, H, W)`` in place of ``(H, W)`` in
1-D and 3-D. Bad arguments raise ``ValueError`` worded "has to be X, but got Y".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeAlias, cast

from cnnlstm.functional import channels_last_hint, format_shape

__all__ = [
    "LAYER_CLASS_NAMES",
    "SPATIAL_AXES",
    "NormKind",
    "PaddingKind",
    "channels_hint",
    "check_padding",
    "check_positive_int",
    "grid_axes",
    "grid_layout",
    "is_int",
    "kernel_tuple",
]

NormKind: TypeAlias = Literal["layer", "group"]
PaddingKind: TypeAlias = Literal["same", "valid"]

SPATIAL_AXES = {1: ("W",), 2: ("H", "W"), 3: ("D", "H", "W")}
"""The names of the spatial axes of 1-D, 2-D and 3-D grids."""

LAYER_CLASS_NAMES = {1: "ConvLSTM1d", 2: "ConvLSTM", 3: "ConvLSTM3d"}
"""The ConvLSTM layer for each number of spatial axes, as a message names it."""

_PADDINGS = ("same", "valid")


def is_int(value: object) -> bool:
    """Whether ``value`` is an ``int`` and not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is a positive int, else raise ``ValueError`` naming ``name``."""
    if not is_int(value) or cast(int, value) < 1:
        raise ValueError(f"{name} has to be a positive integer, but got {value!r}")
    return cast(int, value)


def kernel_tuple(kernel_size: int | Sequence[int], spatial_dims: int) -> tuple[int, ...]:
    """``kernel_size`` as one positive int per spatial axis, else ``ValueError``.

    Example:
        >>> kernel_tuple(3, 2), kernel_tuple((3, 5), 2)
        ((3, 3), (3, 5))
    """
    sizes: Sequence[object] = (
        (kernel_size,) * spatial_dims
        if isinstance(kernel_size, int)
        else kernel_size
        if isinstance(kernel_size, Sequence)
        else ()
    )
    if len(sizes) != spatial_dims or not all(is_int(k) and cast(int, k) >= 1 for k in sizes):
        raise ValueError(
            f"kernel_size has to be a positive integer or a tuple of {spatial_dims} positive "
            f"integers, but got {kernel_size!r}"
        )
    return tuple(cast(int, k) for k in sizes)


def check_padding(padding: object) -> PaddingKind:
    """Return ``padding`` if it is ``"same"`` or ``"valid"``, else raise ``ValueError``."""
    if padding not in _PADDINGS:
        raise ValueError(f"padding has to be 'same' or 'valid', but got {padding!r}")
    return cast(PaddingKind, padding)


def grid_axes(spatial_dims: int, *, batch_first: bool = True, frame: bool = False) -> list[str]:
    """The axis names of a frame (``frame=True``) or of a sequence: ``["B", "T", "C", "H", "W"]``
    for 2-D with ``batch_first``."""
    leading = ["B"] if frame else ["B", "T"] if batch_first else ["T", "B"]
    return [*leading, "C", *SPATIAL_AXES[spatial_dims]]


def grid_layout(spatial_dims: int, *, batch_first: bool = True, frame: bool = False) -> str:
    """:func:`grid_axes` as a message writes them.

    Example:
        >>> grid_layout(2), grid_layout(1, frame=True)
        ('(B, T, C, H, W)', '(B, C, W)')
    """
    return "(" + ", ".join(grid_axes(spatial_dims, batch_first=batch_first, frame=frame)) + ")"


def channels_hint(
    name: str, shape: Sequence[int], in_channels: int, axes: Sequence[str], *, frame: bool
) -> str:
    """The message for input with the wrong channels: channels-last, or another ``C``."""
    axis = list(axes).index("C")
    got = int(shape[axis])
    message = (
        f"{name}: expected {in_channels} input channels (in_channels) on axis {axis} of "
        f"({', '.join(axes)}), got {got} in {'a frame' if frame else 'an input'} of shape "
        f"{format_shape(shape)}."
    )
    moved = channels_last_hint(shape, in_channels, axes=axes)
    if moved is None:
        return (
            f"{message} Change in_channels to {got} or feed {in_channels}-channel "
            f"{'frames' if frame else 'input'}."
        )
    last = int(shape[-1])
    then = "" if last == in_channels else f" Then change in_channels to {last}."
    return f"{message} {moved}{then}"
