"""Where ``cnnlstm detect`` writes: every place checked before any input is read, the files
moved into place together at the end, and OUT.csv's first cells.

A run that cannot write fails at once (:func:`check_places`), and a run that fails leaves no
output: OUT.csv, the saved detector and the report are written to temporary files beside their
places and moved there when the run ends without an error (:class:`Outputs`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
from pathlib import Path
from types import TracebackType

import numpy as np

from cnnlstm.commands import atomic_file
from cnnlstm.commands.detect.settings import DetectSettings
from cnnlstm.extras import importing

__all__ = ["Outputs", "check_file_place", "check_place", "check_places", "time_texts"]


def check_places(settings: DetectSettings) -> None:
    """Check every place the run writes before any input is read: a failed run leaves no
    output, and a run that cannot write fails at once.

    ``--output`` and ``--save`` have to be files and ``--report`` a folder; the folder each goes
    into has to be a folder that exists and can be written, or one that can be made (its first
    existing parent is a folder that can be written). No two of them may be one path, and none
    may be a file the run reads (INPUT, ``--train``, ``--load``). Nothing is made here.

    Raises:
        ValueError: a place that cannot be written, or two that are one.
    """
    places = [
        (flag, Path(path), kind)
        for flag, path, kind in (
            ("--output", settings.output, "file"),
            ("--save", settings.save, "file"),
            ("--report", settings.report, "folder"),
        )
        if path is not None
    ]
    for flag, path, kind in places:
        check_place(flag, path, kind)
    reads = [
        ("INPUT", settings.input),
        ("--train", settings.fit.train),
        ("--load", settings.fit.load),
    ]
    taken: dict[str, str] = {}
    for flag, path, _ in places:
        key = os.path.realpath(path)
        for other, read in reads:
            if read is not None and read != "-" and os.path.realpath(read) == key:
                raise ValueError(
                    f"{flag} has to be another path than {other}, but both are {path}: the "
                    f"command would write over a file it reads."
                )
        if key in taken:
            raise ValueError(
                f"{flag} has to be another path than {taken[key]}, but both are {path}."
            )
        taken[key] = flag


def check_place(flag: str, path: Path, kind: str) -> None:
    """Check that ``flag``'s ``path`` (a ``"file"`` or a ``"folder"``) can be written."""
    if kind == "file" and path.is_dir():
        raise ValueError(f"{flag} has to be a file, but got the folder {path}")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise ValueError(f"{flag} has to be a folder, but got the file {path}")
    folder = path if kind == "folder" and path.is_dir() else path.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(
            f"{flag} {path} cannot be written: {existing} is a file, not a folder; pass a path "
            f"in a folder."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        made = "" if existing == folder else f" (where {folder} would be made)"
        raise ValueError(
            f"{flag} {path} cannot be written: the folder {existing}{made} is not writable; "
            f"pass a path in a folder you can write to."
        )


def check_file_place(flag: str, path: Path) -> None:
    """Check a file the user named (``--output OUT.csv``, ``--save DETECTOR.pt``): it can be
    written (:func:`check_place`), into a folder that exists. As ``cp`` and a shell's ``>`` do,
    a missing folder stops the run rather than being made, so that a mistyped folder name is
    said at once instead of becoming a new folder; folders the user names as folders
    (``--report DIR``, OUTDIR with many files) are made.

    Raises:
        ValueError: the place cannot be written, or its folder does not exist.
    """
    check_place(flag, path, "file")
    if not path.parent.is_dir():
        raise ValueError(
            f"{flag} {path} cannot be written: the folder {path.parent} does not exist; make it "
            f"first (mkdir -p {shlex.quote(str(path.parent))}) or pass a path in a folder that "
            f"exists."
        )


class Outputs:
    """Files written under temporary names beside their places and moved there together when
    the block ends without an error; when it fails, the temporary files and the folders made
    for them are removed, so a failed run leaves no output.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> with Outputs() as outputs:
        ...     _ = outputs.file(root / "report" / "summary.md").write_text("# run")
        >>> sorted(p.name for p in (root / "report").iterdir())
        ['summary.md']
    """

    def __init__(self) -> None:
        self._files = contextlib.ExitStack()
        self._made: list[Path] = []

    def __enter__(self) -> Outputs:
        self._files.__enter__()
        return self

    def file(self, path: str | Path) -> Path:
        """A temporary path to write ``path``'s content to (its folders are made)."""
        path = Path(path)
        missing = []
        folder = path.parent
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:  # another process (--jobs) made it meanwhile: not ours
                continue
            self._made.append(folder)
        return self._files.enter_context(atomic_file(path))

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._files.__exit__(kind, error, traceback)
        finally:
            if kind is not None:
                for folder in reversed(self._made):
                    with contextlib.suppress(OSError):
                        folder.rmdir()


def time_texts(times: np.ndarray | None, start: int, count: int, *, utc: bool) -> list[str]:
    """OUT.csv's first cell of ``count`` rows from row ``start``: the time as
    ``2020-03-09 10:14:33`` (``+00:00`` added for times that had offsets), seconds to 15
    digits, or the row number without times. Equal to formatting each row on its own, faster.

    Example:
        >>> times = np.array(["2020-03-09T10:14:33", "2020-03-09T10:14:33.5"], "datetime64[ns]")
        >>> time_texts(times, 0, 2, utc=False)
        ['2020-03-09 10:14:33', '2020-03-09 10:14:33.500000']
    """
    if times is None:
        return [str(i) for i in range(start, start + count)]
    if not np.issubdtype(times.dtype, np.datetime64):
        return [f"{value:.15g}" for value in np.asarray(times, dtype=np.float64).tolist()]
    stamps = times.astype("datetime64[ns]")
    seconds = stamps.astype("datetime64[s]")
    text: list[str] = np.char.replace(np.datetime_as_string(seconds), "T", " ").tolist()
    odd = np.flatnonzero((stamps - seconds).astype(np.int64) != 0)
    if len(odd):
        with importing(
            "reading and writing sensor files (cnnlstm.commands.detect.outputs)", "sensors"
        ):
            import pandas as pd

        for i in odd.tolist():
            text[i] = str(pd.Timestamp(stamps[i]))
    if utc:
        return [f"{t}+00:00" for t in text]
    return text
