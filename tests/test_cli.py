"""The `cnnlstm` command: every command is dispatched, `summary` prints the stages, and
mistakes (bad options, missing files, unknown models, bridges that do not fit) end in one line."""

from __future__ import annotations

import io
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import torch
from rich.console import Console

from cnnlstm import cli
from cnnlstm.commands import train
from cnnlstm.commands.configs import CONFIGS_DIR
from cnnlstm.errors import DataError


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["demo", "--steps", "0"], "has to be a positive integer, but got '0'"),
        (["demo", "--steps", "many"], "has to be a positive integer, but got 'many'"),
        (["demo", "--seed", "x"], "has to be an integer, but got 'x'"),
        (["demo", "--bogus"], "unrecognized arguments: --bogus"),
        (["fly"], "invalid choice: 'fly'"),
        ([], "choose a command: demo, fit, validate, test, predict, summary, compare, export"),
    ],
)
def test_mistakes_end_in_one_line_on_stderr_and_exit_2(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("cnnlstm: error: ")
    assert fragment in lines[0]


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--help"]) == 0
    assert "--steps" in capsys.readouterr().out


def test_console_script_points_at_main() -> None:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "cnnlstm"]
    assert script.load() is cli.main


# ----------------------------------------------------------------------------- the other commands

CONFIG = str(CONFIGS_DIR / "digit_clips.yaml")
TINY_MODEL = [
    "--model.init_args.model_args.channels=[4, 8]",
    "--model.init_args.model_args.hidden_size=8",
]
TINY_DATA = ["--data.init_args.train_samples=4", "--data.init_args.val_samples=4"]


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ["fit", "validate", "test", "predict", "summary", "compare", "export", "demo"]:
        assert f"    {command} " in out, command
    for command in ["generate", "detect", "benchmark (bench)"]:
        assert f"    {command}" in out, command


