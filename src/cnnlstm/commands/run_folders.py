"""Run folders: every ``cnnlstm fit`` (and ``validate``, ``test``, ``predict``) gets a folder of its
own, ``runs/<name>/version_<n>``, for its logs and checkpoints.

A run claims its folder when it chooses the number: :func:`claim_version` creates
``version_<n>`` with ``os.mkdir``, which fails when another process created it first, and then
tries the next number. Two runs started together therefore never share a folder.

``runs/<name>/checkpoints`` is a symbolic link to the checkpoints of the newest ``fit``
(:func:`link_latest`), so ``runs/<name>/checkpoints/last.ckpt`` keeps naming the newest run's
last checkpoint. :func:`find_checkpoint` is what ``--ckpt_path last`` and ``--ckpt_path best``
mean: that file in the newest run folder that has one.

A run that fails before it wrote anything worth keeping gives its folder back
(:func:`give_back`: only what a run writes as it starts is in it).

A DDP run's other processes, which Lightning starts by running the same command line again, take
the folder of the process that started them instead of claiming one (:func:`hand_down`,
:func:`handed_down`).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "RUNS_DIR",
    "checkpoint_pattern",
    "claim_version",
    "find_checkpoint",
    "give_back",
    "hand_down",
    "handed_down",
    "launch_rank",
    "link_latest",
    "newest_match",
    "next_version",
    "release",
    "same_folder",
]

RUNS_DIR = "runs"
"""Where runs write logs, checkpoints and predictions, relative to the working directory."""

_VERSION = re.compile(r"version_(\d+)")
_HANDED_DOWN = "CNNLSTM_RUN_FOLDERS"
"""The environment variable through which a DDP run's first process names its folders."""


def next_version(parent: str | Path) -> int:
    """One more than the largest ``version_<n>`` in ``parent`` (0 when there is none).

    Example:
        >>> next_version("no/such/folder")
        0
    """
    return max(_versions(Path(parent)), default=-1) + 1


def _versions(parent: Path) -> list[int]:
    if not parent.is_dir():
        return []
    return [
        int(found.group(1))
        for path in parent.iterdir()
        if (found := _VERSION.fullmatch(path.name)) and path.is_dir()
    ]


def claim_version(parent: str | Path) -> Path:
    """Create and return ``parent/version_<n>``, ``n`` the first free number from
    :func:`next_version`; a number another process created first is skipped.

    ``os.mkdir`` creates a folder or fails if it exists, in one step, so of several processes
    that choose the same number at the same moment exactly one gets it.

    Example:
        >>> import tempfile
        >>> parent = Path(tempfile.mkdtemp())
        >>> claim_version(parent).name, claim_version(parent).name
        ('version_0', 'version_1')
    """
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    number = next_version(parent)
    while True:
        folder = parent / f"version_{number}"
        try:
            os.mkdir(folder)
        except FileExistsError:
            number += 1
            continue
        return folder


def release(folder: str | Path) -> None:
    """Remove a claimed folder that nothing was written to (a run that stopped before starting)."""
    with contextlib.suppress(OSError):  # not empty, or already gone: keep it
        os.rmdir(folder)


_STARTING_FILES = ("config.yaml", "hparams.yaml")
"""What a run writes to its folder as it starts, before it has trained or logged anything."""


def _no_events(path: Path) -> bool:
    """Whether a TensorBoard event file holds nothing but the record every one starts with.

    An event file is a series of records, each an 8-byte length, a 4-byte checksum, the data
    and a 4-byte checksum; a writer opens it with one record, the file's version.
    """
    with path.open("rb") as file:
        head = file.read(8)
    if not head:
        return True
    length = int.from_bytes(head, "little") if len(head) == 8 else -1
    return path.stat().st_size == 8 + 4 + length + 4


def give_back(folder: str | Path) -> bool:
    """Remove the run folder of a run that failed before it wrote anything worth keeping.

    The folder goes when all it holds is what a run writes as it starts: ``config.yaml``,
    ``hparams.yaml``, TensorBoard event files with no event yet, and empty folders (its
    ``checkpoints``). A checkpoint, a ``metrics.csv`` (metrics were logged), an event file with
    events, predictions, or anything else keeps it, as it is.

    Returns:
        Whether the folder is gone.
    """
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        return False
    files: list[Path] = []
    folders: list[Path] = []
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            if any(entry.iterdir()):
                return False
            folders.append(entry)
        elif entry.name in _STARTING_FILES or (
            entry.name.startswith("events.out.tfevents.") and entry.is_file() and _no_events(entry)
        ):
            files.append(entry)
        else:
            return False
    try:
        for path in files:
            path.unlink()
        for path in [*folders, folder]:
            os.rmdir(path)  # fails if something was written meanwhile: then it stays
    except OSError:
        return False
    return True


