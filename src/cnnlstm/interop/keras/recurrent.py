"""The torch modules a converted Keras recurrent layer is made of.

:class:`Recurrent` runs a batch-first recurrent module (torch's ``nn.LSTM``, ``nn.GRU`` or
``nn.RNN``, a :class:`KerasRNN`, or a ConvLSTM) and returns what a Keras RNN layer returns
(``return_sequences``, ``go_backwards``); :class:`Bidirectional` runs one both ways and merges
the two as Keras ``Bidirectional`` does. :class:`KerasRNN` is a Keras ``LSTM``, ``GRU`` or
``SimpleRNN`` with an activation torch has no kernel for (``LSTM(activation="relu")``, tf.keras 2's
``recurrent_activation="hard_sigmoid"``, ``GRU(reset_after=False)``): the same gates, written out
as a loop over time (:func:`keras_rnn_scan`) with the input projection of all steps in one
matmul. The converters that build them are :mod:`~cnnlstm.interop.keras.recurrent_convert`.

A Keras mask (from a ``Masking`` layer, ``Embedding(mask_zero=True)`` or a boolean mask input)
reaches :class:`Recurrent` and :class:`Bidirectional` as a ``(B, T)`` tensor; it has to be a
padded suffix (each row ``True`` then ``False``), which becomes per-sequence lengths
(:func:`mask_lengths`). What Keras outputs at the masked steps is reproduced: the last valid
output repeated (``zero_output_for_mask=False``, Keras's default), or zeros inside
``Bidirectional``.
"""

from __future__ import annotations

import functools
import warnings
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from cnnlstm.errors import ConfigError, ShapeError
from cnnlstm.functional import format_shape
from cnnlstm.layers.activations import ACTIVATIONS, activate

__all__ = ["Bidirectional", "KerasRNN", "Recurrent", "keras_rnn_scan", "mask_lengths"]

_TORCH_RNNS = (nn.LSTM, nn.GRU, nn.RNN)
_GATES = {"lstm": 4, "gru": 3, "simple": 1}


def mask_lengths(mask: Tensor, steps: int) -> Tensor:
    """The lengths ``(B,)`` of a ``(B, T)`` mask that is a padded suffix (True, then False).

    Raises:
        ConfigError: a row has a False step before a True one (a hole in the middle), which
            lengths cannot express.

    Example:
        >>> mask_lengths(torch.tensor([[True, True, False], [True, False, False]]), 3)
        tensor([2, 1])
    """
    if mask.dim() != 2 or mask.shape[1] != steps:
        raise ShapeError(
            f"mask: expected (B, T) with T={steps}, got shape {format_shape(mask.shape)}."
        ) from None
    mask = mask.bool()
    lengths = mask.sum(dim=1)  # (B,)
    expected = torch.arange(steps, device=mask.device).unsqueeze(0) < lengths.unsqueeze(1)
    if not torch.equal(mask, expected):
        rows = (mask != expected).any(dim=1).nonzero().flatten().tolist()
        raise ConfigError(
            f"mask: rows {rows} of the mask have masked steps before unmasked ones (a hole in "
            f"the middle); the converted recurrent layers take a padded suffix only (each row "
            f"True for its first steps, then False). Move the padding to the end of each "
            f"sequence."
        )
    return lengths


def _reverse_index(lengths: Tensor, steps: int) -> Tensor:
    """``(B, T)`` indices that reverse each sequence within its length (padding stays put)."""
    step = torch.arange(steps, device=lengths.device).unsqueeze(0)  # (1, T)
    inside = step < lengths.unsqueeze(1)
    return torch.where(inside, lengths.unsqueeze(1) - 1 - step, step)  # (B, T)


def _take_steps(x: Tensor, index: Tensor) -> Tensor:
    """``x[b, index[b, t]]`` for ``x`` of shape ``(B, T, ...)``."""
    batch = torch.arange(x.shape[0], device=x.device).unsqueeze(1)  # (B, 1)
    return x[batch, index]


