"""Keras convolutions in torch: ``Conv1D/2D/3D``, ``Conv1D/2D/3DTranspose``,
``SeparableConv1D/2D``, ``DepthwiseConv1D/2D``.

Every one runs channels first (``(B, C, *S)``). ``padding="same"`` follows TensorFlow: with a
stride of 1 it is torch's own ``padding="same"``; with a larger stride the uneven padding (one
more cell at the end) comes from a :class:`~cnnlstm.interop.keras.layers.SamePad` in front.
``Conv1D(padding="causal")`` pads ``(kernel_size - 1) * dilation`` cells in front. Keras stores a
kernel as ``(*k, C_in, C_out)`` (a transposed one ``(*k, C_out, C_in)``); torch wants
``(C_out, C_in, *k)`` (a transposed one ``(C_in, C_out, *k)``).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from cnnlstm.interop.keras.core import (
    Builder,
    State,
    array,
    build,
    config,
    expect_channels_last,
    expect_rank,
    ntuple,
    out_state,
    refuse,
    set_param,
)
from cnnlstm.interop.keras.layers import Crop, SamePad

__all__ = ["convert_conv", "convert_conv_transpose", "convert_depthwise", "convert_separable"]

_CONVS: dict[int, type[nn.Conv1d | nn.Conv2d | nn.Conv3d]] = {
    1: nn.Conv1d,
    2: nn.Conv2d,
    3: nn.Conv3d,
}
_TRANSPOSED: dict[int, type[nn.ConvTranspose1d | nn.ConvTranspose2d | nn.ConvTranspose3d]] = {
    1: nn.ConvTranspose1d,
    2: nn.ConvTranspose2d,
    3: nn.ConvTranspose3d,
}
_SPATIAL = {1: "steps (B, T, C)", 2: "images (B, H, W, C)", 3: "volumes (B, D, H, W, C)"}


def _torch_kernel_order(n: int) -> tuple[int, ...]:
    """Permutation of a Keras kernel ``(*k, a, b)`` to ``(b, a, *k)``."""
    return (n + 1, n, *range(n))


def _pad_modules(
    builder: Builder,
    layer: Any,
    padding: str,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> str | int | tuple[int, ...]:
    """Add what ``padding`` needs in front of the convolution; return torch's ``padding=``."""
    if padding == "valid":
        return 0
    if padding == "same" and all(s == 1 for s in stride):
        reaches = [(k - 1) * d for k, d in zip(kernel, dilation, strict=True)]
        if all(r % 2 == 0 for r in reaches):  # even: plain symmetric padding, torch's fast path
            return tuple(r // 2 for r in reaches)
        return "same"
    if padding == "same":
        builder.add(f"{layer.name}_pad", build(SamePad, kernel, stride, dilation=dilation))
        return 0
    # causal (Conv1D): everything in front
    reach = (kernel[0] - 1) * dilation[0]
    builder.add(f"{layer.name}_pad", build(nn.ConstantPad1d, (reach, 0), 0.0))
    return 0


def _check_padding(layer: Any, padding: str, n: int, problems: list[str]) -> None:
    allowed = ("valid", "same", "causal") if n == 1 else ("valid", "same")
    if padding not in allowed:
        problems.append(f"padding={padding!r} (supported: {', '.join(map(repr, allowed))})")


def convert_conv(builder: Builder, layer: Any, state: State) -> State:
    """``Conv1D``, ``Conv2D``, ``Conv3D`` (every padding, stride, dilation, groups, bias)."""
    n = int(layer.rank)
    expect_rank(layer, state, [n + 2], _SPATIAL[n])
    expect_channels_last(layer)
    cfg = config(layer)
    kernel_size, stride = ntuple(cfg["kernel_size"], n), ntuple(cfg["strides"], n)
    dilation, padding, groups = ntuple(cfg["dilation_rate"], n), cfg["padding"], int(cfg["groups"])
    problems: list[str] = []
    _check_padding(layer, padding, n, problems)
    if padding == "same" and any(s > 1 for s in stride) and any(d > 1 for d in dilation):
        problems.append(f"strides={stride} with dilation_rate={dilation} (Keras refuses it too)")
    if problems:
        raise refuse(layer, problems)
    kernel = array(layer.kernel)  # (*k, C/groups, C')
    torch_padding = _pad_modules(builder, layer, padding, kernel_size, stride, dilation)
    conv = build(
        _CONVS[n],
        kernel.shape[n] * groups,
        kernel.shape[n + 1],
        kernel_size,
        stride=stride,
        padding=torch_padding,
        dilation=dilation,
        groups=groups,
        bias=bool(cfg["use_bias"]),
    )
    set_param(conv.weight, kernel.permute(*_torch_kernel_order(n)), layer=layer, what="kernel")
    if conv.bias is not None:
        set_param(conv.bias, array(layer.bias), layer=layer, what="bias")
    builder.add(layer.name, conv)
    out = out_state(layer, state, "first")
    builder.add(f"{layer.name}_act", builder.activation(cfg["activation"], out, layer=layer))
    return out


def convert_conv_transpose(builder: Builder, layer: Any, state: State) -> State:
    """``Conv1DTranspose``, ``Conv2DTranspose``, ``Conv3DTranspose``.

    TensorFlow's "same" output is ``size * stride`` cells, cropped out of the full transposed
    output ``(size - 1) * stride + k`` starting at ``max(k - stride, 0) // 2``: torch's
    symmetric ``padding=`` crops that start, ``output_padding=`` extends the end when
    ``k < stride``, and a :class:`~cnnlstm.interop.keras.layers.Crop` cuts the one extra cell
    an odd ``k - stride`` leaves at the end.
    """
    n = int(layer.rank)
    expect_rank(layer, state, [n + 2], _SPATIAL[n])
    expect_channels_last(layer)
    cfg = config(layer)
    kernel_size, stride = ntuple(cfg["kernel_size"], n), ntuple(cfg["strides"], n)
    dilation, padding = ntuple(cfg["dilation_rate"], n), cfg["padding"]
    problems: list[str] = []
    if padding not in ("valid", "same"):
        problems.append(f"padding={padding!r} (supported: 'valid', 'same')")
    if dilation != (1,) * n:
        problems.append(f"dilation_rate={cfg['dilation_rate']} (only 1 is supported)")
    if cfg.get("output_padding") is not None:
        problems.append(
            f"output_padding={cfg['output_padding']} (only None, Keras's default, is supported)"
        )
    if problems:
        raise refuse(layer, problems)
    kernel = array(layer.kernel)  # (*k, C', C)
    starts, extends, crops = [], [], []
    for k, s in zip(kernel_size, stride, strict=True):
        if padding == "valid":
            starts.append(0)
            extends.append(0)
            crops.append((0, 0))
            continue
        total = max(k - s, 0)
        start = total // 2
        starts.append(start)
        extends.append(max(s - k, 0))
        crops.append((0, total - 2 * start))
    conv = build(
        _TRANSPOSED[n],
        kernel.shape[n + 1],
        kernel.shape[n],
        kernel_size,
        stride=stride,
        padding=tuple(starts),
        output_padding=tuple(extends),
        bias=bool(cfg["use_bias"]),
    )
    set_param(conv.weight, kernel.permute(*_torch_kernel_order(n)), layer=layer, what="kernel")
    if conv.bias is not None:
        set_param(conv.bias, array(layer.bias), layer=layer, what="bias")
    builder.add(layer.name, conv)
    if any(c != (0, 0) for c in crops):
        builder.add(f"{layer.name}_crop", build(Crop, *crops))
    out = out_state(layer, state, "first")
    builder.add(f"{layer.name}_act", builder.activation(cfg["activation"], out, layer=layer))
    return out


def _depthwise_conv(
    builder: Builder, layer: Any, cfg: dict[str, Any], n: int, kernel_name: str, *, bias: bool
) -> nn.Module:
    """The depthwise convolution of a separable or depthwise layer, with its padding."""
    kernel_size, stride = ntuple(cfg["kernel_size"], n), ntuple(cfg["strides"], n)
    dilation, padding = ntuple(cfg["dilation_rate"], n), cfg["padding"]
    problems: list[str] = []
    _check_padding(layer, padding, n, problems)
    if problems:
        raise refuse(layer, problems)
    kernel = array(getattr(layer, kernel_name))  # (*k, C, depth_multiplier)
    channels, multiplier = kernel.shape[n], kernel.shape[n + 1]
    torch_padding = _pad_modules(builder, layer, padding, kernel_size, stride, dilation)
    conv = build(
        _CONVS[n],
        channels,
        channels * multiplier,
        kernel_size,
        stride=stride,
        padding=torch_padding,
        dilation=dilation,
        groups=channels,
        bias=bias,
    )
    # Keras's output channel c * multiplier + m is torch's too (groups of `multiplier`).
    weight = kernel.reshape(*kernel.shape[:n], channels * multiplier)  # (*k, C*m)
    weight = weight.permute(n, *range(n)).unsqueeze(1)  # (C*m, 1, *k)
    set_param(conv.weight, weight, layer=layer, what=kernel_name)
    return conv


def convert_depthwise(builder: Builder, layer: Any, state: State) -> State:
    """``DepthwiseConv1D``, ``DepthwiseConv2D``."""
    n = int(layer.rank)
    expect_rank(layer, state, [n + 2], _SPATIAL[n])
    expect_channels_last(layer)
    cfg = config(layer)
    use_bias = bool(cfg["use_bias"])
    conv = _depthwise_conv(builder, layer, cfg, n, "kernel", bias=use_bias)
    if use_bias:
        bias = conv.get_parameter("bias")
        set_param(bias, array(layer.bias), layer=layer, what="bias")
    builder.add(layer.name, conv)
    out = out_state(layer, state, "first")
    builder.add(f"{layer.name}_act", builder.activation(cfg["activation"], out, layer=layer))
    return out


def convert_separable(builder: Builder, layer: Any, state: State) -> State:
    """``SeparableConv1D``, ``SeparableConv2D``: a depthwise then a 1x1 convolution."""
    n = int(layer.rank)
    expect_rank(layer, state, [n + 2], _SPATIAL[n])
    expect_channels_last(layer)
    cfg = config(layer)
    depthwise = _depthwise_conv(builder, layer, cfg, n, "depthwise_kernel", bias=False)
    builder.add(f"{layer.name}_depthwise", depthwise)
    pointwise_kernel = array(layer.pointwise_kernel)  # (*1, C*m, C')
    pointwise = build(
        _CONVS[n],
        pointwise_kernel.shape[n],
        pointwise_kernel.shape[n + 1],
        1,
        bias=bool(cfg["use_bias"]),
    )
    order = _torch_kernel_order(n)
    set_param(
        pointwise.weight, pointwise_kernel.permute(*order), layer=layer, what="pointwise_kernel"
    )
    if pointwise.bias is not None:
        set_param(pointwise.bias, array(layer.bias), layer=layer, what="bias")
    builder.add(layer.name, pointwise)
    out = out_state(layer, state, "first")
    builder.add(f"{layer.name}_act", builder.activation(cfg["activation"], out, layer=layer))
    return out
