"""Every ```python block of the README's "Which bridge for which data" section runs as written.

The section lives in docs/bridges.md until it is pasted into README.md; once README.md has the
section, the README's copy is the one tested.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Which bridge for which data"


def section_source() -> tuple[Path, str]:
    """The file holding the section, and the section's text up to the next ``## `` heading."""
    readme = ROOT / "README.md"
    for path in (readme, ROOT / "docs" / "bridges.md"):
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        starts = [i for i, line in enumerate(lines) if line.strip() == HEADING]
        if not starts:
            continue
        body = []
        for line in lines[starts[0] + 1 :]:
            if line.startswith("## "):
                break
            body.append(line)
        return path, "\n".join(body)
    raise FileNotFoundError(f"neither README.md nor docs/bridges.md has {HEADING!r}")


def python_blocks(section: str) -> list[str]:
    """The ```python blocks of a markdown text, dedented (blocks inside list items are indented)."""
    blocks = []
    for match in re.finditer(r"^( *)```python\n(.*?)^\1```", section, flags=re.S | re.M):
        indent = len(match.group(1))
        blocks.append("\n".join(line[indent:] for line in match.group(2).splitlines()))
    return blocks


SOURCE, SECTION = section_source()
BLOCKS = python_blocks(SECTION)


def test_the_section_has_an_example_per_strategy() -> None:
    assert len(BLOCKS) >= 4, SOURCE
    for name in ("GlobalPoolBridge", "SpatialSequence", "TimeDistributed", "ConvLSTM"):
        assert any(name in block for block in BLOCKS), name
    for block in BLOCKS:
        last = block.strip().splitlines()[-1]
        assert "shape" in last, f"a block should end by printing or asserting a shape:\n{block}"


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_block_runs(block: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = compile(block, f"{SOURCE.name} ({HEADING})", "exec")
    exec(code, {"__name__": "__readme__"})
    printed = capsys.readouterr().out
    for line in block.splitlines():  # a printed shape is the one its comment promises
        match = re.match(r"print\(.*\)\s+# (torch\.Size\(\[[\d, ]+\]\)|\([\d, ]+\))", line)
        if match:
            assert match.group(1) in printed, (line, printed)
