"""from_keras on Keras ``Bidirectional(LSTM | GRU)``: outputs match Keras 3 (torch backend)."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import pytest
import torch
from keras_compare import assert_converts
from torch import nn

from cnnlstm.errors import ConfigError, ShapeError
from cnnlstm.interop.keras import Bidirectional, ConvertedKeras, KerasRNN, from_keras
from cnnlstm.layers.time_distributed import TimeDistributed

L = keras.layers
# Keras (torch backend) calls np.array(tensor) internally, which numpy 2 flags; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
ATOL = 1e-5
MERGE_MODES = ["concat", "sum", "mul", "ave", None]


def _random(shape: tuple[int, ...], *, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _randomize(model: keras.Model, *, seed: int = 1) -> keras.Model:
    """Every weight random (biases too, and the two directions differ), scaled to keep tanh busy."""
    rng = np.random.default_rng(seed)
    model.set_weights(
        [(rng.normal(size=w.shape) * 0.5).astype(np.float32) for w in model.get_weights()]
    )
    return model


def _numpy(value: object) -> np.ndarray:
    assert isinstance(value, torch.Tensor)
    array: np.ndarray = value.detach().cpu().numpy().copy()
    return array


def _outputs(value: object) -> list[np.ndarray]:
    """A model's output as a list of arrays: one, or two for merge_mode=None."""
    if isinstance(value, (tuple, list)):
        return [_numpy(v) for v in value]
    return [_numpy(value)]


def _assert_matches(model: keras.Model, x: np.ndarray) -> ConvertedKeras:
    """The shared check (tests/interop/keras_compare.py): noisy weights, two inputs."""
    return assert_converts(model, x)


def _sequential(input_shape: tuple[int | None, ...], *layers: keras.Layer) -> keras.Model:
    keras.utils.set_random_seed(0)
    return _randomize(keras.Sequential([keras.Input(input_shape), *layers]))


# ------------------------------------------------------------------------ against Keras


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
@pytest.mark.parametrize("return_sequences", [True, False])
def test_bidirectional_matches_keras(
    kind: str, merge_mode: str | None, return_sequences: bool
) -> None:
    layer = L.Bidirectional(
        getattr(L, kind)(4, return_sequences=return_sequences), merge_mode=merge_mode, name="bi"
    )
    model = _sequential((6, 3), layer)
    converted = _assert_matches(model, _random((2, 6, 3)))
    module = converted.get_submodule("bi")
    assert isinstance(module, Bidirectional)
    assert isinstance(module.rnn, getattr(nn, kind))
    if merge_mode is None:  # the pair, as Keras returns it
        with torch.no_grad():
            out = converted(torch.from_numpy(_random((2, 6, 3))))
        assert isinstance(out, tuple)
        assert len(out) == 2


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_without_bias_matches_keras(kind: str) -> None:
    model = _sequential((5, 3), L.Bidirectional(getattr(L, kind)(3, use_bias=False)))
    converted = _assert_matches(model, _random((2, 5, 3)))
    assert not any("bias" in name for name, _ in converted.named_parameters())


# Keras's own activations beside torch's kernels: each direction becomes a KerasRNN.
OTHER_SETTINGS = {
    "LSTM-relu": lambda **kw: L.LSTM(4, activation="relu", **kw),
    "LSTM-hard_sigmoid": lambda **kw: L.LSTM(4, recurrent_activation="hard_sigmoid", **kw),
    "GRU-reset_before": lambda **kw: L.GRU(4, reset_after=False, **kw),
    "GRU-elu": lambda **kw: L.GRU(4, activation="elu", recurrent_activation="hard_sigmoid", **kw),
    "SimpleRNN-softsign": lambda **kw: L.SimpleRNN(4, activation="softsign", **kw),
}


@pytest.mark.parametrize("setting", list(OTHER_SETTINGS))
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
@pytest.mark.parametrize("return_sequences", [True, False])
def test_bidirectional_with_other_activations_matches_keras(
    setting: str, merge_mode: str | None, return_sequences: bool
) -> None:
    inner = OTHER_SETTINGS[setting](return_sequences=return_sequences)
    model = _sequential((6, 3), L.Bidirectional(inner, merge_mode=merge_mode, name="bi"))
    converted = _assert_matches(model, _random((2, 6, 3)))
    module = converted.get_submodule("bi")
    assert isinstance(module, Bidirectional)
    assert isinstance(module.rnn, KerasRNN) and isinstance(module.backward, KerasRNN)
    assert module.rnn.weight_ih is not module.backward.weight_ih


