"""clip_classifier (temporal, convlstm, single_frame) and image_sequence_classifier.

Numerical checks: a padded clip with ``lengths`` gives what the clip cut to its length gives
alone (garbage in the padding changes nothing); the ConvLSTM bridge against its cell stepped
frame by frame by hand; the single-frame baseline against CNN + mean + linear by hand; the raw
pixel row reader against the LSTM fed the rows by hand.
"""

from __future__ import annotations

import inspect
import typing

import pytest
import torch
from torch import Tensor, nn

from cnnlstm.errors import ConfigError, ShapeError
from cnnlstm.layers.convlstm_cell import ConvLSTMCell
from cnnlstm.layers.time_distributed import TimeDistributed
from cnnlstm.models.backbones import NORMS, SimpleCNN
from cnnlstm.models.classifiers import (
    CLIP_BRIDGES,
    IMAGE_BRIDGES,
    CNNLSTMClassifier,
    ConvLSTMClassifier,
    SingleFrameClassifier,
    clip_classifier,
    image_sequence_classifier,
)

SMALL = {"frames": 4, "image_size": (16, 16), "channels": (4, 8), "hidden_size": 6}


def clip_model(**kwargs: object) -> nn.Module:
    model = clip_classifier(num_classes=3, **{**SMALL, **kwargs})  # type: ignore[arg-type]
    return model.eval()


@pytest.mark.parametrize("bridge", CLIP_BRIDGES)
@pytest.mark.parametrize("pool", ["avg", "max", "avgmax", "attention"])
def test_clip_classifier_shapes(bridge: str, pool: str) -> None:
    model = clip_model(bridge=bridge, pool=pool)
    assert model.example_input_shape == (4, 1, 16, 16)
    x = torch.rand(2, 4, 1, 16, 16)
    out = model(x)
    assert out.shape == (2, 3) and torch.isfinite(out).all()
    features = model.forward_features(x)
    assert features.shape == (2, model.num_features)
    torch.testing.assert_close(model.forward_head(features), out)
    # Any number of frames works, not only the example's.
    assert model(torch.rand(2, 7, 1, 16, 16)).shape == (2, 3)


def test_clip_classifier_builds_each_bridge_from_its_parts() -> None:
    temporal = clip_model(rnn="gru", bidirectional=True, pool="avgmax")
    assert isinstance(temporal, CNNLSTMClassifier)
    assert isinstance(temporal.backbone, TimeDistributed)
    assert isinstance(temporal.rnn, nn.GRU) and temporal.rnn.bidirectional
    assert temporal.rnn.input_size == 16  # avgmax of 8 channels
    assert temporal.num_features == 12
    convlstm = clip_model(bridge="convlstm", bidirectional=True, pool="avgmax")
    assert isinstance(convlstm, ConvLSTMClassifier)
    assert convlstm.convlstm.hidden_channels == (6,) and convlstm.convlstm.bidirectional
    assert convlstm.num_features == 2 * 2 * 6  # avgmax of both directions' 6 channels
    single = clip_model(bridge="single_frame", pool="max")
    assert isinstance(single, SingleFrameClassifier)
    assert single.num_features == 8
    assert not any(isinstance(m, (nn.RNNBase, ConvLSTMCell)) for m in single.modules())


@pytest.mark.parametrize("bridge", CLIP_BRIDGES)
def test_padded_clips_give_what_the_cut_clips_give(bridge: str) -> None:
    model = clip_model(bridge=bridge, bidirectional=bridge != "single_frame")
    x = torch.rand(3, 5, 1, 16, 16)
    lengths = torch.tensor([5, 2, 3])
    for b, length in enumerate(lengths.tolist()):
        x[b, length:] = 100 * torch.randn_like(x[b, length:])  # garbage in the padding
    with torch.no_grad():
        padded = model(x, lengths=lengths)
        for b, length in enumerate(lengths.tolist()):
            alone = model(x[b : b + 1, :length])
            torch.testing.assert_close(padded[b : b + 1], alone, atol=1e-5, rtol=1e-4)


