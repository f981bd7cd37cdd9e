"""`cnnlstm` starts without Lightning or pandas: only commands that train, load a task or read a
table import them.

Each case runs in a fresh interpreter, since this test process has long imported Lightning.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("lightning", "lightning.pytorch", "lightning.fabric", "jsonargparse", "pandas")

# runs main(argv) and prints, as JSON on the last line of stdout, its exit code and the heavy
# modules that ended up imported
PROBE = """
import json, sys
from cnnlstm.cli import main
code = main(json.loads(sys.argv[1]))
heavy = json.loads(sys.argv[2])
print(json.dumps({"code": code, "imported": [name for name in heavy if name in sys.modules]}))
"""


def _run(argv: list[str], cwd: Path) -> tuple[int, list[str], str]:
    """``main(argv)`` in a fresh interpreter: (exit code, heavy modules imported, stdout)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(HEAVY)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    *printed, last = done.stdout.strip().splitlines()
    result = json.loads(last)
    return result["code"], result["imported"], "\n".join(printed)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--help"], "detect"),
        (["detect", "--help"], "--stream"),
        (["generate", "--help"], "sensor-plant"),
        (["bench", "--help"], "skab"),
        (["demo", "--help"], "--steps"),
    ],
)
def test_commands_that_do_not_train_do_not_import_lightning(
    argv: list[str], expected: str, tmp_path: Path
) -> None:
    code, imported, out = _run(argv, tmp_path)
    assert code == 0
    assert expected in out  # the help was printed, by the right parser
    assert imported == []


def test_a_usage_mistake_does_not_import_lightning(tmp_path: Path) -> None:
    code, imported, _ = _run(["detect", "--window", "1"], tmp_path)
    assert code == 2
    assert imported == []


def test_fit_help_imports_lightning_and_prints_its_options(tmp_path: Path) -> None:
    code, imported, out = _run(["fit", "--help"], tmp_path)
    assert code == 0
    assert "--trainer.max_epochs" in out and "--early_stopping.patience" in out
    assert "lightning.pytorch" in imported and "jsonargparse" in imported


def test_the_moved_names_are_still_importable_from_cnnlstm_cli(tmp_path: Path) -> None:
    script = (
        "import sys, cnnlstm.cli as cli\n"
        "assert 'lightning' not in sys.modules\n"
        "from cnnlstm.cli import CNNLSTMCLI, build_cli\n"
        "from cnnlstm.commands import train\n"
        "assert CNNLSTMCLI is train.CNNLSTMCLI and build_cli is train.build_cli\n"
        "assert 'run_summary' in dir(cli) and 'lightning' in sys.modules\n"
        "try:\n"
        "    cli.no_such_name\n"
        "except AttributeError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "module 'cnnlstm.cli' has no attribute 'no_such_name'"
