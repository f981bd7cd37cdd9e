"""Clip datasets over the user's files: videos decoded with PyAV, folders of frames with Pillow.

Both readers share one layout, ``root/<class>/<clip>`` (hidden entries, names starting with
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
so the same scene recorded at 10 and at 30 frames per second gives the same items.

Videos are read in every container of :data:`VIDEO_EXTENSIONS` (``.mp4``, ``.mov``, ``.mkv``,
``.webm``, ``.avi``, ``.m4v``, ``.3gp``, ``.mpg``, ``.ts``, ``.wmv``, ``.flv``... in any case);
a file in a class folder that is neither a video nor an image is named in a warning. Frames are
the RGB a plain ``frame.to_ndarray(format="rgb24")`` gives, turned the way the file's display
matrix asks (as players and ffmpeg show them; ``orientation="stored"`` keeps them as stored),
and a file cut short, whose index lists frames it does not hold, is a :class:`DataError`
(``on_truncated="warn"`` reads what is there).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import Dataset

from cnnlstm.data.paths import natural_key, visible_entries
from cnnlstm.errors import DataError
from cnnlstm.extras import importing

with importing("reading videos and frames (cnnlstm.data.video)", "video"):
    import av
    from av.video.reformatter import VideoReformatter
    from PIL import Image, UnidentifiedImageError

__all__ = [
    "FRAME_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "FrameFolder",
    "OnTruncated",
    "Orientation",
    "Sampling",
    "VideoFolder",
    "display_steps",
    "video_endings",
]

Sampling = Literal["uniform", "random", "sliding"]
Orientation = Literal["display", "stored"]
OnTruncated = Literal["error", "warn"]

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
"""File endings :class:`VideoFolder` takes as videos by default (matched case-insensitively:
``.MOV`` from an iPhone is a video): the containers FFmpeg reads that cameras, phones, screen
recorders and editors write. The first four are the ones messages name first."""
FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg")
"""File endings :class:`FrameFolder` takes as frames by default."""

_SAMPLINGS: tuple[str, ...] = get_args(Sampling)
_ORIENTATIONS: tuple[str, ...] = get_args(Orientation)
_ON_TRUNCATED: tuple[str, ...] = get_args(OnTruncated)
_SEEK_MIN_SKIP = 4  # seek only when it saves decoding at least this many frames


def video_endings() -> str:
    """The endings of :data:`VIDEO_EXTENSIONS` for a message: the common four, then the others.

    Example:
        >>> video_endings().split(" or ")[0]
        'videos (.mp4, .avi, .mkv, .webm)'
    """
    common, other = VIDEO_EXTENSIONS[:4], VIDEO_EXTENSIONS[4:]
    return f"videos ({', '.join(common)}) or other video files ({', '.join(other)})"


_warned: set[tuple[str, ...]] = set()  # what a warning named, so it is given once per process


def _warn_once(key: tuple[str, ...], message: str) -> None:
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


def display_steps(matrix: Sequence[int] | None) -> tuple[str, ...] | None:
    """The steps that turn a stored frame into the one a player shows, as ffmpeg's autorotate.

    ``matrix`` is a display matrix (FFmpeg's ``AV_FRAME_DATA_DISPLAYMATRIX``: 9 ints, 16.16
    fixed point). The steps are those of ffmpeg's ``-autorotate`` (fftools): ``"clock"`` /
    ``"cclock"`` (a quarter turn clockwise / counterclockwise), ``"transpose"`` (rows become
    columns), ``"antitranspose"`` (the same across the other diagonal), ``"hflip"`` and
    ``"vflip"`` (mirror left-right / top-bottom), applied in order. ``()`` means show the frame
    as stored; ``None`` a rotation that is not a multiple of 90 degrees, which ffmpeg rotates
    within the stored size (cutting corners) and this reader does not.

    Example:
        >>> display_steps([0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30])  # a phone held upright
        ('clock',)
        >>> display_steps([-65536, 0, 0, 0, -65536, 0, 0, 0, 1 << 30])  # upside down
        ('hflip', 'vflip')
    """
    if matrix is None:
        return ()
    m = [float(v) / 65536.0 for v in matrix]
    scale_x, scale_y = math.hypot(m[0], m[3]), math.hypot(m[1], m[4])
    if scale_x == 0.0 or scale_y == 0.0:
        return ()  # a degenerate matrix: ffmpeg's angle is NaN and it turns nothing
    counterclockwise = -math.degrees(math.atan2(m[1] / scale_y, m[0] / scale_x))
    theta = -round(counterclockwise)  # clockwise degrees, as fftools' get_rotation()
    theta -= 360 * math.floor(theta / 360 + 0.9 / 360)
    if abs(theta - 90) < 1.0:
        return ("transpose",) if m[3] > 0 else ("clock",)
    if abs(theta - 180) < 1.0:
        return tuple(step for step, on in (("hflip", m[0] < 0), ("vflip", m[4] < 0)) if on)
    if abs(theta - 270) < 1.0:
        return ("antitranspose",) if m[3] < 0 else ("cclock",)
    if abs(theta) > 1.0:
        return None
    return ("vflip",) if m[4] < 0 else ()


def _turn(pixels: np.ndarray, steps: Sequence[str]) -> np.ndarray:
    """``pixels`` ``(C, H, W)`` after :func:`display_steps`' ``steps``: a view, no copy."""
    for step in steps:
        if step == "clock":
            pixels = pixels.transpose(0, 2, 1)[:, :, ::-1]  # (C, W, H)
        elif step == "cclock":
            pixels = pixels.transpose(0, 2, 1)[:, ::-1, :]  # (C, W, H)
        elif step == "transpose":
            pixels = pixels.transpose(0, 2, 1)  # (C, W, H)
        elif step == "antitranspose":
            pixels = pixels[:, ::-1, ::-1].transpose(0, 2, 1)  # (C, W, H)
        elif step == "hflip":
            pixels = pixels[:, :, ::-1]
        elif step == "vflip":
            pixels = pixels[:, ::-1, :]
    return pixels


