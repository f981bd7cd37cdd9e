"""Discrete signals judged by their states: a PLC flag, a counter or a setpoint is not noise.

A sensor that takes a few values (a PLC state that is 0 or 1, a mode, a setpoint) is not a
level with noise around it: standardised and fed to a predictor, its every switch is a big
error, so its scaled errors set a threshold that hides faults in the analogue sensors, and a
state it never took in training looks no worse than a usual switch. :class:`DiscreteStates`
finds such sensors in the training rows (2 to ``max_states`` distinct values) and judges each
row of them by what training saw: a value never taken there, or a change from one value to
another that never happened there (``0 -> 2`` when training only went ``0 -> 1 -> 2``), is
unseen. A constant sensor is not discrete (the detector's flat-sensor rules judge it).
Pure NumPy, causal: a row's verdict needs the row and the one before it, so a stream
scored in chunks gives the verdicts of the whole stream when each chunk is passed the last row
of the chunk before (``previous``).

Example:
    >>> cycle = [0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0, 1.0]  # 0 -> 1 -> 2 -> 0 ...
    >>> train = np.stack([cycle, np.linspace(0.0, 1.0, 8)], axis=1)
    >>> states = DiscreteStates().fit(train)
    >>> states.columns_.tolist()  # column 1 takes 8 values in 8 rows: not discrete
    [0]
    >>> states.unseen(np.array([[0.0, 5.0], [2.0, 5.0], [3.0, 5.0]])).ravel().tolist()
    [False, True, True]
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MAX_STATES", "DiscreteStates"]

MAX_STATES = 16
"""A sensor with at most this many distinct values in the training rows (and at least two, and
at most half as many as the rows) is judged by its states."""


class DiscreteStates:
    """The states and state changes of the discrete sensors, as the training rows show them.

    Args:
        max_states: the most distinct training values a discrete sensor takes.

    Attributes:
        columns_: ``(D,)`` int64, the indices of the discrete sensors among the fitted columns.
        states_: one sorted ``(K,)`` float64 array per discrete sensor: the values it took.
        changes_: one ``(K, K)`` bool array per discrete sensor: ``[i, j]`` is True when training
            went from ``states_[i]`` to ``states_[j]`` (``i != j``) between consecutive rows.
    """

    def __init__(self, *, max_states: int = MAX_STATES) -> None:
        if isinstance(max_states, bool) or not isinstance(max_states, int) or max_states < 2:
            raise ValueError(f"max_states has to be an int >= 2, but got {max_states!r}")
        self.max_states = max_states
        self.columns_: np.ndarray = np.zeros(0, dtype=np.int64)
        self.states_: list[np.ndarray] = []
        self.changes_: list[np.ndarray] = []
        self.n_sensors_ = 0

    def fit(self, rows: Any) -> DiscreteStates:
        """Find the discrete sensors of ``(N, S)`` training rows and the states they took.

        Returns:
            ``self``.

        Raises:
            ValueError: ``rows`` is not a 2-D array.
        """
        train = _matrix(rows, "DiscreteStates.fit")
        self.n_sensors_ = train.shape[1]
        columns, states, changes = [], [], []
        for column in range(train.shape[1]):
            values = np.unique(train[:, column])
            if not 2 <= len(values) <= min(self.max_states, len(train) // 2):
                continue
            codes = np.searchsorted(values, train[:, column])
            seen = np.zeros((len(values), len(values)), dtype=bool)
            seen[codes[:-1], codes[1:]] = True
            np.fill_diagonal(seen, False)
            columns.append(column)
            states.append(values)
            changes.append(seen)
        self.columns_ = np.asarray(columns, dtype=np.int64)
        self.states_ = states
        self.changes_ = changes
        return self

    def unseen(self, rows: Any, previous: Any | None = None) -> np.ndarray:
        """``(M, D)`` bool: True where a discrete sensor takes a value the training rows never
        showed, or changes between two values they showed in a way they never did (a change
        away from an unseen value is not judged again).

        Args:
            rows: ``(M, S)`` rows of all the fitted sensors.
            previous: ``(S,)`` the row before ``rows[0]`` in the stream, or None at its start
                (the first row is then judged by its states alone).

        Raises:
            ValueError: another number of sensors than fitted.
        """
        matrix = _matrix(rows, "DiscreteStates.unseen")
        if matrix.shape[1] != self.n_sensors_:
            raise ValueError(
                f"DiscreteStates.unseen: fitted on {self.n_sensors_} sensors, but got rows of "
                f"shape {matrix.shape}"
            )
        before = None if previous is None else np.asarray(previous, dtype=np.float64)
        verdict = np.zeros((len(matrix), len(self.columns_)), dtype=bool)
        for k, column in enumerate(self.columns_):
            values, seen = self.states_[k], self.changes_[k]
            x = matrix[:, column]
            codes = np.clip(np.searchsorted(values, x), 0, len(values) - 1)
            known = values[codes] == x
            verdict[:, k] = ~known
            if before is not None:
                x = np.concatenate([before[column : column + 1], x])
                codes = np.clip(np.searchsorted(values, x), 0, len(values) - 1)
                known = values[codes] == x
            moved = x[1:] != x[:-1]
            both = known[1:] & known[:-1]
            change = ~seen[codes[:-1], codes[1:]]
            # the changes into x[1:]: every row with a previous row, else rows 1 on
            verdict[len(matrix) - len(moved) :, k] |= moved & both & change
        return verdict

    def state_dict(self) -> dict[str, Any]:
        """Plain values (lists), for ``torch.save(..., weights_only=True)``."""
        return {
            "max_states": self.max_states,
            "n_sensors": self.n_sensors_,
            "columns": self.columns_.tolist(),
            "states": [values.tolist() for values in self.states_],
            "changes": [seen.tolist() for seen in self.changes_],
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> DiscreteStates:
        """The :class:`DiscreteStates` that :meth:`state_dict` described."""
        fitted = cls(max_states=int(state["max_states"]))
        fitted.n_sensors_ = int(state["n_sensors"])
        fitted.columns_ = np.asarray(state["columns"], dtype=np.int64)
        fitted.states_ = [np.asarray(v, dtype=np.float64) for v in state["states"]]
        fitted.changes_ = [
            np.asarray(seen, dtype=bool).reshape(len(values), len(values))
            for seen, values in zip(state["changes"], fitted.states_, strict=True)
        ]
        return fitted

    def __repr__(self) -> str:
        return f"DiscreteStates(max_states={self.max_states}, discrete={self.columns_.tolist()})"


def _matrix(rows: Any, who: str) -> np.ndarray:
    matrix: np.ndarray = np.asarray(rows, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"{who}: rows have to be (rows, sensors), but got shape {matrix.shape}")
    return matrix
