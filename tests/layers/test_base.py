"""probe_output_shape, meta_forward and run_on_zeros: shapes from output_shape, meta or zeros."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence
from torch.overrides import TorchFunctionMode

from cnnlstm.errors import ShapeError
from cnnlstm.layers.base import (
    Bridge,
    first_tensor,
    meta_forward,
    probe_output_shape,
    run_on_zeros,
)


class Recorder(nn.Module):
    """A conv that notes the device, dtype and mode of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.calls: list[tuple[str, torch.dtype, bool]] = []

    def forward(self, x: Tensor) -> Tensor:
        self.calls.append((x.device.type, x.dtype, self.training))
        out: Tensor = self.conv(x)
        return out


class Item(nn.Module):
    """Uses ``.item()``, which the meta device cannot do: probing falls back to zeros."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(3)
        self.seen: list[Tensor] = []

    def forward(self, x: Tensor) -> Tensor:
        self.seen.append(x.detach().clone())
        scale = 1.0 + 0.0 * float(x.sum().item())
        out: Tensor = self.norm(x) * scale
        return out[:, :2]


class Declared(nn.Module):
    """Declares its output shape; running it would fail."""

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        return (input_shape[0], 7)

    def forward(self, x: Tensor) -> Tensor:
        raise AssertionError("probe_output_shape ran a module that declares its output shape")


class Undeclared(Bridge):
    """A bridge without its own ``output_shape``: it has to be run."""

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(2).transpose(1, 2)  # (B, H*W, C)


def test_declared_output_shape_is_used_without_running() -> None:
    assert probe_output_shape(Declared(), (5, 3)) == (5, 7)


def test_bridge_without_output_shape_is_run() -> None:
    assert probe_output_shape(Undeclared(), (2, 3, 4, 5)) == (2, 20, 3)


def test_meta_probe_sees_no_data_and_keeps_modes_and_weights() -> None:
    model = nn.Sequential(Recorder(), nn.BatchNorm2d(4), nn.Dropout())
    model.train()
    model[2].eval()  # a mixed state that must come back as it was
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert probe_output_shape(model, (1, 3, 9, 8)) == (1, 4, 7, 6)  # batch 1: eval BN is fine
    assert model[0].calls == [("meta", torch.float32, False)]
    assert [m.training for m in model.modules()] == [True, True, True, True, False]
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


class Scale(nn.Module):
    """Multiplies by a float64 buffer and notes the dtype of every input."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(2.0, dtype=torch.float64))
        self.dtypes: list[torch.dtype] = []

    def forward(self, x: Tensor) -> Tensor:
        self.dtypes.append(x.dtype)
        return x * self.scale


def test_dtype_follows_the_module_or_the_argument() -> None:
    recorder = Recorder().double()
    probe_output_shape(recorder, (2, 3, 5, 5))
    assert [dtype for _, dtype, _ in recorder.calls] == [torch.float64]
    scale = Scale()  # no parameters: the buffer's dtype
    probe_output_shape(scale, (2, 3))
    probe_output_shape(scale, (2, 3), dtype=torch.float16)
    assert scale.dtypes == [torch.float64, torch.float16]


def test_falls_back_to_zeros_in_eval_mode() -> None:
    module = Item()
    stats = module.norm.running_mean.clone(), module.norm.num_batches_tracked.clone()
    assert probe_output_shape(module, (4, 3)) == (4, 2)
    assert [x.is_meta for x in module.seen] == [True, False]  # meta first, then zeros
    assert torch.equal(module.seen[1], torch.zeros(4, 3))
    assert module.training  # restored
    assert torch.equal(module.norm.running_mean, stats[0])  # eval: no statistics update
    assert torch.equal(module.norm.num_batches_tracked, stats[1])


def test_first_tensor_of_a_tuple_output() -> None:
    assert probe_output_shape(nn.LSTM(8, 16, batch_first=True), (2, 5, 8)) == (2, 5, 16)
    assert probe_output_shape(nn.GRU(8, 6, bidirectional=True), (5, 2, 8)) == (5, 2, 12)


