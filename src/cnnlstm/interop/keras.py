"""Convert a Keras 3 CNN-LSTM model into an equivalent PyTorch module holding the same weights.

Most "how do I put an LSTM after a Conv2D" code is Keras. :func:`from_keras` takes a Keras 3
``Sequential`` model (or a functional model that is a single chain of layers) and returns a
:class:`ConvertedKeras` module: an ``nn.Sequential`` of named torch layers that takes the Keras
model's input layout (channels last: ``(B, H, W, C)`` or ``(B, T, H, W, C)``) and returns what the
Keras model returns, in the same layout and shape.

Convolutions, pools and batch norms run channels-first, as torch wants them. The converter
tracks where the channel axis of each tensor is and inserts small layout adapters
(:class:`ChannelsLastToFirst`, :class:`ChannelsFirstToLast`) where it has to move, so every
layout-dependent step (Flatten, Reshape, Permute, Dense, the LSTM's input) sees the tensor in
Keras order and flattens it in the same order. ``print(module)`` shows the whole structure.

Keras is imported lazily, so ``import cnnlstm`` never needs it; Keras must run on a backend that
is installed (``KERAS_BACKEND=torch`` is the natural choice next to PyTorch).

Supported layers: ``InputLayer``, ``Conv2D``, ``MaxPooling2D``, ``AveragePooling2D``,
``GlobalAveragePooling2D``, ``GlobalMaxPooling2D``, ``BatchNormalization``, ``Dropout``,
``SpatialDropout2D``, ``Flatten``, ``Reshape``, ``Permute``, ``Dense``, ``Activation``, ``ReLU``,
``LeakyReLU``, ``ELU``, ``Softmax``, ``LSTM``, ``GRU``, ``Bidirectional`` (around ``LSTM`` or
``GRU``), ``ConvLSTM2D``, ``TimeDistributed`` (around any of these) and nested ``Sequential`` or
functional models. Anything else raises :class:`~cnnlstm.errors.ConfigError` naming the layer.

``Bidirectional`` becomes one bidirectional ``nn.LSTM`` or ``nn.GRU`` inside a
:class:`Bidirectional` module, for every ``merge_mode``: "concat", "sum", "mul", "ave", and
``None``, where the converted model returns the tuple ``(forward, backward)`` as Keras returns
the pair (so only as the model's last layer, where Keras allows it too). An explicit
``backward_layer=`` converts when it is the same kind (LSTM or GRU) with the same ``units`` and
``use_bias`` as the forward layer and is the one that reads backwards; otherwise, and for the
options the ``LSTM`` and ``GRU`` converters refuse, a ``ConfigError`` names the layer and the
setting.

Dropout inside ``LSTM``, ``GRU`` and ``ConvLSTM2D`` (``dropout=``, ``recurrent_dropout=``) only
acts in training and is not carried over; ``Dropout`` layers are (as ``nn.Dropout``).

Average pooling with ``padding="same"`` follows the TensorFlow and JAX backends: the padded
cells are left out of each average. The Keras torch backend (3.15) instead replicates the edge
values when the "same" padding is uneven, so there, and only there, the two differ at the
bottom and right edges.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from einops.layers.torch import Reduce
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from cnnlstm.errors import ConfigError, ShapeError
from cnnlstm.functional import format_shape

__all__ = [
    "Bidirectional",
    "ChannelsFirstToLast",
    "ChannelsLastToFirst",
    "ConvertedKeras",
    "Permute",
    "Recurrent",
    "Reshape",
    "SameAvgPool2d",
    "SamePad2d",
    "from_keras",
]

# Keras axis names by rank (batch included), used to write the adapters' einops patterns.
_AXES = {2: "b c", 3: "b t c", 4: "b h w c", 5: "b t h w c"}


# --------------------------------------------------------------------------------------------
# Small modules that appear in a converted model.
# --------------------------------------------------------------------------------------------


def _layout_pattern(ndim: int, *, frames: bool) -> tuple[str, str]:
    """The channels-last and channels-first axis strings of a ``ndim``-D tensor."""
    if ndim not in _AXES or (frames and ndim < 4):
        raise ValueError(
            f"ndim has to be 2 to 5 (4 or 5 with frames=True), but got {ndim} (frames={frames})"
        )
    axes = _AXES[ndim].split()
    lead = 2 if frames else 1
    first = [*axes[:lead], axes[-1], *axes[lead:-1]]
    return " ".join(axes), " ".join(first)


class ChannelsLastToFirst(nn.Module):
    """Move the channel axis from last to second: ``(B, H, W, C) -> (B, C, H, W)``.

    Args:
        ndim: rank of the tensor, batch included (3 to 5).
        frames: keep the time axis in front: ``(B, T, H, W, C) -> (B, T, C, H, W)``, the layout
            of :class:`~cnnlstm.layers.convlstm.ConvLSTM` and ``TimeDistributed(conv)``.

    Example:
        >>> ChannelsLastToFirst(5, frames=True)(torch.zeros(2, 7, 8, 9, 3)).shape
        torch.Size([2, 7, 3, 8, 9])
    """

    def __init__(self, ndim: int = 4, *, frames: bool = False) -> None:
        super().__init__()
        last, first = _layout_pattern(ndim, frames=frames)
        self.pattern = f"{last} -> {first}"

    def forward(self, x: Tensor) -> Tensor:
        """Rearrange ``x`` with :attr:`pattern`."""
        return rearrange(x, self.pattern)

    def extra_repr(self) -> str:
        return repr(self.pattern)


class ChannelsFirstToLast(nn.Module):
    """Move the channel axis from second to last: ``(B, C, H, W) -> (B, H, W, C)``.

    The inverse of :class:`ChannelsLastToFirst` with the same arguments.

    Example:
        >>> ChannelsFirstToLast(4)(torch.zeros(2, 3, 8, 9)).shape
        torch.Size([2, 8, 9, 3])
    """

    def __init__(self, ndim: int = 4, *, frames: bool = False) -> None:
        super().__init__()
        last, first = _layout_pattern(ndim, frames=frames)
        self.pattern = f"{first} -> {last}"

    def forward(self, x: Tensor) -> Tensor:
        """Rearrange ``x`` with :attr:`pattern`."""
        return rearrange(x, self.pattern)

    def extra_repr(self) -> str:
        return repr(self.pattern)


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's ``padding="same"`` along one axis: ``(before, after)``, the extra cell after.

    The output has ``ceil(size / stride)`` cells.

    Example:
        >>> same_padding(5, 3, 2)
        (1, 1)
        >>> same_padding(6, 3, 2)
        (0, 1)
    """
    reach = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + reach - size, 0)
    return total // 2, total - total // 2


