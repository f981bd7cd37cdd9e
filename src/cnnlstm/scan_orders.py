"""The paths along which a scan reads the cells of an ``H x W`` grid, as flat raster indices.

``"raster"`` (and ``"rows"``) reads rows top to bottom, ``"raster_columns"`` (and ``"columns"``)
columns left to right, ``"snake"`` rows in alternating directions, and ``"hilbert"`` a
generalized Hilbert curve that works for any ``H x W``. :func:`gather_index` turns an order into
the index tensor a bridge gathers the cells with, or its inverse to put them back. Plain ints and
no argument checks: :func:`cnnlstm.functional.scan_order` is the checked way in, and
:func:`cnnlstm.functional.spatial_to_sequence` and :func:`cnnlstm.functional.sequence_to_spatial`
gather with the index after checking their input.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

__all__ = ["cell_order", "gather_index", "hilbert_cells"]


def hilbert_cells(height: int, width: int) -> list[int]:
    """Flat indices ``y * width + x`` of a generalized Hilbert curve over an ``H x W`` grid.

    ``walk`` fills a rectangle from one corner to the next corner along its ``major`` side, with
    unit steps. It can when the major side is even or the minor side odd (the two ends then have
    the checkerboard colours a path of that many cells needs) and the major side is not 1 unless
    the rectangle is one cell. Long rectangles are cut in two along the major side; the others in
    three, as Hilbert's curve does: up the first half of the minor side, across the far half,
    and back down. Each cut keeps that condition for every part (the cut of the minor side is
    even), so by induction the path never needs a diagonal step; the top level picks the
    orientation that meets it, which every grid has.
    """
    cells: list[int] = []

    def sign(v: int) -> int:
        return (v > 0) - (v < 0)

    def walk(x: int, y: int, ax: int, ay: int, bx: int, by: int) -> None:
        major, minor = abs(ax + ay), abs(bx + by)
        dax, day, dbx, dby = sign(ax), sign(ay), sign(bx), sign(by)
        if minor == 1:
            cells.extend((y + i * day) * width + x + i * dax for i in range(major))
            return
        if 2 * major > 3 * minor:
            half = major // 2
            if minor % 2 == 0 and half % 2 == 1:
                half += 1
            walk(x, y, half * dax, half * day, bx, by)
            walk(x + half * dax, y + half * day, ax - half * dax, ay - half * day, bx, by)
            return
        up = minor // 2
        if minor > 2 and up % 2 == 1:
            up += 1
        across = major // 2
        walk(x, y, up * dbx, up * dby, across * dax, across * day)
        walk(x + up * dbx, y + up * dby, ax, ay, bx - up * dbx, by - up * dby)
        walk(
            x + (major - 1) * dax + (up - 1) * dbx,
            y + (major - 1) * day + (up - 1) * dby,
            -up * dbx,
            -up * dby,
            -(major - across) * dax,
            -(major - across) * day,
        )

    def unit_steps_possible(major: int, minor: int) -> bool:
        return (major % 2 == 0 or minor % 2 == 1) and (major > 1 or minor == 1)

    along_width = unit_steps_possible(width, height)
    along_height = unit_steps_possible(height, width)
    if along_width and (width >= height or not along_height):
        walk(0, 0, width, 0, 0, height)
    else:
        walk(0, 0, 0, height, width, 0)
    return cells


@functools.lru_cache(maxsize=256)
def cell_order(order: str, height: int, width: int) -> tuple[int, ...]:
    """The order ``order`` (one of ``cnnlstm.functional.SPATIAL_ORDERS``, unchecked) visits
    an ``H x W`` grid in, as flat raster indices: plain ints (no tensor ops to trace), cached.

    Example:
        >>> cell_order("snake", 2, 3)
        (0, 1, 2, 5, 4, 3)
    """
    if order in ("raster", "rows"):
        return tuple(range(height * width))
    if order in ("raster_columns", "columns"):
        return tuple(y * width + x for x in range(width) for y in range(height))
    if order == "snake":
        return tuple(
            y * width + (x if y % 2 == 0 else width - 1 - x)  # odd rows right to left
            for y in range(height)
            for x in range(width)
        )
    return tuple(hilbert_cells(height, width))


def _build_gather_index(
    order: str, height: int, width: int, device: torch.device, inverse: bool
) -> Tensor:
    """The ``(H*W,)`` int64 order, or its inverse permutation, as a tensor on ``device``."""
    order_cells = cell_order(order, height, width)
    if inverse:
        positions = [0] * len(order_cells)
        for step, cell in enumerate(order_cells):
            positions[cell] = step  # the step at which each raster cell is read
        return torch.tensor(positions, dtype=torch.int64, device=device)
    return torch.tensor(order_cells, dtype=torch.int64, device=device)


_cached_gather_index = functools.lru_cache(maxsize=256)(_build_gather_index)


def gather_index(
    order: str, height: int, width: int, device: torch.device, inverse: bool
) -> Tensor:
    """The ``(H*W,)`` int64 index of :func:`cell_order` on ``device``, or with ``inverse`` its
    inverse permutation (the step at which each raster cell is read); cached per order, size and
    device, so a forward only gathers.

    While ``torch.jit.trace`` runs, the index is built afresh, so the trace records the same
    operations on every invocation whether or not the cache was warm (the trace check compares
    two invocations).
    """
    if torch.jit.is_tracing():  # type: ignore[attr-defined,no-untyped-call]
        return _build_gather_index(order, height, width, device, inverse)
    return _cached_gather_index(order, height, width, device, inverse)
