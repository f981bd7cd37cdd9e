"""``cnnlstm detect``'s results: against the labels, the sensors behind each span, the report.

:func:`detection_metrics` scores the flags against labelled anomalies and changepoints (SKAB's
precision, recall, F1, FAR and MAR, and NAB), :func:`span_sensors` names the sensors behind each
flagged span; the tables of both are printed, and ``--report DIR`` gets a plot and a Markdown
summary (:mod:`cnnlstm.reports.anomaly`), written with the run's other outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnlstm.anomaly.evaluation import (
    binary_counts,
    changepoints_from_labels,
    changepoints_from_predictions,
    nab_score,
    skab_scores,
)
from cnnlstm.reports.anomaly import sensor_list

if TYPE_CHECKING:
    from cnnlstm.commands.detect.baseline import Detector
    from cnnlstm.reports.detection_trace import DetectionTrace

__all__ = [
    "NAB_WINDOW_SECONDS",
    "detection_metrics",
    "print_metrics",
    "print_spans",
    "span_sensors",
    "write_report",
]

NAB_WINDOW_SECONDS = 60.0
"""NAB's scoring window to the right of each true changepoint, as SKAB sets it."""


def span_sensors(
    sensor_scores: np.ndarray,
    spans: Sequence[tuple[int, int]],
    names: Sequence[str],
    threshold: float,
) -> list[list[str]]:
    """The sensors behind each flagged span, largest first.

    A sensor counts when its part of the score (:meth:`AnomalyDetector.sensor_scores`) goes
    above the threshold somewhere in the span; when none does alone (``combine="mean"``), the
    largest one is named.

    Args:
        sensor_scores: ``(M, S)`` each sensor's part of each row's score.
        spans: ``(start, stop)`` row spans (stop exclusive).
        names: the ``S`` sensor names.
        threshold: the detector's threshold.

    Returns:
        One list of sensor names per span.

    Example:
        >>> parts = np.array([[0.1, 0.2], [3.0, 1.5], [0.2, 2.0]])
        >>> span_sensors(parts, [(1, 3)], ["flow", "pressure"], 1.0)
        [['flow', 'pressure']]
    """
    named = []
    for start, stop in spans:
        peaks = sensor_scores[start:stop].max(axis=0)  # (S,)
        order = np.argsort(-peaks, kind="stable")
        above = [names[k] for k in order if peaks[k] > threshold]
        named.append(above or [names[order[0]]])
    return named


_SPANS_SHOWN = 10
"""The flagged spans the printed table lists: the highest-scoring ones, in row order."""


def print_spans(
    console: Any,
    spans: Sequence[tuple[int, int]],
    sensors: list[list[str]],
    peaks: Sequence[float] | None = None,
    *,
    title: str = "flagged spans and the sensors behind them",
) -> None:
    """A table of the flagged spans under ``title``; past :data:`_SPANS_SHOWN` spans, the ones
    with the highest peak score (``peaks``; else the first ones), in row order, and a line on the
    rest."""
    from rich.table import Table

    many = len(spans) > _SPANS_SHOWN
    shown = list(range(min(len(spans), _SPANS_SHOWN)))
    if peaks is not None and many:
        order = np.argsort(-np.asarray(peaks, dtype=np.float64), kind="stable")
        shown = sorted(order[:_SPANS_SHOWN].tolist())
    if peaks is not None and many:
        title += f" (the {_SPANS_SHOWN} highest-scoring)"
    table = Table(title=title, title_justify="left")
    table.add_column("rows")
    if peaks is not None:
        table.add_column("peak score", justify="right")
    table.add_column("sensors (largest part of the score first)")
    for k in shown:
        start, stop = spans[k]
        peak = [f"{peaks[k]:.3g}"] if peaks is not None else []
        table.add_row(f"{start}-{stop - 1}", *peak, sensor_list(sensors[k]))
    if many:
        blank = [""] if peaks is not None else []
        rest = len(spans) - _SPANS_SHOWN
        table.add_row("...", *blank, f"and {rest} more spans (see the output file)")
    console.print(table)


