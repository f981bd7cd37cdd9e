"""``cnnlstm fit``, ``validate``, ``test``, ``predict`` and ``summary``: the Lightning side of the
command line.

:class:`CNNLSTMCLI` is Lightning's ``LightningCLI`` with the command line's defaults: every run in
a folder of its own, ``runs/<name>/version_<n>`` (claimed atomically:
:mod:`cnnlstm.commands.run_folders`), with its CSV and TensorBoard logs and its checkpoints
(``checkpoints/last.ckpt``, the last epoch, and ``checkpoints/best.ckpt``, the best by the task's
validation metric); ``runs/<name>/checkpoints`` links to the newest fit's. Early stopping on the
same metric, every epoch seeded from ``(seed, epoch)`` so that a resumed run ends as an
uninterrupted one, a progress bar, and predictions written to ``runs/<name>/predictions``.
:func:`build_cli` runs it on a command line, :func:`run_summary` builds a config's task without
training and prints its model.

:mod:`cnnlstm.cli` imports this module only for the commands that need it, so that ``cnnlstm
detect``, ``generate``, ``benchmark``, ``demo`` and ``--help`` start without importing Lightning
and jsonargparse.
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import io
import logging
import os
import random
import shutil
import sys
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Subset

from cnnlstm.extras import importing

with importing("training (cnnlstm fit, validate, test, predict, summary)", "train"):
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import (
        BasePredictionWriter,
        Callback,
        EarlyStopping,
        ModelCheckpoint,
        ProgressBar,
        RichProgressBar,
        TQDMProgressBar,
    )
    from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
    from rich.console import Console

from cnnlstm.commands import atomic_file, run_folders
from cnnlstm.commands.configs import resolve_configs
from cnnlstm.data.loading import derive_seed
from cnnlstm.errors import CNNLSTMError, ConfigError
from cnnlstm.summary import Summary, summary

__all__ = [
    "CNNLSTMCLI",
    "RUNS_DIR",
    "BestCheckpoint",
    "EpochSeed",
    "LastCheckpoint",
    "PredictionWriter",
    "TaskEarlyStopping",
    "build_cli",
    "metric_mode",
    "monitored_metric",
    "prediction_rows",
    "quiet_lightning",
    "run_name",
    "run_summary",
]

RUNS_DIR = "runs"
"""Where runs write logs, checkpoints and predictions, relative to the working directory."""

_LOWER_IS_BETTER = ("loss", "mse", "mae", "cer", "wer", "error")
_HIGHER_IS_BETTER = ("acc", "f1", "ssim", "psnr", "auroc", "precision", "recall")


def metric_mode(metric: str) -> Literal["min", "max"] | None:
    """``"min"`` for a loss or an error, ``"max"`` for a score, ``None`` when the name says neither.

    Example:
        >>> metric_mode("val/loss"), metric_mode("val/acc"), metric_mode("val/thing")
        ('min', 'max', None)
    """
    name = metric.rsplit("/", 1)[-1].lower()
    if any(word in name for word in _LOWER_IS_BETTER):
        return "min"
    if any(word in name for word in _HIGHER_IS_BETTER):
        return "max"
    return None


def monitored_metric(task: type[Any] | object) -> tuple[str, Literal["min", "max"]]:
    """The validation metric a task is judged by, and whether lower or higher is better.

    A task class says so with its ``monitor`` and ``monitor_mode`` class attributes
    (:class:`~cnnlstm.tasks.base.TaskBase`: ``val/loss``, lower is better); a module without
    them is judged by ``val/loss``.

    Example:
        >>> from cnnlstm.tasks import ClassificationTask
        >>> monitored_metric(ClassificationTask)
        ('val/acc', 'max')
    """
    klass = task if isinstance(task, type) else type(task)
    metric, mode = getattr(klass, "monitor", None), getattr(klass, "monitor_mode", None)
    if isinstance(metric, str) and mode in ("min", "max"):
        return metric, mode
    return "val/loss", "min"


def _join_batches(outputs: Sequence[Any]) -> Any:
    """Per-batch outputs as one: tensors concatenated on the batch axis, lists chained."""
    if outputs and all(isinstance(out, Tensor) for out in outputs):
        tensors = [out.detach().cpu() for out in outputs]
        if all(t.dim() > 0 and t.shape[1:] == tensors[0].shape[1:] for t in tensors):
            return torch.cat(tensors)  # (N, ...)
        return tensors
    joined: list[Any] = []
    for out in outputs:
        if isinstance(out, (list, tuple)):
            joined.extend(out)
        else:
            joined.append(out)
    return joined


def _classes_of(trainer: pl.Trainer, pl_module: pl.LightningModule) -> list[str] | None:
    """The class names of a classifier's predictions, when its DataModule names its items."""
    from cnnlstm.tasks import ClassificationTask  # lazy: the tasks import the model zoo

    data = getattr(trainer, "datamodule", None)
    classes = getattr(data, "classes", None)
    if not isinstance(pl_module, ClassificationTask) or not callable(
        getattr(data, "predict_items", None)
    ):
        return None
    if not isinstance(classes, list) or len(classes) != pl_module.num_classes:
        return None
    return [str(name) for name in classes]


