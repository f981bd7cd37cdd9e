"""ForecastTask: training lowers the loss; logged metrics against per-frame loops; checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader
from torchmetrics.functional.image import structural_similarity_index_measure

from cnnlstm.data.moving_digits import MovingDigits
from cnnlstm.errors import ShapeError
from cnnlstm.tasks.forecast import ForecastTask

MODEL_ARGS: dict[str, Any] = {
    "image_size": (16, 16),
    "input_frames": 4,
    "output_frames": 2,
    "hidden_channels": (8,),
    "patch_size": 2,
}


def _trainer(**kwargs: Any) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


def _loader(x: Tensor, y: Tensor, batch_size: int) -> DataLoader[Any]:
    return DataLoader(list(zip(x, y, strict=True)), batch_size=batch_size, shuffle=False)


def _predict(task: ForecastTask, x: Tensor) -> Tensor:
    with torch.no_grad():
        preds: Tensor = task(x)
    return preds


@pytest.fixture(scope="module")
def sequences() -> tuple[Tensor, Tensor]:
    """8 moving-digit sequences: 4 input frames and 2 target frames of 16x16."""
    data = MovingDigits(
        num_samples=8, num_digits=1, canvas_size=16, digit_size=8, frames=6, input_frames=4
    )
    x = torch.stack([data[i][0] for i in range(len(data))])  # (8, 4, 1, 16, 16)
    y = torch.stack([data[i][1] for i in range(len(data))])  # (8, 2, 1, 16, 16)
    return x, y


@pytest.fixture(scope="module")
def trained(sequences: tuple[Tensor, Tensor]) -> tuple[ForecastTask, pl.Trainer, float]:
    """A forecaster fitted for 20 steps on the 8 sequences, its trainer, the loss before."""
    x, y = sequences
    torch.manual_seed(0)
    task = ForecastTask(model_args=MODEL_ARGS, lr=1e-2)
    initial = float(F.mse_loss(_predict(task, x), y))
    trainer = _trainer(max_steps=20)
    trainer.fit(task, _loader(x, y, batch_size=8))
    task.eval()
    return task, trainer, initial


def test_training_lowers_the_loss_on_a_fixed_batch(
    trained: tuple[ForecastTask, pl.Trainer, float], sequences: tuple[Tensor, Tensor]
) -> None:
    task, trainer, initial = trained
    x, y = sequences
    assert trainer.global_step == 20
    assert float(F.mse_loss(_predict(task, x), y)) < 0.5 * initial


def _per_frame_reference(preds: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """OpenSTL's MSE / MAE (sums over a frame) and PSNR per frame, averaged over every frame."""
    mse, mae, psnr = [], [], []
    for b in range(preds.shape[0]):
        for k in range(preds.shape[1]):
            diff = preds[b, k].astype(np.float64) - target[b, k].astype(np.float64)
            mse.append(np.sum(diff**2))
            mae.append(np.sum(np.abs(diff)))
            psnr.append(10 * np.log10(1.0 / np.mean(diff**2)))
    return {"mse": float(np.mean(mse)), "mae": float(np.mean(mae)), "psnr": float(np.mean(psnr))}


def test_validate_logs_per_frame_metrics_and_the_copy_last_baseline(
    trained: tuple[ForecastTask, pl.Trainer, float], sequences: tuple[Tensor, Tensor]
) -> None:
    task, _, _ = trained
    x, y = sequences
    preds = _predict(task, x)
    # batches of 3, 3 and 2: the metrics accumulate over the whole set
    (logged,) = _trainer().validate(task, _loader(x, y, batch_size=3), verbose=False)

    want = _per_frame_reference(preds.numpy(), y.numpy())
    for name in ("mse", "mae", "psnr"):
        assert logged[f"val/{name}"] == pytest.approx(want[name], rel=1e-4), name
    copy_last = x[:, -1:].repeat(1, 2, 1, 1, 1).numpy()  # the last input frame, twice
    want_copy = _per_frame_reference(copy_last, y.numpy())["mse"]
    assert logged["val/mse_copy_last"] == pytest.approx(want_copy, rel=1e-4)
    ssim = [
        float(structural_similarity_index_measure(preds[b, k][None], y[b, k][None], data_range=1.0))
        for b in range(8)
        for k in range(2)
    ]
    assert logged["val/ssim"] == pytest.approx(float(np.mean(ssim)), rel=1e-4)
    assert logged["val/loss"] == pytest.approx(float(F.mse_loss(preds, y)), rel=1e-4)


