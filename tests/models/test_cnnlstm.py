"""CNNLSTM: sizing from the bridge, lengths, heads, errors, gradients, state_dict and repr.

Numerical checks compare with the pieces run by hand: each sequence cut to its own length and
fed alone to the recurrent layer, the last step read off its full output (not off ``h_n``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import torch
from einops import rearrange
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from cnnlstm.errors import ShapeError
from cnnlstm.layers.base import Bridge
from cnnlstm.layers.convlstm import ConvLSTM
from cnnlstm.layers.pooling import GlobalPoolBridge
from cnnlstm.layers.spatial import SpatialSequence
from cnnlstm.layers.time_distributed import TimeDistributed
from cnnlstm.models.cnnlstm import CNNLSTM


def cnn(in_channels: int = 3, out_channels: int = 8) -> nn.Sequential:
    """(N, C, H, W) -> (N, 8, H/2, W/2)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)
    )


class Columns(Bridge):
    """A bridge written here, the obvious way: every column of the map is one step."""

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        b, c, h, w = input_shape
        return (b, w, c * h)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        steps = [x[:, :, :, j].reshape(b, c * h) for j in range(w)]  # W x (B, C*H)
        return torch.stack(steps, dim=1)  # (B, W, C*H)


# Image (3, 16, 24) -> cnn -> (8, 8, 12); clip (5, 3, 16, 16) -> cnn per frame -> (5, 8, 8, 8).
# Each case: bridge, input_shape, the sequence (L, F) after the bridge worked out by hand.
IMAGE = (3, 16, 24)
CLIP = (5, 3, 16, 16)
CASES = {
    "pool-avg": (lambda: GlobalPoolBridge("avg"), IMAGE, (1, 8)),
    "pool-max": (lambda: GlobalPoolBridge("max"), IMAGE, (1, 8)),
    "pool-avgmax": (lambda: GlobalPoolBridge("avgmax"), IMAGE, (1, 16)),
    "pool-attention": (lambda: GlobalPoolBridge("attention", channels=8), IMAGE, (1, 8)),
    "pool-avg-channels": (lambda: GlobalPoolBridge("avg", steps="channels"), IMAGE, (8, 1)),
    "pool-attention-channels": (
        lambda: GlobalPoolBridge("attention", steps="channels", channels=8),
        IMAGE,
        (8, 1),
    ),
    "pool-avgmax-channels": (lambda: GlobalPoolBridge("avgmax", steps="channels"), IMAGE, (8, 2)),
    "columns": (lambda: SpatialSequence("columns"), IMAGE, (12, 64)),
    "rows": (lambda: SpatialSequence("rows"), IMAGE, (8, 96)),
    "raster": (lambda: SpatialSequence("raster"), IMAGE, (96, 8)),
    "raster_columns": (lambda: SpatialSequence("raster_columns"), IMAGE, (96, 8)),
    "snake": (lambda: SpatialSequence("snake"), IMAGE, (96, 8)),
    "hilbert": (lambda: SpatialSequence("hilbert"), IMAGE, (96, 8)),
    "own-bridge": (Columns, IMAGE, (12, 64)),
    "clip-avg": (lambda: GlobalPoolBridge("avg"), CLIP, (5, 8)),
    "clip-max": (lambda: GlobalPoolBridge("max"), CLIP, (5, 8)),
    "clip-avgmax": (lambda: GlobalPoolBridge("avgmax"), CLIP, (5, 16)),
    "clip-attention": (lambda: GlobalPoolBridge("attention", channels=8), CLIP, (5, 8)),
}