def _display_matrix(frame: Any) -> bytes | None:
    """The display matrix a decoded frame carries (its side data), as bytes, or ``None``."""
    data = frame.side_data.get("DISPLAYMATRIX")
    return None if data is None else bytes(data)


@dataclass(frozen=True)
class _Claim:
    """How many frames a container says a stream has, and how many the file holds."""

    where: str  # "index" (MP4/MOV sample table, AVI idx1), "header" (AVI's count) or ""
    # listed is 0 when the container counts no frames but its last packet is cut in two
    listed: int
    held: int
    listed_seconds: float | None
    held_seconds: float

    def describe(self, path: Path) -> str:
        """``<path>: the file is cut short: its index lists 25 frames (1.00 s) but ...``."""

        def span(seconds: float | None) -> str:
            return "" if seconds is None else f" ({seconds:.2f} s)"

        if not self.listed:  # a container that counts no frames, its last packet cut in two
            return (
                f"{path}: the file is cut short: frame {self.held}'s data runs past its last "
                f"byte (the container lists no frame count); {self.held} frames are whole (up "
                f"to {self.held_seconds:.2f} s)"
            )
        there = (
            "none of them is in the file: they lay past its last byte"
            if not self.held
            else f"only {self.held} of them are in the file (up to {self.held_seconds:.2f} s): "
            f"the rest lay past its last byte"
        )
        return (
            f"{path}: the file is cut short: its {self.where} lists {self.listed} frames"
            f"{span(self.listed_seconds)} but {there}"
        )


_CUT_SLACK = 64  # bytes of framing that may follow a packet's data (an FLV tag's header)


def _is_cut(packet: Any, data_end: int) -> bool:
    """Whether a demuxed packet is the partial one at the end of a file cut short.

    The demuxer flags a packet it could not read whole as corrupt; one that also reaches the
    end of the file lost the rest of its data there.
    """
    pos = packet.pos
    if not packet.is_corrupt or pos is None or pos < 0:
        return False
    return bool(pos + packet.size + _CUT_SLACK >= data_end)


