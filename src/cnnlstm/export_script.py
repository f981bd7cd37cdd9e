"""Stand-ins that keep a ConvLSTM's loop over time a loop when a model is traced for export.

Tracing unrolls Python loops, so a ConvLSTM's loop over time would be frozen at the example's
length. :func:`script_time_loops` replaces every ConvLSTM in a copy of a model (the model is left
alone) by a stand-in compiled with ``torch.jit.script`` that runs the ConvLSTM's own cells (their
convolutions and their ``update``, the same weights) in a loop over however many steps the input
has. The trace keeps that loop: a TorchScript loop in a TorchScript file, an ONNX ``Loop`` in an
ONNX file (the TorchScript-based exporter, ``dynamo=False``). :func:`cnnlstm.export.export_model`
uses it, so ``clip_classifier`` with ``bridge="convlstm"`` and ``convlstm_forecaster`` export with
a dynamic time axis.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from cnnlstm.errors import ConfigError
from cnnlstm.layers.convlstm import ConvLSTM, ConvLSTM1d, ConvLSTM3d

__all__ = ["script_time_loops"]

_CONVLSTMS = (ConvLSTM, ConvLSTM1d, ConvLSTM3d)
_AnyConvLSTM = ConvLSTM | ConvLSTM1d | ConvLSTM3d


class _ScanMixin(nn.Module):
    """The ``forward`` a ConvLSTM cell gets in the stand-in: the cell run over a whole sequence.

    Mixed into a subclass of the cell's own class (see :func:`_scan_class`), so ``input_conv``,
    ``hidden_conv`` and ``update`` are the cell's: only the loop is written here. It is what
    ``ConvLSTM`` computes without ``lengths`` and from a zero state, in a form
    ``torch.jit.script`` compiles (the length of the loop is read from the input).
    """

    if TYPE_CHECKING:  # the cell's, for mypy (no "# type:" comments: TorchScript reads them)
        input_conv: nn.Module
        hidden_conv: nn.Module

        def update(self, gates: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]: ...

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``x: (B, T, C, *S)`` -> ``(output (B, T, hidden, *S'), h_T, c_T)``."""
        batch, steps = x.shape[0], x.shape[1]
        gates_x = self.input_conv(x.flatten(0, 1))  # (B*T, 4*hidden, *S')
        gates_x = gates_x.unflatten(0, (batch, steps))  # (B, T, 4*hidden, *S')
        h, c = self.update(gates_x[:, 0], None)  # each (B, hidden, *S')
        outputs = [h]
        for t in range(1, steps):
            h, c = self.update(gates_x[:, t] + self.hidden_conv(h), c)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h, c  # (B, T, hidden, *S'), (B, hidden, *S') x2


_SCAN_CLASSES: dict[type[nn.Module], type[nn.Module]] = {}


def _scan_class(cell_class: type[nn.Module]) -> type[nn.Module]:
    """``cell_class`` with :class:`_ScanMixin`'s ``forward`` (made once per cell class)."""
    if cell_class not in _SCAN_CLASSES:
        name = f"_Scan{cell_class.__name__}"
        _SCAN_CLASSES[cell_class] = type(name, (_ScanMixin, cell_class), {})
    return _SCAN_CLASSES[cell_class]


def _scan(cell: nn.Module) -> nn.Module:
    """A view of ``cell`` (the same parameters and submodules) whose forward scans a sequence."""
    scan_class = _scan_class(type(cell))
    scan: nn.Module = scan_class.__new__(scan_class)
    scan.__dict__.update(cell.__dict__)  # shares _parameters, _modules, _buffers with the cell
    return scan


