"""Export a model to ONNX or TorchScript and check the file against PyTorch.

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

This module imports neither Lightning nor ONNX: onnx and onnxruntime are imported when an ONNX
export runs. ``cnnlstm export`` (loading a checkpoint, its metadata, the printed table) is
:mod:`cnnlstm.commands.export`.
"""

from __future__ import annotations

import importlib
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from cnnlstm.errors import ConfigError
from cnnlstm.export_script import script_time_loops
from cnnlstm.extras import importing, install_command
from cnnlstm.functional import format_shape

__all__ = [
    "FORMATS",
    "ExportCheck",
    "ExportFormat",
    "ExportReport",
    "export_model",
    "require_onnx",
    "sequence_axes",
]

ExportFormat = Literal["onnx", "torchscript"]
FORMATS: tuple[str, ...] = ("onnx", "torchscript")
"""The formats :func:`export_model` writes."""

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


def require_onnx() -> None:
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
            f"{'is' if len(missing) == 1 else 'are'} not installed): "
            f"{install_command('export')}, or use --format torchscript (format='torchscript')."
        ) from None


def _onnx_runner(path: Path) -> Callable[[Tensor], Tensor]:
    with importing("checking an ONNX export (cnnlstm.export)", "export"):
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
        require_onnx()
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
