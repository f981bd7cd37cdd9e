"""The parts of a row's score that need no model: PCA T² and the states of discrete signals.

A predictor's error and the held-shift level judge a sensor by its own past. Two checks judge
the row as it is, beside them (:class:`RowChecks`):

- **PCA T².** Hotelling T² of the standardised row in the principal components of the training
  rows (:class:`~cnnlstm.anomaly.baselines.PCABaseline`), in units of ``pca_factor`` times its
  ``quantile`` on the calibration rows: a row whose sensors stop moving together alarms at its
  first row, with no window to fill and no smoothing to wait for. Its part is given to the sensor
  with the largest term of T² (:meth:`~cnnlstm.anomaly.baselines.PCABaseline.sensor_terms`).
- **Discrete states.** The sensors with a few whole values (PLC signals, steps, modes) are
  judged by their joint state and its changes against those training showed
  (:class:`~cnnlstm.anomaly.discrete.DiscreteStates`); an unseen one scores
  :data:`DISCRETE_SCORE` on the sensors it blames. Their errors and levels do not count: a
  usual switch is no fault, and a switch's error would set a threshold that hides the others.

Both are causal and carry at most the previous row, so streams give the whole-file parts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlstm.anomaly.baselines import PCABaseline
from cnnlstm.anomaly.discrete import DiscreteStates

__all__ = ["DISCRETE_SCORE", "PCA_FACTOR", "RowChecks"]

DISCRETE_SCORE = 2.0
"""An unseen discrete state's part, in units of the alarm level (above 1: it always alarms)."""
PCA_FACTOR = 2.0
"""T² alarms at this times its ``quantile`` on the calibration rows."""