@pytest.mark.parametrize(
    ("module", "shape", "fragments"),
    [
        (nn.Conv2d(3, 4, 3), (2, 5, 8, 8), ["Conv2d", "(2, 5, 8, 8)"]),
        (nn.Conv2d(3, 4, 5), (2, 3, 3, 3), ["Conv2d", "(2, 3, 3, 3)"]),
        (nn.Linear(4, 2), (2, 3), ["Linear", "(2, 3)"]),
        (Item(), (2, 5), ["Item", "(2, 5)"]),  # fails on meta and on zeros
    ],
)
def test_wrong_input_raises_shape_error(
    module: nn.Module, shape: tuple[int, ...], fragments: list[str]
) -> None:
    with pytest.raises(ShapeError) as info:
        probe_output_shape(module, shape)
    assert info.value.__cause__ is None
    for fragment in fragments:
        assert fragment in str(info.value)


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 3),
    channels=st.integers(1, 4),
    size=st.tuples(st.integers(5, 12), st.integers(5, 12)),
    kernel=st.integers(1, 4),
    stride=st.integers(1, 3),
    padding=st.integers(0, 2),
    pool=st.booleans(),
)
def test_probe_equals_the_shape_of_a_real_forward(
    batch: int,
    channels: int,
    size: tuple[int, int],
    kernel: int,
    stride: int,
    padding: int,
    pool: bool,
) -> None:
    layers: list[nn.Module] = [nn.Conv2d(channels, 3, kernel, stride=stride, padding=padding)]
    if pool:
        layers += [nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True), nn.Flatten()]
    model = nn.Sequential(*layers)
    shape = (batch, channels, *size)
    with torch.no_grad():
        expected = tuple(model(torch.randn(shape)).shape)
    assert probe_output_shape(model, shape) == expected


class Names(TorchFunctionMode):
    """Records the names of the torch functions called under it."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_function__(
        self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        self.names.append(getattr(func, "__name__", str(func)))
        return func(*args, **(kwargs or {}))


def test_meta_forward_runs_on_meta_in_the_current_mode_with_context_around_the_call() -> None:
    recorder = Recorder()
    names = Names()
    out = meta_forward(recorder, (2, 3, 6, 6), context=names)
    assert out.is_meta and out.shape == (2, 4, 4, 4)
    assert recorder.calls == [("meta", torch.float32, True)]
    assert "conv2d" in names.names
    assert "empty" not in names.names and "empty_like" not in names.names
    assert not recorder.conv.weight.is_meta


def test_meta_forward_keeps_shared_weights_shared() -> None:
    linear = nn.Linear(4, 4)
    model = nn.Sequential(linear, nn.ReLU(), linear)
    assert meta_forward(model, (3, 4)).shape == (3, 4)


class Fails(nn.Module):
    """A batch norm, then an error: notes the input and the mode it ran in."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(3)
        self.seen: list[tuple[Tensor, bool]] = []

    def forward(self, x: Tensor) -> Tensor:
        self.seen.append((x, self.norm.training))
        self.norm(x)
        raise RuntimeError("stop here")


def test_run_on_zeros_runs_in_eval_mode_and_restores_the_flags_when_the_module_raises() -> None:
    module = Fails().double()
    module.norm.train()
    stats = module.norm.running_mean.clone()
    with pytest.raises(RuntimeError, match="stop here"):
        run_on_zeros(module, (1, 3))  # batch 1: fine in eval mode
    ((x, training),) = module.seen
    assert torch.equal(x, torch.zeros(1, 3, dtype=torch.float64)) and not training
    assert module.training and module.norm.training
    assert torch.equal(module.norm.running_mean, stats)
    out = run_on_zeros(nn.Linear(3, 2, bias=False), (4, 3), dtype=torch.float32)
    assert torch.equal(out, torch.zeros(4, 2)) and not out.requires_grad


def test_first_tensor_unpads_a_packed_sequence_batch_first() -> None:
    lengths = torch.tensor([5, 3])
    packed = pack_padded_sequence(torch.ones(2, 5, 3), lengths, batch_first=True)
    for value in (packed, (packed, torch.zeros(1))):
        padded = first_tensor(value)
        assert padded.shape == (2, 5, 3)  # not the packed data (8, 3)
        assert padded[1, 3:].abs().sum() == 0 and padded[0].sum() == 15
