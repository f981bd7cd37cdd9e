"""Discrete signals judged by their states, against a walk over the rows with Python sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cnnlstm.anomaly.discrete import MAX_STATES, DiscreteStates

SMD = Path(__file__).resolve().parents[3] / "shared" / "data" / "smd"


def _reference(train: np.ndarray, rows: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """The verdicts the obvious way: per column, sets of values and of (a, b) changes."""
    columns = []
    for c in range(train.shape[1]):
        values = set(train[:, c].tolist())
        if 2 <= len(values) <= min(MAX_STATES, len(train) // 2):
            columns.append(c)
    verdict = np.zeros((len(rows), len(columns)), dtype=bool)
    for k, c in enumerate(columns):
        values = set(train[:, c].tolist())
        changes = {
            (a, b) for a, b in zip(train[:-1, c].tolist(), train[1:, c].tolist(), strict=True)
        }
        before = None if previous is None else float(previous[c])
        for i, value in enumerate(rows[:, c].tolist()):
            if value not in values:
                verdict[i, k] = True
            elif before is not None and before in values and before != value:
                verdict[i, k] = (before, value) not in changes
            before = value
    return verdict


def _plc(rows: int, seed: int) -> np.ndarray:
    """A 4-step machine cycle: a step counter, two flags it sets, an analogue current."""
    rng = np.random.default_rng(seed)
    step = np.repeat(np.arange(rows) // 5 % 4, 1).astype(float)  # 0 1 2 3 0 ... (5 rows each)
    clamp = (step >= 2).astype(float)
    vacuum = (step == 1).astype(float)
    current = 2.0 + step + rng.normal(0.0, 0.1, rows)
    return np.stack([step, clamp, vacuum, current], axis=1)


def test_finds_the_discrete_columns_and_judges_as_the_sets_do() -> None:
    train = _plc(400, 0)
    test = _plc(200, 1)
    test[50, 0] = 7.0  # a step never seen
    test[80:83, 0] = [0.0, 2.0, 2.0]  # 3 -> 0 -> 2: 0 -> 2 never happened in training
    test[120, 2] = 1.0  # vacuum on in step 2: the value was seen, the change 0 -> 1 too
    states = DiscreteStates().fit(train)
    assert states.columns_.tolist() == [0, 1, 2]
    got = states.unseen(test, previous=train[-1])
    expected = _reference(train, test, train[-1])
    np.testing.assert_array_equal(got, expected)
    assert got[50, 0] and not got[51, 0]  # 7 is unseen; the way back from it is not judged
    assert got[81, 0] and not got[82, 0]
    assert not got[120].any()  # each flag alone has seen such changes: not a state test
    assert got.sum() == expected.sum() > 0


def test_chunks_with_the_previous_row_give_the_whole_stream() -> None:
    rng = np.random.default_rng(3)
    train = rng.integers(0, 3, size=(300, 5)).astype(float)
    train[:, 4] = rng.normal(size=300)  # analogue
    order = np.argsort(train[:, 1], kind="stable")
    train[:, 1] = train[order, 1]  # column 1 goes 0 -> 1 -> 2 once: most changes never seen
    test = rng.integers(0, 4, size=(157, 5)).astype(float)
    states = DiscreteStates().fit(train)
    whole = states.unseen(test)
    pieces = [states.unseen(test[:1])]
    for start in range(1, len(test), 10):
        pieces.append(states.unseen(test[start : start + 10], previous=test[start - 1]))
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    np.testing.assert_array_equal(whole, _reference(train, test, None))
    assert whole[:, 1].sum() > 20


def test_on_real_server_telemetry() -> None:
    """SMD machine-2-2: its few-valued metrics, found as pandas counts them, and the verdicts on
    its labelled test rows against the set walk."""
    train = pd.read_csv(SMD / "machine-2-2_train.csv").drop(columns=["datetime"])
    test = pd.read_csv(SMD / "machine-2-2_test.csv").drop(columns=["datetime", "anomaly"])
    counts = train.nunique()
    few = [train.columns.get_loc(c) for c in counts.index if 2 <= counts[c] <= MAX_STATES]
    states = DiscreteStates().fit(train.to_numpy())
    assert states.columns_.tolist() == few
    assert len(few) >= 4
    rows = test.to_numpy()[:3000]
    got = states.unseen(rows, previous=train.to_numpy()[-1])
    np.testing.assert_array_equal(got, _reference(train.to_numpy(), rows, train.to_numpy()[-1]))


def test_state_dict_round_trip_and_errors() -> None:
    train = _plc(100, 0)
    states = DiscreteStates().fit(train)
    again = DiscreteStates.from_state_dict(states.state_dict())
    test = _plc(60, 2)
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
