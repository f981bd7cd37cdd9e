"""``cnnlstm detect --model pca|zscore``: a classic baseline run as the detector.

:class:`BaselineDetector` puts a baseline of :mod:`cnnlstm.anomaly.baselines` (PCA's Hotelling
T², the largest per-sensor |z|) behind what the command asks of a detector: fitted on the same
rows, a threshold from their scores, each row scored with each sensor's part of its score, in
chunks or one row at a time, saved and loaded. A baseline scores each row alone (no window, no
smoothing), so every row has a score from the first, a file scores the same whole, in parts or
streamed, and there is nothing to warm up. It is saved as plain values in a JSON file
(:meth:`BaselineDetector.save`); ``--load`` tells it from a saved
:class:`~cnnlstm.anomaly.detector.AnomalyDetector` by its first byte (:func:`load_detector`).

A sensor's part of a row's score: with ``zscore`` its ``|z|`` (the score is the largest); with
``pca`` its contribution to T², ``z_j (z M)_j`` with ``M = V diag(1 / lambda) V^T`` over the
kept components, which sum to T² over the sensors.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnnlstm.anomaly.baselines import BASELINES, PCABaseline, ZScoreBaseline
from cnnlstm.anomaly.detector import AnomalyDetector
from cnnlstm.anomaly.rows import longest_repeats
from cnnlstm.data.scaler import StandardScaler
from cnnlstm.errors import DataError

__all__ = [
    "FORMAT",
    "BaselineChunks",
    "BaselineDetector",
    "BaselineStream",
    "Detector",
    "load_detector",
]

FORMAT = "cnnlstm.BaselineDetector/1"
"""The ``format`` of a saved :class:`BaselineDetector`'s JSON."""


