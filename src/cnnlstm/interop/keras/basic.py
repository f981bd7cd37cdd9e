"""Keras's core, normalisation, regularisation, reshaping and merge layers in torch.

``Dense``, ``Embedding``, ``Activation``/``ReLU``/``LeakyReLU``/``ELU``/``Softmax``,
``BatchNormalization``,
``LayerNormalization``, ``Dropout``, ``SpatialDropout1D/2D/3D``, ``GaussianNoise``,
``GaussianDropout``, ``Flatten``, ``Reshape``, ``Permute``, ``RepeatVector``, and the merges
``Concatenate``, ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``, ``Minimum``,
``Dot``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from cnnlstm.errors import ConfigError
from cnnlstm.extras import importing
from cnnlstm.interop.keras.core import (
    Builder,
    State,
    array,
    build,
    config,
    describe,
    expect_channels_last,
    expect_rank,
    out_state,
    perm,
    refuse,
    set_param,
)
from cnnlstm.interop.keras.layers import (
    Dot,
    Embedding,
    GaussianDropout,
    GaussianNoise,
    Merge,
    Permute,
    RepeatVector,
    Reshape,
)

__all__ = [
    "convert_activation",
    "convert_batch_norm",
    "convert_dense",
    "convert_dot",
    "convert_dropout",
    "convert_embedding",
    "convert_flatten",
    "convert_identity",
    "convert_layer_norm",
    "convert_merge",
    "convert_noise",
    "convert_permute",
    "convert_repeat_vector",
    "convert_reshape",
    "convert_spatial_dropout",
]


def convert_identity(builder: Builder, layer: Any, state: State) -> State:
    """``InputLayer``: nothing to run."""
    return state


def convert_dense(builder: Builder, layer: Any, state: State) -> State:
    """``Dense`` on the last axis."""
    cfg = config(layer)
    kernel = array(layer.kernel)  # (F, F')
    linear = build(nn.Linear, kernel.shape[0], kernel.shape[1], bias=bool(cfg["use_bias"]))
    set_param(linear.weight, kernel.T, layer=layer, what="kernel")
    if linear.bias is not None:
        set_param(linear.bias, array(layer.bias), layer=layer, what="bias")
    builder.add(layer.name, linear)
    out = out_state(layer, state, "last")
    builder.add(f"{layer.name}_act", builder.activation(cfg["activation"], out, layer=layer))
    return out


def convert_embedding(builder: Builder, layer: Any, state: State) -> State:
    """``Embedding``: indices ``(B, ...)`` -> ``(B, ..., F)``. Its ``mask_zero=True`` mask is
    computed by the graph walk (:mod:`~cnnlstm.interop.keras.convert`), as ``Masking``'s is."""
    cfg = config(layer)
    mode = getattr(layer, "quantization_mode", None)
    if mode is not None:
        raise refuse(layer, [f"quantization_mode={mode!r} (only float embeddings convert)"])
    weight = array(layer.embeddings)  # (input_dim, output_dim), LoRA merged in by Keras
    embedding = build(Embedding, int(cfg["input_dim"]), int(cfg["output_dim"]))
    set_param(embedding.weight, weight, layer=layer, what="embeddings")
    builder.add(layer.name, embedding)
    return out_state(layer, state, "last")


def convert_activation(builder: Builder, layer: Any, state: State) -> State:
    """``Activation``, ``ReLU``, ``LeakyReLU``, ``ELU``, ``Softmax``."""
    with importing("converting Keras models (cnnlstm.interop.keras.basic)", "keras"):
        import keras

    cfg = config(layer)
    module: nn.Module | None
    if isinstance(layer, keras.layers.Activation):
        module = builder.activation(cfg["activation"], state, layer=layer)
        if module is None:
            module = build(nn.Identity)
    elif isinstance(layer, keras.layers.Softmax):
        axis = cfg["axis"]
        if not isinstance(axis, int):
            raise refuse(layer, [f"axis={axis!r} (only a single integer axis is supported)"])
        module = build(nn.Softmax, dim=state.torch_dim(axis))
    elif isinstance(layer, keras.layers.LeakyReLU):
        module = build(nn.LeakyReLU, float(cfg["negative_slope"]))
    elif isinstance(layer, keras.layers.ELU):
        module = build(nn.ELU, float(cfg["alpha"]))
    else:  # keras.layers.ReLU
        slope, threshold, top = cfg["negative_slope"], cfg["threshold"], cfg["max_value"]
        if threshold != 0 or (slope != 0 and top is not None):
            raise ConfigError(
                f"from_keras: {describe(layer)} has threshold={threshold} and negative_slope="
                f"{slope} with max_value={top}; supported: threshold=0 and either a "
                f"negative_slope or a max_value."
            )
        if slope != 0:
            module = build(nn.LeakyReLU, float(slope))
        elif top is None:
            module = build(nn.ReLU)
        else:
            module = build(nn.Hardtanh, 0.0, float(top))
    builder.add(layer.name, module)
    return state


