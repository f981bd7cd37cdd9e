"""Discrete signals judged by their states: a PLC flag, a mode or a counter is not noise.

A sensor that takes a few whole values (a PLC signal that is 0 or 1, a machine step, a
counter) is not a level with noise around it: standardised and fed to a predictor, its every
switch is a big error, and a state the machine never took in training looks no worse than a
usual switch. :class:`DiscreteStates` finds such sensors in the training rows and judges them
together, as the machine's state: the tuple of their values in a row. A row is unseen when its
state never occurred in training (vacuum on while the gripper is open: each flag took both
values in training, never that pair), or when the state changes from one seen state to another
in a way training never did (a step out of sequence).

A sensor is discrete when its training rows take 2 to ``max_states`` distinct values, at most
half as many as the rows, all whole numbers (0/1, a step, a mode, a count). A quantised
analogue sensor (SKAB's pressure on a grid of 0.33 bar) takes a few values too, and so does a
server metric scaled to [0, 1] that sat at 0.5 in training and later wanders: not whole
numbers, so they stay with the model and the level score. A constant sensor is left to the
flat-sensor rules. Pure NumPy, causal: a row's verdict needs the row and the one
before it, so a stream scored in chunks gives the verdicts of the whole stream when each chunk
is passed the last row of the chunk before (``previous``).

Example:
    >>> gripper = [0, 0, 1, 1, 1, 0] * 4  # closes, holds, opens
    >>> vacuum = [0, 0, 0, 1, 1, 0] * 4  # on only while the gripper is closed
    >>> train = np.stack([gripper, vacuum, np.linspace(0.0, 1.0, 24)], axis=1).astype(float)
    >>> states = DiscreteStates().fit(train)
    >>> states.columns_.tolist()  # the third sensor takes 24 values: analogue
    [0, 1]
    >>> states.unseen(np.array([[0.0, 0.0, 0.5], [0.0, 1.0, 0.5]])).tolist()  # vacuum, open
    [[False, False], [False, True]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MAX_JOINT_STATES", "MAX_NOVELTY", "MAX_STATES", "DiscreteStates", "discrete_columns"]

MAX_STATES = 16
"""The most distinct training values a discrete sensor takes."""
MAX_NOVELTY = 0.005
"""A check is made only when training says it would rarely alarm on normal rows: the states
(or the changes) seen exactly once in the training rows, per training row, estimate how often a
normal row shows one never seen (Good-Turing), and that has to be at most this. Independent
signals that switch at random (valves of separate lines, a bouncing contact) fail it, and are
judged as analogue sensors instead; a machine's sequence, that repeats, passes."""
MAX_JOINT_STATES = 4096
"""More joint states than this in training, and the states are not judged either."""


