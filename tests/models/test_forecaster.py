"""The ConvLSTM encoder-forecaster and the copy-last-frame baseline.

The forecast is checked against the algorithm written out here the slow obvious way: patches cut
with index arithmetic, every ConvLSTM cell stepped one frame at a time, the forecaster fed its
own previous prediction, and pixels put back one by one.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from cnnlstm.errors import ConfigError, ShapeError
from cnnlstm.models.forecaster import ConvLSTMForecaster, convlstm_forecaster, copy_last_frame


def small(**kwargs: object) -> ConvLSTMForecaster:
    arguments: dict[str, object] = {
        "image_size": (8, 12),
        "input_frames": 3,
        "output_frames": 2,
        "hidden_channels": (3, 5),
        "patch_size": 2,
        **kwargs,
    }
    model = convlstm_forecaster(**arguments)  # type: ignore[arg-type]
    assert isinstance(model, ConvLSTMForecaster)
    return model


def patch_by_hand(frame: Tensor, p: int) -> Tensor:
    """(B, C, H, W) -> (B, C*p*p, H/p, W/p); channel c*p*p + i*p + j: pixel (i, j) of a patch."""
    b, c, h, w = frame.shape
    out = torch.zeros(b, c * p * p, h // p, w // p, dtype=frame.dtype)
    for ch in range(c):
        for i in range(p):
            for j in range(p):
                out[:, ch * p * p + i * p + j] = frame[:, ch, i::p, j::p]
    return out


def unpatch_by_hand(patches: Tensor, p: int, channels: int) -> Tensor:
    b, _, h, w = patches.shape
    out = torch.zeros(b, channels, h * p, w * p, dtype=patches.dtype)
    for ch in range(channels):
        for i in range(p):
            for j in range(p):
                out[:, ch, i::p, j::p] = patches[:, ch * p * p + i * p + j]
    return out


def forecast_by_hand(model: ConvLSTMForecaster, x: Tensor, fed: Tensor | None = None) -> Tensor:
    """The forecast; with ``fed`` (B, K, C, H, W), step k + 1 reads ``fed[:, k]`` (forced)."""
    p, c = model.patch_size, model.in_channels
    layers = len(model.hidden_channels)
    states: list[tuple[Tensor, Tensor] | None] = [None] * layers
    for t in range(x.shape[1]):  # the encoder, one frame and one layer at a time
        layer_input = patch_by_hand(x[:, t], p)
        for layer in range(layers):
            states[layer] = model.encoder.cells[layer].step(layer_input, states[layer])
            layer_input = states[layer][0]
    step_input = patch_by_hand(x[:, -1], p)
    frames = []
    for k in range(model.output_frames):  # the forecaster, from the encoder's states
        layer_input = step_input
        hidden = []
        for layer in range(layers):
            states[layer] = model.forecaster[layer].step(layer_input, states[layer])
            layer_input = states[layer][0]
            hidden.append(layer_input)
        step_input = torch.sigmoid(model.head(torch.cat(hidden, dim=1)))  # fed back next step
        frames.append(unpatch_by_hand(step_input, p, c))
        if fed is not None:
            step_input = patch_by_hand(fed[:, k], p)
    return torch.stack(frames, dim=1)


@pytest.mark.parametrize(
    ("in_channels", "hidden", "patch"), [(1, (3, 5), 2), (2, (4,), 4), (1, (2, 2, 3), 1)]
)
def test_forecast_matches_the_algorithm_stepped_by_hand(
    in_channels: int, hidden: tuple[int, ...], patch: int
) -> None:
    model = small(in_channels=in_channels, hidden_channels=hidden, patch_size=patch)
    x = torch.rand(2, 3, in_channels, 8, 12)
    with torch.no_grad():
        out = model(x)
        assert out.shape == (2, 2, in_channels, 8, 12)
        torch.testing.assert_close(out, forecast_by_hand(model, x), atol=1e-5, rtol=1e-4)


def test_teacher_forcing_1_feeds_the_targets_and_0_the_model_its_own_forecast() -> None:
    torch.manual_seed(0)
    model = small(output_frames=3)
    x, targets = torch.rand(2, 3, 1, 8, 12), torch.rand(2, 3, 1, 8, 12)
    with torch.no_grad():
        forced = model(x, targets, teacher_forcing=1.0)
        torch.testing.assert_close(
            forced, forecast_by_hand(model, x, fed=targets), atol=1e-5, rtol=1e-4
        )
        own = forecast_by_hand(model, x)
        torch.testing.assert_close(model(x, targets, teacher_forcing=0.0), own)
        torch.testing.assert_close(model(x, targets), own)
        # the first step never sees a target; later steps do
        torch.testing.assert_close(forced[:, 0], own[:, 0])
        assert not torch.allclose(forced[:, 1:], own[:, 1:])


def test_teacher_forcing_draws_truth_or_prediction_per_sequence_and_step() -> None:
    torch.manual_seed(0)
    model = small(output_frames=3)
    x, targets = torch.rand(64, 3, 1, 8, 12), torch.rand(64, 3, 1, 8, 12)
    with torch.no_grad():
        forced = model(x, targets, teacher_forcing=1.0)
        own = model(x)
        mixed = model(x, targets, teacher_forcing=0.5)
    # step 1 (the second frame) depends only on whether step 0's truth was fed in
    like_forced = (mixed[:, 1] - forced[:, 1]).abs().amax(dim=(1, 2, 3)) < 1e-6
    like_own = (mixed[:, 1] - own[:, 1]).abs().amax(dim=(1, 2, 3)) < 1e-6
    assert bool((like_forced ^ like_own).all())
    assert 16 < int(like_forced.sum()) < 48


def test_teacher_forcing_errors() -> None:
    model = small()
    x = torch.rand(2, 3, 1, 8, 12)
    with pytest.raises(ShapeError, match=r"targets .* \(2, 2, 1, 8, 12\).*got \(2, 3, 1, 8, 12\)"):
        model(x, torch.rand(2, 3, 1, 8, 12), teacher_forcing=0.5)
    with pytest.raises(ValueError, match=r"teacher_forcing has to be a probability in \[0, 1\]"):
        model(x, torch.rand(2, 2, 1, 8, 12), teacher_forcing=1.5)


def test_head_is_the_exact_inverse_of_the_patching() -> None:
    # With a 1x1 conv that passes the patched channels straight through, the head turns the
    # logit of patched frames back into the frames: its depth-to-space undoes the patching.
    model = small(in_channels=2, hidden_channels=(4, 4), patch_size=2)  # 4+4 = 2*2*2 channels
    with torch.no_grad():
        model.head.weight.copy_(torch.eye(8).reshape(8, 8, 1, 1))
        model.head.bias.zero_()
        frames = torch.rand(3, 2, 2, 8, 12).clamp(0.01, 0.99)  # (B, K, C, H, W)
        patched = torch.stack([patch_by_hand(frames[:, k], 2) for k in range(2)], dim=1)
        torch.testing.assert_close(model.forward_head(torch.logit(patched)), frames)


def test_interface_and_outputs_in_unit_interval() -> None:
    model = small()
    assert model.example_input_shape == (3, 1, 8, 12)
    assert model.num_features == 8
    x = torch.rand(2, *model.example_input_shape)
    features = model.forward_features(x)
    assert features.shape == (2, 2, 8, 4, 6)
    out = model.forward_head(features)
    assert ((out > 0) & (out < 1)).all()
    # More or fewer input frames than the example work too.
    assert model(torch.rand(1, 6, 1, 8, 12)).shape == (1, 2, 1, 8, 12)
    assert model(torch.rand(1, 1, 1, 4, 4)).shape == (1, 2, 1, 4, 4)


def test_forecast_depends_on_the_input_order() -> None:
    model = small()
    x = torch.rand(2, 3, 1, 8, 12)
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x.flip(1)))


def test_a_few_steps_lower_the_loss() -> None:
    # A bright column moving one patch right per frame: the forecaster can learn it.
    model = small(hidden_channels=(8,), input_frames=4, output_frames=2)
    frames = torch.zeros(4, 6, 1, 8, 12)
    for b in range(4):
        for t in range(6):
            frames[b, t, 0, :, (2 * t + b) % 12] = 1.0
    x, y = frames[:, :4], frames[:, 4:]
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    with torch.no_grad():
        first = float(torch.nn.functional.mse_loss(model(x), y))
    for _ in range(30):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        assert float(torch.nn.functional.mse_loss(model(x), y)) < 0.5 * first


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"image_size": (10, 12), "patch_size": 4},
            "image_size has to be divisible by patch_size=4",
        ),
        ({"patch_size": 0}, "patch_size has to be a positive int"),
        ({"hidden_channels": ()}, "hidden_channels has to be a non-empty sequence"),
        ({"output_frames": 0}, "output_frames has to be a positive int"),
        ({"image_size": (8,)}, "image_size has to be 2 positive ints"),
    ],
)
def test_bad_configs(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        small(**kwargs)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 3, 1, 9, 12), r"expected H and W divisible by the patch size 2, got H=9, W=12"),
        ((2, 3, 2, 8, 12), "expected C=1 channels .* in_channels=2"),
        ((2, 1, 8, 12), r"expected frames \(B, N, C, H, W\) like \(B, 3, 1, 8, 12\)"),
    ],
)
def test_input_errors(shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        small()(torch.rand(shape))


def test_copy_last_frame_repeats_the_last_input() -> None:
    x = torch.rand(2, 5, 3, 4, 6)
    out = copy_last_frame(x, 4)
    assert out.shape == (2, 4, 3, 4, 6)
    for k in range(4):
        assert torch.equal(out[:, k], x[:, 4])
    out[:, 0] += 1  # a new tensor, not a view of the input
    assert torch.equal(out[:, 1], x[:, 4])
    with pytest.raises(ValueError, match="steps has to be a positive int, but got 0"):
        copy_last_frame(x, 0)
    with pytest.raises(ShapeError, match=r"expected frames \(B, N, C, H, W\)"):
        copy_last_frame(x[0], 2)
