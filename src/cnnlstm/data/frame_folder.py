"""Clips stored as folders of frames, read with Pillow: :class:`FrameFolder`.

The layout, sampling and item format are every :class:`~cnnlstm.data.clip_folder.ClipFolder`'s;
a clip is a folder of images (:data:`~cnnlstm.data.clip_folder.FRAME_EXTENSIONS`) in natural
order. Nothing here needs PyAV.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from torch import Tensor

from cnnlstm.data.clip_folder import FRAME_EXTENSIONS, ClipFolder, Sampling, brief
from cnnlstm.data.paths import natural_key, visible_entries
from cnnlstm.errors import DataError
from cnnlstm.extras import importing

with importing("reading folders of frames (cnnlstm.data.frame_folder)", "video"):
    from PIL import Image, UnidentifiedImageError

__all__ = ["FrameFolder"]


class FrameFolder(ClipFolder):
    """Clips stored as image files, ``root/<class>/<clip>/*.png|jpg``, read with Pillow.

    Frames of a clip are taken in natural order (``frame2`` before ``frame10``). Sampling and
    output are those of :class:`~cnnlstm.data.video.VideoFolder`. Frames carry no timestamps: to
    sample by time with ``fps``, give the rate they were taken at as ``source_fps``.

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
                    f"{path}: cannot read frame {int(i)} of clip {path.parent} ({brief(err)})."
                ) from None
            frames.append(pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1))
        return frames  # each (C, H, W)