def discrete_columns(rows: np.ndarray, *, max_states: int = MAX_STATES) -> np.ndarray:
    """``(D,)`` int64: the columns of ``(N, S)`` training rows that are discrete signals: 2 to
    ``max_states`` distinct values (at most ``N // 2``), all whole numbers."""
    found = []
    for column in range(rows.shape[1]):
        values = np.unique(rows[:, column])
        if not 2 <= len(values) <= min(max_states, len(rows) // 2):
            continue
        if bool(np.all(values == np.round(values))):
            found.append(column)
    return np.asarray(found, dtype=np.int64)


class DiscreteStates:
    """The states of the discrete sensors and the changes between them, as training shows them.

    Args:
        max_states: the most distinct training values a discrete sensor takes.

    Attributes:
        columns_: ``(D,)`` int64, the indices of the discrete sensors among the fitted columns.
        states_: ``(K, D)`` float64, the states (rows of the discrete sensors) training took.
        changes_: ``(K, K)`` bool, ``[i, j]`` True when training went from state ``i`` to state
            ``j != i`` between consecutive rows.
        judge_changes_: whether changes are judged (:data:`MAX_NOVELTY`); when the states fail
            it too, no sensor is discrete (:attr:`columns_` is empty).
        n_sensors_: the number of fitted sensors.
    """

    def __init__(self, *, max_states: int = MAX_STATES) -> None:
        if isinstance(max_states, bool) or not isinstance(max_states, int) or max_states < 2:
            raise ValueError(f"max_states has to be an int >= 2, but got {max_states!r}")
        self.max_states = max_states
        self.columns_: np.ndarray = np.zeros(0, dtype=np.int64)
        self.states_: np.ndarray = np.zeros((0, 0))
        self.changes_: np.ndarray = np.zeros((0, 0), dtype=bool)
        self.judge_changes_ = True
        self.n_sensors_ = 0

    def fit(self, rows: Any) -> DiscreteStates:
        """Find the discrete sensors of ``(N, S)`` training rows, their states and changes.

        Returns:
            ``self``.

        Raises:
            ValueError: ``rows`` is not a 2-D array.
        """
        train = _matrix(rows, "DiscreteStates.fit")
        self.n_sensors_ = train.shape[1]
        self.columns_ = discrete_columns(train, max_states=self.max_states)
        part = train[:, self.columns_]  # (N, D)
        self.states_, codes = np.unique(part, axis=0, return_inverse=True)
        codes = codes.reshape(-1)
        count = len(self.states_)
        once = int((np.bincount(codes) == 1).sum()) if len(codes) else 0
        if len(self.columns_) == 0 or count > MAX_JOINT_STATES or once > MAX_NOVELTY * len(train):
            return self._nothing_discrete()
        moved = codes[:-1] != codes[1:]
        _, seen = np.unique(codes[:-1][moved] * count + codes[1:][moved], return_counts=True)
        self.judge_changes_ = int((seen == 1).sum()) <= MAX_NOVELTY * len(train)
        self.changes_ = np.zeros((count, count), dtype=bool)
        self.changes_[codes[:-1], codes[1:]] = True
        np.fill_diagonal(self.changes_, False)
        return self

    def _nothing_discrete(self) -> DiscreteStates:
        """No check would hold: the sensors stay analogue."""
        self.columns_ = np.zeros(0, dtype=np.int64)
        self.states_ = np.zeros((0, 0))
        self.changes_ = np.zeros((0, 0), dtype=bool)
        self.judge_changes_ = False
        return self

    def _codes(self, part: np.ndarray) -> np.ndarray:
        """``(M, D)`` -> ``(M,)`` the index of each row's state in :attr:`states_`, -1 unseen."""
        if len(self.states_) == 0:
            return np.full(len(part), -1)
        found, inverse = np.unique(part, axis=0, return_inverse=True)  # few distinct rows
        where = np.full(len(found), -1)
        for i, state in enumerate(found):
            match = np.flatnonzero((self.states_ == state).all(axis=1))
            if len(match):
                where[i] = match[0]
        codes: np.ndarray = where[inverse.reshape(-1)]
        return codes

    def unseen(self, rows: Any, previous: Any | None = None) -> np.ndarray:
        """``(M, D)`` bool: for each row, the discrete sensors to blame for an unseen state
        (those that differ from the nearest seen state) or an unseen change between two seen
        states (those that changed); all False where the row is as training showed. A change
        away from an unseen state is not judged again.

        Args:
            rows: ``(M, S)`` rows of all the fitted sensors.
            previous: ``(S,)`` the row before ``rows[0]`` in the stream, or None at its start
                (the first row is then judged by its state alone).

        Raises:
            ValueError: another number of sensors than fitted.
        """
        matrix = _matrix(rows, "DiscreteStates.unseen")
        if matrix.shape[1] != self.n_sensors_:
            raise ValueError(
                f"DiscreteStates.unseen: fitted on {self.n_sensors_} sensors, but got rows of "
                f"shape {matrix.shape}"
            )
        blame = np.zeros((len(matrix), len(self.columns_)), dtype=bool)
        if len(self.columns_) == 0 or len(matrix) == 0:
            return blame
        part = matrix[:, self.columns_]  # (M, D)
        if previous is not None:
            before = np.asarray(previous, dtype=np.float64)[self.columns_][None, :]
            part = np.concatenate([before, part])
        codes = self._codes(part)
        lead = len(part) - len(matrix)  # 1 with a previous row
        new = codes[lead:] < 0
        for state in np.unique(part[lead:][new], axis=0):  # blame what differs from the nearest
            differ = self.states_ != state  # (K, D)
            nearest = differ[int(differ.sum(axis=1).argmin())]
            blame[np.flatnonzero(new & (part[lead:] == state).all(axis=1))] = nearest
        if not self.judge_changes_:
            return blame
        moved = (codes[1:] >= 0) & (codes[:-1] >= 0) & (codes[1:] != codes[:-1])
        odd = np.zeros_like(moved)
        odd[moved] = ~self.changes_[codes[:-1][moved], codes[1:][moved]]
        # the changes into part[1:]: every row with a previous row, else rows 1 on
        blame[len(matrix) - len(odd) :] |= odd[:, None] & (part[1:] != part[:-1])
        return blame

    def state_dict(self) -> dict[str, Any]:
        """Plain values (lists), for ``torch.save(..., weights_only=True)``."""
        return {
            "max_states": self.max_states,
            "n_sensors": self.n_sensors_,
            "columns": self.columns_.tolist(),
            "states": self.states_.tolist(),
            "changes": self.changes_.tolist(),
            "judge_changes": self.judge_changes_,
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> DiscreteStates:
        """The :class:`DiscreteStates` that :meth:`state_dict` described."""
        fitted = cls(max_states=int(state["max_states"]))
        fitted.n_sensors_ = int(state["n_sensors"])
        fitted.columns_ = np.asarray(state["columns"], dtype=np.int64)
        count = len(state["states"])
        fitted.states_ = np.asarray(state["states"], dtype=np.float64).reshape(
            count, len(fitted.columns_)
        )
        fitted.changes_ = np.asarray(state["changes"], dtype=bool).reshape(count, count)
        fitted.judge_changes_ = bool(state.get("judge_changes", True))
        return fitted

    def __repr__(self) -> str:
        return (
            f"DiscreteStates(max_states={self.max_states}, discrete={self.columns_.tolist()}, "
            f"states={len(self.states_)})"
        )


def _matrix(rows: Any, who: str) -> np.ndarray:
    matrix: np.ndarray = np.asarray(rows, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"{who}: rows have to be (rows, sensors), but got shape {matrix.shape}")
    return matrix
