"""A run killed mid-epoch and resumed with ``--ckpt_path last`` ends where an uninterrupted run
ends: bitwise the same weights, optimizer state and best checkpoint, on one CPU thread.

The runs are real ``cnnlstm fit`` processes on the shipped digit_clips config shrunk to a tiny model
(with dropout, so the training step draws random numbers too) and 4 epochs of 3 steps. The killed
run kills itself with SIGKILL in the middle of its third epoch (:class:`SigkillAt`, a callback
the config names: no chance to clean up, as after a crash or an out-of-memory kill), after the
checkpoint of its second epoch was written; the resumed run starts a run folder of its own.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
import yaml

from cnnlstm.commands.configs import CONFIGS_DIR

CONFIG = CONFIGS_DIR / "digit_clips.yaml"
TINY_MODEL = {
    "frames": 4,
    "image_size": [16, 16],
    "channels": [4, 8],
    "hidden_size": 8,
    "dropout": 0.3,
}
TINY = [
    "--data.init_args.train_samples=12",
    "--data.init_args.val_samples=4",
    "--data.init_args.test_samples=0",
    "--data.init_args.batch_size=4",  # 3 steps an epoch
    "--data.init_args.canvas_size=16",
    "--data.init_args.digit_size=10",
    "--data.init_args.frames=4",
    f"--model.init_args.model_args={json.dumps(TINY_MODEL)}",
    "--model.init_args.lr=0.03",
    "--trainer.max_epochs=4",
    "--trainer.log_every_n_steps=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--early_stopping.enabled=false",
]
RUN = Path("runs") / "digit_clips"


class SigkillAt(pl.Callback):
    """Kills its own process with SIGKILL before batch ``batch`` of epoch ``epoch`` (0-based)."""

    def __init__(self, epoch: int = 2, batch: int = 1) -> None:
        super().__init__()
        self.epoch = epoch
        self.batch = batch

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), signal.SIGKILL)


def _start(folder: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",  # one thread: the same sums in the same order every time
        "MKL_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
        ),
    }
    command = [sys.executable, "-m", "cnnlstm.cli", "fit", "--config", str(CONFIG), *TINY, *extra]
    with (folder / "stdout.txt").open("a") as stdout, (folder / "stderr.txt").open("a") as stderr:
        return subprocess.Popen(command, cwd=folder, env=env, stdout=stdout, stderr=stderr)


def _finish(process: subprocess.Popen[bytes]) -> int:
    return process.wait(timeout=300)


def _load(path: Path) -> dict[str, Any]:
    checkpoint: dict[str, Any] = torch.load(path, weights_only=False)
    return checkpoint


def _assert_bitwise_equal(one: Any, other: Any, where: str = "") -> None:
    """Nested dicts, lists and tensors equal bit for bit (floats compared as tensors are)."""
    if isinstance(one, torch.Tensor):
        assert isinstance(other, torch.Tensor), where
        assert one.dtype == other.dtype and one.shape == other.shape, where
        assert torch.equal(one, other), f"{where}: max difference {(one - other).abs().max()}"
    elif isinstance(one, dict):
        assert set(one) == set(other), where
        for key in one:
            _assert_bitwise_equal(one[key], other[key], f"{where}/{key}")
    elif isinstance(one, (list, tuple)):
        assert len(one) == len(other), where
        for i, (a, b) in enumerate(zip(one, other, strict=True)):
            _assert_bitwise_equal(a, b, f"{where}[{i}]")
    else:
        assert one == other, where


def _val_rows(version: Path) -> dict[int, dict[str, str]]:
    with (version / "metrics.csv").open(newline="") as file:
        return {int(row["epoch"]): row for row in csv.DictReader(file) if row["val/loss"]}


@pytest.mark.slow
def test_a_run_killed_mid_epoch_and_resumed_from_last_ends_with_the_same_weights(
    tmp_path: Path,
) -> None:
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    straight.mkdir()
    broken.mkdir()
    killer = {"class_path": "test_resume.SigkillAt", "init_args": {"epoch": 2, "batch": 1}}
    (broken / "kill.yaml").write_text(yaml.safe_dump({"trainer": {"callbacks": [killer]}}))
    runs = [_start(straight), _start(broken, "--config", "kill.yaml")]  # side by side
    assert _finish(runs[0]) == 0, (straight / "stderr.txt").read_text()[-3000:]
    assert _finish(runs[1]) == -signal.SIGKILL, (broken / "stderr.txt").read_text()[-3000:]

    killed = _load(broken / RUN / "version_0" / "checkpoints" / "last.ckpt")
    assert (killed["epoch"], killed["global_step"]) == (1, 6)  # the second epoch's checkpoint

    resumed = _start(broken, "--ckpt_path", "last")
    assert _finish(resumed) == 0, (broken / "stderr.txt").read_text()[-3000:]
    said = (
        "cnnlstm: --ckpt_path last: resuming from runs/digit_clips/version_0/checkpoints/last.ckpt"
    )
    assert said in (broken / "stdout.txt").read_text()

    expected = _load(straight / RUN / "version_0" / "checkpoints" / "last.ckpt")
    got = _load(broken / RUN / "version_1" / "checkpoints" / "last.ckpt")
    assert (got["epoch"], got["global_step"]) == (expected["epoch"], expected["global_step"])
    assert (got["epoch"], got["global_step"]) == (3, 12)
    _assert_bitwise_equal(got["state_dict"], expected["state_dict"], "state_dict")
    _assert_bitwise_equal(got["optimizer_states"], expected["optimizer_states"], "optimizer")
    _assert_bitwise_equal(got["lr_schedulers"], expected["lr_schedulers"], "lr_schedulers")

    # the best checkpoint is the best of all four epochs in both (copied over when the best
    # epoch came before the kill)
    best, best_resumed = (
        _load(folder / RUN / version / "checkpoints" / "best.ckpt")
        for folder, version in ((straight, "version_0"), (broken, "version_1"))
    )
    assert best_resumed["epoch"] == best["epoch"]
    _assert_bitwise_equal(best_resumed["state_dict"], best["state_dict"], "best state_dict")

    # and the resumed epochs validated to the same numbers
    rows, resumed_rows = (
        _val_rows(straight / RUN / "version_0"),
        _val_rows(broken / RUN / "version_1"),
    )
    assert sorted(resumed_rows) == [2, 3]
    for epoch in (2, 3):
        assert resumed_rows[epoch] == rows[epoch]
