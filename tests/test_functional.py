"""Tests of cnnlstm.functional: time folding, global pooling, spatial slicing and scan orders.

Every numerical check compares with a reference written the slow, obvious way in this file
(python loops over the indices), with the classic Hilbert curve, or with float64 gradcheck.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlstm.errors import ShapeError
from cnnlstm.functional import (
    POOLS,
    SPATIAL_ORDERS,
    OrderName,
    PoolName,
    channels_last_hint,
    check_lengths,
    fold_time,
    lengths_to_mask,
    pool_to_sequence,
    scan_order,
    sequence_to_spatial,
    spatial_to_sequence,
    unfold_time,
)

CELL_ORDERS = ("raster", "raster_columns", "snake", "hilbert")


# --- references written plainly -----------------------------------------------------------------


def loop_path(order: OrderName, height: int, width: int) -> list[tuple[int, int]]:
    """The (y, x) cells a non-Hilbert scan visits, by nested loops."""
    path = []
    if order in ("raster", "rows"):
        for y in range(height):
            for x in range(width):
                path.append((y, x))
    elif order in ("raster_columns", "columns"):
        for x in range(width):
            for y in range(height):
                path.append((y, x))
    elif order == "snake":
        for y in range(height):
            xs = range(width) if y % 2 == 0 else range(width - 1, -1, -1)
            for x in xs:
                path.append((y, x))
    else:
        raise AssertionError(order)
    return path


def classic_hilbert(n: int) -> list[tuple[int, int]]:
    """The classic Hilbert curve on an n x n grid (n a power of two), as (y, x) cells.

    The well-known d -> (x, y) conversion: walk up the quadrant levels, rotating and flipping.
    """
    path = []
    for d in range(n * n):
        x = y = 0
        t = d
        s = 1
        while s < n:
            rx = 1 & (t // 2)
            ry = 1 & (t ^ rx)
            if ry == 0:
                if rx == 1:
                    x, y = s - 1 - x, s - 1 - y
                x, y = y, x
            x += s * rx
            y += s * ry
            t //= 4
            s *= 2
        path.append((y, x))
    return path


def loop_to_sequence(
    x: torch.Tensor, order: OrderName, path: list[tuple[int, int]]
) -> torch.Tensor:
    """spatial_to_sequence by loops, entry by entry."""
    b_size, channels, height, width = x.shape
    if order == "columns":
        out = torch.empty(b_size, width, channels * height, dtype=x.dtype)
        for b in range(b_size):
            for w in range(width):
                for c in range(channels):
                    for h in range(height):
                        out[b, w, c * height + h] = x[b, c, h, w]
        return out
    if order == "rows":
        out = torch.empty(b_size, height, channels * width, dtype=x.dtype)
        for b in range(b_size):
            for h in range(height):
                for c in range(channels):
                    for w in range(width):
                        out[b, h, c * width + w] = x[b, c, h, w]
        return out
    out = torch.empty(b_size, height * width, channels, dtype=x.dtype)
    for b in range(b_size):
        for step, (h, w) in enumerate(path):
            for c in range(channels):
                out[b, step, c] = x[b, c, h, w]
    return out


def path_of(order: OrderName, height: int, width: int) -> list[tuple[int, int]]:
    return [divmod(int(i), width) for i in scan_order(order, height, width)]


# --- spatial slicing -----------------------------------------------------------------------------


@pytest.mark.parametrize("order", SPATIAL_ORDERS)
@pytest.mark.parametrize(("height", "width"), [(1, 1), (3, 5), (4, 4), (5, 2), (7, 3)])
def test_spatial_to_sequence_matches_loops(order: OrderName, height: int, width: int) -> None:
    x = torch.randn(2, 3, height, width)
    path = (
        loop_path(order, height, width)
        if order != "hilbert"
        else path_of("hilbert", height, width)  # the path itself is checked below
    )
    expected = loop_to_sequence(x, order, path)
    assert torch.equal(spatial_to_sequence(x, order=order), expected)


@pytest.mark.parametrize("order", ["raster", "raster_columns", "snake"])
@pytest.mark.parametrize(("height", "width"), [(1, 1), (1, 6), (6, 1), (3, 5), (4, 4), (6, 3)])
def test_scan_order_matches_loops(order: OrderName, height: int, width: int) -> None:
    assert path_of(order, height, width) == loop_path(order, height, width)


def test_scan_order_of_slices_is_the_order_their_cells_are_read() -> None:
    assert torch.equal(scan_order("columns", 3, 4), scan_order("raster_columns", 3, 4))
    assert torch.equal(scan_order("rows", 3, 4), scan_order("raster", 3, 4))


@pytest.mark.parametrize("n", [1, 2, 4, 8, 16, 32])
def test_hilbert_is_the_classic_curve_on_powers_of_two(n: int) -> None:
    assert path_of("hilbert", n, n) == classic_hilbert(n)


def test_hilbert_steps_to_a_neighbour_on_every_grid_up_to_24() -> None:
    for height in range(1, 25):
        for width in range(1, 25):
            path = path_of("hilbert", height, width)
            assert sorted(path) == [(y, x) for y in range(height) for x in range(width)]
            for (y0, x0), (y1, x1) in itertools.pairwise(path):
                assert abs(y0 - y1) + abs(x0 - x1) == 1, (height, width, (y0, x0), (y1, x1))


def test_hilbert_keeps_locality_better_than_snake() -> None:
    # A locality-keeping curve keeps cells that are close in the sequence close on the grid:
    # the mean grid distance between cells 8 steps apart is far below the snake's.
    def mean_jump(order: OrderName, lag: int) -> float:
        path = path_of(order, 24, 20)
        jumps = [
            abs(a[0] - b[0]) + abs(a[1] - b[1])
            for a, b in zip(path[:-lag], path[lag:], strict=True)
        ]
        return sum(jumps) / len(jumps)

    assert mean_jump("hilbert", 8) < 0.7 * mean_jump("snake", 8)


def test_scan_order_returns_a_fresh_int64_cpu_tensor() -> None:
    first = scan_order("snake", 3, 4)
    assert first.dtype == torch.int64 and first.device.type == "cpu"
    first.zero_()
    assert scan_order("snake", 3, 4).tolist() == [0, 1, 2, 3, 7, 6, 5, 4, 8, 9, 10, 11]


@given(
    height=st.integers(1, 17),
    width=st.integers(1, 17),
    order=st.sampled_from(SPATIAL_ORDERS),
    batch=st.integers(1, 2),
    channels=st.integers(1, 3),
)
@settings(max_examples=150, deadline=None)
def test_round_trip_is_exact_and_every_order_is_a_permutation(
    height: int, width: int, order: OrderName, batch: int, channels: int
) -> None:
    x = torch.randn(batch, channels, height, width)
    seq = spatial_to_sequence(x, order=order)
    back = sequence_to_spatial(
        seq,
        order=order,
        height=height,
        width=width,
        channels=channels,
    )
    assert torch.equal(back, x)
    cells = scan_order(order, height, width).tolist()
    assert sorted(cells) == list(range(height * width))
    if order in ("hilbert", "snake"):
        path = [divmod(c, width) for c in cells]
        for (y0, x0), (y1, x1) in itertools.pairwise(path):
            assert abs(y0 - y1) + abs(x0 - x1) == 1


def test_sequence_to_spatial_of_a_non_contiguous_sequence() -> None:
    x = torch.randn(2, 3, 5, 6)
    seq = spatial_to_sequence(x, order="hilbert")  # (2, 30, 3)
    strided = seq.transpose(0, 1).contiguous().transpose(0, 1)  # same values, other strides
    assert not strided.is_contiguous()
    assert torch.equal(sequence_to_spatial(strided, order="hilbert", height=5, width=6), x)


def test_spatial_to_sequence_of_a_non_contiguous_map() -> None:
    x = torch.randn(2, 3, 6, 5).transpose(2, 3)  # (2, 3, 5, 6), not contiguous
    path = loop_path("snake", 5, 6)
    assert torch.equal(spatial_to_sequence(x, order="snake"), loop_to_sequence(x, "snake", path))


def test_spatial_to_sequence_passes_gradients_to_the_right_cells() -> None:
    x = torch.randn(1, 2, 3, 4, requires_grad=True)
    seq = spatial_to_sequence(x, order="hilbert")
    weights = torch.randn_like(seq)
    (seq * weights).sum().backward()  # type: ignore[no-untyped-call]
    assert x.grad is not None
    assert torch.equal(x.grad, sequence_to_spatial(weights, order="hilbert", height=3, width=4))


@pytest.mark.parametrize(
    ("order", "seq_shape", "height", "width", "channels"),
    [
        ("columns", (2, 5, 12), 4, 6, None),  # L has to be W = 6
        ("columns", (2, 6, 10), 4, 6, None),  # F = 10 is not a multiple of H = 4
        ("columns", (2, 6, 12), 4, 6, 4),  # F = 12 = 3 channels of 4
        ("rows", (2, 6, 12), 4, 6, None),  # L has to be H = 4
        ("raster", (2, 23, 3), 4, 6, None),  # L has to be H*W = 24
        ("hilbert", (2, 24, 3), 4, 6, 2),  # C = 3, not 2
        ("snake", (2, 24), 4, 6, None),  # not 3-D
        ("snake", (1, 2, 24, 3), 4, 6, None),  # not 3-D
    ],
)
def test_sequence_to_spatial_rejects_sequences_that_do_not_fit(
    order: OrderName, seq_shape: tuple[int, ...], height: int, width: int, channels: int | None
) -> None:
    with pytest.raises(ShapeError, match=r"sequence_to_spatial\(order="):
        sequence_to_spatial(
            torch.zeros(seq_shape),
            order=order,
            height=height,
            width=width,
            channels=channels,
        )


def test_sequence_to_spatial_message_names_both_lengths() -> None:
    with pytest.raises(ShapeError, match=r"expected L = H\*W = 24 .* got L=23"):
        sequence_to_spatial(torch.zeros(2, 23, 3), order="raster", height=4, width=6)


def test_spatial_to_sequence_rejects_clips_and_says_what_to_do() -> None:
    with pytest.raises(ShapeError, match=r"5-D .*TimeDistributed.*GlobalPoolBridge.*ConvLSTM"):
        spatial_to_sequence(torch.zeros(2, 4, 3, 5, 5), order="columns")
    with pytest.raises(ShapeError, match=r"expected a 4-D feature map .* got a 3-D tensor"):
        spatial_to_sequence(torch.zeros(3, 5, 5), order="columns")


def test_unknown_orders_and_bad_sizes_raise_value_error_listing_the_names() -> None:
    with pytest.raises(ValueError, match=r"order has to be one of 'columns', 'rows', .*'column'"):
        spatial_to_sequence(torch.zeros(1, 1, 2, 2), order="column")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"'hilbert', but got 'zorder'"):
        scan_order("zorder", 2, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"order has to be one of"):
        sequence_to_spatial(torch.zeros(1, 4, 1), order="spiral", height=2, width=2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"height has to be a positive int, but got 0"):
        scan_order("raster", 0, 2)
    with pytest.raises(ValueError, match=r"width has to be a positive int, but got 2.0"):
        sequence_to_spatial(torch.zeros(1, 4, 1), order="raster", height=2, width=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"channels has to be a positive int or None"):
        sequence_to_spatial(torch.zeros(1, 4, 1), order="raster", height=2, width=2, channels=0)


# --- global pooling ------------------------------------------------------------------------------


def loop_pool(maps: torch.Tensor, pool: str) -> torch.Tensor:
    """(N, C, H, W) -> (N, C) average or maximum by loops over the positions."""
    n_size, channels, height, width = maps.shape
    out = torch.empty(n_size, channels, dtype=maps.dtype)
    for n in range(n_size):
        for c in range(channels):
            values = [float(maps[n, c, h, w]) for h in range(height) for w in range(width)]
            out[n, c] = sum(values) / len(values) if pool == "avg" else max(values)
    return out


def loop_attention(maps: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C): score = sum_c w_c x_c per position, softmax, weighted sum."""
    n_size, channels, height, width = maps.shape
    out = torch.empty(n_size, channels, dtype=maps.dtype)
    for n in range(n_size):
        scores = []
        for h in range(height):
            for w in range(width):
                scores.append(
                    sum(float(weight[0, c, 0, 0] * maps[n, c, h, w]) for c in range(channels))
                )
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        probs = [e / sum(exps) for e in exps]
        for c in range(channels):
            cells = [float(maps[n, c, h, w]) for h in range(height) for w in range(width)]
            out[n, c] = sum(p * v for p, v in zip(probs, cells, strict=True))
    return out


