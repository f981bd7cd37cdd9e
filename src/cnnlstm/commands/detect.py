"""``cnnlstm detect``: fit an anomaly detector on normal sensor rows, score a file, write flags.

::

    cnnlstm detect INPUT.csv [--train NORMAL.csv | --train-rows N] --output OUT.csv [--report DIR]
    cnnlstm detect - --stream --load DETECTOR.pt < rows.csv

INPUT is read with :class:`~cnnlstm.data.sensors.SensorCSV`: the delimiter and the decimal mark
are sniffed (``--decimal`` sets the mark: ``1,25`` is read as 1.25 in a ``;``-separated file by
default), a units row under the header is skipped, a datetime column (or a date and a time
column) is parsed when there is one (``--datetime NAME`` names it, ``--datetime none`` reads the
rows without times), and the label columns ``anomaly`` / ``changepoint`` are kept apart: they
never reach the detector (neither its weights nor its threshold), they only score the run.
Every other column is a sensor, unless ``--columns A,B,C`` names the sensor columns (then the
rest are left out, in INPUT, in NORMAL.csv and in the rows of ``--stream``). The detector
(:class:`~cnnlstm.detect.AnomalyDetector`) is fitted on NORMAL.csv's rows, or on the first
``--train-rows`` rows of INPUT (default: the first :data:`DEFAULT_TRAIN_ROWS` rows, at most
half the file), or read with ``--load``. OUT.csv gets one line per INPUT row, in
order: ``datetime`` (or ``row``, 0-based, without a datetime column), ``score`` and ``anomaly``
(0/1). It is written to a temporary file beside it and moved into place at the end, so a failed
run never leaves a partial OUT.csv. On a terminal, a progress bar runs while the detector fits
and a status line while it scores.
Mistakes in the input (a wrong delimiter, text in a sensor column, NaN cells, fewer training
rows than one window, columns that differ from the training file's or the saved detector's, a
sensor with no value in the training rows) end with one line that says what is wrong and where,
exit code 2, and no OUT.csv. A sensor that only ever rises (a counter, a total) is warned of:
the rows after the training rows lie above all the detector saw. Times with an offset
(``+02:00``) are written to OUT.csv in UTC (``+00:00``), plain-number times with every digit.

With labels, the command prints precision, recall, F1, FAR and MAR (SKAB's definitions, see
:mod:`cnnlstm.evaluation`) and, with a ``changepoint`` column, the NAB score (standard profile,
a 60 s window to the right of each changepoint). With ``--train-rows`` the metrics count only
the rows after the training rows: the rows the detector was fitted on say nothing about it.

``--stream`` reads a header line and then rows from standard input as they arrive and writes
``datetime,score,anomaly`` for each row to standard output at once, with
:meth:`AnomalyDetector.stream <cnnlstm.detect.AnomalyDetector.stream>`: the recurrent state
carries from row to row, so the scores equal the offline run's.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import math
import re
import shlex
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from cnnlstm.commands import USER_ERRORS, atomic_file, user_error
from cnnlstm.data.sensors import (
    GAPS_NOTE,
    WHITESPACE,
    SensorCSV,
    _time_name,
    read_number,
    sniff_decimal,
    sniff_delimiter,
)
from cnnlstm.detect import DEFAULT_EPOCHS, AnomalyDetector, StreamScorer
from cnnlstm.errors import DataError
from cnnlstm.evaluation import (
    binary_counts,
    changepoints_from_labels,
    changepoints_from_predictions,
    nab_score,
    skab_scores,
    spans_from_binary,
)

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
DEFAULT_TRAIN_ROWS = 400
"""Rows of INPUT fitted on when neither ``--train`` nor ``--train-rows`` is given (SKAB's
protocol); capped at half the file so that something is left to score."""
DETECTOR_MODELS = ("window_cnnlstm", "mscred", "convlstm_ae")
"""The model families :class:`~cnnlstm.detect.AnomalyDetector` can fit."""
NAB_WINDOW_SECONDS = 60.0
"""NAB's scoring window to the right of each true changepoint, as SKAB sets it."""

