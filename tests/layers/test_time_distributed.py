"""TimeDistributed against a per-step loop, a recording module, plain BatchNorm and Keras."""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from cnnlstm.errors import ShapeError
from cnnlstm.layers.time_distributed import AUTO_CHUNK_BYTES, TimeDistributed

CHUNK_SIZES: list[Any] = [1, 2, 3, "all", "auto"]


def small_cnn() -> nn.Module:
    """(N, 2, 6, 6) -> (N, 5): conv, ReLU, pool, flatten, linear."""
    return nn.Sequential(
        nn.Conv2d(2, 3, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(3 * 3 * 3, 5),
    )


def step_loop(module: nn.Module, x: Tensor) -> Tensor:
    """The obvious reference: the module on x[:, t] for every t, stacked on a time axis."""
    return torch.stack([module(x[:, t]) for t in range(x.shape[1])], dim=1)


class Recorder(nn.Module):
    """Doubles its input and keeps a copy of every frame of data it is given.

    Calls on the ``meta`` device (``chunk_size="auto"`` sizing its chunks, ``output_shape``)
    carry no data and are not recorded.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Tensor] = []
        self.batch_sizes: list[int] = []

    def forward(self, x: Tensor) -> Tensor:
        if not x.is_meta:
            self.seen.extend(x.detach().clone())
            self.batch_sizes.append(x.shape[0])
        return x * 2


# --- shapes -----------------------------------------------------------------------------------

GOOD_SHAPES = [
    # (module, input shape, output shape)
    (nn.Conv2d(3, 4, kernel_size=3), (2, 5, 3, 8, 8), (2, 5, 4, 6, 6)),
    (nn.Linear(7, 2), (3, 4, 7), (3, 4, 2)),
    (nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten()), (1, 1, 3, 5, 5), (1, 1, 18)),
    (nn.Sequential(nn.Linear(4, 1), nn.Flatten(0)), (2, 3, 4), (2, 3)),
    (TimeDistributed(nn.Conv2d(1, 2, 1)), (2, 3, 4, 1, 5, 5), (2, 3, 4, 2, 5, 5)),
]


@pytest.mark.parametrize(("module", "input_shape", "expected"), GOOD_SHAPES)
def test_output_shape_matches_forward(
    module: nn.Module, input_shape: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    td = TimeDistributed(module, chunk_size=2)
    assert td.output_shape(input_shape) == expected
    assert tuple(td(torch.randn(input_shape)).shape) == expected
    assert td.out_features(input_shape) == expected[-1]


WRONG_INPUTS = [
    # (input shape, forward kwargs, message fragments that must appear)
    ((4, 3), {}, ["at least 3 dimensions", "(4, 3)"]),
    ((4,), {}, ["1-D tensor"]),
    ((2, 5, 3), {"lengths": torch.tensor([5, 5, 5])}, ["2 lengths", "got shape (3)"]),
    ((2, 5, 3), {"lengths": torch.tensor([[5, 5]])}, ["(1, 2)"]),
    ((2, 5, 3), {"lengths": torch.tensor([0, 5])}, ["between 1 and T=5", "[0, 5]"]),
    ((2, 5, 3), {"lengths": torch.tensor([6, 5])}, ["between 1 and T=5", "[6, 5]"]),
    ((2, 5, 3), {"lengths": torch.tensor([2.0, 5.0])}, ["integers"]),
    ((2, 5, 3), {"mask": torch.ones(2, 4, dtype=torch.bool)}, ["(2, 5)", "(2, 4)"]),
    ((2, 5, 3), {"mask": torch.ones(5, 2, dtype=torch.bool)}, ["(2, 5)", "(5, 2)"]),
    ((2, 5, 3), {"mask": torch.ones(2, 5)}, ["boolean", "torch.float32"]),
]


@pytest.mark.parametrize(("input_shape", "kwargs", "fragments"), WRONG_INPUTS)
def test_wrong_inputs_raise_shape_error(
    input_shape: tuple[int, ...], kwargs: dict[str, Tensor], fragments: list[str]
) -> None:
    td = TimeDistributed(nn.Linear(3, 2))
    with pytest.raises(ShapeError) as info:
        td(torch.randn(input_shape), **kwargs)
    assert info.value.__cause__ is None
    for fragment in fragments:
        assert fragment in str(info.value)


def test_input_without_time_axis_says_how_it_was_folded() -> None:
    td = TimeDistributed(nn.Conv2d(1, 8, 3))
    with pytest.raises(ShapeError) as info:
        td(torch.zeros(2, 1, 32, 32))  # an image batch, no time axis
    message = str(info.value)
    assert "(B, T, ...)" in message
    assert "input of shape (2, 1, 32, 32) into (B*T, ...) = (2, 32, 32)" in message
    assert "wrapped Conv2d, which raised: Given groups=1" in message
    assert "x.unsqueeze(1)" in message
    assert "\n" not in message
    # The module's own error stays visible as the cause.
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "expected input[1, 2, 32, 32] to have 1 channels" in str(info.value.__cause__)


@pytest.mark.parametrize("kwargs", [{}, {"lengths": torch.tensor([3, 1])}])
def test_module_errors_name_the_folded_shape_with_and_without_padding(
    kwargs: dict[str, Tensor],
) -> None:
    td = TimeDistributed(nn.Linear(3, 2), chunk_size=2)
    with pytest.raises(
        ShapeError, match=r"input of shape \(2, 3, 4\) into \(B\*T, ...\) = \(6, 4\)"
    ):
        td(torch.randn(2, 3, 4), **kwargs)


def test_value_errors_of_the_module_are_worded_too() -> None:
    class Picky(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            raise ValueError("Picky: wants 5-D input\nsecond line")

    with pytest.raises(ShapeError, match=r"which raised: Picky: wants 5-D input\. If") as info:
        TimeDistributed(Picky())(torch.randn(2, 3, 4))
    assert "second line" not in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)


def test_other_errors_of_the_module_pass_through() -> None:
    class Broken(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            raise KeyError("missing")

    with pytest.raises(KeyError):
        TimeDistributed(Broken())(torch.randn(2, 3, 4))


def test_lengths_and_mask_together_raise() -> None:
    td = TimeDistributed(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="not both"):
        td(torch.randn(2, 4, 3), lengths=torch.tensor([4, 2]), mask=torch.ones(2, 4).bool())


def test_output_shape_wrong_inputs() -> None:
    td = TimeDistributed(nn.Conv2d(3, 4, kernel_size=3))
    with pytest.raises(ShapeError, match=r"\(5, 3\)"):
        td.output_shape((5, 3))
    with pytest.raises(ShapeError, match=r"frames of shape \(2, 8, 8\)"):
        td.output_shape((2, 5, 2, 8, 8))


@pytest.mark.parametrize("chunk_size", [0, -1, True, 2.5, "fast", None])
def test_bad_chunk_size_is_rejected_when_built(chunk_size: Any) -> None:
    with pytest.raises(ValueError, match=r"chunk_size has to be .* but got"):
        TimeDistributed(nn.Identity(), chunk_size=chunk_size)


def test_module_has_to_return_a_tensor_per_frame() -> None:
    class Pair(nn.Module):
        def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
            return x, x

    with pytest.raises(TypeError, match="tuple"):
        TimeDistributed(Pair())(torch.randn(2, 3, 4))
    with pytest.raises(ShapeError, match=r"\(6, 4\) it returned shape \(4\)"):
        TimeDistributed(_SumFrames())(torch.randn(2, 3, 4))


class _SumFrames(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.sum(0)  # drops the frame axis


# --- equality with the per-step loop ------------------------------------------------------------


@st.composite
def padded_batches(draw: st.DrawFn) -> tuple[int, int, list[int], int]:
    batch = draw(st.integers(1, 3))
    steps = draw(st.integers(1, 5))
    lengths = draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
    seed = draw(st.integers(0, 2**16))
    return batch, steps, lengths, seed


@settings(max_examples=30, deadline=None)
@given(
    case=padded_batches(),
    chunk_size=st.sampled_from(CHUNK_SIZES),
    padding=st.sampled_from(["none", "lengths", "mask"]),
)
def test_equals_per_step_loop(
    case: tuple[int, int, list[int], int], chunk_size: Any, padding: str
) -> None:
    batch, steps, lengths, seed = case
    torch.manual_seed(seed)
    module = small_cnn().double()
    td = TimeDistributed(module, chunk_size=chunk_size)
    x = torch.randn(batch, steps, 2, 6, 6, dtype=torch.float64)
    expected = step_loop(module, x)  # (B, T, 5)

    if padding == "none":
        torch.testing.assert_close(td(x), expected, rtol=1e-12, atol=1e-12)
        return
    if padding == "lengths":
        valid = torch.arange(steps).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
        out = td(x, lengths=torch.tensor(lengths))
    else:
        valid = torch.rand(batch, steps, generator=torch.Generator().manual_seed(seed)) < 0.6
        out = td(x, mask=valid)
    for b in range(batch):
        for t in range(steps):
            if valid[b, t]:
                torch.testing.assert_close(out[b, t], expected[b, t], rtol=1e-12, atol=1e-12)
            else:
                assert torch.equal(out[b, t], torch.zeros(5, dtype=torch.float64))


@settings(max_examples=30, deadline=None)
@given(case=padded_batches(), chunk_size=st.sampled_from(CHUNK_SIZES))
def test_padding_never_reaches_the_module(
    case: tuple[int, int, list[int], int], chunk_size: Any
) -> None:
    batch, steps, lengths, seed = case
    torch.manual_seed(seed)
    x = torch.rand(batch, steps, 3, 2)
    for b, length in enumerate(lengths):
        x[b, length:] = float("nan")  # the sentinel: any padded row that is run shows up as NaN
    recorder = Recorder()
    out = TimeDistributed(recorder, chunk_size=chunk_size)(x, lengths=torch.tensor(lengths))

    assert len(recorder.seen) == sum(lengths)
    assert not any(bool(frame.isnan().any()) for frame in recorder.seen)
    valid_frames = [x[b, t] for b in range(batch) for t in range(lengths[b])]
    for seen, frame in zip(recorder.seen, valid_frames, strict=True):
        assert torch.equal(seen, frame)
    for b, length in enumerate(lengths):
        assert torch.equal(out[b, :length], 2 * x[b, :length])
        assert torch.equal(out[b, length:], torch.zeros_like(out[b, length:]))
    if isinstance(chunk_size, int):
        assert max(recorder.batch_sizes) <= chunk_size


def test_all_padded_returns_zeros_without_running_the_module() -> None:
    recorder = Recorder()
    out = TimeDistributed(recorder)(torch.randn(2, 3, 4), mask=torch.zeros(2, 3, dtype=torch.bool))
    assert recorder.seen == []
    assert torch.equal(out, torch.zeros(2, 3, 4))


# --- batch statistics --------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 2, "auto", "all"])
def test_batchnorm_training_sees_only_valid_frames_in_one_batch(chunk_size: Any) -> None:
    lengths = [4, 1, 3]
    x = torch.randn(3, 4, 2, 5, 5) * 3 + 1
    for b, length in enumerate(lengths):
        x[b, length:] = 1e3  # padding that would wreck the statistics if it were seen
    td = TimeDistributed(nn.BatchNorm2d(2, momentum=0.3), chunk_size=chunk_size).train()
    out = td(x, lengths=torch.tensor(lengths))

    reference = nn.BatchNorm2d(2, momentum=0.3).train()
    valid = torch.stack([x[b, t] for b in range(3) for t in range(lengths[b])])  # (8, 2, 5, 5)
    expected = reference(valid)

    bn = td.module
    assert isinstance(bn, nn.BatchNorm2d)
    assert bn.running_mean is not None and bn.running_var is not None
    torch.testing.assert_close(bn.running_mean, reference.running_mean)
    torch.testing.assert_close(bn.running_var, reference.running_var)
    assert int(bn.num_batches_tracked) == 1
    got = torch.cat([out[b, : lengths[b]] for b in range(3)])
    torch.testing.assert_close(got, expected)
    assert td.plan_chunk_size(8, (2, 5, 5)) == 8


def test_batchnorm_in_eval_keeps_the_chunking() -> None:
    module = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3)).eval()
    module[1].running_mean.uniform_()  # type: ignore[operator]
    td = TimeDistributed(module, chunk_size=2)
    assert td.plan_chunk_size(10, (2, 6, 6)) == 2
    x = torch.randn(2, 5, 2, 6, 6)
    torch.testing.assert_close(td(x), step_loop(module, x))
    td.train()
    assert td.plan_chunk_size(10, (2, 6, 6)) == 10


def test_batchnorm_without_running_stats_folds_all_even_in_eval() -> None:
    td = TimeDistributed(nn.BatchNorm1d(3, track_running_stats=False), chunk_size=2).eval()
    assert td.plan_chunk_size(10, (3,)) == 10
    x = torch.randn(2, 5, 3)
    expected = nn.functional.batch_norm(x.reshape(10, 3), None, None, training=True)
    torch.testing.assert_close(td(x), expected.reshape(2, 5, 3))


def test_instance_norm_tracking_stats_folds_all_in_training() -> None:
    td = TimeDistributed(nn.InstanceNorm1d(3, track_running_stats=True), chunk_size=2)
    assert td.plan_chunk_size(10, (3, 4)) == 10
    td.eval()
    assert td.plan_chunk_size(10, (3, 4)) == 2


# --- chunk planning ----------------------------------------------------------------------------


def test_auto_chunk_comes_from_the_activation_bytes_per_frame() -> None:
    # Conv2d(3, 8, 3, padding=1) on 3x16x16 makes one new tensor: 8*16*16 float32 = 8 KiB/frame.
    td = TimeDistributed(nn.Conv2d(3, 8, kernel_size=3, padding=1))
    per_frame = 8 * 16 * 16 * 4
    largest = AUTO_CHUNK_BYTES // per_frame
    frames = 3 * largest + 5
    chunks = math.ceil(frames / largest)
    assert td.plan_chunk_size(frames, (3, 16, 16)) == math.ceil(frames / chunks)
    assert td.plan_chunk_size(largest, (3, 16, 16)) == largest  # fits: one batch
    assert td.plan_chunk_size(frames, (3, 16, 16), device="meta") == frames  # not a CPU


def test_auto_chunks_split_evenly_and_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # ReLU and the recorder's doubling each make 4 float32 values (16 bytes) a frame: 32 bytes,
    # so a 96-byte budget fits 3 frames.
    monkeypatch.setattr(TimeDistributed, "auto_chunk_bytes", 96)
    recorder = Recorder()
    td = TimeDistributed(nn.Sequential(nn.ReLU(), recorder))
    x = torch.randn(2, 5, 4)
    out = td(x)
    assert recorder.batch_sizes == [3, 3, 3, 1]  # ceil(10 / ceil(10 / 3)) = 3 frames a chunk
    torch.testing.assert_close(out, 2 * x.relu())


def test_auto_falls_back_when_the_module_cannot_run_on_meta() -> None:
    class DataDependent(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return x * 2 if bool(x.sum() > 0) else x  # needs real data

    td = TimeDistributed(DataDependent())
    per_frame = 3 * 32 * 32 * 4 * 16  # input bytes times the fallback expansion of 16
    largest = AUTO_CHUNK_BYTES // per_frame
    assert td.plan_chunk_size(largest * 2, (3, 32, 32)) == largest
    x = torch.rand(2, 3, 3, 4, 4)
    torch.testing.assert_close(td(x), 2 * x)


def test_auto_is_deterministic_and_matches_other_chunkings_in_eval() -> None:
    module = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten()).eval()
    x = torch.randn(3, 4, 2, 6, 6)
    auto = TimeDistributed(module)
    first = auto(x)
    assert torch.equal(auto(x), first)  # same module, input and chunking: same kernels
    for chunk_size in (1, 5, "all"):
        torch.testing.assert_close(TimeDistributed(module, chunk_size=chunk_size)(x), first)


# --- module behaviour ----------------------------------------------------------------------------


def test_gradients_reach_every_parameter_through_padding() -> None:
    td = TimeDistributed(small_cnn(), chunk_size=2)
    x = torch.randn(3, 4, 2, 6, 6, requires_grad=True)
    td(x, lengths=torch.tensor([4, 2, 1])).square().sum().backward()
    for name, parameter in td.named_parameters():
        assert parameter.grad is not None, name
        assert bool(parameter.grad.abs().sum() > 0), name
    assert x.grad is not None
    assert torch.equal(x.grad[1, 2:], torch.zeros_like(x.grad[1, 2:]))
    assert bool(x.grad[1, :2].abs().sum() > 0)


def test_gradcheck_float64_with_lengths_and_chunks() -> None:
    td = TimeDistributed(nn.Sequential(nn.Linear(3, 4), nn.Tanh()).double(), chunk_size=2)
    x = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([3, 1])
    assert torch.autograd.gradcheck(lambda inp: td(inp, lengths=lengths), (x,))


def test_state_dict_round_trip() -> None:
    source = TimeDistributed(small_cnn(), chunk_size=3)
    target = TimeDistributed(small_cnn(), chunk_size="all")
    x = torch.randn(2, 3, 2, 6, 6)
    assert not torch.allclose(source(x), target(x))
    assert all(key.startswith("module.") for key in source.state_dict())
    target.load_state_dict(source.state_dict())
    torch.testing.assert_close(target(x), source(x))


def test_jit_trace_runs_on_other_batch_and_time_sizes() -> None:
    td = TimeDistributed(small_cnn(), chunk_size=2).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.9+ deprecates jit.trace
        traced = torch.jit.trace(td, torch.randn(2, 4, 2, 6, 6))
    x = torch.randn(3, 5, 2, 6, 6)
    torch.testing.assert_close(traced(x), step_loop(td.module, x))


def test_torch_export_with_dynamic_batch_and_time() -> None:
    td = TimeDistributed(small_cnn(), chunk_size=2).eval()
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("steps")}
    exported = torch.export.export(td, (torch.randn(2, 4, 2, 6, 6),), dynamic_shapes=(dims,))
    x = torch.randn(3, 5, 2, 6, 6)
    torch.testing.assert_close(exported.module()(x), step_loop(td.module, x))


def test_compiles_in_one_graph_despite_the_error_wording() -> None:
    td = TimeDistributed(small_cnn(), chunk_size=2).eval()
    compiled = torch.compile(td, fullgraph=True, backend="eager")  # a graph break would raise
    x = torch.randn(2, 3, 2, 6, 6)
    torch.testing.assert_close(compiled(x), step_loop(td.module, x))


def test_repr_is_readable() -> None:
    text = repr(TimeDistributed(nn.Conv2d(3, 4, kernel_size=3), chunk_size=8))
    assert text.startswith("TimeDistributed(\n  chunk_size=8\n  (module): Conv2d(3, 4")
    assert "chunk_size='auto'" in repr(TimeDistributed(nn.Identity()))


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # inside Keras
def test_matches_keras_time_distributed_dense() -> None:
    import keras

    assert keras.backend.backend() == "torch"
    torch.manual_seed(1)
    linear = nn.Linear(4, 3)
    layer = keras.layers.TimeDistributed(keras.layers.Dense(3))
    x = torch.randn(2, 5, 4)
    layer.build(tuple(x.shape))
    layer.set_weights([linear.weight.detach().T.numpy(), linear.bias.detach().numpy()])
    expected = torch.as_tensor(keras.ops.convert_to_numpy(layer(x)))
    out = TimeDistributed(linear, chunk_size=3)(x)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


# --- channels_last on CPU -----------------------------------------------------------------------


class ViewHead(nn.Module):
    """A custom forward that ``.view``s its conv output: only the standard layout allows it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, kernel_size=3)

    def forward(self, x: Tensor) -> Tensor:
        y: Tensor = self.conv(x)
        return y.view(y.shape[0], -1)


