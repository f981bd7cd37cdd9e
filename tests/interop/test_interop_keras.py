"""from_keras: converted models match Keras 3 (torch backend) on random inputs to 1e-5."""

from __future__ import annotations

import copy
import io
import math
from collections.abc import Callable

import keras
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from keras_compare import assert_converts
from torch import nn

from cnnlstm.errors import ConfigError, ShapeError
from cnnlstm.interop.keras import (
    ChannelsFirstToLast,
    ChannelsLastToFirst,
    ConvertedKeras,
    Permute,
    Recurrent,
    Reshape,
    SameAvgPool2d,
    SamePad2d,
    from_keras,
    same_padding,
)
from cnnlstm.layers.convlstm import ConvLSTM
from cnnlstm.layers.time_distributed import TimeDistributed

L = keras.layers
# Keras (torch backend) calls np.array(tensor) internally, which numpy 2 flags; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
ATOL = 1e-5


def _random(shape: tuple[int, ...], *, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype(np.float32)


def _numpy(value: object) -> np.ndarray:
    """A Keras output or variable as numpy (the tests run Keras on the torch backend)."""
    value = getattr(value, "value", value)
    assert isinstance(value, torch.Tensor)
    return np.asarray(value.detach().cpu().numpy()).copy()


def _keras_out(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return _numpy(model(x, training=False))


def _torch_out(module: nn.Module, x: np.ndarray) -> np.ndarray:
    module.eval()
    with torch.no_grad():
        out = module(torch.from_numpy(x))
    return np.asarray(out.numpy())


def _assert_matches(model: keras.Model, x: np.ndarray, *, noise: bool = True) -> ConvertedKeras:
    """The shared check (tests/interop/keras_compare.py): noisy weights, two inputs."""
    return assert_converts(model, x, noise=noise)


def _sequential(input_shape: tuple[int, ...], *layers: keras.Layer, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input(input_shape), *layers])


def _randomize_batch_norm(model: keras.Model, *, seed: int = 1) -> None:
    """Give every BatchNormalization non-trivial gamma, beta and moving statistics."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            weights = [
                rng.uniform(0.5, 2.0, w.shape).astype(np.float32)
                if i in (0, 3)
                else rng.normal(size=w.shape).astype(np.float32)
                for i, w in enumerate(layer.get_weights())
            ]
            layer.set_weights(weights)


# ------------------------------------------------------------------------ the three bridges


@pytest.fixture(scope="module")
def global_pool_model() -> keras.Model:
    """(1) Conv2D/BN/MaxPool -> GlobalAveragePooling2D -> Reshape((1, -1)) -> LSTM -> Dense."""
    model = _sequential(
        (12, 10, 3),
        L.Conv2D(4, 3, padding="same", activation="relu", name="conv"),
        L.BatchNormalization(name="norm"),
        L.MaxPooling2D(name="pool"),
        L.Conv2D(6, 3, padding="same", name="conv_2"),
        L.GlobalAveragePooling2D(name="global_pool"),
        L.Reshape((1, -1), name="to_sequence"),
        L.LSTM(5, name="lstm"),
        L.Dense(3, activation="softmax", name="head"),
    )
    _randomize_batch_norm(model)
    return model


def test_global_pool_bridge_matches(global_pool_model: keras.Model) -> None:
    _assert_matches(global_pool_model, _random((3, 12, 10, 3)))


def test_spatial_bridge_matches() -> None:
    """(2) Conv2D output Reshape((H*W, C)) -> LSTM -> Dense, as a functional model."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 8, 2))
    x = L.Conv2D(4, 3, padding="same", activation="tanh")(inputs)
    x = L.Reshape((6 * 8, 4))(x)
    x = L.LSTM(5)(x)
    outputs = L.Dense(3)(x)
    model = keras.Model(inputs, outputs)
    converted = _assert_matches(model, _random((2, 6, 8, 2)))
    names = [type(m).__name__ for m in converted]
    # The reshape has to see channels-last data, so the adapter sits right before it.
    assert names.index("ChannelsFirstToLast") == names.index("Reshape") - 1


@pytest.fixture(scope="module")
def temporal_model() -> keras.Model:
    """(3) TimeDistributed Conv2D / MaxPooling2D / GlobalAveragePooling2D -> LSTM -> Dense."""
    return _sequential(
        (4, 9, 8, 3),
        L.TimeDistributed(L.Conv2D(4, 3, padding="same", activation="relu"), name="frame_conv"),
        L.TimeDistributed(L.MaxPooling2D(), name="frame_pool"),
        L.TimeDistributed(L.GlobalAveragePooling2D(), name="frame_global_pool"),
        L.LSTM(6, name="lstm"),
        L.Dense(3, name="head"),
    )


def test_temporal_bridge_matches(temporal_model: keras.Model) -> None:
    converted = _assert_matches(temporal_model, _random((2, 4, 9, 8, 3)))
    # The three TimeDistributed layers run as one: frames folded into the batch once.
    (wrapped,) = [m for m in converted if isinstance(m, TimeDistributed)]
    assert isinstance(wrapped.module[0], nn.Conv2d)  # the conv and its ReLU, per frame
    assert isinstance(wrapped.module[-2], nn.AdaptiveAvgPool2d)


def test_time_distributed_nested_sequential_and_dense() -> None:
    keras.utils.set_random_seed(0)
    frame_model = keras.Sequential(
        [keras.Input((6, 7, 2)), L.Conv2D(3, 3), L.BatchNormalization(), L.Flatten(), L.Dense(4)]
    )
    _randomize_batch_norm(frame_model)
    model = _sequential(
        (3, 6, 7, 2),
        L.TimeDistributed(frame_model),
        L.TimeDistributed(L.Dense(5, activation="relu")),
        L.GRU(3, return_sequences=True),
    )
    _assert_matches(model, _random((2, 3, 6, 7, 2)))


def test_nested_functional_model_matches() -> None:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 5, 2))
    features = L.GlobalMaxPooling2D(keepdims=True)(L.Conv2D(3, 3, padding="same")(inputs))
    backbone = keras.Model(inputs, features, name="backbone")
    model = _sequential((6, 5, 2), backbone, L.Flatten(), L.Dense(2))
    converted = _assert_matches(model, _random((2, 6, 5, 2)))
    assert any(isinstance(m, nn.AdaptiveMaxPool2d) for m in converted)  # keepdims: no Flatten


