"""Converters for Keras's recurrent layers: ``LSTM``, ``GRU``, ``SimpleRNN``, ``Bidirectional``
and ``ConvLSTM1D/2D/3D``.

With Keras's default activations (``tanh`` and ``sigmoid``, and ``reset_after=True`` for ``GRU``)
an ``LSTM``, ``GRU`` or ``SimpleRNN`` becomes torch's own ``nn.LSTM``, ``nn.GRU`` or ``nn.RNN``
(cuDNN/oneDNN kernels), its gate blocks reordered into torch's order. Any other activation, and
``GRU(reset_after=False)``, becomes a :class:`~cnnlstm.interop.keras.recurrent.KerasRNN`; inside
``Bidirectional``, one for each direction. A ``ConvLSTM*D`` becomes cnnlstm's
:class:`~cnnlstm.layers.ConvLSTM` (``1d``/``3d``). Each is wrapped in the
:mod:`~cnnlstm.interop.keras.recurrent` module that returns what the Keras layer returns.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

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
    ntuple,
    out_state,
    perm,
    refuse,
    set_param,
)
from cnnlstm.interop.keras.recurrent import Bidirectional, KerasRNN, Recurrent
from cnnlstm.layers.activations import ACTIVATIONS
from cnnlstm.layers.convlstm import ConvLSTM, ConvLSTM1d, ConvLSTM3d

__all__ = ["convert_bidirectional", "convert_conv_lstm", "convert_rnn"]


def _kind(layer: Any) -> Literal["lstm", "gru", "simple"]:
    with importing("converting Keras models (cnnlstm.interop.keras.recurrent_convert)", "keras"):
        import keras

    if isinstance(layer, keras.layers.LSTM):
        return "lstm"
    if isinstance(layer, keras.layers.GRU):
        return "gru"
    return "simple"


def _activation_name(name: Any, builder: Builder) -> Any:
    """A Keras activation name as :func:`~cnnlstm.layers.activations.activate` spells it."""
    if name == "hard_sigmoid" and builder.hard_sigmoid == "tf_keras2":
        return "hard_sigmoid_tf2"
    return name


def _common_problems(cfg: dict[str, Any]) -> list[str]:
    problems = []
    if cfg.get("stateful"):
        problems.append("stateful=True (the converted layer starts every batch from zeros)")
    if cfg.get("return_state"):
        problems.append("return_state=True (use the layer's output; its states are not returned)")
    return problems


def _activations(layer: Any, cfg: dict[str, Any], builder: Builder) -> tuple[str, str]:
    """The layer's (activation, recurrent_activation) as :data:`ACTIVATIONS` names."""
    act = _activation_name(cfg.get("activation", "tanh"), builder)
    gate = _activation_name(cfg.get("recurrent_activation", "sigmoid"), builder)
    names = ", ".join(a for a in ACTIVATIONS if a != "hard_sigmoid_tf2")
    problems = [
        f"{argument}={cfg.get(argument)!r} (supported: {names})"
        for argument, name in (("activation", act), ("recurrent_activation", gate))
        if name not in ACTIVATIONS
    ]
    if problems:
        raise refuse(layer, problems)
    return act, gate


def _is_torch_native(kind: str, act: str, gate: str, cfg: dict[str, Any]) -> bool:
    if kind == "simple":
        return act in ("tanh", "relu")
    plain = act == "tanh" and gate == "sigmoid"
    return plain and (kind == "lstm" or cfg.get("reset_after", True) is not False)


def _torch_rnn(layer: Any, kind: str, act: str, *, bidirectional: bool = False) -> nn.Module:
    """A batch-first torch LSTM, GRU or RNN sized like the Keras ``layer``."""
    cfg = config(layer)
    features = int(layer.cell.kernel.shape[0])  # the kernel is (F, G*U)
    units, bias = int(cfg["units"]), bool(cfg["use_bias"])
    if kind == "simple":
        return build(
            nn.RNN,
            features,
            units,
            nonlinearity=act,
            batch_first=True,
            bias=bias,
            bidirectional=bidirectional,
        )
    kind_class = nn.LSTM if kind == "lstm" else nn.GRU
    return build(
        kind_class, features, units, batch_first=True, bias=bias, bidirectional=bidirectional
    )


