"""Fixtures of the command tests: ``cnnlstm detect`` run as a user runs it, and its error line."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cnnlstm.commands.detect import main


@pytest.fixture
def run_detect(capsys: pytest.CaptureFixture[str]) -> Callable[[list[str]], tuple[int, str, str]]:
    """Runs ``cnnlstm detect ARGV``; returns its exit code, standard output and standard error."""

    def run(argv: list[str]) -> tuple[int, str, str]:
        code = main(argv)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def one_error() -> Callable[[str], str]:
    """The one line of a standard error that has to hold just ``cnnlstm detect: error: ...``."""

    def line(err: str) -> str:
        lines = err.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith("cnnlstm detect: error: ")
        return lines[0]

    return line
