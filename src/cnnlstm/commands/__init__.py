"""Subcommands of the ``cnnlstm`` command line that live in modules of their own.

Each command module (:mod:`~cnnlstm.commands.detect`, :mod:`~cnnlstm.commands.generate`,
:mod:`~cnnlstm.commands.benchmark`) has ``add_parser(subparsers)`` to hang its command on the
main parser, ``run(args) -> int`` to run it, and ``main(argv)`` to run it alone. User mistakes
end as one ``cnnlstm <command>: error: ...`` line on stderr and exit code 2, through
:func:`user_error`. :mod:`~cnnlstm.commands.train` is the exception: it holds the LightningCLI
commands (``fit``, ``validate``, ``test``, ``predict``, ``summary``), which ``cnnlstm.cli``
dispatches itself and imports only when one of them runs, so that the other commands start
without importing Lightning.
"""

from __future__ import annotations

import sys

from cnnlstm.errors import CNNLSTMError

__all__ = ["USER_ERRORS", "user_error"]

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
