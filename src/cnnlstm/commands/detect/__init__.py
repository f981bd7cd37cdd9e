"""``cnnlstm detect``: fit an anomaly detector on normal sensor rows, score a file, write flags.

::

    cnnlstm detect INPUT.csv [--train NORMAL.csv | --train-rows N] --output OUT.csv [--report DIR]
    cnnlstm detect 'plant/*.csv' --train-rows N --output OUTDIR [--report DIR] [--jobs N]
    cnnlstm detect - --stream --load DETECTOR.pt < rows.csv

The detector (:class:`~cnnlstm.anomaly.detector.AnomalyDetector`) is fitted on NORMAL.csv's rows,
or on the first ``--train-rows`` rows of INPUT (default: the first :data:`DEFAULT_TRAIN_ROWS`
rows, at most half the file), or read with ``--load``. OUT.csv gets one line per INPUT row, in
order: ``datetime`` (or ``row``), ``score`` and ``anomaly`` (0/1). The label columns ``anomaly``
and ``changepoint`` never reach the detector; with them the command prints precision, recall,
F1, FAR, MAR and NAB on the rows after the training rows. ``--report DIR`` adds a plot and a
summary. A mistake (in the flags or in a file) ends with one ``cnnlstm detect: error: ...`` line,
exit code 2, and no output. ``--stream`` scores the rows of standard input as they arrive; a
folder or a quoted glob as INPUT runs each file on its own. The manual's "Anomaly detection" page
tells more.

This module is the command layer: the parser, and :func:`settings_from_flags`, which reads the
flags once into :class:`~cnnlstm.commands.detect.settings.DetectSettings` and checks them. A run
is then a pipeline of stages with explicit arguments: for one file
:func:`~cnnlstm.commands.detect.offline.run_file` (read -> fit or load -> score and write ->
report), :func:`~cnnlstm.commands.detect.stream.run_stream` for ``--stream``, and
:func:`~cnnlstm.commands.detect.many.run_many` for many files.
"""

from __future__ import annotations

import argparse
import inspect
import warnings
from pathlib import Path
from typing import Any

from cnnlstm.anomaly.baselines import BASELINES
from cnnlstm.anomaly.detector import DEFAULT_EPOCHS, AnomalyDetector
from cnnlstm.commands import (
    USER_ERRORS,
    Command,
    flag_name,
    positive_or_off,
    size_or_off,
    user_error,
)
from cnnlstm.commands.detect.fitting import huge_pages, new_detector
from cnnlstm.commands.detect.many import find_inputs, run_many
from cnnlstm.commands.detect.notes import Notes
from cnnlstm.commands.detect.offline import run_file
from cnnlstm.commands.detect.outputs import check_file_place, check_place
from cnnlstm.commands.detect.report import NAB_WINDOW_SECONDS, detection_metrics, span_sensors
from cnnlstm.commands.detect.settings import (
    DEFAULT_TRAIN_ROWS,
    DetectSettings,
    FitOptions,
    ReadOptions,
    parse_columns,
    parse_encoding,
    parse_missing,
)
from cnnlstm.commands.detect.stream import run_stream
from cnnlstm.models.detectors import DETECTOR_FAMILIES

__all__ = [
    "DEFAULT_TRAIN_ROWS",
    "DETECTOR_MODELS",
    "NAB_WINDOW_SECONDS",
    "DetectSettings",
    "add_parser",
    "build_parser",
    "detection_metrics",
    "main",
    "run",
    "settings_from_flags",
    "span_sensors",
]

COMMAND = "detect"
_HELP = "fit an anomaly detector on normal sensor rows, score a file and write its flags"
DETECTOR_MODELS = DETECTOR_FAMILIES
"""The model families ``--model`` takes (:data:`~cnnlstm.models.detectors.DETECTOR_FAMILIES`)."""


def _default(name: str) -> Any:
    """The default of an :class:`AnomalyDetector` argument, read from its signature (the flags
    leave the defaults to it)."""
    return inspect.signature(AnomalyDetector).parameters[name].default


def _rows_or_off(text: str) -> int | str:
    """``--pca-tau``'s value: a positive whole number of rows, or ``"off"``."""
    if text == "off":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(
            f"has to be a positive whole number or off, but got {text!r}"
        )
    return int(text)


