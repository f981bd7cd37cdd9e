"""``cnnlstm benchmark files``: the detectors and the classic baselines on a user's own files
(its flags: ``cnnlstm benchmark files --help``).

DATA names folders or files. A data set is a pair ``<name>_train.csv`` (normal rows) +
``<name>_test.csv`` (the rows to judge, labelled in an ``anomaly`` column, 0 or 1), or one
labelled file, fitted on its first ``--train-rows`` rows (``cnnlstm detect``'s default:
:data:`~cnnlstm.commands.detect.settings.DEFAULT_TRAIN_ROWS`, at most half the file) and judged
on the rest. A folder gives every data set among its ``.csv``, ``.tsv`` and ``.txt`` files. Files
are read as ``cnnlstm detect`` reads them (:func:`~cnnlstm.commands.detect.reading.read_file`
over :class:`~cnnlstm.data.sensors.SensorCSV`: the delimiter, decimal mark and datetime column
sniffed, a column that counts the rows read as their index); training labels are not used.

Each model (:data:`DEFAULT_MODELS`, or any detector family and baseline:
:data:`~cnnlstm.commands.benchmark.runs.MODELS`) is fitted on the training rows, its threshold
from them alone, then scores the last ``--warm-rows`` training rows followed by every test row
and drops the warm rows: so a recurrent or window model starts the test rows warm, as it would
run on a stream that goes on from the training rows (the baselines score each row alone, so it
changes nothing for them). Flags are the scores above the threshold.

Counting, per data set and pooled over them (counts summed, events pooled):

- F1, FAR, MAR per row, as ``cnnlstm benchmark skab`` counts
  (:func:`~cnnlstm.anomaly.evaluation.skab_scores`);
- point-adjusted F1: every row of an event with a flagged row counts as found
  (:func:`~cnnlstm.anomaly.events.point_adjusted_counts`);
- event recall: the share of labelled events (runs of ``anomaly`` = 1) with at least one
  flagged row, and the median detection delay: rows from an event's first row to its first
  flag, over the events found (:func:`~cnnlstm.anomaly.events.detection_delays`);
- seconds: fitting and scoring.

``--jobs N`` runs N data sets at once and gives the same figures for any N. As with
``cnnlstm detect`` over many files, a
data set that fails (a missing column, a cell that is not a number, too few rows) is reported
and the others go on (exit code 1); a mistake found before any file is read, or the failure of
the only data set, is one error line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from cnnlstm.anomaly.baselines import BASELINES
from cnnlstm.anomaly.detector import AnomalyDetector
from cnnlstm.anomaly.evaluation import Counts, binary_counts, skab_scores
from cnnlstm.anomaly.events import detection_delays, point_adjusted_counts
from cnnlstm.commands import USER_ERRORS, atomic_file, error_message
from cnnlstm.commands.benchmark.detector_options import add_detector_options, detector_settings
from cnnlstm.commands.benchmark.runs import (
    add_model_options,
    check_jobs,
    chosen_models,
    in_order,
)
from cnnlstm.commands.detect.notes import Notes
from cnnlstm.commands.detect.reading import read_file
from cnnlstm.commands.detect.settings import DEFAULT_TRAIN_ROWS, ReadOptions
from cnnlstm.data.sensors import SensorCSV
from cnnlstm.errors import DataError
from cnnlstm.extras import MissingExtraError

__all__ = [
    "DEFAULT_MODELS",
    "SUFFIXES",
    "WARM_ROWS",
    "DataSet",
    "Tally",
    "configure",
    "find_data_sets",
    "results_table",
    "run",
    "run_files",
]

DEFAULT_MODELS = ("window_cnnlstm", "pca", "zscore")
"""The models run by default: ``cnnlstm detect``'s model and the two baselines."""
WARM_ROWS = 400
"""Training rows scored before the test rows, then dropped: as many as ``benchmark skab`` fits
on, several times the default window (32 rows), smoothing (15) and the held-shift baseline's
time constant (100)."""
SUFFIXES = (".csv", ".tsv", ".txt")
"""The files of a folder that are read: those with these suffixes."""
_TRAIN, _TEST = "_train", "_test"
_HELP = "your own labelled files: the detectors beside PCA T2 and max |z|, pooled and per file"


