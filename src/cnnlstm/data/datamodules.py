"""Lightning DataModules: reproducible train / val / test splits and loaders for every reader.

Every module takes ``batch_size``, ``num_workers`` and ``seed``. The seed fixes the split and the
order the training loader shuffles in (a ``torch.Generator`` seeded with it, which also seeds the
workers' RNGs). Splits are fractions (``0.1``) or counts (``100``) of samples: of clips for
videos, of rows for sensor files (split by time, never shuffled across the split's boundary).

Arguments are typed keyword arguments with defaults, so ``LightningCLI`` builds its options
from them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

from cnnlstm.data.arrays import ArrayDataset
from cnnlstm.data.collate import ctc_collate, pad_collate
from cnnlstm.data.digit_images import DigitImages
from cnnlstm.data.moving_digits import DigitClips, MovingDigits
from cnnlstm.data.sensors import NanPolicy, SensorCSV, SensorWindows, StandardScaler
from cnnlstm.data.text_lines import DEFAULT_ALPHABET, TextLines
from cnnlstm.data.video import (
    FRAME_EXTENSIONS,
    VIDEO_EXTENSIONS,
    FrameFolder,
    Sampling,
    VideoFolder,
    natural_key,
    visible_entries,
)
from cnnlstm.errors import ConfigError, DataError

__all__ = [
    "ArrayDataModule",
    "DigitClipsDataModule",
    "DigitImagesDataModule",
    "MovingDigitsDataModule",
    "SensorDataModule",
    "TextLinesDataModule",
    "VideoDataModule",
    "split_sizes",
]


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


def _permutation(total: int, seed: int) -> list[int]:
    return [int(i) for i in torch.randperm(total, generator=torch.Generator().manual_seed(seed))]


class VideoDataModule(_LoaderMixin):
    """Clips from a :class:`VideoFolder` or :class:`FrameFolder`, split by clip.

    The split is over clips, so the sliding windows of one clip never land in two splits.
    Training items use ``sampling``; validation, test and predict items use ``eval_sampling``,
    with the random windows fixed per item (seeded) so every evaluation sees the same frames.
    With ``frames=None`` the loaders pad whole clips with :func:`~cnnlstm.data.collate.pad_collate`
    and yield ``(x, lengths, y)``.

    ``predict`` runs on ``predict_root`` when it is given, else on the test split.
    ``predict_root`` holds clips as they come (``predict_root/<clip>.mp4`` or
    ``predict_root/<clip>/<frame>.png``: no label), or one folder per class as ``root`` does:
    folders named after one of ``root``'s classes give their clips that label, other folders only
    group clips. Class names and indices always come from ``root``, the classes the model was
    trained on. :meth:`predict_items` names each predict item (its clip and its label), which is
    what ``cnnlstm predict`` writes to ``predictions.csv``. The class names are saved in
    checkpoints; loading one trained on other classes raises a :class:`ConfigError`.

    Args:
        root: ``root/<class>/<clip>`` of videos or of frame folders.
        format: ``"video"``, ``"frames"``, or ``"auto"`` (frames when the class folders hold
            folders).
        frames: ``T`` frames per item, or ``None`` for whole clips.
        sampling: how training items pick frames: ``"uniform"``, ``"random"``, ``"sliding"``.
        eval_sampling: the same for validation, test and predict; ``None`` uses ``sampling``.
        stride: steps between sliding windows.
        size: ``(H, W)`` to resize frames to.
        fps: sample at this many moments per second.
        source_fps: the frame rate of frame folders (needed with ``fps``).
        grayscale: one channel instead of RGB.
        val_split: fraction or count of clips for validation.
        test_split: fraction or count of clips for testing.
        predict_root: clips to predict on (see above); ``None`` predicts on the test split.
        batch_size: items per batch.
        num_workers: ``DataLoader`` worker processes.
        seed: fixes the split, the shuffling and the evaluation windows.

    Hidden entries (names starting with ``.``: ``.ipynb_checkpoints``, ``.git``, ``.DS_Store``)
    are skipped everywhere: they are never classes, clips or frames. Without ``size``, every clip
    has to have one frame size (or ``batch_size=1``) to share a batch.

    Raises:
        ConfigError: ``fps`` on frame folders without ``source_fps`` (when built with
            ``format="frames"``, else in ``setup``).
        DataError: in ``setup``, for a ``root`` or ``predict_root`` that is missing, holds no
            clips or mixes videos with frame folders; in ``predict_dataloader``, for nothing to
            predict on; when reading, a clip whose frame size differs from an earlier clip's
            while ``size`` is ``None`` and ``batch_size > 1``.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> for label in ("left", "right"):
        ...     for clip in range(5):
        ...         (root / label / f"c{clip}").mkdir(parents=True)
        ...         for t in range(4):
        ...             Image.new("L", (16, 8)).save(root / label / f"c{clip}" / f"{t}.png")
        >>> module = VideoDataModule(root, frames=3, val_split=2, test_split=2, batch_size=4)
        >>> module.setup("fit")
        >>> next(iter(module.train_dataloader()))[0].shape
        torch.Size([4, 3, 3, 8, 16])
        >>> module.setup("predict")
        >>> module.predict_items()[0]
        ('left/c2', 0)
        >>> next(iter(module.predict_dataloader()))[0].shape
        torch.Size([2, 3, 3, 8, 16])
    """

    def __init__(
        self,
        root: str | Path,
        *,
        format: Literal["auto", "video", "frames"] = "auto",
        frames: int | None = 16,
        sampling: Sampling = "random",
        eval_sampling: Sampling | None = "uniform",
        stride: int | None = None,
        size: tuple[int, int] | None = None,
        fps: float | None = None,
        source_fps: float | None = None,
        grayscale: bool = False,
        val_split: float = 0.1,
        test_split: float = 0.1,
        predict_root: str | Path | None = None,
        batch_size: int = 8,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if format not in ("auto", "video", "frames"):
            raise ValueError(f"format has to be 'auto', 'video' or 'frames', but got {format!r}")
        if format == "frames" and fps is not None and source_fps is None:
            raise _source_fps_missing(Path(root), fps)
        self.save_hyperparameters()
        self.root = Path(root)
        self.format = format
        self.frames = frames
        # whole clips (frames=None) take every frame: there is nothing to sample
        self.sampling: Sampling = sampling if frames is not None else "uniform"
        self.eval_sampling: Sampling = (
            (eval_sampling or sampling) if frames is not None else "uniform"
        )
        self.stride = stride
        self.size = size
        self.fps = fps
        self.source_fps = source_fps
        self.grayscale = grayscale
        self.val_split = val_split
        self.test_split = test_split
        self.predict_root = None if predict_root is None else Path(predict_root)
        self.collate_fn = pad_collate if frames is None else None
        self.classes: list[str] = []
        self.predict_set: Dataset[Any] | None = None
        self.predict_source: Path | None = None
        """The folder the names of :meth:`predict_items` are relative to (after setup)."""
        self._predict_items: list[tuple[str, int | None]] = []

    def _dataset(
        self,
        sampling: Sampling,
        *,
        seed: int | None,
        root: Path | None = None,
        kind: Literal["video", "frames"] | None = None,
        labelled: bool = True,
    ) -> VideoFolder | FrameFolder:
        root = self.root if root is None else root
        if kind is None:  # root's class folders
            if not root.is_dir():
                raise _root_missing(root)
            kind = self.format if self.format != "auto" else _root_kind(root)
        if kind == "frames" and self.fps is not None and self.source_fps is None:
            raise _source_fps_missing(root, self.fps)
        stride = self.stride if sampling == "sliding" else None
        common: dict[str, Any] = {
            "frames": self.frames,
            "sampling": sampling,
            "stride": stride,
            "size": self.size,
            "fps": self.fps,
            "grayscale": self.grayscale,
            "seed": seed,
            "labelled": labelled,
        }
        if kind == "frames":
            return FrameFolder(root, source_fps=self.source_fps, **common)
        return VideoFolder(root, **common)

    def setup(self, stage: str | None = None) -> None:
        # predicting on predict_root needs root's classes only, not its (maybe costly) splits
        if stage != "predict" or self.predict_root is None:
            self._setup_splits()
        if stage in (None, "predict") and self.predict_set is None:
            self._setup_predict()

    def _setup_splits(self) -> None:
        if self.train_set is not None:
            return
        train_data = self._dataset(self.sampling, seed=None)
        eval_data = self._dataset(self.eval_sampling, seed=self.seed)
        self._set_classes(train_data.classes)
        clips = len(train_data.samples)
        n_train, n_val, _ = split_sizes(clips, self.val_split, self.test_split, what="clips")
        order = _permutation(clips, self.seed)
        self.split_clips = {
            "train": sorted(order[:n_train]),
            "val": sorted(order[n_train : n_train + n_val]),
            "test": sorted(order[n_train + n_val :]),
        }
        self._eval_data = eval_data

        def items(data: VideoFolder | FrameFolder, part: str) -> _ClipItems:
            wanted = set(self.split_clips[part])
            indices = [i for i, c in enumerate(data.clip_index) if c in wanted]
            return _ClipItems(data, indices, same_size=self._same_size)

        self.train_set = items(train_data, "train")
        self.val_set = items(eval_data, "val")
        self.test_set = items(eval_data, "test")

    @property
    def _same_size(self) -> bool:
        """Whether items have to be checked for one frame size: batches of unresized clips."""
        return self.size is None and self.batch_size > 1

    def _set_classes(self, classes: list[str]) -> None:
        self.classes = list(classes)
        self.num_classes = len(self.classes)

    def _setup_predict(self) -> None:
        if self.predict_root is None:
            self._setup_splits()
            assert isinstance(self.test_set, Subset)  # built by _setup_splits
            data = self._eval_data
            self.predict_set = self.test_set
            self.predict_source = self.root
            self._predict_items = [
                _item_of(data, int(i), data.root, data.samples[data.clip_index[int(i)]][1])
                for i in self.test_set.indices
            ]
            return
        if not self.classes:  # the model's classes: root's class folders (a scan, no decoding)
            self._set_classes(self._dataset("uniform", seed=None).classes)
        root = self.predict_root
        kind, flat = _predict_layout(root, self.format)
        data = self._dataset(
            self.eval_sampling, seed=self.seed, root=root, kind=kind, labelled=not flat
        )
        index = {name: i for i, name in enumerate(self.classes)}
        # a class folder named after one of root's classes keeps that label; others have none
        labels = [-1 if flat else index.get(data.classes[label], -1) for _, label in data.samples]
        self.predict_set = _ClipItems(
            data, range(len(data)), labels=labels, same_size=self._same_size
        )
        self.predict_source = root
        self._predict_items = [
            _item_of(data, i, root, labels[data.clip_index[i]]) for i in range(len(data))
        ]

    def predict_items(self) -> list[tuple[str, int | None]]:
        """``(clip, label)`` of each item of the predict set, in order (after ``setup``).

        ``clip`` is the clip's path relative to :attr:`predict_source` (``"cat/clip3.mp4"``,
        ``"clip3"`` for a frame folder), the same for every window of a clip; ``label`` is its
        index in :attr:`classes`, or ``None`` when the clip's class is not known.
        """
        return list(self._predict_items)

    def predict_dataloader(self) -> Any:
        """Batches of ``predict_root`` (when given) or of the test split, in order.

        Raises:
            DataError: when there is nothing to predict on: no ``predict_root`` and no test split.
        """
        if self.predict_set is None:
            self.setup("predict")
        if self.predict_set is None or len(self.predict_set) == 0:  # type: ignore[arg-type]
            raise DataError(
                f"VideoDataModule: nothing to predict on: predict_root is not set and the test "
                f"split of {self.root} is empty (test_split={self.test_split!r}); pass "
                f"--data.init_args.predict_root FOLDER, or a test_split above 0."
            )
        return self._loader("predict", shuffle=False)

    def state_dict(self) -> dict[str, Any]:
        """The class names, which checkpoints keep so that predict can check them."""
        return {"classes": list(self.classes)} if self.classes else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Check a checkpoint's class names against ``root``'s.

        Raises:
            ConfigError: when the model was trained on other classes than ``root`` holds.
        """
        saved = state_dict.get("classes")
        if saved and self.classes and list(saved) != self.classes:
            raise ConfigError(
                f"VideoDataModule: the checkpoint's model was trained on the classes "
                f"{list(saved)}, but {self.root} holds the class folders {self.classes}; set "
                f"data.init_args.root to the folder it was trained on (the class names come from "
                f"there)."
            )
        if saved and not self.classes:
            self._set_classes(list(saved))