def link_latest(alias: str | Path, target: str | Path) -> str | None:
    """Point the symbolic link ``alias`` at the folder ``target``, replacing it in one step.

    Returns:
        ``None`` when ``alias`` points at ``target``, else why it could not (``alias`` is a real
        folder, or the system refused the link: Windows without the right to make them).
    """
    alias, target = Path(alias), Path(target)
    if alias.exists() and not alias.is_symlink():
        return f"{alias} is a folder, not a link"
    temporary = alias.with_name(f".{alias.name}.{os.getpid()}")
    try:
        temporary.unlink(missing_ok=True)
        os.symlink(os.path.relpath(target, alias.parent), temporary, target_is_directory=True)
        os.replace(temporary, alias)  # replaces the link itself, atomically
    except OSError as error:
        temporary.unlink(missing_ok=True)
        return f"{alias} could not be linked to {target}: {error}"
    return None


def checkpoint_pattern(filename: str) -> str:
    """The names of the files a ``ModelCheckpoint.filename`` gives, as a glob pattern.

    Example:
        >>> checkpoint_pattern("best-{epoch}-{step}"), checkpoint_pattern("last")
        ('best-*-*.ckpt', 'last.ckpt')
    """
    return re.sub(r"\{[^}]*\}", "*", filename) + ".ckpt"


def newest_match(folder: Path, filename: str) -> Path | None:
    """The newest file in ``folder`` that ``filename`` gives (:func:`checkpoint_pattern`)."""
    if not folder.is_dir():
        return None
    pattern = checkpoint_pattern(filename)
    found = [path for path in folder.iterdir() if fnmatch.fnmatch(path.name, pattern)]
    files = [path for path in found if path.is_file()]
    return max(files, key=lambda path: path.stat().st_mtime) if files else None


def find_checkpoint(run_dir: str | Path, filename: str) -> Path | None:
    """The checkpoint ``filename`` (a ``ModelCheckpoint.filename``: fields such as ``{epoch}``
    allowed) of the newest run folder ``run_dir/version_<n>`` that has one.

    Folders are taken from the highest ``n`` down; within one, the newest file that matches. A
    ``run_dir/checkpoints`` folder written by an earlier cnnlstm (a real folder, not the link to
    the newest run) is looked in last.

    Example:
        >>> find_checkpoint("no/such/run", "last") is None
        True
    """
    run_dir = Path(run_dir)
    numbers = sorted(_versions(run_dir), reverse=True)
    folders = [run_dir / f"version_{n}" / "checkpoints" for n in numbers]
    legacy = run_dir / "checkpoints"
    if legacy.is_dir() and not legacy.is_symlink():
        folders.append(legacy)
    for folder in folders:
        found = newest_match(folder, filename)
        if found is not None:
            return found
    return None


def launch_rank() -> int:
    """This process's global rank as a launcher set it in the environment (0 when none did).

    Lightning starts a DDP run's other processes with ``LOCAL_RANK`` set; torchrun and SLURM
    set ``RANK`` and ``SLURM_PROCID``. The keys are read in Lightning's order.
    """
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        value = os.environ.get(key, "")
        if value.strip().isdigit():
            return int(value)
    return 0


def hand_down(folders: Mapping[str, Any]) -> None:
    """Leave ``folders`` (JSON-able) in the environment for the processes this one starts."""
    os.environ[_HANDED_DOWN] = json.dumps({"pid": os.getpid(), **folders})


def handed_down() -> dict[str, Any] | None:
    """What the process that started this one left with :func:`hand_down`, when this process is
    one of the other processes of its DDP run (:func:`launch_rank` above 0); else ``None``: a
    first process, or one that another process started (its parent is not the one that handed
    down), claims its own folder."""
    text = os.environ.get(_HANDED_DOWN)
    if not text or launch_rank() == 0:
        return None
    try:
        folders = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(folders, dict) or folders.pop("pid", None) != os.getppid():
        return None
    return folders


def same_folder(one: Any, other: Any) -> bool:
    """Whether two paths name one folder (symbolic links resolved); other values: ``==``.

    Example:
        >>> same_folder("runs/a/../a", "runs/a"), same_folder(None, None)
        (True, True)
    """
    if not isinstance(one, str | Path) or not isinstance(other, str | Path):
        return bool(one == other)
    return os.path.realpath(one) == os.path.realpath(other)
