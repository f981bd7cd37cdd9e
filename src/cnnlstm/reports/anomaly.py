"""The report of an anomaly-detection run: a plot of sensors and score, and a Markdown summary.

``cnnlstm detect INPUT.csv --report DIR`` writes both. :func:`plot_detection` draws three panels
on one time axis:

1. the sensors, each standardised in a lane of its own (up to :data:`MAX_LANES` sensors; more
   share one axis), so a stuck, drifting or noisy sensor shows in its own line;
2. the anomaly score on a log axis with the threshold, the score above it filled blue;
3. a strip with the labelled anomaly spans (red) above the detected spans (blue), so a hit, a
   miss and a false alarm read at a glance.

Labelled spans are also shaded light red behind the first two panels, and the training rows
(when given) grey. :func:`write_summary` says what was run, how many rows were flagged in how
many spans, the metrics when the input had labels, and embeds the plot.

Long runs are drawn in bounded memory and in seconds: a
:class:`~cnnlstm.reports.detection_trace.DetectionTrace` takes the rows chunk by chunk
(``cnnlstm detect`` feeds it each part as it is scored) and keeps each lane's minimum and maximum
per pixel column, so a one-row spike in months of rows still shows, and :func:`draw_detection`
draws it; :func:`plot_detection` does both for rows
in memory. Up to 4096 rows every row is drawn as it is.

matplotlib is imported inside :func:`draw_detection` (with the Agg renderer, no display needed),
so importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cnnlstm.anomaly.evaluation import spans_from_binary
from cnnlstm.errors import ShapeError
from cnnlstm.extras import importing
from cnnlstm.reports.detection_trace import DetectionTrace

__all__ = [
    "DETECTED_COLOR",
    "LABEL_COLOR",
    "MAX_LANES",
    "SHOWN_SENSORS",
    "THRESHOLD_COLOR",
    "draw_detection",
    "plot_detection",
    "sensor_list",
    "write_summary",
]

SHOWN_SENSORS = 5
"""How many of a span's sensors the summaries name before ``and N more``: a span on a wide
plant can have most of its sensors above the threshold."""


def sensor_list(names: Sequence[str], shown: int = SHOWN_SENSORS) -> str:
    """The first ``shown`` names, comma-separated, then ``and N more`` for the rest.

    Example:
        >>> sensor_list(["flow", "pressure"])
        'flow, pressure'
        >>> sensor_list([f"s{k}" for k in range(9)], shown=3)
        's0, s1, s2 and 6 more'
    """
    head = ", ".join(names[:shown])
    return head if len(names) <= shown else f"{head} and {len(names) - shown} more"


LABEL_COLOR = "#d62728"  # labelled anomaly spans: red
DETECTED_COLOR = "#1f77b4"  # detected spans: blue
THRESHOLD_COLOR = "#ff7f0e"  # the threshold: orange
MAX_LANES = 16
"""Up to this many sensors get a lane each; more are drawn on one shared axis."""
_TRAIN_COLOR = "#7f7f7f"
_SHADE_ALPHA = 0.18
_LEGEND_NAMES = 40  # past MAX_LANES, up to this many sensors are named in a legend
_LANE_CLIP = 4.0  # a lane shows -4..4 standard deviations; beyond is clipped to the lane


def _metrics_text(metrics: Mapping[str, float]) -> str:
    """``F1 0.667 · precision 0.755 · ...`` for a plot's title (FAR and MAR in percent)."""
    parts = []
    for key, name in (
        ("f1", "F1"),
        ("precision", "precision"),
        ("recall", "recall"),
        ("far", "FAR"),
        ("mar", "MAR"),
        ("nab", "NAB"),
    ):
        if key not in metrics or math.isnan(float(metrics[key])):
            continue
        value = float(metrics[key])
        shown = f"{100 * value:.1f} %" if key in ("far", "mar") else f"{value:.3f}"
        if key == "nab":
            shown = f"{value:.1f}"
        parts.append(f"{name} {shown}")
    return "  ·  ".join(parts)