@pytest.mark.parametrize("setting", list(OTHER_SETTINGS))
@pytest.mark.parametrize("merge_mode", ["concat", "ave", None])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_bidirectional_with_other_activations_after_masking_matches_keras(
    setting: str, merge_mode: str | None, return_sequences: bool
) -> None:
    """Masking's lengths: each direction reads each sequence within its length, zeros after."""
    inner = OTHER_SETTINGS[setting](return_sequences=return_sequences)
    model = _sequential((6, 3), L.Masking(0.0), L.Bidirectional(inner, merge_mode=merge_mode))
    lengths = [6, 3, 1, 4]
    first, second = (_random((4, 6, 3), seed=s) for s in (0, 1))
    for x in (first, second):
        for row, length in enumerate(lengths):
            x[row, length:] = 0.0
    assert_converts(model, first, second)


def test_bidirectional_with_a_mask_input_and_other_activations_matches_keras() -> None:
    keras.utils.set_random_seed(0)
    features = keras.Input((5, 3))
    mask = keras.Input((5,), dtype="bool")
    x = L.Bidirectional(L.GRU(3, reset_after=False, return_sequences=True))(features, mask=mask)
    model = keras.Model([features, mask], L.Bidirectional(L.LSTM(2, activation="relu"))(x))
    valid = np.array([[True] * 5, [True, True, False, False, False], [True] * 4 + [False]])
    assert_converts(model, [_random((3, 5, 3)), valid], [_random((3, 5, 3), seed=1), valid])


@pytest.mark.parametrize(
    "backward",
    [
        lambda: L.LSTM(4, go_backwards=True, activation="relu", return_sequences=True),
        lambda: L.LSTM(
            4, go_backwards=True, recurrent_activation="hard_sigmoid", return_sequences=True
        ),
    ],
    ids=["relu-backward", "hard-sigmoid-backward"],
)
def test_explicit_backward_layer_with_its_own_activation_matches_keras(
    backward: Callable[[], keras.Layer],
) -> None:
    """The forward LSTM has torch's activations, the backward one not: two KerasRNNs."""
    layer = L.Bidirectional(
        L.LSTM(4, return_sequences=True), backward_layer=backward(), merge_mode="concat", name="bi"
    )
    converted = _assert_matches(_sequential((5, 3), layer), _random((2, 5, 3)))
    module = converted.get_submodule("bi")
    assert isinstance(module.rnn, KerasRNN) and isinstance(module.backward, KerasRNN)


def test_bidirectional_with_other_activations_without_bias_matches_keras() -> None:
    model = _sequential((5, 3), L.Bidirectional(L.GRU(3, use_bias=False, reset_after=False)))
    converted = _assert_matches(model, _random((2, 5, 3)))
    assert not any("bias" in name for name, _ in converted.named_parameters())


def test_stacked_bidirectional_matches_keras() -> None:
    model = _sequential(
        (7, 3),
        L.Bidirectional(L.GRU(4, return_sequences=True)),
        L.Bidirectional(L.LSTM(3), merge_mode="ave"),
        L.Dense(2),
    )
    _assert_matches(model, _random((2, 7, 3)))


def test_unknown_time_axis_accepts_any_length() -> None:
    model = _sequential((None, 3), L.Bidirectional(L.LSTM(4)))
    converted = from_keras(model)
    for steps in (1, 4, 9):
        x = _random((2, steps, 3), seed=steps)
        with torch.no_grad():
            got = _numpy(converted(torch.from_numpy(x)))
        np.testing.assert_allclose(got, _numpy(model(x, training=False)), atol=ATOL, rtol=0)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_explicit_backward_layer_matches_keras(kind: str) -> None:
    """Same kind and units, but its own settings (dropout, initializer) and weights."""
    rnn = getattr(L, kind)
    layer = L.Bidirectional(
        rnn(4, return_sequences=True),
        backward_layer=rnn(
            4, return_sequences=True, go_backwards=True, dropout=0.3, recurrent_dropout=0.2
        ),
        merge_mode="sum",
    )
    _assert_matches(_sequential((5, 3), layer), _random((2, 5, 3)))


def test_functional_model_ending_with_merge_mode_none_returns_the_pair() -> None:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5, 3))
    x = L.Dense(4, activation="tanh")(inputs)
    outputs = L.Bidirectional(L.GRU(3), merge_mode=None)(x)
    model = _randomize(keras.Model(inputs, outputs))
    assert len(model.outputs) == 2
    _assert_matches(model, _random((2, 5, 3)))


