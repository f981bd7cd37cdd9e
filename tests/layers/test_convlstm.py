"""ConvLSTM against a slow per-step reference, Keras 3's ConvLSTM2D and float64 gradcheck."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from cnnlstm.errors import ShapeError
from cnnlstm.layers import activations, convlstm, convlstm_cell
from cnnlstm.layers.convlstm import ConvLSTM, ConvLSTM1d, ConvLSTM2d, ConvLSTM3d
from cnnlstm.layers.convlstm_cell import ConvLSTMCell, ConvLSTMCell1d, ConvLSTMCell3d

CLASSES: dict[int, type[ConvLSTM] | type[ConvLSTM1d] | type[ConvLSTM3d]] = {
    1: ConvLSTM1d,
    2: ConvLSTM,
    3: ConvLSTM3d,
}
SPATIAL: dict[int, tuple[int, ...]] = {1: (7,), 2: (5, 6), 3: (3, 4, 5)}


# --- the reference --------------------------------------------------------------------------


def same_pad(x: Tensor, kernel: tuple[int, ...]) -> Tensor:
    """Zero-pad the spatial axes of ``(N, C, *S)`` for a "same" convolution, extra on the right."""
    pads: list[int] = []
    for k in reversed(kernel):  # F.pad lists the last axis first
        total = k - 1
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def group_norm(x: Tensor, groups: int, weight: Tensor, bias: Tensor, eps: float) -> Tensor:
    """GroupNorm of one sample ``(1, C, *S)`` written out: mean/var over each group's values."""
    shape = x.shape
    grouped = x.reshape(groups, -1)
    mean = grouped.mean(dim=1, keepdim=True)
    var = grouped.var(dim=1, unbiased=False, keepdim=True)
    normed = ((grouped - mean) / torch.sqrt(var + eps)).reshape(shape)
    view = (1, -1) + (1,) * (x.dim() - 2)
    return normed * weight.view(view) + bias.view(view)


def reference(
    module: Any,
    x: Tensor,
    *,
    lengths: list[int] | None = None,
    state: tuple[Any, Any] | None = None,
) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """ConvLSTM the slow obvious way: per layer, direction, sequence and step, one convolution of
    the concatenation ``[x_t, h]`` with the input and hidden kernels side by side, and the gate
    equations of Shi et al. written out. With ``padding="valid"`` only ``h`` is zero-padded, to
    the size of ``x_t``, and the convolution of the concatenation pads nothing.

    ``state`` is indexed by cell: ``state[0][k]`` is cell ``k``'s ``(B, hidden, *S_k)`` (a stacked
    tensor or a list). Returns ``(output, h_n, c_n)`` in the module's layout; h_n and c_n are
    lists with one ``(B, hidden, *S_k)`` per cell.
    """
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[module.spatial_dims]
    if not module.batch_first:
        x = x.transpose(0, 1)
    batch, steps = x.shape[:2]
    valid = getattr(module, "padding", "same") == "valid"
    lengths = lengths or [steps] * batch
    directions = 2 if module.bidirectional else 1
    layer_input = x
    h_n, c_n = [], []
    for layer in range(module.num_layers):
        hidden = module.hidden_channels[layer]
        spatial = layer_input.shape[3:]
        if valid:  # each layer's state is its input grid shrunk by kernel - 1 on every axis
            spatial = tuple(s - k + 1 for s, k in zip(spatial, module.kernel_size, strict=True))
        outputs = []
        for direction in range(directions):
            cell = module.cells[layer * directions + direction]
            weight = torch.cat([cell.input_conv.weight, cell.hidden_conv.weight], dim=1)
            bias = cell.input_conv.bias
            output = x.new_zeros(batch, steps, hidden, *spatial)
            h_last, c_last = [], []
            for b in range(batch):
                if state is None:
                    h = x.new_zeros(1, hidden, *spatial)
                    c = x.new_zeros(1, hidden, *spatial)
                else:
                    h = state[0][layer * directions + direction][b : b + 1]
                    c = state[1][layer * directions + direction][b : b + 1]
                order = range(lengths[b]) if direction == 0 else reversed(range(lengths[b]))
                for t in order:
                    if valid:
                        both = torch.cat(
                            [layer_input[b : b + 1, t], same_pad(h, module.kernel_size)], dim=1
                        )
                        z = conv(both, weight, bias)
                    else:
                        both = torch.cat([layer_input[b : b + 1, t], h], dim=1)
                        z = conv(same_pad(both, module.kernel_size), weight, bias)
                    if module.norm is not None:
                        groups = 1 if module.norm == "layer" else 4 * cell.norm_groups
                        norm = cell.gate_norm
                        z = group_norm(z, groups, norm.weight, norm.bias, norm.eps)
                    zi, zf, zg, zo = z.split(hidden, dim=1)
                    if module.peephole:
                        zi = zi + cell.peephole_i * c
                        zf = zf + cell.peephole_f * c
                    i, f, g = torch.sigmoid(zi), torch.sigmoid(zf), torch.tanh(zg)
                    c = f * c + i * g
                    if module.peephole:
                        zo = zo + cell.peephole_o * c
                    c_shown = c
                    if module.norm is not None:
                        groups = 1 if module.norm == "layer" else cell.norm_groups
                        norm = cell.cell_norm
                        c_shown = group_norm(c, groups, norm.weight, norm.bias, norm.eps)
                    h = torch.sigmoid(zo) * torch.tanh(c_shown)
                    output[b, t] = h[0]
                h_last.append(h[0])
                c_last.append(c[0])
            outputs.append(output)
            h_n.append(torch.stack(h_last))
            c_n.append(torch.stack(c_last))
        layer_input = torch.cat(outputs, dim=2)
    if not module.batch_first:
        layer_input = layer_input.transpose(0, 1)
    return layer_input, h_n, c_n