def build(case: str, **kwargs: object) -> CNNLSTM:
    make_bridge, input_shape, _ = CASES[case]
    backbone = TimeDistributed(cnn()) if len(input_shape) == 4 else cnn()
    kwargs.setdefault("hidden_size", 6)
    return CNNLSTM(backbone, make_bridge(), input_shape=input_shape, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("rnn", ["lstm", "gru"])
def test_every_bridge_sizes_the_rnn_and_matches_the_pieces_run_by_hand(case: str, rnn: str) -> None:
    _, input_shape, sequence = CASES[case]
    model = build(case, rnn=rnn, head=3).eval()
    assert model.sequence_shape == sequence
    assert model.rnn.input_size == sequence[1]
    assert isinstance(model.rnn, nn.LSTM if rnn == "lstm" else nn.GRU)
    x = torch.randn(2, *input_shape)
    out = model(x)
    assert out.shape == (2, 3)
    with torch.no_grad():
        features = model.backbone(x)
        seq = model.bridge(features)  # (B, L, F)
        assert seq.shape == (2, *sequence)
        steps, _ = model.rnn(seq)  # (B, L, 6)
        expected = model.head(steps[:, -1])  # (B, 3)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("rnn", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_clip_lengths_last_equals_each_clip_run_alone(rnn: str, bidirectional: bool) -> None:
    model = build("clip-avgmax", rnn=rnn, bidirectional=bidirectional, num_layers=2).eval()
    x = torch.randn(3, *CLIP)
    lengths = torch.tensor([2, 5, 3])
    x[0, 2:] = float("nan")  # padded frames must not reach the output
    x[2, 3:] = 1e6
    out = model(x, lengths=lengths)
    assert out.shape == (3, model.num_features)
    hidden = 6
    with torch.no_grad():
        for b, n in enumerate(lengths.tolist()):
            frames = x[b, :n]  # (n, C, H, W), no padding
            seq = model.bridge(model.backbone.module(frames).unsqueeze(0))  # (1, n, F)
            steps, _ = model.rnn(seq)  # (1, n, hidden*dirs)
            expected = steps[0, -1, :hidden]
            if bidirectional:  # the backward direction has read the whole clip at step 0
                expected = torch.cat([expected, steps[0, 0, hidden:]])
            torch.testing.assert_close(out[b], expected)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_image_lengths_count_steps_after_the_bridge(bidirectional: bool) -> None:
    model = build("columns", bidirectional=bidirectional).eval()
    x = torch.randn(3, *IMAGE)
    lengths = torch.tensor([12, 4, 9])  # of the 12 columns of the feature map
    out = model(x, lengths=lengths)
    hidden = 6
    with torch.no_grad():
        seq = model.bridge(model.backbone(x))  # (B, 12, 64)
        for b, n in enumerate(lengths.tolist()):
            steps, _ = model.rnn(seq[b : b + 1, :n])  # (1, n, hidden*dirs)
            expected = steps[0, -1, :hidden]
            if bidirectional:
                expected = torch.cat([expected, steps[0, 0, hidden:]])
            torch.testing.assert_close(out[b], expected)


@pytest.mark.parametrize("head", [None, 4])
def test_all_steps_are_zero_at_padding_and_match_each_clip_alone(head: int | None) -> None:
    model = build("clip-avg", bidirectional=True, output="all", head=head).eval()
    x = torch.randn(3, *CLIP)
    lengths = torch.tensor([5, 1, 3])
    out = model(x, lengths=lengths)
    assert out.shape == (3, 5, 4 if head else 12)
    with torch.no_grad():
        for b, n in enumerate(lengths.tolist()):
            seq = model.bridge(model.backbone.module(x[b, :n]).unsqueeze(0))  # (1, n, F)
            steps, _ = model.rnn(seq)  # (1, n, 12)
            torch.testing.assert_close(out[b, :n], model.head(steps[0]))
            assert torch.count_nonzero(out[b, n:]) == 0


def test_padded_frames_never_reach_the_per_frame_cnn() -> None:
    model = build("clip-avg")
    seen: list[int] = []

    def count(module: nn.Module, args: tuple[Tensor, ...], out: Tensor) -> None:
        if not args[0].is_meta:  # TimeDistributed may size its chunks on the meta device
            seen.append(args[0].shape[0])

    model.backbone.module.register_forward_hook(count)
    model(torch.randn(2, *CLIP), lengths=torch.tensor([5, 2]))
    assert sum(seen) == 7


def test_a_frame_cnn_is_wrapped_in_time_distributed_for_clips() -> None:
    frame_cnn = cnn()
    model = CNNLSTM(frame_cnn, GlobalPoolBridge(), input_shape=CLIP, hidden_size=6)
    assert isinstance(model.backbone, TimeDistributed)
    assert model.backbone.module is frame_cnn
    assert model(torch.randn(2, *CLIP)).shape == (2, 6)
    # A backbone that takes clips as they are is left alone.
    keeps_clips = nn.Identity()
    model = CNNLSTM(keeps_clips, GlobalPoolBridge(), input_shape=CLIP, hidden_size=6)
    assert model.backbone is keeps_clips
    assert model.sequence_shape == (5, 3)


def test_convlstm_backbone_gives_its_output_to_the_bridge_and_takes_lengths() -> None:
    convlstm = ConvLSTM(3, 4, 3)
    model = CNNLSTM(convlstm, GlobalPoolBridge("avg"), input_shape=(5, 3, 8, 8), hidden_size=6)
    assert model.sequence_shape == (5, 4)
    model.eval()
    x = torch.randn(2, 5, 3, 8, 8)
    out = model(x, lengths=torch.tensor([5, 3]))
    with torch.no_grad():
        frames, _ = convlstm(x[1:, :3])  # (1, 3, 4, 8, 8)
        steps, _ = model.rnn(frames.mean(dim=(3, 4)))  # (1, 3, 6)
    torch.testing.assert_close(out[1], steps[0, -1])


def test_given_rnn_with_the_wrong_input_size_names_the_size_the_bridge_produces() -> None:
    with pytest.raises(ShapeError, match=r"F=64 features per step.*input_size=100") as info:
        CNNLSTM(cnn(), SpatialSequence("columns"), input_shape=IMAGE, rnn=nn.LSTM(100, 8))
    assert "nn.LSTM(64" in str(info.value) or "LSTM(64" in str(info.value)
    with pytest.raises(ShapeError, match=r"F=16 .*GRU"):
        CNNLSTM(cnn(), GlobalPoolBridge("avgmax"), input_shape=IMAGE, rnn=nn.GRU(8, 8))


@pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")
def test_given_rnn_modules_are_used_as_they_are() -> None:
    gru = nn.GRU(64, 5, num_layers=2, bidirectional=True)  # batch_first=False
    model = CNNLSTM(cnn(), SpatialSequence("columns"), input_shape=IMAGE, rnn=gru, output="all")
    assert model.rnn is gru
    assert model.num_features == 10
    model.eval()
    x = torch.randn(2, *IMAGE)
    out = model(x, lengths=torch.tensor([12, 7]))
    assert out.shape == (2, 12, 10)
    with torch.no_grad():
        seq = model.bridge(model.backbone(x))  # (B, 12, 64)
        steps, _ = gru(rearrange(seq[1:, :7], "b l f -> l b f"))  # (7, 1, 10)
    torch.testing.assert_close(out[1, :7], steps[:, 0])
    assert torch.count_nonzero(out[1, 7:]) == 0

    lstm = nn.LSTM(8, 16, proj_size=4, batch_first=True)
    model = CNNLSTM(cnn(), GlobalPoolBridge(), input_shape=IMAGE, rnn=lstm, head=2)
    assert model.num_features == 4
    assert model.head.in_features == 4  # type: ignore[union-attr]
    assert model(torch.randn(3, *IMAGE)).shape == (3, 2)


def test_head_variants() -> None:
    no_head = build("pool-avg", hidden_size=7)
    assert no_head.num_features == 7
    assert isinstance(no_head.head, nn.Identity)
    assert no_head(torch.randn(2, *IMAGE)).shape == (2, 7)

    linear = build("pool-avg", hidden_size=7, bidirectional=True, head=5)
    assert isinstance(linear.head, nn.Linear)
    assert (linear.head.in_features, linear.head.out_features) == (14, 5)

    custom = nn.Sequential(nn.Linear(7, 3), nn.Softmax(dim=-1))
    model = build("pool-avg", hidden_size=7, head=custom)
    assert model.head is custom
    out = model(torch.randn(2, *IMAGE))
    torch.testing.assert_close(out.sum(-1), torch.ones(2))


def test_forward_is_forward_head_of_forward_features() -> None:
    model = build("columns", head=3).eval()
    x = torch.randn(2, *IMAGE)
    features = model.forward_features(x)
    assert features.shape == (2, model.num_features)
    torch.testing.assert_close(model(x), model.forward_head(features))


@pytest.mark.parametrize(
    ("case", "kwargs"),
    [
        ("pool-attention-channels", {"bidirectional": True, "num_layers": 2, "head": 3}),
        ("clip-attention", {"rnn": "gru", "bidirectional": True, "output": "all", "head": 2}),
        ("columns", {"num_layers": 2, "dropout": 0.2, "head": 3}),
    ],
)
def test_gradients_reach_every_parameter(case: str, kwargs: dict[str, object]) -> None:
    model = build(case, **kwargs)
    _, input_shape, _ = CASES[case]
    model(torch.randn(2, *input_shape)).square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_state_dict_round_trip() -> None:
    torch.manual_seed(1)
    a = build("clip-attention", bidirectional=True, head=4).eval()
    torch.manual_seed(2)
    b = build("clip-attention", bidirectional=True, head=4).eval()
    x = torch.randn(2, *CLIP)
    assert not torch.allclose(a(x), b(x))
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(a(x), b(x))


def test_repr_shows_the_shapes_and_the_pieces() -> None:
    text = repr(build("columns", head=3))
    assert "input_shape=(3, 16, 24)" in text
    assert "feature_shape=(8, 8, 12)" in text
    assert "sequence_shape=(12, 64)" in text
    assert "SpatialSequence(order='columns')" in text
    assert "LSTM(64, 6, batch_first=True)" in text
    assert "Linear(in_features=6, out_features=3" in text


def test_building_leaves_training_flags_and_statistics_alone() -> None:
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Dropout(0.5))
    backbone[2].eval()
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    CNNLSTM(backbone, GlobalPoolBridge(), input_shape=IMAGE)
    assert [m.training for m in backbone.modules()] == [True, True, True, False]
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, before[key]), key


