"""What the DataModules' loaders draw depends on the seed and the epoch only.

- :class:`GlobalOrderSampler`: the order of an epoch comes from ``(seed, epoch)``; ``N`` processes
  with ``batch_size`` see the global batches of one process with ``batch_size * N``, and all get
  the same number of batches.
- a training item's random draws come from ``(seed, epoch, index)``: the same in any worker,
  after a resume (a new module told the epoch) and without touching torch's global RNG.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torch.utils.data import Dataset

from cnnlstm.data.datamodules import VideoDataModule
from cnnlstm.data.loading import BaseDataModule, GlobalOrderSampler, derive_seed


def _batches(sampler: GlobalOrderSampler, epoch: int) -> list[list[int]]:
    """What a DataLoader with the sampler's batch_size makes of its indices in ``epoch``."""
    sampler.set_epoch(epoch)
    indices = list(sampler)
    size = sampler.batch_size
    return [indices[i : i + size] for i in range(0, len(indices), size)]


@settings(max_examples=60, deadline=None)
@given(
    total=st.integers(1, 40),
    batch_size=st.integers(1, 5),
    processes=st.integers(1, 4),
    seed=st.integers(0, 2**32),
    epoch=st.integers(0, 5),
)
def test_processes_share_out_the_global_batches_of_one_process(
    total: int, batch_size: int, processes: int, seed: int, epoch: int
) -> None:
    data = range(total)
    one = GlobalOrderSampler(data, batch_size=batch_size * processes, seed=seed)
    shares = [
        GlobalOrderSampler(
            data, batch_size=batch_size, seed=seed, num_replicas=processes, rank=rank
        )
        for rank in range(processes)
    ]
    expected = _batches(one, epoch)
    per_rank = [_batches(sampler, epoch) for sampler in shares]
    steps = math.ceil(total / (batch_size * processes))
    assert [len(batches) for batches in per_rank] == [steps] * processes  # DDP needs it
    assert [len(sampler) for sampler in shares] == [sum(map(len, b)) for b in per_rank]
    for step, batch in enumerate(expected):
        parts = [batches[step] for batches in per_rank]
        assert all(parts), "every process gets at least one item a step"
        if len(batch) >= processes:
            assert [i for part in parts for i in part] == batch  # rank r: slice r
            assert max(map(len, parts)) - min(map(len, parts)) <= 1
        else:  # fewer items than processes: one each, the batch's own items repeated
            assert [part[0] for part in parts] == [batch[r % len(batch)] for r in range(processes)]
    assert sorted(i for batch in expected for i in batch) == list(range(total))
    # unpadded (predict): every item exactly once over the processes
    unpadded = [
        GlobalOrderSampler(
            data, batch_size=batch_size, seed=seed, num_replicas=processes, rank=rank, pad=False
        )
        for rank in range(processes)
    ]
    once = [[i for batch in _batches(sampler, epoch) for i in batch] for sampler in unpadded]
    assert sorted(i for items in once for i in items) == list(range(total))
    assert [len(sampler) for sampler in unpadded] == [len(items) for items in once]


def test_the_order_depends_on_the_seed_and_the_epoch_only() -> None:
    sampler = GlobalOrderSampler(range(50), batch_size=4, seed=3)
    first, second = list(sampler), list(sampler)  # without set_epoch: epochs 0, then 1
    assert first != second
    resumed = GlobalOrderSampler(range(50), batch_size=4, seed=3)
    resumed.set_epoch(1)  # what Lightning does in the first epoch after a resume
    assert list(resumed) == second
    generator = torch.Generator().manual_seed(derive_seed(3, 1))  # an independent computation
    assert second == torch.randperm(50, generator=generator).tolist()
    assert list(GlobalOrderSampler(range(50), batch_size=4, seed=4)) != first
    assert list(GlobalOrderSampler(range(5), batch_size=2, shuffle=False)) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"batch_size": 0}, "batch_size has to be a positive int, but got 0"),
        ({"batch_size": 2, "num_replicas": 2, "rank": 2}, "Invalid rank 2"),
    ],
)
def test_bad_sampler_arguments(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GlobalOrderSampler(range(4), **arguments)


class RandomItems(Dataset[torch.Tensor]):
    """Item ``i`` is ``i`` and three numbers from torch's global RNG: a random augmentation."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.cat([torch.tensor([float(index)]), torch.rand(3)])


class RandomModule(BaseDataModule):
    def __init__(self, *, num_workers: int = 0) -> None:
        super().__init__(batch_size=4, num_workers=num_workers, seed=7)
        self.train_set = RandomItems()


def _epoch(loader: Any, epoch: int) -> torch.Tensor:
    loader.sampler.set_epoch(epoch)
    return torch.cat(list(loader))  # (10, 4): index, three draws


def test_training_items_draw_from_the_seed_the_epoch_and_the_index() -> None:
    loader = RandomModule().train_dataloader()
    state = torch.get_rng_state()
    epochs = [_epoch(loader, epoch) for epoch in range(3)]
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left as it was
    # a resumed run: a new module and loader, told the epoch
    assert torch.equal(_epoch(RandomModule().train_dataloader(), 2), epochs[2])
    # two workers load the same items
    assert torch.equal(_epoch(RandomModule(num_workers=2).train_dataloader(), 1), epochs[1])
    # one item draws anew every epoch; its draws do not depend on where it comes in the order
    by_index = [epoch[epoch[:, 0].argsort()] for epoch in epochs]
    assert not torch.equal(by_index[0][:, 1:], by_index[1][:, 1:])
    generator = torch.Generator().manual_seed(derive_seed(7, 1, 4))  # item 4 in epoch 1
    assert torch.equal(by_index[1][4, 1:], torch.rand(3, generator=generator))


def _frame_clips(root: Path) -> None:
    """Two classes of three clips, each 12 frames of 8x8 whose grey level is the frame number."""
    for label in ("a", "b"):
        for clip in range(3):
            folder = root / label / f"clip{clip}"
            folder.mkdir(parents=True)
            for frame in range(12):
                pixels = np.full((8, 8), 10 * frame, dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{frame:02d}.png")


def _windows(module: VideoDataModule, epoch: int) -> list[tuple[int, ...]]:
    """The first frame number of each training item's window, item by item."""
    loader = module.train_dataloader()
    loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]
    order = loader.sampler.indices(epoch)  # type: ignore[attr-defined]
    clips = torch.cat([x for x, _ in loader])  # (N, T, C, H, W)
    starts = (clips[:, :, 0, 0, 0] * 255 / 10).round().int()  # frame numbers
    by_item = sorted(zip(order, starts.tolist(), strict=True))
    return [tuple(frames) for _, frames in by_item]


def test_video_random_windows_move_every_epoch_and_survive_a_resume(tmp_path: Path) -> None:
    _frame_clips(tmp_path / "clips")
    options: dict[str, Any] = {
        "frames": 3,
        "sampling": "random",
        "val_split": 0,
        "test_split": 0,
        "batch_size": 2,
    }
    module = VideoDataModule(tmp_path / "clips", **options)
    first, second = _windows(module, 0), _windows(module, 1)
    assert all(list(w) == list(range(w[0], w[0] + 3)) for w in first)  # contiguous windows
    assert first != second
    assert _windows(VideoDataModule(tmp_path / "clips", **options), 1) == second
    workers = VideoDataModule(tmp_path / "clips", num_workers=2, **options)
    assert _windows(workers, 1) == second
