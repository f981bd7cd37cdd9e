"""Which converter takes which Keras layer, and the layout each asks for first.

:func:`convert_layer` appends the torch modules of one single-input Keras layer to a
:class:`~cnnlstm.interop.keras.core.Builder`: it looks the layer's class up in the table of
converters (:func:`converters`; by kind of layer in :mod:`~cnnlstm.interop.keras.basic`,
:mod:`~cnnlstm.interop.keras.conv`, :mod:`~cnnlstm.interop.keras.pooling` and
:mod:`~cnnlstm.interop.keras.recurrent_convert`), moves the tensor to the layout that converter
wants (channels first for convolutions and pools, Keras order for the layers that flatten or read
steps), and unrolls ``TimeDistributed`` and chain-shaped nested models. Merges, ``Dot`` and
``Masking`` read several tensors or write a mask: the graph walk
(:mod:`~cnnlstm.interop.keras.convert`) converts those itself.
"""

from __future__ import annotations

from typing import Any

from cnnlstm.errors import ConfigError
from cnnlstm.extras import importing
from cnnlstm.interop.keras.basic import (
    convert_activation,
    convert_batch_norm,
    convert_dense,
    convert_dropout,
    convert_embedding,
    convert_flatten,
    convert_identity,
    convert_layer_norm,
    convert_noise,
    convert_permute,
    convert_repeat_vector,
    convert_reshape,
    convert_spatial_dropout,
)
from cnnlstm.interop.keras.conv import (
    convert_conv,
    convert_conv_transpose,
    convert_depthwise,
    convert_separable,
)
from cnnlstm.interop.keras.core import (
    Builder,
    Converter,
    Layout,
    State,
    build,
    describe,
)
from cnnlstm.interop.keras.nodes import layer_chain
from cnnlstm.interop.keras.pooling import (
    convert_cropping,
    convert_global_pool,
    convert_pool,
    convert_upsampling,
    convert_zero_padding,
)
from cnnlstm.interop.keras.recurrent_convert import (
    convert_bidirectional,
    convert_conv_lstm,
    convert_rnn,
)

__all__ = ["MERGES", "convert_layer", "convert_time_distributed", "converters", "supported_layers"]

_FIRST: tuple[Converter, ...] = (
    convert_conv,
    convert_conv_transpose,
    convert_depthwise,
    convert_separable,
    convert_pool,
    convert_global_pool,
    convert_upsampling,
    convert_zero_padding,
    convert_cropping,
    convert_batch_norm,
    convert_spatial_dropout,
)
_LAST: tuple[Converter, ...] = (
    convert_flatten,
    convert_reshape,
    convert_permute,
    convert_dense,
    convert_embedding,
    convert_rnn,
    convert_bidirectional,
    convert_repeat_vector,
    convert_layer_norm,
)
_WANTS: dict[Converter, Layout] = {
    **{c: "first" for c in _FIRST},
    **{c: "last" for c in _LAST},
    convert_conv_lstm: "frames",
}

