"""Moving MNIST, generated on the fly, and a clip classification task built on the same motion.

:class:`MovingDigits` follows the bouncing-digits generator of Srivastava et al. (2015),
"Unsupervised Learning of Video Representations using LSTMs": each digit's top-left corner is a
point in the unit square that stands for the free range ``canvas_size - digit_size`` along each
axis; it starts uniformly at random, moves along a uniformly random direction by ``speed`` (0.1
of the free range) per frame, and bounces: a coordinate that reaches 0 or 1 is clamped there and
that velocity component flips. As in the reference, the first frame is the position after the
first step, and pixel positions are the unit positions times the free range, truncated. Digits
overlap by elementwise maximum.

:class:`DigitClips` moves one digit (or a few) the same way and asks for a label that no single
frame shows: the class of the digit, hidden behind occluders that leave only a narrow strip of it
visible in each frame, or the direction of motion.

Item ``i`` of either dataset is drawn from ``numpy.random.default_rng([seed, split, i])``: the
datasets are reproducible, store nothing, and are safe to use from ``DataLoader`` workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from cnnlstm.data.mnist import MnistDigits, load_mnist, render_digits
from cnnlstm.extras import importing

with importing("drawing digits (cnnlstm.data.moving_digits)", "train"):
    from PIL import Image

__all__ = ["SPLIT_STREAM", "DigitClips", "DigitSource", "MovingDigits", "Trajectory", "bounce"]

Split = Literal["train", "test"]
SPLIT_STREAM = {"train": 0, "test": 1}


class Trajectory(NamedTuple):
    """Where each digit is in each frame. Coordinates are ``(row, col)``."""

    positions: np.ndarray
    """``(T, D, 2)`` float64 in [0, 1]: the top-left corner as a fraction of the free range."""
    velocities: np.ndarray
    """``(T, D, 2)`` float64: the velocity after frame ``t``'s step and bounce, per frame."""
    pixels: np.ndarray
    """``(T, D, 2)`` int64: the top-left pixel of each digit, ``positions * free`` truncated."""


def bounce(start: np.ndarray, velocity: np.ndarray, *, steps: int, free: int) -> Trajectory:
    """Move points in the unit square by ``velocity`` per step, bouncing off the edges.

    After each step a coordinate at or beyond 0 (or 1) is clamped to 0 (or 1) and that velocity
    component flips sign. The first recorded position is the one after the first step.

    Args:
        start: ``(D, 2)`` starting positions in [0, 1], ``(row, col)``.
        velocity: ``(D, 2)`` velocities in units of the free range per step.
        steps: ``T``, the number of frames to record.
        free: the free range in pixels (``canvas_size - digit_size``), to compute ``pixels``.

    Returns:
        The :class:`Trajectory` with arrays of shape ``(T, D, 2)``.

    Example:
        >>> bounce(np.full((2, 2), 0.5), np.full((2, 2), 0.1), steps=20, free=36).pixels.shape
        (20, 2, 2)
    """
    pos = np.asarray(start, dtype=np.float64).copy()
    vel = np.asarray(velocity, dtype=np.float64).copy()
    positions = np.empty((steps, *pos.shape), dtype=np.float64)
    velocities = np.empty_like(positions)
    for t in range(steps):
        pos = pos + vel
        low, high = pos <= 0.0, pos >= 1.0
        pos = np.where(low, 0.0, np.where(high, 1.0, pos))
        vel = np.where(low | high, -vel, vel)
        positions[t], velocities[t] = pos, vel
    pixels = (positions * free).astype(np.int64)  # truncation, as the reference generator does
    return Trajectory(positions=positions, velocities=velocities, pixels=pixels)


def _check_common(
    *, num_samples: int, num_digits: int, canvas_size: int, digit_size: int, speed: float
) -> None:
    if num_samples < 1:
        raise ValueError(f"num_samples has to be at least 1, but got {num_samples}")
    if num_digits < 1:
        raise ValueError(f"num_digits has to be at least 1, but got {num_digits}")
    if digit_size < 8:
        raise ValueError(f"digit_size has to be at least 8, but got {digit_size}")
    if canvas_size <= digit_size:
        raise ValueError(
            f"canvas_size has to be larger than digit_size={digit_size}, but got {canvas_size}"
        )
    if not 0.0 < speed <= 1.0:
        raise ValueError(
            f"speed has to be in (0, 1] (a fraction of the free range per frame), but got {speed}"
        )


