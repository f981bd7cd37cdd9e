"""Your own text lines: a folder of line images and a labels file, for CTC text recognition.

The layout most OCR data comes in (IAM-style line crops, the export of a labelling tool)::

    ROOT/labels.tsv            one line per image: filename<TAB>text (UTF-8, no header)
    ROOT/<filename>            the line images (.png, .jpg, .tif, .bmp, .webp), any size

File names are relative to ``ROOT`` (sub-folders are fine). Only the first tab separates the
name from the text; the text is kept as written, spaces included. A ``.csv`` labels file works
too: comma-separated, with a header row that names the columns ``file`` and ``text`` (other
columns are ignored; quote a text that holds a comma, as spreadsheets do).

Each image is read with Pillow as grey (RGB and palette images are converted, transparent
pixels count as white paper, 16-bit grey is scaled by 65535), resized to ``height`` keeping its
aspect ratio, scaled to [0, 1], and turned so that the ink is bright on a dark background, as
:class:`~cnnlstm.data.TextLines` draws it (``ink="auto"`` inverts a line whose median is above
0.5: dark ink on paper). Items are what ``TextLines`` yields: ``(image (1, H, W), target (L,))``
with class 0 the CTC blank and ``alphabet[k]`` class ``k + 1``, so ``RecognitionTask`` trains
on them unchanged. Lines differ in width; :meth:`TextLineFolder.collate` pads each batch on the
right with background to its widest line (the model reads the padding as blank columns).

:class:`TextLineDataModule` splits such a folder into train, validation and test lines and
predicts on a folder of unlabelled line images.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import Dataset, Subset

from cnnlstm.alphabet import check_alphabet, decode_classes, encode_text
from cnnlstm.data.loading import BaseDataModule, split_sizes
from cnnlstm.data.paths import natural_key, visible_entries
from cnnlstm.errors import ConfigError, DataError

__all__ = ["IMAGE_EXTENSIONS", "TextLineDataModule", "TextLineFolder"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
"""The line images a folder without labels is read for (any name works in a labels file)."""

Ink = Literal["auto", "dark", "light"]

# 8-bit modes Pillow converts to grey without losing range; 16-bit grey is scaled on its own
_EIGHT_BIT = {"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr"}
_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
_TRANSPARENT = {"LA", "La", "PA", "RGBA", "RGBa"}


class _Line:
    """One labelled image: its name as written, its path, its text and its labels line."""

    __slots__ = ("line", "name", "path", "text")

    def __init__(self, name: str, path: Path, text: str | None, line: int | None) -> None:
        self.name = name
        self.path = path
        self.text = text
        self.line = line


def _decode_utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")  # a byte-order mark, as Windows editors write, is fine
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path} line {line}: the labels file has to be UTF-8 text, but byte "
            f"{data[err.start]:#04x} is not UTF-8; save it as UTF-8."
        ) from None


def _read_tsv(path: Path) -> list[tuple[int, str, str]]:
    rows = []
    for number, raw in enumerate(_decode_utf8(path).split("\n"), start=1):
        line = raw.removesuffix("\r")
        if not line.strip():
            continue  # blank lines (a trailing newline) hold nothing
        if "\t" not in line:
            raise DataError(
                f"{path} line {number}: expected 'filename<TAB>text', but the line has no tab: "
                f"{line!r}. Separate the file name from the text with one tab character (or "
                f"use a .csv labels file with the header 'file,text')."
            )
        name, text = line.split("\t", 1)
        rows.append((number, name.strip(), text))
    return rows


def _read_csv(path: Path) -> list[tuple[int, str, str]]:
    reader = csv.reader(io.StringIO(_decode_utf8(path), newline=""))
    header = next(reader, None)
    columns = [c.strip().lower() for c in header or []]
    if "file" not in columns or "text" not in columns:
        raise DataError(
            f"{path} line 1: a .csv labels file has to start with a header naming the columns "
            f"'file' and 'text', but got {header!r}."
        )
    at_file, at_text = columns.index("file"), columns.index("text")
    rows = []
    start = reader.line_num
    for fields in reader:
        number, start = start + 1, reader.line_num  # a quoted text may span several lines
        if not any(f.strip() for f in fields):
            continue
        if len(fields) <= max(at_file, at_text):
            raise DataError(
                f"{path} line {number}: expected {len(columns)} comma-separated fields as the "
                f"header has ({','.join(columns)}), but got {len(fields)}: {fields!r}."
            )
        rows.append((number, fields[at_file].strip(), fields[at_text]))
    return rows


class TextLineFolder(Dataset[tuple[Tensor, Tensor]]):
    """Line images named in a labels file, with their texts as CTC targets.

    The labels file is read and every image named in it is checked (it exists, Pillow can
    open it, its mode can become grey) when the dataset is built, so a bad file stops a run
    before training, not in its third epoch. See the module's description for the layout.

    Args:
        root: the folder of line images.
        labels: the labels file: a name in ``root`` or a path; ``.csv`` is read as
            comma-separated with a ``file,text`` header, any other suffix as ``filename<TAB>text``.
            ``None``: no labels, every image directly in ``root`` (``IMAGE_EXTENSIONS``), in
            natural order (``line2`` before ``line10``), each with an empty target.
        height: ``H``, the height every line is resized to (its width follows the aspect ratio).
        width: ``W`` for every line: narrower lines are padded on the right, wider ones squeezed
            to it, so that ``TextLines.collate`` can stack them. ``None`` keeps each line's
            width, padded to a multiple of ``width_multiple``.
        width_multiple: with ``width=None``, widths are rounded up to a multiple of this (4 for
            the CRNN's CNN, which halves the width twice, so that no column is cut off).
        alphabet: the characters, each once, in class order. ``None`` builds it from the
            labels: their characters, sorted.
        ink: ``"dark"`` (dark text on light paper: inverted), ``"light"`` (kept), or ``"auto"``
            (each line inverted when its median is above 0.5).

    Raises:
        ValueError: for a bad ``height``, ``width``, ``width_multiple``, ``ink`` or
            ``alphabet``.
        DataError: for a missing folder or labels file, a labels line without a tab, an empty
            text, an image listed twice or missing, a file that is not an image or has a mode
            that is not grey-able (32-bit float), or a character outside a given alphabet;
            each names the file and the line. Reading an image that turns out truncated raises
            it too, naming the image.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> Image.new("L", (120, 40), 255).save(root / "a.png")  # white paper
        >>> _ = (root / "labels.tsv").write_text("a.png\\tcab\\n", encoding="utf-8")
        >>> data = TextLineFolder(root, height=32)
        >>> data.alphabet, data[0][1].tolist()
        ('abc', [3, 1, 2])
        >>> data[0][0].shape
        torch.Size([1, 32, 96])
    """

    def __init__(
        self,
        root: str | Path,
        *,
        labels: str | Path | None = "labels.tsv",
        height: int = 32,
        width: int | None = None,
        width_multiple: int = 4,
        alphabet: str | None = None,
        ink: Ink = "auto",
    ) -> None:
        super().__init__()
        if isinstance(height, bool) or not isinstance(height, int) or height < 1:
            raise ValueError(f"height has to be a positive int, but got {height!r}")
        if width is not None and (
            isinstance(width, bool) or not isinstance(width, int) or width < 1
        ):
            raise ValueError(f"width has to be a positive int or None, but got {width!r}")
        if (
            isinstance(width_multiple, bool)
            or not isinstance(width_multiple, int)
            or width_multiple < 1
        ):
            raise ValueError(f"width_multiple has to be a positive int, but got {width_multiple!r}")
        if ink not in ("auto", "dark", "light"):
            raise ValueError(f"ink has to be 'auto', 'dark' or 'light', but got {ink!r}")
        if alphabet is not None:
            check_alphabet(alphabet)
        self.root = Path(root)
        self.height = height
        self.width = width
        self.width_multiple = width_multiple
        self.ink: Ink = ink
        if not self.root.is_dir():
            what = "is a file, not a folder" if self.root.exists() else "does not exist"
            where = "" if self.root.is_absolute() else f" (here: {self.root.resolve()})"
            raise DataError(
                f"TextLineFolder: root {self.root}{where} {what}; give the folder of line images "
                f"{'and their labels file' if labels is not None else 'to read'}."
            )
        if labels is None:
            self.labels_path: Path | None = None
            self.lines = self._scan()
        else:
            self.labels_path = self.root / labels
            self.lines = self._read_labels(self.labels_path)
        for line in self.lines:
            self._check_image(line)
        self.alphabet = ""
        built = "".join(sorted({c for line in self.lines for c in line.text or ""}))
        if alphabet is not None:
            self.set_alphabet(alphabet)
        elif built:
            self.set_alphabet(built)

    @property
    def num_classes(self) -> int:
        """``len(alphabet) + 1``: the characters and the CTC blank."""
        return len(self.alphabet) + 1

    @property
    def files(self) -> list[Path]:
        """The image of each item, in order."""
        return [line.path for line in self.lines]

    @property
    def texts(self) -> list[str | None]:
        """The text of each item, in order (``None`` without labels)."""
        return [line.text for line in self.lines]

    def _scan(self) -> list[_Line]:
        images = sorted(
            (
                p
                for p in visible_entries(self.root)
                if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
            ),
            key=lambda p: natural_key(p.name),
        )
        if not images:
            raise DataError(
                f"TextLineFolder: {self.root} holds no line images; expected files ending in "
                f"{', '.join(IMAGE_EXTENSIONS)} directly in it."
            )
        return [_Line(p.name, p, None, None) for p in images]

    def _read_labels(self, path: Path) -> list[_Line]:
        if not path.is_file():
            what = "is a folder" if path.exists() else "does not exist"
            raise DataError(
                f"TextLineFolder: the labels file {path} {what}; expected one line per image, "
                f"'filename<TAB>text' (UTF-8), or a .csv with the header 'file,text' (pass its "
                f"name as labels)."
            )
        rows = _read_csv(path) if path.suffix.lower() == ".csv" else _read_tsv(path)
        if not rows:
            raise DataError(f"{path}: the labels file holds no lines; expected filename<TAB>text.")
        seen: dict[str, int] = {}
        lines = []
        for number, name, text in rows:
            if not name:
                raise DataError(f"{path} line {number}: the file name is empty: {text!r}.")
            if not text.strip():
                raise DataError(
                    f"{path} line {number}: the text of {name!r} is empty; every image needs "
                    f"the text it shows (leave out the line of an image without text)."
                )
            if name in seen:
                raise DataError(
                    f"{path} line {number}: {name!r} is listed twice (lines {seen[name]} and "
                    f"{number}); give each image one text."
                )
            seen[name] = number
            image = self.root / name
            if not image.is_file():
                hint = " (the labels file has no header line)" if number == 1 else ""
                raise DataError(
                    f"{path} line {number}: the image {name!r} does not exist (looked for "
                    f"{image}){hint}; file names are relative to {self.root}."
                )
            lines.append(_Line(name, image, text, number))
        return lines

    def _where(self, line: _Line) -> str:
        return f" ({self.labels_path} line {line.line})" if line.line is not None else ""

    def _check_image(self, line: _Line) -> None:
        """Open the image's header: is it an image Pillow reads, in a mode that can be grey?"""
        try:
            with Image.open(line.path) as image:
                mode = image.mode
        except (UnidentifiedImageError, OSError, ValueError) as err:
            raise DataError(
                f"{line.path}{self._where(line)}: cannot read the image ({err}); expected a "
                f"line image Pillow reads ({', '.join(IMAGE_EXTENSIONS)})."
            ) from None
        if mode not in _EIGHT_BIT and mode not in _SIXTEEN_BIT:
            raise DataError(
                f"{line.path}{self._where(line)}: the image's mode is {mode!r}, which has no "
                f"grey reading here; save the line as 8-bit grey or RGB (16-bit grey works too)."
            )

    def set_alphabet(self, alphabet: str) -> None:
        """Encode targets with ``alphabet`` (``alphabet[k]`` is class ``k + 1``).

        Use it to train on a model's alphabet, which may hold more characters than the labels.

        Raises:
            ValueError: for an empty or repeating alphabet.
            DataError: for a label character outside it, naming the first line that has one.
        """
        check_alphabet(alphabet)
        known = set(alphabet)
        for line in self.lines:
            unknown = sorted(set(line.text or "") - known)
            if unknown:
                every = sorted({c for item in self.lines for c in item.text or ""} - known)
                raise DataError(
                    f"{self.labels_path} line {line.line} ({line.name}): the text "
                    f"{line.text!r} has {unknown[0]!r}, which is not in the alphabet "
                    f"{alphabet!r} (the labels hold {len(every)} characters outside it: "
                    f"{''.join(every)!r}); add them to the alphabet, or leave alphabet unset "
                    f"to build it from the labels."
                )
        self.alphabet = alphabet

    def encode(self, text: str) -> Tensor:
        """The class indices ``(L,)`` of ``text``: ``alphabet[k]`` is ``k + 1``.

        Raises:
            ValueError: for a character outside the alphabet.
        """
        return encode_text(text, self.alphabet)

    def decode(self, indices: Tensor | Sequence[int]) -> str:
        """The string of class ``indices``; blanks (0) are dropped.

        Raises:
            ValueError: for an index outside ``[0, num_classes)``.
        """
        return decode_classes(indices, self.alphabet)

    def __len__(self) -> int:
        return len(self.lines)

    def _grey(self, line: _Line) -> np.ndarray:
        """``(h, w)`` float32 in [0, 1] at the file's own size."""
        try:
            with Image.open(line.path) as image:
                image.seek(0)  # the first page of a multi-page TIFF
                pixels: np.ndarray
                if image.mode in _SIXTEEN_BIT:
                    pixels = np.asarray(image, dtype=np.float32) / np.float32(65535.0)
                    pixels = np.clip(pixels, 0.0, 1.0)
                else:
                    if image.mode in _TRANSPARENT or "transparency" in image.info:
                        rgba = image.convert("RGBA")
                        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                        grey = Image.alpha_composite(paper, rgba).convert("L")
                    else:
                        grey = image.convert("L")
                    pixels = np.asarray(grey, dtype=np.float32) / np.float32(255.0)
        except (UnidentifiedImageError, OSError, ValueError) as err:
            raise DataError(
                f"{line.path}{self._where(line)}: cannot read the image ({err}); the file may be "
                f"truncated or damaged."
            ) from None
        return pixels

    def _output_width(self, width: int, height: int) -> tuple[int, int]:
        """``(resized width, padded width)`` of a ``width x height`` line."""
        resized = max(1, round(width * self.height / height))
        if self.width is not None:
            return min(resized, self.width), self.width
        return resized, math.ceil(resized / self.width_multiple) * self.width_multiple

    def image(self, index: int) -> Tensor:
        """``(1, H, W)`` float32 in [0, 1] with bright ink: the line image of item ``index``."""
        line = self.lines[index]
        grey = self._grey(line)
        h, w = grey.shape
        resized, padded = self._output_width(w, h)
        picture = Image.fromarray(grey).resize((resized, self.height), Image.Resampling.LANCZOS)
        pixels = np.clip(np.asarray(picture, dtype=np.float32), 0.0, 1.0)  # (H, resized)
        if self.ink == "dark" or (self.ink == "auto" and float(np.median(grey)) > 0.5):
            pixels = 1.0 - pixels
        out = torch.zeros(1, self.height, padded)  # (1, H, W), background 0
        out[0, :, :resized] = torch.from_numpy(np.ascontiguousarray(pixels))
        return out

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        """``(image (1, H, W) float32 in [0, 1], target (L,) int64 in [1, num_classes))``.

        Without labels the target is empty, ``(0,)``.
        """
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} lines")
        text = self.lines[index].text
        target = self.encode(text) if text else torch.zeros(0, dtype=torch.int64)
        return self.image(index), target

    @staticmethod
    def collate(batch: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor, Tensor]:
        """Batch lines of different widths for CTC: padded right with background (0).

        Returns:
            ``(images (B, 1, H, W_max), targets (sum of lengths,), target_lengths (B,))``, as
            :meth:`TextLines.collate` does for lines of one width.

        Raises:
            DataError: for an empty batch or images of different heights or channels.

        Example:
            >>> batch = [(torch.ones(1, 8, 12), torch.tensor([1, 2])), (torch.ones(1, 8, 20),
            ...          torch.tensor([3]))]
            >>> images, targets, lengths = TextLineFolder.collate(batch)
            >>> targets.tolist(), lengths.tolist(), images[0, 0, 0, 12:].sum().item()
            ([1, 2, 3], [2, 1], 0.0)
            >>> images.shape
            torch.Size([2, 1, 8, 20])
        """
        if len(batch) == 0:
            raise DataError("TextLineFolder.collate: expected at least one line, got none.")
        first = batch[0][0]
        if any(image.shape[:-1] != first.shape[:-1] for image, _ in batch):
            shapes = sorted({tuple(image.shape) for image, _ in batch})
            raise DataError(
                f"TextLineFolder.collate: lines have to share (C, H) and differ only in width, "
                f"but got shapes {shapes}; read them with one height."
            )
        widest = max(image.shape[-1] for image, _ in batch)
        images = first.new_zeros((len(batch), *first.shape[:-1], widest))  # (B, C, H, W_max)
        for i, (image, _) in enumerate(batch):
            images[i, ..., : image.shape[-1]] = image
        targets = torch.cat([target for _, target in batch])  # (sum of lengths,)
        lengths = torch.tensor([len(target) for _, target in batch], dtype=torch.int64)  # (B,)
        return images, targets, lengths

    def __repr__(self) -> str:
        source = "no labels" if self.labels_path is None else f"labels={str(self.labels_path)!r}"
        return (
            f"TextLineFolder({str(self.root)!r}, {source}, lines={len(self)}, "
            f"height={self.height}, width={self.width}, alphabet={self.alphabet!r})"
        )


