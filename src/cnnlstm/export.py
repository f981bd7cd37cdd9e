"""``cnnlstm export``: a trained model to ONNX or TorchScript, checked against PyTorch.

:func:`export_model` traces the model on a random batch and writes the file with a dynamic
batch axis, and a dynamic sequence axis where the model has one: the time axis ``T`` of clips
``(B, T, C, H, W)``, the width of text lines for a CTC recognizer (a model with
``output_lengths``). Then it runs the exported file (onnxruntime for ONNX, ``torch.jit.load``
for TorchScript) on that batch, on a batch of another size and, when there is a sequence axis,
on a batch of another length, and compares each output with PyTorch's.

Tracing unrolls Python loops, so a ConvLSTM's loop over time would be frozen at the example's
length. Before tracing, every ConvLSTM in the model (in a copy; the model is left alone) is
replaced by a stand-in compiled with ``torch.jit.script`` that runs the ConvLSTM's own cells
(their convolutions and their ``update``, the same weights) in a loop over however many steps the
input has. The trace keeps that loop: a TorchScript loop in the TorchScript file, an ONNX ``Loop``
in the ONNX file (the TorchScript-based exporter, ``dynamo=False``), so ``clip_classifier`` with
``bridge="convlstm"`` and ``convlstm_forecaster`` export with a dynamic time axis. Should a model
still fail on another length (say a ConvLSTM subclass the stand-in does not cover), the sequence
axis is fixed at the example's length (ONNX is exported again without it) and the report says
why.

The check is what makes an export trustworthy: tracing records the operations one input took,
so Python branches on values, ``.item()`` and sizes read as plain ints are frozen into the
graph. Such a model passes on the traced batch and fails on the others, and the export fails.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import lightning.pytorch as pl
import torch
from rich.console import Console
from rich.table import Table
from torch import Tensor, nn

from cnnlstm.errors import ConfigError, DataError
from cnnlstm.functional import format_shape
from cnnlstm.layers.convlstm import ConvLSTM, ConvLSTM1d, ConvLSTM3d

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


# --------------------------------------------------------------------- ConvLSTM time loops

_CONVLSTMS = (ConvLSTM, ConvLSTM1d, ConvLSTM3d)
_AnyConvLSTM = ConvLSTM | ConvLSTM1d | ConvLSTM3d


class _ScanMixin(nn.Module):
    """The ``forward`` a ConvLSTM cell gets in the stand-in: the cell run over a whole sequence.

    Mixed into a subclass of the cell's own class (see :func:`_scan_class`), so ``input_conv``,
    ``hidden_conv`` and ``update`` are the cell's: only the loop is written here. It is what
    ``ConvLSTM`` computes without ``lengths`` and from a zero state, in a form
    ``torch.jit.script`` compiles (the length of the loop is read from the input).
    """

    if TYPE_CHECKING:  # the cell's, for mypy (no "# type:" comments: TorchScript reads them)
        input_conv: nn.Module
        hidden_conv: nn.Module

        def update(self, gates: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]: ...

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``x: (B, T, C, *S)`` -> ``(output (B, T, hidden, *S'), h_T, c_T)``."""
        batch, steps = x.shape[0], x.shape[1]
        gates_x = self.input_conv(x.flatten(0, 1))  # (B*T, 4*hidden, *S')
        gates_x = gates_x.unflatten(0, (batch, steps))  # (B, T, 4*hidden, *S')
        h, c = self.update(gates_x[:, 0], None)  # each (B, hidden, *S')
        outputs = [h]
        for t in range(1, steps):
            h, c = self.update(gates_x[:, t] + self.hidden_conv(h), c)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h, c  # (B, T, hidden, *S'), (B, hidden, *S') x2


_SCAN_CLASSES: dict[type[nn.Module], type[nn.Module]] = {}


def _scan_class(cell_class: type[nn.Module]) -> type[nn.Module]:
    """``cell_class`` with :class:`_ScanMixin`'s ``forward`` (made once per cell class)."""
    if cell_class not in _SCAN_CLASSES:
        name = f"_Scan{cell_class.__name__}"
        _SCAN_CLASSES[cell_class] = type(name, (_ScanMixin, cell_class), {})
    return _SCAN_CLASSES[cell_class]


def _scan(cell: nn.Module) -> nn.Module:
    """A view of ``cell`` (the same parameters and submodules) whose forward scans a sequence."""
    scan_class = _scan_class(type(cell))
    scan: nn.Module = scan_class.__new__(scan_class)
    scan.__dict__.update(cell.__dict__)  # shares _parameters, _modules, _buffers with the cell
    return scan


