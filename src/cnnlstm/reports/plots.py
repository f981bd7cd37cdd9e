"""Plots of training runs: the bridge comparison that ``cnnlstm compare`` writes.

matplotlib is imported inside the functions and draws on a ``Figure`` with the Agg renderer
(no pyplot, no display, no global state), so importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from cnnlstm.extras import importing

__all__ = ["BEST_COLOR", "OTHER_COLOR", "plot_bridge_comparison"]

BEST_COLOR = "#2ca02c"  # the bridge with the best metric: green
OTHER_COLOR = "#7f7f7f"  # the others: grey
_TIME_COLOR = "#1f77b4"


def _best_index(values: Sequence[float | None], mode: Literal["min", "max"]) -> int | None:
    """The index of the best finite value (lowest for ``"min"``), or ``None`` without one."""
    finite = [(v, i) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if not finite:
        return None
    return (min(finite) if mode == "min" else max(finite))[1]


def plot_bridge_comparison(
    bridges: Sequence[str],
    values: Sequence[float | None],
    seconds_per_epoch: Sequence[float],
    path: str | Path,
    *,
    metric: str,
    mode: Literal["min", "max"],
    title: str | None = None,
) -> Path:
    """Two bar charts side by side: the metric per bridge (the best in green), seconds per epoch.

    Args:
        bridges: the bridge names, one bar each.
        values: the metric of each bridge; ``None`` or NaN draws no bar and says "n/a".
        seconds_per_epoch: the mean wall time of an epoch of each bridge.
        path: the PNG file to write (its folder is created).
        metric: the metric's name, for the axis label (``"val/acc"``).
        mode: ``"max"`` when higher is better, ``"min"`` when lower is.
        title: the figure's title (default: ``"Bridges compared on <metric>"``).

    Returns:
        ``path`` as a ``Path``.

    Raises:
        ValueError: for lists of different lengths, no bridges, or a mode other than min/max.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()) / "bridges.png"
        >>> plot_bridge_comparison(["pool", "columns"], [0.7, 0.9], [1.5, 2.0], out,
        ...                        metric="val/acc", mode="max").stat().st_size > 0
        True
    """
    if not bridges:
        raise ValueError("bridges has to name at least one bridge, but got none")
    if not len(bridges) == len(values) == len(seconds_per_epoch):
        raise ValueError(
            f"bridges, values and seconds_per_epoch have to be equally long, but got "
            f"{len(bridges)}, {len(values)} and {len(seconds_per_epoch)}"
        )
    if mode not in ("min", "max"):
        raise ValueError(f"mode has to be 'min' or 'max', but got {mode!r}")
    with importing("plotting the comparison", "plots"):
        from matplotlib.figure import Figure

    best = _best_index(values, mode)
    positions = list(range(len(bridges)))
    heights = [v if v is not None and math.isfinite(v) else 0.0 for v in values]
    colors = [BEST_COLOR if i == best else OTHER_COLOR for i in positions]

    fig = Figure(figsize=(max(8.0, 1.6 * len(bridges) * 2), 4.5), dpi=100, layout="constrained")
    score_ax, time_ax = fig.subplots(1, 2)
    bars = score_ax.bar(positions, heights, color=colors)
    labels = [f"{v:.4g}" if v is not None and math.isfinite(v) else "n/a" for v in values]
    score_ax.bar_label(bars, labels=labels, padding=2)
    better = "higher is better" if mode == "max" else "lower is better"
    score_ax.set_ylabel(f"{metric} ({better})")
    score_ax.set_title(f"{metric} per bridge")
    score_ax.margins(y=0.15)

    time_bars = time_ax.bar(positions, list(seconds_per_epoch), color=_TIME_COLOR)
    time_ax.bar_label(time_bars, labels=[f"{s:.2f}" for s in seconds_per_epoch], padding=2)
    time_ax.set_ylabel("seconds per epoch")
    time_ax.set_title("training time per epoch")
    time_ax.margins(y=0.15)
    for ax in (score_ax, time_ax):
        ax.set_xticks(positions, list(bridges))
        ax.set_xlabel("bridge")
    fig.suptitle(title or f"Bridges compared on {metric}")

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out