def _container_claim(
    container: Any,
    stream: Any,
    data_end: int,
    pts: Sequence[int],
    time_base: float,
    *,
    cut_packet: bool,
) -> _Claim | None:
    """What a container claims about ``stream`` when the file holds less of it (else ``None``).

    Only claims that say where the frames are, or how many there are, count: the sample table
    of MP4/MOV/3GP (the ``moov`` atom, complete at open even when the data behind it is cut)
    and of AVI (its ``idx1``) lists every frame with its byte offset, so frames past the file's
    end are missing; an AVI cut short loses ``idx1`` but its header still counts the frames,
    which the timestamps of the packets read (a frame apart each, gaps for dropped frames) then
    fall short of. Matroska/WebM, MPEG-PS/TS, FLV and ASF list no frames: a file cut short
    reads as a shorter clip, unless the demuxer hands over its last packet cut in two (FLV
    does), which is evidence enough.

    Args:
        container: the open container (after a demux pass of ``stream``).
        stream: its video stream.
        data_end: the file's size in bytes.
        pts: the timestamps of the whole packets the demux pass read.
        time_base: seconds per timestamp tick.
        cut_packet: whether the demux pass met a packet cut in two by the end of the file.
    """
    ticks = np.sort(np.asarray(pts, dtype=np.int64))
    step = float(np.median(np.diff(ticks))) if len(ticks) > 1 else 1.0
    held_seconds = (float(ticks[-1] - ticks[0]) + step) * time_base if len(ticks) else 0.0
    family = container.format.name
    if "mov" not in family.split(",") and family != "avi":
        return _Claim("", 0, len(ticks), None, held_seconds) if cut_packet else None
    duration = stream.duration
    listed_seconds = float(duration) * time_base if duration else None
    entries = list(stream.index_entries)
    if family != "avi" or len(entries) >= max(1, stream.frames):
        beyond = sum(1 for e in entries if e.size > 0 and e.pos + e.size > data_end)
        if beyond:
            held = len(entries) - beyond
            return _Claim("index", len(entries), held, listed_seconds, held_seconds)
        return _Claim("", 0, len(ticks), None, held_seconds) if cut_packet else None
    # AVI without its index: the header's frame count against the timestamps read
    listed = int(stream.frames)
    held = round(float(ticks[-1] - ticks[0]) / step) + 1 if len(ticks) else 0
    if listed <= 0 or held >= listed:
        return _Claim("", 0, len(ticks), None, held_seconds) if cut_packet else None
    # AVI's duration is recounted from the packets found; the header counts frames a step apart
    listed_seconds = listed * step * time_base
    return _Claim("header", listed, max(held, len(ticks)), listed_seconds, held_seconds)


def _decoded(container: Any, stream: Any, data_end: int | None) -> Iterator[Any]:
    """``container.decode(stream)``, without the partial packet at the end of a file cut short.

    Fed to the decoder, that packet is an error (H.264) or a half-drawn frame (MPEG-4).
    """
    if data_end is None:
        yield from container.decode(stream)
        return
    for packet in container.demux(stream):
        if packet.size and _is_cut(packet, data_end):
            continue
        yield from packet.decode()


@dataclass(frozen=True)
class _StreamInfo:
    """What a demux pass (no decoding) learns about a video stream."""

    pts: np.ndarray  # (N,) presentation timestamps in stream time base, sorted
    keyframes: np.ndarray  # (K,) frame indices of the keyframes, sorted
    time_base: float
    frame_duration: float  # seconds
    seekable: bool  # False when packets carry no timestamps: frames are then counted
    data_end: int | None = None  # the file's size when it is cut short (else None)

    @property
    def times(self) -> np.ndarray:
        """Seconds of each frame from the first one, ``(N,)``."""
        times: np.ndarray = (self.pts - self.pts[0]).astype(np.float64) * self.time_base
        return times

    def keyframe_before(self, index: int) -> int:
        """Index of the last keyframe at or before frame ``index`` (0 when there is none)."""
        k = int(np.searchsorted(self.keyframes, index, side="right")) - 1
        return int(self.keyframes[k]) if k >= 0 else 0

    def index_of(self, pts: int) -> int:
        """Frame index of a decoded frame's timestamp (the nearest one when not exact)."""
        i = int(np.searchsorted(self.pts, pts))
        if i == len(self.pts) or (i > 0 and pts - self.pts[i - 1] < self.pts[i] - pts):
            i -= 1
        return i


