"""ConvLSTM (Shi et al. 2015): an LSTM whose gates are convolutions, so the state keeps the grid.

A Conv -> LSTM model flattens each frame into a vector before the recurrence; a ConvLSTM keeps
``(C, H, W)`` all the way through, which is what next-frame prediction, precipitation nowcasting
and per-pixel scores need. ``ConvLSTM`` works on 2-D frames, ``ConvLSTM1d`` on 1-D signals
(``(B, T, C, W)``) and ``ConvLSTM3d`` on volumes (``(B, T, C, D, H, W)``).

Each cell computes, with ``*`` a convolution and ``∘`` the elementwise product::

    i, f, g, o = split(W_x * x_t + W_h * h_{t-1} + b)      # gate order (i, f, g, o)
    i = σ(i + p_i ∘ c_{t-1});  f = σ(f + p_f ∘ c_{t-1});  g = tanh(g)
    c_t = f ∘ c_{t-1} + i ∘ g
    o = σ(o + p_o ∘ c_t);  h_t = o ∘ tanh(c_t)

(the ``p`` terms only with ``peephole=True``). ``activation=`` replaces both ``tanh`` and
``recurrent_activation=`` every ``σ`` (Keras ``ConvLSTM2D``'s arguments of the same names), from
:data:`ACTIVATIONS`: a model trained with ``activation="relu"`` or tf.keras 2's
``recurrent_activation="hard_sigmoid"`` runs as it was trained. The fused pointwise step below
serves tanh/sigmoid; any other pair runs the same few elementwise ops, one kernel each.

``W_h * h`` is always "same"-padded; ``W_x * x`` is too by default, and with
``padding="valid"`` (Keras ``ConvLSTM2D``'s default) it is unpadded, so the state grid is the
frame grid shrunk by ``kernel_size - 1`` on each axis (and again by each stacked layer).

For speed, ``W_x * x_t`` runs for many time steps in one convolution folded into the batch (in
chunks of :data:`INPUT_CONV_CHUNK_BYTES`) and only ``W_h * h_{t-1}`` step by step (skipped at
the first step from a zero state); with eager autograd, a cell without norm or peepholes runs
its pointwise step as one autograd function (:class:`_LSTMPointwise`). Where the time goes is
in the manual's design notes.

Parameter layout (the Keras import relies on these names): ``ConvLSTM.cells[k]`` for layer ``l``
and direction ``d`` is at ``k = l * num_directions + d`` (the order of ``h_n``, as in
``torch.nn.LSTM``); every cell has ``input_conv`` (``in -> 4*hidden``, with the bias) and
``hidden_conv`` (``hidden -> 4*hidden``, no bias), whose output channels are the gates in the
order (i, f, g, o), and with ``peephole=True`` the parameters ``peephole_i``, ``peephole_f``,
``peephole_o`` of shape ``(hidden, 1, ..., 1)``.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, TypeAlias, cast

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from cnnlstm.errors import ShapeError
from cnnlstm.functional import (
    channels_last_hint,
    check_lengths,
    fold_time,
    format_shape,
    unfold_time,
)

__all__ = [
    "ACTIVATIONS",
    "INPUT_CONV_CHUNK_BYTES",
    "Activation",
    "ConvLSTM",
    "ConvLSTM1d",
    "ConvLSTM2d",
    "ConvLSTM3d",
    "ConvLSTMCell",
    "ConvLSTMCell1d",
    "ConvLSTMCell2d",
    "ConvLSTMCell3d",
    "activate",
]

#: The input convolution runs on as many steps at once (folded into the batch) as keep its output,
#: the gate pre-activations, within this many bytes. On CPU, one call over all steps of a large
#: clip (e.g. 160 MB for B=4, T=10, 64x64, hidden 64) was slower than a call per step whose
#: output stays in cache; small frames still get all their steps in one call.
INPUT_CONV_CHUNK_BYTES = 16 * 2**20

ACTIVATIONS = (
    "tanh",
    "sigmoid",
    "hard_sigmoid",
    "hard_sigmoid_tf2",
    "relu",
    "linear",
    "elu",
    "selu",
    "softsign",
)
"""The names :func:`activate` (and a ConvLSTM's ``activation`` / ``recurrent_activation``) take.

``"hard_sigmoid"`` is Keras 3's and torch's ``relu6(x + 3) / 6``; ``"hard_sigmoid_tf2"`` is
tf.keras 2's ``clip(0.2 x + 0.5, 0, 1)``, the default ``recurrent_activation`` of its ``LSTM``,
``GRU`` and ``ConvLSTM2D`` before TensorFlow 2.0 (and of models saved with it explicitly)."""


def activate(x: Tensor, name: str) -> Tensor:
    """Apply the activation ``name`` (one of :data:`ACTIVATIONS`) elementwise.

    Plain ops that TorchScript compiles, so the scripted ConvLSTM loop of :mod:`cnnlstm.export`
    runs them too.

    Example:
        >>> activate(torch.tensor([-10.0, 0.0, 1.0]), "hard_sigmoid_tf2")
        tensor([0.0000, 0.5000, 0.7000])
    """
    if name == "tanh":
        return torch.tanh(x)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "hard_sigmoid":
        return F.hardsigmoid(x)
    if name == "hard_sigmoid_tf2":
        return torch.clamp(x * 0.2 + 0.5, 0.0, 1.0)
    if name == "relu":
        return torch.relu(x)
    if name == "linear":
        return x
    if name == "elu":
        return F.elu(x)
    if name == "selu":
        return torch.selu(x)
    if name == "softsign":
        return x / (1.0 + torch.abs(x))
    raise ValueError(
        "activation has to be one of tanh, sigmoid, hard_sigmoid, hard_sigmoid_tf2, relu, "
        "linear, elu, selu, softsign, but got " + name
    )


class Activation(nn.Module):
    """:func:`activate` as a module: ``Activation("relu")(x)``.

    A converted Keras model uses it for tf.keras 2's ``hard_sigmoid`` after a layer. A ConvLSTM
    cell calls :func:`activate` itself, with its activation names as TorchScript constants.

    Example:
        >>> Activation("hard_sigmoid_tf2")(torch.tensor([0.0, 5.0]))
        tensor([0.5000, 1.0000])
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = _check_activation("name", name)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the activation elementwise."""
        return activate(x, self.name)

    def extra_repr(self) -> str:
        return repr(self.name)


def _check_activation(argument: str, name: object) -> str:
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"{argument} has to be one of {', '.join(ACTIVATIONS)}, but got {name!r}")
    return name


NormKind: TypeAlias = Literal["layer", "group"]
PaddingKind: TypeAlias = Literal["same", "valid"]
#: ``h_n`` or ``c_n``: one stacked tensor when every layer has the same hidden size, else one
#: tensor per layer.
LayerStates: TypeAlias = Tensor | tuple[Tensor, ...]

_CONVS: dict[int, type[nn.Conv1d] | type[nn.Conv2d] | type[nn.Conv3d]] = {
    1: nn.Conv1d,
    2: nn.Conv2d,
    3: nn.Conv3d,
}
_SPATIAL_AXES = {1: ("W",), 2: ("H", "W"), 3: ("D", "H", "W")}
_CLASS_FOR_DIMS = {1: "ConvLSTM1d", 2: "ConvLSTM", 3: "ConvLSTM3d"}
_NORMS = (None, "layer", "group")
_PADDINGS = ("same", "valid")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_positive_int(name: str, value: object) -> int:
    if not _is_int(value) or cast(int, value) < 1:
        raise ValueError(f"{name} has to be a positive integer, but got {value!r}")
    return cast(int, value)


def _kernel_tuple(kernel_size: int | Sequence[int], spatial_dims: int) -> tuple[int, ...]:
    sizes: Sequence[object] = (
        (kernel_size,) * spatial_dims
        if isinstance(kernel_size, int)
        else kernel_size
        if isinstance(kernel_size, Sequence)
        else ()
    )
    if len(sizes) != spatial_dims or not all(_is_int(k) and cast(int, k) >= 1 for k in sizes):
        raise ValueError(
            f"kernel_size has to be a positive integer or a tuple of {spatial_dims} positive "
            f"integers, but got {kernel_size!r}"
        )
    return tuple(cast(int, k) for k in sizes)


def _check_padding(padding: object) -> PaddingKind:
    if padding not in _PADDINGS:
        raise ValueError(f"padding has to be 'same' or 'valid', but got {padding!r}")
    return cast(PaddingKind, padding)


def _default_groups(hidden_channels: int) -> int:
    """The largest divisor of ``hidden_channels`` that is at most 8 (GroupNorm's usual size)."""
    return max(g for g in range(1, 9) if hidden_channels % g == 0)


def _axes(spatial_dims: int, *, batch_first: bool = True, frame: bool = False) -> list[str]:
    leading = ["B"] if frame else ["B", "T"] if batch_first else ["T", "B"]
    return [*leading, "C", *_SPATIAL_AXES[spatial_dims]]


def _layout(spatial_dims: int, *, batch_first: bool = True, frame: bool = False) -> str:
    return "(" + ", ".join(_axes(spatial_dims, batch_first=batch_first, frame=frame)) + ")"


def _channels_hint(
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


#: The start of the warning torch gives for a "same"-padded convolution with an even kernel.
_EVEN_KERNEL_WARNING = r"Using padding='same' with even kernel lengths and odd dilation"


@functools.cache
def _spend_even_kernel_warning() -> None:
    """Let torch give its even-kernel ``padding='same'`` warning once, silenced.

    Even kernels are supported (the extra padding goes right/bottom, as in Keras), so the
    warning, about a padded copy of the input, is noise to a ConvLSTM user. torch gives it once
    per process (``TORCH_WARN_ONCE``, one call site for 1-D, 2-D and 3-D convolutions), so one
    tiny convolution under a filter scoped to it, when the first even-kernel cell is built,
    spends it: the per-step convolutions then run without a ``catch_warnings`` around each.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_EVEN_KERNEL_WARNING, category=UserWarning)
        F.conv1d(torch.zeros(1, 1, 2), torch.zeros(1, 1, 2), padding="same")


def _eager() -> bool:
    """Whether ops run eagerly: not traced, compiled, exported or under a torch.func transform."""
    return not (
        torch.jit.is_tracing()  # type: ignore[attr-defined,no-untyped-call]
        or torch.compiler.is_compiling()
        or torch._C._are_functorch_transforms_active()
    )


def _lstm_pointwise(
    gates_x: Tensor, gates_h: Tensor | None, c: Tensor | None
) -> tuple[Tensor, Tensor]:
    """The plain LSTM update from gate pre-activations, in few kernels (eager autograd path).

    ``gates = gates_x + gates_h`` (``gates_h`` None for zero), split (i, f, g, o);
    ``c_t = σ(f) ∘ c + σ(i) ∘ tanh(g)``; ``h_t = σ(o) ∘ tanh(c_t)``.

    Args:
        gates_x: ``(B, 4*hidden, *S)``, the input convolution of the step (with the bias).
        gates_h: ``(B, 4*hidden, *S)``, the hidden convolution, or None when ``h`` is zero.
        c: ``(B, hidden, *S)`` previous cell state, or None for zeros.

    Returns:
        ``(h_t, c_t)``, each ``(B, hidden, *S)``.

    Example:
        >>> h, c = _lstm_pointwise(torch.randn(2, 12, 5, 5), None, torch.randn(2, 3, 5, 5))
        >>> h.shape
        torch.Size([2, 3, 5, 5])
    """
    return cast(tuple[Tensor, Tensor], _LSTMPointwise.apply(gates_x, gates_h, c))  # type: ignore[no-untyped-call]


class _LSTMPointwise(torch.autograd.Function):
    """Autograd function of :func:`_lstm_pointwise`: one gate buffer forward, one backward.

    Written with autograd, the gate split costs a ``cat`` of the four gate gradients per step
    (a copy of the whole ``(B, 4*hidden, *S)`` tensor) and a dozen saved intermediates. Here the
    activations go into one buffer (sigmoid over it, tanh over the g block in place), and the
    backward writes the four gate gradients straight into their blocks of one gradient buffer,
    which both convolutions' backward passes read. First derivatives only (it is used when
    gradients are recorded eagerly; tracing, compiling and inference take the plain ops).
    """

    @staticmethod
    def forward(
        ctx: Any, gates_x: Tensor, gates_h: Tensor | None, c: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        act = gates_x.clone() if gates_h is None else torch.add(gates_x, gates_h)
        i, f, g, o = act.chunk(4, dim=1)  # each (B, hidden, *S), views of act
        act[:, : 2 * g.shape[1]].sigmoid_()  # i and f, adjacent blocks: one kernel
        g.tanh_()
        o.sigmoid_()
        c_new = i * g
        if c is not None:
            c_new.addcmul_(f, c)
        tanh_c = torch.tanh(c_new)
        h_new = o * tanh_c
        ctx.save_for_backward(act, c, tanh_c)
        ctx.set_materialize_grads(False)
        ctx.has_h = gates_h is not None
        return h_new, c_new

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(
        ctx: Any, grad_h: Tensor | None, grad_c: Tensor | None
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        act, c, tanh_c = ctx.saved_tensors
        i, f, g, o = act.chunk(4, dim=1)
        grad = torch.empty_like(act)  # (B, 4*hidden, *S): d loss / d gates
        grad_i, grad_f, grad_g, grad_o = grad.chunk(4, dim=1)
        aten = torch.ops.aten
        if grad_h is None:
            grad_o.zero_()
            if grad_c is None:
                grad.zero_()
                return grad, (grad if ctx.has_h else None), None
            grad_c_total = grad_c
        else:
            aten.sigmoid_backward.grad_input(grad_h * tanh_c, o, grad_input=grad_o)
            grad_c_total = aten.tanh_backward(grad_h * o, tanh_c)  # through h = o tanh(c)
            if grad_c is not None:
                grad_c_total += grad_c
        aten.sigmoid_backward.grad_input(grad_c_total * g, i, grad_input=grad_i)
        aten.tanh_backward.grad_input(grad_c_total * i, g, grad_input=grad_g)
        grad_c_prev = None
        if c is None:
            grad_f.zero_()
        else:
            aten.sigmoid_backward.grad_input(grad_c_total * c, f, grad_input=grad_f)
            if ctx.needs_input_grad[2]:
                grad_c_prev = grad_c_total * f
        return grad, (grad if ctx.has_h else None), grad_c_prev


class _ConvLSTMCellNd(nn.Module):
    """One ConvLSTM cell over ``spatial_dims``-D grids; see :class:`ConvLSTMCell`."""

    spatial_dims: ClassVar[int] = 2
    # Constants, not submodules: the scripted export loop (cnnlstm.export) compiles update()
    # with the names folded in, a type of its own per pair of activations. Held as Activation
    # submodules, their calls broke torch.jit.trace around that loop from the second trace in a
    # process on ("Argument passed to at() was not in the map").
    __constants__ = ("activation", "recurrent_activation")

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: int | Sequence[int] = 3,
        *,
        bias: bool = True,
        peephole: bool = False,
        norm: NormKind | None = None,
        norm_groups: int | None = None,
        padding: PaddingKind = "same",
        activation: str = "tanh",
        recurrent_activation: str = "sigmoid",
    ) -> None:
        super().__init__()
        self.in_channels = _check_positive_int("in_channels", in_channels)
        self.hidden_channels = _check_positive_int("hidden_channels", hidden_channels)
        self.activation = _check_activation("activation", activation)
        self.recurrent_activation = _check_activation("recurrent_activation", recurrent_activation)
        self.kernel_size = _kernel_tuple(kernel_size, self.spatial_dims)
        self.padding = _check_padding(padding)
        if norm not in _NORMS:
            raise ValueError(f"norm has to be None, 'layer' or 'group', but got {norm!r}")
        if norm != "group" and norm_groups is not None:
            raise ValueError(
                f"norm_groups has to be None unless norm='group', but got norm_groups="
                f"{norm_groups!r} with norm={norm!r}"
            )
        self.bias = bool(bias)
        self.peephole = bool(peephole)
        self.norm = norm
        conv = _CONVS[self.spatial_dims]
        hidden = self.hidden_channels
        kernel = cast(Any, self.kernel_size)  # a tuple of spatial_dims ints
        self.input_conv = conv(in_channels, 4 * hidden, kernel, padding=padding, bias=bias)
        self.hidden_conv = conv(hidden, 4 * hidden, kernel, padding="same", bias=False)
        if any(k % 2 == 0 for k in self.kernel_size):  # hidden_conv is "same"-padded
            _spend_even_kernel_warning()

        self.peephole_i: nn.Parameter | None = None
        self.peephole_f: nn.Parameter | None = None
        self.peephole_o: nn.Parameter | None = None
        if peephole:
            shape = (hidden,) + (1,) * self.spatial_dims
            self.peephole_i = nn.Parameter(torch.zeros(shape))
            self.peephole_f = nn.Parameter(torch.zeros(shape))
            self.peephole_o = nn.Parameter(torch.zeros(shape))

        self.norm_groups: int | None = None
        self.gate_norm: nn.GroupNorm | None = None
        self.cell_norm: nn.GroupNorm | None = None
        if norm is not None:
            groups = 1 if norm == "layer" else norm_groups
            if groups is None:
                groups = _default_groups(hidden)
            if not _is_int(groups) or groups < 1 or hidden % groups != 0:
                raise ValueError(
                    f"norm_groups has to be a positive divisor of hidden_channels={hidden}, but "
                    f"got {groups!r}"
                )
            self.norm_groups = groups
            # "layer" normalises all 4*hidden gate channels together; "group" keeps each group
            # inside one gate (the gates are contiguous blocks of `hidden` channels).
            gate_groups = 1 if norm == "layer" else 4 * groups
            self.gate_norm = nn.GroupNorm(gate_groups, 4 * hidden)
            self.cell_norm = nn.GroupNorm(groups, hidden)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default convolution init, forget-gate bias 1, peepholes and norms reset."""
        self.input_conv.reset_parameters()
        self.hidden_conv.reset_parameters()
        if self.input_conv.bias is not None:
            hidden = self.hidden_channels
            with torch.no_grad():
                self.input_conv.bias[hidden : 2 * hidden].fill_(1.0)
        for weight in (self.peephole_i, self.peephole_f, self.peephole_o):
            if weight is not None:
                nn.init.zeros_(weight)
        for norm in (self.gate_norm, self.cell_norm):
            if norm is not None:
                norm.reset_parameters()

    def update(self, gates: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        """The pointwise part of a step (gates -> ``h_t``, ``c_t``); plain ops that TorchScript
        compiles, so :mod:`cnnlstm.export` reuses it in its scripted loop over time.

        Args:
            gates: ``(B, 4*hidden, *S)``: ``W_x * x_t + W_h * h_{t-1} + b``.
            c: ``(B, hidden, *S)`` previous cell state, or None for zeros.

        Returns:
            ``(h_t, c_t)``, each ``(B, hidden, *S)``.
        """
        if self.gate_norm is not None:
            gates = self.gate_norm(gates)
        i, f, g, o = gates.chunk(4, dim=1)  # each (B, hidden, *S)
        if c is not None and self.peephole_i is not None and self.peephole_f is not None:
            i = i + self.peephole_i * c
            f = f + self.peephole_f * c
        # Constants to TorchScript (__constants__): the script keeps only their branches.
        act, gate = self.activation, self.recurrent_activation
        ig = activate(i, gate) * activate(g, act)
        c_new = ig if c is None else activate(f, gate) * c + ig
        if self.peephole_o is not None:
            o = o + self.peephole_o * c_new
        c_out = c_new if self.cell_norm is None else self.cell_norm(c_new)
        h_new = activate(o, gate) * activate(c_out, act)
        return h_new, c_new

    def _step_update(
        self, gates_x: Tensor, gates_h: Tensor | None, c: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """:meth:`update` of ``gates_x + gates_h`` (``gates_h`` None for zero), each
        ``(B, 4*hidden, *S)``; the fused :func:`_lstm_pointwise` when the cell is plain (no
        norm, no peephole, tanh and sigmoid) and ops run eagerly."""
        plain = self.activation == "tanh" and self.recurrent_activation == "sigmoid"
        if plain and self.gate_norm is None and self.peephole_i is None and _eager():
            return _lstm_pointwise(gates_x, gates_h, c)
        return self.update(gates_x if gates_h is None else gates_x + gates_h, c)

    def state_size(self, spatial: Sequence[int]) -> tuple[int, ...]:
        """Spatial size of ``h`` and ``c`` for frames of spatial size ``spatial``.

        It is ``spatial`` itself with ``padding="same"``; with ``"valid"`` each axis shrinks by
        ``kernel_size - 1`` (sizes below 1 come out as they are; the forward pass rejects them).

        Example:
            >>> ConvLSTMCell(3, 8, 3, padding="valid").state_size((32, 20))
            (30, 18)
        """
        if self.padding == "same":
            return tuple(int(s) for s in spatial)
        return tuple(int(s) - k + 1 for s, k in zip(spatial, self.kernel_size, strict=True))

    def _frame_layout(self) -> str:
        return _layout(self.spatial_dims, frame=True)

    def _check_frame(self, x_t: Tensor) -> None:
        name = type(self).__name__
        if x_t.dim() != self.spatial_dims + 2:
            hint = ""
            if x_t.dim() == self.spatial_dims + 3:
                hint = (
                    f" For a whole sequence {_layout(self.spatial_dims)} use "
                    f"{_CLASS_FOR_DIMS[self.spatial_dims]}, or step through x[:, t]."
                )
            raise ShapeError(
                f"{name}: expected one frame {self._frame_layout()} with {self.spatial_dims + 2} "
                f"dimensions, got a {x_t.dim()}-D tensor of shape {format_shape(x_t.shape)}." + hint
            ) from None
        if x_t.shape[1] != self.in_channels:
            axes = _axes(self.spatial_dims, frame=True)
            raise ShapeError(
                _channels_hint(name, x_t.shape, self.in_channels, axes, frame=True)
            ) from None
        if self.padding == "valid" and min(self.state_size(x_t.shape[2:])) < 1:
            raise ShapeError(
                f"{name}: with padding='valid' and kernel_size={self.kernel_size}, a frame has "
                f"to be at least {format_shape(self.kernel_size)} in its spatial axes, got a "
                f"frame of shape {format_shape(x_t.shape)}. Feed larger frames, use a smaller "
                f"kernel_size, or padding='same'."
            ) from None

    def _check_state(self, x_t: Tensor, state: tuple[Tensor, Tensor]) -> None:
        expected = (x_t.shape[0], self.hidden_channels, *self.state_size(x_t.shape[2:]))
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ShapeError(
                f"{type(self).__name__}: state has to be a pair (h, c), but got "
                f"{type(state).__name__}."
            ) from None
        for label, tensor in zip(("h", "c"), state, strict=True):
            if tuple(tensor.shape) != expected:
                raise ShapeError(
                    f"{type(self).__name__}: expected state {label} of shape "
                    f"{format_shape(expected)} (B, hidden_channels, spatial size of the frame"
                    f"{'' if self.padding == 'same' else ' minus kernel_size - 1'}), "
                    f"got {format_shape(tensor.shape)} for a frame of shape "
                    f"{format_shape(x_t.shape)}. Pass the state this cell returned for the "
                    f"previous frame of the same batch, or None to start from zeros."
                ) from None

    def forward(
        self, x_t: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """Advance the cell by one frame.

        Args:
            x_t: ``(B, C, *S)``, one frame.
            state: ``(h, c)``, each ``(B, hidden, *S')``; None starts from zeros. ``S'`` is
                ``S``, or ``S - kernel_size + 1`` with ``padding="valid"``.

        Returns:
            ``(h, c)``, each ``(B, hidden, *S')``.

        Raises:
            ShapeError: the frame or the state has the wrong shape.
        """
        self._check_frame(x_t)
        gates = self.input_conv(x_t)  # (B, 4*hidden, *S')
        if state is None:
            return self._step_update(gates, None, None)
        self._check_state(x_t, state)
        h, c = state
        return self._step_update(gates, self.hidden_conv(h), c)

    def step(
        self, x_t: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """Stream one frame: the same as calling the cell; pass the returned state back in."""
        return cast(tuple[Tensor, Tensor], self(x_t, state))

    def extra_repr(self) -> str:
        parts = [f"{self.in_channels}, {self.hidden_channels}", f"kernel_size={self.kernel_size}"]
        if self.padding != "same":
            parts.append(f"padding={self.padding!r}")
        if self.activation != "tanh":
            parts.append(f"activation={self.activation!r}")
        if self.recurrent_activation != "sigmoid":
            parts.append(f"recurrent_activation={self.recurrent_activation!r}")
        if not self.bias:
            parts.append("bias=False")
        if self.peephole:
            parts.append("peephole=True")
        if self.norm is not None:
            parts.append(f"norm={self.norm!r}")
            if self.norm == "group":
                parts.append(f"norm_groups={self.norm_groups}")
        return ", ".join(parts)


class ConvLSTMCell(_ConvLSTMCellNd):
    """One ConvLSTM cell on 2-D frames, for stepping through a stream one frame at a time.

    Args:
        in_channels: ``C`` of the input frames.
        hidden_channels: channels of ``h`` and ``c``.
        kernel_size: size of both convolutions, an int or ``(kH, kW)``; with "same" padding an
            even size puts the extra padding on the right/bottom (as Keras and PyTorch's
            ``padding="same"`` do), so ``H`` and ``W`` do not change.
        bias: give ``input_conv`` a bias (the forget-gate part starts at 1).
        peephole: add peephole connections. They are per-channel weights of shape
            ``(hidden, 1, 1)``, so the cell still takes any frame size; Shi et al. use
            full-size ``(hidden, H, W)`` Hadamard weights, which tie the layer to one size.
        norm: None, ``"layer"`` (GroupNorm with 1 group over the ``4*hidden`` gate
            pre-activations) or ``"group"`` (``4*norm_groups`` groups over the gates, so no
            group spans two gates). Either also normalises ``c_t`` before the output ``tanh``
            (``norm_groups`` groups; 1 for "layer"), as in Ba et al.'s layer-normalised LSTM;
            the carried cell state itself stays unnormalised.
        norm_groups: groups per gate for ``norm="group"``; it has to divide
            ``hidden_channels``. Defaults to the largest divisor of it that is at most 8.
        padding: padding of the input convolution only: ``"same"`` keeps the grid, ``"valid"``
            (Keras ``ConvLSTM2D``'s default) pads nothing, so ``h`` and ``c`` are
            ``(H - kH + 1, W - kW + 1)``. The hidden convolution is always "same".
        activation: the activation of the candidate ``g`` and of ``c_t`` before the output
            (``tanh`` in the equations above), one of :data:`ACTIVATIONS`.
        recurrent_activation: the activation of the gates ``i``, ``f``, ``o`` (``σ`` above).

    Raises:
        ValueError: an argument is out of range.

    Example:
        >>> cell = ConvLSTMCell(3, 16)
        >>> h, c = cell.step(torch.randn(2, 3, 32, 32))
        >>> h, c = cell.step(torch.randn(2, 3, 32, 32), (h, c))
        >>> h.shape
        torch.Size([2, 16, 32, 32])
        >>> ConvLSTMCell(3, 16, padding="valid").step(torch.randn(2, 3, 32, 32))[0].shape
        torch.Size([2, 16, 30, 30])
    """

    spatial_dims = 2


class ConvLSTMCell1d(_ConvLSTMCellNd):
    """One ConvLSTM cell on 1-D signals ``(B, C, W)``; arguments as :class:`ConvLSTMCell`.

    Example:
        >>> h, c = ConvLSTMCell1d(4, 8, 5).step(torch.randn(2, 4, 100))
        >>> h.shape
        torch.Size([2, 8, 100])
    """

    spatial_dims = 1


class ConvLSTMCell3d(_ConvLSTMCellNd):
    """One ConvLSTM cell on volumes ``(B, C, D, H, W)``; arguments as :class:`ConvLSTMCell`.

    Example:
        >>> h, c = ConvLSTMCell3d(1, 4).step(torch.randn(2, 1, 6, 8, 8))
        >>> h.shape
        torch.Size([2, 4, 6, 8, 8])
    """

    spatial_dims = 3


ConvLSTMCell2d = ConvLSTMCell
"""An alias of :class:`ConvLSTMCell` (the same class), named like ``ConvLSTMCell1d`` and
``ConvLSTMCell3d``; ``ConvLSTMCell`` is the name the library uses."""

_CELLS: dict[int, type[_ConvLSTMCellNd]] = {1: ConvLSTMCell1d, 2: ConvLSTMCell, 3: ConvLSTMCell3d}


class _ConvLSTMNd(nn.Module):
    """Stacked, optionally bidirectional ConvLSTM over ``spatial_dims``-D grids."""

    spatial_dims: ClassVar[int] = 2

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int | Sequence[int],
        kernel_size: int | Sequence[int] = 3,
        *,
        num_layers: int | None = None,
        bias: bool = True,
        peephole: bool = False,
        norm: NormKind | None = None,
        norm_groups: int | None = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        bidirectional: bool = False,
        batch_first: bool = True,
        padding: PaddingKind = "same",
        activation: str = "tanh",
        recurrent_activation: str = "sigmoid",
    ) -> None:
        super().__init__()
        self.in_channels = _check_positive_int("in_channels", in_channels)
        self.padding = _check_padding(padding)
        self.activation = _check_activation("activation", activation)
        self.recurrent_activation = _check_activation("recurrent_activation", recurrent_activation)
        if num_layers is not None:
            _check_positive_int("num_layers", num_layers)
        if _is_int(hidden_channels):
            hidden = [_check_positive_int("hidden_channels", hidden_channels)] * (num_layers or 1)
        elif isinstance(hidden_channels, Sequence) and len(hidden_channels) > 0:
            hidden = [_check_positive_int("each hidden_channels entry", h) for h in hidden_channels]
            if num_layers is not None and num_layers != len(hidden):
                raise ValueError(
                    f"num_layers has to match the {len(hidden)} entries of hidden_channels="
                    f"{list(hidden)} (or be left out), but got num_layers={num_layers}"
                )
        else:
            raise ValueError(
                f"hidden_channels has to be a positive integer or a non-empty sequence of them "
                f"(one per layer), but got {hidden_channels!r}"
            )
        for name, p in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
                raise ValueError(f"{name} has to be a probability in [0, 1), but got {p!r}")
        if dropout > 0 and len(hidden) == 1:
            warnings.warn(
                f"dropout={dropout} acts between stacked layers, so it has no effect with "
                f"num_layers=1",
                UserWarning,
                stacklevel=2,
            )
        self.hidden_channels: tuple[int, ...] = tuple(hidden)
        self.num_layers = len(hidden)
        self.kernel_size = _kernel_tuple(kernel_size, self.spatial_dims)
        self.bias = bool(bias)
        self.peephole = bool(peephole)
        self.norm = norm
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.bidirectional = bool(bidirectional)
        self.batch_first = bool(batch_first)
        self.num_directions = 2 if bidirectional else 1

        cell_class = _CELLS[self.spatial_dims]
        cells = []
        for layer, hidden_l in enumerate(self.hidden_channels):
            layer_in = in_channels if layer == 0 else self.hidden_channels[layer - 1]
            layer_in *= 1 if layer == 0 else self.num_directions
            for _ in range(self.num_directions):
                cells.append(
                    cell_class(
                        layer_in,
                        hidden_l,
                        self.kernel_size,
                        bias=bias,
                        peephole=peephole,
                        norm=norm,
                        norm_groups=norm_groups,
                        padding=padding,
                        activation=activation,
                        recurrent_activation=recurrent_activation,
                    )
                )
        self.cells = nn.ModuleList(cells)
        self.norm_groups = norm_groups

    # ----------------------------------------------------------------------------- sizes

    @property
    def out_channels(self) -> int:
        """``C'``: channels of the output, ``hidden_channels[-1] * num_directions``."""
        return self.hidden_channels[-1] * self.num_directions

    @property
    def _uniform_states(self) -> bool:
        """Whether every layer's state has one shape, so ``h_n`` is one stacked tensor."""
        same_grid = self.padding == "same" or self.num_layers == 1
        return same_grid and len(set(self.hidden_channels)) == 1

    def _layer_spatial(self, layer: int, spatial: Sequence[int]) -> tuple[int, ...]:
        """Spatial size of layer ``layer``'s state (and output) for input frames of ``spatial``."""
        shrink = layer + 1 if self.padding == "valid" else 0
        return tuple(
            int(s) - shrink * (k - 1) for s, k in zip(spatial, self.kernel_size, strict=True)
        )

    def _layout(self) -> str:
        return _layout(self.spatial_dims, batch_first=self.batch_first)

    def _check_input_shape(self, shape: Sequence[int]) -> None:
        name = type(self).__name__
        ndim = self.spatial_dims + 3
        if len(shape) != ndim:
            hints = []
            if len(shape) == ndim - 1:
                hints.append(
                    " For a single frame, add a time axis (x.unsqueeze(1)) or step through "
                    f"{_CELLS[self.spatial_dims].__name__}."
                )
            if len(shape) - 3 in _CLASS_FOR_DIMS and len(shape) - 3 != self.spatial_dims:
                other = _CLASS_FOR_DIMS[len(shape) - 3]
                hints.append(f" For clips of {len(shape) - 3}-D grids use {other}.")
            raise ShapeError(
                f"{name}: expected an input {self._layout()} with {ndim} dimensions, got shape "
                f"{format_shape(shape)} ({len(shape)}-D).{''.join(hints)}"
            ) from None
        if shape[2] != self.in_channels:
            axes = _axes(self.spatial_dims, batch_first=self.batch_first)
            raise ShapeError(
                _channels_hint(name, shape, self.in_channels, axes, frame=False)
            ) from None
        if min(shape) < 1:
            raise ShapeError(
                f"{name}: every axis of {self._layout()} has to be at least 1, but got shape "
                f"{format_shape(shape)}."
            ) from None
        if min(self._layer_spatial(self.num_layers - 1, shape[3:])) < 1:
            least = tuple(1 + self.num_layers * (k - 1) for k in self.kernel_size)
            raise ShapeError(
                f"{name}: with padding='valid', kernel_size={self.kernel_size} and "
                f"num_layers={self.num_layers}, each layer shrinks the grid by kernel_size - 1, "
                f"so frames have to be at least {format_shape(least)} in "
                f"({', '.join(_SPATIAL_AXES[self.spatial_dims])}), got shape "
                f"{format_shape(shape)}. Feed larger frames, use fewer layers or a smaller "
                f"kernel_size, or padding='same'."
            ) from None

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """Output shape for an input of ``input_shape`` (batch axis included).

        Raises:
            ShapeError: the layer cannot take an input of this shape.
        """
        shape = tuple(int(s) for s in input_shape)
        self._check_input_shape(shape)
        return (*shape[:2], self.out_channels, *self._layer_spatial(self.num_layers - 1, shape[3:]))

    def extra_repr(self) -> str:
        hidden = self.hidden_channels
        parts = [
            f"{self.in_channels}, {hidden[0] if len(set(hidden)) == 1 else list(hidden)}",
            f"kernel_size={self.kernel_size}",
            f"num_layers={self.num_layers}",
        ]
        for name, default in (
            ("bias", True),
            ("peephole", False),
            ("norm", None),
            ("norm_groups", None),
            ("dropout", 0.0),
            ("recurrent_dropout", 0.0),
            ("bidirectional", False),
            ("batch_first", True),
            ("padding", "same"),
            ("activation", "tanh"),
            ("recurrent_activation", "sigmoid"),
        ):
            value = getattr(self, name)
            if value != default:
                parts.append(f"{name}={value!r}")
        return ", ".join(parts)

    # ----------------------------------------------------------------------------- state

    def _cell(self, index: int) -> _ConvLSTMCellNd:
        return cast(_ConvLSTMCellNd, self.cells[index])

    def _state_shape(self, layer: int, batch: int, spatial: Sequence[int]) -> tuple[int, ...]:
        return (
            self.num_directions,
            batch,
            self.hidden_channels[layer],
            *self._layer_spatial(layer, spatial),
        )

    def _initial_states(
        self, state: tuple[LayerStates, LayerStates] | None, batch: int, spatial: Sequence[int]
    ) -> list[tuple[Tensor, Tensor] | None]:
        """Split ``state`` into one ``(h, c)`` pair per cell (None for zeros)."""
        count = self.num_layers * self.num_directions
        if state is None:
            return [None] * count
        name = type(self).__name__
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ShapeError(
                f"{name}: state has to be a pair (h_0, c_0), but got {type(state).__name__}."
            ) from None
        per_cell: list[list[Tensor]] = [[], []]
        uniform = self._uniform_states
        stacked = (count, batch, self.hidden_channels[0], *self._layer_spatial(0, spatial))
        why_per_layer = (
            f"the layers have hidden sizes {list(self.hidden_channels)}"
            if len(set(self.hidden_channels)) > 1
            else "each layer shrinks the grid with padding='valid'"
        )
        for slot, (label, part) in enumerate(zip(("h_0", "c_0"), state, strict=True)):
            if isinstance(part, Tensor):
                if not uniform or tuple(part.shape) != stacked:
                    expected = (
                        f"{format_shape(stacked)} (num_layers * num_directions, B, hidden, "
                        f"{', '.join(_SPATIAL_AXES[self.spatial_dims])})"
                        if uniform
                        else f"a tuple of {self.num_layers} tensors (one per layer, since "
                        f"{why_per_layer})"
                    )
                    raise ShapeError(
                        f"{name}: expected {label} to be {expected}, got a tensor of shape "
                        f"{format_shape(part.shape)} for an input with B={batch} and spatial "
                        f"size {format_shape(spatial)}. Pass back the state this layer returned "
                        f"for the same batch, or None to start from zeros."
                    ) from None
                per_cell[slot] = list(part.unbind(0))
                continue
            expected_shapes = [
                self._state_shape(layer, batch, spatial) for layer in range(self.num_layers)
            ]
            got = [tuple(t.shape) for t in part] if isinstance(part, (tuple, list)) else None
            if got != expected_shapes:
                shown = (
                    "[" + ", ".join(format_shape(g) for g in got) + "]"
                    if got is not None
                    else type(part).__name__
                )
                raise ShapeError(
                    f"{name}: expected {label} to be one tensor per layer of shapes "
                    f"[{', '.join(format_shape(s) for s in expected_shapes)}] "
                    f"(num_directions, B, hidden, spatial), got {shown}. Pass back the state "
                    f"this layer returned for the same batch, or None to start from zeros."
                ) from None
            per_cell[slot] = [d for layer_state in part for d in layer_state.unbind(0)]
        return list(zip(per_cell[0], per_cell[1], strict=True))

    def _pack_states(self, states: list[Tensor]) -> LayerStates:
        if self._uniform_states:
            return torch.stack(states)  # (num_layers * num_directions, B, hidden, *S)
        d = self.num_directions
        return tuple(
            torch.stack(states[layer * d : (layer + 1) * d])  # (num_directions, B, hidden_l, *S)
            for layer in range(self.num_layers)
        )

    # ----------------------------------------------------------------------------- forward

    def _scan(
        self,
        cell: _ConvLSTMCellNd,
        sequence: Tensor,
        state: tuple[Tensor, Tensor] | None,
        valid: Tensor | None,
        recurrent_mask: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Run one cell over time.

        Args:
            sequence: ``(B, T, C, *S)``, the layer's input in the order the cell reads it.
            state: initial ``(h, c)``, each ``(B, hidden, *S')``, or None for zeros; ``S'`` is
                ``cell.state_size(S)`` (``S`` unless ``padding="valid"``).
            valid: ``(B, T, 1, ..., 1)`` bool, True on the steps inside each sequence, or None.
            recurrent_mask: ``(B, hidden, *S')`` variational dropout mask on ``h``, or None.

        Returns:
            ``(output, h_n, c_n)``: output ``(B, T, hidden, *S')``, zero past each length.
        """
        batch, steps = sequence.shape[:2]
        # Bytes of the gate pre-activations of one step: B * 4*hidden * prod(S) values (an upper
        # bound with padding="valid", whose S' is smaller).
        step_bytes = batch * 4 * cell.hidden_channels * math.prod(sequence.shape[3:])
        step_bytes *= sequence.element_size()
        chunk = max(1, min(steps, INPUT_CONV_CHUNK_BYTES // max(step_bytes, 1)))
        chunk = -(-steps // -(-steps // chunk))  # as many chunks, of even sizes
        h, c = (None, None) if state is None else state
        outputs = []
        # split / unbind, not sequence[:, t]: the backward of an index fills a zero tensor the
        # size of the whole sequence once per step; these write all steps' gradients at once.
        t = 0
        for part in torch.split(sequence, chunk, dim=1):  # (B, chunk, C, *S)
            # The input convolution of `chunk` steps at once, folded into the batch.
            gates_x = cell.input_conv(fold_time(part))  # (B*chunk, 4*hidden, *S')
            # One step needs no unbind (whose backward would copy the gradient into a stack).
            per_step = (
                (gates_x,) if part.shape[1] == 1 else unfold_time(gates_x, batch).unbind(1)
            )  # each (B, 4*hidden, *S')
            for gates in per_step:
                gates_h = None
                if h is not None:
                    h_in = h if recurrent_mask is None else h * recurrent_mask
                    gates_h = cell.hidden_conv(h_in)  # (B, 4*hidden, *S')
                h_new, c_new = cell._step_update(gates, gates_h, c)
                if valid is not None and h is not None and c is not None:
                    # Every length is >= 1, so step 0 is always valid and needs no mask.
                    valid_t = valid[:, t]  # (B, 1, ..., 1)
                    h_new = torch.where(valid_t, h_new, h)
                    c_new = torch.where(valid_t, c_new, c)
                    outputs.append(h_new.masked_fill(~valid_t, 0.0))
                else:
                    outputs.append(h_new)
                h, c = h_new, c_new
                t += 1
        assert h is not None and c is not None  # T >= 1 is checked in forward
        return torch.stack(outputs, dim=1), h, c  # (B, T, hidden, *S'), (B, hidden, *S') x2

    def forward(
        self,
        x: Tensor,
        state: tuple[LayerStates, LayerStates] | None = None,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor, tuple[LayerStates, LayerStates]]:
        """Run the stacked ConvLSTM over a sequence.

        Args:
            x: ``(B, T, C, *S)`` if ``batch_first`` else ``(T, B, C, *S)``, where ``S`` is
                ``(W,)``, ``(H, W)`` or ``(D, H, W)``.
            state: ``(h_0, c_0)`` in the form this layer returns as ``(h_n, c_n)``; None
                starts from zeros.
            lengths: ``(B,)`` valid steps of each sequence (1..T). Steps past a sequence's
                length leave its state unchanged and output zeros; the backward direction
                starts at each sequence's own last valid step, as with packed sequences in
                ``torch.nn.LSTM``.

        Returns:
            ``(output, (h_n, c_n))``. ``output`` is ``(B, T, C', *S)`` (or ``(T, B, C', *S)``)
            with ``C' = hidden_channels[-1] * num_directions``, directions concatenated on the
            channel axis (forward first). When all layers have the same hidden size (and, with
            ``padding="valid"``, there is one layer), ``h_n`` and ``c_n`` are
            ``(num_layers * num_directions, B, hidden, *S)`` as in ``torch.nn.LSTM``; otherwise
            each is a tuple with one ``(num_directions, B, hidden_l, *S_l)`` tensor per layer.
            With ``padding="valid"`` every layer shrinks ``S`` by ``kernel_size - 1``, so the
            output's and layer ``l``'s ``S_l`` is ``S - (l + 1) * (kernel_size - 1)``.

        Raises:
            ShapeError: ``x``, ``state`` or ``lengths`` has the wrong shape.
        """
        self._check_input_shape(tuple(x.shape))
        if not self.batch_first:
            x = rearrange(x, "t b ... -> b t ...")  # (B, T, C, *S)
        batch, steps = x.shape[0], x.shape[1]
        spatial = tuple(x.shape[3:])
        initial = self._initial_states(state, batch, spatial)
        lengths_ = None
        if lengths is not None:
            lengths_ = check_lengths(lengths, batch, steps, who=type(self).__name__)
            lengths_ = lengths_.to(x.device)
            if bool((lengths_ == steps).all()):
                lengths_ = None
        valid = None
        reverse_index = None
        if lengths_ is not None:
            step_index = torch.arange(steps, device=x.device)  # (T,)
            inside = step_index.unsqueeze(0) < lengths_.unsqueeze(1)  # (B, T)
            valid = inside.view(batch, steps, *([1] * (self.spatial_dims + 1)))  # (B, T, 1, ...)
            # Reverse each sequence within its own length; padding steps stay where they are.
            reverse_index = torch.where(
                inside, lengths_.unsqueeze(1) - 1 - step_index, step_index
            )  # (B, T)
        batch_index = torch.arange(batch, device=x.device).unsqueeze(1)  # (B, 1)

        layer_input = x  # (B, T, C, *S)
        h_n: list[Tensor] = []
        c_n: list[Tensor] = []
        for layer in range(self.num_layers):
            if layer > 0 and self.training and self.dropout > 0:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                cell = self._cell(index)
                sequence = layer_input
                if direction == 1:
                    sequence = (
                        layer_input.flip(1)
                        if reverse_index is None
                        else layer_input[batch_index, reverse_index]
                    )  # (B, T, C, *S), each sequence reversed within its length
                recurrent_mask = None
                if self.training and self.recurrent_dropout > 0:
                    keep = 1.0 - self.recurrent_dropout
                    shape = (batch, cell.hidden_channels, *self._layer_spatial(layer, spatial))
                    recurrent_mask = torch.bernoulli(
                        torch.full(shape, keep, dtype=x.dtype, device=x.device)
                    ).div_(keep)  # (B, hidden, *S), fixed over time
                output, h, c = self._scan(cell, sequence, initial[index], valid, recurrent_mask)
                if direction == 1:
                    output = (
                        output.flip(1)
                        if reverse_index is None
                        else output[batch_index, reverse_index]
                    )  # (B, T, hidden, *S), back in time order
                outputs.append(output)
                h_n.append(h)
                c_n.append(c)
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)
            # layer_input: (B, T, hidden * num_directions, *S)

        output = layer_input
        if not self.batch_first:
            output = rearrange(output, "b t ... -> t b ...")  # (T, B, C', *S)
        return output, (self._pack_states(h_n), self._pack_states(c_n))


class ConvLSTM(_ConvLSTMNd):
    """Stacked ConvLSTM (Shi et al. 2015) on clips of 2-D frames: ``(B, T, C, H, W)`` in and out.

    The input convolution of every layer runs over many frames at once (``B*T`` folded into
    the batch, in chunks of at most :data:`INPUT_CONV_CHUNK_BYTES` of output); only the hidden
    convolution runs inside the time loop. To stream frames, call it with ``T = 1`` and pass the
    returned state back, or step through ``cells`` one frame at a time.

    Args:
        in_channels: ``C`` of the input frames.
        hidden_channels: channels of ``h`` and ``c``: one int for every layer, or one per layer.
        kernel_size: an int or ``(kH, kW)`` for every convolution; with "same" padding an even
            size pads the extra row/column on the bottom/right, as Keras does.
        num_layers: number of stacked layers; defaults to ``len(hidden_channels)``, or 1.
        bias: give each input convolution a bias (the forget-gate part starts at 1).
        peephole: per-channel peephole weights ``(hidden, 1, 1)`` (size-agnostic, where Shi et
            al. use full-size Hadamard weights); see :class:`ConvLSTMCell`.
        norm: None, ``"layer"`` or ``"group"`` normalisation of the gate pre-activations and of
            ``c_t`` before the output ``tanh``; see :class:`ConvLSTMCell`.
        norm_groups: groups per gate for ``norm="group"``; has to divide every hidden size.
        dropout: dropout on the outputs of every layer but the last, in training only.
        recurrent_dropout: variational dropout on ``h`` before the hidden convolution: one mask
            per sequence, layer and direction, fixed over time (Gal & Ghahramani), training only.
        bidirectional: also run each layer backwards in time; the directions are concatenated
            on the channel axis.
        batch_first: input and output are ``(B, T, ...)``; False means ``(T, B, ...)``.
        padding: padding of the input convolutions: ``"same"`` keeps ``(H, W)``; ``"valid"``
            (Keras ``ConvLSTM2D``'s default) pads nothing, so each layer shrinks the grid by
            ``kernel_size - 1``. The hidden convolutions are always "same".
        activation: ``tanh`` of the equations (candidate and output), from :data:`ACTIVATIONS`.
        recurrent_activation: ``σ`` of the gates, from :data:`ACTIVATIONS`; anything but
            tanh/sigmoid runs the plain elementwise ops instead of the fused step.

    Raises:
        ValueError: an argument is out of range.

    Example:
        >>> convlstm = ConvLSTM(3, 16, num_layers=2)
        >>> output, (h_n, c_n) = convlstm(torch.randn(2, 5, 3, 32, 32))
        >>> output.shape, h_n.shape
        (torch.Size([2, 5, 16, 32, 32]), torch.Size([2, 2, 16, 32, 32]))
        >>> ConvLSTM(3, [16, 8], bidirectional=True).output_shape((2, 5, 3, 32, 32))
        (2, 5, 16, 32, 32)
        >>> ConvLSTM(3, 16, num_layers=2, padding="valid").output_shape((2, 5, 3, 32, 32))
        (2, 5, 16, 28, 28)
    """

    spatial_dims = 2


class ConvLSTM1d(_ConvLSTMNd):
    """ConvLSTM on sequences of 1-D signals ``(B, T, C, W)``; arguments as :class:`ConvLSTM`.

    Example:
        >>> output, _ = ConvLSTM1d(4, 8, 5)(torch.randn(2, 10, 4, 50))
        >>> output.shape
        torch.Size([2, 10, 8, 50])
    """

    spatial_dims = 1


class ConvLSTM3d(_ConvLSTMNd):
    """ConvLSTM on sequences of volumes ``(B, T, C, D, H, W)``; arguments as :class:`ConvLSTM`.

    Example:
        >>> output, _ = ConvLSTM3d(1, 4)(torch.randn(2, 3, 1, 6, 8, 8))
        >>> output.shape
        torch.Size([2, 3, 4, 6, 8, 8])
    """

    spatial_dims = 3


ConvLSTM2d = ConvLSTM
"""An alias of :class:`ConvLSTM` (the same class), named like ``ConvLSTM1d`` and ``ConvLSTM3d``
and Keras' ``ConvLSTM2D``; ``ConvLSTM`` is the name the library uses."""
