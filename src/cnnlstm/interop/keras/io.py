"""Read saved Keras models, and write converted ones so they load without Keras.

:func:`load_model` reads

- a ``.keras`` file (Keras 3's zip: ``config.json``, ``metadata.json``, ``model.weights.h5``);
- a legacy ``.h5`` / ``.hdf5`` full model as tf.keras 2.x saved it: the root attributes
  ``model_config`` (the architecture as JSON), ``keras_version`` and ``backend``, and the group
  ``model_weights`` whose attribute ``layer_names`` lists one group per layer, each with a
  ``weight_names`` attribute naming its datasets (trainable weights first). That layout is the
  one Keras 3's own reader expects (``keras/src/legacy/saving/legacy_h5_format.py``:
  ``load_model_from_hdf5`` and ``load_weights_from_hdf5_group``), which reads it with ``h5py``;
  TensorFlow is never imported;
- an architecture ``.json`` (``model.to_json()``, tf.keras 2 or Keras 3) with its weights in a
  Keras 3 ``.weights.h5`` or a legacy ``.h5`` weights file (``save_weights`` in tf.keras 2: the
  same ``layer_names`` layout at the file's root).

It reports which definition of ``"hard_sigmoid"`` the model was trained with: tf.keras 2's
``clip(0.2 x + 0.5, 0, 1)`` for a file that says ``keras_version`` 2.x, else Keras 3's
``relu6(x + 3) / 6``. Loading a tf.keras 2 file in Keras 3 silently swaps the first for the
second; :func:`~cnnlstm.interop.keras.from_keras` on the path does not.

:func:`save_converted` writes a converted model as ``{"config": ..., "state_dict": ...}`` with
``torch.save``; :func:`load_converted` rebuilds it from plain values (``weights_only=True``, no
pickled code, no Keras).
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cnnlstm.errors import ConfigError, DataError
from cnnlstm.extras import importing
from cnnlstm.interop.keras.core import HardSigmoid
from cnnlstm.interop.keras.graph import ConvertedKeras

__all__ = ["LoadedModel", "load_converted", "load_model", "save_converted", "tf_keras2_reference"]


@dataclass(frozen=True)
class LoadedModel:
    """A Keras model read from files, and what the files say about it."""

    model: Any
    keras_version: str
    hard_sigmoid: HardSigmoid
    kind: str  # "keras", "legacy_h5" or "json"


def _hard_sigmoid(version: str) -> HardSigmoid:
    return "tf_keras2" if version.split(".")[0] in ("1", "2") else "keras3"


def _text(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _h5_attrs(path: Path) -> dict[str, Any]:
    with importing("reading Keras .h5 files (cnnlstm.interop.keras.io)", "keras"):
        import h5py

    try:
        with h5py.File(path, "r") as f:
            attrs = {key: f.attrs[key] for key in f.attrs}
            attrs["_groups"] = list(f.keys())
            return attrs
    except OSError as error:
        raise DataError(f"{path}: not an HDF5 file h5py can read ({error}).") from None


def _legacy_version(attrs: dict[str, Any], path: Path) -> str:
    version = attrs.get("keras_version")
    if version is None:
        with importing("reading Keras .h5 files (cnnlstm.interop.keras.io)", "keras"):
            import h5py

        with h5py.File(path, "r") as f:
            group = f.get("model_weights")
            if group is not None and "keras_version" in group.attrs:
                version = group.attrs["keras_version"]
    return _text(version) if version is not None else "2"


_WRAPPED = ("layer", "backward_layer")


def _fix_wrapped(config: Any) -> Any:
    """Mend a tf.keras 2 config for Keras 3's reader: tf.keras 2 (before 2.13) wrote the layer
    inside ``TimeDistributed`` and ``Bidirectional`` without the ``"module"`` key Keras 3 needs
    there (``"keras.layers"`` is added), and its recurrent layers carry ``time_major`` (dropped
    when False)."""
    if isinstance(config, list):
        return [_fix_wrapped(item) for item in config]
    if not isinstance(config, dict):
        return config
    fixed = {key: _fix_wrapped(value) for key, value in config.items()}
    inner_config = fixed.get("config")
    # tf.keras 2's recurrent layers took time_major; Keras 3's refuse the key.
    if isinstance(inner_config, dict) and inner_config.pop("time_major", False):
        raise ConfigError(
            f"from_keras: layer {inner_config.get('name')!r} has time_major=True; Keras 3 "
            f"reads batch-major sequences only. Save the model with time_major=False."
        )
    if fixed.get("class_name") in ("TimeDistributed", "Bidirectional"):
        inner = fixed.get("config", {})
        for key in _WRAPPED:
            layer = inner.get(key)
            if isinstance(layer, dict) and "class_name" in layer and "module" not in layer:
                layer.setdefault("module", "keras.layers")
                layer.setdefault("registered_name", None)
    return fixed


def _legacy_model_from_config(config: dict[str, Any]) -> Any:
    """A model from a tf.keras 2 config, as ``load_model_from_hdf5`` builds it (legacy config
    scope, ``keras/src/legacy/saving/saving_utils.model_from_config``)."""
    with importing("converting Keras models (cnnlstm.interop.keras.io)", "keras"):
        from keras.src.legacy.saving import saving_options, saving_utils

    with saving_options.keras_option_scope(use_legacy_config=True):
        return saving_utils.model_from_config(config)


def _load_legacy_h5(path: Path) -> Any:
    """A tf.keras 2 ``.h5`` full model read by Keras 3's legacy reader, its config mended.

    The file is copied into an in-memory HDF5 file with :func:`_fix_wrapped` applied to
    ``model_config``; ``keras.src.legacy.saving.legacy_h5_format.load_model_from_hdf5`` (what
    ``keras.saving.load_model`` calls for ``.h5``) then builds the model and reads the weights
    group by group in ``layer_names`` order.
    """
    with importing("reading Keras .h5 files (cnnlstm.interop.keras.io)", "keras"):
        import h5py
    with importing("converting Keras models (cnnlstm.interop.keras.io)", "keras"):
        from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "r") as source:
        memory = h5py.File(f"{path.name}.in-memory", "w", driver="core", backing_store=False)
        try:
            for key, value in source.attrs.items():
                memory.attrs[key] = value
            config = json.loads(_text(source.attrs["model_config"]))
            memory.attrs["model_config"] = json.dumps(_fix_wrapped(config)).encode("utf8")
            for name in source:
                source.copy(source[name], memory, name=name)
            return legacy_h5_format.load_model_from_hdf5(memory, compile=False)
        finally:
            memory.close()


def load_model(
    path: str | os.PathLike[str], *, weights: str | os.PathLike[str] | None = None
) -> LoadedModel:
    """Read a saved Keras model (see the module's text for the formats).

    Args:
        path: a ``.keras`` file, a legacy ``.h5``/``.hdf5`` full model, or an architecture
            ``.json``.
        weights: for a ``.json``: its ``.weights.h5`` (Keras 3) or legacy ``.h5`` weights.

    Raises:
        DataError: the file is missing, unreadable, or not what its suffix says.
        ConfigError: Keras cannot build the model the file describes (the message quotes it).
    """
    with importing("converting Keras models (cnnlstm.interop.keras.io)", "keras"):
        import keras

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".weights.h5") else path.suffix
    suffix = suffix.lower()
    try:
        if suffix == ".keras":
            if weights is not None:
                raise ValueError("weights has to be None for a .keras file, which holds them")
            version = "3"
            try:
                with zipfile.ZipFile(path) as archive:
                    version = json.loads(archive.read("metadata.json")).get("keras_version", "3")
            except (KeyError, zipfile.BadZipFile, json.JSONDecodeError) as error:
                raise DataError(f"{path}: not a .keras zip with metadata.json ({error}).") from None
            model = keras.saving.load_model(path, compile=False)
            return LoadedModel(model, str(version), _hard_sigmoid(str(version)), "keras")
        if suffix in (".h5", ".hdf5"):
            if weights is not None:
                raise ValueError(
                    "weights has to be None for a full-model .h5 file; pass the architecture "
                    ".json as the model and this file as weights"
                )
            attrs = _h5_attrs(path)
            if "model_config" not in attrs:
                raise DataError(
                    f"{path}: an HDF5 file without a model_config attribute holds weights only; "
                    f"pass the model's architecture .json as the model and this file as "
                    f"weights=."
                )
            version = _legacy_version(attrs, path)
            model = _load_legacy_h5(path)
            return LoadedModel(model, version, _hard_sigmoid(version), "legacy_h5")
        if suffix == ".json":
            if weights is None:
                raise ValueError(
                    f"weights has to be the .weights.h5 or .h5 file of {path.name}, but got None "
                    f"(an architecture .json holds no weights)"
                )
            text = path.read_text(encoding="utf-8")
            try:
                version = str(json.loads(text).get("keras_version", ""))
            except json.JSONDecodeError as error:
                raise DataError(f"{path}: not JSON ({error}).") from None
            config = _fix_wrapped(json.loads(text))
            if "module" in config:  # Keras 3's serialization
                model = keras.models.model_from_json(json.dumps(config))
            else:  # tf.keras 2's, read as Keras 3 reads the config of a legacy .h5
                model = _legacy_model_from_config(config)
            weights_path = Path(weights)
            if not weights_path.is_file():
                raise DataError(f"{weights_path}: no such file.")
            if not version and not weights_path.name.endswith(".weights.h5"):
                version = _legacy_version(_h5_attrs(weights_path), weights_path)
            model.load_weights(weights_path)
            version = version or "3"
            return LoadedModel(model, version, _hard_sigmoid(version), "json")
    except (DataError, ValueError) as error:
        if isinstance(error, DataError) or str(error).startswith("weights has to be"):
            raise
        raise ConfigError(f"from_keras: Keras could not read {path}: {error}") from None
    except (TypeError, KeyError) as error:
        raise ConfigError(f"from_keras: Keras could not read {path}: {error}") from None
    raise DataError(
        f"{path}: unknown suffix {path.suffix!r}; from_keras reads a .keras file, a legacy .h5 "
        f"full model, or an architecture .json with weights=."
    )


def save_converted(module: ConvertedKeras, path: str | os.PathLike[str]) -> None:
    """Write ``module`` as ``{"config", "state_dict"}``: :func:`load_converted` reads it back
    without Keras.

    Example:
        >>> import tempfile, keras
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        >>> from cnnlstm.interop.keras import from_keras
        >>> target = Path(tempfile.mkdtemp()) / "model.pt"
        >>> save_converted(from_keras(model), target)
        >>> load_converted(target)(torch.zeros(1, 4)).shape
        torch.Size([1, 2])
    """
    torch.save({"config": module.config(), "state_dict": module.state_dict()}, Path(path))


def load_converted(path: str | os.PathLike[str]) -> ConvertedKeras:
    """Read what :func:`save_converted` wrote; the module comes back in eval mode.

    Raises:
        DataError: the file is not a converted model.
    """
    path = Path(path)
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as error:
        raise DataError(f"{path}: not a file torch.load can read ({error}).") from None
    if not isinstance(saved, dict) or "config" not in saved or "state_dict" not in saved:
        raise DataError(
            f"{path}: expected a converted model written by save_converted (a dict with "
            f"'config' and 'state_dict')."
        )
    module = ConvertedKeras.from_config(saved["config"])
    module.load_state_dict(saved["state_dict"])
    return module.eval()


def tf_keras2_hard_sigmoid(x: Any) -> Any:
    """tf.keras 2's ``hard_sigmoid``: ``clip(0.2 x + 0.5, 0, 1)``, in Keras ops."""
    with importing("converting Keras models (cnnlstm.interop.keras.io)", "keras"):
        import keras

    return keras.ops.clip(0.2 * x + 0.5, 0.0, 1.0)


def tf_keras2_reference(model: Any) -> Any:
    """A copy of a Keras model (same weights) whose ``hard_sigmoid`` is tf.keras 2's, so Keras
    computes what a model read from a tf.keras 2 file was trained to compute.

    Keras 3 reads ``"hard_sigmoid"`` in an old file as its own ``relu6(x + 3) / 6``; this copy
    swaps it back in every layer and cell (``activation``, ``recurrent_activation``).
    """
    with importing("converting Keras models (cnnlstm.interop.keras.io)", "keras"):
        import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for layer in copy._flatten_layers(include_self=False, recursive=True):
        for owner in (layer, getattr(layer, "cell", None)):
            for name in ("activation", "recurrent_activation"):
                if owner is None or isinstance(getattr(type(owner), name, None), property):
                    continue  # an RNN layer's properties read its cell's, patched below
                if getattr(owner, name, None) is keras.activations.hard_sigmoid:
                    setattr(owner, name, tf_keras2_hard_sigmoid)
    return copy
