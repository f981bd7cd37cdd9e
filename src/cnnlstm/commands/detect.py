"""``cnnlstm detect``: fit an anomaly detector on normal sensor rows, score a file, write flags.

::

    cnnlstm detect INPUT.csv [--train NORMAL.csv | --train-rows N] --output OUT.csv [--report DIR]
    cnnlstm detect 'plant/*.csv' --train-rows N --output OUTDIR [--report DIR] [--jobs N]
    cnnlstm detect - --stream --load DETECTOR.pt < rows.csv

INPUT is read with :class:`~cnnlstm.data.sensors.SensorCSV`: the encoding (UTF-8, UTF-16 with a
byte order mark, else Windows-1252 with a note; ``--encoding`` names it), the delimiter and the
decimal mark are sniffed (``--decimal`` sets the mark: ``1,25`` is read as 1.25 in a
``;``-separated file by default), a units row under the header is skipped, a datetime column (or
a date and a time column) is parsed when there is one (``--datetime NAME`` names it, ``--datetime
none`` reads the rows without times), and the label columns ``anomaly`` / ``changepoint`` are
kept apart: they never reach the detector (neither its weights nor its threshold), they only
score the run. Every other column is a sensor, unless ``--columns A,B,C`` names the sensor
columns (then the rest are left out, in INPUT, in NORMAL.csv and in the rows of ``--stream``).
The detector (:class:`~cnnlstm.anomaly.detector.AnomalyDetector`) is fitted on NORMAL.csv's rows, or
on the first ``--train-rows`` rows of INPUT (default: the first :data:`DEFAULT_TRAIN_ROWS` rows, at
most half the file), or read with ``--load``. OUT.csv gets one line per INPUT row, in order:
``datetime`` (or ``row``, 0-based, without a datetime column), ``score`` and ``anomaly`` (0/1).
Every place the command writes (``--output``, ``--report``, ``--save``) is checked before INPUT
is read; OUT.csv, the saved detector and the report are written to temporary files beside them
and moved into place together at the end, so a failed run leaves none of them (nor a folder made
for them). On a terminal, a progress bar runs while the detector fits and a status line while it
scores.
Mistakes in the input (a wrong delimiter, text in a sensor column, NaN cells, fewer training
rows than one window, columns that differ from the training file's or the saved detector's, a
sensor with no value in the training rows) end with one line that says what is wrong and where,
exit code 2, and no OUT.csv. A sensor that only ever rises (a counter, a total) is warned of:
the rows after the training rows lie above all the detector saw. Times with an offset
(``+02:00``) are written to OUT.csv in UTC (``+00:00``), plain-number times with every digit.

With labels, the command prints precision, recall, F1, FAR and MAR (SKAB's definitions, see
:mod:`cnnlstm.anomaly.evaluation`) and, with a ``changepoint`` column, the NAB score (standard
profile, a 60 s window to the right of each changepoint). With ``--train-rows`` the metrics count
only the rows after the training rows: the rows the detector was fitted on say nothing about it.

``--stream`` reads a header line and then rows from standard input as they arrive and writes
``datetime,score,anomaly`` for each row to standard output at once, with
:meth:`AnomalyDetector.stream <cnnlstm.anomaly.detector.AnomalyDetector.stream>`: the recurrent
state carries from row to row, so the scores equal the offline run's.

A folder or a quoted glob as INPUT runs each file on its own, as a run on it alone would, in
``--jobs`` processes, and ends with a table of every file (also ``OUTDIR/summary.csv``); a file
that fails is listed with its error and the others go on (exit code 1). See
:mod:`~cnnlstm.commands.detect_many`.

This module holds the parser and the offline run. The checks of the flags, reading the files and
fitting live in :mod:`~cnnlstm.commands.detect_fit`, ``--stream`` in
:mod:`~cnnlstm.commands.detect_stream`, the metrics, the spans' sensors and ``--report`` in
:mod:`~cnnlstm.commands.detect_report`; their public names can be imported from here too.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import inspect
import itertools
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from cnnlstm.anomaly.detector import DEFAULT_EPOCHS, AnomalyDetector
from cnnlstm.commands import USER_ERRORS, Command, atomic_file, user_error
from cnnlstm.commands.detect_chunks import (
    FLAT_ROWS,
    FLAT_TIMES,
    CounterWatch,
    FlatWatch,
    SpanTracker,
    flat_message,
    open_chunks,
    parts,
    read_head,
    time_texts,
)
from cnnlstm.commands.detect_fit import (
    DEFAULT_TRAIN_ROWS,
    DETECTOR_MODELS,
    _check_args,
    _check_saved_columns,
    _columns_flag,
    _console,
    _fit,
    _note,
)
from cnnlstm.commands.detect_many import FileSummary, find_inputs, run_many
from cnnlstm.commands.detect_report import (
    NAB_WINDOW_SECONDS,
    _print_metrics,
    _print_spans,
    _write_report,
    detection_metrics,
    span_sensors,
)
from cnnlstm.commands.detect_stream import _stream
from cnnlstm.data.sensors import SensorChunks, SensorPart

if TYPE_CHECKING:
    from cnnlstm.reports.anomaly import DetectionTrace

__all__ = [
    "DEFAULT_TRAIN_ROWS",
    "DETECTOR_MODELS",
    "NAB_WINDOW_SECONDS",
    "add_parser",
    "build_parser",
    "detection_metrics",
    "main",
    "run",
    "span_sensors",
]

COMMAND = "detect"
_HELP = "fit an anomaly detector on normal sensor rows, score a file and write its flags"


def _default(name: str) -> Any:
    """The default of an :class:`AnomalyDetector` argument, read from its signature (the flags
    leave the defaults to it)."""
    return inspect.signature(AnomalyDetector).parameters[name].default


def _configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "input",
        metavar="INPUT",
        help="the delimited sensor file to score; a folder or a quoted glob ('plant/*.csv') "
        "scores each file on its own (--output, --report and --save are then folders); '-' "
        "with --stream reads standard input",
    )
    train = parser.add_mutually_exclusive_group()
    train.add_argument(
        "--train", metavar="NORMAL.csv", type=Path, help="fit on this file of normal rows"
    )
    train.add_argument(
        "--train-rows",
        metavar="N",
        type=int,
        help=f"fit on the first N rows of INPUT (default: {DEFAULT_TRAIN_ROWS}, at most half)",
    )
    parser.add_argument(
        "--output",
        "-o",
        metavar="OUT.csv",
        type=Path,
        help="where to write the scores and flags (a folder, OUTDIR, with many files)",
    )
    parser.add_argument(
        "--report", metavar="DIR", type=Path, help="write a plot and a Markdown summary here"
    )
    parser.add_argument(
        "--model",
        help=f"detector family: {', '.join(DETECTOR_MODELS)} (default {_default('model')})",
    )
    parser.add_argument(
        "--window", type=int, help=f"rows per window (default {_default('window')})"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        help="training passes (default: "
        + ", ".join(f"{n} for {m}" for m, n in DEFAULT_EPOCHS.items())
        + ")",
    )
    parser.add_argument(
        "--steps",
        type=int,
        help=f"the fit's budget of optimisation steps (default {_default('steps')}; small "
        "training sets finish their epochs within it, large ones stop at it or when the held-out "
        "loss stops improving)",
    )
    parser.add_argument(
        "--threshold",
        choices=("quantile", "pot"),
        help=f"how the threshold is set from the training scores (default {_default('threshold')})",
    )
    parser.add_argument(
        "--quantile",
        type=float,
        help=f"training-score quantile of the threshold (default {_default('quantile')})",
    )
    parser.add_argument(
        "--factor", type=float, help=f"multiplies the threshold (default {_default('factor')})"
    )
    parser.add_argument(
        "--smooth",
        type=int,
        help="average each sensor's error over the last N scored rows, causally "
        f"(default {_default('smooth')})",
    )
    parser.add_argument(
        "--combine",
        choices=("max", "mean"),
        help=f"how the sensors' errors make a row's score (default {_default('combine')})",
    )
    parser.add_argument(
        "--scoring",
        choices=("level", "error"),
        help="'level': the model's error beside a held-shift level score; 'error': the error "
        f"alone (default {_default('scoring')})",
    )
    parser.add_argument(
        "--seed", type=int, help=f"seeds the weights and batch order (default {_default('seed')})"
    )
    parser.add_argument(
        "--columns",
        metavar="A,B,C",
        help="the sensor columns, comma-separated (default: every column but the datetime and "
        "the labels); the same are read from --train and from the rows of --stream",
    )
    parser.add_argument(
        "--nan",
        choices=("fail", "ffill", "interpolate"),
        default="fail",
        help="empty, NaN or inf cells: stop (default), repeat the last value, or interpolate",
    )
    parser.add_argument(
        "--missing",
        metavar="TEXT,TEXT",
        help="cell texts that mean a gap, beside empty cells and NaN (e.g. 'Bad Input,No Data' "
        "from a historian); --nan says what fills them",
    )
    parser.add_argument(
        "--decimal",
        choices=("auto", ".", ","),
        default="auto",
        help="the decimal mark of the numbers: auto (default) reads 1,25 as 1.25 when a file's "
        "first lines are written so and its delimiter is not a comma",
    )
    parser.add_argument(
        "--encoding",
        metavar="NAME",
        default="auto",
        help="the files' text encoding: auto (default) reads a byte order mark (UTF-8, UTF-16), "
        "else UTF-8, else cp1252 (Windows-1252) with a note; or a name: utf-8, cp1252, latin-1, "
        "utf-16, cp1250...",
    )
    parser.add_argument(
        "--datetime",
        metavar="NAME",
        default="auto",
        help="the datetime column (default: found by its name or values; a date and a time "
        "column are read together); 'none' reads the rows in file order without times",
    )
    parser.add_argument(
        "--jobs",
        "-j",
        metavar="N",
        type=int,
        help="with a folder or a glob as INPUT: run N files at once, each in its own process "
        "(default 1; the results do not depend on N)",
    )
    parser.add_argument("--save", metavar="DETECTOR.pt", type=Path, help="save the fitted detector")
    parser.add_argument(
        "--load", metavar="DETECTOR.pt", type=Path, help="use a saved detector instead of fitting"
    )
    parser.add_argument(
        "--stream",
        action="store_true",
        help="score rows from standard input as they arrive; write them to standard output",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the command; user mistakes print one error line and return 2."""
    huge_pages()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code = _stream(args) if args.stream else _offline(args)
        for warning in caught:
            if issubclass(warning.category, UserWarning):
                _note(args, f"warning: {' '.join(str(warning.message).split())}")
        return code
    except USER_ERRORS as error:
        return user_error(COMMAND, error)