def keras_rnn_scan(
    gates_x: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None,
    valid: Tensor | None,
    kind: str,
    activation: str,
    recurrent_activation: str,
    reset_after: bool,
) -> tuple[Tensor, Tensor]:
    """The loop over time of a Keras ``LSTM``, ``GRU`` or ``SimpleRNN``, from zero states.

    A step is few ops, each over all gates at once: one ``addmm`` for the recurrent matmul
    (``reset_after=False`` GRU: one for ``z`` and ``r``, one for the candidate), a ``chunk``
    into gates, the activations, and ``addcmul`` / ``lerp`` for the state update. TorchScript
    compiles it (:class:`KerasRNN` runs it scripted, its names as constants); traced, it is a
    plain Python loop.

    Args:
        gates_x: ``(B, T, G*U)``, every step's input projection with its bias, Keras's gate
            order (LSTM ``i, f, c, o``; GRU ``z, r, h``).
        weight_hh: ``(G*U, U)``, the recurrent kernel transposed.
        bias_hh: ``(G*U,)``, the GRU's recurrent bias (``reset_after=True``), or None.
        valid: ``(B, T, 1)`` bool, False past each sequence's length (the state is kept there
            and the output is zero), or None.
        kind: ``"lstm"``, ``"gru"`` or ``"simple"``.
        activation: from :data:`~cnnlstm.layers.activations.ACTIVATIONS`.
        recurrent_activation: the gates' activation (LSTM, GRU).
        reset_after: the GRU's reset-gate placement.

    Returns:
        ``(output (B, T, U), h_n (B, U))``.
    """
    batch, units = gates_x.shape[0], weight_hh.shape[1]
    act, gate = activation, recurrent_activation
    h = gates_x.new_zeros(batch, units)  # (B, U)
    c = gates_x.new_zeros(batch, units)  # (B, U), the LSTM's cell state
    w = weight_hh.t()  # (U, G*U)
    w_zr, w_h = w[:, : 2 * units], w[:, 2 * units :]  # the GRU's (U, 2U) and (U, U)
    outputs: list[Tensor] = []
    for t, g in enumerate(gates_x.unbind(1)):  # g: (B, G*U)
        c_new = c
        if kind == "lstm":
            i, f, candidate, o = torch.addmm(g, h, w).chunk(4, dim=1)
            candidate = activate(candidate, act)
            c_new = torch.addcmul(activate(f, gate) * c, activate(i, gate), candidate)
            h_new = activate(o, gate) * activate(c_new, act)
        elif kind == "gru" and reset_after:
            hidden = torch.mm(h, w) if bias_hh is None else torch.addmm(bias_hh, h, w)
            xz, xr, xh = g.chunk(3, dim=1)
            hz, hr, hh = hidden.chunk(3, dim=1)
            z = activate(xz + hz, gate)
            r = activate(xr + hr, gate)
            h_new = torch.lerp(activate(torch.addcmul(xh, r, hh), act), h, z)  # z h + (1-z) h~
        elif kind == "gru":
            z, r = activate(torch.addmm(g[:, : 2 * units], h, w_zr), gate).chunk(2, dim=1)
            candidate = activate(torch.addmm(g[:, 2 * units :], r * h, w_h), act)
            h_new = torch.lerp(candidate, h, z)
        else:
            h_new = activate(torch.addmm(g, h, w), act)
        if valid is not None:
            keep = valid[:, t]  # (B, 1)
            h_new = torch.where(keep, h_new, h)
            c_new = torch.where(keep, c_new, c)
            outputs.append(h_new * keep)
        else:
            outputs.append(h_new)
        h, c = h_new, c_new
    return torch.stack(outputs, dim=1), h  # (B, T, U), (B, U)


