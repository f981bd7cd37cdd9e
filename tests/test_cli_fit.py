"""`cnnlstm fit | validate | test | predict` on LightningCLI: checkpoints, resume, logs, predict.

Each run is the shipped digit_clips config shrunk to a few clips and a tiny model, in a temporary
working directory (the runs go to ./runs/digit_clips/version_<n>, runs/digit_clips/checkpoints
links to the newest run's checkpoints). Expected values come from the CSV log, from the
checkpoint files and from the task rebuilt independently, never from the CLI's own report.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch.callbacks import RichProgressBar

from cnnlstm import cli
from cnnlstm.commands import train
from cnnlstm.commands.callbacks import BestCheckpoint, LastCheckpoint
from cnnlstm.commands.configs import CONFIGS_DIR
from cnnlstm.data.datamodules import DigitClipsDataModule
from cnnlstm.tasks import ClassificationTask, ForecastTask, RecognitionTask

CONFIG = str(CONFIGS_DIR / "digit_clips.yaml")
RUN = Path("runs") / "digit_clips"
# 8 training clips in batches of 4: two steps an epoch, a validation after each epoch
DATA = {"train_samples": 8, "val_samples": 4, "test_samples": 6, "batch_size": 4}
TINY = [
    *[arg for key, value in DATA.items() for arg in (f"--data.init_args.{key}", str(value))],
    "--model.init_args.model_args.channels=[4, 8]",
    "--model.init_args.model_args.hidden_size=8",
    "--trainer.limit_val_batches=1",
    "--trainer.log_every_n_steps=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]


@pytest.fixture(autouse=True)
def _in_tmp_dir_on_one_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models; and the machine is shared
    yield
    torch.set_num_threads(threads)


def fit(*extra: str) -> None:
    assert cli.main(["fit", "--config", CONFIG, *TINY, *extra]) == 0


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def val_rows(version: int) -> list[dict[str, str]]:
    return [r for r in read_csv(RUN / f"version_{version}" / "metrics.csv") if r["val/acc"]]


def test_fit_writes_last_and_best_checkpoints_and_both_logs_in_one_version() -> None:
    fit("--trainer.max_steps=2")
    version = RUN / "version_0"
    checkpoints = version / "checkpoints"
    assert sorted(path.name for path in checkpoints.iterdir()) == ["best.ckpt", "last.ckpt"]
    assert torch.load(checkpoints / "last.ckpt", weights_only=False)["global_step"] == 2
    assert (RUN / "checkpoints").resolve() == checkpoints.resolve()  # the newest run's
    assert (version / "metrics.csv").is_file()
    assert list(version.glob("events.out.tfevents.*"))  # TensorBoard in the same folder
    assert not (RUN / "version_1").exists()
    saved = yaml.safe_load((version / "config.yaml").read_text())
    assert saved["checkpoint"]["monitor"] == "val/acc"  # "auto" resolved to the task's metric
    assert saved["checkpoint"]["mode"] == "max"
    assert saved["checkpoint"]["dirpath"] == str(checkpoints)
    assert saved["early_stopping"]["monitor"] == "val/acc"
    assert {logger["init_args"]["version"] for logger in saved["trainer"]["logger"]} == {0}


def test_last_checkpoint_is_the_final_epoch_when_the_metric_stops_improving() -> None:
    # the shipped settings (save_last, save_top_k 1 on val/acc); lr 0.05 makes val/acc stall
    fit("--trainer.max_epochs=4", "--model.init_args.lr=0.05", "--early_stopping.enabled=false")
    accuracy = [float(row["val/acc"]) for row in val_rows(0)]
    best_epoch = accuracy.index(max(accuracy))  # the first of ties: they do not improve
    assert best_epoch < 3  # the metric stopped improving before the last epoch
    checkpoints = RUN / "version_0" / "checkpoints"
    last = torch.load(checkpoints / "last.ckpt", weights_only=False)
    assert (last["epoch"], last["global_step"]) == (3, 8)
    best = torch.load(checkpoints / "best.ckpt", weights_only=False)
    assert (best["epoch"], best["global_step"]) == (best_epoch, 2 * (best_epoch + 1))
    # test --ckpt_path best / last take those files of the newest run
    for keyword, epoch in (("best", best_epoch), ("last", 3)):
        assert cli.main(["test", "--config", CONFIG, *TINY, f"--ckpt_path={keyword}"]) == 0
        newest = max(RUN.glob("version_*"), key=lambda path: int(path.name.split("_")[1]))
        saved = yaml.safe_load((newest / "config.yaml").read_text())
        ckpt = torch.load(saved["ckpt_path"], weights_only=False)
        assert Path(saved["ckpt_path"]).name == f"{keyword}.ckpt"
        assert ckpt["epoch"] == epoch


def test_resume_from_last_continues_the_global_step_in_a_folder_of_its_own() -> None:
    fit("--trainer.max_steps=2")
    fit("--trainer.max_steps=5", "--ckpt_path=last")
    last = torch.load(RUN / "version_1" / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["global_step"] == 5
    assert torch.load(RUN / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 5
    first = torch.load(RUN / "version_0" / "checkpoints" / "last.ckpt", weights_only=False)
    assert first["global_step"] == 2  # the first run's folder is left as it was
    resumed = read_csv(RUN / "version_1" / "metrics.csv")
    train_steps = [int(r["step"]) for r in resumed if r["train/loss"]]
    # three more optimizer steps, all logged after the first run's steps 0 and 1
    assert len(train_steps) == 3
    assert min(train_steps) >= 2
    saved = yaml.safe_load((RUN / "version_1" / "config.yaml").read_text())
    assert saved["ckpt_path"] == str(RUN / "version_0" / "checkpoints" / "last.ckpt")


def test_a_resumed_run_keeps_the_best_so_far_in_its_own_folder(
    recwarn: pytest.WarningsRecorder,
) -> None:
    stalling = ["--model.init_args.lr=0.05", "--early_stopping.enabled=false"]
    fit("--trainer.max_epochs=2", *stalling)
    fit("--trainer.max_epochs=4", *stalling, "--ckpt_path=last")
    accuracy = [float(row["val/acc"]) for version in (0, 1) for row in val_rows(version)]
    assert len(accuracy) == 4
    best_epoch = accuracy.index(max(accuracy))
    assert best_epoch < 2  # the best came before the resume: the resumed run never beat it
    before = torch.load(RUN / "version_0" / "checkpoints" / "best.ckpt", weights_only=False)
    best = torch.load(RUN / "version_1" / "checkpoints" / "best.ckpt", weights_only=False)
    assert best["epoch"] == before["epoch"] == best_epoch  # copied into the new folder
    for name, weight in before["state_dict"].items():
        assert torch.equal(best["state_dict"][name], weight), name
    last = torch.load(RUN / "version_1" / "checkpoints" / "last.ckpt", weights_only=False)
    (state,) = [v for k, v in last["callbacks"].items() if k.startswith("BestCheckpoint")]
    assert Path(state["best_model_path"]).parent.parent.name == "version_1"
    assert float(state["best_model_score"]) == max(accuracy)
    assert not [w for w in recwarn if "dirpath has changed" in str(w.message)]


def test_resume_without_a_checkpoint_starts_from_scratch_and_evaluating_needs_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["test", "--config", CONFIG, *TINY, "--ckpt_path=best"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "cnnlstm: error: --ckpt_path best: there is no best.ckpt under "
        "runs/digit_clips/version_*/checkpoints yet; train first (cnnlstm fit with the same "
        "config), or pass a .ckpt file."
    )
    assert not RUN.exists()  # nothing claimed
    fit("--trainer.max_steps=2", "--ckpt_path=last")  # "set and forget", as in Lightning
    assert "--ckpt_path last: no last.ckpt under runs/digit_clips/version_*/checkpoints yet" in (
        capsys.readouterr().err
    )
    assert torch.load(RUN / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 2


def test_best_checkpoint_is_the_epoch_with_the_best_monitored_value() -> None:
    # val/loss changes every epoch (the accuracy of 4 clips rarely does): a real choice
    fit("--trainer.max_steps=8", "--model.init_args.lr=0.05", "--checkpoint.monitor=val/loss")
    losses = [float(r["val/loss"]) for r in val_rows(0)]
    assert len(losses) == 4
    assert len(set(losses)) == 4
    best_epoch = losses.index(min(losses))
    best = torch.load(RUN / "checkpoints" / "best.ckpt", weights_only=False)
    assert best["epoch"] == best_epoch
    state = best["callbacks"]
    (checkpoint_state,) = [v for k, v in state.items() if k.startswith("BestCheckpoint")]
    assert float(checkpoint_state["best_model_score"]) == pytest.approx(min(losses))


def test_early_stopping_is_on_by_default_and_can_be_switched_off() -> None:
    # a threshold every val/acc reaches stops training after the first validation
    fit("--trainer.max_epochs=3", "--early_stopping.stopping_threshold=0.0")
    assert len(val_rows(0)) == 1
    assert torch.load(RUN / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 2
    fit("--trainer.max_epochs=3", "--early_stopping.stopping_threshold=0.0")
    fit(
        "--trainer.max_epochs=3",
        "--early_stopping.stopping_threshold=0.0",
        "--early_stopping.enabled=false",
    )
    assert len(val_rows(2)) == 3


def test_predict_writes_the_probabilities_of_the_checkpointed_model() -> None:
    fit("--trainer.max_steps=2")
    ckpt = RUN / "checkpoints" / "last.ckpt"
    assert cli.main(["predict", "--config", CONFIG, *TINY, f"--ckpt_path={ckpt}"]) == 0
    saved = torch.load(RUN / "predictions" / "predictions.pt")
    probabilities = saved["predictions"]
    assert probabilities.shape == (6, 10)
    assert saved["indices"] == list(range(6))
    # the same clips through the task rebuilt from the checkpoint, one at a time
    task = ClassificationTask.load_from_checkpoint(ckpt).eval()
    data = DigitClipsDataModule(**DATA)
    assert data.test_set is not None
    with torch.no_grad():
        for i in range(6):
            clip, _ = data.test_set[i]
            expected = torch.softmax(task(clip.unsqueeze(0)), dim=-1)[0]
            torch.testing.assert_close(probabilities[i], expected, rtol=1e-4, atol=1e-6)


def test_each_predict_writes_to_a_folder_of_its_own_and_says_where(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two predicts of one config (6 clips, then 4) keep both outputs: each in its run folder
    (beside its config.yaml), runs/<name>/predictions links to the newest."""
    fit("--trainer.max_steps=2")
    ckpt = RUN / "version_0" / "checkpoints" / "last.ckpt"
    printed = []
    for samples in (6, 4):
        capsys.readouterr()
        argv = ["predict", "--config", CONFIG, *TINY, f"--ckpt_path={ckpt}"]
        assert cli.main([*argv, f"--data.init_args.test_samples={samples}"]) == 0
        printed.append(capsys.readouterr().out)
    first = RUN / "version_1" / "predictions" / "predictions.pt"
    second = RUN / "version_2" / "predictions" / "predictions.pt"
    assert f"cnnlstm: wrote 6 predictions to {first}\n" in printed[0]
    assert f"cnnlstm: wrote 4 predictions to {second}\n" in printed[1]
    assert "runs/digit_clips/predictions links to version_2/predictions" in printed[1]
    assert torch.load(first)["predictions"].shape == (6, 10)  # the second did not replace it
    assert torch.load(second)["predictions"].shape == (4, 10)
    assert (RUN / "predictions").resolve() == second.parent.resolve()
    assert sorted(p.name for p in first.parent.iterdir()) == ["predictions.pt"]  # nothing mixed
    for folder in (first.parent.parent, second.parent.parent):
        saved = yaml.safe_load((folder / "config.yaml").read_text())
        assert saved["prediction_writer"]["output_dir"] is None  # reused, it still makes its own


