"""`cnnlstm fit` with DDP on 2 CPU processes ends with the metrics of 1 process.

Both runs see the same global batch: 8 training examples, in one batch of 8 on one process and
in batches of 4 on each of two (gloo). Each epoch is then one step on all 8 examples, so DDP's
averaged gradients equal the single process's, and the validation metrics (synchronised across
the processes) have to agree to float precision.

Batch norm is the catch: under DDP each process normalises its own 4 examples, so a model with
``BatchNorm2d`` trains differently from one process (measured on the digit_clips run below with
``norm: batch``: val/loss 2.3738 on one process, 2.3718 on two, val/acc 0.125 against 0.0). What a
user should do:

- on GPUs, keep ``norm: batch`` and add ``--trainer.sync_batchnorm true``: Lightning converts
  every ``BatchNorm`` to ``SyncBatchNorm``, whose statistics span all processes. PyTorch's
  ``SyncBatchNorm`` runs on GPUs only; on CPU the run stops with "SyncBatchNorm layers only work
  with GPU modules", so it cannot be tested here;
- on CPUs (or anywhere), set ``norm: group`` (or ``instance``) in ``model_args``
  (``--model.init_args.model_args.norm group``): each frame is normalised on its own, so the
  processes need no sync and DDP matches one process, as the digit_clips test checks.

The moving_digits test runs the ConvLSTM forecaster, which has no batch norm. The single-process
and the DDP run of each test run at the same time (most of their time is start-up).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
COMMON = [
    "--trainer.max_steps=3",
    "--trainer.accelerator=cpu",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.log_every_n_steps=1",
    "--data.init_args.train_samples=8",
    "--data.init_args.val_samples=8",
    "--data.init_args.test_samples=0",
]
SINGLE = ["--trainer.devices=1", "--data.init_args.batch_size=8"]
DDP = ["--trainer.devices=2", "--trainer.strategy=ddp", "--data.init_args.batch_size=4"]

MOVING_DIGITS_MODEL = {
    "image_size": [32, 32],
    "input_frames": 3,
    "output_frames": 3,
    "hidden_channels": [4],
    "patch_size": 4,
}
MOVING_DIGITS = [
    "--data.init_args.canvas_size=32",
    "--data.init_args.digit_size=12",
    "--data.init_args.frames=6",
    "--data.init_args.input_frames=3",
    f"--model.init_args.model_args={json.dumps(MOVING_DIGITS_MODEL)}",
]
DIGIT_CLIPS_MODEL = {
    "frames": 4,
    "image_size": [16, 16],
    "channels": [4, 8],
    "hidden_size": 8,
    "norm": "group",
}
DIGIT_CLIPS = [
    "--data.init_args.canvas_size=16",
    "--data.init_args.digit_size=10",
    "--data.init_args.frames=4",
    "--model.init_args.lr=0.03",  # a step moves val/loss by far more than the tolerance
    f"--model.init_args.model_args={json.dumps(DIGIT_CLIPS_MODEL)}",
]


def _fit_single_and_ddp(
    folder: Path, config: str, metrics: list[str], *extra: str
) -> tuple[list[dict[str, float]], list[dict[str, float]], str]:
    """Run `python -m cnnlstm.cli fit` on 1 and on 2 processes, side by side, in ``folder``.

    Returns:
        Each validation's metrics of the single run and of the DDP run, and the DDP run's stderr.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # three processes on two cores
    runs = {}
    for name, devices in (("single", SINGLE), ("ddp", DDP)):
        cwd = folder / name
        cwd.mkdir()
        command = [sys.executable, "-m", "cnnlstm.cli", "fit", "--config", str(CONFIGS / config)]
        with (cwd / "stderr.txt").open("w") as stderr_file:  # the child keeps its own handle
            runs[name] = subprocess.Popen(
                [*command, *COMMON, *extra, *devices],
                cwd=cwd,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr_file,
            )
    results = []
    for name, process in runs.items():
        process.wait(timeout=300)
        stderr = (folder / name / "stderr.txt").read_text()
        assert process.returncode == 0, stderr[-3000:]
        run = Path(config).stem
        with (folder / name / "runs" / run / "version_0" / "metrics.csv").open() as file:
            rows = [row for row in csv.DictReader(file) if row["val/loss"]]
        assert [int(row["step"]) for row in rows] == [0, 1, 2]  # a step and a validation an epoch
        results.append([{metric: float(row[metric]) for metric in metrics} for row in rows])
    return results[0], results[1], stderr


def _assert_same_metrics(
    single: list[dict[str, float]], ddp: list[dict[str, float]], log: str
) -> None:
    assert "distributed_backend=gloo" in log
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in log
    for name in single[-1]:
        assert ddp[-1][name] == pytest.approx(single[-1][name], rel=1e-4, abs=1e-6), name
    # the two steps between the first and the last validation moved val/loss far more than the
    # tolerance, so a DDP run that trained differently (say, unsynchronised halves) would show
    first, last = single[0]["val/loss"], single[-1]["val/loss"]
    assert abs(last - first) > 10 * 1e-4 * abs(first)


@pytest.mark.slow
def test_ddp_on_two_processes_matches_one_process_with_the_same_global_batch(
    tmp_path: Path,
) -> None:
    metrics = ["val/loss", "val/mse", "val/mae", "val/ssim", "val/psnr"]
    single, ddp, log = _fit_single_and_ddp(tmp_path, "moving_digits.yaml", metrics, *MOVING_DIGITS)
    _assert_same_metrics(single, ddp, log)


@pytest.mark.slow
def test_ddp_clip_classifier_with_group_norm_matches_one_process(tmp_path: Path) -> None:
    """digit_clips' CNN-LSTM with ``norm: group``: no batch statistics, so DDP needs no sync.

    With ``norm: batch`` the same runs differ (see the module docstring); on GPUs,
    ``--trainer.sync_batchnorm true`` is the other way to make them agree.
    """
    metrics = ["val/loss", "val/acc", "val/f1"]
    single, ddp, log = _fit_single_and_ddp(tmp_path, "digit_clips.yaml", metrics, *DIGIT_CLIPS)
    _assert_same_metrics(single, ddp, log)
