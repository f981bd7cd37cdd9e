"""Every run gets a folder of its own: ``runs/<name>/version_<n>``, claimed atomically.

Several processes that claim at the same moment get different folders; two real ``cnnlstm fit``
runs of one config started together write their logs, config and checkpoints to two folders;
``runs/<name>/checkpoints`` links to the newest fit's checkpoints, and ``--ckpt_path last`` finds
the newest run's ``last.ckpt``.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from cnnlstm import cli
from cnnlstm.commands import run_folders
from cnnlstm.commands.callbacks import LatestLink
from cnnlstm.commands.configs import CONFIGS_DIR
from cnnlstm.commands.run_folders import claim_version, find_checkpoint, link_latest

CONFIG = CONFIGS_DIR / "digit_clips.yaml"
TINY = [
    "--data.init_args.train_samples=8",
    "--data.init_args.val_samples=4",
    "--data.init_args.test_samples=0",
    "--data.init_args.batch_size=4",
    "--model.init_args.model_args.channels=[4, 8]",
    "--model.init_args.model_args.hidden_size=8",
    "--trainer.max_epochs=2",
    "--trainer.log_every_n_steps=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]
RUN = Path("runs") / "digit_clips"


@pytest.fixture(autouse=True)
def _in_tmp_dir_on_one_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _claim_after(barrier: multiprocessing.synchronize.Barrier, parent: str, times: int) -> None:
    barrier.wait()  # every process claims at the same moment
    for _ in range(times):
        claim_version(parent)


def test_processes_claiming_at_the_same_moment_get_different_folders(tmp_path: Path) -> None:
    parent = tmp_path / "runs" / "same"
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    barrier = context.Barrier(4)
    processes = [
        context.Process(target=_claim_after, args=(barrier, str(parent), 5)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    # 20 claims, 20 folders: had two processes taken one number, there would be fewer
    assert sorted(path.name for path in parent.iterdir()) == sorted(
        f"version_{n}" for n in range(20)
    )


def test_a_claim_skips_what_is_there() -> None:
    parent = Path("runs") / "x"
    (parent / "version_3").mkdir(parents=True)
    (parent / "version_4").write_text("a file, not a run")
    (parent / "notes").mkdir()
    assert claim_version(parent).name == "version_5"
    assert claim_version(parent).name == "version_6"


def _fit_process(lr: float) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "cnnlstm.cli", "fit", "--config", str(CONFIG), *TINY]
    return subprocess.Popen(
        [*command, f"--model.init_args.lr={lr}"],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_two_fits_of_one_config_started_together_write_two_folders() -> None:
    runs = {lr: _fit_process(lr) for lr in (0.01, 0.02)}
    for process in runs.values():
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr.decode()[-3000:]
    folders = sorted(RUN.glob("version_*"))
    assert [folder.name for folder in folders] == ["version_0", "version_1"]
    learning_rates = []
    for folder in folders:
        saved = yaml.safe_load((folder / "config.yaml").read_text())
        learning_rates.append(saved["model"]["init_args"]["lr"])
        assert saved["checkpoint"]["dirpath"] == str(folder / "checkpoints")
        with (folder / "metrics.csv").open(newline="") as file:
            rows = list(csv.DictReader(file))
        assert [int(row["epoch"]) for row in rows if row["val/loss"]] == [0, 1]  # one run's
        assert len(list(folder.glob("events.out.tfevents.*"))) == 1
        last = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=False)
        assert last["hyper_parameters"]["lr"] == saved["model"]["init_args"]["lr"]
    assert sorted(learning_rates) == [0.01, 0.02]
    assert (RUN / "checkpoints").resolve() in [(f / "checkpoints").resolve() for f in folders]


def test_ckpt_path_last_takes_the_newest_run_that_has_one() -> None:
    for version, epoch in ((0, 0), (1, 5), (2, None)):  # version_2: a run that wrote nothing
        folder = RUN / f"version_{version}" / "checkpoints"
        folder.mkdir(parents=True)
        if epoch is not None:
            (folder / "last.ckpt").write_text(str(epoch))
            (folder / f"best-epoch={epoch}.ckpt").write_text(str(epoch))
    assert find_checkpoint(RUN, "last") == RUN / "version_1" / "checkpoints" / "last.ckpt"
    found = find_checkpoint(RUN, "best-{epoch}")
    assert found == RUN / "version_1" / "checkpoints" / "best-epoch=5.ckpt"
    assert find_checkpoint(RUN, "best") is None


def test_runs_of_an_earlier_layout_resume_and_keep_their_folder(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``runs/<name>/checkpoints`` was a folder before the run folders: ``--ckpt_path last``
    still finds its ``last.ckpt``, and the folder is left alone, with a note."""
    assert cli.main(["fit", "--config", str(CONFIG), *TINY, "--trainer.max_epochs=1"]) == 0
    (RUN / "checkpoints").unlink()  # the link: make the layout of an earlier cnnlstm
    (RUN / "version_0" / "checkpoints").rename(RUN / "checkpoints")
    capsys.readouterr()
    assert cli.main(["fit", "--config", str(CONFIG), *TINY, "--ckpt_path=last"]) == 0
    printed = capsys.readouterr()
    assert "--ckpt_path last: resuming from runs/digit_clips/checkpoints/last.ckpt" in printed.out
    assert "runs/digit_clips/checkpoints is a folder, not a link" in printed.err
    assert torch.load(RUN / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] == 0
    last = torch.load(RUN / "version_1" / "checkpoints" / "last.ckpt", weights_only=False)
    assert (last["epoch"], last["global_step"]) == (1, 4)  # resumed after the first epoch


