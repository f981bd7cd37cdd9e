"""The Lightning callbacks every ``cnnlstm fit`` runs with.

:class:`LastCheckpoint` writes ``last.ckpt`` after every epoch and :class:`BestCheckpoint`
``best.ckpt`` for the best validation metric, :class:`TaskEarlyStopping` stops on that metric
(or not, with ``enabled: false``), :class:`EpochSeed` seeds every epoch from ``(seed, epoch)`` so
that a resumed run ends as an uninterrupted one, and :class:`LatestLink` points
``runs/<name>/checkpoints`` at the newest fit's checkpoints.
:class:`~cnnlstm.commands.train.CNNLSTMCLI` adds them.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnlstm.extras import importing

with importing("training (cnnlstm fit, validate, test, predict, summary)", "train"):
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import (
        Callback,
        EarlyStopping,
        ModelCheckpoint,
    )

from cnnlstm.commands import run_folders
from cnnlstm.data.loading import derive_seed
from cnnlstm.errors import ConfigError

__all__ = ["BestCheckpoint", "EpochSeed", "LastCheckpoint", "LatestLink", "TaskEarlyStopping"]


class TaskEarlyStopping(EarlyStopping):
    """Lightning's ``EarlyStopping`` that a config can switch off with ``enabled: false``.

    ``monitor: auto`` and ``mode: auto`` (the command line's defaults) stand for the task's
    validation metric (:func:`~cnnlstm.commands.train.monitored_metric`).

    Args:
        monitor: the logged metric to watch.
        patience: validation checks without improvement before training stops.
        mode: ``"min"`` when lower is better, ``"max"`` when higher is.
        min_delta: the least change that counts as an improvement.
        enabled: ``False`` turns early stopping off.
        verbose: log each decision.
        strict: fail when ``monitor`` is not logged.
        check_finite: stop when the metric becomes NaN or infinite.
        stopping_threshold: stop as soon as the metric reaches this value.
        divergence_threshold: stop as soon as the metric gets worse than this value.
        check_on_train_epoch_end: check at the end of each training epoch instead of after each
            validation; off by default, since an epoch resumed from a checkpoint written after
            its validation ends without logging the metric.
    """

    def __init__(
        self,
        monitor: str = "auto",
        *,
        patience: int = 5,
        mode: str = "auto",
        min_delta: float = 0.0,
        enabled: bool = True,
        verbose: bool = False,
        strict: bool = True,
        check_finite: bool = True,
        stopping_threshold: float | None = None,
        divergence_threshold: float | None = None,
        check_on_train_epoch_end: bool = False,
    ) -> None:
        if monitor == "auto" or mode == "auto":
            raise ConfigError(
                f"TaskEarlyStopping: monitor and mode have to be resolved before it is built (the "
                f"command line does), but got monitor={monitor!r}, mode={mode!r}."
            )
        super().__init__(
            monitor=monitor,
            patience=patience,
            mode=mode,
            min_delta=min_delta,
            verbose=verbose,
            strict=strict,
            check_finite=check_finite,
            stopping_threshold=stopping_threshold,
            divergence_threshold=divergence_threshold,
            check_on_train_epoch_end=check_on_train_epoch_end,
        )
        self.enabled = enabled

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.enabled:
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.enabled:
            super().on_validation_end(trainer, pl_module)


class LastCheckpoint(ModelCheckpoint):
    """Writes ``last.ckpt`` at the end of every training epoch, whatever the monitored metric did.

    Lightning 2.6's ``ModelCheckpoint(save_last=True)`` rewrites ``last.ckpt`` only in an epoch
    that also saved a top-k checkpoint (earlier versions wrote it every epoch), so with
    ``save_top_k: 1`` it held the last improvement, not the last epoch. This callback has no
    monitor: it saves every ``every_n_epochs`` epochs, after the validation of the epoch (at the
    end of the training epoch, or after each validation when there are several an epoch), on
    every Lightning version. :class:`~cnnlstm.commands.train.CNNLSTMCLI` adds it, beside the
    best checkpoint, when ``checkpoint.save_last`` is true.

    Args:
        dirpath: the folder; ``None`` for Lightning's default (beside the first logger's files).
        every_n_epochs: save every this many epochs.
    """

    def __init__(self, dirpath: str | None = None, *, every_n_epochs: int = 1) -> None:
        super().__init__(
            dirpath=dirpath,
            filename=self.CHECKPOINT_NAME_LAST,
            monitor=None,
            save_top_k=1,  # one file, overwritten: the newest
            save_last=False,
            every_n_epochs=every_n_epochs,
            enable_version_counter=False,
        )

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Nothing to carry into another run's folder (Lightning would warn that it changed)."""
        if run_folders.same_folder(state_dict.get("dirpath"), self.dirpath):
            super().load_state_dict(state_dict)


