"""``cnnlstm export``: a trained model to ONNX or TorchScript, checked against PyTorch.

:func:`export_model` traces the model on a random batch and writes the file with a dynamic
batch axis, and a dynamic sequence axis where the model has one: the time axis ``T`` of clips
``(B, T, C, H, W)``, the width of text lines for a CTC recognizer (a model with
``output_lengths``). Then it runs the exported file (onnxruntime for ONNX, ``torch.jit.load``
for TorchScript) on that batch, on a batch of another size and, when there is a sequence axis,
on a batch of another length, and compares each output with PyTorch's.

Tracing unrolls Python loops, so a ConvLSTM's loop over time would be frozen at the example's
length. Before tracing, every ConvLSTM in the model (in a copy; the model is left alone) is
replaced by a stand-in that loops over time in TorchScript
(:func:`~cnnlstm.export_script.script_time_loops`), so ``clip_classifier`` with
``bridge="convlstm"`` and ``convlstm_forecaster`` export with a dynamic time axis. Should a model
still fail on another length (say a ConvLSTM subclass the stand-in does not cover), the sequence
axis is fixed at the example's length (ONNX is exported again without it) and the report says
why.

The check is what makes an export trustworthy: tracing records the operations one input took,
so Python branches on values, ``.item()`` and sizes read as plain ints are frozen into the
graph. Such a model passes on the traced batch and fails on the others, and the export fails.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import lightning.pytorch as pl
import torch
from rich.console import Console
from rich.table import Table
from torch import Tensor, nn

from cnnlstm.errors import ConfigError, DataError
from cnnlstm.export_script import script_time_loops
from cnnlstm.functional import format_shape

__all__ = [
    "FORMATS",
    "ExportCheck",
    "ExportFormat",
    "ExportReport",
    "checkpoint_metadata",
    "export_checkpoint",
    "export_model",
    "load_task",
    "sequence_axes",
]

ExportFormat = Literal["onnx", "torchscript"]
FORMATS: tuple[str, ...] = ("onnx", "torchscript")
"""The formats :func:`export_model` writes."""

_SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
_OPSET = 17
_LENGTH_CHANGE = {"time": 2, "width": 8}


@dataclass(frozen=True)
class ExportCheck:
    """One input run through the exported file.

    Attributes:
        input_shape: the input's shape.
        max_abs_diff: the largest absolute difference from PyTorch's output (``inf`` when the
            exported file failed or returned another shape).
        error: what went wrong, or ``None``.
    """

    input_shape: tuple[int, ...]
    max_abs_diff: float
    error: str | None = None


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_model` wrote and how the file compares with PyTorch.

    Attributes:
        path: the file written.
        format: ``"onnx"`` or ``"torchscript"``.
        dynamic_axes: the input axes that may vary, e.g. ``{0: "batch", 1: "time"}``.
        fixed_axes: sequence axes the model could not vary, with their fixed size.
        checks: the inputs the file was checked on.
        tolerance: the largest difference allowed.
        notes: how the sequence axes were exported, and why one is fixed.
    """

    path: Path
    format: str
    dynamic_axes: dict[int, str]
    fixed_axes: dict[str, int]
    checks: tuple[ExportCheck, ...]
    tolerance: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def max_abs_diff(self) -> float:
        """The largest difference over all checks."""
        return max((c.max_abs_diff for c in self.checks), default=math.inf)

    @property
    def ok(self) -> bool:
        """Whether every check stayed within the tolerance."""
        return bool(self.checks) and self.max_abs_diff <= self.tolerance


def sequence_axes(model: nn.Module, example_shape: Sequence[int]) -> dict[int, str]:
    """The input axes (batch axis included) along which ``model`` reads a sequence.

    The time axis of clips ``(B, T, C, H, W)``; the width of images ``(B, C, H, W)`` for a CTC
    recognizer (a model with ``output_lengths``); none for other images.

    Example:
        >>> sequence_axes(nn.Identity(), (10, 1, 32, 32))
        {1: 'time'}
    """
    if len(example_shape) == 4:
        return {1: "time"}
    if len(example_shape) == 3 and callable(getattr(model, "output_lengths", None)):
        return {3: "width"}
    return {}


# --------------------------------------------------------------------- export and check


def _example_shape(model: nn.Module) -> tuple[int, ...]:
    shape = getattr(model, "example_input_shape", None)
    if shape is None:
        raise ConfigError(
            f"export: the model has to say its input with example_input_shape, as the models of "
            f"cnnlstm.models do, but {type(model).__name__} has none; pass example_shape."
        )
    return tuple(int(s) for s in shape)