def test_global_pools_match() -> None:
    model = _sequential(
        (3, 6, 5, 2),
        L.TimeDistributed(L.Conv2D(3, 3)),
        L.TimeDistributed(L.GlobalMaxPooling2D()),
        L.LSTM(3, return_sequences=True),
        L.Reshape((3, 3, 1)),  # a 3x3 "image" with one channel
        L.GlobalAveragePooling2D(keepdims=True),
    )
    _assert_matches(model, _random((2, 3, 6, 5, 2)))


# ------------------------------------------------------------------------ ConvLSTM2D


@pytest.mark.parametrize(
    ("return_sequences", "go_backwards", "kernel_size"),
    [(True, False, 3), (False, False, 3), (True, True, (3, 2)), (False, True, 2)],
)
def test_conv_lstm2d_matches(
    return_sequences: bool, go_backwards: bool, kernel_size: int | tuple[int, int]
) -> None:
    model = _sequential(
        (4, 6, 7, 2),
        L.ConvLSTM2D(
            3,
            kernel_size,
            padding="same",
            return_sequences=return_sequences,
            go_backwards=go_backwards,
            bias_initializer="random_normal",
        ),
    )
    converted = _assert_matches(model, _random((2, 4, 6, 7, 2)))
    assert any(isinstance(m, ConvLSTM) for m in converted.modules())


@pytest.mark.parametrize(
    ("return_sequences", "go_backwards", "kernel_size"),
    [(True, False, 3), (False, False, 3), (True, True, (2, 3)), (False, False, (3, 1))],
)
def test_conv_lstm2d_default_valid_padding_matches(
    return_sequences: bool, go_backwards: bool, kernel_size: int | tuple[int, int]
) -> None:
    """Keras's default padding="valid": the input convolution shrinks the grid."""
    layer = L.ConvLSTM2D(
        3,
        kernel_size,
        return_sequences=return_sequences,
        go_backwards=go_backwards,
        bias_initializer="random_normal",
    )
    assert layer.get_config()["padding"] == "valid"
    model = _sequential((4, 6, 7, 2), layer)
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    grid = (6 - kh + 1, 7 - kw + 1)
    assert tuple(model.output_shape[-3:-1]) == grid
    converted = _assert_matches(model, _random((2, 4, 6, 7, 2)))
    convlstm = next(m for m in converted.modules() if isinstance(m, ConvLSTM))
    assert convlstm.padding == "valid"