def test_metrics_pair_each_predicted_frame_with_its_target(
    trained: tuple[ForecastTask, pl.Trainer, float], sequences: tuple[Tensor, Tensor]
) -> None:
    task, _, _ = trained
    x, _ = sequences
    perfect = _predict(task, x)  # targets that the model predicts exactly
    (logged,) = _trainer().test(task, _loader(x, perfect, batch_size=4), verbose=False)
    # Not bitwise zero: the model's float32 output differs in the last bits between batches of 8
    # (the targets) and of 4 (the test), and MAE sums 1e-10-sized gaps over a frame's pixels. A
    # frame paired with the wrong target would give an MAE in the tens.
    assert logged["test/mse"] == pytest.approx(0.0, abs=1e-9)
    assert logged["test/mae"] == pytest.approx(0.0, abs=1e-4)
    assert logged["test/ssim"] == pytest.approx(1.0, abs=1e-5)
    assert logged["test/mse_copy_last"] > 0.0


def test_l1_plus_l2_loss() -> None:
    torch.manual_seed(0)
    task = ForecastTask(model_args=MODEL_ARGS, loss="l1+l2")
    x, y = torch.rand(2, 4, 1, 16, 16), torch.rand(2, 2, 1, 16, 16)
    preds = _predict(task, x)
    (logged,) = _trainer().validate(task, _loader(x, y, batch_size=2), verbose=False)
    diff = (preds - y).double()
    want = float(diff.square().mean() + diff.abs().mean())
    assert logged["val/loss"] == pytest.approx(want, rel=1e-5)


def test_predict_returns_frames_in_the_unit_range(
    trained: tuple[ForecastTask, pl.Trainer, float], sequences: tuple[Tensor, Tensor]
) -> None:
    task, _, _ = trained
    x, y = sequences
    batches = _trainer().predict(task, _loader(x, y, batch_size=5))
    assert batches is not None
    frames = torch.cat([torch.as_tensor(b) for b in batches])
    assert frames.shape == (8, 2, 1, 16, 16)
    assert float(frames.min()) >= 0.0
    assert float(frames.max()) <= 1.0
    assert torch.allclose(frames, _predict(task, x), atol=1e-6)
    # a bare tensor of inputs works too (a batch of 2, not 5: other kernels may run, so close)
    torch.testing.assert_close(task.predict_step(x[:2], 0), frames[:2], rtol=1e-5, atol=1e-6)


def test_checkpoint_round_trip_gives_identical_predictions(
    trained: tuple[ForecastTask, pl.Trainer, float],
    sequences: tuple[Tensor, Tensor],
    tmp_path: Path,
) -> None:
    task, trainer, _ = trained
    path = tmp_path / "forecast.ckpt"
    trainer.save_checkpoint(path)
    loaded = ForecastTask.load_from_checkpoint(path)
    loaded.eval()
    assert loaded.hparams["model_args"] == MODEL_ARGS
    assert loaded.hparams["loss"] == "mse"
    # A checkpoint round trip: the same weights, input and ops, so bitwise.
    assert torch.equal(_predict(loaded, sequences[0]), _predict(task, sequences[0]))


def test_targets_of_another_length_name_the_model_argument_to_change(
    trained: tuple[ForecastTask, pl.Trainer, float],
) -> None:
    task, _, _ = trained
    x, y = torch.rand(2, 4, 1, 16, 16), torch.rand(2, 3, 1, 16, 16)
    with pytest.raises(
        ShapeError, match=r"\(2, 2, 1, 16, 16\).*\(2, 3, 1, 16, 16\).*output_frames=3"
    ):
        task.validation_step((x, y), 0)


