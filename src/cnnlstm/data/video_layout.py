"""What a folder of clips holds, for :class:`~cnnlstm.data.VideoDataModule`.

Pure checks of a folder's layout (videos or folders of frames, directly in it or one folder per
class) and the :class:`~cnnlstm.errors.DataError` / :class:`~cnnlstm.errors.ConfigError` messages
that say what to change when a folder is missing, empty, mixed or holds a single clip. Nothing
here reads a frame or imports Lightning.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from cnnlstm.data.clip_folder import FRAME_EXTENSIONS, VIDEO_EXTENSIONS, video_endings
from cnnlstm.data.paths import natural_key, visible_entries
from cnnlstm.errors import ConfigError, DataError

__all__ = ["predict_layout", "root_kind", "root_missing_error", "source_fps_missing_error"]


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
    f"{video_endings()}, or folders of frames ({', '.join(FRAME_EXTENSIONS)}, one folder per clip)"
)


def root_missing_error(root: Path) -> DataError:
    """The error for a ``root`` that is not a folder: it says where it looked and what to do."""
    what = "is a file, not a folder" if root.exists() else "does not exist"
    return DataError(
        f"VideoDataModule: root {_shown(root)} {what}; set data.init_args.root to your folder of "
        f"class folders (ROOT/<class>/<clip>), or write the built-in example there first: "
        f"cnnlstm generate digit-clips {root.as_posix().rstrip('/')}/"
    )


def source_fps_missing_error(root: Path, fps: float) -> ConfigError:
    """The error for ``fps`` on folders of frames without ``source_fps`` (they have no times)."""
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


def root_kind(root: Path) -> Literal["video", "frames"]:
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


def predict_layout(root: Path, format: str) -> tuple[Literal["video", "frames"], bool]:
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
        "auto": f"{video_endings()}, or folders of frames ({', '.join(FRAME_EXTENSIONS)})",
        "video": video_endings(),
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
