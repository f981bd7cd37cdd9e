"""Every registered model, in its smallest config: shape, no NaN, gradients everywhere, state_dict
round trip, repr, and timm's interface (as timm's ``tests/test_models.py`` does)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

from cnnlstm.models.registry import create_model, list_models

# Each family's smallest config, and the output shape it gives for a batch of B examples.
SMALL: dict[str, dict[str, object]] = {
    "clip_classifier": {
        "num_classes": 3, "frames": 4, "image_size": (16, 16), "channels": (4, 8),
        "hidden_size": 8,
    },
    "image_sequence_classifier": {
        "num_classes": 3, "image_size": (16, 16), "channels": (4, 8), "hidden_size": 8,
    },
    "crnn": {
        "num_classes": 5, "image_height": 16, "channels": (4, 8), "hidden_size": 8,
        "num_layers": 1,
    },
    "convlstm_forecaster": {
        "image_size": (16, 16), "input_frames": 4, "output_frames": 3, "hidden_channels": (4, 8),
        "patch_size": 4,
    },
    "window_cnnlstm": {"n_sensors": 4, "window": 8, "channels": (4,), "hidden_size": 8},
    "mscred": {
        "n_sensors": 4, "window": 12, "scales": (3, 6), "steps": 2, "gap": 2, "channels": 4,
    },
    "convlstm_ae": {"n_sensors": 4, "window": 8, "hidden_channels": 4},
}  # fmt: skip

OUTPUT: dict[str, Callable[[int], tuple[int, ...]]] = {
    "clip_classifier": lambda b: (b, 3),
    "image_sequence_classifier": lambda b: (b, 3),
    "crnn": lambda b: (b, math.ceil(64 / 4), 5),  # example line (1, 16, 64): 16 steps
    "convlstm_forecaster": lambda b: (b, 3, 1, 16, 16),
    "window_cnnlstm": lambda b: (b, 8, 4),  # a next-row prediction for each of the 8 rows
    "mscred": lambda b: (b, 2, 4, 4),  # the last signature matrices at 2 scales, 4x4 sensors
    "convlstm_ae": lambda b: (b, 8, 4),  # the window, reconstructed
}


def test_every_registered_model_has_a_small_config() -> None:
    assert sorted(SMALL) == list_models() == sorted(OUTPUT)


def build(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return create_model(name, **SMALL[name])


@pytest.mark.parametrize("name", list_models())
def test_forward_shape_and_no_nan(name: str) -> None:
    model = build(name)
    shape = model.example_input_shape
    assert isinstance(shape, tuple) and all(isinstance(s, int) and s > 0 for s in shape)
    x = torch.rand(2, *shape)
    out = model(x)
    assert out.shape == OUTPUT[name](2)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", list_models())
def test_gradients_reach_every_parameter(name: str) -> None:
    model = build(name).train()
    x = torch.rand(2, *model.example_input_shape)
    out = model(x)
    (out * torch.randn_like(out)).sum().backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name
        assert parameter.grad.abs().sum() > 0, parameter_name


@pytest.mark.parametrize("name", list_models())
def test_features_and_head_compose_to_forward(name: str) -> None:
    model = build(name).eval()
    x = torch.rand(2, *model.example_input_shape)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape[0] == 2
        assert isinstance(model.num_features, int)
        # Features per step or per example on the last axis; the forecaster's are maps
        # (B, K, num_features, h, w).
        axis = 2 if features.dim() == 5 else -1
        assert features.shape[axis] == model.num_features
        torch.testing.assert_close(model.forward_head(features), model(x))


@pytest.mark.parametrize("name", list_models())
def test_state_dict_round_trip(name: str) -> None:
    model = build(name, seed=0).eval()
    other = build(name, seed=1).eval()
    x = torch.rand(2, *model.example_input_shape)
    with torch.no_grad():
        assert not torch.allclose(model(x), other(x))
        other.load_state_dict(model.state_dict())
        # Same weights, same input, same ops: a round trip promises bitwise equality.
        torch.testing.assert_close(other(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", list_models())
def test_repr_names_the_model(name: str) -> None:
    model = build(name)
    text = repr(model)
    assert text.startswith(type(model).__name__ + "(")
    assert len(text.splitlines()) > 3  # the submodules are listed