def test_nested_sequential_ending_with_merge_mode_none_returns_the_pair() -> None:
    keras.utils.set_random_seed(0)
    inner = keras.Sequential([keras.Input((5, 4)), L.Bidirectional(L.LSTM(3), merge_mode=None)])
    model = _randomize(keras.Sequential([keras.Input((5, 4)), L.Dense(4), inner]))
    _assert_matches(model, _random((2, 5, 4)))


def test_crnn_conv_permute_reshape_bidirectional_dense_matches_keras() -> None:
    """The CRNN text-line shape: Conv2D -> (B, W, C*H) columns -> Bidirectional(LSTM) -> Dense."""
    height, width = 8, 16
    model = _sequential(
        (height, width, 1),
        L.Conv2D(4, 3, padding="same", activation="relu"),
        L.MaxPooling2D((2, 2)),
        L.Conv2D(6, 3, padding="same", activation="relu"),
        L.MaxPooling2D((2, 1)),  # (B, 2, 8, 6): the width stays a sequence of 8 columns
        L.Permute((2, 1, 3)),  # (B, W, H, C)
        L.Reshape((width // 2, -1)),  # (B, W, H*C)
        L.Bidirectional(L.LSTM(5, return_sequences=True)),
        L.Dense(7, activation="softmax"),  # per-column class scores, as CTC wants them
    )
    converted = _assert_matches(model, _random((3, height, width, 1)))
    names = [type(m).__name__ for m in converted]
    assert names.index("Bidirectional") == names.index("Reshape") + 1


def test_time_distributed_bidirectional_matches_keras() -> None:
    model = _sequential((3, 5, 4), L.TimeDistributed(L.Bidirectional(L.GRU(3)), name="td"))
    converted = _assert_matches(model, _random((2, 3, 5, 4)))
    td = converted.get_submodule("td")
    assert isinstance(td, TimeDistributed)
    assert isinstance(td.module, Bidirectional)


# ------------------------------------------------------------------------ what it refuses


def _config_error(model_fn: Callable[[], keras.Model]) -> str:
    model = model_fn()
    with pytest.raises(ConfigError) as info:
        from_keras(model)
    return str(info.value)


@pytest.mark.parametrize(
    ("layer", "words"),
    [
        (
            lambda: L.Bidirectional(
                L.LSTM(4), backward_layer=L.LSTM(6, go_backwards=True), name="bi"
            ),
            ["'bi' (Bidirectional)", "backward_layer has units=6", "units=4"],
        ),
        (
            lambda: L.Bidirectional(
                L.LSTM(4), backward_layer=L.GRU(4, go_backwards=True), name="bi"
            ),
            ["'bi' (Bidirectional)", "backward_layer is GRU", "forward layer is LSTM"],
        ),
        (
            lambda: L.Bidirectional(
                L.GRU(4), backward_layer=L.GRU(4, go_backwards=True, use_bias=False), name="bi"
            ),
            ["'bi' (Bidirectional)", "use_bias=False"],
        ),
        (
            lambda: L.Bidirectional(
                L.LSTM(4, go_backwards=True), backward_layer=L.LSTM(4), name="bi"
            ),
            ["'bi' (Bidirectional)", "forward layer has go_backwards=True"],
        ),
        (
            lambda: L.Bidirectional(
                L.LSTM(4),
                backward_layer=L.LSTM(4, go_backwards=True, activation="gelu", name="back"),
                name="bi",
            ),
            ["layer 'back' (LSTM)", "activation='gelu'", "supported: tanh"],
        ),
        (
            lambda: L.Bidirectional(L.GRU(4, activation="gelu"), name="bi"),
            ["(GRU)", "activation='gelu'", "supported: tanh"],
        ),
        (
            lambda: L.Bidirectional(L.ConvLSTM1D(4, 3), name="bi"),
            ["'bi' (Bidirectional)", "(ConvLSTM1D)", "only LSTM, GRU and SimpleRNN"],
        ),
    ],
)
def test_unsupported_bidirectional_settings_name_layer_and_setting(
    layer: Callable[[], keras.Layer], words: list[str]
) -> None:
    shape = (5, 3, 2) if "ConvLSTM1D" in words[1] else (5, 3)
    message = _config_error(lambda: _sequential(shape, layer()))
    for word in words:
        assert word in message


def test_one_of_the_pair_alone_matches() -> None:
    inputs = keras.Input((5, 3))
    pair = L.Bidirectional(L.LSTM(2), merge_mode=None, name="bi")(inputs)
    model = keras.Model(inputs, pair[1])  # the backward half alone
    assert_converts(model, _random((2, 5, 3)))


def test_outputs_of_two_layers_match() -> None:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5, 3))
    model = keras.Model(inputs, [L.LSTM(2)(inputs), L.GRU(2)(inputs)])
    converted = assert_converts(model, _random((2, 5, 3)))
    assert isinstance(converted(torch.zeros(1, 5, 3)), list)