def prediction_rows(
    probabilities: Tensor,
    indices: Sequence[int],
    items: Sequence[tuple[str, int | None]],
    classes: Sequence[str],
    *,
    top: int = 3,
) -> list[dict[str, str]]:
    """One row per clip of class probabilities ``(N, K)`` whose row ``r`` is item ``indices[r]``.

    The items of one clip (the windows of sliding sampling) are averaged: the clip's
    probabilities are the mean of its items'. Rows come in the order of the clips' first items.

    Args:
        probabilities: ``(N, K)``, one row per predicted item.
        indices: the dataset index of each row.
        items: ``(clip, label or None)`` of each dataset index, as
            :meth:`~cnnlstm.data.VideoDataModule.predict_items` gives them.
        classes: the ``K`` class names.
        top: how many classes the ``top3`` column lists.

    Returns:
        Dicts with the keys ``clip``, ``predicted``, ``probability``, ``true`` (``""`` when the
        class is not known), ``top3`` (``"name (p); name (p); ..."``; ``top<top>`` for another
        ``top``) and ``items`` (the dataset indices of the clip's items, as ``predictions.pt``
        lists them, space-separated).

    Example:
        >>> p = torch.tensor([[0.2, 0.8], [0.6, 0.4], [0.9, 0.1]])
        >>> rows = prediction_rows(p, [0, 1, 2], [("a.mp4", 1), ("a.mp4", 1), ("b.mp4", None)],
        ...                        ["cat", "dog"])
        >>> [(r["clip"], r["predicted"], r["probability"], r["true"]) for r in rows]
        [('a.mp4', 'dog', '0.6000', 'dog'), ('b.mp4', 'cat', '0.9000', '')]
    """
    clips: dict[str, list[int]] = {}
    for row, index in enumerate(indices):
        clips.setdefault(items[index][0], []).append(row)
    rows = []
    for clip, where in clips.items():
        mean = probabilities[where].double().mean(dim=0)  # (K,)
        best = torch.topk(mean, min(top, len(classes)))
        label = items[indices[where[0]]][1]
        names = [classes[int(k)] for k in best.indices]
        rows.append(
            {
                "clip": clip,
                "predicted": names[0],
                "probability": f"{float(best.values[0]):.4f}",
                "true": "" if label is None else classes[label],
                f"top{top}": "; ".join(
                    f"{name} ({float(p):.4f})" for name, p in zip(names, best.values, strict=True)
                ),
                "items": " ".join(str(int(indices[r])) for r in where),
            }
        )
    return rows


def text_rows(
    texts: Sequence[str],
    positions: Sequence[int],
    items: Sequence[tuple[str, str | None]],
    indices: Sequence[int],
) -> list[dict[str, str]]:
    """One CSV row per predicted text line: ``file``, ``predicted``, ``true`` (empty when not
    known) and ``item`` (its index in ``predictions.pt``), in prediction order.

    Args:
        texts: the decoded strings, in prediction order.
        positions: each string's position in the predict set.
        items: ``(file, true text or None)`` by position (``predict_items()``).
        indices: each string's index as ``predictions.pt`` gives it.

    Example:
        >>> text_rows(["ab"], [1], [("a.png", None), ("b.png", "ab")], [7])
        [{'file': 'b.png', 'predicted': 'ab', 'true': 'ab', 'item': '7'}]
    """
    rows = []
    for text, position, index in zip(texts, positions, indices, strict=True):
        file, true = items[position]
        rows.append({"file": file, "predicted": text, "true": true or "", "item": str(index)})
    return rows


def _text_summary(rows: Sequence[dict[str, str]]) -> str:
    """``40 lines; 13 of 40 lines of a known text read exactly``."""
    text = f"{len(rows)} line{'' if len(rows) == 1 else 's'}"
    known = [row for row in rows if row["true"]]
    if known:
        right = sum(row["predicted"] == row["true"] for row in known)
        text += f"; {right} of {len(known)} lines of a known text read exactly"
    return text


def _summary(rows: Sequence[dict[str, str]]) -> str:
    """``6 clips; predicted '3' 4x, '7' 2x; accuracy 0.500 (3 of 6 clips of a known class)``."""
    counts = Counter(row["predicted"] for row in rows).most_common()
    shown = ", ".join(f"{name!r} {count}x" for name, count in counts[:5])
    more = f" and {len(counts) - 5} more classes" if len(counts) > 5 else ""
    text = f"{_clips(len(rows))}; predicted {shown}{more}"
    known = [row for row in rows if row["true"]]
    if known:
        right = sum(row["predicted"] == row["true"] for row in known)
        text += (
            f"; accuracy {right / len(known):.3f} ({right} of {_clips(len(known))} of a known "
            "class)"
        )
    return text