class RowChecks:
    """PCA T² and discrete states, fitted on training rows, as per-sensor parts of a score.

    Args:
        pca_factor: T²'s alarm level is this times its ``quantile`` on the calibration rows;
            None leaves T² out.
        discrete: judge the discrete sensors by their states (and leave their errors and levels
            out); False treats them as the other sensors.
        quantile: the calibration rows' quantile T²'s alarm level is made from.

    Attributes:
        pca_: the fitted :class:`~cnnlstm.anomaly.baselines.PCABaseline`, or None.
        pca_threshold_: T²'s alarm level (NaN without T²).
        states_: the fitted :class:`~cnnlstm.anomaly.discrete.DiscreteStates`, or None.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> train = rng.normal(size=(400, 3))
        >>> train[:, 2] = np.arange(400) // 20 % 2  # a PLC flag: 20 rows on, 20 off
        >>> checks = RowChecks().fit(train, calibrate=300)
        >>> checks.discrete_columns.tolist()
        [2]
        >>> rows = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 3.0]])  # the flag reads 3
        >>> parts = checks.parts(rows)
        >>> (parts.max(axis=1) > 1).tolist(), float(parts[1, 2])
        ([False, True], 2.0)
    """

    def __init__(
        self,
        *,
        pca_factor: float | None = PCA_FACTOR,
        discrete: bool = True,
        quantile: float = 0.99,
    ) -> None:
        if pca_factor is not None and not pca_factor > 0:
            raise ValueError(f"pca_factor has to be positive or None, but got {pca_factor!r}")
        if not 0 < quantile < 1:
            raise ValueError(f"quantile has to be in (0, 1), but got {quantile!r}")
        self.pca_factor = pca_factor
        self.discrete = discrete
        self.quantile = quantile
        self.pca_: PCABaseline | None = None
        self.pca_threshold_ = float("nan")
        self.states_: DiscreteStates | None = None
        self.n_sensors_ = 0
        self._row: _RowArrays | None = None  # score_row's arrays, made at its first call

    @property
    def discrete_columns(self) -> np.ndarray:
        """``(D,)`` int64: the sensors judged by their states (none before :meth:`fit`)."""
        if self.states_ is None:
            return np.zeros(0, dtype=np.int64)
        return self.states_.columns_

    def fit(self, rows: Any, *, calibrate: int = 0) -> RowChecks:
        """Fit on ``(N, S)`` training rows (in their own units); T²'s alarm level comes from
        rows ``calibrate`` on.

        Returns:
            ``self``.
        """
        train = np.asarray(rows, dtype=np.float64)
        self.n_sensors_ = train.shape[1]
        self._row = None
        self.states_ = DiscreteStates().fit(train) if self.discrete else None
        self.pca_ = None
        self.pca_threshold_ = float("nan")
        if self.pca_factor is not None:
            self.pca_ = PCABaseline(quantile=self.quantile).fit(train)
            level = float(np.quantile(self.pca_.score(train[calibrate:]), self.quantile))
            self.pca_threshold_ = level * self.pca_factor
        return self

    def parts(self, rows: Any, previous: Any | None = None) -> np.ndarray:
        """``(M, S)``: each sensor's part of each row's score, in units of the alarm level.

        Args:
            rows: ``(M, S)`` rows in the units of the training rows.
            previous: ``(S,)`` the row before ``rows[0]`` in the stream, or None at its start.
        """
        x = np.asarray(rows, dtype=np.float64)
        parts = np.zeros(x.shape)
        if self.pca_ is not None and self.pca_threshold_ > 0 and len(x):
            worst = self.pca_.sensor_terms(x).argmax(axis=1)  # the largest term of T²
            parts[np.arange(len(x)), worst] = self.pca_.score(x) / self.pca_threshold_
        if self.states_ is not None and len(self.states_.columns_):
            blame = self.states_.unseen(x, previous)  # (M, D)
            columns = parts[:, self.states_.columns_]
            parts[:, self.states_.columns_] = np.where(blame, DISCRETE_SCORE, columns)
        return parts

    def scores(self, rows: Any, previous: Any | None = None) -> np.ndarray:
        """``(M,)``: each row's largest part (:meth:`parts`' row maxima, 0 with no check),
        without the per-sensor split.

        Args:
            rows: ``(M, S)`` rows in the units of the training rows.
            previous: ``(S,)`` the row before ``rows[0]`` in the stream, or None at its start.
        """
        x = np.asarray(rows, dtype=np.float64)
        scores = np.zeros(len(x))
        if self.pca_ is not None and self.pca_threshold_ > 0 and len(x):
            scores = self.pca_.score(x) / self.pca_threshold_
        if self.states_ is not None and len(self.states_.columns_):
            unseen = self.states_.unseen(x, previous).any(axis=1)
            scores = np.where(unseen, np.maximum(scores, DISCRETE_SCORE), scores)
        return scores

    def score_row(self, row: np.ndarray, previous: np.ndarray | None) -> float:
        """One ``(S,)`` row's :meth:`scores`, for a stream: the same value from plain arrays
        and a dict of the seen states, with no checks of the input (the caller checked it)."""
        if self._row is None:
            self._row = _RowArrays(self)
        arrays = self._row
        score = 0.0
        if arrays.project is not None:
            projected = ((row - arrays.mean) / arrays.std) @ arrays.project  # (K,) / sqrt(l_k)
            score = float(projected @ projected) / self.pca_threshold_
        if arrays.columns is not None:
            state = arrays.states.get(tuple(row[arrays.columns].tolist()))
            unseen = state is None
            if not unseen and previous is not None:
                before = arrays.states.get(tuple(previous[arrays.columns].tolist()))
                unseen = (
                    before is not None and before != state and (before, state) not in arrays.changes
                )
            if unseen:
                score = max(score, DISCRETE_SCORE)
        return score

    def state_dict(self) -> dict[str, Any]:
        """Plain values and tensors, for ``torch.save(..., weights_only=True)``."""
        return {
            "pca_factor": self.pca_factor,
            "discrete": self.discrete,
            "quantile": self.quantile,
            "n_sensors": self.n_sensors_,
            "pca": None if self.pca_ is None else self.pca_.state_dict(),
            "pca_threshold": self.pca_threshold_,
            "states": None if self.states_ is None else self.states_.state_dict(),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> RowChecks:
        """The fitted :class:`RowChecks` that :meth:`state_dict` described."""
        factor = state["pca_factor"]
        checks = cls(
            pca_factor=None if factor is None else float(factor),
            discrete=bool(state["discrete"]),
            quantile=float(state["quantile"]),
        )
        checks.n_sensors_ = int(state["n_sensors"])
        if state["pca"] is not None:
            checks.pca_ = PCABaseline.from_state_dict(state["pca"])
        checks.pca_threshold_ = float(state["pca_threshold"])
        if state["states"] is not None:
            checks.states_ = DiscreteStates.from_state_dict(state["states"])
        return checks

    def __repr__(self) -> str:
        return (
            f"RowChecks(pca_factor={self.pca_factor}, discrete={self.discrete}, "
            f"discrete_columns={self.discrete_columns.tolist()})"
        )


class _RowArrays:
    """What :meth:`RowChecks.score_row` reads: T²'s map as one matrix, the states as a dict."""

    def __init__(self, checks: RowChecks) -> None:
        self.project: np.ndarray | None = None
        self.mean = self.std = np.zeros(0)
        pca = checks.pca_
        if pca is not None and checks.pca_threshold_ > 0:
            assert pca.components_ is not None and pca.eigenvalues_ is not None
            assert pca.scaler.mean is not None and pca.scaler.std is not None
            self.mean, self.std = pca.scaler.mean, pca.scaler.std
            self.project = pca.components_.T / np.sqrt(pca.eigenvalues_)  # (S, K)
        self.columns: np.ndarray | None = None
        self.states: dict[tuple[float, ...], int] = {}
        self.changes: set[tuple[int, int]] = set()
        found = checks.states_
        if found is not None and len(found.columns_):
            self.columns = found.columns_
            self.states = {tuple(state.tolist()): i for i, state in enumerate(found.states_)}
            self.changes = {
                (int(i), int(j)) for i, j in zip(*np.nonzero(found.changes_), strict=True)
            }
