"""The README's code runs as written.

Every ```python block of the "Which bridge for which data" section has to exist (one per
strategy) and end on a shape; every ```python block anywhere in README.md runs, and a printed
shape is the one its comment promises.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
HEADING = "## Which bridge for which data"
TEXT = README.read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The text under ``heading`` up to the next ``## `` heading."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == heading]
    if not starts:
        raise AssertionError(f"README.md has no {heading!r} section")
    body = []
    for line in lines[starts[0] + 1 :]:
        if line.startswith("## "):
            break
        body.append(line)
    return "\n".join(body)


def python_blocks(markdown: str) -> list[str]:
    """The ```python blocks of a markdown text, dedented (blocks inside list items are indented)."""
    blocks = []
    for match in re.finditer(r"^( *)```python\n(.*?)^\1```", markdown, flags=re.S | re.M):
        indent = len(match.group(1))
        blocks.append("\n".join(line[indent:] for line in match.group(2).splitlines()))
    return blocks


BRIDGE_BLOCKS = python_blocks(section(TEXT, HEADING))
ALL_BLOCKS = python_blocks(TEXT)


def test_the_section_has_an_example_per_strategy() -> None:
    assert len(BRIDGE_BLOCKS) >= 4
    for name in ("GlobalPoolBridge", "SpatialSequence", "TimeDistributed", "ConvLSTM"):
        assert any(name in block for block in BRIDGE_BLOCKS), name
    for block in BRIDGE_BLOCKS:
        last = block.strip().splitlines()[-1]
        assert "shape" in last, f"a block should end by printing or asserting a shape:\n{block}"


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=[f"block{i}" for i in range(len(ALL_BLOCKS))])
def test_block_runs(
    block: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # files a block writes (an exported model) land here
    if "import keras" in block:  # as a user runs it: without the suite's KERAS_BACKEND
        env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
        done = subprocess.run(
            [sys.executable, "-c", block], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        printed = done.stdout
    else:
        code = compile(block, "README.md", "exec")
        exec(code, {"__name__": "__readme__"})
        printed = capsys.readouterr().out
    for line in block.splitlines():  # a printed shape is the one its comment promises
        match = re.match(r"print\(.*\)\s+# (torch\.Size\(\[[\d, ]+\]\)|\([\d, ]+\))", line)
        if match:
            assert match.group(1) in printed, (line, printed)


def test_every_flag_the_anomaly_section_names_is_a_detect_option() -> None:
    """The ``--flags`` the README's anomaly-detection prose names exist in ``cnnlstm detect``."""
    from cnnlstm.commands.detect import build_parser

    body = TEXT.split("### Anomaly detection on sensor data", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", body))
    options = {flag for action in build_parser()._actions for flag in action.option_strings}
    assert {"--decimal", "--missing", "--datetime", "--columns", "--stream"} <= named
    assert sorted(named - options) == []