_DETECTOR_FLAGS: dict[str, dict[str, Any]] = {
    "model": {
        "help": f"detector family: {', '.join(DETECTOR_MODELS)} (default {_default('model')}); "
        f"or a classic baseline that scores each row alone: {', '.join(BASELINES)} (PCA's "
        "Hotelling T2, the largest per-sensor |z|; they take --quantile only)"
    },
    "window": {"type": int, "help": f"rows per window (default {_default('window')})"},
    "epochs": {
        "type": int,
        "help": "training passes (default: "
        + ", ".join(f"{n} for {m}" for m, n in DEFAULT_EPOCHS.items())
        + ")",
    },
    "steps": {
        "type": int,
        "help": f"the fit's budget of optimisation steps (default {_default('steps')}; small "
        "training sets finish their epochs within it, large ones stop at it or when the held-out "
        "loss stops improving)",
    },
    "threshold": {
        "choices": ("quantile", "pot"),
        "help": "how the threshold is set from the training scores "
        f"(default {_default('threshold')})",
    },
    "quantile": {
        "type": float,
        "help": f"training-score quantile of the threshold (default {_default('quantile')})",
    },
    "factor": {"type": float, "help": f"multiplies the threshold (default {_default('factor')})"},
    "smooth": {
        "type": int,
        "help": "average each sensor's error over the last N scored rows, causally "
        f"(default {_default('smooth')})",
    },
    "combine": {
        "choices": ("max", "mean"),
        "help": f"how the sensors' errors make a row's score (default {_default('combine')})",
    },
    "scoring": {
        "choices": ("level", "error"),
        "help": "'level': the model's error beside a held-shift level score; 'error': the error "
        f"alone (default {_default('scoring')})",
    },
    "pca_factor": {
        "metavar": "F|off",
        "type": positive_or_off,
        "help": "with --scoring level: the row's PCA T2 beside the model, alarming at F times its "
        f"training quantile (default {_default('pca_factor')}); off leaves it out",
    },
    "pca_tau": {
        "metavar": "N|off",
        "type": _rows_or_off,
        "help": "with --scoring level: T2 judges each row against a moving mean of the rows "
        f"before it with this time constant in rows (default {_default('pca_tau')}), so a slow "
        "drift does not alarm; off judges it against the training mean",
    },
    "pca_bound": {
        "metavar": "F|off",
        "type": positive_or_off,
        "help": "with --scoring level: a row whose T2 is over F times T2's alarm level moves that "
        f"moving mean only as a row at that level would (default {_default('pca_bound')}), so "
        "T2 does not alarm for hundreds of rows after a one-row glitch (a -9999 for a missing "
        "value; the level score still flags the 19 rows its mean and hold cover); off: no bound",
    },
    "level_mean": {
        "type": int,
        "metavar": "N",
        "help": "with --scoring level: the held-shift level score judges each sensor's mean over "
        f"the last N rows (default {_default('level_mean')}, for short events); 10 keeps a "
        "fault held for a long time (a valve that stays shut) visible through its noise",
    },
    "level_floor": {
        "type": size_or_off,
        "metavar": "F|off",
        "help": "with --scoring level: a level shift counts in units of at least F of the "
        f"sensor's training sd (default {_default('level_floor')}), so metrics tied by a "
        "near-exact relation or held nearly constant do not alarm on tiny moves; 0 or off: none",
    },
    "discrete": {
        "choices": ("on", "off"),
        "help": "with --scoring level: judge the sensors with a few whole values (PLC signals, "
        "steps) by their joint states and state changes seen in training, not by their errors "
        f"(default {'on' if _default('discrete') else 'off'})",
    },
    "seed": {
        "type": int,
        "help": f"seeds the weights and batch order (default {_default('seed')})",
    },
}
"""The flags that are :class:`AnomalyDetector`'s arguments, named as its arguments are, and
their parser options; left out, they keep the detector's defaults."""


_USAGE = """%(prog)s INPUT --output OUT.csv [--train NORMAL.csv | --train-rows N] [options]
       %(prog)s 'FOLDER/*.csv' --output OUTDIR [--jobs N] [options]
       %(prog)s - --stream (--load DETECTOR.pt | --train NORMAL.csv) [options] < rows.csv"""
"""The forms of the command: ``--output`` is required but with ``--stream``, which writes to
standard output (argparse's own usage would show it in brackets, as if it could be left out)."""


