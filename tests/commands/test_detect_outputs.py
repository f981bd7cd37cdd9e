"""Outputs: a folder another process makes between the check and the mkdir (detect --jobs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnlstm.commands.detect.outputs import Outputs


def test_a_folder_made_meanwhile_by_another_process_is_used_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "out"
    real_exists = Path.exists

    def racing_exists(self: Path, **kwargs: bool) -> bool:
        if self == shared and not real_exists(self):
            shared.mkdir()  # the other worker wins the race, after this check says "missing"
            return False
        return real_exists(self, **kwargs)

    monkeypatch.setattr(Path, "exists", racing_exists)
    with pytest.raises(RuntimeError), Outputs() as outputs:
        outputs.file(shared / "a.csv").write_text("x")
        raise RuntimeError("this file's run fails")
    monkeypatch.setattr(Path, "exists", real_exists)
    assert shared.is_dir()  # not ours to remove: the other worker's outputs go there
    assert not (shared / "a.csv").exists()
    with Outputs() as outputs:
        outputs.file(tmp_path / "new" / "b.csv").write_text("y")
    assert (tmp_path / "new" / "b.csv").read_text() == "y"
