"""``cnnlstm detect``'s detector: made from the flags, checked against its training rows, fitted
(with a progress bar on a terminal), saved.

:func:`fit_detector` fits a new :class:`~cnnlstm.anomaly.detector.AnomalyDetector` on the rows
of ``--train``, or on the first ``--train-rows`` rows of INPUT; before it fits, it checks that
those rows can teach it (enough rows for a first score, no sensor empty in all of them, the
training file's columns those of INPUT). :func:`check_saved_columns` checks a loaded detector
against the columns it is asked to score.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from cnnlstm.anomaly.baselines import BASELINES
from cnnlstm.anomaly.detector import AnomalyDetector
from cnnlstm.anomaly.held_shift import ROWS_PER_SENSOR
from cnnlstm.anomaly.training import WIDE_SENSORS
from cnnlstm.commands import atomic_file, flag_name
from cnnlstm.commands.detect.baseline import BaselineDetector, Detector
from cnnlstm.commands.detect.notes import Notes
from cnnlstm.commands.detect.reading import Head, columns_flag, read_file
from cnnlstm.commands.detect.settings import DEFAULT_TRAIN_ROWS, FitOptions, ReadOptions
from cnnlstm.commands.detect.warm import TrainingTail, training_tail
from cnnlstm.errors import DataError

__all__ = [
    "Fitted",
    "check_saved_columns",
    "fit_detector",
    "huge_pages",
    "new_detector",
    "save_detector",
]


class Fitted(NamedTuple):
    """A fitted detector and the rows of INPUT it was fitted on (0 with ``--train``)."""

    detector: Detector
    rows: int
    tail: TrainingTail | None = None
    """With ``--train``: the training file's last rows, which may warm the scorer up
    (:mod:`~cnnlstm.commands.detect.warm`)."""


def huge_pages() -> None:
    """Let torch put its large tensors (2 MB and up) on transparent huge pages, unless the
    environment says otherwise (``THP_MEM_ALLOC_ENABLE``, read at torch's first large
    allocation): wide rows allocate and free large activations at each step, and on small pages
    the kernel's page faults take much of a fit's time. Nothing changes in the results."""
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")


_LEVEL_SETTINGS = ("pca_factor", "pca_tau", "pca_bound", "level_mean", "level_floor", "discrete")
"""The detector settings only ``scoring="level"`` uses: its T², held-shift and discrete parts."""


def new_detector(options: Mapping[str, Any]) -> Detector:
    """A new, unfitted detector with the arguments the flags gave (the others are
    AnomalyDetector's defaults), or with ``--model pca|zscore`` a baseline
    (:class:`~cnnlstm.commands.detect.baseline.BaselineDetector`, which takes ``--quantile``
    alone); its messages name the flags."""
    model = options.get("model")
    if model in BASELINES:
        others = [flag_name(name) for name in options if name not in ("model", "quantile")]
        if others:
            them = "it" if len(others) == 1 else "them"
            raise ValueError(
                f"--model {model} is a baseline that scores each row alone and takes --quantile "
                f"only, so {', '.join(others)} cannot be given with it; leave {them} out."
            )
        try:
            return BaselineDetector(model, quantile=options.get("quantile"))
        except ValueError as error:
            raise ValueError(_as_flag(str(error))) from None
    if options.get("scoring") == "error":
        unused = [flag_name(name) for name in _LEVEL_SETTINGS if name in options]
        if unused:
            them = "it" if len(unused) == 1 else "them"
            raise ValueError(
                "--scoring error scores the model's error alone, so "
                f"{', '.join(unused)} (settings of --scoring level's other parts) cannot be "
                f"given with it; leave {them} out, or leave out --scoring error."
            )
    try:
        return AnomalyDetector(**options)
    except ValueError as error:
        raise ValueError(_as_flag(str(error))) from None


def _as_flag(message: str) -> str:
    """``"level_mean has to be ..."`` -> ``"--level-mean has to be ..."``: a setting's message
    names the flag a user types."""
    name, _, rest = message.partition(" ")
    return f"{flag_name(name)} {rest}"


def fit_detector(fit: FitOptions, head: Head | None, read: ReadOptions, notes: Notes) -> Fitted:
    """A new detector made with ``fit.detector`` and fitted on the rows of ``fit.train`` (read
    with ``read``; in the columns of INPUT's first rows, ``head``, when given), else on the first
    ``fit.train_rows`` rows of INPUT (``head``; by default :data:`DEFAULT_TRAIN_ROWS`, at most
    half the file); with the rows of INPUT it was fitted on.

    Raises:
        DataError: the rows cannot teach a detector: too few of them, a sensor empty in all, a
            training file without INPUT's columns, or ``fit.train_rows`` leaving no row to score.
    """
    detector = new_detector(fit.detector)
    if fit.train is not None:
        started = time.perf_counter()
        rows, names, times = _training_file(fit.train, read, head, notes)
        notes.log(f"read: {len(rows)} rows of {fit.train} ({time.perf_counter() - started:.1f} s)")
        _check_enough(detector, len(rows), f"{fit.train}: the file has", "more normal rows")
        notes.say(f"fitting {detector.model_name} on the {len(rows)} rows of {fit.train}")
        _warn_few_rows(detector, len(rows), len(names), notes)
        _fit_rows(detector, rows, names, notes)
        if isinstance(detector, BaselineDetector):  # a row is scored alone: nothing to warm up
            return Fitted(detector, 0)
        return Fitted(detector, 0, training_tail(detector, fit.train, rows, times))
    assert head is not None
    if fit.train_rows is None:
        used = min(DEFAULT_TRAIN_ROWS, head.total // 2)
        why = f" (the default: {DEFAULT_TRAIN_ROWS}, at most half the file; set --train-rows)"
    else:
        used = fit.train_rows
        why = ""
        if used >= head.total:
            raise DataError(
                f"{head.path}: --train-rows has to leave rows to score, but got {used} of "
                f"{head.total} rows; pass fewer, or a file of normal rows with --train."
            )
    _check_enough(detector, used, f"{head.path}: --train-rows gives", "a larger --train-rows")
    _check_training_part(head, used)
    notes.say(f"fitting {detector.model_name} on the first {used} rows of {head.path}{why}")
    _warn_few_rows(detector, used, len(head.feature_names), notes)
    _fit_rows(detector, head.features[:used], head.feature_names, notes)
    return Fitted(detector, used)


def save_detector(detector: Detector, path: Path, notes: Notes) -> None:
    """Save ``detector`` to ``path`` (whole or not at all) and say so."""
    with atomic_file(path) as temp:
        detector.save(temp)
    notes.say(f"saved the detector to {path}")


def _training_file(
    path: Path, read: ReadOptions, head: Head | None, notes: Notes
) -> tuple[np.ndarray, list[str], np.ndarray | None]:
    """The rows, sensor names and times of the training file, in ``head``'s columns when
    given."""
    train = read_file(path, read, notes)
    if head is None:
        return train.features, train.feature_names, train.times
    missing = [c for c in head.feature_names if c not in train.feature_names]
    if missing or any(c not in head.feature_names for c in train.feature_names):
        raise DataError(
            _other_columns(head.path, head.feature_names, train.path, train.feature_names)
        )
    rows = train.features[:, [train.feature_names.index(c) for c in head.feature_names]]
    return rows, head.feature_names, train.times


def _other_columns(
    input_path: Path, input_names: Sequence[str], train_path: Path, train_names: Sequence[str]
) -> str:
    """Why a training file's sensor columns are not INPUT's: which file lacks which columns
    (only the halves that are not empty), and the ``--columns`` that reads the ones both have.

    Example:
        >>> message = _other_columns(Path("in.csv"), ["a", "b"], Path("t.csv"), ["a", "b", "c"])
        >>> for part in message.split(", but ")[1].split("; "):
        ...     print(part)
        in.csv lacks 'c' (a sensor column of t.csv)
        pass --columns a,b to read INPUT's columns from both files.
    """
    lacks = []
    for path, names, other, others in (
        (train_path, train_names, input_path, input_names),
        (input_path, input_names, train_path, train_names),
    ):
        gone = [c for c in others if c not in names]
        if gone:
            listed = ", ".join(repr(c) for c in gone)
            what = "a sensor column" if len(gone) == 1 else "sensor columns"
            lacks.append(f"{path.name} lacks {listed} ({what} of {other.name})")
    both = [c for c in input_names if c in train_names]
    if both:
        hint = f"pass {columns_flag(both)} to read the columns both files have"
        if all(c in train_names for c in input_names):
            hint = f"pass {columns_flag(both)} to read INPUT's columns from both files"
        if len(lacks) == 2:
            hint += ", or rename the columns in one file to match the other's"
    else:
        hint = (
            f"the files share no sensor column: is {train_path.name} the right --train file? "
            f"Or rename its columns to match {input_path.name}'s"
        )
    return (
        f"{train_path}: the training file has to have the same sensor columns as {input_path}, "
        f"but {' and '.join(lacks)}; {hint}."
    )


def check_saved_columns(detector: Detector, names: Sequence[str], source: str) -> None:
    """Check that the sensor columns ``names`` (of ``source``) are the ones a loaded detector
    was fitted on, in its order."""
    if list(names) != list(detector.columns_):
        raise DataError(
            f"{source}: the sensor columns {list(names)} differ from the saved detector's "
            f"{detector.columns_}; score files with the columns the detector was fitted on "
            f"({columns_flag(detector.columns_)} picks them, in this order)."
        )


def _check_enough(detector: Detector, rows: int, source: str, more: str) -> None:
    need = detector.window + detector.smooth - 1  # the first scored row, which sets the threshold
    if rows < need:
        raise DataError(
            f"{source} {rows} training rows, fewer than the {need} a first score needs (--window "
            f"{detector.window} + --smooth {detector.smooth} - 1); pass {more}, or a smaller "
            f"--window or --smooth."
        )


def _check_training_part(head: Head, used: int) -> None:
    """A sensor that is empty in every training row (and filled by --nan) cannot be learnt."""
    empty = np.flatnonzero(head.missing[:used].all(axis=0))
    if not len(empty):
        return
    names = [head.feature_names[j] for j in empty]
    kept = [c for c in head.feature_names if c not in names]
    known = np.flatnonzero(~head.missing[:, empty[0]])
    first = int(known[0]) if len(known) else len(head.missing) - 1
    what = f"column {names[0]!r} is" if len(names) == 1 else f"columns {names} are"
    it = "it" if len(names) == 1 else "them"
    leave = f"leave {it} out with {columns_flag(kept)}, or " if kept else ""
    raise DataError(
        f"{head.path}: {what} empty in all {used} training rows (lines {head.lines[0]}-"
        f"{head.lines[used - 1]}; --nan only copies values into them), so the detector cannot "
        f"learn {it}: {leave}fit on rows where {names[0]!r} has values (from line "
        f"{head.lines[first]}, row {first}: pass a --train-rows well above {first}, or --train "
        f"NORMAL.csv)."
    )


def _note_constant(rows: np.ndarray, names: Sequence[str], notes: Notes) -> None:
    """Say which sensors hold one value in every training row: the detector has seen no change
    of them, so any change will be flagged (a PLC signal that never switched while the normal
    rows were recorded, a setpoint never moved)."""
    if len(rows) == 0:
        return
    still = [str(names[int(i)]) for i in np.flatnonzero((rows == rows[0]).all(axis=0))]
    if not still:
        return
    one = len(still) == 1
    shown = ", ".join(repr(name) for name in still[:5])
    if len(still) > 5:
        shown += f" and {len(still) - 5} more"
    notes.say(
        f"note: {shown} {'holds' if one else 'hold'} one value in all {len(rows)} training rows, "
        f"so any change of {'it' if one else 'them'} will be flagged; fit on rows where "
        f"{'it changes' if one else 'they change'} as in normal running, or leave "
        f"{'it' if one else 'them'} out with --columns"
    )


def _warn_few_rows(detector: Detector, rows: int, sensors: int, notes: Notes) -> None:
    """Warn when the level score gets fewer than :data:`ROWS_PER_SENSOR` training rows a sensor:
    its cross-sensor fit then fits the training rows so closely that most later rows alarm."""
    if not isinstance(detector, AnomalyDetector) or detector.scoring != "level":
        return
    if rows >= ROWS_PER_SENSOR * sensors:
        return
    notes.say(
        f"warning: {rows} training rows for {sensors} sensors: the level score needs about "
        f"{ROWS_PER_SENSOR} rows a sensor ({ROWS_PER_SENSOR * sensors} here), or it flags most "
        "later rows; pass more normal rows (--train-rows, --train), fewer sensors (--columns) "
        "or --scoring error"
    )


def _fit_rows(detector: Detector, rows: np.ndarray, names: Sequence[str], notes: Notes) -> None:
    """Fit with a progress bar when the notes go to a terminal (a status line on standard error
    when the notes go there: standard output carries the scores), else with a line each tenth of
    the steps and one at the end of the training and of the calibration; then say how long it
    took and how many steps ran."""
    _note_constant(rows, names, notes)
    started = time.perf_counter()
    log = None if notes.live else notes.say  # a log file: a line each tenth of the fit
    with warnings.catch_warnings():  # said with the flags to change (_warn_few_rows)
        warnings.filterwarnings("ignore", r"AnomalyDetector\.fit: \d+ training rows for")
        if not notes.stderr:
            detector.fit(rows, columns=names, progress=notes.live, log=log)
        elif not notes.live:
            detector.fit(rows, columns=names, log=log)
        else:
            from rich.console import Console

            text = (
                f"fitting {detector.model_name}: {detector.epochs} epochs of windows of "
                f"{detector.window}"
            )
            with Console(file=sys.stderr).status(text):
                detector.fit(rows, columns=names)
    seconds = time.perf_counter() - started
    if isinstance(detector, BaselineDetector):
        notes.say(f"fitted in {seconds:.1f} s")
        return
    wide = ""
    if detector.steps is not None and len(names) > WIDE_SENSORS:
        wide = f"; the budget for {len(names)} sensors is {detector.step_budget(len(names))}"
    notes.say(f"fitted in {seconds:.1f} s ({detector.steps_} steps{wide})")