class SamePad2d(nn.Module):
    """Pad ``(B, C, H, W)`` the way TensorFlow's ``padding="same"`` does, from the input's size.

    The padding can be uneven (one more cell at the bottom and right), which torch's own
    ``padding=`` cannot express; it is computed in ``forward`` so any input size works.

    Args:
        kernel_size: ``(kh, kw)`` of the convolution or pool that follows.
        stride: ``(sh, sw)`` of that convolution or pool.
        dilation: ``(dh, dw)`` of that convolution.
        value: the fill: ``0.0`` before a convolution, ``-inf`` before a max pool.

    Example:
        >>> SamePad2d((3, 3), (2, 2))(torch.zeros(1, 4, 6, 6)).shape
        torch.Size([1, 4, 7, 7])
    """

    def __init__(
        self,
        kernel_size: tuple[int, int],
        stride: tuple[int, int],
        *,
        dilation: tuple[int, int] = (1, 1),
        value: float = 0.0,
    ) -> None:
        super().__init__()
        self.kernel_size = tuple(kernel_size)
        self.stride = tuple(stride)
        self.dilation = tuple(dilation)
        self.value = float(value)

    def forward(self, x: Tensor) -> Tensor:
        """Pad the last two axes of ``x``."""
        top, bottom = same_padding(
            x.shape[-2], self.kernel_size[0], self.stride[0], self.dilation[0]
        )
        left, right = same_padding(
            x.shape[-1], self.kernel_size[1], self.stride[1], self.dilation[1]
        )
        return F.pad(x, (left, right, top, bottom), value=self.value)  # (B, C, H', W')

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, dilation={self.dilation}, "
            f"value={self.value}"
        )


class SameAvgPool2d(nn.Module):
    """Average pooling with TensorFlow's ``padding="same"``: padded cells don't count.

    Each output is the mean of the input cells its window covers, so a window that hangs over
    the edge averages fewer cells. torch's ``AvgPool2d(count_include_pad=False)`` does the same
    only for even padding; this module handles the uneven case too.

    Args:
        kernel_size: ``(kh, kw)``.
        stride: ``(sh, sw)``.

    Example:
        >>> SameAvgPool2d((2, 2), (2, 2))(torch.ones(1, 3, 5, 5)).shape
        torch.Size([1, 3, 3, 3])
    """

    def __init__(self, kernel_size: tuple[int, int], stride: tuple[int, int]) -> None:
        super().__init__()
        self.kernel_size = tuple(kernel_size)
        self.stride = tuple(stride)

    def forward(self, x: Tensor) -> Tensor:
        """Pool the last two axes of ``x``: ``(B, C, H, W) -> (B, C, ceil(H/sh), ceil(W/sw))``."""
        top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        pads = (left, right, top, bottom)
        ones = x.new_ones(1, 1, x.shape[-2], x.shape[-1])  # (1, 1, H, W)
        sums = F.avg_pool2d(F.pad(x, pads), self.kernel_size, self.stride, divisor_override=1)
        counts = F.avg_pool2d(F.pad(ones, pads), self.kernel_size, self.stride, divisor_override=1)
        return sums / counts  # (B, C, H', W')

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class Reshape(nn.Module):
    """Keras ``Reshape``: reshape everything after the batch axis to ``shape`` (one ``-1`` allowed).

    Example:
        >>> Reshape(1, -1)(torch.zeros(2, 8)).shape
        torch.Size([2, 1, 8])
    """

    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: Tensor) -> Tensor:
        """Reshape ``x`` to ``(B, *shape)``."""
        return x.reshape(x.shape[0], *self.shape)  # (B, *shape)

    def extra_repr(self) -> str:
        return ", ".join(str(s) for s in self.shape)


class Permute(nn.Module):
    """Keras ``Permute``: reorder the axes after the batch axis; ``dims`` count from 1.

    Example:
        >>> Permute(2, 1)(torch.zeros(2, 5, 3)).shape
        torch.Size([2, 3, 5])
    """

    def __init__(self, *dims: int) -> None:
        super().__init__()
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(
                f"dims has to be a permutation of 1..{len(dims)}, but got {tuple(dims)}"
            )
        self.dims = tuple(int(d) for d in dims)

    def forward(self, x: Tensor) -> Tensor:
        """Permute ``x`` to ``(B, *x.shape[dims])``."""
        return x.permute(0, *self.dims)  # (B, ...permuted)

    def extra_repr(self) -> str:
        return ", ".join(str(d) for d in self.dims)


