"""Discrete signals judged by their joint states, against a walk over the rows with Python sets."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cnnlstm.anomaly.discrete import MAX_NOVELTY, MAX_STATES, DiscreteStates

SMD = Path(__file__).resolve().parents[3] / "shared" / "data" / "smd"
SKAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "skab"


def _columns(train: np.ndarray) -> list[int]:
    found = []
    for c in range(train.shape[1]):
        values = set(train[:, c].tolist())
        whole = all(float(v).is_integer() for v in values)
        if 2 <= len(values) <= min(MAX_STATES, len(train) // 2) and whole:
            found.append(c)
    return found


def _reference(train: np.ndarray, rows: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """The blame the obvious way: tuples of the discrete columns, sets of them and of changes."""
    columns = _columns(train)
    states = [tuple(row) for row in train[:, columns].tolist()]
    seen = sorted(set(states))
    moves = Counter((a, b) for a, b in itertools.pairwise(states) if a != b)
    changes = set(moves)
    once = sum(n == 1 for n in Counter(states).values())
    if not columns or once > MAX_NOVELTY * len(train):  # Good-Turing: new states too common
        return np.zeros((len(rows), 0), dtype=bool)
    judge_changes = sum(n == 1 for n in moves.values()) <= MAX_NOVELTY * len(train)
    blame = np.zeros((len(rows), len(columns)), dtype=bool)
    before = None if previous is None else tuple(previous[columns].tolist())
    for i, row in enumerate(rows[:, columns].tolist()):
        state = tuple(row)
        if state not in seen:
            distances = [sum(a != b for a, b in zip(s, state, strict=True)) for s in seen]
            nearest = seen[distances.index(min(distances))]
            blame[i] = [a != b for a, b in zip(nearest, state, strict=True)]
        elif (
            judge_changes and before in seen and before != state and (before, state) not in changes
        ):
            assert before is not None
            blame[i] = [a != b for a, b in zip(before, state, strict=True)]
        before = state
    return blame


def _machine(rows: int, seed: int) -> np.ndarray:
    """A 4-step cycle of 5 rows a step: the step, a gripper and a vacuum flag, a current."""
    rng = np.random.default_rng(seed)
    step = (np.arange(rows) // 5 % 4).astype(float)  # 0 1 2 3 0 ...
    gripper = (step >= 1).astype(float)  # closed in steps 1-3
    vacuum = (step == 2).astype(float)  # on in step 2 only
    current = 2.0 + step + rng.normal(0.0, 0.1, rows)
    return np.stack([step, gripper, vacuum, current], axis=1)


def test_joint_states_and_changes_as_the_sets_judge_them() -> None:
    train = _machine(400, 0)
    test = _machine(200, 1)
    test[50, 2] = 1.0  # row 50 is step 2: the vacuum is on already
    test[60, 2] = 1.0  # row 60 is step 0: vacuum on with the gripper open, never seen
    test[80:83, 0] = [0.0, 2.0, 2.0]  # row 80 is step 0: 3 -> 0 -> 2 ...
    test[81:83, 1:3] = [1.0, 1.0]  # ... a seen state (2, 1, 1) reached by an unseen change
    test[120, 0] = 7.0  # a step never seen
    states = DiscreteStates().fit(train)
    assert states.columns_.tolist() == [0, 1, 2]
    assert len(states.states_) == 4
    got = states.unseen(test, previous=train[-1])
    np.testing.assert_array_equal(got, _reference(train, test, train[-1]))
    assert not got[50].any()
    assert got[60].tolist() == [False, False, True]  # each flag took both values in training
    assert got[81].tolist() == [True, True, True]  # (0, 0, 0) -> (2, 1, 1): all changed
    assert not got[82].any()
    assert got[120].tolist() == [True, False, False]
    assert 0 < got.any(axis=1).sum() < 10


def test_quantised_analogue_sensors_are_not_discrete() -> None:
    """SKAB valve1/0: its pressure sits on a grid of 5 values in the first 400 rows and its
    flow rate on 15, but neither is whole: both stay analogue."""
    frame = pd.read_csv(SKAB / "valve1" / "0.csv", sep=";")
    rows = frame.drop(columns=["datetime", "anomaly", "changepoint"]).to_numpy()[:400]
    assert frame["Pressure"][:400].nunique() <= MAX_STATES
    assert DiscreteStates().fit(rows).columns_.tolist() == []
    whole = rows.copy()
    whole[:, 3] = np.round(whole[:, 3] * 3)  # the pressure grid as whole steps
    assert DiscreteStates().fit(whole).columns_.tolist() == [3]


def test_chunks_with_the_previous_row_give_the_whole_stream() -> None:
    rng = np.random.default_rng(3)
    train = rng.integers(0, 2, size=(300, 5)).astype(float)
    train[:, 4] = rng.normal(size=300)  # analogue
    train[:, 2] = train[:, 1]  # two flags that move together
    test = rng.integers(0, 3, size=(157, 5)).astype(float)
    test[:, 2] = np.where(rng.random(157) < 0.9, test[:, 1], 1 - test[:, 1])
    states = DiscreteStates().fit(train)
    whole = states.unseen(test)
    pieces = [states.unseen(test[:1])]
    for start in range(1, len(test), 10):
        pieces.append(states.unseen(test[start : start + 10], previous=test[start - 1]))
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    np.testing.assert_array_equal(whole, _reference(train, test, None))
    assert 20 < whole.any(axis=1).sum() < 157


def test_on_real_server_telemetry_with_whole_values() -> None:
    """SMD machine-2-2's metrics made whole (x 100, rounded). Its few-valued metrics together
    take many joint states seen once (Good-Turing: new states would be common), so none is
    judged as discrete; one of them alone is, and its blame on the labelled test rows is the set
    walk's."""
    train = (pd.read_csv(SMD / "machine-2-2_train.csv").drop(columns=["datetime"]) * 100).round()
    test = pd.read_csv(SMD / "machine-2-2_test.csv").drop(columns=["datetime", "anomaly"])
    test = (test * 100).round()
    counts = train.nunique()
    few = [c for c in counts.index if 2 <= counts[c] <= MAX_STATES]
    assert len(few) >= 4
    joint = Counter(map(tuple, train[few].to_numpy().tolist()))
    assert sum(n == 1 for n in joint.values()) > MAX_NOVELTY * len(train)
    assert DiscreteStates().fit(train.to_numpy()).columns_.tolist() == []
    name = min(few, key=lambda c: counts[c])  # the fewest values: its states repeat
    analogue = max(counts.index, key=lambda c: counts[c])
    one = train[[name, analogue]].to_numpy()  # beside the metric with the most values
    states = DiscreteStates().fit(one)
    assert states.columns_.tolist() == [0]
    rows = test[[name, analogue]].to_numpy()
    got = states.unseen(rows, previous=one[-1])
    np.testing.assert_array_equal(got, _reference(one, rows, one[-1]))