class DigitSource:
    """Where digit images come from: MNIST files under ``root``, or drawn per item."""

    def __init__(self, root: str | Path | None, split: Split, size: int) -> None:
        if split not in SPLIT_STREAM:
            raise ValueError(f"split has to be 'train' or 'test', but got {split!r}")
        self.size = size
        self.mnist: MnistDigits | None = None if root is None else load_mnist(root, split)
        self.by_class: list[np.ndarray] = []
        if self.mnist is not None:
            self.by_class = [np.flatnonzero(self.mnist.labels == c) for c in range(10)]

    def pick(
        self, rng: np.random.Generator, count: int, digit: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, rows)``: classes and, for MNIST, rows of the split (-1 when drawn)."""
        if self.mnist is None:
            labels = np.full(count, digit) if digit is not None else rng.integers(0, 10, count)
            return labels.astype(np.int64), np.full(count, -1, dtype=np.int64)
        pool = self.by_class[digit] if digit is not None else None
        rows = (
            rng.choice(pool, size=count)
            if pool is not None
            else rng.integers(0, len(self.mnist.labels), count)
        )
        return self.mnist.labels[rows].astype(np.int64), rows.astype(np.int64)

    def images(self, rng: np.random.Generator, labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``(D, size, size)`` float32 in [0, 1]; drawn with ``rng`` when there is no MNIST."""
        if self.mnist is None:
            drawn = render_digits(labels, rng=rng, size=self.size)
            return drawn.astype(np.float32) / 255.0
        out = np.empty((len(rows), self.size, self.size), dtype=np.float32)
        for k, row in enumerate(rows):
            image = self.mnist.images[row]
            if self.size != image.shape[0]:
                resized = Image.fromarray(image).resize(
                    (self.size, self.size), Image.Resampling.BILINEAR
                )
                image = np.asarray(resized)
            out[k] = image.astype(np.float32) / 255.0
        return out

    def file_indices(self, rows: np.ndarray) -> np.ndarray:
        if self.mnist is None:
            raise ValueError(
                "digit_indices needs MNIST files: pass mnist_root to draw digits from them"
            )
        return np.asarray(self.mnist.indices[rows], dtype=np.int64)


def _paste(frames: np.ndarray, digits: np.ndarray, pixels: np.ndarray) -> None:
    """Overlay ``digits`` (D, s, s) at ``pixels`` (T, D, 2) into ``frames`` (T, H, W) by maximum."""
    size = digits.shape[-1]
    for t in range(frames.shape[0]):
        for d in range(digits.shape[0]):
            top, left = int(pixels[t, d, 0]), int(pixels[t, d, 1])
            window = frames[t, top : top + size, left : left + size]
            np.maximum(window, digits[d], out=window)


