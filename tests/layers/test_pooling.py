"""Tests of GlobalPoolBridge: shape table, errors, numerics against Keras 3 and loops, and more."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
import torch

from cnnlstm.errors import ShapeError
from cnnlstm.layers.base import Bridge
from cnnlstm.layers.pooling import GlobalPoolBridge

# Each case: constructor kwargs, an input shape, the output shape, and shapes that must fail.
SHAPE_CASES: list[
    tuple[dict[str, Any], tuple[int, ...], tuple[int, ...], list[tuple[int, ...]]]
] = [
    ({"pool": "avg"}, (2, 3, 4, 5), (2, 1, 3), [(2, 3, 4), (3, 4), (2,), (1, 2, 3, 4, 5, 6)]),
    ({"pool": "max"}, (2, 3, 4, 5), (2, 1, 3), [(2, 3, 0, 5), (2, 3, 4, 0)]),
    ({"pool": "avgmax"}, (2, 3, 4, 5), (2, 1, 6), [(3, 4, 5)]),
    ({"pool": "avg", "steps": "channels"}, (2, 3, 4, 5), (2, 3, 1), [(2, 6, 3, 4, 5)]),
    ({"pool": "avgmax", "steps": "channels"}, (2, 3, 4, 5), (2, 3, 2), [(2, 6, 3, 4, 5)]),
    ({"pool": "avg"}, (2, 6, 3, 4, 5), (2, 6, 3), [(2, 6, 3, 4, 5, 1)]),
    ({"pool": "max"}, (1, 1, 3, 1, 1), (1, 1, 3), [(1, 1, 3, 0, 1)]),
    ({"pool": "avgmax"}, (2, 6, 3, 4, 5), (2, 6, 6), [(6, 3, 4)]),
    ({"pool": "avg", "channels": 3}, (2, 3, 4, 5), (2, 1, 3), [(2, 4, 4, 5), (2, 6, 4, 4, 5)]),
    ({"pool": "attention", "channels": 3}, (2, 3, 4, 5), (2, 1, 3), [(2, 4, 4, 5), (2, 3, 4)]),
    (
        {"pool": "attention", "channels": 3, "steps": "channels"},
        (2, 3, 4, 5),
        (2, 3, 1),
        [(2, 6, 3, 4, 5), (2, 2, 4, 5)],
    ),
    ({"pool": "attention", "channels": 3}, (2, 6, 3, 4, 5), (2, 6, 3), [(2, 6, 2, 4, 5)]),
]


def case_id(case: tuple[dict[str, Any], tuple[int, ...], Any, Any]) -> str:
    return "-".join(f"{v}" for v in case[0].values()) + "-" + "x".join(map(str, case[1]))


@pytest.mark.parametrize("case", SHAPE_CASES, ids=[case_id(c) for c in SHAPE_CASES])
def test_shape_table(
    case: tuple[dict[str, Any], tuple[int, ...], tuple[int, ...], list[tuple[int, ...]]],
) -> None:
    kwargs, input_shape, expected, wrong_shapes = case
    bridge = GlobalPoolBridge(**kwargs)
    out = bridge(torch.randn(input_shape))
    assert tuple(out.shape) == expected
    assert bridge.output_shape(input_shape) == expected
    assert bridge.out_features(input_shape) == expected[-1]
    for shape in wrong_shapes:
        with pytest.raises(ShapeError, match=r"GlobalPoolBridge\(pool="):
            bridge(torch.zeros(shape))
        with pytest.raises(ShapeError, match=r"GlobalPoolBridge\(pool="):
            bridge.output_shape(shape)


def test_is_a_bridge() -> None:
    assert isinstance(GlobalPoolBridge(), Bridge)


def test_error_messages_name_both_values_and_the_fix() -> None:
    bridge = GlobalPoolBridge("attention", channels=64)
    with pytest.raises(ShapeError, match=r"expected C=64 channels, got C=32 .*channels=32"):
        bridge(torch.zeros(2, 32, 3, 3))
    with pytest.raises(ShapeError, match=r"got a 3-D tensor of shape \(2, 64, 3\)"):
        bridge(torch.zeros(2, 64, 3))
    clip_bridge = GlobalPoolBridge("avg", "channels")
    with pytest.raises(ShapeError, match=r"5-D clip of shape \(2, 5, 8, 3, 3\).*steps='single'"):
        clip_bridge(torch.zeros(2, 5, 8, 3, 3))


def test_constructor_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=r"pool has to be one of 'avg', 'max', 'avgmax', "):
        GlobalPoolBridge("mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"steps has to be one of 'single', 'channels', but got"):
        GlobalPoolBridge("avg", "frames")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"channels has to be given for pool='attention'"):
        GlobalPoolBridge("attention")
    for bad in (0, -3, True, 2.0):
        with pytest.raises(ValueError, match=r"channels has to be a positive int"):
            GlobalPoolBridge("attention", channels=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("clip", [False, True])
def test_avg_and_max_match_keras(clip: bool) -> None:
    import keras

    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5, 6)).astype("float32")
    if not clip:
        x = x[:, 0]  # (2, 4, 5, 6)
    for pool, layer in (
        ("avg", keras.layers.GlobalAveragePooling2D(data_format="channels_first")),
        ("max", keras.layers.GlobalMaxPooling2D(data_format="channels_first")),
    ):
        peer = keras.layers.TimeDistributed(layer) if clip else layer
        expected = torch.as_tensor(peer(x)).detach()  # the torch backend returns a tensor
        if not clip:
            expected = expected.unsqueeze(1)  # one step
        out = GlobalPoolBridge(pool)(torch.from_numpy(x))  # type: ignore[arg-type]
        torch.testing.assert_close(out, expected)


def test_channels_as_steps_matches_loops() -> None:
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    out = GlobalPoolBridge("avgmax", "channels")(x)
    for b in range(2):
        for c in range(3):
            values = [float(x[b, c, h, w]) for h in range(4) for w in range(5)]
            assert math.isclose(float(out[b, c, 0]), sum(values) / 20, rel_tol=1e-12)
            assert float(out[b, c, 1]) == max(values)


def attention_by_hand(maps: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C) from the module's conv weight (1, C, 1, 1), by loops."""
    n_size, channels, height, width = maps.shape
    out = torch.empty(n_size, channels, dtype=maps.dtype)
    for n in range(n_size):
        positions = [(h, w) for h in range(height) for w in range(width)]
        scores = [
            sum(float(weight[0, c, 0, 0]) * float(maps[n, c, h, w]) for c in range(channels))
            for h, w in positions
        ]
        exps = [math.exp(s - max(scores)) for s in scores]
        probs = [e / sum(exps) for e in exps]
        for c in range(channels):
            out[n, c] = sum(
                p * float(maps[n, c, h, w]) for p, (h, w) in zip(probs, positions, strict=True)
            )
    return out