@dataclass(frozen=True)
class DataSet:
    """One data set: its name in the tables, the labelled file judged, and the file of normal
    rows it is fitted on (None: ``test``'s own first rows)."""

    name: str
    test: Path
    train: Path | None = None


@dataclass
class Tally:
    """What one model did on some data sets: row counts, point-adjusted counts, events found
    and their delays, seconds."""

    counts: Counts = field(default_factory=Counts)
    adjusted: Counts = field(default_factory=Counts)
    events: int = 0
    delays: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, labels: np.ndarray, flags: np.ndarray, seconds: float) -> None:
        """Add one data set's ``(N,)`` 0/1 labels and flags of its judged rows."""
        self.counts = self.counts + binary_counts(labels, flags)
        self.adjusted = self.adjusted + point_adjusted_counts(labels, flags)
        delays = detection_delays(labels, flags)
        self.events += len(delays)
        self.delays += [d for d in delays if d is not None]
        self.seconds += seconds

    def row(self, name: str) -> dict[str, Any]:
        """``detector, f1, far, mar, pa_f1, event_recall`` (fractions; None when undefined),
        ``events, events_found, median_delay`` (rows), ``seconds`` and the row counts."""
        scores = skab_scores(self.counts)
        return {
            "detector": name,
            "f1": _number(scores["f1"]),
            "far": _number(scores["far"]),
            "mar": _number(scores["mar"]),
            "pa_f1": _number(skab_scores(self.adjusted)["f1"]),
            "event_recall": len(self.delays) / self.events if self.events else None,
            "events": self.events,
            "events_found": len(self.delays),
            "median_delay": float(np.median(self.delays)) if self.delays else None,
            "seconds": round(self.seconds, 2),
            "tp": self.counts.tp,
            "fp": self.counts.fp,
            "fn": self.counts.fn,
            "tn": self.counts.tn,
        }


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def configure(protocols: argparse._SubParsersAction[Any]) -> None:
    """Add the ``files`` protocol and its arguments to ``cnnlstm benchmark``'s protocols."""
    files = protocols.add_parser(
        "files",
        help=_HELP,
        description=f"{_HELP}. A data set is NAME_train.csv (normal rows) + NAME_test.csv "
        "(labelled in an 'anomaly' column, 0/1), or one labelled file fitted on its first "
        "--train-rows rows. Every model is fitted on the training rows and scores the last "
        "--warm-rows training rows followed by the test rows; the warm rows are dropped, so the "
        "recurrent and window models start the test rows warm. Prints one table pooled over "
        "the data sets (F1, FAR, MAR per row; point-adjusted F1; event recall: labelled events "
        "with a flagged row; the median rows from an event's start to its first flag; "
        "seconds), then the same table per data set.",
    )
    files.add_argument(
        "data",
        metavar="DATA",
        type=Path,
        nargs="+",
        help="folders (every data set in them) or files (NAME_train.csv or NAME_test.csv pairs "
        "with the other beside it; another file, or a NAME_test.csv alone, is one labelled "
        "data set)",
    )
    add_model_options(files, DEFAULT_MODELS, unit="data sets")
    files.add_argument(
        "--train-rows",
        metavar="N",
        type=int,
        help="a data set of one file is fitted on its first N rows and judged on the rest "
        f"(default: {DEFAULT_TRAIN_ROWS}, at most half the file, as cnnlstm detect)",
    )
    files.add_argument(
        "--warm-rows",
        metavar="N",
        type=int,
        default=WARM_ROWS,
        help="score the last N training rows before the test rows, then drop them, so the "
        f"models start warm (default {WARM_ROWS}; 0 scores the test rows cold)",
    )
    files.add_argument(
        "--epochs",
        metavar="N",
        type=int,
        help="training passes of the detector families (default: each family's own)",
    )
    files.add_argument(
        "--steps",
        metavar="N",
        type=int,
        help="the detector families' budget of optimisation steps (default: cnnlstm detect's)",
    )
    add_detector_options(files)
    files.add_argument(
        "--nan",
        choices=("fail", "ffill", "interpolate"),
        default="fail",
        help="empty or NaN cells: an error (default), the last value, or a line between values",
    )
    files.add_argument(
        "--output", metavar="DIR", type=Path, help="write files.json and files.md here"
    )
    files.set_defaults(protocol_run=run)