class _ScriptedLayer(nn.Module):
    """One layer of a ConvLSTM, both directions, each cell scanned by :class:`_ScanMixin`.

    Compiled with ``torch.jit.script``; it returns tensors only, so a trace around it knows the
    rank of everything it gets back.
    """

    def __init__(self, cells: Sequence[nn.Module]) -> None:
        super().__init__()
        self.scans = nn.ModuleList(_scan(cell) for cell in cells)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``x: (B, T, C, *S)`` -> ``(output (B, T, hidden * dirs, *S'), h_n, c_n)``.

        ``h_n`` and ``c_n`` are ``(dirs, B, hidden, *S')``; the backward direction reads the
        sequence reversed and its output is put back in time order.
        """
        outputs: list[Tensor] = []
        h_n: list[Tensor] = []
        c_n: list[Tensor] = []
        for direction, scan in enumerate(self.scans):
            output, h, c = scan(x if direction == 0 else x.flip(1))
            outputs.append(output if direction == 0 else output.flip(1))  # (B, T, hidden, *S')
            h_n.append(h)
            c_n.append(c)
        return torch.cat(outputs, dim=2), torch.stack(h_n), torch.stack(c_n)


class _ConvLSTMStandIn(nn.Module):
    """What replaces a ConvLSTM for export: its layers scripted, its states packed as it does.

    Without ``state`` and ``lengths`` (the only call an exported model makes) it computes what
    the ConvLSTM computes in eval mode, with the ConvLSTM's own cells.

    Args:
        convlstm: the ConvLSTM (its cells are shared, not copied).
    """

    def __init__(self, convlstm: _AnyConvLSTM) -> None:
        super().__init__()
        d = convlstm.num_directions
        cells = list(convlstm.cells)
        self.layers = nn.ModuleList(
            torch.jit.script(_ScriptedLayer(cells[k * d : (k + 1) * d]))
            for k in range(convlstm.num_layers)
        )
        self.batch_first = convlstm.batch_first
        # As the ConvLSTM: one stacked h_n when every layer's state has the same shape.
        hidden = convlstm.hidden_channels
        self.stacked = len(set(hidden)) == 1 and (convlstm.padding == "same" or len(hidden) == 1)

    def forward(
        self, x: Tensor, state: object = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, tuple[Tensor | tuple[Tensor, ...], Tensor | tuple[Tensor, ...]]]:
        """The ConvLSTM's ``(output, (h_n, c_n))`` from a zero state, for whole sequences."""
        if state is not None or lengths is not None:
            raise ConfigError(
                "export: the exported ConvLSTM starts from a zero state and reads whole "
                "sequences, but the model passes it a state or lengths."
            )
        if not self.batch_first:
            x = x.transpose(0, 1)  # (B, T, C, *S)
        h_n: list[Tensor] = []
        c_n: list[Tensor] = []
        for layer in self.layers:
            x, h, c = layer(x)  # (B, T, hidden * dirs, *S'), (dirs, B, hidden, *S') x2
            # A scripted call's results have no known rank in the trace, and ONNX's unbind
            # and split need one: reshaping each to its own size records it.
            x, h, c = (t.reshape(t.shape) for t in (x, h, c))
            h_n.append(h)
            c_n.append(c)
        output = x if self.batch_first else x.transpose(0, 1)
        if self.stacked:
            return output, (torch.cat(h_n), torch.cat(c_n))  # (layers * dirs, B, hidden, *S')
        return output, (tuple(h_n), tuple(c_n))


def _script_time_loops(model: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``model`` whose ConvLSTMs loop over time in TorchScript, and how many there are.

    ``model`` itself comes back (and 0) when it has no ConvLSTM inside.
    """
    names = [name for name, m in model.named_modules() if name and isinstance(m, _CONVLSTMS)]
    if not names:
        return model, 0
    scripted = copy.deepcopy(model)
    for name in names:
        owner, _, attribute = name.rpartition(".")
        convlstm = scripted.get_submodule(name)
        assert isinstance(convlstm, _CONVLSTMS)  # the copy of one found above
        stand_in = _ConvLSTMStandIn(convlstm)
        setattr(scripted.get_submodule(owner), attribute, stand_in)
    return scripted, len(names)


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
            exported, loops = _script_time_loops(model)
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
