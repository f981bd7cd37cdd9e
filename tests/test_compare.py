"""`cnnlstm compare`: each bridge trained on the same data and budget; table, plot and JSON.

The numbers in the JSON are checked against each run's own CSV log and against parameter counts
of models built directly from the registry, not against the comparison's own arithmetic.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image

from cnnlstm import cli
from cnnlstm.commands.compare import BridgeResult, Comparison
from cnnlstm.commands.configs import CONFIGS_DIR
from cnnlstm.errors import ConfigError
from cnnlstm.models.registry import create_model

CONFIGS = CONFIGS_DIR
CONFIG = str(CONFIGS / "digit_clips.yaml")
MODEL_ARGS = {"frames": 10, "image_size": (32, 32), "channels": (4, 8), "hidden_size": 8}
TINY = [
    "--data.init_args.train_samples=8",
    "--data.init_args.val_samples=4",
    "--data.init_args.batch_size=4",
    "--model.init_args.model_args.channels=[4, 8]",
    "--model.init_args.model_args.hidden_size=8",
    "--trainer.log_every_n_steps=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]


@pytest.fixture(autouse=True)
def _in_tmp_dir_on_one_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_compare_two_bridges_prints_a_table_and_writes_a_plot_and_a_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["compare", "--config", CONFIG, "--bridges", "temporal,single_frame"]
    # this threshold would stop a run after its first validation: compare turns early stopping off
    extra = ["--max-epochs", "2", "--output", "out", "--early_stopping.stopping_threshold=0"]
    assert cli.main([*argv, *extra, *TINY]) == 0
    out = capsys.readouterr().out
    assert "temporal" in out and "single_frame" in out and "val/acc" in out

    data = json.loads(Path("out/comparison.json").read_text())
    assert (data["model"], data["metric"], data["mode"]) == ("clip_classifier", "val/acc", "max")
    assert data["max_epochs"] == 2
    assert data["seed"] == 0
    results = {r["bridge"]: r for r in data["results"]}
    assert list(results) == ["temporal", "single_frame"]
    for bridge, result in results.items():
        with (Path("out") / bridge / "version_0" / "metrics.csv").open(newline="") as file:
            rows = list(csv.DictReader(file))
        accuracies = [float(r["val/acc"]) for r in rows if r["val/acc"]]
        assert len(accuracies) == 2  # both epochs ran, each validated
        assert result["value"] == pytest.approx(max(accuracies))
        assert result["epochs"] == 2
        assert result["seconds_per_epoch"] > 0
        model = create_model("clip_classifier", num_classes=10, bridge=bridge, **MODEL_ARGS)
        assert result["params"] == sum(p.numel() for p in model.parameters())
        assert Path(result["checkpoint"]).is_file()
    # the single-frame baseline has no LSTM: fewer parameters
    assert results["single_frame"]["params"] < results["temporal"]["params"]
    best = max(results.values(), key=lambda r: r["value"])  # ties: the first, as compare picks
    assert data["best"] == best["bridge"]

    with Image.open("out/comparison.png") as image:
        assert image.format == "PNG"
        assert image.width >= 800 and image.height >= 400


def test_a_bridge_the_model_does_not_take_fails_before_any_training(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["compare", "--config", CONFIG, "--bridges", "temporal,pool,columns", "--output", "out"]
    assert cli.main([*argv, *TINY]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "'pool', 'columns'" in err
    assert "bridge has to be one of 'temporal', 'convlstm', 'single_frame'" in err
    assert not list(Path(".").rglob("*.ckpt"))
    assert not list(Path(".").rglob("metrics.csv"))


def test_a_model_without_a_bridge_cannot_be_compared(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["compare", "--config", str(CONFIGS / "text_lines.yaml"), "--bridges", "columns,rows"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "model 'crnn' has to take a bridge argument" in err
    assert "clip_classifier, image_sequence_classifier" in err


def test_each_bridge_once() -> None:
    from cnnlstm.commands.compare import compare_bridges

    with pytest.raises(ConfigError, match="each bridge once"):
        compare_bridges(CONFIG, ["temporal", "temporal"])


@pytest.mark.parametrize(
    ("mode", "values", "best"),
    [
        ("max", [0.5, 0.9, 0.9], "b"),
        ("min", [0.5, 0.9, 0.1], "c"),
        ("max", [None, 0.2, float("nan")], "b"),
        ("min", [None, None, None], None),
    ],
)
def test_best_bridge(mode: str, values: list[float | None], best: str | None) -> None:
    results = tuple(
        BridgeResult(bridge=name, value=v, params=1, seconds_per_epoch=1.0, epochs=1, checkpoint="")
        for name, v in zip("abc", values, strict=True)
    )
    comparison = Comparison("c.yaml", "m", "val/x", mode, results, Path("p"), Path("j"))  # type: ignore[arg-type]
    assert (comparison.best.bridge if comparison.best else None) == best