@pytest.mark.parametrize("pool", ["avg", "max"])
def test_pool_to_sequence_matches_loops(pool: PoolName) -> None:
    x = torch.randn(3, 4, 5, 6, dtype=torch.float64)
    expected = loop_pool(x, pool)  # (3, 4)
    single = pool_to_sequence(x, pool=pool)
    torch.testing.assert_close(single, expected.unsqueeze(1))
    channels = pool_to_sequence(x, pool=pool, steps="channels")
    torch.testing.assert_close(channels, expected.unsqueeze(2))


def test_avgmax_puts_averages_first_then_maxima() -> None:
    x = torch.randn(3, 4, 5, 6, dtype=torch.float64)
    avg, mx = loop_pool(x, "avg"), loop_pool(x, "max")
    single = pool_to_sequence(x, pool="avgmax")
    torch.testing.assert_close(single[:, 0, :4], avg)
    torch.testing.assert_close(single[:, 0, 4:], mx)
    channels = pool_to_sequence(x, pool="avgmax", steps="channels")  # (3, 4, 2)
    torch.testing.assert_close(channels[..., 0], avg)
    torch.testing.assert_close(channels[..., 1], mx)


@pytest.mark.parametrize("pool", ["avg", "max", "avgmax"])
def test_pool_to_sequence_of_a_clip_gives_one_step_per_frame(pool: PoolName) -> None:
    clip = torch.randn(2, 3, 4, 5, 5, dtype=torch.float64)
    out = pool_to_sequence(clip, pool=pool)
    assert out.shape == (2, 3, 8 if pool == "avgmax" else 4)
    for b in range(2):
        for t in range(3):
            frame = clip[b, t].unsqueeze(0)  # (1, C, H, W)
            if pool == "avgmax":
                expected = torch.cat([loop_pool(frame, "avg"), loop_pool(frame, "max")], -1)
            else:
                expected = loop_pool(frame, pool)
            torch.testing.assert_close(out[b, t], expected[0])


