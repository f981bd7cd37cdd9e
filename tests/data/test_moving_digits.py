"""Tests for cnnlstm.data.moving_digits: motion re-derived step by step, rendering re-done from
the MNIST file, reproducibility, the MNIST split, and DigitClips' labels and occlusion."""

from __future__ import annotations

import gzip
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from cnnlstm.data.moving_digits import DigitClips, MovingDigits, Trajectory, bounce

# the bundled development data sit in shared/ beside the checkout
MNIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"


def mnist_file() -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of the t10k files, parsed here without the library."""
    with gzip.open(MNIST / "t10k-images-idx3-ubyte.gz", "rb") as f:
        raw = f.read()
    n, rows, cols = struct.unpack(">III", raw[4:16])
    images = np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, rows, cols)
    with gzip.open(MNIST / "t10k-labels-idx1-ubyte.gz", "rb") as f:
        raw = f.read()
    return images, np.frombuffer(raw[8:], dtype=np.uint8)


def replay(trajectory: Trajectory, speed: float, free: int) -> None:
    """Re-derive every step with scalar arithmetic: move, clamp at the edges, flip there."""
    frames, digits, _ = trajectory.positions.shape
    for d in range(digits):
        for axis in range(2):
            pos = float(trajectory.positions[0, d, axis])
            vel = float(trajectory.velocities[0, d, axis])
            for t in range(1, frames):
                moved = pos + vel
                if moved <= 0.0 or moved >= 1.0:
                    expected_pos, expected_vel = (0.0 if moved <= 0.0 else 1.0), -vel
                else:
                    expected_pos, expected_vel = moved, vel
                assert trajectory.positions[t, d, axis] == pytest.approx(expected_pos, abs=1e-12)
                assert trajectory.velocities[t, d, axis] == pytest.approx(expected_vel, abs=1e-12)
                assert trajectory.pixels[t, d, axis] == math.floor(expected_pos * free)
                pos, vel = expected_pos, expected_vel
        speeds = np.linalg.norm(trajectory.velocities[:, d], axis=-1)
        np.testing.assert_allclose(speeds, speed, rtol=1e-12)


def test_moving_digits_item_layout() -> None:
    data = MovingDigits(num_samples=5)
    inputs, targets = data[0]
    assert inputs.shape == (10, 1, 64, 64) and targets.shape == (10, 1, 64, 64)
    assert inputs.dtype == torch.float32 and targets.dtype == torch.float32
    assert float(inputs.min()) >= 0.0 and float(inputs.max()) <= 1.0
    assert float(inputs.max()) > 0.5 and len(data) == 5
    other = MovingDigits(num_samples=2, frames=7, input_frames=3, canvas_size=40)
    inputs, targets = other[1]
    assert inputs.shape == (3, 1, 40, 40) and targets.shape == (4, 1, 40, 40)


@pytest.mark.parametrize("speed", [0.1, 0.35])
def test_trajectories_bounce_inside_the_canvas(speed: float) -> None:
    data = MovingDigits(num_samples=20, speed=speed, num_digits=3)
    free = data.canvas_size - data.digit_size
    flips = 0
    for i in range(len(data)):
        trajectory = data.trajectory(i)
        assert trajectory.pixels.shape == (20, 3, 2)
        assert (trajectory.positions >= 0.0).all() and (trajectory.positions <= 1.0).all()
        assert (trajectory.pixels >= 0).all() and (trajectory.pixels <= free).all()
        replay(trajectory, speed, free)
        # a velocity component flips exactly when that coordinate sits on an edge
        flipped = np.sign(trajectory.velocities[1:]) != np.sign(trajectory.velocities[:-1])
        on_edge = (trajectory.positions[1:] == 0.0) | (trajectory.positions[1:] == 1.0)
        np.testing.assert_array_equal(flipped, on_edge)
        flips += int(flipped.sum())
    assert flips > 0


def test_bounce_function_first_frame_is_after_one_step() -> None:
    start = np.array([[0.5, 0.95]])
    out = bounce(start, np.array([[0.1, 0.1]]), steps=2, free=10)
    np.testing.assert_allclose(out.positions[0], [[0.6, 1.0]])
    np.testing.assert_allclose(out.velocities[0], [[0.1, -0.1]])
    np.testing.assert_allclose(out.positions[1], [[0.7, 0.9]])
    np.testing.assert_array_equal(out.pixels[1], [[7, 9]])


def render(digits: list[np.ndarray], pixels: np.ndarray, canvas: int) -> np.ndarray:
    """Paint each digit at its pixel position with elementwise max, the slow way."""
    frames = np.zeros((pixels.shape[0], canvas, canvas), dtype=np.float32)
    size = digits[0].shape[0]
    for t in range(pixels.shape[0]):
        for d, digit in enumerate(digits):
            top, left = pixels[t, d]
            for r in range(size):
                for c in range(size):
                    value = digit[r, c] / 255.0
                    frames[t, top + r, left + c] = max(frames[t, top + r, left + c], value)
    return frames


def test_frames_are_real_mnist_digits_at_the_trajectory() -> None:
    images, labels = mnist_file()
    data = MovingDigits(num_samples=4, mnist_root=MNIST, split="test", seed=5)
    for i in range(2):
        inputs, targets = data[i]
        indices = data.digit_indices(i)
        np.testing.assert_array_equal(data.labels(i), labels[indices])
        trajectory = data.trajectory(i)
        expected = render([images[k] for k in indices], trajectory.pixels, 64)
        got = torch.cat([inputs, targets])[:, 0].numpy()  # (T, H, W)
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_inputs_and_targets_are_one_continuous_sequence() -> None:
    data = MovingDigits(num_samples=3, mnist_root=MNIST, num_digits=1)
    images, _ = mnist_file()
    free = data.canvas_size - data.digit_size
    for i in range(3):
        inputs, targets = data[i]
        trajectory = data.trajectory(i)
        last_in = data.input_frames - 1
        # frame 10 sits one step past frame 9 (with the bounce rule), no gap, no repeat
        moved = trajectory.positions[last_in, 0] + trajectory.velocities[last_in, 0]
        top, left = (np.clip(moved, 0.0, 1.0) * free).astype(int)
        digit = images[data.digit_indices(i)[0]].astype(np.float32) / 255.0
        window = targets[0, 0, top : top + 28, left : left + 28].numpy()
        np.testing.assert_allclose(window, digit, atol=1e-6)
        top, left = trajectory.pixels[last_in, 0]
        window = inputs[-1, 0, top : top + 28, left : left + 28].numpy()
        np.testing.assert_allclose(window, digit, atol=1e-6)


def test_reproducible_by_seed() -> None:
    a = MovingDigits(num_samples=4, seed=1)
    b = MovingDigits(num_samples=4, seed=1)
    c = MovingDigits(num_samples=4, seed=2)
    x1, y1 = a[2]
    x2, y2 = a[2]
    x3, y3 = b[2]
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert torch.equal(x1, x3) and torch.equal(y1, y3)
    assert not torch.equal(x1, c[2][0])
    assert not torch.equal(x1, a[3][0])
    test = MovingDigits(num_samples=4, seed=1, split="test")
    assert not torch.equal(x1, test[2][0])


def test_train_and_test_digits_are_disjoint() -> None:
    train = MovingDigits(num_samples=300, mnist_root=MNIST, split="train")
    test = MovingDigits(num_samples=300, mnist_root=MNIST, split="test")
    used_train = {int(k) for i in range(300) for k in train.digit_indices(i)}
    used_test = {int(k) for i in range(300) for k in test.digit_indices(i)}
    assert used_train.isdisjoint(used_test)
    assert max(used_train) < 8000 <= min(used_test)
    assert len(used_train) > 400 and len(used_test) > 400  # many digits, not a few reused


def test_drawn_digits_vary_between_items() -> None:
    data = MovingDigits(num_samples=6, num_digits=1, digit_size=28)
    crops = []
    for i in range(6):
        top, left = data.trajectory(i).pixels[0, 0]
        crops.append(data[i][0][0, 0, top : top + 28, left : left + 28])
        assert float(crops[-1].sum()) > 10.0  # a digit is drawn there
    assert all(not torch.equal(crops[0], crop) for crop in crops[1:])
    with pytest.raises(ValueError, match="mnist_root"):
        data.digit_indices(0)


def test_dataloader_workers_see_the_same_items() -> None:
    data = MovingDigits(num_samples=4, canvas_size=32, digit_size=12, frames=4, input_frames=2)
    loader = DataLoader(data, batch_size=2, num_workers=2)
    batches = list(loader)
    assert batches[1][0].shape == (2, 2, 1, 32, 32)
    assert torch.equal(batches[1][0][1], data[3][0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_samples": 0}, "num_samples has to be at least 1"),
        ({"num_digits": 0}, "num_digits"),
        ({"canvas_size": 28}, "canvas_size has to be larger than digit_size"),
        ({"digit_size": 4}, "digit_size"),
        ({"speed": 0.0}, "speed has to be in"),
        ({"input_frames": 20}, "input_frames"),
        ({"input_frames": 0}, "input_frames"),
        ({"split": "val"}, "split has to be 'train' or 'test'"),
    ],
)
def test_moving_digits_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MovingDigits(**kwargs)


def test_out_of_range_index() -> None:
    with pytest.raises(IndexError):
        MovingDigits(num_samples=2)[2]
    with pytest.raises(IndexError):
        DigitClips(num_samples=2)[-1]


# --- DigitClips -------------------------------------------------------------------------------


def test_digit_clips_layout_and_digit_labels() -> None:
    _, labels = mnist_file()
    data = DigitClips(num_samples=30, mnist_root=MNIST, num_digits=2)
    assert data.num_classes == 10
    seen = set()
    for i in range(30):
        clip, label = data[i]
        assert clip.shape == (10, 1, 32, 32) and clip.dtype == torch.float32
        assert label.dtype == torch.int64 and label.shape == ()
        assert (labels[data.digit_indices(i)] == int(label)).all()
        seen.add(int(label))
    assert len(seen) >= 6


@pytest.mark.parametrize("directions", [4, 8])
def test_direction_labels_match_the_motion(directions: int) -> None:
    data = DigitClips(num_samples=40, label="direction", directions=directions)
    assert data.num_classes == directions
    sector = 360.0 / directions
    seen = set()
    for i in range(40):
        label = int(data[i][1])
        trajectory = data.trajectory(i)
        # no bounce, so the net motion shows the direction; rows grow downwards
        step = trajectory.positions[-1, 0] - trajectory.positions[0, 0]
        np.testing.assert_allclose(trajectory.velocities[0], trajectory.velocities[-1])
        angle = math.degrees(math.atan2(-step[0], step[1])) % 360.0
        offset = (angle - label * sector + 180.0) % 360.0 - 180.0
        assert abs(offset) <= sector / 4 + 1e-9
        pixels = trajectory.pixels[-1, 0] - trajectory.pixels[0, 0]
        pixel_angle = math.degrees(math.atan2(-pixels[0], pixels[1])) % 360.0
        assert round(pixel_angle / sector) % directions == label
        seen.add(label)
    assert seen == set(range(directions))


def visible_ink(data: DigitClips, i: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The digit's ink pixels and, per frame, which of them the clip shows unchanged."""
    clip = data[i][0][:, 0].numpy()
    digit = data.digit_images(i)[0]
    ink = digit > 0.3
    shown = []
    size = data.digit_size
    for t, (top, left) in enumerate(data.trajectory(i).pixels[:, 0]):
        window = clip[t, top : top + size, left : left + size]
        shown.append(ink & (np.abs(window - digit) < 1e-6))
    return ink, shown