class ItemBackbone(nn.Module):
    """Calls .item(), which the meta device cannot: the shape comes from a real zero batch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: Tensor) -> Tensor:
        scale = float(x.abs().max().item()) + 1.0
        return self.bn(self.conv(x)) / scale


def test_backbones_the_meta_device_cannot_run_are_probed_with_zeros_in_eval_mode() -> None:
    backbone = ItemBackbone()
    model = CNNLSTM(backbone, SpatialSequence("rows"), input_shape=IMAGE, hidden_size=5)
    assert model.sequence_shape == (14, 4 * 22)
    assert backbone.training
    assert int(backbone.bn.num_batches_tracked) == 0
    assert model(torch.randn(2, *IMAGE)).shape == (2, 5)


# ----------------------------------------------------------------------------- shape errors

ACCEPTED_AND_REJECTED = [
    # case, input that works, inputs that must fail with a message fragment
    ("columns", (2, 3, 16, 40), [((2, 16, 24), "Add the batch axis"), ((2, 3, 20, 24), "F=64")]),
    ("pool-avg", (2, 3, 9, 9), [((2, 5, 3, 16, 24), "input_shape=(T, C, H, W)")]),
    ("pool-avg", (1, 3, 30, 2), [((2, 4, 16, 24), "C=3 channels")]),
    ("clip-avg", (2, 9, 3, 16, 16), [((2, 3, 16, 16), "input_shape=(C, H, W)")]),
]


@pytest.mark.parametrize(("case", "good", "bad"), ACCEPTED_AND_REJECTED)
def test_input_shapes_accepted_and_rejected(
    case: str, good: tuple[int, ...], bad: list[tuple[tuple[int, ...], str]]
) -> None:
    model = build(case)
    assert model(torch.randn(good)).shape == (good[0], 6)
    for shape, fragment in bad:
        with pytest.raises(ShapeError) as info:
            model(torch.randn(shape))
        message = str(info.value)
        assert fragment in message
        assert "(" + ", ".join(map(str, shape)) + ")" in message  # the shape received
        assert info.value.__cause__ is None


@pytest.mark.parametrize(
    ("case", "channels_last", "fragment"),
    [
        ("pool-avg", (2, 9, 9, 3), "(N, H, W, C): np.moveaxis(x, -1, 1) or x.permute(0, 3, 1, 2)."),
        (
            "clip-avg",
            (2, 9, 16, 16, 3),
            "(B, T, H, W, C): np.moveaxis(x, -1, 2) or x.permute(0, 1, 4, 2, 3).",
        ),
    ],
)
def test_channels_last_input_gets_the_permute_that_fixes_it(
    case: str, channels_last: tuple[int, ...], fragment: str
) -> None:
    model = build(case).eval()
    x = torch.randn(channels_last)
    with pytest.raises(ShapeError) as info:
        model(x)
    message = str(info.value)
    assert "This looks channels-last " + fragment in message
    assert "Pass channels at axis" not in message
    assert info.value.__cause__ is None
    # Both suggested fixes are right: the model takes the moved input, and they agree.
    order = tuple(int(i) for i in fragment.split("permute(")[1].rstrip(").").split(", "))
    moved = torch.from_numpy(np.moveaxis(x.numpy(), -1, x.dim() - 3))
    torch.testing.assert_close(model(x.permute(order)), model(moved))


def test_channel_mismatch_that_is_not_channels_last_says_what_to_give_or_build() -> None:
    model = build("pool-avg")
    with pytest.raises(ShapeError) as info:
        model(torch.randn(2, 9, 9, 4))  # the last axis is not C=3, nor 1 or 3
    message = str(info.value)
    assert "channels-last" not in message
    assert "Give it 3-channel input (channels at axis 1)" in message
    assert "build the model with input_shape=(9, 9, 4)" in message
    assert "Pass channels at axis" not in message  # the old hint that named no setting


def test_grey_clips_for_an_rgb_model_name_the_input_shape_to_build_with() -> None:
    model = build("clip-avg")  # input_shape (5, 3, 16, 16)
    with pytest.raises(ShapeError) as info:
        model(torch.randn(2, 5, 1, 16, 16))
    message = str(info.value)
    assert "build the model with input_shape=(5, 1, 16, 16)" in message
    assert "a backbone that takes 1 channels" in message
    # The advice holds: a model built that way takes the input.
    rebuilt = CNNLSTM(cnn(in_channels=1), GlobalPoolBridge(), input_shape=(5, 1, 16, 16))
    assert rebuilt(torch.randn(2, 5, 1, 16, 16)).shape == (2, 128)


@pytest.mark.parametrize(
    ("lengths", "fragment"),
    [([5, 6], "between 1 and T=5"), ([0, 2], "between 1 and T=5"), ([2], "1-D tensor of 2")],
)
def test_bad_lengths(lengths: list[int], fragment: str) -> None:
    model = build("clip-avg")
    with pytest.raises(ShapeError, match=fragment):
        model(torch.randn(2, *CLIP), lengths=torch.tensor(lengths))


def deep_cnn(in_channels: int = 3) -> nn.Sequential:
    """conv (same) -> pool /2 -> conv (valid, -2) -> pool /2: needs H, W of at least 8."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3),
        nn.MaxPool2d(2),
    )