def test_the_link_is_replaced_and_a_real_folder_is_left_alone() -> None:
    alias = Path("runs") / "checkpoints"
    for target in ("version_0/checkpoints", "version_1/checkpoints"):
        (Path("runs") / target).mkdir(parents=True)
        assert link_latest(alias, Path("runs") / target) is None
        assert alias.resolve() == (Path("runs") / target).resolve()
    assert os.readlink(alias) == os.path.join("version_1", "checkpoints")  # relative: movable
    folder = Path("old") / "checkpoints"
    folder.mkdir(parents=True)
    assert link_latest(folder, Path("runs") / "version_1") == f"{folder} is a folder, not a link"
    assert folder.is_dir() and not folder.is_symlink()


def test_only_the_other_processes_of_a_ddp_run_take_its_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CNNLSTM_RUN_FOLDERS", raising=False)
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        monkeypatch.delenv(key, raising=False)
    run_folders.hand_down({"folder": "runs/x/version_3"})  # delenv above undoes it after
    assert run_folders.handed_down() is None  # the process that handed it down
    # the module by its path (it imports only the standard library): children start fast
    code = (
        f"import importlib.util as u; s = u.spec_from_file_location('f', {run_folders.__file__!r})"
        "; m = u.module_from_spec(s); s.loader.exec_module(m); print(m.handed_down())"
    )
    rank_1 = {**os.environ, "LOCAL_RANK": "1"}  # as Lightning starts a DDP run's processes

    def run(command: str, env: dict[str, str]) -> str:
        done = subprocess.run(
            [sys.executable, "-c", command], env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    assert run(code, rank_1) == str({"folder": "runs/x/version_3"})
    assert run(code, dict(os.environ)) == "None"  # another cnnlstm this process started
    grandchild = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {code!r}])"
    assert run(grandchild, rank_1) == "None"  # not started by the run