def test_convlstm_bridge_matches_its_cell_stepped_by_hand() -> None:
    model = clip_model(bridge="convlstm", pool="avg")
    x = torch.rand(2, 4, 1, 16, 16)
    with torch.no_grad():
        cnn = model.backbone.module
        cell = model.convlstm.cells[0]
        state = None
        for t in range(4):
            state = cell.step(cnn(x[:, t]), state)  # ((2, 6, 4, 4), (2, 6, 4, 4))
        h = state[0]
        expected = model.head(h.mean(dim=(2, 3)))
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=1e-4)


def test_single_frame_sees_only_the_last_valid_frame() -> None:
    model = clip_model(bridge="single_frame")
    x = torch.rand(2, 4, 1, 16, 16)
    lengths = torch.tensor([4, 2])
    with torch.no_grad():
        cnn = model.backbone
        frames = torch.stack([x[0, 3], x[1, 1]])  # (2, 1, 16, 16)
        expected = model.head(cnn(frames).mean(dim=(2, 3)))
        torch.testing.assert_close(model(x, lengths=lengths), expected)
        torch.testing.assert_close(model(x)[0], expected[0])  # no lengths: the last frame
        changed = x.clone()
        changed[:, :-1] = torch.rand_like(changed[:, :-1])
        torch.testing.assert_close(model(changed), model(x))


def test_temporal_bridge_depends_on_the_order_of_frames() -> None:
    model = clip_model()
    x = torch.rand(2, 4, 1, 16, 16)
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x.flip(1)))


def test_clip_classifier_takes_a_custom_backbone() -> None:
    cnn = nn.Sequential(nn.Conv2d(2, 5, 3, stride=2), nn.ReLU())  # (N, 2, 16, 16) -> (N, 5, 7, 7)
    for bridge in CLIP_BRIDGES:
        model = clip_classifier(
            num_classes=3, in_channels=2, frames=3, image_size=(16, 16), bridge=bridge,
            hidden_size=4, backbone=cnn, pool="attention",
        )  # fmt: skip
        assert model(torch.rand(2, 3, 2, 16, 16)).shape == (2, 3)
    assert clip_classifier(backbone=cnn, in_channels=2, image_size=(16, 16)).rnn.input_size == 5


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("bridge", CLIP_BRIDGES)
def test_clip_classifier_norm_switch(bridge: str, norm: str) -> None:
    model = clip_model(bridge=bridge, norm=norm).train()
    cnn = model.backbone.module if isinstance(model.backbone, TimeDistributed) else model.backbone
    assert isinstance(cnn, SimpleCNN) and cnn.norm == norm
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == (norm == "batch")
    # What DDP needs: in training, a clip's logits do not depend on the other clips of the batch
    # (each process sees only its part), unless batch norm pools their statistics.
    x = torch.rand(4, 4, 1, 16, 16)
    with torch.no_grad():
        whole, half = model(x)[:2], model(x[:2])
    assert torch.allclose(whole, half, atol=1e-5) == (norm != "batch")


def test_image_sequence_classifier_norm_switch() -> None:
    for norm in NORMS:
        model = image_sequence_classifier(image_size=(16, 16), channels=(4,), norm=norm)
        assert model.backbone.norm == norm
    with pytest.raises(ConfigError, match="norm has to be one of 'batch', 'group', 'instance'"):
        image_sequence_classifier(norm="layer")  # type: ignore[arg-type]


