"""Pure tensor functions behind the layers: folding time into the batch, bridges, scan orders.

Every function checks its input and raises :class:`~cnnlstm.errors.ShapeError` with a message that
names the expected and the received shape. The ``nn.Module`` wrappers in :mod:`cnnlstm.layers`
store settings and call these.

Axis vocabulary: ``B`` batch, ``T`` time, ``C`` channels, ``H`` height, ``W`` width, ``L`` sequence
length after a bridge, ``F`` features per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import torch
from einops import rearrange
from torch import Tensor

from cnnlstm.errors import ShapeError
from cnnlstm.scan_orders import cell_order, gather_index

__all__ = [
    "POOLS",
    "POOL_STEPS",
    "SPATIAL_ORDERS",
    "OrderName",
    "PoolName",
    "StepsName",
    "channels_last_hint",
    "check_choice",
    "check_grid_size",
    "check_lengths",
    "fold_time",
    "format_shape",
    "lengths_to_mask",
    "pool_output_shape",
    "pool_to_sequence",
    "scan_order",
    "sequence_to_spatial",
    "spatial_input_shape",
    "spatial_output_shape",
    "spatial_to_sequence",
    "unfold_time",
]


def format_shape(shape: Sequence[int] | torch.Size) -> str:
    """Format a shape the way the error messages print it: ``(8, 3, 32, 32)``.

    Example:
        >>> format_shape(torch.Size([8, 3, 32, 32]))
        '(8, 3, 32, 32)'
    """
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


#: Channel counts that a last axis of this size makes look like channels-last data: grey, RGB.
_IMAGE_CHANNELS = (1, 3)


def channels_last_hint(
    shape: Sequence[int], channels: int, *, axes: Sequence[str] | None = None
) -> str | None:
    """The fix for channels-last data given where channels-first is expected, or ``None``.

    ``shape`` looks channels-last when its channel axis is not ``channels`` and its last axis is
    ``channels``, or is 1 or 3 (grey or RGB) while the channel axis is neither.

    Args:
        shape: the shape received.
        channels: the channels expected at the ``"C"`` axis of ``axes``.
        axes: the expected channels-first layout, one name per axis, e.g.
            ``("T", "B", "C", "H", "W")``; by default ``(N, C, H, W)`` for 4 axes and
            ``(B, T, C, H, W)`` for 5.

    Returns:
        ``"This looks channels-last (B, T, H, W, C): np.moveaxis(x, -1, 2) or
        x.permute(0, 1, 4, 2, 3)."`` (with ``"... then in_channels ..."`` left to the caller),
        or ``None`` when the shape does not look channels-last.

    Example:
        >>> print(channels_last_hint((2, 5, 8, 8, 1), 1))
        This looks channels-last (B, T, H, W, C): np.moveaxis(x, -1, 2) or x.permute(0, 1, 4, 2, 3).
        >>> channels_last_hint((2, 28, 28, 3), 1)
        'This looks channels-last (N, H, W, C): np.moveaxis(x, -1, 1) or x.permute(0, 3, 1, 2).'
        >>> channels_last_hint((2, 3, 28, 28), 1) is None
        True
    """
    shape = tuple(int(s) for s in shape)
    if axes is None:
        axes = ("N", "C", "H", "W") if len(shape) == 4 else ("B", "T", "C", "H", "W")
    if len(axes) != len(shape) or "C" not in axes:
        return None
    axis = list(axes).index("C")
    if axis == len(shape) - 1 or shape[axis] == channels:
        return None
    last = shape[-1]
    if not (last == channels or (last in _IMAGE_CHANNELS and shape[axis] not in _IMAGE_CHANNELS)):
        return None
    others = [i for i in range(len(shape)) if i != axis]
    layout = ", ".join([*(axes[i] for i in others), "C"])
    order = [*range(axis), len(shape) - 1, *range(axis, len(shape) - 1)]
    return (
        f"This looks channels-last ({layout}): np.moveaxis(x, -1, {axis}) or "
        f"x.permute({', '.join(str(i) for i in order)})."
    )


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


# --- Bridges: global pooling and spatial slicing -------------------------------------------------

PoolName = Literal["avg", "max", "avgmax", "attention"]
StepsName = Literal["single", "channels"]
OrderName = Literal["columns", "rows", "raster", "raster_columns", "snake", "hilbert"]

POOLS: tuple[str, ...] = get_args(PoolName)
"""The ``pool`` names of :func:`pool_to_sequence` and ``GlobalPoolBridge``."""

POOL_STEPS: tuple[str, ...] = get_args(StepsName)
"""The ``steps`` names: one step of pooled features, or the channels read as steps."""

SPATIAL_ORDERS: tuple[str, ...] = get_args(OrderName)
"""The ``order`` names of :func:`spatial_to_sequence` and ``SpatialSequence``."""


def check_choice(
    name: str,
    value: object,
    choices: Sequence[object],
    who: str,
    *,
    error: type[Exception] = ValueError,
) -> None:
    """Raise ``error`` listing ``choices`` unless ``value`` is one of them.

    The layers check their ``pool``, ``steps`` and ``order`` arguments with it when they are
    built, so a bad one fails at once with the same message as the function's; the model
    registry's ``check_choice`` raises the same message as a ``ConfigError``. Where the choices
    are strings, only a string is one of them; a bool is never one (although ``True == 1``).

    Args:
        name: the argument's name, as the message says it.
        value: what the caller got.
        choices: the valid values.
        who: the function or layer named at the start of the message.
        error: the exception class to raise.

    Raises:
        ValueError: ``value`` is not one of ``choices`` (or ``error``, when given).

    Example:
        >>> check_choice("pool", "avg", POOLS, "GlobalPoolBridge")
        >>> check_choice("pool", "sum", ("avg", "max"), "GlobalPoolBridge")
        Traceback (most recent call last):
        ...
        ValueError: GlobalPoolBridge: pool has to be one of 'avg', 'max', but got 'sum'.
    """
    strings = all(isinstance(choice, str) for choice in choices)
    if isinstance(value, bool) or (strings and not isinstance(value, str)) or value not in choices:
        valid = ", ".join(repr(choice) for choice in choices)
        raise error(f"{who}: {name} has to be one of {valid}, but got {value!r}.")


def pool_output_shape(
    shape: Sequence[int], *, pool: str, steps: str, channels: int | None, who: str
) -> tuple[int, ...]:
    """Check the input shape of a global pooling bridge and return its output shape.

    The shape logic of :func:`pool_to_sequence`, without a tensor: ``GlobalPoolBridge`` answers
    ``output_shape`` with it before it sees data.

    Args:
        shape: ``(B, C, H, W)`` or ``(B, T, C, H, W)``.
        pool: one of :data:`POOLS` (``"avgmax"`` doubles the features).
        steps: one of :data:`POOL_STEPS`.
        channels: the ``C`` the input has to have, or ``None`` for any.
        who: named at the start of the messages.

    Returns:
        ``(B, 1, F)``, ``(B, C, 1 | 2)`` for ``steps="channels"``, or ``(B, T, F)`` for a clip.

    Raises:
        ShapeError: another rank, a clip with ``steps="channels"``, an empty map, or a ``C``
            other than ``channels``.

    Example:
        >>> pool_output_shape((8, 10, 64, 4, 4), pool="avgmax", steps="single", channels=None,
        ...                   who="GlobalPoolBridge")
        (8, 10, 128)
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (4, 5):
        raise ShapeError(
            f"{who}: expected a 4-D feature map (B, C, H, W) or a 5-D clip (B, T, C, H, W), got "
            f"a {len(shape)}-D tensor of shape {format_shape(shape)}. A sequence (B, L, F) needs "
            f"no bridge; a single image needs a batch axis (x.unsqueeze(0))."
        ) from None
    if len(shape) == 5 and steps == "channels":
        raise ShapeError(
            f"{who}: steps='channels' reads the channels of one feature map (B, C, H, W) as steps, "
            f"but got a 5-D clip of shape {format_shape(shape)}. For a clip use steps='single', "
            f"which gives one feature vector per frame (B, T, C)."
        ) from None
    c, h, w = shape[-3:]
    if h < 1 or w < 1:
        raise ShapeError(
            f"{who}: expected a feature map with H >= 1 and W >= 1 to pool over, got H={h}, W={w} "
            f"in a tensor of shape {format_shape(shape)}."
        ) from None
    if channels is not None and c != channels:
        raise ShapeError(
            f"{who}: expected C={channels} channels, got C={c} in a tensor of shape "
            f"{format_shape(shape)}. Build the bridge with channels={c} (the out_channels of the "
            f"CNN's last layer), or change the CNN."
        ) from None
    features = 2 if pool == "avgmax" else 1
    if len(shape) == 5:
        return (shape[0], shape[1], c * features)  # (B, T, F)
    if steps == "channels":
        return (shape[0], c, features)  # (B, C, 1) or (B, C, 2)
    return (shape[0], 1, c * features)  # (B, 1, F)