@pytest.mark.parametrize("last_returns_sequences", [False, True])
def test_stacked_valid_conv_lstm2d_matches(last_returns_sequences: bool) -> None:
    """Two stacked default (valid) ConvLSTM2D layers: each shrinks the grid again."""
    model = _sequential(
        (4, 7, 8, 2),
        L.ConvLSTM2D(3, 3, return_sequences=True, bias_initializer="random_normal"),
        L.ConvLSTM2D(2, (2, 3), return_sequences=last_returns_sequences),
        L.Flatten(),
        L.Dense(2),
    )
    # (7, 8) -> (5, 6) -> (4, 4)
    assert tuple(model.layers[1].output.shape[-3:]) == (4, 4, 2)
    _assert_matches(model, _random((2, 4, 7, 8, 2)))


def test_stacked_conv_lstm2d_then_flatten_matches() -> None:
    model = _sequential(
        (4, 6, 7, 2),
        L.ConvLSTM2D(3, 3, padding="same", return_sequences=True),
        L.BatchNormalization(),
        L.ConvLSTM2D(2, 3, padding="same", return_sequences=False, use_bias=False),
        L.Flatten(),
        L.Dense(2),
    )
    _randomize_batch_norm(model)
    _assert_matches(model, _random((2, 4, 6, 7, 2)))


# ------------------------------------------------------------------------ recurrent layers


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize(
    ("return_sequences", "go_backwards", "use_bias"),
    [(True, False, True), (False, False, True), (True, True, True), (False, True, False)],
)
def test_lstm_gru_match(
    kind: str, return_sequences: bool, go_backwards: bool, use_bias: bool
) -> None:
    layer = getattr(L, kind)(
        4,
        return_sequences=return_sequences,
        go_backwards=go_backwards,
        use_bias=use_bias,
        bias_initializer="random_normal",
    )
    model = _sequential((5, 3), layer)
    _assert_matches(model, _random((2, 5, 3)))


# ------------------------------------------------------------------------ layout-sensitive layers


def test_flatten_after_conv_keeps_keras_order() -> None:
    # Non-square maps and distinct channel counts: any transposed flatten shows up.
    model = _sequential((7, 5, 3), L.Conv2D(4, 2), L.Flatten(), L.Dense(3))
    _assert_matches(model, _random((2, 7, 5, 3)))


def test_flatten_matches_channels_last_order_exactly() -> None:
    model = _sequential((3, 2, 4), L.Conv2D(2, 1, kernel_initializer="ones"), L.Flatten())
    x = _random((1, 3, 2, 4))
    got = _torch_out(from_keras(model), x)
    # Slow and obvious: channel sums at (h, w) for c in 0..1, flattened h, then w, then c.
    expected = [x[0, h, w].sum() for h in range(3) for w in range(2) for _ in range(2)]
    np.testing.assert_allclose(got[0], expected, atol=ATOL)


def test_permute_after_conv_matches() -> None:
    model = _sequential(
        (6, 5, 2), L.Conv2D(3, 3), L.Permute((3, 1, 2)), L.Reshape((3, -1)), L.LSTM(2)
    )
    _assert_matches(model, _random((2, 6, 5, 2)))


def test_output_in_channels_last_layout() -> None:
    model = _sequential((6, 5, 2), L.Conv2D(3, 3, padding="same"), L.MaxPooling2D())
    converted = _assert_matches(model, _random((2, 6, 5, 2)))
    assert isinstance(list(converted)[-1], ChannelsFirstToLast)


def test_softmax_layer_axis_follows_layout() -> None:
    # Keras axis 1 (H) of a channels-last map is torch dim 2 while the tensor is channels first.
    model = _sequential((4, 5, 2), L.Conv2D(3, 3, padding="same"), L.Softmax(axis=1))
    _assert_matches(model, _random((2, 4, 5, 2)))


# ------------------------------------------------------------------------ conv, pool, BN


