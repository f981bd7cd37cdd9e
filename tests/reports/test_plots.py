"""plot_bridge_comparison: a PNG whose best bar is green, and arguments checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from cnnlstm.reports.plots import BEST_COLOR, plot_bridge_comparison


def _pixels_of(path: Path, color: str) -> int:
    """How many pixels of the image have ``color`` (within a small tolerance)."""
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.int16)  # (H, W, 3)
    target = np.array([round(255 * c) for c in to_rgb(color)], dtype=np.int16)
    return int((np.abs(rgb - target).max(axis=-1) <= 2).sum())


def test_writes_a_png_with_one_green_bar_for_the_best(tmp_path: Path) -> None:
    out = plot_bridge_comparison(
        ["pool", "columns", "raster"],
        [0.6, 0.8, 0.7],
        [1.0, 2.0, 3.0],
        tmp_path / "deep" / "bridges.png",
        metric="val/acc",
        mode="max",
    )
    assert out == tmp_path / "deep" / "bridges.png"
    with Image.open(out) as image:
        assert image.format == "PNG"
    assert _pixels_of(out, BEST_COLOR) > 500  # one bar's worth of green


def test_no_green_without_a_value(tmp_path: Path) -> None:
    out = plot_bridge_comparison(
        ["pool", "columns"],
        [None, float("nan")],
        [1.0, 2.0],
        tmp_path / "p.png",
        metric="val/loss",
        mode="min",
    )
    assert _pixels_of(out, BEST_COLOR) == 0


def test_the_green_bar_follows_the_mode(tmp_path: Path) -> None:
    # with "min" the lowest value is the best: its bar is the short one, so less green
    tall_best = plot_bridge_comparison(
        ["a", "b"], [1.0, 4.0], [1.0, 1.0], tmp_path / "max.png", metric="m", mode="max"
    )
    short_best = plot_bridge_comparison(
        ["a", "b"], [1.0, 4.0], [1.0, 1.0], tmp_path / "min.png", metric="m", mode="min"
    )
    assert _pixels_of(tall_best, BEST_COLOR) > 2 * _pixels_of(short_best, BEST_COLOR) > 0


@pytest.mark.parametrize(
    ("bridges", "values", "seconds", "mode", "message"),
    [
        ([], [], [], "max", "at least one bridge"),
        (["a", "b"], [1.0], [1.0, 2.0], "max", "equally long"),
        (["a"], [1.0], [1.0], "best", "mode has to be 'min' or 'max', but got 'best'"),
    ],
)
def test_bad_arguments(
    bridges: list[str],
    values: list[float],
    seconds: list[float],
    mode: str,
    message: str,
    tmp_path: Path,
) -> None:
    with pytest.raises(ValueError, match=message):
        plot_bridge_comparison(
            bridges,
            values,
            seconds,
            tmp_path / "x.png",
            metric="m",
            mode=mode,  # type: ignore[arg-type]
        )
