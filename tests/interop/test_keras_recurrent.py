"""from_keras on recurrent layers with any activation, and with masks, against Keras 3."""

from __future__ import annotations

import copy
from pathlib import Path

import keras
import numpy as np
import pytest
import torch
from keras_compare import assert_converts, keras_outputs, randomize, torch_outputs

from cnnlstm.errors import ConfigError
from cnnlstm.interop.keras import KerasRNN, Recurrent, from_keras, recurrent
from cnnlstm.interop.keras.recurrent import keras_rnn_scan

L = keras.layers
# Keras (torch backend) calls np.array(tensor) internally, which numpy 2 flags; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
ACTIVATIONS = ["relu", "hard_sigmoid", "linear", "elu", "selu", "softsign", "sigmoid"]


def _random(shape: tuple[int, ...], *, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _model(input_shape: tuple[int, ...], *layers: keras.Layer) -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(input_shape), *layers])


# ------------------------------------------------------------------------ activations


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_lstm_gru_any_activation(kind: str, activation: str, return_sequences: bool) -> None:
    layer = getattr(L, kind)(4, activation=activation, return_sequences=return_sequences)
    model = _model((6, 3), layer)
    converted = assert_converts(model, _random((2, 6, 3)))
    assert any(isinstance(m, KerasRNN) for m in converted.modules())


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("gate", ["hard_sigmoid", "relu", "tanh"])
def test_recurrent_activation(kind: str, gate: str) -> None:
    model = _model((6, 3), getattr(L, kind)(4, recurrent_activation=gate, go_backwards=True))
    assert_converts(model, _random((2, 6, 3)))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_gru_reset_before(activation: str) -> None:
    model = _model((6, 3), L.GRU(4, reset_after=False, activation=activation))
    assert_converts(model, _random((2, 6, 3)))


def test_gru_reset_before_without_bias() -> None:
    model = _model((6, 3), L.GRU(4, reset_after=False, use_bias=False, return_sequences=True))
    assert_converts(model, _random((2, 6, 3)))


def test_default_activations_stay_torch_native() -> None:
    model = _model((6, 3), L.LSTM(4), L.RepeatVector(2), L.GRU(3))
    converted = from_keras(model)
    assert not any(isinstance(m, KerasRNN) for m in converted.modules())
    assert any(isinstance(m, torch.nn.LSTM) for m in converted.modules())


@pytest.mark.parametrize(
    ("activation", "gate"), [("relu", "sigmoid"), ("tanh", "hard_sigmoid"), ("elu", "relu")]
)
def test_conv_lstm2d_activations(activation: str, gate: str) -> None:
    layer = L.ConvLSTM2D(3, 3, padding="same", activation=activation, recurrent_activation=gate)
    model = _model((3, 6, 7, 2), layer)
    assert_converts(model, _random((2, 3, 6, 7, 2)))


def test_conv_lstm1d_and_3d() -> None:
    model = _model((3, 8, 2), L.ConvLSTM1D(3, 3, return_sequences=True))
    assert_converts(model, _random((2, 3, 8, 2)))
    model = _model((3, 4, 5, 6, 1), L.ConvLSTM3D(2, 3, padding="same", activation="relu"))
    assert_converts(model, _random((2, 3, 4, 5, 6, 1)))