def test_bench_is_benchmark(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from cnnlstm.commands import benchmark

    parser = cli.build_parser()
    assert cli.ALIASES["benchmark"] == ("bench",)
    long = parser.parse_args(["benchmark", "skab", "data", "--quick"])
    short = parser.parse_args(["bench", "skab", "data", "--quick"])
    assert short.command == "bench" and long.command == "benchmark"
    assert {**vars(short), "command": None} == {**vars(long), "command": None}
    assert short.func is benchmark.run
    # run through main, the alias reaches the benchmark command (its own error line)
    assert cli.main(["bench", "skab", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cnnlstm benchmark: error: ")
    assert "nowhere" in err[0]
    assert cli.main(["bench", "--help"]) == 0
    assert "skab" in capsys.readouterr().out


def test_fit_help_is_lightning_clis(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fit", "--help"]) == 0
    out = capsys.readouterr().out
    for option in [
        "--trainer.max_epochs",
        "--ckpt_path",
        "--early_stopping.patience",
        "--seed_everything",
    ]:
        assert option in out, option


def test_summary_prints_every_stage_of_the_config_model(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["summary", "--config", CONFIG, *TINY_MODEL]) == 0
    out = capsys.readouterr().out
    assert "clip_classifier" in out and "val/acc" in out
    # worked out by hand: clips (2, 10, 1, 32, 32); two CNN stages of 4 and 8 channels each halve
    # H and W; each frame's (8, 8, 8) map is average-pooled to 8 features; LSTM of 8 units; 10
    # classes
    assert "(2, 10, 1, 32, 32)" in out
    assert "(2, 10, 8, 8, 8)" in out  # TimeDistributed(SimpleCNN)
    assert "(2, 10, 8)" in out  # GlobalPoolBridge and LSTM
    assert "(2, 10)" in out  # the head
    lstm = 4 * 8 * (8 + 8 + 2)  # 4 gates of 8 units; input and hidden weights; two biases
    assert f"{lstm:,}" in out
    assert not Path("runs").exists()  # nothing trained, nothing written


def test_summary_returns_the_summary_of_a_changed_bridge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    bridge = "--model.init_args.model_args.bridge=single_frame"
    result = train.run_summary(CONFIG, [*TINY_MODEL, bridge], console=Console(file=io.StringIO()))
    assert result.input_shape == (2, 10, 1, 32, 32)
    assert result.output_shape == (2, 10)
    assert "LSTM" not in {row.type for row in result.rows}


def _garbage_checkpoint(tmp_path: Path) -> str:
    path = tmp_path / "garbage.ckpt"
    path.write_text("not a checkpoint")
    return str(path)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["fit", "--config", "missing.yaml"], "config file missing.yaml does not exist"),
        (["test", "--config", CONFIG, "--ckpt_path", "gone.ckpt"], "checkpoint file gone.ckpt"),
        (["summary", "--config", "missing.yaml"], "config file missing.yaml does not exist"),
        (["export", "--ckpt", "gone.ckpt"], "checkpoint file gone.ckpt does not exist"),
        (["export", "--ckpt", "GARBAGE"], "garbage.ckpt: not a checkpoint torch.load can read"),
        (
            ["fit", "--config", CONFIG, "--model.init_args.model=clip_clasifier"],
            "Unknown model 'clip_clasifier'. Did you mean 'clip_classifier'?",
        ),
        (
            ["fit", "--config", CONFIG, "--model.init_args.model_args.bridge=columns"],
            "bridge has to be one of 'temporal', 'convlstm', 'single_frame', but got 'columns'",
        ),
        (
            ["fit", "--config", CONFIG, "--model.init_args.lr=-1"],
            "lr has to be a positive learning rate, but got -1.0",
        ),
        (
            ["fit", "--config", CONFIG, "--data.init_args.train_samples=0"],
            "train_samples has to be a positive int, but got 0",
        ),
        (
            # SyncBatchNorm is CUDA-only: on CPU say what to do instead of Lightning's traceback
            [
                "fit",
                "--config",
                CONFIG,
                "--trainer.accelerator=cpu",
                "--trainer.sync_batchnorm=true",
            ],
            "trainer.sync_batchnorm has to run on GPUs",
        ),
        (
            # an image model on clips: the bridge cannot take this input; found in the first step
            [
                "fit",
                "--config",
                CONFIG,
                *TINY_DATA,
                "--trainer.enable_progress_bar=false",
                "--trainer.enable_model_summary=false",
                "--model.init_args.model=image_sequence_classifier",
                '--model.init_args.model_args={"bridge": "hilbert", "image_size": [32, 32]}',
            ],
            "expected a 4-D input (B, 1, 32, 32), got a 5-D tensor of shape (4, 10, 1, 32, 32)",
        ),
        (["summary"], "the following arguments are required: --config"),
        (["export", "--ckpt", "x.ckpt", "--format", "tflite"], "invalid choice: 'tflite'"),
        (["compare", "--config", CONFIG, "--bridges", ","], "has to be a comma-separated list"),
    ],
)
def test_user_mistakes_end_in_one_error_line_and_exit_2(
    argv: list[str],
    fragment: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = [_garbage_checkpoint(tmp_path) if a == "GARBAGE" else a for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    *before, last = err.splitlines()
    assert last.startswith("cnnlstm: error: ") and fragment in last, err
    # a mistake found once training started comes after Lightning's start-up log, no traceback
    assert all(line.startswith("INFO: ") for line in before), err


def test_an_option_lightningcli_does_not_know_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fit", "--config", CONFIG, "--trainer.max_stepz=3"]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --trainer.max_stepz" in err
    assert "Traceback" not in err


def test_a_mistake_shows_no_traceback_when_run_as_a_program(tmp_path: Path) -> None:
    # in a process of its own, Lightning's own messages included: the error is the last line
    argv = ["fit", "--config", CONFIG, "--model.init_args.model=nonet"]
    done = subprocess.run(
        [sys.executable, "-m", "cnnlstm.cli", *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("cnnlstm: error: Unknown model 'nonet'")


def test_end_distributed_destroys_the_process_group(tmp_path: Path) -> None:
    """A DDP rank leaves `cnnlstm fit` with its process group destroyed (gloo can abort at exit
    otherwise); without a process group it does nothing."""
    import torch.distributed as dist

    cli._end_distributed()  # nothing initialised: a no-op
    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    assert dist.is_initialized()
    cli._end_distributed()
    assert not dist.is_initialized()


class _Broken(torch.utils.data.Dataset[int]):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> int:
        raise DataError(f"clip {index}: unreadable; re-encode it")


def test_an_error_from_a_loader_worker_keeps_only_its_message() -> None:
    from cnnlstm.cli import _one_line

    loader = torch.utils.data.DataLoader(_Broken(), num_workers=1)
    with pytest.raises(DataError) as caught:
        next(iter(loader))
    assert "Original Traceback" in str(caught.value)  # what torch re-raises
    assert _one_line(caught.value) == "clip 0: unreadable; re-encode it"
    assert _one_line(DataError("a\n b")) == "a b"
