"""`predictions.pt` names the rows of your file: indices through Subsets, and every row predicted.

A 16-row `.npz` of random images is predicted with a checkpoint of the shipped image_sequence config
shrunk to a tiny model; each saved prediction is compared with the task rebuilt from the
checkpoint run on the row of the file that `indices` names, one row at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from cnnlstm import cli
from cnnlstm.commands.configs import CONFIGS_DIR
from cnnlstm.commands.predictions import PredictionWriter
from cnnlstm.data.datamodules import ArrayDataModule
from cnnlstm.tasks import ClassificationTask

CONFIG = str(CONFIGS_DIR / "image_sequence.yaml")
ROWS = 16
TINY = [
    "--data=cnnlstm.data.ArrayDataModule",
    "--data.init_args.path=rows.npz",
    "--data.init_args.batch_size=4",
    "--model.init_args.model_args.image_size=[12, 12]",
    "--model.init_args.model_args.channels=[4, 8]",
    "--model.init_args.model_args.hidden_size=8",
    "--trainer.max_steps=1",
    "--trainer.limit_val_batches=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]
CKPT = "--ckpt_path=runs/image_sequence/checkpoints/last.ckpt"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder with rows.npz (16 random images, labels 0..9) and a checkpoint fitted on it."""
    folder = tmp_path_factory.mktemp("rows")
    rng = np.random.default_rng(0)
    x = rng.random((ROWS, 1, 12, 12)).astype(np.float32)
    np.savez(folder / "rows.npz", x=x, y=np.arange(ROWS) % 10)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        assert cli.main(["fit", "--config", CONFIG, *TINY]) == 0
        yield folder
        torch.set_num_threads(threads)


def predict(*extra: str) -> tuple[torch.Tensor, list[int]]:
    assert cli.main(["predict", "--config", CONFIG, *TINY, CKPT, *extra]) == 0
    saved = torch.load(Path("runs/image_sequence/predictions/predictions.pt"))
    return saved["predictions"], saved["indices"]


def row_by_row(rows: list[int]) -> torch.Tensor:
    """The checkpoint's probabilities for the file's rows, one row at a time."""
    task = ClassificationTask.load_from_checkpoint("runs/image_sequence/checkpoints/last.ckpt")
    x = np.load("rows.npz")["x"]
    with torch.no_grad():
        return torch.cat([task.eval()(torch.from_numpy(x[r : r + 1])).softmax(-1) for r in rows])


def test_dataset_indices_look_through_nested_subsets() -> None:
    inner = Subset(list(range(100, 120)), [9, 3, 17, 0, 12])
    outer = Subset(inner, [4, 1, 2])
    expected = [inner.indices[outer.indices[position]] for position in range(3)]
    assert PredictionWriter.dataset_indices(outer, [0, 1, 2]) == expected == [12, 3, 17]
    assert [outer[p] for p in range(3)] == [100 + i for i in expected]  # they are the rows
    assert PredictionWriter.dataset_indices(list(range(5)), [3, 1]) == [3, 1]  # no Subset


def test_indices_of_the_shuffled_test_split_are_rows_of_the_file(fitted: Path) -> None:
    probabilities, indices = predict()
    module = ArrayDataModule("rows.npz")
    module.setup("test")
    assert isinstance(module.test_set, Subset)
    assert indices == list(module.test_set.indices) and len(indices) == 2
    assert indices != [0, 1]  # positions inside the split would say so
    assert torch.allclose(probabilities, row_by_row(indices), atol=1e-5)


def test_predict_path_predicts_every_row_in_order(fitted: Path) -> None:
    probabilities, indices = predict("--data.init_args.predict_path=rows.npz")
    assert indices == list(range(ROWS)) and probabilities.shape == (ROWS, 10)
    assert torch.allclose(probabilities, row_by_row(indices), atol=1e-5)


def test_an_int_test_split_from_the_command_line_and_no_training_rows(
    fitted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 15 of 16 rows to test and 1 to validate leaves none to train on: fine for predict
    split = ["--data.init_args.test_split=15", "--data.init_args.val_split=1"]
    probabilities, indices = predict(*split)
    assert len(indices) == 15 and len(set(indices)) == 15
    assert torch.allclose(probabilities, row_by_row(indices), atol=1e-5)
    # ... and one clear line when training
    assert cli.main(["fit", "--config", CONFIG, *TINY, *split]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(
        r"cnnlstm: error: rows\.npz: the splits take 1 \+ 15 of 16 samples, leaving 0 to train "
        r"on; use smaller val_split/test_split\.",
        err,
    ), err
    whole = "--data.init_args.test_split=1.0"
    assert cli.main(["predict", "--config", CONFIG, *TINY, CKPT, whole]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "test_split has to be a fraction in [0, 1) or an int count, but got 1.0" in err
    assert "pass predict_path" in err