def _tf2_hard_sigmoid(x: object) -> object:
    """tf.keras 2's hard_sigmoid, written from its definition: clip(0.2 x + 0.5, 0, 1)."""
    return keras.ops.clip(0.2 * x + 0.5, 0.0, 1.0)  # type: ignore[operator]


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "ConvLSTM2D"])
def test_tf_keras2_hard_sigmoid(kind: str) -> None:
    """A model that says 'hard_sigmoid' converted as a tf.keras 2 file matches the same weights
    run by Keras with tf.keras 2's definition (not Keras 3's)."""
    shape = (4, 5, 6, 2) if kind == "ConvLSTM2D" else (6, 3)
    args = (3, 3) if kind == "ConvLSTM2D" else (4,)
    named = _model(shape, getattr(L, kind)(*args, recurrent_activation="hard_sigmoid"))
    randomize(named)
    reference = _model(shape, getattr(L, kind)(*args, recurrent_activation=_tf2_hard_sigmoid))
    reference.set_weights(named.get_weights())
    x = _random((2, *shape)) * 3
    tf2 = from_keras(named, hard_sigmoid="tf_keras2")
    np.testing.assert_allclose(
        torch_outputs(tf2, x)[0], keras_outputs(reference, x)[0], atol=1e-5, rtol=0
    )
    keras3 = from_keras(named)
    assert np.abs(torch_outputs(keras3, x)[0] - keras_outputs(reference, x)[0]).max() > 1e-3


# ------------------------------------------------------------------------ the loop over time

LOOPS = [
    ("lstm", "relu", "sigmoid", True),
    ("lstm", "tanh", "hard_sigmoid_tf2", True),
    ("gru", "elu", "hard_sigmoid", True),
    ("gru", "relu", "sigmoid", False),
    ("simple", "softsign", "sigmoid", True),
]


def _keras_rnn(kind: str, act: str, gate: str, reset_after: bool, *, bias: bool) -> KerasRNN:
    torch.manual_seed(0)
    rnn = KerasRNN(
        kind,  # type: ignore[arg-type]
        3,
        4,
        activation=act,
        recurrent_activation=gate,
        reset_after=reset_after,
        bias=bias,
    )
    with torch.no_grad():
        for parameter in rnn.parameters():  # biases start at 0
            parameter.add_(0.3 * torch.randn_like(parameter))
    return rnn