class Recurrent(nn.Module):
    """Run a batch-first recurrent module and return what a Keras RNN layer returns.

    Args:
        rnn: ``nn.LSTM``, ``nn.GRU`` (``batch_first=True``) or a ConvLSTM: any module whose
            output is ``(output, state)`` with ``output`` of shape ``(B, T, ...)``.
        return_sequences: return every step ``(B, T, ...)``; otherwise the last one ``(B, ...)``.
        go_backwards: read the sequence from its end, as Keras does; with
            ``return_sequences=True`` the steps come out in reading order (reversed).

    Example:
        >>> rnn = nn.LSTM(8, 16, batch_first=True)
        >>> Recurrent(rnn, return_sequences=False)(torch.zeros(2, 5, 8)).shape
        torch.Size([2, 16])
    """

    def __init__(
        self, rnn: nn.Module, *, return_sequences: bool = True, go_backwards: bool = False
    ) -> None:
        super().__init__()
        self.rnn = rnn
        self.return_sequences = bool(return_sequences)
        self.go_backwards = bool(go_backwards)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``(B, T, ...)`` -> ``(B, T, ...)`` or ``(B, ...)``."""
        if self.go_backwards:
            x = x.flip(1)  # (B, T, ...) last step first
        output: Tensor = self.rnn(x)[0]  # (B, T, ...)
        return output if self.return_sequences else output[:, -1]

    def extra_repr(self) -> str:
        return f"return_sequences={self.return_sequences}, go_backwards={self.go_backwards}"


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(nn.Module):
    """Run a bidirectional torch LSTM or GRU and merge its directions as Keras ``Bidirectional``.

    The backward direction reads the sequence from its end. With ``return_sequences=True`` its
    step ``t`` is the state after reading steps ``T-1`` down to ``t``, aligned to the original
    time order as Keras aligns it; with ``return_sequences=False`` each direction gives its
    final state: the forward one at the last step, the backward one at step 0 (not
    ``output[:, -1]``, where the backward direction has read a single step).

    Args:
        rnn: ``nn.LSTM`` or ``nn.GRU`` with ``batch_first=True``, ``bidirectional=True`` and one
            layer.
        merge_mode: how the two directions' outputs ``(B, ..., U)`` combine: ``"concat"``
            (forward first, ``(B, ..., 2U)``), ``"sum"``, ``"mul"``, ``"ave"``, or ``None`` for the
            tuple ``(forward, backward)``, as Keras returns a list of the two.
        return_sequences: return every step ``(B, T, ...)``; otherwise the final states
            ``(B, ...)``.

    Raises:
        ValueError: ``rnn`` is not a one-layer bidirectional batch-first LSTM or GRU, or
            ``merge_mode`` is not one of the above.

    Example:
        >>> rnn = nn.LSTM(8, 16, batch_first=True, bidirectional=True)
        >>> Bidirectional(rnn, return_sequences=False)(torch.zeros(2, 5, 8)).shape
        torch.Size([2, 32])
    """

    def __init__(
        self,
        rnn: nn.LSTM | nn.GRU,
        *,
        merge_mode: Literal["concat", "sum", "mul", "ave"] | None = "concat",
        return_sequences: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(rnn, nn.LSTM | nn.GRU) or not (
            rnn.bidirectional and rnn.batch_first and rnn.num_layers == 1
        ):
            raise ValueError(
                f"rnn has to be a one-layer nn.LSTM or nn.GRU with batch_first=True and "
                f"bidirectional=True, but got {rnn!r}"
            )
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"merge_mode has to be one of {_MERGE_MODES}, but got {merge_mode!r}")
        self.rnn = rnn
        self.merge_mode = merge_mode
        self.return_sequences = bool(return_sequences)

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """``x``: ``(B, T, F)`` -> ``(B, T, U')`` or ``(B, U')``; a pair if ``merge_mode=None``."""
        if x.dim() != 3 or x.shape[-1] != self.rnn.input_size:
            raise ShapeError(
                f"Bidirectional: expected sequences (B, T, {self.rnn.input_size}), got a tensor "
                f"of shape {format_shape(x.shape)}. Pass batch-first steps with "
                f"{self.rnn.input_size} features each."
            ) from None
        output: Tensor = self.rnn(x)[0]  # (B, T, 2U): forward, then backward in time order
        forward, backward = output.chunk(2, dim=-1)  # (B, T, U) each
        if not self.return_sequences:
            # Each direction's final state: the backward one has read the whole sequence at t=0.
            forward, backward = forward[:, -1], backward[:, 0]  # (B, U) each
        if self.merge_mode == "concat":
            return torch.cat([forward, backward], dim=-1)  # (B, ..., 2U)
        if self.merge_mode == "sum":
            return forward + backward
        if self.merge_mode == "mul":
            return forward * backward
        if self.merge_mode == "ave":
            return (forward + backward) / 2
        return forward, backward

    def extra_repr(self) -> str:
        return f"merge_mode={self.merge_mode!r}, return_sequences={self.return_sequences}"


class ConvertedKeras(nn.Sequential):
    """A converted Keras model: named torch layers run in order, channels-last in and out.

    Built by :func:`from_keras`. It checks the input against the Keras model's input shape
    (``None`` axes accept any size) so a channels-first tensor fails with a clear message.

    Args:
        layers: ``(name, module)`` pairs in the order they run.
        input_shape: the Keras input shape without the batch axis, ``None`` for any size.
        name: the Keras model's name, used in error messages.
    """

    def __init__(
        self,
        layers: Sequence[tuple[str, nn.Module]],
        *,
        input_shape: Sequence[int | None],
        name: str = "model",
    ) -> None:
        super().__init__(OrderedDict(layers))
        self.input_shape = tuple(None if s is None else int(s) for s in input_shape)
        self.keras_name = name

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, ...]:
        """``x``: the Keras model's input layout, e.g. ``(B, H, W, C)``.

        Returns what the Keras model returns: one tensor, or a tuple of two when it ends in a
        ``Bidirectional`` layer with ``merge_mode=None``.
        """
        expected = self.input_shape
        if x.dim() != len(expected) + 1 or any(
            want is not None and want != got
            for want, got in zip(expected, x.shape[1:], strict=True)
        ):
            want_text = "(B, " + ", ".join("?" if s is None else str(s) for s in expected) + ")"
            raise ShapeError(
                f"ConvertedKeras({self.keras_name!r}): expected the Keras model's input layout "
                f"{want_text} (channels last, '?' is any size), got a tensor of shape "
                f"{format_shape(x.shape)}. Pass the tensor you would give the Keras model; "
                f"a channels-first (B, C, H, W) tensor needs x.permute(0, 2, 3, 1) first."
            ) from None
        out: Tensor | tuple[Tensor, ...] = x
        for module in self:
            out = module(out)
        return out

    def extra_repr(self) -> str:
        shape = ", ".join("?" if s is None else str(s) for s in self.input_shape)
        return f"keras_model={self.keras_name!r}, input_shape=(B, {shape})"


# --------------------------------------------------------------------------------------------
# The converter.
# --------------------------------------------------------------------------------------------

# Where the channel axis sits: "last" is Keras order; "first" moves it to dim 1 (torch's conv
# layout); "frames" moves it to dim 2 behind the time axis (ConvLSTM / TimeDistributed(conv)).
_Layout = Literal["last", "first", "frames"]


def _perm(layout: _Layout, ndim: int) -> tuple[int, ...]:
    """Torch dim ``i`` of a tensor in ``layout`` holds Keras axis ``perm[i]``."""
    last = ndim - 1
    if layout == "first" and ndim >= 3:
        return (0, last, *range(1, last))
    if layout == "frames" and ndim >= 4:
        return (0, 1, last, *range(2, last))
    return tuple(range(ndim))


@dataclass(frozen=True)
class _State:
    """What the converter knows about the tensor between two layers."""

    shape: tuple[int | None, ...]  # Keras shape, batch axis included
    perm: tuple[int, ...]  # torch dim i holds Keras axis perm[i]
    outputs: int = 1  # how many tensors of that shape (2 after Bidirectional(merge_mode=None))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def torch_dim(self, keras_axis: int) -> int:
        """The torch dim that holds ``keras_axis`` (negative axes count from the end)."""
        return self.perm.index(keras_axis % self.ndim)


def _describe(layer: Any) -> str:
    return f"layer {layer.name!r} ({type(layer).__name__})"


def _array(value: Any) -> Tensor:
    """A Keras variable (or array) as a float32 torch tensor on the CPU, detached and copied."""
    value = getattr(value, "value", value)  # a keras.Variable holds a backend tensor
    if isinstance(value, Tensor):  # the torch backend: no round trip through numpy
        return value.detach().to("cpu", torch.float32, copy=True)
    import keras

    return torch.from_numpy(np.array(keras.ops.convert_to_numpy(value), dtype=np.float32))


def _set(param: Tensor | None, value: Tensor, *, layer: Any, what: str) -> None:
    if param is None or tuple(param.shape) != tuple(value.shape):
        want = "nothing" if param is None else format_shape(param.shape)
        raise ConfigError(
            f"from_keras: {_describe(layer)}: {what} has shape {format_shape(value.shape)} in "
            f"Keras but the torch layer wants {want}."
        )
    with torch.no_grad():
        param.copy_(value)


def _config(layer: Any) -> dict[str, Any]:
    config: dict[str, Any] = layer.get_config()
    return config


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    first, second = value
    return int(first), int(second)


_ELEMENTWISE: dict[str, Callable[[], nn.Module]] = {
    "linear": nn.Identity,
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": nn.ELU,
    "selu": nn.SELU,
    "celu": nn.CELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "mish": nn.Mish,
    "sigmoid": nn.Sigmoid,
    "hard_sigmoid": nn.Hardsigmoid,
    "hard_silu": nn.Hardswish,
    "hard_swish": nn.Hardswish,
    "hard_tanh": nn.Hardtanh,
    "log_sigmoid": nn.LogSigmoid,
    "tanh": nn.Tanh,
    "tanh_shrink": nn.Tanhshrink,
    "softplus": nn.Softplus,
    "softsign": nn.Softsign,
}


def _activation(name: Any, state: _State, *, layer: Any) -> nn.Module | None:
    """The torch module for a Keras activation name, or None for ``linear``."""
    if name == "linear":
        return None
    if name in ("softmax", "log_softmax"):
        dim = state.torch_dim(-1)
        return nn.Softmax(dim=dim) if name == "softmax" else nn.LogSoftmax(dim=dim)
    if isinstance(name, str) and name in _ELEMENTWISE:
        return _ELEMENTWISE[name]()
    supported = ", ".join(sorted([*_ELEMENTWISE, "softmax", "log_softmax"]))
    raise ConfigError(
        f"from_keras: {_describe(layer)} uses the activation {name!r}, which has no converter; "
        f"supported activations: {supported}."
    )


class _Builder:
    """Collects ``(name, module)`` pairs and the layout adapters between them."""

    def __init__(self) -> None:
        self.modules: list[tuple[str, nn.Module]] = []
        self._names: set[str] = set()

    def add(self, name: str, module: nn.Module | None) -> None:
        if module is None:
            return
        base = re.sub(r"\W", "_", name) or "layer"
        unique, count = base, 1
        while unique in self._names:
            count += 1
            unique = f"{base}_{count}"
        self._names.add(unique)
        self.modules.append((unique, module))

    def to_layout(self, state: _State, layout: _Layout | None) -> _State:
        """Append the adapter that moves ``state`` into ``layout`` (None: any layout will do)."""
        if layout is None:
            return state
        target = _perm(layout, state.ndim)
        if target == state.perm:
            return state
        ndim = state.ndim
        last = _perm("last", ndim)
        if state.perm != last:  # back to Keras order first
            frames = state.perm == _perm("frames", ndim) and ndim >= 4
            self.add("to_channels_last", ChannelsFirstToLast(ndim, frames=frames))
        if target != last:
            self.add("to_channels_first", ChannelsLastToFirst(ndim, frames=layout == "frames"))
        return _State(state.shape, target)

    def single(self) -> nn.Module:
        """The collected modules as one module (itself when there is only one)."""
        if len(self.modules) == 1:
            return self.modules[0][1]
        return nn.Sequential(OrderedDict(self.modules))


_Converter = Callable[[_Builder, Any, _State], _State]


def _expect_rank(layer: Any, state: _State, ranks: Sequence[int], layout_text: str) -> None:
    if state.ndim not in ranks:
        raise ConfigError(
            f"from_keras: {_describe(layer)} expects {layout_text}, but its input has shape "
            f"{state.shape} (batch axis as None)."
        )


def _expect_channels_last(layer: Any) -> None:
    data_format = _config(layer).get("data_format", "channels_last")
    if data_format != "channels_last":
        raise ConfigError(
            f"from_keras: {_describe(layer)} has data_format={data_format!r}; only "
            f"'channels_last' (the Keras default) is supported."
        )


def _out(layer: Any, state: _State, perm_layout: _Layout) -> _State:
    shape = tuple(layer.compute_output_shape(state.shape))
    return _State(shape, _perm(perm_layout, len(shape)))


def _convert_input(builder: _Builder, layer: Any, state: _State) -> _State:
    return state


def _convert_conv2d(builder: _Builder, layer: Any, state: _State) -> _State:
    _expect_rank(layer, state, [4], "images (B, H, W, C)")
    _expect_channels_last(layer)
    config = _config(layer)
    kernel_size, stride = _pair(config["kernel_size"]), _pair(config["strides"])
    dilation, padding = _pair(config["dilation_rate"]), config["padding"]
    if padding not in ("valid", "same"):
        raise ConfigError(
            f"from_keras: {_describe(layer)} has padding={padding!r}; supported: 'valid', 'same'."
        )
    kernel = _array(layer.kernel)  # (kh, kw, C/groups, C')
    conv = nn.Conv2d(
        kernel.shape[2] * int(config["groups"]),
        kernel.shape[3],
        kernel_size,
        stride=stride,
        padding="same" if padding == "same" and stride == (1, 1) else 0,
        dilation=dilation,
        groups=int(config["groups"]),
        bias=bool(config["use_bias"]),
    )
    _set(conv.weight, kernel.permute(3, 2, 0, 1), layer=layer, what="kernel")
    if conv.bias is not None:
        _set(conv.bias, _array(layer.bias), layer=layer, what="bias")
    if padding == "same" and stride != (1, 1):
        builder.add(f"{layer.name}_pad", SamePad2d(kernel_size, stride, dilation=dilation))
    builder.add(layer.name, conv)
    out = _out(layer, state, "first")
    builder.add(f"{layer.name}_act", _activation(config["activation"], out, layer=layer))
    return out


def _convert_pool2d(builder: _Builder, layer: Any, state: _State) -> _State:
    import keras

    _expect_rank(layer, state, [4], "images (B, H, W, C)")
    _expect_channels_last(layer)
    config = _config(layer)
    kernel_size = _pair(config["pool_size"])
    stride = _pair(config["strides"] if config["strides"] is not None else config["pool_size"])
    is_max = isinstance(layer, keras.layers.MaxPooling2D)
    if config["padding"] == "valid":
        pool: nn.Module = (
            nn.MaxPool2d(kernel_size, stride) if is_max else nn.AvgPool2d(kernel_size, stride)
        )
    elif config["padding"] == "same" and is_max:
        builder.add(f"{layer.name}_pad", SamePad2d(kernel_size, stride, value=-math.inf))
        pool = nn.MaxPool2d(kernel_size, stride)
    elif config["padding"] == "same":
        pool = SameAvgPool2d(kernel_size, stride)
    else:
        raise ConfigError(
            f"from_keras: {_describe(layer)} has padding={config['padding']!r}; "
            f"supported: 'valid', 'same'."
        )
    builder.add(layer.name, pool)
    return _out(layer, state, "first")


def _convert_global_pool2d(builder: _Builder, layer: Any, state: _State) -> _State:
    import keras

    _expect_rank(layer, state, [4], "images (B, H, W, C)")
    _expect_channels_last(layer)
    reduction = "max" if isinstance(layer, keras.layers.GlobalMaxPooling2D) else "mean"
    pattern = "b c h w -> b c 1 1" if _config(layer).get("keepdims") else "b c h w -> b c"
    builder.add(layer.name, Reduce(pattern, reduction))
    return _out(layer, state, "first")


def _convert_batch_norm(builder: _Builder, layer: Any, state: _State) -> _State:
    config = _config(layer)
    axis = config["axis"]
    if isinstance(axis, (list, tuple)):
        axis = axis[0] if len(axis) == 1 else None
    if axis is None or int(axis) % state.ndim != state.ndim - 1:
        raise ConfigError(
            f"from_keras: {_describe(layer)} normalizes axis {config['axis']!r}; only the last "
            f"(channel) axis, axis=-1, is supported."
        )
    _expect_rank(layer, state, [2, 3, 4, 5], "(B, F), (B, L, F), (B, H, W, C) or (B, T, H, W, C)")
    kinds: dict[int, type[_BatchNorm]] = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d}
    kind = kinds.get(state.ndim, nn.BatchNorm3d)
    mean = _array(layer.moving_mean)
    scale, center = bool(config["scale"]), bool(config["center"])
    norm = kind(
        mean.shape[0],
        eps=float(config["epsilon"]),
        momentum=round(1.0 - float(config["momentum"]), 12),
        affine=scale or center,
    )
    _set(norm.running_mean, mean, layer=layer, what="moving_mean")
    variance = _array(layer.moving_variance)
    _set(norm.running_var, variance, layer=layer, what="moving_variance")
    if norm.affine:
        if scale:
            _set(norm.weight, _array(layer.gamma), layer=layer, what="gamma")
        else:
            norm.weight.requires_grad_(False)  # Keras scale=False: gamma is fixed at 1
        if center:
            _set(norm.bias, _array(layer.beta), layer=layer, what="beta")
        else:
            norm.bias.requires_grad_(False)  # Keras center=False: beta is fixed at 0
    builder.add(layer.name, norm)
    return _out(layer, state, "first")


def _convert_dropout(builder: _Builder, layer: Any, state: _State) -> _State:
    builder.add(layer.name, nn.Dropout(float(_config(layer)["rate"])))
    return _State(state.shape, state.perm)


def _convert_spatial_dropout2d(builder: _Builder, layer: Any, state: _State) -> _State:
    _expect_rank(layer, state, [4], "images (B, H, W, C)")
    _expect_channels_last(layer)
    builder.add(layer.name, nn.Dropout2d(float(_config(layer)["rate"])))
    return _State(state.shape, state.perm)


def _convert_flatten(builder: _Builder, layer: Any, state: _State) -> _State:
    _expect_channels_last(layer)
    builder.add(layer.name, nn.Flatten(1))
    return _out(layer, state, "last")


def _convert_reshape(builder: _Builder, layer: Any, state: _State) -> _State:
    builder.add(layer.name, Reshape(*_config(layer)["target_shape"]))
    return _out(layer, state, "last")


def _convert_permute(builder: _Builder, layer: Any, state: _State) -> _State:
    builder.add(layer.name, Permute(*_config(layer)["dims"]))
    return _out(layer, state, "last")


def _convert_dense(builder: _Builder, layer: Any, state: _State) -> _State:
    config = _config(layer)
    kernel = _array(layer.kernel)  # (F, F')
    linear = nn.Linear(kernel.shape[0], kernel.shape[1], bias=bool(config["use_bias"]))
    _set(linear.weight, kernel.T, layer=layer, what="kernel")
    if linear.bias is not None:
        _set(linear.bias, _array(layer.bias), layer=layer, what="bias")
    builder.add(layer.name, linear)
    out = _out(layer, state, "last")
    builder.add(f"{layer.name}_act", _activation(config["activation"], out, layer=layer))
    return out


def _convert_activation(builder: _Builder, layer: Any, state: _State) -> _State:
    import keras

    config = _config(layer)
    module: nn.Module | None
    if isinstance(layer, keras.layers.Activation):
        module = _activation(config["activation"], state, layer=layer)
        if module is None:
            module = nn.Identity()
    elif isinstance(layer, keras.layers.Softmax):
        axis = config["axis"]
        if not isinstance(axis, int):
            raise ConfigError(
                f"from_keras: {_describe(layer)} has axis={axis!r}; only a single "
                f"integer axis is supported."
            )
        module = nn.Softmax(dim=state.torch_dim(axis))
    elif isinstance(layer, keras.layers.LeakyReLU):
        module = nn.LeakyReLU(float(config["negative_slope"]))
    elif isinstance(layer, keras.layers.ELU):
        module = nn.ELU(float(config["alpha"]))
    else:  # keras.layers.ReLU
        slope, threshold, top = config["negative_slope"], config["threshold"], config["max_value"]
        if threshold != 0 or (slope != 0 and top is not None):
            raise ConfigError(
                f"from_keras: {_describe(layer)} has threshold={threshold} and negative_slope="
                f"{slope} with max_value={top}; supported: threshold=0 and either a "
                f"negative_slope or a max_value."
            )
        if slope != 0:
            module = nn.LeakyReLU(float(slope))
        elif top is None:
            module = nn.ReLU()
        else:
            module = nn.Hardtanh(0.0, float(top))
    builder.add(layer.name, module)
    return _State(state.shape, state.perm)


def _check_recurrent(layer: Any, config: dict[str, Any], *, describe: str | None = None) -> None:
    """Refuse recurrent options torch's layers cannot follow; ``describe`` names the layer."""
    problems = []
    if config.get("stateful"):
        problems.append("stateful=True")
    if config.get("return_state"):
        problems.append("return_state=True (a single-output chain is needed)")
    if config.get("activation") != "tanh":
        problems.append(f"activation={config.get('activation')!r} (torch needs 'tanh')")
    if config.get("recurrent_activation") != "sigmoid":
        problems.append(
            f"recurrent_activation={config.get('recurrent_activation')!r} (torch needs 'sigmoid')"
        )
    if config.get("reset_after") is False:
        problems.append(
            "reset_after=False (torch's GRU applies the reset gate after the "
            "recurrent matmul: Keras' default reset_after=True)"
        )
    if problems:
        raise ConfigError(
            f"from_keras: {describe or _describe(layer)} cannot be converted: "
            + "; ".join(problems)
            + "."
        )