def randomize(module: nn.Module) -> nn.Module:
    """Non-trivial values for the parameters that start trivial (peepholes 0, norm scales 1)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "peephole" in name or "norm.bias" in name:
                p.uniform_(-0.8, 0.8)
            elif "norm.weight" in name:
                p.uniform_(0.5, 1.5)
    return module


def per_cell(states: Tensor | tuple[Tensor, ...]) -> list[Tensor]:
    """``h_n`` or ``c_n`` (stacked, or one tensor per layer) as one ``(B, hidden, *S)`` per cell."""
    if isinstance(states, Tensor):
        return list(states.unbind(0))
    return [cell for layer in states for cell in layer.unbind(0)]


# --- against the reference ------------------------------------------------------------------

REFERENCE_CASES: list[tuple[int, dict[str, Any], list[int] | None, bool]] = [
    # (spatial dims, constructor kwargs, lengths, pass an initial state)
    (2, {}, None, False),
    (2, {"num_layers": 2}, None, False),
    (2, {"hidden_channels": [5, 3]}, None, False),
    (2, {"bidirectional": True}, None, False),
    (2, {"bidirectional": True, "num_layers": 2}, [4, 2], False),
    (2, {"num_layers": 2}, [3, 1], True),
    (2, {"bidirectional": True}, [2, 4], True),
    (2, {"peephole": True}, None, True),
    (2, {"peephole": True, "bidirectional": True}, [3, 4], False),
    (2, {"norm": "layer"}, None, False),
    (2, {"norm": "group", "norm_groups": 2, "peephole": True}, None, True),
    (2, {"batch_first": False, "num_layers": 2}, None, False),
    (2, {"batch_first": False, "bidirectional": True}, [1, 4], True),
    (2, {"kernel_size": 2}, None, False),
    (2, {"kernel_size": (4, 1), "bias": False}, None, True),
    (2, {"kernel_size": (3, 5)}, None, False),
    (1, {"kernel_size": 5, "bidirectional": True, "num_layers": 2}, [4, 3], False),
    (1, {"peephole": True, "kernel_size": 2}, None, True),
    (3, {"num_layers": 2}, None, False),
    (3, {"bidirectional": True, "peephole": True, "kernel_size": (3, 2, 1)}, [2, 4], True),
    (2, {"padding": "valid"}, None, False),
    (2, {"padding": "valid", "num_layers": 2, "bidirectional": True}, [4, 2], True),
    (2, {"padding": "valid", "kernel_size": (2, 3), "peephole": True}, None, True),
    (2, {"padding": "valid", "hidden_channels": [5, 3], "batch_first": False}, [1, 4], False),
    (2, {"padding": "valid", "kernel_size": 2, "norm": "layer", "num_layers": 2}, None, True),
    (1, {"padding": "valid", "kernel_size": 2, "num_layers": 2}, None, True),
    (3, {"padding": "valid", "kernel_size": (2, 1, 3), "norm": "group"}, [2, 4], False),
]


@pytest.mark.parametrize(("dims", "kwargs", "lengths", "with_state"), REFERENCE_CASES)
def test_matches_reference(
    dims: int, kwargs: dict[str, Any], lengths: list[int] | None, with_state: bool
) -> None:
    kwargs = dict(kwargs)
    hidden = kwargs.pop("hidden_channels", 4)
    kwargs.setdefault("kernel_size", 3)
    module = randomize(CLASSES[dims](3, hidden, **kwargs)).double()
    batch, steps = 2, 4
    shape = (batch, steps, 3, *SPATIAL[dims])
    if not module.batch_first:
        shape = (steps, batch, *shape[2:])
    x = torch.randn(shape, dtype=torch.float64)
    state: Any = None
    ref_state: Any = None
    if with_state:
        valid = kwargs.get("padding") == "valid"
        kernel = module.kernel_size
        d = module.num_directions
        per_layer = []  # (h_0, c_0) of each layer, (directions, B, hidden, *S_layer)
        for layer in range(module.num_layers):
            shrink = layer + 1 if valid else 0
            grid = [s - shrink * (k - 1) for s, k in zip(SPATIAL[dims], kernel, strict=True)]
            size = (d, batch, 4, *grid)
            per_layer.append(
                (torch.randn(size, dtype=torch.float64), torch.randn(size, dtype=torch.float64))
            )
        ref_state = tuple(
            [cell for h in part for cell in h] for part in zip(*per_layer, strict=True)
        )
        if valid and module.num_layers > 1:  # the grids differ: one tensor per layer
            state = tuple(tuple(part) for part in zip(*per_layer, strict=True))
        else:
            state = tuple(torch.cat(part) for part in zip(*per_layer, strict=True))
    output, (h_n, c_n) = module(
        x, state, lengths=None if lengths is None else torch.tensor(lengths)
    )
    expected, h_ref, c_ref = reference(module, x, lengths=lengths, state=ref_state)
    assert output.shape == module.output_shape(x.shape)
    torch.testing.assert_close(output, expected)
    if isinstance(h_n, Tensor):
        torch.testing.assert_close(h_n, torch.stack(h_ref))
        torch.testing.assert_close(c_n, torch.stack(c_ref))
    else:  # one (directions, B, hidden, *S) tensor per layer when the hidden sizes differ
        d = module.num_directions
        assert len(h_n) == len(c_n) == module.num_layers
        for layer in range(module.num_layers):
            torch.testing.assert_close(h_n[layer], torch.stack(h_ref[layer * d : layer * d + d]))
            torch.testing.assert_close(c_n[layer], torch.stack(c_ref[layer * d : layer * d + d]))


@pytest.mark.parametrize(
    ("steps_per_chunk", "frames_per_call"),
    [(1, [2, 2, 2, 2]), (3, [4, 4])],  # 3 of 4 steps fit: two even chunks of 2 steps
)
def test_input_conv_in_chunks_matches_reference(
    steps_per_chunk: int, frames_per_call: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large clips run the input convolution a few steps at a time; the result is the same."""
    module = randomize(ConvLSTM(3, 4, num_layers=2, bidirectional=True, peephole=True)).double()
    x = torch.randn(2, 4, 3, 5, 6, dtype=torch.float64)
    step_bytes = 2 * 4 * 4 * 5 * 6 * 8  # B * 4 * hidden * H * W * float64
    monkeypatch.setattr(convlstm, "INPUT_CONV_CHUNK_BYTES", steps_per_chunk * step_bytes)
    calls: list[int] = []
    module.cells[0].input_conv.register_forward_hook(
        lambda _m, args, _out: calls.append(args[0].shape[0])
    )
    output, (h_n, c_n) = module(x, lengths=torch.tensor([4, 3]))
    assert calls == frames_per_call
    expected, h_ref, c_ref = reference(module, x, lengths=[4, 3])
    torch.testing.assert_close(output, expected)
    torch.testing.assert_close(h_n, torch.stack(h_ref))
    torch.testing.assert_close(c_n, torch.stack(c_ref))


