"""``cnnlstm benchmark skab``: the SKAB outlier and changepoint protocol, beside the leaderboard.

::

    cnnlstm benchmark skab DATA_DIR [--model NAME ... | --models A,B] [--scoring level,error]
                                    [--level-mean N] [--level-floor F] [--pca-bound F|off]
                                    [--output DIR] [--quick] [--jobs N]

For each of SKAB's labelled files (``valve1/*.csv``, ``valve2/*.csv``, ``other/*.csv``) and each
model: fit an :class:`~cnnlstm.anomaly.detector.AnomalyDetector` on the first :data:`TRAIN_ROWS`
rows (its threshold comes from them alone), score the whole file in one pass (so the recurrent and
window models are warmed up on the training rows), and judge the flags of rows ``TRAIN_ROWS``
onward. The classic baselines (``pca``: Hotelling T², ``zscore``: the largest |z|;
:mod:`cnnlstm.anomaly.baselines`) are fitted, thresholded and judged on the same rows.
Confusion counts are summed over the files, then F1 = TP / (TP + (FP + FN) / 2), FAR and MAR
(:func:`~cnnlstm.anomaly.evaluation.skab_scores`). Changepoints are the rows where a file's flags
flip, scored with NAB's standard profile and a 60 s window to the right of each labelled changepoint
(:func:`~cnnlstm.anomaly.evaluation.nab_score`). A "flag every row" line, computed from the same
rows' labels, is the floor any detector has to beat (SKAB publishes it as F1 0.70, FAR 100, MAR 0:
that figure only comes out when the first 400 rows of each file are left out).

Every detector runs with :class:`~cnnlstm.anomaly.detector.AnomalyDetector`'s defaults, which were
chosen on ``valve1`` and generated plant data only, never on this table (the manual's design notes
say how, and how long this run takes); the window models train for fewer passes
(:data:`~cnnlstm.anomaly.detector.DEFAULT_EPOCHS`). Each model is fitted once and judged twice
(``--scoring``): by the detector's score (``scoring="level"``, the default: the model's error
beside the held-shift level score) and by the model's error score alone, against its own
threshold from the same fit, so the models can be compared as CNN-LSTMs; a baseline has one
score, so one row.

A second table gives each row's scores per folder and where its false alarms fall: before a
file's first labelled anomaly, between anomalies, or after the last one
(:func:`~cnnlstm.anomaly.evaluation.false_alarm_places`), with the false alarm rate up to the last
anomaly, and the lowest false alarm rate at most 20% missed rows that a threshold chosen with the
labels would reach (a ceiling on thresholding the score, not a detector).

``--quick`` runs the first file of each folder with 2 epochs, to check the machinery in seconds.
``--jobs N`` runs N files at once, each in a process with one torch thread and the same seed,
so the figures are the same for any N.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from cnnlstm.anomaly.baselines import BASELINES
from cnnlstm.anomaly.detector import AnomalyDetector
from cnnlstm.anomaly.evaluation import (
    Counts,
    binary_counts,
    changepoints_from_labels,
    changepoints_from_predictions,
    false_alarm_places,
    lowest_far,
    nab_score,
    skab_scores,
)
from cnnlstm.anomaly.leaderboard import leaderboard_table
from cnnlstm.commands import atomic_file
from cnnlstm.commands.benchmark.detector_options import (
    add_detector_options,
    detector_settings,
    settings_label,
)
from cnnlstm.commands.benchmark.runs import (
    MODELS,
    add_model_options,
    check_jobs,
    chosen_models,
    in_order,
)
from cnnlstm.data.sensors import SKAB, SensorCSV
from cnnlstm.errors import DataError

__all__ = [
    "DEFAULT_MODELS",
    "FLOOR",
    "QUICK_EPOCHS",
    "SCORINGS",
    "TRAIN_ROWS",
    "SkabRun",
    "configure",
    "false_alarm_table",
    "run",
    "run_skab",
]

TRAIN_ROWS = 400
"""Rows at the start of each file the detector is fitted on; the rest are judged."""
DEFAULT_MODELS = MODELS
"""The models run by default: every detector family, then the baselines ``pca`` and ``zscore``."""
FLOOR = "flag every row (this data)"
QUICK_EPOCHS = 2
SCORINGS = ("level", "error")
"""How each model's flags are judged: the detector's score, then the model's error score alone."""
_BASELINE_SCORING = "score"
"""A baseline's one scoring: its score against its threshold."""
_NAB_WINDOW_SECONDS = 60.0
_SKAB_HELP = "SKAB: fit on the first 400 rows of each file, judge the rest, pooled over files"


