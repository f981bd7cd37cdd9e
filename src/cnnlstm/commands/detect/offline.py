"""``cnnlstm detect`` on one file: read -> fit (or load) -> score and write -> report.

:func:`run_file` is the pipeline. INPUT is read in parts (:mod:`~cnnlstm.commands.detect.reading`);
the detector is fitted on its first rows or on ``--train``, or loaded
(:mod:`~cnnlstm.commands.detect.fitting`); each part is scored with the state of the rows before
it (:meth:`AnomalyDetector.chunks <cnnlstm.anomaly.detector.AnomalyDetector.chunks>`: the scores
equal the whole file's) and its lines go to OUT.csv's temporary file at once, so memory stays
bounded whatever the number of rows. What the end of the run needs is kept per row in compact
arrays (the score as float32, the flag and the labels as int8: 7 bytes a row) and per flagged
span (:mod:`~cnnlstm.commands.detect.watch`). OUT.csv, the saved detector and the report are
moved into place together at the end (:class:`~cnnlstm.commands.detect.outputs.Outputs`).
"""

from __future__ import annotations

import csv
import itertools
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from cnnlstm.anomaly.rows import FarValue
from cnnlstm.commands.detect.baseline import Detector, load_detector
from cnnlstm.commands.detect.fitting import Fitted, check_saved_columns, fit_detector
from cnnlstm.commands.detect.notes import Notes
from cnnlstm.commands.detect.outputs import Outputs, check_places, time_texts
from cnnlstm.commands.detect.reading import columns_flag, open_chunks, parts, read_head
from cnnlstm.commands.detect.report import (
    detection_metrics,
    print_metrics,
    print_spans,
    write_report,
)
from cnnlstm.commands.detect.settings import (
    DEFAULT_TRAIN_ROWS,
    DetectSettings,
    FitOptions,
    ReadOptions,
)
from cnnlstm.commands.detect.warm import warm_up
from cnnlstm.commands.detect.watch import (
    FLAT_ROWS,
    FLAT_TIMES,
    CounterWatch,
    FlatWatch,
    SpanTracker,
    flat_message,
)
from cnnlstm.data.sensor_chunks import SensorChunks, SensorPart
from cnnlstm.errors import DataError

if TYPE_CHECKING:
    from cnnlstm.reports.detection_trace import DetectionTrace

__all__ = ["FileSummary", "Scored", "run_file", "score_file"]


class FileSummary(NamedTuple):
    """What one file's run counted: its rows; the flagged rows and spans and the metrics of the
    rows after its training rows (all rows with ``--train`` or ``--load``)."""

    rows: int
    flagged: int
    spans: int
    metrics: dict[str, float] | None


def run_file(settings: DetectSettings) -> FileSummary:
    """Run ``cnnlstm detect`` on the file ``settings.input`` and print what it found.

    Returns:
        What the run counted.

    Raises:
        ValueError: a place it cannot write (checked before any input is read).
        DataError: a file it cannot read, or rows that cannot teach a detector.
    """
    assert settings.output is not None  # a one-file run has one: checked with the flags
    notes = Notes()
    check_places(settings)
    opened = time.perf_counter()
    chunks = open_chunks(Path(settings.input), settings.read, notes)
    source = parts(chunks, settings.read, notes)
    (detector, fitted_rows, tail), read = _fit_or_load(
        settings.fit, settings.read, chunks, source, notes, opened
    )
    warm = None
    if tail is not None and settings.fit.warm_start:
        begin = read[0].times[0] if read and read[0].times is not None else None
        warm, note = warm_up(tail, begin, chunks.path)
        notes.say(note)
    with Outputs() as outputs:  # all in place at the end, or none
        started = time.perf_counter()
        scored = score_file(
            detector,
            chunks,
            itertools.chain(read, source),
            outputs.file(settings.output),
            report=settings.report is not None,
            warm=warm,
            cut=fitted_rows,
        )
        notes.say(f"scored {len(scored.flags)} rows in {time.perf_counter() - started:.1f} s")
        writing = time.perf_counter()
        _warn_of_sensors(chunks, scored)
        metrics = _metrics(scored, fitted_rows, chunks.step)
        if settings.save is not None:
            detector.save(outputs.file(settings.save))
        report = None
        training = _training_spans(scored.spans, fitted_rows)  # the spans in the training rows
        if settings.report is not None:
            assert scored.trace is not None
            report = write_report(
                settings.report,
                outputs.file,
                chunks.path,
                scored.trace,
                detector,
                metrics,
                scored.spans.spans[training:],
                scored.spans.sensors[training:],
                fitted_rows,
                flagged=int(scored.flags[fitted_rows:].sum()),
            )
    written = [settings.output, settings.save, *(report or ())]
    shown = ", ".join(str(path) for path in written if path is not None)
    notes.log(f"write: {shown} ({time.perf_counter() - writing:.1f} s)")
    if settings.save is not None:
        notes.say(f"saved the detector to {settings.save}")
    _print_result(notes, detector, scored, settings.output, metrics, fitted_rows, report)
    return FileSummary(
        len(scored.flags),
        int(scored.flags[fitted_rows:].sum()),
        len(scored.spans.spans) - training,
        metrics,
    )