class MovingDigits(Dataset[tuple[Tensor, Tensor]]):
    """Moving MNIST: digits bouncing in a canvas; predict the next frames from the first ones.

    Each item is a fresh sequence generated from ``(seed, split, index)``. With ``mnist_root``
    the digits are MNIST images of the chosen split (see :func:`~cnnlstm.data.mnist.load_mnist`:
    with only the ``t10k`` files, digits 0-7999 are ``"train"`` and 8000-9999 ``"test"``, so the
    splits share no image); without it each digit is drawn at run time with Pillow's font and a
    random jitter (:func:`~cnnlstm.data.mnist.render_digits`).

    Args:
        num_samples: the length of the dataset.
        num_digits: digits per sequence.
        canvas_size: the side of the square frame in pixels.
        digit_size: the side of each digit in pixels (MNIST digits are resized when not 28).
        frames: frames per sequence, inputs and targets together.
        input_frames: how many of them are inputs; the rest are targets.
        speed: the step per frame as a fraction of the free range ``canvas_size - digit_size``.
        seed: the seed every item is derived from.
        mnist_root: a folder with MNIST IDX files, or ``None`` to draw digits.
        split: ``"train"`` or ``"test"``; picks the MNIST digits and the random stream.

    Raises:
        ValueError: for sizes, counts or a speed out of range, or an unknown split.
        DataError: when ``mnist_root`` lacks readable MNIST files.

    Example:
        >>> inputs, targets = MovingDigits(num_samples=4)[0]
        >>> inputs.shape, targets.shape
        (torch.Size([10, 1, 64, 64]), torch.Size([10, 1, 64, 64]))
    """

    def __init__(
        self,
        *,
        num_samples: int = 10000,
        num_digits: int = 2,
        canvas_size: int = 64,
        digit_size: int = 28,
        frames: int = 20,
        input_frames: int = 10,
        speed: float = 0.1,
        seed: int = 0,
        mnist_root: str | Path | None = None,
        split: Split = "train",
    ) -> None:
        super().__init__()
        _check_common(
            num_samples=num_samples,
            num_digits=num_digits,
            canvas_size=canvas_size,
            digit_size=digit_size,
            speed=speed,
        )
        if not 1 <= input_frames < frames:
            raise ValueError(
                f"input_frames has to be in [1, frames={frames}), leaving at least one target "
                f"frame, but got {input_frames}"
            )
        self.num_samples = num_samples
        self.num_digits = num_digits
        self.canvas_size = canvas_size
        self.digit_size = digit_size
        self.frames = frames
        self.input_frames = input_frames
        self.speed = speed
        self.seed = seed
        self.split: Split = split
        self._digits = DigitSource(mnist_root, split, digit_size)

    def __len__(self) -> int:
        return self.num_samples

    def _rng(self, index: int) -> np.random.Generator:
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} is out of range for {self.num_samples} samples")
        return np.random.default_rng([self.seed, SPLIT_STREAM[self.split], index])

    def _plan(self, index: int) -> tuple[np.random.Generator, np.ndarray, np.ndarray, Trajectory]:
        """Draw digits and motion for item ``index``; the generator is left for the rendering."""
        rng = self._rng(index)
        labels, rows = self._digits.pick(rng, self.num_digits)
        start = rng.random((self.num_digits, 2))
        theta = rng.random(self.num_digits) * 2.0 * math.pi
        velocity = self.speed * np.stack([np.sin(theta), np.cos(theta)], axis=1)  # (D, 2)
        free = self.canvas_size - self.digit_size
        trajectory = bounce(start, velocity, steps=self.frames, free=free)
        return rng, labels, rows, trajectory

    def trajectory(self, index: int) -> Trajectory:
        """The positions and velocities of each digit in each frame of item ``index``.

        Example:
            >>> MovingDigits(num_samples=2).trajectory(0).pixels.shape
            (20, 2, 2)
        """
        return self._plan(index)[3]

    def labels(self, index: int) -> np.ndarray:
        """``(D,)`` int64: the class of each digit in item ``index``."""
        return self._plan(index)[1]

    def digit_indices(self, index: int) -> np.ndarray:
        """``(D,)`` int64: the index in the MNIST images file of each digit of item ``index``.

        Raises:
            ValueError: when the digits are drawn (no ``mnist_root``).
        """
        return self._digits.file_indices(self._plan(index)[2])

    def sequence(self, index: int) -> np.ndarray:
        """``(T, H, W)`` float32: all frames of item ``index``, inputs then targets."""
        rng, labels, rows, trajectory = self._plan(index)
        digits = self._digits.images(rng, labels, rows)  # (D, s, s)
        frames = np.zeros((self.frames, self.canvas_size, self.canvas_size), dtype=np.float32)
        _paste(frames, digits, trajectory.pixels)
        return frames

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        """``(inputs (T_in, 1, H, W), targets (T_out, 1, H, W))``, float32 in [0, 1]."""
        frames = torch.from_numpy(self.sequence(index)).unsqueeze(1)  # (T, 1, H, W)
        return frames[: self.input_frames], frames[self.input_frames :]

    def __repr__(self) -> str:
        return (
            f"MovingDigits(num_samples={self.num_samples}, num_digits={self.num_digits}, "
            f"canvas_size={self.canvas_size}, digit_size={self.digit_size}, frames={self.frames}, "
            f"input_frames={self.input_frames}, speed={self.speed}, seed={self.seed}, "
            f"split={self.split!r}, digits={'drawn' if self._digits.mnist is None else 'mnist'})"
        )


@dataclass
class _Clip:
    label: int
    labels: np.ndarray  # (D,)
    rows: np.ndarray  # (D,)
    trajectory: Trajectory
    digits: np.ndarray  # (D, s, s)
    hidden: np.ndarray  # (T, H, W) bool
    frames: np.ndarray  # (T, H, W) float32


