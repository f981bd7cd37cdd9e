"""ArrayDataset reads .npy (memory-mapped) and .npz files and rejects bad ones with DataError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from cnnlstm.data.arrays import ArrayDataset
from cnnlstm.errors import DataError


@pytest.fixture
def arrays() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(12, 2, 5, 6)).astype(np.float64), rng.integers(0, 4, size=12)


def test_npy_pair_is_memory_mapped(tmp_path: Path, arrays: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = arrays
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y.astype(np.int32))
    data = ArrayDataset(tmp_path / "x.npy", y_path=tmp_path / "y.npy")
    assert isinstance(data.x, np.memmap)
    assert len(data) == 12 and data.x_shape == (12, 2, 5, 6) and data.y_shape == (12,)
    for i in range(12):
        xi, yi = data[i]
        assert xi.dtype == torch.float32 and yi.dtype == torch.int64
        assert torch.equal(xi, torch.tensor(x[i], dtype=torch.float32))
        assert int(yi) == int(y[i])
    loaded = ArrayDataset(tmp_path / "x.npy", y_path=tmp_path / "y.npy", mmap=False)
    assert not isinstance(loaded.x, np.memmap)
    xb, yb = next(iter(DataLoader(loaded, batch_size=5)))
    assert xb.shape == (5, 2, 5, 6) and yb.tolist() == y[:5].tolist()


def test_npy_without_labels(tmp_path: Path, arrays: tuple[np.ndarray, np.ndarray]) -> None:
    x, _ = arrays
    np.save(tmp_path / "x.npy", x)
    data = ArrayDataset(tmp_path / "x.npy", dtype=torch.float64, transform=lambda t: t * 2)
    item = data[3]
    assert isinstance(item, torch.Tensor) and item.dtype == torch.float64
    assert torch.equal(item, torch.from_numpy(x[3] * 2))


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_is_loaded_lazily(
    tmp_path: Path, arrays: tuple[np.ndarray, np.ndarray], compressed: bool
) -> None:
    x, y = arrays
    save = np.savez_compressed if compressed else np.savez
    save(tmp_path / "d.npz", frames=x, target=y.astype(np.float64))
    data = ArrayDataset(tmp_path / "d.npz", x_key="frames", y_key="target")
    assert data.x_shape == x.shape and data.y_shape == (12,)
    assert data._x is None and data._y is None  # shapes came from the headers alone
    xi, yi = data[7]
    assert torch.equal(xi, torch.tensor(x[7], dtype=torch.float32))
    assert yi.dtype == torch.float32 and float(yi) == float(y[7])
    unlabelled = ArrayDataset(tmp_path / "d.npz", x_key="frames", y_key=None)
    assert isinstance(unlabelled[0], torch.Tensor)


def test_bad_files(tmp_path: Path, arrays: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = arrays
    with pytest.raises(DataError, match="no such file"):
        ArrayDataset(tmp_path / "missing.npy")
    np.savez(tmp_path / "d.npz", images=x, labels=y)
    with pytest.raises(DataError, match=r"d\.npz: has no array 'x'.*\['images', 'labels'\]"):
        ArrayDataset(tmp_path / "d.npz")
    with pytest.raises(DataError, match=r"has no array 'y'"):
        ArrayDataset(tmp_path / "d.npz", x_key="images")
    np.savez(tmp_path / "short.npz", x=x, y=y[:10])
    with pytest.raises(DataError, match=r"x has 12 samples but y .* has 10"):
        ArrayDataset(tmp_path / "short.npz")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y[:11])
    with pytest.raises(DataError, match=r"x has 12 samples but y \(.*y\.npy\) has 11"):
        ArrayDataset(tmp_path / "x.npy", y_path=tmp_path / "y.npy")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match=r"objects\.npy: cannot read"):
        ArrayDataset(tmp_path / "objects.npy")
    np.save(tmp_path / "scalar.npy", np.float32(3))
    with pytest.raises(DataError, match="x is a scalar"):
        ArrayDataset(tmp_path / "scalar.npy")
    (tmp_path / "junk.npy").write_bytes(b"not an array at all")
    with pytest.raises(DataError, match=r"junk\.npy: cannot read"):
        ArrayDataset(tmp_path / "junk.npy")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match=r"junk\.npz: cannot read"):
        ArrayDataset(tmp_path / "junk.npz")
    (tmp_path / "table.csv").write_text("1,2\n")
    with pytest.raises(DataError, match=r"expected \.npy or \.npz"):
        ArrayDataset(tmp_path / "table.csv")
    with pytest.raises(DataError, match=r"y_path goes with an \.npy"):
        ArrayDataset(tmp_path / "short.npz", y_path=tmp_path / "y.npy")
    full = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(full[: len(full) // 2])
    with pytest.raises(DataError, match=r"cut\.npy"):
        ArrayDataset(tmp_path / "cut.npy", mmap=False)


# -- padded sequence targets with their lengths (text lines for CTC) ------------------------------


def padded_targets(rng: np.random.Generator, count: int, width: int) -> tuple[np.ndarray, ...]:
    """Targets of 0..width classes 1..9 each, written the slow way into a 0-padded table."""
    lengths = rng.integers(0, width + 1, size=count)
    y = np.zeros((count, width), dtype=np.int32)
    for row in range(count):
        for step in range(lengths[row]):
            y[row, step] = rng.integers(1, 10)
    return y, lengths


def test_npz_with_lengths_yields_each_target_cut_to_its_length(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.random((9, 1, 4, 12)).astype(np.float32)
    y, lengths = padded_targets(rng, 9, 5)
    np.savez(tmp_path / "lines.npz", x=x, y=y, lengths=lengths, alphabet=np.array("abcdefghi"))
    data = ArrayDataset(tmp_path / "lines.npz")  # lengths found by name
    assert data.lengths_key == "lengths" and "lengths_key='lengths'" in repr(data)
    assert data.read_text("alphabet") == "abcdefghi" and data.read_text("x") is None
    for row in range(9):
        image, target, length = data[row]
        assert torch.equal(image, torch.from_numpy(x[row]))
        assert target.dtype == torch.int64 and length.dtype == torch.int64
        assert int(length) == lengths[row]
        assert target.tolist() == [int(v) for v in y[row] if v != 0]  # no blank inside a text
    np.savez(tmp_path / "named.npz", x=x, y=y, n=lengths)
    named = ArrayDataset(tmp_path / "named.npz", lengths_key="n")
    assert named[3][1].tolist() == data[3][1].tolist()
    assert len(ArrayDataset(tmp_path / "named.npz")[3]) == 2  # "auto" finds no 'lengths'
    assert len(ArrayDataset(tmp_path / "lines.npz", lengths_key=None)[3]) == 2
    assert isinstance(ArrayDataset(tmp_path / "lines.npz", y_key=None)[3], torch.Tensor)


@pytest.mark.parametrize(
    ("arrays", "options", "message"),
    [
        ({"lengths": np.array([1, 2, 3])}, {}, r"'lengths' have to be integers of shape \(4,\)"),
        ({"lengths": np.full(4, 1.0)}, {}, r"have to be integers .* got float64"),
        ({"lengths": np.array([1, 2, 6, 7])}, {}, r"in \[0, 5\] .* row 2 says 6 \(2 rows"),
        ({"lengths": np.array([1, -1, 0, 0])}, {}, r"row 1 says -1"),
        ({"lengths": np.ones(4, int), "y": np.ones(4, int)}, {}, r"y \('y'\) has to hold .*\(4,\)"),
        ({"lengths": np.ones(4, int)}, {"lengths_key": "len"}, r"no array 'len'; .*'lengths'"),
        ({"lengths": np.ones(4, int)}, {"y_key": None, "lengths_key": "lengths"}, "y_key=None"),
    ],
    ids=["short", "float", "too-long", "negative", "labels-not-targets", "missing", "no-y"],
)
def test_bad_lengths(
    tmp_path: Path, arrays: dict[str, np.ndarray], options: dict[str, str | None], message: str
) -> None:
    stored = {"x": np.zeros((4, 1, 2, 3)), "y": np.ones((4, 5), np.int64), **arrays}
    np.savez(tmp_path / "t.npz", **stored)
    with pytest.raises(DataError, match=message):
        ArrayDataset(tmp_path / "t.npz", **options)


def test_lengths_key_goes_with_an_npz(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((4, 3)))
    with pytest.raises(DataError, match=r"lengths_key='lengths' names .* this is a \.npy file"):
        ArrayDataset(tmp_path / "x.npy", lengths_key="lengths")
    assert ArrayDataset(tmp_path / "x.npy").lengths is None  # "auto": nothing to find