def _torch_rnn(layer: Any, *, bidirectional: bool = False) -> nn.LSTM | nn.GRU:
    """A batch-first torch LSTM or GRU sized like the Keras ``LSTM`` or ``GRU`` ``layer``."""
    import keras

    config = _config(layer)
    kind = nn.LSTM if isinstance(layer, keras.layers.LSTM) else nn.GRU
    features = int(layer.cell.kernel.shape[0])  # the kernel is (F, G*U)
    return kind(
        features,
        int(config["units"]),
        batch_first=True,
        bias=bool(config["use_bias"]),
        bidirectional=bidirectional,
    )


def _copy_recurrent_weights(rnn: nn.LSTM | nn.GRU, layer: Any, *, suffix: str = "") -> None:
    """Copy a Keras ``LSTM`` or ``GRU`` layer's weights into one direction of ``rnn``.

    ``suffix`` picks the direction: ``""`` for the forward one, ``"_reverse"`` for the backward
    one of a bidirectional ``rnn``.
    """
    cell = layer.cell
    kernel = _array(cell.kernel)  # (F, G*U), Keras gate blocks side by side
    recurrent = _array(cell.recurrent_kernel)  # (U, G*U)
    units = recurrent.shape[0]
    biases: tuple[Tensor, Tensor] | None = None
    if isinstance(rnn, nn.LSTM):
        # Keras gates i, f, c, o are torch's i, f, g, o; Keras has one bias, torch two.
        order = [0, 1, 2, 3]
        if rnn.bias:
            biases = (_array(cell.bias), torch.zeros(4 * units))
    else:
        # Keras gates z, r, h; torch r, z, n. The bias is (2, 3U): input and recurrent parts.
        order = [1, 0, 2]
        if rnn.bias:
            bias = _array(cell.bias)  # (2, 3U)
            biases = (bias[0], bias[1])

    def gates(t: Tensor) -> Tensor:
        blocks = t.chunk(len(order), dim=-1)
        return torch.cat([blocks[g] for g in order], dim=-1)

    def param(name: str) -> Tensor:
        return rnn.get_parameter(f"{name}_l0{suffix}")

    _set(param("weight_ih"), gates(kernel).T, layer=layer, what="kernel")
    _set(param("weight_hh"), gates(recurrent).T, layer=layer, what="recurrent_kernel")
    if biases is not None:
        _set(param("bias_ih"), gates(biases[0]), layer=layer, what="bias")
        _set(param("bias_hh"), gates(biases[1]), layer=layer, what="bias")


