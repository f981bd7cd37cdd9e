"""The one comparison every Keras conversion test makes: honest about how much the output moves.

With initial weights (zero biases, unit norms, BatchNorm statistics 0 and 1) and a softmax over a
deep ReLU stack, a model's output barely depends on its input, so a converter that gets an axis
wrong can still match to 1e-5. :func:`assert_converts` therefore

1. puts noise on every weight, biases, norms and BatchNorm statistics included
   (:func:`randomize`), so no weight is its initializer's default;
2. runs Keras and the converted module on two different inputs;
3. requires, for each input, the largest difference to be at most ``1e-4`` of the output's size
   (its largest magnitude) and at most ``1e-3`` of how far Keras's output moves between the two
   inputs (which has to be more than nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
import torch

from cnnlstm.interop.keras import ConvertedKeras, from_keras

RELATIVE = 1e-4
MOTION = 1e-3

Inputs = np.ndarray | Sequence[np.ndarray] | Mapping[str, np.ndarray]


def randomize(model: keras.Model, *, seed: int = 1, scale: float = 0.3) -> keras.Model:
    """Noise on every weight of ``model``, in place: kernels keep their initial values plus
    noise, biases and ``beta`` get noise around 0, ``gamma`` around 1, moving means noise and
    moving variances ``uniform(0.5, 2)``."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        value = np.asarray(keras.ops.convert_to_numpy(variable.value), dtype=np.float32)
        path = str(getattr(variable, "path", variable.name))
        if value.dtype.kind != "f":
            continue
        if "moving_variance" in path:
            new = rng.uniform(0.5, 2.0, value.shape)
        elif "gamma" in path:
            new = 1.0 + scale * rng.normal(size=value.shape)
        else:
            new = value + scale * rng.normal(size=value.shape) * max(float(np.std(value)), 0.3)
        variable.assign(new.astype(np.float32))
    return model


def _numpy(value: Any) -> np.ndarray:
    value = getattr(value, "value", value)
    if isinstance(value, torch.Tensor):
        return np.asarray(value.detach().cpu().numpy()).copy()
    return np.asarray(keras.ops.convert_to_numpy(value)).copy()


def _flat(value: Any) -> list[np.ndarray]:
    """A model's output as a list of arrays (one, or each of a list, tuple or dict)."""
    if isinstance(value, Mapping):
        return [_numpy(value[k]) for k in sorted(value)]
    if isinstance(value, (list, tuple)):
        return [_numpy(v) for v in value]
    return [_numpy(value)]


def _to_torch(inputs: Inputs) -> Any:
    if isinstance(inputs, np.ndarray):
        return torch.from_numpy(inputs)
    if isinstance(inputs, Mapping):
        return {k: torch.from_numpy(v) for k, v in inputs.items()}
    return [torch.from_numpy(v) for v in inputs]


def _other(inputs: Inputs, seed: int) -> Inputs:
    """A second input of the same shapes: fresh normal noise (booleans are kept)."""
    rng = np.random.default_rng(seed)

    def draw(x: np.ndarray) -> np.ndarray:
        if x.dtype.kind != "f":
            return x
        return (rng.normal(size=x.shape) * max(float(np.std(x)), 1e-3)).astype(x.dtype)

    if isinstance(inputs, np.ndarray):
        return draw(inputs)
    if isinstance(inputs, Mapping):
        return {k: draw(v) for k, v in inputs.items()}
    return [draw(v) for v in inputs]


def keras_outputs(model: keras.Model, inputs: Inputs) -> list[np.ndarray]:
    """Keras's outputs (inference mode) as a list of arrays."""
    return _flat(model(inputs, training=False))


def torch_outputs(module: torch.nn.Module, inputs: Inputs) -> list[np.ndarray]:
    """The converted module's outputs (eval mode) as a list of arrays."""
    module.eval()
    with torch.no_grad():
        return _flat(module(_to_torch(inputs)))


def compare(
    model: keras.Model, module: torch.nn.Module, first: Inputs, second: Inputs
) -> dict[str, float]:
    """The figures :func:`assert_converts` checks: the worst difference relative to the output
    size and relative to how far Keras's output moves between ``first`` and ``second``."""
    expected = [keras_outputs(model, x) for x in (first, second)]
    got = [torch_outputs(module, x) for x in (first, second)]
    worst_size, worst_motion, motion_min = 0.0, 0.0, np.inf
    for k in range(len(expected[0])):
        moved = (
            float(np.max(np.abs(expected[0][k] - expected[1][k]))) if expected[0][k].size else 0.0
        )
        motion_min = min(motion_min, moved)
        for e, g in zip((expected[0][k], expected[1][k]), (got[0][k], got[1][k]), strict=True):
            assert g.shape == e.shape, f"output {k}: shape {g.shape}, Keras {e.shape}"
            if not e.size:
                continue
            diff = float(np.max(np.abs(g.astype(np.float64) - e.astype(np.float64))))
            size = float(np.max(np.abs(e)))
            worst_size = max(worst_size, diff / max(size, 1e-12))
            worst_motion = max(worst_motion, diff / max(moved, 1e-12))
    return {"relative": worst_size, "of_motion": worst_motion, "motion": float(motion_min)}


def assert_converts(
    model: keras.Model,
    inputs: Inputs,
    second: Inputs | None = None,
    *,
    noise: bool = True,
    seed: int = 1,
    relative: float = RELATIVE,
    motion: float = MOTION,
) -> ConvertedKeras:
    """Randomize ``model``'s weights, convert it, and check it against Keras on two inputs.

    Args:
        model: the Keras model (its weights are changed in place unless ``noise=False``).
        inputs: the first input, as the Keras model takes it.
        second: the second input; default: fresh noise of the same shapes.
        noise: put noise on the weights first (:func:`randomize`).
        seed: the noise's seed.
        relative: the largest difference allowed, relative to the output's largest magnitude.
        motion: the largest difference allowed, relative to how far Keras's output moves.

    Returns:
        The converted module.
    """
    if noise:
        randomize(model, seed=seed)
    if second is None:
        second = _other(inputs, seed + 100)
    module = from_keras(model)
    figures = compare(model, module, inputs, second)
    assert figures["motion"] > 0, f"Keras's output does not move between the two inputs: {figures}"
    assert figures["relative"] <= relative, (
        f"differs by more than {relative} of the size: {figures}"
    )
    assert figures["of_motion"] <= motion, f"differs by more than {motion} of the motion: {figures}"
    return module