def test_norm_is_in_the_factory_signature_that_configs_read() -> None:
    signature = inspect.signature(clip_classifier)
    assert signature.parameters["norm"].default == "batch"
    assert typing.get_args(typing.get_type_hints(clip_classifier)["norm"]) == NORMS


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"bridge": "lstm"},
            ConfigError,
            "bridge has to be one of 'temporal', 'convlstm', 'single_frame', but got 'lstm'",
        ),
        (
            {"bridge": "convlstm", "rnn": "gru"},
            ConfigError,
            "rnn has to be 'lstm' with bridge='convlstm'.*Valid combinations: bridge='temporal'",
        ),
        ({"pool": "sum"}, ConfigError, "pool has to be one of 'avg', 'max', 'avgmax', 'attention'"),
        ({"rnn": "rnn"}, ConfigError, "rnn has to be one of 'lstm', 'gru'"),
        ({"num_classes": 0}, ConfigError, "num_classes has to be a positive int"),
        ({"image_size": (16,)}, ConfigError, "image_size has to be 2 positive ints"),
        ({"channels": ()}, ConfigError, "channels has to be a non-empty sequence"),
        ({"dropout": 2.0}, ConfigError, "dropout has to be a probability"),
        ({"backbone": "resnet"}, ConfigError, "backbone has to be an nn.Module or None"),
        ({"backbone": nn.Flatten()}, ConfigError, "backbone has to map images"),
        (
            {"norm": "layer"},
            ConfigError,
            "norm has to be one of 'batch', 'group', 'instance', 'none', but got 'layer'",
        ),
        ({"norm": None}, ConfigError, "norm has to be one of .* but got None"),
        (
            {"image_size": (2, 16)},
            ShapeError,
            r"image_size=\(2, 16\) is too small for channels=\[4, 8\]: .* at least 4",
        ),
    ],
)
def test_clip_classifier_rejects_bad_configs(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        clip_classifier(**{**SMALL, **kwargs})  # type: ignore[arg-type]


def test_single_frame_accepts_recurrent_settings_it_does_not_use() -> None:
    # One config switches bridges, so the baseline takes (and ignores) rnn settings.
    model = clip_model(bridge="single_frame", rnn="gru", bidirectional=True, hidden_size=99)
    assert isinstance(model, SingleFrameClassifier)


@pytest.mark.parametrize("bridge", CLIP_BRIDGES)
def test_clip_input_errors(bridge: str) -> None:
    model = clip_model(bridge=bridge)
    with pytest.raises(ShapeError, match=r"5-D|expected"):
        model(torch.rand(2, 1, 16, 16))
    with pytest.raises(ShapeError, match="channels"):
        model(torch.rand(2, 4, 3, 16, 16))
    with pytest.raises(ShapeError, match="lengths"):
        model(torch.rand(2, 4, 1, 16, 16), lengths=torch.tensor([5, 1]))


@pytest.mark.parametrize("bridge", CLIP_BRIDGES)
def test_channels_last_clips_get_the_permute_that_fixes_them(bridge: str) -> None:
    model = clip_model(bridge=bridge, in_channels=3)
    x = torch.rand(2, 4, 16, 16, 3)  # (B, T, H, W, C)
    with pytest.raises(ShapeError, match=r"channels-last \(B, T, H, W, C\)") as info:
        model(x)
    assert "x.permute(0, 1, 4, 2, 3)" in str(info.value)
    assert model(x.permute(0, 1, 4, 2, 3)).shape == (2, 3)


def test_channels_last_images_get_the_permute_that_fixes_them() -> None:
    model = image_sequence_classifier(num_classes=3).eval()  # MNIST-sized, one channel
    x = torch.rand(10, 28, 28, 1)  # (N, H, W, C), as numpy/Keras keep images
    with pytest.raises(ShapeError) as info:
        model(x)
    message = str(info.value)
    assert "got shape (10, 28, 28, 1) with 28" in message
    assert "channels-last (N, H, W, C): np.moveaxis(x, -1, 1) or x.permute(0, 3, 1, 2)" in message
    assert model(x.permute(0, 3, 1, 2)).shape == (10, 3)


FLAG = "--model.init_args.model_args."


@pytest.mark.parametrize("bridge", CLIP_BRIDGES)
def test_grey_clips_for_an_rgb_model_name_the_setting_and_its_flag(bridge: str) -> None:
    # the video_folder config has in_channels: 3; grayscale: true gives one channel.
    model = clip_model(bridge=bridge, in_channels=3)
    x = torch.rand(2, 4, 1, 16, 16)
    with pytest.raises(ShapeError) as info:
        model(x)
    message = str(info.value)
    assert info.value.__cause__ is None
    assert "build the model with in_channels=1" in message
    assert f"{FLAG}in_channels 1" in message
    assert "image_size" not in message  # the frames' size is right
    assert "Pass channels at axis" not in message
    # The setting it names is the one that fixes it.
    assert clip_model(bridge=bridge, in_channels=1)(x).shape == (2, 3)


@pytest.mark.parametrize(
    ("shape", "fragments", "fixed_shape", "settings"),
    [
        # RGB arrays for the image_sequence config (in_channels: 1, image_size: [28, 28]).
        ((4, 3, 28, 28), ["Give it 1-channel input", f"{FLAG}in_channels 3"], None, {}),
        # Channels-last RGB arrays of another size: move the channels, then two settings.
        (
            (4, 32, 32, 3),
            [
                "This looks channels-last (N, H, W, C): np.moveaxis(x, -1, 1) or "
                "x.permute(0, 3, 1, 2). Then build the model with in_channels=3 and "
                "image_size=(32, 32)",
                f"{FLAG}in_channels 3 {FLAG}image_size [32,32]",
            ],
            (4, 3, 32, 32),
            {"image_size": (32, 32)},
        ),
        # Channels-last grey arrays of the right size: only the permute.
        ((4, 28, 28, 1), ["x.permute(0, 3, 1, 2)."], (4, 1, 28, 28), {"in_channels": 1}),
    ],
)
def test_image_arrays_in_another_layout_name_the_permute_and_settings(
    shape: tuple[int, ...],
    fragments: list[str],
    fixed_shape: tuple[int, ...] | None,
    settings: dict[str, object],
) -> None:
    model = image_sequence_classifier(num_classes=3, channels=(4, 8), hidden_size=6).eval()
    x = torch.rand(shape)
    with pytest.raises(ShapeError) as info:
        model(x)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message
    if "Then" not in message:
        assert "image_size" not in message
    # Doing what the message says works.
    moved = x if fixed_shape is None else x.permute(0, 3, 1, 2)
    channels = int(moved.shape[1])
    fixed = image_sequence_classifier(
        num_classes=3,
        channels=(4, 8),
        hidden_size=6,
        **{"in_channels": channels, **settings},  # type: ignore[arg-type]
    ).eval()
    assert fixed(moved).shape == (4, 3)


def test_images_of_another_size_name_image_size() -> None:
    model = image_sequence_classifier(num_classes=3, channels=(4, 8), hidden_size=6).eval()
    with pytest.raises(ShapeError) as info:
        model(torch.rand(2, 1, 32, 32))  # columns: F depends on H
    message = str(info.value)
    assert "build the model with image_size=(32, 32)" in message
    assert f"{FLAG}image_size [32,32]" in message
    assert "in_channels" not in message


def test_a_custom_backbone_that_cannot_take_the_frames_names_its_layer() -> None:
    backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2), nn.Conv2d(4, 4, 5))
    for bridge in CLIP_BRIDGES:
        with pytest.raises(ShapeError) as info:
            clip_model(bridge=bridge, in_channels=1, backbone=backbone)
        message = str(info.value)
        assert message.startswith("clip_classifier: the backbone's first layer '0'")
        assert "expects 3 input channels, but input_shape=(1, 16, 16) has C=1" in message
    with pytest.raises(ShapeError, match=r"feature map is 3x3 when it reaches .* layer '2'"):
        clip_model(in_channels=3, image_size=(8, 8), backbone=backbone)


