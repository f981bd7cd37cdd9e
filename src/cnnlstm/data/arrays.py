"""A dataset over NumPy arrays on disk: ``.npy`` files memory-mapped, ``.npz`` archives by key."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from cnnlstm.errors import DataError

__all__ = ["ArrayDataset"]


def _npz_header(path: Path, key: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """Shape and dtype of one array in an ``.npz`` archive, read from its header alone."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    except (OSError, ValueError, zipfile.BadZipFile, KeyError) as err:
        raise DataError(
            f"{path}: cannot read array '{key}' ({type(err).__name__}: {err})."
        ) from None
    return tuple(int(s) for s in shape), np.dtype(dtype)


def _npz_keys(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile) as err:
        raise DataError(
            f"{path}: cannot read as an .npz archive ({type(err).__name__}: {err})."
        ) from None
    return [n[: -len(".npy")] for n in names if n.endswith(".npy")]


class ArrayDataset(Dataset[Any]):
    """Samples along the first axis of arrays stored with NumPy.

    - ``path.npy``: ``x``, memory-mapped (``np.load(mmap_mode="r")``) so only the samples a
      batch reads leave the disk; labels from a second ``.npy`` file, ``y_path``, mapped alike.
    - ``path.npz``: ``x`` and ``y`` by key. An ``.npz`` archive is a zip file and cannot be
      memory-mapped: shapes are read from the headers at once, but each array is loaded whole
      the first time an item needs it (store large data as ``.npy`` files instead).

    Items are ``x[i]`` as a tensor of ``dtype``, or ``(x[i], y[i])`` with labels: integer
    labels as int64 (what ``cross_entropy`` takes), float labels as float32.

    Sequence targets of different lengths (text lines for CTC) are stored padded, ``y`` of
    shape ``(N, max_length)``, with their lengths ``(N,)`` beside them, as
    ``cnnlstm generate text-lines`` writes them (keys ``x``, ``y``, ``lengths``). With
    lengths, items are ``(x[i], y[i, :lengths[i]], lengths[i])`` (targets and length int64):
    what :func:`~cnnlstm.data.collate.ctc_collate` batches for
    :class:`~cnnlstm.tasks.RecognitionTask`.

    Args:
        path: an ``.npy`` or ``.npz`` file.
        y_path: an ``.npy`` file of labels for an ``.npy`` ``path``.
        x_key: the key of the samples in an ``.npz`` archive.
        y_key: the key of the labels in an ``.npz`` archive; ``None`` for no labels.
        lengths_key: the key of the target lengths in an ``.npz`` archive: ``"auto"`` reads
            ``lengths`` when the archive holds it (and ``y_key`` is set), another name has to
            be in the archive, ``None`` reads none.
        mmap: memory-map ``.npy`` files (``False`` loads them into memory).
        dtype: the dtype of the sample tensors.
        transform: applied to each sample tensor.

    Raises:
        DataError: a missing or unreadable file, an ``.npz`` without ``x_key`` or ``y_key``
            (the message lists the keys present), arrays of object dtype, or ``x`` and ``y`` of
            different lengths; with lengths, lengths that are not ``(N,)`` integers in
            ``[0, max_length]`` or targets ``y`` that are not ``(N, max_length)`` integers.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> np.savez(folder / "d.npz", x=np.zeros((10, 3, 8, 8)), y=np.arange(10))
        >>> x, y = ArrayDataset(folder / "d.npz")[4]
        >>> int(y), x.shape
        (4, torch.Size([3, 8, 8]))
        >>> targets = np.array([[3, 1, 0], [2, 0, 0]])
        >>> np.savez(folder / "t.npz", x=np.zeros((2, 1, 4, 16)), y=targets, lengths=[2, 1])
        >>> image, target, length = ArrayDataset(folder / "t.npz")[0]
        >>> target.tolist(), int(length), image.shape
        ([3, 1], 2, torch.Size([1, 4, 16]))
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
        dtype: torch.dtype = torch.float32,
        transform: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        self.path = Path(path)
        self.y_path = None if y_path is None else Path(y_path)
        self.x_key = x_key
        self.y_key = y_key
        self.mmap = mmap
        self.dtype = dtype
        self.transform = transform
        self._x: np.ndarray | None = None
        self._y: np.ndarray | None = None
        self.lengths: np.ndarray | None = None
        """The target lengths ``(N,)`` int64, or ``None`` when items have no lengths."""
        for p in (self.path, self.y_path):
            if p is not None and not p.is_file():
                raise DataError(f"{p}: no such file; expected an .npy or .npz array file.")
        suffix = self.path.suffix.lower()
        if lengths_key not in ("auto", None) and (suffix != ".npz" or y_key is None):
            raise DataError(
                f"{self.path}: lengths_key={lengths_key!r} names target lengths in an .npz "
                f"archive of samples and targets (y_key set); this is "
                f"{'an .npz with y_key=None' if suffix == '.npz' else f'a {suffix} file'}. "
                f"Pass lengths_key=None, or store x, y and lengths in one .npz."
            )
        keys: list[str] = []
        if suffix == ".npz":
            if self.y_path is not None:
                raise DataError(
                    f"{self.y_path}: y_path goes with an .npy file of samples; {self.path} is an "
                    f".npz archive, whose labels are read from its key y_key={y_key!r}."
                )
            keys = _npz_keys(self.path)
            wanted = [k for k in (x_key, y_key) if k is not None]
            for key in wanted:
                if key not in keys:
                    raise DataError(
                        f"{self.path}: has no array '{key}'; the archive holds {sorted(keys)}. "
                        f"Pass x_key=/y_key= to name the arrays (y_key=None for no labels)."
                    )
            x_shape, x_dtype = _npz_header(self.path, x_key)
            y_shape = None if y_key is None else _npz_header(self.path, y_key)[0]
            y_dtype = None if y_key is None else _npz_header(self.path, y_key)[1]
            self.has_labels = y_key is not None
        elif suffix == ".npy":
            self._x = self._load_npy(self.path)
            x_shape, x_dtype = self._x.shape, self._x.dtype
            y_shape, y_dtype = None, None
            if self.y_path is not None:
                self._y = self._load_npy(self.y_path)
                y_shape, y_dtype = self._y.shape, self._y.dtype
            self.has_labels = self.y_path is not None
        else:
            raise DataError(
                f"{self.path}: unsupported file type '{self.path.suffix}'; expected .npy or .npz."
            )
        for name, shape, kind in (("x", x_shape, x_dtype), ("y", y_shape, y_dtype)):
            if shape is None or kind is None:
                continue
            where = self.y_path if name == "y" and self.y_path is not None else self.path
            if len(shape) == 0:
                raise DataError(
                    f"{where}: {name} is a scalar; expected an array with samples on its first "
                    f"axis."
                )
            if kind.hasobject:
                raise DataError(
                    f"{where}: {name} holds Python objects (dtype object); expected numbers."
                )
        if y_shape is not None and y_shape[0] != x_shape[0]:
            y_where = self.y_path if self.y_path is not None else f"{self.path} key '{y_key}'"
            raise DataError(
                f"{self.path}: x has {x_shape[0]} samples but y ({y_where}) has {y_shape[0]}; "
                f"x and y have to be the same length."
            )
        self.x_shape: tuple[int, ...] = tuple(x_shape)
        self.y_shape: tuple[int, ...] | None = None if y_shape is None else tuple(y_shape)
        self.lengths_key: str | None = None
        """The key the target lengths were read from, or ``None``."""
        if suffix == ".npz" and y_key is not None and lengths_key is not None:
            if lengths_key == "auto":
                lengths_key = "lengths" if "lengths" in keys else None
            elif lengths_key not in keys:
                raise DataError(
                    f"{self.path}: has no array '{lengths_key}'; the archive holds "
                    f"{sorted(keys)}. Pass lengths_key= to name the target lengths (None for "
                    f"none)."
                )
            if lengths_key is not None:
                self.lengths_key = lengths_key
                self.lengths = self._check_lengths(lengths_key, y_dtype)

    def _check_lengths(self, key: str, y_dtype: np.dtype[Any] | None) -> np.ndarray:
        """The lengths array of ``key``, checked against ``x`` and the padded targets ``y``."""
        where = f"{self.path}: target lengths '{key}'"
        shape, kind = _npz_header(self.path, key)
        if shape != self.x_shape[:1] or kind.kind not in "iu":
            raise DataError(
                f"{where} have to be integers of shape ({self.x_shape[0]},), one per sample, but "
                f"got {kind} of shape {shape}."
            )
        y_shape = self.y_shape or ()
        if len(y_shape) != 2 or y_dtype is None or y_dtype.kind not in "iu":
            raise DataError(
                f"{self.path}: with target lengths '{key}', y ('{self.y_key}') has to hold "
                f"integer class targets padded to (N, max_length), but got {y_dtype} of shape "
                f"{y_shape}. Pass lengths_key=None for one label per sample."
            )
        lengths = self._load_npz(key).astype(np.int64)  # (N,)
        bad = np.flatnonzero((lengths < 0) | (lengths > y_shape[1]))
        if len(bad):
            row = int(bad[0])
            raise DataError(
                f"{where} have to be in [0, {y_shape[1]}] (y holds {y_shape[1]} steps a row), "
                f"but row {row} says {int(lengths[row])} ({len(bad)} rows out of range)."
            )
        return lengths

    def _load_npy(self, path: Path) -> np.ndarray:
        try:
            array = np.load(path, mmap_mode="r" if self.mmap else None, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            raise DataError(
                f"{path}: cannot read as an .npy array ({type(err).__name__}: {err})."
            ) from None
        if not isinstance(array, np.ndarray):
            raise DataError(f"{path}: expected one array in an .npy file.")
        return array

    def _load_npz(self, key: str) -> np.ndarray:
        try:
            with np.load(self.path, allow_pickle=False) as archive:
                return np.asarray(archive[key])
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise DataError(
                f"{self.path}: cannot load array '{key}' ({type(err).__name__}: {err})."
            ) from None

    def read_text(self, key: str) -> str | None:
        """The string stored under ``key`` in an ``.npz`` (``np.array("abc")``), else ``None``.

        ``cnnlstm generate text-lines`` stores the ``alphabet`` of its targets so.
        """
        if self.path.suffix.lower() != ".npz" or key not in _npz_keys(self.path):
            return None
        shape, kind = _npz_header(self.path, key)
        if shape != () or kind.kind != "U":
            return None
        return str(self._load_npz(key))

    @property
    def x(self) -> np.ndarray:
        """The samples: a memory map for ``.npy``, loaded on first use for ``.npz``."""
        if self._x is None:
            self._x = self._load_npz(self.x_key)
        return self._x

    @property
    def y(self) -> np.ndarray | None:
        """The labels, or ``None`` without them."""
        if self._y is None and self.has_labels and self.y_key is not None:
            self._y = self._load_npz(self.y_key)
        return self._y

    def __len__(self) -> int:
        return self.x_shape[0]

    def __getitem__(self, index: int) -> Any:
        """``x[index]`` as a tensor, ``(x[index], y[index])`` with labels, or
        ``(x[index], y[index, :length], length)`` with target lengths."""
        x = torch.from_numpy(np.array(self.x[index])).to(self.dtype)  # copies out of the map
        if self.transform is not None:
            x = self.transform(x)
        y = self.y
        if y is None:
            return x
        if self.lengths is not None:
            length = int(self.lengths[index])
            target = torch.from_numpy(np.array(y[index, :length], dtype=np.int64))  # (length,)
            return x, target, torch.tensor(length, dtype=torch.int64)
        label = torch.from_numpy(np.array(y[index]))
        if label.dtype == torch.bool or not (label.is_floating_point() or label.is_complex()):
            label = label.to(torch.int64)
        elif label.is_floating_point():
            label = label.to(torch.float32)
        return x, label

    def __repr__(self) -> str:
        return (
            f"ArrayDataset({str(self.path)!r}, samples={len(self)}, x_shape={self.x_shape}, "
            f"y_shape={self.y_shape}"
            + ("" if self.lengths_key is None else f", lengths_key={self.lengths_key!r}")
            + ")"
        )