def test_attention_matches_a_manual_softmax_weighted_sum_with_the_module_weights() -> None:
    bridge = GlobalPoolBridge("attention", channels=4).double()
    assert bridge.score is not None
    torch.nn.init.normal_(bridge.score.weight)
    clip = torch.randn(2, 3, 4, 3, 5, dtype=torch.float64)
    out = bridge(clip)  # (2, 3, 4)
    expected = attention_by_hand(clip.reshape(6, 4, 3, 5), bridge.score.weight.detach())
    torch.testing.assert_close(out, expected.reshape(2, 3, 4))


def test_untrained_attention_is_an_average_pool() -> None:
    x = torch.randn(2, 4, 3, 5)
    torch.testing.assert_close(GlobalPoolBridge("attention", channels=4)(x), GlobalPoolBridge()(x))


def test_attention_focuses_where_the_scores_are_high() -> None:
    bridge = GlobalPoolBridge("attention", channels=2)
    assert bridge.score is not None
    with torch.no_grad():
        bridge.score.weight.copy_(torch.tensor([50.0, 0.0]).reshape(1, 2, 1, 1))
    x = torch.zeros(1, 2, 3, 3)
    x[0, 0, 1, 2] = 1.0  # the channel the scorer reads marks one position
    x[0, 1] = torch.arange(9.0).reshape(3, 3)
    out = bridge(x)
    assert math.isclose(float(out[0, 0, 1].detach()), 5.0, abs_tol=1e-6)  # the value at (1, 2)


def test_gradients_reach_every_parameter_and_the_input() -> None:
    bridge = GlobalPoolBridge("attention", channels=3)
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    (bridge(x) * torch.randn(2, 1, 3)).sum().backward()
    assert x.grad is not None and bool(x.grad.abs().sum() > 0)
    for name, parameter in bridge.named_parameters():
        assert parameter.grad is not None, name
        assert bool(parameter.grad.abs().sum() > 0), name
    assert [name for name, _ in bridge.named_parameters()] == ["score.weight"]


@pytest.mark.parametrize("pool", ["avg", "max", "avgmax", "attention"])
def test_state_dict_round_trip_and_trace(pool: str) -> None:
    bridge = GlobalPoolBridge(pool, channels=3)  # type: ignore[arg-type]
    for parameter in bridge.parameters():
        torch.nn.init.normal_(parameter)
    fresh = GlobalPoolBridge(pool, channels=3)  # type: ignore[arg-type]
    fresh.load_state_dict(bridge.state_dict())
    x = torch.randn(2, 5, 3, 4, 6)
    # The same weights and input through the same ops: bitwise, on any CPU.
    assert torch.equal(fresh(x), bridge(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.trace is deprecated; shapes become constants
        traced = torch.jit.trace(bridge, x)  # type: ignore[no-untyped-call]
    assert torch.equal(traced(x), bridge(x))


def test_repr_shows_the_settings() -> None:
    assert repr(GlobalPoolBridge()) == "GlobalPoolBridge(pool='avg', steps='single')"
    assert repr(GlobalPoolBridge("max", "channels", channels=8)) == (
        "GlobalPoolBridge(pool='max', steps='channels', channels=8)"
    )
    text = repr(GlobalPoolBridge("attention", channels=16))
    assert text.startswith("GlobalPoolBridge(\n  pool='attention', steps='single', channels=16")
    assert "Conv2d(16, 1, kernel_size=(1, 1), stride=(1, 1), bias=False)" in text