@pytest.mark.parametrize(
    ("size", "conv_kwargs"),
    [
        ((9, 8), {"kernel_size": 3, "strides": 2, "padding": "same"}),
        ((8, 9), {"kernel_size": (4, 3), "strides": (2, 3), "padding": "same"}),
        ((9, 8), {"kernel_size": 3, "strides": 2, "padding": "valid"}),
        ((9, 8), {"kernel_size": 3, "dilation_rate": 2, "padding": "same"}),
        ((9, 8), {"kernel_size": 2, "padding": "same"}),
        ((9, 8), {"kernel_size": 3, "groups": 2, "padding": "same", "use_bias": False}),
    ],
)
def test_conv2d_matches(size: tuple[int, int], conv_kwargs: dict[str, object]) -> None:
    model = _sequential((*size, 4), L.Conv2D(6, bias_initializer="random_normal", **conv_kwargs))
    _assert_matches(model, _random((2, *size, 4)))


@pytest.mark.parametrize(
    ("size", "pool_size", "strides"),
    [((7, 6), 2, None), ((7, 6), 3, 1), ((7, 5), 3, 2), ((6, 6), 2, 1)],
)
def test_max_pool_same_matches(size: tuple[int, int], pool_size: int, strides: int | None) -> None:
    # Negative inputs: a zero-padded max pool would differ at the edges.
    x = _random((2, *size, 3)) - 3.0
    model = _sequential((*size, 3), L.MaxPooling2D(pool_size, strides=strides, padding="same"))
    _assert_matches(model, x)


def test_average_pool_valid_and_even_same_match_keras() -> None:
    model = _sequential(
        (9, 8, 3),
        L.AveragePooling2D(3, strides=1, padding="same"),  # even padding: 1 on each side
        L.AveragePooling2D(2),
        L.AveragePooling2D((3, 1), strides=(1, 1), padding="same"),
    )
    _assert_matches(model, _random((2, 9, 8, 3)))


def _slow_same_average(x: np.ndarray, pool: int, stride: int) -> np.ndarray:
    """TensorFlow "same" average pooling of (B, H, W, C), written out: padding isn't counted."""
    batch, height, width, channels = x.shape
    out_h, out_w = math.ceil(height / stride), math.ceil(width / stride)
    top = max((out_h - 1) * stride + pool - height, 0) // 2
    left = max((out_w - 1) * stride + pool - width, 0) // 2
    out = np.zeros((batch, out_h, out_w, channels), dtype=np.float64)
    for i in range(out_h):
        for j in range(out_w):
            rows = [r for r in range(i * stride - top, i * stride - top + pool) if 0 <= r < height]
            cols = [c for c in range(j * stride - left, j * stride - left + pool) if 0 <= c < width]
            out[:, i, j] = x[:, rows][:, :, cols].mean(axis=(1, 2))
    return out


@pytest.mark.parametrize(("pool", "stride"), [(2, 2), (2, 1), (3, 2)])
def test_average_pool_uneven_same_excludes_padding(pool: int, stride: int) -> None:
    x = _random((2, 7, 5, 3)) + 2.0
    model = _sequential((7, 5, 3), L.AveragePooling2D(pool, strides=stride, padding="same"))
    got = _torch_out(from_keras(model), x)
    np.testing.assert_allclose(got, _slow_same_average(x, pool, stride), atol=ATOL)
    np.testing.assert_allclose(got, _keras_out(model, x), atol=ATOL)  # Keras 3 excludes it too


def test_batch_norm_after_one_training_step_matches() -> None:
    model = _sequential(
        (5, 4, 3),
        L.BatchNormalization(momentum=0.5),
        L.Conv2D(2, 3),
        L.Flatten(),
        L.BatchNormalization(momentum=0.5, epsilon=0.01),
        L.Dense(2),
    )
    model.compile(optimizer="sgd", loss="mse")
    x = _random((8, 5, 4, 3), scale=3.0) + 1.5
    model.train_on_batch(x, _random((8, 2), seed=1))
    moving_mean = _numpy(model.layers[0].moving_mean)
    assert np.abs(moving_mean).min() > 0.1  # the step moved the statistics
    converted = _assert_matches(model, _random((2, 5, 4, 3), seed=2))
    norms = [m for m in converted if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d)]
    assert [n.momentum for n in norms] == pytest.approx([0.5, 0.5])
    assert norms[1].eps == pytest.approx(0.01)


