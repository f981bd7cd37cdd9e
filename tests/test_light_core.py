"""`import cnnlstm` gives the layers, `CNNLSTM`, the registry and `summary` on torch, einops and
numpy alone: none of the application's dependencies is imported until one of its names is used.

Each case runs in a fresh interpreter, since this test process has long imported them all.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import cnnlstm

APPLICATION = (
    "av",
    "PIL",
    "pandas",
    "lightning",
    "pytorch_lightning",
    "torchmetrics",
    "jsonargparse",
    "matplotlib",
    "keras",
    "onnx",
    "onnxruntime",
    "rich",
    "yaml",
)
"""Top-level packages of the extras (video, sensors, train, plots, keras, export)."""


def _loaded_after(statement: str, cwd: Path) -> dict[str, list[str]]:
    """Run ``statement`` in a fresh interpreter; the application packages it loaded, and the
    third-party top-level packages present afterwards."""
    script = (
        f"import json, sys\n{statement}\n"
        "top = sorted({n.split('.')[0] for n in sys.modules} - set(sys.stdlib_module_names))\n"
        "print(json.dumps({'application': [n for n in json.loads(sys.argv[1]) if n in sys.modules],"
        " 'top': top}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(APPLICATION)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    "statement",
    [
        "import cnnlstm",
        "from cnnlstm import TimeDistributed, CNNLSTM, create_model, summary",
        "import cnnlstm; cnnlstm.create_model('clip_classifier', num_classes=3)",
    ],
)
def test_the_core_loads_torch_einops_and_numpy_only(statement: str, tmp_path: Path) -> None:
    loaded = _loaded_after(statement, tmp_path)
    assert loaded["application"] == []
    third_party = set(loaded["top"]) - {"cnnlstm", "__main__"}
    # torch brings some of its own (torchgen, typing_extensions, ...); none of the extras
    assert {"torch", "einops", "numpy"} <= third_party
    assert not third_party & set(APPLICATION)


def test_every_public_name_is_importable() -> None:
    for name in cnnlstm.__all__:
        assert getattr(cnnlstm, name) is not None, name
    from cnnlstm import AnomalyDetector, from_keras

    assert AnomalyDetector.__name__ == "AnomalyDetector" and callable(from_keras)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'AnomalyDetektor'"):
        cnnlstm.AnomalyDetektor  # noqa: B018