def _shown(path: Path) -> str:
    """``path`` as given, plus the folder it resolves to when it is relative."""
    if path.is_absolute():
        return str(path)
    return f"{path} (looked for {path.resolve()}, relative to the current folder)"


def _few(paths: Sequence[Path], *, most: int = 3) -> str:
    """``a.mp4, b.mp4 and 3 more``: the first names of ``paths`` in natural order."""
    names = sorted((p.name for p in paths), key=natural_key)
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


_BOTH_KINDS = (
    f"videos ({', '.join(VIDEO_EXTENSIONS)}) or folders of frames ({', '.join(FRAME_EXTENSIONS)}, "
    f"one folder per clip)"
)


def _root_missing(root: Path) -> DataError:
    what = "is a file, not a folder" if root.exists() else "does not exist"
    return DataError(
        f"VideoDataModule: root {_shown(root)} {what}; set data.init_args.root to your folder of "
        f"class folders (ROOT/<class>/<clip>), or write the built-in example there first: "
        f"cnnlstm generate digit-clips {root.as_posix().rstrip('/')}/"
    )


def _source_fps_missing(root: Path, fps: float) -> ConfigError:
    return ConfigError(
        f"VideoDataModule: fps={fps} samples clips by time, but {root} holds folders of frames "
        f"and image files carry no timestamps; set data.init_args.source_fps to the rate the "
        f"frames were taken at (e.g. --data.init_args.source_fps 25 for 25 frames per second), "
        f"or leave fps unset to sample by frame."
    )