@pytest.mark.parametrize(("scale", "center"), [(False, True), (True, False), (False, False)])
def test_batch_norm_without_scale_or_center_matches(scale: bool, center: bool) -> None:
    model = _sequential((5, 3), L.BatchNormalization(scale=scale, center=center), L.LSTM(2))
    _randomize_batch_norm(model)
    _assert_matches(model, _random((2, 5, 3)))


def test_dropout_is_identity_in_eval() -> None:
    model = _sequential(
        (6, 6, 2), L.Conv2D(3, 3), L.SpatialDropout2D(0.5), L.Flatten(), L.Dropout(0.5), L.Dense(2)
    )
    converted = _assert_matches(model, _random((2, 6, 6, 2)))
    assert any(isinstance(m, nn.Dropout2d) for m in converted)
    assert any(isinstance(m, nn.Dropout) for m in converted)


# ------------------------------------------------------------------------ activations

ACTIVATIONS = [
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "celu",
    "gelu",
    "silu",
    "swish",
    "mish",
    "sigmoid",
    "hard_sigmoid",
    "hard_silu",
    "hard_tanh",
    "log_sigmoid",
    "tanh",
    "tanh_shrink",
    "softplus",
    "softsign",
    "softmax",
    "log_softmax",
    "linear",
]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_dense_activation_matches(name: str) -> None:
    model = _sequential((6,), L.Dense(5, activation=name))
    _assert_matches(model, _random((4, 6), scale=4.0))


@pytest.mark.parametrize(
    "layer",
    [
        lambda: L.ReLU(),
        lambda: L.ReLU(max_value=1.5),
        lambda: L.ReLU(negative_slope=0.1),
        lambda: L.LeakyReLU(negative_slope=0.25),
        lambda: L.ELU(alpha=0.7),
        lambda: L.Activation("gelu"),
        lambda: L.Activation("softmax"),
    ],
)
def test_activation_layers_match(layer: Callable[[], keras.Layer]) -> None:
    model = _sequential((5, 4, 3), L.Conv2D(3, 2), layer())
    _assert_matches(model, _random((2, 5, 4, 3), scale=3.0))


# ------------------------------------------------------------------------ what it refuses


def _config_error(model_fn: Callable[[], keras.Model]) -> str:
    model = model_fn()
    with pytest.raises(ConfigError) as info:
        from_keras(model)
    return str(info.value)


def test_unsupported_layer_names_the_layer() -> None:
    message = _config_error(
        lambda: _sequential((8, 4), L.UnitNormalization(name="my_norm"), L.LSTM(2))
    )
    assert "'my_norm' (UnitNormalization)" in message
    assert "Supported layers" in message and "Conv1D" in message


def test_attention_layer_is_refused_with_its_name() -> None:
    def build() -> keras.Model:
        inputs = keras.Input((5, 4))
        x = L.Attention(name="attn")([inputs, inputs])
        return keras.Model(inputs, L.LSTM(2)(x))

    message = _config_error(build)
    assert "'attn' (Attention)" in message


def test_residual_add_matches() -> None:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5, 4))
    x = L.Dense(4)(inputs)
    model = keras.Model(inputs, L.Add(name="skip")([inputs, x]))
    assert_converts(model, _random((2, 5, 4)))


@pytest.mark.parametrize(
    ("layer", "words"),
    [
        (
            lambda: L.ConvLSTM2D(2, 3, dilation_rate=2, name="clstm"),  # default padding="valid"
            ["'clstm' (ConvLSTM2D)", "dilation_rate=(2, 2)"],
        ),
        (
            lambda: L.ConvLSTM2D(2, 3, strides=(1, 2), name="clstm"),
            ["'clstm' (ConvLSTM2D)", "strides=(1, 2)"],
        ),
        (
            lambda: L.ConvLSTM2D(2, 3, padding="same", strides=2, name="clstm"),
            ["'clstm' (ConvLSTM2D)", "strides"],
        ),
        (
            lambda: L.ConvLSTM2D(2, 3, padding="same", activation="exponential", name="clstm"),
            ["'clstm' (ConvLSTM2D)", "activation='exponential'"],
        ),
    ],
)
def test_unsupported_conv_lstm_options(layer: Callable[[], keras.Layer], words: list[str]) -> None:
    message = _config_error(lambda: _sequential((3, 6, 6, 2), layer()))
    for word in words:
        assert word in message
    assert "padding" not in message