@dataclass
class SkabRun:
    """Pooled results of one detector (or the floor) over the files."""

    name: str
    counts: Counts = field(default_factory=Counts)
    true_changepoints: list[np.ndarray] = field(default_factory=list)
    alarms: list[np.ndarray] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    seconds: float = 0.0
    folders: dict[str, Counts] = field(default_factory=dict)
    places: collections.Counter[str] = field(default_factory=collections.Counter)
    labels: list[np.ndarray] = field(default_factory=list)
    margins: list[np.ndarray] = field(default_factory=list)

    def add(
        self,
        labels: np.ndarray,
        changepoints: np.ndarray,
        flags: np.ndarray,
        *,
        folder: str = "",
        margins: np.ndarray | None = None,
    ) -> None:
        """Add one file's judged rows: ``(N,)`` labels, labelled changepoints and flags, the
        SKAB folder the file is in (``valve1``, ``valve2``, ``other``) and, for a detector,
        its ``(N,)`` scores divided by the file's threshold, for :func:`lowest_far`."""
        if margins is not None:
            self.labels.append(labels)
            self.margins.append(margins)
        counts = binary_counts(labels, flags)
        self.counts = self.counts + counts
        self.folders[folder] = self.folders.get(folder, Counts()) + counts
        self.places.update(false_alarm_places(labels, flags))
        self.true_changepoints.append(changepoints_from_labels(changepoints))
        self.alarms.append(changepoints_from_predictions(flags))
        self.lengths.append(len(flags))

    def row(self) -> dict[str, Any]:
        """``name, f1, far, mar, precision, recall`` (fractions), ``nab`` (0-100), counts."""
        scores = skab_scores(self.counts)
        has_changepoints = any(len(c) for c in self.true_changepoints)
        nab = (
            nab_score(
                self.true_changepoints,
                self.alarms,
                window_seconds=_NAB_WINDOW_SECONDS,
                n_rows_per_file=self.lengths,
            )
            if has_changepoints
            else None
        )
        return {
            "name": self.name,
            "f1": scores["f1"],
            "far": scores["far"],
            "mar": scores["mar"],
            "precision": scores["precision"],
            "recall": scores["recall"],
            "nab": nab,
            "tp": self.counts.tp,
            "fp": self.counts.fp,
            "fn": self.counts.fn,
            "tn": self.counts.tn,
            "files": len(self.lengths),
            "seconds": round(self.seconds, 1),
            "folders": {
                name: {key: scores[key] for key in ("f1", "far", "mar")}
                for name, scores in ((n, skab_scores(c)) for n, c in self.folders.items())
            },
            "false_alarms": dict(self.places),
            "lowest_far_at_mar_20": (
                lowest_far(np.concatenate(self.labels), np.concatenate(self.margins), max_mar=0.2)
                if self.margins
                else None
            ),
        }


def configure(protocols: argparse._SubParsersAction[Any]) -> None:
    """Add the ``skab`` protocol and its arguments to ``cnnlstm benchmark``'s protocols."""
    skab = protocols.add_parser(
        "skab",
        help=_SKAB_HELP,
        description=_SKAB_HELP,
    )
    skab.add_argument("data_dir", metavar="DATA_DIR", type=Path, help="the SKAB data folder")
    skab.add_argument(
        "--scoring",
        metavar="A,B",
        default=",".join(SCORINGS),
        help="judge each model by these scores, comma-separated: 'level' (the detector's score) "
        f"and 'error' (the model's error alone); default {','.join(SCORINGS)}",
    )
    skab.add_argument(
        "--output",
        metavar="DIR",
        type=Path,
        help="write skab.json (every figure) and skab.md (the tables) here; the screen shows "
        "the tables only",
    )
    add_detector_options(skab)
    skab.add_argument(
        "--quick",
        action="store_true",
        help=f"the first file of each folder, {QUICK_EPOCHS} epochs: checks the run in seconds",
    )
    add_model_options(skab, DEFAULT_MODELS)
    skab.set_defaults(protocol_run=run)