def _videos_in(folder: Path) -> list[Path]:
    """The videos directly in ``folder`` (not hidden), in natural order."""
    videos = [
        p for p in visible_entries(folder) if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
    ]
    return sorted(videos, key=lambda p: natural_key(p.name))


def _holds(folder: Path, extensions: Sequence[str]) -> bool:
    """Whether ``folder`` holds a file (not hidden) ending in one of ``extensions``."""
    return any(p.is_file() and p.suffix.lower() in extensions for p in visible_entries(folder))


def _subfolders(folder: Path) -> list[Path]:
    """The folders (not hidden) in ``folder``, in natural order."""
    return sorted(
        (p for p in visible_entries(folder) if p.is_dir()), key=lambda p: natural_key(p.name)
    )


def _frame_clip_in(folder: Path) -> Path | None:
    """The first folder of frames in ``folder`` (a clip folder), or ``None``."""
    return next((d for d in _subfolders(folder) if _holds(d, FRAME_EXTENSIONS)), None)


def _mixed_kinds(what: str, video: Path, frames: Path, advice: str) -> DataError:
    return DataError(
        f"VideoDataModule: {what} holds both videos ({video}) and folders of frames ({frames}), "
        f"but one run reads one kind of clip; {advice}."
    )


def _root_kind(root: Path) -> Literal["video", "frames"]:
    """What ``root/<class>/`` holds for ``format="auto"``: videos or folders of frames.

    Raises:
        DataError: for a class folder that holds no clips of either kind, and for a root that
            holds both kinds.
    """
    found: dict[str, Path] = {}  # kind -> the first clip of that kind
    for class_dir in _subfolders(root):
        videos, frame_clip = _videos_in(class_dir), _frame_clip_in(class_dir)
        if videos:
            found.setdefault("video", videos[0])
        if frame_clip is not None:
            found.setdefault("frames", frame_clip)
        if not videos and frame_clip is None:
            files = [p for p in visible_entries(class_dir) if p.is_file()]
            held = f"; it holds only {_few(files)}" if files else ""
            raise DataError(
                f"VideoDataModule: class folder {class_dir} is empty; expected {_BOTH_KINDS} "
                f"in it{held}."
            )
        if len(found) == 2:
            raise _mixed_kinds(
                f"root {root}",
                found["video"].relative_to(root),
                found["frames"].relative_to(root),
                "keep one kind under it (move the other clips out, or convert them)",
            )
    return "frames" if "frames" in found else "video"


