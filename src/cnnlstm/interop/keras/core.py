"""What every converter shares: the layout state, the module builder, weights, specs and errors.

A converter is a function ``(builder, layer, state) -> state``: it appends the torch modules for
one Keras layer call to a :class:`Builder` and says what the tensor after it looks like
(:class:`State`: its Keras shape, and where each Keras axis sits in the torch tensor). Every
module is made with :func:`build`, which remembers the class and arguments, so a converted model
can be written as a config plus a state dict and rebuilt without Keras (:func:`rebuild`).
"""

from __future__ import annotations

import importlib
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from cnnlstm.errors import ConfigError
from cnnlstm.extras import importing
from cnnlstm.functional import format_shape

__all__ = [
    "ELEMENTWISE",
    "MOVED_CLASSES",
    "Builder",
    "Converter",
    "HardSigmoid",
    "Layout",
    "State",
    "activation",
    "array",
    "build",
    "config",
    "describe",
    "expect_channels_last",
    "expect_rank",
    "ntuple",
    "out_state",
    "perm",
    "rebuild",
    "refuse",
    "sequential",
    "set_param",
    "spec",
]

M = TypeVar("M", bound=nn.Module)

# Where the channel axis sits: "last" is Keras order; "first" moves it to dim 1 (torch's conv
# layout); "frames" moves it to dim 2 behind the time axis (ConvLSTM / TimeDistributed(conv)).
Layout = Literal["last", "first", "frames"]

# Keras axis names by rank (batch included), for the patterns of layout moves.
_AXIS_NAMES = {3: "b t c", 4: "b t w c", 5: "b t h w c", 6: "b t d h w c"}

HardSigmoid = Literal["keras3", "tf_keras2"]
"""Which definition ``"hard_sigmoid"`` has: Keras 3's ``relu6(x + 3) / 6`` (torch's
``hardsigmoid``), or tf.keras 2's ``clip(0.2 x + 0.5, 0, 1)``, the one files saved by tf.keras 2
were trained with."""


def perm(layout: Layout, ndim: int) -> tuple[int, ...]:
    """Torch dim ``i`` of a tensor in ``layout`` holds Keras axis ``perm[i]``.

    Example:
        >>> perm("first", 4), perm("frames", 5)
        ((0, 3, 1, 2), (0, 1, 4, 2, 3))
    """
    last = ndim - 1
    if layout == "first" and ndim >= 3:
        return (0, last, *range(1, last))
    if layout == "frames" and ndim >= 4:
        return (0, 1, last, *range(2, last))
    return tuple(range(ndim))


@dataclass(frozen=True)
class State:
    """What the converter knows about one tensor between two layers."""

    shape: tuple[int | None, ...]  # Keras shape, batch axis included
    perm: tuple[int, ...]  # torch dim i holds Keras axis perm[i]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def torch_dim(self, keras_axis: int) -> int:
        """The torch dim that holds ``keras_axis`` (negative axes count from the end)."""
        return self.perm.index(keras_axis % self.ndim)

    def layout(self) -> Layout | None:
        """The named layout this state is in, if any."""
        names: tuple[Layout, ...] = ("last", "first", "frames")
        for name in names:
            if self.perm == perm(name, self.ndim):
                return name
        return None


# --------------------------------------------------------------------------------------------
# Module specs: how a converted model is rebuilt from a config without Keras.
# --------------------------------------------------------------------------------------------

_ALLOWED_PREFIXES = ("torch.nn.", "einops.layers.torch.", "cnnlstm.")
# Classes that moved to another module since a converted file could name them: such a file's
# spec still says the old place, so rebuild() reads it from the new one.
MOVED_CLASSES = {
    "cnnlstm.layers.convlstm.Activation": "cnnlstm.layers.activations.Activation",
    "cnnlstm.layers.convlstm.ConvLSTMCell": "cnnlstm.layers.convlstm_cell.ConvLSTMCell",
    "cnnlstm.layers.convlstm.ConvLSTMCell1d": "cnnlstm.layers.convlstm_cell.ConvLSTMCell1d",
    "cnnlstm.layers.convlstm.ConvLSTMCell2d": "cnnlstm.layers.convlstm_cell.ConvLSTMCell2d",
    "cnnlstm.layers.convlstm.ConvLSTMCell3d": "cnnlstm.layers.convlstm_cell.ConvLSTMCell3d",
}


