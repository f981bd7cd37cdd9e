"""``cnnlstm detect --model pca|zscore`` runs a classic baseline as the detector, on real server
telemetry (ASD ``omi-2``): fitted on the same rows, every row scored alone, the same OUT.csv,
saved as plain values (JSON) and loaded, streamed with the offline scores."""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cnnlstm.anomaly.baselines import PCABaseline, ZScoreBaseline
from cnnlstm.commands.detect.baseline import BaselineDetector

RunDetect = Callable[[list[str]], tuple[int, str, str]]
OneError = Callable[[str], str]

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
TRAIN = DATA / "asd" / "omi-2_train.csv"
TEST = DATA / "asd" / "omi-2_test.csv"
VALVE = DATA / "skab" / "valve1" / "1.csv"
BASELINES = {"pca": PCABaseline, "zscore": ZScoreBaseline}


def _rows(path: Path, sep: str = ",") -> tuple[np.ndarray, np.ndarray | None]:
    frame = pd.read_csv(path, sep=sep)
    labels = frame["anomaly"].to_numpy() if "anomaly" in frame else None
    names = [c for c in frame.columns if c not in ("datetime", "anomaly", "changepoint")]
    return frame[names].to_numpy(dtype=np.float64), labels


@pytest.mark.parametrize("model", ["pca", "zscore"])
def test_a_baseline_scores_and_flags_each_row_as_the_library_baseline(
    model: str, tmp_path: Path, run_detect: RunDetect
) -> None:
    out, saved = tmp_path / "out.csv", tmp_path / "baseline.json"
    argv = [str(TEST), "--train", str(TRAIN), "--model", model, "-o", str(out)]
    code, printed, err = run_detect([*argv, "--save", str(saved)])
    assert code == 0, err
    train, _ = _rows(TRAIN)
    test, labels = _rows(TEST)
    baseline = BASELINES[model]().fit(train)
    expected = baseline.score(test)
    written = pd.read_csv(out)
    assert list(written.columns) == ["datetime", "score", "anomaly"] and len(written) == len(test)
    np.testing.assert_allclose(written["score"], expected, rtol=1e-7, atol=0)
    flags = (expected > baseline.threshold_).astype(int)
    assert (written["anomaly"].to_numpy() == flags).all()
    assert labels is not None
    tp = int(((flags == 1) & (labels == 1)).sum())
    f1 = 2 * tp / (flags.sum() + labels.sum())
    assert re.search(rf"│ +[\d.]+ │ +[\d.]+ │ +{f1:.3f} │", printed), printed
    assert f"fitting {model} on the 8640 rows" in printed and "warmed up" not in printed
    state = json.loads(saved.read_text())  # plain values
    assert state["model"] == model and state["threshold"] == baseline.threshold_
    assert state["columns"] == [f"m{i:02d}" for i in range(1, 20)]


@pytest.mark.parametrize("model", ["pca", "zscore"])
def test_a_saved_baseline_loads_and_streams_the_same_scores(
    model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_detect: RunDetect
) -> None:
    out, saved = tmp_path / "out.csv", tmp_path / "baseline.pt"
    argv = [str(VALVE), "--train-rows", "300", "--model", model, "-o", str(out)]
    assert run_detect([*argv, "--save", str(saved)])[0] == 0
    again = tmp_path / "again.csv"
    code, _, err = run_detect([str(VALVE), "--load", str(saved), "-o", str(again)])
    assert code == 0, err
    assert again.read_bytes() == out.read_bytes()
    monkeypatch.setattr(sys, "stdin", io.StringIO(VALVE.read_text()))
    code, streamed, err = run_detect(["-", "--stream", "--load", str(saved)])
    assert code == 0, err
    offline, online = pd.read_csv(out), pd.read_csv(io.StringIO(streamed))
    assert online["datetime"].tolist() == offline["datetime"].tolist()
    np.testing.assert_allclose(online["score"], offline["score"], rtol=1e-7)
    assert (online["anomaly"] == offline["anomaly"]).all()
    rows, _ = _rows(VALVE, sep=";")
    baseline = BASELINES[model]().fit(rows[:300])
    np.testing.assert_allclose(offline["score"], baseline.score(rows), rtol=1e-7)


def test_a_baseline_takes_quantile_alone(
    tmp_path: Path, run_detect: RunDetect, one_error: OneError
) -> None:
    out = tmp_path / "out.csv"
    code, _, err = run_detect([str(VALVE), "--model", "pca", "--window", "8", "-o", str(out)])
    assert code == 2 and not out.exists()
    assert (
        "--model pca is a baseline that scores each row alone and takes --quantile only, "
        "so --window cannot be given with it; leave it out." in one_error(err)
    )
    argv = [str(VALVE), "--model", "zscore", "--pca-factor", "3", "--discrete", "off"]
    code, _, err = run_detect([*argv, "-o", str(out)])
    assert code == 2 and not out.exists()
    # the flags as they are typed (--pca-factor, not the argument's name pca_factor)
    assert "so --pca-factor, --discrete cannot be given with it; leave them out." in one_error(err)
    code, printed, err = run_detect(
        [
            str(VALVE),
            "--model",
            "zscore",
            "--quantile",
            "0.9",
            "--train-rows",
            "300",
            "-o",
            str(out),
        ]
    )
    assert code == 0, err
    rows, _ = _rows(VALVE, sep=";")
    threshold = ZScoreBaseline(quantile=0.9).fit(rows[:300]).threshold_
    assert f"threshold {threshold:.6g}: flagged" in printed
    code, _, err = run_detect([str(VALVE), "--model", "lof", "-o", str(out)])
    assert code == 2 and "or the baselines pca, zscore, but got 'lof'" in one_error(err)


def test_each_sensors_part_of_a_baseline_score() -> None:
    """zscore: each sensor's |z|, the largest the score; pca: each sensor's contribution to T²,
    z_j (z M)_j, summing to T² (T² written out from the eigenvectors of the covariance)."""
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(4, 4))
    train = rng.normal(size=(800, 4)) @ mix
    rows = rng.normal(size=(50, 4)) @ mix
    rows[10, 2] += 9.0
    z_detector = BaselineDetector("zscore").fit(train)
    scores, parts = z_detector.chunks().update(rows)
    standard = (rows - train.mean(axis=0)) / train.std(axis=0)
    np.testing.assert_allclose(parts, np.abs(standard), rtol=1e-12)
    np.testing.assert_array_equal(parts.max(axis=1), scores)
    pca = BaselineDetector("pca").fit(train)
    scores, parts = pca.chunks().update(rows)
    z = (train - train.mean(axis=0)) / train.std(axis=0)
    values, vectors = np.linalg.eigh(np.cov(z.T, bias=True))
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    keep = int(np.searchsorted(np.cumsum(values) / values.sum(), 0.95) + 1)
    projected = standard @ vectors[:, :keep]
    t2 = (projected**2 / values[:keep]).sum(axis=1)
    np.testing.assert_allclose(scores, t2, rtol=1e-8)
    np.testing.assert_allclose(parts.sum(axis=1), t2, rtol=1e-8)
    assert int(parts[10].argmax()) == 2 or scores[10] < pca.threshold_
    stream = pca.stream()
    score, flag = stream.update(rows[10])  # one row alone: the same to the last bits or so
    assert score == pytest.approx(scores[10], rel=1e-12) and flag == int(score > pca.threshold_)
