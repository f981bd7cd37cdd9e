"""Video clips read with PyAV (FFmpeg): :class:`VideoFolder`.

Videos are read in every container of :data:`~cnnlstm.data.clip_folder.VIDEO_EXTENSIONS`
(``.mp4``, ``.mov``, ``.mkv``, ``.webm``, ``.avi``, ``.m4v``, ``.3gp``, ``.mpg``, ``.ts``,
``.wmv``, ``.flv``... in any case), in the layout, sampling and item format of every
:class:`~cnnlstm.data.clip_folder.ClipFolder`. Frames are the RGB a plain
``frame.to_ndarray(format="rgb24")`` gives, turned the way the file's display matrix asks (as
players and ffmpeg show them; ``orientation="stored"`` keeps them as stored), and a file cut
short, whose index lists frames it does not hold, is a :class:`DataError`
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
from torch import Tensor

from cnnlstm.data.clip_folder import (
    VIDEO_EXTENSIONS,
    ClipFolder,
    FloatFrames,
    Sampling,
    brief,
    warn_once,
)
from cnnlstm.data.paths import natural_key, visible_entries
from cnnlstm.errors import DataError
from cnnlstm.extras import importing

with importing("reading videos (cnnlstm.data.video)", "video"):
    import av
    from av.video.reformatter import VideoReformatter

__all__ = ["OnTruncated", "Orientation", "VideoFolder", "display_steps"]

Orientation = Literal["display", "stored"]
OnTruncated = Literal["error", "warn"]


_ORIENTATIONS: tuple[str, ...] = get_args(Orientation)
_ON_TRUNCATED: tuple[str, ...] = get_args(OnTruncated)
_SEEK_MIN_SKIP = 4  # seek only when it saves decoding at least this many frames


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


_MP4_FIRST_BOXES = (b"ftyp", b"wide", b"free", b"skip", b"mdat", b"moov", b"pnot")
"""The atoms an MP4/MOV/3GP file starts with (QuickTime files may start without ``ftyp``)."""


def _mp4_index_cut(path: str | Path) -> str | None:
    """Why an MP4/MOV/3GP file cannot be opened when it is cut short before or inside its index
    (the ``moov`` atom, which many recorders and muxers write after the data), else ``None``.

    The file's top-level atoms are walked by their sizes: an atom that runs past the file's
    last byte before a whole ``moov`` was met (the ``mdat`` of frames, or the ``moov`` itself)
    means the file was cut short there. A file that starts with no MP4 atom, or whose atoms are
    all whole, gives ``None``.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "cut.mp4"
        >>> _ = path.write_bytes((16).to_bytes(4, "big") + b"ftypisom" + bytes(4)
        ...                      + (1000).to_bytes(4, "big") + b"mdat" + bytes(100))
        >>> print(_mp4_index_cut(path))  # doctest: +ELLIPSIS
        the file is cut short: its index is missing (the moov atom ... re-copy it, ...
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            offset = 0
            while offset + 8 <= size:
                file.seek(offset)
                header = file.read(16)
                length, kind = int.from_bytes(header[:4], "big"), header[4:8]
                if offset == 0 and kind not in _MP4_FIRST_BOXES:
                    return None
                if length == 1 and len(header) == 16:  # a 64-bit size follows the type
                    length = int.from_bytes(header[8:16], "big")
                elif length == 0:  # the atom runs to the end of the file
                    length = size - offset
                if length < 8:
                    return None  # not an atom: not a file this walk understands
                end = offset + length
                if end > size:
                    name = kind.decode("latin-1")
                    return (
                        f"the file is cut short: its index is missing (the moov atom is not in "
                        f"its {size} bytes: the '{name}' atom at byte {offset} runs to byte "
                        f"{end}); re-copy it, or "
                        f"recover it with a tool such as untrunc (given an intact file from the "
                        f"same camera). Re-encoding cannot help: without the index nothing says "
                        f"where the frames are."
                        if kind != b"moov"
                        else f"the file is cut short: its index (the moov atom at byte "
                        f"{offset}) runs to byte {end}, past its {size} bytes; re-copy it, or "
                        f"recover it with a tool such as untrunc (given an intact file from the "
                        f"same camera)."
                    )
                if kind == b"moov":
                    return None  # the index is whole: something else is wrong
                offset = end
    except OSError:
        return None
    return None


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


class VideoFolder(ClipFolder):
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
            tell a file cut short from a short clip. An MP4/MOV whose index comes after its
            frames and was cut off with the end of the file cannot be opened at all: a
            :class:`DataError` saying so, either way.

    Raises:
        DataError: a missing root, no class folders, an empty class folder; when reading, a file
            that cannot be opened or decoded (named with the frame that failed), a file cut
            short (with ``on_truncated="error"``), or an MP4/MOV cut short before or inside its
            index at the end (the ``moov`` atom): it cannot be opened.

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
            why = _mp4_index_cut(path)
            if why is not None:
                raise DataError(f"{path}: cannot open as a video: {why}") from None
            raise DataError(f"{path}: cannot open as a video ({brief(err)}).") from None
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
                f"{path}: cannot read the video after frame {len(pts)} ({brief(err)}); the file "
                f"is corrupt or truncated."
            ) from None
        if claim is not None:
            self._truncated(path, claim)
        if not pts:
            why = _mp4_index_cut(path)  # FFmpeg opens an MP4 whose index lost its end
            raise DataError(f"{path}: the video stream holds no frames{': ' + why if why else '.'}")
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
        warn_once(
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

    def _sink(self, path: Path, capacity: int) -> FloatFrames:
        return FloatFrames(capacity, channels=1 if self.grayscale else 3, source=str(path))

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
                f"{path}: cannot decode frame {len(sink)} ({brief(err)}); the file is corrupt "
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
                f"{path}: cannot decode frame {target} ({brief(err)}); the file is corrupt or "
                f"truncated."
            ) from None
        return sink.result()


class _SeekMissed(Exception):
    """A seek did not land on or before the frame wanted: decode from the start instead."""