_BY_NAME: dict[str, Converter] = {
    "InputLayer": convert_identity,
    "Dense": convert_dense,
    "Embedding": convert_embedding,
    "Activation": convert_activation,
    "ReLU": convert_activation,
    "LeakyReLU": convert_activation,
    "ELU": convert_activation,
    "Softmax": convert_activation,
    "BatchNormalization": convert_batch_norm,
    "LayerNormalization": convert_layer_norm,
    "Dropout": convert_dropout,
    "SpatialDropout1D": convert_spatial_dropout,
    "SpatialDropout2D": convert_spatial_dropout,
    "SpatialDropout3D": convert_spatial_dropout,
    "GaussianNoise": convert_noise,
    "GaussianDropout": convert_noise,
    "Flatten": convert_flatten,
    "Reshape": convert_reshape,
    "Permute": convert_permute,
    "RepeatVector": convert_repeat_vector,
    "LSTM": convert_rnn,
    "GRU": convert_rnn,
    "SimpleRNN": convert_rnn,
    "Bidirectional": convert_bidirectional,
    "ConvLSTM1D": convert_conv_lstm,
    "ConvLSTM2D": convert_conv_lstm,
    "ConvLSTM3D": convert_conv_lstm,
    **{f"Conv{n}D": convert_conv for n in (1, 2, 3)},
    **{f"Conv{n}DTranspose": convert_conv_transpose for n in (1, 2, 3)},
    **{f"SeparableConv{n}D": convert_separable for n in (1, 2)},
    **{f"DepthwiseConv{n}D": convert_depthwise for n in (1, 2)},
    **{f"{kind}Pooling{n}D": convert_pool for kind in ("Max", "Average") for n in (1, 2, 3)},
    **{
        f"Global{kind}Pooling{n}D": convert_global_pool
        for kind in ("Max", "Average")
        for n in (1, 2, 3)
    },
    **{f"UpSampling{n}D": convert_upsampling for n in (1, 2, 3)},
    **{f"ZeroPadding{n}D": convert_zero_padding for n in (1, 2, 3)},
    **{f"Cropping{n}D": convert_cropping for n in (1, 2, 3)},
}
MERGES = ("Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
"""The Keras merge layers: they read several tensors, so the graph walk
(:mod:`~cnnlstm.interop.keras.convert`) converts them, not :func:`convert_layer`."""


def converters() -> dict[type, Converter]:
    """The converter of each supported Keras layer class (``TimeDistributed`` aside)."""
    with importing("converting Keras models (cnnlstm.interop.keras.dispatch)", "keras"):
        import keras

    table: dict[type, Converter] = {}
    for name, converter in _BY_NAME.items():
        cls = getattr(keras.layers, name, None)
        if cls is not None:
            table[cls] = converter
    return table


def supported_layers() -> list[str]:
    """The names of every Keras layer :func:`from_keras` converts.

    Example:
        >>> "Conv1D" in supported_layers() and "Concatenate" in supported_layers()
        True
    """
    return sorted({*_BY_NAME, *MERGES, "Dot", "Masking", "TimeDistributed"} - {"InputLayer"})


def _converter(layer: Any) -> Converter | None:
    return converters().get(type(layer))


def _wants(layer: Any) -> Layout | None:
    """The layout a layer's converter asks for first (None when any layout will do)."""
    with importing("converting Keras models (cnnlstm.interop.keras.dispatch)", "keras"):
        import keras

    if isinstance(layer, keras.Model):
        for inner in layer_chain(layer):
            wanted = _wants(inner)
            if wanted is not None:
                return wanted
        return None
    if isinstance(layer, keras.layers.TimeDistributed):
        inner_wants = _wants(layer.layer)
        if inner_wants == "first":
            return "frames"  # channels first per frame is (B, T, C, H, W) for the sequence
        return "last" if inner_wants == "last" else None
    converter = _converter(layer)
    return _WANTS.get(converter) if converter is not None else None


def _no_converter(layer: Any) -> ConfigError:
    return ConfigError(
        f"from_keras: {describe(layer)} has no converter. Supported layers: "
        f"{', '.join(supported_layers())}; TimeDistributed may wrap any single-input one, and "
        f"Sequential and functional models nest."
    )


def convert_time_distributed(builder: Builder, layer: Any, state: State) -> State:
    """``TimeDistributed``: the inner layer's modules, run on every step at once."""
    from cnnlstm.layers.time_distributed import TimeDistributed

    if state.ndim < 3:
        raise ConfigError(
            f"from_keras: {describe(layer)} needs a sequence (B, T, ...), but its input has "
            f"shape {state.shape}."
        )
    if state.perm[1] != 1:  # the time axis has to stay at dim 1
        state = builder.to_layout(state, "last")
    frame = State((state.shape[0], *state.shape[2:]), (0, *(p - 1 for p in state.perm[2:])))
    inner = builder.child()
    frame = convert_layer(inner, layer.layer, frame)
    builder.add(layer.name, build(TimeDistributed, inner.single()))
    shape = (state.shape[0], state.shape[1], *frame.shape[1:])
    return State(shape, (0, 1, *(p + 1 for p in frame.perm[1:])))


def convert_layer(builder: Builder, layer: Any, state: State) -> State:
    """Append the modules for one single-input Keras layer (or a chain-shaped nested model)."""
    with importing("converting Keras models (cnnlstm.interop.keras.dispatch)", "keras"):
        import keras

    if isinstance(layer, keras.layers.TimeDistributed):
        state = builder.to_layout(state, _wants(layer))
        return convert_time_distributed(builder, layer, state)
    if isinstance(layer, keras.Model):
        for inner in layer_chain(layer):
            state = convert_layer(builder, inner, state)
        return state
    converter = _converter(layer)
    if converter is None:
        raise _no_converter(layer)
    state = builder.to_layout(state, _wants(layer))
    return converter(builder, layer, state)