class DigitClips(Dataset[tuple[Tensor, Tensor]]):
    """Clip classification that needs the sequence: occluded moving digits, labelled by class or
    by direction.

    Each frame shows a digit (or ``num_digits`` digits) moving as in :class:`MovingDigits`, but
    an occluder painted with ``occluder_value`` covers the digit's box except for one strip of
    rows or columns holding a ``visible`` share of the digit's ink; the strip changes every
    frame. So one frame shows about a third of the digit, while the strips of the whole clip
    together show all of it: in each clip ``ceil(1 / visible)`` frames have strips that tile the
    digit along one axis. (With several digits, one digit's occluder may also cover another.)

    Labels:

    - ``label="digit"``: the digit's class (10 classes). With ``num_digits > 1`` all digits of a
      clip have that class. The digits bounce off the edges.
    - ``label="direction"``: the direction of motion quantized to ``directions`` (4 or 8)
      classes, counter-clockwise from 0 = rightwards (1 = up for 4 classes, up-right for 8). The
      angle is the class centre with a jitter of at most a quarter of a class's sector, and the
      start is chosen so that the digits cross the canvas without bouncing. With
      ``num_digits > 1`` all digits move together.

    Args:
        num_samples: the length of the dataset.
        label: ``"digit"`` or ``"direction"``.
        directions: 4 or 8, the number of direction classes.
        num_digits: digits per clip.
        canvas_size: the side of the square frame in pixels.
        digit_size: the side of each digit in pixels.
        frames: ``T``, frames per clip.
        speed: the step per frame as a fraction of the free range ``canvas_size - digit_size``;
            for ``label="direction"`` ``speed * frames`` has to be at most 1.
        visible: the share of a digit's ink left visible in one frame, in (0, 1).
        occluder_value: the intensity the occluders are painted with, in [0, 1].
        seed: the seed every item is derived from.
        mnist_root: a folder with MNIST IDX files, or ``None`` to draw digits.
        split: ``"train"`` or ``"test"``; picks the MNIST digits and the random stream.

    Raises:
        ValueError: for an unknown label or split, or sizes, counts, speed or visibility out of
            range.

    Example:
        >>> clip, label = DigitClips(num_samples=4)[0]
        >>> clip.shape
        torch.Size([10, 1, 32, 32])
    """

    def __init__(
        self,
        *,
        num_samples: int = 2000,
        label: Literal["digit", "direction"] = "digit",
        directions: int = 4,
        num_digits: int = 1,
        canvas_size: int = 32,
        digit_size: int = 18,
        frames: int = 10,
        speed: float = 0.08,
        visible: float = 0.35,
        occluder_value: float = 0.5,
        seed: int = 0,
        mnist_root: str | Path | None = None,
        split: Split = "train",
    ) -> None:
        super().__init__()
        _check_common(
            num_samples=num_samples,
            num_digits=num_digits,
            canvas_size=canvas_size,
            digit_size=digit_size,
            speed=speed,
        )
        if label not in ("digit", "direction"):
            raise ValueError(f"label has to be 'digit' or 'direction', but got {label!r}")
        if directions not in (4, 8):
            raise ValueError(f"directions has to be 4 or 8, but got {directions}")
        if not 0.0 < visible < 1.0:
            raise ValueError(f"visible has to be in (0, 1), but got {visible}")
        if not 0.0 <= occluder_value <= 1.0:
            raise ValueError(f"occluder_value has to be in [0, 1], but got {occluder_value}")
        strips = math.ceil(1.0 / visible - 1e-9)
        if frames < max(2, strips):
            raise ValueError(
                f"frames has to be at least {max(2, strips)} so that the visible strips of a "
                f"clip (visible={visible}) cover the digit, but got {frames}"
            )
        if label == "direction" and speed * frames > 1.0:
            raise ValueError(
                f"speed * frames has to be at most 1 for label='direction' (the digits cross the "
                f"canvas without bouncing), but got {speed} * {frames} = {speed * frames:g}"
            )
        self.num_samples = num_samples
        self.label: Literal["digit", "direction"] = label
        self.directions = directions
        self.num_digits = num_digits
        self.canvas_size = canvas_size
        self.digit_size = digit_size
        self.frames = frames
        self.speed = speed
        self.visible = visible
        self.occluder_value = occluder_value
        self.seed = seed
        self.split: Split = split
        self.num_classes = 10 if label == "digit" else directions
        self._strips = strips
        self._digits = DigitSource(mnist_root, split, digit_size)

    def __len__(self) -> int:
        return self.num_samples

    def _motion(self, rng: np.random.Generator, label: int) -> Trajectory:
        count, steps = self.num_digits, self.frames
        free = self.canvas_size - self.digit_size
        if self.label == "digit":
            start = rng.random((count, 2))
            theta = rng.random(count) * 2.0 * math.pi
            velocity = self.speed * np.stack([np.sin(theta), np.cos(theta)], axis=1)  # (D, 2)
            return bounce(start, velocity, steps=steps, free=free)
        sector = 2.0 * math.pi / self.directions
        angle = label * sector + rng.uniform(-0.25, 0.25) * sector
        # rows grow downwards, so moving "up" (angle pi/2) decreases the row
        step = self.speed * np.array([-math.sin(angle), math.cos(angle)])  # (2,)
        lowest = np.maximum(0.0, -step * steps)  # every position start + k * step, k = 1..T,
        highest = np.minimum(1.0, 1.0 - step * steps)  # stays inside [0, 1]: no bounce
        start = lowest + rng.random((count, 2)) * (highest - lowest)  # (D, 2)
        return bounce(start, np.tile(step, (count, 1)), steps=steps, free=free)

    def _strip_plan(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Per digit and frame: the axis of the visible strip (0 rows, 1 columns) and its start
        as a quantile of the ink; ``ceil(1 / visible)`` frames tile the digit along one axis."""
        count, steps, v = self.num_digits, self.frames, self.visible
        axes = rng.integers(0, 2, (count, steps))
        starts = rng.uniform(0.0, 1.0 - v, (count, steps))
        tiling = np.linspace(0.0, 1.0 - v, self._strips)
        for d in range(count):
            chosen = rng.choice(steps, size=self._strips, replace=False)
            axes[d, chosen] = rng.integers(0, 2)
            starts[d, chosen] = tiling
        return axes, starts

    def _make(self, index: int) -> _Clip:
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} is out of range for {self.num_samples} samples")
        rng = np.random.default_rng([self.seed, SPLIT_STREAM[self.split], index])
        label = int(rng.integers(0, self.num_classes))
        digit = label if self.label == "digit" else None
        labels, rows = self._digits.pick(rng, self.num_digits, digit)
        trajectory = self._motion(rng, label)
        axes, starts = self._strip_plan(rng)
        digits = self._digits.images(rng, labels, rows)  # (D, s, s)

        size, steps = self.digit_size, self.frames
        frames = np.zeros((steps, self.canvas_size, self.canvas_size), dtype=np.float32)
        _paste(frames, digits, trajectory.pixels)
        hidden = np.zeros(frames.shape, dtype=bool)
        for d in range(self.num_digits):
            # the ink share of each row / column, and the middle of its interval of the ink CDF
            mids = []
            for axis in (0, 1):
                mass = digits[d].sum(axis=1 - axis).astype(np.float64)  # (s,)
                cdf = np.cumsum(mass) / max(mass.sum(), 1e-12)
                mids.append(cdf - mass / max(mass.sum(), 1e-12) / 2.0)
            for t in range(steps):
                axis = int(axes[d, t])
                keep = (mids[axis] >= starts[d, t]) & (mids[axis] <= starts[d, t] + self.visible)
                box = np.ones((size, size), dtype=bool)
                if axis == 0:
                    box[keep, :] = False
                else:
                    box[:, keep] = False
                top, left = int(trajectory.pixels[t, d, 0]), int(trajectory.pixels[t, d, 1])
                hidden[t, top : top + size, left : left + size] |= box
        frames[hidden] = self.occluder_value
        return _Clip(label, labels, rows, trajectory, digits, hidden, frames)

    def trajectory(self, index: int) -> Trajectory:
        """The positions and velocities of each digit in each frame of item ``index``."""
        return self._make(index).trajectory

    def digit_images(self, index: int) -> np.ndarray:
        """``(D, s, s)`` float32: the digits of item ``index`` before occlusion."""
        return self._make(index).digits

    def occlusion(self, index: int) -> np.ndarray:
        """``(T, H, W)`` bool: the pixels the occluders cover in each frame of item ``index``."""
        return self._make(index).hidden

    def digit_labels(self, index: int) -> np.ndarray:
        """``(D,)`` int64: the class of each digit of item ``index`` (whatever ``label`` is)."""
        return self._make(index).labels

    def digit_indices(self, index: int) -> np.ndarray:
        """``(D,)`` int64: the index in the MNIST images file of each digit of item ``index``.

        Raises:
            ValueError: when the digits are drawn (no ``mnist_root``).
        """
        return self._digits.file_indices(self._make(index).rows)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        """``(clip (T, 1, H, W) float32 in [0, 1], label () int64)``."""
        clip = self._make(index)
        frames = torch.from_numpy(clip.frames).unsqueeze(1)  # (T, 1, H, W)
        return frames, torch.tensor(clip.label, dtype=torch.int64)

    def __repr__(self) -> str:
        return (
            f"DigitClips(num_samples={self.num_samples}, label={self.label!r}, "
            f"num_classes={self.num_classes}, num_digits={self.num_digits}, "
            f"canvas_size={self.canvas_size}, digit_size={self.digit_size}, "
            f"frames={self.frames}, visible={self.visible}, seed={self.seed}, "
            f"split={self.split!r}, digits={'drawn' if self._digits.mnist is None else 'mnist'})"
        )
