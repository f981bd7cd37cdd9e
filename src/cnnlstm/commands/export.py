"""``cnnlstm export``: load a checkpoint's task, export its model and print the comparison.

The command's side of :mod:`cnnlstm.export`: :func:`load_task` finds the task class of a
checkpoint written by ``cnnlstm fit`` and loads it, :func:`checkpoint_metadata` says what an
exported file needs beside its graph to be used (the task, what the output means, the class names
or the alphabet), and :func:`export_checkpoint` exports the task's model with
:func:`~cnnlstm.export.export_model`, writes the metadata into an ONNX file and prints a table of
how the file compares with PyTorch.
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import lightning.pytorch as pl
import torch
from rich.console import Console
from rich.table import Table
from torch import nn

from cnnlstm.errors import ConfigError, DataError
from cnnlstm.export import ExportFormat, ExportReport, export_model, require_onnx
from cnnlstm.functional import format_shape

__all__ = ["checkpoint_metadata", "export_checkpoint", "load_task"]

_SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}


def _task_classes() -> list[type[pl.LightningModule]]:
    from cnnlstm.tasks import ClassificationTask, ForecastTask, RecognitionTask

    return [ClassificationTask, RecognitionTask, ForecastTask]


def load_task(ckpt: str | Path) -> pl.LightningModule:
    """The task of a checkpoint written by ``cnnlstm fit`` (or by a ``Trainer`` on a task).

    The task's class is the ``_class_path`` LightningCLI stores with the hyperparameters; for
    a checkpoint without it, the first of the built-in tasks whose arguments match.

    Raises:
        FileNotFoundError: ``ckpt`` is not there.
        DataError: ``ckpt`` is not a Lightning checkpoint.
        ConfigError: no task can be built from it.
    """
    path = Path(ckpt)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file {ckpt} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise DataError(
            f"{ckpt}: not a checkpoint torch.load can read ({type(error).__name__}). Pass a "
            f".ckpt file written by cnnlstm fit."
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise DataError(
            f"{ckpt}: expected a Lightning checkpoint with a state_dict (as cnnlstm fit writes), "
            f"but it holds a {type(checkpoint).__name__} without one."
        )
    hparams = checkpoint.get("hyper_parameters") or {}
    class_path = hparams.get("_class_path")
    if isinstance(class_path, str):
        module, _, name = class_path.rpartition(".")
        try:
            candidates = [getattr(importlib.import_module(module), name)]
        except (ImportError, AttributeError):
            raise ConfigError(
                f"{ckpt}: its task class {class_path!r} cannot be imported."
            ) from None
    else:
        keys = set(hparams)
        candidates = [
            task
            for task in _task_classes()
            if keys <= set(inspect.signature(task.__init__).parameters)
        ]
    errors = []
    for task_class in candidates:
        try:
            task: pl.LightningModule = task_class.load_from_checkpoint(path, map_location="cpu")
        except Exception as error:  # the next candidate may fit
            errors.append(f"{task_class.__name__}: {' '.join(str(error).split())[:200]}")
            continue
        return task
    why = "; ".join(errors) or (
        "its hyperparameters match none of ClassificationTask, RecognitionTask, ForecastTask"
    )
    raise ConfigError(f"{ckpt}: no task can be built from this checkpoint ({why}).")


_OUTPUTS = {
    "ClassificationTask": "logits (batch, classes); a softmax over the last axis gives the "
    "probabilities cnnlstm predict writes",
    "RecognitionTask": "log-probabilities (batch, columns, 1 + len(alphabet)); class 0 is the CTC "
    "blank, class k is alphabet[k - 1]; greedy decoding: argmax per column, merge repeats, drop "
    "blanks",
    "ForecastTask": "the next frames (batch, frames, channels, height, width), intensities in "
    "[0, 1]",
}


def checkpoint_metadata(task: nn.Module, checkpoint: dict[str, object]) -> dict[str, str]:
    """What an exported file needs beside its graph to be used: the task, what the output
    means, and the class names or the alphabet. Written to an ONNX file's ``metadata_props``
    (onnxruntime: ``session.get_modelmeta().custom_metadata_map``).

    Args:
        task: the checkpoint's task (:func:`load_task`).
        checkpoint: the checkpoint's dictionary, whose data-module entries may hold
            ``{"classes": [...]}`` (as :class:`~cnnlstm.data.VideoDataModule` saves them).

    Returns:
        ``{"cnnlstm_task", "cnnlstm_model", "input", "output"}`` and, where known, ``"classes"``
        (a JSON list, in class order), ``"num_classes"`` and ``"alphabet"``.

    Example:
        >>> from cnnlstm.tasks import RecognitionTask
        >>> task = RecognitionTask("crnn", alphabet="ab", model_args={"channels": (4,),
        ...                        "hidden_size": 4, "image_height": 8})
        >>> meta = checkpoint_metadata(task, {})
        >>> meta["alphabet"], meta["output"].split(";")[1].strip()
        ('ab', 'class 0 is the CTC blank, class k is alphabet[k - 1]')
        >>> "bright ink (1) on a dark background (0)" in meta["input"]
        True
    """
    kind = type(task).__name__
    hparams = dict(getattr(task, "hparams", {}))
    meta = {
        "cnnlstm_task": kind,
        "cnnlstm_model": str(hparams.get("model", type(getattr(task, "model", task)).__name__)),
        "input": "input: float32, dynamic batch axis; the layout and scaling the model was "
        "trained on (frames in [0, 1], channels first)",
        "output": _OUTPUTS.get(kind, "output: what the model's forward returns"),
    }
    if kind == "RecognitionTask":
        meta["input"] = (
            "input: float32 (batch, channels, height, width) text lines as trained (grey: 1 "
            "channel), bright ink (1) on a dark background (0), at the trained height; any width"
        )
    for value in checkpoint.values():
        names = value.get("classes") if isinstance(value, dict) else None
        if isinstance(names, list) and names:
            meta["classes"] = json.dumps([str(name) for name in names])
            break
    if isinstance(getattr(task, "num_classes", None), int):
        meta["num_classes"] = str(task.num_classes)
    if isinstance(getattr(task, "alphabet", None), str):
        meta["alphabet"] = str(task.alphabet)
    return meta


def _write_onnx_metadata(path: Path, metadata: dict[str, str]) -> None:
    import onnx

    graph = onnx.load(str(path))
    onnx.helper.set_model_props(graph, metadata)
    onnx.save(graph, str(path))


def export_checkpoint(
    ckpt: str | Path,
    *,
    format: ExportFormat = "onnx",
    output: str | Path | None = None,
    tolerance: float = 1e-4,
    console: Console | None = None,
) -> ExportReport:
    """Load a checkpoint's task, export its model and print how the file compares with PyTorch.

    An ONNX file also carries :func:`checkpoint_metadata` (the task, what the output means, the
    class names or the alphabet) in its ``metadata_props``.

    Args:
        ckpt: a checkpoint written by ``cnnlstm fit``.
        format: ``"onnx"`` or ``"torchscript"``.
        output: the file; default: next to the checkpoint, ``<name>.onnx`` or
            ``<name>.torchscript.pt``.
        tolerance: the largest absolute difference from PyTorch that passes.
        console: where to print (the terminal by default).

    Returns:
        The :class:`ExportReport`.

    Raises:
        FileNotFoundError, DataError, ConfigError: see :func:`load_task`; ConfigError also
            for ONNX export without onnx or onnxruntime (:func:`~cnnlstm.export.require_onnx`).
    """
    console = console or Console()
    if format == "onnx":
        require_onnx()  # before the checkpoint is loaded
    task = load_task(ckpt)
    model = getattr(task, "model", task)
    path = Path(output) if output is not None else Path(ckpt).with_suffix(_SUFFIXES[format])
    report = export_model(model.cpu(), path, format=format, tolerance=tolerance)
    if format == "onnx":
        checkpoint = torch.load(Path(ckpt), map_location="cpu", weights_only=True)
        _write_onnx_metadata(path, checkpoint_metadata(task, checkpoint))

    name = getattr(task, "hparams", {}).get("model", type(model).__name__)
    console.print(f"exported {name} ({type(task).__name__}) to {report.path} ({format})")
    console.print(f"dynamic axes: {', '.join(report.dynamic_axes.values())}")
    for note in report.notes:
        console.print(f"note: {note}")
    table = Table(title=f"{format} vs PyTorch")
    table.add_column("input")
    table.add_column("max |difference|", justify="right")
    table.add_column("")
    for check in report.checks:
        verdict = "ok" if check.max_abs_diff <= tolerance else (check.error or "too large")
        table.add_row(format_shape(check.input_shape), f"{check.max_abs_diff:.3g}", verdict)
    console.print(table)
    verdict = "ok" if report.ok else "FAILED"
    console.print(
        f"largest absolute difference: {report.max_abs_diff:.3g} (tolerance {tolerance:g}): "
        f"{verdict}"
    )
    return report
