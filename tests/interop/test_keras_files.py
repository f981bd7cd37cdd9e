"""from_keras and ``cnnlstm convert`` on saved files: ``.keras``, tf.keras 2's legacy ``.h5``
(written here with h5py in the layout Keras 3's legacy reader expects,
keras/src/legacy/saving/legacy_h5_format.py), architecture JSON with Keras 3 or legacy weights.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np
import pytest
import torch
from keras_compare import assert_converts, compare, keras_outputs, randomize, torch_outputs

from cnnlstm.commands import convert as convert_command
from cnnlstm.errors import DataError
from cnnlstm.interop.keras import from_keras, load_converted, load_model, save_converted

L = keras.layers
# Keras (torch backend) calls np.array(tensor) internally, which numpy 2 flags; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _random(shape: tuple[int, ...], *, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _small_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4, 8, 1)),
            L.TimeDistributed(L.Conv1D(3, 2, activation="relu")),
            L.TimeDistributed(L.MaxPooling1D(2)),
            L.TimeDistributed(L.Flatten()),
            L.LSTM(5, activation="relu"),
            L.Dense(2),
        ]
    )
    return randomize(model)


def _assert_close(model: keras.Model, module: torch.nn.Module, shape: tuple[int, ...]) -> None:
    figures = compare(model, module, _random(shape), _random(shape, seed=1))
    assert figures["relative"] <= 1e-4 and figures["of_motion"] <= 1e-3, figures


def test_dot_keras_file(tmp_path: Path) -> None:
    model = _small_model()
    path = tmp_path / "model.keras"
    model.save(path)
    converted = from_keras(path)
    _assert_close(model, converted, (2, 4, 8, 1))
    assert load_model(path).hard_sigmoid == "keras3"


def test_json_and_weights_h5(tmp_path: Path) -> None:
    model = _small_model()
    (tmp_path / "model.json").write_text(model.to_json())
    model.save_weights(tmp_path / "model.weights.h5")
    converted = from_keras(tmp_path / "model.json", weights=tmp_path / "model.weights.h5")
    _assert_close(model, converted, (2, 4, 8, 1))


# ------------------------------------------------------------------------ tf.keras 2 files


def _init(kind: str) -> dict[str, Any]:
    return {"class_name": kind, "config": {"seed": None} if kind != "Zeros" else {}}


def _tf2_layers() -> list[dict[str, Any]]:
    """A tf.keras 2 Sequential config of the tutorials' CNN-LSTM, with tf.keras 2's keys
    (batch_input_shape, time_major, implementation, the wrapped layer without "module") and
    its default recurrent_activation hard_sigmoid."""
    conv = {
        "class_name": "Conv1D",
        "config": {
            "name": "conv1d",
            "trainable": True,
            "dtype": "float32",
            "filters": 3,
            "kernel_size": [2],
            "strides": [1],
            "padding": "valid",
            "data_format": "channels_last",
            "dilation_rate": [1],
            "groups": 1,
            "activation": "relu",
            "use_bias": True,
            "kernel_initializer": _init("GlorotUniform"),
            "bias_initializer": _init("Zeros"),
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "activity_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        },
    }
    lstm = {
        "name": "lstm",
        "trainable": True,
        "dtype": "float32",
        "return_sequences": False,
        "return_state": False,
        "go_backwards": False,
        "stateful": False,
        "unroll": False,
        "time_major": False,
        "units": 5,
        "activation": "tanh",
        "recurrent_activation": "hard_sigmoid",
        "use_bias": True,
        "kernel_initializer": _init("GlorotUniform"),
        "recurrent_initializer": {
            "class_name": "Orthogonal",
            "config": {"gain": 1.0, "seed": None},
        },
        "bias_initializer": _init("Zeros"),
        "unit_forget_bias": True,
        "kernel_regularizer": None,
        "recurrent_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "recurrent_constraint": None,
        "bias_constraint": None,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
        "implementation": 2,
    }
    dense = {
        "name": "dense",
        "trainable": True,
        "dtype": "float32",
        "units": 2,
        "activation": "linear",
        "use_bias": True,
        "kernel_initializer": _init("GlorotUniform"),
        "bias_initializer": _init("Zeros"),
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
    }
    flatten = {
        "class_name": "Flatten",
        "config": {"name": "flatten", "data_format": "channels_last"},
    }
    return [
        {
            "class_name": "InputLayer",
            "config": {"batch_input_shape": [None, 4, 6, 1], "dtype": "float32", "name": "in"},
        },
        {"class_name": "TimeDistributed", "config": {"name": "time_distributed", "layer": conv}},
        {
            "class_name": "TimeDistributed",
            "config": {"name": "time_distributed_1", "layer": flatten},
        },
        {"class_name": "LSTM", "config": lstm},
        {"class_name": "Dense", "config": dense},
    ]


# The weights as tf.keras 2 names them: <layer>/<cell>/<weight>:0, trainable ones first.
_TF2_WEIGHTS = {
    "time_distributed": [("conv1d/kernel:0", (2, 1, 3)), ("conv1d/bias:0", (3,))],
    "lstm": [
        ("lstm/lstm_cell/kernel:0", (15, 20)),
        ("lstm/lstm_cell/recurrent_kernel:0", (5, 20)),
        ("lstm/lstm_cell/bias:0", (20,)),
    ],
    "dense": [("dense/kernel:0", (5, 2)), ("dense/bias:0", (2,))],
}
_TF2_LAYERS = ["in", "time_distributed", "time_distributed_1", "lstm", "dense"]


def _write_weights(group: h5py.Group, rng: np.random.Generator) -> list[np.ndarray]:
    """The weights group: attribute layer_names, one group per layer with weight_names."""
    group.attrs["layer_names"] = [n.encode() for n in _TF2_LAYERS]
    group.attrs["keras_version"] = b"2.15.0"
    group.attrs["backend"] = b"tensorflow"
    values = []
    for name in _TF2_LAYERS:
        layer = group.create_group(name)
        weights = _TF2_WEIGHTS.get(name, [])
        layer.attrs["weight_names"] = [w.encode() for w, _ in weights]
        for weight, shape in weights:
            value = (rng.normal(size=shape) * 0.5).astype(np.float32)
            layer.create_dataset(weight, data=value)
            values.append(value)
    return values


def _write_tf2_h5(path: Path) -> list[np.ndarray]:
    """A tf.keras 2 full-model .h5: root attributes model_config / keras_version / backend and
    the group model_weights."""
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": _tf2_layers()}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.15.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        return _write_weights(f.create_group("model_weights"), np.random.default_rng(0))


def _tf2_hard_sigmoid(x: Any) -> Any:
    """tf.keras 2's hard_sigmoid from its definition, clip(0.2 x + 0.5, 0, 1)."""
    return keras.ops.clip(0.2 * x + 0.5, 0.0, 1.0)