@pytest.mark.parametrize(
    ("input_shape", "layer", "words"),
    [
        (
            (5, 3),
            lambda: L.LSTM(2, activation="gelu", name="rnn"),
            ["'rnn' (LSTM)", "activation='gelu'", "supported: tanh"],
        ),
        ((5, 3), lambda: L.LSTM(2, return_state=True, name="rnn"), ["return_state"]),
        (
            (4, 5, 3),
            lambda: L.Conv2D(2, 3, data_format="channels_first", name="cf"),
            ["'cf' (Conv2D)", "channels_first"],
        ),
        (
            (6,),
            lambda: L.Dense(2, activation="exponential", name="d"),
            ["'d' (Dense)", "exponential"],
        ),
        (
            (4, 5, 3),
            lambda: L.ReLU(threshold=0.5, name="r"),
            ["'r' (ReLU)", "threshold"],
        ),
    ],
)
def test_unsupported_options_name_the_layer(
    input_shape: tuple[int, ...], layer: Callable[[], keras.Layer], words: list[str]
) -> None:
    message = _config_error(lambda: _sequential(input_shape, layer()))
    for word in words:
        assert word in message


def test_subclassed_and_unbuilt_models_are_refused() -> None:
    class Custom(keras.Model):
        def __init__(self) -> None:
            super().__init__(name="custom")
            self.dense = L.Dense(2)

        def call(self, x: object) -> object:
            return self.dense(x)

    custom = Custom()
    custom(np.zeros((1, 3), np.float32))
    with pytest.raises(ConfigError, match=r"'custom' is a subclassed keras\.Model"):
        from_keras(custom)
    with pytest.raises(ConfigError, match=r"keras\.Input\(shape\)"):
        from_keras(keras.Sequential([L.Dense(2)]))


def test_not_a_keras_model_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"keras\.Model"):
        from_keras(nn.Linear(2, 2))


# ------------------------------------------------------------------------ the converted module


def test_converted_module_is_trainable(temporal_model: keras.Model) -> None:
    converted = from_keras(temporal_model)
    assert not converted.training  # like model.predict
    converted.train()
    x = torch.from_numpy(_random((2, 4, 9, 8, 3)))
    loss = (converted(x) * torch.randn(2, 3)).sum()
    loss.backward()
    for name, parameter in converted.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name
    # The LSTM's second bias is a free torch parameter that starts at zero.
    assert torch.count_nonzero(converted.get_parameter("lstm.rnn.bias_hh_l0")) == 0


def test_weights_are_copies(global_pool_model: keras.Model) -> None:
    converted = from_keras(global_pool_model)
    kernel = _numpy(global_pool_model.layers[0].kernel)
    with torch.no_grad():
        converted.get_parameter("conv.weight").add_(1.0)
    after = _numpy(global_pool_model.layers[0].kernel)
    np.testing.assert_array_equal(after, kernel)


def test_state_dict_round_trip(temporal_model: keras.Model) -> None:
    converted = from_keras(temporal_model)
    buffer = io.BytesIO()
    torch.save(converted.state_dict(), buffer)
    other = copy.deepcopy(converted)
    with torch.no_grad():
        for parameter in other.parameters():
            parameter.zero_()
    x = _random((2, 4, 9, 8, 3))
    assert not np.allclose(_torch_out(other, x), _torch_out(converted, x))
    buffer.seek(0)
    other.load_state_dict(torch.load(buffer))
    np.testing.assert_array_equal(_torch_out(other, x), _torch_out(converted, x))


def test_repr_shows_layers_and_adapters(global_pool_model: keras.Model) -> None:
    text = repr(from_keras(global_pool_model))
    assert text.startswith("ConvertedKeras(")
    for part in [
        "input_shape=(B, 12, 10, 3)",
        "(to_channels_first): ChannelsLastToFirst('b h w c -> b c h w')",
        "(conv): Conv2d(3, 4",
        "(conv_act): ReLU()",
        "(norm): BatchNorm2d(4, eps=0.001, momentum=0.01",
        "(global_pool): AdaptiveAvgPool2d(output_size=1)",
        "(global_pool_flatten): Flatten(start_dim=1, end_dim=-1)",
        "(to_sequence): Reshape(1, -1)",
        "(rnn): LSTM(6, 5, batch_first=True)",
        "(head_act): Softmax(dim=1)",
    ]:
        assert part in text


