"""``PickPlace``: the PLC signals are 0/1 and few in normal cycles, each anomaly kind shows what it
claims (an unseen PLC state, an unseen transition, a motor fault under normal PLC signals, a
held signal) only in its labelled rows, the file is the same for a seed, and ``cnnlstm generate
pick-place`` writes what ``cnnlstm detect`` reads.

The states and transitions are collected with plain loops over the rows, not with the
generator's tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cnnlstm import cli
from cnnlstm.commands.generate import main
from cnnlstm.data.pick_place import (
    ANALOGUE_SIGNALS,
    BINARY_SIGNALS,
    PICK_PLACE_KINDS,
    PickPlace,
)

SEEDS = [0, 1, 2, 3, 7]
LABELS = ["anomaly", "changepoint"]


def _states(frame: pd.DataFrame) -> list[tuple[int, ...]]:
    """Each row's PLC state, row by row."""
    states = []
    for _, row in frame[list(BINARY_SIGNALS)].iterrows():
        states.append(tuple(int(v) for v in row))
    return states


def _seen(states: list[tuple[int, ...]]) -> tuple[set[tuple[int, ...]], set[tuple]]:
    """The states and the (state, next state) pairs of consecutive rows."""
    transitions = set()
    for k in range(1, len(states)):
        transitions.add((states[k - 1], states[k]))
    return set(states), transitions


def _normal_sets(machine: PickPlace, frame: pd.DataFrame) -> tuple[set, set]:
    """What a detector learns as normal: the machine's anomaly-free recording and the unlabelled
    rows of ``frame`` (the transitions of consecutive unlabelled rows)."""
    states, transitions = _seen(_states(machine.normal(2000)))
    recorded = _states(frame)
    labels = frame["anomaly"].tolist()
    for k, state in enumerate(recorded):
        if labels[k] == 0:
            states.add(state)
            if k > 0 and labels[k - 1] == 0:
                transitions.add((recorded[k - 1], state))
    return states, transitions


def test_the_default_recording_has_one_anomaly_of_each_kind_after_the_clean_rows() -> None:
    machine = PickPlace(seed=0)
    frame = machine.generate(2000)
    assert frame.shape == (2000, 1 + 5 + 13 + 2)
    assert list(frame.columns) == ["datetime", *ANALOGUE_SIGNALS, *BINARY_SIGNALS, *LABELS]
    assert sorted(a.kind for a in machine.anomalies) == sorted(PICK_PLACE_KINDS)
    assert frame["anomaly"].iloc[:400].sum() == 0
    assert frame["datetime"].iloc[1] - frame["datetime"].iloc[0] == pd.Timedelta(seconds=1)
    normal = machine.normal(300)
    assert normal["datetime"].iloc[-1] == frame["datetime"].iloc[0] - pd.Timedelta(seconds=1)
    assert list(normal.columns) == ["datetime", *ANALOGUE_SIGNALS, *BINARY_SIGNALS]


@pytest.mark.parametrize("seed", SEEDS)
def test_plc_signals_are_binary_and_normal_cycles_show_few_states(seed: int) -> None:
    machine = PickPlace(seed=seed)
    frame = machine.generate(2000)
    for data in (frame, machine.normal(2000)):
        for name in BINARY_SIGNALS:
            assert set(data[name].unique().tolist()) == {0, 1}, name  # both, and nothing else
    states, transitions = _seen(_states(machine.normal(2000)))
    assert len(states) == 9  # one a step
    assert len(transitions) == 19  # 9 holds, 7 steps in order, return -> wait / down, wait -> down
    # the 400 clean rows a detector is fitted on already hold every one of them
    clean_states, clean_transitions = _seen(_states(frame.iloc[:400]))
    assert clean_states == states and clean_transitions == transitions


@pytest.mark.parametrize("seed", SEEDS)
def test_each_kind_shows_what_it_claims(seed: int) -> None:
    machine = PickPlace(seed=seed, n_anomalies=8)
    frame = machine.generate(3000)
    clean = machine.generate(3000, anomalies=False)
    records = frame.attrs["anomalies"]
    assert [a.kind for a in records].count("sequence") == 2
    states, transitions = _normal_sets(machine, frame)
    recorded = _states(frame)
    clean_recorded = _states(clean)
    for a in records:
        assert 2 <= a.end - a.start <= 30, a
        rows = range(a.start, a.end)
        if a.kind == "plc_state":
            for r in rows:
                assert recorded[r] not in states, (a, r)
        elif a.kind == "sequence":
            assert (recorded[a.start - 1], recorded[a.start]) not in transitions, a
            for r in rows:  # every state a normal one, and the steps that follow too
                assert recorded[r] in states, (a, r)
                assert (recorded[r], recorded[r + 1]) in transitions, (a, r)
        elif a.kind == "spike":
            (name,) = a.signals
            assert name in ANALOGUE_SIGNALS[:4]  # a motor current
            for r in rows:  # the PLC signals as they were; the current up or down to ~0
                assert recorded[r] == clean_recorded[r]
                value, was = frame[name].iloc[r], clean[name].iloc[r]
                assert value >= was + 0.8 or 0.0 <= value <= 0.15 * was, (a, r, value, was)
        else:  # stuck
            (name,) = a.signals
            held = frame[name].iloc[a.start - 1]
            assert (frame[name].iloc[a.start : a.end] == held).all(), a
            assert frame[name].iloc[a.end - 1] != clean[name].iloc[a.end - 1], a


