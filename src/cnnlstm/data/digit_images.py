"""Single digit images for image classifiers that read an image as a sequence.

:class:`DigitImages` is the data of ``image_sequence_classifier`` with nothing to download: MNIST
digits when the user has the IDX files, otherwise digits drawn at run time with Pillow's font and
a random jitter (:func:`~cnnlstm.data.mnist.render_digits`).

Item ``i`` is drawn from ``numpy.random.default_rng([seed, split, start + i])``: the dataset is
reproducible, stores nothing but the MNIST arrays, and is safe to use from ``DataLoader`` workers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from cnnlstm.data.moving_digits import SPLIT_STREAM, DigitSource, Split

__all__ = ["DigitImages"]


class DigitImages(Dataset[tuple[Tensor, Tensor]]):
    """One digit per image, labelled 0-9: MNIST digits, or digits drawn with a random jitter.

    With ``mnist_root`` the items are the digits of the chosen split (see
    :func:`~cnnlstm.data.mnist.load_mnist`: with only the ``t10k`` files, digits 0-7999 are
    ``"train"`` and 8000-9999 ``"test"``, so the splits share no image), each used at most once,
    in an order shuffled by ``seed``: item ``i`` is the split's digit ``order[start + i]``.
    Without it each item's label is drawn uniformly from 0-9 and the digit is drawn with Pillow's
    font, a random size, stroke, rotation, shear and squeeze, and normalized like MNIST; the
    split then only picks the random stream.

    ``start`` shifts the items along the split, so that datasets of one split with the same seed
    and disjoint ranges ``[start, start + num_samples)`` share no item (this is how
    :class:`~cnnlstm.data.DigitImagesDataModule` keeps validation apart from
    training).

    Args:
        num_samples: the length of the dataset.
        image_size: the side of the square image in pixels, at least 8 (MNIST digits are resized
            when it is not 28).
        mnist_root: a folder with MNIST IDX files, or ``None`` to draw digits.
        split: ``"train"`` or ``"test"``; picks the MNIST digits and the random stream.
        seed: the seed every item (and the order of MNIST digits) is derived from.
        noise: the standard deviation of Gaussian noise added to each pixel (the result is
            clipped to [0, 1]); 0 for none.
        start: the position of item 0 in the split's stream.

    Raises:
        ValueError: for sizes, counts or noise out of range, an unknown split, or more MNIST
            digits asked for than the split holds.
        DataError: when ``mnist_root`` lacks readable MNIST files.

    Example:
        >>> image, label = DigitImages(num_samples=4)[0]
        >>> image.shape
        torch.Size([1, 28, 28])
    """

    def __init__(
        self,
        *,
        num_samples: int = 10000,
        image_size: int = 28,
        mnist_root: str | Path | None = None,
        split: Split = "train",
        seed: int = 0,
        noise: float = 0.0,
        start: int = 0,
    ) -> None:
        super().__init__()
        if num_samples < 1:
            raise ValueError(f"num_samples has to be at least 1, but got {num_samples}")
        if image_size < 8:
            raise ValueError(f"image_size has to be at least 8, but got {image_size}")
        if noise < 0:
            raise ValueError(f"noise has to be >= 0, but got {noise}")
        if start < 0:
            raise ValueError(f"start has to be >= 0, but got {start}")
        self.num_samples = num_samples
        self.image_size = image_size
        self.split: Split = split
        self.seed = seed
        self.noise = noise
        self.start = start
        self.num_classes = 10
        self._digits = DigitSource(mnist_root, split, image_size)  # checks the split
        self._order: np.ndarray | None = None
        mnist = self._digits.mnist
        if mnist is not None:
            available = len(mnist.labels)
            if start + num_samples > available:
                raise ValueError(
                    f"start + num_samples has to be at most {available} (the digits of the "
                    f"{split!r} split in '{mnist_root}'), but got {start} + {num_samples}; "
                    f"ask for fewer samples, or put the full MNIST (train-* files) there."
                )
            order_rng = np.random.default_rng([seed, SPLIT_STREAM[split]])
            self._order = order_rng.permutation(available)  # (N,) rows of the split

    def __len__(self) -> int:
        return self.num_samples

    def _rng(self, index: int) -> np.random.Generator:
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} is out of range for {self.num_samples} samples")
        return np.random.default_rng([self.seed, SPLIT_STREAM[self.split], self.start + index])

    def _pick(self, index: int) -> tuple[np.random.Generator, np.ndarray, np.ndarray]:
        """The item's generator (left for drawing and noise), ``(1,)`` label and ``(1,)`` row."""
        rng = self._rng(index)
        if self._order is None:
            labels, rows = self._digits.pick(rng, 1)
            return rng, labels, rows
        assert self._digits.mnist is not None  # the order exists only for MNIST
        rows = self._order[self.start + index : self.start + index + 1]  # (1,)
        return rng, self._digits.mnist.labels[rows].astype(np.int64), rows

    def label(self, index: int) -> int:
        """The class of item ``index``, without drawing its image."""
        return int(self._pick(index)[1][0])

    def digit_index(self, index: int) -> int:
        """The index in the MNIST images file of item ``index``'s digit.

        Raises:
            ValueError: when the digits are drawn (no ``mnist_root``).
        """
        return int(self._digits.file_indices(self._pick(index)[2])[0])

    def _make(self, index: int) -> tuple[np.ndarray, int]:
        """``(image (H, W) float32 in [0, 1], label)`` of item ``index``."""
        rng, labels, rows = self._pick(index)
        image = self._digits.images(rng, labels, rows)[0]  # (H, W)
        if self.noise > 0:
            image = image + rng.normal(0.0, self.noise, image.shape).astype(np.float32)
            image = np.clip(image, 0.0, 1.0)
        return np.ascontiguousarray(image, dtype=np.float32), int(labels[0])

    def image(self, index: int) -> np.ndarray:
        """``(H, W)`` float32 in [0, 1]: the image of item ``index``, noise included."""
        return self._make(index)[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        """``(image (1, H, W) float32 in [0, 1], label () int64)``."""
        image, label = self._make(index)
        pixels = torch.from_numpy(image).unsqueeze(0)  # (1, H, W)
        return pixels, torch.tensor(label, dtype=torch.int64)

    def __repr__(self) -> str:
        return (
            f"DigitImages(num_samples={self.num_samples}, image_size={self.image_size}, "
            f"split={self.split!r}, seed={self.seed}, noise={self.noise}, start={self.start}, "
            f"digits={'drawn' if self._digits.mnist is None else 'mnist'})"
        )