def test_inputs_without_a_time_axis_are_refused(
    trained: tuple[ForecastTask, pl.Trainer, float],
) -> None:
    task, _, _ = trained
    with pytest.raises(
        ShapeError, match=r"\(B, N, C, H, W\).*4-D tensor of shape \(2, 1, 16, 16\)"
    ):
        task.predict_step(torch.rand(2, 1, 16, 16), 0)


def test_a_batch_of_the_wrong_layout_is_refused(
    trained: tuple[ForecastTask, pl.Trainer, float],
) -> None:
    task, _, _ = trained
    x = torch.rand(2, 4, 1, 16, 16)
    with pytest.raises(ValueError, match=r"\(inputs, targets\), but got a tuple of 3"):
        task.training_step((x, x, x), 0)


def test_unknown_loss_fails_when_the_task_is_built() -> None:
    with pytest.raises(ValueError, match="loss has to be 'mse', 'l1\\+l2' or 'bce', but got 'l2'"):
        ForecastTask(loss="l2")  # type: ignore[arg-type]


def test_bce_loss_is_the_cross_entropy_of_the_intensities() -> None:
    torch.manual_seed(0)
    task = ForecastTask(model_args=MODEL_ARGS, loss="bce")
    x, y = torch.rand(2, 4, 1, 16, 16), torch.rand(2, 2, 1, 16, 16)
    preds = _predict(task, x).double()
    (logged,) = _trainer().validate(task, _loader(x, y, batch_size=2), verbose=False)
    target = y.double()
    want = float(-(target * preds.log() + (1 - target) * (1 - preds).log()).mean())
    assert logged["val/loss"] == pytest.approx(want, rel=1e-5)
    # the metrics are the same as with the squared error: OpenSTL's, on the intensities
    assert logged["val/mse"] == pytest.approx(
        float((preds - target).square().sum(dim=(2, 3, 4)).mean()), rel=1e-5
    )


class _Recorder(torch.nn.Module):
    """Wraps a forecaster and records the teacher forcing each call asked for."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.inner = model
        self.calls: list[float] = []

    def forward(
        self, x: Tensor, targets: Tensor | None = None, *, teacher_forcing: float = 0.0
    ) -> Tensor:
        self.calls.append(teacher_forcing if targets is not None else 0.0)
        out: Tensor = self.inner(x, targets, teacher_forcing=teacher_forcing)
        return out


def test_teacher_forcing_decays_linearly_in_training_and_is_off_in_validation(
    sequences: tuple[Tensor, Tensor],
) -> None:
    x, y = sequences
    torch.manual_seed(0)
    task = ForecastTask(
        model_args=MODEL_ARGS, teacher_forcing=0.8, teacher_forcing_decay=0.5, scheduler="none"
    )
    recorder = _Recorder(task.model)
    task.model = recorder
    assert task.teacher_forcing_probability() == 0.0  # no trainer: none
    _trainer(max_steps=8, limit_val_batches=0).fit(task, _loader(x, y, batch_size=8))
    # 8 steps, decaying to 0 over the first 4: 0.8 * (1 - step / 4)
    assert recorder.calls == pytest.approx([0.8, 0.6, 0.4, 0.2, 0.0, 0.0, 0.0, 0.0])
    recorder.calls.clear()
    _trainer().validate(task, _loader(x, y, batch_size=8), verbose=False)
    assert recorder.calls == [0.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"teacher_forcing": -0.1}, r"teacher_forcing has to be a probability in \[0, 1\]"),
        ({"teacher_forcing_decay": 0.0}, r"teacher_forcing_decay has to be a fraction in \(0, 1\]"),
    ],
)
def test_bad_teacher_forcing_fails_when_the_task_is_built(
    kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ForecastTask(**kwargs)  # type: ignore[arg-type]
