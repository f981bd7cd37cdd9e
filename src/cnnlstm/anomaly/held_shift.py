"""Held-shift scores: a level shift stays visible for as long as it is held (pure NumPy).

A next-row predictor (``window_cnnlstm``) sees a step in a sensor when it happens, then learns
to expect the new level: its error is back to normal a few rows after the onset while the fault
goes on. SKAB's valve faults are mostly such held shifts (the flow rate drops and stays down),
so :class:`HeldShift` scores the *level* of each sensor against a slow baseline that stops
following the sensor while the sensor is off it, and
:func:`~cnnlstm.anomaly.combine.combine_scores` puts that score beside the predictor's error
(either can raise the alarm).

Per sensor, all causal, with every statistic from the training rows only:

1. **Cross-sensor residual.** Each standardised sensor minus a ridge regression of it on the
   other sensors of the same row (:func:`~cnnlstm.anomaly.cross_sensor.cross_sensor_weights`),
   in units of its training sd.
   What the plant's shared load explains cancels; what one sensor does on its own remains.
2. **Gate.** A held-shift test assumes a sensor is noise around a level. A residual that wanders
   by itself (lag-1 autocorrelation of at least ``persistence`` on the training rows, e.g. a
   temperature) says nothing by its level, so that sensor is left to the predictor.
3. **Deviation.** The trailing mean of the last ``fast`` residuals minus a slow baseline, an
   exponential moving average with time constant ``tau`` rows that starts at the training level
   (0); the first ``fast - 1`` rows of a stream, before the mean is whole, score 0. Once a
   sensor's deviation is above ``freeze`` (in its training unit) the baseline is frozen, and it
   stays frozen until the deviation is back under ``release * freeze`` (a hysteresis: a noisy
   mean that dips under the freeze level for a row does not let the baseline creep to the held
   level), so a held shift stays visible and slow drift is absorbed; after ``max_freeze``
   frozen rows in a row it follows again until that sensor's freeze ends, so a false alarm
   cannot latch forever.
4. **Unit.** Deviations are divided by their root mean square on the training rows (computed
   with the baseline never frozen, from row ``warmup`` on, once the baseline has settled), or by
   ``floor`` of the sensor's own training sd where that is larger: a sensor tied to others by a
   near-exact relation, or held nearly constant, would otherwise count a move of a few
   hundredths of its sd as many units.

A row's level score is the largest scaled deviation over the sensors that pass the gate.

How the settings were chosen, with the grid and the figures, is in the manual's design notes
(``docs/design-notes.md``, "The held-shift level score").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnnlstm.anomaly.cross_sensor import (
    as_matrix,
    cross_sensor_residuals,
    cross_sensor_weights,
    lag1_autocorrelation,
)

__all__ = [
    "FAST",
    "FLOOR",
    "LEVEL_FACTOR",
    "RELEASE",
    "ROWS_PER_SENSOR",
    "HeldShift",
    "HeldShiftState",
]

LEVEL_FACTOR = 2.0
"""The level threshold: this times the training level scores' ``quantile``."""
FAST = 5
"""Rows of a sensor's trailing mean that :class:`HeldShift` judges against its baseline. 10
until round 4 of the defaults for other machines (the design notes): a shorter mean flags fewer
normal rows next to short events on server telemetry."""
RELEASE = 1.0
"""A frozen baseline follows again once its deviation is under this times the freeze level."""
FLOOR = 0.1
"""The smallest unit of a deviation, in the sensor's own training sds (0: none). Round 7 of the
defaults for other machines (the design notes): on server telemetry 6-11 sensors a machine had
units of 0.0003-0.012 sds, and without the floor flagged moves of a few hundredths of an sd."""

ROWS_PER_SENSOR = 5
"""Fewer training rows a sensor than this, and the cross-sensor fit follows the training rows so
closely that most later rows alarm (the design notes, "Wide files and few training rows"):
:meth:`~cnnlstm.anomaly.detector.AnomalyDetector.fit` warns."""

_FLOOR = 1e-3
_BLOCK = 1024
"""Rows :meth:`HeldShift._run` takes at once while no sensor alarms ..."""
_SUB = 64
"""... its baselines made this many rows at a time (a ``(64, 64)`` matrix of the decay's
powers, none below 0.5 with ``tau=100``)."""