def _python_loop(
    rnn: KerasRNN, x: torch.Tensor, lengths: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    valid = None
    if lengths is not None:
        valid = (torch.arange(x.shape[1]) < lengths.unsqueeze(1)).unsqueeze(-1)
    gates_x = torch.nn.functional.linear(x, rnn.weight_ih, rnn.bias_ih)
    settings = (rnn.kind, rnn.activation, rnn.recurrent_activation, rnn.reset_after)
    return keras_rnn_scan(gates_x, rnn.weight_hh, rnn.bias_hh, valid, *settings)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("settings", LOOPS, ids=["-".join(map(str, s)) for s in LOOPS])
def test_the_scripted_loop_computes_what_the_python_loop_computes(
    settings: tuple[str, str, str, bool], bias: bool
) -> None:
    assert recurrent._scripted_scan(*settings) is not None  # TorchScript compiles it here
    rnn = _keras_rnn(*settings, bias=bias)
    x = torch.randn(3, 6, 3)
    for lengths in (None, torch.tensor([6, 2, 4])):
        expected = _python_loop(rnn, x, lengths)
        for mode in (torch.no_grad, torch.inference_mode):
            with mode():
                got = rnn(x, lengths)
            for a, b in zip(got, expected, strict=True):
                torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


@pytest.mark.parametrize("settings", LOOPS, ids=["-".join(map(str, s)) for s in LOOPS])
def test_training_then_inference_mode_and_gradients(settings: tuple[str, str, str, bool]) -> None:
    """With autograd the loop runs in Python (TorchScript only without it): the gradients are
    the Python loop's, and inference_mode afterwards still runs (a scripted GRU that had run
    with autograd failed there)."""
    rnn = _keras_rnn(*settings, bias=True)
    x = torch.randn(2, 5, 3, requires_grad=True)
    weights = torch.randn(2, 5, 4)
    for _ in range(3):
        output, h_n = rnn(x)
        grads = torch.autograd.grad((output * weights).sum() + h_n.sum(), [x, *rnn.parameters()])
    output, h_n = _python_loop(rnn, x, None)
    expected = torch.autograd.grad((output * weights).sum() + h_n.sum(), [x, *rnn.parameters()])
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    for _ in range(3):
        with torch.inference_mode():
            inferred = rnn(x.detach())[0]
    torch.testing.assert_close(inferred, output.detach(), rtol=0, atol=1e-6)


def test_a_converted_lstm_relu_traces_exports_and_pickles(tmp_path: Path) -> None:
    """A trace records the Python loop (unrolled at the traced length); the module pickles."""
    from cnnlstm.export import export_model

    model = randomize(_model((6, 3), L.LSTM(4, activation="relu"), L.Dense(2)))
    converted = from_keras(model)
    x = _random((2, 6, 3))
    with torch.no_grad():
        traced = torch.jit.trace(converted, (torch.from_numpy(x),), check_trace=False)
        np.testing.assert_allclose(
            traced(torch.from_numpy(x)).numpy(), keras_outputs(model, x)[0], atol=1e-5, rtol=0
        )
    report = export_model(converted, tmp_path / "lstm.onnx", example_shape=(6, 3))
    assert report.ok, report
    torch.save(converted, tmp_path / "whole.pt")
    loaded = torch.load(tmp_path / "whole.pt", weights_only=False)
    copied = copy.deepcopy(converted)
    for other in (loaded, copied):
        np.testing.assert_allclose(
            torch_outputs(other, x)[0], torch_outputs(converted, x)[0], atol=0, rtol=0
        )


# ------------------------------------------------------------------------ masks


def _padded(lengths: list[int], steps: int, features: int, *, seed: int) -> np.ndarray:
    """Sequences padded with zeros after each length."""
    x = _random((len(lengths), steps, features), seed=seed)
    for row, length in enumerate(lengths):
        x[row, length:] = 0.0
    return x


@pytest.mark.parametrize(
    "layer",
    [
        lambda: L.LSTM(4),
        lambda: L.LSTM(4, return_sequences=True),
        lambda: L.GRU(4, go_backwards=True),
        lambda: L.GRU(4, go_backwards=True, return_sequences=True),
        lambda: L.LSTM(4, activation="relu", return_sequences=True),
        lambda: L.SimpleRNN(4),
        lambda: L.Bidirectional(L.LSTM(3)),
        lambda: L.Bidirectional(L.GRU(3, return_sequences=True), merge_mode="sum"),
    ],
)
def test_masking_becomes_lengths(layer: object) -> None:
    model = _model((6, 3), L.Masking(0.0), L.Dense(3), layer())  # type: ignore[operator]
    lengths = [6, 3, 1, 4]
    assert_converts(model, _padded(lengths, 6, 3, seed=0), _padded(lengths, 6, 3, seed=1))


def test_masking_through_time_distributed_into_stacked_lstms() -> None:
    model = _model(
        (5, 4),
        L.Masking(-1.0),
        L.TimeDistributed(L.Dense(3, activation="relu")),
        L.LSTM(4, return_sequences=True),
        L.LSTM(2),
    )
    lengths = [5, 2, 3]
    first, second = (_padded(lengths, 5, 4, seed=s) for s in (0, 1))
    for x in (first, second):
        for row, length in enumerate(lengths):
            x[row, length:] = -1.0
    assert_converts(model, first, second)


def test_boolean_mask_input() -> None:
    """keras-io's video classification: features and a boolean mask as two inputs."""
    keras.utils.set_random_seed(0)
    features = keras.Input((5, 6), name="features")
    mask = keras.Input((5,), dtype="bool", name="mask")
    x = L.GRU(4, return_sequences=True)(features, mask=mask)
    x = L.GRU(3)(x)
    model = keras.Model([features, mask], L.Dense(2, activation="softmax")(x))
    valid = np.array([[True] * 5, [True] * 2 + [False] * 3, [True] * 4 + [False]])
    assert_converts(model, [_random((3, 5, 6)), valid], [_random((3, 5, 6), seed=1), valid])


def test_conv_lstm_with_mask_input() -> None:
    keras.utils.set_random_seed(0)
    clips = keras.Input((4, 5, 5, 2))
    mask = keras.Input((4,), dtype="bool")
    x = L.ConvLSTM2D(3, 3, padding="same")(clips, mask=mask)
    model = keras.Model([clips, mask], x)
    valid = np.array([[True] * 4, [True, True, False, False]])
    assert_converts(
        model, [_random((2, 4, 5, 5, 2)), valid], [_random((2, 4, 5, 5, 2), seed=1), valid]
    )


def test_mask_with_a_hole_is_refused_when_run() -> None:
    model = _model((4, 2), L.Masking(0.0), L.LSTM(3))
    converted = from_keras(model)
    x = _random((2, 4, 2))
    x[1, 1] = 0.0  # a masked step between valid ones
    with pytest.raises(ConfigError, match=r"rows \[1\].*hole in the middle.*padded suffix"):
        converted(torch.from_numpy(x))


# ------------------------------------------------------------------------ Embedding(mask_zero)


def _token_ids(lengths: list[int], steps: int, *, seed: int, dtype: str = "int32") -> np.ndarray:
    """Token ids 1..29, padded with 0 after each length (as pad_sequences(padding="post"))."""
    ids = np.random.default_rng(seed).integers(1, 30, size=(len(lengths), steps))
    for row, length in enumerate(lengths):
        ids[row, length:] = 0
    return ids.astype(dtype)


def _text_model(dtype: str, *layers: keras.Layer) -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((7,), dtype=dtype), *layers])