def test_predictions_of_an_earlier_layout_and_a_folder_given_are_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fit("--trainer.max_steps=2")
    ckpt = RUN / "version_0" / "checkpoints" / "last.ckpt"
    earlier = RUN / "predictions"  # a real folder: where every predict wrote before
    earlier.mkdir()
    (earlier / "predictions.pt").write_text("an earlier run's")
    argv = ["predict", "--config", CONFIG, *TINY, f"--ckpt_path={ckpt}"]
    capsys.readouterr()
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    assert f"cnnlstm: wrote 6 predictions to {RUN / 'version_1' / 'predictions'}" in out
    assert "runs/digit_clips/predictions is a folder, not a link" in err
    assert "move it away to make it a link to the newest predict's" in err
    assert (earlier / "predictions.pt").read_text() == "an earlier run's"
    mine = tmp_path / "mine"
    assert cli.main([*argv, f"--prediction_writer.output_dir={mine}"]) == 0
    assert torch.load(mine / "predictions.pt")["predictions"].shape == (6, 10)
    assert not (RUN / "version_2" / "predictions").exists()
    assert (earlier / "predictions.pt").read_text() == "an earlier run's"


def test_validate_and_test_report_the_task_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    fit("--trainer.max_steps=2")
    ckpt = str(RUN / "checkpoints" / "last.ckpt")
    assert cli.main(["validate", "--config", CONFIG, *TINY, f"--ckpt_path={ckpt}"]) == 0
    assert cli.main(["test", "--config", CONFIG, *TINY, f"--ckpt_path={ckpt}"]) == 0
    printed = capsys.readouterr()
    assert "val/acc" in printed.out
    assert "test/acc" in printed.out
    assert "warning" not in printed.err  # a checkpoint was given
    assert cli.main(["validate", "--config", CONFIG, *TINY]) == 0
    assert (
        "cnnlstm: warning: validate without --ckpt_path runs the model as the config builds it, "
        "untrained" in capsys.readouterr().err
    )


