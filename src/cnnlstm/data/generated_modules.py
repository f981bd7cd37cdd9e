"""DataModules over the built-in generators: moving digits, digit clips, text lines, digits.

Each draws its train, val and test sets in ``__init__`` (bad options fail there, not in
``setup``), seeded by ``seed``; the digits are drawn unless ``mnist_root`` gives MNIST files.
"""

from __future__ import annotations

from typing import Any, Literal

from cnnlstm.alphabet import DEFAULT_ALPHABET
from cnnlstm.data.digit_images import DigitImages
from cnnlstm.data.loading import BaseDataModule
from cnnlstm.data.moving_digits import DigitClips, MovingDigits
from cnnlstm.data.text_lines import TextLines

__all__ = [
    "DigitClipsDataModule",
    "DigitImagesDataModule",
    "MovingDigitsDataModule",
    "TextLinesDataModule",
]


class _GeneratedDataModule(BaseDataModule):
    """Train, val and test sets drawn by a generator with three different seeds."""

    def __init__(
        self,
        *,
        train_samples: int,
        val_samples: int,
        test_samples: int,
        batch_size: int,
        num_workers: int,
        seed: int,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        for name, count in (("train_samples", train_samples), ("val_samples", val_samples)):
            if count < 1:
                raise ValueError(f"{name} has to be a positive int, but got {count}")
        if test_samples < 0:
            raise ValueError(f"test_samples has to be >= 0, but got {test_samples}")
        self.train_samples = train_samples
        self.val_samples = val_samples
        self.test_samples = test_samples

    def setup(self, stage: str | None = None) -> None:
        """The sets are built in ``__init__`` (bad options fail there); nothing to do."""


class MovingDigitsDataModule(_GeneratedDataModule):
    """:class:`~cnnlstm.data.moving_digits.MovingDigits` for next-frame prediction.

    Training and validation sequences come from the ``"train"`` split with seeds ``seed`` and
    ``seed + 1``, test sequences from the ``"test"`` split (other MNIST images when
    ``mnist_root`` is given). Batches are ``(inputs (B, T_in, 1, H, W), targets (B, T_out, 1, H,
    W))``.

    Example:
        >>> module = MovingDigitsDataModule(train_samples=4, val_samples=2, test_samples=2,
        ...                                 canvas_size=32, digit_size=12, batch_size=2)
        >>> next(iter(module.train_dataloader()))[0].shape
        torch.Size([2, 10, 1, 32, 32])
    """

    def __init__(
        self,
        *,
        train_samples: int = 10000,
        val_samples: int = 1000,
        test_samples: int = 1000,
        num_digits: int = 2,
        canvas_size: int = 64,
        digit_size: int = 28,
        frames: int = 20,
        input_frames: int = 10,
        speed: float = 0.1,
        mnist_root: str | None = None,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(
            train_samples=train_samples,
            val_samples=val_samples,
            test_samples=test_samples,
            batch_size=batch_size,
            num_workers=num_workers,
            seed=seed,
        )
        self.save_hyperparameters()
        options: dict[str, Any] = {
            "num_digits": num_digits,
            "canvas_size": canvas_size,
            "digit_size": digit_size,
            "frames": frames,
            "input_frames": input_frames,
            "speed": speed,
            "mnist_root": mnist_root,
        }
        self.train_set = MovingDigits(num_samples=train_samples, seed=seed, **options)
        self.val_set = MovingDigits(num_samples=val_samples, seed=seed + 1, **options)
        self.test_set = (
            MovingDigits(num_samples=test_samples, seed=seed + 2, split="test", **options)
            if test_samples
            else None
        )


class DigitClipsDataModule(_GeneratedDataModule):
    """:class:`~cnnlstm.data.moving_digits.DigitClips` for clip classification.

    Seeds and splits as in :class:`MovingDigitsDataModule`. Batches are
    ``(clips (B, T, 1, H, W), labels (B,))``; ``num_classes`` says how many labels there are.

    Example:
        >>> module = DigitClipsDataModule(train_samples=4, val_samples=2, test_samples=2,
        ...                               batch_size=4)
        >>> next(iter(module.train_dataloader()))[0].shape
        torch.Size([4, 10, 1, 32, 32])
    """

    def __init__(
        self,
        *,
        train_samples: int = 2000,
        val_samples: int = 400,
        test_samples: int = 400,
        label: Literal["digit", "direction"] = "digit",
        directions: int = 4,
        num_digits: int = 1,
        canvas_size: int = 32,
        digit_size: int = 18,
        frames: int = 10,
        speed: float = 0.08,
        visible: float = 0.35,
        occluder_value: float = 0.5,
        mnist_root: str | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(
            train_samples=train_samples,
            val_samples=val_samples,
            test_samples=test_samples,
            batch_size=batch_size,
            num_workers=num_workers,
            seed=seed,
        )
        self.save_hyperparameters()
        options: dict[str, Any] = {
            "label": label,
            "directions": directions,
            "num_digits": num_digits,
            "canvas_size": canvas_size,
            "digit_size": digit_size,
            "frames": frames,
            "speed": speed,
            "visible": visible,
            "occluder_value": occluder_value,
            "mnist_root": mnist_root,
        }
        self.train_set = DigitClips(num_samples=train_samples, seed=seed, **options)
        self.val_set = DigitClips(num_samples=val_samples, seed=seed + 1, **options)
        self.test_set = (
            DigitClips(num_samples=test_samples, seed=seed + 2, split="test", **options)
            if test_samples
            else None
        )
        self.num_classes = self.train_set.num_classes


class TextLinesDataModule(_GeneratedDataModule):
    """:class:`~cnnlstm.data.text_lines.TextLines` for CTC text recognition.

    Train, val and test lines are drawn with seeds ``seed``, ``seed + 1`` and ``seed + 2``.
    Batches come from :meth:`TextLines.collate`: ``(images (B, 1, H, W), targets (sum of
    lengths,), target_lengths (B,))``; ``num_classes`` counts the CTC blank.

    Example:
        >>> module = TextLinesDataModule(train_samples=4, val_samples=2, test_samples=2,
        ...                              batch_size=2)
        >>> next(iter(module.train_dataloader()))[0].shape
        torch.Size([2, 1, 32, 128])
    """

    def __init__(
        self,
        *,
        train_samples: int = 10000,
        val_samples: int = 1000,
        test_samples: int = 1000,
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
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(
            train_samples=train_samples,
            val_samples=val_samples,
            test_samples=test_samples,
            batch_size=batch_size,
            num_workers=num_workers,
            seed=seed,
        )
        self.save_hyperparameters()
        options: dict[str, Any] = {
            "height": height,
            "width": width,
            "alphabet": alphabet,
            "min_length": min_length,
            "max_length": max_length,
            "font_size": font_size,
            "rotation": rotation,
            "shear": shear,
            "scale": scale,
            "blur": blur,
            "noise": noise,
        }
        self.train_set = TextLines(num_samples=train_samples, seed=seed, **options)
        self.val_set = TextLines(num_samples=val_samples, seed=seed + 1, **options)
        self.test_set = (
            TextLines(num_samples=test_samples, seed=seed + 2, **options) if test_samples else None
        )
        self.collate_fn = TextLines.collate
        self.num_classes = self.train_set.num_classes
        self.alphabet = alphabet


class DigitImagesDataModule(_GeneratedDataModule):
    """:class:`~cnnlstm.data.digit_images.DigitImages` for image classification.

    Training items are items ``[0, train_samples)`` of the ``"train"`` split, validation items
    the next ``val_samples`` of it (so the two share no item: no MNIST digit, no drawn image),
    and test items come from the ``"test"`` split (other MNIST images when ``mnist_root`` is
    given), all with ``seed``. Batches are ``(images (B, 1, H, W), labels (B,))``;
    ``num_classes`` is 10.

    Args:
        train_samples: training images.
        val_samples: validation images.
        test_samples: test images (0 for none).
        image_size: the side of the square images in pixels.
        noise: the standard deviation of Gaussian pixel noise (0 for none).
        mnist_root: a folder with MNIST IDX files, or ``None`` to draw digits.
        batch_size: images per batch.
        num_workers: ``DataLoader`` worker processes.
        seed: fixes the images, the MNIST order and the shuffling.

    Example:
        >>> module = DigitImagesDataModule(train_samples=4, val_samples=2, test_samples=2,
        ...                                batch_size=4)
        >>> next(iter(module.train_dataloader()))[0].shape
        torch.Size([4, 1, 28, 28])
    """

    def __init__(
        self,
        *,
        train_samples: int = 4000,
        val_samples: int = 500,
        test_samples: int = 500,
        image_size: int = 28,
        noise: float = 0.0,
        mnist_root: str | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(
            train_samples=train_samples,
            val_samples=val_samples,
            test_samples=test_samples,
            batch_size=batch_size,
            num_workers=num_workers,
            seed=seed,
        )
        self.save_hyperparameters()
        options: dict[str, Any] = {
            "image_size": image_size,
            "noise": noise,
            "mnist_root": mnist_root,
            "seed": seed,
        }
        self.train_set = DigitImages(num_samples=train_samples, **options)
        self.val_set = DigitImages(num_samples=val_samples, start=train_samples, **options)
        self.test_set = (
            DigitImages(num_samples=test_samples, split="test", **options) if test_samples else None
        )
        self.num_classes = self.train_set.num_classes
        self.image_size = image_size