def run(args: argparse.Namespace) -> int:
    """Run the protocol with the parsed arguments, print the tables and write ``--output``;
    returns 0. User mistakes raise (``cnnlstm benchmark`` turns them into one error line)."""
    models = chosen_models(args, DEFAULT_MODELS)
    scorings = tuple(dict.fromkeys(n.strip() for n in args.scoring.split(",") if n.strip()))
    started = time.perf_counter()
    rows = run_skab(
        args.data_dir,
        models=models,
        scorings=scorings,
        quick=args.quick,
        level_mean=args.level_mean,
        level_floor=args.level_floor,
        pca_bound=args.pca_bound,
        seed=args.seed,
        jobs=args.jobs,
    )
    wall = time.perf_counter() - started
    table = leaderboard_table(rows)
    given = detector_settings(
        level_mean=args.level_mean, level_floor=args.level_floor, pca_bound=args.pca_bound
    )
    level = f", {settings_label(given)}" if given else ""
    title = f"SKAB ({rows[0]['files']} files{', quick' if args.quick else ''}{level})"
    places = f"#### Per folder, and where the false alarms fall\n\n{false_alarm_table(rows)}"
    print(f"### {title}\n\n{table}\n\n{places}\n\nwall time {wall:.0f} s", flush=True)
    if args.output is not None:  # the figures as JSON go to the file, never to the screen
        document = {"benchmark": title, "rows": rows, "wall_seconds": round(wall, 1)}
        with atomic_file(Path(args.output) / "skab.json") as temp:
            temp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        with atomic_file(Path(args.output) / "skab.md") as temp:
            temp.write_text(f"### {title}\n\n{table}\n\n{places}\n", encoding="utf-8")
    return 0


def _files(data_dir: Path, quick: bool) -> list[str]:
    skab = SKAB(data_dir)
    if not quick:
        return skab.files
    firsts: dict[str, str] = {}
    for name in skab.files:
        firsts.setdefault(name.split("/")[0], name)
    return list(firsts.values())


