"""Tests for cnnlstm.data.mnist: the IDX reader against an independent parse, and drawn digits."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from cnnlstm.data.mnist import T10K_TRAIN_SIZE, load_mnist, read_idx, render_digits
from cnnlstm.errors import DataError

# the bundled development data sit in shared/ beside the checkout
MNIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"
IMAGES = MNIST / "t10k-images-idx3-ubyte.gz"
LABELS = MNIST / "t10k-labels-idx1-ubyte.gz"


def gunzip(path: Path) -> bytes:
    with gzip.open(path, "rb") as f:
        return f.read()


def parse_images(path: Path) -> np.ndarray:
    """The slow obvious parse: struct for the header, frombuffer for the pixels."""
    raw = gunzip(path)
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    assert magic == 2051
    return np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, rows, cols)


def parse_labels(path: Path) -> np.ndarray:
    raw = gunzip(path)
    magic, n = struct.unpack(">II", raw[:8])
    assert magic == 2049
    return np.frombuffer(raw[8:], dtype=np.uint8)[:n]


def test_read_idx_matches_independent_parse() -> None:
    images = read_idx(IMAGES)
    expected = parse_images(IMAGES)
    assert images.shape == (10000, 28, 28)
    assert images.dtype == np.uint8
    np.testing.assert_array_equal(images, expected)
    labels = read_idx(LABELS)
    assert labels.shape == (10000,)
    np.testing.assert_array_equal(labels, parse_labels(LABELS))


def test_read_idx_raw_file(tmp_path: Path) -> None:
    raw = tmp_path / "t10k-labels-idx1-ubyte"
    raw.write_bytes(gunzip(LABELS))
    np.testing.assert_array_equal(read_idx(raw), parse_labels(LABELS))


@pytest.mark.parametrize(
    ("code", "fmt", "values"),
    [
        (0x09, ">i1", [[-3, 5], [127, -128]]),
        (0x0B, ">i2", [[-300, 5], [32000, -1]]),
        (0x0C, ">i4", [[-70000, 5], [1, 2]]),
        (0x0D, ">f4", [[0.5, -1.25], [3.0, 1e-3]]),
        (0x0E, ">f8", [[0.1, -2.0], [1e300, 7.0]]),
    ],
)
def test_read_idx_types(tmp_path: Path, code: int, fmt: str, values: list[list[float]]) -> None:
    path = tmp_path / "x.idx"
    array = np.array(values, dtype=fmt)
    path.write_bytes(bytes([0, 0, code, 2]) + struct.pack(">II", 2, 2) + array.tobytes())
    got = read_idx(path)
    np.testing.assert_array_equal(got, array.astype(array.dtype.newbyteorder("=")))
    assert got.dtype.isnative


def test_read_idx_truncated_raw(tmp_path: Path) -> None:
    path = tmp_path / "cut-images-idx3-ubyte"
    path.write_bytes(gunzip(IMAGES)[:5000])
    with pytest.raises(DataError, match=r"cut-images-idx3-ubyte.*truncated"):
        read_idx(path)


def test_read_idx_truncated_gzip(tmp_path: Path) -> None:
    path = tmp_path / "cut-images-idx3-ubyte.gz"
    path.write_bytes(IMAGES.read_bytes()[:20000])
    with pytest.raises(DataError, match=r"cut-images-idx3-ubyte.gz.*truncated"):
        read_idx(path)


def test_read_idx_truncated_header(tmp_path: Path) -> None:
    path = tmp_path / "short"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(DataError, match=r"short.*header"):
        read_idx(path)


def test_read_idx_extra_bytes(tmp_path: Path) -> None:
    path = tmp_path / "long"
    path.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 3) + bytes(5))
    with pytest.raises(DataError, match=r"long.*longer than its header"):
        read_idx(path)


@pytest.mark.parametrize(
    "magic", [b"\x01\x00\x08\x03", b"\x00\x00\x07\x03", b"\x00\x00\x08\x00", b"PK\x03\x04"]
)
def test_read_idx_bad_magic(tmp_path: Path, magic: bytes) -> None:
    path = tmp_path / "bad-magic"
    path.write_bytes(magic + gunzip(IMAGES)[4:100])
    with pytest.raises(DataError, match=r"bad-magic.*magic number"):
        read_idx(path)


def test_read_idx_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nothing-here"):
        read_idx(tmp_path / "nothing-here")


def test_load_mnist_splits_t10k_without_overlap() -> None:
    images = parse_images(IMAGES)
    labels = parse_labels(LABELS)
    train = load_mnist(MNIST, "train")
    test = load_mnist(MNIST, "test")
    assert train.images.shape == (T10K_TRAIN_SIZE, 28, 28)
    assert test.images.shape == (10000 - T10K_TRAIN_SIZE, 28, 28)
    assert set(train.indices.tolist()).isdisjoint(test.indices.tolist())
    assert len(train.indices) + len(test.indices) == 10000
    for part in (train, test):
        np.testing.assert_array_equal(part.images, images[part.indices])
        np.testing.assert_array_equal(part.labels, labels[part.indices])
        assert part.labels.dtype == np.int64


def test_load_mnist_prefers_train_files(tmp_path: Path) -> None:
    # a fake full MNIST: 3 train digits, 2 t10k digits
    def write(name: str, array: np.ndarray) -> None:
        header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
        (tmp_path / name).write_bytes(header + array.astype(np.uint8).tobytes())

    write("train-images-idx3-ubyte", np.full((3, 28, 28), 7))
    write("train-labels-idx1-ubyte", np.array([1, 2, 3]))
    write("t10k-images-idx3-ubyte", np.full((2, 28, 28), 9))
    write("t10k-labels-idx1-ubyte", np.array([4, 5]))
    train, test = load_mnist(tmp_path, "train"), load_mnist(tmp_path, "test")
    assert train.labels.tolist() == [1, 2, 3] and int(train.images.max()) == 7
    assert test.labels.tolist() == [4, 5] and int(test.images.max()) == 9
    assert train.path.name == "train-images-idx3-ubyte"


def test_load_mnist_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte"):
        load_mnist(tmp_path, "test")
    with pytest.raises(ValueError, match="split has to be 'train' or 'test', but got 'val'"):
        load_mnist(MNIST, "val")  # type: ignore[arg-type]


def test_render_digits_shape_and_reproducibility() -> None:
    labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    a = render_digits(labels, rng=np.random.default_rng(3))
    b = render_digits(labels, rng=np.random.default_rng(3))
    c = render_digits(labels, rng=np.random.default_rng(4))
    assert a.shape == (10, 28, 28) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert (a != c).any(axis=(1, 2)).all()  # each digit's rendering varies with the seed
    assert render_digits([5], rng=np.random.default_rng(0), size=18).shape == (1, 18, 18)


def test_render_digits_are_mnist_like() -> None:
    """Fitted like MNIST (ink in a box near 20/28, centred) and recognized by 1-NN on real MNIST."""
    labels = np.tile(np.arange(10), 10)
    drawn = render_digits(labels, rng=np.random.default_rng(1))
    for image in drawn:
        rows, cols = np.nonzero(image > 30)
        assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 <= 23
        mass = image.astype(np.float64)
        grid_r, grid_c = np.indices(image.shape)
        assert abs((grid_r * mass).sum() / mass.sum() - 13.5) <= 3.0
        assert abs((grid_c * mass).sum() / mass.sum() - 13.5) <= 3.0
    reference = parse_images(IMAGES)[:T10K_TRAIN_SIZE].reshape(T10K_TRAIN_SIZE, -1)
    reference_labels = parse_labels(LABELS)[:T10K_TRAIN_SIZE]
    ref = reference.astype(np.float32)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    query = drawn.reshape(len(drawn), -1).astype(np.float32)
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    predicted = reference_labels[(query @ ref.T).argmax(axis=1)]
    assert (predicted == labels).mean() >= 0.5  # chance is 0.1


@pytest.mark.parametrize(
    ("labels", "size", "message"),
    [([10], 28, "labels have to be digits 0-9"), ([-1], 28, "labels"), ([1], 4, "size")],
)
def test_render_digits_bad_arguments(labels: list[int], size: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_digits(labels, rng=np.random.default_rng(0), size=size)