def _inputs(
    example_shape: tuple[int, ...], axes: dict[int, str], generator: torch.Generator
) -> list[Tensor]:
    """The traced batch (2), a batch of 3, and a batch of 3 with every sequence axis longer."""
    inputs = [torch.rand(2, *example_shape, generator=generator)]
    inputs.append(torch.rand(3, *example_shape, generator=generator))
    if axes:
        longer = [3, *example_shape]
        for axis, name in axes.items():
            longer[axis] += _LENGTH_CHANGE[name]
        inputs.append(torch.rand(*longer, generator=generator))
    return inputs


def _forward(model: nn.Module, x: Tensor) -> Tensor:
    with torch.no_grad():
        out = model(x)
    if not isinstance(out, Tensor):
        raise ConfigError(
            f"export: the model has to return one tensor, but returned a {type(out).__name__}."
        )
    return out


def _output_axes(model: nn.Module, inputs: Sequence[Tensor]) -> dict[int, str]:
    """The output axes whose size follows the input's: batch, and steps of a sequence output."""
    shapes = [tuple(_forward(model, x).shape) for x in inputs]
    axes = {0: "batch"}
    for axis in range(1, len(shapes[0])):
        if any(len(s) != len(shapes[0]) or s[axis] != shapes[0][axis] for s in shapes[1:]):
            axes[axis] = f"output_axis{axis}"
    return axes


def _check(run: Callable[[Tensor], Tensor], model: nn.Module, x: Tensor) -> ExportCheck:
    expected = _forward(model, x)
    shape = tuple(x.shape)
    try:
        got = run(x)
    except Exception as error:  # the runtime's own errors: ORT's Fail, TorchScript's
        message = " ".join(str(error).split())
        return ExportCheck(shape, math.inf, f"{type(error).__name__}: {message[:300]}")
    if tuple(got.shape) != tuple(expected.shape):
        return ExportCheck(
            shape,
            math.inf,
            f"output shape {format_shape(got.shape)}, PyTorch's {format_shape(expected.shape)}",
        )
    return ExportCheck(shape, float((got.float() - expected.float()).abs().max()))


def _require_onnx() -> None:
    """Check that ``onnx`` and ``onnxruntime`` (the ``[export]`` extra) can be imported.

    Raises:
        ConfigError: one of them is missing; the message says how to install it.
    """
    missing = []
    for name in ("onnx", "onnxruntime"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ConfigError(
            f"ONNX export needs onnx and onnxruntime ({' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed): pip install -e '.[export]' "
            f"(or pip install onnx onnxruntime), or use --format torchscript "
            f"(format='torchscript')."
        ) from None


def _onnx_runner(path: Path) -> Callable[[Tensor], Tensor]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4  # failures come back as exceptions; keep stderr quiet
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(x: Tensor) -> Tensor:
        return torch.from_numpy(session.run(None, {"input": x.numpy()})[0])

    return run


def _export_onnx(
    model: nn.Module, example: Tensor, path: Path, axes: dict[int, str], outputs: dict[int, str]
) -> None:
    if any(isinstance(m, torch.jit.ScriptModule) for m in model.modules()):
        # The exporter's own tracer refuses scripted submodules; torch.jit.trace keeps them
        # (their loops stay loops), and the exporter takes the traced module as it is.
        model = torch.jit.trace(model, (example,), check_trace=False)  # type: ignore[no-untyped-call]
    torch.onnx.export(
        model,
        (example,),
        str(path),
        dynamo=False,  # the TorchScript-based exporter handles nn.LSTM with dynamic axes
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "batch", **axes}, "output": outputs},
        opset_version=_OPSET,
    )


def _export_torchscript(
    model: nn.Module, example: Tensor, path: Path
) -> Callable[[Tensor], Tensor]:
    traced = torch.jit.trace(model, (example,), check_trace=False)  # type: ignore[no-untyped-call]
    torch.jit.save(traced, str(path))
    loaded = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]

    def run(x: Tensor) -> Tensor:
        with torch.no_grad():
            out = loaded(x)
        return out  # type: ignore[no-any-return]

    return run


