"""Folders of videos or of frame folders as a DataModule: :class:`VideoDataModule`.

Splits are over clips, so the windows of one clip stay in one split; ``predict`` runs on the test
split or on a separate folder of clips. How a folder's layout is read and checked lives in
:mod:`cnnlstm.data.video_layout`, the readers in :mod:`cnnlstm.data.video` and
:mod:`cnnlstm.data.frame_folder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset

from cnnlstm.data.clip_folder import Sampling
from cnnlstm.data.collate import pad_collate
from cnnlstm.data.frame_folder import FrameFolder
from cnnlstm.data.loading import BaseDataModule, seeded_permutation, split_sizes
from cnnlstm.data.video import OnTruncated, Orientation, VideoFolder
from cnnlstm.data.video_layout import (
    predict_layout,
    root_kind,
    root_missing_error,
    source_fps_missing_error,
)
from cnnlstm.errors import ConfigError, DataError

__all__ = ["VideoDataModule"]


class VideoDataModule(BaseDataModule):
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
        orientation: videos only: ``"display"`` turns frames as the file's display matrix asks
            (a phone video stored 568x320 and shown upright is read 320x568), as players and
            ffmpeg do; ``"stored"`` reads them as stored.
        on_truncated: videos only: a file cut short (its index lists frames it does not hold)
            is a :class:`DataError` with ``"error"``; ``"warn"`` warns once and reads the frames
            that are there.

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
        val_split: int | float = 0.1,
        test_split: int | float = 0.1,
        predict_root: str | Path | None = None,
        batch_size: int = 8,
        num_workers: int = 0,
        seed: int = 0,
        orientation: Orientation = "display",
        on_truncated: OnTruncated = "error",
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if format not in ("auto", "video", "frames"):
            raise ValueError(f"format has to be 'auto', 'video' or 'frames', but got {format!r}")
        for name, value, allowed in (
            ("orientation", orientation, get_args(Orientation)),
            ("on_truncated", on_truncated, get_args(OnTruncated)),
        ):
            if value not in allowed:
                choices = " or ".join(repr(choice) for choice in allowed)
                raise ValueError(f"{name} has to be {choices}, but got {value!r}")
        if format == "frames" and fps is not None and source_fps is None:
            raise source_fps_missing_error(Path(root), fps)
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
        self.orientation: Orientation = orientation
        self.on_truncated: OnTruncated = on_truncated
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
                raise root_missing_error(root)
            kind = self.format if self.format != "auto" else root_kind(root)
        if kind == "frames" and self.fps is not None and self.source_fps is None:
            raise source_fps_missing_error(root, self.fps)
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
        return VideoFolder(
            root, orientation=self.orientation, on_truncated=self.on_truncated, **common
        )

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
        order = seeded_permutation(clips, self.seed)
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
        kind, flat = predict_layout(root, self.format)
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
        return self._checked_predict_loader()

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
                f"or batch_size: 1.{self._turned_note(clip, first)}"
            )

    def _turned_note(self, *clips: int) -> str:
        """Which of ``clips`` were turned by their display matrix, for the size error ("" none)."""
        if not isinstance(self.data, VideoFolder):
            return ""
        turned = [self.data.samples[c][0].name for c in clips if self.data.turned(c)]
        if not turned:
            return ""
        return (
            f" Sizes are as shown: {' and '.join(turned)} carr{'y' if len(turned) > 1 else 'ies'} "
            f"a display matrix that turns {'their' if len(turned) > 1 else 'its'} frames (a "
            f"phone held upright); orientation: stored reads every clip as stored."
        )
