"""Where ``cnnlstm detect`` says what it is doing: standard output, or standard error when
standard output carries the scores (``--stream``). Where that is not a terminal (a log file, a
pipe), no progress bar shows, so the run logs a line at each stage instead (:meth:`Notes.log`)."""

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

        return Console(file=self.stream(), highlight=False)

    def say(self, text: str) -> None:
        """Print ``text`` as it is (no markup), one line however long, at once (flushed)."""
        self.console().print(text, soft_wrap=True, markup=False)
        self.stream().flush()

    def stream(self) -> Any:
        """The stream the notes go to (the one there is now)."""
        return sys.stderr if self.stderr else sys.stdout

    @property
    def live(self) -> bool:
        """Whether the notes go to a terminal, where progress bars show."""
        return bool(self.stream().isatty())

    def log(self, text: str) -> None:
        """Say ``text`` where the notes do not go to a terminal: a line per stage of the run
        (``read: ...``, ``fit: ...``, ``calibrate: ...``, ``write: ...``) for a log file, where
        no progress bar shows what the run is doing."""
        if not self.live:
            self.say(text)