def _check_int(name: str, value: object, *, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        kind = {0: "a non-negative int", 1: "a positive int"}.get(least, f"an int >= {least}")
        raise ValueError(f"{name} has to be {kind}, but got {value!r}")


@dataclass
class HeldShiftState:
    """Where a stream is: the last ``fast`` residuals, the baselines, the frozen-row counts,
    which sensors' baselines were released (they follow until their alarm ends), and the
    fitted constants a row needs: the map to its scaled cross-sensor residuals
    (``row @ project + offset``), each sensor's freeze level in residual units (``limit``), the
    level a frozen baseline stays frozen above (``unfreeze``) and
    the factor from a deviation to its score (``weight``, 0 for sensors the gate leaves out).

    The residuals (a ring: row ``slot`` is overwritten next) and the baseline are the rows of
    one array, ``history`` (``recent`` and ``baseline`` are views of it), so that one product
    with ``mix[slot]`` gives both the trailing mean minus the baseline and the baseline moved
    toward the newest residual. The other arrays are scratch space, so a row allocates nothing.
    """

    history: np.ndarray  # (fast + 1, S): the ring of residuals, then the baseline
    frozen: np.ndarray
    released: np.ndarray
    mix: np.ndarray  # (fast, 2, fast + 1): for each ring slot of the newest residual
    project: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    offset: np.ndarray = field(default_factory=lambda: np.empty(0))
    limit: np.ndarray = field(default_factory=lambda: np.empty(0))
    unfreeze: np.ndarray = field(default_factory=lambda: np.empty(0))
    weight: np.ndarray = field(default_factory=lambda: np.empty(0))
    rows: int = 0
    slot: int = 0
    quiet: bool = True  # no sensor frozen or released
    recent: np.ndarray = field(init=False)  # (fast, S), a view of history
    baseline: np.ndarray = field(init=False)  # (S,), a view of history
    slots: list[np.ndarray] = field(init=False)  # the ring's rows, views of history
    mixes: list[np.ndarray] = field(init=False)  # mix[k] for each slot k, views
    mixed: np.ndarray = field(init=False)  # (2, S): mean - baseline, the moved baseline
    deviation: np.ndarray = field(init=False)  # (S,), a view of mixed
    moved: np.ndarray = field(init=False)  # (S,), a view of mixed
    size: np.ndarray = field(init=False)  # (S,): the absolute deviation
    alarm: np.ndarray = field(init=False)  # (S,) bool
    scored: np.ndarray = field(init=False)  # (S,): size * weight

    def __post_init__(self) -> None:
        n = self.history.shape[1]
        self.recent, self.baseline = self.history[:-1], self.history[-1]
        self.slots, self.mixes = list(self.recent), list(self.mix)
        self.mixed = np.zeros((2, n))
        self.deviation, self.moved = self.mixed[0], self.mixed[1]
        self.size, self.scored = np.zeros(n), np.zeros(n)
        self.alarm = np.zeros(n, dtype=bool)


class HeldShift:
    """Held-shift level scores of sensor rows (see the module docstring).

    Args:
        fast: rows of the trailing mean.
        tau: the baseline's time constant in rows (its weight per row is ``1 / tau``).
        freeze: a sensor's baseline stops once its deviation is above this many units.
        release: ... and stays stopped until the deviation is back under ``release * freeze``
            units, in ``(0, 1]`` (1: it follows on any row under ``freeze``).
        max_freeze: after this many frozen rows in a row the baseline follows again (until the
            deviation is back under ``release * freeze``).
        persistence: sensors whose training residual has a lag-1 autocorrelation at least this
            are not scored.
        ridge: the cross-sensor regression's penalty.
        warmup: training rows the baseline settles over before the unit is measured (at most
            half the training rows).
        floor: the smallest unit of a sensor's deviation, in that sensor's own training sds
            (the standardised rows' units); 0: none.

    Attributes:
        weights_: ``(S + 1, S)`` :func:`cross_sensor_weights`.
        residual_scale_: ``(S,)`` the training residuals' sd.
        active_: ``(S,)`` bool, the sensors that pass the gate.
        deviation_scale_: ``(S,)`` the unit of each sensor's deviation.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> held = HeldShift().fit(rng.normal(size=(400, 3)))
        >>> rows = rng.normal(size=(200, 3))
        >>> rows[100:, 0] -= 4.0  # a held shift of one sensor
        >>> scores = held.score(rows)
        >>> scores.shape, bool(scores[150:].min() > 2 * scores[:100].max())
        ((200,), True)
    """

    def __init__(
        self,
        *,
        fast: int = FAST,
        tau: float = 100.0,
        freeze: float = 5.0,
        release: float = RELEASE,
        max_freeze: int = 500,
        persistence: float = 0.5,
        ridge: float = 1.0,
        warmup: int = 100,
        floor: float = FLOOR,
    ) -> None:
        _check_int("fast", fast, least=1)
        _check_int("max_freeze", max_freeze, least=1)
        _check_int("warmup", warmup, least=0)
        if not tau >= 1:
            raise ValueError(f"tau has to be at least 1 row, but got {tau!r}")
        if not freeze > 0:
            raise ValueError(f"freeze has to be positive, but got {freeze!r}")
        if not 0 < release <= 1:
            raise ValueError(f"release has to be in (0, 1], but got {release!r}")
        if not -1 <= persistence <= 1:
            raise ValueError(f"persistence has to be in [-1, 1], but got {persistence!r}")
        if not ridge >= 0:
            raise ValueError(f"ridge has to be >= 0, but got {ridge!r}")
        if not 0 <= floor < math.inf:
            raise ValueError(f"floor has to be a finite number >= 0, but got {floor!r}")
        self.fast = fast
        self.tau = float(tau)
        self.freeze = float(freeze)
        self.release = float(release)
        self.max_freeze = max_freeze
        self.persistence = float(persistence)
        self.ridge = float(ridge)
        self.warmup = warmup
        self.floor = float(floor)
        self.weights_ = np.empty((0, 0))
        self.residual_scale_ = np.empty(0)
        self.active_ = np.empty(0, dtype=bool)
        self.deviation_scale_ = np.empty(0)
        self._powers: np.ndarray | None = None
        self._steps: np.ndarray | None = None

    @property
    def n_sensors(self) -> int:
        """Sensors it was fitted on (0 before :meth:`fit`)."""
        return int(self.residual_scale_.shape[0])

    def fit(self, rows: np.ndarray, *, leave_out: Sequence[int] | np.ndarray = ()) -> HeldShift:
        """Learn the regression, the gate and the units from ``(N, S)`` training rows.

        Args:
            rows: ``(N, S)`` standardised training rows.
            leave_out: sensors never scored by their level, whatever the gate says (discrete
                signals, judged by their states: :mod:`cnnlstm.anomaly.discrete`); they still
                help predict the others.

        Raises:
            ValueError: not ``(N, S)`` with ``N >= 2``, or values that are not finite.
        """
        x = as_matrix(rows, "rows")
        if x.shape[0] < 2 or not np.isfinite(x).all():
            raise ValueError(
                f"rows has to be at least 2 finite rows (N, S), but got shape {x.shape}"
                f"{'' if np.isfinite(x).all() else ' with NaN or inf values'}"
            )
        self.weights_ = cross_sensor_weights(x, ridge=self.ridge)
        residual = cross_sensor_residuals(x, self.weights_)  # (N, S)
        spread = residual.std(axis=0)
        self.residual_scale_ = np.where(spread > 0, spread, 1.0)
        self.active_ = lag1_autocorrelation(residual) < self.persistence
        self.active_[np.asarray(leave_out, dtype=np.int64)] = False
        self.deviation_scale_ = np.ones(x.shape[1])
        free = self._deviations(x, frozen=False)  # (N, S) in residual units
        settled = free[min(self.warmup, x.shape[0] // 2) :]
        unit = np.maximum(np.sqrt((settled**2).mean(axis=0)), _FLOOR)  # in residual units
        self.deviation_scale_ = np.maximum(unit, self.floor / self.residual_scale_)
        return self

    def _check_fitted(self) -> None:
        if self.n_sensors == 0:
            raise ValueError("HeldShift has to be fitted first (call fit), but it is not")

    def start(self) -> HeldShiftState:
        """A fresh stream state."""
        self._check_fitted()
        n, fast = self.n_sensors, self.fast
        # residual / scale = (x - (x @ W + b)) / scale = x @ project + offset: one product a row
        project = (np.eye(n) - self.weights_[:-1]) / self.residual_scale_  # (S, S)
        offset = -self.weights_[-1] / self.residual_scale_  # (S,)
        # mix[k] @ history, with the newest residual r in ring slot k and the baseline b last:
        # [sum(ring) / fast - b, b + (r - b) / tau] (the latter as r / tau + b (1 - 1 / tau))
        mix = np.zeros((fast, 2, fast + 1))
        mix[:, 0, :fast] = 1.0 / fast
        mix[:, 0, fast] = -1.0
        mix[np.arange(fast), 1, np.arange(fast)] = 1.0 / self.tau
        mix[:, 1, fast] = 1.0 - 1.0 / self.tau
        return HeldShiftState(
            history=np.zeros((fast + 1, n)),  # the baseline starts at the training level, 0
            frozen=np.zeros(n, dtype=np.int64),
            released=np.zeros(n, dtype=bool),
            mix=mix,
            project=project,
            offset=offset,
            limit=self.freeze * self.deviation_scale_,
            unfreeze=self.release * self.freeze * self.deviation_scale_,
            weight=self._weight(),
        )

    def _step(self, state: HeldShiftState, residual: np.ndarray, frozen: bool) -> np.ndarray:
        """Advance ``state`` by one ``(S,)`` residual; returns its ``(S,)`` absolute deviations
        in residual units (0.0 until ``fast`` rows are in the trailing mean; the baseline
        starts at the training level, 0). The result is ``state``'s buffer: copy it to keep it.
        """
        state.slots[state.slot][...] = residual
        return self._advance(state, frozen)

    def _advance(self, state: HeldShiftState, frozen: bool) -> np.ndarray:
        """:meth:`_step` once the newest residual is in ``state.slots[state.slot]``."""
        np.dot(state.mixes[state.slot], state.history, out=state.mixed)  # (2, S)
        state.slot = (state.slot + 1) % self.fast
        state.rows += 1
        if state.rows < self.fast:  # the trailing mean is not whole yet: follow, score 0
            state.baseline[...] = state.moved
            state.size[...] = 0.0
            return state.size
        size = state.size
        np.abs(state.deviation, out=size)  # (S,)
        if not frozen:
            state.baseline[...] = state.moved
            return size
        alarm = state.alarm
        np.greater(size, state.limit, out=alarm)  # above `freeze` units
        if not state.quiet:  # a frozen baseline stays frozen above `release * freeze` units
            alarm |= (state.frozen > 0) & (size > state.unfreeze)
        if True not in alarm.tolist():  # the usual row: every baseline follows, counts reset
            if not state.quiet:
                state.frozen[...] = 0
                state.released[...] = False
                state.quiet = True
            state.baseline[...] = state.moved
            return size
        state.quiet = False
        state.frozen += 1
        state.frozen *= alarm  # alarming rows in a row
        np.logical_or(state.released, state.frozen > self.max_freeze, out=state.released)
        state.released &= alarm  # a released baseline follows until its alarm ends
        np.copyto(state.baseline, state.moved, where=~alarm | state.released)  # frozen: stay
        return size

    def _weight(self) -> np.ndarray:
        """``(S,)``: a deviation's scale in units, 0 for the sensors the gate leaves out."""
        weight: np.ndarray = self.active_ / self.deviation_scale_
        return weight

    def _deviations(self, rows: np.ndarray, *, frozen: bool) -> np.ndarray:
        return self._run(self.start(), rows, frozen)

    def _run(self, state: HeldShiftState, rows: np.ndarray, frozen: bool) -> np.ndarray:
        """Advance ``state`` over ``(N, S)`` rows; their ``(N, S)`` absolute deviations.

        While no sensor alarms (the usual rows) every baseline follows its sensor, a linear
        recursion: those rows are done a block at a time (:meth:`_quiet_rows`); a row that
        alarms, and the rows after it until none does, go through :meth:`_step` one by one, as
        :meth:`update` takes them. The two agree to rounding (the sums are made in another
        order)."""
        residuals: np.ndarray = rows @ state.project + state.offset  # (N, S), training-sd units
        out = np.empty_like(residuals)
        t = 0
        while t < len(residuals):
            if state.quiet and state.rows + 1 >= self.fast:
                done = self._quiet_rows(state, residuals[t : t + _BLOCK], out[t:], frozen)
                t += done
                if done:
                    continue
            out[t] = self._step(state, residuals[t], frozen)
            t += 1
        return out

    def _decays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(decay ** k for k <= 64, P)``: the baseline's decay ``1 - 1 / tau`` to the powers
        :meth:`_quiet_rows` needs, and ``P[i, j] = decay ** (i - j)`` below the diagonal (0
        above), ``(64, 64)``; made once."""
        if self._powers is None or self._steps is None:
            decay = 1.0 - 1.0 / self.tau
            self._powers = decay ** np.arange(_SUB + 1)  # (65,)
            lags = np.subtract.outer(np.arange(_SUB), np.arange(_SUB))  # (64, 64)
            self._steps = np.where(lags >= 0, self._powers[np.clip(lags, 0, _SUB)], 0.0)
        return self._powers, self._steps

    def _quiet_rows(
        self, state: HeldShiftState, residuals: np.ndarray, out: np.ndarray, frozen: bool
    ) -> int:
        """Advance a quiet ``state`` (no sensor frozen, the trailing mean whole) over the first
        rows of ``residuals`` ``(m, S)`` on which no sensor alarms, writing their absolute
        deviations to ``out``; returns how many (0 when the first row alarms)."""
        fast, m = self.fast, len(residuals)
        order = (state.slot + np.arange(fast)) % fast  # the ring's rows, oldest first
        recent = np.concatenate([state.recent[order], residuals])  # (fast + m, S)
        windows = sliding_window_view(recent[1:], fast, axis=0)  # (m, S, fast)
        means = windows.sum(axis=-1) / fast  # (m, S): each row's trailing mean
        # b[i] = decay * b[i - 1] + r[i] / tau, a block of rows at once: b = P @ (r / tau) +
        # decay ** (i + 1) * b[-1], with P[i, j] = decay ** (i - j) below the diagonal
        powers, steps = self._decays()
        baselines = np.empty_like(residuals)  # (m, S): the baseline after each row
        before = state.baseline.copy()  # (S,): the baseline before the block's first row
        for first in range(0, m, _SUB):
            part = slice(first, min(first + _SUB, m))
            k = part.stop - first
            moved = steps[:k, :k] @ (residuals[part] / self.tau)  # (k, S)
            moved += powers[1 : k + 1, None] * before
            baselines[part] = moved
            before = moved[-1]
        previous = np.concatenate([state.baseline[None], baselines[:-1]])  # (m, S)
        size = np.abs(means - previous)  # (m, S)
        done = m
        if frozen:
            alarms = np.flatnonzero((size > state.limit).any(axis=1))
            done = int(alarms[0]) if len(alarms) else m
        if not done:
            return 0
        out[:done] = size[:done]
        kept = min(done, fast)  # the ring gets the last `fast` residuals, each in its slot
        rows = np.arange(done - kept, done)
        state.recent[(state.slot + rows) % fast] = residuals[rows]
        state.slot = (state.slot + done) % fast
        state.baseline[...] = baselines[done - 1]
        state.rows += done
        return done

    def advance(self, state: HeldShiftState, rows: np.ndarray) -> np.ndarray:
        """The next ``(N, S)`` rows of a stream, from ``state`` (which moves past them): their
        ``(N, S)`` deviations as :meth:`deviations` gives them, so a stream cut into chunks
        scores as it does whole.

        Example:
            >>> rng = np.random.default_rng(0)
            >>> held = HeldShift().fit(rng.normal(size=(300, 3)))
            >>> rows = rng.normal(size=(50, 3))
            >>> state = held.start()
            >>> parts = [held.advance(state, rows[:7]), held.advance(state, rows[7:])]
            >>> bool(np.allclose(np.concatenate(parts), held.deviations(rows)))
            True
        """
        x = self._check_rows(rows)
        scaled: np.ndarray = self._run(state, x, True) * self._weight()
        return scaled

    def _check_rows(self, rows: Any) -> np.ndarray:
        self._check_fitted()
        x = as_matrix(rows, "rows")
        if x.shape[1] != self.n_sensors:
            raise ValueError(
                f"rows has to have the {self.n_sensors} sensors it was fitted on, but got "
                f"{x.shape[1]}"
            )
        return x

    def deviations(self, rows: np.ndarray) -> np.ndarray:
        """``(N, S)`` rows from a fresh state -> ``(N, S)`` absolute deviations in units, 0 for
        sensors the gate leaves out."""
        x = self._check_rows(rows)
        scaled: np.ndarray = self._deviations(x, frozen=True) * self._weight()
        return scaled

    def score(self, rows: np.ndarray) -> np.ndarray:
        """``(N, S)`` rows from a fresh state -> ``(N,)`` level scores (0 with no sensor scored)."""
        deviations = self.deviations(rows)
        if deviations.shape[1] == 0:
            return np.zeros(len(deviations))
        return deviations.max(axis=1)  # type: ignore[no-any-return]

    def update(self, state: HeldShiftState, row: np.ndarray) -> float:
        """Score one ``(S,)`` row of a stream, advancing ``state``; equals :meth:`score`."""
        residual = state.slots[state.slot]  # (S,), in training-sd units, over the oldest
        np.dot(np.asarray(row, dtype=np.float64), state.project, out=residual)
        np.add(residual, state.offset, out=residual)
        size = self._advance(state, True)
        if state.rows < self.fast:
            return 0.0
        scored = np.multiply(size, state.weight, out=state.scored)  # (S,), 0 where not scored
        values = scored.tolist()  # Python's max of a few floats is cheaper than numpy's
        if not values:
            return 0.0
        if math.isnan(sum(values)):  # numpy's max gives NaN for any NaN; Python's may not
            return float(scored.max())
        return float(max(values))

    def state_dict(self) -> dict[str, Any]:
        """Settings and fitted arrays as plain values (``torch.save`` with weights_only reads
        them back once the arrays are lists)."""
        self._check_fitted()
        return {
            "fast": self.fast,
            "tau": self.tau,
            "freeze": self.freeze,
            "release": self.release,
            "max_freeze": self.max_freeze,
            "persistence": self.persistence,
            "ridge": self.ridge,
            "warmup": self.warmup,
            "floor": self.floor,
            "weights": self.weights_.tolist(),
            "residual_scale": self.residual_scale_.tolist(),
            "active": self.active_.tolist(),
            "deviation_scale": self.deviation_scale_.tolist(),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> HeldShift:
        """The :class:`HeldShift` that :meth:`state_dict` described."""
        held = cls(
            fast=int(state["fast"]),
            tau=float(state["tau"]),
            freeze=float(state["freeze"]),
            release=float(state.get("release", 1.0)),  # saved before the hysteresis: none
            max_freeze=int(state["max_freeze"]),
            persistence=float(state["persistence"]),
            ridge=float(state["ridge"]),
            warmup=int(state["warmup"]),
            floor=float(state.get("floor", 0.0)),  # saved before the floor: none (its units
            # are fitted arrays, kept as they were)
        )
        held.weights_ = np.asarray(state["weights"], dtype=np.float64)
        held.residual_scale_ = np.asarray(state["residual_scale"], dtype=np.float64)
        held.active_ = np.asarray(state["active"], dtype=bool)
        held.deviation_scale_ = np.asarray(state["deviation_scale"], dtype=np.float64)
        if not math.isfinite(float(held.deviation_scale_.sum())):
            raise ValueError("state has to hold finite deviation scales, but got NaN or inf")
        return held

    def __repr__(self) -> str:
        fitted = f"active={int(self.active_.sum())}/{self.n_sensors}" if self.n_sensors else ""
        return (
            f"HeldShift(fast={self.fast}, tau={self.tau:g}, freeze={self.freeze:g}, "
            f"release={self.release:g}, floor={self.floor:g}, "
            f"persistence={self.persistence:g}{', ' + fitted if fitted else ''})"
        )
