"""``cnnlstm detect --train`` warms the detector up on the training file's last rows when INPUT
begins where the training file ends, on real server telemetry (ASD ``omi-2``: the test file's
first row comes one 5-minute step after the training file's last), and starts cold when it does
not (SKAB's anomaly-free run, a month before ``valve1/0``) or with ``--no-warm-start``."""

from __future__ import annotations

import contextlib
import io
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cnnlstm.anomaly.detector import AnomalyDetector
from cnnlstm.commands.detect import main

RunDetect = Callable[[list[str]], tuple[int, str, str]]

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
ASD_TRAIN = DATA / "asd" / "omi-2_train.csv"
ASD_TEST = DATA / "asd" / "omi-2_test.csv"
SKAB_FREE = DATA / "skab" / "anomaly-free" / "anomaly-free.csv"
SKAB_VALVE = DATA / "skab" / "valve1" / "0.csv"
TINY = ["--window", "8", "--smooth", "5", "--epochs", "1", "--steps", "10"]


def _sensor_rows(path: Path, sep: str = ",") -> tuple[np.ndarray, list[str]]:
    """The sensor values of a file as pandas reads them: every column but the datetime and
    the labels."""
    frame = pd.read_csv(path, sep=sep)
    names = [c for c in frame.columns if c not in ("datetime", "anomaly", "changepoint")]
    return frame[names].to_numpy(dtype=np.float64), names


@pytest.fixture(scope="module")
def warm_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("warm")
    out, saved = root / "out.csv", root / "detector.pt"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(
            [str(ASD_TEST), "--train", str(ASD_TRAIN), "-o", str(out), "--save", str(saved), *TINY]
        )
    return {"code": code, "out": out, "saved": saved, "printed": printed.getvalue(), "root": root}


def test_warm_scores_are_those_of_the_training_tail_and_input_scored_as_one(
    warm_run: dict[str, object],
) -> None:
    assert warm_run["code"] == 0, warm_run["printed"]
    printed = str(warm_run["printed"])
    found = re.search(
        r"warmed up on the last (\d+) rows of \S+omi-2_train\.csv, which ends 5\.0 "
        r"min before",
        printed,
    )
    assert found is not None, printed
    tail = int(found.group(1))
    detector = AnomalyDetector.load(Path(str(warm_run["saved"])))
    # The warm-up the rows before INPUT have to give: a first score (window + smooth - 2) and
    # the level score's trailing mean (5 rows) and its hold (15 rows).
    assert tail == max(8 + 5 - 2, 5 - 1 + 15 - 1)
    train, names = _sensor_rows(ASD_TRAIN)
    test, test_names = _sensor_rows(ASD_TEST)
    assert names == test_names == detector.columns_
    whole = detector.score(np.concatenate([train[-tail:], test]), columns=names)
    written = pd.read_csv(Path(str(warm_run["out"])))
    assert len(written) == len(test)
    np.testing.assert_allclose(written["score"], whole[tail:], atol=1e-5, rtol=0)
    first = detector.first_scored()  # a cold start leaves these rows without an error score
    assert (written["score"].to_numpy()[: first + 1] > 0).all()
    cold = detector.score(test, columns=names)
    assert detector.checks_ is not None
    t2_only = float(detector.checks_.scores(test[:1])[0])  # a cold row 0: no error, no level
    assert cold[0] == pytest.approx(t2_only, rel=1e-12) and written["score"].iloc[0] > cold[0]


def test_no_warm_start_scores_input_alone(
    warm_run: dict[str, object], tmp_path: Path, run_detect: RunDetect
) -> None:
    out = tmp_path / "cold.csv"
    code, printed, err = run_detect(
        [str(ASD_TEST), "--load", str(warm_run["saved"]), "-o", str(out)]
    )
    assert code == 0, err
    detector = AnomalyDetector.load(Path(str(warm_run["saved"])))
    test, names = _sensor_rows(ASD_TEST)
    written = pd.read_csv(out)
    np.testing.assert_allclose(written["score"], detector.score(test, columns=names), atol=1e-5)
    assert detector.checks_ is not None
    t2_only = float(detector.checks_.scores(test[:1])[0])  # a cold row 0: no error, no level
    assert written["score"].iloc[0] == pytest.approx(t2_only, abs=1e-6)
    assert "warmed up" not in printed
    code, printed, err = run_detect(
        [str(ASD_TEST), "--train", str(ASD_TRAIN), "--no-warm-start", "-o", str(out), *TINY]
    )
    assert code == 0, err
    assert "warmed up" not in printed and "cold start" not in printed
    cold = pd.read_csv(out)["score"].to_numpy()
    np.testing.assert_allclose(cold, detector.score(test, columns=names), atol=1e-5)
    assert cold[0] == pytest.approx(t2_only, abs=1e-6)


def test_a_training_file_that_ends_long_before_input_is_not_used_to_warm_up(
    tmp_path: Path, run_detect: RunDetect
) -> None:
    out, saved = tmp_path / "out.csv", tmp_path / "d.pt"
    argv = [str(SKAB_VALVE), "--train", str(SKAB_FREE), "-o", str(out), "--save", str(saved)]
    code, printed, err = run_detect([*argv, *TINY])
    assert code == 0, err
    assert "first rows have no error score (a cold start)" in printed
    assert "ends 29.7 days before" in printed, printed
    detector = AnomalyDetector.load(saved)
    rows, names = _sensor_rows(SKAB_VALVE, sep=";")
    written = pd.read_csv(out)["score"].to_numpy()
    np.testing.assert_allclose(written, detector.score(rows, columns=names), atol=1e-5)


def test_without_times_the_tail_is_used_and_the_note_says_it_was_not_checked(
    warm_run: dict[str, object], tmp_path: Path, run_detect: RunDetect
) -> None:
    out = tmp_path / "out.csv"
    columns = ",".join(_sensor_rows(ASD_TRAIN)[1])  # the datetime column is left unread
    argv = [str(ASD_TEST), "--train", str(ASD_TRAIN), "--datetime", "none", "--columns", columns]
    code, printed, err = run_detect([*argv, "-o", str(out), *TINY])
    assert code == 0, err
    assert "neither file has times to check it" in printed
    assert "pass --no-warm-start if" in printed
    # the same detector (same rows, same seed) and the same warm-up as with the times
    np.testing.assert_allclose(
        pd.read_csv(out)["score"],
        pd.read_csv(Path(str(warm_run["out"])))["score"],
        atol=1e-6,
    )


def test_stream_with_train_warms_up_as_the_offline_run(
    warm_run: dict[str, object], monkeypatch: pytest.MonkeyPatch, run_detect: RunDetect
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(ASD_TEST.read_text()))
    code, streamed, err = run_detect(["-", "--stream", "--train", str(ASD_TRAIN), *TINY])
    assert code == 0, err
    assert "warmed up on the last 18 rows of" in err and "5.0 min before stdin begins" in err
    offline = pd.read_csv(Path(str(warm_run["out"])))
    online = pd.read_csv(io.StringIO(streamed))
    assert online["datetime"].tolist() == offline["datetime"].tolist()
    np.testing.assert_allclose(online["score"], offline["score"], atol=1e-5, rtol=0)