def least_growth_taken(height: int, width: int) -> int:
    """The least m for which deep_cnn runs on (H + m, W + m) images, found by running it on
    real tensors one size at a time (the slow obvious way)."""
    for m in range(64):
        try:
            deep_cnn()(torch.zeros(1, 3, height + m, width + m))
        except RuntimeError:
            continue
        return m
    raise AssertionError("no size up to 63 more works")


def test_a_first_layer_with_other_channels_than_input_shape_is_named() -> None:
    with pytest.raises(ShapeError) as info:
        CNNLSTM(deep_cnn(in_channels=3), GlobalPoolBridge(), input_shape=(1, 64, 64))
    message = str(info.value)
    assert info.value.__cause__ is None
    assert message.startswith("CNNLSTM: the backbone's first layer '0' (Conv2d(3, 8,")
    assert "expects 3 input channels, but input_shape=(1, 64, 64) has C=1" in message
    assert "Change input_shape to (3, 64, 64)" in message
    assert "build layer '0' with in_channels=1" in message
    assert "(2, 1, 64, 64)" not in message  # no batch of 2 that the user never gave
    # Both fixes build.
    CNNLSTM(deep_cnn(in_channels=3), GlobalPoolBridge(), input_shape=(3, 64, 64))
    CNNLSTM(deep_cnn(in_channels=1), GlobalPoolBridge(), input_shape=(1, 64, 64))


