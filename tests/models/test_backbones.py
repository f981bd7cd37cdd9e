"""SimpleCNN and HeightCollapsingCNN: shapes known before data, the layers built, the errors.

Shapes are checked against the rule written out here (floor halving per pooled stage; ceil
halving for the height-collapsing CNN) and against what a forward pass returns; one SimpleCNN
stage is checked against the convolution, activation and pooling done by hand.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnlstm.errors import ShapeError
from cnnlstm.layers.pooling import GlobalPoolBridge
from cnnlstm.layers.time_distributed import TimeDistributed
from cnnlstm.models.backbones import NORMS, HeightCollapsingCNN, SimpleCNN
from cnnlstm.models.cnnlstm import CNNLSTM

pools = st.sampled_from(["max", "avg", None])


@settings(max_examples=25, deadline=None)
@given(
    stage_pools=st.lists(pools, min_size=1, max_size=3),
    height=st.integers(1, 20),
    width=st.integers(1, 20),
    norm=st.sampled_from(["batch", "group", "instance", "none", None]),
)
def test_simple_cnn_output_shape_is_the_floor_rule(
    stage_pools: list[str | None], height: int, width: int, norm: str | None
) -> None:
    channels = [3 + 2 * i for i in range(len(stage_pools))]
    cnn = SimpleCNN(2, channels=channels, pool=stage_pools, norm=norm)  # type: ignore[arg-type]
    h, w = height, width
    for p in stage_pools:
        if p is not None:
            h, w = h // 2, w // 2
    if h < 1 or w < 1:
        with pytest.raises(ShapeError, match="expected H and W of at least"):
            cnn.output_shape((2, 2, height, width))
        return
    assert cnn.output_shape((2, 2, height, width)) == (2, channels[-1], h, w)
    cnn.eval()
    with torch.no_grad():
        assert cnn(torch.randn(2, 2, height, width)).shape == (2, channels[-1], h, w)


def test_simple_cnn_stage_matches_the_hand_computation() -> None:
    cnn = SimpleCNN(2, channels=(3,), kernel_size=3, pool="avg", norm=None, activation="relu")
    x = torch.randn(2, 2, 6, 8)
    conv = cnn.stages[0][0]
    assert conv.bias is not None  # no norm: the conv has a bias
    z = F.conv2d(x, conv.weight, conv.bias, padding=1).clamp(min=0)  # (2, 3, 6, 8)
    expected = torch.zeros(2, 3, 3, 4)
    for i in range(3):
        for j in range(4):
            expected[:, :, i, j] = z[:, :, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].mean(dim=(2, 3))
    torch.testing.assert_close(cnn(x), expected)

    max_cnn = SimpleCNN(2, channels=(3,), pool="max", norm=None)
    max_cnn.load_state_dict(cnn.state_dict())
    z = F.conv2d(x, conv.weight, conv.bias, padding=1).clamp(min=0)
    expected_max = torch.stack(
        [z[:, :, 0::2, 0::2], z[:, :, 0::2, 1::2], z[:, :, 1::2, 0::2], z[:, :, 1::2, 1::2]]
    ).amax(0)
    torch.testing.assert_close(max_cnn(x), expected_max)


def test_simple_cnn_layers() -> None:
    cnn = SimpleCNN(
        3, channels=(6, 12), kernel_size=5, pool=("max", None), norm="group", dropout=0.2
    )
    first, second = cnn.stages
    kinds = [type(m) for m in first]
    assert kinds == [nn.Conv2d, nn.GroupNorm, nn.ReLU, nn.MaxPool2d, nn.Dropout2d]
    assert [type(m) for m in second] == [nn.Conv2d, nn.GroupNorm, nn.ReLU, nn.Dropout2d]
    assert first[0].kernel_size == (5, 5) and first[0].bias is None
    assert first[1].num_groups == 6 and second[1].num_groups == 6  # largest divisor <= 8
    assert cnn.out_channels == 12 and cnn.reduction == 2
    batch = SimpleCNN(1, channels=(4,), activation="gelu")
    assert [type(m) for m in batch.stages[0]] == [nn.Conv2d, nn.BatchNorm2d, nn.GELU, nn.MaxPool2d]
    assert "channels=[6, 12]" in repr(cnn) and "pool=['max', None]" in repr(cnn)


NORM_LAYERS: dict[str | None, type[nn.Module] | None] = {
    "batch": nn.BatchNorm2d,
    "group": nn.GroupNorm,
    "instance": nn.GroupNorm,
    "none": None,
    None: None,
}


@pytest.mark.parametrize("norm", [*NORMS, None])
@pytest.mark.parametrize("backbone", [SimpleCNN, HeightCollapsingCNN])
def test_each_norm_builds_its_layer(backbone: type[nn.Module], norm: str | None) -> None:
    cnn = backbone(2, channels=(6, 12), norm=norm)
    assert NORMS == ("batch", "group", "instance", "none")
    assert cnn.norm == (norm or "none") and f"norm={cnn.norm!r}" in repr(cnn)
    for stage, width in zip(cnn.stages, (6, 12), strict=True):
        conv, second = stage[0], stage[1]
        assert (conv.bias is None) == (norm not in ("none", None))  # a norm's shift replaces it
        layer = NORM_LAYERS[norm]
        if layer is None:
            assert isinstance(second, nn.ReLU)
            continue
        assert type(second) is layer and second.weight.shape == (width,)
        if norm == "instance":
            assert second.num_groups == width  # one group per channel


def test_instance_norm_normalises_each_channel_of_each_image_alone() -> None:
    cnn = SimpleCNN(2, channels=(3,), pool=None, norm="instance", activation="tanh")
    conv, norm = cnn.stages[0][0], cnn.stages[0][1]
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([0.5, 2.0, -1.0]))
        norm.bias.copy_(torch.tensor([0.1, 0.0, 3.0]))
    x = torch.randn(4, 2, 5, 7)
    z = F.conv2d(x, conv.weight, padding=1)  # (4, 3, 5, 7)
    expected = torch.empty_like(z)
    for b in range(4):
        for c in range(3):
            plane = z[b, c]
            mean, var = plane.mean(), plane.var(unbiased=False)
            normed = (plane - mean) / torch.sqrt(var + 1e-5)
            expected[b, c] = torch.tanh(normed * norm.weight[c] + norm.bias[c])
    for mode in (cnn.train, cnn.eval):  # no running statistics: the same in training and eval
        mode()
        torch.testing.assert_close(cnn(x), expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(cnn(x[:1]), expected[:1], rtol=1e-4, atol=1e-5)  # batch-free
    assert cnn(torch.randn(2, 2, 1, 1)).shape == (2, 3, 1, 1)  # a 1x1 map is no error


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_channels": 0}, "in_channels has to be a positive int, but got 0"),
        ({"channels": ()}, "channels has to be a non-empty sequence"),
        ({"channels": (4, 0)}, "channels has to be a non-empty sequence"),
        ({"kernel_size": 4}, "kernel_size has to be an odd positive int"),
        ({"pool": "sum"}, "pool has to be 'max', 'avg' or None"),
        ({"pool": ("max",)}, r"one entry per stage \(2 for channels=\[4, 8\]\)"),
        (
            {"norm": "layer"},
            r"norm has to be 'batch', 'group', 'instance' or 'none' \(or None\), but got 'layer'",
        ),
        ({"norm": ["batch"]}, r"norm has to be .* but got \['batch'\]"),
        ({"activation": "swish"}, "activation has to be one of 'relu'"),
        ({"dropout": 1.0}, r"dropout has to be a probability in \[0, 1\)"),
    ],
)
def test_simple_cnn_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"in_channels": 1, "channels": (4, 8), **kwargs}
    in_channels = arguments.pop("in_channels")
    with pytest.raises(ValueError, match=message):
        SimpleCNN(in_channels, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 5, 1, 16, 16), "5-D tensor .* wrap the backbone in TimeDistributed"),
        ((1, 16, 16), "needs a batch axis"),
        ((2, 3, 16, 16), "expected C=1 channels, got C=3 .* in_channels=3"),
        ((2, 1, 3, 16), r"expected H and W of at least 4 .* got shape \(2, 1, 3, 16\)"),
    ],
)
def test_simple_cnn_shape_errors(shape: tuple[int, ...], message: str) -> None:
    cnn = SimpleCNN(1, channels=(4, 8))
    with pytest.raises(ShapeError, match=message):
        cnn(torch.zeros(shape))


def test_simple_cnn_sizes_time_distributed_and_cnnlstm() -> None:
    cnn = SimpleCNN(1, channels=(4, 8))
    td = TimeDistributed(cnn)
    assert td.output_shape((2, 5, 1, 16, 12)) == (2, 5, 8, 4, 3)
    model = CNNLSTM(td, GlobalPoolBridge("avgmax"), input_shape=(5, 1, 16, 12), hidden_size=4)
    assert model.rnn.input_size == 16


@settings(max_examples=25, deadline=None)
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 70),
    stages=st.integers(1, 4),
    width_pools=st.integers(0, 4),
)
def test_height_collapsing_cnn_takes_any_height(
    height: int, width: int, stages: int, width_pools: int
) -> None:
    width_pools = min(width_pools, stages)
    cnn = HeightCollapsingCNN(
        1, channels=[4] * (stages - 1) + [6], width_pools=width_pools, norm=None
    )
    expected_width = math.ceil(width / 2**width_pools)
    assert cnn.output_shape((2, 1, height, width)) == (2, 6, 1, expected_width)
    assert cnn.output_widths(torch.tensor([width])).tolist() == [expected_width]
    assert cnn(torch.randn(2, 1, height, width)).shape == (2, 6, 1, expected_width)


def test_height_collapsing_cnn_pools_height_then_averages_it() -> None:
    cnn = HeightCollapsingCNN(1, channels=(3, 5), width_pools=1, norm=None)
    first, second = cnn.stages
    assert first[-1].kernel_size == (2, 2) and first[-1].ceil_mode
    assert second[-1].kernel_size == (2, 1) and second[-1].ceil_mode
    x = torch.randn(2, 1, 12, 10)
    # By hand: after the two stages the map is (2, 5, 3, 5); the output is its mean over height.
    h = F.max_pool2d(first[1](first[0](x)), 2)  # (2, 3, 6, 5): conv, relu, 2x2 pool
    h = F.max_pool2d(second[1](second[0](h)), (2, 1))  # (2, 5, 3, 5): conv, relu, 2x1 pool
    expected = (h[:, :, 0] + h[:, :, 1] + h[:, :, 2]) / 3  # (2, 5, 5)
    torch.testing.assert_close(cnn(x), expected.unsqueeze(2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width_pools": 3}, r"width_pools has to be an int in \[0, 2\]"),
        ({"width_pools": -1}, "but got -1"),
        ({"channels": []}, "channels has to be a non-empty sequence"),
        ({"kernel_size": 2}, "kernel_size has to be an odd positive int"),
    ],
)
def test_height_collapsing_cnn_rejects_bad_arguments(
    kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"channels": (4, 8), **kwargs}
    with pytest.raises(ValueError, match=message):
        HeightCollapsingCNN(1, **arguments)  # type: ignore[arg-type]


def test_height_collapsing_cnn_shape_errors() -> None:
    cnn = HeightCollapsingCNN(1, channels=(4, 8))
    with pytest.raises(ShapeError, match="expected C=1 channels, got C=2"):
        cnn(torch.zeros(1, 2, 32, 32))
    with pytest.raises(ShapeError, match="expected images"):
        cnn(torch.zeros(32, 32))
