"""The configs ship as package data: found by name from any folder, listed, copied to edit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from cnnlstm import cli
from cnnlstm.commands.configs import CONFIGS_DIR, resolve_configs

NAMES = [
    "digit_clips",
    "image_sequence",
    "moving_digits",
    "text_folder",
    "text_lines",
    "video_folder",
]
SHORT = [
    "--trainer.max_steps=2",
    "--trainer.limit_val_batches=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--data.init_args.train_samples=4",
    "--data.init_args.val_samples=2",
    "--data.init_args.test_samples=2",
    "--data.init_args.batch_size=2",
    "--model.init_args.model_args.channels=[4, 8]",
    "--model.init_args.model_args.hidden_size=8",
]


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test runs in an empty folder: no configs/ beside it."""
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_configs_are_inside_the_package() -> None:
    import cnnlstm

    assert Path(cnnlstm.__file__).parent / "configs" == CONFIGS_DIR
    assert sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml")) == NAMES


def test_configs_lists_each_name_with_its_first_comment_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["configs"]) == 0
    out = capsys.readouterr().out.splitlines()
    for name in NAMES:
        first = (CONFIGS_DIR / f"{name}.yaml").read_text(encoding="utf-8").splitlines()[0]
        title = first.removeprefix("#").strip()
        assert title and any(line.split() == [name, *title.split()] for line in out), name
    assert cli.main(["configs", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == out


def test_copy_writes_the_config_to_edit_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped = (CONFIGS_DIR / "video_folder.yaml").read_bytes()
    assert cli.main(["configs", "copy", "video_folder", "my_videos.yaml"]) == 0
    assert (tmp_path / "my_videos.yaml").read_bytes() == shipped
    assert "wrote my_videos.yaml" in capsys.readouterr().out

    (tmp_path / "mine").mkdir()
    assert cli.main(["configs", "copy", "text_lines.yaml", "mine"]) == 0  # into a folder
    assert (tmp_path / "mine" / "text_lines.yaml").read_bytes() == (
        CONFIGS_DIR / "text_lines.yaml"
    ).read_bytes()

    (tmp_path / "my_videos.yaml").write_text("# edited\n")
    assert cli.main(["configs", "copy", "video_folder", "my_videos.yaml"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("cnnlstm configs: error: my_videos.yaml exists;")
    assert "never overwrites" in error
    assert (tmp_path / "my_videos.yaml").read_text() == "# edited\n"


def test_an_unknown_name_lists_the_shipped_configs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["configs", "copy", "digit_clip", "x.yaml"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("cnnlstm configs: error: no shipped config is named 'digit_clip';")
    assert ", ".join(NAMES) in error
    assert not Path("x.yaml").exists()

    assert cli.main(["fit", "--config", "digit_clip"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("cnnlstm: error: config file digit_clip does not exist here")
    assert ", ".join(NAMES) in error


def test_resolve_keeps_paths_files_and_inline_yaml(tmp_path: Path) -> None:
    (tmp_path / "digit_clips.yaml").write_text("trainer: {max_epochs: 1}\n")  # a file here wins
    argv = ["fit", "--config", "digit_clips.yaml", "-c", "text_lines", "--config=moving_digits"]
    assert resolve_configs(argv) == [
        "fit",
        "--config",
        "digit_clips.yaml",
        "-c",
        str(CONFIGS_DIR / "text_lines.yaml"),
        f"--config={CONFIGS_DIR / 'moving_digits.yaml'}",
    ]
    for kept in ("some/where/digit_clips.yaml", "{trainer: {max_epochs: 1}}"):
        assert resolve_configs(["--config", kept]) == ["--config", kept]


def test_fit_finds_a_shipped_config_by_name_from_any_folder(tmp_path: Path) -> None:
    assert cli.main(["fit", "--config", "digit_clips", *SHORT]) == 0
    last = tmp_path / "runs" / "digit_clips" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["global_step"] == 2
    assert cli.main(["summary", "--config=digit_clips.yaml", *SHORT[-2:]]) == 0
