"""Your own arrays for text recognition: `cnnlstm generate text-lines` -> ArrayDataModule -> fit.

The file the generator writes is read back with ArrayDataModule and compared with the lines
TextLines draws itself, batched by TextLines.collate (what TextLinesDataModule yields); a copy of
the shipped text_lines config then trains on the file through the command line, and the mistakes a
user can make with their own arrays (another layout, another alphabet, targets that are not
classes) end as one `cnnlstm: error:` line with exit code 2.
"""

from __future__ import annotations

import csv
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnlstm import cli
from cnnlstm.commands.configs import CONFIGS_DIR
from cnnlstm.data.collate import ctc_collate
from cnnlstm.data.datamodules import ArrayDataModule
from cnnlstm.data.text_lines import TextLines
from cnnlstm.errors import DataError, ShapeError
from cnnlstm.tasks import RecognitionTask

CONFIG = CONFIGS_DIR / "text_lines.yaml"
SAMPLES = 16
TINY = [
    "--data=cnnlstm.data.ArrayDataModule",
    "--data.init_args.path=lines.npz",
    "--data.init_args.batch_size=4",
    "--model.init_args.model_args.channels=[4, 8]",
    "--model.init_args.model_args.hidden_size=8",
    "--model.init_args.model_args.num_layers=1",
    "--trainer.max_epochs=1",
    "--trainer.log_every_n_steps=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]


@pytest.fixture(scope="module")
def lines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the README says to run first: 16 text lines written by the generator."""
    path = tmp_path_factory.mktemp("own") / "lines.npz"
    assert cli.main(["generate", "text-lines", str(path), "--samples", str(SAMPLES)]) == 0
    return path


@pytest.fixture
def in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: Path) -> Iterator[Path]:
    """A working directory holding lines.npz and a copy of the config, on one thread."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(lines, tmp_path / "lines.npz")
    shutil.copy(CONFIG, tmp_path / "mine.yaml")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tmp_path
    torch.set_num_threads(threads)


def last_error(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if "error" in line]


def test_array_batches_are_the_batches_of_the_drawn_lines(lines: Path) -> None:
    module = ArrayDataModule(lines, val_split=2, test_split=5, batch_size=5)
    module.setup("fit")
    assert module.alphabet == TextLines(num_samples=1).alphabet  # stored beside the targets
    assert module.test_set is not None
    images, targets, target_lengths = next(iter(module.test_dataloader()))
    drawn = TextLines(num_samples=SAMPLES, seed=0)  # what the generator drew, row by row
    rows = list(module.test_set.indices)  # type: ignore[attr-defined]
    expected = TextLines.collate([drawn[row] for row in rows])
    assert images.shape == (5, 1, 32, 128)
    assert torch.allclose(images, expected[0])
    assert torch.equal(targets, expected[1])
    assert torch.equal(target_lengths, expected[2])
    train = next(iter(module.train_dataloader()))
    assert len(train) == 3 and int(train[2].sum()) == train[1].numel()


def test_ctc_collate_cuts_padded_targets_and_stacks_bare_images() -> None:
    items = [
        (torch.full((1, 2, 6), 1.0), torch.tensor([4, 2, 0, 0]), torch.tensor(2)),
        (torch.full((1, 2, 6), 2.0), torch.tensor([7, 0, 0, 0]), 1),
        (torch.full((1, 2, 6), 3.0), torch.tensor([0, 0, 0, 0]), 0),
    ]
    images, targets, lengths = ctc_collate(items)
    assert images[:, 0, 0, 0].tolist() == [1.0, 2.0, 3.0]
    assert targets.tolist() == [4, 2, 7] and lengths.tolist() == [2, 1, 0]
    bare = ctc_collate([torch.zeros(1, 2, 6), torch.ones(1, 2, 6)])
    assert isinstance(bare, torch.Tensor) and bare.shape == (2, 1, 2, 6)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ([], "empty batch"),
        ([(torch.zeros(1, 2, 6), torch.tensor([1]))], r"item 0 has to be \(image, target, len"),
        ([(torch.zeros(1, 2, 6), torch.tensor([1]), 2)], r"shape \(1\) and length 2"),
        ([(torch.zeros(1, 2, 6), torch.ones(1, 1), 1)], r"shape \(1, 1\)"),
        (
            [(torch.zeros(1, 2, 6), torch.ones(1), 1), (torch.zeros(1, 2, 7), torch.ones(1), 1)],
            r"share one shape, but got \(1, 2, 6\), \(1, 2, 7\)",
        ),
    ],
    ids=["empty", "two-fields", "too-short", "2-d-target", "widths"],
)
def test_ctc_collate_refuses(batch: list[object], message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        ctc_collate(batch)


def test_a_copied_text_lines_config_trains_on_your_own_arrays(in_tmp_dir: Path) -> None:
    assert cli.main(["fit", "--config", "mine.yaml", *TINY]) == 0
    checkpoint = torch.load(Path("runs/mine/checkpoints/last.ckpt"), weights_only=False)
    assert checkpoint["global_step"] == 3  # 16 rows - 2 val - 2 test = 12, in batches of 4
    assert checkpoint["hyper_parameters"]["model"] == "crnn"
    with Path("runs/mine/version_0/metrics.csv").open(newline="") as file:
        logged = list(csv.DictReader(file))
    losses = [float(row["train/loss"]) for row in logged if row.get("train/loss")]
    cer = [float(row["val/cer"]) for row in logged if row.get("val/cer")]
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert len(cer) == 1 and cer[0] >= 0.0  # validated on the file's own targets


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--data.init_args.lengths_key=null"],
            r"RecognitionTask: a batch has to be \(images, targets, target_lengths\), but got a "
            r"list of 2 fields of shapes \(2, 1, 32, 128\), \(2, 10\)\. TextLinesDataModule "
            r"yields that layout, and so does ArrayDataModule for an \.npz",
        ),
        (
            ["--model.init_args.alphabet=abcdefghijklmnopqrstuvwxyz0123456789"],
            r"the alphabet has to be the one the data's targets number, '0123456789abc.*' "
            r"\(lines\.npz\), but got 'abcd.*'; set model\.init_args\.alphabet to '0123",
        ),
    ],
    ids=["another-layout", "another-alphabet"],
)
def test_your_own_arrays_in_the_wrong_layout_are_one_error_line(
    in_tmp_dir: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert cli.main(["fit", "--config", "mine.yaml", *TINY, *extra]) == 2
    errors = last_error(capsys)
    assert len(errors) == 1 and errors[0].startswith("cnnlstm: error: ")
    assert re.search(message, errors[0]), errors[0]


def test_unpack_batch_names_what_came_and_the_data_modules_that_fit() -> None:
    task = RecognitionTask(model_args={"image_height": 8, "channels": (4,), "hidden_size": 4})
    with pytest.raises(ShapeError, match=r"but got a Tensor of shape \(2, 1, 8, 16\)\. Text"):
        task.training_step(torch.zeros(2, 1, 8, 16), 0)
    with pytest.raises(ShapeError, match=r"but got a tuple of 2 fields: \(2, 1, 8, 16\), int\."):
        task.training_step((torch.zeros(2, 1, 8, 16), 3), 0)
    assert issubclass(ShapeError, ValueError)  # callers that caught ValueError still do


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ([3, 1, 0, 2], r"sample 1 of the batch holds 0; 0 is the CTC blank"),
        ([3, 1, 5, 40], r"classes 1\.\.36 .* sample 1 of the batch holds 40; the alphabet has 36"),
    ],
    ids=["blank-inside", "beyond-the-alphabet"],
)
def test_targets_that_are_not_classes_of_the_alphabet_are_refused(
    targets: list[int], message: str
) -> None:
    torch.manual_seed(0)
    task = RecognitionTask(model_args={"image_height": 8, "channels": (4,), "hidden_size": 4})
    batch = (torch.rand(2, 1, 8, 16), torch.tensor(targets), torch.tensor([1, 3]))
    with pytest.raises(DataError, match=message):
        task.training_step(batch, 0)
    good = (batch[0], torch.tensor([3, 1, 5, 36]), batch[2])
    assert torch.isfinite(task.training_step(good, 0))


def test_the_generated_lines_module_with_another_alphabet_is_one_error_line(
    in_tmp_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generated = [
        "--data.init_args.train_samples=4",
        "--data.init_args.val_samples=2",
        "--data.init_args.test_samples=0",
        "--data.init_args.alphabet=0123456789",
        *TINY[3:],
    ]
    assert cli.main(["fit", "--config", "mine.yaml", *generated]) == 2
    errors = last_error(capsys)
    assert len(errors) == 1, errors
    assert errors[0].startswith("cnnlstm: error: RecognitionTask: the alphabet has to be the one")
    assert "'0123456789', but got '0123456789abcdefghijklmnopqrstuvwxyz'" in errors[0]
    assert not Path("runs/mine/checkpoints/last.ckpt").exists()