def _clips(count: int) -> str:
    return f"{count} clip{'' if count == 1 else 's'}"


class PredictionWriter(BasePredictionWriter):
    """Saves what ``cnnlstm predict`` returns to ``output_dir/predictions.pt``, and a
    classifier's predictions per clip to ``output_dir/predictions.csv``.

    The ``.pt`` file holds ``{"predictions": ..., "indices": [...]}``: the batch outputs joined
    (class probabilities ``(N, K)``, forecast frames ``(N, K, C, H, W)``, or the list of strings
    a recognizer reads) and each item's index in the dataset the DataModule read: a predict set
    that is a ``torch.utils.data.Subset`` (a test split; Subsets of Subsets too) is looked
    through, so ``indices`` are rows of the file for
    :class:`~cnnlstm.data.ArrayDataModule` (of ``predict_path``, or of ``path`` for its shuffled
    test split), not positions in the split (:meth:`dataset_indices`). With several processes
    each writes ``predictions_rank<r>.pt``. Read it with ``torch.load(path)``.

    The CSV is written for a :class:`~cnnlstm.tasks.ClassificationTask` whose DataModule names
    its classes and its predict items (``classes`` and ``predict_items()``, as
    :class:`~cnnlstm.data.VideoDataModule` does), with one process and one predict loader. It has
    one row per clip, whose items are averaged (the windows of ``sliding`` sampling: the mean of
    their probabilities), with the columns of :func:`prediction_rows`: ``clip`` (its path
    relative to the folder predicted on), ``predicted`` (a class name), ``probability``, ``true``
    (empty when not known), ``top3`` and ``items`` (the clip's indices in ``predictions.pt``). It is
    written to a temporary file and then renamed, so a reader never sees half a file. A line
    then says how many clips were predicted as what, and the accuracy when classes are known.
    A recognizer whose DataModule names its predict items (``predict_items()`` giving
    ``(file, text or None)``, as :class:`~cnnlstm.data.text_folder.TextLineDataModule` does)
    gets a CSV too, with the columns of :func:`text_rows`: ``file``, ``predicted``, ``true`` and
    ``item``. A run that writes no CSV removes the one an earlier run left beside the ``.pt``.

    Before predicting, a classifier that predicts another number of classes than its data has
    (a checkpoint trained on other class folders) stops the run with a :class:`ConfigError`.

    Args:
        output_dir: the folder; ``None`` for ``runs/<name>/predictions``.
    """

    def __init__(self, output_dir: str | None = None) -> None:
        super().__init__(write_interval="epoch")
        self.output_dir = output_dir
        self.path: Path | None = None
        """The file written by the last ``predict``, or ``None`` before one."""
        self.csv_path: Path | None = None
        """The CSV written by the last ``predict``, or ``None`` when it wrote none."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Before predicting, check that the model predicts as many classes as the data has."""
        if stage != "predict":
            return
        from cnnlstm.tasks import ClassificationTask

        data = getattr(trainer, "datamodule", None)
        found = getattr(data, "num_classes", None)
        if not isinstance(pl_module, ClassificationTask) or not isinstance(found, int):
            return
        built = pl_module.num_classes
        if built != found:
            names = getattr(data, "classes", None)
            shown = f" {list(names)}" if names else ""
            fix = (
                "the class names come from data.init_args.root, so set it to the class folders "
                "the model was trained on (and data.init_args.predict_root to the clips to "
                "predict on), or predict"
                if hasattr(data, "predict_root")
                else "predict on the data the model was trained on, or"
            )
            raise ConfigError(
                f"predict: the model (from the checkpoint, when one is given) predicts {built} "
                f"classes, but the data has {found} classes{shown}; {fix} with a checkpoint "
                f"trained on these {found} classes."
            )

    @staticmethod
    def dataset_indices(dataset: Any, positions: Sequence[int]) -> list[int]:
        """The indices of ``positions`` in ``dataset`` in the dataset under its Subsets.

        Example:
            >>> from torch.utils.data import Subset
            >>> rows = Subset(Subset(range(10), [7, 1, 4, 9]), [2, 0])
            >>> PredictionWriter.dataset_indices(rows, [0, 1])
            [4, 7]
        """
        indices = [int(i) for i in positions]
        while isinstance(dataset, Subset):
            indices = [int(dataset.indices[i]) for i in indices]
            dataset = dataset.dataset
        return indices

    def write_on_epoch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        predictions: Sequence[Any],
        batch_indices: Sequence[Any],
    ) -> None:
        def indices(batches: Sequence[Any]) -> list[int]:
            return [int(i) for batch in batches for i in (batch or [])]

        loaders = trainer.predict_dataloaders
        loaders = list(loaders) if isinstance(loaders, (list, tuple)) else [loaders]

        def rows(k: int, positions: list[int]) -> list[int]:
            dataset = getattr(loaders[k], "dataset", None) if k < len(loaders) else None
            return self.dataset_indices(dataset, positions)

        # batch_indices has one list per dataloader; predictions too with several dataloaders
        several = len(trainer.num_predict_batches) > 1
        positions: list[int] = []
        if several:
            joined: Any = [_join_batches(p) for p in predictions]
            where: Any = [rows(k, indices(b)) for k, b in enumerate(batch_indices)]
        else:
            joined = _join_batches(predictions)
            positions = indices(batch_indices[0]) if batch_indices else []
            where = rows(0, positions)
        folder = Path(self.output_dir or Path(RUNS_DIR) / "predictions")
        folder.mkdir(parents=True, exist_ok=True)
        name = (
            "predictions.pt"
            if trainer.world_size == 1
            else f"predictions_rank{trainer.global_rank}.pt"
        )
        self.path = folder / name
        torch.save({"predictions": joined, "indices": where}, self.path)
        count = len(joined)
        print(f"cnnlstm: wrote {count} predictions to {self.path}")
        self.csv_path = None
        data: Any = getattr(trainer, "datamodule", None)
        classes = _classes_of(trainer, pl_module)
        lines = (
            not several
            and isinstance(joined, list)
            and all(isinstance(t, str) for t in joined)
            and callable(getattr(data, "predict_items", None))
        )
        if several or trainer.world_size != 1 or not (lines or classes is not None):
            if trainer.world_size == 1:  # a CSV of an earlier run would not match the new .pt
                (folder / "predictions.csv").unlink(missing_ok=True)
            return
        items = data.predict_items()  # by position in the predict set
        if lines:
            table = text_rows(joined, positions, items, where)
        elif isinstance(joined, Tensor) and classes is not None:
            table = prediction_rows(joined, positions, items, classes)
            index_of = dict(zip(positions, where, strict=True))
            for row in table:  # the items column lists what predictions.pt calls them
                row["items"] = " ".join(str(index_of[int(p)]) for p in row["items"].split())
        else:
            (folder / "predictions.csv").unlink(missing_ok=True)
            return
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(table[0]) if table else ["clip"])
        writer.writeheader()
        writer.writerows(table)
        self.csv_path = folder / "predictions.csv"
        with atomic_file(self.csv_path) as temp:
            temp.write_text(text.getvalue(), encoding="utf-8")
        source = getattr(data, "predict_source", None)
        kind = "lines" if lines else "clips"
        under = f" ({kind} under {source})" if source is not None else ""
        summary = _text_summary(table) if lines else _summary(table)
        print(f"cnnlstm: wrote {self.csv_path}{under}: {summary}")


