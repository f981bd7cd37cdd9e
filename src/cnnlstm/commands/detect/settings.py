"""What a ``cnnlstm detect`` run is asked to do: its flags as typed settings, built once.

:class:`ReadOptions` says how the sensor files are read, :class:`FitOptions` where the detector
comes from, and :class:`DetectSettings` holds both with the places the run reads and writes. The
command layer (:func:`cnnlstm.commands.detect.settings_from_flags`) builds them from the parsed
flags and checks them there; the stages of a run take them, or parts of them, never the flags.
The functions here read a flag's text into its setting, with the message a user reads when it
cannot be read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnlstm.data.csv_text import Decimal
from cnnlstm.data.sensors import NanPolicy
from cnnlstm.data.text_encoding import check_encoding

__all__ = [
    "DEFAULT_TRAIN_ROWS",
    "DetectSettings",
    "FitOptions",
    "ReadOptions",
    "parse_columns",
    "parse_encoding",
    "parse_missing",
]

DEFAULT_TRAIN_ROWS = 400
"""Rows of INPUT fitted on when neither ``--train`` nor ``--train-rows`` is given (SKAB's
protocol); capped at half the file so that something is left to score."""


@dataclass(frozen=True)
class ReadOptions:
    """How the sensor files (INPUT, ``--train``, the rows of ``--stream``) are read.

    Args:
        nan: ``--nan``: what empty, NaN or inf cells become.
        columns: ``--columns``: the sensor columns, or None for every column but the datetime
            and the labels.
        missing: ``--missing``: cell texts that mean a gap.
        decimal: ``--decimal``: the decimal mark.
        encoding: ``--encoding``: a codec's name, or ``"auto"``.
        datetime: ``--datetime``: the datetime column's name, ``"auto"``, or None for rows
            without times (``--datetime none``).
    """

    nan: NanPolicy = "fail"
    columns: tuple[str, ...] | None = None
    missing: tuple[str, ...] = ()
    decimal: Decimal = "auto"
    encoding: str = "auto"
    datetime: str | None = "auto"


@dataclass(frozen=True)
class FitOptions:
    """Where the run's detector comes from: loaded (``--load``), or made with the
    :class:`~cnnlstm.anomaly.detector.AnomalyDetector` arguments given and fitted on ``--train``'s
    rows or on INPUT's first ``--train-rows`` rows.

    Args:
        detector: the detector's arguments given as flags (``model``, ``window``...); the others
            keep AnomalyDetector's defaults.
        train: ``--train``: a file of normal rows.
        train_rows: ``--train-rows``: fit on this many first rows of INPUT (None: the default,
            :data:`DEFAULT_TRAIN_ROWS`, at most half the file).
        load: ``--load``: a saved detector, used as it is.
        warm_start: with ``train``, warm the scorer up on the training file's last rows when
            INPUT follows it (:mod:`~cnnlstm.commands.detect.warm`); ``--no-warm-start`` makes it
            False.
    """

    detector: Mapping[str, Any] = field(default_factory=dict)
    train: Path | None = None
    train_rows: int | None = None
    load: Path | None = None
    warm_start: bool = True


@dataclass(frozen=True)
class DetectSettings:
    """One ``cnnlstm detect`` run: what it reads, how, where its detector comes from, and where
    it writes.

    Args:
        input: INPUT: a file, a folder or a glob; ``"-"`` (standard input) with ``stream``.
        output: ``--output``: OUT.csv (a folder with many files; None with ``stream``).
        report: ``--report``: the folder of the plot and the summary, or None.
        save: ``--save``: where the detector is saved, or None.
        fit: where the detector comes from.
        read: how the files are read.
        stream: ``--stream``: score rows from standard input as they arrive.
        jobs: ``--jobs``: files run at once, with many files.

    Example:
        >>> settings = DetectSettings("plant.csv", Path("out.csv"), fit=FitOptions(train_rows=200))
        >>> settings.fit.train_rows, settings.read.nan
        (200, 'fail')
    """

    input: str
    output: Path | None = None
    report: Path | None = None
    save: Path | None = None
    fit: FitOptions = field(default_factory=FitOptions)
    read: ReadOptions = field(default_factory=ReadOptions)
    stream: bool = False
    jobs: int = 1


def parse_columns(text: str | None) -> tuple[str, ...] | None:
    """The names ``--columns`` gives, or None without it.

    Raises:
        ValueError: an empty name, or a name given twice.

    Example:
        >>> parse_columns("flow, pressure")
        ('flow', 'pressure')
    """
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
    return tuple(names)


def parse_missing(text: str | None) -> tuple[str, ...]:
    """The texts ``--missing`` gives (none without it).

    Example:
        >>> parse_missing("Bad Input, No Data,")
        ('Bad Input', 'No Data')
    """
    return () if text is None else tuple(word.strip() for word in text.split(",") if word.strip())


def parse_encoding(given: str | None) -> str:
    """The codec ``--encoding`` names, or ``"auto"``.

    Raises:
        ValueError: a name Python knows no text encoding by.
    """
    given = given or "auto"
    try:
        return check_encoding(given)
    except ValueError:
        raise ValueError(
            f"--encoding has to be auto or the name of a text encoding (utf-8, cp1252, latin-1, "
            f"utf-16...), but got {given!r}"
        ) from None
