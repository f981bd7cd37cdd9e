"""Built-in CNN backbones that know their output shape before they see data.

``SimpleCNN`` is a stack of conv blocks for frames and images; ``HeightCollapsingCNN`` is the
CRNN-style feature extractor for text lines: it pools height more than width and averages the
rest of the height away, so any input height gives a ``(B, C, 1, W')`` map whose columns are the
steps of the sequence. Both have ``output_shape(input_shape)`` (batch axis included), so
``CNNLSTM`` and ``TimeDistributed`` size themselves without a dry run. Any ``nn.Module`` can be
used as a backbone instead; the model factories accept ``backbone: nn.Module | None``.

Both take ``norm``, the normalisation after every convolution (:data:`NORMS`):

- ``"batch"``: ``BatchNorm2d``, statistics over the batch (and every frame of a clip). Under DDP
  each process normalises its own part of the batch, so training differs from one process unless
  the ``Trainer`` converts it to ``SyncBatchNorm`` (``sync_batchnorm=True``, GPUs only).
- ``"group"``: ``GroupNorm`` with up to 8 groups; ``"instance"``: instance normalisation with a
  scale and shift per channel, built as ``GroupNorm`` with one group per channel (what
  ``InstanceNorm2d(affine=True)`` computes, without its error on a 1x1 map). Both normalise each
  image on its own: the same under DDP on any number of processes, in ``TimeDistributed``
  chunks, and in training and eval.
- ``"none"`` (or None): no normalisation; the convolutions get a bias instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, cast, get_args

import torch
from torch import Tensor, nn

from cnnlstm.errors import ShapeError
from cnnlstm.functional import format_shape

__all__ = ["ACTIVATIONS", "NORMS", "HeightCollapsingCNN", "NormName", "SimpleCNN"]

StagePool = Literal["max", "avg"]
NormName = Literal["batch", "group", "instance", "none"]
ActivationName = Literal["relu", "gelu", "silu", "elu", "leaky_relu", "tanh"]

ACTIVATIONS: tuple[str, ...] = get_args(ActivationName)
"""The ``activation`` names the backbones take."""

NORMS: tuple[str, ...] = get_args(NormName)
"""The ``norm`` names the backbones (and the model factories that build them) take."""

_STAGE_POOLS: tuple[str, ...] = get_args(StagePool)


def _activation(name: str) -> nn.Module:
    layers: dict[str, type[nn.Module]] = {
        "relu": nn.ReLU,
        "gelu": nn.GELU,
        "silu": nn.SiLU,
        "elu": nn.ELU,
        "leaky_relu": nn.LeakyReLU,
        "tanh": nn.Tanh,
    }
    return layers[name]()


def _groups(channels: int) -> int:
    """The largest divisor of ``channels`` that is at most 8: GroupNorm's usual group count."""
    return max(g for g in range(1, 9) if channels % g == 0)