def test_lengths_equal_running_each_sequence_alone() -> None:
    """A padded sequence gives what the same sequence cut to its length gives, then zeros."""
    module = ConvLSTM(2, 3, bidirectional=True, num_layers=2)
    x = torch.randn(3, 5, 2, 4, 4)
    lengths = torch.tensor([5, 2, 3])
    output, (h_n, c_n) = module(x, lengths=lengths)
    for b, length in enumerate(lengths.tolist()):
        alone, (h_alone, c_alone) = module(x[b : b + 1, :length])
        torch.testing.assert_close(output[b : b + 1, :length], alone)
        assert torch.count_nonzero(output[b, length:]) == 0
        torch.testing.assert_close(h_n[:, b : b + 1], h_alone)
        torch.testing.assert_close(c_n[:, b : b + 1], c_alone)


# --- against Keras 3 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kernel_size", "padding"),
    [(3, "same"), (2, "same"), ((2, 3), "same"), (3, "valid"), ((2, 3), "valid")],
)
def test_matches_keras_convlstm2d(kernel_size: int | tuple[int, int], padding: str) -> None:
    import keras  # conftest.py selects the torch backend

    module = ConvLSTM(3, 4, kernel_size, padding=padding).eval()  # type: ignore[arg-type]
    layer = keras.layers.ConvLSTM2D(
        4, kernel_size, padding=padding, return_sequences=True, return_state=True
    )
    x = torch.randn(2, 5, 3, 6, 7)
    x_keras = x.permute(0, 1, 3, 4, 2).numpy()  # (B, T, H, W, C)
    layer.build(x_keras.shape)
    cell = module.cells[0]
    layer.set_weights(
        [
            cell.input_conv.weight.detach().permute(2, 3, 1, 0).numpy(),  # (kh, kw, C, 4C')
            cell.hidden_conv.weight.detach().permute(2, 3, 1, 0).numpy(),  # (kh, kw, C', 4C')
            cell.input_conv.bias.detach().numpy(),
        ]
    )
    out_k, h_k, c_k = (np.asarray(keras.ops.convert_to_numpy(t)) for t in layer(x_keras))
    output, (h_n, c_n) = module(x)
    torch.testing.assert_close(
        output.detach().permute(0, 1, 3, 4, 2), torch.from_numpy(out_k), atol=1e-5, rtol=1e-4
    )
    torch.testing.assert_close(
        h_n[0].detach().permute(0, 2, 3, 1), torch.from_numpy(h_k), atol=1e-5, rtol=1e-4
    )
    torch.testing.assert_close(
        c_n[0].detach().permute(0, 2, 3, 1), torch.from_numpy(c_k), atol=1e-5, rtol=1e-4
    )