class _ScriptedScan(nn.Module):
    """:func:`keras_rnn_scan` with its kind and activation names as TorchScript constants, so
    the compiled loop keeps only their branches."""

    __constants__ = ("kind", "activation", "recurrent_activation", "reset_after")

    def __init__(
        self, kind: str, activation: str, recurrent_activation: str, reset_after: bool
    ) -> None:
        super().__init__()
        self.kind = kind
        self.activation = activation
        self.recurrent_activation = recurrent_activation
        self.reset_after = reset_after

    def forward(
        self, gates_x: Tensor, weight_hh: Tensor, bias_hh: Tensor | None, valid: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        return keras_rnn_scan(
            gates_x,
            weight_hh,
            bias_hh,
            valid,
            self.kind,
            self.activation,
            self.recurrent_activation,
            self.reset_after,
        )


@functools.cache
def _scripted_scan(
    kind: str, activation: str, recurrent_activation: str, reset_after: bool
) -> nn.Module | None:
    """The compiled loop for one kind and pair of activations (compiled once per process), or
    None when TorchScript cannot compile it (the Python loop then runs)."""
    with warnings.catch_warnings():
        # torch 2.10+ calls torch.jit.script deprecated; the Python loop is the fallback.
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=Warning)
        try:
            scripted: nn.Module = torch.jit.script(
                _ScriptedScan(kind, activation, recurrent_activation, reset_after)
            )
        except Exception:  # TorchScript's own errors, or a torch without it
            return None
    return scripted


def _eager() -> bool:
    """Whether ops run eagerly: not traced, compiled, exported or under a torch.func transform
    (a scripted module is called only then; a trace unrolls the Python loop instead)."""
    return not (
        torch.jit.is_tracing()  # type: ignore[attr-defined,no-untyped-call]
        or torch.compiler.is_compiling()
        or torch._C._are_functorch_transforms_active()
    )