_LABELS = ("anomaly", "changepoint")
_FIT_FLAGS = (
    "model",
    "window",
    "epochs",
    "threshold",
    "quantile",
    "factor",
    "smooth",
    "combine",
    "scoring",
    "seed",
)
_HELP = "fit an anomaly detector on normal sensor rows, score a file and write its flags"


def _default(name: str) -> Any:
    """The default of an :class:`AnomalyDetector` argument, read from its signature (the flags
    leave the defaults to it)."""
    return inspect.signature(AnomalyDetector).parameters[name].default


def _configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "input",
        metavar="INPUT",
        help="the delimited sensor file to score; '-' with --stream reads standard input",
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
        "--output", "-o", metavar="OUT.csv", type=Path, help="where to write the scores and flags"
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
        "--datetime",
        metavar="NAME",
        default="auto",
        help="the datetime column (default: found by its name or values; a date and a time "
        "column are read together); 'none' reads the rows in file order without times",
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


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``detect`` to the ``cnnlstm`` command line's subcommands."""
    parser = subparsers.add_parser(COMMAND, help=_HELP, description=_HELP)
    _configure(parser)


def build_parser() -> argparse.ArgumentParser:
    """A parser with just this command, as ``cnnlstm detect`` reads its arguments."""
    return _configure(argparse.ArgumentParser(prog=f"cnnlstm {COMMAND}", description=_HELP))


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cnnlstm detect`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run the command; user mistakes print one error line and return 2."""
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


# ----------------------------------------------------------------------------- checks


def _columns(args: argparse.Namespace) -> list[str] | None:
    """The names given with ``--columns``, or None without it."""
    text = getattr(args, "columns", None)
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise ValueError(
            f"--columns has to be column names separated by commas, like --columns a,b,c, but "
            f"got {text!r}"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"--columns has to name each column once, but got {repeated} twice")
    return names


def _missing(args: argparse.Namespace) -> list[str]:
    """The texts given with ``--missing`` (none without it)."""
    text = getattr(args, "missing", None)
    return [] if text is None else [word.strip() for word in text.split(",") if word.strip()]


def _columns_flag(names: Sequence[str]) -> str:
    """``--columns a,b`` as a user would type it (quoted when a name has a blank)."""
    return f"--columns {shlex.quote(','.join(names))}"


def _check_args(args: argparse.Namespace) -> None:
    _columns(args)
    if args.model is not None and args.model not in DETECTOR_MODELS:
        raise ValueError(
            f"--model has to be one of the detector families {', '.join(DETECTOR_MODELS)}, but "
            f"got {args.model!r}"
        )
    if args.load is not None:
        given = [
            f"--{name.replace('_', '-')}" for name in _FIT_FLAGS if getattr(args, name) is not None
        ]
        given += ["--train"] * (args.train is not None)
        given += ["--train-rows"] * (args.train_rows is not None)
        if given:
            raise ValueError(
                f"--load uses the saved detector as it is, so {', '.join(given)} cannot be "
                f"given with it; leave them out, or fit a new detector without --load."
            )
    if args.stream:
        if args.input != "-":
            raise ValueError(
                f"INPUT has to be '-' with --stream (rows come on standard input), "
                f"but got {args.input!r}"
            )
        if args.load is None and args.train is None:
            raise ValueError(
                "--stream needs a detector: pass --load DETECTOR.pt or --train NORMAL.csv."
            )
        if args.output is not None or args.report is not None:
            raise ValueError("--stream writes to standard output: leave out --output and --report.")
        if args.nan == "interpolate":
            raise ValueError(
                "--nan has to be fail or ffill with --stream (interpolating needs the rows after "
                "a gap), but got interpolate"
            )
        return
    if args.input == "-":
        raise ValueError("INPUT has to be a file without --stream, but got '-'")
    if args.output is None:
        raise ValueError("--output OUT.csv has to be given: where the scores go.")
    if args.report is not None and Path(args.report).exists() and not Path(args.report).is_dir():
        raise ValueError(f"--report has to be a folder, but got the file {args.report}")
    if args.train_rows is not None and args.train_rows < 1:
        raise ValueError(f"--train-rows has to be a positive int, but got {args.train_rows}")


def _detector(args: argparse.Namespace) -> AnomalyDetector:
    """A new, unfitted detector from the flags (their defaults are AnomalyDetector's)."""
    options = {name: getattr(args, name) for name in _FIT_FLAGS if getattr(args, name) is not None}
    try:
        return AnomalyDetector(**options)
    except ValueError as error:
        raise ValueError(f"--{error}") from None


_FLAGS = (
    ("pass nan_policy='ffill' or 'interpolate'", "pass --nan ffill or --nan interpolate"),
    ("then nan_policy fills them", "then --nan ffill or --nan interpolate fills them"),
    ("pass decimal=','", "pass --decimal ,"),
    ("pass decimal='.'", "pass --decimal ."),
    ("pass datetime_column=None", "pass --datetime none"),
)
"""What SensorCSV's messages say, and what the command line says instead."""


def _read(args: argparse.Namespace, path: Path) -> SensorCSV:
    columns = _columns(args)
    datetime = getattr(args, "datetime", "auto")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            policy: Any = args.nan  # one of NanPolicy: argparse's choices
            decimal: Any = getattr(args, "decimal", "auto")
            data = SensorCSV(
                path,
                window=1,
                nan_policy=policy,
                columns=columns,
                decimal=decimal,
                datetime_column=None if datetime.lower() == "none" else datetime,
                missing_values=_missing(args),
            )
    except DataError as error:
        # the reader names its own arguments; on the command line they are --nan and --columns
        message = str(error)
        for said, flag in _FLAGS:
            message = message.replace(said, flag)
        suggested = getattr(error, "suggested_columns", None)
        if suggested:
            message = message.replace(f"columns={suggested!r}", _columns_flag(suggested))
        words = getattr(error, "suggested_missing", None)
        if words:
            flag = f"--missing {shlex.quote(','.join([*_missing(args), *words]))}"
            message = message.replace(f"missing_values={words!r}", flag)
        raise DataError(message) from None
    for warning in caught:  # on: the command's own recorder prints them
        # a command line user has no SensorCSV.gaps to look at
        text = str(warning.message).replace(GAPS_NOTE, "")
        warnings.warn_explicit(text, warning.category, warning.filename, warning.lineno)
    return data


def _check_same_columns(train: SensorCSV, data: SensorCSV) -> None:
    missing = [c for c in data.feature_names if c not in train.feature_names]
    extra = [c for c in train.feature_names if c not in data.feature_names]
    if missing or extra:
        raise DataError(
            f"{train.path}: the training file has to have the sensor columns of {data.path}, but "
            f"it lacks {missing} and has {extra} that {data.path.name} does not; its columns are "
            f"{train.feature_names}."
        )


def _check_saved_columns(detector: AnomalyDetector, names: Sequence[str], source: str) -> None:
    if list(names) != list(detector.columns_):
        raise DataError(
            f"{source}: the sensor columns {list(names)} differ from the saved detector's "
            f"{detector.columns_}; score files with the columns the detector was fitted on "
            f"({_columns_flag(detector.columns_)} picks them, in this order)."
        )


def _fit(args: argparse.Namespace, data: SensorCSV | None) -> tuple[AnomalyDetector, int]:
    """The detector (fitted, or loaded) and the rows of INPUT it was fitted on (0 if none)."""
    if args.load is not None:
        return AnomalyDetector.load(args.load), 0
    detector = _detector(args)
    if args.train is not None:
        train = _read(args, args.train)
        if data is not None:
            _check_same_columns(train, data)
            rows = train.features[:, [train.feature_names.index(c) for c in data.feature_names]]
            names = data.feature_names
        else:
            rows, names = train.features, train.feature_names
        _check_enough(detector, len(rows), f"{args.train}: the file has", "more normal rows")
        _note(args, f"fitting {detector.model_name} on the {len(rows)} rows of {args.train}")
        _fit_rows(args, detector, rows, names)
        used = 0
    else:
        assert data is not None
        total = len(data.features)
        if args.train_rows is None:
            used = min(DEFAULT_TRAIN_ROWS, total // 2)
            why = f" (the default: {DEFAULT_TRAIN_ROWS}, at most half the file; set --train-rows)"
        else:
            used = args.train_rows
            why = ""
            if used >= total:
                raise DataError(
                    f"{data.path}: --train-rows has to leave rows to score, but got {used} of "
                    f"{total} rows; pass fewer, or a file of normal rows with --train."
                )
        _check_enough(detector, used, f"{data.path}: --train-rows gives", "a larger --train-rows")
        _check_training_part(data, used)
        _note(args, f"fitting {detector.model_name} on the first {used} rows of {data.path}{why}")
        _fit_rows(args, detector, data.features[:used], data.feature_names)
    if args.save is not None:
        Path(args.save).parent.mkdir(parents=True, exist_ok=True)
        detector.save(args.save)
        _note(args, f"saved the detector to {args.save}")
    return detector, used


def _check_enough(detector: AnomalyDetector, rows: int, source: str, more: str) -> None:
    need = detector.window + detector.smooth - 1  # the first scored row, which sets the threshold
    if rows < need:
        raise DataError(
            f"{source} {rows} training rows, fewer than the {need} a first score needs (--window "
            f"{detector.window} + --smooth {detector.smooth} - 1); pass {more}, or a smaller "
            f"--window or --smooth."
        )


def _check_training_part(data: SensorCSV, used: int) -> None:
    """A sensor that is empty in every training row (and filled by --nan) cannot be learnt."""
    empty = np.flatnonzero(data.missing[:used].all(axis=0))
    if not len(empty):
        return
    names = [data.feature_names[j] for j in empty]
    kept = [c for c in data.feature_names if c not in names]
    first = int(np.flatnonzero(~data.missing[:, empty[0]])[0])  # a column with no value fails
    what = f"column {names[0]!r} is" if len(names) == 1 else f"columns {names} are"
    it = "it" if len(names) == 1 else "them"
    leave = f"leave {it} out with {_columns_flag(kept)}, or " if kept else ""
    raise DataError(
        f"{data.path}: {what} empty in all {used} training rows (lines {data.lines[0]}-"
        f"{data.lines[used - 1]}; --nan only copies values into them), so the detector cannot "
        f"learn {it}: {leave}fit on rows where {names[0]!r} has values (from line "
        f"{data.lines[first]}, row {first}: pass a --train-rows well above {first}, or --train "
        f"NORMAL.csv)."
    )


_COUNTER_RISES = 10
"""A sensor that never falls and rises on at least this many rows is warned of as a counter."""


def _warn_counters(data: SensorCSV) -> None:
    """Warn of sensors that only ever rise (counters, totals): the rows after the training rows
    lie above all the detector saw, so they score high whatever happens."""
    if len(data.features) < 3:
        return
    steps = np.diff(data.features, axis=0)  # (N-1, S)
    rising = (steps >= 0).all(axis=0) & ((steps > 0).sum(axis=0) >= _COUNTER_RISES)
    names = [name for name, up in zip(data.feature_names, rising, strict=True) if up]
    if not names:
        return
    kept = [c for c in data.feature_names if c not in names]
    leave = f"; leave them out with {_columns_flag(kept)}" if kept else ""
    warnings.warn(
        f"{data.path}: {names} only rise from row to row (counters or totals?): later rows lie "
        f"above every value the detector is fitted on, so they score as anomalies{leave}.",
        stacklevel=2,
    )


def _fit_rows(
    args: argparse.Namespace, detector: AnomalyDetector, rows: np.ndarray, names: Sequence[str]
) -> None:
    """Fit with a progress bar when standard output is a terminal (a status line on standard
    error with ``--stream``, whose standard output carries the scores)."""
    if not args.stream:
        detector.fit(rows, columns=names, progress=sys.stdout.isatty())
        return
    if not sys.stderr.isatty():
        detector.fit(rows, columns=names)
        return
    from rich.console import Console

    text = (
        f"fitting {detector.model_name}: {detector.epochs} epochs of windows of {detector.window}"
    )
    with Console(file=sys.stderr).status(text):
        detector.fit(rows, columns=names)


# ----------------------------------------------------------------------------- offline


def _offline(args: argparse.Namespace) -> int:
    _check_args(args)
    data = _read(args, Path(args.input))
    if args.load is None:
        _warn_counters(data)
    detector, fitted_rows = _fit(args, data)
    if args.load is not None:
        _check_saved_columns(detector, data.feature_names, str(data.path))
    scores, parts = _score(args, detector, data)
    flags = (scores > detector.threshold_).astype(np.int64)
    time_name, times = _time_cells(data)
    _write_atomic(args.output, time_name, times, scores, flags)

    spans = spans_from_binary(flags)
    console = _console(args)
    unit = " (scores are in units of the alarm level)" if detector.level_ is not None else ""
    console.print(
        f"threshold {detector.threshold_:.6g}{unit}: flagged {int(flags.sum())} of {len(flags)} "
        f"rows in {len(spans)} spans; wrote {args.output}",
        soft_wrap=True,
    )
    culprits = span_sensors(parts, spans, data.feature_names, detector.threshold_)
    if spans:
        _print_spans(console, spans, culprits)
    metrics = None
    labels = _label(data, "anomaly")
    if labels is not None:
        changepoints = _label(data, "changepoint")
        start = fitted_rows
        metrics = detection_metrics(
            labels[start:],
            flags[start:],
            changepoints=None if changepoints is None else changepoints[start:],
            period_seconds=_period(data),
        )
        where = f"rows {start}-{len(flags) - 1}, after the training rows" if start else "all rows"
        _print_metrics(console, metrics, where)
    if args.report is not None:
        _write_report(args, data, detector, scores, flags, metrics, spans, culprits, fitted_rows)
    return 0


def _score(
    args: argparse.Namespace, detector: AnomalyDetector, data: SensorCSV
) -> tuple[np.ndarray, np.ndarray]:
    """The scores and each sensor's part, with a status line on a terminal while they run."""
    if not sys.stdout.isatty():
        return detector.score_detail(data.features, columns=data.feature_names)
    from rich.console import Console

    text = f"scoring {len(data.features)} rows of {data.path} with {detector.model_name}"
    with Console(file=sys.stdout).status(text):
        return detector.score_detail(data.features, columns=data.feature_names)


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


def _print_spans(console: Any, spans: Sequence[tuple[int, int]], sensors: list[list[str]]) -> None:
    from rich.table import Table

    table = Table(title="flagged spans and the sensors behind them", title_justify="left")
    table.add_column("rows")
    table.add_column("sensors (largest part of the score first)")
    for (start, stop), names in zip(spans[:_SPANS_SHOWN], sensors, strict=False):
        table.add_row(f"{start}-{stop - 1}", ", ".join(names))
    if len(spans) > _SPANS_SHOWN:
        table.add_row("...", f"and {len(spans) - _SPANS_SHOWN} more spans (see the output file)")
    console.print(table)


def _label(data: SensorCSV, name: str) -> np.ndarray | None:
    lower = [n.lower() for n in data.label_names]
    if data.labels is None or name not in lower:
        return None
    return np.asarray(data.labels[:, lower.index(name)], dtype=np.int64)


def _period(data: SensorCSV) -> float:
    """The median step between rows in seconds (1 without a datetime column)."""
    if data.times is None or len(data.times) < 2:
        return 1.0
    times = data.times
    if np.issubdtype(times.dtype, np.datetime64):
        seconds = times.astype("datetime64[ns]").astype(np.int64) / 1e9
    else:
        seconds = times.astype(np.float64)
    step = float(np.median(np.diff(seconds)))
    return step if step > 0 else 1.0


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


def _print_metrics(console: Any, metrics: dict[str, float], where: str) -> None:
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


def _write_report(
    args: argparse.Namespace,
    data: SensorCSV,
    detector: AnomalyDetector,
    scores: np.ndarray,
    flags: np.ndarray,
    metrics: dict[str, float] | None,
    spans: list[tuple[int, int]],
    culprits: list[list[str]],
    fitted_rows: int,
) -> None:
    from cnnlstm.reports.anomaly import plot_detection, write_summary

    folder = Path(args.report)
    folder.mkdir(parents=True, exist_ok=True)
    plot = plot_detection(
        data.times,
        data.features,
        scores,
        detector.threshold_,
        labels=_label(data, "anomaly"),
        predictions=flags,
        columns=data.feature_names,
        train_rows=fitted_rows,
        metrics=metrics,
        path=folder / "detection.png",
        title=f"{data.path}: {detector.model_name}",
    )
    summary = write_summary(
        folder / "summary.md",
        input_name=str(data.path),
        model=repr(detector),
        threshold=detector.threshold_,
        n_rows=len(flags),
        n_flagged=int(flags.sum()),
        metrics=metrics,
        plot_name=plot.name,
        flagged_spans=spans,
        span_sensors=culprits,
    )
    _console(args).print(f"wrote {plot} and {summary}", soft_wrap=True)


# ----------------------------------------------------------------------------- output


def _time_text(value: Any, *, utc: bool = False) -> str:
    """One time cell as OUT.csv writes it: ``2020-03-09 10:14:33`` (``+00:00`` added when the
    file's times had offsets and were converted to UTC), or seconds to 15 digits
    (``1615284873.25``: epoch seconds keep their every digit)."""
    if isinstance(value, (float, int, np.floating, np.integer)):
        return f"{float(value):.15g}"
    import pandas as pd

    return str(pd.Timestamp(value)) + ("+00:00" if utc else "")


def _time_cells(data: SensorCSV) -> tuple[str, list[str]]:
    if data.times is None:
        return "row", [str(i) for i in range(len(data.features))]
    return "datetime", [_time_text(t, utc=data.utc) for t in data.times]


def _write_atomic(
    path: Path, time_name: str, times: list[str], scores: np.ndarray, flags: np.ndarray
) -> None:
    """Write OUT.csv to a temporary file in its folder, then move it into place."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"--output has to be a file, but got the folder {path}")
    with atomic_file(path) as temp, open(temp, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([time_name, "score", "anomaly"])
        for time, score, flag in zip(times, scores.tolist(), flags.tolist(), strict=True):
            writer.writerow([time, f"{score:.8g}", flag])


def _console(args: argparse.Namespace) -> Any:
    from rich.console import Console

    # with --stream, standard output carries the scores: everything else goes to stderr
    return Console(file=sys.stderr if args.stream else sys.stdout, highlight=False)


def _note(args: argparse.Namespace, text: str) -> None:
    _console(args).print(text, soft_wrap=True, markup=False)


# ----------------------------------------------------------------------------- stream


def _stream(args: argparse.Namespace) -> int:
    _check_args(args)
    detector, _ = _fit(args, None)
    source: TextIO = sys.stdin
    out: TextIO = sys.stdout
    sniffed: dict[str, str | None] = {}
    rows = _stdin_rows(source, sniffed)
    header = next(rows, None)
    if header is None:
        raise DataError("stdin: no header line; expected the column names, then rows.")
    columns = [c.strip() for c in header[1]]
    chosen = _columns(args)
    if chosen is not None and args.load is not None:
        _check_saved_columns(detector, chosen, "--columns")
    missing = [c for c in detector.columns_ if c not in columns]
    if missing:
        raise DataError(
            f"stdin: the header's columns {columns} lack the saved detector's {missing}; the "
            f"detector was fitted on {detector.columns_}."
        )
    others = [c for c in columns if c not in detector.columns_ and c.lower() not in _LABELS]
    if len(others) > 1 and chosen is None:
        raise DataError(
            f"stdin: the columns {others} are neither the detector's sensors "
            f"{detector.columns_} nor labels; only one (the datetime) may be added, or pass "
            f"{_columns_flag(detector.columns_)} to read those and leave the rest."
        )
    # With --columns the columns left over are skipped, but for the datetime: --datetime, else
    # the first named like one, or the only one left.
    named = [c for c in others if _time_name(c)]
    time_name = named[0] if named else others[0] if len(others) == 1 else None
    given = getattr(args, "datetime", "auto")
    if given.lower() == "none":
        time_name = None
    elif given != "auto":
        if given not in columns:
            raise DataError(f"stdin: has no datetime column {given!r}; its columns are {columns}.")
        time_name = given
    time_at = columns.index(time_name) if time_name is not None else None
    sensor_at = [columns.index(c) for c in detector.columns_]
    scorer: StreamScorer = detector.stream()
    print(f"{'datetime' if time_at is not None else 'row'},score,anomaly", file=out, flush=True)
    last: np.ndarray | None = None
    decimal = getattr(args, "decimal", "auto")
    gaps = {word.lower() for word in _missing(args)}
    for count, (line, cells) in enumerate(rows):
        if len(cells) != len(columns):
            raise DataError(
                f"stdin: line {line} has {len(cells)} fields, but the header has {len(columns)}."
            )
        if decimal == "auto":  # from the first row, as SensorCSV sniffs it from the first lines
            decimal = sniff_decimal(cells, sniffed.get("delimiter"))
        values = np.array([_cell(cells[i], line, columns[i], decimal, gaps) for i in sensor_at])
        holes = np.isnan(values)
        if holes.any():
            if args.nan == "fail" or last is None:
                name = detector.columns_[int(np.flatnonzero(holes)[0])]
                raise DataError(
                    f"stdin: line {line}, column {name!r} is empty (NaN); pass --nan ffill to "
                    f"repeat the last value."
                )
            values[holes] = last[holes]
        last = values
        score, flag = scorer.update(values)
        when = _stream_time(cells[time_at], line) if time_at is not None else str(count)
        print(f"{when},{score:.8g},{flag}", file=out, flush=True)
    return 0


def _stdin_rows(source: TextIO, sniffed: dict[str, str | None]) -> Iterator[tuple[int, list[str]]]:
    """``(line number, cells)`` of the header and each non-blank line, read as they arrive.

    The delimiter is sniffed from the header and the first row, and put in ``sniffed``.
    """
    # readline, not iteration: each line is handed on as soon as it arrives
    raw = enumerate(iter(source.readline, ""), start=1)
    lines = ((number, text.rstrip("\r\n")) for number, text in raw)
    lines = ((number, text) for number, text in lines if text.strip())
    first = next(lines, None)
    if first is None:
        return
    second = next(lines, None)
    sample = [first[1]] + ([second[1]] if second is not None else [])
    delimiter = sniffed["delimiter"] = sniff_delimiter(sample)

    def split(text: str) -> list[str]:
        if delimiter is None:
            return [text]
        if delimiter == WHITESPACE:
            return text.split()
        return next(csv.reader([text], delimiter=delimiter))

    yield first[0], split(first[1])
    if second is not None:
        yield second[0], split(second[1])
    for number, text in lines:
        yield number, split(text)


def _cell(
    text: str,
    line: int,
    column: str,
    decimal: str = ".",
    gaps: frozenset[str] | set[str] = frozenset(),
) -> float:
    """A sensor cell: NaN for a gap (empty, a missing-value marker, a ``--missing`` text, inf),
    else its number."""
    if text.strip().lower() in gaps:
        return math.nan
    try:
        number = read_number(text, decimal)
    except ValueError:
        raise DataError(
            f"stdin: line {line}, column {column!r}: {text.strip()!r} is not a finite number; "
            f"expected numbers in the sensor columns."
        ) from None
    return number if math.isfinite(number) else math.nan


def _stream_time(text: str, line: int) -> str:
    value = text.strip()
    try:
        return f"{float(value):.15g}"
    except ValueError:
        pass
    import pandas as pd

    try:
        dayfirst = bool(re.match(r"\d{1,2}\.\d{1,2}\.\d{4}", value))  # 13.01.2021: day first
        stamp = pd.Timestamp(pd.to_datetime(value, dayfirst=dayfirst))
        if stamp.tzinfo is not None:  # as the offline run writes it: in UTC
            return str(stamp.tz_convert("UTC").tz_localize(None)) + "+00:00"
        return str(stamp)
    except ValueError:
        raise DataError(
            f"stdin: line {line}: {value!r} is not a date and time; expected the datetime in "
            f"the first column that is not a sensor."
        ) from None


if __name__ == "__main__":
    sys.exit(main())