class TaskEarlyStopping(EarlyStopping):
    """Lightning's ``EarlyStopping`` that a config can switch off with ``enabled: false``.

    ``monitor: auto`` and ``mode: auto`` (the command line's defaults) stand for the task's
    validation metric (:func:`monitored_metric`).

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
    every Lightning version. :class:`CNNLSTMCLI` adds it, beside the best checkpoint, when
    ``checkpoint.save_last`` is true.

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
        if _same_folder(state_dict.get("dirpath"), self.dirpath):
            super().load_state_dict(state_dict)


def _same_folder(one: Any, other: Any) -> bool:
    if not isinstance(one, str | Path) or not isinstance(other, str | Path):
        return bool(one == other)
    return os.path.realpath(one) == os.path.realpath(other)


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
        if _same_folder(state_dict.get("dirpath"), self.dirpath):
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
            if os.path.isfile(old) and not _same_folder(old, new):
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


class _LatestLink(Callback):
    """Points ``runs/<name>/checkpoints`` at this run's checkpoints when it starts to fit (on
    the first process only), or says once why it cannot."""

    def __init__(self, alias: Path, target: Path) -> None:
        super().__init__()
        self.alias = alias
        self.target = target

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or not trainer.is_global_zero:
            return
        why = run_folders.link_latest(self.alias, self.target)
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


def _logger_groups(loggers: Any) -> dict[tuple[str, str], list[Any]]:
    """The ``init_args`` of the configured loggers without a ``version``, by the folder
    ``(save_dir, name)`` they write to."""
    entries = loggers if isinstance(loggers, list) else [loggers]
    groups: dict[tuple[str, str], list[Any]] = {}
    for logger in entries:
        init = getattr(logger, "init_args", None)
        if init is None or getattr(init, "version", "set") is not None:
            continue
        save_dir, name = getattr(init, "save_dir", None), getattr(init, "name", None)
        if isinstance(save_dir, str) and isinstance(name, str | None):
            groups.setdefault((save_dir, name or ""), []).append(init)
    return groups


def _shown(path: str) -> str:
    """``path`` relative to the current folder when it is under it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _progress_bar() -> ProgressBar:
    """Rich's progress bar when rich works here, else tqdm's."""
    try:
        return RichProgressBar()
    except (ImportError, ModuleNotFoundError):
        return TQDMProgressBar()


