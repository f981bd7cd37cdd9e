"""``atomic_file`` and ``atomic_folder``: every command writes its outputs through them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cnnlstm.commands import atomic_file, atomic_folder


def test_a_whole_file_lands_with_the_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "out.csv"
    old = os.umask(0o027)
    try:
        with atomic_file(target) as temp:
            assert temp.parent == target.parent and temp != target
            temp.write_text("a,b\n")
            assert not target.exists()  # nothing at the final name until the block ends
    finally:
        os.umask(old)
    assert target.read_text() == "a,b\n"
    assert target.stat().st_mode & 0o777 == 0o640  # 0o666 & ~0o027, not mkstemp's 0o600


def test_a_failure_keeps_the_previous_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("the previous run\n")
    with pytest.raises(RuntimeError, match="disk full"), atomic_file(target) as temp:
        temp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "the previous run\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_a_folder_is_renamed_into_place_or_removed(tmp_path: Path) -> None:
    target = tmp_path / "frames"
    with atomic_folder(target) as temp:
        (temp / "0.png").write_bytes(b"png")
    assert [p.name for p in target.iterdir()] == ["0.png"]
    with pytest.raises(RuntimeError), atomic_folder(tmp_path / "other") as temp:
        (temp / "0.png").write_bytes(b"png")
        raise RuntimeError("decoder crashed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