def huge_pages() -> None:
    """Let torch put its large tensors (2 MB and up) on transparent huge pages, unless the
    environment says otherwise (``THP_MEM_ALLOC_ENABLE``, read at torch's first large
    allocation). Wide rows (2,000 sensors) allocate and free activations of a hundred MB at each
    step; on small pages the kernel's page faults took a third of the fit's time (3.7 s a step,
    2.6 s with huge pages). Nothing changes in the results."""
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")


# ----------------------------------------------------------------------------- offline


def _offline(args: argparse.Namespace) -> int:
    many = find_inputs(args.input)
    if many is not None:  # a folder or a glob: each file on its own
        return run_many(args, *many)
    _offline_file(args)
    return 0


def _offline_file(args: argparse.Namespace) -> FileSummary:
    """The offline run of one file, printed; what it counted."""
    _check_args(args)
    chunks = open_chunks(args, Path(args.input))
    source = parts(args, chunks)
    names = chunks.feature_names
    if args.load is not None:
        _check_saved_columns(AnomalyDetector.load(args.load), names, str(chunks.path))
        read: list[SensorPart] = []
        detector, fitted_rows = _fit(args, None, save=False)
    elif args.train is not None:
        head, read = read_head(chunks, source, 1)
        detector, fitted_rows = _fit(args, head, save=False)
    else:
        wanted = args.train_rows + 1 if args.train_rows is not None else 2 * DEFAULT_TRAIN_ROWS
        head, read = read_head(chunks, source, wanted)
        detector, fitted_rows = _fit(args, head, save=False)
    result = None
    with _Outputs() as outputs:  # all in place at the end, or none
        started = time.perf_counter()
        result = _score_parts(args, detector, chunks, itertools.chain(read, source), outputs)
        _note(args, f"scored {len(result.flags)} rows in {time.perf_counter() - started:.1f} s")
        _warn_rising(chunks, result.counters)
        if result.flat.runs:
            message = flat_message(
                chunks.path, result.flat.runs, result.spans.spans, step=chunks.step
            )
            warnings.warn(message, stacklevel=2)
        metrics = None
        start = fitted_rows
        if result.labels is not None:
            metrics = detection_metrics(
                result.labels[start:],
                result.flags[start:],
                changepoints=None if result.changepoints is None else result.changepoints[start:],
                period_seconds=chunks.step if chunks.step and chunks.step > 0 else 1.0,
            )
        if args.save is not None:
            detector.save(outputs.file(args.save))
        report = None
        if args.report is not None:
            assert result.report is not None
            report = _write_report(
                args,
                outputs.file,
                chunks.path,
                result.report,
                detector,
                metrics,
                result.spans.spans,
                result.spans.sensors,
                fitted_rows,
            )

    if args.save is not None:
        _note(args, f"saved the detector to {args.save}")
    console = _console(args)
    unit = " (scores are in units of the alarm level)" if detector.level_ is not None else ""
    spans = result.spans
    rows = len(result.flags)
    console.print(
        f"threshold {detector.threshold_:.6g}{unit}: flagged {int(result.flags.sum())} of {rows} "
        f"rows in {len(spans.spans)} spans; wrote {args.output}",
        soft_wrap=True,
    )
    if spans.spans:
        _print_spans(console, spans.spans, spans.sensors, spans.peaks)
    if metrics is not None:
        where = f"rows {start}-{rows - 1}, after the training rows" if start else "all rows"
        _print_metrics(console, metrics, where)
    if report is not None:
        console.print(f"wrote {report[0]} and {report[1]}", soft_wrap=True)
    return FileSummary(rows, int(result.flags.sum()), len(spans.spans), metrics)