def _convert_lstm_gru(builder: _Builder, layer: Any, state: _State) -> _State:
    _expect_rank(layer, state, [3], "sequences (B, T, F)")
    config = _config(layer)
    _check_recurrent(layer, config)
    rnn = _torch_rnn(layer)
    _copy_recurrent_weights(rnn, layer)
    module = Recurrent(
        rnn,
        return_sequences=bool(config["return_sequences"]),
        go_backwards=bool(config["go_backwards"]),
    )
    builder.add(layer.name, module)
    return _out(layer, state, "last")


def _convert_bidirectional(builder: _Builder, layer: Any, state: _State) -> _State:
    import keras

    _expect_rank(layer, state, [3], "sequences (B, T, F)")
    forward, backward = layer.forward_layer, layer.backward_layer
    for direction, inner in (("forward", forward), ("backward", backward)):
        if type(inner) not in (keras.layers.LSTM, keras.layers.GRU):
            raise ConfigError(
                f"from_keras: {_describe(layer)} wraps {_describe(inner)} as its {direction} "
                f"layer; only LSTM and GRU can be converted inside Bidirectional."
            )
        _check_recurrent(
            inner,
            _config(inner),
            describe=f"{_describe(layer)}: its {direction} {_describe(inner)}",
        )
    problems = []
    if type(backward) is not type(forward):
        problems.append(
            f"backward_layer is {type(backward).__name__} but the forward layer is "
            f"{type(forward).__name__}"
        )
    for setting in ("units", "use_bias"):
        ours, theirs = _config(forward)[setting], _config(backward)[setting]
        if ours != theirs:
            problems.append(
                f"backward_layer has {setting}={theirs!r}, the forward layer {setting}={ours!r}"
            )
    if forward.go_backwards:
        problems.append(
            "the forward layer has go_backwards=True and the backward_layer go_backwards=False "
            "(Keras's fused GPU path and its CPU path disagree on that); pass the "
            "go_backwards=True layer as backward_layer"
        )
    if problems:
        raise ConfigError(
            f"from_keras: {_describe(layer)} cannot be converted: "
            + "; ".join(problems)
            + ". It becomes one bidirectional torch LSTM or GRU, whose two directions have the "
            "same kind, units and use_bias."
        )
    rnn = _torch_rnn(forward, bidirectional=True)
    _copy_recurrent_weights(rnn, forward)
    _copy_recurrent_weights(rnn, backward, suffix="_reverse")
    module = Bidirectional(
        rnn, merge_mode=layer.merge_mode, return_sequences=bool(layer.return_sequences)
    )
    builder.add(layer.name, module)
    # One output's shape: with merge_mode=None Keras returns two of them.
    shape = tuple(forward.compute_output_shape(state.shape))
    if layer.merge_mode == "concat":
        shape = (*shape[:-1], 2 * shape[-1])
    outputs = 2 if layer.merge_mode is None else 1
    return _State(shape, _perm("last", len(shape)), outputs=outputs)


