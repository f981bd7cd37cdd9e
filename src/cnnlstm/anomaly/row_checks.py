"""The parts of a row's score that need no model: PCA T² and the states of discrete signals.

A predictor's error and the held-shift level judge a sensor by its own past. Two checks judge
the row as it comes, beside them (:class:`RowChecks`):

- **PCA T².** Hotelling T² in the principal components of the training rows
  (:class:`~cnnlstm.anomaly.baselines.PCABaseline`) of the standardised row minus a moving mean
  of the rows before it (time constant ``pca_tau`` rows; :func:`moving_means`), in units of
  ``pca_factor`` times its ``quantile`` on the calibration rows. A row whose sensors stop moving
  together alarms at its first row, with no window to fill and no smoothing to wait for; a plant
  that drifts slowly away from its training rows does not (the held-shift part judges the
  levels). Its part is given to the sensor with the largest term of T².
- **Discrete states.** The sensors with a few whole values (PLC signals, steps, modes) are
  judged by their joint state and its changes against those training showed
  (:class:`~cnnlstm.anomaly.discrete.DiscreteStates`); an unseen one scores
  :data:`DISCRETE_SCORE` on the sensors it blames. Their errors and levels do not count: a
  usual switch is no fault, and a switch's error would set a threshold that hides the others.

Both are causal: a :class:`RowState` (the moving mean, the last row) carries a stream from one
call to the next, so chunks and single rows give the whole stream's parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlstm.anomaly.baselines import PCABaseline
from cnnlstm.anomaly.discrete import DiscreteStates

__all__ = [
    "DISCRETE_SCORE",
    "PCA_BOUND",
    "PCA_FACTOR",
    "PCA_TAU",
    "RowChecks",
    "RowState",
    "check_pca_settings",
    "moving_means",
]

DISCRETE_SCORE = 2.0
"""An unseen discrete state's part, in units of the alarm level (above 1: it always alarms)."""
PCA_FACTOR = 3.0
"""T² alarms at this times its ``quantile`` on the calibration rows."""
PCA_TAU = 50
"""The time constant, in rows, of the moving mean T² judges a row against."""
PCA_BOUND: float | None = 2.0
"""A row moves T²'s moving mean at most as far as a row whose T² is this times the alarm level
would (None: no bound; :func:`moving_means`). Round 6 of the defaults for other machines (the
design notes): with no bound a glitch of one row flagged up to 222 rows after it."""
_BLOCK = 64
"""Rows :func:`moving_means` takes at once (one product with a ``(64, 64)`` matrix of weights)."""
_CALM = 8
"""After a shrunk step :func:`moving_means` goes row by row (alarms come in runs) until this many
rows in a row are under the limit, then takes blocks again."""