def run_skab(
    data_dir: str | Path,
    *,
    models: Sequence[str] = DEFAULT_MODELS,
    scorings: Sequence[str] = SCORINGS,
    quick: bool = False,
    level_mean: int | None = None,
    level_floor: float | None = None,
    pca_bound: float | str | None = None,
    seed: int = 0,
    jobs: int = 1,
) -> list[dict[str, Any]]:
    """Run the SKAB protocol (see the module docstring) and return one row per model and
    scoring, then the floor.

    Args:
        data_dir: the SKAB data folder.
        models: detector families to run, with :class:`AnomalyDetector`'s defaults, and
            baselines (``pca``, ``zscore``: :data:`~cnnlstm.anomaly.baselines.BASELINES`).
        scorings: how to judge each fitted model (:data:`SCORINGS`): ``"level"``, the
            detector's score against its threshold, named after the model; ``"error"``, the
            model's error score alone against its own threshold, named ``"<model> (error
            score)"``. A baseline has one row, named after it.
        quick: the first file of each folder and :data:`QUICK_EPOCHS` epochs.
        level_mean: the rows of the detector families' held-shift level mean
            (:class:`AnomalyDetector`'s ``level_mean``; None: its default).
        level_floor: the smallest unit of their level score, in a sensor's training sds
            (``level_floor``; None: the default).
        pca_bound: their bound on T²'s moving mean (``pca_bound``; ``"off"``: none; None: the
            default).
        seed: seeds every detector.
        jobs: files run at once, each in a process of its own; the results do not depend on it
            (only the seconds do).

    Returns:
        Rows as :meth:`SkabRun.row` makes them: each model's scorings (a baseline's one row) in
        order, then :data:`FLOOR`.

    Raises:
        DataError: no SKAB layout, a file without an ``anomaly`` label or too short to judge.
        ValueError: a model that is neither a detector family nor a baseline, an unknown
            scoring, a ``level_mean``, ``level_floor`` or ``pca_bound`` out of range, or
            ``jobs`` < 1.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    root = Path(data_dir)
    files = _files(root, quick)
    bad = [name for name in scorings if name not in SCORINGS]
    if bad or not scorings:
        raise ValueError(
            f"--scoring has to name some of {', '.join(SCORINGS)}, but got "
            f"{', '.join(bad) or 'none'}"
        )
    runs = {
        (name, how): SkabRun(_row_name(name, how))
        for name in models
        for how in _hows(name, scorings)
    }
    floor = SkabRun(FLOOR)
    options: dict[str, Any] = {"seed": seed, "scoring": "level" if "level" in scorings else "error"}
    if quick:
        options["epochs"] = QUICK_EPOCHS
    options |= detector_settings(
        level_mean=level_mean, level_floor=level_floor, pca_bound=pca_bound
    )
    chosen_models(argparse.Namespace(model=list(models)), DEFAULT_MODELS)  # checks the names
    check_jobs(jobs)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    )
    with progress:
        task = progress.add_task("SKAB", total=len(files))
        for outcome in _outcomes(root, files, models, scorings, options, jobs):
            folder = outcome.file.split("/")[0]
            floor.add(
                outcome.labels,
                outcome.changepoints,
                np.ones_like(outcome.labels),
                folder=folder,
            )
            for (name, how), (flags, margins, seconds) in outcome.runs.items():
                runs[name, how].add(
                    outcome.labels, outcome.changepoints, flags, folder=folder, margins=margins
                )
                runs[name, how].seconds += seconds
            progress.update(task, description=outcome.file)
            progress.advance(task)
    return [*(run.row() for run in runs.values()), floor.row()]


class _FileOutcome(NamedTuple):
    """One SKAB file's judged rows (after the training rows): its labels, changepoints, and for
    each ``(model, scoring)`` the flags, the scores over the threshold and the seconds taken."""

    file: str
    labels: np.ndarray
    changepoints: np.ndarray
    runs: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, float]]


def _outcomes(
    root: Path,
    files: Sequence[str],
    models: Sequence[str],
    scorings: Sequence[str],
    options: dict[str, Any],
    jobs: int,
) -> Iterator[_FileOutcome]:
    """Each file's outcome in file order (:func:`~cnnlstm.commands.benchmark.runs.in_order`).
    Every file is fitted on its own with its own seed, so the outcomes do not depend on
    ``jobs``."""
    arguments = [(root, file, tuple(models), tuple(scorings), options) for file in files]
    yield from in_order(_file_outcome, arguments, jobs)


def _file_outcome(
    root: Path,
    file: str,
    models: Sequence[str],
    scorings: Sequence[str],
    options: dict[str, Any],
) -> _FileOutcome:
    """Fit each model on the file's first :data:`TRAIN_ROWS` rows and judge the rest."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # time gaps in SKAB files are known and harmless here
        data = SensorCSV(root / file, window=1)
        labels, changepoints = _labels(data)
        if len(data.features) <= TRAIN_ROWS:
            raise DataError(
                f"{data.path}: has {len(data.features)} rows; the protocol fits on the first "
                f"{TRAIN_ROWS} and needs rows after them."
            )
        judged = slice(TRAIN_ROWS, None)
        runs: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, float]] = {}
        for name in models:
            started = time.perf_counter()
            if name in BASELINES:
                baseline = BASELINES[name]().fit(data.features[:TRAIN_ROWS])
                scores = baseline.score(data.features)
                threshold = float(baseline.threshold_ or 0.0)
                flags = (scores[judged] > threshold).astype(np.int64)
                margins = scores[judged] / threshold if threshold > 0 else scores[judged]
                runs[name, _BASELINE_SCORING] = (flags, margins, time.perf_counter() - started)
                continue
            detector = AnomalyDetector(model=name, **options)
            detector.fit(data.features[:TRAIN_ROWS], columns=data.feature_names)
            fitted = time.perf_counter() - started
            for how in scorings:
                started = time.perf_counter()
                if how == options["scoring"]:
                    scores, threshold = detector.score(data.features), detector.threshold_
                else:  # the error part of a level detector, against its own threshold
                    scores = detector.score(data.features, part="error")
                    threshold = detector.error_threshold_
                flags = (scores[judged] > threshold).astype(np.int64)
                margins = scores[judged] / threshold if threshold > 0 else scores[judged]
                runs[name, how] = (flags, margins, fitted + time.perf_counter() - started)
    return _FileOutcome(file, labels[judged], changepoints[judged], runs)