def _copy_torch_weights(rnn: nn.Module, layer: Any, kind: str, *, suffix: str = "") -> None:
    """Copy a Keras ``LSTM``, ``GRU`` or ``SimpleRNN``'s weights into one direction of ``rnn``
    (``suffix`` ``""`` for the forward one, ``"_reverse"`` for the backward one)."""
    cell = layer.cell
    kernel = array(cell.kernel)  # (F, G*U), Keras gate blocks side by side
    recurrent = array(cell.recurrent_kernel)  # (U, G*U)
    units = recurrent.shape[0]
    has_bias = getattr(rnn, "bias", False)
    biases: tuple[Tensor, Tensor] | None = None
    if kind == "lstm":
        # Keras gates i, f, c, o are torch's i, f, g, o; Keras has one bias, torch two.
        order = [0, 1, 2, 3]
        if has_bias:
            biases = (array(cell.bias), torch.zeros(4 * units))
    elif kind == "gru":
        # Keras gates z, r, h; torch r, z, n. The bias is (2, 3U): input and recurrent parts.
        order = [1, 0, 2]
        if has_bias:
            bias = array(cell.bias)  # (2, 3U)
            biases = (bias[0], bias[1])
    else:
        order = [0]
        if has_bias:
            biases = (array(cell.bias), torch.zeros(units))

    def gates(t: Tensor) -> Tensor:
        blocks = t.chunk(len(order), dim=-1)
        return torch.cat([blocks[g] for g in order], dim=-1)

    def param(name: str) -> Tensor:
        return rnn.get_parameter(f"{name}_l0{suffix}")

    set_param(param("weight_ih"), gates(kernel).T, layer=layer, what="kernel")
    set_param(param("weight_hh"), gates(recurrent).T, layer=layer, what="recurrent_kernel")
    if biases is not None:
        set_param(param("bias_ih"), gates(biases[0]), layer=layer, what="bias")
        set_param(param("bias_hh"), gates(biases[1]), layer=layer, what="bias")


def _keras_rnn(layer: Any, kind: Literal["lstm", "gru", "simple"], act: str, gate: str) -> KerasRNN:
    cfg = config(layer)
    cell = layer.cell
    kernel = array(cell.kernel)  # (F, G*U)
    reset_after = bool(cfg.get("reset_after", True))
    rnn = build(
        KerasRNN,
        kind,
        kernel.shape[0],
        int(cfg["units"]),
        bias=bool(cfg["use_bias"]),
        activation=act,
        recurrent_activation=gate,
        reset_after=reset_after,
    )
    set_param(rnn.weight_ih, kernel.T, layer=layer, what="kernel")
    set_param(rnn.weight_hh, array(cell.recurrent_kernel).T, layer=layer, what="recurrent_kernel")
    if rnn.bias_ih is not None:
        bias = array(cell.bias)
        if rnn.bias_hh is not None:  # GRU reset_after=True: (2, 3U)
            set_param(rnn.bias_ih, bias[0], layer=layer, what="bias")
            set_param(rnn.bias_hh, bias[1], layer=layer, what="bias")
        else:
            set_param(rnn.bias_ih, bias, layer=layer, what="bias")
    return rnn


def _add_recurrent(builder: Builder, layer: Any, rnn: nn.Module) -> Recurrent:
    """Add ``rnn`` to ``builder`` inside a :class:`Recurrent` with the Keras ``layer``'s
    ``return_sequences``, ``go_backwards`` and ``zero_output_for_mask``; it takes the mask."""
    cfg = config(layer)
    module = build(
        Recurrent,
        rnn,
        return_sequences=bool(cfg["return_sequences"]),
        go_backwards=bool(cfg["go_backwards"]),
        zero_output_for_mask=bool(cfg.get("zero_output_for_mask", False)),
    )
    builder.add(layer.name, module, takes_mask=True)
    return module


def convert_rnn(builder: Builder, layer: Any, state: State) -> State:
    """``LSTM``, ``GRU``, ``SimpleRNN``: torch's own layer for the default activations, else a
    :class:`KerasRNN`."""
    expect_rank(layer, state, [3], "sequences (B, T, F)")
    cfg = config(layer)
    problems = _common_problems(cfg)
    if problems:
        raise refuse(layer, problems)
    kind = _kind(layer)
    act, gate = _activations(layer, cfg, builder)
    rnn: nn.Module
    if _is_torch_native(kind, act, gate, cfg):
        rnn = _torch_rnn(layer, kind, act)
        _copy_torch_weights(rnn, layer, kind)
    else:
        rnn = _keras_rnn(layer, kind, act, gate)
    _add_recurrent(builder, layer, rnn)
    return out_state(layer, state, "last")