@pytest.mark.parametrize(
    ("environment", "rank"),
    [({}, 0), ({"LOCAL_RANK": "1"}, 1), ({"RANK": "3", "LOCAL_RANK": "1"}, 3)],
)
def test_launch_rank(
    environment: dict[str, str], rank: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        monkeypatch.delenv(key, raising=False)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    assert run_folders.launch_rank() == rank


def test_a_fit_that_writes_no_checkpoint_leaves_no_dangling_link(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--trainer.fast_dev_run`` writes no checkpoint: ``runs/<name>/checkpoints`` is not made
    (and the empty run folder not kept); after a real fit, such a run, or one of no epochs,
    leaves the link at the real fit's checkpoints, and says so."""
    link = RUN / "checkpoints"
    assert cli.main(["fit", "--config", str(CONFIG), *TINY, "--trainer.fast_dev_run=true"]) == 0
    printed = capsys.readouterr().out
    assert "no checkpoint was written (--trainer.fast_dev_run writes none)" in printed
    assert "runs/digit_clips/checkpoints is not made" in printed
    assert not link.is_symlink() and not link.exists()
    assert not list(RUN.glob("version_*"))  # the empty folder is given back

    assert cli.main(["fit", "--config", str(CONFIG), *TINY, "--trainer.max_epochs=1"]) == 0
    first = RUN / "version_0" / "checkpoints"
    assert (first / "last.ckpt").is_file()
    for extra in ("--trainer.fast_dev_run=true", "--trainer.max_epochs=0"):
        capsys.readouterr()
        assert cli.main(["fit", "--config", str(CONFIG), *TINY, extra]) == 0
        printed = capsys.readouterr().out
        assert "runs/digit_clips/checkpoints still points at version_0/checkpoints" in printed
        assert link.is_symlink() and link.resolve() == first.resolve()
        assert (link / "last.ckpt").is_file()
    # the run of no epochs kept its folder (it wrote logs) but has no checkpoints
    assert sorted(f.name for f in RUN.glob("version_*")) == ["version_0", "version_1"]
    assert not (RUN / "version_1" / "checkpoints").exists()


def test_a_fit_that_fails_before_its_first_checkpoint_puts_the_link_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = RUN / "version_0" / "checkpoints"
    before.mkdir(parents=True)
    (before / "last.ckpt").write_text("0")
    alias = RUN / "checkpoints"
    assert link_latest(alias, before) is None
    trainer = SimpleNamespace(fast_dev_run=False, is_global_zero=True)
    link = LatestLink(alias, RUN / "version_1" / "checkpoints")
    link.setup(trainer, None, "fit")  # type: ignore[arg-type]
    assert os.readlink(alias) == os.path.join("version_1", "checkpoints")  # dangling meanwhile
    link.on_exception(trainer, None, RuntimeError("stopped"))  # type: ignore[arg-type]
    assert os.readlink(alias) == os.path.join("version_0", "checkpoints")
    assert link.outcome == "runs/digit_clips/checkpoints still points at version_0/checkpoints"
    assert capsys.readouterr().err == ""  # a failed run prints its error line alone


def test_a_fit_that_fails_in_its_first_step_leaves_no_folder_and_one_error_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A mistake found once training started (an image model on clips: its first step) leaves
    no empty ``version_<n>`` behind; an earlier run's folder and the link to it stay."""
    assert cli.main(["fit", "--config", str(CONFIG), *TINY, "--trainer.max_epochs=1"]) == 0
    first = RUN / "version_0"
    kept = sorted(path.relative_to(first) for path in first.rglob("*"))
    capsys.readouterr()
    image_model = [
        "--model.init_args.model=image_sequence_classifier",
        '--model.init_args.model_args={"bridge": "hilbert", "image_size": [32, 32]}',
    ]
    assert cli.main(["fit", "--config", str(CONFIG), *TINY, *image_model]) == 2
    err = capsys.readouterr().err
    *before, last = err.splitlines()
    assert last.startswith("cnnlstm: error: ") and "expected a 4-D input" in last, err
    assert all(line.startswith("INFO: ") for line in before), err  # nothing said about it
    assert [path.name for path in RUN.glob("version_*")] == ["version_0"]  # version_1 is gone
    assert sorted(path.relative_to(first) for path in first.rglob("*")) == kept
    assert (RUN / "checkpoints").resolve() == (first / "checkpoints").resolve()
    # the next run takes the number the failed one gave back
    assert run_folders.next_version(RUN) == 1


def _events(folder: Path, scalars: int) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(folder))
    for step in range(scalars):
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
    writer.close()


@pytest.mark.parametrize(
    ("extra", "gone"),
    [
        (None, True),  # what a run writes as it starts, nothing more
        ("checkpoints/last.ckpt", False),
        ("metrics.csv", False),  # metrics were logged
        ("events", False),  # an event file with a scalar in it
        ("predictions/predictions.pt", False),
        ("notes.txt", False),  # something a person put there
    ],
)
def test_give_back_removes_only_a_folder_of_what_a_run_writes_as_it_starts(
    extra: str | None, gone: bool
) -> None:
    folder = claim_version(RUN)
    (folder / "config.yaml").write_text("model: {}\n")
    (folder / "hparams.yaml").write_text("{}\n")
    (folder / "checkpoints").mkdir()
    _events(folder, scalars=0)
    if extra == "events":
        _events(folder, scalars=1)
        assert len(list(folder.glob("events.out.tfevents.*"))) == 2
    elif extra is not None:
        (folder / extra).parent.mkdir(exist_ok=True)
        (folder / extra).write_text("x")
    before = sorted(path.name for path in folder.rglob("*"))
    assert run_folders.give_back(folder) is gone
    assert folder.exists() is not gone
    if not gone:  # left as it was
        assert sorted(path.name for path in folder.rglob("*")) == before