class TextLineDataModule(BaseDataModule):
    """A :class:`TextLineFolder` split into train, validation and test lines, for CTC.

    The split is over lines, at random (seeded). Batches come from
    :meth:`TextLineFolder.collate`: ``(images (B, 1, H, W), targets, target_lengths)``, the
    layout ``RecognitionTask`` takes.

    The alphabet, class ``k + 1`` for ``alphabet[k]``, has to be the model's. With
    ``alphabet=None`` the targets use the model's alphabet (``model.init_args.alphabet``) when it
    holds every character of the labels; when it does not, ``setup`` stops the run before
    training with a :class:`ConfigError` naming the alphabet and number of classes to set. A
    given ``alphabet`` has to equal the model's. Without a model (the DataModule on its own),
    ``alphabet=None`` is the labels' characters, sorted.

    ``predict`` runs on ``predict_root`` when it is given: every line image directly in it
    (``IMAGE_EXTENSIONS``, natural order: ``line2`` before ``line10``), without labels;
    otherwise on the test split. :meth:`predict_items` names each predict item.

    Args:
        root: the folder of line images with the labels file.
        labels: the labels file, in ``root`` or a path (see :class:`TextLineFolder`).
        height: ``H`` every line is resized to, keeping the aspect ratio.
        width: one ``W`` for every line (padded or squeezed); ``None`` keeps each line's width.
        width_multiple: widths are rounded up to a multiple of this (with ``width=None``).
        alphabet: the characters in class order, or ``None`` (see above).
        ink: ``"auto"``, ``"dark"`` (dark text on light paper) or ``"light"``.
        val_split: fraction or count of lines for validation.
        test_split: fraction or count of lines for testing.
        predict_root: a folder of unlabelled line images to predict on.
        batch_size: lines per batch.
        num_workers: ``DataLoader`` worker processes.
        seed: fixes the split and the shuffling.

    Raises:
        DataError: in ``setup``, for a bad folder, labels file or image (see
            :class:`TextLineFolder`), and for nothing to predict on.
        ConfigError: in ``setup``, for labels the model's alphabet cannot encode.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> for i in range(10):
        ...     Image.new("L", (64, 16), 255).save(root / f"{i}.png")
        >>> _ = (root / "labels.tsv").write_text(
        ...     "".join(f"{i}.png\\tline {i}\\n" for i in range(10)), encoding="utf-8")
        >>> module = TextLineDataModule(root, val_split=2, test_split=2, batch_size=4)
        >>> module.setup("fit")
        >>> module.alphabet, module.num_classes
        (' 0123456789eiln', 16)
        >>> next(iter(module.train_dataloader()))[0].shape  # 64 x 16 lines at height 32
        torch.Size([4, 1, 32, 128])
    """

    def __init__(
        self,
        root: str | Path,
        *,
        labels: str = "labels.tsv",
        height: int = 32,
        width: int | None = None,
        width_multiple: int = 4,
        alphabet: str | None = None,
        ink: Ink = "auto",
        val_split: int | float = 0.1,
        test_split: int | float = 0.1,
        predict_root: str | Path | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if alphabet is not None:
            check_alphabet(alphabet)
        if ink not in ("auto", "dark", "light"):
            raise ValueError(f"ink has to be 'auto', 'dark' or 'light', but got {ink!r}")
        self.save_hyperparameters()
        self.root = Path(root)
        self.labels = labels
        self.options: dict[str, Any] = {
            "height": height,
            "width": width,
            "width_multiple": width_multiple,
            "ink": ink,
        }
        self.given_alphabet = alphabet
        self.alphabet = alphabet or ""
        """The alphabet the targets use (after ``setup``)."""
        self.num_classes = len(self.alphabet) + 1
        self.val_split = val_split
        self.test_split = test_split
        self.predict_root = None if predict_root is None else Path(predict_root)
        self.collate_fn = TextLineFolder.collate
        self.dataset: TextLineFolder | None = None
        self.predict_set: Dataset[Any] | None = None
        self.predict_source: Path | None = None
        """The folder the names of :meth:`predict_items` are relative to (after setup)."""
        self._predict_items: list[tuple[str, str | None]] = []

    def _model_alphabet(self) -> str | None:
        trainer = getattr(self, "trainer", None)
        model = getattr(trainer, "lightning_module", None) if trainer is not None else None
        alphabet = getattr(model, "alphabet", None)
        return alphabet if isinstance(alphabet, str) and alphabet else None

    def setup(self, stage: str | None = None) -> None:
        # predicting on predict_root needs no labels and no splits
        if stage != "predict" or self.predict_root is None:
            self._setup_splits(stage)
        else:
            wanted = self._model_alphabet()
            if self.given_alphabet is not None and wanted not in (None, self.given_alphabet):
                raise self._order_error(wanted, None)
            self._set_alphabet(self.given_alphabet or wanted or "")
        if stage in (None, "predict") and self.predict_set is None:
            self._setup_predict()

    def _setup_splits(self, stage: str | None) -> None:
        if self.dataset is None:
            data = TextLineFolder(
                self.root, labels=self.labels, alphabet=self.given_alphabet, **self.options
            )
            self.dataset = data
            total = len(data)
            n_train, n_val, _ = split_sizes(total, self.val_split, self.test_split, what="lines")
            generator = torch.Generator().manual_seed(self.seed)
            order = [int(i) for i in torch.randperm(total, generator=generator)]
            self.train_set = Subset(data, order[:n_train])
            self.val_set = Subset(data, order[n_train : n_train + n_val])
            self.test_set = Subset(data, order[n_train + n_val :])
        self._match_model(self.dataset)
        self._set_alphabet(self.dataset.alphabet)

    def _set_alphabet(self, alphabet: str) -> None:
        """Use ``alphabet``, and record it in the hyperparameters (logged and checkpointed),
        where it has to equal the model's (Lightning refuses to log two values of a key)."""
        self.alphabet = alphabet
        self.num_classes = len(alphabet) + 1
        if alphabet and self.hparams.get("alphabet") != alphabet:
            self.save_hyperparameters({**self.hparams, "alphabet": alphabet})

    def _order_error(self, wanted: str, source: Path | None) -> ConfigError:
        where = f" ({source})" if source is not None else ""
        return ConfigError(
            f"TextLineDataModule: the model reads the alphabet {wanted!r} ({len(wanted) + 1} "
            f"classes), but data.init_args.alphabet {self.given_alphabet!r} differs{where}; the "
            f"order of the characters is the class order, so give both the same alphabet: set "
            f"alphabet: {json.dumps(wanted, ensure_ascii=False)} under data.init_args (or leave "
            f"it unset there)."
        )

    def _match_model(self, data: TextLineFolder) -> None:
        """Encode the targets with the model's alphabet, or say what to set."""
        wanted = self._model_alphabet()
        if wanted is None or data.alphabet == wanted:
            return
        used = "".join(sorted({c for text in data.texts for c in text or ""}))
        missing = "".join(c for c in used if c not in wanted)
        resuming = getattr(getattr(self, "trainer", None), "ckpt_path", None) is not None
        if self.given_alphabet is None and not missing:
            data.set_alphabet(wanted)  # a model that knows more characters than the labels use
            return
        if self.given_alphabet is not None and not missing:
            raise self._order_error(wanted, data.labels_path)
        if resuming:
            fix = (
                f"a checkpoint's alphabet is fixed, so leave out the lines with these characters, "
                f"or train a new model with alphabet: {json.dumps(used, ensure_ascii=False)} "
                f"under model.init_args ({len(used) + 1} classes with the CTC blank)"
            )
        else:
            fix = (
                f"set alphabet: {json.dumps(used, ensure_ascii=False)} under model.init_args "
                f"(the labels' {len(used)} characters: {len(used) + 1} classes with the CTC blank)"
            )
        raise ConfigError(
            f"TextLineDataModule: the model reads the alphabet {wanted!r} "
            f"({len(wanted) + 1} classes), but the labels hold {missing!r}, which are not in it "
            f"({data.labels_path}); {fix}."
        )

    def _setup_predict(self) -> None:
        if self.predict_root is None:
            self._setup_splits("predict")
            assert isinstance(self.test_set, Subset) and self.dataset is not None  # just built
            data = self.dataset
            self.predict_set = self.test_set
            self.predict_source = self.root
            self._predict_items = [
                (data.lines[i].name, data.lines[i].text) for i in self.test_set.indices
            ]
            return
        folder = TextLineFolder(self.predict_root, labels=None, **self.options)
        self.predict_set = folder
        self.predict_source = self.predict_root
        self._predict_items = [(line.name, None) for line in folder.lines]

    def predict_items(self) -> list[tuple[str, str | None]]:
        """``(file, text)`` of each predict item, in order (after ``setup``).

        ``file`` is relative to :attr:`predict_source`; ``text`` is the labelled text of a test
        line, ``None`` for an image of ``predict_root``.
        """
        return list(self._predict_items)

    def predict_dataloader(self) -> Any:
        """Batches of ``predict_root`` (when given) or of the test split, in order.

        Raises:
            DataError: when there is nothing to predict on: no ``predict_root`` and no test split.
        """
        return self._checked_predict_loader()