def test_a_frame_cnn_with_other_channels_than_a_clip_is_named() -> None:
    for backbone in (deep_cnn(in_channels=3), TimeDistributed(deep_cnn(in_channels=3))):
        with pytest.raises(ShapeError) as info:
            CNNLSTM(backbone, GlobalPoolBridge(), input_shape=(5, 1, 16, 16))
        message = str(info.value)
        assert "first layer '0' (Conv2d(3, 8," in message
        assert "input_shape=(5, 1, 16, 16) has C=1" in message
        assert "Change input_shape to (5, 3, 16, 16)" in message
        if not isinstance(backbone, TimeDistributed):
            assert "backbone takes neither the clip (B, 5, 1, 16, 16)" in message
            assert "nor its frames (B*T, 1, 16, 16). For its frames:" in message


# input_shape, the layer that fails, its type, the map it gets (by hand: pool /2, valid conv -2).
TOO_SMALL = [
    ((3, 5, 5), "3", "Conv2d(8, 16", "2x2"),
    ((3, 7, 9), "4", "MaxPool2d(kernel_size=2", "1x2"),  # 3x4 after the pool, 1x2 after conv
    ((4, 3, 6, 6), "4", "MaxPool2d(kernel_size=2", "1x1"),
]


@pytest.mark.parametrize(("input_shape", "layer", "layer_repr", "size"), TOO_SMALL)
def test_a_cnn_too_deep_for_the_input_names_the_layer_size_and_smallest_input(
    input_shape: tuple[int, ...], layer: str, layer_repr: str, size: str
) -> None:
    with pytest.raises(ShapeError) as info:
        CNNLSTM(deep_cnn(), GlobalPoolBridge(), input_shape=input_shape)
    message = str(info.value)
    assert info.value.__cause__ is None
    assert (
        f"the feature map is {size} when it reaches the backbone's layer '{layer}' ({layer_repr}"
        in message
    )
    assert f"fewer pooling or strided layers before layer '{layer}'" in message
    lead = "B*T" if len(input_shape) == 4 else "B"
    h, w = input_shape[-2] // 2, input_shape[-1] // 2
    assert f"'2' MaxPool2d -> ({lead}, 8, {h}, {w})" in message  # the sizes up to there
    # The smallest input it names is the smallest that runs, found here by trying each size.
    grow = least_growth_taken(*input_shape[-2:])
    taken = (input_shape[-2] + grow, input_shape[-1] + grow)
    assert f"H, W of {taken} or more work" in message
    CNNLSTM(deep_cnn(), GlobalPoolBridge(), input_shape=(*input_shape[:-2], *taken))