@pytest.mark.parametrize("dtype", ["int32", "int64", "float32"])
@pytest.mark.parametrize(
    "layer",
    [
        lambda: L.LSTM(4),
        lambda: L.GRU(4, go_backwards=True, return_sequences=True),
        lambda: L.LSTM(4, activation="relu", return_sequences=True),
        lambda: L.Bidirectional(L.GRU(3)),
        lambda: L.Bidirectional(L.LSTM(3, activation="relu", return_sequences=True)),
    ],
)
def test_embedding_mask_zero_becomes_lengths(dtype: str, layer: object) -> None:
    """Keras casts float ids to int32 and masks ids equal to 0; so does the converted model."""
    model = _text_model(dtype, L.Embedding(30, 5, mask_zero=True), layer())  # type: ignore[operator]
    lengths = [7, 4, 1, 5]
    first, second = (_token_ids(lengths, 7, seed=s, dtype=dtype) for s in (0, 1))
    converted = assert_converts(model, first, second)
    assert len(converted.steps) == 2  # the mask, then the embedding fused with the rest


def test_embedding_without_a_mask() -> None:
    model = _text_model("int32", L.Embedding(30, 5, name="emb"), L.Conv1D(4, 3), L.Flatten())
    x = np.random.default_rng(0).integers(0, 30, size=(3, 7)).astype("int32")
    second = np.random.default_rng(1).integers(0, 30, size=(3, 7)).astype("int32")
    converted = assert_converts(model, x, second)
    assert len(converted.steps) == 1
    assert converted.get_submodule("emb").weight.shape == (30, 5)


def test_embedding_indices_out_of_range_say_which() -> None:
    converted = from_keras(_text_model("int32", L.Embedding(30, 5), L.LSTM(3)))
    with pytest.raises(ValueError, match=r"indices have to be in \[0, 29\].*from -1 to 30"):
        converted(torch.tensor([[1, 2, 30, -1, 0, 0, 0]]))


def test_one_embedding_shared_by_two_inputs_masks_each() -> None:
    keras.utils.set_random_seed(0)
    question, answer = keras.Input((7,), dtype="int32"), keras.Input((7,), dtype="int32")
    embed = L.Embedding(30, 5, mask_zero=True)
    merged = L.Concatenate()([L.GRU(3)(embed(question)), L.LSTM(3)(embed(answer))])
    model = keras.Model([question, answer], L.Dense(2)(merged))
    inputs = [_token_ids([7, 2, 5], 7, seed=s) for s in (0, 1)]
    others = [_token_ids([3, 7, 1], 7, seed=s) for s in (2, 3)]
    converted = assert_converts(model, inputs, others)
    assert sum(isinstance(m, torch.nn.Embedding) for m in converted.modules()) == 1


