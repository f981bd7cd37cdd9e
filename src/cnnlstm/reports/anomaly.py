"""The report of an anomaly-detection run: a plot of sensors and score, and a Markdown summary.

``cnnlstm detect INPUT.csv --report DIR`` writes both: :func:`plot_detection` draws the sensors
(standardised, so different units share one axis) above the anomaly score and its threshold,
with labelled anomaly spans and detected spans shaded on both panels; :func:`write_summary`
says what was run, how many rows were flagged in how many spans, the metrics when the input had
labels, and embeds the plot.

matplotlib is imported inside :func:`plot_detection` (with the Agg renderer, no display needed),
so importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cnnlstm.errors import ShapeError
from cnnlstm.evaluation import spans_from_binary

__all__ = ["DETECTED_COLOR", "LABEL_COLOR", "plot_detection", "write_summary"]

LABEL_COLOR = "#d62728"  # labelled anomaly spans: red
DETECTED_COLOR = "#1f77b4"  # detected spans: blue
_SHADE_ALPHA = 0.18


def _x_values(times: ArrayLike | None, n: int) -> tuple[NDArray[np.float64], bool]:
    """Times as matplotlib x numbers, and whether they are dates."""
    if times is None:
        return np.arange(n, dtype=np.float64), False
    arr = np.asarray(times)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ShapeError(
            f"plot_detection: times has to be (N,) with N = {n} rows like scores, but got shape "
            f"{tuple(arr.shape)}. Pass one timestamp per row, or times=None for row numbers."
        ) from None
    if arr.dtype.kind in "iuf":
        return arr.astype(np.float64), False
    from matplotlib import dates as mdates

    stamps = arr.astype("datetime64[ns]")  # strings, Timestamps and datetimes parse here
    days = mdates.date2num(stamps)  # type: ignore[no-untyped-call]
    return np.asarray(days, dtype=np.float64), True


def _standardise(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each column to mean 0, standard deviation 1 (constant columns to 0)."""
    mean = np.nanmean(values, axis=0, keepdims=True)  # (1, S)
    std = np.nanstd(values, axis=0, keepdims=True)  # (1, S)
    std[~(std > 0)] = 1.0
    standard: NDArray[np.float64] = (values - mean) / std  # (N, S)
    return standard


def _span_edges(flags: ArrayLike, x: NDArray[np.float64], name: str) -> list[tuple[float, float]]:
    """``(x_start, width)`` for each run of ones; a run ends where the next row begins."""
    arr = np.asarray(flags)
    if arr.shape != x.shape:
        raise ShapeError(
            f"plot_detection: {name} has to be (N,) with N = {x.shape[0]} like scores, but got "
            f"shape {tuple(arr.shape)}. Pass one 0/1 value per row."
        ) from None
    step = float(np.median(np.diff(x))) if x.shape[0] > 1 else 1.0
    # a span of a row or two would vanish at 1600 px: draw it at least 0.3 % of the axis wide
    min_width = 0.003 * float(x[-1] - x[0] + step) if x.shape[0] else 0.0
    bars = []
    for start, stop in spans_from_binary(arr):
        end = x[stop] if stop < x.shape[0] else x[-1] + step
        bars.append((float(x[start]), max(float(end - x[start]), min_width)))
    return bars