def _span_bars(
    on: NDArray[np.bool_], x: NDArray[np.float64], end: float
) -> list[tuple[float, float]]:
    """``(x_start, width)`` for each run of buckets that are on; a run ends where the next bucket
    begins, and is drawn at least 0.2 % of the axis wide (a span of a row or two would vanish at
    1600 px)."""
    if not len(x):
        return []
    min_width = 0.002 * float(end - x[0])
    bars = []
    for start, stop in spans_from_binary(on.astype(np.int8)):
        stop_x = x[stop] if stop < len(x) else end
        bars.append((float(x[start]), max(float(stop_x - x[start]), min_width)))
    return bars


def _zigzag(
    x: NDArray[np.float64], low: NDArray[np.float64], high: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A line through each bucket's minimum and maximum (in turn low-high, high-low), so that
    drawn it covers every value each bucket held; one row a bucket draws the plain line."""
    k = len(x)
    xs = np.repeat(x, 2)  # (2K,)
    pairs = np.stack([low, high], axis=1)  # (K, 2, ...)
    pairs[1::2] = pairs[1::2, ::-1]
    return xs, pairs.reshape(2 * k, *low.shape[1:])


def _check_rows(times: ArrayLike | None, flags: ArrayLike | None, name: str, n: int) -> None:
    if times is not None:
        arr = np.asarray(times)
        if arr.ndim != 1 or arr.shape[0] != n:
            raise ShapeError(
                f"plot_detection: times has to be (N,) with N = {n} rows like scores, but got "
                f"shape {tuple(arr.shape)}. Pass one timestamp per row, or times=None for row "
                f"numbers."
            ) from None
    if flags is not None and np.asarray(flags).shape != (n,):
        raise ShapeError(
            f"plot_detection: {name} has to be (N,) with N = {n} like scores, but got shape "
            f"{tuple(np.asarray(flags).shape)}. Pass one 0/1 value per row."
        ) from None


def plot_detection(
    times: ArrayLike | None,
    values: ArrayLike,
    scores: ArrayLike,
    threshold: float,
    *,
    labels: ArrayLike | None = None,
    predictions: ArrayLike | None = None,
    columns: Sequence[str] | None = None,
    train_rows: int = 0,
    metrics: Mapping[str, float] | None = None,
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Draw sensors, score and threshold, labelled and detected spans, to a 1600x900 PNG.

    The rows go through a :class:`DetectionTrace` and are drawn by :func:`draw_detection`: up
    to 4096 rows as they are, longer runs as each lane's minimum and maximum per pixel column.

    Args:
        times: ``(N,)`` timestamps (datetime64, strings, Timestamps) or numbers; ``None`` for
            row numbers.
        values: ``(N, S)`` sensor readings; each column is standardised for the plot.
        scores: ``(N,)`` anomaly scores (rows scoring 0, before the first prediction, are left
            out of the log axis).
        threshold: the score above which a row is flagged.
        labels: ``(N,)`` 0/1 labelled anomalies: shaded red, and a red lane in the strip.
        predictions: ``(N,)`` 0/1 flagged rows, the blue lane of the strip; by default
            ``scores > threshold``.
        columns: ``S`` sensor names for the lanes (or the legend, past :data:`MAX_LANES`).
        train_rows: the first rows the detector was fitted on, shaded grey; 0 for none.
        metrics: scores against the labels (``f1``, ``precision``, ``recall``, ``far``,
            ``mar``, ``nab``) to print under the title.
        path: the PNG to write.
        title: a title over the panels.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ShapeError: the arrays do not have one entry per row, or ``values`` is not 2-D.
        ValueError: ``columns`` of another length than ``S``, ``train_rows`` out of range.

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
    _check_rows(times, predictions, "predictions", n)
    _check_rows(None, labels, "labels", n)
    if columns is not None and len(columns) != sensors.shape[1]:
        raise ValueError(
            f"columns has to name the {sensors.shape[1]} sensor columns, but got {len(columns)} "
            f"names"
        )
    if not 0 <= train_rows <= n:
        raise ValueError(f"train_rows has to be in [0, {n}], but got {train_rows}")
    flagged = score_arr > threshold if predictions is None else np.asarray(predictions)
    trace = DetectionTrace(sensors.shape[1], labels=labels is not None)
    trace.add(times, sensors, score_arr, predictions=flagged, labels=labels)
    return draw_detection(
        trace,
        threshold,
        columns=columns,
        train_rows=train_rows,
        metrics=metrics,
        path=path,
        title=title,
    )


def draw_detection(
    trace: DetectionTrace,
    threshold: float,
    *,
    columns: Sequence[str] | None = None,
    train_rows: int = 0,
    metrics: Mapping[str, float] | None = None,
    path: str | Path,
    title: str | None = None,
    counts: tuple[int, int] | None = None,
) -> Path:
    """Draw a :class:`DetectionTrace` to a 1600x900 PNG: the panels :func:`plot_detection`
    describes, each lane drawn through its minimum and maximum per pixel column.

    Args:
        trace: the run's rows, gathered chunk by chunk.
        threshold: the score above which a row is flagged.
        columns: ``S`` sensor names for the lanes (or the legend, past :data:`MAX_LANES`).
        train_rows: the first rows the detector was fitted on, shaded grey; 0 for none.
        metrics: scores against the labels to print under the title.
        path: the PNG to write.
        title: a title over the panels.
        counts: ``(flagged rows, flagged spans)`` after the ``train_rows``, as the command counts
            them, for the score panel's title; None: the trace's, over every row.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: ``columns`` of another length than ``S``, ``train_rows`` out of range.
    """
    n = trace.rows
    if columns is not None and len(columns) != trace.n_sensors:
        raise ValueError(
            f"columns has to name the {trace.n_sensors} sensor columns, but got {len(columns)} "
            f"names"
        )
    if not 0 <= train_rows <= n:
        raise ValueError(f"train_rows has to be in [0, {n}], but got {train_rows}")
    names = (
        list(columns) if columns is not None else [f"sensor {i}" for i in range(trace.n_sensors)]
    )
    x, end = trace.x_numbers()  # (K,) each bucket's first x, and where the last one ends
    detected = _span_bars(trace.flags, x, end)
    label_flags = trace.labels
    labelled = _span_bars(label_flags, x, end) if label_flags is not None else None
    trained = [(float(x[0]), trace.row_x(train_rows, x, end) - float(x[0]))] if train_rows else []

    with importing("drawing plots (cnnlstm.reports.anomaly)", "plots"):
        from matplotlib import dates as mdates
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

    fig = Figure(figsize=(16, 9), dpi=100, layout="constrained")
    ax_sensors, ax_score, ax_spans = fig.subplots(3, 1, sharex=True, height_ratios=(5.0, 2.6, 0.9))
    for ax in (ax_sensors, ax_score):
        trans = ax.get_xaxis_transform()  # x in data, y in 0..1 of the axes
        if trained:
            ax.broken_barh(trained, (0, 1), transform=trans, color=_TRAIN_COLOR, alpha=0.12, lw=0)
        if labelled:
            ax.broken_barh(
                labelled, (0, 1), transform=trans, color=LABEL_COLOR, alpha=_SHADE_ALPHA, lw=0
            )

    # 1. sensors: a lane each, standardised and clipped to the lane
    mean, sd = trace.standard()  # (S,) each
    low, high = trace.sensors  # (K, S) each
    xs, standard = _zigzag(x, (low - mean) / sd, (high - mean) / sd)  # (2K,), (2K, S)
    lanes = len(names) <= MAX_LANES
    colors = [f"C{j % 10}" for j in range(len(names))]
    if lanes:
        spacing = 2 * _LANE_CLIP
        centres = [-spacing * j for j in range(len(names))]  # the first sensor on top
        for j, centre in enumerate(centres):
            lane = np.clip(standard[:, j], -_LANE_CLIP, _LANE_CLIP) + centre  # (2K,)
            ax_sensors.plot(xs, lane, lw=0.7, color=colors[j])
        ax_sensors.set_yticks(centres, names, fontsize=10)
        for label, color in zip(ax_sensors.get_yticklabels(), colors, strict=True):
            label.set_color(color)
        ax_sensors.set_ylim(centres[-1] - spacing / 2, spacing / 2)
        ax_sensors.tick_params(axis="y", length=0)
        ax_sensors.set_title("Sensors (each standardised, one lane each)", fontsize=13, loc="left")
    else:
        for j, name in enumerate(names):
            ax_sensors.plot(xs, standard[:, j], lw=0.5, alpha=0.7, color=colors[j], label=name)
        ax_sensors.set_ylabel("standardised value", fontsize=11)
        ax_sensors.set_title(f"{len(names)} sensors (standardised)", fontsize=13, loc="left")
    if trace.rows > len(x):
        ax_sensors.set_title(
            f"{trace.rows:,} rows, each pixel column drawn through its rows' lowest and highest "
            f"values",
            fontsize=10,
            loc="right",
            color="#555555",
        )

    # 2. score on a log axis: unscored rows (0) are left out
    lowest, highest = trace.scores  # (K,) each
    top = np.where(highest > 0, highest, np.nan)  # (K,)
    bottom = np.where(np.isfinite(lowest), lowest, np.nan)  # (K,)
    xs_score, shown = _zigzag(x, bottom, top)  # (2K,) each
    ax_score.plot(xs_score, shown, color="#222222", lw=0.8)
    ax_score.fill_between(
        x,
        threshold,
        top,
        where=np.nan_to_num(top) > threshold,
        color=DETECTED_COLOR,
        alpha=0.45,
        lw=0,
        interpolate=True,
    )
    ax_score.axhline(threshold, color=THRESHOLD_COLOR, lw=1.8, ls="--")
    positive = bottom[np.isfinite(bottom)]
    if positive.size and threshold > 0:
        ax_score.set_yscale("log")
        floor = min(float(np.quantile(positive, 0.01)), threshold) / 1.5
        ax_score.set_ylim(floor, max(float(np.nanmax(top)), threshold) * 1.5)
    ax_score.set_ylabel("score (log)" if threshold > 0 else "score", fontsize=11)
    flagged, spans = (trace.flagged, trace.spans) if counts is None else counts
    judged = f"{n} rows"
    if counts is not None and train_rows:
        judged = f"the {n - train_rows} rows after the {train_rows} training rows"
    ax_score.set_title(
        f"Anomaly score: {flagged} of {judged} above the threshold {threshold:.4g}, in "
        f"{spans} span{'' if spans == 1 else 's'}",
        fontsize=13,
        loc="left",
    )

    # 3. the spans: labelled (red) above detected (blue)
    rows = [("detected", DETECTED_COLOR, detected)]
    if labelled is not None:
        rows.insert(0, ("labelled", LABEL_COLOR, labelled))
    for k, (_, color, bars) in enumerate(reversed(rows)):
        if bars:
            ax_spans.broken_barh(bars, (k + 0.15, 0.7), color=color, lw=0)
    if trained:
        ax_spans.broken_barh(trained, (0, len(rows)), color=_TRAIN_COLOR, alpha=0.12, lw=0)
    ax_spans.set_ylim(0, len(rows))
    ax_spans.set_yticks([k + 0.5 for k in range(len(rows))], [r[0] for r in reversed(rows)])
    ax_spans.tick_params(axis="y", length=0, labelsize=10)
    for tick, row in zip(ax_spans.get_yticklabels(), reversed(rows), strict=True):
        tick.set_color(row[1])

    handles: list[Any] = [
        Patch(color=DETECTED_COLOR, alpha=0.7, label="detected (score above threshold)"),
        Line2D([], [], color=THRESHOLD_COLOR, lw=1.8, ls="--", label="threshold"),
        Line2D([], [], color="#222222", lw=1.2, label="anomaly score"),
    ]
    if labelled is not None:
        handles.insert(0, Patch(color=LABEL_COLOR, alpha=0.5, label="labelled anomaly"))
    if trained:
        handles.append(Patch(color=_TRAIN_COLOR, alpha=0.3, label=f"training rows ({train_rows})"))
    if not lanes and len(names) <= _LEGEND_NAMES:  # the sensors' names beside their panel
        ax_sensors.legend(
            loc="upper left",
            bbox_to_anchor=(1.005, 1.0),
            ncols=math.ceil(len(names) / 20),
            fontsize=8,
            frameon=False,
            handlelength=1.2,
        )
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=len(handles),
        fontsize=10,
        frameon=False,
    )

    ax_spans.set_xlabel("time" if trace.is_date else "row", fontsize=11)
    if trace.is_date:
        locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
        ax_spans.xaxis.set_major_locator(locator)
        formatter = mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
        ax_spans.xaxis.set_major_formatter(formatter)
    for ax in (ax_sensors, ax_score, ax_spans):
        ax.tick_params(axis="x", labelsize=10)
        ax.grid(True, axis="x", alpha=0.3, lw=0.5)
        ax.set_xlim(float(x[0]) if n else 0.0, end)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    ax_score.grid(True, axis="y", which="major", alpha=0.3, lw=0.5)
    heading = title or ""
    if metrics:
        heading = f"{heading}\n{_metrics_text(metrics)}" if heading else _metrics_text(metrics)
    if heading:
        fig.suptitle(heading, fontsize=14)

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
    span_sensors: Sequence[Sequence[str]] | None = None,
    train_rows: int = 0,
) -> Path:
    """Write a short Markdown summary of a detection run beside its plot.

    Args:
        path: the Markdown file to write.
        input_name: the file that was scored.
        model: the detector, as a user would name it (e.g. ``"AnomalyDetector(conv-lstm)"``).
        threshold: the score threshold in use.
        n_rows: rows judged (after the training rows, when ``train_rows``).
        n_flagged: rows flagged as anomalous.
        metrics: scores against the input's labels (e.g. from
            :func:`cnnlstm.anomaly.evaluation.skab_scores`, plus ``"nab"``), or ``None`` without
            labels.
        plot_name: the plot's file name, relative to the summary, to embed.
        flagged_spans: ``(start, stop)`` row spans of flagged rows (stop exclusive); the first
            ten are listed.
        span_sensors: the sensors behind each flagged span, listed beside it.
        train_rows: the rows the detector was fitted on before the judged ones (0: none).

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
    if train_rows < 0:
        raise ValueError(f"train_rows has to be >= 0, but got {train_rows}")
    if n_rows < 0 or not 0 <= n_flagged <= n_rows:
        raise ValueError(f"n_flagged has to be between 0 and n_rows={n_rows}, but got {n_flagged}")
    share = 100.0 * n_flagged / n_rows if n_rows else 0.0
    lines = [
        f"# Anomaly detection: {input_name}",
        "",
        f"- model: {model}",
        f"- threshold: {threshold:.6g} (set on the training rows only)",
        f"- rows judged: {n_rows}"
        + (f" (after the {train_rows} training rows)" if train_rows else ""),
        f"- rows flagged: {n_flagged} ({share:.1f} %)",
    ]
    if flagged_spans is not None and span_sensors is not None:
        lines.append(f"- flagged spans: {len(flagged_spans)}")
        lines += [
            f"  - rows {a}-{b - 1}: {sensor_list(names)}"
            for (a, b), names in zip(flagged_spans[:10], span_sensors, strict=False)
        ]
        if len(flagged_spans) > 10:
            lines.append(f"  - and {len(flagged_spans) - 10} more")
    elif flagged_spans is not None:
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
        "Each sensor (standardised) in a lane of its own; the anomaly score on a log axis "
        "against the threshold (dashed), the score above it filled blue; at the bottom, the "
        "labelled anomalies (red) above the detected spans (blue). Labelled spans are shaded "
        "red behind the sensors and the score, and the training rows, when the detector was "
        "fitted on the first rows of the file, grey.",
        "",
        f"![sensors, score and threshold]({plot_name})",
        "",
    ]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    return out
