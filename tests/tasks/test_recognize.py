"""RecognitionTask: CTC training lowers the loss; word accuracy and CER against plain Python."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchmetrics.text import CharErrorRate

from cnnlstm.data.text_lines import TextLines
from cnnlstm.errors import ConfigError, ShapeError
from cnnlstm.models import registry
from cnnlstm.models.registry import list_models, register_model
from cnnlstm.tasks.recognize import RecognitionTask

DIGITS = "0123456789"
MODEL_ARGS: dict[str, Any] = {
    "image_height": 16,
    "channels": (8, 16),
    "hidden_size": 16,
    "num_layers": 1,
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


def _batches(*batches: Any) -> DataLoader[Any]:
    """A loader that yields the given, already collated, batches."""
    return DataLoader(list(batches), batch_size=None)


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions of one character), by DP."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def reference_cer(preds: Sequence[str], refs: Sequence[str]) -> float:
    """All edits over all reference characters, as the OCR literature pools CER over a set."""
    return sum(levenshtein(p, r) for p, r in zip(preds, refs, strict=True)) / sum(map(len, refs))


def greedy_by_hand(log_probs: Tensor, alphabet: str) -> list[str]:
    """Best path per row: argmax per step, merge repeats, drop blanks (class 0)."""
    texts = []
    for row in log_probs.argmax(dim=-1).tolist():
        chars, previous = [], 0
        for k in row:
            if k != 0 and k != previous:
                chars.append(alphabet[k - 1])
            previous = k
        texts.append("".join(chars))
    return texts


@pytest.fixture(scope="module")
def lines() -> tuple[TextLines, tuple[Tensor, Tensor, Tensor]]:
    """8 rendered lines of 2-3 digits, 16x48, collated for CTC."""
    data = TextLines(
        num_samples=8,
        height=16,
        width=48,
        alphabet=DIGITS,
        min_length=2,
        max_length=3,
        font_size=(10, 12),
        blur=0.3,
        noise=0.02,
    )
    return data, TextLines.collate([data[i] for i in range(len(data))])


@pytest.fixture(scope="module")
def trained(
    lines: tuple[TextLines, tuple[Tensor, Tensor, Tensor]],
) -> tuple[RecognitionTask, pl.Trainer, float]:
    """A CRNN fitted for 20 steps on the 8 lines, its trainer, and the CTC loss before."""
    data, batch = lines
    torch.manual_seed(0)
    task = RecognitionTask(model_args=MODEL_ARGS, alphabet=DIGITS, lr=1e-2)
    (before,) = _trainer().validate(task, _batches(batch), verbose=False)
    trainer = _trainer(max_steps=20)
    trainer.fit(task, DataLoader(data, batch_size=8, collate_fn=TextLines.collate))
    task.eval()
    return task, trainer, before["val/loss"]


def test_training_lowers_the_ctc_loss_on_a_fixed_batch(
    trained: tuple[RecognitionTask, pl.Trainer, float],
    lines: tuple[TextLines, tuple[Tensor, Tensor, Tensor]],
) -> None:
    task, trainer, before = trained
    images, targets, target_lengths = lines[1]
    assert trainer.global_step == 20
    with torch.no_grad():
        log_probs = task(images)  # (B, L, K)
        steps = task.model.output_lengths(torch.full((8,), 48))
        after = torch.nn.functional.ctc_loss(
            log_probs.transpose(0, 1), targets, steps, target_lengths, zero_infinity=True
        )
    assert log_probs.shape == (8, 12, len(DIGITS) + 1)
    assert steps.tolist() == [12] * 8
    assert float(after) < 0.75 * before


def test_predict_returns_greedy_decoded_strings(
    trained: tuple[RecognitionTask, pl.Trainer, float],
    lines: tuple[TextLines, tuple[Tensor, Tensor, Tensor]],
) -> None:
    task, _, _ = trained
    batch = lines[1]
    (texts,) = _trainer().predict(task, _batches(batch)) or [None]
    with torch.no_grad():
        assert texts == greedy_by_hand(task(batch[0]), DIGITS)
    assert task.predict_step(batch[0], 0) == texts  # bare images work too


def test_checkpoint_round_trip_gives_identical_predictions(
    trained: tuple[RecognitionTask, pl.Trainer, float],
    lines: tuple[TextLines, tuple[Tensor, Tensor, Tensor]],
    tmp_path: Path,
) -> None:
    task, trainer, _ = trained
    images = lines[1][0]
    path = tmp_path / "ocr.ckpt"
    trainer.save_checkpoint(path)
    loaded = RecognitionTask.load_from_checkpoint(path)
    loaded.eval()
    assert loaded.alphabet == DIGITS
    assert loaded.hparams["model_args"] == MODEL_ARGS
    with torch.no_grad():  # a checkpoint round trip: the same weights and ops, so bitwise
        assert torch.equal(loaded(images), task(images))
        assert loaded.predict_step(images, 0) == task.predict_step(images, 0)


class _PathModel(nn.Module):
    """Reads a CTC path out of the image: step ``l`` is class ``x[b, 0, 0, l]`` with p = 0.9."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    def forward(self, x: Tensor) -> Tensor:
        path = x[:, 0, 0, :].round().long()  # (B, L)
        probs = torch.full((*path.shape, self.num_classes), 0.1 / (self.num_classes - 1))
        probs.scatter_(-1, path.unsqueeze(-1), 0.9)  # (B, L, K)
        return probs.log()

    def output_lengths(self, input_widths: Tensor) -> Tensor:
        return torch.as_tensor(input_widths)


