"""from_keras on functional graphs: several inputs and outputs, branches, merges, nested models,
shared layers; the converted module takes and returns what the Keras model does."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
from keras_compare import assert_converts

from cnnlstm.errors import ConfigError, ShapeError
from cnnlstm.interop.keras import ConvertedKeras, from_keras

L = keras.layers
# Keras (torch backend) calls np.array(tensor) internally, which numpy 2 flags; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _random(shape: tuple[int, ...], *, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize(
    "merge",
    [
        lambda: L.Concatenate(),
        lambda: L.Concatenate(axis=1),
        lambda: L.Add(),
        lambda: L.Subtract(),
        lambda: L.Multiply(),
        lambda: L.Average(),
        lambda: L.Maximum(),
        lambda: L.Minimum(),
    ],
)
def test_merges_of_two_conv_branches(merge: object) -> None:
    """Two Conv2D branches (their outputs channels first inside torch) merged in Keras order."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 7, 2))
    a = L.Conv2D(3, 3, padding="same", activation="relu")(inputs)
    b = L.Conv2D(3, 1)(inputs)
    merged = merge()([a, b])  # type: ignore[operator]
    model = keras.Model(inputs, L.Dense(2)(L.Flatten()(merged)))
    assert_converts(model, _random((2, 6, 7, 2)))


@pytest.mark.parametrize(("axes", "normalize"), [(1, False), ((2, 2), True), ((1, 1), False)])
def test_dot(axes: object, normalize: bool) -> None:
    keras.utils.set_random_seed(0)
    a, b = keras.Input((4, 3)), keras.Input((4, 3))
    out = L.Dot(axes=axes, normalize=normalize)([L.Dense(3)(a), b])  # type: ignore[arg-type]
    model = keras.Model([a, b], out)
    assert_converts(model, [_random((2, 4, 3)), _random((2, 4, 3), seed=1)])


def test_two_inputs_two_outputs_as_dicts() -> None:
    keras.utils.set_random_seed(0)
    frames = keras.Input((3, 8, 8, 1), name="frames")
    meta = keras.Input((4,), name="meta")
    x = L.TimeDistributed(L.Conv2D(2, 3, activation="relu"))(frames)
    x = L.TimeDistributed(L.GlobalAveragePooling2D())(x)
    x = L.LSTM(5)(x)
    joined = L.Concatenate()([x, L.Dense(3)(meta)])
    model = keras.Model(
        {"frames": frames, "meta": meta},
        {"label": L.Dense(3, activation="softmax")(joined), "score": L.Dense(1)(joined)},
    )
    inputs = {"frames": _random((2, 3, 8, 8, 1)), "meta": _random((2, 4), seed=1)}
    converted = assert_converts(model, inputs)
    out = converted({k: torch.from_numpy(v) for k, v in inputs.items()})
    assert set(out) == {"label", "score"}
    with pytest.raises(ShapeError, match="lacks \\['meta'\\]"):
        converted({"frames": torch.from_numpy(inputs["frames"])})


def test_list_inputs_and_outputs_and_an_input_used_as_output() -> None:
    keras.utils.set_random_seed(0)
    a, b = keras.Input((5, 3)), keras.Input((5, 3))
    model = keras.Model([a, b], [L.Add()([L.LSTM(3, return_sequences=True)(a), b]), a])
    converted = assert_converts(model, [_random((2, 5, 3)), _random((2, 5, 3), seed=1)])
    assert len(converted(torch.zeros(1, 5, 3), torch.zeros(1, 5, 3))) == 2


def test_nested_models_and_shared_layers() -> None:
    """A Siamese encoder (one nested model called twice) and a shared Dense: one module each."""
    keras.utils.set_random_seed(0)
    frame = keras.Input((8, 8, 1))
    encoder = keras.Model(
        frame, L.GlobalMaxPooling2D()(L.Conv2D(3, 3, name="enc_conv")(frame)), name="encoder"
    )
    left, right = keras.Input((8, 8, 1)), keras.Input((8, 8, 1))
    shared = L.Dense(4, activation="tanh", name="shared")
    a, b = shared(encoder(left)), shared(encoder(right))
    model = keras.Model([left, right], L.Dense(1)(L.Subtract()([a, b])))
    converted = assert_converts(model, [_random((2, 8, 8, 1)), _random((2, 8, 8, 1), seed=1)])
    names = [n for n, _ in converted.named_parameters()]
    assert sum("shared" in n for n in names) == 2  # weight and bias, once
    assert sum("enc_conv" in n for n in names) == 2


def test_skip_connection_around_a_recurrent_block() -> None:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 4))
    x = L.Conv1D(4, 3, padding="same")(inputs)
    y = L.Bidirectional(L.GRU(2, return_sequences=True))(x)
    out = L.GlobalAveragePooling1D()(L.Add()([x, y]))
    assert_converts(keras.Model(inputs, out), _random((2, 6, 4)))


def test_chain_is_one_step_and_graph_config_round_trips() -> None:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5, 3)), L.Dense(4), L.LSTM(2)])
    converted = from_keras(model)
    assert len(converted.steps) == 1
    inputs = keras.Input((5, 3))
    branchy = keras.Model(inputs, L.Concatenate()([L.LSTM(2)(inputs), L.GRU(2)(inputs)]))
    graph = from_keras(branchy)
    rebuilt = ConvertedKeras.from_config(graph.config())
    rebuilt.load_state_dict(graph.state_dict())
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(rebuilt.eval()(x), graph(x))


def test_keras_ops_in_the_graph_are_refused_with_the_layer_to_use() -> None:
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.ops.add(L.Dense(4)(inputs), inputs))
    with pytest.raises(ConfigError, match=r"keras.ops operation.*keras.layers.Add"):
        from_keras(model)