def test_torch_words_for_a_kernel_larger_than_the_map_are_kept() -> None:
    with pytest.raises(ShapeError, match="Kernel size can't be greater than actual input size"):
        CNNLSTM(deep_cnn(), GlobalPoolBridge(), input_shape=(3, 5, 5))


def test_an_inner_layer_with_other_channels_than_the_layer_before() -> None:
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(16, 4, 3))
    with pytest.raises(ShapeError) as info:
        CNNLSTM(backbone, GlobalPoolBridge(), input_shape=(3, 12, 12))
    message = str(info.value)
    assert "layer '2' (Conv2d(16, 4," in message
    assert "expects 16 input channels, but the layers before it give 8" in message
    assert "Build layer '2' with in_channels=8" in message
    assert "(B, 3, 12, 12) -> '0' Conv2d -> (B, 8, 10, 10)" in message


@pytest.mark.parametrize("norm", [nn.BatchNorm2d(16), nn.InstanceNorm2d(16, affine=True)])
def test_a_norm_layer_with_other_channels_than_the_layer_before(norm: nn.Module) -> None:
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3), norm, nn.ReLU())
    with pytest.raises(ShapeError) as info:
        CNNLSTM(backbone, GlobalPoolBridge(), input_shape=(3, 12, 12))
    message = str(info.value)
    assert f"layer '1' ({type(norm).__name__}(" in message
    assert "expects 16 input channels, but the layers before it give 8" in message


