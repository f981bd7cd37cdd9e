"""Tests of SpatialSequence and SequenceToSpatial: shape tables, loop references, module care."""

from __future__ import annotations

import warnings

import pytest
import torch

from cnnlstm.errors import ShapeError
from cnnlstm.functional import SPATIAL_ORDERS, OrderName
from cnnlstm.layers.base import Bridge
from cnnlstm.layers.spatial import SequenceToSpatial, SpatialSequence

# Each case: order, input (B, C, H, W), output, and shapes that must fail.
SHAPE_CASES: list[tuple[OrderName, tuple[int, ...], tuple[int, ...], list[tuple[int, ...]]]] = [
    ("columns", (2, 3, 4, 5), (2, 5, 12), [(2, 6, 3, 4, 5), (3, 4, 5), (2, 3)]),
    ("columns", (1, 64, 1, 32), (1, 32, 64), [(64, 1, 32)]),
    ("rows", (2, 3, 4, 5), (2, 4, 15), [(2, 6, 3, 4, 5), (2, 3, 4, 5, 1)]),
    ("raster", (2, 3, 4, 5), (2, 20, 3), [(3, 4, 5)]),
    ("raster_columns", (2, 3, 4, 5), (2, 20, 3), [(1, 1, 3, 4, 5)]),
    ("snake", (2, 3, 5, 4), (2, 20, 3), [(20, 3)]),
    ("hilbert", (2, 3, 7, 5), (2, 35, 3), [(2, 3, 7, 5, 1), (7, 5)]),
    ("hilbert", (1, 1, 1, 1), (1, 1, 1), [(1, 1, 1)]),
]


@pytest.mark.parametrize(
    "case", SHAPE_CASES, ids=[f"{c[0]}-{'x'.join(map(str, c[1]))}" for c in SHAPE_CASES]
)
def test_shape_table(
    case: tuple[OrderName, tuple[int, ...], tuple[int, ...], list[tuple[int, ...]]],
) -> None:
    order, input_shape, expected, wrong_shapes = case
    bridge = SpatialSequence(order)
    seq = bridge(torch.randn(input_shape))
    assert tuple(seq.shape) == expected
    assert bridge.output_shape(input_shape) == expected
    assert bridge.out_features(input_shape) == expected[-1]
    for shape in wrong_shapes:
        with pytest.raises(ShapeError, match=rf"SpatialSequence\(order='{order}'\)"):
            bridge(torch.zeros(shape))
        with pytest.raises(ShapeError, match=rf"SpatialSequence\(order='{order}'\)"):
            bridge.output_shape(shape)

    _, _, height, width = input_shape
    inverse = SequenceToSpatial(order, height=height, width=width)
    assert inverse.output_shape(expected) == input_shape
    assert tuple(inverse(seq).shape) == input_shape


# Each case: order, height, width, sequence shape, output, and sequence shapes that must fail.
INVERSE_CASES: list[
    tuple[OrderName, int, int, tuple[int, ...], tuple[int, ...], list[tuple[int, ...]]]
] = [
    ("columns", 4, 5, (2, 5, 12), (2, 3, 4, 5), [(2, 4, 12), (2, 5, 13), (2, 5), (1, 2, 5, 12)]),
    ("rows", 4, 5, (2, 4, 15), (2, 3, 4, 5), [(2, 5, 15), (2, 4, 14)]),
    ("raster", 4, 5, (2, 20, 3), (2, 3, 4, 5), [(2, 21, 3), (20, 3)]),
    ("snake", 4, 5, (2, 20, 1), (2, 1, 4, 5), [(2, 19, 1)]),
    ("hilbert", 3, 3, (2, 9, 7), (2, 7, 3, 3), [(2, 3, 21), (2, 9, 7, 1)]),
]


@pytest.mark.parametrize(
    "case", INVERSE_CASES, ids=[f"{c[0]}-{c[1]}x{c[2]}" for c in INVERSE_CASES]
)
def test_inverse_shape_table(
    case: tuple[OrderName, int, int, tuple[int, ...], tuple[int, ...], list[tuple[int, ...]]],
) -> None:
    order, height, width, input_shape, expected, wrong_shapes = case
    layer = SequenceToSpatial(order, height=height, width=width)
    assert tuple(layer(torch.randn(input_shape)).shape) == expected
    assert layer.output_shape(input_shape) == expected
    for shape in wrong_shapes:
        with pytest.raises(ShapeError, match=r"SequenceToSpatial\(order="):
            layer(torch.zeros(shape))
        with pytest.raises(ShapeError, match=r"SequenceToSpatial\(order="):
            layer.output_shape(shape)


def test_is_a_bridge() -> None:
    assert isinstance(SpatialSequence(), Bridge)


def test_columns_match_loops_over_w_c_h() -> None:
    x = torch.randn(2, 3, 4, 5)
    seq = SpatialSequence("columns")(x)
    expected = torch.empty(2, 5, 12)
    for b in range(2):
        for w in range(5):
            for c in range(3):
                for h in range(4):
                    expected[b, w, c * 4 + h] = x[b, c, h, w]
    assert torch.equal(seq, expected)