class _ScriptedLayer(nn.Module):
    """One layer of a ConvLSTM, both directions, each cell scanned by :class:`_ScanMixin`.

    Compiled with ``torch.jit.script``; it returns tensors only, so a trace around it knows the
    rank of everything it gets back.
    """

    def __init__(self, cells: Sequence[nn.Module]) -> None:
        super().__init__()
        self.scans = nn.ModuleList(_scan(cell) for cell in cells)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``x: (B, T, C, *S)`` -> ``(output (B, T, hidden * dirs, *S'), h_n, c_n)``.

        ``h_n`` and ``c_n`` are ``(dirs, B, hidden, *S')``; the backward direction reads the
        sequence reversed and its output is put back in time order.
        """
        outputs: list[Tensor] = []
        h_n: list[Tensor] = []
        c_n: list[Tensor] = []
        for direction, scan in enumerate(self.scans):
            output, h, c = scan(x if direction == 0 else x.flip(1))
            outputs.append(output if direction == 0 else output.flip(1))  # (B, T, hidden, *S')
            h_n.append(h)
            c_n.append(c)
        return torch.cat(outputs, dim=2), torch.stack(h_n), torch.stack(c_n)


class _ConvLSTMStandIn(nn.Module):
    """What replaces a ConvLSTM for export: its layers scripted, its states packed as it does.

    Without ``state`` and ``lengths`` (the only call an exported model makes) it computes what
    the ConvLSTM computes in eval mode, with the ConvLSTM's own cells.

    Args:
        convlstm: the ConvLSTM (its cells are shared, not copied).
    """

    def __init__(self, convlstm: _AnyConvLSTM) -> None:
        super().__init__()
        d = convlstm.num_directions
        cells = list(convlstm.cells)
        self.layers = nn.ModuleList(
            torch.jit.script(_ScriptedLayer(cells[k * d : (k + 1) * d]))
            for k in range(convlstm.num_layers)
        )
        self.batch_first = convlstm.batch_first
        # As the ConvLSTM: one stacked h_n when every layer's state has the same shape.
        hidden = convlstm.hidden_channels
        self.stacked = len(set(hidden)) == 1 and (convlstm.padding == "same" or len(hidden) == 1)

    def forward(
        self, x: Tensor, state: object = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, tuple[Tensor | tuple[Tensor, ...], Tensor | tuple[Tensor, ...]]]:
        """The ConvLSTM's ``(output, (h_n, c_n))`` from a zero state, for whole sequences."""
        if state is not None or lengths is not None:
            raise ConfigError(
                "export: the exported ConvLSTM starts from a zero state and reads whole "
                "sequences, but the model passes it a state or lengths."
            )
        if not self.batch_first:
            x = x.transpose(0, 1)  # (B, T, C, *S)
        h_n: list[Tensor] = []
        c_n: list[Tensor] = []
        for layer in self.layers:
            x, h, c = layer(x)  # (B, T, hidden * dirs, *S'), (dirs, B, hidden, *S') x2
            # A scripted call's results have no known rank in the trace, and ONNX's unbind
            # and split need one: reshaping each to its own size records it.
            x, h, c = (t.reshape(t.shape) for t in (x, h, c))
            h_n.append(h)
            c_n.append(c)
        output = x if self.batch_first else x.transpose(0, 1)
        if self.stacked:
            return output, (torch.cat(h_n), torch.cat(c_n))  # (layers * dirs, B, hidden, *S')
        return output, (tuple(h_n), tuple(c_n))


def script_time_loops(model: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``model`` whose ConvLSTMs loop over time in TorchScript, and how many there are.

    ``model`` itself comes back (and 0) when it has no ConvLSTM inside. A stand-in computes what
    the ConvLSTM computes in eval mode from a zero state over whole sequences; it refuses a
    ``state`` or ``lengths``.

    Example:
        >>> model = nn.Sequential(ConvLSTM(2, 3, batch_first=True)).eval()
        >>> scripted, count = script_time_loops(model)
        >>> traced = torch.jit.trace(scripted, torch.rand(1, 4, 2, 5, 5), check_trace=False)
        >>> count, traced(torch.rand(1, 7, 2, 5, 5))[0].shape  # a length the trace never saw
        (1, torch.Size([1, 7, 3, 5, 5]))
    """
    names = [name for name, m in model.named_modules() if name and isinstance(m, _CONVLSTMS)]
    if not names:
        return model, 0
    scripted = copy.deepcopy(model)
    for name in names:
        owner, _, attribute = name.rpartition(".")
        convlstm = scripted.get_submodule(name)
        assert isinstance(convlstm, _CONVLSTMS)  # the copy of one found above
        stand_in = _ConvLSTMStandIn(convlstm)
        setattr(scripted.get_submodule(owner), attribute, stand_in)
    return scripted, len(names)