@pytest.mark.parametrize("root", [MNIST, None])
def test_occlusion_hides_much_of_each_frame_but_the_clip_shows_all(root: Path | None) -> None:
    data = DigitClips(num_samples=40, mnist_root=root, seed=3)
    for i in range(40):
        ink, shown = visible_ink(data, i)
        for frame in shown:
            assert 1.0 - frame.sum() / ink.sum() >= 0.35  # every frame hides >= 35% of the ink
        assert (np.logical_or.reduce(shown) == ink).all()  # together the frames show all of it
        hidden = data.occlusion(i)
        clip = data[i][0][:, 0].numpy()
        np.testing.assert_allclose(clip[hidden], data.occluder_value)


def test_one_frame_is_not_enough_but_the_clip_is() -> None:
    """1-NN against real MNIST train digits: one frame's visible strip vs all frames together."""
    images, labels = mnist_file()
    reference = images[:8000].reshape(8000, -1).astype(np.float32)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)

    def classify(digits: list[np.ndarray]) -> np.ndarray:
        big = [Image.fromarray((d * 255).astype(np.uint8)).resize((28, 28)) for d in digits]
        queries = np.stack([np.asarray(b, dtype=np.float32).reshape(-1) for b in big])
        return np.asarray(labels[:8000][(queries @ reference.T).argmax(axis=1)])

    data = DigitClips(num_samples=40, mnist_root=MNIST, split="test", seed=7)
    truth, singles, wholes = [], [], []
    for i in range(40):
        truth.append(int(data[i][1]))
        digit = data.digit_images(i)[0]
        _, shown = visible_ink(data, i)
        views = [np.where(frame, digit, 0.0) for frame in shown]  # what one frame shows
        singles.extend(views)
        wholes.append(np.max(views, axis=0))  # what the clip shows
    whole = np.mean(classify(wholes) == np.array(truth))
    single = np.mean(classify(singles) == np.repeat(truth, data.frames))
    assert whole >= 0.85
    assert single <= whole - 0.3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label": "colour"}, "label has to be 'digit' or 'direction'"),
        ({"directions": 6}, "directions has to be 4 or 8"),
        ({"visible": 1.0}, "visible has to be in"),
        ({"occluder_value": 2.0}, "occluder_value"),
        ({"visible": 0.1, "frames": 8}, "frames has to be at least 10"),
        ({"label": "direction", "speed": 0.2}, "speed \\* frames has to be at most 1"),
        ({"canvas_size": 18}, "canvas_size"),
    ],
)
def test_digit_clips_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DigitClips(**kwargs)