def run(args: argparse.Namespace) -> int:
    """Run the protocol with the parsed arguments, print the tables and write ``--output``;
    returns 0, or 1 when some data sets failed (the others are reported). User mistakes raise
    (``cnnlstm benchmark`` turns them into one error line)."""
    models = chosen_models(args, DEFAULT_MODELS)
    data_sets = find_data_sets(args.data)
    started = time.perf_counter()
    document = run_files(
        data_sets,
        models=models,
        train_rows=args.train_rows,
        warm_rows=args.warm_rows,
        epochs=args.epochs,
        steps=args.steps,
        level_mean=args.level_mean,
        level_floor=args.level_floor,
        pca_bound=args.pca_bound,
        nan=args.nan,
        seed=args.seed,
        jobs=args.jobs,
        log=True,
    )
    failed = [d for d in document["data_sets"] if d["error"] is not None]
    if len(data_sets) == 1 and failed:
        raise DataError(failed[0]["error"])
    document["wall_seconds"] = round(time.perf_counter() - started, 1)
    text = results_table(document)
    print(text, flush=True)
    if args.output is not None:
        with atomic_file(Path(args.output) / "files.json") as temp:
            temp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        with atomic_file(Path(args.output) / "files.md") as temp:
            temp.write_text(text + "\n", encoding="utf-8")
    return 1 if failed else 0


def find_data_sets(paths: Sequence[str | Path]) -> list[DataSet]:
    """The data sets that folders and files name, in order, each once.

    A ``<name>_train`` file pairs with the ``<name>_test`` file beside it (same suffix); a
    ``<name>_test`` file without a ``<name>_train`` one, and any other file, is one labelled data
    set. Names are the files' names without ``_train``/``_test`` and suffix, below the folder
    the data sets have in common.

    Raises:
        ValueError: a path that does not exist, a folder without sensor files, or a training file
            without its test file.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> for name in ("a_train.csv", "a_test.csv", "b.csv", "notes.md"):
        ...     _ = (root / name).write_text("x,anomaly\\n1,0\\n")
        >>> [(d.name, d.test.name, d.train and d.train.name) for d in find_data_sets([root])]
        [('a', 'a_test.csv', 'a_train.csv'), ('b', 'b.csv', None)]
    """
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and _is_sensor_file(p))
            if not found:
                raise ValueError(
                    f"{path}: a folder without {', '.join(SUFFIXES)} files; name a folder of "
                    f"NAME_train.csv + NAME_test.csv pairs or labelled files"
                )
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise ValueError(f"{path}: no such file or folder")
    pairs: dict[Path, tuple[Path, Path | None]] = {}  # test file -> (test, train)
    for file in files:
        stem = file.stem
        if stem.endswith(_TRAIN):
            test = file.with_name(f"{stem[: -len(_TRAIN)]}{_TEST}{file.suffix}")
            if not test.is_file():
                raise ValueError(
                    f"{file}: a training file without its test file {test.name} beside it; "
                    f"add {test.name} (the rows to judge, with an 'anomaly' column), or rename "
                    f"{file.name} to judge it alone on its own first rows"
                )
            pairs[test.resolve()] = (test, file)
        elif stem.endswith(_TEST):
            train = file.with_name(f"{stem[: -len(_TEST)]}{_TRAIN}{file.suffix}")
            pairs.setdefault(file.resolve(), (file, train if train.is_file() else None))
        else:
            pairs.setdefault(file.resolve(), (file, None))
    if not pairs:
        raise ValueError("DATA names no file; name folders or files of labelled sensor rows")
    tests = [test for test, _ in pairs.values()]
    root = Path(os.path.commonpath([str(t.resolve().parent) for t in tests]))
    data_sets = []
    for judged, normal in pairs.values():
        stem = judged.stem[: -len(_TEST)] if normal is not None else judged.stem
        folder = judged.resolve().parent.relative_to(root)
        data_sets.append(DataSet((folder / stem).as_posix(), judged, normal))
    return data_sets


