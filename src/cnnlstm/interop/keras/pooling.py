"""Keras pooling, resampling and border layers in torch, on 1-D, 2-D and 3-D grids.

``MaxPooling1D/2D/3D``, ``AveragePooling1D/2D/3D``, ``GlobalMax/AveragePooling1D/2D/3D``,
``UpSampling1D/2D/3D``, ``ZeroPadding1D/2D/3D`` and ``Cropping1D/2D/3D``, all channels first.

Average pooling with ``padding="same"`` follows TensorFlow (and JAX): a window that hangs over the
edge averages only the cells it covers (:class:`~cnnlstm.interop.keras.layers.SameAvgPool`).
Keras 3 on the torch backend replicates the edge cells when that padding is uneven, so there, and
only there, the two differ at the end of each axis.
"""

from __future__ import annotations

import math
from typing import Any

from einops.layers.torch import Reduce
from torch import nn

from cnnlstm.errors import ConfigError
from cnnlstm.interop.keras.core import (
    Builder,
    State,
    build,
    config,
    describe,
    expect_channels_last,
    expect_rank,
    ntuple,
    out_state,
    refuse,
)
from cnnlstm.interop.keras.layers import Crop, MaskedAverage, SameAvgPool, SamePad

__all__ = [
    "convert_cropping",
    "convert_global_pool",
    "convert_pool",
    "convert_upsampling",
    "convert_zero_padding",
]

_MAX = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
_AVG = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
_PAD = {1: nn.ConstantPad1d, 2: nn.ConstantPad2d, 3: nn.ConstantPad3d}
_SPATIAL = {1: "steps (B, T, C)", 2: "images (B, H, W, C)", 3: "volumes (B, D, H, W, C)"}
_AXES = {1: "t", 2: "h w", 3: "d h w"}


def _rank(layer: Any) -> int:
    """1, 2 or 3 from the Keras class name (``...1D``, ``...2D``, ``...3D``)."""
    return int(type(layer).__name__[-2])


def convert_pool(builder: Builder, layer: Any, state: State) -> State:
    """``MaxPooling1D/2D/3D`` and ``AveragePooling1D/2D/3D``."""
    n = _rank(layer)
    expect_rank(layer, state, [n + 2], _SPATIAL[n])
    expect_channels_last(layer)
    cfg = config(layer)
    kernel = ntuple(cfg["pool_size"], n)
    stride = ntuple(cfg["strides"] if cfg["strides"] is not None else cfg["pool_size"], n)
    is_max = "Max" in type(layer).__name__
    pool: nn.Module
    if cfg["padding"] == "valid":
        pool = build(_MAX[n] if is_max else _AVG[n], kernel, stride)
    elif cfg["padding"] == "same" and is_max:
        builder.add(f"{layer.name}_pad", build(SamePad, kernel, stride, value=-math.inf))
        pool = build(_MAX[n], kernel, stride)
    elif cfg["padding"] == "same":
        pool = build(SameAvgPool, kernel, stride)
    else:
        raise refuse(layer, [f"padding={cfg['padding']!r} (supported: 'valid', 'same')"])
    builder.add(layer.name, pool)
    return out_state(layer, state, "first")