@pytest.fixture(scope="module")
def path_model() -> Iterator[str]:
    """The registry name of :class:`_PathModel`, registered in a copy of the registry that is
    put back afterwards, so no other test sees it in ``list_models()``."""
    name = "tests_tasks_ctc_path_model"
    list_models()  # loads the built-in families first, so the copy holds them
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

        @register_model(name)
        def factory(*, num_classes: int = 4) -> nn.Module:
            """A model that emits the CTC path written into its input (tests only)."""
            return _PathModel(num_classes)

        yield name
    assert name not in list_models()


def _path_batch(paths: list[list[int]], refs: list[str], alphabet: str) -> tuple[Tensor, ...]:
    images = torch.tensor(paths, dtype=torch.float32)[:, None, None, :]  # (B, 1, 1, L)
    targets = torch.tensor([alphabet.index(c) + 1 for r in refs for c in r])
    return images, targets, torch.tensor([len(r) for r in refs])


@pytest.mark.parametrize("decoder", ["greedy", "beam"])
def test_word_accuracy_and_cer_over_a_set_of_batches(path_model: str, decoder: str) -> None:
    alphabet = "abc"
    task = RecognitionTask(path_model, alphabet=alphabet, decoder=decoder)  # type: ignore[arg-type]
    # paths -> decoded strings: merge repeats, then drop blanks (0)
    batches = [
        _path_batch([[1, 1, 0, 2, 0], [3, 0, 3, 1, 1]], ["ab", "ca"], alphabet),  # "ab", "cca"
        _path_batch(
            [[0, 0, 0, 0, 0], [2, 2, 2, 3, 3], [1, 0, 1, 0, 1]], ["a", "bc", "aab"], alphabet
        ),
    ]  # "", "bc", "aaa"
    decoded = ["ab", "cca", "", "bc", "aaa"]
    refs = ["ab", "ca", "a", "bc", "aab"]
    (logged,) = _trainer().validate(task, _batches(*batches), verbose=False)
    assert logged["val/word_acc"] == pytest.approx(2 / 5)
    assert logged["val/cer"] == pytest.approx(reference_cer(decoded, refs))
    assert reference_cer(decoded, refs) == pytest.approx((0 + 1 + 1 + 0 + 1) / 10)
    assert task.predict_step(batches[1], 0) == decoded[2:]


@pytest.mark.parametrize(
    ("preds", "refs"),
    [
        (["kitten"], ["sitting"]),
        (["", "abc"], ["xy", "abc"]),
        (["flaw", "intention", "same"], ["lawn", "execution", "same"]),
        (["abcdef"], ["ab"]),
    ],
)
def test_char_error_rate_matches_levenshtein_dp(preds: list[str], refs: list[str]) -> None:
    assert float(CharErrorRate()(preds, refs)) == pytest.approx(reference_cer(preds, refs))


def test_levenshtein_reference_itself() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein("flaw", "lawn") == 2


def test_beam_decoder_finds_a_labelling_greedy_misses() -> None:
    task = RecognitionTask(
        model_args={"image_height": 8, "channels": (4,), "hidden_size": 4, "num_layers": 1},
        alphabet="a",
        decoder="beam",
        beam_width=4,
    )
    # each step: blank 0.6, "a" 0.4. Best path is blank-blank (""), but "a" has 1 - 0.36 = 0.64
    log_probs = torch.tensor([[[0.6, 0.4], [0.6, 0.4]]]).log()
    assert task.decode(log_probs) == ["a"]
    task.decoder = "greedy"
    assert task.decode(log_probs) == [""]


def test_a_target_too_long_for_the_image_gives_zero_loss_not_infinity() -> None:
    torch.manual_seed(0)
    task = RecognitionTask(
        model_args={"image_height": 8, "channels": (4,), "hidden_size": 4, "num_layers": 1},
        alphabet="ab",
    )
    images = torch.rand(1, 1, 8, 8)  # 4 steps
    targets, lengths = torch.tensor([1, 2, 1, 2, 1, 2]), torch.tensor([6])
    loss = task.training_step((images, targets, lengths), 0)
    assert float(loss.detach()) == 0.0
    loss.backward()
    grads = [p.grad for p in task.parameters() if p.grad is not None]
    assert grads
    assert all(math.isfinite(float(g.abs().sum())) for g in grads)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alphabet": ""}, "alphabet has to hold at least one character, but got ''"),
        ({"alphabet": "abca"}, r"alphabet has to hold each character once.*repeated: 'a'"),
        ({"decoder": "viterbi"}, "decoder has to be 'greedy' or 'beam', but got 'viterbi'"),
        ({"beam_width": 0}, "beam_width has to be at least 1, but got 0"),
        ({"model_args": {"num_classes": 5}}, "model_args has to leave 'num_classes'"),
    ],
)
def test_bad_arguments_fail_when_the_task_is_built(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RecognitionTask(**kwargs)


def test_a_model_without_output_lengths_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"output_lengths.*'clip_classifier'"):
        RecognitionTask("clip_classifier", {"channels": (4,), "hidden_size": 4})


def test_images_without_a_batch_axis_are_refused(
    trained: tuple[RecognitionTask, pl.Trainer, float],
) -> None:
    task, _, _ = trained
    with pytest.raises(ShapeError, match=r"\(B, C, H, W\).*3-D tensor of shape \(1, 16, 48\)"):
        task.predict_step(torch.rand(1, 16, 48), 0)
