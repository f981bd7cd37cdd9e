"""``cnnlstm detect``'s flags checked, its files read and its detector fitted or loaded.

What the offline run (:mod:`cnnlstm.commands.detect`) and ``--stream``
(:mod:`cnnlstm.commands.detect_stream`) share: the checks of the flags and their combinations,
reading a file with :class:`~cnnlstm.data.sensors.SensorCSV` and saying its messages in flags
(``--nan``, ``--columns``, ``--missing``...), the checks that the training rows can teach a
detector, fitting it (with a progress bar on a terminal) or loading a saved one, and the console
the command prints its notes on. Every place the command writes (``--output``, ``--report``,
``--save``) is checked before any input is read (:func:`_check_outputs`).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnnlstm.anomaly.detector import WIDE_SENSORS, AnomalyDetector
from cnnlstm.commands import atomic_file
from cnnlstm.data.csv_text import EncodingNote, check_encoding
from cnnlstm.data.sensor_times import GAPS_NOTE
from cnnlstm.data.sensors import SensorCSV
from cnnlstm.errors import DataError
from cnnlstm.models.detectors import DETECTOR_FAMILIES

__all__ = ["DEFAULT_TRAIN_ROWS", "DETECTOR_MODELS"]

DEFAULT_TRAIN_ROWS = 400
"""Rows of INPUT fitted on when neither ``--train`` nor ``--train-rows`` is given (SKAB's
protocol); capped at half the file so that something is left to score."""
DETECTOR_MODELS = DETECTOR_FAMILIES
"""The model families :class:`~cnnlstm.anomaly.detector.AnomalyDetector` can fit."""
_FIT_FLAGS = (
    "model",
    "window",
    "epochs",
    "steps",
    "threshold",
    "quantile",
    "factor",
    "smooth",
    "combine",
    "scoring",
    "seed",
)


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


def _encoding(args: argparse.Namespace) -> str:
    """The codec ``--encoding`` names, or ``"auto"``."""
    given = getattr(args, "encoding", None) or "auto"
    try:
        return check_encoding(given)
    except ValueError:
        raise ValueError(
            f"--encoding has to be auto or the name of a text encoding (utf-8, cp1252, latin-1, "
            f"utf-16...), but got {given!r}"
        ) from None


def _check_args(args: argparse.Namespace) -> None:
    _columns(args)
    _encoding(args)
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
        _check_outputs(args)
        return
    if args.input == "-":
        raise ValueError("INPUT has to be a file without --stream, but got '-'")
    if args.output is None:
        raise ValueError("--output OUT.csv has to be given: where the scores go.")
    if args.train_rows is not None and args.train_rows < 1:
        raise ValueError(f"--train-rows has to be a positive int, but got {args.train_rows}")
    _check_outputs(args)


def _check_outputs(args: argparse.Namespace) -> None:
    """Check every place the command writes before any input is read: a failed run leaves no
    output, and a run that cannot write fails at once.

    ``--output`` and ``--save`` have to be files and ``--report`` a folder; the folder each goes
    into has to be a folder that exists and can be written, or one that can be made (its first
    existing parent is a folder that can be written). No two of them may be one path, and none
    may be a file the command reads (INPUT, ``--train``, ``--load``). Nothing is made here.
    """
    places = [
        (flag, Path(path), kind)
        for flag, path, kind in (
            ("--output", getattr(args, "output", None), "file"),
            ("--save", getattr(args, "save", None), "file"),
            ("--report", getattr(args, "report", None), "folder"),
        )
        if path is not None
    ]
    for flag, path, kind in places:
        _check_place(flag, path, kind)
    reads = [("INPUT", args.input), ("--train", args.train), ("--load", args.load)]
    taken: dict[str, str] = {}
    for flag, path, _ in places:
        key = os.path.realpath(path)
        for other, read in reads:
            if read is not None and read != "-" and os.path.realpath(read) == key:
                raise ValueError(
                    f"{flag} has to be another path than {other}, but both are {path}: the "
                    f"command would write over a file it reads."
                )
        if key in taken:
            raise ValueError(
                f"{flag} has to be another path than {taken[key]}, but both are {path}."
            )
        taken[key] = flag


def _check_place(flag: str, path: Path, kind: str) -> None:
    """Check that ``flag``'s ``path`` (a ``"file"`` or a ``"folder"``) can be written."""
    if kind == "file" and path.is_dir():
        raise ValueError(f"{flag} has to be a file, but got the folder {path}")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise ValueError(f"{flag} has to be a folder, but got the file {path}")
    folder = path if kind == "folder" and path.is_dir() else path.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(
            f"{flag} {path} cannot be written: {existing} is a file, not a folder; pass a path "
            f"in a folder."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        made = "" if existing == folder else f" (where {folder} would be made)"
        raise ValueError(
            f"{flag} {path} cannot be written: the folder {existing}{made} is not writable; "
            f"pass a path in a folder you can write to."
        )


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
    ("Pass datetime_column=None", "Pass --datetime none"),
)
"""What SensorCSV's messages say, and what the command line says instead."""
_ENCODING_ARGUMENT = re.compile(r"encoding='([^']+)'")


