"""Every shipped config (cnnlstm/configs/) trains: cut to two steps on a few generated samples.

The configs are what the README and the docs run; each has to work on a fresh machine, with
nothing downloaded (generated data, no MNIST path), and say how to run it. The one for the
user's own videos (`video_folder.yaml`) runs on a folder that `cnnlstm generate` writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from cnnlstm import cli
from cnnlstm.commands.configs import CONFIGS_DIR

CONFIGS = sorted(CONFIGS_DIR.glob("*.yaml"))
VIDEO = CONFIGS[0].parent / "video_folder.yaml"
TEXT = CONFIGS[0].parent / "text_folder.yaml"  # run by tests/data/test_text_folder.py
GENERATED = [path for path in CONFIGS if path not in (VIDEO, TEXT)]  # data drawn by a DataModule
SHORT = [
    "--trainer.max_steps=2",
    "--trainer.limit_val_batches=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--data.init_args.train_samples=4",
    "--data.init_args.val_samples=2",
    "--data.init_args.test_samples=2",
    "--data.init_args.batch_size=2",
]


@pytest.fixture(autouse=True)
def _in_tmp_dir_on_one_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_there_is_a_config_for_every_built_in_task() -> None:
    tasks = {yaml.safe_load(path.read_text())["model"]["class_path"] for path in CONFIGS}
    assert {
        "cnnlstm.tasks.ClassificationTask",
        "cnnlstm.tasks.ForecastTask",
        "cnnlstm.tasks.RecognitionTask",
    } <= tasks


@pytest.mark.parametrize("config", GENERATED, ids=[path.stem for path in GENERATED])
def test_config_trains_and_writes_a_checkpoint(config: Path) -> None:
    assert cli.main(["fit", "--config", str(config), *SHORT]) == 0
    last = Path("runs") / config.stem / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=False)
    assert checkpoint["global_step"] == 2
    settings = yaml.safe_load(config.read_text())
    assert checkpoint["hyper_parameters"]["model"] == settings["model"]["init_args"]["model"]
    assert list((Path("runs") / config.stem / "version_0").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("config", CONFIGS, ids=[path.stem for path in CONFIGS])
def test_config_works_on_a_fresh_machine_and_says_how_to_run_it(config: Path) -> None:
    text = config.read_text()
    assert f"cnnlstm fit --config {config.stem}" in text
    data = yaml.safe_load(text)["data"]
    assert data["class_path"].startswith("cnnlstm.data.")
    assert data["init_args"].get("mnist_root") is None  # drawn digits, nothing to download


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the config's comment says to run first: digit clips as folders of PNG frames."""
    root = tmp_path_factory.mktemp("video") / "clips"
    assert (
        cli.main(["generate", "digit-clips", str(root), "--samples", "60"]) == 0
    )  # all ten digits
    return root


def _fit_video_folder(clips: Path, *more: str) -> int:
    root = f"--data.init_args.root={clips}"
    return cli.main(["fit", "--config", str(VIDEO), root, *SHORT[:4], *SHORT[-1:], *more])


def test_the_own_videos_config_trains_on_a_folder_of_frames(clips: Path) -> None:
    assert _fit_video_folder(clips) == 0
    checkpoint = torch.load(Path("runs/video_folder/checkpoints/last.ckpt"), weights_only=False)
    assert checkpoint["global_step"] == 2
    assert checkpoint["hyper_parameters"]["num_classes"] == 10  # one per class folder


def test_a_num_classes_unlike_the_class_folders_stops_before_training(
    clips: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _fit_video_folder(clips, "--model.init_args.num_classes=3") == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("cnnlstm: error: ClassificationTask: the data has 10 classes ['0', ")
    assert "built for num_classes=3; set num_classes: 10 under model.init_args" in error
    assert not Path("runs/video_folder/checkpoints/last.ckpt").exists()


def _arrays(path: Path, top_label: int) -> Path:
    rng = np.random.default_rng(0)
    labels = np.arange(16) % (top_label + 1)  # every label from 0 to top_label
    np.savez(path, x=rng.random((16, 1, 28, 28), dtype=np.float32), y=labels)
    return path


def _fit_arrays(path: Path) -> int:
    config = CONFIGS[0].parent / "image_sequence.yaml"  # num_classes: 10
    data = ["--data", "cnnlstm.data.ArrayDataModule", f"--data.init_args.path={path}"]
    return cli.main(["fit", "--config", str(config), *data, *SHORT[:4], *SHORT[-1:]])


def test_own_arrays_train_with_labels_the_head_covers(tmp_path: Path) -> None:
    assert _fit_arrays(_arrays(tmp_path / "fewer.npz", top_label=4)) == 0  # 5 of 10 classes: fine


def test_own_arrays_with_a_label_past_num_classes_stop_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _fit_arrays(_arrays(tmp_path / "more.npz", top_label=10)) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "the data has 11 classes (labels 0..10), but the model was built for" in error
    assert "num_classes=10" in error
    assert "set num_classes: 11 under model.init_args" in error
    assert not Path("runs/image_sequence/checkpoints/last.ckpt").exists()


def test_testing_a_checkpoint_on_data_with_more_classes_names_the_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --ckpt_path the model's classes come from the checkpoint: 'set num_classes' would
    only trade this error for a weight-shape mismatch, so the advice is about the data."""
    assert _fit_arrays(_arrays(tmp_path / "fewer.npz", top_label=4)) == 0
    checkpoint = Path("runs/image_sequence/checkpoints/last.ckpt")
    assert checkpoint.exists()
    config = CONFIGS[0].parent / "image_sequence.yaml"
    data = ["--data", "cnnlstm.data.ArrayDataModule"]
    data.append(f"--data.init_args.path={_arrays(tmp_path / 'more.npz', top_label=10)}")
    code = cli.main(["test", "--config", str(config), *data, f"--ckpt_path={checkpoint}"])
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "the data has 11 classes (labels 0..10), but the model was built for" in error
    assert "a checkpoint's classes are fixed" in error and "set num_classes" not in error
