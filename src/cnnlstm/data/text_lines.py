"""Images of short text lines, drawn on the fly, for CTC text recognition.

Each item is a random string from an alphabet rendered with the font that Pillow ships
(``ImageFont.load_default(size=...)``, a scalable FreeType font in Pillow >= 10.1) with a random
font size, a small rotation, shear and scale, a random place in the image, blur and noise. The
line is shrunk when it would not fit, so the text is never clipped. Ink is bright (1) on a dark
(0) background, as in the digit generators.

Targets use CTC's convention (:mod:`cnnlstm.alphabet`): class 0 is the blank, character
``alphabet[k]`` is class ``k + 1``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from torch import Tensor
from torch.utils.data import Dataset

from cnnlstm.alphabet import DEFAULT_ALPHABET, check_alphabet, decode_classes, encode_text

__all__ = ["TextLines"]


def _font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled scalable font at ``size`` pixels (needs Pillow >= 10.1 with FreeType)."""
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise RuntimeError(
            "TextLines needs Pillow built with FreeType (Pillow >= 10.1 with "
            "features.check('freetype2') true); install the Pillow wheel from PyPI."
        )
    return font


class TextLines(Dataset[tuple[Tensor, Tensor]]):
    """Rendered strings with the string as the target, for a CNN -> columns -> LSTM -> CTC model.

    Item ``i`` is drawn from ``numpy.random.default_rng([seed, i])``: reproducible, nothing
    stored, safe in ``DataLoader`` workers. Use :meth:`collate` as the ``DataLoader``'s
    ``collate_fn`` to get the flat targets ``torch.nn.functional.ctc_loss`` takes.

    Args:
        num_samples: the length of the dataset.
        height: image height in pixels.
        width: image width in pixels.
        alphabet: the characters strings are drawn from, without repeats.
        min_length: the fewest characters in a string.
        max_length: the most characters in a string.
        font_size: ``(low, high)`` font sizes in pixels, drawn uniformly; a line that does not
            fit is shrunk.
        rotation: the largest rotation in degrees, either way.
        shear: the largest horizontal shear (x shift per unit of y), either way.
        scale: ``(low, high)`` range of an extra scale factor.
        blur: the largest Gaussian blur radius in pixels (0 for none).
        noise: the largest standard deviation of the added Gaussian noise (0 for none).
        seed: the seed every item is derived from.

    Raises:
        ValueError: for an empty or repeating alphabet, lengths, sizes or jitter out of range.

    Example:
        >>> data = TextLines(num_samples=8)
        >>> image, target = data[0]
        >>> data.decode(target) == data.text(0)
        True
        >>> image.shape
        torch.Size([1, 32, 128])
    """

    def __init__(
        self,
        *,
        num_samples: int = 10000,
        height: int = 32,
        width: int = 128,
        alphabet: str = DEFAULT_ALPHABET,
        min_length: int = 3,
        max_length: int = 10,
        font_size: tuple[int, int] = (16, 24),
        rotation: float = 3.0,
        shear: float = 0.2,
        scale: tuple[float, float] = (0.85, 1.0),
        blur: float = 0.8,
        noise: float = 0.08,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if num_samples < 1:
            raise ValueError(f"num_samples has to be at least 1, but got {num_samples}")
        if height < 8 or width < 8:
            raise ValueError(
                f"height and width have to be at least 8, but got height={height}, width={width}"
            )
        check_alphabet(alphabet)
        if not 1 <= min_length <= max_length:
            raise ValueError(
                f"min_length and max_length have to satisfy 1 <= min_length <= max_length, but "
                f"got min_length={min_length}, max_length={max_length}"
            )
        if not 4 <= font_size[0] <= font_size[1]:
            raise ValueError(
                f"font_size has to be (low, high) with 4 <= low <= high, but got {font_size}"
            )
        if not 0.0 < scale[0] <= scale[1]:
            raise ValueError(f"scale has to be (low, high) with 0 < low <= high, but got {scale}")
        if rotation < 0 or shear < 0 or blur < 0 or noise < 0:
            raise ValueError(
                f"rotation, shear, blur and noise have to be >= 0, but got rotation={rotation}, "
                f"shear={shear}, blur={blur}, noise={noise}"
            )
        self.margin = 1 + math.ceil(2.0 * blur)
        if height <= 2 * self.margin + 2 or width <= 2 * self.margin + 2:
            raise ValueError(
                f"height and width have to exceed 2 * margin + 2 = {2 * self.margin + 2} "
                f"(margin 1 + ceil(2 * blur) keeps blurred ink inside), but got height={height}, "
                f"width={width}"
            )
        self.num_samples = num_samples
        self.height = height
        self.width = width
        self.alphabet = alphabet
        self.num_classes = len(alphabet) + 1
        self.min_length = min_length
        self.max_length = max_length
        self.font_size = (int(font_size[0]), int(font_size[1]))
        self.rotation = rotation
        self.shear = shear
        self.scale = (float(scale[0]), float(scale[1]))
        self.blur = blur
        self.noise = noise
        self.seed = seed

    def __len__(self) -> int:
        return self.num_samples

    def encode(self, text: str) -> Tensor:
        """The class indices of ``text``: ``alphabet[k]`` is ``k + 1`` (0 is the CTC blank).

        Raises:
            ValueError: for a character outside the alphabet.

        Example:
            >>> TextLines(num_samples=1).encode("a0")
            tensor([11,  1])
        """
        return encode_text(text, self.alphabet)

    def decode(self, indices: Tensor | Sequence[int], *, ctc: bool = False) -> str:
        """The string of class ``indices``: the inverse of :meth:`encode`. Blanks (0) are dropped.

        Args:
            indices: ``(L,)`` class indices.
            ctc: collapse repeated indices before dropping blanks, as greedy CTC decoding does
                on a model's per-step argmax.

        Raises:
            ValueError: for an index outside ``[0, num_classes)``.

        Example:
            >>> TextLines(num_samples=1).decode([11, 11, 0, 11, 1], ctc=True)
            'aa0'
        """
        return decode_classes(indices, self.alphabet, ctc=ctc)

    def _rng(self, index: int) -> np.random.Generator:
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} is out of range for {self.num_samples} samples")
        return np.random.default_rng([self.seed, index])

    def _draw_text(self, rng: np.random.Generator) -> str:
        length = int(rng.integers(self.min_length, self.max_length + 1))
        picks = rng.integers(0, len(self.alphabet), length)
        return "".join(self.alphabet[k] for k in picks)

    def text(self, index: int) -> str:
        """The string shown by item ``index``.

        Example:
            >>> len(TextLines(num_samples=2, min_length=4, max_length=4).text(1))
            4
        """
        return self._draw_text(self._rng(index))

    def _render(self, text: str, rng: np.random.Generator) -> np.ndarray:
        """``(H, W)`` float32 in [0, 1]: ``text`` drawn with jitter, fitted, blurred, noisy."""
        font = _font(int(rng.integers(self.font_size[0], self.font_size[1] + 1)))
        left, top, right, bottom = (int(v) for v in font.getbbox(text))
        pad = 4 + (bottom - top) // 2
        line = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
        ImageDraw.Draw(line).text((pad - left, pad - top), text, fill=255, font=font)

        angle = math.radians(rng.uniform(-self.rotation, self.rotation))
        shear = rng.uniform(-self.shear, self.shear)
        factor = rng.uniform(*self.scale)
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        matrix = factor * rot @ np.array([[1.0, shear], [0.0, 1.0]])  # (x, y) -> (x', y')
        line = _affine_expand(line, matrix)

        bbox = line.getbbox()
        out = Image.new("L", (self.width, self.height), 0)
        if bbox is not None:  # a string of spaces has no ink
            ink = line.crop(bbox)
            room_w = self.width - 2 * self.margin
            room_h = self.height - 2 * self.margin
            shrink = min(1.0, room_w / ink.width, room_h / ink.height)
            if shrink < 1.0:
                size = (max(1, int(ink.width * shrink)), max(1, int(ink.height * shrink)))
                ink = ink.resize(size, Image.Resampling.LANCZOS)
            x = int(rng.integers(self.margin, self.width - self.margin - ink.width + 1))
            y = int(rng.integers(self.margin, self.height - self.margin - ink.height + 1))
            out.paste(ink, (x, y))
        radius = rng.uniform(0.0, self.blur)
        if radius > 0.0:
            out = out.filter(ImageFilter.GaussianBlur(radius))
        image = np.asarray(out, dtype=np.float32) / 255.0
        sigma = rng.uniform(0.0, self.noise)
        if sigma > 0.0:
            image = image + rng.normal(0.0, sigma, image.shape).astype(np.float32)
        return np.asarray(np.clip(image, 0.0, 1.0), dtype=np.float32)

    def image(self, index: int) -> np.ndarray:
        """``(H, W)`` float32 in [0, 1]: the image of item ``index``."""
        rng = self._rng(index)
        return self._render(self._draw_text(rng), rng)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        """``(image (1, H, W) float32 in [0, 1], target (L,) int64 in [1, num_classes))``."""
        rng = self._rng(index)
        text = self._draw_text(rng)
        image = torch.from_numpy(self._render(text, rng)).unsqueeze(0)  # (1, H, W)
        return image, self.encode(text)

    @staticmethod
    def collate(batch: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor, Tensor]:
        """Batch items for CTC: stacked images and the targets concatenated with their lengths.

        Returns:
            ``(images (B, 1, H, W), targets (sum of lengths,), target_lengths (B,))``, the
            layout ``torch.nn.functional.ctc_loss`` takes.

        Example:
            >>> data = TextLines(num_samples=4)
            >>> images, targets, lengths = TextLines.collate([data[0], data[1]])
            >>> images.shape
            torch.Size([2, 1, 32, 128])
        """
        images = torch.stack([image for image, _ in batch])  # (B, 1, H, W)
        targets = torch.cat([target for _, target in batch])  # (sum of lengths,)
        lengths = torch.tensor([len(target) for _, target in batch], dtype=torch.int64)  # (B,)
        return images, targets, lengths

    def __repr__(self) -> str:
        return (
            f"TextLines(num_samples={self.num_samples}, height={self.height}, "
            f"width={self.width}, alphabet={self.alphabet!r}, min_length={self.min_length}, "
            f"max_length={self.max_length}, seed={self.seed})"
        )


def _affine_expand(image: Image.Image, matrix: np.ndarray) -> Image.Image:
    """Apply the 2x2 ``matrix`` (x right, y down) about the centre, growing the canvas to fit."""
    w, h = image.size
    corners = np.array([[-w, -h], [w, -h], [-w, h], [w, h]], dtype=np.float64) / 2.0  # (4, 2)
    moved = corners @ matrix.T
    new_w = math.ceil(moved[:, 0].max() - moved[:, 0].min()) + 2
    new_h = math.ceil(moved[:, 1].max() - moved[:, 1].min()) + 2
    inv = np.linalg.inv(matrix)
    # output pixel (x, y) -> input inv @ ((x, y) - new centre) + old centre
    a, b, d, e = inv[0, 0], inv[0, 1], inv[1, 0], inv[1, 1]
    c = w / 2 - a * new_w / 2 - b * new_h / 2
    f = h / 2 - d * new_w / 2 - e * new_h / 2
    return image.transform(
        (new_w, new_h),
        Image.Transform.AFFINE,
        (a, b, c, d, e, f),
        resample=Image.Resampling.BICUBIC,
    )