def _in_flags(message: str) -> str:
    """A message of the reader's in the command line's words: ``--nan ffill`` for
    ``nan_policy='ffill'``, ``--encoding cp1252`` for ``encoding='cp1252'``..."""
    for said, flag in _FLAGS:
        message = message.replace(said, flag)
    return _ENCODING_ARGUMENT.sub(r"--encoding \1", message)


def _said_in_flags(args: argparse.Namespace, error: DataError) -> DataError:
    """The reader's error in the command line's words: it names its own arguments; on the
    command line they are --nan, --columns, --missing..."""
    message = _in_flags(str(error))
    suggested = getattr(error, "suggested_columns", None)
    if suggested:
        message = message.replace(f"columns={suggested!r}", _columns_flag(suggested))
    words = getattr(error, "suggested_missing", None)
    if words:
        flag = f"--missing {shlex.quote(','.join([*_missing(args), *words]))}"
        message = message.replace(f"missing_values={words!r}", flag)
    return DataError(message)


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
                encoding=_encoding(args),
            )
    except DataError as error:
        raise _said_in_flags(args, error) from None
    for warning in caught:  # on: the command's own recorder prints them
        # a command line user has no SensorCSV.gaps to look at
        text = _in_flags(str(warning.message).replace(GAPS_NOTE, ""))
        if issubclass(warning.category, EncodingNote):  # at once: what the run reads
            _note(args, f"note: {text}")
            continue
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


def _fit(
    args: argparse.Namespace, data: SensorCSV | Any | None, *, save: bool = True
) -> tuple[AnomalyDetector, int]:
    """The detector (fitted, or loaded) and the rows of INPUT it was fitted on (0 if none);
    saved to ``--save`` when ``save`` (the offline run saves it with its other outputs)."""
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
        total = getattr(data, "total", len(data.features))  # a Head of INPUT knows its own
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
    if save and args.save is not None:
        with atomic_file(args.save) as temp:
            detector.save(temp)
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


def _check_training_part(data: SensorCSV | Any, used: int) -> None:
    """A sensor that is empty in every training row (and filled by --nan) cannot be learnt."""
    empty = np.flatnonzero(data.missing[:used].all(axis=0))
    if not len(empty):
        return
    names = [data.feature_names[j] for j in empty]
    kept = [c for c in data.feature_names if c not in names]
    known = np.flatnonzero(~data.missing[:, empty[0]])
    first = int(known[0]) if len(known) else len(data.missing) - 1
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
    error with ``--stream``, whose standard output carries the scores), then say how long it
    took and how many steps ran."""
    started = time.perf_counter()
    _fit_quietly(args, detector, rows, names)
    wide = ""
    if detector.steps is not None and len(names) > WIDE_SENSORS:
        wide = f"; the budget for {len(names)} sensors is {detector.step_budget(len(names))}"
    _note(
        args,
        f"fitted in {time.perf_counter() - started:.1f} s ({detector.steps_} steps{wide})",
    )


def _fit_quietly(
    args: argparse.Namespace, detector: AnomalyDetector, rows: np.ndarray, names: Sequence[str]
) -> None:
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


def _console(args: argparse.Namespace) -> Any:
    from rich.console import Console

    # with --stream, standard output carries the scores: everything else goes to stderr
    return Console(file=sys.stderr if args.stream else sys.stdout, highlight=False)


def _note(args: argparse.Namespace, text: str) -> None:
    _console(args).print(text, soft_wrap=True, markup=False)