def moving_means(
    rows: np.ndarray,
    tau: int,
    start: np.ndarray,
    *,
    project: np.ndarray | None = None,
    limit: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The exponential moving mean of ``(M, S)`` rows before each row, and after the last.

    ``m_t = m_{t-1} + s_t / tau`` from ``m_{-1} = start``, with the step ``s_t = x_t - m_{t-1}``.
    With ``project`` (``(S, K)``) and ``limit``, a step whose T², ``|s_t @ project|^2``, is
    above ``limit`` is shrunk to the step in its direction whose T² is ``limit`` (a Huber step),
    so no single row moves the mean further than a row at ``limit`` would. Computed ``_BLOCK``
    rows at a time as one matrix product of decay weights, and row by row from a shrunk step
    until ``_CALM`` rows in a row are under the limit.

    Returns:
        ``(before (M, S), after (S,))``: ``before[t] = m_{t-1}``, ``after = m_{M-1}``.

    Example:
        >>> before, after = moving_means(np.array([[2.0], [2.0]]), 2, np.zeros(1))
        >>> before.ravel().tolist(), after.tolist()
        ([0.0, 1.0], [1.5])
        >>> rows = np.array([[100.0], [0.0]])  # a glitch: its step's T² is 10,000
        >>> before, after = moving_means(rows, 2, np.zeros(1), project=np.ones((1, 1)), limit=4.0)
        >>> before.ravel().tolist(), after.tolist()  # it moves the mean as a step of 2 would
        ([0.0, 1.0], [0.5])
    """
    rate = 1.0 / tau
    steps = np.arange(_BLOCK)
    gaps = steps[:, None] - steps[None, :]  # (B, B): row j's distance to row i
    weights = np.where(gaps >= 0, rate * (1.0 - rate) ** np.maximum(gaps, 0), 0.0)
    decay = (1.0 - rate) ** (steps + 1)  # (B,): what is left of the mean before the block
    before = np.empty_like(rows, dtype=np.float64)
    mean = np.asarray(start, dtype=np.float64).copy()
    first = 0
    while first < len(rows):
        block = rows[first : first + _BLOCK]
        n = len(block)
        after = weights[:n, :n] @ block + decay[:n, None] * mean  # (n, S): the mean after each
        before[first] = mean
        before[first + 1 : first + n] = after[:-1]
        if project is not None and limit is not None:
            step = block - before[first : first + n]  # (n, S)
            t2 = ((step @ project) ** 2).sum(axis=1)  # (n,)
            over = np.flatnonzero(t2 > limit)
            if len(over):  # rows before the first one over are right; from it, row by row
                first, mean = _bounded_rows(
                    rows,
                    first + int(over[0]),
                    before[first + int(over[0])],
                    before,
                    project,
                    limit,
                    rate,
                )
                continue
        mean = after[-1]
        first += n
    return before, mean


def _bounded_rows(
    rows: np.ndarray,
    first: int,
    mean: np.ndarray,
    before: np.ndarray,
    project: np.ndarray,
    limit: float,
    rate: float,
) -> tuple[int, np.ndarray]:
    """:func:`moving_means`' bounded steps one row at a time from row ``first`` (``mean``: the
    mean before it), filling ``before``, until ``_CALM`` rows in a row are under ``limit`` or
    the rows end; returns the next row and the mean before it."""
    calm, t = 0, first
    mean = mean.copy()
    step = np.empty_like(mean)
    image = np.empty(project.shape[1])
    while t < len(rows) and calm < _CALM:
        before[t] = mean
        np.subtract(rows[t], mean, out=step)
        np.dot(step, project, out=image)
        t2 = float(np.dot(image, image))
        if t2 > limit:
            shrink = math.sqrt(limit / t2) * rate
            calm = 0
        else:
            shrink = rate
            calm += 1
        step *= shrink
        mean += step
        t += 1
    return t, mean


def check_pca_settings(
    pca_factor: float | None, pca_tau: int | None, pca_bound: float | None = None
) -> None:
    """Raise ValueError unless ``pca_factor`` and ``pca_bound`` are positive or None and
    ``pca_tau`` a positive int or None."""
    if pca_factor is not None and not pca_factor > 0:
        raise ValueError(f"pca_factor has to be positive or None, but got {pca_factor!r}")
    bad_tau = isinstance(pca_tau, bool) or not isinstance(pca_tau, int) or pca_tau < 1
    if pca_tau is not None and bad_tau:
        raise ValueError(f"pca_tau has to be a positive int or None, but got {pca_tau!r}")
    if pca_bound is not None and not pca_bound > 0:
        raise ValueError(f"pca_bound has to be positive or None, but got {pca_bound!r}")


@dataclass
class RowState:
    """Where a stream is: the moving mean T² judges the next row against, and the last row."""

    mean: np.ndarray
    """``(S,)`` the moving mean of the standardised rows so far (zeros: the training mean)."""
    previous: np.ndarray | None = None
    """``(S,)`` the last row in the rows' own units, for the discrete states (None at the start)."""