def test_print_config_writes_a_starting_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fit", "--config", CONFIG, "--print_config"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["class_path"] == "cnnlstm.tasks.ClassificationTask"
    assert config["data"]["class_path"] == "cnnlstm.data.DigitClipsDataModule"
    loggers = {
        entry["class_path"].rsplit(".", 1)[-1]: entry for entry in config["trainer"]["logger"]
    }
    assert set(loggers) == {"CSVLogger", "TensorBoardLogger"}
    for entry in loggers.values():
        assert (entry["init_args"]["save_dir"], entry["init_args"]["name"]) == (
            "runs",
            "digit_clips",
        )
    assert config["checkpoint"]["dirpath"] is None  # the run folder's checkpoints
    assert config["checkpoint"]["filename"] == "best"
    assert config["checkpoint"]["save_last"] is True
    assert config["early_stopping"]["enabled"] is True
    assert config["seed_everything"] == 0


def test_print_config_without_a_config_names_the_short_class_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["fit", "--model", "ForecastTask", "--data", "MovingDigitsDataModule", "--print_config"]
    assert cli.main(argv) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["class_path"] == "cnnlstm.tasks.ForecastTask"
    assert config["model"]["init_args"]["model"] == "convlstm_forecaster"


def _checkpoint_callback(built: train.CNNLSTMCLI) -> BestCheckpoint:
    (callback,) = [c for c in built.trainer.callbacks if isinstance(c, BestCheckpoint)]  # type: ignore[attr-defined]
    (last,) = [c for c in built.trainer.callbacks if isinstance(c, LastCheckpoint)]  # type: ignore[attr-defined]
    assert built.trainer.checkpoint_callback is callback  # what ckpt_path="best" would take
    assert last.dirpath == callback.dirpath
    return callback