# --- image_sequence_classifier ---------------------------------------------------------------

# After SimpleCNN(channels=(4, 8)) a 16x16 image is (8, 4, 4); the sequence (L, F) per bridge.
SEQUENCES = {
    "columns": (4, 32),
    "rows": (4, 32),
    "raster": (16, 8),
    "raster_columns": (16, 8),
    "snake": (16, 8),
    "hilbert": (16, 8),
    "pool": (1, 8),
    "pool_channels": (8, 1),
}


@pytest.mark.parametrize("bridge", IMAGE_BRIDGES)
def test_image_sequence_classifier_bridges(bridge: str) -> None:
    model = image_sequence_classifier(
        num_classes=4, image_size=(16, 16), bridge=bridge, channels=(4, 8), hidden_size=5
    ).eval()
    assert model.sequence_shape == SEQUENCES[bridge]
    assert model.example_input_shape == (1, 16, 16)
    out = model(torch.rand(3, 1, 16, 16))
    assert out.shape == (3, 4) and torch.isfinite(out).all()


def test_image_sequence_pool_channels_with_avgmax_gives_two_features() -> None:
    model = image_sequence_classifier(
        image_size=(16, 16), bridge="pool_channels", pool="avgmax", channels=(4, 8)
    )
    assert model.sequence_shape == (8, 2)