class RowChecks:
    """PCA T² and discrete states, fitted on training rows, as per-sensor parts of a score.

    Args:
        pca_factor: T²'s alarm level is this times its ``quantile`` on the calibration rows;
            None leaves T² out.
        pca_tau: the time constant (rows) of the moving mean T² judges a row against; None
            judges each row against the training mean.
        pca_bound: a row whose T² is above this times the alarm level moves the moving mean
            only as far as a row at that level would (:func:`moving_means`), so a glitch of one
            row does not drag the mean and T² does not alarm on the rows after it; None: no
            bound.
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
        pca_tau: int | None = PCA_TAU,
        pca_bound: float | None = PCA_BOUND,
        discrete: bool = True,
        quantile: float = 0.99,
    ) -> None:
        check_pca_settings(pca_factor, pca_tau, pca_bound)
        if not 0 < quantile < 1:
            raise ValueError(f"quantile has to be in (0, 1), but got {quantile!r}")
        self.pca_factor = pca_factor
        self.pca_tau = pca_tau
        self.pca_bound = None if pca_bound is None else float(pca_bound)
        self.discrete = discrete
        self.quantile = quantile
        self.pca_: PCABaseline | None = None
        self.pca_threshold_ = float("nan")
        self.states_: DiscreteStates | None = None
        self.n_sensors_ = 0
        self._row: _RowArrays | None = None  # the arrays T² reads, made at their first use

    @property
    def discrete_columns(self) -> np.ndarray:
        """``(D,)`` int64: the sensors judged by their states (none before :meth:`fit`)."""
        if self.states_ is None:
            return np.zeros(0, dtype=np.int64)
        return self.states_.columns_

    def fit(self, rows: Any, *, calibrate: int = 0) -> RowChecks:
        """Fit on ``(N, S)`` training rows (in their own units); T²'s alarm level comes from
        rows ``calibrate`` on, scored as a stream from the first training row.

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
            t2, _ = self._t2(train, self.start(), terms=False)
            level = float(np.quantile(t2[calibrate:], self.quantile))
            self.pca_threshold_ = level * self.pca_factor
        self._row = None
        return self

    def start(self) -> RowState:
        """A fresh stream: the moving mean at the training mean, no row before."""
        return RowState(mean=np.zeros(self.n_sensors_))

    def _arrays(self) -> _RowArrays:
        if self._row is None:
            self._row = _RowArrays(self)
        return self._row

    def _t2(
        self, rows: np.ndarray, state: RowState, *, terms: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(M,)`` T² of the rows against the moving mean (advancing ``state.mean``), and with
        ``terms`` the ``(M,)`` sensor with the largest term of each."""
        arrays = self._arrays()
        assert arrays.project is not None
        z = (rows - arrays.mean) / arrays.std  # (M, S)
        if self.pca_tau is not None:
            limit = self._step_limit()
            project = None if limit is None else arrays.project
            before, state.mean = moving_means(
                z, self.pca_tau, state.mean, project=project, limit=limit
            )
            z = z - before
        projected = z @ arrays.project  # (M, K): p_k / sqrt(l_k)
        t2: np.ndarray = (projected**2).sum(axis=1)
        if not terms:
            return t2, None
        worst = (z * ((projected / arrays.root) @ arrays.components)).argmax(axis=1)
        return t2, worst

    def _step_limit(self) -> float | None:
        """The T² above which a row's step into the moving mean is shrunk (None: never; also
        while :meth:`fit` sets the alarm level, from the plain moving mean)."""
        if self.pca_bound is None or not math.isfinite(self.pca_threshold_):
            return None
        return self.pca_bound * self.pca_threshold_

    def _checked(
        self, rows: Any, state: RowState | None, *, terms: bool
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """The rows, T² over its alarm level (None without T²), with ``terms`` the sensor with
        the largest term of each, and the discrete sensors' blame (None without them); advances
        ``state`` (a fresh one when None) past the rows."""
        x = np.asarray(rows, dtype=np.float64)
        state = self.start() if state is None else state
        t2 = worst = blame = None
        if self.pca_ is not None and self.pca_threshold_ > 0 and len(x):
            t2, worst = self._t2(x, state, terms=terms)
            t2 = t2 / self.pca_threshold_
        if self.states_ is not None and len(self.states_.columns_):
            blame = self.states_.unseen(x, state.previous)  # (M, D)
        if len(x):
            state.previous = x[-1].copy()
        return x, t2, worst, blame

    def parts(self, rows: Any, state: RowState | None = None) -> np.ndarray:
        """``(M, S)``: each sensor's part of each row's score, in units of the alarm level.

        Args:
            rows: ``(M, S)`` rows in the units of the training rows.
            state: where the stream is (advanced to after these rows), or None for a fresh one.
        """
        x, t2, worst, blame = self._checked(rows, state, terms=True)
        parts = np.zeros(x.shape)
        if t2 is not None:
            parts[np.arange(len(x)), worst] = t2
        if blame is not None:
            columns = self.discrete_columns
            parts[:, columns] = np.where(blame, DISCRETE_SCORE, parts[:, columns])
        return parts

    def scores(self, rows: Any, state: RowState | None = None) -> np.ndarray:
        """``(M,)``: each row's largest part (:meth:`parts`' row maxima, 0 with no check),
        without working out which sensor T² names.

        Args:
            rows: ``(M, S)`` rows in the units of the training rows.
            state: where the stream is (advanced to after these rows), or None for a fresh one.
        """
        x, t2, _, blame = self._checked(rows, state, terms=False)
        scores = np.zeros(len(x)) if t2 is None else t2
        if blame is not None:
            scores = np.where(blame.any(axis=1), np.maximum(scores, DISCRETE_SCORE), scores)
        return scores

    def score_row(self, row: np.ndarray, state: RowState) -> float:
        """One ``(S,)`` row's :meth:`scores`, for a stream (advancing ``state``): the same value
        from plain arrays and a dict of the seen states, with no checks of the input (the caller
        checked it)."""
        arrays = self._arrays()
        score = 0.0
        if arrays.project is not None and self.pca_threshold_ > 0:
            z = (row - arrays.mean) / arrays.std
            if self.pca_tau is not None:
                before = state.mean
                z = z - before
            projected = z @ arrays.project
            t2 = float(projected @ projected)
            if self.pca_tau is not None:
                limit = self._step_limit()
                shrink = 1.0 if limit is None or t2 <= limit else math.sqrt(limit / t2)
                state.mean = before + z * (shrink / self.pca_tau)
            score = t2 / self.pca_threshold_
        if arrays.columns is not None:
            found = arrays.states.get(tuple(row[arrays.columns].tolist()))
            unseen = found is None
            if not unseen and state.previous is not None and arrays.judge_changes:
                key = tuple(state.previous[arrays.columns].tolist())
                before_state = arrays.states.get(key)
                unseen = (
                    before_state is not None
                    and before_state != found
                    and (before_state, found) not in arrays.changes
                )
            if unseen:
                score = max(score, DISCRETE_SCORE)
        state.previous = row.copy()
        return score

    def state_dict(self) -> dict[str, Any]:
        """Plain values and tensors, for ``torch.save(..., weights_only=True)``."""
        return {
            "pca_factor": self.pca_factor,
            "pca_tau": self.pca_tau,
            "pca_bound": self.pca_bound,
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
        factor, tau = state["pca_factor"], state.get("pca_tau")
        checks = cls(
            pca_factor=None if factor is None else float(factor),
            pca_tau=None if tau is None else int(tau),
            pca_bound=state.get("pca_bound"),  # files saved before it: no bound
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
            f"RowChecks(pca_factor={self.pca_factor}, pca_tau={self.pca_tau}, "
            f"pca_bound={self.pca_bound}, "
            f"discrete={self.discrete}, discrete_columns={self.discrete_columns.tolist()})"
        )


class _RowArrays:
    """What T² and :meth:`RowChecks.score_row` read: T²'s maps as matrices, the states as a
    dict of their indices and a set of the changes seen."""

    def __init__(self, checks: RowChecks) -> None:
        self.project: np.ndarray | None = None
        self.mean = self.std = self.root = np.zeros(0)
        self.components = np.zeros((0, 0))
        pca = checks.pca_
        if pca is not None:
            assert pca.components_ is not None and pca.eigenvalues_ is not None
            assert pca.scaler.mean is not None and pca.scaler.std is not None
            self.mean, self.std = pca.scaler.mean, pca.scaler.std
            self.components = pca.components_  # (K, S)
            self.root = np.sqrt(pca.eigenvalues_)  # (K,)
            self.project = pca.components_.T / self.root  # (S, K)
        self.columns: np.ndarray | None = None
        self.states: dict[tuple[float, ...], int] = {}
        self.changes: set[tuple[int, int]] = set()
        self.judge_changes = False
        found = checks.states_
        if found is not None and len(found.columns_):
            self.columns = found.columns_
            self.states = {tuple(state.tolist()): i for i, state in enumerate(found.states_)}
            pairs = zip(*np.nonzero(found.changes_), strict=True)
            self.changes = {(int(i), int(j)) for i, j in pairs}
            self.judge_changes = found.judge_changes_