class BaselineDetector:
    """A baseline (``"pca"`` or ``"zscore"``, :data:`~cnnlstm.anomaly.baselines.BASELINES`) with
    the interface ``cnnlstm detect`` uses of a detector.

    Args:
        model: the baseline's name.
        quantile: its threshold's training-score quantile (None: the baseline's default).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> detector = BaselineDetector("zscore").fit(rng.normal(size=(500, 3)))
        >>> rows = np.zeros((2, 3))
        >>> rows[1, 2] = 9.0
        >>> scores, parts = detector.chunks().update(rows)
        >>> (scores > detector.threshold_).tolist(), int(parts[1].argmax())
        ([False, True], 2)
    """

    window = 1
    smooth = 1
    epochs = 0
    steps: int | None = None
    steps_ = 0
    level_ = None

    def __init__(self, model: str, *, quantile: float | None = None) -> None:
        if model not in BASELINES:
            raise ValueError(f"model has to be one of {', '.join(BASELINES)}, but got {model!r}")
        made = BASELINES[model]
        self.baseline = made() if quantile is None else made(quantile=quantile)
        self.model_name = model
        self.columns_: list[str] = []
        self.n_features_ = 0
        self.threshold_ = math.nan
        self.longest_repeat_ = np.zeros(0)

    def first_scored(self) -> int:
        """The first row with a score: row 0 (a row is scored alone)."""
        return 0

    def fit(
        self,
        train: np.ndarray,
        *,
        columns: Sequence[str] | None = None,
        progress: bool = False,
        log: Callable[[str], None] | None = None,
    ) -> BaselineDetector:
        """Fit the baseline on ``(N, S)`` normal rows; ``log`` gets one line with its time
        (``progress`` is taken for AnomalyDetector's sake: there is nothing to show)."""
        rows = np.asarray(train, dtype=np.float64)
        started = time.perf_counter()
        self.baseline.fit(rows)
        self.columns_ = [str(c) for c in columns] if columns is not None else []
        self.columns_ = self.columns_ or [f"column{i}" for i in range(rows.shape[1])]
        self.n_features_ = rows.shape[1]
        assert self.baseline.threshold_ is not None
        self.threshold_ = float(self.baseline.threshold_)
        self.longest_repeat_ = longest_repeats(rows)
        if log is not None:
            seconds = time.perf_counter() - started
            log(
                f"calibrate: the threshold, the {self.baseline.quantile:g} quantile of the "
                f"{len(rows)} training rows' scores ({seconds:.1f} s)"
            )
        return self

    def score_detail(
        self, x: np.ndarray, *, columns: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(scores (M,), parts (M, S))`` of ``(M, S)`` rows: each row's score and each
        sensor's part of it (see the module docstring).

        Raises:
            DataError: other columns than the fitted ones, NaN.
        """
        rows = np.asarray(x, dtype=np.float64)
        given = [str(c) for c in columns] if columns is not None else None
        if (
            rows.ndim != 2
            or rows.shape[1] != self.n_features_
            or given not in (None, self.columns_)
        ):
            shown = given if given is not None else f"shape {rows.shape}"
            raise DataError(
                f"{self.model_name}: fitted on the {self.n_features_} columns {self.columns_}, "
                f"but got {shown}; score files with the columns it was fitted on."
            )
        if not len(rows):
            return np.zeros(0), np.zeros((0, self.n_features_))
        try:
            scores = self.baseline.score(rows)
        except ValueError as error:
            raise DataError(str(error)) from None
        z = self.baseline.scaler.transform(rows)  # (M, S)
        if isinstance(self.baseline, PCABaseline):
            components, eigenvalues = self.baseline.components_, self.baseline.eigenvalues_
            assert components is not None and eigenvalues is not None
            mix = components.T @ (components / eigenvalues[:, None])  # (S, S)
            return scores, z * (z @ mix)
        return scores, np.abs(z)

    def chunks(self) -> BaselineChunks:
        """Scores chunks of rows: each row alone, so no state is carried."""
        return BaselineChunks(self)

    def stream(self) -> BaselineStream:
        """Scores rows one at a time: each alone, so no state is carried."""
        return BaselineStream(self)

    def save(self, path: str | Path) -> None:
        """Write the fitted baseline as plain values (JSON): its settings, scaler, components,
        threshold and columns."""
        baseline = self.baseline
        assert baseline.scaler.mean is not None and baseline.scaler.std is not None
        state: dict[str, Any] = {
            "format": FORMAT,
            "model": self.model_name,
            "quantile": baseline.quantile,
            "columns": self.columns_,
            "mean": baseline.scaler.mean.tolist(),
            "std": baseline.scaler.std.tolist(),
            "threshold": baseline.threshold_,
            "longest_repeat": self.longest_repeat_.tolist(),
        }
        if isinstance(baseline, PCABaseline):
            assert baseline.components_ is not None and baseline.eigenvalues_ is not None
            state["variance"] = baseline.variance
            state["components"] = baseline.components_.tolist()
            state["eigenvalues"] = baseline.eigenvalues_.tolist()
        Path(path).write_text(json.dumps(state) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> BaselineDetector:
        """Read a baseline written by :meth:`save`.

        Raises:
            DataError: the file is not a saved baseline.
        """
        path = Path(path)
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            if state.get("format") != FORMAT:
                raise ValueError(f"format {state.get('format')!r}")
            detector = cls(state["model"], quantile=float(state["quantile"]))
            baseline = detector.baseline
            baseline.scaler = StandardScaler().load_state_dict(
                {"mean": np.array(state["mean"]), "std": np.array(state["std"])}
            )
            baseline.threshold_ = float(state["threshold"])
            if isinstance(baseline, PCABaseline):
                baseline.variance = float(state["variance"])
                baseline.components_ = np.array(state["components"], dtype=np.float64)
                baseline.eigenvalues_ = np.array(state["eigenvalues"], dtype=np.float64)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise DataError(f"{path}: not a saved baseline detector ({error}).") from None
        detector.columns_ = [str(c) for c in state["columns"]]
        detector.n_features_ = len(detector.columns_)
        detector.threshold_ = float(state["threshold"])
        detector.longest_repeat_ = np.array(state.get("longest_repeat", []), dtype=np.float64)
        return detector

    def __repr__(self) -> str:
        if isinstance(self.baseline, ZScoreBaseline):
            return f"BaselineDetector('zscore', quantile={self.baseline.quantile})"
        return (
            f"BaselineDetector('pca', variance={self.baseline.variance}, "
            f"quantile={self.baseline.quantile})"
        )


class BaselineChunks:
    """A baseline's scorer of chunks of rows, as
    :class:`~cnnlstm.anomaly.streaming.ChunkScorer` is the detector's."""

    def __init__(self, detector: BaselineDetector) -> None:
        self.detector = detector
        self.rows_seen = 0

    def update(
        self, x: np.ndarray, *, columns: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(scores (M,), parts (M, S))`` of the next ``(M, S)`` rows."""
        scores, parts = self.detector.score_detail(x, columns=columns)
        self.rows_seen += len(scores)
        return scores, parts


class BaselineStream:
    """A baseline's scorer of one row at a time, as
    :class:`~cnnlstm.anomaly.streaming.StreamScorer` is the detector's."""

    def __init__(self, detector: BaselineDetector) -> None:
        self.detector = detector
        self.rows_seen = 0

    def update(self, row: np.ndarray) -> tuple[float, int]:
        """``(score, flag)`` of one ``(S,)`` row."""
        scores, _ = self.detector.score_detail(np.asarray(row, dtype=np.float64)[None])
        self.rows_seen += 1
        score = float(scores[0])
        return score, int(score > self.detector.threshold_)


Detector = AnomalyDetector | BaselineDetector
"""What ``cnnlstm detect`` runs: the neural detector, or a baseline."""


def load_detector(path: Path) -> Detector:
    """A detector saved by ``--save``: a baseline (a JSON file) or an
    :class:`~cnnlstm.anomaly.detector.AnomalyDetector`.

    Raises:
        DataError: a missing file, or one that is neither.
    """
    try:
        with open(path, "rb") as file:
            first = file.read(1)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file.") from None
    if first == b"{":
        return BaselineDetector.load(path)
    return AnomalyDetector.load(path)