def test_bidirectional_simple_rnn_matches() -> None:
    model = _sequential((5, 3), L.Bidirectional(L.SimpleRNN(4, activation="relu"), name="bi"))
    assert_converts(model, _random((2, 5, 3)))


# ------------------------------------------------------------------------ the module itself


def test_final_states_are_h_n_of_both_directions_not_the_last_step() -> None:
    """Independent of Keras: the merged final states are torch's own h_n for each direction."""
    rnn = nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    x = torch.randn(2, 6, 3)
    with torch.no_grad():
        got = Bidirectional(rnn, return_sequences=False)(x)
        output, (h_n, _) = rnn(x)
    torch.testing.assert_close(got, torch.cat([h_n[0], h_n[1]], dim=-1))
    assert not torch.allclose(got, output[:, -1])  # the trap: backward has read one step there


def test_backward_steps_are_in_time_order() -> None:
    """Written out: the backward half at step t is a GRU run over steps T-1 down to t."""
    rnn = nn.GRU(3, 4, batch_first=True, bidirectional=True)
    backward_only = nn.GRU(3, 4, batch_first=True)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            backward_only.get_parameter(f"{name}_l0").copy_(rnn.get_parameter(f"{name}_l0_reverse"))
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        _, backward = Bidirectional(rnn, merge_mode=None)(x)
        for t in range(5):
            _, h = backward_only(x[:, t:].flip(1))
            torch.testing.assert_close(backward[:, t], h[0])


@pytest.mark.parametrize(
    ("merge_mode", "combine"),
    [
        ("sum", lambda a, b: a + b),
        ("mul", lambda a, b: a * b),
        ("ave", lambda a, b: (a + b) / 2),
        ("concat", lambda a, b: torch.cat([a, b], dim=-1)),
    ],
)
def test_merge_modes_combine_the_pair(
    merge_mode: str, combine: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
) -> None:
    rnn = nn.GRU(3, 4, batch_first=True, bidirectional=True)
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        forward, backward = Bidirectional(rnn, merge_mode=None)(x)
        merged = Bidirectional(rnn, merge_mode=merge_mode)(x)  # type: ignore[arg-type]
    torch.testing.assert_close(merged, combine(forward, backward))


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: Bidirectional(nn.LSTM(3, 4, batch_first=True)), "bidirectional=True"),
        (lambda: Bidirectional(nn.GRU(3, 4, bidirectional=True)), "batch_first=True"),
        (
            lambda: Bidirectional(
                nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True)
            ),
            "one-layer",
        ),
        (
            lambda: Bidirectional(
                nn.LSTM(3, 4, batch_first=True, bidirectional=True),
                merge_mode="max",  # type: ignore[arg-type]
            ),
            "merge_mode has to be one of",
        ),
    ],
)
def test_bad_arguments_raise_value_error(make: Callable[[], nn.Module], words: str) -> None:
    with pytest.raises(ValueError, match="has to be") as info:
        make()
    assert words in str(info.value)


def test_wrong_input_raises_shape_error() -> None:
    module = Bidirectional(nn.LSTM(3, 4, batch_first=True, bidirectional=True))
    with pytest.raises(ShapeError, match=r"\(B, T, 3\).*\(2, 5, 4\)"):
        module(torch.zeros(2, 5, 4))
    with pytest.raises(ShapeError, match=r"\(2, 3\)"):
        module(torch.zeros(2, 3))


def test_converted_bidirectional_is_trainable() -> None:
    model = _sequential((5, 3), L.Bidirectional(L.LSTM(4)), L.Dense(2))
    converted = from_keras(model).train()
    loss = (converted(torch.from_numpy(_random((2, 5, 3)))) * torch.randn(2, 2)).sum()
    loss.backward()
    for name, parameter in converted.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name
