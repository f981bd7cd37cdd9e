"""What every DataModule shares: split sizes, seeded orders, and the loaders over the splits.

Every module takes ``batch_size``, ``num_workers`` and ``seed``. Splits are fractions (``0.1``)
or counts (``100``) of samples: of clips for videos, of rows for sensor files (split by time,
never shuffled across the split's boundary).

The seed fixes the split and, with the epoch, everything random in loading, so that a run resumed
from a checkpoint loads exactly what an uninterrupted run would:

- the training order of epoch ``e`` is a permutation drawn from ``(seed, e)``
  (:class:`GlobalOrderSampler`; Lightning tells the sampler the epoch, also after a resume);
- a training item that draws from torch's global RNG (``VideoFolder(sampling="random")``
  picks its window so) draws from a generator seeded with ``(seed, e, index)``, the same in any
  worker and whichever process loads it;
- under DDP every process computes the same order and takes its share of each global batch, so
  ``N`` processes with ``batch_size`` see the global batches one process sees with
  ``batch_size * N`` (:class:`GlobalOrderSampler`). ``batch_size`` is per process, as in
  Lightning.

Arguments are typed keyword arguments with defaults, so ``LightningCLI`` builds its options
from them. The DataModules themselves live in :mod:`cnnlstm.data.video_module`,
:mod:`~cnnlstm.data.array_module`, :mod:`~cnnlstm.data.sensor_module` and
:mod:`~cnnlstm.data.generated_modules`; :mod:`cnnlstm.data.datamodules` imports them all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sized
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from cnnlstm.errors import DataError
from cnnlstm.extras import importing

with importing("the DataModules (cnnlstm.data.loading)", "train"):
    import lightning.pytorch as pl

__all__ = [
    "BaseDataModule",
    "GlobalOrderSampler",
    "derive_seed",
    "seeded_permutation",
    "split_sizes",
]


def derive_seed(*values: int | str) -> int:
    """A 64-bit seed made from ``values`` (e.g. ``seed, epoch``): the same values give the same
    seed on every machine and in every process, and nearby values give unrelated seeds.

    Example:
        >>> derive_seed(0, 3) == derive_seed(0, 3), derive_seed(0, 3) == derive_seed(3, 0)
        (True, False)
    """
    text = ",".join(repr(value) for value in values).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def seeded_permutation(total: int, seed: int) -> list[int]:
    """``range(total)`` in an order drawn from ``seed`` (``torch.randperm``), the same everywhere.

    Example:
        >>> sorted(seeded_permutation(5, 0)), seeded_permutation(5, 0) == seeded_permutation(5, 0)
        ([0, 1, 2, 3, 4], True)
    """
    generator = torch.Generator().manual_seed(seed)
    return [int(i) for i in torch.randperm(total, generator=generator)]


def _dist_share() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group; ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _share(count: int, parts: int, part: int) -> tuple[int, int]:
    """``(start, size)`` of part ``part`` when ``count`` items are cut into ``parts`` parts whose
    sizes differ by at most one (the first ones larger)."""
    base, extra = divmod(count, parts)
    return part * base + min(part, extra), base + (part < extra)


class GlobalOrderSampler(DistributedSampler[Any]):
    """One process's share of every global batch, in an order fixed by ``seed`` and the epoch.

    Every process computes the same order of the ``N`` items of ``dataset``: ``range(N)``, or with
    ``shuffle`` a permutation drawn from ``(seed, epoch)``. The order is cut into global batches
    of ``batch_size * num_replicas`` items, and process ``rank`` takes slice ``rank`` (of
    ``batch_size`` items) of each. A ``DataLoader`` with ``batch_size`` over these indices thus
    gives each process its part of every global batch: ``num_replicas`` processes see the global
    batches that one process sees with ``batch_size * num_replicas``, and DDP, which averages
    their gradients, takes the steps that one process takes.

    When ``N`` is not a multiple of the global batch, the last one is cut into ``num_replicas``
    parts whose sizes differ by at most one; a last batch with fewer items than processes is
    padded with its own items, one each. Every process therefore gets the same number of batches
    (which DDP needs), and only such a last batch weighs its items differently from one process
    (DDP averages the processes' mean losses; a padded item counts twice). With ``pad=False``
    (for predicting, where each item should be predicted once) it is not padded, and the
    processes past its items get no last batch.

    Lightning calls :meth:`set_epoch` before every epoch, also the first one after a resume, so
    the order of an epoch does not depend on how the run got there. Without it, each pass over
    the sampler takes the next epoch's order (0, 1, 2, ...). The sampler is a
    ``DistributedSampler``, so Lightning keeps it (rather than putting its own in, whose batches
    are not one process's) whether or not ``use_distributed_sampler`` is set.

    Args:
        dataset: what to sample from; only its length is used.
        batch_size: items per process in a batch.
        num_replicas: how many processes share the batches; ``None`` for the size of the default
            process group (1 without one).
        rank: this process, in ``[0, num_replicas)``; ``None`` for its rank in the default process
            group (0 without one).
        shuffle: draw the order from ``(seed, epoch)``; ``False`` keeps ``range(N)``.
        seed: with the epoch, fixes the shuffled order.
        with_epoch: yield ``(epoch, index)`` pairs instead of indices, for a dataset that seeds
            each item's random draws with them.
        pad: pad a last global batch with fewer items than processes (see above).

    Raises:
        ValueError: a ``batch_size`` below 1, or a ``rank`` outside ``[0, num_replicas)``.

    Example:
        >>> [list(GlobalOrderSampler(range(10), batch_size=2, num_replicas=2, rank=r,
        ...                          shuffle=False)) for r in (0, 1)]
        [[0, 1, 4, 5, 8], [2, 3, 6, 7, 9]]
        >>> one = GlobalOrderSampler(range(8), batch_size=4, seed=1)
        >>> two = [GlobalOrderSampler(range(8), batch_size=2, seed=1, num_replicas=2, rank=r)
        ...        for r in (0, 1)]
        >>> first, a, b = list(one), list(two[0]), list(two[1])
        >>> first == a[:2] + b[:2] + a[2:] + b[2:]
        True
    """

    def __init__(
        self,
        dataset: Sized,
        *,
        batch_size: int,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        with_epoch: bool = False,
        pad: bool = True,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size has to be a positive int, but got {batch_size!r}")
        group_rank, group_size = _dist_share()
        super().__init__(
            dataset,  # type: ignore[arg-type]
            num_replicas=group_size if num_replicas is None else num_replicas,
            rank=group_rank if rank is None else rank,
            shuffle=shuffle,
            seed=seed,
        )
        self.batch_size = batch_size
        self.with_epoch = with_epoch
        self.pad = pad
        self.num_samples = len(self)

    def order(self, epoch: int) -> list[int]:
        """The order of all ``N`` items in ``epoch`` (every process's), before it is shared out."""
        total = len(self.dataset)  # type: ignore[arg-type]
        if not self.shuffle:
            return list(range(total))
        return seeded_permutation(total, derive_seed(self.seed, epoch))

    def indices(self, epoch: int) -> list[int]:
        """This process's indices in ``epoch``: its slice of each global batch, in order."""
        order = self.order(epoch)
        width = self.batch_size * self.num_replicas
        mine: list[int] = []
        for begin in range(0, len(order), width):
            batch = order[begin : begin + width]
            if self.pad and len(batch) < self.num_replicas:  # one each: its own items again
                batch = [batch[i % len(batch)] for i in range(self.num_replicas)]
            start, size = _share(len(batch), self.num_replicas, self.rank)
            mine.extend(batch[start : start + size])
        return mine

    def __iter__(self) -> Iterator[Any]:
        epoch = self.epoch
        self.epoch += 1  # a pass without set_epoch takes the next epoch's order
        mine = self.indices(epoch)
        if self.with_epoch:
            return iter([(epoch, index) for index in mine])
        return iter(mine)

    def __len__(self) -> int:
        total = len(self.dataset)  # type: ignore[arg-type]
        width = self.batch_size * self.num_replicas
        full, rest = divmod(total, width)
        if rest == 0:
            return full * self.batch_size
        if self.pad:
            rest = max(rest, self.num_replicas)  # a last batch padded to one item each
        return full * self.batch_size + _share(rest, self.num_replicas, self.rank)[1]

    def set_epoch(self, epoch: int) -> None:
        """Take the order of ``epoch`` in the next pass (Lightning calls it before each epoch)."""
        self.epoch = epoch


class _SeededItems(Dataset[Any]):
    """``dataset``'s item ``index`` for the key ``(epoch, index)``, drawn with torch's global RNG
    seeded from ``(seed, epoch, index)`` (and put back afterwards): an item's random draws (a
    random window, an augmentation) then depend on the run's seed, the epoch and the item only,
    not on the worker, the process or how many items were loaded before it."""

    def __init__(self, dataset: Dataset[Any], seed: int) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        state = torch.get_rng_state()
        torch.default_generator.manual_seed(derive_seed(self.seed, epoch, index))
        try:
            return self.dataset[index]
        finally:
            torch.set_rng_state(state)


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


class BaseDataModule(pl.LightningDataModule):
    """The base of every cnnlstm DataModule: loaders over ``train_set`` / ``val_set`` /
    ``test_set`` with the module's ``batch_size``, ``num_workers`` and ``seed``.

    A subclass builds the splits in ``setup`` (and may set ``collate_fn``); the loaders are this
    class's.

    Every loader samples with a :class:`GlobalOrderSampler`: shuffled by ``(seed, epoch)`` for
    training, in order otherwise, and shared out among the processes of the ``Trainer`` the
    module is attached to (or of the default process group) one slice of each global batch each.
    Training items are seeded by ``(seed, epoch, index)`` (see the module docstring).
    """

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

    def _process_share(self) -> tuple[int, int]:
        """``(rank, world_size)`` of the Trainer's processes, else of the default group."""
        trainer = self.trainer
        if trainer is not None:
            return trainer.global_rank, trainer.world_size
        return _dist_share()

    def _loader(self, name: str, *, shuffle: bool, pad: bool = True) -> Any:
        dataset = getattr(self, f"{name}_set")
        if dataset is None:
            self.setup("fit" if name in ("train", "val") else "test")
            dataset = getattr(self, f"{name}_set")
        if dataset is None or len(dataset) == 0:
            return []  # an empty split: Lightning skips the loop
        rank, world_size = self._process_share()
        sampler = GlobalOrderSampler(
            dataset,
            batch_size=self.batch_size,
            num_replicas=world_size,
            rank=rank,
            shuffle=shuffle,
            seed=self.seed,
            with_epoch=shuffle,
            pad=pad,
        )
        return DataLoader(
            _SeededItems(dataset, self.seed) if shuffle else dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=self.collate_fn,
            # the workers' base seed; loading never draws from torch's global RNG
            generator=torch.Generator().manual_seed(derive_seed(self.seed, "workers")),
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader[Any]:
        """Training batches in an order fixed by ``seed`` and the epoch (Lightning sets it)."""
        loader: DataLoader[Any] = self._loader("train", shuffle=True)
        return loader

    def val_dataloader(self) -> Any:
        """Validation batches in order (an empty list when there is no validation split)."""
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> Any:
        """Test batches in order (an empty list when there is no test split)."""
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> Any:
        """The test batches, for ``predict`` (each item once, also under DDP)."""
        return self._loader("test", shuffle=False, pad=False)

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
        return self._loader(split, shuffle=False, pad=False)
