"""cnnlstm detect on a generated pick-and-place machine: the PLC signals judged by their states,
and the flags that turn the row checks off (--discrete, --pca-factor)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cnnlstm.anomaly.detector import AnomalyDetector
from cnnlstm.commands.detect import main
from cnnlstm.data.pick_place import PickPlace

TINY = ["--window", "8", "--epochs", "3"]


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PickPlace, list[str]]:
    folder = tmp_path_factory.mktemp("pick")
    generator = PickPlace(seed=1, n_anomalies=4)
    generator.write_csv(folder / "pick.csv", 1600)
    frame = pd.read_csv(folder / "pick.csv", sep=None, engine="python")
    plc = [c for c in frame.columns if set(frame[c].unique()) <= {0, 1} and c != "anomaly"]
    plc = [c for c in plc if c != "changepoint"]
    return folder / "pick.csv", generator, plc


def _run(path: Path, out: Path, *flags: str) -> tuple[np.ndarray, AnomalyDetector]:
    saved = out.with_suffix(".pt")
    code = main(
        [str(path), "--train-rows", "400", "-o", str(out), "--save", str(saved), *TINY, *flags]
    )
    assert code == 0
    return pd.read_csv(out)["anomaly"].to_numpy(), AnomalyDetector.load(saved)


def test_plc_signals_are_judged_by_their_states(
    machine: tuple[Path, PickPlace, list[str]], tmp_path: Path
) -> None:
    path, generator, plc = machine
    flags, detector = _run(path, tmp_path / "on.csv")
    assert [detector.columns_[c] for c in detector.discrete_columns] == plc
    assert len(plc) == 13
    frame = pd.read_csv(path, sep=None, engine="python")
    rows = frame[detector.columns_].to_numpy()
    train = [tuple(r) for r in rows[:400, detector.discrete_columns].tolist()]
    seen, changes = set(train), {(a, b) for a, b in itertools.pairwise(train) if a != b}
    for anomaly in generator.anomalies:
        if anomaly.kind not in ("plc_state", "sequence"):
            continue
        # an independent reason to flag it: a state or a change never seen in the training rows
        states = [
            tuple(r)
            for r in rows[anomaly.start - 1 : anomaly.end, detector.discrete_columns].tolist()
        ]
        unseen = any(s not in seen for s in states[1:]) or any(
            a != b and (a, b) not in changes for a, b in itertools.pairwise(states)
        )
        assert unseen, anomaly
        assert flags[anomaly.start : anomaly.end].any(), anomaly


def test_the_row_checks_can_be_turned_off(
    machine: tuple[Path, PickPlace, list[str]], tmp_path: Path
) -> None:
    path, generator, _ = machine
    flags, detector = _run(path, tmp_path / "off.csv", "--discrete", "off", "--pca-factor", "off")
    assert detector.discrete_columns.tolist() == []
    assert detector.checks_ is not None and detector.checks_.pca_ is None
    assert detector.pca_factor is None and detector.discrete is False
    frame = pd.read_csv(path, sep=None, engine="python")
    rows = frame[detector.columns_].to_numpy()
    # without them, a row's score is its error and held level parts alone (15 rows of hold)
    error = detector.score(rows, part="error") / detector.error_threshold_
    level = detector.score(rows, part="level") / detector.level_threshold_
    held = [max(level[max(0, t - 14) : t + 1]) for t in range(len(rows))]
    np.testing.assert_allclose(detector.score(rows), np.maximum(error, held), rtol=1e-9)
    assert (flags == (detector.score(rows) > 1.0)).all()
    sequence = [a for a in generator.anomalies if a.kind == "sequence"]
    assert sequence and not any(flags[a.start : a.end].any() for a in sequence)


def test_pca_tau_off_judges_rows_against_the_training_mean(
    machine: tuple[Path, PickPlace, list[str]], tmp_path: Path
) -> None:
    path, _, _ = machine
    _, detector = _run(path, tmp_path / "tau.csv", "--pca-tau", "off")
    _, moving = _run(path, tmp_path / "tau50.csv", "--pca-tau", "20")
    assert detector.pca_tau is None and moving.pca_tau == 20
    assert detector.checks_ is not None and detector.checks_.pca_tau is None
    rows = pd.read_csv(path, sep=None, engine="python")[detector.columns_].to_numpy()
    pca = detector.checks_.pca_
    assert pca is not None
    # against the training mean: T² of each row alone, as the baseline scores it
    np.testing.assert_allclose(
        detector.checks_.scores(rows[:300]),
        np.maximum(pca.score(rows[:300]) / detector.checks_.pca_threshold_, 0.0),
        rtol=1e-9,
    )


def test_pca_bound_sets_or_drops_the_bound_on_t2s_moving_mean(
    machine: tuple[Path, PickPlace, list[str]], tmp_path: Path
) -> None:
    path, _, _ = machine
    _, default = _run(path, tmp_path / "default.csv")
    _, off = _run(path, tmp_path / "off.csv", "--pca-bound", "off")
    _, one = _run(path, tmp_path / "one.csv", "--pca-bound", "1")
    assert (default.pca_bound, off.pca_bound, one.pca_bound) == (2.0, None, 1.0)
    assert default.checks_ is not None and off.checks_ is not None
    assert (default.checks_.pca_bound, off.checks_.pca_bound) == (2.0, None)
    rows = pd.read_csv(path, sep=None, engine="python")[off.columns_].to_numpy()
    rows[350, 3] += 1e4  # a glitch in a motor current
    glitch_off = off.checks_.scores(rows)[351:] > 1
    glitch_default = default.checks_.scores(rows)[351:] > 1
    assert glitch_off.sum() > glitch_default.sum() + 20  # the unbounded mean is dragged


def test_level_floor_sets_the_held_shift_floor(
    machine: tuple[Path, PickPlace, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _, _ = machine
    _, default = _run(path, tmp_path / "default.csv")
    _, none = _run(path, tmp_path / "none.csv", "--level-floor", "off")
    _, high = _run(path, tmp_path / "high.csv", "--level-floor", "0.5")
    assert (default.level_floor, none.level_floor, high.level_floor) == (0.1, 0.0, 0.5)
    held = [d.level_ for d in (default, none, high)]
    assert all(h is not None for h in held)
    units = [h.deviation_scale_ * h.residual_scale_ for h in held if h is not None]
    active = held[1].active_ if held[1] is not None else None
    assert active is not None and active.any()
    assert units[2][active].min() == pytest.approx(0.5)  # every scored sensor's unit raised
    assert units[1][active].min() < 0.5
    with pytest.raises(SystemExit):
        main([str(path), "-o", str(tmp_path / "x.csv"), "--level-floor", "-1"])
    assert "--level-floor: has to be a number >= 0 or off, but got '-1'" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()  # stopped before any file was read or written


def test_scoring_error_refuses_the_other_parts_flags(
    machine: tuple[Path, PickPlace, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--scoring error scores the model's error alone: a flag of the level score, T² or the
    discrete states would change nothing, so it is refused by name before a file is read."""
    path, _, _ = machine
    out = tmp_path / "x.csv"
    argv = [str(path), "-o", str(out), "--scoring", "error", "--level-floor", "0.2"]
    assert main([*argv, "--pca-bound", "off"]) == 2
    err = capsys.readouterr().err
    assert "--scoring error scores the model's error alone, so --pca-bound, --level-floor" in err
    assert "leave them out, or leave out --scoring error." in err
    assert not out.exists()
    flags, detector = _run(path, out, "--scoring", "error")  # alone it runs
    assert detector.scoring == "error" and detector.checks_ is None and detector.level_ is None
    assert flags.dtype == bool or set(np.unique(flags)) <= {0, 1}