def _configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.usage = _USAGE
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
        "--no-warm-start",
        dest="warm_start",
        action="store_false",
        help="with --train: score INPUT from a cold start (its first rows get no error score) "
        "instead of warming the detector up on the training file's last rows, which is done "
        "when INPUT begins where the training file ends (or when neither has times)",
    )
    parser.add_argument(
        "--output",
        "-o",
        metavar="OUT.csv",
        type=Path,
        help="required (but with --stream, which writes to standard output): where to write "
        "the scores and flags, into a folder that exists (a folder, OUTDIR, with many files: "
        "made when missing)",
    )
    parser.add_argument(
        "--report", metavar="DIR", type=Path, help="write a plot and a Markdown summary here"
    )
    for name, options in _DETECTOR_FLAGS.items():
        parser.add_argument(flag_name(name), dest=name, **options)
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
            code = _run(args)
        notes = Notes(stderr=args.stream)
        for warning in caught:
            if issubclass(warning.category, UserWarning):
                notes.say(f"warning: {' '.join(str(warning.message).split())}")
        return code
    except USER_ERRORS as error:
        return user_error(COMMAND, error)


def _run(args: argparse.Namespace) -> int:
    if args.stream:
        return run_stream(settings_from_flags(args))
    many = find_inputs(args.input)
    if many is None:
        run_file(settings_from_flags(args))
        return 0
    files, root = many  # a folder or a glob: each file on its own
    return run_many(settings_from_flags(args, many=True), files, root)


def settings_from_flags(args: argparse.Namespace, *, many: bool = False) -> DetectSettings:
    """The run's settings, read once from its parsed flags and checked.

    Args:
        args: the flags, as the parser reads them.
        many: INPUT names many files (a folder or a glob): ``--output``, ``--report`` and
            ``--save`` are folders, and ``--jobs`` counts.

    Raises:
        ValueError: a flag, or a combination of flags, that cannot be; the message names it.
    """
    jobs = 1
    if many:
        if args.output is None:
            raise ValueError(
                "--output OUTDIR has to be given with many files: the folder their scores go to."
            )
        for flag, path in (
            ("--output", args.output),
            ("--report", args.report),
            ("--save", args.save),
        ):
            if path is not None:
                check_place(flag, Path(path), "folder")
        jobs = 1 if args.jobs is None else args.jobs
        if jobs < 1:
            raise ValueError(f"--jobs has to be a positive int, but got {jobs}")
    read = ReadOptions(
        nan=args.nan,
        columns=parse_columns(args.columns),
        missing=parse_missing(args.missing),
        decimal=args.decimal,
        encoding=parse_encoding(args.encoding),
        datetime=None if args.datetime.lower() == "none" else args.datetime,
    )
    if args.model is not None and args.model not in (*DETECTOR_MODELS, *BASELINES):
        raise ValueError(
            f"--model has to be one of the detector families {', '.join(DETECTOR_MODELS)} or "
            f"the baselines {', '.join(BASELINES)}, but got {args.model!r}"
        )
    detector = {
        name: getattr(args, name) for name in _DETECTOR_FLAGS if getattr(args, name) is not None
    }
    for name in ("pca_factor", "pca_tau", "pca_bound"):
        if detector.get(name) == "off":
            detector[name] = None
    if "discrete" in detector:
        detector["discrete"] = detector["discrete"] == "on"
    new_detector(detector)  # a bad setting stops the run before any file is read
    if args.load is not None:
        given = [flag_name(name) for name in detector]
        given += ["--train"] * (args.train is not None)
        given += ["--train-rows"] * (args.train_rows is not None)
        if given:
            raise ValueError(
                f"--load uses the saved detector as it is, so {', '.join(given)} cannot be "
                f"given with it; leave them out, or fit a new detector without --load."
            )
    if args.stream:
        _check_stream(args)
    elif args.input == "-":
        raise ValueError("INPUT has to be a file without --stream, but got '-'")
    elif args.output is None:
        raise ValueError("--output OUT.csv has to be given: where the scores go.")
    elif args.train_rows is not None and args.train_rows < 1:
        raise ValueError(f"--train-rows has to be a positive int, but got {args.train_rows}")
    if not many:  # the files named go into folders that exist; OUTDIR and --report DIR are made
        for flag, path in (("--output", args.output), ("--save", args.save)):
            if path is not None:
                check_file_place(flag, Path(path))
    return DetectSettings(
        input=args.input,
        output=args.output,
        report=args.report,
        save=args.save,
        fit=FitOptions(
            detector,
            train=args.train,
            train_rows=args.train_rows,
            load=args.load,
            warm_start=args.warm_start,
        ),
        read=read,
        stream=args.stream,
        jobs=jobs,
    )


def _check_stream(args: argparse.Namespace) -> None:
    """The flags ``--stream`` cannot take, or needs."""
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


_COMMAND = Command(COMMAND, _HELP, _configure, run)
add_parser = _COMMAND.add_parser
build_parser = _COMMAND.build_parser
main = _COMMAND.main