# --- gradients ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_layers": 2, "bidirectional": True},
        {"peephole": True, "norm": "layer"},
        {"peephole": True, "norm": "group", "norm_groups": 1, "kernel_size": 2},
        {"padding": "valid", "num_layers": 2, "kernel_size": 2, "bidirectional": True},
    ],
)
def test_gradcheck(kwargs: dict[str, Any]) -> None:
    module = randomize(ConvLSTM(2, 2, **kwargs)).double()
    names = [name for name, _ in module.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in module.parameters())
    x = torch.randn(2, 3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([3, 2])

    def run(x: Tensor, *values: Tensor) -> tuple[Tensor, ...]:
        output, (h_n, c_n) = torch.func.functional_call(
            module, dict(zip(names, values, strict=True)), (x,), {"lengths": lengths}
        )
        return output, *per_cell(h_n), *per_cell(c_n)

    assert torch.autograd.gradcheck(run, (x, *params), fast_mode=True)


def test_gradients_reach_every_parameter() -> None:
    module = ConvLSTM(
        2, 3, num_layers=2, bidirectional=True, peephole=True, norm="group", norm_groups=3
    )
    x = torch.randn(2, 4, 2, 5, 5, requires_grad=True)
    output, (h_n, c_n) = module(x, lengths=torch.tensor([4, 3]))
    (output.square().sum() + h_n.sum() + c_n.sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in module.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


# --- shapes, padding and state --------------------------------------------------------------


@pytest.mark.parametrize("kernel_size", [2, 4, (2, 5), (1, 6)])
def test_even_kernel_keeps_the_grid(kernel_size: int | tuple[int, int]) -> None:
    module = ConvLSTM(2, 3, kernel_size)
    output, (h_n, _) = module(torch.randn(2, 3, 2, 7, 8))
    assert output.shape == (2, 3, 3, 7, 8)
    assert h_n.shape == (1, 2, 3, 7, 8)


_FRESH_PROCESS = """
import warnings
import torch
warnings.simplefilter("error")  # any warning fails the run
if {plain}:
    torch.nn.Conv2d(2, 4, 4, padding="same")(torch.randn(1, 2, 6, 6))
else:
    from cnnlstm.layers.convlstm import ConvLSTM, ConvLSTM3d
    output, _ = ConvLSTM(2, 3, kernel_size=4)(torch.randn(1, 2, 2, 6, 6))
    ConvLSTM3d(2, 3, kernel_size=(2, 3, 3))(torch.randn(1, 2, 2, 4, 4, 4))
    print(tuple(output.shape))
"""


@pytest.mark.parametrize("plain", [True, False])
def test_even_kernel_gives_no_torch_padding_warning(plain: bool) -> None:
    # torch gives this warning once per process, so only a fresh one shows whether it leaks.
    done = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS.format(plain=plain)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if plain:  # the control: torch does warn for a plain even-kernel "same" convolution
        assert done.returncode != 0
        assert "Using padding='same' with even kernel lengths" in done.stderr
    else:
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "(1, 2, 3, 6, 6)"
    with warnings.catch_warnings(record=True) as caught:  # and here, in this process
        warnings.simplefilter("always")
        ConvLSTM(2, 3, kernel_size=4)(torch.randn(1, 2, 2, 6, 6))
    assert not caught


@given(
    dims=st.sampled_from([1, 2, 3]),
    layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    hidden=st.integers(1, 4),
    size=st.integers(1, 4),
    steps=st.integers(1, 3),
)
@settings(max_examples=20, deadline=None)
def test_output_shape_matches_forward(
    dims: int,
    layers: int,
    bidirectional: bool,
    batch_first: bool,
    hidden: int,
    size: int,
    steps: int,
) -> None:
    module = CLASSES[dims](
        2, hidden, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first
    )
    shape = (2, steps, 2, *([size] * dims)) if batch_first else (steps, 2, 2, *([size] * dims))
    output, (h_n, c_n) = module(torch.randn(shape))
    assert tuple(output.shape) == module.output_shape(shape)
    assert output.shape[2] == module.out_channels == hidden * (2 if bidirectional else 1)
    directions = 2 if bidirectional else 1
    assert h_n.shape == c_n.shape == (layers * directions, 2, hidden, *([size] * dims))


@pytest.mark.parametrize(
    ("cls", "kwargs", "shape", "expected"),
    [
        (ConvLSTM, {}, (2, 5, 3, 9, 8), (2, 5, 4, 7, 6)),
        (ConvLSTM, {"num_layers": 3}, (2, 5, 3, 9, 8), (2, 5, 4, 3, 2)),
        (
            ConvLSTM,
            {"kernel_size": (2, 4), "bidirectional": True},
            (2, 5, 3, 9, 8),
            (2, 5, 8, 8, 5),
        ),
        (ConvLSTM, {"kernel_size": 1}, (2, 5, 3, 9, 8), (2, 5, 4, 9, 8)),
        (ConvLSTM, {"batch_first": False}, (5, 2, 3, 3, 3), (5, 2, 4, 1, 1)),
        (ConvLSTM1d, {"kernel_size": 5, "num_layers": 2}, (2, 5, 3, 12), (2, 5, 4, 4)),
        (ConvLSTM3d, {"kernel_size": (1, 2, 3)}, (2, 5, 3, 4, 5, 6), (2, 5, 4, 4, 4, 4)),
    ],
)
def test_valid_padding_shrinks_the_grid(
    cls: Any, kwargs: dict[str, Any], shape: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    """Each layer's input convolution is unpadded: the grid loses kernel - 1 per layer."""
    module = cls(3, 4, padding="valid", **kwargs)
    assert module.output_shape(shape) == expected
    output, (h_n, _) = module(torch.randn(shape))
    assert tuple(output.shape) == expected
    last = h_n if isinstance(h_n, Tensor) else h_n[-1]
    assert tuple(last.shape[-len(shape) + 3 :]) == expected[3:]


def test_valid_padding_states_per_layer_and_carry_over() -> None:
    """With padding='valid' and two layers the state grids differ, so h_n is one per layer."""
    module = randomize(ConvLSTM(2, 3, num_layers=2, padding="valid", peephole=True))
    x = torch.randn(2, 6, 2, 7, 8)
    whole, (h_whole, c_whole) = module(x)
    assert isinstance(h_whole, tuple) and isinstance(c_whole, tuple)
    assert [tuple(h.shape) for h in h_whole] == [(1, 2, 3, 5, 6), (1, 2, 3, 3, 4)]
    first, state = module(x[:, :4])
    second, (h_n, c_n) = module(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
    for got, want in zip((*h_n, *c_n), (*h_whole, *c_whole), strict=True):
        torch.testing.assert_close(got, want)
    with pytest.raises(ShapeError, match="shrinks the grid with padding='valid'"):
        module(x, (torch.zeros(2, 2, 3, 5, 6), torch.zeros(2, 2, 3, 5, 6)))
    with pytest.raises(ShapeError, match=r"\(1, 2, 3, 3, 4\)\] .* got \[\(1, 2, 3, 5, 6\)"):
        module(x, ((h_whole[0], h_whole[0]), (c_whole[0], c_whole[0])))
    single = ConvLSTM(2, 3, padding="valid")
    with pytest.raises(ShapeError, match=r"expected h_0 to be \(1, 2, 3, 5, 6\)"):
        single(x, (torch.zeros(1, 2, 3, 7, 8), torch.zeros(1, 2, 3, 7, 8)))


def test_state_carry_over_equals_one_run() -> None:
    module = ConvLSTM(2, 3, num_layers=2, peephole=True, norm="layer")
    randomize(module)
    x = torch.randn(2, 6, 2, 5, 5)
    whole, (h_whole, c_whole) = module(x)
    first, state = module(x[:, :4])
    second, (h_n, c_n) = module(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
    torch.testing.assert_close(h_n, h_whole)
    torch.testing.assert_close(c_n, c_whole)


def test_unequal_hidden_sizes_give_one_state_per_layer() -> None:
    module = ConvLSTM(2, [5, 3], bidirectional=True)
    x = torch.randn(2, 4, 2, 4, 4)
    whole, _ = module(x)
    first, state = module(x[:, :1])
    h_n, c_n = state
    assert isinstance(h_n, tuple) and isinstance(c_n, tuple)
    assert [tuple(h.shape) for h in h_n] == [(2, 2, 5, 4, 4), (2, 2, 3, 4, 4)]
    # Unidirectional carry-over with per-layer states:
    forward_only = ConvLSTM(2, [5, 3])
    whole, _ = forward_only(x)
    first, state = forward_only(x[:, :1])
    second, _ = forward_only(x[:, 1:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
    with pytest.raises(ShapeError, match="tuple of 2 tensors"):
        forward_only(x, (torch.zeros(2, 2, 5, 4, 4), torch.zeros(2, 2, 5, 4, 4)))


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_stepping_the_cells_equals_the_full_forward(padding: str) -> None:
    module = randomize(
        ConvLSTM(2, 3, num_layers=2, peephole=True, norm="group", padding=padding)  # type: ignore[arg-type]
    )
    x = torch.randn(2, 5, 2, 6, 7)
    output, (h_n, c_n) = module(x)
    cells = list(module.cells)
    states: list[tuple[Tensor, Tensor] | None] = [None, None]
    stepped = []
    for t in range(x.shape[1]):
        frame = x[:, t]
        for k, cell in enumerate(cells):
            states[k] = cell.step(frame, states[k])
            frame = states[k][0]
        stepped.append(frame)
    torch.testing.assert_close(torch.stack(stepped, dim=1), output)
    for got, want in zip(per_cell(h_n), [s[0] for s in states if s is not None], strict=True):
        torch.testing.assert_close(got, want)
    for got, want in zip(per_cell(c_n), [s[1] for s in states if s is not None], strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("cell_class", [ConvLSTMCell1d, ConvLSTMCell, ConvLSTMCell3d])
def test_cell_step_matches_reference(cell_class: type[ConvLSTMCell], padding: Any) -> None:
    dims = cell_class.spatial_dims
    cell = randomize(cell_class(3, 4, 3, peephole=True, padding=padding)).double()
    wrapper = CLASSES[dims](3, 4, 3, peephole=True, padding=padding).double()
    wrapper.cells[0].load_state_dict(cell.state_dict())
    x = torch.randn(2, 3, 3, *SPATIAL[dims], dtype=torch.float64)
    state = None
    for t in range(3):
        state = cell.step(x[:, t], state)
    _, h_ref, c_ref = reference(wrapper, x)
    torch.testing.assert_close(state[0], h_ref[0])
    torch.testing.assert_close(state[1], c_ref[0])


def test_forget_bias_starts_at_one() -> None:
    cell = ConvLSTMCell(2, 3)
    bias = cell.input_conv.bias
    assert bias is not None
    assert torch.equal(bias[3:6], torch.ones(3))
    assert bias[:3].abs().max() < 1 and bias[6:].abs().max() < 1


# --- dropout --------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{"dropout": 0.5}, {"recurrent_dropout": 0.5}])
def test_dropout_only_in_training(kwargs: dict[str, float]) -> None:
    module = ConvLSTM(2, 4, num_layers=2, bidirectional=True, **kwargs)
    plain = ConvLSTM(2, 4, num_layers=2, bidirectional=True)
    plain.load_state_dict(module.state_dict())
    x = torch.randn(2, 4, 2, 5, 5)
    module.train()
    torch.manual_seed(1)
    first, _ = module(x)
    torch.manual_seed(2)
    second, _ = module(x)
    assert not torch.allclose(first, second)
    plain.train()
    assert not torch.allclose(first, plain(x)[0])
    module.eval()
    plain.eval()
    torch.manual_seed(1)
    first, _ = module(x)
    torch.manual_seed(2)
    second, _ = module(x)
    # In eval mode dropout is skipped, not scaled: the same ops run as in a module without it.
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    torch.testing.assert_close(first, plain(x)[0], rtol=0, atol=0)


def test_recurrent_dropout_mask_is_fixed_over_time() -> None:
    """The hidden conv sees h times the mask, so the zeros in its input are the dropped units;
    they have to be the same at every step of the sequence."""
    module = ConvLSTM(1, 2, kernel_size=1, recurrent_dropout=0.5).train()
    cell = module.cells[0]
    seen: list[Tensor] = []
    cell.hidden_conv.register_forward_hook(lambda _m, args, _out: seen.append(args[0].detach()))
    module(torch.randn(3, 5, 1, 4, 4))
    zeros = [h == 0 for h in seen]  # h itself is never exactly 0, so zeros are dropped units
    assert len(zeros) == 4  # the first step has a zero state and skips the hidden conv
    assert 0 < zeros[0].float().mean() < 1
    for mask in zeros[1:]:
        assert torch.equal(mask, zeros[0])


def test_dropout_with_one_layer_warns() -> None:
    with pytest.warns(UserWarning, match="no effect"):
        ConvLSTM(2, 3, dropout=0.2)


# --- serialisation, tracing, repr -----------------------------------------------------------


def test_state_dict_round_trip() -> None:
    kwargs: dict[str, Any] = {"num_layers": 2, "peephole": True, "norm": "layer"}
    source = randomize(ConvLSTM(2, 3, **kwargs))
    target = ConvLSTM(2, 3, **kwargs)
    target.load_state_dict(source.state_dict())
    x = torch.randn(2, 3, 2, 4, 4)
    torch.testing.assert_close(target(x)[0], source(x)[0], rtol=0, atol=0)  # same weights, ops
    keys = set(source.state_dict())
    assert "cells.0.input_conv.weight" in keys and "cells.1.hidden_conv.weight" in keys
    assert "cells.0.peephole_f" in keys and "cells.0.hidden_conv.bias" not in keys


def test_jit_trace_matches() -> None:
    module = ConvLSTM(2, 3, num_layers=2, bidirectional=True, peephole=True).eval()
    randomize(module)
    x = torch.randn(2, 4, 2, 5, 5)
    state = (torch.randn(4, 2, 3, 5, 5), torch.randn(4, 2, 3, 5, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(module, (x, state, torch.tensor([4, 2])), check_trace=False)
    other = torch.randn(2, 4, 2, 5, 5)
    other_state = (torch.randn(4, 2, 3, 5, 5), torch.randn(4, 2, 3, 5, 5))
    lengths = torch.tensor([3, 4])  # other lengths than at trace time: the mask is traced
    expected, (h_n, c_n) = module(other, other_state, lengths)
    got, (h_traced, c_traced) = traced(other, other_state, lengths)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(h_traced, h_n)
    torch.testing.assert_close(c_traced, c_n)


def test_repr_is_readable() -> None:
    module = ConvLSTM(3, 16, num_layers=2, peephole=True, bidirectional=True)
    text = repr(module)
    assert text.splitlines()[:2] == [
        "ConvLSTM(",
        "  3, 16, kernel_size=(3, 3), num_layers=2, peephole=True, bidirectional=True",
    ]
    lines = [line.strip() for line in text.splitlines()]
    assert "(0-1): 2 x ConvLSTMCell(" in lines
    assert "3, 16, kernel_size=(3, 3), peephole=True" in lines  # layer 0, both directions
    assert "32, 16, kernel_size=(3, 3), peephole=True" in lines  # layer 1 takes both directions
    cell_lines = [line.strip() for line in repr(ConvLSTMCell(2, 8, norm="group")).splitlines()]
    assert cell_lines[1] == "2, 8, kernel_size=(3, 3), norm='group', norm_groups=8"
    assert any(line.startswith("(gate_norm): GroupNorm(32, 32") for line in cell_lines)
    assert ConvLSTM2d is ConvLSTM
    valid = ConvLSTM(3, 4, padding="valid")
    assert repr(valid).splitlines()[1].strip() == (
        "3, 4, kernel_size=(3, 3), num_layers=1, padding='valid'"
    )
    assert "3, 4, kernel_size=(3, 3), padding='valid'" in repr(valid.cells[0])
    assert repr(ConvLSTMCell(3, 4)).splitlines()[1].strip() == "3, 4, kernel_size=(3, 3)"


# --- bad arguments and bad inputs -----------------------------------------------------------

BAD_ARGUMENTS: list[tuple[tuple[Any, ...], dict[str, Any], str]] = [
    ((-1, 4), {}, "in_channels has to be a positive integer, but got -1"),
    ((True, 4), {}, "in_channels has to be a positive integer, but got True"),
    ((3, 0), {}, "hidden_channels has to be a positive integer, but got 0"),
    ((3, []), {}, "hidden_channels has to be a positive integer or a non-empty sequence"),
    ((3, [4, -2]), {}, "each hidden_channels entry has to be a positive integer, but got -2"),
    ((3, [4, 4]), {"num_layers": 3}, "num_layers has to match the 2 entries"),
    ((3, 4), {"num_layers": 0}, "num_layers has to be a positive integer, but got 0"),
    ((3, 4, 0), {}, "kernel_size has to be a positive integer or a tuple of 2"),
    ((3, 4, (3, 3, 3)), {}, "kernel_size has to be .* tuple of 2 positive integers"),
    ((3, 4, 2.5), {}, "kernel_size has to be"),
    ((3, 4), {"dropout": 1.0}, r"dropout has to be a probability in \[0, 1\), but got 1.0"),
    ((3, 4), {"dropout": -0.1}, "dropout has to be a probability"),
    ((3, 4), {"recurrent_dropout": 1.5}, "recurrent_dropout has to be a probability"),
    ((3, 4), {"norm": "batch"}, "norm has to be None, 'layer' or 'group', but got 'batch'"),
    ((3, 4), {"norm": "layer", "norm_groups": 2}, "norm_groups has to be None unless"),
    ((3, 6), {"norm": "group", "norm_groups": 4}, "norm_groups has to be a positive divisor"),
    ((3, [6, 4]), {"norm": "group", "norm_groups": 3}, "positive divisor of hidden_channels=4"),
    ((3, 4), {"padding": "full"}, "padding has to be 'same' or 'valid', but got 'full'"),
    ((3, 4), {"padding": 1}, "padding has to be 'same' or 'valid', but got 1"),
]


@pytest.mark.parametrize(("args", "kwargs", "message"), BAD_ARGUMENTS)
def test_bad_arguments_fail_when_built(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ConvLSTM(*args, **kwargs)


def test_bad_cell_arguments() -> None:
    with pytest.raises(ValueError, match=r"kernel_size has to be .* tuple of 1 positive"):
        ConvLSTMCell1d(2, 3, (3, 3))
    with pytest.raises(ValueError, match="hidden_channels has to be a positive integer"):
        ConvLSTMCell3d(2, -3)
    with pytest.raises(ValueError, match="padding has to be 'same' or 'valid', but got 'causal'"):
        ConvLSTMCell(2, 3, padding="causal")  # type: ignore[arg-type]


BAD_INPUTS: list[tuple[Any, tuple[int, ...], str]] = [
    # (module, input shape, message pieces)
    (ConvLSTM(3, 4), (2, 3, 8, 8), r"expected an input \(B, T, C, H, W\) .* single frame"),
    (ConvLSTM(3, 4), (2, 5, 3, 8, 8, 8), r"\(6-D\)\. For clips of 3-D grids use ConvLSTM3d"),
    (ConvLSTM(3, 4), (2, 5, 1, 8, 8), r"expected 3 input channels .* got 1 .* \(2, 5, 1, 8, 8\)"),
    (
        ConvLSTM(3, 4, batch_first=False),
        (5, 2, 4, 8, 8),
        r"axis 2 of \(T, B, C, H, W\), got 4",
    ),
    (ConvLSTM1d(3, 4), (2, 5, 3, 8, 8), r"\(B, T, C, W\) .* use ConvLSTM"),
    (ConvLSTM3d(3, 4), (2, 5, 3, 8, 8), r"\(B, T, C, D, H, W\) .* single frame.* ConvLSTM\."),
    (ConvLSTM(3, 4), (2, 0, 3, 8, 8), "at least 1"),
    (
        ConvLSTM(3, 4, num_layers=2, padding="valid"),
        (2, 5, 3, 4, 8),
        r"frames have to be at least \(5, 5\) in \(H, W\), got shape \(2, 5, 3, 4, 8\)",
    ),
    (
        ConvLSTM1d(3, 4, 4, padding="valid"),
        (2, 5, 3, 3),
        r"kernel_size=\(4,\) and num_layers=1.* at least \(4\) in \(W\)",
    ),
]


@pytest.mark.parametrize(("module", "shape", "message"), BAD_INPUTS)
def test_wrong_inputs_raise(module: nn.Module, shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        module(torch.zeros(shape))
    with pytest.raises(ShapeError, match=message):
        module.output_shape(shape)


BAD_STATES: list[tuple[Any, str]] = [
    # for ConvLSTM(2, 4, num_layers=2) on (3, 5, 2, 6, 6): h_0 and c_0 are (2, 3, 4, 6, 6)
    (
        (torch.zeros(2, 2, 4, 6, 6), torch.zeros(2, 2, 4, 6, 6)),
        r"expected h_0 to be \(2, 3, 4, 6, 6\) .* got a tensor of shape \(2, 2, 4, 6, 6\)",
    ),
    (
        (torch.zeros(2, 3, 4, 6, 6), torch.zeros(2, 3, 4, 6, 5)),
        r"expected c_0 .* got a tensor of shape \(2, 3, 4, 6, 5\)",
    ),
    ((torch.zeros(2, 3, 4, 5, 5),) * 2, r"got a tensor of shape \(2, 3, 4, 5, 5\)"),
    ((torch.zeros(1, 3, 4, 6, 6),) * 2, r"\(num_layers \* num_directions, B, hidden, H, W\)"),
    ((torch.zeros(2, 3, 4, 6, 6), torch.zeros(2, 3, 5, 6, 6)), "expected c_0"),
    ((torch.zeros(2, 3, 4, 6, 6),), "state has to be a pair"),
    ([[torch.zeros(2, 3, 4, 6, 6)], [torch.zeros(2, 3, 4, 6, 6)]], "one tensor per layer"),
]


@pytest.mark.parametrize(("state", "message"), BAD_STATES)
def test_wrong_state_raises(state: Any, message: str) -> None:
    module = ConvLSTM(2, 4, num_layers=2)
    with pytest.raises(ShapeError, match=message):
        module(torch.zeros(3, 5, 2, 6, 6), state)


@pytest.mark.parametrize(
    ("lengths", "message"),
    [
        (torch.tensor([5, 5]), "1-D tensor of 3 lengths"),
        (torch.tensor([5, 0, 2]), "between 1 and T=5"),
        (torch.tensor([6, 1, 2]), "between 1 and T=5"),
        (torch.tensor([1.0, 2.0, 3.0]), "integers"),
    ],
)
def test_bad_lengths_raise(lengths: Tensor, message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        ConvLSTM(2, 4)(torch.zeros(3, 5, 2, 6, 6), lengths=lengths)


CELL_BAD_INPUTS: list[tuple[Any, tuple[int, ...], Any, str]] = [
    (ConvLSTMCell(3, 4), (2, 5, 3, 8, 8), None, r"one frame \(B, C, H, W\) .* use ConvLSTM"),
    (ConvLSTMCell(3, 4), (2, 2, 8, 8), None, "expected 3 input channels .* got 2"),
    (ConvLSTMCell1d(3, 4), (2, 3, 8, 8), None, r"\(B, C, W\)"),
    (
        ConvLSTMCell(3, 4),
        (2, 3, 8, 8),
        (torch.zeros(2, 4, 8, 8), torch.zeros(2, 4, 8, 7)),
        r"state c of shape \(2, 4, 8, 8\) .* got \(2, 4, 8, 7\)",
    ),
    (ConvLSTMCell(3, 4), (2, 3, 8, 8), torch.zeros(2, 4, 8, 8), "pair"),
    (
        ConvLSTMCell(3, 4, padding="valid"),
        (2, 3, 8, 8),
        (torch.zeros(2, 4, 8, 8), torch.zeros(2, 4, 8, 8)),
        r"state h of shape \(2, 4, 6, 6\) .* minus kernel_size - 1.* got \(2, 4, 8, 8\)",
    ),
    (
        ConvLSTMCell(3, 4, (2, 5), padding="valid"),
        (2, 3, 8, 4),
        None,
        r"at least \(2, 5\) in its spatial axes, got a frame of shape \(2, 3, 8, 4\)",
    ),
]


@pytest.mark.parametrize(("cell", "shape", "state", "message"), CELL_BAD_INPUTS)
def test_cell_wrong_inputs_raise(
    cell: nn.Module, shape: tuple[int, ...], state: Any, message: str
) -> None:
    with pytest.raises(ShapeError, match=message):
        cell(torch.zeros(shape), state)


def test_errors_do_not_chain() -> None:
    with pytest.raises(ShapeError) as info:
        ConvLSTM(3, 4)(torch.zeros(2, 5, 1, 8, 8))
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert re.search(r"Change in_channels to 1", str(info.value))


CHANNELS_LAST: list[tuple[Any, tuple[int, ...], str, str | None]] = [
    # (module, channels-last input, the layout and permute the message gives, in_channels fix)
    (
        ConvLSTM(1, 4),
        (2, 5, 8, 8, 1),
        "(B, T, H, W, C): np.moveaxis(x, -1, 2) or x.permute(0, 1, 4, 2, 3).",
        None,
    ),
    (
        ConvLSTM(3, 4),
        (2, 5, 6, 7, 3),
        "(B, T, H, W, C): np.moveaxis(x, -1, 2) or x.permute(0, 1, 4, 2, 3).",
        None,
    ),
    (ConvLSTM(8, 4), (2, 5, 6, 7, 3), "(B, T, H, W, C)", "Then change in_channels to 3."),
    (
        ConvLSTM(3, 4, batch_first=False),
        (5, 2, 6, 7, 3),
        "(T, B, H, W, C): np.moveaxis(x, -1, 2) or x.permute(0, 1, 4, 2, 3).",
        None,
    ),
    (
        ConvLSTM3d(1, 4),
        (2, 5, 4, 6, 7, 1),
        "(B, T, D, H, W, C): np.moveaxis(x, -1, 2) or x.permute(0, 1, 5, 2, 3, 4).",
        None,
    ),
    (
        ConvLSTMCell(3, 4),
        (2, 6, 7, 3),
        "(B, H, W, C): np.moveaxis(x, -1, 1) or x.permute(0, 3, 1, 2).",
        None,
    ),
]


@pytest.mark.parametrize(("module", "shape", "layout", "then"), CHANNELS_LAST)
def test_channels_last_input_gets_the_permute_that_fixes_it(
    module: nn.Module, shape: tuple[int, ...], layout: str, then: str | None
) -> None:
    torch.manual_seed(0)
    x = torch.randn(shape)
    with pytest.raises(ShapeError) as info:
        module(x)
    message = str(info.value)
    assert info.value.__cause__ is None
    assert "This looks channels-last " + layout in message
    if then is None:
        assert "in_channels to" not in message  # not the old "Change in_channels to 8"
        # The permute it shows is a fix: the module takes the result, and it is np.moveaxis's.
        order = [int(i) for i in message.split("permute(")[1].split(")")[0].split(", ")]
        axis = int(message.split("np.moveaxis(x, -1, ")[1].split(")")[0])
        moved = torch.from_numpy(np.moveaxis(x.numpy(), -1, axis).copy())
        torch.testing.assert_close(x.permute(order), moved)
        module(x.permute(order))
    else:
        assert message.endswith(then)


def test_a_channel_mismatch_that_is_not_channels_last_has_no_permute() -> None:
    with pytest.raises(ShapeError) as info:
        ConvLSTM(3, 4)(torch.zeros(2, 5, 1, 8, 8))  # channels-first grey frames
    assert "channels-last" not in str(info.value)
    assert "Change in_channels to 1 or feed 3-channel input." in str(info.value)


# --- the fused gate update ------------------------------------------------------------------


@pytest.mark.parametrize("with_h", [True, False])
@pytest.mark.parametrize("with_c", [True, False])
@pytest.mark.parametrize("uses", ["h", "c", "both"])
def test_fused_gate_update_matches_the_formula_and_gradcheck(
    with_h: bool, with_c: bool, uses: str
) -> None:
    """The eager fast path: forward as written in the paper, first derivatives by gradcheck."""
    torch.manual_seed(0)
    shape = (2, 3, 4, 5)  # hidden 3: gates (2, 12, 4, 5)
    gates_x = torch.randn(2, 12, 4, 5, dtype=torch.float64, requires_grad=True)
    gates_h = torch.randn_like(gates_x, requires_grad=True) if with_h else None
    c = torch.randn(shape, dtype=torch.float64, requires_grad=True) if with_c else None

    h_new, c_new = convlstm_cell._lstm_pointwise(gates_x, gates_h, c)
    gates = gates_x if gates_h is None else gates_x + gates_h
    i, f, g, o = (gates[:, k * 3 : (k + 1) * 3] for k in range(4))
    c_ref = torch.sigmoid(i) * torch.tanh(g)
    if c is not None:
        c_ref = c_ref + torch.sigmoid(f) * c
    torch.testing.assert_close(c_new, c_ref)
    torch.testing.assert_close(h_new, torch.sigmoid(o) * torch.tanh(c_ref))

    inputs = tuple(t for t in (gates_x, gates_h, c) if t is not None)

    def run(*values: Tensor) -> Tensor:
        it = iter(values)
        gx = next(it)
        gh = next(it) if with_h else None
        cc = next(it) if with_c else None
        h_out, c_out = convlstm_cell._lstm_pointwise(gx, gh, cc)
        return {"h": h_out, "c": c_out, "both": h_out * c_out}[uses]

    assert torch.autograd.gradcheck(run, inputs)


def test_fast_path_keeps_the_standard_layout_and_matches_the_plain_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fused update changes speed, not results or layout."""
    torch.manual_seed(0)
    module = randomize(ConvLSTM(3, 4, num_layers=2))
    x = torch.randn(2, 3, 3, 6, 5, requires_grad=True)
    output, (h_n, c_n) = module(x)
    assert output.is_contiguous()
    grads = torch.autograd.grad((output.sum() + c_n.sum()), [x, *module.parameters()])
    monkeypatch.setattr(convlstm_cell, "_eager", lambda: False)
    plain, (h_plain, c_plain) = module(x)
    plain_grads = torch.autograd.grad((plain.sum() + c_plain.sum()), [x, *module.parameters()])
    torch.testing.assert_close(output, plain)
    torch.testing.assert_close(h_n, h_plain)
    for got, expected in zip(grads, plain_grads, strict=True):
        torch.testing.assert_close(got, expected)


# --- activations ----------------------------------------------------------------------------

# Written from each definition, independently of activations.activate.
REFERENCE_ACTIVATIONS = {
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1),  # Keras 3: relu6(x + 3) / 6
    "hard_sigmoid_tf2": lambda x: np.clip(0.2 * x + 0.5, 0, 1),  # tf.keras 2
    "relu": lambda x: np.maximum(x, 0),
    "linear": lambda x: x,
    "elu": lambda x: np.where(x > 0, x, np.exp(np.minimum(x, 0)) - 1),
    "selu": lambda x: (
        1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * (np.exp(np.minimum(x, 0)) - 1))
    ),
    "softsign": lambda x: x / (1 + np.abs(x)),
}


def _numpy_convlstm(module: ConvLSTM, x: np.ndarray, act: str, gate: str) -> np.ndarray:
    """One-layer ConvLSTM in float64 numpy, convolutions by torch in float64."""
    cell = module.cells[0]
    w_x = cell.input_conv.weight.detach().double()
    b_x = cell.input_conv.bias.detach().double()
    w_h = cell.hidden_conv.weight.detach().double()
    f_act, f_gate = REFERENCE_ACTIVATIONS[act], REFERENCE_ACTIVATIONS[gate]
    batch, steps = x.shape[:2]
    hidden = cell.hidden_channels
    h = np.zeros((batch, hidden, *x.shape[3:]))
    c = np.zeros_like(h)
    outputs = []
    for t in range(steps):
        gates = F.conv2d(torch.from_numpy(x[:, t]).double(), w_x, b_x, padding="same")
        gates = gates + F.conv2d(torch.from_numpy(h), w_h, padding="same")
        i, f, g, o = np.split(gates.numpy(), 4, axis=1)
        c = f_gate(f) * c + f_gate(i) * f_act(g)
        h = f_gate(o) * f_act(c)
        outputs.append(h)
    return np.stack(outputs, axis=1)


@pytest.mark.parametrize(
    ("act", "gate"),
    [
        ("tanh", "sigmoid"),
        ("relu", "sigmoid"),
        ("tanh", "hard_sigmoid"),
        ("tanh", "hard_sigmoid_tf2"),
        ("linear", "sigmoid"),
        ("elu", "hard_sigmoid"),
        ("selu", "sigmoid"),
        ("softsign", "hard_sigmoid_tf2"),
        ("relu", "relu"),
    ],
)
def test_activations_match_their_definitions(act: str, gate: str) -> None:
    torch.manual_seed(0)
    module = ConvLSTM(2, 3, 3, activation=act, recurrent_activation=gate)
    x = np.random.default_rng(0).normal(size=(2, 4, 2, 5, 6)).astype(np.float32) * 2
    expected = _numpy_convlstm(module, x, act, gate)
    with torch.no_grad():
        got = module(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(got, expected, atol=2e-5, rtol=1e-5)


def test_non_default_activations_train_and_script() -> None:
    cell = ConvLSTMCell(2, 3, activation="relu", recurrent_activation="hard_sigmoid_tf2")
    h, c = cell(torch.randn(2, 2, 5, 5, requires_grad=True))
    (h.sum() + c.sum()).backward()
    assert cell.input_conv.weight.grad is not None
    scripted = torch.jit.script(activations.activate)
    x = torch.linspace(-4, 4, 9)
    assert torch.equal(scripted(x, "hard_sigmoid_tf2"), activations.activate(x, "hard_sigmoid_tf2"))


@pytest.mark.parametrize("grad_modes", [(True, False, True), (False, True)])
def test_other_activations_trace_through_the_scripted_loop_every_time(
    grad_modes: tuple[bool, ...],
) -> None:
    """The activation names are TorchScript constants, not submodules: with Activation modules,
    a trace around the scripted export loop failed from the second one in a process on."""
    from cnnlstm.export_script import script_time_loops

    module = ConvLSTM(2, 3, activation="relu", recurrent_activation="hard_sigmoid_tf2").eval()
    holder = nn.Sequential(module)
    for grad in grad_modes:
        scripted, count = script_time_loops(holder)
        assert count == 1
        with torch.set_grad_enabled(grad):
            traced = torch.jit.trace(scripted, (torch.randn(2, 3, 2, 5, 5),), check_trace=False)
        x = torch.randn(2, 6, 2, 5, 5)  # a length the trace never saw
        with torch.no_grad():
            torch.testing.assert_close(traced(x)[0], module(x)[0], rtol=0, atol=1e-5)


def test_default_activations_keep_the_fused_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    fused = convlstm_cell._lstm_pointwise
    monkeypatch.setattr(
        convlstm_cell, "_lstm_pointwise", lambda *a: calls.append("fused") or fused(*a)
    )
    ConvLSTM(2, 3)(torch.randn(1, 3, 2, 4, 4))
    assert calls
    calls.clear()
    ConvLSTM(2, 3, recurrent_activation="hard_sigmoid")(torch.randn(1, 3, 2, 4, 4))
    assert not calls


@pytest.mark.parametrize("argument", ["activation", "recurrent_activation"])
def test_unknown_activation_fails_when_built(argument: str) -> None:
    with pytest.raises(ValueError, match=f"{argument} has to be one of tanh, sigmoid"):
        ConvLSTM(2, 3, **{argument: "gelu"})


def test_activations_show_in_repr() -> None:
    text = repr(ConvLSTM(2, 3, activation="relu"))
    assert "activation='relu'" in text
    assert "recurrent_activation" not in text