def export_model(
    model: nn.Module,
    path: str | Path,
    *,
    format: ExportFormat = "onnx",
    example_shape: Sequence[int] | None = None,
    tolerance: float = 1e-4,
    seed: int = 0,
) -> ExportReport:
    """Export ``model`` to ONNX or TorchScript and check the file against PyTorch.

    Args:
        model: the model; it runs in eval mode on CPU (its mode is restored afterwards).
        path: the file to write (its folder is created).
        format: ``"onnx"`` (run with onnxruntime) or ``"torchscript"`` (``torch.jit.trace``,
            run with ``torch.jit.load``). In both, a ConvLSTM's loop over time is scripted, so
            its time axis stays dynamic (see the module docstring).
        example_shape: one example's shape without the batch axis; defaults to the model's
            ``example_input_shape``.
        tolerance: the largest absolute difference from PyTorch that passes.
        seed: seeds the random inputs.

    Returns:
        The :class:`ExportReport`; ``report.ok`` says whether every check passed.

    Raises:
        ValueError: an unknown format or a tolerance that is not positive.
        ConfigError: a model without ``example_input_shape`` (and no ``example_shape``), one
            that does not return one tensor, or ONNX export without onnx or onnxruntime.

    Example:
        >>> import tempfile
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
        >>> report = export_model(model, Path(tempfile.mkdtemp()) / "m.onnx",
        ...                       example_shape=(3, 4))
        >>> report.ok, report.dynamic_axes
        (True, {0: 'batch'})
    """
    if format not in FORMATS:
        raise ValueError(f"format has to be one of {', '.join(FORMATS)}, but got {format!r}")
    if not tolerance > 0:
        raise ValueError(f"tolerance has to be positive, but got {tolerance}")
    if format == "onnx":
        _require_onnx()
    shape = tuple(int(s) for s in example_shape) if example_shape else _example_shape(model)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's warnings: the checks below decide
            return _export_and_check(model, out, format, shape, tolerance, seed)
    finally:
        model.train(was_training)


def _export_and_check(
    model: nn.Module,
    path: Path,
    format: ExportFormat,
    shape: tuple[int, ...],
    tolerance: float,
    seed: int,
) -> ExportReport:
    axes = sequence_axes(model, shape)
    inputs = _inputs(shape, axes, torch.Generator().manual_seed(seed))
    fixed: dict[str, int] = {}
    notes: list[str] = []
    exported, loops = model, 0
    if axes:
        try:
            exported, loops = script_time_loops(model)
        except Exception as error:  # TorchScript's own errors: trace the Python loop instead
            notes.append(f"the ConvLSTM loop could not be scripted ({_first_line(error)})")

    def fix_sequence_axes(why: str) -> None:
        why = why if len(why) <= 120 else why[:117] + "..."
        for axis, name in axes.items():
            fixed[name] = shape[axis - 1]
            notes.append(f"{name} is fixed at {shape[axis - 1]}: {why}")

    try:
        output_axes = _output_axes(model, inputs)
    except Exception as error:  # PyTorch itself takes no other length: only the batch varies
        if not axes:
            raise
        fix_sequence_axes(f"the model itself takes no other length ({type(error).__name__})")
        axes, inputs = {}, inputs[:2]
        output_axes = _output_axes(model, inputs)

    def run_checks(dynamic: dict[int, str], checked: Sequence[Tensor]) -> list[ExportCheck]:
        if format == "onnx":
            outputs = output_axes if dynamic else {0: "batch"}
            _export_onnx(exported, inputs[0], path, dynamic, outputs)
            runner = _onnx_runner(path)
        else:
            runner = _export_torchscript(exported, inputs[0], path)
        return [_check(runner, model, x) for x in checked]

    try:
        checks = run_checks(axes, inputs)
    except Exception as error:  # the exporter refused the scripted loop: export the model as is
        if exported is model:
            raise
        notes.append(f"the scripted ConvLSTM loop did not export ({_first_line(error)})")
        exported, loops = model, 0
        checks = run_checks(axes, inputs)
    if loops and all(c.max_abs_diff <= tolerance for c in checks):
        kind = "an ONNX Loop" if format == "onnx" else "a TorchScript loop"
        names = ", ".join(axes.values())
        notes.append(f"{names} is dynamic: the ConvLSTM loop over time is exported as {kind}")
    passed = [c.max_abs_diff <= tolerance for c in checks]
    if axes and all(passed[:2]) and not passed[2]:
        reason = checks[2].error or f"max |difference| {checks[2].max_abs_diff:.3g}"
        fix_sequence_axes(f"the traced graph takes no other length ({reason})")
        checks = run_checks({}, inputs[:2]) if format == "onnx" else checks[:2]
        axes = {}
    return ExportReport(
        path=path,
        format=format,
        dynamic_axes={0: "batch", **axes},
        fixed_axes=fixed,
        checks=tuple(checks),
        tolerance=tolerance,
        notes=tuple(notes),
    )


def _first_line(error: Exception) -> str:
    """``Type: message`` of ``error`` on one line, at most 200 characters of the message."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message[:200]}"


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
            for ONNX export without onnx or onnxruntime (:func:`_require_onnx`).
    """
    console = console or Console()
    if format == "onnx":
        _require_onnx()  # before the checkpoint is loaded
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