def _convert_conv_lstm2d(builder: _Builder, layer: Any, state: _State) -> _State:
    from cnnlstm.layers.convlstm import ConvLSTM

    _expect_rank(layer, state, [5], "clips (B, T, H, W, C)")
    _expect_channels_last(layer)
    config = _config(layer)
    _check_recurrent(layer, config)
    problems = []
    padding = config["padding"]
    if padding not in ("same", "valid"):
        problems.append(f"padding={padding!r} (supported: 'same', 'valid')")
    if _pair(config["strides"]) != (1, 1):
        problems.append(f"strides={config['strides']} (only 1 is supported)")
    if _pair(config["dilation_rate"]) != (1, 1):
        problems.append(f"dilation_rate={config['dilation_rate']} (only 1 is supported)")
    if problems:
        raise ConfigError(
            f"from_keras: {_describe(layer)} cannot be converted: " + "; ".join(problems) + "."
        )
    cell = layer.cell
    kernel = _array(cell.kernel)  # (kh, kw, C, 4*C'), gates i, f, c, o like torch's i, f, g, o
    recurrent = _array(cell.recurrent_kernel)  # (kh, kw, C', 4*C')
    filters, use_bias = int(config["filters"]), bool(config["use_bias"])
    convlstm = ConvLSTM(
        kernel.shape[2],
        filters,
        _pair(config["kernel_size"]),
        bias=use_bias,
        batch_first=True,
        padding=padding,  # the input convolution's; Keras's recurrent one is always "same"
    )
    input_conv, hidden_conv = _convlstm_convs(convlstm, layer)
    _set(input_conv.weight, kernel.permute(3, 2, 0, 1), layer=layer, what="kernel")
    _set(hidden_conv.weight, recurrent.permute(3, 2, 0, 1), layer=layer, what="recurrent_kernel")
    if use_bias:
        if input_conv.bias is None:
            raise ConfigError(f"from_keras: {_describe(layer)}: the ConvLSTM has no input bias.")
        _set(input_conv.bias, _array(cell.bias), layer=layer, what="bias")
    module = Recurrent(
        convlstm,
        return_sequences=bool(config["return_sequences"]),
        go_backwards=bool(config["go_backwards"]),
    )
    builder.add(layer.name, module)
    return _out(layer, state, "frames" if module.return_sequences else "first")


