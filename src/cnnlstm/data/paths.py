"""Listing a user's folders the way people read them: hidden entries skipped, digits by value.

Every reader of a folder (clips, frames, text lines, sensor files) lists it with
:func:`visible_entries` and orders the names with :func:`natural_key`, so ``frame2`` comes before
``frame10`` and ``.ipynb_checkpoints`` is never taken for a class. Nothing here decodes a file.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["natural_key", "visible_entries"]


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders the digits in a name by value: ``frame2`` before ``frame10``.

    Example:
        >>> sorted(["frame10.png", "frame2.png", "frame1.png"], key=natural_key)
        ['frame1.png', 'frame2.png', 'frame10.png']
    """
    parts = re.split(r"(\d+)", name)
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in parts if p)


def visible_entries(folder: Path) -> list[Path]:
    """The entries of ``folder`` that are not hidden: names that do not start with ``.``.

    Hidden entries are what tools leave behind (``.ipynb_checkpoints``, ``.git``, ``.DS_Store``,
    macOS's ``._frame1.png``), never classes, clips or frames.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> for name in ("walk", "run", ".ipynb_checkpoints"):
        ...     (folder / name).mkdir()
        >>> sorted(p.name for p in visible_entries(folder))
        ['run', 'walk']
    """
    return [p for p in folder.iterdir() if not p.name.startswith(".")]