def _encode(value: Any) -> Any:
    if isinstance(value, nn.Module):
        return {"module": spec(value)}
    if isinstance(value, (list, tuple)):
        return type(value)(_encode(v) for v in value)
    if isinstance(value, dict):
        return {"dict": [(k, _encode(v)) for k, v in value.items()]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"build: cannot record an argument of type {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "module" in value:
        return rebuild(value["module"])
    if isinstance(value, dict) and "dict" in value:
        return {k: _decode(v) for k, v in value["dict"]}
    if isinstance(value, (list, tuple)):
        return type(value)(_decode(v) for v in value)
    return value


def build(cls: Callable[..., M], *args: Any, **kwargs: Any) -> M:
    """``cls(*args, **kwargs)``, remembering the call so :func:`rebuild` can repeat it.

    Example:
        >>> conv = build(nn.Conv2d, 3, 8, (3, 3))
        >>> rebuild(spec(conv))
        Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))
    """
    module = cls(*args, **kwargs)
    record = {
        "class": f"{module.__class__.__module__}.{module.__class__.__qualname__}",
        "args": _encode(tuple(args)),
        "kwargs": _encode(dict(kwargs)),
    }
    object.__setattr__(module, "keras_spec", record)
    return module


def sequential(pairs: Sequence[tuple[str, nn.Module]]) -> nn.Sequential:
    """An ``nn.Sequential`` of named modules whose spec lists the modules' specs."""
    module = nn.Sequential(OrderedDict(pairs))
    record = {"class": "torch.nn.Sequential", "pairs": [(n, spec(m)) for n, m in pairs]}
    object.__setattr__(module, "keras_spec", record)
    return module


def spec(module: nn.Module) -> dict[str, Any]:
    """The recorded construction of a module made by :func:`build` or :func:`sequential`."""
    record = getattr(module, "keras_spec", None)
    if not isinstance(record, dict):
        raise TypeError(f"spec: {type(module).__name__} was not made with build()")
    return record


def rebuild(record: dict[str, Any]) -> nn.Module:
    """Make the module a :func:`spec` describes again (fresh weights: load a state dict after).

    Only classes from ``torch.nn``, ``einops.layers.torch`` and ``cnnlstm`` are built, so a
    config read from a file cannot import anything else.
    """
    path = MOVED_CLASSES.get(str(record["class"]), str(record["class"]))
    if not path.startswith(_ALLOWED_PREFIXES):
        raise ConfigError(
            f"rebuild: the config names the class {path!r}; only torch.nn, einops and cnnlstm "
            f"classes are rebuilt."
        )
    if path == "torch.nn.Sequential" and "pairs" in record:
        return sequential([(name, rebuild(inner)) for name, inner in record["pairs"]])
    module_name, _, class_name = path.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    module: nn.Module = build(cls, *_decode(record["args"]), **_decode(record["kwargs"]))
    return module


# --------------------------------------------------------------------------------------------
# Reading Keras layers.
# --------------------------------------------------------------------------------------------


def describe(layer: Any) -> str:
    """``layer 'name' (Kind)`` for messages."""
    return f"layer {getattr(layer, 'name', '?')!r} ({type(layer).__name__})"


def refuse(layer: Any, problems: Sequence[str], hint: str = "") -> ConfigError:
    """The error for a layer whose settings cannot be converted: one clause per setting."""
    tail = f" {hint}" if hint else ""
    return ConfigError(
        f"from_keras: {describe(layer)} cannot be converted: " + "; ".join(problems) + "." + tail
    )


def array(value: Any) -> Tensor:
    """A Keras variable (or array) as a float32 torch tensor on the CPU, detached and copied."""
    value = getattr(value, "value", value)  # a keras.Variable holds a backend tensor
    if isinstance(value, Tensor):  # the torch backend: no round trip through numpy
        return value.detach().to("cpu", torch.float32, copy=True)
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value, dtype=np.float32))
    with importing("converting Keras models (cnnlstm.interop.keras.core)", "keras"):
        import keras

    return torch.from_numpy(np.array(keras.ops.convert_to_numpy(value), dtype=np.float32))