def _import(class_path: str) -> Any:
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


class CNNLSTMCLI(LightningCLI):
    """``LightningCLI`` with the command line's defaults: loggers, checkpoints, early stopping.

    ``model:`` takes any ``LightningModule`` (the tasks of :mod:`cnnlstm.tasks`) and ``data:``
    any ``LightningDataModule``, each as ``class_path`` and ``init_args``.

    Every run gets a folder of its own, ``runs/<name>/version_<n>``, claimed when the config is
    read (:func:`~cnnlstm.commands.run_folders.claim_version`: two runs started together never
    share one). ``trainer.logger`` defaults to a CSV and a TensorBoard logger writing there, and
    the checkpoints go to its ``checkpoints`` folder: ``last.ckpt``, written after every epoch
    (:class:`LastCheckpoint`), and ``best.ckpt``, the best by the task's metric
    (:class:`BestCheckpoint`). ``runs/<name>/checkpoints`` links to the newest ``fit``'s
    checkpoints. ``--ckpt_path last`` and ``--ckpt_path best`` name that file of the newest run
    folder that has one: a resumed run starts a new folder and goes on from there.

    Added to Lightning's options: ``checkpoint`` (:class:`BestCheckpoint`; ``save_last`` adds
    the :class:`LastCheckpoint`), ``early_stopping`` (:class:`TaskEarlyStopping`, patience 5) and
    ``prediction_writer`` (:class:`PredictionWriter`). ``monitor: auto`` and ``mode: auto``
    become the task's metric (:func:`monitored_metric`). A progress bar is added unless
    ``trainer.enable_progress_bar`` is false; with ``seed_everything`` an :class:`EpochSeed`
    seeds every epoch. The task's own ``configure_optimizers`` is used (``lr``, ``scheduler``).

    Args:
        *args: ``LightningCLI``'s.
        run_name: ``<name>`` in the paths above.
        runs_dir: the folder the runs go to.
        extra_callbacks: callbacks added to the trainer (besides the configured ones).
        execute: ``False`` builds the task, data and trainer but does not run the command.
        claim_folder: ``False`` claims no run folder (to build a task without running it).
        **kwargs: ``LightningCLI``'s; ``args=[...]`` takes the command line.
    """

    def __init__(
        self,
        *args: Any,
        run_name: str = "cnnlstm",
        runs_dir: str = RUNS_DIR,
        extra_callbacks: Sequence[Callback] = (),
        execute: bool = True,
        claim_folder: bool = True,
        **kwargs: Any,
    ) -> None:
        self.run_name = run_name
        self.runs_dir = runs_dir
        self.extra_callbacks = list(extra_callbacks)
        self.execute = execute
        self.claim_folder = claim_folder
        self.run_folder: Path | None = None
        """``runs/<name>/version_<n>``: this run's folder, once claimed (or handed down)."""
        self._claimed: list[Path] = []
        self._links_latest = False  # runs/<name>/checkpoints is to point at this run's
        self.monitor: tuple[str, str] = ("val/loss", "min")
        defaults: dict[str, Any] = {
            "model_class": pl.LightningModule,
            "datamodule_class": pl.LightningDataModule,
            "subclass_mode_model": True,
            "subclass_mode_data": True,
            "seed_everything_default": 0,
            "auto_configure_optimizers": False,
            "trainer_defaults": {"logger": self._default_loggers()},
            "save_config_kwargs": {"overwrite": True},
            "parser_kwargs": {"prog": "cnnlstm"},
        }
        super().__init__(*args, **{**defaults, **kwargs})

    @property
    def run_dir(self) -> Path:
        """``runs_dir/run_name``: the folder of this config's run folders."""
        return Path(self.runs_dir) / self.run_name

    def _default_loggers(self) -> list[dict[str, Any]]:
        common = {"save_dir": self.runs_dir, "name": self.run_name}
        return [
            {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": common},
            {
                "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                "init_args": {**common, "default_hp_metric": False},
            },
        ]

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(BestCheckpoint, "checkpoint")
        parser.add_lightning_class_args(TaskEarlyStopping, "early_stopping")
        parser.add_lightning_class_args(PredictionWriter, "prediction_writer")
        parser.set_defaults(
            {
                "checkpoint.dirpath": None,  # the run folder's checkpoints
                "checkpoint.filename": "best",
                "checkpoint.monitor": "auto",
                "checkpoint.mode": "auto",
                "checkpoint.save_last": True,
                "checkpoint.save_top_k": 1,
                "early_stopping.monitor": "auto",
                "early_stopping.mode": "auto",
                "early_stopping.patience": 5,
            }
        )

    def _config(self) -> Any:
        return self.config[self.subcommand] if self.subcommand else self.config

    def before_instantiate_classes(self) -> None:
        """Resolve ``monitor: auto`` / ``mode: auto`` to the task's metric, fill default paths."""
        config = self._config()
        class_path = config.model.class_path
        try:
            task_class = _import(class_path)
        except (ImportError, AttributeError):
            raise ConfigError(f"model.class_path {class_path!r} cannot be imported.") from None
        metric, mode = monitored_metric(task_class)
        self.monitor = (metric, mode)
        for key in ("checkpoint", "early_stopping"):
            group = config[key]
            if group.monitor == "auto":
                group.monitor = metric
            if group.mode == "auto":
                guessed = mode if group.monitor == metric else metric_mode(str(group.monitor))
                if guessed is None:
                    raise ConfigError(
                        f"{key}.mode has to be 'min' or 'max' for {key}.monitor="
                        f"{group.monitor!r} (its name does not say which is better), but got "
                        f"'auto'."
                    )
                group.mode = guessed
        if config.prediction_writer.output_dir is None:
            config.prediction_writer.output_dir = str(self.run_dir / "predictions")
        _check_sync_batchnorm(config.trainer)
        self._place_run(config)

    def _place_run(self, config: Any) -> None:
        """Claim the run folder, point the loggers and checkpoints at it, resolve ``ckpt_path``.

        The first process claims; the other processes of a DDP run that Lightning started take
        what it handed down; those another launcher started (torchrun) claim nothing and leave
        the folders to Lightning, which uses the first process's.
        """
        groups = _logger_groups(config.trainer.logger)
        handed = run_folders.handed_down()
        if handed is not None:
            run_folder = Path(handed["folder"])
            versions = {(str(s), str(n)): int(v) for s, n, v in handed["loggers"]}
            config.ckpt_path = handed.get("ckpt_path")
        else:
            self._resolve_ckpt_path(config)
            if not self.claim_folder or run_folders.launch_rank() != 0:
                return
            run_folder, versions = self._claim_folders(groups)
            run_folders.hand_down(
                {
                    "folder": str(run_folder),
                    "loggers": [[s, n, v] for (s, n), v in versions.items()],
                    "ckpt_path": config.get("ckpt_path"),
                }
            )
        self.run_folder = run_folder
        for key, inits in groups.items():
            for init in inits:
                init.version = versions.get(key)
        if config.checkpoint.dirpath is None:
            config.checkpoint.dirpath = str(run_folder / "checkpoints")
            self._links_latest = True

    def _claim_folders(
        self, groups: dict[tuple[str, str], list[Any]]
    ) -> tuple[Path, dict[tuple[str, str], int]]:
        """Claim this run's folder, and a ``version_<n>`` for each logger folder elsewhere.

        Returns:
            The run folder, and the version number of each logger folder ``(save_dir, name)`` in
            ``groups`` (the run folder's for loggers that write to :attr:`run_dir`).
        """
        run_folder = run_folders.claim_version(self.run_dir)
        self._claimed.append(run_folder)
        versions: dict[tuple[str, str], int] = {}
        for save_dir, name in groups:
            folder = run_folder
            if not _same_folder(Path(save_dir) / name, self.run_dir):
                folder = run_folders.claim_version(Path(save_dir) / name)
                self._claimed.append(folder)
            versions[(save_dir, name)] = int(folder.name.removeprefix("version_"))
        return run_folder, versions

    def _resolve_ckpt_path(self, config: Any) -> None:
        """``--ckpt_path last`` / ``best``: that file of the newest run folder that has one.

        A path through ``runs/<name>/checkpoints`` (the link to the newest run) is resolved to
        the file it names now, before this run moves the link.

        Raises:
            ConfigError: ``validate``, ``test`` or ``predict`` with ``last`` or ``best`` and no
                such file (``fit`` starts from scratch then, as Lightning does).
        """
        ckpt = config.get("ckpt_path")
        if not isinstance(ckpt, str) or "://" in ckpt or ckpt == "hpc":
            return
        if ckpt not in ("last", "best"):
            if os.path.realpath(ckpt) != os.path.abspath(ckpt):  # through a link
                config.ckpt_path = os.path.realpath(ckpt)
            return
        filename = "last" if ckpt == "last" else str(config.checkpoint.filename or "{epoch}")
        dirpath = config.checkpoint.dirpath
        found = (
            run_folders.find_checkpoint(self.run_dir, filename)
            if dirpath is None
            else run_folders.newest_match(Path(dirpath), filename)
        )
        where = f"{dirpath}" if dirpath is not None else f"{self.run_dir}/version_*/checkpoints"
        if found is not None:
            config.ckpt_path = str(found)
            if run_folders.launch_rank() == 0:
                doing = "resuming from" if self.subcommand == "fit" else "checkpoint"
                print(f"cnnlstm: --ckpt_path {ckpt}: {doing} {found}", flush=True)
            return
        name = run_folders.checkpoint_pattern(filename)
        if self.subcommand != "fit":
            raise ConfigError(
                f"--ckpt_path {ckpt}: there is no {name} under {where} yet; train first "
                f"(cnnlstm fit with the same config), or pass a .ckpt file."
            )
        config.ckpt_path = None
        if run_folders.launch_rank() == 0:
            print(
                f"cnnlstm: --ckpt_path {ckpt}: no {name} under {where} yet; training starts "
                f"from scratch",
                file=sys.stderr,
                flush=True,
            )

    def instantiate_classes(self) -> None:
        """Build the task, data and trainer; a rejected argument becomes a ``ConfigError``.

        A run that cannot be built gives its claimed folder back (it is empty).
        """
        try:
            self._instantiate_classes()
        except BaseException:
            for folder in self._claimed:
                run_folders.release(folder)
            raise

    def _instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except CNNLSTMError:
            raise
        except (ValueError, TypeError) as error:
            # jsonargparse wraps what a constructor raised in its own ValueError: unwrap it
            root: BaseException = error
            while root.__cause__ is not None:
                root = root.__cause__
            if isinstance(root, CNNLSTMError):
                raise root from None
            raise ConfigError(f"the config cannot be built: {root}") from None

    def instantiate_trainer(self, **kwargs: Any) -> pl.Trainer:
        trainer_config = self._get(self.config_init, "trainer", default={})
        callbacks = trainer_config.get("callbacks") or []
        callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
        callbacks.extend(self.extra_callbacks)
        has_bar = any(isinstance(c, ProgressBar) for c in callbacks)
        if trainer_config.get("enable_progress_bar", True) is not False and not has_bar:
            callbacks.append(_progress_bar())
        seed = self._config().get("seed_everything")
        if isinstance(seed, int) and not isinstance(seed, bool):
            callbacks.append(EpochSeed(seed))
        trainer = super().instantiate_trainer(**{"callbacks": callbacks, **kwargs})
        best = self._get(self.config_init, "checkpoint", default=None)
        if isinstance(best, ModelCheckpoint) and best.save_last:
            # after the best one, so that it stays trainer.checkpoint_callback
            best.save_last = False
            dirpath = None if best.dirpath is None else str(best.dirpath)
            trainer.callbacks.append(LastCheckpoint(dirpath))  # type: ignore[attr-defined]
        if self._links_latest and self.run_folder is not None:
            link = _LatestLink(self.run_dir / "checkpoints", self.run_folder / "checkpoints")
            trainer.callbacks.append(link)  # type: ignore[attr-defined]
        return trainer

    def _run_subcommand(self, subcommand: str) -> None:
        if self.execute:
            super()._run_subcommand(subcommand)

    def after_fit(self) -> None:
        """Say where the checkpoints and logs are."""
        log_dir = self.trainer.log_dir  # a collective under DDP: every process asks
        if not self.trainer.is_global_zero:
            return
        callback = self.trainer.checkpoint_callback
        if isinstance(callback, ModelCheckpoint) and callback.dirpath:
            last = [c for c in self.trainer.callbacks if isinstance(c, LastCheckpoint)]  # type: ignore[attr-defined]
            shown = f"{_shown(str(callback.dirpath))}: "
            if last and last[0].best_model_path:
                shown += f"{os.path.basename(last[0].best_model_path)} (the last epoch), "
            best = callback.best_model_path
            shown += (
                f"best {callback.monitor}: {_shown(best)}"
                if best
                else "no best (nothing validated)"
            )
            print(f"cnnlstm: checkpoints in {shown}")
        if log_dir:
            print(f"cnnlstm: logs in {_shown(log_dir)}")


def _config_paths(argv: Sequence[str]) -> list[str]:
    """The values of ``--config`` / ``-c`` in ``argv``."""
    paths = []
    for i, arg in enumerate(argv):
        if arg in ("-c", "--config") and i + 1 < len(argv):
            paths.append(argv[i + 1])
        elif arg.startswith("--config="):
            paths.append(arg.split("=", 1)[1])
    return paths


def _option(argv: Sequence[str], name: str) -> str | None:
    """The last value of ``--name value`` or ``--name=value`` in ``argv``."""
    value = None
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(f"{name}="):
            value = arg.split("=", 1)[1]
    return value


def _check_sync_batchnorm(trainer: Any) -> None:
    """``trainer.sync_batchnorm`` needs CUDA; on CPU say what to use instead of a traceback."""
    if not trainer.get("sync_batchnorm"):
        return
    accelerator = str(trainer.get("accelerator") or "auto")
    if accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available()):
        raise ConfigError(
            "trainer.sync_batchnorm has to run on GPUs (SyncBatchNorm is CUDA-only), but the "
            f"accelerator is {accelerator!r} on a machine without CUDA; on CPU drop it and set "
            "the model's norm to 'group' or 'instance' (model_args: {norm: group})."
        )


