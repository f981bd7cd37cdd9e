"""DigitImages: shapes, reproducibility, MNIST items against the IDX files, drawn digits' labels."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnlstm.data.digit_images import DigitImages

# the bundled development data (t10k only) sit in shared/ beside the checkout
MNIST = Path(__file__).parents[3] / "shared" / "data" / "mnist"


def idx_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The t10k images and labels, parsed the slow obvious way with struct."""
    with gzip.open(MNIST / "t10k-images-idx3-ubyte.gz", "rb") as f:
        raw = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    assert magic == 2051
    images = np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, rows, cols)
    with gzip.open(MNIST / "t10k-labels-idx1-ubyte.gz", "rb") as f:
        raw = f.read()
    magic, n = struct.unpack(">II", raw[:8])
    assert magic == 2049
    return images, np.frombuffer(raw[8:], dtype=np.uint8)


def test_drawn_items_have_the_documented_shape_and_range() -> None:
    data = DigitImages(num_samples=6, image_size=20, noise=0.2)
    assert len(data) == 6
    for i in range(6):
        image, label = data[i]
        assert image.shape == (1, 20, 20) and image.dtype == torch.float32
        assert label.shape == () and label.dtype == torch.int64 and 0 <= int(label) <= 9
        assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
        assert int(label) == data.label(i)
    batch = torch.stack([data[i][0] for i in range(6)])
    assert batch.shape == (6, 1, 20, 20)


def test_items_are_reproducible_by_seed_and_differ_across_seeds_and_splits() -> None:
    first = DigitImages(num_samples=4, seed=3, noise=0.1)
    again = DigitImages(num_samples=4, seed=3, noise=0.1)
    for i in range(4):
        assert torch.equal(first[i][0], again[i][0]) and int(first[i][1]) == int(again[i][1])
    assert torch.equal(first[2][0], first[2][0])  # reading an item twice gives it again
    other_seed = DigitImages(num_samples=4, seed=4, noise=0.1)
    test_split = DigitImages(num_samples=4, seed=3, noise=0.1, split="test")
    for i in range(4):
        assert not torch.equal(first[i][0], other_seed[i][0])
        assert not torch.equal(first[i][0], test_split[i][0])


def test_start_shifts_the_items_along_the_split() -> None:
    whole = DigitImages(num_samples=6, seed=1)
    tail = DigitImages(num_samples=3, seed=1, start=3)
    for i in range(3):
        assert torch.equal(tail[i][0], whole[3 + i][0])
        assert int(tail[i][1]) == int(whole[3 + i][1])


def test_noise_has_the_asked_spread() -> None:
    clean = DigitImages(num_samples=3, seed=2)
    noisy = DigitImages(num_samples=3, seed=2, noise=0.05)
    # the noise is drawn after the digit, so the digit below it is the clean one
    diff = torch.cat([(noisy[i][0] - clean[i][0]).flatten() for i in range(3)])
    inside = torch.cat([((clean[i][0] > 0.2) & (clean[i][0] < 0.8)).flatten() for i in range(3)])
    spread = float(diff[inside].std())  # away from 0 and 1 the clipping hardly bites
    assert 0.035 < spread < 0.065
    assert all(int(noisy[i][1]) == int(clean[i][1]) for i in range(3))


def test_drawn_digits_look_like_their_labels() -> None:
    """Nearest MNIST neighbour: handwriting is not a font (63% agree), a mislabel gives ~10%."""
    images, labels = idx_arrays()
    known = images.reshape(len(images), -1).astype(np.float32) / 255.0  # (N, H*W)
    data = DigitImages(num_samples=200, seed=5)
    drawn = np.stack([data[i][0].numpy().ravel() for i in range(len(data))])  # (200, H*W)
    given = np.array([int(data[i][1]) for i in range(len(data))])
    assert set(given.tolist()) == set(range(10))
    distances = (
        (drawn**2).sum(axis=1)[:, None] - 2.0 * drawn @ known.T + (known**2).sum(axis=1)[None]
    )  # (200, N)
    nearest = labels[distances.argmin(axis=1)]
    assert (nearest == given).mean() > 0.5


def test_mnist_items_are_the_idx_digits_with_their_labels() -> None:
    images, labels = idx_arrays()
    train = DigitImages(num_samples=300, mnist_root=MNIST, seed=7)
    rows = [train.digit_index(i) for i in range(len(train))]
    assert len(set(rows)) == len(rows)  # each digit at most once
    assert all(0 <= row < 8000 for row in rows)  # the t10k-only train split
    assert rows != sorted(rows)  # shuffled by the seed
    for i in range(0, 300, 7):
        image, label = train[i]
        np.testing.assert_array_equal(image[0].numpy(), images[rows[i]] / np.float32(255.0))
        assert int(label) == int(labels[rows[i]])
    test = DigitImages(num_samples=50, mnist_root=MNIST, split="test", seed=7)
    for i in range(50):
        row = test.digit_index(i)
        assert 8000 <= row < 10000
        assert int(test[i][1]) == int(labels[row])
    reordered = DigitImages(num_samples=300, mnist_root=MNIST, seed=8)
    assert [reordered.digit_index(i) for i in range(300)] != rows


def test_mnist_items_are_resized_and_noised() -> None:
    images, labels = idx_arrays()
    small = DigitImages(num_samples=5, mnist_root=MNIST, image_size=14, noise=0.1)
    for i in range(5):
        image, label = small[i]
        assert image.shape == (1, 14, 14)
        assert int(label) == int(labels[small.digit_index(i)])
        # a 2x downscale keeps the ink where it was: compare with 2x2 block means of the digit
        blocks = images[small.digit_index(i)].reshape(14, 2, 14, 2).mean(axis=(1, 3)) / 255.0
        assert np.corrcoef(blocks.ravel(), image[0].numpy().ravel())[0, 1] > 0.8


def test_mnist_split_holds_only_so_many_digits() -> None:
    DigitImages(num_samples=2000, mnist_root=MNIST, split="test")
    with pytest.raises(ValueError, match=r"at most 2000 .* but got 0 \+ 2001"):
        DigitImages(num_samples=2001, mnist_root=MNIST, split="test")
    with pytest.raises(ValueError, match=r"at most 8000 .* but got 7999 \+ 2"):
        DigitImages(num_samples=2, mnist_root=MNIST, start=7999)


def test_drawn_digits_have_no_file_index() -> None:
    with pytest.raises(ValueError, match="needs MNIST files"):
        DigitImages(num_samples=2).digit_index(0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_samples": 0}, "num_samples has to be at least 1, but got 0"),
        ({"image_size": 7}, "image_size has to be at least 8, but got 7"),
        ({"noise": -0.1}, "noise has to be >= 0, but got -0.1"),
        ({"start": -1}, "start has to be >= 0, but got -1"),
        ({"split": "val"}, "split has to be 'train' or 'test', but got 'val'"),
    ],
)
def test_bad_arguments_fail_when_built(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DigitImages(**options)  # type: ignore[arg-type]


def test_index_out_of_range() -> None:
    data = DigitImages(num_samples=3)
    with pytest.raises(IndexError, match="index 3 is out of range for 3 samples"):
        data[3]
    assert "digits=drawn" in repr(data)
