"""`cnnlstm export`: ONNX and TorchScript files that match PyTorch, with dynamic batch and time.

The exported files are checked here on inputs of their own, run with onnxruntime and
``torch.jit.load`` directly and compared with the task rebuilt from the checkpoint (or the model
in PyTorch), not with the numbers ``export`` prints. ConvLSTM models keep a dynamic time axis (the
loop is scripted); they are checked at lengths the export never saw, down to a single frame, and
the scripted loop against the ConvLSTM itself for each of its options. A model that freezes a
value of its input into the traced graph is the deliberately broken case: its export has to fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import Tensor, nn

from cnnlstm import cli, export, export_script
from cnnlstm.commands.configs import CONFIGS_DIR
from cnnlstm.commands.export import checkpoint_metadata, load_task
from cnnlstm.data.datamodules import DigitClipsDataModule
from cnnlstm.errors import ConfigError, DataError
from cnnlstm.export import export_model, sequence_axes
from cnnlstm.layers.convlstm import ConvLSTM, ConvLSTM1d, ConvLSTM3d
from cnnlstm.models import registry
from cnnlstm.models.registry import create_model, register_model
from cnnlstm.tasks import ClassificationTask

CONFIG = str(CONFIGS_DIR / "digit_clips.yaml")
TINY = [
    "--data.init_args.train_samples=4",
    "--data.init_args.val_samples=4",
    "--data.init_args.batch_size=4",
    "--model.init_args.model_args.channels=[4, 8]",
    "--model.init_args.model_args.hidden_size=8",
    "--trainer.max_steps=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]
FROZEN = "test_export_frozen_scale"


class FrozenScale(nn.Module):
    """Clip logits times the sum of the input read as a Python float: tracing freezes that sum."""

    def __init__(self, num_classes: int, frames: int) -> None:
        super().__init__()
        self.frames = frames
        self.head = nn.Linear(frames, num_classes)

    @property
    def example_input_shape(self) -> tuple[int, ...]:
        return (self.frames, 1, 32, 32)

    def forward(self, x: Tensor) -> Tensor:
        scale = float(x.sum()) / 1000.0  # a value of the traced batch, frozen into the graph
        return self.head(x.mean(dim=(2, 3, 4))) * scale  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def frozen_model_registered() -> Iterator[None]:
    @register_model(FROZEN)
    def frozen(*, num_classes: int = 10, frames: int = 10) -> nn.Module:
        """A clip classifier whose traced graph is wrong for any other input (a test model)."""
        return FrozenScale(num_classes, frames)

    yield
    registry._REGISTRY.pop(FROZEN)


def _fit(folder: Path, *extra: str) -> Path:
    cwd = Path.cwd()
    threads = torch.get_num_threads()
    os.chdir(folder)
    torch.set_num_threads(1)
    try:
        assert cli.main(["fit", "--config", CONFIG, *TINY, *extra]) == 0
    finally:
        os.chdir(cwd)
        torch.set_num_threads(threads)
    return folder / "runs" / "digit_clips" / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _fit(tmp_path_factory.mktemp("fit"))


def _task_model(ckpt: Path) -> nn.Module:
    return ClassificationTask.load_from_checkpoint(ckpt).model.eval()


def test_onnx_export_round_trip_with_dynamic_batch_and_time(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model.onnx"
    assert (
        cli.main(["export", "--ckpt", str(checkpoint), "--format", "onnx", "--output", str(out)])
        == 0
    )
    printed = capsys.readouterr().out
    assert "dynamic axes: batch, time" in printed
    assert "ok" in printed.splitlines()[-1]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["cnnlstm_task"] == "ClassificationTask" and meta["num_classes"] == "10"
    assert meta["output"].startswith("logits (batch, classes)")
    model = _task_model(checkpoint)
    for shape in [(1, 10, 1, 32, 32), (5, 7, 1, 32, 32)]:  # another batch and another length
        x = torch.rand(shape)
        (got,) = session.run(None, {"input": x.numpy()})
        with torch.no_grad():
            expected = model(x).numpy()
        assert got.shape == expected.shape == (shape[0], 10)
        assert np.abs(got - expected).max() < 1e-4


def test_torchscript_export_round_trip(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.pt"
    argv = ["export", "--ckpt", str(checkpoint), "--format", "torchscript", "--output", str(out)]
    assert cli.main(argv) == 0
    loaded = torch.jit.load(str(out))
    model = _task_model(checkpoint)
    for shape in [(4, 10, 1, 32, 32), (2, 13, 1, 32, 32)]:
        x = torch.rand(shape)
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=1e-4)


@pytest.mark.parametrize("missing", [("onnx",), ("onnxruntime",), ("onnx", "onnxruntime")])
def test_onnx_export_without_the_export_extra_is_one_line_and_exit_2(
    missing: tuple[str, ...],
    checkpoint: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in missing:
        monkeypatch.setitem(sys.modules, name, None)  # makes `import name` fail
    out = tmp_path / "model.onnx"
    argv = ["export", "--ckpt", str(checkpoint), "--format", "onnx", "--output", str(out)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("cnnlstm: error: ONNX export needs onnx and onnxruntime")
    assert f"({' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed)" in err
    assert 'pip install "cnnlstm[export]"' in err and "--format torchscript" in err
    assert not out.exists()


def test_export_model_without_onnx_raises_config_error_and_torchscript_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    with pytest.raises(ConfigError, match=r"onnxruntime is not installed\): pip install"):
        export_model(model, tmp_path / "m.onnx", example_shape=(3, 4))
    report = export_model(model, tmp_path / "m.pt", format="torchscript", example_shape=(3, 4))
    assert report.ok


def test_export_defaults_to_a_file_next_to_the_checkpoint(checkpoint: Path) -> None:
    assert cli.main(["export", "--ckpt", str(checkpoint)]) == 0
    assert checkpoint.with_suffix(".onnx").is_file()


def test_a_graph_that_froze_a_value_fails_the_check_and_exits_1(
    frozen_model_registered: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = _fit(tmp_path, f"--model.init_args.model={FROZEN}", "--model.init_args.model_args={}")
    capsys.readouterr()
    out = tmp_path / "frozen.onnx"
    assert cli.main(["export", "--ckpt", str(ckpt), "--output", str(out)]) == 1
    assert "FAILED" in capsys.readouterr().out.splitlines()[-1]
    # the file is wrong indeed: for another batch it disagrees with PyTorch
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = torch.rand(3, 10, 1, 32, 32)
    (got,) = session.run(None, {"input": x.numpy()})
    with torch.no_grad():
        expected = _task_model(ckpt)(x).numpy()
    assert np.abs(got - expected).max() > 1e-2


def _run_exported(fmt: str, path: Path) -> Callable[[Tensor], Tensor]:
    """The exported file as a function, run by onnxruntime or torch.jit.load."""
    if fmt == "onnx":
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda x: torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
    loaded = torch.jit.load(str(path))
    return lambda x: loaded(x)  # type: ignore[no-any-return]


CONVLSTM_MODELS = {
    "clip_convlstm": lambda: create_model(
        "clip_classifier", num_classes=3, frames=4, image_size=(16, 16), channels=(4,),
        hidden_size=4, bridge="convlstm", bidirectional=True, norm="group",
    ),
    # hidden sizes that differ: the encoder's h_n and c_n are one tensor per layer
    "forecaster": lambda: create_model(
        "convlstm_forecaster", image_size=(16, 16), input_frames=4, output_frames=2,
        hidden_channels=(4, 6), patch_size=4,
    ),
}  # fmt: skip


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("name", list(CONVLSTM_MODELS))
def test_a_convlstm_model_exports_with_a_dynamic_time_axis(
    name: str, fmt: str, tmp_path: Path
) -> None:
    model = CONVLSTM_MODELS[name]().eval()
    report = export_model(model, tmp_path / f"m.{fmt}", format=fmt)
    assert report.ok, report
    assert report.dynamic_axes == {0: "batch", 1: "time"} and report.fixed_axes == {}
    kind = "an ONNX Loop" if fmt == "onnx" else "a TorchScript loop"
    assert report.notes == (f"time is dynamic: the ConvLSTM loop over time is exported as {kind}",)
    if fmt == "onnx":
        loops = [n for n in onnx.load(str(report.path)).graph.node if n.op_type == "Loop"]
        assert loops  # the time loop, not 4 unrolled steps
    run = _run_exported(fmt, report.path)
    # lengths and batch sizes the export never saw, including a single frame
    for shape in [(5, 7, 1, 16, 16), (1, 1, 1, 16, 16), (2, 11, 1, 16, 16)]:
        x = torch.rand(shape)
        with torch.no_grad():
            expected = model(x)
        got = run(x)
        assert got.shape == expected.shape
        assert (got - expected).abs().max() < 1e-4


class ConvLSTMStates(nn.Module):
    """A ConvLSTM whose mean output, h_n and c_n come out flattened side by side (a test model)."""

    def __init__(self, convlstm: nn.Module) -> None:
        super().__init__()
        self.convlstm = convlstm

    def forward(self, x: Tensor) -> Tensor:
        output, (h_n, c_n) = self.convlstm(x)
        states = [h_n, c_n] if isinstance(h_n, Tensor) else [*h_n, *c_n]
        parts = [output.mean(dim=1).flatten(1)]  # (B, C' * prod(S))
        parts += [state.transpose(0, 1).flatten(1) for state in states]  # (B, ...) each
        return torch.cat(parts, dim=1)


@pytest.mark.parametrize(
    ("convlstm", "example"),
    [
        (ConvLSTM(2, 3, num_layers=2, bidirectional=True, peephole=True), (3, 2, 6, 5)),
        (ConvLSTM(2, [3, 4], padding="valid", norm="layer"), (3, 2, 7, 7)),
        (ConvLSTM(2, 4, norm="group", norm_groups=2, kernel_size=(3, 1)), (3, 2, 5, 6)),
        (ConvLSTM1d(2, 3, 5, bidirectional=True), (4, 2, 9)),
        (ConvLSTM3d(1, 2, num_layers=2), (2, 1, 3, 4, 4)),
    ],
    ids=["bidirectional-peephole", "valid-per-layer-states", "group-norm", "1d", "3d"],
)
def test_the_scripted_time_loop_computes_what_the_convlstm_computes(
    convlstm: nn.Module, example: tuple[int, ...]
) -> None:
    model = ConvLSTMStates(convlstm).eval()
    with torch.no_grad():
        for parameter in model.parameters():  # peepholes and norms start at 0 and 1
            parameter.add_(0.3 * torch.randn_like(parameter))
    scripted, count = export_script.script_time_loops(model)
    assert count == 1 and scripted is not model
    assert model.convlstm is convlstm  # the model itself is left alone
    with torch.no_grad():
        traced = torch.jit.trace(scripted, (torch.randn(2, *example),), check_trace=False)
        for steps in (1, 6):  # lengths the trace never saw
            x = torch.randn(3, steps, *example[1:])
            torch.testing.assert_close(traced(x), model(x), rtol=0, atol=1e-5)


def test_a_time_major_convlstm_exports_with_a_dynamic_time_axis(tmp_path: Path) -> None:
    class TimeMajor(nn.Module):
        example_input_shape = (3, 2, 6, 6)

        def __init__(self) -> None:
            super().__init__()
            self.convlstm = ConvLSTM(2, 3, batch_first=False, bidirectional=True)

        def forward(self, x: Tensor) -> Tensor:
            output, _ = self.convlstm(x.transpose(0, 1))  # (T, B, C', H, W)
            return output.sum(dim=0)  # (B, C', H, W)

    model = TimeMajor().eval()
    report = export_model(model, tmp_path / "m.onnx")
    assert report.ok and report.dynamic_axes == {0: "batch", 1: "time"}, report
    run = _run_exported("onnx", report.path)
    x = torch.randn(4, 9, 2, 6, 6)
    with torch.no_grad():
        assert (run(x) - model(x)).abs().max() < 1e-4


class ActivatedConvLSTM(nn.Module):
    """A ConvLSTM as a Keras model trained with relu and hard_sigmoid converts to (a test model)."""

    example_input_shape = (3, 2, 6, 6)

    def __init__(self) -> None:
        super().__init__()
        self.convlstm = ConvLSTM(
            2, 3, bidirectional=True, activation="relu", recurrent_activation="hard_sigmoid"
        )

    def forward(self, x: Tensor) -> Tensor:
        output, (h_n, _) = self.convlstm(x)
        return torch.cat([output.mean(dim=1).flatten(1), h_n.transpose(0, 1).flatten(1)], dim=1)


def test_a_convlstm_with_other_activations_exports_with_a_dynamic_time_axis(
    tmp_path: Path,
) -> None:
    """Both formats in one process: the second trace around the scripted loop used to fail
    ("Argument passed to at() was not in the map") and fall back to a fixed time axis."""
    model = ActivatedConvLSTM().eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    for fmt in ("onnx", "torchscript", "onnx"):
        report = export_model(model, tmp_path / f"m.{fmt}", format=fmt)
        assert report.ok, report
        assert report.dynamic_axes == {0: "batch", 1: "time"} and report.fixed_axes == {}, report
        kind = "an ONNX Loop" if fmt == "onnx" else "a TorchScript loop"
        note = f"time is dynamic: the ConvLSTM loop over time is exported as {kind}"
        assert report.notes == (note,)
        run = _run_exported(fmt, report.path)
        for steps in (1, 9):  # lengths the export never saw
            x = torch.randn(4, steps, 2, 6, 6)
            with torch.no_grad():
                expected = model(x)
            assert (run(x) - expected).abs().max() < 1e-4


class PythonLoop(nn.Module):
    """Clips summed frame by frame in a Python loop: tracing freezes the number of frames."""

    example_input_shape = (4, 1, 8, 8)

    def forward(self, x: Tensor) -> Tensor:
        total = x[:, 0]
        for t in range(1, x.shape[1]):
            total = total + x[:, t]
        return total.flatten(1)  # (B, 64)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_a_loop_the_trace_unrolls_keeps_a_dynamic_batch_and_a_fixed_time(
    fmt: str, tmp_path: Path
) -> None:
    model = PythonLoop()
    report = export_model(model, tmp_path / f"m.{fmt}", format=fmt)
    assert report.ok
    assert report.dynamic_axes == {0: "batch"}
    assert report.fixed_axes == {"time": 4}
    assert report.notes[0].startswith("time is fixed at 4: the traced graph takes no other length")
    x = torch.rand(6, 4, 1, 8, 8)  # a batch size the export never saw
    torch.testing.assert_close(_run_exported(fmt, report.path)(x), model(x), rtol=0, atol=1e-5)


def test_a_convlstm_that_cannot_be_scripted_falls_back_to_a_fixed_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(model: nn.Module) -> tuple[nn.Module, int]:
        raise RuntimeError("Unsupported: a test refusal\nspread over lines")

    monkeypatch.setattr(export, "script_time_loops", refuse)
    model = CONVLSTM_MODELS["clip_convlstm"]().eval()
    report = export_model(model, tmp_path / "m.onnx")
    assert report.ok and report.fixed_axes == {"time": 4}
    assert report.notes[0] == (
        "the ConvLSTM loop could not be scripted (RuntimeError: Unsupported: a test refusal "
        "spread over lines)"
    )
    assert report.notes[1].startswith("time is fixed at 4: the traced graph takes no other")


def test_cli_export_of_a_convlstm_checkpoint_has_a_dynamic_time_axis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = _fit(
        tmp_path,
        "--model.init_args.model_args.bridge=convlstm",
        "--model.init_args.model_args.channels=[4]",
    )
    capsys.readouterr()
    out = tmp_path / "convlstm.onnx"
    assert cli.main(["export", "--ckpt", str(ckpt), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "dynamic axes: batch, time" in printed
    assert "exported as an ONNX Loop" in " ".join(printed.split())
    assert "ok" in printed.splitlines()[-1]
    run = _run_exported("onnx", out)
    x = torch.rand(2, 13, 1, 32, 32)
    with torch.no_grad():
        assert (run(x) - _task_model(ckpt)(x)).abs().max() < 1e-4


def test_a_text_line_recognizer_keeps_a_dynamic_width(tmp_path: Path) -> None:
    model = create_model("crnn", num_classes=5, image_height=16, channels=(4, 8), hidden_size=8)
    model.eval()
    report = export_model(model, tmp_path / "crnn.onnx")
    assert report.ok
    assert report.dynamic_axes == {0: "batch", 3: "width"}
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    x = torch.rand(2, 1, 16, 100)
    (got,) = session.run(None, {"input": x.numpy()})
    assert got.shape == (2, 25, 5)  # ceil(100 / 4) steps
    with torch.no_grad():
        assert np.abs(got - model(x).numpy()).max() < 1e-4


def test_sequence_axes() -> None:
    crnn = create_model("crnn", num_classes=5, channels=(4,), hidden_size=4)
    assert sequence_axes(crnn, crnn.example_input_shape) == {3: "width"}
    image = create_model("image_sequence_classifier", channels=(4,), hidden_size=4)
    assert sequence_axes(image, image.example_input_shape) == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"format": "tflite"}, "format has to be one of onnx, torchscript, but got 'tflite'"),
        ({"tolerance": 0.0}, "tolerance has to be positive, but got 0.0"),
    ],
)
def test_export_model_rejects_bad_arguments(
    kwargs: dict[str, object], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=message):
        export_model(nn.Identity(), tmp_path / "x", example_shape=(3,), **kwargs)  # type: ignore[arg-type]


def test_a_model_without_an_example_shape_needs_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="example_input_shape"):
        export_model(nn.Linear(3, 2), tmp_path / "x.onnx")


def test_load_task_of_a_checkpoint_written_by_a_plain_trainer(tmp_path: Path) -> None:
    task = ClassificationTask(
        "clip_classifier",
        {"channels": (4,), "hidden_size": 4, "image_size": (32, 32)},
        scheduler="none",
    )
    data = DigitClipsDataModule(train_samples=4, val_samples=4, test_samples=0, batch_size=4)
    trainer = pl.Trainer(
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(task, datamodule=data)
    path = tmp_path / "plain.ckpt"
    trainer.save_checkpoint(path)
    loaded = load_task(path)
    assert type(loaded) is ClassificationTask
    for name, value in task.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value)


def test_load_task_refuses_a_file_that_is_no_lightning_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(DataError, match="expected a Lightning checkpoint with a state_dict"):
        load_task(path)


def test_checkpoint_metadata_takes_class_names_from_the_data_module_entry() -> None:
    task = ClassificationTask("clip_classifier", num_classes=2)
    checkpoint = {"state_dict": {}, "VideoDataModule": {"classes": ["walk", "run"]}}
    meta = checkpoint_metadata(task, checkpoint)
    assert json.loads(meta["classes"]) == ["walk", "run"] and meta["num_classes"] == "2"
    assert "classes" not in checkpoint_metadata(task, {"state_dict": {}})


def test_the_library_export_imports_neither_lightning_nor_onnx() -> None:
    """export_model works on a plain nn.Module: importing it loads no Lightning, and onnx and
    onnxruntime only when an ONNX export runs."""
    code = (
        "import sys, torch; import cnnlstm.export; "
        "print(sorted(m for m in ('lightning', 'onnx', 'onnxruntime') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"