def _fit_or_load(
    fit: FitOptions,
    read: ReadOptions,
    chunks: SensorChunks,
    source: Iterator[SensorPart],
    notes: Notes,
    opened: float,
) -> tuple[Fitted, list[SensorPart]]:
    """The detector (loaded, or fitted on INPUT's first rows or on ``--train``) and the rows of
    INPUT it was fitted on; and the parts of INPUT read for it, which are scored first (INPUT was
    opened at ``opened``, ``time.perf_counter()``)."""
    if fit.load is not None:
        detector = load_detector(fit.load)
        check_saved_columns(detector, chunks.feature_names, str(chunks.path))
        return Fitted(detector, 0), []
    if fit.train is not None:
        wanted = 1  # INPUT's columns, which the training file's are checked against
    elif fit.train_rows is not None:
        wanted = fit.train_rows + 1  # one row to score, at least
    else:
        wanted = 2 * DEFAULT_TRAIN_ROWS  # the default is at most half the file
    head, read_parts = read_head(chunks, source, wanted)
    some = "" if head.total == len(head.features) else "the first "
    seconds = time.perf_counter() - opened
    notes.log(f"read: {some}{len(head.features)} rows of {chunks.path} ({seconds:.1f} s)")
    return fit_detector(fit, head, read, notes), read_parts


class Scored(NamedTuple):
    """What the end of an offline run needs, kept compact while the rows are scored."""

    scores: np.ndarray  # (N,) float32
    flags: np.ndarray  # (N,) int8
    labels: np.ndarray | None  # (N,) int8
    changepoints: np.ndarray | None  # (N,) int8
    spans: SpanTracker
    counters: CounterWatch
    flat: FlatWatch
    trace: DetectionTrace | None
    """What ``--report`` draws, decimated as the rows were scored (None without it)."""


def score_file(
    detector: Detector,
    chunks: SensorChunks,
    source: Iterator[SensorPart],
    out: Path,
    *,
    report: bool,
    warm: np.ndarray | None = None,
    cut: int = 0,
) -> Scored:
    """Score INPUT (``chunks``) part by part from ``source``, writing OUT.csv's lines to ``out``
    as they come; with ``report``, keep what the report's plot draws. With ``warm``, the
    ``(K, S)`` rows before INPUT's first (:func:`~cnnlstm.commands.detect.warm.warm_up`), the
    scorer runs over them first and their scores are dropped. A flagged span that runs on over
    row ``cut`` (the first row after the training rows) is cut there, so that the spans of the
    training rows are told from the others'."""
    scorer = detector.chunks()
    if warm is not None and len(warm):
        scorer.update(warm, columns=chunks.feature_names)
    names = chunks.feature_names
    spans = SpanTracker(names, detector.threshold_)
    counters = CounterWatch(len(names))
    least = np.full(len(names), FLAT_ROWS)
    if len(detector.longest_repeat_) == len(names):  # else saved before it was kept
        least = np.maximum(least, FLAT_TIMES * detector.longest_repeat_)
    flat = FlatWatch(names, least)
    scores: list[np.ndarray] = []
    flags: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    changepoints: list[np.ndarray] = []
    lower = [name.lower() for name in chunks.label_names]
    anomaly = lower.index("anomaly") if "anomaly" in lower else None
    changepoint = lower.index("changepoint") if "changepoint" in lower else None
    trace = None
    if report:  # the plot's rows, min and max per pixel column: bounded memory
        from cnnlstm.reports.detection_trace import DetectionTrace

        trace = DetectionTrace(len(names), labels=anomaly is not None)
    status = _Status(f"scoring {chunks.path} with {detector.model_name}", sys.stdout.isatty())
    with open(out, "w", newline="", encoding="utf-8") as file, status as bar:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(["datetime" if chunks.time_columns else "row", "score", "anomaly"])
        for part in source:
            try:
                part_scores, part_parts = scorer.update(part.features, columns=names)
            except FarValue as far:  # the row of this part -> the line of the file
                where = f"{chunks.path}: line {part.lines[far.row]}, column {names[far.column]!r}"
                raise DataError(far.located(where)) from None
            part_flags = (part_scores > detector.threshold_).astype(np.int8)
            cells = time_texts(part.times, part.start, len(part_flags), utc=chunks.utc)
            shown = [f"{score:.8g}" for score in part_scores.tolist()]
            writer.writerows(zip(cells, shown, part_flags.tolist(), strict=True))
            at = cut - spans.rows  # the part's row where the training rows end
            if 0 < at < len(part_flags):
                spans.add(part_flags[:at], part_parts[:at], part_scores[:at])
                spans.cut()
                spans.add(part_flags[at:], part_parts[at:], part_scores[at:])
            else:
                if at == 0:
                    spans.cut()
                spans.add(part_flags, part_parts, part_scores)
            counters.add(part.features)
            flat.add(part.features, part.times, part.lines)
            scores.append(part_scores.astype(np.float32))
            flags.append(part_flags)
            if part.labels is not None and anomaly is not None:
                labels.append(part.labels[:, anomaly].astype(np.int8))
            if part.labels is not None and changepoint is not None:
                changepoints.append(part.labels[:, changepoint].astype(np.int8))
            if trace is not None:
                trace.add(
                    part.times,
                    part.features,
                    part_scores,
                    predictions=part_flags,
                    labels=labels[-1] if anomaly is not None else None,
                )
            bar.advance(len(part_flags))
    spans.finish()
    flat.finish()

    def joined(arrays: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)

    return Scored(
        scores=joined(scores, np.float32),
        flags=joined(flags, np.int8),
        labels=joined(labels, np.int8) if anomaly is not None else None,
        changepoints=joined(changepoints, np.int8) if changepoint is not None else None,
        spans=spans,
        counters=counters,
        flat=flat,
        trace=trace,
    )


