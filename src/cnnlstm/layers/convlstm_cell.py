"""The ConvLSTM cell (Shi et al. 2015): one step of an LSTM whose gates are convolutions.

Each cell computes, with ``*`` a convolution and ``∘`` the elementwise product::

    i, f, g, o = split(W_x * x_t + W_h * h_{t-1} + b)      # gate order (i, f, g, o)
    i = σ(i + p_i ∘ c_{t-1});  f = σ(f + p_f ∘ c_{t-1});  g = tanh(g)
    c_t = f ∘ c_{t-1} + i ∘ g
    o = σ(o + p_o ∘ c_t);  h_t = o ∘ tanh(c_t)

(the ``p`` terms only with ``peephole=True``). ``activation=`` replaces both ``tanh`` and
``recurrent_activation=`` every ``σ`` (Keras ``ConvLSTM2D``'s arguments of the same names), from
:data:`~cnnlstm.layers.activations.ACTIVATIONS`. The fused pointwise step below serves
tanh/sigmoid; any other pair runs the same few elementwise ops, one kernel each.

``W_h * h`` is always "same"-padded; ``W_x * x`` is too by default, and with
``padding="valid"`` (Keras ``ConvLSTM2D``'s default) it is unpadded, so the state grid is the
frame grid shrunk by ``kernel_size - 1`` on each axis.

With eager autograd, a cell without norm or peepholes runs its pointwise step as one autograd
function (:class:`_LSTMPointwise`). :class:`~cnnlstm.layers.convlstm.ConvLSTM` runs cells over
time.

Parameter layout (the Keras import relies on these names): every cell has ``input_conv``
(``in -> 4*hidden``, with the bias) and ``hidden_conv`` (``hidden -> 4*hidden``, no bias), whose
output channels are the gates in the order (i, f, g, o), and with ``peephole=True`` the
parameters ``peephole_i``, ``peephole_f``, ``peephole_o`` of shape ``(hidden, 1, ..., 1)``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlstm.errors import ShapeError
from cnnlstm.functional import format_shape
from cnnlstm.layers.activations import activate, check_activation
from cnnlstm.layers.convlstm_checks import (
    LAYER_CLASS_NAMES,
    NormKind,
    PaddingKind,
    channels_hint,
    check_padding,
    check_positive_int,
    grid_axes,
    grid_layout,
    is_int,
    kernel_tuple,
)

__all__ = [
    "ConvLSTMCell",
    "ConvLSTMCell1d",
    "ConvLSTMCell2d",
    "ConvLSTMCell3d",
    "ConvLSTMCellNd",
]

_CONVS: dict[int, type[nn.Conv1d] | type[nn.Conv2d] | type[nn.Conv3d]] = {
    1: nn.Conv1d,
    2: nn.Conv2d,
    3: nn.Conv3d,
}
_NORMS = (None, "layer", "group")


def _default_groups(hidden_channels: int) -> int:
    """The largest divisor of ``hidden_channels`` that is at most 8 (GroupNorm's usual size)."""
    return max(g for g in range(1, 9) if hidden_channels % g == 0)


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


class ConvLSTMCellNd(nn.Module):
    """One ConvLSTM cell over ``spatial_dims``-D grids: the class ``ConvLSTMCell1d``,
    :class:`ConvLSTMCell` and ``ConvLSTMCell3d`` share (each sets ``spatial_dims``); see
    :class:`ConvLSTMCell` for the arguments."""

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
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.hidden_channels = check_positive_int("hidden_channels", hidden_channels)
        self.activation = check_activation("activation", activation)
        self.recurrent_activation = check_activation("recurrent_activation", recurrent_activation)
        self.kernel_size = kernel_tuple(kernel_size, self.spatial_dims)
        self.padding = check_padding(padding)
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
            if not is_int(groups) or groups < 1 or hidden % groups != 0:
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

    def step_update(
        self, gates_x: Tensor, gates_h: Tensor | None, c: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """The pointwise part of a step from the two convolutions' outputs, each
        ``(B, 4*hidden, *S)``: ``gates_x`` (``W_x * x_t + b``) and ``gates_h`` (``W_h * h``, None
        for zero).

        It is :meth:`update` of ``gates_x + gates_h``, or the fused :func:`_lstm_pointwise` when
        the cell is plain (no norm, no peephole, tanh and sigmoid) and ops run eagerly. The
        cell's forward calls it, and so does ConvLSTM's loop over time, which runs the input
        convolution of many steps at once.

        Returns:
            ``(h_t, c_t)``, each ``(B, hidden, *S)``.
        """
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
        return grid_layout(self.spatial_dims, frame=True)

    def _check_frame(self, x_t: Tensor) -> None:
        name = type(self).__name__
        if x_t.dim() != self.spatial_dims + 2:
            hint = ""
            if x_t.dim() == self.spatial_dims + 3:
                hint = (
                    f" For a whole sequence {grid_layout(self.spatial_dims)} use "
                    f"{LAYER_CLASS_NAMES[self.spatial_dims]}, or step through x[:, t]."
                )
            raise ShapeError(
                f"{name}: expected one frame {self._frame_layout()} with {self.spatial_dims + 2} "
                f"dimensions, got a {x_t.dim()}-D tensor of shape {format_shape(x_t.shape)}." + hint
            ) from None
        if x_t.shape[1] != self.in_channels:
            axes = grid_axes(self.spatial_dims, frame=True)
            raise ShapeError(
                channels_hint(name, x_t.shape, self.in_channels, axes, frame=True)
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
            return self.step_update(gates, None, None)
        self._check_state(x_t, state)
        h, c = state
        return self.step_update(gates, self.hidden_conv(h), c)

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


class ConvLSTMCell(ConvLSTMCellNd):
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


class ConvLSTMCell1d(ConvLSTMCellNd):
    """One ConvLSTM cell on 1-D signals ``(B, C, W)``; arguments as :class:`ConvLSTMCell`.

    Example:
        >>> h, c = ConvLSTMCell1d(4, 8, 5).step(torch.randn(2, 4, 100))
        >>> h.shape
        torch.Size([2, 8, 100])
    """

    spatial_dims = 1


class ConvLSTMCell3d(ConvLSTMCellNd):
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