def test_a_linear_layer_sized_for_another_input() -> None:
    backbone = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 8), nn.Unflatten(1, (8, 1, 1))
    )
    CNNLSTM(backbone, GlobalPoolBridge(), input_shape=(3, 8, 8))  # what it was built for
    with pytest.raises(ShapeError) as info:
        CNNLSTM(backbone, GlobalPoolBridge(), input_shape=(3, 10, 10))
    message = str(info.value)
    assert "layer '2' (Linear(in_features=144" in message
    assert f"gets {4 * 8 * 8}" in message
    assert f"in_features={4 * 8 * 8}" in message


def test_a_backbone_with_its_own_check_keeps_its_message_without_a_stray_batch() -> None:
    from cnnlstm.models.backbones import SimpleCNN

    with pytest.raises(ShapeError) as info:
        CNNLSTM(SimpleCNN(1, channels=(4, 8, 16)), GlobalPoolBridge(), input_shape=(1, 4, 4))
    message = str(info.value)
    assert "the backbone SimpleCNN cannot take input_shape=(1, 4, 4)" in message
    assert "probed with a batch of 2, shape (2, 1, 4, 4)" in message  # says where the 2 is from
    assert "at least 8" in message


def test_the_failed_probe_leaves_no_hooks_and_keeps_the_training_flags() -> None:
    backbone = deep_cnn()
    backbone.train()
    backbone[2].eval()
    with pytest.raises(ShapeError):
        CNNLSTM(backbone, GlobalPoolBridge(), input_shape=(3, 5, 5))
    for layer in backbone.modules():
        assert not layer._forward_hooks and not layer._forward_pre_hooks
    assert [m.training for m in backbone] == [True, True, False, True, True]


def test_a_bridge_that_cannot_take_the_backbone_output() -> None:
    with pytest.raises(ShapeError, match=r"into \(B, 5, 8, 8, 8\), which the bridge cannot take"):
        CNNLSTM(TimeDistributed(cnn()), SpatialSequence("columns"), input_shape=CLIP)
    with pytest.raises(ShapeError, match=r"bridge has to produce a sequence \(B, L, F\)"):
        CNNLSTM(cnn(), nn.Flatten(), input_shape=IMAGE)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"input_shape": (16, 24)}, "input_shape has to be (C, H, W)"),
        ({"input_shape": (3, 0, 24)}, "input_shape has to be (C, H, W)"),
        ({"output": "first"}, "output has to be 'last' or 'all', but got 'first'"),
        ({"rnn": "rnn"}, "rnn has to be 'lstm', 'gru', an nn.LSTM or an nn.GRU, but got 'rnn'"),
        ({"hidden_size": 0}, "hidden_size has to be a positive integer, but got 0"),
        ({"num_layers": 1.5}, "num_layers has to be a positive integer, but got 1.5"),
        ({"dropout": 1.0}, "dropout has to be in [0, 1), but got 1.0"),
        ({"head": 0}, "head has to be a positive number of outputs"),
        ({"head": True}, "head has to be a positive number of outputs"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], fragment: str) -> None:
    kwargs.setdefault("input_shape", IMAGE)
    with pytest.raises(ValueError) as info:
        CNNLSTM(cnn(), GlobalPoolBridge(), **kwargs)  # type: ignore[arg-type]
    assert fragment in str(info.value)


@settings(max_examples=12, deadline=None)
@given(
    channels=st.integers(1, 4),
    height=st.integers(4, 12),
    width=st.integers(4, 12),
    stride=st.integers(1, 3),
    order=st.sampled_from(["columns", "rows", "raster", "snake"]),
)
def test_sizing_agrees_with_a_real_forward(
    channels: int, height: int, width: int, stride: int, order: str
) -> None:
    backbone = nn.Conv2d(channels, 5, 3, stride=stride)
    model = CNNLSTM(
        backbone,
        SpatialSequence(order),  # type: ignore[arg-type]
        input_shape=(channels, height, width),
        hidden_size=3,
        output="all",
    )
    x = torch.randn(2, channels, height, width)
    with torch.no_grad():
        seq = model.bridge(backbone(x))
    assert model.sequence_shape == tuple(seq.shape[1:])
    assert model(x).shape == (2, seq.shape[1], 3)
