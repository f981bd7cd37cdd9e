"""ClassificationTask: training lowers the loss, metrics against hand counts, checkpoints."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader

from cnnlstm.data.collate import pad_collate
from cnnlstm.data.moving_digits import DigitClips
from cnnlstm.errors import ConfigError
from cnnlstm.tasks.classify import ClassificationTask

MODEL_ARGS: dict[str, Any] = {
    "frames": 4,
    "image_size": (16, 16),
    "channels": (4, 8),
    "hidden_size": 16,
}
CLASSES = 4


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


def _eval_loss(task: ClassificationTask, x: Tensor, y: Tensor) -> float:
    task.eval()
    with torch.no_grad():
        loss = float(F.cross_entropy(task(x), y))
    task.train()
    return loss


@pytest.fixture(scope="module")
def clips() -> tuple[Tensor, Tensor]:
    """8 clips (8, 4, 1, 16, 16) of a digit moving in one of 4 directions, and the labels."""
    data = DigitClips(num_samples=8, canvas_size=16, digit_size=8, frames=4, label="direction")
    x = torch.stack([data[i][0] for i in range(len(data))])  # (8, 4, 1, 16, 16)
    y = torch.tensor([int(data[i][1]) for i in range(len(data))])  # (8,)
    return x, y


@pytest.fixture(scope="module")
def trained(clips: tuple[Tensor, Tensor]) -> tuple[ClassificationTask, pl.Trainer, float]:
    """A task fitted for 20 steps on the 8 clips, its trainer, and the loss before training."""
    x, y = clips
    torch.manual_seed(0)
    task = ClassificationTask(model_args=MODEL_ARGS, num_classes=CLASSES, lr=1e-2)
    initial = _eval_loss(task, x, y)
    trainer = _trainer(max_steps=20)
    trainer.fit(task, _loader(x, y, batch_size=8))
    task.eval()
    return task, trainer, initial


def test_training_lowers_the_loss_on_a_fixed_batch(
    trained: tuple[ClassificationTask, pl.Trainer, float], clips: tuple[Tensor, Tensor]
) -> None:
    task, trainer, initial = trained
    assert trainer.global_step == 20
    final = _eval_loss(task, *clips)
    task.eval()
    assert final < initial
    assert math.isfinite(float(trainer.callback_metrics["train/loss"]))


def _macro_f1(preds: list[int], target: list[int]) -> float:
    """F1 per class, averaged over the classes that occur in preds or target."""
    scores = []
    for c in set(preds) | set(target):
        tp = sum(p == c and t == c for p, t in zip(preds, target, strict=True))
        fp = sum(p == c and t != c for p, t in zip(preds, target, strict=True))
        fn = sum(p != c and t == c for p, t in zip(preds, target, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores)


def test_validate_logs_loss_accuracy_and_macro_f1_over_all_batches(
    trained: tuple[ClassificationTask, pl.Trainer, float], clips: tuple[Tensor, Tensor]
) -> None:
    task, _, _ = trained
    x, y = clips
    with torch.no_grad():
        logits = task(x)
    preds = logits.argmax(dim=-1).tolist()
    # batches of 3, 3 and 2: the metrics have to accumulate, not average per-batch values
    (logged,) = _trainer().validate(task, _loader(x, y, batch_size=3), verbose=False)
    accuracy = sum(p == t for p, t in zip(preds, y.tolist(), strict=True)) / len(preds)
    assert logged["val/acc"] == pytest.approx(accuracy)
    assert logged["val/f1"] == pytest.approx(_macro_f1(preds, y.tolist()))
    assert logged["val/loss"] == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-5)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_test_keeps_the_confusion_matrix_and_logs_it_as_a_table(
    trained: tuple[ClassificationTask, pl.Trainer, float], clips: tuple[Tensor, Tensor]
) -> None:
    task, _, _ = trained
    x, y = clips
    with torch.no_grad():
        preds = task(x).argmax(dim=-1).tolist()
    expected = [[0] * CLASSES for _ in range(CLASSES)]
    for p, t in zip(preds, y.tolist(), strict=True):
        expected[t][p] += 1
    handler = _Records()
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    rank_zero.addHandler(handler)
    try:
        (logged,) = _trainer().test(task, _loader(x, y, batch_size=5), verbose=False)
    finally:
        rank_zero.removeHandler(handler)
    assert task.test_confusion is not None
    assert task.test_confusion.tolist() == expected
    assert set(logged) >= {"test/loss", "test/acc", "test/f1"}
    (table,) = [m for m in handler.messages if "Confusion matrix" in m]
    rows = table.splitlines()[2:]
    assert [[int(v) for v in row.split()[1:]] for row in rows] == expected


def test_predict_returns_class_probabilities(
    trained: tuple[ClassificationTask, pl.Trainer, float], clips: tuple[Tensor, Tensor]
) -> None:
    task, _, _ = trained
    x, y = clips
    batches = _trainer().predict(task, _loader(x, y, batch_size=5))
    assert batches is not None
    probs = torch.cat([torch.as_tensor(b) for b in batches])
    assert probs.shape == (8, CLASSES)
    assert torch.allclose(probs.sum(dim=-1), torch.ones(8))
    with torch.no_grad():
        logits = task.model(x)
    assert torch.allclose(probs, logits.exp() / logits.exp().sum(dim=-1, keepdim=True), atol=1e-6)


def test_checkpoint_round_trip_gives_identical_predictions(
    trained: tuple[ClassificationTask, pl.Trainer, float],
    clips: tuple[Tensor, Tensor],
    tmp_path: Path,
) -> None:
    task, trainer, _ = trained
    path = tmp_path / "task.ckpt"
    trainer.save_checkpoint(path)
    loaded = ClassificationTask.load_from_checkpoint(path)
    loaded.eval()
    assert loaded.hparams["model_args"] == MODEL_ARGS
    assert loaded.hparams["num_classes"] == CLASSES
    with torch.no_grad():  # a checkpoint round trip: the same weights and ops, so bitwise
        assert torch.equal(loaded(clips[0]), task(clips[0]))


def test_padded_clips_pass_their_lengths_to_the_model(
    trained: tuple[ClassificationTask, pl.Trainer, float], clips: tuple[Tensor, Tensor]
) -> None:
    task, _, _ = trained
    x, y = clips
    short = x[1, :2]  # (2, 1, 16, 16)
    batch = pad_collate([(x[0], y[0]), (short, y[1])], padding_value=0.7)
    padded, lengths, labels = batch
    assert lengths.tolist() == [4, 2]
    with torch.no_grad():
        probs = task.predict_step(batch, 0)
        alone = task.model(short.unsqueeze(0)).softmax(dim=-1)  # the short clip, unpadded
        ignoring_lengths = task.predict_step((padded, labels), 0)
    assert torch.allclose(probs[1], alone[0], atol=1e-5)
    assert not torch.allclose(ignoring_lengths[1], alone[0], atol=1e-5)


class _LearningRates(pl.Callback):
    """Records the learning rate each optimizer step uses."""

    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        self.rates.append(float(trainer.optimizers[0].param_groups[0]["lr"]))


def test_images_train_with_an_image_sequence_classifier_and_one_cycle() -> None:
    torch.manual_seed(0)
    task = ClassificationTask(
        "image_sequence_classifier",
        {"image_size": (12, 12), "channels": (4,), "hidden_size": 8},
        num_classes=3,
        lr=1e-2,
        scheduler="onecycle",
    )
    x, y = torch.rand(6, 1, 12, 12), torch.tensor([0, 1, 2, 0, 1, 2])
    x[y == 1] += 1.0  # separable classes: brightness
    x[y == 2] += 2.0
    before = _eval_loss(task, x, y)
    rates = _LearningRates()
    trainer = _trainer(max_steps=10, callbacks=[rates])
    trainer.fit(task, _loader(x, y, batch_size=6))
    assert _eval_loss(task, x, y) < before
    # one cycle: from lr / 25 up to lr, then down to lr / 25 / 1e4 at the last step
    assert len(rates.rates) == 10
    assert rates.rates[0] == pytest.approx(1e-2 / 25)
    assert max(rates.rates) == pytest.approx(1e-2, rel=0.1)
    assert rates.rates[-1] == pytest.approx(1e-2 / 25 / 1e4)


def test_cosine_schedule_decays_from_lr_to_zero_over_the_run() -> None:
    task = ClassificationTask(
        "image_sequence_classifier",
        {"image_size": (8, 8), "channels": (), "hidden_size": 4},
        num_classes=2,
        lr=0.1,
        weight_decay=0.01,
    )
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 0, 1])
    rates = _LearningRates()
    trainer = _trainer(max_steps=4, callbacks=[rates])
    trainer.fit(task, _loader(x, y, batch_size=2))
    (optimizer,) = trainer.optimizers
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.param_groups[0]["weight_decay"] == 0.01
    expected = [0.1 * (1 + math.cos(math.pi * k / 4)) / 2 for k in range(4)]
    assert rates.rates == pytest.approx(expected)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_a_schedule_needs_the_length_of_the_run() -> None:
    task = ClassificationTask(
        "image_sequence_classifier",
        {"image_size": (8, 8), "channels": (), "hidden_size": 4},
        num_classes=2,
    )
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 0, 1])
    with pytest.raises(ConfigError, match="neither max_steps nor max_epochs"):
        _trainer(max_epochs=-1, max_steps=-1).fit(task, _loader(x, y, batch_size=2))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_classes": 1}, "num_classes has to be at least 2, but got 1"),
        ({"model_args": {"num_classes": 3}}, "model_args has to leave 'num_classes' to the task"),
        ({"lr": 0.0}, "lr has to be a positive learning rate, but got 0.0"),
        ({"weight_decay": -0.1}, "weight_decay has to be >= 0, but got -0.1"),
        ({"scheduler": "step"}, "scheduler has to be one of 'none', 'cosine', 'onecycle'"),
        ({"label_smoothing": 1.0}, r"label_smoothing has to be in \[0, 1\), but got 1.0"),
    ],
)
def test_bad_arguments_fail_when_the_task_is_built(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ClassificationTask(**kwargs)


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="clip_classifier"):
        ClassificationTask("clip_clasifier")


def test_a_batch_of_the_wrong_layout_says_which_layouts_work(
    trained: tuple[ClassificationTask, pl.Trainer, float], clips: tuple[Tensor, Tensor]
) -> None:
    task, _, _ = trained
    x, y = clips
    with pytest.raises(ValueError, match=r"\(x, y\) or \(x, lengths, y\), but got a tuple of 4"):
        task.validation_step((x, y, y, y), 0)


def test_a_checkpoint_whose_weights_do_not_fit_names_the_setting(tmp_path: Path) -> None:
    trained = ClassificationTask(model_args=MODEL_ARGS, num_classes=CLASSES)
    checkpoint = {
        "state_dict": trained.state_dict(),
        "hyper_parameters": dict(trained.hparams),
        "pytorch-lightning_version": pl.__version__,
    }
    other = ClassificationTask(model_args=MODEL_ARGS, num_classes=CLASSES + 2)
    with pytest.raises(ConfigError) as caught:  # as Trainer.test(ckpt_path=...) loads it
        other.on_load_checkpoint(checkpoint)
    message = str(caught.value)
    assert "the checkpoint's weights do not fit this model" in message
    assert f"model.head.weight: ({CLASSES}, " in message
    assert f"trained with num_classes={CLASSES} (here {CLASSES + 2})" in message
    assert "lr=" not in message  # settings that shape no weight are left out
    path = tmp_path / "trained.ckpt"
    torch.save(checkpoint, path)
    with pytest.raises(ConfigError, match="weights do not fit"):  # the override: same check
        ClassificationTask.load_from_checkpoint(path, num_classes=CLASSES + 2)
    again = ClassificationTask.load_from_checkpoint(path)  # as trained: loads
    head = "model.head.weight"
    assert torch.equal(again.state_dict()[head], trained.state_dict()[head])
