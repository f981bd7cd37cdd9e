"""The commands of the ``cnnlstm`` command line, one module each; :mod:`cnnlstm.cli` dispatches.

Most command modules (:mod:`~cnnlstm.commands.configs`, :mod:`~cnnlstm.commands.demo`,
:mod:`~cnnlstm.commands.detect`, :mod:`~cnnlstm.commands.generate`,
:mod:`~cnnlstm.commands.benchmark`, :mod:`~cnnlstm.commands.convert`) describe themselves as a
:class:`Command`, which gives each ``add_parser(subparsers)`` to hang the command on the main
parser, ``build_parser()`` for the command alone, and ``main(argv)`` to run it alone; its own
``run(args) -> int`` runs it. They import nothing heavy at the top, so the main parser can list
them all. User mistakes end as one ``cnnlstm <command>: error: ...`` line on stderr and exit
code 2, through :func:`user_error`.

The commands that train or load a task import Lightning, so ``cnnlstm.cli`` imports them only
when one of them runs: :mod:`~cnnlstm.commands.train` (``fit``, ``validate``, ``test``,
``predict``, ``summary``), :mod:`~cnnlstm.commands.compare` and :mod:`~cnnlstm.commands.export`.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnlstm.errors import CNNLSTMError
from cnnlstm.extras import MissingExtraError, missing_extra

__all__ = [
    "COMMAND_EXTRAS",
    "USER_ERRORS",
    "Command",
    "atomic_file",
    "atomic_folder",
    "error_message",
    "flag_name",
    "positive_int",
    "positive_or_off",
    "size_or_off",
    "user_error",
]

COMMAND_EXTRAS: dict[str, str] = {
    **dict.fromkeys(("fit", "validate", "test", "predict", "summary", "compare", "demo"), "train"),
    **dict.fromkeys(("detect", "benchmark", "bench", "generate"), "detect"),
    "convert": "keras",
    "export": "export",
}
"""The extra a command's error names when one of its packages is missing (see
:mod:`cnnlstm.extras`): the one that installs everything the command needs."""

USER_ERRORS: tuple[type[BaseException], ...] = (CNNLSTMError, OSError, ValueError)
"""The exceptions that mean the user asked for something that cannot be done (``OSError``: a
missing file, a folder that cannot be written)."""


def flag_name(name: str) -> str:
    """The flag a user types for the setting ``name``.

    Example:
        >>> flag_name("level_mean")
        '--level-mean'
    """
    return f"--{name.replace('_', '-')}"


def user_error(command: str, error: BaseException | str) -> int:
    """Print ``cnnlstm <command>: error: <message>`` as one line on stderr; return 2.

    Example:
        >>> user_error("detect", ValueError("--window has to be at least 2, but got 1"))
        2
    """
    if isinstance(error, MissingExtraError):  # name the extra the whole command needs
        extra = COMMAND_EXTRAS.get(command.split()[0])
        error = missing_extra(error, f"cnnlstm {command}", extra) or error
    message = str(error) if isinstance(error, str) else error_message(error)
    line = " ".join(message.split())  # one line, whatever the message held
    print(f"cnnlstm {command}: error: {line}", file=sys.stderr, flush=True)
    return 2


def error_message(error: BaseException) -> str:
    """The message a user reads for ``error``: an ``OSError``'s file and reason, else its text."""
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or type(error).__name__}."
    return str(error) or type(error).__name__


def positive_int(text: str) -> int:
    """An ``argparse`` type: ``text`` as an int of at least 1.

    Example:
        >>> positive_int("3")
        3
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"has to be a positive integer, but got {text!r}")
    return value


def positive_or_off(text: str) -> float | str:
    """An ``argparse`` type: ``text`` as a positive number, or the word ``"off"``.

    Example:
        >>> positive_or_off("2"), positive_or_off("off")
        (2.0, 'off')
    """
    if text == "off":
        return text
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0:
        raise argparse.ArgumentTypeError(f"has to be a positive number or off, but got {text!r}")
    return value


def size_or_off(text: str) -> float:
    """An ``argparse`` type: ``text`` as a finite number of at least 0, the word ``"off"`` as 0.

    Example:
        >>> size_or_off("0.2"), size_or_off("off")
        (0.2, 0.0)
    """
    if text == "off":
        return 0.0
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"has to be a number >= 0 or off, but got {text!r}")
    return value


@dataclass(frozen=True)
class Command:
    """A subcommand of ``cnnlstm`` that lives in a module of its own.

    Args:
        name: the command's name (``cnnlstm NAME``).
        help: one line for ``cnnlstm --help`` and the command's own ``--help``.
        configure: adds the command's arguments to a parser and returns it.
        run: runs the command on the parsed arguments; returns the exit code.

    Example:
        >>> hello = Command("hello", "say hello", lambda parser: parser, lambda args: 0)
        >>> hello.build_parser().prog, hello.main([])
        ('cnnlstm hello', 0)
    """

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]
    run: Callable[[argparse.Namespace], int]

    def add_parser(self, subparsers: argparse._SubParsersAction[Any]) -> None:
        """Add the command to the ``cnnlstm`` command line's subcommands."""
        parser = subparsers.add_parser(self.name, help=self.help, description=self.help)
        self.configure(parser)

    def build_parser(self) -> argparse.ArgumentParser:
        """A parser with just this command, as ``cnnlstm NAME`` reads its arguments."""
        parser = argparse.ArgumentParser(prog=f"cnnlstm {self.name}", description=self.help)
        return self.configure(parser)

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Run the command with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
        return self.run(self.build_parser().parse_args(argv))


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
