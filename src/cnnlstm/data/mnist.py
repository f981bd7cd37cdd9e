"""Digit images for the generators: MNIST IDX files when the user has them, drawn digits otherwise.

Nothing is downloaded. :func:`read_idx` parses the IDX format that MNIST ships in (gzipped or not),
:func:`load_mnist` picks a train or test split from a folder of those files, and
:func:`render_digits` draws digits 0-9 with the font that Pillow ships, with random size,
rotation, shear, stroke and aspect jitter, normalized the way MNIST was (fit into a box of 20/28
of the image, centred by centre of mass), so that a default with no files still varies.

The split rule. With the full MNIST (``train-images-idx3-ubyte`` present) ``"train"`` is the
60000 training digits and ``"test"`` the 10000 ``t10k`` digits. With only the ``t10k`` files
(the bundled development copy) the first :data:`T10K_TRAIN_SIZE` (8000) ``t10k`` digits are the
train split and the last 2000 the test split, so no digit image is in both.
"""

from __future__ import annotations

import functools
import gzip
import math
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from cnnlstm.errors import DataError
from cnnlstm.extras import importing

with importing("drawing digits (cnnlstm.data.mnist)", "train"):
    from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "T10K_TRAIN_SIZE",
    "MnistDigits",
    "load_mnist",
    "read_idx",
    "render_digits",
]

T10K_TRAIN_SIZE = 8000
"""With only the ``t10k`` files, digits ``[0, 8000)`` are the train split, the rest test."""

Split = Literal["train", "test"]