class BestCheckpoint(ModelCheckpoint):
    """Lightning's ``ModelCheckpoint``, for the best checkpoints by a metric, that stays the best
    of the whole training when a run resumes into a new folder.

    A run resumed from a checkpoint of another run folder (``--ckpt_path last`` does so: every
    run writes a folder of its own) keeps the best score so far, so that its folder only gets a
    model that beats it, and copies the best file(s) so far into its own folder at the start of
    training, so that the newest folder's best checkpoint is the best of all epochs. Lightning's
    own would start over (and warn that the folder changed). The command line's ``checkpoint``
    options are this class's; it takes ``ModelCheckpoint``'s arguments.
    """

    _carried: dict[str, Any] | None = None

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state; from another folder, keep the scores and copy the files later."""
        if run_folders.same_folder(state_dict.get("dirpath"), self.dirpath):
            super().load_state_dict(state_dict)
            return
        self.best_model_score = state_dict["best_model_score"]
        self.kth_value = state_dict.get("kth_value", self.kth_value)
        self.best_k_models = dict(state_dict.get("best_k_models", {}))
        self.best_model_path = state_dict.get("best_model_path", "")
        self.kth_best_model_path = state_dict.get("kth_best_model_path", "")
        self._carried = dict(self.best_k_models)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Copy the best files of the run this one resumed into this run's folder."""
        super().on_train_start(trainer, pl_module)
        carried, self._carried = self._carried, None
        if not carried or not self.dirpath:
            return
        moved: dict[str, str] = {}
        for old in carried:
            new = os.path.join(self.dirpath, os.path.basename(old))
            if os.path.isfile(old) and not run_folders.same_folder(old, new):
                moved[old] = new
                if trainer.is_global_zero:
                    os.makedirs(self.dirpath, exist_ok=True)
                    shutil.copy2(old, new)
        trainer.strategy.barrier("BestCheckpoint.copy")
        self.best_k_models = {moved.get(path, path): score for path, score in carried.items()}
        self.best_model_path = moved.get(self.best_model_path, self.best_model_path)
        self.kth_best_model_path = moved.get(self.kth_best_model_path, self.kth_best_model_path)


class EpochSeed(Callback):
    """Seeds torch's, numpy's and Python's global RNGs from ``(seed, epoch)`` at the start of
    every training epoch.

    What a training step draws from them (dropout, a random crop in the task) then depends on the
    seed and the epoch only, so a run resumed at the start of an epoch draws what an uninterrupted
    run draws there. (The DataModules seed what loading draws themselves:
    :mod:`cnnlstm.data.loading`.) All processes of a DDP run get the same seed.

    Args:
        seed: the run's seed (``seed_everything``).
    """

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = seed

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        seed = derive_seed(self.seed, trainer.current_epoch)
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)


class LatestLink(Callback):
    """Points ``runs/<name>/checkpoints`` at this run's checkpoints when it starts to fit (on
    the first process only), or says once why it cannot.

    A fit that writes no checkpoint (``--trainer.fast_dev_run``, which Lightning runs without
    checkpoints, or one that fails before its first) leaves no link to an empty folder: under
    ``fast_dev_run`` the link is not touched, and otherwise it is put back where it pointed
    before (or removed, when there was none) as the fit ends. :attr:`outcome` says which.
    """

    def __init__(self, alias: Path, target: Path) -> None:
        super().__init__()
        self.alias = alias
        self.target = target
        self.outcome: str | None = None
        """Why the link does not name this run's checkpoints, once the fit ended without any;
        else ``None``."""
        self._linked = False
        self._before: str | None = None  # where the link pointed before this run

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or not trainer.is_global_zero:
            return
        if getattr(trainer, "fast_dev_run", False):  # set by Lightning, untyped
            self.outcome = f"{self.alias} {self._left_as_it_was()}"
            return
        self._before = os.readlink(self.alias) if self.alias.is_symlink() else None
        why = run_folders.link_latest(self.alias, self.target)
        self._linked = why is None
        if why is not None:
            print(
                f"cnnlstm: note: this run's checkpoints go to {self.target}; {why}, so "
                f"{self.alias}/last.ckpt is not this run's"
                + (
                    " (a folder of an earlier cnnlstm: move it away to make it a link to the "
                    "newest run)"
                    if self.alias.is_dir() and not self.alias.is_symlink()
                    else ""
                ),
                file=sys.stderr,
                flush=True,
            )

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":
            self._unlink_if_empty()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._unlink_if_empty()  # quietly: the error is the one line a failed run prints

    def _unlink_if_empty(self) -> bool:
        """Undo the link when this run wrote no checkpoint; whether it did."""
        if not self._linked:
            return False
        self._linked = False
        if self.target.is_dir() and any(self.target.iterdir()):
            return False
        if self._before is None:
            self.alias.unlink(missing_ok=True)
        elif run_folders.link_latest(self.alias, self.alias.parent / self._before) is not None:
            self.alias.unlink(missing_ok=True)
            self._before = None
        self.outcome = f"{self.alias} {self._left_as_it_was()}"
        return True

    def _left_as_it_was(self) -> str:
        if self.alias.is_symlink():
            return f"still points at {os.readlink(self.alias)}"
        if self.alias.exists():
            return "is left as it was"
        return "is not made"
