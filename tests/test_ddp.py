"""`cnnlstm fit` with DDP on 2 CPU processes trains as 1 process with the same global batch.

``batch_size`` is per process, as in Lightning: 2 processes with ``batch_size: 2`` take steps on
global batches of 4, and the DataModules' sampler
(:class:`~cnnlstm.data.loading.GlobalOrderSampler`) gives them the global batches that 1 process
with ``batch_size: 4`` sees, epoch after epoch: each process takes its slice of every global
batch of the one-process order. DDP averages the two processes' gradients, which is the gradient
of the global batch's mean loss, so the two runs take the same steps. Here 18 training items
make 5 steps an epoch (the last global batch has 2 items, one per process), 3 epochs, and the
validation metrics of every epoch and the final weights agree to float precision (rtol 1e-5;
they differ by the order of float sums only). Lightning's own ``DistributedSampler`` composes
other batches (rank r takes items r, r+2, ... of a shuffle of its own): with it, the digit_clips
run's val/loss was 2.5181 on one process and 2.4992 on two after the first epoch.

What differs from one process, and stays different:

- batch norm: under DDP each process normalises its own part of the batch, so a model with
  ``BatchNorm2d`` trains differently (measured on the digit_clips run below with ``norm: batch``:
  val/loss 2.4376 on one process, 2.4359 on two after the first epoch, 2.5532 and 2.5720 after
  the third; with ``norm: group`` they agree to 1e-7). On GPUs, keep ``norm: batch`` and add
  ``--trainer.sync_batchnorm true``: Lightning converts every ``BatchNorm`` to
  ``SyncBatchNorm``, whose statistics span all processes. PyTorch's ``SyncBatchNorm`` runs on
  GPUs only; on CPU the command line stops with a message (so it cannot be tested here). On CPUs
  (or anywhere), set ``norm: group`` (or ``instance``) in ``model_args``: each frame is
  normalised on its own, so the processes need no sync and DDP matches one process, as the
  digit_clips test checks;
- dropout: every process draws its own masks (from the same seed), so a model with dropout
  trains reproducibly but not as one process does;
- a training set that is not a multiple of the global batch: its last global batch is split as
  evenly as possible, and when the parts differ in size, DDP's average of the processes' mean
  losses weighs its items differently from one process (a last batch with fewer items than
  processes is padded with its own items);
- the validation loss (``sync_dist``) is the mean of the processes' means: the same as one
  process when every process validates as many items (here 4 each); accuracy-like metrics
  (torchmetrics) count every item once either way.

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
import torch

from cnnlstm.commands.configs import CONFIGS_DIR

CONFIGS = CONFIGS_DIR
EPOCHS, STEPS = 3, 5  # 18 items in global batches of 4: 4 full ones and one of 2
COMMON = [
    f"--trainer.max_epochs={EPOCHS}",
    "--trainer.accelerator=cpu",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.log_every_n_steps=1",
    "--early_stopping.enabled=false",
    "--data.init_args.train_samples=18",
    "--data.init_args.val_samples=8",
    "--data.init_args.test_samples=0",
]
SINGLE = ["--trainer.devices=1", "--data.init_args.batch_size=4"]  # the global batch
DDP = ["--trainer.devices=2", "--trainer.strategy=ddp", "--data.init_args.batch_size=2"]

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


Run = tuple[list[dict[str, float]], dict[str, torch.Tensor]]


def _fit_single_and_ddp(
    folder: Path, config: str, metrics: list[str], *extra: str
) -> tuple[Run, Run, str]:
    """Run `python -m cnnlstm.cli fit` on 1 and on 2 processes, side by side, in ``folder``.

    Returns:
        Each validation's metrics and the final weights (``last.ckpt``) of the single run and
        of the DDP run, and the DDP run's stderr.
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
        run = folder / name / "runs" / Path(config).stem
        assert [path.name for path in run.glob("version_*")] == ["version_0"]  # one folder
        with (run / "version_0" / "metrics.csv").open() as file:
            rows = [row for row in csv.DictReader(file) if row["val/loss"]]
        # STEPS steps and a validation an epoch
        assert [int(row["step"]) for row in rows] == [STEPS * e - 1 for e in range(1, EPOCHS + 1)]
        last = torch.load(run / "version_0" / "checkpoints" / "last.ckpt", weights_only=False)
        assert last["global_step"] == STEPS * EPOCHS
        values = [{metric: float(row[metric]) for metric in metrics} for row in rows]
        results.append((values, last["state_dict"]))
    return results[0], results[1], stderr


def _assert_same_training(single: Run, ddp: Run, log: str) -> None:
    assert "distributed_backend=gloo" in log
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in log
    (single_metrics, single_weights), (ddp_metrics, ddp_weights) = single, ddp
    for epoch, (one, two) in enumerate(zip(single_metrics, ddp_metrics, strict=True)):
        for name in one:
            assert two[name] == pytest.approx(one[name], rel=1e-5, abs=1e-7), (epoch, name)
    assert single_weights.keys() == ddp_weights.keys()
    for name, weight in single_weights.items():
        torch.testing.assert_close(ddp_weights[name], weight, rtol=1e-5, atol=1e-6, msg=name)
    # training moved val/loss far more than the tolerance, so a DDP run that trained
    # differently (other batches, unsynchronised halves) would show
    first, last = single_metrics[0]["val/loss"], single_metrics[-1]["val/loss"]
    assert abs(last - first) > 100 * 1e-5 * abs(first)


@pytest.mark.slow
def test_ddp_on_two_processes_trains_as_one_process_with_the_same_global_batch(
    tmp_path: Path,
) -> None:
    metrics = ["val/loss", "val/mse", "val/mae", "val/ssim", "val/psnr"]
    single, ddp, log = _fit_single_and_ddp(tmp_path, "moving_digits.yaml", metrics, *MOVING_DIGITS)
    _assert_same_training(single, ddp, log)


@pytest.mark.slow
def test_ddp_clip_classifier_with_group_norm_matches_one_process(tmp_path: Path) -> None:
    """digit_clips' CNN-LSTM with ``norm: group``: no batch statistics, so DDP needs no sync.

    With ``norm: batch`` the same runs differ (see the module docstring); on GPUs,
    ``--trainer.sync_batchnorm true`` is the other way to make them agree.
    """
    metrics = ["val/loss", "val/acc", "val/f1"]
    single, ddp, log = _fit_single_and_ddp(tmp_path, "digit_clips.yaml", metrics, *DIGIT_CLIPS)
    _assert_same_training(single, ddp, log)