def _predict_layout(root: Path, format: str) -> tuple[Literal["video", "frames"], bool]:
    """``(kind, flat)`` of a predict folder: videos or frame folders, directly in it or by class.

    Raises:
        DataError: for a folder that does not exist, holds no clips, is itself one clip, or mixes
            videos with frame folders or clips with folders of clips.
    """
    if not root.is_dir():
        if root.is_file() and root.suffix.lower() in VIDEO_EXTENSIONS:
            raise DataError(
                f"VideoDataModule: predict_root {root} is one video, not a folder; give the "
                f"folder it is in ({root.parent}) as predict_root, which predicts every clip in it."
            )
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise DataError(
            f"VideoDataModule: predict_root {_shown(root)} {what}; give a folder of videos or of "
            f"frame folders (one folder of images per clip)."
        )
    folders = _subfolders(root)
    videos_ok, frames_ok = format in ("auto", "video"), format in ("auto", "frames")
    videos = _videos_in(root) if videos_ok else []
    frame_clips = [d for d in folders if _holds(d, FRAME_EXTENSIONS)] if frames_ok else []
    # folders of clips (class or grouping folders): they hold videos or folders
    grouping = [d for d in folders if _holds(d, VIDEO_EXTENSIONS) or _subfolders(d)]
    if videos and frame_clips:
        raise _mixed_kinds(
            f"predict_root {root}",
            Path(videos[0].name),
            Path(frame_clips[0].name),
            "move one kind to a folder of its own and predict on each folder in turn",
        )
    here = videos or frame_clips
    if here and grouping:
        raise _mixed_layout(root, here[0], grouping[0])
    if here:
        return ("video" if videos else "frames"), True
    # one folder per class (or per group): the kind of clip they hold
    grouped_videos = [v for d in grouping for v in _videos_in(d)[:1]] if videos_ok else []
    grouped_frames = [c for d in grouping if (c := _frame_clip_in(d))] if frames_ok else []
    if grouped_videos and grouped_frames:
        raise _mixed_kinds(
            f"predict_root {root}",
            grouped_videos[0].relative_to(root),
            grouped_frames[0].relative_to(root),
            "move one kind to a folder of its own and predict on each folder in turn",
        )
    if grouped_videos:
        return "video", False
    if frames_ok and (grouped_frames or any(_subfolders(d) for d in grouping)):
        return "frames", False  # FrameFolder names a clip folder that holds no frames
    if frames_ok and _holds(root, FRAME_EXTENSIONS):
        frames = [p for p in visible_entries(root) if p.suffix.lower() in FRAME_EXTENSIONS]
        raise DataError(
            f"VideoDataModule: predict_root {root} looks like one clip: it holds {len(frames)} "
            f"frame{'' if len(frames) == 1 else 's'} ({_few(frames)}) and no clip folders; give "
            f"the folder it is in "
            f"({root.parent}) as predict_root, which predicts every clip in it, or move it into "
            f"a folder of its own and give that."
        )
    wanted = {
        "auto": f"videos ({', '.join(VIDEO_EXTENSIONS)}) or folders of frames "
        f"({', '.join(FRAME_EXTENSIONS)})",
        "video": f"videos ({', '.join(VIDEO_EXTENSIONS)})",
        "frames": f"folders of frames ({', '.join(FRAME_EXTENSIONS)})",
    }[format]
    files = [p for p in visible_entries(root) if p.is_file()]
    held = f"; it holds only {_few(files)}" if files else ""
    raise DataError(
        f"VideoDataModule: predict_root {root} holds no clips; expected {wanted} in it, or in "
        f"one folder per class{held}."
    )