def _check_files(argv: Sequence[str]) -> None:
    """FileNotFoundError for a config or checkpoint file named in ``argv`` that is not there."""
    for path in _config_paths(argv):
        if path.endswith((".yaml", ".yml", ".json")) and not Path(path).is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
    ckpt = _option(argv, "--ckpt_path")
    keywords = ("last", "best", "hpc", "null", "None")
    if ckpt and ckpt not in keywords and "://" not in ckpt and not Path(ckpt).is_file():
        raise FileNotFoundError(
            f"checkpoint file {ckpt} does not exist (--ckpt_path takes a file, 'last' or 'best')"
        )


def run_name(argv: Sequence[str]) -> str:
    """The name a run's folder gets: the first config file's name without suffix, or cnnlstm.

    Example:
        >>> run_name(["fit", "--config", "mine/clips.yaml"]), run_name(["-c", "text_lines"])
        ('clips', 'text_lines')
    """
    for path in _config_paths(resolve_configs(argv)):
        if path.endswith((".yaml", ".yml", ".json")):
            return Path(path).stem
    return "cnnlstm"


def build_cli(argv: Sequence[str], **kwargs: Any) -> CNNLSTMCLI:
    """Run (or with ``execute=False`` only build) ``cnnlstm fit|validate|test|predict ...``.

    Args:
        argv: the command and its options, e.g. ``["fit", "--config", "digit_clips"]``: a
            ``--config`` that is not a file may name a shipped config
            (:func:`~cnnlstm.commands.configs.resolve_configs`).
        **kwargs: :class:`CNNLSTMCLI`'s (``run_name`` defaults to the config file's name).

    Raises:
        FileNotFoundError: a config or checkpoint file that is not there.
    """
    argv = resolve_configs(argv)
    _check_files(argv)
    _log_to_current_stderr()
    if argv and argv[0] in ("validate", "test", "predict") and not _option(argv, "--ckpt_path"):
        print(
            f"cnnlstm: warning: {argv[0]} without --ckpt_path runs the model as the config "
            f"builds it, untrained; pass --ckpt_path best (or last: the newest run's "
            f"best.ckpt or last.ckpt) or a .ckpt file",
            file=sys.stderr,
            flush=True,
        )
    # "Seed set to 0" would come before anything else, even before a config's one-line error
    logging.getLogger("lightning.fabric.utilities.seed").setLevel(logging.WARNING)
    # the tasks and DataModules are imported so that short names find them: --model ForecastTask
    importlib.import_module("cnnlstm.tasks")
    importlib.import_module("cnnlstm.data.datamodules")
    importlib.import_module("cnnlstm.data.text_folder")  # so --data TextLineDataModule resolves
    kwargs.setdefault("run_name", run_name(argv))
    with warnings.catch_warnings():
        # LightningCLI warns when sys.argv has arguments too (under pytest, or for compare)
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        return CNNLSTMCLI(args=list(argv), **kwargs)