def pool_to_sequence(
    x: Tensor,
    *,
    pool: PoolName = "avg",
    steps: StepsName = "single",
    weight: Tensor | None = None,
) -> Tensor:
    """Pool each feature map over its ``H x W`` positions and return a sequence for an LSTM.

    Args:
        x: ``(B, C, H, W)`` feature maps, or ``(B, T, C, H, W)`` clips of them (the output of a
            CNN wrapped in ``TimeDistributed``).
        pool: ``"avg"``, ``"max"``, ``"avgmax"`` (both, concatenated: average features first,
            then maxima) or ``"attention"`` (a softmax over positions of the scores a 1x1
            convolution with ``weight`` gives each position, then the weighted sum).
        steps: ``"single"``: one step of ``F`` pooled features, ``(B, 1, F)``; ``"channels"``:
            the ``C`` channels read as ``C`` steps of ``F/C`` features each, ``(B, C, 1)``
            (``(B, C, 2)`` for ``"avgmax"``). A clip always gives ``(B, T, F)``, one step per
            frame, and needs ``steps="single"``.
        weight: ``(1, C, 1, 1)``, the scoring convolution's weight; required by
            ``pool="attention"`` and not accepted otherwise. ``GlobalPoolBridge`` learns it.

    Returns:
        ``(B, 1, F)``, ``(B, C, 1 | 2)`` or ``(B, T, F)`` with ``F = C`` (``2C`` for
        ``"avgmax"``).

    Raises:
        ValueError: an unknown ``pool`` or ``steps``, or ``weight`` missing for attention.
        ShapeError: ``x`` is not 4-D or 5-D, a clip with ``steps="channels"``, or ``weight``
            does not fit ``C``.

    Example:
        >>> pool_to_sequence(torch.randn(8, 64, 7, 7), pool="avgmax").shape
        torch.Size([8, 1, 128])
        >>> pool_to_sequence(torch.randn(2, 10, 64, 7, 7)).shape
        torch.Size([2, 10, 64])
    """
    check_choice("pool", pool, POOLS, "pool_to_sequence")
    check_choice("steps", steps, POOL_STEPS, "pool_to_sequence")
    who = f"pool_to_sequence(pool={pool!r}, steps={steps!r})"
    pool_output_shape(x.shape, pool=pool, steps=steps, channels=None, who=who)
    if pool == "attention":
        if weight is None:
            raise ValueError(
                f"{who}: weight has to be the (1, C, 1, 1) weight of the 1x1 scoring convolution, "
                f"but got None. GlobalPoolBridge(pool='attention', channels=C) learns one."
            )
        channels = x.shape[-3]
        if tuple(weight.shape) != (1, channels, 1, 1):
            raise ShapeError(
                f"{who}: expected a scoring weight of shape (1, {channels}, 1, 1) for C={channels} "
                f"channels, got {format_shape(weight.shape)}."
            ) from None
    elif weight is not None:
        raise ValueError(f"{who}: weight has to be None for pool={pool!r}, but got a tensor.")

    clip = x.dim() == 5
    batch = x.shape[0]
    maps = fold_time(x) if clip else x  # (N, C, H, W) with N = B*T for a clip, else B
    if pool == "attention" and weight is not None:
        scores = torch.nn.functional.conv2d(maps, weight)  # (N, 1, H, W)
        attention = rearrange(scores, "n 1 h w -> n (h w)").softmax(dim=-1)  # (N, H*W)
        cells = rearrange(maps, "n c h w -> n c (h w)")  # (N, C, H*W)
        pooled = torch.einsum("ncl,nl->nc", cells, attention)  # (N, C)
    elif pool == "avg":
        pooled = maps.mean(dim=(-2, -1))  # (N, C)
    elif pool == "max":
        pooled = maps.amax(dim=(-2, -1))  # (N, C)
    else:
        both = [maps.mean(dim=(-2, -1)), maps.amax(dim=(-2, -1))]
        if steps == "channels":
            return torch.stack(both, dim=-1)  # (B, C, 2)
        pooled = torch.cat(both, dim=-1)  # (N, 2C)
    if clip:
        return unfold_time(pooled, batch)  # (B, T, F)
    if steps == "channels":
        return pooled.unsqueeze(-1)  # (B, C, 1)
    return pooled.unsqueeze(1)  # (B, 1, F)


