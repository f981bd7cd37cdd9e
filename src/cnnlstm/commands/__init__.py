"""Subcommands of the ``cnnlstm`` command line that live in modules of their own.

Each command module (:mod:`~cnnlstm.commands.detect`, :mod:`~cnnlstm.commands.generate`,
:mod:`~cnnlstm.commands.benchmark`, :mod:`~cnnlstm.commands.convert`) has
``add_parser(subparsers)`` to hang its command on the main parser, ``run(args) -> int`` to run
it, and ``main(argv)`` to run it alone. User mistakes end as one
``cnnlstm <command>: error: ...`` line on stderr and exit code 2, through :func:`user_error`.
:mod:`~cnnlstm.commands.train` is the exception: it holds the LightningCLI commands (``fit``,
``validate``, ``test``, ``predict``, ``summary``), which ``cnnlstm.cli`` dispatches itself and
imports only when one of them runs, so that the other commands start without importing
Lightning.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cnnlstm.errors import CNNLSTMError

__all__ = ["USER_ERRORS", "atomic_file", "atomic_folder", "user_error"]

USER_ERRORS: tuple[type[BaseException], ...] = (CNNLSTMError, OSError, ValueError)
"""The exceptions that mean the user asked for something that cannot be done (``OSError``: a
missing file, a folder that cannot be written)."""


def user_error(command: str, error: BaseException | str) -> int:
    """Print ``cnnlstm <command>: error: <message>`` as one line on stderr; return 2.

    Example:
        >>> user_error("detect", ValueError("--window has to be at least 2, but got 1"))
        2
    """
    message = str(error) if isinstance(error, str) else _message(error)
    line = " ".join(message.split())  # one line, whatever the message held
    print(f"cnnlstm {command}: error: {line}", file=sys.stderr, flush=True)
    return 2


def _message(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or type(error).__name__}."
    return str(error) or type(error).__name__


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to, moved onto ``path`` when the block ends
    without an error and removed when it fails: a crash never leaves a half-written file, and
    an earlier ``path`` stays as it was until the new one is whole.

    The file gets the permissions the user's umask gives new files (``mkstemp`` alone would make
    it private).

    Example:
        >>> target = Path(tempfile.mkdtemp()) / "out.csv"
        >>> with atomic_file(target) as temp:
        ...     _ = temp.write_text("row,score")
        >>> target.read_text()
        'row,score'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    temp = Path(name)
    try:
        yield temp
        temp.chmod(0o666 & ~_umask())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """A temporary folder beside ``path`` to fill; renamed to ``path`` at the end (an empty
    ``path`` is replaced), removed when the block fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield temp
        temp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the user's umask decides
        if path.is_dir():
            path.rmdir()  # empty: checked before writing
        os.replace(temp, path)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