def _convlstm_convs(convlstm: nn.Module, layer: Any) -> tuple[nn.Conv2d, nn.Conv2d]:
    """The ``input_conv`` and ``hidden_conv`` of a one-layer ConvLSTM's only cell."""
    cells = getattr(convlstm, "cells", None)
    cell = cells[0] if isinstance(cells, nn.ModuleList) and len(cells) == 1 else None
    input_conv = getattr(cell, "input_conv", None)
    hidden_conv = getattr(cell, "hidden_conv", None)
    if not isinstance(input_conv, nn.Conv2d) or not isinstance(hidden_conv, nn.Conv2d):
        raise ConfigError(
            f"from_keras: {_describe(layer)}: cnnlstm's ConvLSTM no longer has one cell with "
            f"Conv2d input_conv and hidden_conv at cells[0]; the converter needs updating."
        )
    return input_conv, hidden_conv


def _inner_layers(model: Any) -> list[Any]:
    """The layers of a nested Keras model, in order (a linear chain is required)."""
    return list(_chain(model))


def _wants(layer: Any) -> _Layout | None:
    """The layout a layer's converter asks for first (None when any layout will do)."""
    import keras

    if isinstance(layer, keras.Model):
        for inner in _inner_layers(layer):
            wanted = _wants(inner)
            if wanted is not None:
                return wanted
        return None
    if isinstance(layer, keras.layers.TimeDistributed):
        inner_wants = _wants(layer.layer)
        if inner_wants == "first":
            return "frames"  # channels first per frame is (B, T, C, H, W) for the sequence
        return "last" if inner_wants == "last" else None
    converter = _converters().get(type(layer))
    return _WANTS.get(converter) if converter is not None else None


def _convert_time_distributed(builder: _Builder, layer: Any, state: _State) -> _State:
    from cnnlstm.layers.time_distributed import TimeDistributed

    if state.ndim < 3:
        raise ConfigError(
            f"from_keras: {_describe(layer)} needs a sequence (B, T, ...), but its input has "
            f"shape {state.shape}."
        )
    if state.perm[1] != 1:  # the time axis has to stay at dim 1
        state = builder.to_layout(state, "last")
    frame = _State((state.shape[0], *state.shape[2:]), (0, *(p - 1 for p in state.perm[2:])))
    inner = _Builder()
    frame = _convert_into(inner, layer.layer, frame)
    builder.add(layer.name, TimeDistributed(inner.single()))
    shape = (state.shape[0], state.shape[1], *frame.shape[1:])
    return _State(shape, (0, 1, *(p + 1 for p in frame.perm[1:])))


def _convert_model(builder: _Builder, layer: Any, state: _State) -> _State:
    for inner in _inner_layers(layer):
        state = _convert_into(builder, inner, state)
    return state


_WANTS: dict[_Converter, _Layout | None] = {
    _convert_conv2d: "first",
    _convert_pool2d: "first",
    _convert_global_pool2d: "first",
    _convert_batch_norm: "first",
    _convert_spatial_dropout2d: "first",
    _convert_flatten: "last",
    _convert_reshape: "last",
    _convert_permute: "last",
    _convert_dense: "last",
    _convert_lstm_gru: "last",
    _convert_bidirectional: "last",
    _convert_conv_lstm2d: "frames",
}


def _converters() -> dict[type, _Converter]:
    import keras

    layers = keras.layers
    return {
        layers.InputLayer: _convert_input,
        layers.Conv2D: _convert_conv2d,
        layers.MaxPooling2D: _convert_pool2d,
        layers.AveragePooling2D: _convert_pool2d,
        layers.GlobalAveragePooling2D: _convert_global_pool2d,
        layers.GlobalMaxPooling2D: _convert_global_pool2d,
        layers.BatchNormalization: _convert_batch_norm,
        layers.Dropout: _convert_dropout,
        layers.SpatialDropout2D: _convert_spatial_dropout2d,
        layers.Flatten: _convert_flatten,
        layers.Reshape: _convert_reshape,
        layers.Permute: _convert_permute,
        layers.Dense: _convert_dense,
        layers.Activation: _convert_activation,
        layers.ReLU: _convert_activation,
        layers.LeakyReLU: _convert_activation,
        layers.ELU: _convert_activation,
        layers.Softmax: _convert_activation,
        layers.LSTM: _convert_lstm_gru,
        layers.GRU: _convert_lstm_gru,
        layers.Bidirectional: _convert_bidirectional,
        layers.ConvLSTM2D: _convert_conv_lstm2d,
        layers.TimeDistributed: _convert_time_distributed,
        keras.Sequential: _convert_model,
    }