def test_a_progress_bar_unless_switched_off() -> None:
    argv = ["fit", "--config", CONFIG, *TINY]
    with_bar = train.build_cli([*argv, "--trainer.enable_progress_bar=true"], execute=False)
    assert isinstance(with_bar.trainer.progress_bar_callback, RichProgressBar)
    without = train.build_cli(argv, execute=False)
    assert without.trainer.progress_bar_callback is None


def test_a_monitor_set_in_the_config_gets_its_mode_from_its_name() -> None:
    argv = ["fit", "--config", CONFIG, *TINY, "--checkpoint.monitor=val/loss"]
    callback = _checkpoint_callback(train.build_cli(argv, execute=False))
    assert (callback.monitor, callback.mode) == ("val/loss", "min")
    # building claims the run's folder and writes nothing in it
    assert [path.name for path in RUN.iterdir()] == ["version_0"]
    assert not any((RUN / "version_0").iterdir())


def test_a_monitor_whose_name_says_nothing_needs_a_mode(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["fit", "--config", CONFIG, *TINY, "--early_stopping.monitor=val/thing"]
    assert cli.main(argv) == 2
    assert "early_stopping.mode has to be 'min' or 'max'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (ClassificationTask, ("val/acc", "max")),
        (ForecastTask, ("val/mse", "min")),
        (RecognitionTask, ("val/cer", "min")),
        (torch.nn.Module, ("val/loss", "min")),
    ],
)
def test_monitored_metric_of_each_task(task: type, expected: tuple[str, str]) -> None:
    assert train.monitored_metric(task) == expected


def test_a_task_can_name_its_own_metric() -> None:
    class Scored(ClassificationTask):
        monitor = "val/f1"
        monitor_mode = "max"

    assert train.monitored_metric(Scored) == ("val/f1", "max")


@pytest.mark.parametrize(
    ("metric", "mode"),
    [("val/loss", "min"), ("test/mse_copy_last", "min"), ("val/cer", "min"), ("val/f1", "max")],
)
def test_metric_mode_from_the_name(metric: str, mode: str) -> None:
    assert train.metric_mode(metric) == mode