def set_param(param: Tensor | None, value: Tensor, *, layer: Any, what: str) -> None:
    """Copy ``value`` into ``param``; a shape mismatch names the layer and the weight."""
    if param is None or tuple(param.shape) != tuple(value.shape):
        want = "nothing" if param is None else format_shape(param.shape)
        raise ConfigError(
            f"from_keras: {describe(layer)}: {what} has shape {format_shape(value.shape)} in "
            f"Keras but the torch layer wants {want}."
        )
    with torch.no_grad():
        param.copy_(value)


def config(layer: Any) -> dict[str, Any]:
    """The layer's ``get_config()``."""
    result: dict[str, Any] = layer.get_config()
    return result


def ntuple(value: Any, n: int) -> tuple[int, ...]:
    """An int or a sequence of ``n`` ints as a tuple of ``n`` ints.

    Example:
        >>> ntuple(3, 2), ntuple([1, 2, 3], 3)
        ((3, 3), (1, 2, 3))
    """
    if isinstance(value, int):
        return (value,) * n
    values = tuple(int(v) for v in value)
    if len(values) != n:
        raise ValueError(f"expected {n} values, but got {value!r}")
    return values


ELEMENTWISE: dict[str, Callable[[], nn.Module]] = {
    "linear": lambda: build(nn.Identity),
    "relu": lambda: build(nn.ReLU),
    "relu6": lambda: build(nn.ReLU6),
    "leaky_relu": lambda: build(nn.LeakyReLU, 0.2),
    "elu": lambda: build(nn.ELU),
    "selu": lambda: build(nn.SELU),
    "celu": lambda: build(nn.CELU),
    "gelu": lambda: build(nn.GELU),
    "silu": lambda: build(nn.SiLU),
    "swish": lambda: build(nn.SiLU),
    "mish": lambda: build(nn.Mish),
    "sigmoid": lambda: build(nn.Sigmoid),
    "hard_sigmoid": lambda: build(nn.Hardsigmoid),
    "hard_silu": lambda: build(nn.Hardswish),
    "hard_swish": lambda: build(nn.Hardswish),
    "hard_tanh": lambda: build(nn.Hardtanh),
    "log_sigmoid": lambda: build(nn.LogSigmoid),
    "tanh": lambda: build(nn.Tanh),
    "tanh_shrink": lambda: build(nn.Tanhshrink),
    "softplus": lambda: build(nn.Softplus),
    "softsign": lambda: build(nn.Softsign),
}
"""Keras activation names and the torch module for each (Keras 3 definitions)."""


def activation(
    name: Any, state: State, *, layer: Any, hard_sigmoid: HardSigmoid
) -> nn.Module | None:
    """The torch module for a Keras activation name, or None for ``linear``."""
    if name == "linear" or name is None:
        return None
    if name in ("softmax", "log_softmax"):
        dim = state.torch_dim(-1)
        kind = nn.Softmax if name == "softmax" else nn.LogSoftmax
        return build(kind, dim=dim)
    if name == "hard_sigmoid" and hard_sigmoid == "tf_keras2":
        from cnnlstm.layers.activations import Activation

        return build(Activation, "hard_sigmoid_tf2")
    if isinstance(name, str) and name in ELEMENTWISE:
        return ELEMENTWISE[name]()
    supported = ", ".join(sorted([*ELEMENTWISE, "softmax", "log_softmax"]))
    raise ConfigError(
        f"from_keras: {describe(layer)} uses the activation {name!r}, which has no converter; "
        f"supported activations: {supported}."
    )


# --------------------------------------------------------------------------------------------
# The builder.
# --------------------------------------------------------------------------------------------