def test_channels_first_input_raises_shape_error(global_pool_model: keras.Model) -> None:
    converted = from_keras(global_pool_model)
    with pytest.raises(ShapeError, match=r"\(B, 12, 10, 3\).*\(2, 3, 12, 10\)"):
        converted(torch.zeros(2, 3, 12, 10))


def test_unknown_time_axis_accepts_any_length() -> None:
    model = _sequential(
        (None, 6, 5, 2), L.TimeDistributed(L.Conv2D(2, 3)), L.TimeDistributed(L.Flatten()), L.GRU(3)
    )
    converted = from_keras(model)
    for steps in (2, 5):
        x = _random((2, steps, 6, 5, 2), seed=steps)
        np.testing.assert_allclose(_torch_out(converted, x), _keras_out(model, x), atol=ATOL)


def test_unknown_sizes_accept_any_input() -> None:
    model = _sequential((None, None, 2), L.Conv2D(3, 3, strides=2, padding="same"))
    converted = from_keras(model)
    assert converted.input_shape == (None, None, 2)
    for size in [(5, 6), (8, 7)]:
        x = _random((1, *size, 2))
        np.testing.assert_allclose(_torch_out(converted, x), _keras_out(model, x), atol=ATOL)


# ------------------------------------------------------------------------ the small modules


@given(
    size=st.integers(1, 40),
    kernel=st.integers(1, 7),
    stride=st.integers(1, 4),
    dilation=st.integers(1, 3),
)
def test_same_padding_gives_ceil_size(size: int, kernel: int, stride: int, dilation: int) -> None:
    before, after = same_padding(size, kernel, stride, dilation)
    reach = (kernel - 1) * dilation + 1
    assert after - before in (0, 1)
    assert before >= 0
    out = (size + before + after - reach) // stride + 1
    assert out == math.ceil(size / stride)


def test_same_pad_and_average_pool_modules() -> None:
    x = torch.arange(1.0, 26.0).reshape(1, 1, 5, 5)
    padded = SamePad2d((2, 2), (2, 2), value=-1.0)(x)
    assert padded.shape == (1, 1, 6, 6)
    assert padded[0, 0, -1].tolist() == [-1.0] * 6  # the extra cell goes after
    pooled = SameAvgPool2d((2, 2), (2, 2))(x)
    # Bottom-right window covers only the cell 25.
    assert pooled[0, 0, -1, -1].item() == 25.0
    assert pooled[0, 0, 0, 0].item() == pytest.approx((1 + 2 + 6 + 7) / 4)


@pytest.mark.parametrize(
    ("ndim", "frames", "shape", "permutation"),
    [
        (4, False, (2, 3, 4, 5), (0, 3, 1, 2)),
        (5, False, (2, 3, 4, 5, 6), (0, 4, 1, 2, 3)),
        (5, True, (2, 3, 4, 5, 6), (0, 1, 4, 2, 3)),
        (3, False, (2, 3, 4), (0, 2, 1)),
    ],
)
def test_layout_adapters(
    ndim: int, frames: bool, shape: tuple[int, ...], permutation: tuple[int, ...]
) -> None:
    x = torch.randn(shape)
    first = ChannelsLastToFirst(ndim, frames=frames)(x)
    assert torch.equal(first, x.permute(permutation))
    assert torch.equal(ChannelsFirstToLast(ndim, frames=frames)(first), x)


def test_layout_adapter_rejects_bad_rank() -> None:
    with pytest.raises(ValueError, match="has to be"):
        ChannelsLastToFirst(3, frames=True)


def test_reshape_and_permute_modules() -> None:
    x = torch.randn(2, 3, 4)
    assert torch.equal(Reshape(4, -1)(x), x.reshape(2, 4, 3))
    assert torch.equal(Permute(2, 1)(x), x.transpose(1, 2))
    with pytest.raises(ValueError, match="permutation"):
        Permute(1, 3)


def test_recurrent_go_backwards_reads_from_the_end() -> None:
    rnn = nn.GRU(3, 4, batch_first=True)
    x = torch.randn(2, 5, 3)
    backwards = Recurrent(rnn, return_sequences=False, go_backwards=True)(x)
    # Written out: run the cell over the steps last to first.
    h = torch.zeros(1, 2, 4)
    for t in reversed(range(5)):
        _, h = rnn(x[:, t : t + 1], h)
    torch.testing.assert_close(backwards, h[0])