def check_grid_size(height: int, width: int, who: str) -> None:
    """Raise ``ValueError`` unless ``height`` and ``width`` are positive ints.

    Example:
        >>> check_grid_size(4, 0, "SequenceToSpatial")
        Traceback (most recent call last):
        ...
        ValueError: SequenceToSpatial: width has to be a positive int, but got 0.
    """
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{who}: {name} has to be a positive int, but got {value!r}.")


def scan_order(order: OrderName, height: int, width: int) -> Tensor:
    """The order in which a scan visits the cells of an ``H x W`` grid, as flat indices.

    Entry ``i`` is the raster index ``y * width + x`` of the ``i``-th cell visited, so
    ``divmod(scan_order(...), width)`` gives the ``(y, x)`` path to plot. ``"raster"`` reads rows
    top to bottom, each left to right; ``"raster_columns"`` columns left to right, each top to
    bottom; ``"snake"`` rows top to bottom, even rows (0, 2, ...) left to right and odd rows right
    to left; ``"hilbert"`` a generalized Hilbert curve that works for any ``H x W``, not only
    powers of two, and equals the classic Hilbert curve on ``2^k x 2^k`` grids. On every grid,
    consecutive cells of ``"snake"`` and ``"hilbert"`` are neighbours (Manhattan distance 1):
    the Hilbert curve runs along whichever side makes the parity of every split work out, so it
    never needs the diagonal step that a curve always running along the longer side takes on
    some odd-sided grids. ``"columns"`` and ``"rows"`` read a whole column or row per step; their
    cells come in the order of ``"raster_columns"`` and ``"raster"``.

    Args:
        order: one of :data:`SPATIAL_ORDERS`.
        height: ``H``, at least 1.
        width: ``W``, at least 1.

    Returns:
        ``(H*W,)`` int64 on the CPU, a permutation of ``range(H*W)`` (a fresh copy: it may be
        modified).

    Raises:
        ValueError: an unknown order, or a size below 1.

    Example:
        >>> scan_order("snake", 2, 3).tolist()
        [0, 1, 2, 5, 4, 3]
        >>> scan_order("hilbert", 4, 4).reshape(4, 4).shape
        torch.Size([4, 4])
    """
    check_choice("order", order, SPATIAL_ORDERS, "scan_order")
    check_grid_size(height, width, "scan_order")
    return torch.tensor(cell_order(order, height, width), dtype=torch.int64)