class _ClipFolder(Dataset[tuple[Tensor, Tensor]]):
    """Shared machinery of :class:`VideoFolder` and :class:`FrameFolder`: layout, sampling, output.

    Subclasses find the clips of a class folder (:meth:`_find_clips`), count a clip's frames and
    give their times (:meth:`_frame_times`), and read frames: as ``uint8`` arrays
    (:meth:`_read`), or straight into the float clip (:meth:`_read_float`).
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
        _warn_once(
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
            return _to_float(frames)  # (K, C, H, W)
        if self.size is None:
            n = int(indices[odd]) if indices is not None else odd
            h, w = frames[odd].shape[1:]
            raise DataError(
                f"{self._describe(clip, n)}: frame {n} is {w}x{h} (width x height) but the clip's "
                f"first frame is {shape[2]}x{shape[1]}; pass size=(H, W) to resize every frame."
            )
        resized = [
            F.interpolate(_to_float([f]), size=self.size, mode="bilinear", antialias=True)
            for f in frames
        ]
        return torch.cat(resized).clamp_(0.0, 1.0)  # (K, C, size[0], size[1])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, classes={len(self.classes)}, "
            f"clips={len(self.samples)}, items={len(self)}, frames={self.frames}, "
            f"sampling={self.sampling!r}, fps={self.fps})"
        )


class VideoFolder(_ClipFolder):
    """Video clips in ``root/<class>/<clip>.<ext>``, decoded with PyAV (FFmpeg).

    Decoding stops after the last frame an item needs, seeks to the keyframe before the first
    one when that skips work, converts only the frames it returns, and lets FFmpeg decode on
    several threads (``thread_type="AUTO"``). Frame counts, timestamps and keyframes come from a
    demux pass (no decoding) the first time a clip is used and are kept for later epochs.

    Frames are RGB as ``frame.to_ndarray(format="rgb24")`` gives them (``gray`` with
    ``grayscale``), shown the way a player shows them: a clip that carries a display matrix (a
    phone held upright stores 568x320 frames and asks for a quarter turn clockwise) is turned, and
    mirrored when the matrix says so, as ffmpeg's ``-autorotate`` does, before ``size`` resizes
    it. ``orientation="stored"`` keeps frames as the file stores them.

    Args:
        root: folder with one sub-folder per class (classes are the sorted folder names).
        frames: ``T``, frames per item; ``None`` returns every frame of each clip.
        sampling: ``"uniform"``, ``"random"`` or ``"sliding"`` (see the module docstring).
        stride: steps between sliding windows (only with ``sampling="sliding"``); default
            ``frames``, windows that do not overlap.
        size: ``(H, W)`` to resize frames to (bilinear, antialiased); ``None`` keeps the size.
        fps: sample at this many moments per second instead of per stored frame.
        extensions: file name endings taken as videos (case-insensitive).
        grayscale: one channel instead of RGB.
        seed: fixes the windows of ``sampling="random"`` per item (see :meth:`positions`).
        transform: applied to each ``(T, C, H, W)`` clip.
        thread_type: FFmpeg's decoding threads: ``"AUTO"``, ``"FRAME"``, ``"SLICE"`` or
            ``"NONE"``.
        labelled: ``False`` reads ``root/<clip>.<ext>``, videos without class folders (to predict
            on): ``classes`` is then empty and every label ``-1``.
        orientation: ``"display"`` turns frames the way the file's display matrix asks (a
            rotation by a multiple of 90 degrees, a mirror), as players and ffmpeg do;
            ``"stored"`` keeps them as stored. A rotation by another angle is not applied (a
            warning names the file).
        on_truncated: what to do with a file cut short (an interrupted copy or download), whose
            index (MP4, MOV, 3GP, AVI) or header (AVI) lists frames the file does not hold:
            ``"error"`` raises a :class:`DataError` that names the file, the frames listed and
            the frames there; ``"warn"`` warns once per file and reads the frames that are
            there. Containers that list no frames (Matroska/WebM, MPEG-PS/TS, FLV, ASF) cannot
            tell a file cut short from a short clip.

    Raises:
        DataError: a missing root, no class folders, an empty class folder; when reading, a file
            that cannot be opened or decoded (named with the frame that failed), or a file cut
            short (with ``on_truncated="error"``).

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "walk").mkdir()
        >>> with av.open(str(root / "walk" / "a.mp4"), "w") as out:
        ...     stream = out.add_stream("mpeg4", rate=10)
        ...     stream.width, stream.height = 32, 24
        ...     for i in range(12):
        ...         image = np.full((24, 32, 3), 20 * i, np.uint8)
        ...         out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        ...     out.mux(stream.encode())
        >>> clip, label = VideoFolder(root, frames=4)[0]
        >>> clip.shape
        torch.Size([4, 3, 24, 32])
    """

    kind = "video"

    def __init__(
        self,
        root: str | Path,
        *,
        frames: int | None = 16,
        sampling: Sampling = "uniform",
        stride: int | None = None,
        size: tuple[int, int] | None = None,
        fps: float | None = None,
        extensions: Sequence[str] = VIDEO_EXTENSIONS,
        grayscale: bool = False,
        seed: int | None = None,
        transform: Callable[[Tensor], Tensor] | None = None,
        thread_type: Literal["AUTO", "FRAME", "SLICE", "NONE"] = "AUTO",
        labelled: bool = True,
        orientation: Orientation = "display",
        on_truncated: OnTruncated = "error",
    ) -> None:
        if isinstance(extensions, str) or not extensions:
            raise ValueError(f"extensions has to be a non-empty tuple, but got {extensions!r}")
        if orientation not in _ORIENTATIONS:
            raise ValueError(
                f"orientation has to be one of {_ORIENTATIONS}, but got {orientation!r}"
            )
        if on_truncated not in _ON_TRUNCATED:
            raise ValueError(
                f"on_truncated has to be one of {_ON_TRUNCATED}, but got {on_truncated!r}"
            )
        self.extensions = tuple(
            e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions
        )
        self.thread_type = thread_type
        self.orientation = orientation
        self.on_truncated = on_truncated
        self._info: dict[int, _StreamInfo] = {}
        self._steps: dict[bytes, tuple[str, ...] | None] = {}  # display matrix -> steps
        self._turned: dict[Path, tuple[str, ...]] = {}  # clip -> the steps its frames took
        super().__init__(
            root,
            frames=frames,
            sampling=sampling,
            stride=stride,
            size=size,
            fps=fps,
            grayscale=grayscale,
            seed=seed,
            transform=transform,
            labelled=labelled,
        )

    def _expected(self) -> str:
        return "files ending in " + ", ".join(self.extensions)

    def _find_clips(self, class_dir: Path) -> list[Path]:
        files = [
            p
            for p in visible_entries(class_dir)
            if p.is_file() and p.suffix.lower() in self.extensions
        ]
        return sorted(files, key=lambda p: natural_key(p.name))

    def _open(self, path: Path) -> tuple[Any, Any]:
        try:
            container = av.open(str(path))
        except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
            raise DataError(f"{path}: cannot open as a video ({_short(err)}).") from None
        if not container.streams.video:
            container.close()
            raise DataError(f"{path}: has no video stream.")
        return container, container.streams.video[0]

    def stream_info(self, clip: int) -> _StreamInfo:
        """Timestamps and keyframes of clip ``clip`` from a demux pass (cached)."""
        if clip in self._info:
            return self._info[clip]
        path = self.samples[clip][0]
        container, stream = self._open(path)
        data_end = path.stat().st_size
        pts: list[int] = []
        keyframes: list[int] = []
        seekable = True
        claim: _Claim | None = None
        cut_packet = False
        try:
            with container:
                for packet in container.demux(stream):
                    if packet.size == 0:
                        continue  # the flush packet at the end
                    if _is_cut(packet, data_end):
                        cut_packet = True
                        continue  # the partial packet at the end of a file cut short
                    stamp = packet.pts if packet.pts is not None else packet.dts
                    if stamp is None:
                        seekable = False
                        stamp = len(pts)
                    if packet.is_keyframe:
                        keyframes.append(stamp)
                    pts.append(int(stamp))
                rate = stream.average_rate
                time_base = stream.time_base
                if seekable and time_base is not None:
                    claim = _container_claim(
                        container, stream, data_end, pts, float(time_base), cut_packet=cut_packet
                    )
        except av.FFmpegError as err:
            raise DataError(
                f"{path}: cannot read the video after frame {len(pts)} ({_short(err)}); the file "
                f"is corrupt or truncated."
            ) from None
        if claim is not None:
            self._truncated(path, claim)
        if not pts:
            raise DataError(f"{path}: the video stream holds no frames.")
        order = np.sort(np.asarray(pts, dtype=np.int64))
        if not seekable or time_base is None:
            seekable = False
            order = np.arange(len(pts), dtype=np.int64)
            keyframe_idx = np.zeros(1, dtype=np.int64)
            tb = 1.0 / float(rate) if rate else 1.0 / 25
        else:
            tb = float(time_base)
            keyframe_idx = np.searchsorted(order, np.asarray(sorted(keyframes), dtype=np.int64))
            keyframe_idx = np.unique(np.concatenate([[0], keyframe_idx])).astype(np.int64)
        steps = np.diff(order)
        if len(steps):
            frame_duration = float(np.median(steps)) * tb
        else:
            frame_duration = 1.0 / float(rate) if rate else tb
        cut = data_end if claim is not None else None
        info = _StreamInfo(order, keyframe_idx, tb, frame_duration, seekable, cut)
        self._info[clip] = info
        return info

    def _truncated(self, path: Path, claim: _Claim) -> None:
        """Raise (``on_truncated="error"``) or warn once about a file cut short."""
        if not claim.held:
            raise DataError(f"{claim.describe(path)}. Copy or download it again.")
        if self.on_truncated == "error":
            raise DataError(
                f"{claim.describe(path)}. Copy or download it again, or set "
                f"on_truncated='warn' to read the {claim.held} frames that are there."
            )
        _warn_once(
            ("truncated", str(path)),
            f"{claim.describe(path)}; reading the {claim.held} frames that are there "
            f"(on_truncated='warn').",
        )

    def _frame_times(self, clip: int) -> np.ndarray:
        return self.stream_info(clip).times

    def _pixels(self, frame: Any, reformatter: VideoReformatter, path: Path) -> np.ndarray:
        """A decoded frame as ``uint8 (C, H, W)``: R, G, B (or gray), a view into swscale's output.

        swscale converts to packed ``rgb24`` (``gray`` with ``grayscale``), the conversion
        ``frame.to_ndarray(format="rgb24")`` makes, and the view puts channels first without a
        copy (the float conversion reads it in place). Planar ``gbrp`` would save that
        transposition, but libswscale 9.5 leaves the last ``width % 16`` columns of a ``gbrp``
        frame unwritten when 2-8 remain and the source is ``yuv420p``, ``yuvj420p`` or
        ``yuv422p`` (widths such as 340, 360, 568, 854 and 1080), so they held leftover memory.
        One reformatter serves a whole clip, so swscale sets up its context once rather than for
        every frame (which ``frame.to_ndarray`` does). The view keeps the converted frame (which
        owns its memory) alive. With ``orientation="display"`` the view is turned as the frame's
        display matrix asks (still without a copy).
        """
        converted = reformatter.reformat(frame, format="gray" if self.grayscale else "rgb24")
        channels = 1 if self.grayscale else 3
        height, width = frame.height, frame.width
        plane = converted.planes[0]
        rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(height, plane.line_size)
        pixels = rows[:, : width * channels].reshape(height, width, channels)  # (H, W, C)
        view: np.ndarray = pixels.transpose(2, 0, 1)  # (C, H, W), no copy
        if self.orientation == "display":
            matrix = _display_matrix(frame)
            if matrix is not None:
                steps = self._display_steps(matrix, path)
                self._turned[path] = steps
                view = _turn(view, steps)  # (C, H, W) as shown
        return view

    def _display_steps(self, matrix: bytes, path: Path) -> tuple[str, ...]:
        """:func:`display_steps` of a display matrix, cached; warns for an angle it cannot turn."""
        if matrix not in self._steps:
            self._steps[matrix] = display_steps(np.frombuffer(matrix, dtype=np.int32).tolist())
        steps = self._steps[matrix]
        if steps is None:
            if path not in self._turned:
                values = np.frombuffer(matrix, dtype=np.int32).astype(np.float64) / 65536.0
                angle = -math.degrees(math.atan2(values[1], values[0]))
                warnings.warn(
                    f"{path}: its display matrix rotates frames by {angle:.1f} degrees, not a "
                    f"multiple of 90; frames are read as stored (orientation='stored').",
                    stacklevel=2,
                )
            return ()
        return steps

    def turned(self, clip: int) -> tuple[str, ...]:
        """The :func:`display_steps` clip ``clip``'s frames took to be shown (after a read).

        ``()`` for a clip shown as stored, with ``orientation="stored"``, or not read yet.
        """
        return self._turned.get(self.samples[clip][0], ())

    def _read_float(self, clip: int, indices: np.ndarray | None) -> Tensor:
        path = self.samples[clip][0]
        info = self.stream_info(clip)  # raises (or warns) for a file cut short
        if indices is None:
            return self._decode_all(path, info)
        try:
            return self._decode_some(path, info, indices, seek=info.seekable)
        except _SeekMissed:
            return self._decode_some(path, info, indices, seek=False)

    def _sink(self, path: Path, capacity: int) -> _FloatFrames:
        return _FloatFrames(capacity, channels=1 if self.grayscale else 3, source=str(path))

    def _decode_all(self, path: Path, info: _StreamInfo) -> Tensor:
        container, stream = self._open(path)
        stream.thread_type = self.thread_type
        sink = self._sink(path, len(info.pts))
        reformatter = VideoReformatter()
        try:
            with container:
                for frame in _decoded(container, stream, info.data_end):
                    sink.append(self._pixels(frame, reformatter, path))
        except av.FFmpegError as err:
            raise DataError(
                f"{path}: cannot decode frame {len(sink)} ({_short(err)}); the file is corrupt "
                f"or truncated."
            ) from None
        if not len(sink):
            raise DataError(f"{path}: the video stream holds no frames.")
        return sink.result()

    def _decode_some(
        self, path: Path, info: _StreamInfo, indices: np.ndarray, *, seek: bool
    ) -> Tensor:
        container, stream = self._open(path)
        stream.thread_type = self.thread_type
        sink = self._sink(path, len(indices))
        reformatter = VideoReformatter()
        position = -1  # index of the last decoded frame
        decoded: Iterator[Any] | None = None
        target = int(indices[0])
        try:
            with container:
                for target in (int(i) for i in indices):
                    keyframe = info.keyframe_before(target) if seek else 0
                    if keyframe > 0 and keyframe - position > _SEEK_MIN_SKIP:
                        # skip the frames between here and the keyframe before the target
                        container.seek(int(info.pts[keyframe]), stream=stream, backward=True)
                        decoded = _decoded(container, stream, info.data_end)
                    elif decoded is None:
                        decoded = _decoded(container, stream, info.data_end)
                    frame = None
                    while position < target:
                        frame = next(decoded, None)
                        if frame is None:
                            raise DataError(
                                f"{path}: frame {target} cannot be decoded: decoding ends after "
                                f"frame {position} of the {len(info.pts)} the file holds; the "
                                f"file is corrupt or truncated."
                            )
                        if not seek:
                            position += 1
                        elif frame.pts is None:
                            raise _SeekMissed
                        else:
                            position = info.index_of(int(frame.pts))
                    if position != target or frame is None:
                        raise _SeekMissed  # the seek landed after the frame we need
                    sink.append(self._pixels(frame, reformatter, path))
        except av.FFmpegError as err:
            raise DataError(
                f"{path}: cannot decode frame {target} ({_short(err)}); the file is corrupt or "
                f"truncated."
            ) from None
        return sink.result()


class _SeekMissed(Exception):
    """A seek did not land on or before the frame wanted: decode from the start instead."""


class FrameFolder(_ClipFolder):
    """Clips stored as image files, ``root/<class>/<clip>/*.png|jpg``, read with Pillow.

    Frames of a clip are taken in natural order (``frame2`` before ``frame10``). Sampling and
    output are those of :class:`VideoFolder`. Frames carry no timestamps: to sample by time with
    ``fps``, give the rate they were taken at as ``source_fps``.

    Args:
        root: folder with one sub-folder per class, one sub-sub-folder of images per clip.
        frames: ``T``, frames per item; ``None`` returns every frame of each clip.
        sampling: ``"uniform"``, ``"random"`` or ``"sliding"``.
        stride: steps between sliding windows; default ``frames``.
        size: ``(H, W)`` to resize frames to (bilinear, antialiased); without it, every frame of
            a clip has to have the same size.
        fps: sample at this many moments per second (needs ``source_fps``).
        source_fps: frames per second the images were taken at.
        extensions: file name endings taken as frames (case-insensitive).
        grayscale: one channel instead of RGB.
        seed: fixes the windows of ``sampling="random"`` per item.
        transform: applied to each ``(T, C, H, W)`` clip.
        labelled: ``False`` reads ``root/<clip>/*.png``, clip folders without class folders (to
            predict on): ``classes`` is then empty and every label ``-1``.

    Raises:
        DataError: a missing root, no class folders, an empty class or clip folder; when
            reading, an image that cannot be read (named with its frame number) or a frame whose
            size differs from the clip's first frame.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "wave" / "clip0").mkdir(parents=True)
        >>> for i in range(6):
        ...     Image.new("RGB", (20, 10), (i, i, i)).save(root / "wave" / "clip0" / f"{i}.png")
        >>> FrameFolder(root, frames=3)[0][0].shape
        torch.Size([3, 3, 10, 20])
    """

    kind = "clip folder"

    def __init__(
        self,
        root: str | Path,
        *,
        frames: int | None = 16,
        sampling: Sampling = "uniform",
        stride: int | None = None,
        size: tuple[int, int] | None = None,
        fps: float | None = None,
        source_fps: float | None = None,
        extensions: Sequence[str] = FRAME_EXTENSIONS,
        grayscale: bool = False,
        seed: int | None = None,
        transform: Callable[[Tensor], Tensor] | None = None,
        labelled: bool = True,
    ) -> None:
        if fps is not None and source_fps is None:
            raise ValueError(
                f"source_fps has to be given with fps={fps!r}, but got None: image files carry no "
                f"timestamps, so sampling by time needs the rate the frames were taken at (e.g. "
                f"source_fps=25 for 25 frames per second)"
            )
        if source_fps is not None and not source_fps > 0:
            raise ValueError(f"source_fps has to be a positive number, but got {source_fps!r}")
        if isinstance(extensions, str) or not extensions:
            raise ValueError(f"extensions has to be a non-empty tuple, but got {extensions!r}")
        self.extensions = tuple(
            e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions
        )
        self.source_fps = source_fps
        self._files: dict[Path, list[Path]] = {}
        super().__init__(
            root,
            frames=frames,
            sampling=sampling,
            stride=stride,
            size=size,
            fps=fps,
            grayscale=grayscale,
            seed=seed,
            transform=transform,
            labelled=labelled,
        )

    def _expected(self) -> str:
        return "one folder of " + "/".join(self.extensions) + " frames per clip"

    def _find_clips(self, class_dir: Path) -> list[Path]:
        clips = sorted(
            (p for p in visible_entries(class_dir) if p.is_dir()),
            key=lambda p: natural_key(p.name),
        )
        for clip in clips:
            files = [
                p
                for p in visible_entries(clip)
                if p.is_file() and p.suffix.lower() in self.extensions
            ]
            if not files:
                raise DataError(
                    f"FrameFolder: clip folder {clip} holds no frames; expected image files "
                    f"ending in {', '.join(self.extensions)}."
                )
            self._files[clip] = sorted(files, key=lambda p: natural_key(p.name))
        return clips

    def frame_files(self, clip: int) -> list[Path]:
        """The image files of clip ``clip`` in the order they are read."""
        return self._files[self.samples[clip][0]]

    def _frame_times(self, clip: int) -> np.ndarray:
        count = len(self.frame_files(clip))
        return np.arange(count, dtype=np.float64) / (self.source_fps or 1.0)

    def _describe(self, clip: int, frame: int) -> str:
        return str(self.frame_files(clip)[frame])

    def _read(self, clip: int, indices: np.ndarray) -> list[np.ndarray]:
        files = self.frame_files(clip)
        if len(indices) == 0:
            indices = np.arange(len(files))
        mode = "L" if self.grayscale else "RGB"
        frames: list[np.ndarray] = []
        for i in indices:
            path = files[int(i)]
            try:
                with Image.open(path) as image:
                    pixels = np.asarray(image.convert(mode))
            except (UnidentifiedImageError, OSError, ValueError) as err:
                raise DataError(
                    f"{path}: cannot read frame {int(i)} of clip {path.parent} ({_short(err)})."
                ) from None
            frames.append(pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1))
        return frames  # each (C, H, W)


_SCALE = np.float32(255.0)


def _to_float(frames: Sequence[np.ndarray]) -> Tensor:
    """``uint8 (C, H, W)`` frames to one ``float32 (T, C, H, W)`` clip in ``[0, 1]``.

    One pass per frame (NumPy, single-threaded: no contention with DataLoader workers), written
    into one array that becomes the tensor without a copy.
    """
    c, h, w = frames[0].shape
    out = np.empty((len(frames), c, h, w), dtype=np.float32)
    for i, frame in enumerate(frames):
        np.divide(frame, _SCALE, out=out[i])
    return torch.from_numpy(out)


class _FloatFrames:
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


def _short(err: BaseException) -> str:
    """A one-line description of a library error for a DataError message."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