def _mixed_layout(root: Path, clip: Path, folder: Path) -> DataError:
    return DataError(
        f"VideoDataModule: predict_root {root} mixes clips ({clip.name}) with folders of clips "
        f"({folder.name}); use one layout: clips directly in it, or one folder per class."
    )


def _item_of(
    data: VideoFolder | FrameFolder, index: int, root: Path, label: int
) -> tuple[str, int | None]:
    """``(clip path relative to root, label or None)`` of item ``index`` of a clip dataset."""
    path = data.samples[data.clip_index[index]][0]
    return path.relative_to(root).as_posix(), (None if label < 0 else label)


class _ClipItems(Subset[tuple[Tensor, Tensor]]):
    """Items ``indices`` of a clip dataset, with other labels and a check that they batch together.

    Args:
        data: the clip dataset.
        indices: the items of ``data`` to keep.
        labels: ``labels[clip]`` replaces the label of every item of a clip (-1: none);
            ``None`` keeps ``data``'s labels.
        same_size: check that every item has the frame size of the first item read, which
            batches of clips that are not resized need (else collate fails deep in PyTorch).
    """

    def __init__(
        self,
        data: VideoFolder | FrameFolder,
        indices: Sequence[int],
        *,
        labels: Sequence[int] | None = None,
        same_size: bool = False,
    ) -> None:
        super().__init__(data, list(indices))
        self.data = data
        self.labels = None if labels is None else list(labels)
        self.same_size = same_size
        self._first: tuple[int, tuple[int, int]] | None = None  # (clip, (H, W)) first read

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        item = self.indices[index]
        x, y = self.data[item]
        clip = self.data.clip_index[item % len(self.data)]
        if self.labels is not None:
            y = torch.tensor(self.labels[clip], dtype=torch.int64)
        if self.same_size:
            self._check_size(clip, (int(x.shape[-2]), int(x.shape[-1])))
        return x, y

    def __getitems__(self, indices: list[int]) -> list[tuple[Tensor, Tensor]]:
        return [self[i] for i in indices]

    def _check_size(self, clip: int, size: tuple[int, int]) -> None:
        if self._first is None:
            self._first = (clip, size)
            return
        first, (h0, w0) = self._first
        if size != (h0, w0):
            h, w = size
            raise DataError(
                f"VideoDataModule: clips of different frame sizes cannot share a batch: "
                f"{self.data.samples[clip][0]} is {w}x{h} (width x height) but "
                f"{self.data.samples[first][0]}, read before it, is {w0}x{h0}; set size: [H, W] "
                f"to resize every frame to one size (e.g. --data.init_args.size '[{h0}, {w0}]'), "
                f"or batch_size: 1."
            )