def spatial_output_shape(shape: Sequence[int], *, order: str, who: str) -> tuple[int, ...]:
    """Check the input shape of a spatial slicing bridge and return its output shape.

    The shape logic of :func:`spatial_to_sequence`, without a tensor (``SpatialSequence``'s
    ``output_shape``).

    Args:
        shape: ``(B, C, H, W)``.
        order: one of :data:`SPATIAL_ORDERS`.
        who: named at the start of the messages.

    Returns:
        ``(B, W, C*H)`` for ``"columns"``, ``(B, H, C*W)`` for ``"rows"``, else ``(B, H*W, C)``.

    Raises:
        ShapeError: the shape is not 4-D.

    Example:
        >>> spatial_output_shape((8, 64, 4, 32), order="columns", who="SpatialSequence")
        (8, 32, 256)
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 5:
        raise ShapeError(
            f"{who}: expected a 4-D feature map (B, C, H, W), got a 5-D tensor of shape "
            f"{format_shape(shape)}. For a clip of frames, wrap the CNN in TimeDistributed and "
            f"pool each frame with GlobalPoolBridge, or keep the grid with ConvLSTM."
        ) from None
    if len(shape) != 4:
        raise ShapeError(
            f"{who}: expected a 4-D feature map (B, C, H, W), got a {len(shape)}-D tensor of "
            f"shape {format_shape(shape)}. A single image needs a batch axis (x.unsqueeze(0))."
        ) from None
    b, c, h, w = shape
    if order == "columns":
        return (b, w, c * h)  # (B, W, C*H)
    if order == "rows":
        return (b, h, c * w)  # (B, H, C*W)
    return (b, h * w, c)  # (B, H*W, C)


def spatial_input_shape(
    shape: Sequence[int], *, order: str, height: int, width: int, channels: int | None, who: str
) -> tuple[int, ...]:
    """Check a sequence for :func:`sequence_to_spatial` and return the feature map's shape.

    The shape logic of :func:`sequence_to_spatial`, without a tensor (``SequenceToSpatial``'s
    ``output_shape``).

    Args:
        shape: ``(B, L, F)``, as :func:`spatial_to_sequence` gave it.
        order: the order the sequence was read in.
        height: ``H`` of the feature map.
        width: ``W`` of the feature map.
        channels: the ``C`` the map has to have, or ``None`` for any.
        who: named at the start of the messages.

    Returns:
        ``(B, C, H, W)``.

    Raises:
        ShapeError: another rank, an ``L`` that does not fit the order and grid, an ``F`` that
            is no whole number of channels, or a ``C`` other than ``channels``.

    Example:
        >>> spatial_input_shape((8, 32, 256), order="columns", height=4, width=32,
        ...                     channels=None, who="SequenceToSpatial")
        (8, 64, 4, 32)
    """
    shape = tuple(int(s) for s in shape)
    expected = {
        "columns": ("(B, W, C*H)", width, height, "W"),
        "rows": ("(B, H, C*W)", height, width, "H"),
    }.get(order, ("(B, H*W, C)", height * width, 1, "H*W"))
    layout, steps, per_channel, steps_name = expected
    if len(shape) != 3:
        raise ShapeError(
            f"{who}: expected a 3-D sequence {layout}, got a {len(shape)}-D tensor of shape "
            f"{format_shape(shape)}."
        ) from None
    b, length, features = shape
    if length != steps:
        raise ShapeError(
            f"{who}: expected L = {steps_name} = {steps} steps for height={height}, "
            f"width={width}, got L={length} in a sequence of shape {format_shape(shape)}. Pass "
            f"the height and width of the feature map the sequence came from."
        ) from None
    if features % per_channel != 0:
        raise ShapeError(
            f"{who}: expected F to be a multiple of {per_channel} (C channels of "
            f"{per_channel} cells each), got F={features} in a sequence of shape "
            f"{format_shape(shape)}."
        ) from None
    c = features // per_channel
    if channels is not None and c != channels:
        raise ShapeError(
            f"{who}: expected C={channels} channels (F={channels * per_channel}), got F={features}"
            f" in a sequence of shape {format_shape(shape)}."
        ) from None
    return (b, c, height, width)  # (B, C, H, W)


def spatial_to_sequence(x: Tensor, *, order: OrderName = "columns") -> Tensor:
    """Read a feature map as a sequence: slices (columns, rows) or cells in a scan order.

    Args:
        x: ``(B, C, H, W)``.
        order: ``"columns"``: each column is a step, ``(B, W, C*H)``, with feature index
            ``c*H + h`` (width is time, as CRNN reads a text line); ``"rows"``: each row is a
            step, ``(B, H, C*W)``, feature index ``c*W + w``; ``"raster"``, ``"raster_columns"``,
            ``"snake"``, ``"hilbert"``: each cell is a step of its ``C`` channels, in the order
            :func:`scan_order` gives, ``(B, H*W, C)``.

    Returns:
        The sequence ``(B, L, F)``, a permutation of the entries of ``x``; the exact inverse is
        :func:`sequence_to_spatial`.

    Raises:
        ValueError: an unknown order.
        ShapeError: ``x`` is not 4-D (a clip of frames needs ``TimeDistributed`` and
            ``GlobalPoolBridge``, or ``ConvLSTM``).

    Example:
        >>> spatial_to_sequence(torch.randn(8, 64, 4, 32)).shape
        torch.Size([8, 32, 256])
        >>> spatial_to_sequence(torch.randn(8, 64, 6, 5), order="hilbert").shape
        torch.Size([8, 30, 64])
    """
    check_choice("order", order, SPATIAL_ORDERS, "spatial_to_sequence")
    spatial_output_shape(x.shape, order=order, who=f"spatial_to_sequence(order={order!r})")
    if order == "columns":
        return rearrange(x, "b c h w -> b w (c h)")  # (B, W, C*H)
    if order == "rows":
        return rearrange(x, "b c h w -> b h (c w)")  # (B, H, C*W)
    if order == "raster_columns":
        return rearrange(x, "b c h w -> b (w h) c")  # (B, W*H, C)
    cells = rearrange(x, "b c h w -> b (h w) c")  # (B, H*W, C), raster order
    if order == "raster":
        return cells
    height, width = int(x.shape[-2]), int(x.shape[-1])  # plain ints even while tracing
    index = gather_index(order, height, width, cells.device, False)  # (H*W,)
    return cells.index_select(1, index)  # (B, H*W, C), scan order


def sequence_to_spatial(
    seq: Tensor,
    *,
    order: OrderName = "columns",
    height: int,
    width: int,
    channels: int | None = None,
) -> Tensor:
    """Put a sequence back on its grid: the exact inverse of :func:`spatial_to_sequence`.

    For decoders and autoencoders: ``sequence_to_spatial(spatial_to_sequence(x, order=o),
    order=o, height=H, width=W)`` equals ``x`` bit for bit, since every order only moves entries.

    Args:
        seq: ``(B, W, C*H)`` for ``"columns"``, ``(B, H, C*W)`` for ``"rows"``, ``(B, H*W, C)``
            for the cell orders.
        order: one of :data:`SPATIAL_ORDERS`, as given to :func:`spatial_to_sequence`.
        height: ``H`` of the feature map.
        width: ``W`` of the feature map.
        channels: ``C``; inferred from ``F`` when None, checked when given.

    Returns:
        ``(B, C, H, W)``.

    Raises:
        ValueError: an unknown order, or a size below 1.
        ShapeError: ``seq`` does not fit the order, height, width and channels.

    Example:
        >>> sequence_to_spatial(torch.randn(8, 32, 256), height=4, width=32).shape
        torch.Size([8, 64, 4, 32])
    """
    check_choice("order", order, SPATIAL_ORDERS, "sequence_to_spatial")
    check_grid_size(height, width, "sequence_to_spatial")
    if channels is not None and (
        isinstance(channels, bool) or not isinstance(channels, int) or channels < 1
    ):
        raise ValueError(
            f"sequence_to_spatial: channels has to be a positive int or None, but got {channels!r}."
        )
    spatial_input_shape(
        seq.shape,
        order=order,
        height=height,
        width=width,
        channels=channels,
        who=f"sequence_to_spatial(order={order!r}, height={height}, width={width})",
    )
    if order == "columns":
        return rearrange(seq, "b w (c h) -> b c h w", h=height)  # (B, C, H, W)
    if order == "rows":
        return rearrange(seq, "b h (c w) -> b c h w", w=width)  # (B, C, H, W)
    if order == "raster_columns":
        return rearrange(seq, "b (w h) c -> b c h w", h=height)  # (B, C, H, W)
    if order != "raster":
        index = gather_index(order, height, width, seq.device, True)  # (H*W,)
        seq = seq.index_select(1, index)  # (B, H*W, C), raster order
    return rearrange(seq, "b (h w) c -> b c h w", h=height)  # (B, C, H, W)