def test_independent_switches_are_not_judged_by_their_changes() -> None:
    """Eight valves that open and close at random, each on its own: every joint state shows up,
    but many of their changes are seen once, so a normal later change would often be new: the
    changes are not judged, and a recording of the same process raises no alarm."""
    rng = np.random.default_rng(0)

    def valves(rows: int) -> np.ndarray:
        flips = rng.random((rows, 8)) < 0.02
        return np.cumsum(flips, axis=0) % 2.0

    train, later = valves(20000), valves(5000)
    states = DiscreteStates().fit(train)
    assert states.columns_.tolist() == list(range(8))
    assert not states.judge_changes_
    assert not states.unseen(later, previous=train[-1]).any()
    np.testing.assert_array_equal(
        states.unseen(later, previous=train[-1]), _reference(train, later, train[-1])
    )
    cycle = _machine(400, 0)  # a sequence that repeats: both judged
    assert DiscreteStates().fit(cycle).judge_changes_


def test_state_dict_round_trip_and_errors() -> None:
    train = _machine(100, 0)
    states = DiscreteStates().fit(train)
    again = DiscreteStates.from_state_dict(states.state_dict())
    test = _machine(60, 2)
    test[10, 1] = 5.0
    np.testing.assert_array_equal(again.unseen(test), states.unseen(test))
    assert again.unseen(test)[10, 1]
    with pytest.raises(ValueError, match=r"fitted on 4 sensors, but got rows of shape \(3, 2\)"):
        states.unseen(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="max_states"):
        DiscreteStates(max_states=1)
    flat = DiscreteStates().fit(np.ones((50, 2)))  # a constant is not a state machine
    assert flat.columns_.tolist() == []
    assert flat.unseen(np.zeros((4, 2))).shape == (4, 0)