def test_raw_pixel_rows_match_the_lstm_fed_by_hand() -> None:
    model = image_sequence_classifier(
        num_classes=3, in_channels=1, image_size=(6, 5), bridge="rows", channels=(),
        hidden_size=4, num_layers=2, rnn="gru",
    ).eval()  # fmt: skip
    x = torch.rand(2, 1, 6, 5)
    with torch.no_grad():
        rows = torch.stack([x[:, 0, r, :] for r in range(6)], dim=1)  # (2, 6, 5): row r is step r
        out, _ = model.rnn(rows)
        expected = model.head(out[:, -1])
        torch.testing.assert_close(model(x), expected)


def test_image_sequence_classifier_rejects_bad_configs() -> None:
    with pytest.raises(ConfigError, match="bridge has to be one of 'columns', 'rows'"):
        image_sequence_classifier(bridge="diagonal")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="num_layers has to be a positive int"):
        image_sequence_classifier(num_layers=0)
    with pytest.raises(ShapeError, match="at least 4"):
        image_sequence_classifier(image_size=(3, 28), channels=(4, 8))


@pytest.mark.parametrize("factory", [clip_classifier, image_sequence_classifier])
def test_an_image_size_too_small_for_the_stages_names_both_fixes(factory: typing.Any) -> None:
    kwargs = {"num_classes": 3, "channels": (4, 8, 16), "hidden_size": 6}
    with pytest.raises(ShapeError) as info:
        factory(image_size=(5, 12), **kwargs)
    message = str(info.value)
    assert "each of its 3 stages halves H and W, so both have to be at least 8" in message
    assert "--model.init_args.model_args.image_size [8,12]" in message
    assert "--model.init_args.model_args.channels [4,8]" in message  # 5 -> 2 -> 1
    # Each fix builds, and the model runs on inputs of the size it was built for.
    for fixed in ({"image_size": (8, 12)}, {"image_size": (5, 12), "channels": (4, 8)}):
        model = factory(**{**kwargs, **fixed}).eval()
        assert model(torch.rand(2, *model.example_input_shape)).shape == (2, 3)


def forward_shape(model: nn.Module, x: Tensor) -> tuple[int, ...]:
    return tuple(model(x).shape)


def test_image_sequence_classifier_with_custom_backbone() -> None:
    cnn = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.AvgPool2d(2))  # (3, 8, 10) -> (6, 4, 5)
    model = image_sequence_classifier(
        in_channels=3, image_size=(8, 10), backbone=cnn, bridge="columns", hidden_size=4
    )
    assert model.sequence_shape == (5, 24)
    assert forward_shape(model, torch.rand(2, 3, 8, 10)) == (2, 10)
