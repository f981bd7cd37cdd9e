"""`cnnlstm fit` with DDP on 2 CPU processes ends with the metrics of 1 process.

Both runs see the same global batch: 8 training sequences, in one batch of 8 on one process and
in batches of 4 on each of two (gloo). Each epoch is then one step on all 8 sequences, so DDP's
averaged gradients equal the single process's, and the validation metrics (synchronised across
the processes) have to agree to float precision. The config is moving_digits.yaml: its ConvLSTM
forecaster has no BatchNorm, whose per-process batch statistics would make the runs differ
slightly (SyncBatchNorm needs a GPU).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = str(Path(__file__).resolve().parents[1] / "configs" / "moving_digits.yaml")
MODEL_ARGS = {
    "image_size": [32, 32],
    "input_frames": 3,
    "output_frames": 3,
    "hidden_channels": [4],
    "patch_size": 4,
}
SMALL = [
    "--trainer.max_steps=3",
    "--trainer.accelerator=cpu",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.log_every_n_steps=1",
    "--data.init_args.train_samples=8",
    "--data.init_args.val_samples=8",
    "--data.init_args.test_samples=0",
    "--data.init_args.canvas_size=32",
    "--data.init_args.digit_size=12",
    "--data.init_args.frames=6",
    "--data.init_args.input_frames=3",
    f"--model.init_args.model_args={json.dumps(MODEL_ARGS)}",
]
METRICS = ["val/loss", "val/mse", "val/mae", "val/ssim", "val/psnr"]


def _fit(folder: Path, *extra: str) -> tuple[list[dict[str, float]], str]:
    """Run `python -m cnnlstm.cli fit` in ``folder``; each validation's metrics, and stderr."""
    folder.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # two processes on two cores
    done = subprocess.run(
        [sys.executable, "-m", "cnnlstm.cli", "fit", "--config", CONFIG, *SMALL, *extra],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with (folder / "runs" / "moving_digits" / "version_0" / "metrics.csv").open() as file:
        rows = [row for row in csv.DictReader(file) if row["val/loss"]]
    assert [int(row["step"]) for row in rows] == [0, 1, 2]  # one step and a validation an epoch
    return [{name: float(row[name]) for name in METRICS} for row in rows], done.stderr


@pytest.mark.slow
def test_ddp_on_two_processes_matches_one_process_with_the_same_global_batch(
    tmp_path: Path,
) -> None:
    single, _ = _fit(tmp_path / "single", "--trainer.devices=1", "--data.init_args.batch_size=8")
    ddp, log = _fit(
        tmp_path / "ddp",
        "--trainer.devices=2",
        "--trainer.strategy=ddp",
        "--data.init_args.batch_size=4",
    )
    assert "distributed_backend=gloo" in log
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in log
    for name in METRICS:
        assert ddp[-1][name] == pytest.approx(single[-1][name], rel=1e-4), name
    # the two steps between the first and the last validation moved val/loss far more than the
    # tolerance, so a DDP run that trained differently (say, unsynchronised halves) would show
    first, last = single[0]["val/loss"], single[-1]["val/loss"]
    assert abs(last - first) > 10 * 1e-4 * abs(first)