@pytest.mark.parametrize("seed", SEEDS)
def test_labels_cover_exactly_the_rows_that_differ_from_the_clean_recording(seed: int) -> None:
    machine = PickPlace(seed=seed, n_anomalies=6)
    frame = machine.generate(2500)
    clean = machine.generate(2500, anomalies=False)
    signals = [*ANALOGUE_SIGNALS, *BINARY_SIGNALS]
    expected = np.zeros(2500)
    starts_ends = np.zeros(2500)
    for a in frame.attrs["anomalies"]:
        expected[a.start : a.end] = 1.0
        starts_ends[[a.start, a.end]] = 1.0
        differs = frame[signals].iloc[a.start : a.end] != clean[signals].iloc[a.start : a.end]
        assert differs.any(axis=1).iloc[[0, -1]].all(), a  # from its first row to its last
    np.testing.assert_array_equal(frame["anomaly"].to_numpy(), expected)
    np.testing.assert_array_equal(frame["changepoint"].to_numpy(), starts_ends)
    outside = expected == 0
    pd.testing.assert_frame_equal(frame[outside][signals], clean[outside][signals])
    assert clean["anomaly"].sum() == 0


def test_the_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    paths = [tmp_path / name for name in ("a.csv", "b.csv", "c.csv")]
    PickPlace(seed=5).write_csv(paths[0], 1500)
    PickPlace(seed=5).write_csv(paths[1], 1500)
    PickPlace(seed=6).write_csv(paths[2], 1500)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()
    lines = paths[0].read_text().splitlines()
    assert lines[0].split(";") == ["datetime", *ANALOGUE_SIGNALS, *BINARY_SIGNALS, *LABELS]
    assert all(cell in ("0", "1") for line in lines[1:] for cell in line.split(";")[6:19])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"anomaly_kinds": ("spike", "drift")}, "anomaly_kinds has to be distinct kinds"),
        ({"n_anomalies": -1}, "n_anomalies has to be >= 0, but got -1"),
        ({"min_gap": 0}, "min_gap has to be >= 1, but got 0"),
        ({"start": "yesterday-ish"}, "start has to be a time like"),
    ],
)
def test_bad_arguments_say_what_to_change(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PickPlace(**options)


def test_too_few_rows_names_the_least() -> None:
    machine = PickPlace()
    with pytest.raises(ValueError, match=f"at least {machine.min_rows} for 4 anomalies"):
        machine.generate(machine.min_rows - 1)
    assert len(machine.generate(machine.min_rows)) == machine.min_rows  # the least fits


# ----------------------------------------------------------------------------- the command


def test_generate_pick_place_writes_what_detect_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["generate", "pick-place", "out.csv", "--normal-rows", "600"]) == 0
    printed = capsys.readouterr().out
    written = pd.read_csv("out.csv", sep=";")
    expected = PickPlace(seed=0).generate(2000)
    assert list(written.columns) == list(expected.columns)
    np.testing.assert_allclose(
        written[list(ANALOGUE_SIGNALS)], expected[list(ANALOGUE_SIGNALS)], rtol=1e-5
    )
    np.testing.assert_array_equal(written[list(BINARY_SIGNALS)], expected[list(BINARY_SIGNALS)])
    np.testing.assert_array_equal(written["anomaly"], expected["anomaly"])
    for a in expected.attrs["anomalies"]:
        assert f"{a.start}-{a.end - 1}" in printed and a.kind in printed
    normal = pd.read_csv("out-normal.csv", sep=";")
    assert len(normal) == 600 and normal["datetime"].iloc[-1] == "2020-12-31 23:59:59"

    assert cli.main(["detect", "out.csv", "--train-rows", "400", "-o", "scores.csv"]) == 0
    scores = pd.read_csv("scores.csv")
    assert len(scores) == 2000
    assert {"score", "anomaly"} <= set(scores.columns)
    assert set(scores["anomaly"].unique().tolist()) <= {0, 1}


def test_generate_pick_place_same_seed_same_bytes(tmp_path: Path) -> None:
    for name in ("a.csv", "b.csv"):
        assert main(["pick-place", str(tmp_path / name), "--seed", "3", "--rows", "1200"]) == 0
    assert main(["pick-place", str(tmp_path / "c.csv"), "--seed", "3", "--anomalies", "2"]) == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    written = pd.read_csv(tmp_path / "c.csv", sep=";")
    assert len(written) == 2000 and written["changepoint"].sum() == 4  # 2 anomalies