def test_attention_pooling_matches_a_manual_softmax_weighted_sum() -> None:
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    weight = torch.randn(1, 3, 1, 1, dtype=torch.float64)
    expected = loop_attention(x, weight)  # (2, 3)
    out = pool_to_sequence(x, pool="attention", weight=weight)
    torch.testing.assert_close(out, expected.unsqueeze(1))
    clip = x.unsqueeze(1).expand(2, 2, 3, 4, 5)  # every frame the same map
    out_clip = pool_to_sequence(clip, pool="attention", weight=weight)
    torch.testing.assert_close(out_clip, expected.unsqueeze(1).expand(2, 2, 3))


def test_attention_pooling_gradients_pass_gradcheck() -> None:
    x = torch.randn(2, 3, 3, 2, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(1, 3, 1, 1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, w: pool_to_sequence(a, pool="attention", steps="channels", weight=w),
        (x, weight),
    )


def test_pool_to_sequence_errors() -> None:
    with pytest.raises(ValueError, match=r"pool has to be one of 'avg', 'max', 'avgmax', "):
        pool_to_sequence(torch.zeros(1, 2, 3, 3), pool="mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"steps has to be one of 'single', 'channels'"):
        pool_to_sequence(torch.zeros(1, 2, 3, 3), steps="time")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"weight has to be the \(1, C, 1, 1\) weight"):
        pool_to_sequence(torch.zeros(1, 2, 3, 3), pool="attention")
    with pytest.raises(ShapeError, match=r"scoring weight of shape \(1, 2, 1, 1\).*\(1, 3, 1, 1\)"):
        pool_to_sequence(torch.zeros(1, 2, 3, 3), pool="attention", weight=torch.zeros(1, 3, 1, 1))
    with pytest.raises(ValueError, match=r"weight has to be None for pool='avg'"):
        pool_to_sequence(torch.zeros(1, 2, 3, 3), weight=torch.zeros(1, 2, 1, 1))
    with pytest.raises(ShapeError, match=r"steps='channels'.* 5-D clip .*steps='single'"):
        pool_to_sequence(torch.zeros(1, 2, 2, 3, 3), steps="channels")
    with pytest.raises(ShapeError, match=r"got a 3-D tensor of shape \(2, 3, 3\)"):
        pool_to_sequence(torch.zeros(2, 3, 3))
    with pytest.raises(ShapeError, match=r"H >= 1 and W >= 1"):
        pool_to_sequence(torch.zeros(2, 3, 0, 3))
    assert set(POOLS) == {"avg", "max", "avgmax", "attention"}


# --- time folding and lengths (the functions the other layers build on) ------------------------


def test_fold_and_unfold_time_round_trip_frame_by_frame() -> None:
    x = torch.randn(2, 3, 4, 5)
    folded = fold_time(x)
    for b in range(2):
        for t in range(3):
            assert torch.equal(folded[b * 3 + t], x[b, t])
    assert torch.equal(unfold_time(folded, 2), x)
    with pytest.raises(ShapeError):
        fold_time(torch.zeros(2, 3))
    with pytest.raises(ShapeError):
        unfold_time(torch.zeros(5, 3), 2)


def test_check_lengths_and_mask() -> None:
    lengths = check_lengths(torch.tensor([2, 3], dtype=torch.int32), 2, 4, who="test")
    assert lengths.dtype == torch.int64
    mask = lengths_to_mask(lengths, 4)
    expected = [[t < n for t in range(4)] for n in (2, 3)]
    assert mask.tolist() == expected
    for bad in (
        torch.tensor([0, 3]),
        torch.tensor([2, 5]),
        torch.tensor([2]),
        torch.tensor([1.0, 2.0]),
    ):
        with pytest.raises(ShapeError, match="test: "):
            check_lengths(bad, 2, 4, who="test")


# --- channels_last_hint ---------------------------------------------------------------------

# (shape, channels expected, axes or None for the default, looks channels-last?)
CHANNELS_LAST_CASES: list[tuple[tuple[int, ...], int, tuple[str, ...] | None, bool]] = [
    ((2, 5, 8, 8, 1), 1, None, True),  # the last axis is C
    ((2, 28, 28, 3), 1, None, True),  # RGB last, 28 at the channel axis
    ((2, 28, 28, 1), 3, None, True),  # grey last
    ((2, 5, 6, 7, 3), 3, ("T", "B", "C", "H", "W"), True),
    ((2, 5, 4, 6, 7, 1), 1, ("B", "T", "C", "D", "H", "W"), True),
    ((2, 3, 28, 28), 1, None, False),  # RGB channels-first: another C, not another layout
    ((2, 1, 28, 3), 3, None, True),  # the last axis is C (H=1): read as channels-last
    ((2, 9, 9, 4), 3, None, False),  # the last axis is neither C nor 1 or 3
    ((2, 3, 8, 8), 3, None, False),  # right as it is
    ((2, 8, 8), 3, None, False),  # a layout of another rank
]


@pytest.mark.parametrize(("shape", "channels", "axes", "looks"), CHANNELS_LAST_CASES)
def test_channels_last_hint_moves_the_last_axis_to_the_channel_axis(
    shape: tuple[int, ...], channels: int, axes: tuple[str, ...] | None, looks: bool
) -> None:
    hint = channels_last_hint(shape, channels, axes=axes)
    if not looks:
        assert hint is None
        return
    assert hint is not None
    layout = axes or (("N", "C", "H", "W") if len(shape) == 4 else ("B", "T", "C", "H", "W"))
    channel_axis = layout.index("C")
    named = [name for name in layout if name != "C"] + ["C"]
    assert hint.startswith(f"This looks channels-last ({', '.join(named)}): ")
    # The permute it gives puts the last axis where C goes and keeps the others in order:
    # checked on a tensor whose entries say their own index.
    order = [int(i) for i in hint.split("permute(")[1].rstrip(").").split(", ")]
    x = torch.arange(math.prod(shape)).reshape(shape)
    moved = x.permute(order)
    flat, numbers = moved.reshape(-1).tolist(), x.reshape(-1).tolist()
    strides = [math.prod(shape[i + 1 :]) for i in range(len(shape))]
    for position, index in enumerate(itertools.product(*(range(s) for s in moved.shape))):
        source = [*index[:channel_axis], *index[channel_axis + 1 :], index[channel_axis]]
        assert flat[position] == numbers[sum(i * st for i, st in zip(source, strides, strict=True))]
    expected_shape = [*shape[:channel_axis], shape[-1], *shape[channel_axis:-1]]
    assert list(moved.shape) == expected_shape
    assert f"np.moveaxis(x, -1, {channel_axis})" in hint