class ArrayDataModule(_LoaderMixin):
    """Samples from an :class:`ArrayDataset` (``.npy`` / ``.npz``), split at random or in order.

    Items are what :class:`ArrayDataset` yields: ``(x, y)`` with labels, bare ``x`` without.
    For text recognition, an ``.npz`` with target lengths (``x``, ``y`` padded to
    ``(N, max_length)`` and ``lengths``, as ``cnnlstm generate text-lines`` writes it) gives
    the batches of :class:`TextLinesDataModule`, ``(images (B, C, H, W), targets (sum of
    lengths,), target_lengths (B,))`` (:func:`~cnnlstm.data.collate.ctc_collate`), so a copy of
    ``configs/text_lines.yaml`` trains on the user's own lines; an ``alphabet`` string in the
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
            _permutation(len(data), self.seed) if self.split == "random" else list(range(len(data)))
        )
        self.train_set = Subset(data, order[:n_train])
        self.val_set = Subset(data, order[n_train : n_train + n_val])
        self.test_set = Subset(data, order[n_train + n_val :])

    def predict_dataloader(self) -> Any:
        """Every sample of ``predict_path`` in order, or the test batches without it."""
        if self.predict_path is None:
            return self._loader("test", shuffle=False)
        if self.predict_set is None:
            self.setup("predict")
        return self._loader("predict", shuffle=False)


class SensorDataModule(_LoaderMixin):
    """Windows of a sensor file, split by time, scaled with statistics of the training rows.

    The rows are cut in time order: the first ones train, the next ones validate, the last ones
    test; each window lies inside one part, so no window reaches across a boundary and the
    training loader shuffles training windows only. The :class:`StandardScaler` is fitted on the
    training rows alone. With ``train_path`` (a file of normal operation) training and
    validation rows come from that file and the whole of ``path`` is the test set.

    Args:
        path: the sensor file (the test file when ``train_path`` is given).
        train_path: a separate file to train and validate on.
        window: ``W``, rows per window.
        stride: rows between training window starts.
        eval_stride: rows between validation/test window starts; ``None`` uses ``stride``.
        val_split: fraction or count of (training file) rows for validation.
        test_split: fraction or count of rows for testing (ignored with ``train_path``).
        label_columns: label columns, never used as features.
        datetime_column: the datetime column, ``"auto"`` or ``None``.
        nan_policy: ``"fail"``, ``"ffill"`` or ``"interpolate"``.
        columns: the feature columns (default: all but time and labels).
        scale: standardise features with the training rows' mean and std.
        batch_size: windows per batch.
        num_workers: ``DataLoader`` worker processes.
        seed: fixes the shuffling of training windows.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "pump.csv"
        >>> rows = [f"{t};{np.sin(t / 5):.4f};{t % 7};{int(t > 150)}" for t in range(200)]
        >>> _ = path.write_text("\\n".join(["time;flow;level;anomaly", *rows]))
        >>> module = SensorDataModule(path, window=16, stride=4, batch_size=5)
        >>> module.setup()
        >>> module.row_splits
        {'train': (0, 140), 'val': (140, 160), 'test': (160, 200)}
        >>> next(iter(module.train_dataloader()))[0].shape
        torch.Size([5, 16, 2])
    """

    def __init__(
        self,
        path: str | Path,
        *,
        train_path: str | Path | None = None,
        window: int = 64,
        stride: int = 1,
        eval_stride: int | None = None,
        val_split: float = 0.1,
        test_split: float = 0.2,
        label_columns: Sequence[str] = ("anomaly", "changepoint"),
        datetime_column: str | None = "auto",
        nan_policy: NanPolicy = "fail",
        columns: list[str] | None = None,
        scale: bool = True,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if window < 1:
            raise ValueError(f"window has to be a positive int, but got {window}")
        if stride < 1 or (eval_stride is not None and eval_stride < 1):
            raise ValueError(
                f"stride and eval_stride have to be positive ints, but got stride={stride}, "
                f"eval_stride={eval_stride}"
            )
        self.save_hyperparameters()
        self.path = Path(path)
        self.train_path = None if train_path is None else Path(train_path)
        self.window = window
        self.stride = stride
        self.eval_stride = eval_stride or stride
        self.val_split = val_split
        self.test_split = test_split
        self.options: dict[str, Any] = {
            "label_columns": tuple(label_columns),
            "datetime_column": datetime_column,
            "nan_policy": nan_policy,
            "columns": columns,
        }
        self.scale = scale
        self.scaler: StandardScaler | None = None
        self.row_splits: dict[str, tuple[int, int]] = {}

    def _read(self, path: Path) -> SensorCSV:
        return SensorCSV(path, window=self.window, stride=self.stride, **self.options)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        source = self._read(self.train_path or self.path)
        rows = len(source.features)
        test_share = 0 if self.train_path is not None else self.test_split
        n_train, n_val, _ = split_sizes(rows, self.val_split, test_share, what="rows")
        self.row_splits = {
            "train": (0, n_train),
            "val": (n_train, n_train + n_val),
            "test": (n_train + n_val, rows),
        }
        self.feature_names = source.feature_names
        self.num_features = len(source.feature_names)
        self.scaler = StandardScaler().fit(source.features[:n_train]) if self.scale else None

        def scaled(data: SensorCSV) -> np.ndarray:
            values = data.features if self.scaler is None else self.scaler.transform(data.features)
            return np.asarray(values, dtype=np.float32)

        values = scaled(source)
        where = str(source.path)

        def part(name: str, stride: int) -> SensorWindows:
            start, stop = self.row_splits[name]
            return SensorWindows(
                values,
                source.targets,
                window=self.window,
                stride=stride,
                start=start,
                stop=stop,
                source=f"{where} ({name} split)",
            )

        self.train_set = part("train", self.stride)
        self.val_set = part("val", self.eval_stride) if n_val else None
        if self.train_path is not None:
            test = self._read(self.path)
            if test.feature_names != source.feature_names:
                raise DataError(
                    f"{test.path}: its sensor columns {test.feature_names} differ from the "
                    f"training file's {source.feature_names}."
                )
            self.test_data = test
            self.test_set = SensorWindows(
                scaled(test),
                test.targets,
                window=self.window,
                stride=self.eval_stride,
                source=str(test.path),
            )
        else:
            self.test_data = source
            self.test_set = part("test", self.eval_stride) if rows > n_train + n_val else None
        self.source = source


class _GeneratedDataModule(_LoaderMixin):
    """Train, val and test sets drawn by a generator with three different seeds."""

    def __init__(
        self,
        *,
        train_samples: int,
        val_samples: int,
        test_samples: int,
        batch_size: int,
        num_workers: int,
        seed: int,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        for name, count in (("train_samples", train_samples), ("val_samples", val_samples)):
            if count < 1:
                raise ValueError(f"{name} has to be a positive int, but got {count}")
        if test_samples < 0:
            raise ValueError(f"test_samples has to be >= 0, but got {test_samples}")
        self.train_samples = train_samples
        self.val_samples = val_samples
        self.test_samples = test_samples

    def setup(self, stage: str | None = None) -> None:
        """The sets are built in ``__init__`` (bad options fail there); nothing to do."""


class MovingDigitsDataModule(_GeneratedDataModule):
    """:class:`~cnnlstm.data.moving_digits.MovingDigits` for next-frame prediction.

    Training and validation sequences come from the ``"train"`` split with seeds ``seed`` and
    ``seed + 1``, test sequences from the ``"test"`` split (other MNIST images when
    ``mnist_root`` is given). Batches are ``(inputs (B, T_in, 1, H, W), targets (B, T_out, 1, H,
    W))``.

    Example:
        >>> module = MovingDigitsDataModule(train_samples=4, val_samples=2, test_samples=2,
        ...                                 canvas_size=32, digit_size=12, batch_size=2)
        >>> next(iter(module.train_dataloader()))[0].shape
        torch.Size([2, 10, 1, 32, 32])
    """

    def __init__(
        self,
        *,
        train_samples: int = 10000,
        val_samples: int = 1000,
        test_samples: int = 1000,
        num_digits: int = 2,
        canvas_size: int = 64,
        digit_size: int = 28,
        frames: int = 20,
        input_frames: int = 10,
        speed: float = 0.1,
        mnist_root: str | None = None,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(
            train_samples=train_samples,
            val_samples=val_samples,
            test_samples=test_samples,
            batch_size=batch_size,
            num_workers=num_workers,
            seed=seed,
        )
        self.save_hyperparameters()
        options: dict[str, Any] = {
            "num_digits": num_digits,
            "canvas_size": canvas_size,
            "digit_size": digit_size,
            "frames": frames,
            "input_frames": input_frames,
            "speed": speed,
            "mnist_root": mnist_root,
        }
        self.train_set = MovingDigits(num_samples=train_samples, seed=seed, **options)
        self.val_set = MovingDigits(num_samples=val_samples, seed=seed + 1, **options)
        self.test_set = (
            MovingDigits(num_samples=test_samples, seed=seed + 2, split="test", **options)
            if test_samples
            else None
        )


class DigitClipsDataModule(_GeneratedDataModule):
    """:class:`~cnnlstm.data.moving_digits.DigitClips` for clip classification.

    Seeds and splits as in :class:`MovingDigitsDataModule`. Batches are
    ``(clips (B, T, 1, H, W), labels (B,))``; ``num_classes`` says how many labels there are.

    Example:
        >>> module = DigitClipsDataModule(train_samples=4, val_samples=2, test_samples=2,
        ...                               batch_size=4)
        >>> next(iter(module.train_dataloader()))[0].shape
        torch.Size([4, 10, 1, 32, 32])
    """

    def __init__(
        self,
        *,
        train_samples: int = 2000,
        val_samples: int = 400,
        test_samples: int = 400,
        label: Literal["digit", "direction"] = "digit",
        directions: int = 4,
        num_digits: int = 1,
        canvas_size: int = 32,
        digit_size: int = 18,
        frames: int = 10,
        speed: float = 0.08,
        visible: float = 0.35,
        occluder_value: float = 0.5,
        mnist_root: str | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(
            train_samples=train_samples,
            val_samples=val_samples,
            test_samples=test_samples,
            batch_size=batch_size,
            num_workers=num_workers,
            seed=seed,
        )
        self.save_hyperparameters()
        options: dict[str, Any] = {
            "label": label,
            "directions": directions,
            "num_digits": num_digits,
            "canvas_size": canvas_size,
            "digit_size": digit_size,
            "frames": frames,
            "speed": speed,
            "visible": visible,
            "occluder_value": occluder_value,
            "mnist_root": mnist_root,
        }
        self.train_set = DigitClips(num_samples=train_samples, seed=seed, **options)
        self.val_set = DigitClips(num_samples=val_samples, seed=seed + 1, **options)
        self.test_set = (
            DigitClips(num_samples=test_samples, seed=seed + 2, split="test", **options)
            if test_samples
            else None
        )
        self.num_classes = self.train_set.num_classes


class TextLinesDataModule(_GeneratedDataModule):
    """:class:`~cnnlstm.data.text_lines.TextLines` for CTC text recognition.

    Train, val and test lines are drawn with seeds ``seed``, ``seed + 1`` and ``seed + 2``.
    Batches come from :meth:`TextLines.collate`: ``(images (B, 1, H, W), targets (sum of
    lengths,), target_lengths (B,))``; ``num_classes`` counts the CTC blank.

    Example:
        >>> module = TextLinesDataModule(train_samples=4, val_samples=2, test_samples=2,
        ...                              batch_size=2)
        >>> next(iter(module.train_dataloader()))[0].shape
        torch.Size([2, 1, 32, 128])
    """

    def __init__(
        self,
        *,
        train_samples: int = 10000,
        val_samples: int = 1000,
        test_samples: int = 1000,
        height: int = 32,
        width: int = 128,
        alphabet: str = DEFAULT_ALPHABET,
        min_length: int = 3,
        max_length: int = 10,
        font_size: tuple[int, int] = (16, 24),
        rotation: float = 3.0,
        shear: float = 0.2,
        scale: tuple[float, float] = (0.85, 1.0),
        blur: float = 0.8,
        noise: float = 0.08,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(
            train_samples=train_samples,
            val_samples=val_samples,
            test_samples=test_samples,
            batch_size=batch_size,
            num_workers=num_workers,
            seed=seed,
        )
        self.save_hyperparameters()
        options: dict[str, Any] = {
            "height": height,
            "width": width,
            "alphabet": alphabet,
            "min_length": min_length,
            "max_length": max_length,
            "font_size": font_size,
            "rotation": rotation,
            "shear": shear,
            "scale": scale,
            "blur": blur,
            "noise": noise,
        }
        self.train_set = TextLines(num_samples=train_samples, seed=seed, **options)
        self.val_set = TextLines(num_samples=val_samples, seed=seed + 1, **options)
        self.test_set = (
            TextLines(num_samples=test_samples, seed=seed + 2, **options) if test_samples else None
        )
        self.collate_fn = TextLines.collate
        self.num_classes = self.train_set.num_classes
        self.alphabet = alphabet


class DigitImagesDataModule(_GeneratedDataModule):
    """:class:`~cnnlstm.data.digit_images.DigitImages` for image classification.

    Training items are items ``[0, train_samples)`` of the ``"train"`` split, validation items
    the next ``val_samples`` of it (so the two share no item: no MNIST digit, no drawn image),
    and test items come from the ``"test"`` split (other MNIST images when ``mnist_root`` is
    given), all with ``seed``. Batches are ``(images (B, 1, H, W), labels (B,))``;
    ``num_classes`` is 10.

    Args:
        train_samples: training images.
        val_samples: validation images.
        test_samples: test images (0 for none).
        image_size: the side of the square images in pixels.
        noise: the standard deviation of Gaussian pixel noise (0 for none).
        mnist_root: a folder with MNIST IDX files, or ``None`` to draw digits.
        batch_size: images per batch.
        num_workers: ``DataLoader`` worker processes.
        seed: fixes the images, the MNIST order and the shuffling.

    Example:
        >>> module = DigitImagesDataModule(train_samples=4, val_samples=2, test_samples=2,
        ...                                batch_size=4)
        >>> next(iter(module.train_dataloader()))[0].shape
        torch.Size([4, 1, 28, 28])
    """

    def __init__(
        self,
        *,
        train_samples: int = 4000,
        val_samples: int = 500,
        test_samples: int = 500,
        image_size: int = 28,
        noise: float = 0.0,
        mnist_root: str | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(
            train_samples=train_samples,
            val_samples=val_samples,
            test_samples=test_samples,
            batch_size=batch_size,
            num_workers=num_workers,
            seed=seed,
        )
        self.save_hyperparameters()
        options: dict[str, Any] = {
            "image_size": image_size,
            "noise": noise,
            "mnist_root": mnist_root,
            "seed": seed,
        }
        self.train_set = DigitImages(num_samples=train_samples, **options)
        self.val_set = DigitImages(num_samples=val_samples, start=train_samples, **options)
        self.test_set = (
            DigitImages(num_samples=test_samples, split="test", **options) if test_samples else None
        )
        self.num_classes = self.train_set.num_classes
        self.image_size = image_size