def _convert_into(builder: _Builder, layer: Any, state: _State) -> _State:
    """Append the modules for one Keras layer (or nested model) and return the new state."""
    import keras

    if state.outputs > 1:
        raise ConfigError(
            f"from_keras: {_describe(layer)} follows a layer that returns {state.outputs} "
            f"tensors (Bidirectional with merge_mode=None); only a model's last layer may."
        )
    converters = _converters()
    converter = converters.get(type(layer))
    if converter is None and type(layer).__name__ == "Functional":
        converter = _convert_model  # a functional keras.Model(inputs, outputs) nested inside
    if converter is None:
        names = sorted(
            {cls.__name__ for cls in converters if cls is not keras.Sequential} | {"Sequential"}
        )
        raise ConfigError(
            f"from_keras: {_describe(layer)} has no converter. Supported layers: "
            f"{', '.join(names)}; TimeDistributed may wrap any of them."
        )
    state = builder.to_layout(state, _wants(layer))
    return converter(builder, layer, state)


def _one_layers_outputs(tensors: Sequence[Any]) -> bool:
    """Whether ``tensors`` are all the outputs of one layer call, in the order it returns them."""
    operation, node_index, _ = tensors[0]._keras_history
    produced = list(operation._inbound_nodes[node_index].output_tensors)
    return len(produced) == len(tensors) and all(
        mine is theirs for mine, theirs in zip(produced, tensors, strict=True)
    )


def _chain(model: Any) -> Iterator[Any]:
    """The layers of a Sequential model, or of a functional model that is a single chain."""
    import keras

    if isinstance(model, keras.Sequential):
        yield from model.layers
        return
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, ValueError):
        inputs, outputs = [], []
    several = len(outputs) > 1 and not _one_layers_outputs(outputs)
    if len(inputs) != 1 or not outputs or several:
        raise ConfigError(
            f"from_keras: model {model.name!r} ({type(model).__name__}) has {len(inputs)} inputs "
            f"and {len(outputs)} outputs; only a chain from one input to one output (or to all "
            f"the outputs of its last layer, in order) is supported (build it with keras.Input "
            f"so it has a known input)."
        )
    ops: list[Any] = []
    taken = outputs  # the tensors the model, or the layer after, takes from the next one back
    while taken[0] is not inputs[0]:
        operation, node_index, _ = taken[0]._keras_history
        node = operation._inbound_nodes[node_index]
        produced = list(node.output_tensors)
        if len(produced) != len(taken):
            raise ConfigError(
                f"from_keras: model {model.name!r} takes {len(taken)} of the {len(produced)} "
                f"outputs of {_describe(operation)}; only a layer's whole output is supported."
            )
        if len(node.input_tensors) != 1:
            raise ConfigError(
                f"from_keras: {_describe(operation)} in model {model.name!r} takes "
                f"{len(node.input_tensors)} inputs; only a chain of single-input layers is "
                f"supported (no branches, merges or skip connections)."
            )
        ops.append(operation)
        taken = [node.input_tensors[0]]
    yield from reversed(ops)


def from_keras(model: Any) -> ConvertedKeras:
    """Convert a Keras 3 model into a PyTorch module with the same weights and the same outputs.

    The module takes what the Keras model takes (channels last, e.g. ``(B, H, W, C)`` or
    ``(B, T, H, W, C)``) and returns what it returns, in the same layout. The weights are copied
    into torch ``Parameter`` s and buffers, so the module trains on its own afterwards.

    Args:
        model: a built ``keras.Sequential``, or a functional ``keras.Model`` that is a single
            chain of layers from one input to one output (or to both outputs of a final
            ``Bidirectional(merge_mode=None)``). Nested ``Sequential`` models and
            ``TimeDistributed`` around supported layers are fine.

    Returns:
        A :class:`ConvertedKeras` (an ``nn.Sequential`` of named torch layers), in eval mode
        like ``model.predict``: call ``.train()`` to fine-tune it.

    Raises:
        ConfigError: a layer without a converter, or an option with no torch equivalent (a
            non-default data format, a ConvLSTM2D with strides or dilation other than 1, an
            activation torch's LSTM cannot use, a ``Bidirectional`` whose ``backward_layer``
            differs from the forward layer in kind, units or use_bias, ...). The message names
            the layer and what is unsupported.

    Example:
        >>> import keras  # with KERAS_BACKEND=torch
        >>> model = keras.Sequential([
        ...     keras.Input((16, 16, 3)),
        ...     keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        ...     keras.layers.GlobalAveragePooling2D(),
        ...     keras.layers.Reshape((1, -1)),
        ...     keras.layers.LSTM(12),
        ...     keras.layers.Dense(5),
        ... ])
        >>> from_keras(model)(torch.zeros(2, 16, 16, 3)).shape
        torch.Size([2, 5])
    """
    import keras

    if not isinstance(model, keras.Model):
        raise ConfigError(
            f"from_keras: expected a keras.Model (Sequential or functional), got "
            f"{type(model).__name__}."
        )
    if not isinstance(model, keras.Sequential) and type(model).__name__ != "Functional":
        raise ConfigError(
            f"from_keras: model {model.name!r} is a subclassed keras.Model ({type(model).__name__}"
            f") whose call() is Python code; only Sequential models and functional "
            f"keras.Model(inputs, outputs) chains can be converted."
        )
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError):
        inputs = []
    if len(inputs) != 1:
        raise ConfigError(
            f"from_keras: model {model.name!r} has {len(inputs)} inputs; it has to be built with "
            f"one input (start a Sequential with keras.Input(shape)) so its shapes are known."
        )
    shape = tuple(None if s is None else int(s) for s in inputs[0].shape)
    state = _State(shape, _perm("last", len(shape)))
    builder = _Builder()
    for layer in _chain(model):
        state = _convert_into(builder, layer, state)
    state = builder.to_layout(state, "last")
    converted = ConvertedKeras(builder.modules, input_shape=shape[1:], name=model.name)
    return converted.eval()