class MyConv(nn.Conv2d):
    """A subclass may override forward: not known to be layout-agnostic."""


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (small_cnn(), True),
        (nn.Sequential(nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3)), nn.GELU()), True),
        (nn.Conv2d(2, 3, 3), True),
        (nn.Sequential(nn.MaxPool2d(2), nn.ReLU()), False),  # no convolution to speed up
        (ViewHead(), False),
        (nn.Sequential(MyConv(2, 3, 3), nn.ReLU()), False),
        (nn.Sequential(nn.Conv2d(2, 3, 3), nn.LSTM(3, 3)), False),
    ],
)
def test_which_modules_run_channels_last(module: nn.Module, expected: bool) -> None:
    frames = torch.randn(4, 2, 6, 6)
    assert TimeDistributed(module).uses_channels_last(frames) is expected
    assert not TimeDistributed(module, channels_last=False).uses_channels_last(frames)
    assert not TimeDistributed(module).uses_channels_last(frames[:, :, 0])  # 3-D frames


def test_channels_last_changes_neither_values_gradients_nor_layout() -> None:
    torch.manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2)
    ).double()
    x = torch.randn(3, 4, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2, 3])
    results = []
    for channels_last in (True, False):
        td = TimeDistributed(cnn, chunk_size=3, channels_last=channels_last).eval()
        out = td(x, lengths=lengths)  # (B, T, 4, 3, 3)
        assert out.is_contiguous()
        grads = torch.autograd.grad(out.square().sum(), [x, *cnn.parameters()])
        results.append((out, grads))
    (out, grads), (plain, plain_grads) = results
    torch.testing.assert_close(out, plain, rtol=1e-12, atol=1e-12)
    for got, expected in zip(grads, plain_grads, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_a_module_that_views_its_output_still_runs() -> None:
    module = ViewHead()
    x = torch.randn(2, 3, 2, 5, 5)
    torch.testing.assert_close(TimeDistributed(module)(x), step_loop(module, x))


def test_bad_channels_last_is_rejected_when_built() -> None:
    with pytest.raises(ValueError, match=r"channels_last has to be a bool, but got 'yes'"):
        TimeDistributed(nn.Identity(), channels_last="yes")  # type: ignore[arg-type]
