"""from_keras on every layer of the CNN + recurrent family, each setting checked against Keras 3.

Every case goes through the shared check (keras_compare.assert_converts): noisy weights, two
inputs, 1e-4 of the output's size and 1e-3 of how far Keras's output moves.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import pytest
from keras_compare import assert_converts

from cnnlstm.errors import ConfigError
from cnnlstm.interop.keras import from_keras, supported_layers

L = keras.layers
# Keras (torch backend) calls np.array(tensor) internally, which numpy 2 flags; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _random(shape: tuple[int, ...], *, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _model(input_shape: tuple[int, ...], *layers: keras.Layer) -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(input_shape), *layers])


# (input shape without the batch, layers). A Dense or Flatten after a layer checks its output
# is read in Keras's axis order.
CASES: dict[str, tuple[tuple[int, ...], Callable[[], list[keras.Layer]]]] = {
    "conv1d_valid": ((11, 3), lambda: [L.Conv1D(4, 3)]),
    "conv1d_same_stride": ((11, 3), lambda: [L.Conv1D(4, 4, strides=2, padding="same")]),
    "conv1d_causal_dilated": ((11, 3), lambda: [L.Conv1D(4, 3, padding="causal", dilation_rate=2)]),
    "conv1d_groups_nobias": ((9, 4), lambda: [L.Conv1D(6, 3, groups=2, use_bias=False)]),
    "conv1d_relu_flatten": ((9, 3), lambda: [L.Conv1D(4, 3, activation="relu"), L.Flatten()]),
    "conv3d_same": ((4, 5, 6, 2), lambda: [L.Conv3D(3, 3, padding="same")]),
    "conv3d_stride_same": (
        (5, 6, 7, 2),
        lambda: [L.Conv3D(3, (2, 3, 3), strides=2, padding="same")],
    ),
    "conv3d_valid_dilated": ((5, 6, 7, 2), lambda: [L.Conv3D(3, 2, dilation_rate=(1, 2, 2))]),
    "conv2d_groups": ((6, 7, 4), lambda: [L.Conv2D(4, 3, groups=4, padding="same")]),
    "conv1d_transpose_valid": ((6, 3), lambda: [L.Conv1DTranspose(4, 3, strides=2)]),
    "conv1d_transpose_same": ((6, 3), lambda: [L.Conv1DTranspose(4, 4, strides=2, padding="same")]),
    "conv2d_transpose_same_odd": (
        (5, 6, 3),
        lambda: [L.Conv2DTranspose(4, 3, strides=2, padding="same")],
    ),
    "conv2d_transpose_same_even": (
        (5, 6, 3),
        lambda: [L.Conv2DTranspose(4, 4, strides=2, padding="same")],
    ),
    "conv2d_transpose_small_kernel": (
        (5, 6, 3),
        lambda: [L.Conv2DTranspose(4, 2, strides=3, padding="same")],
    ),
    "conv2d_transpose_stride1": (
        (5, 6, 3),
        lambda: [L.Conv2DTranspose(4, 3, padding="same", activation="relu")],
    ),
    "conv3d_transpose": (
        (3, 4, 5, 2),
        lambda: [L.Conv3DTranspose(3, 3, strides=(1, 2, 2), padding="same")],
    ),
    "separable2d": (
        (7, 8, 3),
        lambda: [L.SeparableConv2D(5, 3, depth_multiplier=2, padding="same")],
    ),
    "separable2d_stride": ((7, 8, 3), lambda: [L.SeparableConv2D(5, 3, strides=2, padding="same")]),
    "separable1d": ((9, 3), lambda: [L.SeparableConv1D(4, 3)]),
    "depthwise2d": ((7, 8, 3), lambda: [L.DepthwiseConv2D(3, depth_multiplier=2)]),
    "depthwise2d_same_stride": (
        (7, 8, 3),
        lambda: [L.DepthwiseConv2D(3, strides=2, padding="same")],
    ),
    "depthwise1d": ((9, 3), lambda: [L.DepthwiseConv1D(3, padding="same")]),
    "maxpool1d": ((9, 3), lambda: [L.MaxPooling1D()]),
    "maxpool1d_same": ((9, 3), lambda: [L.MaxPooling1D(3, strides=2, padding="same")]),
    "avgpool1d": ((9, 3), lambda: [L.AveragePooling1D(3, strides=2)]),
    "avgpool1d_same_even": ((8, 3), lambda: [L.AveragePooling1D(2, padding="same")]),
    "maxpool3d": ((4, 6, 7, 2), lambda: [L.MaxPooling3D((1, 2, 2))]),
    "maxpool3d_same": ((5, 6, 7, 2), lambda: [L.MaxPooling3D(3, strides=2, padding="same")]),
    "avgpool3d": ((4, 6, 6, 2), lambda: [L.AveragePooling3D(2)]),
    "global_pools_1d": ((9, 3), lambda: [L.GlobalAveragePooling1D()]),
    "global_max_1d_keepdims": ((9, 3), lambda: [L.GlobalMaxPooling1D(keepdims=True)]),
    "global_pools_3d": ((4, 5, 6, 2), lambda: [L.GlobalMaxPooling3D()]),
    "global_avg_3d_keepdims": ((4, 5, 6, 2), lambda: [L.GlobalAveragePooling3D(keepdims=True)]),
    "upsampling1d": ((5, 3), lambda: [L.UpSampling1D(3)]),
    "upsampling2d_nearest": ((4, 5, 3), lambda: [L.UpSampling2D((2, 3))]),
    "upsampling2d_bilinear": ((4, 5, 3), lambda: [L.UpSampling2D(2, interpolation="bilinear")]),
    "upsampling3d": ((2, 3, 4, 2), lambda: [L.UpSampling3D((1, 2, 2))]),
    "zero_padding1d": ((5, 3), lambda: [L.ZeroPadding1D((1, 2)), L.Conv1D(2, 3)]),
    "zero_padding2d": ((4, 5, 3), lambda: [L.ZeroPadding2D(((1, 0), (2, 3))), L.Conv2D(2, 3)]),
    "zero_padding3d": ((3, 4, 5, 2), lambda: [L.ZeroPadding3D(1)]),
    "cropping1d": ((7, 3), lambda: [L.Cropping1D((1, 2))]),
    "cropping2d": ((7, 8, 3), lambda: [L.Cropping2D(((1, 2), (0, 3))), L.Flatten()]),
    "cropping3d": ((5, 6, 7, 2), lambda: [L.Cropping3D(1)]),
    "layer_norm_seq": ((5, 4), lambda: [L.LayerNormalization()]),
    "layer_norm_image": ((4, 5, 3), lambda: [L.Conv2D(3, 3), L.LayerNormalization(axis=-1)]),
    "layer_norm_two_axes": ((4, 5, 3), lambda: [L.LayerNormalization(axis=[-2, -1])]),
    "layer_norm_no_center": ((5, 4), lambda: [L.LayerNormalization(center=False, epsilon=1e-5)]),
    "spatial_dropout1d": ((9, 3), lambda: [L.Conv1D(3, 3), L.SpatialDropout1D(0.3)]),
    "spatial_dropout3d": ((3, 4, 5, 2), lambda: [L.SpatialDropout3D(0.3), L.Conv3D(2, 2)]),
    "gaussian_noise": ((5, 3), lambda: [L.GaussianNoise(0.5), L.Dense(2)]),
    "gaussian_dropout": ((5, 3), lambda: [L.GaussianDropout(0.3), L.Dense(2)]),
    "repeat_vector": (
        (4,),
        lambda: [L.Dense(3), L.RepeatVector(5), L.LSTM(2, return_sequences=True)],
    ),
    "simple_rnn_tanh": ((6, 3), lambda: [L.SimpleRNN(4)]),
    "simple_rnn_relu_seq": (
        (6, 3),
        lambda: [L.SimpleRNN(4, activation="relu", return_sequences=True)],
    ),
    "simple_rnn_backwards": ((6, 3), lambda: [L.SimpleRNN(4, go_backwards=True)]),
    "batch_norm_1d_seq": ((6, 3), lambda: [L.Conv1D(4, 3), L.BatchNormalization()]),
    "batch_norm_3d": ((3, 4, 5, 2), lambda: [L.BatchNormalization()]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_matches_keras(name: str) -> None:
    input_shape, layers = CASES[name]
    model = _model(input_shape, *layers())
    assert_converts(model, _random((2, *input_shape)))


def test_time_distributed_conv1d_then_lstm() -> None:
    """The time-series CNN-LSTM of the tutorials: subsequences of steps, Conv1D per subsequence."""
    model = _model(
        (3, 8, 1),
        L.TimeDistributed(L.Conv1D(4, 2, activation="relu")),
        L.TimeDistributed(L.MaxPooling1D(2)),
        L.TimeDistributed(L.Flatten()),
        L.LSTM(5),
        L.Dense(1),
    )
    assert_converts(model, _random((2, 3, 8, 1)))


# ------------------------------------------------------------------------ what it refuses

REFUSED: list[tuple[tuple[int, ...], Callable[[], keras.Layer], list[str]]] = [
    ((6, 5, 3), lambda: L.Conv2D(2, 3, data_format="channels_first", name="x"), ["data_format"]),
    (
        (6, 3),
        lambda: L.Conv1DTranspose(2, 3, output_padding=1, strides=2, name="x"),
        ["output_padding=(1,)"],
    ),
    ((6, 3), lambda: L.Conv1DTranspose(2, 3, dilation_rate=2, name="x"), ["dilation_rate=(2,)"]),
    (
        (4, 5, 3),
        lambda: L.UpSampling2D(2, interpolation="bicubic", name="x"),
        ["interpolation='bicubic'"],
    ),
    ((4, 5, 3), lambda: L.LayerNormalization(axis=1, name="x"), ["axis=[1]"]),
    ((4, 5, 3), lambda: L.LayerNormalization(rms_scaling=True, name="x"), ["rms_scaling=True"]),
    ((6, 3), lambda: L.SimpleRNN(2, activation="gelu", name="x"), ["activation='gelu'"]),
]


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`")
@pytest.mark.parametrize(("input_shape", "layer", "words"), REFUSED)
def test_refused_settings_name_layer_and_argument(
    input_shape: tuple[int, ...], layer: Callable[[], keras.Layer], words: list[str]
) -> None:
    model = _model(input_shape, layer())
    with pytest.raises(ConfigError) as info:
        from_keras(model)
    message = str(info.value)
    assert "layer 'x'" in message
    for word in words:
        assert word in message


def test_supported_layers_lists_the_new_family() -> None:
    names = supported_layers()
    for name in ["Conv1D", "Conv3D", "Conv2DTranspose", "MaxPooling3D", "Masking", "SimpleRNN"]:
        assert name in names
