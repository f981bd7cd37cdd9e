"""The own-data configs end to end, as their comments say to run them.

The shipped ``video_folder`` and ``text_folder`` configs read a folder of the user's own
data; each comment names one ``cnnlstm generate`` command that writes an example folder at the
config's default root. Here that command is read from the comment and run (with fewer samples),
then ``fit`` (one short epoch), ``test`` and ``predict`` on the checkpoint, all through the command
line with nothing but the config and the shortening flags: no ``--data.init_args.root``, so a
generator that wrote anything but what the config reads stops the run. ``predictions.csv`` is then
checked row by row against the generator's own items (the true digit of each clip, the text of
each line), not against what the data module read.
"""

from __future__ import annotations

import csv
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml

from cnnlstm import cli
from cnnlstm.commands.configs import CONFIGS_DIR
from cnnlstm.data import DigitClips, TextLines

CONFIGS = CONFIGS_DIR
SAMPLES = 40  # a 0.1 test split: 4 items to predict
SHORT = [
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=2",
    "--trainer.limit_val_batches=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]
QUIET = SHORT[-2:]


@pytest.fixture(autouse=True)
def _in_tmp_dir_on_one_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared
    yield
    torch.set_num_threads(threads)


def example_commands(config: Path) -> list[list[str]]:
    """The commands under the comment's "Try it first" line, each split as a shell would."""
    lines = config.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("# Try it first")]
    assert len(starts) == 1, f"{config.name}: expected one '# Try it first' comment"
    commands = []
    for line in lines[starts[0] + 1 :]:
        text = line.removeprefix("#").strip()
        if not line.startswith("#") or not text:
            break
        if text.startswith("cnnlstm "):
            commands.append(shlex.split(text))
    return commands


def fewer_samples(command: list[str], samples: int) -> list[str]:
    """``command`` with its ``--samples`` value replaced (the comment writes a real data set)."""
    at = command.index("--samples")
    return [*command[: at + 1], str(samples), *command[at + 2 :]]


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def run_as_the_comment_says(
    name: str, generator: str, capsys: pytest.CaptureFixture[str]
) -> tuple[list[str], list[dict[str, str]], list[int], str]:
    """Generate, fit, test and predict with the shipped config ``<name>``.

    Returns:
        The columns and rows of ``predictions.csv``, the ``indices`` of ``predictions.pt`` and
        what ``test`` printed.
    """
    config = CONFIGS / f"{name}.yaml"
    generate, fit = example_commands(config)
    assert generate[:3] == ["cnnlstm", "generate", generator]
    assert fit == ["cnnlstm", "fit", "--config", name]  # nothing else to pass
    root = yaml.safe_load(config.read_text(encoding="utf-8"))["data"]["init_args"]["root"]
    assert Path(generate[3]) == Path(root)  # the folder the config reads by default

    assert cli.main(fewer_samples(generate, SAMPLES)[1:]) == 0
    assert cli.main([*fit[1:3], str(config), *SHORT]) == 0
    last = Path("runs") / name / "checkpoints" / "last.ckpt"
    assert last.is_file()
    capsys.readouterr()

    assert cli.main(["test", "--config", str(config), f"--ckpt_path={last}", *QUIET]) == 0
    tested = capsys.readouterr().out
    assert cli.main(["predict", "--config", str(config), f"--ckpt_path={last}", *QUIET]) == 0
    predictions = Path("runs") / name / "predictions"
    columns, rows = read_csv(predictions / "predictions.csv")
    saved = torch.load(predictions / "predictions.pt", weights_only=False)
    assert len(saved["predictions"]) == len(rows)  # one row per predicted item
    # runs/<name>/predictions links to this predict's own folder; the line names the folder
    written = predictions.resolve().relative_to(Path.cwd().resolve()) / "predictions.csv"
    assert f"wrote {written}" in capsys.readouterr().out
    return columns, rows, [int(i) for i in saved["indices"]], tested


def test_video_folder_config_runs_on_generated_digit_clips(
    capsys: pytest.CaptureFixture[str],
) -> None:
    columns, rows, indices, tested = run_as_the_comment_says("video_folder", "digit-clips", capsys)
    assert "test/acc" in tested and "test/loss" in tested

    assert columns == ["clip", "predicted", "probability", "true", "top3", "items"]
    assert len(rows) == round(0.1 * SAMPLES)  # the config's test split, one row per clip
    clips = DigitClips(num_samples=SAMPLES, seed=0)  # what generate draws, by default
    digits = [str(d) for d in range(10)]
    for row in rows:
        folder, clip = row["clip"].split("/")  # <digit>/clip<i>
        index = int(clip.removeprefix("clip"))
        assert row["true"] == folder == str(int(clips[index][1]))
        assert row["predicted"] in digits
        assert 0.0 < float(row["probability"]) <= 1.0
        assert len(row["top3"].split("; ")) == 3
    assert len({row["clip"] for row in rows}) == len(rows)
    assert sorted(int(i) for row in rows for i in row["items"].split()) == sorted(indices)


def test_text_folder_config_runs_on_generated_text_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    columns, rows, indices, tested = run_as_the_comment_says("text_folder", "text-lines", capsys)
    assert "test/cer" in tested and "test/word_acc" in tested

    assert columns == ["file", "predicted", "true", "item"]
    assert len(rows) == round(0.1 * SAMPLES)  # the config's test split, one row per line
    lines = TextLines(num_samples=SAMPLES, seed=0)  # what generate draws, by default
    numbers = []
    for row in rows:
        name = row["file"]  # line<i>.png
        assert name.startswith("line") and name.endswith(".png")
        numbers.append(int(name.removeprefix("line").removesuffix(".png")))
        assert row["true"] == lines.text(numbers[-1])
        assert set(row["predicted"]) <= set(lines.alphabet)
    assert len(set(numbers)) == len(rows)
    # each line's item is its row of labels.tsv, which generate writes in order
    assert [int(row["item"]) for row in rows] == numbers
    assert sorted(int(row["item"]) for row in rows) == sorted(indices)