def _check_common(
    who: str,
    in_channels: object,
    channels: object,
    kernel_size: object,
    norm: object,
    activation: object,
    dropout: object,
) -> tuple[int, ...]:
    """Check the arguments both backbones share; return ``channels`` as a tuple of ints."""

    def positive_int(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value > 0

    if not positive_int(in_channels):
        raise ValueError(f"{who}: in_channels has to be a positive int, but got {in_channels!r}.")
    if (
        isinstance(channels, (str, bytes))
        or not isinstance(channels, Sequence)
        or not channels
        or not all(positive_int(c) for c in channels)
    ):
        raise ValueError(
            f"{who}: channels has to be a non-empty sequence of positive ints (one per stage), "
            f"but got {channels!r}."
        )
    if not positive_int(kernel_size) or int(kernel_size) % 2 == 0:  # type: ignore[call-overload]
        raise ValueError(
            f"{who}: kernel_size has to be an odd positive int (so the padding keeps H and W), "
            f"but got {kernel_size!r}."
        )
    if norm is not None and (not isinstance(norm, str) or norm not in NORMS):
        raise ValueError(
            f"{who}: norm has to be 'batch', 'group', 'instance' or 'none' (or None), but got "
            f"{norm!r}."
        )
    if activation not in ACTIVATIONS:
        valid = ", ".join(repr(a) for a in ACTIVATIONS)
        raise ValueError(f"{who}: activation has to be one of {valid}, but got {activation!r}.")
    if (
        isinstance(dropout, bool)
        or not isinstance(dropout, (int, float))
        or not 0.0 <= dropout < 1.0
    ):
        raise ValueError(f"{who}: dropout has to be a probability in [0, 1), but got {dropout!r}.")
    return tuple(int(c) for c in channels)


def _conv_block(
    in_channels: int,
    out_channels: int,
    *,
    kernel_size: int,
    norm: NormName,
    activation: ActivationName,
) -> list[nn.Module]:
    """Conv ("same" padding) -> norm -> activation; the conv has no bias when a norm follows."""
    layers: list[nn.Module] = [
        nn.Conv2d(
            in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=norm == "none"
        )
    ]
    if norm == "batch":
        layers.append(nn.BatchNorm2d(out_channels))
    elif norm == "group":
        layers.append(nn.GroupNorm(_groups(out_channels), out_channels))
    elif norm == "instance":
        layers.append(nn.GroupNorm(out_channels, out_channels))  # one group per channel
    layers.append(_activation(activation))
    return layers


def _stages(
    in_channels: int,
    channels: Sequence[int],
    pools: Sequence[nn.Module | None],
    *,
    kernel_size: int,
    norm: NormName,
    activation: ActivationName,
    dropout: float,
) -> nn.Sequential:
    """One ``nn.Sequential`` per stage: conv block, the stage's pool (if any), ``Dropout2d``.

    Args:
        in_channels: ``C`` of the input images.
        channels: output channels of each stage.
        pools: the pooling layer of each stage, or None for none.
        kernel_size, norm, activation: as :func:`_conv_block` takes them.
        dropout: ``Dropout2d`` probability after every stage (0 adds none).
    """
    blocks: list[nn.Module] = []
    previous = in_channels
    for out_channels, pool in zip(channels, pools, strict=True):
        layers = _conv_block(
            previous,
            out_channels,
            kernel_size=kernel_size,
            norm=norm,
            activation=activation,
        )
        if pool is not None:
            layers.append(pool)
        if dropout > 0:
            layers.append(nn.Dropout2d(dropout))
        blocks.append(nn.Sequential(*layers))
        previous = out_channels
    return nn.Sequential(*blocks)


def _check_frames(who: str, shape: Sequence[int], in_channels: int) -> tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 4:
        hint = (
            " For a clip, wrap the backbone in TimeDistributed."
            if len(shape) == 5
            else " A single image needs a batch axis (x.unsqueeze(0))."
            if len(shape) == 3
            else ""
        )
        raise ShapeError(
            f"{who}: expected images (B, C, H, W), got a {len(shape)}-D tensor of shape "
            f"{format_shape(shape)}.{hint}"
        ) from None
    if shape[1] != in_channels:
        raise ShapeError(
            f"{who}: expected C={in_channels} channels, got C={shape[1]} in a tensor of shape "
            f"{format_shape(shape)}. Build the backbone with in_channels={shape[1]}, or pass "
            f"images with {in_channels} channels."
        ) from None
    if shape[2] < 1 or shape[3] < 1:
        raise ShapeError(
            f"{who}: expected H >= 1 and W >= 1, got shape {format_shape(shape)}."
        ) from None
    return shape


class SimpleCNN(nn.Module):
    """A stack of conv blocks: per stage conv -> norm -> activation -> 2x2 pool -> dropout.

    Every convolution keeps ``H`` and ``W`` ("same" padding); a stage with a pool halves them
    (rounding down, as ``nn.MaxPool2d(2)`` does). ``output_shape`` gives the result for any
    input shape without running data.

    Args:
        in_channels: ``C`` of the input images.
        channels: output channels of each stage; the number of entries is the number of stages.
        kernel_size: odd size of every convolution.
        pool: ``"max"``, ``"avg"`` or None (no pooling): one value for every stage, or a
            sequence with one value per stage.
        norm: ``"batch"`` (BatchNorm2d), ``"group"`` (GroupNorm with up to 8 groups: keeps
            ``TimeDistributed``'s chunking in training and needs no sync under DDP),
            ``"instance"`` (as "group", one group per channel) or ``"none"`` / None (the
            convs get a bias); see the module docstring.
        activation: one of :data:`ACTIVATIONS`.
        dropout: ``Dropout2d`` probability after every stage (0 adds none).

    Raises:
        ValueError: an argument is out of range, or ``pool`` has the wrong number of entries.

    Example:
        >>> cnn = SimpleCNN(3, channels=(16, 32), pool=("max", None))
        >>> cnn(torch.randn(2, 3, 32, 40)).shape
        torch.Size([2, 32, 16, 20])
        >>> cnn.output_shape((8, 3, 64, 64))
        (8, 32, 32, 32)
    """

    def __init__(
        self,
        in_channels: int,
        *,
        channels: Sequence[int] = (32, 64, 128),
        kernel_size: int = 3,
        pool: StagePool | Sequence[StagePool | None] | None = "max",
        norm: NormName | None = "batch",
        activation: ActivationName = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        stages = _check_common(
            "SimpleCNN", in_channels, channels, kernel_size, norm, activation, dropout
        )
        pools: tuple[StagePool | None, ...]
        if pool is None or isinstance(pool, str):
            pools = (pool,) * len(stages)
        elif isinstance(pool, Sequence):
            pools = tuple(cast(Sequence[StagePool | None], pool))
        else:
            pools = ()
        if len(pools) != len(stages) or not all(p is None or p in _STAGE_POOLS for p in pools):
            raise ValueError(
                f"SimpleCNN: pool has to be 'max', 'avg' or None, or a sequence of those with one "
                f"entry per stage ({len(stages)} for channels={list(stages)}), but got {pool!r}."
            )
        self.in_channels = in_channels
        self.channels = stages
        self.out_channels = stages[-1]
        self.kernel_size = kernel_size
        self.pools = pools
        self.norm: NormName = "none" if norm is None else norm
        self.activation: ActivationName = activation
        self.dropout = float(dropout)

        stage_pools = [
            nn.MaxPool2d(2) if p == "max" else nn.AvgPool2d(2) if p == "avg" else None
            for p in pools
        ]
        self.stages = _stages(
            in_channels,
            stages,
            stage_pools,
            kernel_size=kernel_size,
            norm=self.norm,
            activation=activation,
            dropout=dropout,
        )

    @property
    def reduction(self) -> int:
        """How many input pixels one output pixel spans along ``H`` and ``W``: 2 per pool."""
        return int(2 ** sum(p is not None for p in self.pools))

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """``(B, out_channels, H', W')`` for images of ``input_shape`` ``(B, C, H, W)``.

        Raises:
            ShapeError: the input is not ``(B, in_channels, H, W)``, or too small for the pools.
        """
        b, _, h, w = _check_frames(f"SimpleCNN({self.extra_repr()})", input_shape, self.in_channels)
        out_h, out_w = h, w
        for stage_pool in self.pools:
            if stage_pool is not None:
                out_h, out_w = out_h // 2, out_w // 2
        if out_h < 1 or out_w < 1:
            minimum = self.reduction
            raise ShapeError(
                f"SimpleCNN({self.extra_repr()}): expected H and W of at least {minimum} for its "
                f"{minimum.bit_length() - 1} pooling stages, got shape {format_shape(input_shape)}."
                f" Pass larger images, or fewer pools (pool=None for some stages)."
            ) from None
        return (b, self.out_channels, out_h, out_w)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, out_channels, H', W')``."""
        self.output_shape(x.shape)
        return self.stages(x)  # type: ignore[no-any-return]

    def extra_repr(self) -> str:
        pools = self.pools[0] if len(set(self.pools)) == 1 else list(self.pools)
        return (
            f"{self.in_channels}, channels={list(self.channels)}, kernel_size={self.kernel_size}, "
            f"pool={pools!r}, norm={self.norm!r}"
        )


class HeightCollapsingCNN(nn.Module):
    """The CRNN feature extractor: a conv stack that turns a text line into a row of columns.

    Every stage is conv -> norm -> activation -> max pool. The first ``width_pools`` stages pool
    2x2, the others 2x1 (height only), so the height shrinks faster than the width; the pools
    round up (``ceil_mode``), so no input is ever too small. What height is left is then averaged
    away: the output is ``(B, C', 1, W')`` for any input height, with
    ``W' = ceil(W / 2**width_pools)`` (see :meth:`output_widths`). Read it with
    ``SpatialSequence("columns")`` to get ``W'`` steps of ``C'`` features.

    Args:
        in_channels: ``C`` of the input images.
        channels: output channels of each stage (at least ``width_pools`` entries).
        width_pools: how many of the first stages also halve the width.
        kernel_size: odd size of every convolution.
        norm: ``"batch"``, ``"group"``, ``"instance"`` or ``"none"`` / None, as in
            :class:`SimpleCNN`.
        activation: one of :data:`ACTIVATIONS`.
        dropout: ``Dropout2d`` probability after every stage.

    Raises:
        ValueError: an argument is out of range.

    Example:
        >>> cnn = HeightCollapsingCNN(1, channels=(16, 32, 64))
        >>> cnn(torch.randn(2, 1, 32, 100)).shape
        torch.Size([2, 64, 1, 25])
        >>> cnn(torch.randn(2, 1, 21, 7)).shape
        torch.Size([2, 64, 1, 2])
    """

    def __init__(
        self,
        in_channels: int,
        *,
        channels: Sequence[int] = (64, 128, 256, 256),
        width_pools: int = 2,
        kernel_size: int = 3,
        norm: NormName | None = "batch",
        activation: ActivationName = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        stages = _check_common(
            "HeightCollapsingCNN", in_channels, channels, kernel_size, norm, activation, dropout
        )
        if (
            isinstance(width_pools, bool)
            or not isinstance(width_pools, int)
            or not 0 <= width_pools <= len(stages)
        ):
            raise ValueError(
                f"HeightCollapsingCNN: width_pools has to be an int in [0, {len(stages)}] (at "
                f"most one per stage), but got {width_pools!r}."
            )
        self.in_channels = in_channels
        self.channels = stages
        self.out_channels = stages[-1]
        self.width_pools = width_pools
        self.kernel_size = kernel_size
        self.norm: NormName = "none" if norm is None else norm
        self.activation: ActivationName = activation
        self.dropout = float(dropout)

        windows = [(2, 2) if index < width_pools else (2, 1) for index in range(len(stages))]
        self.stages = _stages(
            in_channels,
            stages,
            [nn.MaxPool2d(window, stride=window, ceil_mode=True) for window in windows],
            kernel_size=kernel_size,
            norm=self.norm,
            activation=activation,
            dropout=dropout,
        )

    def output_widths(self, widths: Tensor) -> Tensor:
        """``W'`` for input widths ``W``: ``ceil(W / 2)`` once per width pool, as int64.

        Example:
            >>> HeightCollapsingCNN(1).output_widths(torch.tensor([128, 37, 1])).tolist()
            [32, 10, 1]
        """
        out = torch.as_tensor(widths).to(torch.int64)
        for _ in range(self.width_pools):
            out = torch.div(out + 1, 2, rounding_mode="floor")  # ceil(W / 2)
        return out

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """``(B, out_channels, 1, W')`` for images of ``input_shape`` ``(B, C, H, W)``.

        Raises:
            ShapeError: the input is not ``(B, in_channels, H, W)``.
        """
        b, _, _, w = _check_frames(
            f"HeightCollapsingCNN({self.extra_repr()})", input_shape, self.in_channels
        )
        for _ in range(self.width_pools):
            w = (w + 1) // 2  # ceil(W / 2), in plain ints (nothing to trace)
        return (b, self.out_channels, 1, w)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, out_channels, 1, W')``."""
        self.output_shape(x.shape)
        features: Tensor = self.stages(x)  # (B, C', H', W')
        return features.mean(dim=2, keepdim=True)  # (B, C', 1, W')

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, channels={list(self.channels)}, width_pools={self.width_pools}, "
            f"kernel_size={self.kernel_size}, norm={self.norm!r}"
        )