def convert_bidirectional(builder: Builder, layer: Any, state: State) -> State:
    """``Bidirectional`` around ``LSTM``, ``GRU`` or ``SimpleRNN``: one bidirectional torch
    layer for torch's activations, else a forward and a backward :class:`KerasRNN`."""
    with importing("converting Keras models (cnnlstm.interop.keras.recurrent_convert)", "keras"):
        import keras

    forward, backward = layer.forward_layer, layer.backward_layer
    kinds = (keras.layers.LSTM, keras.layers.GRU, keras.layers.SimpleRNN)
    directions = []
    for direction, inner in (("forward", forward), ("backward", backward)):
        if type(inner) not in kinds:
            raise ConfigError(
                f"from_keras: {describe(layer)} wraps {describe(inner)} as its {direction} "
                f"layer; only LSTM, GRU and SimpleRNN can be converted inside Bidirectional."
            )
        cfg = config(inner)
        problems = _common_problems(cfg)
        if problems:
            raise ConfigError(
                f"from_keras: {describe(layer)}: its {direction} {describe(inner)} cannot be "
                f"converted: " + "; ".join(problems) + "."
            )
        kind = _kind(inner)
        act, gate = _activations(inner, cfg, builder)
        directions.append((kind, act, gate, _is_torch_native(kind, act, gate, cfg)))
    expect_rank(layer, state, [3], "sequences (B, T, F)")
    problems = []
    if type(backward) is not type(forward):
        problems.append(
            f"backward_layer is {type(backward).__name__} but the forward layer is "
            f"{type(forward).__name__}"
        )
    for setting in ("units", "use_bias"):
        ours, theirs = config(forward)[setting], config(backward)[setting]
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
            f"from_keras: {describe(layer)} cannot be converted: "
            + "; ".join(problems)
            + ". Its two directions have to have the same kind, units and use_bias."
        )
    (kind, act, gate, native), (_, back_act, back_gate, back_native) = directions
    same = (act, gate) == (back_act, back_gate) and (
        kind != "gru" or config(forward).get("reset_after") == config(backward).get("reset_after")
    )
    module: Bidirectional
    if native and back_native and same:  # torch's kernels run both directions
        rnn = _torch_rnn(forward, kind, act, bidirectional=True)
        _copy_torch_weights(rnn, forward, kind)
        _copy_torch_weights(rnn, backward, kind, suffix="_reverse")
        module = build(
            Bidirectional,
            rnn,
            merge_mode=layer.merge_mode,
            return_sequences=bool(layer.return_sequences),
        )
    else:
        module = build(
            Bidirectional,
            _keras_rnn(forward, kind, act, gate),
            backward=_keras_rnn(backward, kind, back_act, back_gate),
            merge_mode=layer.merge_mode,
            return_sequences=bool(layer.return_sequences),
        )
    builder.add(layer.name, module, takes_mask=True)
    shape = tuple(forward.compute_output_shape(state.shape))
    if layer.merge_mode == "concat":
        shape = (*shape[:-1], 2 * shape[-1])
    return State(shape, perm("last", len(shape)))


_CONVLSTMS: dict[int, type[nn.Module]] = {1: ConvLSTM1d, 2: ConvLSTM, 3: ConvLSTM3d}
_CONVS = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def convert_conv_lstm(builder: Builder, layer: Any, state: State) -> State:
    """``ConvLSTM1D``, ``ConvLSTM2D``, ``ConvLSTM3D``: cnnlstm's ``ConvLSTM1d/ConvLSTM/3d``."""
    n = int(type(layer).__name__[-2])  # ConvLSTM1D, 2D, 3D
    expect_rank(layer, state, [n + 3], f"clips (B, T, {n} spatial axes, C)")
    expect_channels_last(layer)
    cfg = config(layer)
    problems = _common_problems(cfg)
    padding = cfg["padding"]
    if padding not in ("same", "valid"):
        problems.append(f"padding={padding!r} (supported: 'same', 'valid')")
    if ntuple(cfg["strides"], n) != (1,) * n:
        problems.append(f"strides={cfg['strides']} (only 1 is supported)")
    if ntuple(cfg["dilation_rate"], n) != (1,) * n:
        problems.append(f"dilation_rate={cfg['dilation_rate']} (only 1 is supported)")
    act, gate = _activations(layer, cfg, builder)
    if problems:
        raise refuse(layer, problems)
    cell = layer.cell
    order = (n + 1, n, *range(n))
    kernel = array(cell.kernel)  # (*k, C, 4*C'), gates i, f, c, o like torch's i, f, g, o
    recurrent = array(cell.recurrent_kernel)  # (*k, C', 4*C')
    filters, use_bias = int(cfg["filters"]), bool(cfg["use_bias"])
    convlstm = build(
        _CONVLSTMS[n],
        kernel.shape[n],
        filters,
        ntuple(cfg["kernel_size"], n),
        bias=use_bias,
        batch_first=True,
        padding=padding,  # the input convolution's; Keras's recurrent one is always "same"
        activation=act,
        recurrent_activation=gate,
    )
    cells = getattr(convlstm, "cells", None)
    only = cells[0] if isinstance(cells, nn.ModuleList) and len(cells) == 1 else None
    input_conv = getattr(only, "input_conv", None)
    hidden_conv = getattr(only, "hidden_conv", None)
    if not isinstance(input_conv, _CONVS[n]) or not isinstance(hidden_conv, _CONVS[n]):
        raise ConfigError(
            f"from_keras: {describe(layer)}: cnnlstm's ConvLSTM no longer has one cell with "
            f"input_conv and hidden_conv at cells[0]; the converter needs updating."
        )
    set_param(input_conv.weight, kernel.permute(*order), layer=layer, what="kernel")
    set_param(hidden_conv.weight, recurrent.permute(*order), layer=layer, what="recurrent_kernel")
    if use_bias:
        set_param(input_conv.bias, array(cell.bias), layer=layer, what="bias")
    module = _add_recurrent(builder, layer, convlstm)
    return out_state(layer, state, "frames" if module.return_sequences else "first")