class _Scored(NamedTuple):
    """What the end of an offline run needs, kept compact while the rows are scored."""

    scores: np.ndarray  # (N,) float32
    flags: np.ndarray  # (N,) int8
    labels: np.ndarray | None  # (N,) int8
    changepoints: np.ndarray | None  # (N,) int8
    spans: SpanTracker
    counters: CounterWatch
    flat: FlatWatch
    report: DetectionTrace | None
    """What ``--report`` draws, decimated as the rows were scored (None without it)."""


def _score_parts(
    args: argparse.Namespace,
    detector: AnomalyDetector,
    chunks: SensorChunks,
    source: Iterator[SensorPart],
    outputs: _Outputs,
) -> _Scored:
    """Score INPUT part by part, writing OUT.csv's lines as they come (to its temporary file)."""
    scorer = detector.chunks()
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
    if args.report is not None:  # the plot's rows, min and max per pixel column: bounded memory
        from cnnlstm.reports.anomaly import DetectionTrace

        trace = DetectionTrace(len(names), labels=anomaly is not None)
    status = _status(args, chunks, detector)
    with open(outputs.file(args.output), "w", newline="", encoding="utf-8") as out, status as bar:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["datetime" if chunks.time_columns else "row", "score", "anomaly"])
        for part in source:
            part_scores, part_parts = scorer.update(part.features, columns=names)
            part_flags = (part_scores > detector.threshold_).astype(np.int8)
            cells = time_texts(part.times, part.start, len(part_flags), utc=chunks.utc)
            shown = [f"{score:.8g}" for score in part_scores.tolist()]
            writer.writerows(zip(cells, shown, part_flags.tolist(), strict=True))
            spans.add(part_flags, part_parts)
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

    return _Scored(
        scores=joined(scores, np.float32),
        flags=joined(flags, np.int8),
        labels=joined(labels, np.int8) if anomaly is not None else None,
        changepoints=joined(changepoints, np.int8) if changepoint is not None else None,
        spans=spans,
        counters=counters,
        flat=flat,
        report=trace,
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


def _status(args: argparse.Namespace, chunks: SensorChunks, detector: AnomalyDetector) -> _Status:
    text = f"scoring {chunks.path} with {detector.model_name}"
    return _Status(text, sys.stdout.isatty())


def _warn_rising(chunks: SensorChunks, counters: CounterWatch) -> None:
    """Warn of sensors that only ever rise (counters, totals), as :func:`_warn_counters`."""
    rising = counters.rising()
    names = [name for name, up in zip(chunks.feature_names, rising.tolist(), strict=True) if up]
    if not names:
        return
    kept = [c for c in chunks.feature_names if c not in names]
    leave = f"; leave them out with {_columns_flag(kept)}" if kept else ""
    warnings.warn(
        f"{chunks.path}: {names} only rise from row to row (counters or totals?): later rows "
        f"lie above every value the detector is fitted on, so they score as anomalies{leave}.",
        stacklevel=2,
    )


# ----------------------------------------------------------------------------- output


class _Outputs:
    """Files written under temporary names beside their places and moved there together when
    the block ends without an error; when it fails, the temporary files and the folders made
    for them are removed, so a failed run leaves no output.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> with _Outputs() as outputs:
        ...     _ = outputs.file(root / "report" / "summary.md").write_text("# run")
        >>> sorted(p.name for p in (root / "report").iterdir())
        ['summary.md']
    """

    def __init__(self) -> None:
        self._files = contextlib.ExitStack()
        self._made: list[Path] = []

    def __enter__(self) -> _Outputs:
        self._files.__enter__()
        return self

    def file(self, path: str | Path) -> Path:
        """A temporary path to write ``path``'s content to (its folders are made)."""
        path = Path(path)
        missing = []
        folder = path.parent
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for folder in reversed(missing):
            folder.mkdir()
            self._made.append(folder)
        return self._files.enter_context(atomic_file(path))

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._files.__exit__(kind, error, traceback)
        finally:
            if kind is not None:
                for folder in reversed(self._made):
                    with contextlib.suppress(OSError):
                        folder.rmdir()


_COMMAND = Command(COMMAND, _HELP, _configure, run)
add_parser = _COMMAND.add_parser
build_parser = _COMMAND.build_parser
main = _COMMAND.main

if __name__ == "__main__":
    sys.exit(main())
