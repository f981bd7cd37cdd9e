"""Where ``cnnlstm detect`` says what it is doing: standard output, or standard error when
standard output carries the scores (``--stream``)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

__all__ = ["Notes"]


@dataclass(frozen=True)
class Notes:
    """The run's notes (``fitting ...``, ``note: ...``), its progress and its tables.

    Args:
        stderr: write them to standard error (``--stream``: standard output carries the scores).
    """

    stderr: bool = False

    def console(self) -> Any:
        """A rich ``Console`` on the stream the notes go to (the one there is now: tests and
        many-file runs redirect standard output)."""
        from rich.console import Console

        return Console(file=sys.stderr if self.stderr else sys.stdout, highlight=False)

    def say(self, text: str) -> None:
        """Print ``text`` as it is (no markup), one line however long."""
        self.console().print(text, soft_wrap=True, markup=False)