def test_embedding_mask_through_dropout_and_dense_into_a_masked_average() -> None:
    model = _text_model(
        "int32",
        L.Embedding(30, 5, mask_zero=True),
        L.SpatialDropout1D(0.2),
        L.Dense(4, activation="relu"),
        L.GlobalAveragePooling1D(),
    )
    lengths = [7, 2, 1, 5]
    assert_converts(model, *(_token_ids(lengths, 7, seed=s) for s in (0, 1)))


def test_embedding_mask_with_a_hole_is_refused_when_run() -> None:
    model = _text_model("int32", L.Embedding(30, 5, mask_zero=True), L.LSTM(3))
    converted = from_keras(model)
    ids = _token_ids([7, 7], 7, seed=0)
    ids[0, 2] = 0  # a padding id between words
    with pytest.raises(ConfigError, match=r"rows \[0\].*hole in the middle"):
        converted(torch.from_numpy(ids))


# ------------------------------------------------------------------------ masked global pools


@pytest.mark.parametrize("keepdims", [False, True])
def test_masked_global_average_averages_the_unmasked_steps(keepdims: bool) -> None:
    model = _model((6, 3), L.Masking(0.0), L.Dense(4), L.GlobalAveragePooling1D(keepdims=keepdims))
    lengths = [6, 3, 1, 4]
    first, second = (_padded(lengths, 6, 3, seed=s) for s in (0, 1))
    converted = assert_converts(model, first, second)
    # not the plain mean: the Dense's bias makes the padded steps count if they were averaged
    x = torch.from_numpy(first)
    with torch.no_grad():
        out = converted(x)
    plain = keras.ops.convert_to_numpy(
        keras.layers.GlobalAveragePooling1D(keepdims=keepdims)(model.layers[1](x.numpy()))
    )
    assert np.abs(out.numpy() - plain).max() > 1e-3


def test_masked_global_average_follows_a_mask_input_with_holes() -> None:
    """Keras's average takes any mask (it needs no lengths): holes too."""
    keras.utils.set_random_seed(0)
    steps = keras.Input((5, 3))
    mask = keras.Input((5,), dtype="bool")
    x = L.Dense(4)(steps)
    model = keras.Model([steps, mask], L.GlobalAveragePooling1D()(x, mask=mask))
    valid = np.array([[True, False, True, True, False], [False, True, False, False, True]])
    assert_converts(model, [_random((2, 5, 3)), valid], [_random((2, 5, 3), seed=1), valid])


@pytest.mark.filterwarnings("ignore:Layer 'global_max_pooling1d'.*does not support masking")
def test_masked_global_max_takes_every_step_as_keras_does() -> None:
    """Keras's GlobalMaxPooling1D takes no mask: masked steps (zeros after Masking) count."""
    model = _model((6, 3), L.Masking(0.0), L.GlobalMaxPooling1D())
    lengths = [6, 3, 1, 4]
    first, second = (-np.abs(_padded(lengths, 6, 3, seed=s)) for s in (0, 1))
    converted = assert_converts(model, first, second)
    out = converted(torch.from_numpy(first))
    assert (out[2] == 0).all()  # one valid step, all negative: the padded zeros win


def test_recurrent_module_masked_outputs_repeat_the_last_valid_step() -> None:
    rnn = torch.nn.GRU(2, 3, batch_first=True)
    module = Recurrent(rnn, return_sequences=True)
    x = torch.randn(1, 4, 2)
    mask = torch.tensor([[True, True, False, False]])
    out = module(x, mask=mask)
    alone = rnn(x[:, :2])[0]
    torch.testing.assert_close(out[:, :2], alone)
    torch.testing.assert_close(out[:, 2], alone[:, 1])
    torch.testing.assert_close(out[:, 3], alone[:, 1])