# IDX type codes (third byte of the magic number) and the big-endian numpy dtype of each.
_IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, un-gzipped when it starts with the gzip magic number."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"read_idx: no IDX file at '{path}'.") from None
    except OSError as err:
        raise DataError(f"read_idx: cannot read '{path}': {err}.") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, gzip.BadGzipFile) as err:
        raise DataError(
            f"read_idx: '{path}' starts like a gzip file but cannot be decompressed ({err}); "
            f"the file is truncated or damaged: download it again."
        ) from None


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the format MNIST ships in), gzipped or not.

    The header is a 4-byte magic number ``0x00 0x00 TYPE NDIM`` followed by ``NDIM`` big-endian
    uint32 sizes; the data follow in row-major order.

    Args:
        path: the file; gzip is recognized by its content, not by the ``.gz`` suffix.

    Returns:
        An array of the file's shape, in native byte order (``uint8`` for MNIST).

    Raises:
        DataError: naming the file, when it is missing, its magic number is not an IDX one, or
            its size does not match the header (truncated, or extra bytes).

    Example:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "x-idx2-ubyte")
        >>> _ = open(f, "wb").write(bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(6))
        >>> read_idx(f).shape
        (2, 3)
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(
            f"read_idx: '{path}' has {len(data)} bytes, too few for the 4-byte IDX magic number; "
            f"the file is truncated or not an IDX file."
        )
    zero0, zero1, type_code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise DataError(
            f"read_idx: '{path}' has the magic number 0x{data[:4].hex()}, but an IDX file starts "
            f"with 0x0000 then a type code in "
            f"{{{', '.join(f'0x{c:02x}' for c in _IDX_DTYPES)}}} and a dimension count >= 1 "
            f"(MNIST images: 0x00000803). Is this an MNIST file?"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(
            f"read_idx: '{path}' is truncated inside its header: {ndim} dimensions need "
            f"{header_size} header bytes, but the file has {len(data)}."
        )
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = math.prod(shape) * dtype.itemsize
    got = len(data) - header_size
    if got != expected:
        problem = "truncated" if got < expected else "longer than its header says"
        raise DataError(
            f"read_idx: '{path}' is {problem}: the header says shape {shape} of {dtype.name} "
            f"({expected} data bytes), but the file holds {got} data bytes."
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


class MnistDigits(NamedTuple):
    """One split of MNIST: images, labels, and where each image sits in its IDX file."""

    images: np.ndarray
    """``(N, 28, 28)`` uint8."""
    labels: np.ndarray
    """``(N,)`` int64, 0-9."""
    indices: np.ndarray
    """``(N,)`` int64: the index of each image in :attr:`path`."""
    path: Path
    """The images file the split was read from."""


def _find(root: Path, prefix: str, kind: str, suffix: str) -> Path | None:
    """``{prefix}-{kind}-{suffix}`` (or the ``.`` variant some mirrors use), raw or gzipped."""
    for stem in (f"{prefix}-{kind}-{suffix}", f"{prefix}-{kind}.{suffix}"):
        for name in (stem, stem + ".gz"):
            if (root / name).is_file():
                return root / name
    return None


def load_mnist(root: str | Path, split: Split = "train") -> MnistDigits:
    """Load the ``"train"`` or ``"test"`` split of MNIST from a folder of IDX files.

    See the module docstring for the split rule: with only the ``t10k`` files, the first 8000
    digits are ``"train"`` and the last 2000 ``"test"``.

    Args:
        root: a folder with ``t10k-images-idx3-ubyte[.gz]`` and ``t10k-labels-idx1-ubyte[.gz]``,
            and optionally ``train-images-idx3-ubyte[.gz]`` and ``train-labels-idx1-ubyte[.gz]``.
        split: ``"train"`` or ``"test"``.

    Raises:
        ValueError: for a split other than ``"train"`` or ``"test"``.
        DataError: when the files are missing or damaged, or images and labels disagree.

    Example:
        With only the ``t10k`` files in ``root``, ``load_mnist(root, "test").images.shape`` is
        ``(2000, 28, 28)`` and ``load_mnist(root, "train").images.shape`` ``(8000, 28, 28)``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split has to be 'train' or 'test', but got {split!r}")
    root = Path(root)
    train_images = _find(root, "train", "images", "idx3-ubyte")
    train_labels = _find(root, "train", "labels", "idx1-ubyte")
    full = train_images is not None and train_labels is not None
    prefix = "train" if full and split == "train" else "t10k"
    images_path = _find(root, prefix, "images", "idx3-ubyte")
    labels_path = _find(root, prefix, "labels", "idx1-ubyte")
    if images_path is None or labels_path is None:
        raise DataError(
            f"load_mnist: '{root}' has no {prefix}-images-idx3-ubyte[.gz] and "
            f"{prefix}-labels-idx1-ubyte[.gz]; put the MNIST IDX files there, or pass "
            f"mnist_root=None to draw digits instead."
        )
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DataError(
            f"load_mnist: '{images_path}' holds shape {images.shape} and '{labels_path}' shape "
            f"{labels.shape}; expected images (N, H, W) and labels (N,) with the same N."
        )
    indices = np.arange(images.shape[0], dtype=np.int64)
    if not full:
        part = slice(0, T10K_TRAIN_SIZE) if split == "train" else slice(T10K_TRAIN_SIZE, None)
        indices = indices[part]
    return MnistDigits(
        images=np.ascontiguousarray(images[indices], dtype=np.uint8),
        labels=labels[indices].astype(np.int64),
        indices=indices,
        path=images_path,
    )


@functools.lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled scalable font at ``size`` pixels (needs Pillow >= 10.1 with FreeType)."""
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise RuntimeError(
            "Drawing digits and text needs Pillow built with FreeType (Pillow >= 10.1 with "
            "features.check('freetype2') true); install the Pillow wheel from PyPI."
        )
    return font


_DRAW = 96  # pixel size the glyph is drawn at before it is shrunk to the target size


def _affine(image: Image.Image, matrix: np.ndarray) -> Image.Image:
    """Apply the 2x2 ``matrix`` about the image centre (Pillow wants the inverse map)."""
    inv = np.linalg.inv(matrix)
    cx, cy = image.width / 2, image.height / 2
    # output (x, y) -> input inv @ (x - c) + c
    a, b, d, e = inv[0, 0], inv[0, 1], inv[1, 0], inv[1, 1]
    c = cx - a * cx - b * cy
    f = cy - d * cx - e * cy
    return image.transform(
        image.size,
        Image.Transform.AFFINE,
        (a, b, c, d, e, f),
        resample=Image.Resampling.BILINEAR,
    )


def _draw_digit(label: int, rng: np.random.Generator, size: int) -> np.ndarray:
    """One jittered digit, normalized like MNIST into a ``(size, size)`` uint8 image."""
    font = _font(int(rng.integers(int(_DRAW * 0.8), _DRAW + 1)))
    stroke = int(rng.integers(0, 6))
    canvas = Image.new("L", (2 * _DRAW, 2 * _DRAW), 0)
    ImageDraw.Draw(canvas).text(
        (_DRAW, _DRAW),
        str(label),
        fill=255,
        font=font,
        anchor="mm",
        stroke_width=stroke,
        stroke_fill=255,
    )
    angle = math.radians(rng.uniform(-15.0, 15.0))
    shear = rng.uniform(-0.3, 0.3)
    squeeze = rng.uniform(0.6, 1.0)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    matrix = rotation @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([squeeze, 1.0])
    canvas = _affine(canvas, matrix)
    bbox = canvas.getbbox()
    if bbox is None:  # cannot happen for a digit glyph; keep an empty digit rather than fail
        return np.zeros((size, size), dtype=np.uint8)
    glyph = canvas.crop(bbox)
    # MNIST fits each digit into a 20x20 box of the 28x28 image; jitter that box a little.
    box = size * rng.uniform(17.0, 21.0) / 28.0
    scale = box / max(glyph.width, glyph.height)
    new_w = max(1, round(glyph.width * scale))
    new_h = max(1, round(glyph.height * scale))
    small = np.asarray(glyph.resize((new_w, new_h), Image.Resampling.LANCZOS), dtype=np.float64)
    out = np.zeros((size, size), dtype=np.float64)
    mass = small.sum()
    rows, cols = np.indices(small.shape)
    com_y = (rows * small).sum() / mass if mass > 0 else new_h / 2
    com_x = (cols * small).sum() / mass if mass > 0 else new_w / 2
    # place the centre of mass at the image centre, clamped so the glyph stays inside
    top = int(np.clip(round((size - 1) / 2 - com_y), 0, size - new_h))
    left = int(np.clip(round((size - 1) / 2 - com_x), 0, size - new_w))
    out[top : top + new_h, left : left + new_w] = small
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def render_digits(
    labels: np.ndarray | list[int],
    *,
    rng: np.random.Generator,
    size: int = 28,
) -> np.ndarray:
    """Draw digits with Pillow's bundled font, a different jittered rendering each call.

    Each digit gets a random font size, stroke width (thin to bold), rotation (+-15 degrees),
    shear, horizontal squeeze and box size, then is fitted into about 20/28 of the image and
    centred by its centre of mass, as MNIST digits are. Ink is 255 on a 0 background.

    Args:
        labels: the digits to draw, each 0-9.
        rng: the random generator the jitter is drawn from (seed it for reproducible digits).
        size: the side of each square image in pixels, at least 8.

    Returns:
        ``(N, size, size)`` uint8.

    Raises:
        ValueError: for a label outside 0-9 or a size below 8.

    Example:
        >>> render_digits([3, 7], rng=np.random.default_rng(0)).shape
        (2, 28, 28)
    """
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if size < 8:
        raise ValueError(f"size has to be at least 8, but got {size}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"labels have to be digits 0-9, but got {labels.tolist()}")
    out = np.zeros((labels.size, size, size), dtype=np.uint8)
    for k, label in enumerate(labels):
        out[k] = _draw_digit(int(label), rng, size)
    return out