def _log_to_current_stderr() -> None:
    """Point Lightning's console log handlers at today's ``sys.stderr``.

    Lightning adds them when it is first imported, bound to the ``sys.stderr`` of that moment; a
    host that swaps the stream later (a notebook, a test runner, a caller that captured output)
    would leave them writing to a stale or closed stream.
    """
    names = [
        "lightning",
        *(n for n in logging.Logger.manager.loggerDict if n.startswith("lightning.")),
    ]
    for name in names:
        for handler in logging.getLogger(name).handlers:
            if type(handler) is logging.StreamHandler and handler.stream is not sys.stderr:
                handler.stream = sys.stderr  # not setStream: it would flush the stale stream


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Hide Lightning's info messages (seed, accelerators, tips) while building, not training."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def run_summary(
    config: str, overrides: Sequence[str] = (), *, console: Console | None = None
) -> Summary:
    """Build the task of a config without training and print its model stage by stage.

    Args:
        config: a YAML config as ``cnnlstm fit`` takes it.
        overrides: further ``--key value`` options, as for ``cnnlstm fit``.
        console: where to print (the terminal by default).

    Returns:
        The :class:`~cnnlstm.summary.Summary` of the model for a batch of two examples.

    Raises:
        ConfigError: the task's model has no ``example_input_shape``.
    """
    console = console or Console()
    with quiet_lightning():
        cli = build_cli(["fit", "--config", config, *overrides], execute=False, claim_folder=False)
    task = cli.model
    model = getattr(task, "model", task)
    shape = getattr(model, "example_input_shape", None)
    if shape is None:
        raise ConfigError(
            f"summary: the model of {config} ({type(model).__name__}) has to say its input with "
            f"example_input_shape, as the models of cnnlstm.models do, but it has none."
        )
    name = getattr(task, "hparams", {}).get("model", type(model).__name__)
    metric, mode = cli.monitor
    console.print(
        f"[bold]{config}[/bold]: {type(task).__name__} with model {name!r}; "
        f"checkpoints keep the best {metric} ({mode})"
    )
    result = summary(model, (2, *shape))
    console.print(result)
    return result