def _single_axis(value: Any) -> int | None:
    if isinstance(value, (list, tuple)):
        return int(value[0]) if len(value) == 1 else None
    return None if value is None else int(value)


def convert_batch_norm(builder: Builder, layer: Any, state: State) -> State:
    """``BatchNormalization`` on the channel axis (inference statistics)."""
    cfg = config(layer)
    axis = _single_axis(cfg["axis"])
    if axis is None or axis % state.ndim != state.ndim - 1:
        raise refuse(
            layer, [f"axis={cfg['axis']!r} (only the last, channel, axis, -1, is supported)"]
        )
    expect_rank(layer, state, [2, 3, 4, 5, 6], "(B, F) to (B, T, D, H, W, C)")
    if cfg.get("renorm"):
        raise refuse(layer, ["renorm=True (batch renormalisation)"])
    kinds: dict[int, type[nn.BatchNorm1d | nn.BatchNorm2d | nn.BatchNorm3d]] = {
        2: nn.BatchNorm1d,
        3: nn.BatchNorm1d,
        4: nn.BatchNorm2d,
    }
    kind = kinds.get(state.ndim, nn.BatchNorm3d)
    if state.ndim == 6:
        raise refuse(layer, ["an input of rank 6 (apply it inside TimeDistributed)"])
    mean = array(layer.moving_mean)
    scale, center = bool(cfg["scale"]), bool(cfg["center"])
    norm = build(
        kind,
        mean.shape[0],
        eps=float(cfg["epsilon"]),
        momentum=round(1.0 - float(cfg["momentum"]), 12),
        affine=scale or center,
    )
    set_param(norm.running_mean, mean, layer=layer, what="moving_mean")
    set_param(norm.running_var, array(layer.moving_variance), layer=layer, what="moving_variance")
    if norm.affine:
        if scale:
            set_param(norm.weight, array(layer.gamma), layer=layer, what="gamma")
        else:
            norm.weight.requires_grad_(False)  # Keras scale=False: gamma is fixed at 1
        if center:
            set_param(norm.bias, array(layer.beta), layer=layer, what="beta")
        else:
            norm.bias.requires_grad_(False)  # Keras center=False: beta is fixed at 0
    builder.add(layer.name, norm)
    return out_state(layer, state, "first")


def convert_layer_norm(builder: Builder, layer: Any, state: State) -> State:
    """``LayerNormalization`` over trailing axes (``axis=-1`` or the last few, in order)."""
    cfg = config(layer)
    raw = cfg["axis"]
    axes: Sequence[int] = raw if isinstance(raw, (list, tuple)) else [raw]
    axes = sorted(int(a) % state.ndim for a in axes)
    problems = []
    if axes != list(range(state.ndim - len(axes), state.ndim)) or 0 in axes:
        problems.append(f"axis={raw!r} (only the last axes, e.g. -1, are supported)")
    if cfg.get("rms_scaling"):
        problems.append("rms_scaling=True")
    shape = [state.shape[a] for a in axes]
    if any(s is None for s in shape):
        problems.append(f"normalized axes of unknown size {tuple(shape)}")
    if problems:
        raise refuse(layer, problems)
    scale, center = bool(cfg["scale"]), bool(cfg["center"])
    norm = build(
        nn.LayerNorm,
        [int(s) for s in shape if s is not None],
        eps=float(cfg["epsilon"]),
        elementwise_affine=scale or center,
        bias=center,
    )
    if scale:
        set_param(
            norm.weight, array(layer.gamma).reshape(norm.weight.shape), layer=layer, what="gamma"
        )
    elif norm.weight is not None:
        norm.weight.requires_grad_(False)
    if center:
        set_param(norm.bias, array(layer.beta).reshape(norm.bias.shape), layer=layer, what="beta")
    builder.add(layer.name, norm)
    return State(state.shape, perm("last", state.ndim))