class Builder:
    """Collects ``(name, module)`` pairs and the layout adapters between them.

    Args:
        names: the names already taken in the model (shared between the builders of one model,
            so every module gets a unique name).
        hard_sigmoid: the definition of ``"hard_sigmoid"`` the model was trained with.
    """

    def __init__(self, names: set[str] | None = None, *, hard_sigmoid: HardSigmoid = "keras3"):
        self.modules: list[tuple[str, nn.Module]] = []
        self.takes_mask: set[str] = set()
        self.names = set() if names is None else names
        self.hard_sigmoid: HardSigmoid = hard_sigmoid

    def child(self) -> Builder:
        """A builder for modules that go inside one of this builder's modules (own names)."""
        return Builder(hard_sigmoid=self.hard_sigmoid)

    def add(self, name: str, module: nn.Module | None, *, takes_mask: bool = False) -> None:
        """Append ``module`` under a unique version of ``name`` (None appends nothing)."""
        if module is None:
            return
        base = re.sub(r"\W", "_", name) or "layer"
        unique, count = base, 1
        while unique in self.names:
            count += 1
            unique = f"{base}_{count}"
        self.names.add(unique)
        self.modules.append((unique, module))
        if takes_mask:
            self.takes_mask.add(unique)

    def to_layout(self, state: State, layout: Layout | None) -> State:
        """Append the adapter that moves ``state`` into ``layout`` (None: any layout will do)."""
        from cnnlstm.interop.keras.layers import ChannelsFirstToLast, ChannelsLastToFirst

        if layout is None:
            return state
        target = perm(layout, state.ndim)
        if target == state.perm:
            return state
        ndim = state.ndim
        last = perm("last", ndim)
        if state.perm != last and target != last:  # torch layout to torch layout: one move
            from cnnlstm.interop.keras.layers import Relayout

            names = _AXIS_NAMES[ndim].split()
            source = " ".join(names[p] for p in state.perm)
            goal = " ".join(names[p] for p in target)
            self.add("relayout", build(Relayout, f"{source} -> {goal}"))
            return State(state.shape, target)
        if state.perm != last:  # back to Keras order first
            frames = state.perm == perm("frames", ndim) and ndim >= 4
            self.add("to_channels_last", build(ChannelsFirstToLast, ndim, frames=frames))
        if target != last:
            self.add(
                "to_channels_first",
                build(ChannelsLastToFirst, ndim, frames=layout == "frames"),
            )
        return State(state.shape, target)

    def activation(self, name: Any, state: State, *, layer: Any) -> nn.Module | None:
        """:func:`activation` with this builder's ``hard_sigmoid``."""
        return activation(name, state, layer=layer, hard_sigmoid=self.hard_sigmoid)

    def single(self) -> nn.Module:
        """The collected modules as one module (itself when there is only one)."""
        if len(self.modules) == 1:
            return self.modules[0][1]
        return sequential(self.modules)


Converter = Callable[[Builder, Any, State], State]


def expect_rank(layer: Any, state: State, ranks: Sequence[int], layout_text: str) -> None:
    """Refuse an input whose rank is not in ``ranks``."""
    if state.ndim not in ranks:
        raise ConfigError(
            f"from_keras: {describe(layer)} expects {layout_text}, but its input has shape "
            f"{state.shape} (batch axis as None)."
        )


def expect_channels_last(layer: Any) -> None:
    """Refuse ``data_format="channels_first"``."""
    data_format = config(layer).get("data_format", "channels_last")
    if data_format not in ("channels_last", None):
        raise ConfigError(
            f"from_keras: {describe(layer)} has data_format={data_format!r}; only "
            f"'channels_last' (the Keras default) is supported. Rebuild the model with "
            f"data_format='channels_last' (the weights are the same)."
        )


def out_state(layer: Any, state: State, layout: Layout) -> State:
    """The state after ``layer``: its Keras output shape, in ``layout``."""
    shape = tuple(layer.compute_output_shape(state.shape))
    return State(shape, perm(layout, len(shape)))


def spatial_size(shape: Sequence[int | None]) -> int | None:
    """The product of the known sizes (None if any is unknown)."""
    if any(s is None for s in shape):
        return None
    return math.prod(int(s) for s in shape if s is not None)
