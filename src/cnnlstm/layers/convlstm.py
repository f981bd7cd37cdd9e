"""ConvLSTM (Shi et al. 2015): stacked, optionally bidirectional, over a sequence of grids.

A Conv -> LSTM model flattens each frame into a vector before the recurrence; a ConvLSTM keeps
``(C, H, W)`` all the way through, which is what next-frame prediction, precipitation nowcasting
and per-pixel scores need. ``ConvLSTM`` works on 2-D frames, ``ConvLSTM1d`` on 1-D signals
(``(B, T, C, W)``) and ``ConvLSTM3d`` on volumes (``(B, T, C, D, H, W)``). Each layer is one cell
per direction (:mod:`cnnlstm.layers.convlstm_cell`, which has the equations) run over time here:
states, lengths, bidirectional and stacked layers, dropout.

For speed, ``W_x * x_t`` runs for many time steps in one convolution folded into the batch (in
chunks of :data:`INPUT_CONV_CHUNK_BYTES`) and only ``W_h * h_{t-1}`` step by step (skipped at
the first step from a zero state). Where the time goes is in the manual's design notes.

Parameter layout (the Keras import relies on these names): ``ConvLSTM.cells[k]`` for layer ``l``
and direction ``d`` is at ``k = l * num_directions + d`` (the order of ``h_n``, as in
``torch.nn.LSTM``); each is a cell with the parameters :mod:`cnnlstm.layers.convlstm_cell` lists.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import ClassVar, TypeAlias, cast

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from cnnlstm.errors import ShapeError
from cnnlstm.functional import check_lengths, fold_time, format_shape, unfold_time
from cnnlstm.layers.activations import check_activation
from cnnlstm.layers.convlstm_cell import (
    ConvLSTMCell,
    ConvLSTMCell1d,
    ConvLSTMCell3d,
    ConvLSTMCellNd,
)
from cnnlstm.layers.convlstm_checks import (
    LAYER_CLASS_NAMES,
    SPATIAL_AXES,
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
    "INPUT_CONV_CHUNK_BYTES",
    "ConvLSTM",
    "ConvLSTM1d",
    "ConvLSTM2d",
    "ConvLSTM3d",
]

#: The input convolution runs on as many steps at once (folded into the batch) as keep its output,
#: the gate pre-activations, within this many bytes. On CPU, one call over all steps of a large
#: clip (e.g. 160 MB for B=4, T=10, 64x64, hidden 64) was slower than a call per step whose
#: output stays in cache; small frames still get all their steps in one call.
INPUT_CONV_CHUNK_BYTES = 16 * 2**20

#: ``h_n`` or ``c_n``: one stacked tensor when every layer has the same hidden size, else one
#: tensor per layer.
LayerStates: TypeAlias = Tensor | tuple[Tensor, ...]

_CELLS: dict[int, type[ConvLSTMCellNd]] = {1: ConvLSTMCell1d, 2: ConvLSTMCell, 3: ConvLSTMCell3d}


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
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.padding = check_padding(padding)
        self.activation = check_activation("activation", activation)
        self.recurrent_activation = check_activation("recurrent_activation", recurrent_activation)
        if num_layers is not None:
            check_positive_int("num_layers", num_layers)
        if is_int(hidden_channels):
            hidden = [check_positive_int("hidden_channels", hidden_channels)] * (num_layers or 1)
        elif isinstance(hidden_channels, Sequence) and len(hidden_channels) > 0:
            hidden = [check_positive_int("each hidden_channels entry", h) for h in hidden_channels]
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
        self.kernel_size = kernel_tuple(kernel_size, self.spatial_dims)
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
        return grid_layout(self.spatial_dims, batch_first=self.batch_first)

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
            if len(shape) - 3 in LAYER_CLASS_NAMES and len(shape) - 3 != self.spatial_dims:
                other = LAYER_CLASS_NAMES[len(shape) - 3]
                hints.append(f" For clips of {len(shape) - 3}-D grids use {other}.")
            raise ShapeError(
                f"{name}: expected an input {self._layout()} with {ndim} dimensions, got shape "
                f"{format_shape(shape)} ({len(shape)}-D).{''.join(hints)}"
            ) from None
        if shape[2] != self.in_channels:
            axes = grid_axes(self.spatial_dims, batch_first=self.batch_first)
            raise ShapeError(
                channels_hint(name, shape, self.in_channels, axes, frame=False)
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
                f"({', '.join(SPATIAL_AXES[self.spatial_dims])}), got shape "
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

    def _cell(self, index: int) -> ConvLSTMCellNd:
        return cast(ConvLSTMCellNd, self.cells[index])

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
                        f"{', '.join(SPATIAL_AXES[self.spatial_dims])})"
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
        cell: ConvLSTMCellNd,
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
                h_new, c_new = cell.step_update(gates, gates_h, c)
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