class KerasRNN(nn.Module):
    """A Keras ``LSTM``, ``GRU`` or ``SimpleRNN`` with any of its activations, batch first.

    The gates are Keras's, in Keras's order: LSTM ``(i, f, c, o)`` with
    ``c_t = σ(f) c + σ(i) act(x W_c + h U_c + b_c)``, ``h_t = σ(o) act(c_t)``; GRU
    ``(z, r, h)`` with ``h_t = z h + (1 - z) act(...)``, the reset gate applied after the
    recurrent matmul (``reset_after=True``, two biases) or before it (``reset_after=False``);
    SimpleRNN ``h_t = act(x W + h U + b)``. ``σ`` is ``recurrent_activation``.

    The input projection of all steps is one matmul; the loop over time is
    :func:`keras_rnn_scan`. Without autograd (``torch.no_grad``, ``torch.inference_mode``) it
    runs compiled by TorchScript, its names as constants; with autograd, traced or compiled, it
    runs in Python (a trace unrolls it, as it unrolls any Python loop).

    Args:
        kind: ``"lstm"``, ``"gru"`` or ``"simple"``.
        input_size: features per step ``F``.
        units: ``U``.
        bias: learn the biases.
        activation: from :data:`~cnnlstm.layers.activations.ACTIVATIONS`.
        recurrent_activation: the gates' activation (LSTM and GRU).
        reset_after: the GRU's reset-gate placement.

    Example:
        >>> rnn = KerasRNN("lstm", 3, 5, activation="relu")
        >>> rnn(torch.randn(2, 7, 3))[0].shape
        torch.Size([2, 7, 5])
    """

    def __init__(
        self,
        kind: Literal["lstm", "gru", "simple"],
        input_size: int,
        units: int,
        *,
        bias: bool = True,
        activation: str = "tanh",
        recurrent_activation: str = "sigmoid",
        reset_after: bool = True,
    ) -> None:
        super().__init__()
        if kind not in _GATES:
            raise ValueError(f"kind has to be 'lstm', 'gru' or 'simple', but got {kind!r}")
        for argument, name in (
            ("activation", activation),
            ("recurrent_activation", recurrent_activation),
        ):
            if name not in ACTIVATIONS:
                raise ValueError(f"{argument} has to be one of {ACTIVATIONS}, but got {name!r}")
        self.kind = kind
        self.input_size = int(input_size)
        self.units = int(units)
        self.activation = activation
        self.recurrent_activation = recurrent_activation
        self.reset_after = bool(reset_after)
        gates = _GATES[kind] * self.units
        self.weight_ih = nn.Parameter(torch.empty(gates, self.input_size))
        self.weight_hh = nn.Parameter(torch.empty(gates, self.units))
        self.bias_ih = nn.Parameter(torch.zeros(gates)) if bias else None
        two_biases = bias and kind == "gru" and self.reset_after
        self.bias_hh = nn.Parameter(torch.zeros(gates)) if two_biases else None
        bound = self.units**-0.5
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -bound, bound)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``x``: ``(B, T, F)`` -> ``(output (B, T, U), h_n (B, U))``; steps past each of
        ``lengths`` keep the state and output zeros."""
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ShapeError(
                f"KerasRNN: expected sequences (B, T, {self.input_size}), got a tensor of shape "
                f"{format_shape(x.shape)}."
            ) from None
        gates_x = F.linear(x, self.weight_ih, self.bias_ih)  # (B, T, G*U): all steps at once
        valid = None
        if lengths is not None:
            steps = x.shape[1]
            valid = torch.arange(steps, device=x.device).unsqueeze(0) < lengths.unsqueeze(1)
            valid = valid.unsqueeze(-1)  # (B, T, 1)
        settings = (self.kind, self.activation, self.recurrent_activation, self.reset_after)
        # TorchScript for inference only: a scripted loop that has run with autograd can fail
        # later under torch.inference_mode ("Inference tensors cannot be saved for backward").
        scripted = _eager() and not torch.is_grad_enabled()
        scan = _scripted_scan(*settings) if scripted else None
        if scan is None:  # autograd, traced (the loop unrolls), compiled, or no TorchScript
            return keras_rnn_scan(gates_x, self.weight_hh, self.bias_hh, valid, *settings)
        output: tuple[Tensor, Tensor] = scan(gates_x, self.weight_hh, self.bias_hh, valid)
        return output

    def extra_repr(self) -> str:
        parts = [f"{self.kind!r}, {self.input_size}, {self.units}"]
        parts.append(f"activation={self.activation!r}")
        if self.kind != "simple":
            parts.append(f"recurrent_activation={self.recurrent_activation!r}")
        if self.kind == "gru":
            parts.append(f"reset_after={self.reset_after}")
        if self.bias_ih is None:
            parts.append("bias=False")
        return ", ".join(parts)


class Recurrent(nn.Module):
    """Run a batch-first recurrent module and return what a Keras RNN layer returns.

    Args:
        rnn: ``nn.LSTM``, ``nn.GRU``, ``nn.RNN`` (``batch_first=True``), a :class:`KerasRNN` or
            a ConvLSTM: any module whose output is ``(output, state)`` with ``output`` of shape
            ``(B, T, ...)``.
        return_sequences: return every step ``(B, T, ...)``; otherwise the last one ``(B, ...)``.
        go_backwards: read the sequence from its end, as Keras does; with
            ``return_sequences=True`` the steps come out in reading order (reversed).
        zero_output_for_mask: with a mask, output zeros at the masked steps (Keras's
            ``zero_output_for_mask=True``); otherwise the last valid output is repeated there.

    Example:
        >>> rnn = nn.LSTM(8, 16, batch_first=True)
        >>> Recurrent(rnn, return_sequences=False)(torch.zeros(2, 5, 8)).shape
        torch.Size([2, 16])
    """

    def __init__(
        self,
        rnn: nn.Module,
        *,
        return_sequences: bool = True,
        go_backwards: bool = False,
        zero_output_for_mask: bool = False,
    ) -> None:
        super().__init__()
        self.rnn = rnn
        self.return_sequences = bool(return_sequences)
        self.go_backwards = bool(go_backwards)
        self.zero_output_for_mask = bool(zero_output_for_mask)

    def _run(self, x: Tensor, lengths: Tensor) -> Tensor:
        """The rnn's output ``(B, T, ...)`` for sequences of ``lengths``, zero past each."""
        steps = x.shape[1]
        at_least_one = lengths.clamp(min=1)
        if isinstance(self.rnn, _TORCH_RNNS):
            packed = pack_padded_sequence(
                x, at_least_one.cpu(), batch_first=True, enforce_sorted=False
            )
            output, _ = pad_packed_sequence(
                self.rnn(packed)[0], batch_first=True, total_length=steps
            )
        else:
            output = self.rnn(x, lengths=at_least_one)[0]
        empty = (lengths == 0).view(-1, *([1] * (output.dim() - 1)))
        result: Tensor = output.masked_fill(empty, 0.0)
        return result

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``x``: ``(B, T, ...)`` -> ``(B, T, ...)`` or ``(B, ...)``; ``mask``: ``(B, T)``."""
        if mask is None:
            if self.go_backwards:
                x = x.flip(1)  # (B, T, ...) last step first
            output: Tensor = self.rnn(x)[0]  # (B, T, ...)
            return output if self.return_sequences else output[:, -1]
        steps = x.shape[1]
        lengths = mask_lengths(mask, steps).to(x.device)  # (B,)
        if self.go_backwards:
            x = _take_steps(x, _reverse_index(lengths, steps))  # valid steps reversed in place
        output = self._run(x, lengths)  # (B, T, ...), zero past each length
        last_index = (lengths - 1).clamp(min=0)
        last = _take_steps(output, last_index.unsqueeze(1)).squeeze(1)  # (B, ...)
        if not self.return_sequences:
            return last
        step = torch.arange(steps, device=x.device).unsqueeze(0)  # (1, T)
        shape = (*output.shape[:2], *([1] * (output.dim() - 2)))
        if self.go_backwards:
            # Keras reads the padding first (state zero), then the valid steps last to first.
            start = (steps - lengths).unsqueeze(1)  # (B, 1)
            index = (step - start).clamp(min=0)
            shifted = _take_steps(output, index)
            return shifted.masked_fill((step < start).view(shape), 0.0)
        if self.zero_output_for_mask:
            return output
        past = (step >= lengths.unsqueeze(1)).view(shape)
        return torch.where(past, last.unsqueeze(1), output)

    def extra_repr(self) -> str:
        return f"return_sequences={self.return_sequences}, go_backwards={self.go_backwards}" + (
            ", zero_output_for_mask=True" if self.zero_output_for_mask else ""
        )


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(nn.Module):
    """Run a recurrent layer both ways over a sequence and merge the two as Keras
    ``Bidirectional``.

    Either one bidirectional torch LSTM, GRU or RNN (Keras's default activations: torch's
    kernels run both directions), or two :class:`KerasRNN` s, ``rnn`` forward and ``backward``
    (any activation, ``GRU(reset_after=False)``), the second run on each sequence reversed
    within its length and its output put back in time order.

    The backward direction reads the sequence from its end. With ``return_sequences=True`` its
    step ``t`` is the state after reading steps ``T-1`` down to ``t``, aligned to the original
    time order as Keras aligns it; with ``return_sequences=False`` each direction gives its
    final state: the forward one at the last step, the backward one at step 0 (not
    ``output[:, -1]``, where the backward direction has read a single step). With a mask, both
    read each sequence within its length and output zeros past it (Keras sets
    ``zero_output_for_mask`` inside ``Bidirectional``).

    Args:
        rnn: ``nn.LSTM``, ``nn.GRU`` or ``nn.RNN`` with ``batch_first=True``,
            ``bidirectional=True`` and one layer; or, with ``backward``, the forward
            :class:`KerasRNN`.
        backward: the backward :class:`KerasRNN` (same ``input_size`` as ``rnn``), or None
            when ``rnn`` runs both directions.
        merge_mode: how the two directions' outputs ``(B, ..., U)`` combine: ``"concat"``
            (forward first, ``(B, ..., 2U)``), ``"sum"``, ``"mul"``, ``"ave"``, or ``None`` for the
            tuple ``(forward, backward)``, as Keras returns a list of the two.
        return_sequences: return every step ``(B, T, ...)``; otherwise the final states
            ``(B, ...)``.

    Raises:
        ValueError: ``rnn`` is not a one-layer bidirectional batch-first LSTM, GRU or RNN (nor
            a :class:`KerasRNN` with a :class:`KerasRNN` ``backward`` of the same input size),
            or ``merge_mode`` is not one of the above.

    Example:
        >>> rnn = nn.LSTM(8, 16, batch_first=True, bidirectional=True)
        >>> Bidirectional(rnn, return_sequences=False)(torch.zeros(2, 5, 8)).shape
        torch.Size([2, 32])
        >>> pair = KerasRNN("lstm", 8, 16, activation="relu"), KerasRNN("gru", 8, 16)
        >>> Bidirectional(pair[0], backward=pair[1], merge_mode="sum")(torch.zeros(2, 5, 8)).shape
        torch.Size([2, 5, 16])
    """

    def __init__(
        self,
        rnn: nn.LSTM | nn.GRU | nn.RNN | KerasRNN,
        *,
        backward: KerasRNN | None = None,
        merge_mode: Literal["concat", "sum", "mul", "ave"] | None = "concat",
        return_sequences: bool = True,
    ) -> None:
        super().__init__()
        if backward is not None:
            if not isinstance(rnn, KerasRNN) or not isinstance(backward, KerasRNN):
                raise ValueError(
                    f"rnn and backward have to be two KerasRNN modules when backward is given, "
                    f"but got {type(rnn).__name__} and {type(backward).__name__}"
                )
            if backward.input_size != rnn.input_size:
                raise ValueError(
                    f"backward has to read the {rnn.input_size} features rnn reads, but got "
                    f"input_size={backward.input_size}"
                )
        elif not isinstance(rnn, _TORCH_RNNS) or not (
            rnn.bidirectional and rnn.batch_first and rnn.num_layers == 1
        ):
            raise ValueError(
                f"rnn has to be a one-layer nn.LSTM, nn.GRU or nn.RNN with batch_first=True and "
                f"bidirectional=True (or a KerasRNN, with backward= the backward one), but got "
                f"{rnn!r}"
            )
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"merge_mode has to be one of {_MERGE_MODES}, but got {merge_mode!r}")
        self.rnn = rnn
        self.backward = backward
        self.merge_mode = merge_mode
        self.return_sequences = bool(return_sequences)

    def _directions(self, x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor]:
        """Both directions' outputs ``(B, T, U)`` in time order, zero past each length."""
        if self.backward is None:
            steps = x.shape[1]
            if lengths is None:
                output: Tensor = self.rnn(x)[0]  # (B, T, 2U): forward, backward in time order
            else:
                packed = pack_padded_sequence(
                    x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
                )
                output, _ = pad_packed_sequence(
                    self.rnn(packed)[0], batch_first=True, total_length=steps
                )
            forward, backward = output.chunk(2, dim=-1)  # (B, T, U) each
            return forward, backward
        if lengths is None:
            forward = self.rnn(x)[0]  # (B, T, U)
            backward = self.backward(x.flip(1))[0].flip(1)  # (B, T, U), back in time order
            return forward, backward
        index = _reverse_index(lengths, x.shape[1])  # (B, T), its own inverse
        forward = self.rnn(x, lengths)[0]  # (B, T, U), zero past each length
        backward = _take_steps(self.backward(_take_steps(x, index), lengths)[0], index)
        return forward, backward

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        """``x``: ``(B, T, F)`` -> ``(B, T, U')`` or ``(B, U')``; a pair if ``merge_mode=None``.

        ``mask``: ``(B, T)``, a padded suffix, or None.
        """
        if x.dim() != 3 or x.shape[-1] != self.rnn.input_size:
            raise ShapeError(
                f"Bidirectional: expected sequences (B, T, {self.rnn.input_size}), got a tensor "
                f"of shape {format_shape(x.shape)}. Pass batch-first steps with "
                f"{self.rnn.input_size} features each."
            ) from None
        steps = x.shape[1]
        if mask is None:
            forward, backward = self._directions(x, None)  # (B, T, U) each
            last = torch.full((x.shape[0],), steps - 1, device=x.device)
        else:
            lengths = mask_lengths(mask, steps).to(x.device)
            forward, backward = self._directions(x, lengths.clamp(min=1))
            empty = (lengths == 0).view(-1, 1, 1)  # Keras outputs zeros for an all-masked row
            forward, backward = forward.masked_fill(empty, 0.0), backward.masked_fill(empty, 0.0)
            last = (lengths - 1).clamp(min=0)
        if not self.return_sequences:
            # Each direction's final state: the backward one has read the whole sequence at t=0.
            forward = _take_steps(forward, last.unsqueeze(1)).squeeze(1)  # (B, U)
            backward = backward[:, 0]  # (B, U)
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