def _is_sensor_file(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES and not path.name.startswith(".")


class _Outcome(NamedTuple):
    """One data set's run: its judged rows' labels, each model's flags and seconds, what was
    read, the reader's warnings, and the error that stopped it (None when it ran)."""

    labels: np.ndarray
    runs: dict[str, tuple[np.ndarray, float]]
    info: dict[str, Any]
    notes: list[str]
    error: str | None


def run_files(
    data_sets: Sequence[DataSet],
    *,
    models: Sequence[str] = DEFAULT_MODELS,
    train_rows: int | None = None,
    warm_rows: int = WARM_ROWS,
    epochs: int | None = None,
    steps: int | None = None,
    level_mean: int | None = None,
    level_floor: float | None = None,
    pca_bound: float | str | None = None,
    nan: str = "fail",
    seed: int = 0,
    jobs: int = 1,
    log: bool = False,
) -> dict[str, Any]:
    """Run every model on every data set (see the module docstring) and count.

    Args:
        data_sets: as :func:`find_data_sets` gives them.
        models: detector families and baselines, by name.
        train_rows: the rows a one-file data set is fitted on (None: ``cnnlstm detect``'s
            default, at most half the file).
        warm_rows: training rows scored before the test rows, then dropped.
        epochs: the detector families' training passes (None: each family's own).
        steps: the detector families' budget of optimisation steps (None: the detector's).
        level_mean: the rows of the detector families' held-shift level mean
            (:class:`~cnnlstm.anomaly.detector.AnomalyDetector`'s ``level_mean``; None: its
            default).
        level_floor: the smallest unit of their level score, in a sensor's training sds
            (``level_floor``; None: the default).
        pca_bound: their bound on T²'s moving mean (``pca_bound``; ``"off"``: none; None: the
            default).
        nan: the reader's ``nan_policy``.
        seed: seeds every detector.
        jobs: data sets run at once, each in a process of its own; the figures do not depend on
            it (only the seconds do).
        log: print a line on standard error as each data set ends.

    Returns:
        ``{"benchmark", "models", "data_sets": [...], "rows": [pooled row per model],
        "per_data_set": {name: [row per model]}}``, rows as :meth:`Tally.row` makes them. A data
        set that failed has its ``error`` and is left out of the rows.

    Raises:
        ValueError: an unknown model, or a ``train_rows``, ``warm_rows``, ``epochs``,
            ``steps``, ``level_mean``, ``level_floor``, ``pca_bound`` or ``jobs`` out of
            range.
    """
    chosen_models(argparse.Namespace(model=list(models)), DEFAULT_MODELS)  # checks the names
    check_jobs(jobs)
    for flag, value, least in (
        ("--train-rows", train_rows, 1),
        ("--warm-rows", warm_rows, 0),
        ("--epochs", epochs, 1),
        ("--steps", steps, 1),
    ):
        if value is not None and (isinstance(value, bool) or value < least):
            kind = "a positive int" if least else "an int >= 0"
            raise ValueError(f"{flag} has to be {kind}, but got {value!r}")
    options: dict[str, Any] = {"seed": seed}
    options |= detector_settings(
        level_mean=level_mean, level_floor=level_floor, pca_bound=pca_bound
    )
    if epochs is not None:
        options["epochs"] = epochs
    if steps is not None:
        options["steps"] = steps
    settings = (tuple(models), train_rows, warm_rows, options, nan)
    pooled = {name: Tally() for name in models}
    per_set: dict[str, list[dict[str, Any]]] = {}
    described: list[dict[str, Any]] = []
    arguments = [(data_set, *settings) for data_set in data_sets]
    for data_set, outcome in zip(data_sets, in_order(_run_one, arguments, jobs), strict=True):
        described.append({"name": data_set.name, **outcome.info, "error": outcome.error})
        if log and (outcome.error is None or len(data_sets) > 1):  # else: the run's error
            for note in outcome.notes:
                print(f"{data_set.name}: {note}", file=sys.stderr, flush=True)
            seconds = sum(s for _, s in outcome.runs.values())
            done = f"error: {outcome.error}" if outcome.error else f"done in {seconds:.1f} s"
            print(f"{data_set.name}: {done}", file=sys.stderr, flush=True)
        if outcome.error is not None:
            continue
        rows = []
        for name in models:
            flags, seconds = outcome.runs[name]
            one = Tally()
            one.add(outcome.labels, flags, seconds)
            pooled[name].add(outcome.labels, flags, seconds)
            rows.append(one.row(name))
        per_set[data_set.name] = rows
    return {
        "benchmark": "files",
        "models": list(models),
        "detector_settings": dict(options),
        "data_sets": described,
        "rows": [pooled[name].row(name) for name in models] if per_set else [],
        "per_data_set": per_set,
    }


def _run_one(
    data_set: DataSet,
    models: Sequence[str],
    train_rows: int | None,
    warm_rows: int,
    options: dict[str, Any],
    nan: str,
) -> _Outcome:
    """Read one data set, fit and score each model; an error in the user's files is returned,
    not raised, so the other data sets go on."""
    info: dict[str, Any] = {"test": str(data_set.test), "train": None}
    notes: list[str] = []
    labels = np.zeros(0, dtype=np.int64)
    try:
        train, test, labels, names, info = _read(data_set, train_rows, nan, notes)
        runs = {}
        for name in models:
            started = time.perf_counter()
            source = str(data_set.train or data_set.test)
            flags = _flags(name, train, test, names, warm_rows, options, source)
            runs[name] = (flags, time.perf_counter() - started)
    except MissingExtraError:
        raise  # not this data set's fault: the run stops, naming the extra to install
    except USER_ERRORS as error:
        return _Outcome(labels, {}, info, notes, " ".join(error_message(error).split()))
    return _Outcome(labels, runs, info, notes, None)


def _read(
    data_set: DataSet, train_rows: int | None, nan: str, notes: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], dict[str, Any]]:
    """The training rows, the judged rows, their labels, the sensor names and what was read."""
    test = _read_file(data_set.test, nan, notes)
    lower = [n.lower() for n in test.label_names]
    if test.labels is None or "anomaly" not in lower:
        raise DataError(
            f"{test.path}: has no 'anomaly' label column to judge its rows by (0 normal, 1 "
            f"anomalous); its columns are {test.columns}."
        )
    labels = (np.asarray(test.labels[:, lower.index("anomaly")]) != 0).astype(np.int64)
    names = test.feature_names
    if data_set.train is None:
        total = len(test.features)
        used = min(DEFAULT_TRAIN_ROWS, total // 2) if train_rows is None else train_rows
        if not 0 < used < total:
            raise DataError(
                f"{test.path}: --train-rows has to leave rows to judge, but got {used} of "
                f"{total} rows; pass fewer, or a NAME_train.csv of normal rows beside it."
            )
        info = {"test": str(test.path), "train": None, "train_rows": used}
        info |= {"test_rows": total - used}
        train_part, judged = test.features[:used], test.features[used:]
        labels = labels[used:]
    else:
        normal = _read_file(data_set.train, nan, notes)
        missing = [c for c in names if c not in normal.feature_names]
        extra = [c for c in normal.feature_names if c not in names]
        if missing or extra:
            raise DataError(
                f"{normal.path}: the training file has to have the sensor columns of "
                f"{test.path}, but it lacks {missing} and has {extra} that the test file has not."
            )
        train_part = normal.features[:, [normal.feature_names.index(c) for c in names]]
        judged = test.features
        info = {"test": str(test.path), "train": str(normal.path), "train_rows": len(train_part)}
        info |= {"test_rows": len(judged)}
    info["events"] = len(detection_delays(labels, labels))
    info["anomalous_rows"] = int(labels.sum())
    return train_part, judged, labels, names, info


def _read_file(path: Path, nan: str, notes: list[str]) -> SensorCSV:
    """``path`` read as ``cnnlstm detect`` reads a ``--train`` file (a column that counts the rows
    is their index, not a sensor; its notes go to standard error), its warnings kept in
    ``notes``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = read_file(path, ReadOptions(nan=nan), Notes(stderr=True))  # type: ignore[arg-type]
    notes += [f"warning: {' '.join(str(w.message).split())}" for w in caught]
    return data


def _flags(
    name: str,
    train: np.ndarray,
    test: np.ndarray,
    names: list[str],
    warm_rows: int,
    options: dict[str, Any],
    source: str,
) -> np.ndarray:
    """Fit ``name`` on ``train``, score the last ``warm_rows`` of it then ``test``, and return
    ``test``'s ``(N,)`` 0/1 flags."""
    warm = min(warm_rows, len(train))
    rows = np.concatenate([train[len(train) - warm :], test])  # (warm + N, S)
    try:
        if name in BASELINES:
            baseline = BASELINES[name]().fit(train)
            scores, threshold = baseline.score(rows), float(baseline.threshold_ or 0.0)
        else:
            detector = AnomalyDetector(model=name, **options).fit(train, columns=names)
            scores, threshold = detector.score(rows), detector.threshold_
    except (DataError, ValueError) as error:
        raise DataError(f"{source}: {name}: {error}") from None
    return (scores[warm:] > threshold).astype(np.int64)


def results_table(document: dict[str, Any]) -> str:
    """The Markdown of a run: the pooled table, then one table per data set, then the data sets
    that failed.

    Example:
        >>> row = {"detector": "pca", "f1": 0.5, "far": 0.01, "mar": 0.4, "pa_f1": 0.9,
        ...        "event_recall": 0.75, "events": 4, "events_found": 3, "median_delay": 2.0,
        ...        "seconds": 0.4}
        >>> print(results_table({"data_sets": [{"name": "a", "error": None, "test_rows": 9,
        ...     "events": 4, "train": "a_train.csv", "train_rows": 20}], "rows": [row],
        ...     "per_data_set": {"a": [row]}}).splitlines()[4])
        | pca | 0.500 | 1.0 | 40.0 | 0.900 | 0.75 (3/4) | 2 | 0.4 |
    """
    ran = [d for d in document["data_sets"] if d["error"] is None]
    failed = [d for d in document["data_sets"] if d["error"] is not None]
    rows = sum(d["test_rows"] for d in ran)
    events = sum(d["events"] for d in ran)
    title = f"### All data sets ({len(ran)}: {rows:,} judged rows, {events} labelled events)"
    parts = [title, "", _table(document["rows"]) if ran else "No data set ran."]
    for data_set in ran:
        fitted = (
            f"its first {data_set['train_rows']:,} rows"
            if data_set["train"] is None
            else f"the {data_set['train_rows']:,} rows of {Path(data_set['train']).name}"
        )
        head = (
            f"#### {data_set['name']} ({data_set['test_rows']:,} judged rows, "
            f"{data_set['events']} events; fitted on {fitted})"
        )
        parts += ["", head, "", _table(document["per_data_set"][data_set["name"]])]
    if failed:
        parts += ["", "#### Data sets that failed", ""]
        parts += [f"- {d['name']}: {d['error']}" for d in failed]
    if "wall_seconds" in document:
        parts += ["", f"wall time {document['wall_seconds']:.0f} s"]
    return "\n".join(parts)


def _table(rows: Sequence[dict[str, Any]]) -> str:
    header = [
        "detector",
        "F1",
        "FAR %",
        "MAR %",
        "point-adjusted F1",
        "event recall (found/events)",
        "median delay (rows)",
        "seconds",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        recall = row["event_recall"]
        delay = row["median_delay"]
        cells = [
            str(row["detector"]),
            _cell(row["f1"], "{:.3f}"),
            _cell(row["far"], "{:.1f}", 100.0),
            _cell(row["mar"], "{:.1f}", 100.0),
            _cell(row["pa_f1"], "{:.3f}"),
            "-" if recall is None else f"{recall:.2f} ({row['events_found']}/{row['events']})",
            "-" if delay is None else f"{delay:g}",
            f"{row['seconds']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: float | None, form: str, scale: float = 1.0) -> str:
    return "-" if value is None else form.format(value * scale)
