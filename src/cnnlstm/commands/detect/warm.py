"""``cnnlstm detect --train``: warm the detector up on the training file's last rows.

Scored from a fresh state, INPUT's first rows have no error score: the model has seen no rows
before them and the per-sensor smoothing has no errors to average (``window + smooth - 2``
rows: :meth:`~cnnlstm.anomaly.detector.AnomalyDetector.first_scored`). When the training file
ends where INPUT begins (last month's rows, then this week's), its last rows are those before
INPUT's first: the scorer is run over them first and their scores are dropped, so INPUT's rows
score as they would as the tail of one file made of the training rows and INPUT's.

Whether the training file ends where INPUT begins is read from the times: INPUT's first time
has to come after the training file's last by at most :data:`GAP_STEPS` of the training rows'
usual step. Without times in both files it cannot be checked: the tail is used, and a note
says so (``--no-warm-start`` turns the warm start off).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from cnnlstm.anomaly.combine import HOLD
from cnnlstm.anomaly.detector import AnomalyDetector
from cnnlstm.data.sensor_times import duration_text, seconds_from_start

__all__ = ["GAP_STEPS", "TrainingTail", "training_tail", "warm_rows", "warm_up"]

GAP_STEPS = 2.0
"""INPUT follows the training file when its first row comes at most this many usual steps
after the training file's last (the reader's ``gap_factor``: a longer step is a gap)."""


class TrainingTail(NamedTuple):
    """The last rows of a training file, and when it ends."""

    path: Path
    rows: np.ndarray
    """``(K, S)`` the file's last :func:`warm_rows` rows, in INPUT's sensor columns."""
    end: Any
    """The time of its last row (``datetime64`` or float seconds), or None without times."""
    step: float | None
    """Its usual step between rows in seconds (the median), or None."""


def warm_rows(detector: AnomalyDetector) -> int:
    """The rows before INPUT that give its first row a score: the model's warm-up and the
    smoothing's (:meth:`~cnnlstm.anomaly.detector.AnomalyDetector.first_scored`), and with a
    held-shift level score its trailing mean and its hold.

    Example:
        >>> warm_rows(AnomalyDetector(window=32, smooth=15, scoring="error"))
        45
    """
    need = detector.first_scored()
    if detector.level_ is not None:
        need = max(need, detector.level_.fast - 1 + HOLD - 1)
    return need


def training_tail(
    detector: AnomalyDetector, path: Path, rows: np.ndarray, times: np.ndarray | None
) -> TrainingTail:
    """The tail a fitted ``detector`` warms up on: the last :func:`warm_rows` of the training
    file ``path``'s ``(N, S)`` rows, with its ``(N,)`` times (or None)."""
    kept = rows[max(len(rows) - warm_rows(detector), 0) :]
    end, step = None, None
    if times is not None and len(times):
        end = times[-1]
        steps = np.diff(seconds_from_start(times))
        step = float(np.median(steps)) if len(steps) else None
    return TrainingTail(path, np.array(kept, dtype=np.float64), end, step)


def _seconds_after(end: Any, begin: Any) -> float | None:
    """Seconds from ``end`` to ``begin``, or None when they cannot be compared (one without
    times, or a clock of dates beside one of seconds)."""
    if end is None or begin is None:
        return None
    if isinstance(end, np.datetime64) and isinstance(begin, np.datetime64):
        return float((begin - end) / np.timedelta64(1, "s"))
    dated = isinstance(end, np.datetime64) or isinstance(begin, np.datetime64)
    return None if dated else float(begin) - float(end)


def warm_up(tail: TrainingTail, begin: Any, input_path: Path) -> tuple[np.ndarray | None, str]:
    """The rows to warm the scorer up on before INPUT (None: start cold), and the note that says
    what was done and why.

    Args:
        tail: the training file's last rows and when it ends.
        begin: the time of INPUT's first row, or None without times.
        input_path: INPUT, for the note.

    Example:
        >>> tail = TrainingTail(Path("june.csv"), np.zeros((45, 2)), 59.0, 1.0)
        >>> rows, note = warm_up(tail, 60.0, Path("july.csv"))
        >>> len(rows), note.split(":")[0]
        (45, 'note')
        >>> warm_up(tail, 3600.0, Path("july.csv"))[0] is None
        True
    """
    name, count = tail.path, len(tail.rows)
    after = _seconds_after(tail.end, begin)
    if after is None:
        which = "neither file has" if tail.end is None and begin is None else "not both files have"
        return tail.rows, (
            f"note: warmed up on the last {count} rows of {name}, taken to end where "
            f"{input_path} begins ({which} times to check it), so {input_path}'s first rows are "
            f"scored too; pass --no-warm-start if {input_path} does not follow {name}."
        )
    step = tail.step if tail.step and tail.step > 0 else None
    if after > 0 and (step is None or after <= GAP_STEPS * step):
        return tail.rows, (
            f"note: warmed up on the last {count} rows of {name}, which ends "
            f"{duration_text(after)} before {input_path} begins, so {input_path}'s first rows "
            f"are scored as the rows after them (--no-warm-start scores from a cold start)."
        )
    if after <= 0:
        where = f"{duration_text(-after)} after {input_path} begins" if after else "as it begins"
    else:
        where = (
            f"{duration_text(after)} before {input_path} begins, more than {GAP_STEPS:g} x its "
            f"step of {duration_text(step or 0.0)}"
        )
    return None, (
        f"note: {input_path}'s first rows have no error score (a cold start): {name} ends "
        f"{where}, so its last rows are not the ones before {input_path}'s first."
    )
