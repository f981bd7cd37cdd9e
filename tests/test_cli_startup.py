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


def test_cnnlstm_cli_is_dispatch_only(tmp_path: Path) -> None:
    """The commands live in cnnlstm.commands; cnnlstm.cli parses and hands over, and forwards
    no names of theirs."""
    script = (
        "import sys, cnnlstm.cli as cli\n"
        "print(sorted(cli.__all__), hasattr(cli, 'CNNLSTMCLI'), hasattr(cli, 'run_demo'))\n"
        "print([m for m in ('lightning', 'jsonargparse', 'rich') if m in sys.modules])\n"
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
    names, imported = done.stdout.strip().splitlines()
    expected = ["ALIASES", "COMMAND_EXTRAS", "LIGHTNING_COMMANDS", "build_parser", "main"]
    assert names == f"{expected} False False"
    assert imported == "[]"


def test_help_needs_no_extra(tmp_path: Path) -> None:
    """With every package of every extra missing, --help still lists the commands."""
    from cnnlstm.extras import EXTRAS

    missing = sorted({module for modules in EXTRAS.values() for module in modules})
    script = (
        f"import sys\nfor name in {missing!r}:\n    sys.modules[name] = None\n"
        "from cnnlstm.cli import main\nsys.exit(main(['--help']))\n"
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
    for command in ("fit", "configs", "demo", "detect", "generate", "convert", "export"):
        assert f"    {command} " in done.stdout, command


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from cnnlstm import __version__
    from cnnlstm.cli import main

    for flag in ("--version", "-V"):
        assert main([flag]) == 0
        assert capsys.readouterr().out == f"cnnlstm {__version__}\n"
