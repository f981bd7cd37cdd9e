"""Samples from ``.npy`` / ``.npz`` files as a DataModule: :class:`ArrayDataModule`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from torch.utils.data import Subset

from cnnlstm.data.arrays import ArrayDataset
from cnnlstm.data.collate import ctc_collate
from cnnlstm.data.loading import BaseDataModule, seeded_permutation, split_sizes
from cnnlstm.errors import DataError

__all__ = ["ArrayDataModule"]


class ArrayDataModule(BaseDataModule):
    """Samples from an :class:`ArrayDataset` (``.npy`` / ``.npz``), split at random or in order.

    Items are what :class:`ArrayDataset` yields: ``(x, y)`` with labels, bare ``x`` without.
    For text recognition, an ``.npz`` with target lengths (``x``, ``y`` padded to
    ``(N, max_length)`` and ``lengths``, as ``cnnlstm generate text-lines`` writes it) gives
    the batches of :class:`TextLinesDataModule`, ``(images (B, C, H, W), targets (sum of
    lengths,), target_lengths (B,))`` (:func:`~cnnlstm.data.collate.ctc_collate`), so a copy of
    the ``text_lines`` config trains on the user's own lines; an ``alphabet`` string in the
    archive is kept as :attr:`alphabet`, which ``RecognitionTask`` checks against its own.

    ``predict`` runs on every sample of ``predict_path``, in order, when it is given (samples
    without labels: ``x`` of an ``.npz``, or an ``.npy``; it may be ``path`` itself); without it
    ``predict`` runs on the test split. The ``indices`` that ``cnnlstm predict`` writes to
    ``predictions.pt`` are rows of the file predicted on (``path`` for the test split). A split
    that leaves no training samples is an error only when training (``setup("fit")``).

    Args:
        path: the ``.npy`` or ``.npz`` file of samples.
        y_path: an ``.npy`` file of labels for an ``.npy`` ``path``.
        x_key: the samples' key in an ``.npz`` (in ``predict_path`` too).
        y_key: the labels' key in an ``.npz``; ``None`` for no labels.
        lengths_key: the key of target lengths in an ``.npz``: ``"auto"`` reads ``lengths``
            when the archive holds it, ``None`` none (see :class:`ArrayDataset`).
        mmap: memory-map ``.npy`` files.
        split: ``"random"`` (seeded) or ``"ordered"`` (first train, then val, then test: for
            samples in time order).
        val_split: fraction in ``[0, 1)`` or int count of samples for validation.
        test_split: fraction in ``[0, 1)`` or int count of samples for testing.
        predict_path: an ``.npy`` or ``.npz`` file of samples to predict on; ``None`` predicts
            on the test split.
        batch_size: samples per batch.
        num_workers: ``DataLoader`` worker processes.
        seed: fixes the split and the shuffling.

    After :meth:`setup`, integer labels ``(N,)`` give ``num_classes``: the largest label + 1,
    the fewest outputs a classifier's head needs (``ClassificationTask`` checks it).

    Raises:
        ValueError: for a ``split``, ``val_split`` or ``test_split`` that is not one of those.
        DataError: in ``setup``, for a file :class:`ArrayDataset` rejects, negative class
            labels, or splits larger than the file (or leaving nothing to train on, in ``fit``).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "d.npz"
        >>> np.savez(path, x=np.zeros((50, 4, 6), np.float32), y=np.arange(50) % 3)
        >>> module = ArrayDataModule(path, batch_size=8)
        >>> module.setup()
        >>> next(iter(module.train_dataloader()))[0].shape
        torch.Size([8, 4, 6])
        >>> every_row = ArrayDataModule(path, predict_path=path, batch_size=50)
        >>> every_row.setup("predict")
        >>> next(iter(every_row.predict_dataloader())).shape
        torch.Size([50, 4, 6])
    """

    def __init__(
        self,
        path: str | Path,
        *,
        y_path: str | Path | None = None,
        x_key: str = "x",
        y_key: str | None = "y",
        lengths_key: str | None = "auto",
        mmap: bool = True,
        split: Literal["random", "ordered"] = "random",
        val_split: int | float = 0.1,
        test_split: int | float = 0.1,
        predict_path: str | Path | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if split not in ("random", "ordered"):
            raise ValueError(f"split has to be 'random' or 'ordered', but got {split!r}")
        for name, share in (("val_split", val_split), ("test_split", test_split)):
            if isinstance(share, bool) or share < 0 or (isinstance(share, float) and share >= 1):
                every = " (to predict on every sample, pass predict_path)" if share == 1 else ""
                raise ValueError(
                    f"{name} has to be a fraction in [0, 1) or an int count, but got "
                    f"{share!r}{every}"
                )
        self.save_hyperparameters()
        self.path = Path(path)
        self.y_path = y_path
        self.x_key = x_key
        self.y_key = y_key
        self.lengths_key = lengths_key
        self.mmap = mmap
        self.split = split
        self.val_split = val_split
        self.test_split = test_split
        self.predict_path = None if predict_path is None else Path(predict_path)
        self.dataset: ArrayDataset | None = None
        """The dataset of ``path`` (after ``setup``); the splits are ``Subset`` views of it."""
        self.predict_set: ArrayDataset | None = None
        self.alphabet: str | None = None
        """The ``alphabet`` string stored in an ``.npz`` ``path`` (after ``setup``), if any."""

    def _read(self) -> ArrayDataset:
        """``path`` as an :class:`ArrayDataset`, read once; sets ``num_classes``, ``alphabet``."""
        if self.dataset is not None:
            return self.dataset
        data = ArrayDataset(
            self.path,
            y_path=self.y_path,
            x_key=self.x_key,
            y_key=self.y_key,
            lengths_key=self.lengths_key,
            mmap=self.mmap,
        )
        labels = data.y
        if labels is not None and labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer):
            if len(labels) and labels.min() < 0:
                raise DataError(
                    f"{self.path}: class labels have to be >= 0, but the smallest is "
                    f"{labels.min()}; number the classes 0..K-1."
                )
            self.num_classes = int(labels.max()) + 1 if len(labels) else 0
        if data.lengths is not None:
            self.collate_fn = ctc_collate
            self.alphabet = data.read_text("alphabet")
        self.dataset = data
        return data

    def setup(self, stage: str | None = None) -> None:
        """Read ``path`` and split it, or (``"predict"`` with ``predict_path``) read that file."""
        data = self._read()
        if stage == "predict" and self.predict_path is not None:
            if self.predict_set is None:
                self.predict_set = ArrayDataset(
                    self.predict_path, x_key=self.x_key, y_key=None, mmap=self.mmap
                )
            return
        training = stage in (None, "fit")
        if isinstance(self.train_set, Subset) and (not training or len(self.train_set) > 0):
            return
        try:
            n_train, n_val, _ = split_sizes(
                len(data), self.val_split, self.test_split, min_train=1 if training else 0
            )
        except DataError as error:
            every = (
                " To predict on every sample, pass predict_path (it may be path itself)."
                if stage == "predict"
                else ""
            )
            raise DataError(f"{self.path}: {error}{every}") from None
        order = (
            seeded_permutation(len(data), self.seed)
            if self.split == "random"
            else list(range(len(data)))
        )
        self.train_set = Subset(data, order[:n_train])
        self.val_set = Subset(data, order[n_train : n_train + n_val])
        self.test_set = Subset(data, order[n_train + n_val :])

    def predict_dataloader(self) -> Any:
        """Every sample of ``predict_path`` in order, or the test batches without it.

        Raises:
            DataError: when there is nothing to predict on: no ``predict_path`` and no test split.
        """
        return self._checked_predict_loader(
            option="predict_path",
            value="FILE",
            split="test" if self.predict_path is None else "predict",
        )