def convert_dropout(builder: Builder, layer: Any, state: State) -> State:
    """``Dropout`` (``noise_shape`` and ``seed`` only matter in training)."""
    builder.add(layer.name, build(nn.Dropout, float(config(layer)["rate"])))
    return state


def convert_spatial_dropout(builder: Builder, layer: Any, state: State) -> State:
    """``SpatialDropout1D/2D/3D``: whole channels dropped in training, identity in eval."""
    n = int(type(layer).__name__[-2])
    expect_rank(layer, state, [n + 2], f"a {n}-D grid with channels last")
    expect_channels_last(layer)
    kinds = {1: nn.Dropout1d, 2: nn.Dropout2d, 3: nn.Dropout3d}
    builder.add(layer.name, build(kinds[n], float(config(layer)["rate"])))
    return state


def convert_noise(builder: Builder, layer: Any, state: State) -> State:
    """``GaussianNoise``, ``GaussianDropout``: noise in training, identity in eval."""
    cfg = config(layer)
    if type(layer).__name__ == "GaussianNoise":
        builder.add(layer.name, build(GaussianNoise, float(cfg["stddev"])))
    else:
        builder.add(layer.name, build(GaussianDropout, float(cfg["rate"])))
    return state


def convert_flatten(builder: Builder, layer: Any, state: State) -> State:
    """``Flatten`` in Keras's (channels-last) order."""
    expect_channels_last(layer)
    builder.add(layer.name, build(nn.Flatten, 1))
    return out_state(layer, state, "last")


def convert_reshape(builder: Builder, layer: Any, state: State) -> State:
    """``Reshape`` in Keras's order."""
    builder.add(layer.name, build(Reshape, *config(layer)["target_shape"]))
    return out_state(layer, state, "last")


def convert_permute(builder: Builder, layer: Any, state: State) -> State:
    """``Permute``."""
    builder.add(layer.name, build(Permute, *config(layer)["dims"]))
    return out_state(layer, state, "last")


def convert_repeat_vector(builder: Builder, layer: Any, state: State) -> State:
    """``RepeatVector``: ``(B, F) -> (B, n, F)``."""
    expect_rank(layer, state, [2], "vectors (B, F)")
    builder.add(layer.name, build(RepeatVector, int(config(layer)["n"])))
    return out_state(layer, state, "last")


_MERGES = {
    "Concatenate": "concat",
    "Add": "add",
    "Subtract": "subtract",
    "Multiply": "multiply",
    "Average": "average",
    "Maximum": "maximum",
    "Minimum": "minimum",
}


def convert_merge(builder: Builder, layer: Any, states: Sequence[State]) -> State:
    """``Concatenate``, ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``,
    ``Minimum``: the inputs share one layout (the caller has moved them)."""
    mode = _MERGES[type(layer).__name__]
    first = states[0]
    shapes = [s.shape for s in states]
    if mode != "concat" and len({len(s) for s in shapes}) != 1:
        raise refuse(
            layer, [f"inputs of different ranks {shapes} (Keras broadcasts; expand them first)"]
        )
    dim = first.torch_dim(int(config(layer)["axis"])) if mode == "concat" else -1
    builder.add(layer.name, build(Merge, mode, dim=dim))
    out_shape = tuple(layer.compute_output_shape(list(shapes)))
    return State(out_shape, first.perm)


def convert_dot(builder: Builder, layer: Any, states: Sequence[State]) -> State:
    """``Dot`` (the inputs are in Keras order)."""
    cfg = config(layer)
    axes = cfg["axes"]
    pair = (axes, axes) if isinstance(axes, int) else tuple(axes)
    dims = tuple(int(a) % s.ndim for a, s in zip(pair, states, strict=True))
    if 0 in dims:
        raise refuse(layer, [f"axes={axes!r} (the batch axis cannot be reduced)"])
    builder.add(layer.name, build(Dot, dims, normalize=bool(cfg["normalize"])))
    out_shape = tuple(layer.compute_output_shape([s.shape for s in states]))
    return State(out_shape, perm("last", len(out_shape)))
