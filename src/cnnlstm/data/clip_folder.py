"""What the clip readers share: the folder layout, the sampling, the item format.

:class:`~cnnlstm.data.video.VideoFolder` (videos, decoded with PyAV) and
:class:`~cnnlstm.data.frame_folder.FrameFolder` (folders of frames, read with Pillow) are
:class:`ClipFolder` s: one layout, ``root/<class>/<clip>`` (hidden entries, names starting with
``.`` such as ``.ipynb_checkpoints``, ``.git`` or ``.DS_Store``, are skipped at every level), one
set of sampling options and one item format, ``(clip (T, C, H, W) float32 in [0, 1], label
int64)``:

- ``sampling="uniform"``: ``T`` frames spread over the clip, one at the centre of each of ``T``
  equal segments;
- ``sampling="random"``: a window of ``T`` consecutive frames at a random start;
- ``sampling="sliding"``: every window of ``T`` consecutive frames, ``stride`` frames apart, each
  window its own item (the dataset is indexed over ``(clip, window)``);
- ``frames=None``: every frame of the clip (clips differ in length: batch them with
  :func:`cnnlstm.data.collate.pad_collate`).

With ``fps`` set, a clip is first read as a sequence of moments ``0, 1/fps, 2/fps, ...`` seconds
(each showing the frame on screen at that moment), and the sampling above runs over those moments,
so the same scene recorded at 10 and at 30 frames per second gives the same items. A file in a
class folder that is neither a video (:data:`VIDEO_EXTENSIONS`) nor an image
(:data:`FRAME_EXTENSIONS`) is named in a warning. Nothing here decodes a video.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import Dataset

from cnnlstm.data.paths import natural_key, visible_entries
from cnnlstm.errors import DataError

__all__ = [
    "FRAME_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "ClipFolder",
    "FloatFrames",
    "Sampling",
    "brief",
    "to_float",
    "uniform_positions",
    "video_endings",
    "warn_once",
    "window_count",
]

Sampling = Literal["uniform", "random", "sliding"]

VIDEO_EXTENSIONS = (
    ".mp4",
    ".avi",
    ".mkv",
    ".webm",
    ".mov",
    ".m4v",
    ".3gp",
    ".3g2",
    ".mpg",
    ".mpeg",
    ".ts",
    ".mts",
    ".m2ts",
    ".vob",
    ".wmv",
    ".asf",
    ".flv",
    ".ogv",
    ".mxf",
)
"""File endings :class:`~cnnlstm.data.video.VideoFolder` takes as videos by default (matched
case-insensitively: ``.MOV`` from an iPhone is a video): the containers FFmpeg reads that
cameras, phones, screen recorders and editors write. The first four are the ones messages name
first."""
FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg")
"""File endings :class:`~cnnlstm.data.frame_folder.FrameFolder` takes as frames by default."""

_SAMPLINGS: tuple[str, ...] = get_args(Sampling)


def video_endings() -> str:
    """The endings of :data:`VIDEO_EXTENSIONS` for a message: the common four, then the others.

    Example:
        >>> video_endings().split(" or ")[0]
        'videos (.mp4, .avi, .mkv, .webm)'
    """
    common, other = VIDEO_EXTENSIONS[:4], VIDEO_EXTENSIONS[4:]
    return f"videos ({', '.join(common)}) or other video files ({', '.join(other)})"


_warned: set[tuple[str, ...]] = set()  # what a warning named, so it is given once per process


def warn_once(key: tuple[str, ...], message: str) -> None:
    """Warn ``message`` unless a warning with the same ``key`` was given in this process.

    A DataModule reads one folder with several datasets (train, evaluation, a class scan) and
    a truncated file is met again in every epoch: the user hears about each thing once.
    """
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(message, UserWarning, stacklevel=2)


def _names(paths: Sequence[Path], *, most: int = 3) -> str:
    """``a.mp4, b.mp4 and 3 more``: the first few names of ``paths`` in natural order."""
    names = sorted((p.name for p in paths), key=natural_key)
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def _where(path: Path) -> str:
    """``clips`` as given, plus where it resolves to when it is relative."""
    return str(path) if path.is_absolute() else f"{path} (that is {path.resolve()})"


def uniform_positions(length: int, frames: int) -> np.ndarray:
    """Positions of ``frames`` samples spread over ``length`` steps: the centre of each segment.

    Segment ``i`` of ``frames`` equal segments covers ``[i * length / frames, (i + 1) * length /
    frames)``; its centre, rounded down, is ``(2 * i + 1) * length // (2 * frames)``. When
    ``frames > length`` positions repeat.

    Example:
        >>> uniform_positions(10, 5).tolist()
        [1, 3, 5, 7, 9]
    """
    i = np.arange(frames, dtype=np.int64)
    return (2 * i + 1) * length // (2 * frames)


def window_count(length: int, frames: int, stride: int) -> int:
    """Number of windows of ``frames`` steps, ``stride`` apart, that fit in ``length`` steps.

    Example:
        >>> window_count(10, 4, 3)
        3
    """
    return 0 if length < frames else (length - frames) // stride + 1


class ClipFolder(Dataset[tuple[Tensor, Tensor]]):
    """Shared machinery of the clip readers: layout, sampling, output.

    :class:`~cnnlstm.data.video.VideoFolder` and :class:`~cnnlstm.data.frame_folder.FrameFolder`
    are clip folders. Subclasses find the clips of a class folder (:meth:`_find_clips`), count a
    clip's frames and give their times (:meth:`_frame_times`), and read frames: as ``uint8``
    arrays (:meth:`_read`), or straight into the float clip (:meth:`_read_float`).
    """

    kind = "clip"
    extensions: tuple[str, ...] = ()
    """File endings the reader takes (set by each reader before it scans)."""

    def __init__(
        self,
        root: str | Path,
        *,
        frames: int | None = 16,
        sampling: Sampling = "uniform",
        stride: int | None = None,
        size: tuple[int, int] | None = None,
        fps: float | None = None,
        grayscale: bool = False,
        seed: int | None = None,
        transform: Callable[[Tensor], Tensor] | None = None,
        labelled: bool = True,
    ) -> None:
        if frames is not None and (isinstance(frames, bool) or frames < 1):
            raise ValueError(f"frames has to be a positive int or None, but got {frames!r}")
        if sampling not in _SAMPLINGS:
            raise ValueError(f"sampling has to be one of {_SAMPLINGS}, but got {sampling!r}")
        if frames is None and sampling != "uniform":
            raise ValueError(
                f"frames has to be an int with sampling={sampling!r}, but got None "
                f"(frames=None returns whole clips)"
            )
        if stride is not None:
            if sampling != "sliding":
                raise ValueError(
                    f"stride has to be None unless sampling='sliding', but got stride={stride} "
                    f"with sampling={sampling!r}"
                )
            if stride < 1:
                raise ValueError(f"stride has to be a positive int, but got {stride}")
        if size is not None and (len(size) != 2 or min(size) < 1):
            raise ValueError(f"size has to be (height, width) of positive ints, but got {size!r}")
        if fps is not None and not fps > 0:
            raise ValueError(f"fps has to be a positive number or None, but got {fps!r}")
        self.root = Path(root)
        self.labelled = labelled
        self.frames = frames
        self.sampling = sampling
        self.stride = stride if stride is not None else (frames or 1)
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.fps = fps
        self.grayscale = grayscale
        self.seed = seed
        self.transform = transform

        self.classes, self.class_to_idx, self.samples = self._scan()
        self.targets = [label for _, label in self.samples]
        self._times: dict[int, np.ndarray] = {}
        # items: one per clip, or one per (clip, window) with sliding windows
        self.clip_index: list[int] = list(range(len(self.samples)))
        self._starts: list[int] = [0] * len(self.samples)
        if sampling == "sliding":
            self._index_windows()

    # -- layout ------------------------------------------------------------------------------

    def _find_clips(self, class_dir: Path) -> list[Path]:
        raise NotImplementedError

    def _scan(self) -> tuple[list[str], dict[str, int], list[tuple[Path, int]]]:
        name = type(self).__name__
        layout = "root/<class>/<clip>" if self.labelled else "root/<clip>"
        if not self.root.is_dir():
            what = "is a file, not a folder" if self.root.exists() else "does not exist"
            raise DataError(f"{name}: {_where(self.root)} {what}; expected {layout}.")
        if not self.labelled:
            clips = self._find_clips(self.root)
            if not clips:
                raise DataError(
                    f"{name}: {self.root} holds no {self.kind}s; expected {layout} "
                    f"({self._expected()}){self._hint(self.root)}."
                )
            self._warn_skipped(self.root)
            return [], {}, [(clip, -1) for clip in clips]
        classes = sorted(p.name for p in visible_entries(self.root) if p.is_dir())
        if not classes:
            raise DataError(
                f"{name}: {self.root} holds no class folders; expected {layout}, one folder per "
                f"class{self._hint(self.root)}."
            )
        class_to_idx = {c: i for i, c in enumerate(classes)}
        samples: list[tuple[Path, int]] = []
        for c in classes:
            clips = self._find_clips(self.root / c)
            if not clips:
                raise DataError(
                    f"{name}: class folder {self.root / c} is empty; expected {self.kind}s in it "
                    f"({self._expected()}){self._hint(self.root / c)}."
                )
            self._warn_skipped(self.root / c)
            samples.extend((clip, class_to_idx[c]) for clip in clips)
        return classes, class_to_idx, samples

    def _warn_skipped(self, folder: Path) -> None:
        """Warn, naming them, about files in ``folder`` that are neither videos nor images.

        Such files are skipped (``notes.txt``, a ``.gif``, a video in a container this reader
        does not know); known videos and images that this reader does not take (a thumbnail
        beside videos, a video beside frame folders) are skipped without a word.
        """
        known = set(VIDEO_EXTENSIONS) | set(FRAME_EXTENSIONS) | set(self.extensions)
        skipped = sorted(
            (p for p in visible_entries(folder) if p.is_file() and p.suffix.lower() not in known),
            key=lambda p: natural_key(p.name),
        )
        if not skipped:
            return
        noun = "a file that is" if len(skipped) == 1 else f"{len(skipped)} files that are"
        warn_once(
            ("skipped", str(folder), *(p.name for p in skipped)),
            f"{type(self).__name__}: skipped {noun} neither a video nor an image in {folder}: "
            f"{_names(skipped, most=10)}. Video files end in {', '.join(VIDEO_EXTENSIONS)} and "
            f"images in {', '.join(FRAME_EXTENSIONS)} (in any case); move other files out of the "
            f"folder, or rename a video whose ending is wrong.",
        )

    def _hint(self, folder: Path) -> str:
        """What ``folder`` holds instead of clips, as the end of an error message ("" if nothing).

        A folder of videos read as frame folders (or the other way round) says so and names the
        reader to use; other files are named so the user sees what was found.
        """
        entries = visible_entries(folder)
        videos = [p for p in entries if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS]
        images = [p for p in entries if p.is_file() and p.suffix.lower() in FRAME_EXTENSIONS]
        frame_folders = [
            p
            for p in entries
            if p.is_dir() and any(f.suffix.lower() in FRAME_EXTENSIONS for f in visible_entries(p))
        ]
        if self.kind == "video" and frame_folders:
            return (
                f", but it holds folders of frames ({_names(frame_folders)}): read them with "
                f"FrameFolder (format: frames)"
            )
        if self.kind != "video" and videos:
            return (
                f", but it holds videos ({_names(videos)}): read them with VideoFolder "
                f"(format: video)"
            )
        if self.kind != "video" and images:
            return (
                f", but it holds frames directly ({_names(images)}): put each clip's frames in a "
                f"folder of their own"
            )
        others = [p for p in entries if p.is_file()]
        return f"; it holds only {_names(others)}" if others else ""

    def _expected(self) -> str:
        raise NotImplementedError

    # -- timing and sampling -----------------------------------------------------------------

    def _frame_times(self, clip: int) -> np.ndarray:
        """Seconds of each frame of a clip from its first frame, ``(N,)``."""
        raise NotImplementedError

    def _read(self, clip: int, indices: np.ndarray) -> list[np.ndarray]:
        """Frames ``indices`` (sorted, unique; empty: all) of a clip, each ``uint8 (C, H, W)``."""
        raise NotImplementedError

    def _describe(self, clip: int, frame: int) -> str:
        """The file to name in an error about frame ``frame`` of clip ``clip``."""
        return str(self.samples[clip][0])

    def _times_of(self, clip: int) -> np.ndarray:
        if clip not in self._times:
            self._times[clip] = self._frame_times(clip)
        return self._times[clip]

    def num_frames(self, clip: int) -> int:
        """Frames in clip ``clip`` as stored in the file (before ``fps`` resampling)."""
        return len(self._times_of(clip))

    def timeline(self, clip: int) -> np.ndarray:
        """Source frame index of each step the sampling runs over, ``(M,)``.

        Without ``fps`` the steps are the frames; with ``fps`` they are the moments ``k / fps``
        seconds, each mapped to the frame on screen at that moment.
        """
        times = self._times_of(clip)
        if self.fps is None:
            return np.arange(len(times), dtype=np.int64)
        steps = np.diff(times)
        frame_duration = float(np.median(steps)) if len(steps) else 1.0 / self.fps
        duration = float(times[-1]) + frame_duration
        moments = np.arange(max(1, int(np.ceil(duration * self.fps - 1e-6)))) / self.fps
        tolerance = 1e-3 * frame_duration
        return np.searchsorted(times, moments + tolerance, side="right").astype(np.int64) - 1

    def _index_windows(self) -> None:
        frames = self.frames
        assert frames is not None  # checked in __init__: sliding needs frames
        self.clip_index, self._starts = [], []
        for clip in range(len(self.samples)):
            count = window_count(len(self.timeline(clip)), frames, self.stride)
            self.clip_index.extend([clip] * count)
            self._starts.extend(range(0, count * self.stride, self.stride))
        if not self.clip_index:
            raise DataError(
                f"{type(self).__name__}: no clip under {self.root} has {frames} frames"
                f"{'' if self.fps is None else f' at {self.fps} fps'}; use fewer frames."
            )

    def positions(self, index: int) -> np.ndarray:
        """Steps of :meth:`timeline` that item ``index`` shows, ``(T,)``.

        ``sampling="random"`` draws from a generator seeded with ``(seed, index)`` when ``seed``
        is set (the same window every epoch, for validation), else from torch's global RNG, which
        a ``DataLoader`` seeds in each worker.
        """
        clip = self.clip_index[index]
        length = len(self.timeline(clip))
        if self.frames is None:
            return np.arange(length, dtype=np.int64)
        frames = self.frames
        if self.sampling == "uniform":
            return uniform_positions(length, frames)
        if self.sampling == "sliding":
            return np.arange(self._starts[index], self._starts[index] + frames, dtype=np.int64)
        # random: T consecutive steps; a clip shorter than T repeats its last step
        if length <= frames:
            return np.minimum(np.arange(frames, dtype=np.int64), length - 1)
        generator = None
        if self.seed is not None:
            state = np.random.SeedSequence([self.seed, index]).generate_state(1)[0]
            generator = torch.Generator().manual_seed(int(state))
        start = int(torch.randint(0, length - frames + 1, (1,), generator=generator))
        return np.arange(start, start + frames, dtype=np.int64)

    # -- items -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.clip_index)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        """Item ``index`` as ``(clip (T, C, H, W) float32 in [0, 1], label int64)``."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"{type(self).__name__} index {index} out of range {len(self)}")
        index %= len(self)
        clip = self.clip_index[index]
        return self._clip_tensor(clip, self.positions(index)), torch.tensor(
            self.samples[clip][1], dtype=torch.int64
        )

    def _clip_tensor(self, clip: int, positions: np.ndarray) -> Tensor:
        if self.fps is None and self.frames is None:
            out = self._read_float(clip, None)  # every frame: (T, C, H, W)
        else:
            sources = self.timeline(clip)[positions]  # (T,) frame indices in the file
            wanted, inverse = np.unique(sources, return_inverse=True)
            out = self._read_float(clip, wanted)  # (K, C, H, W)
            if len(wanted) != len(sources) or not np.array_equal(wanted, sources):
                out = out[torch.from_numpy(inverse.reshape(-1))]  # (T, C, H, W)
        if self.size is not None and tuple(out.shape[-2:]) != self.size:
            out = F.interpolate(out, size=self.size, mode="bilinear", antialias=True)
            out.clamp_(0.0, 1.0)  # (T, C, size[0], size[1])
        if self.transform is not None:
            out = self.transform(out)
        return out

    def _read_float(self, clip: int, indices: np.ndarray | None) -> Tensor:
        """Frames ``indices`` (all for ``None``) as ``float32 (K, C, H, W)`` in ``[0, 1]``.

        Frames of different sizes are resized to ``size`` one by one; without ``size`` they are a
        :class:`DataError`.
        """
        frames = self._read(clip, np.empty(0, dtype=np.int64) if indices is None else indices)
        shape = frames[0].shape
        odd = next((k for k, f in enumerate(frames) if f.shape != shape), None)
        if odd is None:
            return to_float(frames)  # (K, C, H, W)
        if self.size is None:
            n = int(indices[odd]) if indices is not None else odd
            h, w = frames[odd].shape[1:]
            raise DataError(
                f"{self._describe(clip, n)}: frame {n} is {w}x{h} (width x height) but the clip's "
                f"first frame is {shape[2]}x{shape[1]}; pass size=(H, W) to resize every frame."
            )
        resized = [
            F.interpolate(to_float([f]), size=self.size, mode="bilinear", antialias=True)
            for f in frames
        ]
        return torch.cat(resized).clamp_(0.0, 1.0)  # (K, C, size[0], size[1])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, classes={len(self.classes)}, "
            f"clips={len(self.samples)}, items={len(self)}, frames={self.frames}, "
            f"sampling={self.sampling!r}, fps={self.fps})"
        )