def plot_detection(
    times: ArrayLike | None,
    values: ArrayLike,
    scores: ArrayLike,
    threshold: float,
    *,
    labels: ArrayLike | None = None,
    predictions: ArrayLike | None = None,
    columns: Sequence[str] | None = None,
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Draw sensors, score and threshold, with labelled and detected spans, to a 1600x900 PNG.

    Args:
        times: ``(N,)`` timestamps (datetime64, strings, Timestamps) or numbers; ``None`` for
            row numbers.
        values: ``(N, S)`` sensor readings; each column is standardised for the plot.
        scores: ``(N,)`` anomaly scores.
        threshold: the score above which a row is flagged.
        labels: ``(N,)`` 0/1 labelled anomalies, shaded red.
        predictions: ``(N,)`` 0/1 flagged rows, hatched blue with a solid blue strip along the
            top of each panel; by default ``scores > threshold``.
        columns: ``S`` sensor names for the legend.
        path: the PNG to write.
        title: a title over both panels.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ShapeError: the arrays do not have one entry per row, or ``values`` is not 2-D.

    Example:
        >>> import tempfile, os
        >>> out = plot_detection(None, np.zeros((50, 2)), np.arange(50.0), 40.0,
        ...                      path=os.path.join(tempfile.mkdtemp(), "plot.png"))
        >>> out.suffix
        '.png'
    """
    score_arr = np.asarray(scores, dtype=np.float64)
    if score_arr.ndim != 1:
        raise ShapeError(
            f"plot_detection: scores has to be (N,), but got shape {tuple(score_arr.shape)}."
        ) from None
    n = score_arr.shape[0]
    sensors = np.asarray(values, dtype=np.float64)
    if sensors.ndim == 1:
        sensors = sensors[:, None]  # (N, 1)
    if sensors.ndim != 2 or sensors.shape[0] != n:
        raise ShapeError(
            f"plot_detection: values has to be (N, S) with N = {n} rows like scores, but got "
            f"shape {tuple(sensors.shape)}. Pass one row of sensor readings per score."
        ) from None
    if columns is not None and len(columns) != sensors.shape[1]:
        raise ValueError(
            f"columns has to name the {sensors.shape[1]} sensor columns, but got {len(columns)} "
            f"names"
        )
    names = (
        list(columns) if columns is not None else [f"sensor {i}" for i in range(sensors.shape[1])]
    )
    x, is_date = _x_values(times, n)
    flagged = score_arr > threshold if predictions is None else np.asarray(predictions)
    detected = _span_edges(flagged, x, "predictions")
    labelled = _span_edges(labels, x, "labels") if labels is not None else None

    from matplotlib import dates as mdates
    from matplotlib.colors import to_rgb
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig = Figure(figsize=(16, 9), dpi=100, layout="constrained")
    ax_top, ax_bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    shade_handles = []
    for ax in (ax_top, ax_bottom):
        trans = ax.get_xaxis_transform()  # x in data, y in 0..1 of the axes
        if labelled:
            ax.broken_barh(
                labelled, (0, 1), transform=trans, color=LABEL_COLOR, alpha=_SHADE_ALPHA, lw=0
            )
        if detected:
            ax.broken_barh(
                detected,
                (0, 1),
                transform=trans,
                facecolor=(*to_rgb(DETECTED_COLOR), _SHADE_ALPHA / 2),
                edgecolor=(*to_rgb(DETECTED_COLOR), 0.6),
                hatch="///",
                lw=0,
            )
            # a solid strip along the top keeps one-row alarms visible
            ax.broken_barh(detected, (0.97, 0.03), transform=trans, color=DETECTED_COLOR, lw=0)
    if labelled is not None:
        shade_handles.append(
            Patch(color=LABEL_COLOR, alpha=2 * _SHADE_ALPHA, label="labelled anomaly")
        )
    shade_handles.append(
        Patch(
            facecolor=(*to_rgb(DETECTED_COLOR), _SHADE_ALPHA),
            edgecolor=(*to_rgb(DETECTED_COLOR), 0.8),
            hatch="///",
            lw=0,
            label="detected",
        )
    )

    standard = _standardise(sensors)  # (N, S)
    for j, name in enumerate(names):
        ax_top.plot(x, standard[:, j], lw=0.6, alpha=0.8, label=name)
    ax_top.set_ylabel("sensor value (standardised)", fontsize=12)
    ax_top.set_title("Sensors", fontsize=13, loc="left")
    sensor_handles, _ = ax_top.get_legend_handles_labels()
    ax_top.legend(
        handles=[*sensor_handles, *shade_handles],
        loc="upper left",
        bbox_to_anchor=(1.005, 1.0),
        fontsize=10,
        frameon=False,
    )

    ax_bottom.plot(x, score_arr, color="#222222", lw=0.9, label="anomaly score")
    ax_bottom.axhline(threshold, color="#ff7f0e", lw=1.6, ls="--", label="threshold")
    ax_bottom.set_ylabel("score", fontsize=12)
    ax_bottom.set_title(
        f"Anomaly score: {int(np.count_nonzero(flagged))} of {n} rows flagged in "
        f"{len(detected)} spans",
        fontsize=13,
        loc="left",
    )
    ax_bottom.legend(
        handles=[
            Line2D([], [], color="#222222", lw=1.2, label="anomaly score"),
            Line2D([], [], color="#ff7f0e", lw=1.6, ls="--", label=f"threshold {threshold:.4g}"),
            *shade_handles,
        ],
        loc="upper left",
        bbox_to_anchor=(1.005, 1.0),
        fontsize=10,
        frameon=False,
    )
    ax_bottom.set_xlabel("time" if is_date else "row", fontsize=12)
    if is_date:
        locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
        ax_bottom.xaxis.set_major_locator(locator)
        formatter = mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
        ax_bottom.xaxis.set_major_formatter(formatter)
    for ax in (ax_top, ax_bottom):
        ax.tick_params(labelsize=10)
        ax.grid(True, alpha=0.25, lw=0.5)
        ax.set_xlim(float(x[0]), float(x[-1]))
    if title:
        fig.suptitle(title, fontsize=14)

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=100)
    return out


def _metrics_lines(metrics: Mapping[str, Any]) -> list[str]:
    """Markdown table rows of metrics; FAR and MAR (fractions) are shown in percent."""
    percent = {"far": "FAR, %", "mar": "MAR, %"}
    named = {"f1": "F1", "precision": "precision", "recall": "recall", "nab": "NAB (standard)"}
    lines = ["| metric | value |", "|---|---|"]
    for key, value in metrics.items():
        if isinstance(value, float) and math.isnan(value):
            shown = "n/a"
        elif key in percent:
            shown = f"{100 * float(value):.2f}"
        elif isinstance(value, float):
            shown = f"{value:.3f}" if key != "nab" else f"{value:.2f}"
        else:
            shown = str(value)
        lines.append(f"| {percent.get(key, named.get(key, key))} | {shown} |")
    return lines


def write_summary(
    path: str | Path,
    *,
    input_name: str,
    model: str,
    threshold: float,
    n_rows: int,
    n_flagged: int,
    metrics: Mapping[str, Any] | None,
    plot_name: str,
    flagged_spans: Sequence[tuple[int, int]] | None = None,
) -> Path:
    """Write a short Markdown summary of a detection run beside its plot.

    Args:
        path: the Markdown file to write.
        input_name: the file that was scored.
        model: the detector, as a user would name it (e.g. ``"AnomalyDetector(conv-lstm)"``).
        threshold: the score threshold in use.
        n_rows: rows scored.
        n_flagged: rows flagged as anomalous.
        metrics: scores against the input's labels (e.g. from
            :func:`cnnlstm.evaluation.skab_scores`, plus ``"nab"``), or ``None`` without labels.
        plot_name: the plot's file name, relative to the summary, to embed.
        flagged_spans: ``(start, stop)`` row spans of flagged rows (stop exclusive); the first
            ten are listed.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Example:
        >>> import tempfile, os
        >>> p = write_summary(os.path.join(tempfile.mkdtemp(), "summary.md"), input_name="a.csv",
        ...                   model="demo", threshold=1.0, n_rows=10, n_flagged=2, metrics=None,
        ...                   plot_name="plot.png")
        >>> p.read_text().splitlines()[0]
        '# Anomaly detection: a.csv'
    """
    if n_rows < 0 or not 0 <= n_flagged <= n_rows:
        raise ValueError(f"n_flagged has to be between 0 and n_rows={n_rows}, but got {n_flagged}")
    share = 100.0 * n_flagged / n_rows if n_rows else 0.0
    lines = [
        f"# Anomaly detection: {input_name}",
        "",
        f"- model: {model}",
        f"- threshold: {threshold:.6g} (set on the training rows only)",
        f"- rows scored: {n_rows}",
        f"- rows flagged: {n_flagged} ({share:.1f} %)",
    ]
    if flagged_spans is not None:
        shown = ", ".join(f"{a}-{b - 1}" for a, b in flagged_spans[:10])
        more = f", and {len(flagged_spans) - 10} more" if len(flagged_spans) > 10 else ""
        lines.append(
            f"- flagged spans: {len(flagged_spans)}" + (f" (rows {shown}{more})" if shown else "")
        )
    lines.append("")
    if metrics:
        lines += ["## Metrics against the labels", "", *_metrics_lines(metrics), ""]
    else:
        lines += ["No `anomaly` label column in the input: no metrics.", ""]
    lines += [
        "## Plot",
        "",
        "Sensors (standardised) above the anomaly score and its threshold; labelled anomalies "
        "are shaded red, detected spans blue.",
        "",
        f"![sensors, score and threshold]({plot_name})",
        "",
    ]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    return out