def convert_global_pool(builder: Builder, layer: Any, state: State) -> State:
    """``GlobalMaxPooling1D/2D/3D`` and ``GlobalAveragePooling1D/2D/3D``.

    With a mask (``Masking``, ``Embedding(mask_zero=True)``, a mask input), Keras's
    ``GlobalAveragePooling1D`` averages only the unmasked steps (:class:`MaskedAverage`), and
    its ``GlobalMaxPooling1D`` takes no mask: the maximum of every step, masked ones included.
    """
    n = _rank(layer)
    expect_rank(layer, state, [n + 2], _SPATIAL[n])
    expect_channels_last(layer)
    reduction = "max" if "Max" in type(layer).__name__ else "mean"
    if n == 2:  # torch's own pool: TimeDistributed then runs the CNN channels_last (faster)
        kind = nn.AdaptiveMaxPool2d if reduction == "max" else nn.AdaptiveAvgPool2d
        builder.add(layer.name, build(kind, 1))
        if not config(layer).get("keepdims"):
            builder.add(f"{layer.name}_flatten", build(nn.Flatten, 1))
        return out_state(layer, state, "first")
    if n == 1 and reduction == "mean":  # Keras averages the unmasked steps of a masked input
        keepdims = bool(config(layer).get("keepdims"))
        builder.add(layer.name, build(MaskedAverage, keepdims=keepdims), takes_mask=True)
        return out_state(layer, state, "first")
    axes = _AXES[n]
    kept = " ".join("1" for _ in axes.split()) if config(layer).get("keepdims") else ""
    pattern = f"b c {axes} -> b c {kept}".rstrip()
    builder.add(layer.name, build(Reduce, pattern, reduction))
    return out_state(layer, state, "first")


def convert_upsampling(builder: Builder, layer: Any, state: State) -> State:
    """``UpSampling1D/2D/3D``: nearest (every rank) or bilinear (2-D, TensorFlow's half-pixel
    centres, as torch's ``align_corners=False``)."""
    n = _rank(layer)
    expect_rank(layer, state, [n + 2], _SPATIAL[n])
    expect_channels_last(layer)
    cfg = config(layer)
    size = ntuple(cfg["size"], n)
    interpolation = cfg.get("interpolation", "nearest")
    if interpolation not in ("nearest", "bilinear"):
        raise refuse(
            layer,
            [
                f"interpolation={interpolation!r} (supported: 'nearest', 'bilinear'; torch's "
                f"bicubic and area kernels differ from TensorFlow's)"
            ],
        )
    mode = "nearest" if interpolation == "nearest" else "bilinear"
    extra = {} if mode == "nearest" else {"align_corners": False}
    scale = tuple(float(s) for s in size)
    builder.add(layer.name, build(nn.Upsample, scale_factor=scale, mode=mode, **extra))
    return out_state(layer, state, "first")


def _pairs(value: Any, n: int, layer: Any, what: str) -> list[tuple[int, int]]:
    """Keras's padding or cropping argument as ``(before, after)`` per axis."""
    if isinstance(value, int):
        return [(value, value)] * n
    items = list(value)
    if n == 1 and len(items) == 2 and all(isinstance(v, int) for v in items):
        return [(int(items[0]), int(items[1]))]
    if len(items) != n:
        raise ConfigError(f"from_keras: {describe(layer)}: {what}={value!r} has no {n} axes.")
    pairs = []
    for item in items:
        if isinstance(item, int):
            pairs.append((item, item))
        else:
            before, after = item
            pairs.append((int(before), int(after)))
    return pairs


def convert_zero_padding(builder: Builder, layer: Any, state: State) -> State:
    """``ZeroPadding1D/2D/3D``."""
    n = _rank(layer)
    expect_rank(layer, state, [n + 2], _SPATIAL[n])
    expect_channels_last(layer)
    pairs = _pairs(config(layer)["padding"], n, layer, "padding")
    pads: list[int] = []
    for before, after in reversed(pairs):  # F.pad lists the last axis first
        pads.extend((before, after))
    builder.add(layer.name, build(_PAD[n], tuple(pads), 0.0))
    return out_state(layer, state, "first")


def convert_cropping(builder: Builder, layer: Any, state: State) -> State:
    """``Cropping1D/2D/3D``."""
    n = _rank(layer)
    expect_rank(layer, state, [n + 2], _SPATIAL[n])
    expect_channels_last(layer)
    pairs = _pairs(config(layer)["cropping"], n, layer, "cropping")
    builder.add(layer.name, build(Crop, *pairs))
    return out_state(layer, state, "first")
