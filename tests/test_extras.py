"""A missing extra ends in one clear error that names the pip command, where it is first needed.

Each case runs in a fresh interpreter in which ``sys.modules[name] = None`` makes ``import name``
fail as it does where the package is not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cnnlstm.extras import EXTRAS, MissingExtraError, extra_for, importing, install_command

PROBE = """
import json, sys
for name in json.loads(sys.argv[1]):
    sys.modules[name] = None
try:
    exec(sys.argv[2])
except ImportError as error:
    print(json.dumps({"type": type(error).__name__, "message": str(error), "name": error.name}))
else:
    print(json.dumps({"type": None}))
"""


def _without(missing: list[str], code: str, cwd: Path) -> dict[str, str | None]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(missing), code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, str | None] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("missing", "code", "extra"),
    [
        (["av"], "from cnnlstm.data import VideoFolder", "video"),
        (["av"], "import cnnlstm.data.video", "video"),
        (["PIL"], "from cnnlstm.data import DigitClips", "train"),
        (["lightning"], "from cnnlstm.data import DigitClipsDataModule", "train"),
        (["lightning"], "import cnnlstm.commands.train", "train"),
        (
            ["matplotlib"],
            "from cnnlstm.reports.plots import plot_bridge_comparison as p; "
            "p(['a'], [1.0], [1.0], 'x.png', metric='m', mode='max')",
            "plots",
        ),
        (["lightning"], "from cnnlstm.tasks import ClassificationTask", "train"),
        (["torchmetrics"], "import cnnlstm.tasks.forecast", "train"),
        (
            ["pandas"],
            "from pathlib import Path; Path('s.csv').write_text('a,b\\n1,2\\n3,4\\n'); "
            "from cnnlstm.data import SensorCSV; SensorCSV('s.csv', window=1)",
            "sensors",
        ),
        (["keras"], "from cnnlstm import from_keras; from_keras(object())", "keras"),
        (
            ["matplotlib"],
            "import numpy as np; from cnnlstm.reports.anomaly import plot_detection as p; "
            "p(None, np.zeros((20, 2)), np.zeros(20), 1.0, path='x.png')",
            "plots",
        ),
    ],
)
def test_a_missing_extra_names_the_pip_command(
    missing: list[str], code: str, extra: str, tmp_path: Path
) -> None:
    result = _without(missing, code, tmp_path)
    assert result["type"] == "MissingExtraError"
    assert result["name"] == missing[0]
    assert str(result["message"]).endswith(f'install it with: pip install "cnnlstm[{extra}]"')


def test_the_core_and_light_names_need_no_extra(tmp_path: Path) -> None:
    every = sorted({module for modules in EXTRAS.values() for module in modules})
    code = (
        "import cnnlstm, cnnlstm.data, cnnlstm.extras\n"
        "from cnnlstm import CNNLSTM, TimeDistributed, create_model, summary\n"
        "from cnnlstm.data import ArrayDataset, pad_collate\n"
        "print(summary(create_model('clip_classifier', num_classes=3), (1, 10, 1, 32, 32)))\n"
    )
    assert _without(every, code, tmp_path) == {"type": None}


@pytest.mark.parametrize(
    ("argv", "missing", "extra", "prefix"),
    [
        (["fit", "--config", "digit_clips"], "lightning", "train", "cnnlstm"),
        (["summary", "--config", "digit_clips"], "jsonargparse", "train", "cnnlstm"),
        (
            ["detect", "in.csv", "--train-rows", "10", "--output", "out.csv"],
            "pandas",
            "detect",
            "cnnlstm detect",  # as detect's other errors
        ),
        (
            ["benchmark", "files", "in.csv", "--models", "pca"],
            "pandas",
            "detect",
            "cnnlstm benchmark",
        ),
    ],
)
def test_a_command_without_its_extra_says_which_to_install(
    argv: list[str], missing: str, extra: str, prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "in.csv").write_text("a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(40)))
    script = (
        f"import sys; sys.modules[{missing!r}] = None\n"
        f"from cnnlstm.cli import main; sys.exit(main({argv!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{prefix}: error: ")
    assert f"'{missing}', which is not installed" in last
    assert last.endswith(install_command(extra))


def test_importing_passes_other_errors_unchanged() -> None:
    with pytest.raises(ModuleNotFoundError) as caught, importing("a test"):
        import cnnlstm_no_such_module  # type: ignore[import-not-found]  # noqa: F401
    assert not isinstance(caught.value, MissingExtraError)
    with pytest.raises(ValueError, match="not an import"), importing("a test"):
        raise ValueError("not an import")


def test_every_extra_is_in_pyproject() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[1]
    declared = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    extras = declared["optional-dependencies"]
    assert set(EXTRAS) <= set(extras)
    assert declared["dependencies"] == ["torch>=2.4", "einops>=0.7", "numpy>=1.24"]
    (everything,) = extras["all"]
    assert set(everything.removeprefix("cnnlstm[").removesuffix("]").split(",")) == set(EXTRAS)
    assert extra_for("av.video") == "video" and extra_for("einops") is None