def false_alarm_table(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of each row's scores per SKAB folder and where its false alarms fall.

    Beside the false alarms before, between and after a file's labelled anomalies
    (:func:`~cnnlstm.anomaly.evaluation.false_alarm_places`): the false alarm rate on the normal
    rows up to the last anomaly, and the lowest false alarm rate with at most 20% missed rows that
    any one factor on every file's threshold would give, the factor chosen with the labels
    (:func:`~cnnlstm.anomaly.evaluation.lowest_far`): a ceiling on what thresholding the score can
    do, not a detector.

    Example:
        >>> row = {"name": "ours", "folders": {"valve1": {"f1": 0.9, "far": 0.1, "mar": 0.2}},
        ...        "false_alarms": {"before": 1, "between": 0, "after": 3, "normal_before": 9,
        ...                         "normal_between": 1, "normal_after": 10},
        ...        "lowest_far_at_mar_20": 0.05}
        >>> false_alarm_table([row]).splitlines()[2]
        '| ours | 0.90 / 10.0 / 20.0 | 1 / 0 / 3 | 10.0 | 5.0 |'
    """
    folders = list(dict.fromkeys(name for row in rows for name in row.get("folders", {})))
    header = [
        "detector",
        *(f"{name} F1 / FAR % / MAR %" for name in folders),
        "false alarms before / between / after the anomalies",
        "FAR % up to the last anomaly",
        "lowest FAR % at MAR <= 20%, threshold from the labels",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(row["name"])]
        for name in folders:
            got = row.get("folders", {}).get(name)
            cells.append(
                "-"
                if got is None
                else f"{got['f1']:.2f} / {got['far'] * 100:.1f} / {got['mar'] * 100:.1f}"
            )
        places = row.get("false_alarms", {})
        cells.append(
            " / ".join(str(places.get(part, 0)) for part in ("before", "between", "after"))
        )
        alarms = places.get("before", 0) + places.get("between", 0)
        normal = places.get("normal_before", 0) + places.get("normal_between", 0)
        cells.append(f"{alarms / normal * 100:.1f}" if normal else "-")
        best = row.get("lowest_far_at_mar_20")
        cells.append("-" if best is None else f"{best * 100:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _hows(model: str, scorings: Sequence[str]) -> tuple[str, ...]:
    """How a model is judged: each of ``scorings`` for a detector, its one score for a baseline."""
    return (_BASELINE_SCORING,) if model in BASELINES else tuple(scorings)


def _row_name(model: str, scoring: str) -> str:
    return f"{model} (error score)" if scoring == "error" else model


def _labels(data: SensorCSV) -> tuple[np.ndarray, np.ndarray]:
    lower = [n.lower() for n in data.label_names]
    if data.labels is None or "anomaly" not in lower:
        raise DataError(
            f"{data.path}: has no 'anomaly' label column; the SKAB files label every row."
        )
    labels = np.asarray(data.labels[:, lower.index("anomaly")], dtype=np.int64)
    if "changepoint" in lower:
        changepoints = np.asarray(data.labels[:, lower.index("changepoint")], dtype=np.int64)
    else:
        changepoints = np.zeros_like(labels)
    return labels, changepoints
