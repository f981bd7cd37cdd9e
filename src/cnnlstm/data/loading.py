"""What every DataModule shares: split sizes, seeded orders, and the loaders over the splits.

Every module takes ``batch_size``, ``num_workers`` and ``seed``. The seed fixes the split and the
order the training loader shuffles in (a ``torch.Generator`` seeded with it, which also seeds the
workers' RNGs). Splits are fractions (``0.1``) or counts (``100``) of samples: of clips for
videos, of rows for sensor files (split by time, never shuffled across the split's boundary).

Arguments are typed keyword arguments with defaults, so ``LightningCLI`` builds its options
from them. The DataModules themselves live in :mod:`cnnlstm.data.video_module`,
:mod:`~cnnlstm.data.array_module`, :mod:`~cnnlstm.data.sensor_module` and
:mod:`~cnnlstm.data.generated_modules`; :mod:`cnnlstm.data.datamodules` imports them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset

from cnnlstm.errors import DataError

__all__ = ["split_sizes"]


def split_sizes(
    total: int, val: float, test: float, *, what: str = "samples", min_train: int = 1
) -> tuple[int, ...]:
    """``(train, val, test)`` sizes of ``total`` items; ``val``/``test`` fractions or counts.

    A float in ``[0, 1)`` is a fraction (rounded, and at least 1 when above 0); an int is a count.
    ``min_train`` is the fewest items the training split may keep: ``0`` when only evaluating or
    predicting.

    Example:
        >>> split_sizes(100, 0.1, 0.2), split_sizes(100, 5, 0), split_sizes(10, 2, 8, min_train=0)
        ((70, 10, 20), (95, 5, 0), (0, 2, 8))
    """
    sizes = []
    for name, share in (("val_split", val), ("test_split", test)):
        if isinstance(share, bool) or share < 0:
            raise ValueError(f"{name} has to be a fraction in [0, 1) or a count, but got {share!r}")
        if isinstance(share, int):
            sizes.append(share)
        elif share < 1:
            sizes.append(max(1, round(total * share)) if share > 0 else 0)
        else:
            raise ValueError(
                f"{name} has to be a fraction in [0, 1) or an int count, but got {share!r}"
            )
    train = total - sum(sizes)
    if train < 0:
        raise DataError(
            f"the splits take {sizes[0]} + {sizes[1]} of {total} {what}, more than there are; "
            f"use smaller val_split/test_split."
        )
    if train < min_train:
        raise DataError(
            f"the splits take {sizes[0]} + {sizes[1]} of {total} {what}, leaving {train} to train "
            f"on; use smaller val_split/test_split."
        )
    return (train, *sizes)


def _check_loader_args(batch_size: int, num_workers: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size has to be a positive int, but got {batch_size}")
    if num_workers < 0:
        raise ValueError(f"num_workers has to be >= 0, but got {num_workers}")


class _LoaderMixin(pl.LightningDataModule):
    """Loaders over ``train_set`` / ``val_set`` / ``test_set`` with the module's settings."""

    train_set: Dataset[Any] | None = None
    val_set: Dataset[Any] | None = None
    test_set: Dataset[Any] | None = None
    collate_fn: Callable[[Any], Any] | None = None

    def __init__(self, *, batch_size: int, num_workers: int, seed: int) -> None:
        super().__init__()
        _check_loader_args(batch_size, num_workers)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed

    def _loader(self, name: str, *, shuffle: bool) -> Any:
        dataset = getattr(self, f"{name}_set")
        if dataset is None:
            self.setup("fit" if name in ("train", "val") else "test")
            dataset = getattr(self, f"{name}_set")
        if dataset is None or len(dataset) == 0:
            return []  # an empty split: Lightning skips the loop
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            collate_fn=self.collate_fn,
            generator=torch.Generator().manual_seed(self.seed) if shuffle else None,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader[Any]:
        """Training batches, shuffled in an order fixed by ``seed``."""
        loader: DataLoader[Any] = self._loader("train", shuffle=True)
        return loader

    def val_dataloader(self) -> Any:
        """Validation batches in order (an empty list when there is no validation split)."""
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> Any:
        """Test batches in order (an empty list when there is no test split)."""
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> Any:
        """The test batches, for ``predict``."""
        return self._loader("test", shuffle=False)

    def _checked_predict_loader(
        self, *, option: str = "predict_root", value: str = "FOLDER", split: str = "predict"
    ) -> Any:
        """``{split}_set`` batches in order (set up for ``predict`` when not yet), for a module
        whose ``option`` names what to predict on and whose test split of ``root`` (or ``path``)
        is used without it.

        Raises:
            DataError: when there is nothing to predict on: no ``option`` and no test split.
        """
        if getattr(self, f"{split}_set", None) is None:
            self.setup("predict")
        found = getattr(self, f"{split}_set", None)
        if found is None or len(found) == 0:
            source = getattr(self, "root", getattr(self, "path", "?"))
            raise DataError(
                f"{type(self).__name__}: nothing to predict on: {option} is not set and the "
                f"test split of {source} is empty "
                f"(test_split={getattr(self, 'test_split', None)!r}); pass "
                f"--data.init_args.{option} {value}, or a test_split above 0."
            )
        return self._loader(split, shuffle=False)


def _permutation(total: int, seed: int) -> list[int]:
    return [int(i) for i in torch.randperm(total, generator=torch.Generator().manual_seed(seed))]