def _tf2_reference(values: list[np.ndarray]) -> keras.Model:
    """The same network built in Keras 3 with tf.keras 2's hard_sigmoid, the file's weights."""
    model = keras.Sequential(
        [
            keras.Input((4, 6, 1)),
            L.TimeDistributed(L.Conv1D(3, 2, activation="relu")),
            L.TimeDistributed(L.Flatten()),
            L.LSTM(5, recurrent_activation=_tf2_hard_sigmoid),
            L.Dense(2),
        ]
    )
    model.set_weights(values)
    return model


def test_tf_keras2_h5_reads_without_tensorflow_and_keeps_its_hard_sigmoid(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tutorial.h5"
    values = _write_tf2_h5(path)
    loaded = load_model(path)
    assert (loaded.kind, loaded.keras_version, loaded.hard_sigmoid) == (
        "legacy_h5",
        "2.15.0",
        "tf_keras2",
    )
    assert "tensorflow" not in sys.modules
    converted = from_keras(path)
    reference = _tf2_reference(values)
    x = _random((2, 4, 6, 1)) * 3
    np.testing.assert_allclose(
        torch_outputs(converted, x)[0], keras_outputs(reference, x)[0], atol=1e-5, rtol=0
    )
    _assert_close(reference, converted, (2, 4, 6, 1))


def test_json_with_legacy_weights(tmp_path: Path) -> None:
    config = {
        "class_name": "Sequential",
        "config": {"name": "sequential", "layers": _tf2_layers()},
        "keras_version": "2.15.0",
        "backend": "tensorflow",
    }
    (tmp_path / "model.json").write_text(json.dumps(config))
    with h5py.File(tmp_path / "weights.h5", "w") as f:  # save_weights: the layout at the root
        values = _write_weights(f, np.random.default_rng(0))
    converted = from_keras(tmp_path / "model.json", weights=tmp_path / "weights.h5")
    _assert_close(_tf2_reference(values), converted, (2, 4, 6, 1))


def test_file_mistakes_say_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        from_keras(tmp_path / "missing.keras")
    with h5py.File(tmp_path / "weights.h5", "w") as f:
        _write_weights(f, np.random.default_rng(0))
    with pytest.raises(DataError, match=r"weights only.*architecture \.json"):
        from_keras(tmp_path / "weights.h5")
    (tmp_path / "model.json").write_text("{}")
    with pytest.raises(ValueError, match=r"weights has to be the \.weights\.h5"):
        from_keras(tmp_path / "model.json")


# ------------------------------------------------------------------------ converted files


def test_saved_converted_model_loads_without_keras(tmp_path: Path) -> None:
    model = _small_model()
    converted = from_keras(model)
    save_converted(converted, tmp_path / "model.pt")
    x = _random((2, 4, 8, 1))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", torch_outputs(converted, x)[0])
    script = (
        "import sys; sys.modules['keras'] = None\n"  # importing keras would fail
        "import numpy as np, torch\n"
        "from cnnlstm.interop.keras import load_converted\n"
        f"module = load_converted({str(tmp_path / 'model.pt')!r})\n"
        f"x = torch.from_numpy(np.load({str(tmp_path / 'x.npy')!r}))\n"
        f"y = np.load({str(tmp_path / 'y.npy')!r})\n"
        "assert np.allclose(module(x).detach().numpy(), y, atol=1e-6), 'differs'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr
    assert isinstance(load_converted(tmp_path / "model.pt"), torch.nn.Module)


def test_load_converted_keeps_the_weights_keras_keeps_fixed(tmp_path: Path) -> None:
    """BatchNormalization(scale=False / center=False) and LayerNormalization(scale=False): gamma
    and beta stay fixed at 1 and 0 in Keras, so they do after save_converted/load_converted."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6, 4)),
            L.BatchNormalization(scale=False, center=False, name="bn_none"),
            L.BatchNormalization(scale=False, name="bn_beta"),
            L.BatchNormalization(center=False, name="bn_gamma"),
            L.LayerNormalization(scale=False, name="ln"),
            L.LSTM(3),
            L.Dense(2),
        ]
    )
    converted = assert_converts(model, _random((3, 6, 4)))
    fixed = {"bn_beta.weight", "bn_gamma.bias", "ln.weight"}
    assert not list(converted.get_submodule("bn_none").parameters())  # affine=False
    assert {n for n, p in converted.named_parameters() if not p.requires_grad} == fixed
    save_converted(converted, tmp_path / "model.pt")
    loaded = load_converted(tmp_path / "model.pt")
    assert {n for n, p in loaded.named_parameters() if not p.requires_grad} == fixed
    x = torch.from_numpy(_random((3, 6, 4), seed=2))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), converted(x), rtol=0, atol=0)
    loaded.train()
    (loaded(x) * torch.randn(3, 2)).sum().backward()
    for name, parameter in loaded.named_parameters():
        assert (parameter.grad is None) == (name in fixed), name


def test_a_masked_text_model_round_trips_through_save_converted(tmp_path: Path) -> None:
    """Embedding(mask_zero=True), a Bidirectional of two KerasRNNs and the masked average are
    rebuilt from the saved config alone."""
    keras.utils.set_random_seed(0)
    tokens = keras.Input((6,), dtype="int32")
    x = L.Embedding(20, 4, mask_zero=True)(tokens)
    x = L.Bidirectional(L.GRU(3, reset_after=False, return_sequences=True))(x)
    model = keras.Model(tokens, L.GlobalAveragePooling1D()(x))
    converted = from_keras(randomize(model))
    save_converted(converted, tmp_path / "model.pt")
    loaded = load_converted(tmp_path / "model.pt")
    ids = torch.tensor([[3, 5, 7, 0, 0, 0], [1, 2, 3, 4, 5, 6]], dtype=torch.int32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids), converted(ids), rtol=0, atol=0)
    expected = keras_outputs(model, ids.numpy())[0]
    np.testing.assert_allclose(loaded(ids).detach().numpy(), expected, atol=1e-5, rtol=0)


def test_load_converted_refuses_other_files(tmp_path: Path) -> None:
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(DataError, match="save_converted"):
        load_converted(tmp_path / "other.pt")


def test_convert_command_writes_pt_and_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tutorial.h5"
    _write_tf2_h5(path)
    assert convert_command.main([str(path), "--output", str(tmp_path / "out.pt")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ok"] and summary["hard_sigmoid"] == "tf_keras2"
    module = load_converted(tmp_path / "out.pt")
    assert module(torch.zeros(1, 4, 6, 1)).shape == (1, 2)


def test_convert_command_exits_1_past_the_tolerance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tutorial.h5"
    _write_tf2_h5(path)
    import cnnlstm.interop.keras as interop

    convert = interop.from_keras

    def off_by_a_bias(*args: Any, **kwargs: Any) -> Any:
        module = convert(*args, **kwargs)
        with torch.no_grad():
            module.get_parameter("dense.bias").add_(0.01)
        return module

    monkeypatch.setattr(interop, "from_keras", off_by_a_bias)
    assert convert_command.main([str(path)]) == 1
    assert (tmp_path / "tutorial.pt").is_file()


def test_convert_command_checks_a_text_model_on_token_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An Embedding reads ids: the check draws integers in [1, input_dim), not noise."""
    import keras

    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(50, 8, mask_zero=True),
            keras.layers.LSTM(6),
            keras.layers.Dense(3),
        ]
    )
    model.save(tmp_path / "text.keras")
    assert convert_command.main([str(tmp_path / "text.keras"), "--steps", "7"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ok"]
    ids = convert_command.random_inputs(model, batch=4, steps=7, seed=0)[0]
    assert ids.dtype == np.int32 and ids.shape == (4, 7)
    assert ids.min() >= 1 and ids.max() < 50


def test_convert_command_onnx(tmp_path: Path) -> None:
    model = _small_model()
    model.save(tmp_path / "model.keras")
    code = convert_command.main([str(tmp_path / "model.keras"), "--format", "onnx"])
    assert code == 0
    assert (tmp_path / "model.onnx").is_file()


def test_convert_command_user_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert convert_command.main([str(tmp_path / "missing.keras")]) == 2
    assert "cnnlstm convert: error:" in capsys.readouterr().err
    assert convert_command.main([str(tmp_path / "missing.keras"), "--batch", "0"]) == 2


def test_a_converted_file_naming_a_class_where_it_used_to_live_still_loads():
    """Files written before layers/convlstm.py was split name Activation and the cells there."""
    from cnnlstm.interop.keras.core import MOVED_CLASSES, rebuild
    from cnnlstm.layers.activations import Activation
    from cnnlstm.layers.convlstm_cell import ConvLSTMCell

    old = "cnnlstm.layers.convlstm.Activation"
    module = rebuild({"class": old, "args": ["hard_sigmoid_tf2"], "kwargs": {}})
    assert type(module) is Activation
    x = torch.tensor([-3.0, 0.0, 1.0, 5.0])
    assert torch.equal(module(x), torch.clamp(0.2 * x + 0.5, 0.0, 1.0))  # tf.keras 2's formula
    cell = {"class": "cnnlstm.layers.convlstm.ConvLSTMCell", "args": [2, 4, 3], "kwargs": {}}
    assert type(rebuild(cell)) is ConvLSTMCell
    for new in MOVED_CLASSES.values():  # every new place exists
        module_name, _, name = new.rpartition(".")
        assert hasattr(importlib.import_module(module_name), name)
