"""Predictions written to files: :class:`PredictionWriter` and the rows it writes.

``cnnlstm predict`` saves every output with the dataset index of its item to
``predictions.pt`` in a folder of the run's own, ``runs/<name>/version_<n>/predictions`` (beside
the run's ``config.yaml``; ``runs/<name>/predictions`` links to the newest), and, for classifiers
and recognizers, one row per item to ``predictions.csv`` (the item's name, the predicted class or
text, its probability, the true one when known), then prints where and a short summary.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Subset

from cnnlstm.extras import importing

with importing("training (cnnlstm fit, validate, test, predict, summary)", "train"):
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import (
        BasePredictionWriter,
    )

from cnnlstm.commands import atomic_file
from cnnlstm.commands.run_folders import RUNS_DIR
from cnnlstm.errors import ConfigError

__all__ = ["PredictionWriter", "prediction_rows", "text_rows"]


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
        output_dir: the folder; ``None`` for the run's own: the command line sets
            ``runs/<name>/version_<n>/predictions`` (so that two predicts never share one);
            ``runs/predictions`` without it. A folder given here is every run's: a second
            predict replaces the first's files.
    """

    def __init__(self, output_dir: str | None = None) -> None:
        super().__init__(write_interval="epoch")
        self.output_dir = output_dir
        self.path: Path | None = None
        """The file written by the last ``predict``, or ``None`` before one."""
        self.csv_path: Path | None = None
        """The CSV written by the last ``predict``, or ``None`` when it wrote none."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Before predicting, take the first process's folder (the processes a launcher such as
        torchrun started do not know it), and check that the model predicts as many classes as
        the data has."""
        if stage != "predict":
            return
        if trainer.world_size > 1:  # every process gets here: a collective is safe
            self.output_dir = trainer.strategy.broadcast(self.output_dir, src=0)
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