class _Status:
    """A status line with the rows scored so far, on a terminal; nothing elsewhere."""

    def __init__(self, text: str, live: bool) -> None:
        self._text = text
        self._rows = 0
        self._status: Any = None
        if live:
            from rich.console import Console

            self._status = Console(file=sys.stdout).status(text)

    def __enter__(self) -> _Status:
        if self._status is not None:
            self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(*exc)

    def advance(self, rows: int) -> None:
        self._rows += rows
        if self._status is not None:
            self._status.update(f"{self._text}: {self._rows:,} rows")


def _warn_of_sensors(chunks: SensorChunks, scored: Scored) -> None:
    """Warn of sensors that only ever rise (counters, totals) and of sensors that held one
    value for long, once each."""
    rising = scored.counters.rising()
    names = [name for name, up in zip(chunks.feature_names, rising.tolist(), strict=True) if up]
    if names:
        kept = [c for c in chunks.feature_names if c not in names]
        leave = f"; leave them out with {columns_flag(kept)}" if kept else ""
        warnings.warn(
            f"{chunks.path}: {names} only rise from row to row (counters or totals?): later rows "
            f"lie above every value the detector is fitted on, so they score as anomalies{leave}.",
            stacklevel=3,
        )
    if scored.flat.runs:
        message = flat_message(chunks.path, scored.flat.runs, scored.spans.spans, step=chunks.step)
        warnings.warn(message, stacklevel=3)


def _metrics(scored: Scored, start: int, step: float | None) -> dict[str, float] | None:
    """The flags against the labels on the rows from ``start`` (after the training rows), or
    None without labels; NAB's window counted in rows of ``step`` seconds."""
    if scored.labels is None:
        return None
    return detection_metrics(
        scored.labels[start:],
        scored.flags[start:],
        changepoints=None if scored.changepoints is None else scored.changepoints[start:],
        period_seconds=step if step and step > 0 else 1.0,
    )


def _print_result(
    notes: Notes,
    detector: Detector,
    scored: Scored,
    output: Path | None,
    metrics: dict[str, float] | None,
    start: int,
    report: tuple[Path, Path] | None,
) -> None:
    """The threshold, the flagged rows and spans after the training rows (``start``), those in
    the training rows apart, the metrics and where the report went."""
    console = notes.console()
    unit = " (scores are in units of the alarm level)" if detector.level_ is not None else ""
    spans = scored.spans
    rows = len(scored.flags)
    k = _training_spans(spans, start)
    counted = len(spans.spans) - k
    judged = f"{rows} rows"
    if start:
        judged = f"the {rows - start} rows after the {start} training rows,"
    console.print(
        f"threshold {detector.threshold_:.6g}{unit}: flagged {int(scored.flags[start:].sum())} "
        f"of {judged} in {counted} span{'' if counted == 1 else 's'}; wrote {output}",
        soft_wrap=True,
    )
    inside = int(scored.flags[:start].sum())
    if inside:
        console.print(
            f"in the training rows 0-{start - 1} (fitted on, not counted above): {inside} "
            f"row{'' if inside == 1 else 's'} flagged in {k} span{'' if k == 1 else 's'}",
            soft_wrap=True,
        )
    if len(spans.spans) > k:
        print_spans(console, spans.spans[k:], spans.sensors[k:], spans.peaks[k:])
    if k:
        title = "flagged spans in the training rows (not counted above)"
        print_spans(console, spans.spans[:k], spans.sensors[:k], spans.peaks[:k], title=title)
    if metrics is not None:
        where = f"rows {start}-{rows - 1}, after the training rows" if start else "all rows"
        print_metrics(console, metrics, where)
    if report is not None:
        console.print(f"wrote {report[0]} and {report[1]}", soft_wrap=True)


def _training_spans(spans: SpanTracker, start: int) -> int:
    """How many of the flagged spans (in row order, none across row ``start``: see
    :func:`score_file`'s ``cut``) lie in the training rows, before ``start``."""
    return sum(stop <= start for _, stop in spans.spans)