_SCALE = np.float32(255.0)


def to_float(frames: Sequence[np.ndarray]) -> Tensor:
    """``uint8 (C, H, W)`` frames to one ``float32 (T, C, H, W)`` clip in ``[0, 1]``.

    One pass per frame (NumPy, single-threaded: no contention with DataLoader workers), written
    into one array that becomes the tensor without a copy.
    """
    c, h, w = frames[0].shape
    out = np.empty((len(frames), c, h, w), dtype=np.float32)
    for i, frame in enumerate(frames):
        np.divide(frame, _SCALE, out=out[i])
    return torch.from_numpy(out)


class FloatFrames:
    """Decoded frames written straight into one ``float32 (T, C, H, W)`` array as they come.

    Converting each frame while it is still in cache, into the array the clip tensor wraps,
    saves keeping ``uint8`` copies and a second pass over the clip.
    """

    def __init__(self, capacity: int, *, channels: int, source: str) -> None:
        self.capacity = max(1, capacity)
        self.channels = channels
        self.source = source
        self._out: np.ndarray | None = None
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def append(self, pixels: np.ndarray) -> None:
        """Add one ``uint8 (C, H, W)`` frame; any strides (a transposed view is read in place)."""
        height, width = pixels.shape[1:]
        if self._out is None:
            self._out = np.empty((self.capacity, self.channels, height, width), dtype=np.float32)
        elif self._out.shape[2:] != (height, width):
            expected = f"{self._out.shape[3]}x{self._out.shape[2]}"
            raise DataError(
                f"{self.source}: frame {self._count} is {width}x{height} (width x height) but the "
                f"frames before it are {expected}; clips with changing frame sizes are not "
                f"supported."
            )
        if self._count == self._out.shape[0]:  # more frames than the header said: grow
            grown = np.empty((2 * self._count, *self._out.shape[1:]), dtype=np.float32)
            grown[: self._count] = self._out
            self._out = grown
        np.divide(pixels, _SCALE, out=self._out[self._count])
        self._count += 1

    def result(self) -> Tensor:
        """The frames so far, ``float32 (T, C, H, W)``."""
        assert self._out is not None, "no frames"
        out = self._out[: self._count]
        if self._count < self._out.shape[0]:
            out = out.copy()  # do not keep the unused capacity alive
        return torch.from_numpy(out)


def brief(err: BaseException) -> str:
    """A one-line description of a library error for a DataError message."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