def test_rows_match_loops_over_h_c_w() -> None:
    x = torch.randn(2, 3, 4, 5)
    seq = SpatialSequence("rows")(x)
    expected = torch.empty(2, 4, 15)
    for b in range(2):
        for h in range(4):
            for c in range(3):
                for w in range(5):
                    expected[b, h, c * 5 + w] = x[b, c, h, w]
    assert torch.equal(seq, expected)


@pytest.mark.parametrize(("height", "width"), [(4, 5), (5, 4), (1, 3), (3, 1)])
def test_snake_and_rasters_match_loops(height: int, width: int) -> None:
    x = torch.randn(2, 3, height, width)
    paths: dict[OrderName, list[tuple[int, int]]] = {
        "snake": [],
        "raster": [],
        "raster_columns": [],
    }
    for h in range(height):
        for i in range(width):
            paths["snake"].append((h, i if h % 2 == 0 else width - 1 - i))
            paths["raster"].append((h, i))
    for w in range(width):
        for h in range(height):
            paths["raster_columns"].append((h, w))
    for order, path in paths.items():
        expected = torch.stack([x[:, :, h, w] for h, w in path], dim=1)  # (B, H*W, C)
        assert torch.equal(SpatialSequence(order)(x), expected), order


def test_hilbert_steps_between_neighbouring_cells() -> None:
    # Put each cell's (h, w) in two channels and read them back in Hilbert order.
    height, width = 9, 6
    coords = torch.stack(
        torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    ).unsqueeze(0)  # (1, 2, H, W)
    seq = SpatialSequence("hilbert")(coords)[0]  # (H*W, 2)
    assert sorted(map(tuple, seq.tolist())) == [(h, w) for h in range(height) for w in range(width)]
    assert bool(((seq[1:] - seq[:-1]).abs().sum(-1) == 1).all())


@pytest.mark.parametrize("order", SPATIAL_ORDERS)
def test_module_round_trip_is_exact(order: OrderName) -> None:
    x = torch.randn(3, 4, 7, 6)
    back = SequenceToSpatial(order, height=7, width=6)(SpatialSequence(order)(x))
    assert torch.equal(back, x)


def test_clip_error_says_what_to_do() -> None:
    with pytest.raises(
        ShapeError,
        match=r"got a 5-D tensor of shape \(8, 10, 64, 4, 4\).*TimeDistributed.*"
        r"GlobalPoolBridge.*ConvLSTM",
    ):
        SpatialSequence("columns")(torch.zeros(8, 10, 64, 4, 4))


def test_inverse_error_names_both_lengths() -> None:
    layer = SequenceToSpatial("columns", height=4, width=32)
    with pytest.raises(ShapeError, match=r"expected L = W = 32 steps .* got L=30"):
        layer(torch.zeros(8, 30, 256))
    with pytest.raises(ShapeError, match=r"multiple of 4 .* got F=255"):
        layer(torch.zeros(8, 32, 255))


def test_constructor_arguments_are_checked() -> None:
    names = r"'columns', 'rows', 'raster', 'raster_columns', 'snake', 'hilbert'"
    with pytest.raises(ValueError, match=rf"order has to be one of {names}, but got 'column'"):
        SpatialSequence("column")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=rf"order has to be one of {names}, but got 'zigzag'"):
        SequenceToSpatial("zigzag", height=2, width=2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"height has to be a positive int, but got 0"):
        SequenceToSpatial("raster", height=0, width=2)
    with pytest.raises(ValueError, match=r"width has to be a positive int, but got True"):
        SequenceToSpatial("raster", height=2, width=True)


@pytest.mark.parametrize("order", SPATIAL_ORDERS)
def test_state_dict_round_trip_and_trace(order: OrderName) -> None:
    x = torch.randn(2, 3, 5, 7)
    bridge, inverse = SpatialSequence(order), SequenceToSpatial(order, height=5, width=7)
    assert bridge.state_dict() == {} and inverse.state_dict() == {}
    fresh = SpatialSequence(order)
    fresh.load_state_dict(bridge.state_dict())
    assert torch.equal(fresh(x), bridge(x))  # a reordering of x: no arithmetic, so bitwise
    seq = bridge(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.trace is deprecated; shapes become constants
        traced = torch.jit.trace(bridge, x)  # type: ignore[no-untyped-call]
        traced_inverse = torch.jit.trace(inverse, seq)  # type: ignore[no-untyped-call]
    assert torch.equal(traced(x), seq)
    assert torch.equal(traced_inverse(seq), x)


def test_repr_shows_the_settings() -> None:
    assert repr(SpatialSequence("snake")) == "SpatialSequence(order='snake')"
    assert repr(SequenceToSpatial("hilbert", height=4, width=6)) == (
        "SequenceToSpatial(order='hilbert', height=4, width=6)"
    )