@pytest.mark.parametrize(("flag", "value"), [("--pca-factor", "0"), ("--pca-bound", "-1")])
def test_pca_factor_and_bound_have_to_be_a_positive_number_or_off(
    machine: tuple[Path, PickPlace, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flag: str,
    value: str,
) -> None:
    path, _, _ = machine
    with pytest.raises(SystemExit):
        main([str(path), "-o", str(tmp_path / "x.csv"), flag, value])
    expected = f"{flag}: has to be a positive number or off, but got '{value}'"
    assert expected in capsys.readouterr().err


def test_a_signal_that_never_changed_in_training_is_named(
    machine: tuple[Path, PickPlace, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _, plc = machine
    frame = pd.read_csv(path, sep=None, engine="python")
    frame.loc[:399, plc[0]] = 0  # stuck at 0 in every training row, switching after
    stuck = tmp_path / "stuck.csv"
    frame.to_csv(stuck, index=False)
    capsys.readouterr()
    assert main([str(stuck), "--train-rows", "400", "-o", str(tmp_path / "s.csv"), *TINY]) == 0
    out = capsys.readouterr().out
    assert (
        f"note: '{plc[0]}' holds one value in all 400 training rows, so any change of it will be "
        "flagged; fit on rows where it changes as in normal running, or leave it out with "
        "--columns"
    ) in out
    assert main([str(path), "--train-rows", "400", "-o", str(tmp_path / "t.csv"), *TINY]) == 0
    assert "holds one value" not in capsys.readouterr().out


def test_level_mean_sets_the_level_score_s_mean(
    machine: tuple[Path, PickPlace, list[str]], tmp_path: Path
) -> None:
    path, _, _ = machine
    _, ten = _run(path, tmp_path / "ten.csv", "--level-mean", "10")
    _, five = _run(path, tmp_path / "five.csv")
    assert ten.level_mean == 10 and ten.level_ is not None and ten.level_.fast == 10
    assert five.level_mean == 5 and five.level_ is not None and five.level_.fast == 5
    # the level part of the 10-row mean scores 0 over its first 9 rows, the 5-row one over 4
    rows = pd.read_csv(path, sep=None, engine="python")[ten.columns_].to_numpy()
    level_ten, level_five = ten.score(rows, part="level"), five.score(rows, part="level")
    assert level_ten[:9].max() == 0.0 < level_ten[9]
    assert level_five[:4].max() == 0.0 < level_five[4]


def test_level_mean_has_to_be_a_positive_number(
    machine: tuple[Path, PickPlace, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _, _ = machine
    code = main([str(path), "-o", str(tmp_path / "x.csv"), "--level-mean", "0", *TINY])
    assert code != 0
    assert "--level-mean has to be a positive int, but got 0" in capsys.readouterr().err