def detection_metrics(
    labels: np.ndarray,
    flags: np.ndarray,
    *,
    changepoints: np.ndarray | None = None,
    period_seconds: float = 1.0,
) -> dict[str, float]:
    """Precision, recall, F1, FAR, MAR of row flags, and NAB when changepoints are labelled.

    NAB uses the standard profile and a window of :data:`NAB_WINDOW_SECONDS` to the right of each
    true changepoint, counted in rows of ``period_seconds``; it is left out when the rows hold
    no labelled changepoint.

    Args:
        labels: ``(N,)`` 0/1 labelled anomalies.
        flags: ``(N,)`` 0/1 flagged rows.
        changepoints: ``(N,)`` 0/1 labelled changepoints, or ``None``.
        period_seconds: the time between rows.

    Returns:
        ``{"precision", "recall", "f1", "far", "mar"}`` (fractions) and ``"nab"`` (0-100).

    Example:
        >>> m = detection_metrics(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 1]))
        >>> m["f1"], m["far"]
        (0.5, 0.5)
    """
    scores = skab_scores(binary_counts(labels, flags))
    metrics = {key: scores[key] for key in ("precision", "recall", "f1", "far", "mar")}
    if changepoints is not None:
        true = changepoints_from_labels(changepoints)
        if len(true):
            window_rows = max(1, round(NAB_WINDOW_SECONDS / period_seconds))
            metrics["nab"] = nab_score(
                [true],
                [changepoints_from_predictions(flags)],
                window_seconds=window_rows,
                n_rows_per_file=[len(flags)],
            )
    return metrics


def print_metrics(console: Any, metrics: dict[str, float], where: str) -> None:
    """A table of ``metrics`` (as :func:`detection_metrics` gives them) on the rows ``where``
    says."""
    from rich.table import Table

    table = Table(title=f"against the labels ({where})", title_justify="left")
    names = {
        "precision": "precision",
        "recall": "recall",
        "f1": "F1",
        "far": "FAR, %",
        "mar": "MAR, %",
        "nab": "NAB (standard)",
    }
    for key in metrics:
        table.add_column(names[key], justify="right")
    cells = []
    for key, value in metrics.items():
        if math.isnan(value):
            cells.append("n/a")
        elif key in ("far", "mar"):
            cells.append(f"{100 * value:.2f}")
        elif key == "nab":
            cells.append(f"{value:.2f}")
        else:
            cells.append(f"{value:.3f}")
    table.add_row(*cells)
    console.print(table)


def write_report(
    folder: Path,
    temporary: Callable[[Path], Path],
    input_path: Path,
    trace: DetectionTrace,
    detector: Detector,
    metrics: dict[str, float] | None,
    spans: list[tuple[int, int]],
    culprits: list[list[str]],
    fitted_rows: int,
    *,
    flagged: int,
) -> tuple[Path, Path]:
    """Write ``folder/detection.png`` and ``folder/summary.md`` to the temporary files
    ``temporary(path)`` gives for them (:meth:`Outputs.file
    <cnnlstm.commands.detect.outputs.Outputs.file>` moves them into place); return their paths.
    The plot is drawn from ``trace``, the rows decimated as they were scored, so it takes
    seconds and bounded memory however long INPUT is; ``spans`` are the flagged spans,
    ``culprits`` the sensors behind each, ``fitted_rows`` the rows the detector was fitted on;
    the summary counts the rows after them, and ``spans`` and ``flagged`` (the flagged rows) are
    those of these rows."""
    from cnnlstm.reports.anomaly import draw_detection, write_summary

    plot, summary = folder / "detection.png", folder / "summary.md"
    draw_detection(
        trace,
        detector.threshold_,
        columns=detector.columns_,
        train_rows=min(fitted_rows, trace.rows),
        metrics=metrics,
        path=temporary(plot),
        title=f"{input_path}: {detector.model_name}",
        counts=(flagged, len(spans)),
    )
    write_summary(
        temporary(summary),
        input_name=str(input_path),
        model=repr(detector),
        threshold=detector.threshold_,
        n_rows=trace.rows - min(fitted_rows, trace.rows),
        n_flagged=flagged,
        metrics=metrics,
        plot_name=plot.name,
        flagged_spans=spans,
        span_sensors=culprits,
        train_rows=min(fitted_rows, trace.rows),
    )
    return plot, summary
