"""SKAB outlier metrics, changepoints and NAB scoring, checked against plain loops and formulas.

Every expected number is derived here from the definitions written out in the test: SKAB's F1,
FAR and MAR from the counts, NAB's scaled sigmoid from ``1 / (1 + exp(-x))``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlstm.anomaly.evaluation import (
    NAB_PROFILES,
    Counts,
    NabProfile,
    binary_counts,
    changepoints_from_labels,
    changepoints_from_predictions,
    false_alarm_places,
    format_skab_scores,
    lowest_far,
    nab_file_tally,
    nab_score,
    nab_windows,
    scaled_sigmoid,
    skab_scores,
    spans_from_binary,
)
from cnnlstm.anomaly.leaderboard import SKAB_LEADERBOARD
from cnnlstm.errors import ShapeError

SKAB_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "skab"

binary_lists = st.lists(st.integers(0, 1), min_size=0, max_size=60)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def nab_curve(position: float) -> float:
    """NAB's scaled sigmoid, from its definition: 2 * sigmoid(-5 * position) - 1."""
    return 2.0 * sigmoid(-5.0 * position) - 1.0


# ------------------------------------------------------------------------------------------------
# Outlier metrics
# ------------------------------------------------------------------------------------------------


def slow_counts(y_true: list[int], y_pred: list[int]) -> tuple[int, int, int, int]:
    tp = fp = fn = tn = 0
    for t, p in zip(y_true, y_pred, strict=True):
        if t == 1 and p == 1:
            tp += 1
        elif t == 0 and p == 1:
            fp += 1
        elif t == 1 and p == 0:
            fn += 1
        else:
            tn += 1
    return tp, fp, fn, tn


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), max_size=80))
def test_binary_counts_match_a_row_loop(pairs: list[tuple[int, int]]) -> None:
    y_true = [t for t, _ in pairs]
    y_pred = [p for _, p in pairs]
    c = binary_counts(np.array(y_true, dtype=float), np.array(y_pred, dtype=bool))
    assert (c.tp, c.fp, c.fn, c.tn) == slow_counts(y_true, y_pred)
    assert c.total == len(pairs)


def test_counts_add_over_files_like_one_long_file() -> None:
    rng = np.random.default_rng(0)
    files = [(rng.integers(0, 2, n), rng.integers(0, 2, n)) for n in (5, 17, 40)]
    pooled = sum(binary_counts(t, p) for t, p in files)
    whole = binary_counts(
        np.concatenate([t for t, _ in files]), np.concatenate([p for _, p in files])
    )
    assert pooled == whole
    assert binary_counts([1], [1]) + binary_counts([0], [1]) == Counts(tp=1, fp=1, fn=0, tn=0)


def test_skab_scores_by_hand() -> None:
    # 6 hits, 2 false alarms, 3 misses, 9 quiet rows
    s = skab_scores(Counts(tp=6, fp=2, fn=3, tn=9))
    assert s["f1"] == pytest.approx(6 / (6 + (2 + 3) / 2))
    assert s["far"] == pytest.approx(2 / 11)
    assert s["mar"] == pytest.approx(3 / 9)
    assert s["precision"] == pytest.approx(6 / 8)
    assert s["recall"] == pytest.approx(6 / 9)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 500), st.integers(0, 500), st.integers(0, 500), st.integers(0, 500))
def test_skab_f1_is_the_harmonic_mean_of_precision_and_recall(
    tp: int, fp: int, fn: int, tn: int
) -> None:
    s = skab_scores(Counts(tp, fp, fn, tn))
    p, r = tp / (tp + fp), tp / (tp + fn)
    assert s["f1"] == pytest.approx(2 * p * r / (p + r))


def test_skab_scores_undefined_ratios_are_nan() -> None:
    s = skab_scores(Counts(tp=0, fp=0, fn=0, tn=5))
    assert math.isnan(s["f1"]) and math.isnan(s["mar"]) and math.isnan(s["precision"])
    assert s["far"] == 0.0


def test_format_shows_far_and_mar_in_percent() -> None:
    line = format_skab_scores(skab_scores(Counts(tp=6, fp=2, fn=3, tn=9)))
    assert "FAR 18.18 %" in line and "MAR 33.33 %" in line and "F1 0.706" in line


@pytest.mark.parametrize(
    ("y_true", "y_pred", "error"),
    [
        ([0, 1, 2], [0, 1, 1], ValueError),  # not binary
        ([0, 1], [0, 1, 1], ShapeError),  # lengths differ
        ([[0, 1]], [[0, 1]], ShapeError),  # 2-D
        ([0.0, 0.5], [0, 1], ValueError),
    ],
)
def test_binary_counts_rejects(y_true: object, y_pred: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        binary_counts(y_true, y_pred)  # type: ignore[arg-type]


def test_flagging_every_test_row_of_skab_gives_the_published_floor() -> None:
    """SKAB's strict leaderboard scores each file after its first 400 (training) rows.

    A detector that flags every one of those rows gets F1 0.70, FAR 100 %, MAR 0 %: the floor
    row of the published table, recomputed here from the data with our counts.
    """
    files = sorted(p for p in SKAB_DIR.glob("*/*.csv") if p.parent.name != "anomaly-free")
    assert len(files) == 34
    counts = Counts()
    for path in files:
        labels = pd.read_csv(path, sep=";", usecols=["anomaly"])["anomaly"].to_numpy()[400:]
        counts = counts + binary_counts(labels, np.ones_like(labels))
    s = skab_scores(counts)
    floor = next(r for r in SKAB_LEADERBOARD if r.name.startswith("flag every row"))
    assert round(s["f1"], 2) == floor.f1
    assert 100 * s["far"] == floor.far_percent and 100 * s["mar"] == floor.mar_percent


# ------------------------------------------------------------------------------------------------
# Spans and changepoints
# ------------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(binary_lists)
def test_spans_match_a_loop(y: list[int]) -> None:
    spans = []
    start = None
    for i, v in enumerate([*y, 0]):
        if v == 1 and start is None:
            start = i
        if v == 0 and start is not None:
            spans.append((start, i))
            start = None
    assert spans_from_binary(y) == spans


@settings(max_examples=60, deadline=None)
@given(binary_lists)
def test_changepoints_from_predictions_match_skab_abs_diff(y: list[int]) -> None:
    # SKAB: prediction_cp = abs(prediction.diff()); prediction_cp[0] = prediction[0]
    both = [i for i in range(len(y)) if (y[i] == 1 if i == 0 else y[i] != y[i - 1])]
    rising = [i for i in range(len(y)) if y[i] == 1 and (i == 0 or y[i - 1] == 0)]
    assert changepoints_from_predictions(y).tolist() == both
    assert changepoints_from_predictions(y, edges="rising").tolist() == rising


def test_changepoints_from_labels_and_bad_edges() -> None:
    assert changepoints_from_labels(np.array([0.0, 1.0, 0.0, 1.0, 1.0])).tolist() == [1, 3, 4]
    assert changepoints_from_labels([]).tolist() == []
    with pytest.raises(ValueError, match="edges has to be one of"):
        changepoints_from_predictions([0, 1], edges="falling")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------
# NAB
# ------------------------------------------------------------------------------------------------

A_TP, A_FP, A_FN = 1.0, -0.11, -1.0


def normalised(raw: float, n_windows: int) -> float:
    null, perfect = n_windows * A_FN, n_windows * A_TP
    return 100 * (raw - null) / (perfect - null)


def test_scaled_sigmoid_is_nabs_curve() -> None:
    for position in (-1.0, -0.5, -0.01, 0.0, 0.4, 2.9):
        assert scaled_sigmoid(position) == pytest.approx(nab_curve(position))
    assert scaled_sigmoid(3.0) == -1.0 and scaled_sigmoid(10.0) == -1.0


def test_standard_profile_weights() -> None:
    assert NAB_PROFILES["standard"] == NabProfile(a_tp=A_TP, a_fp=A_FP, a_fn=A_FN)


def test_perfect_detector_scores_100_and_null_detector_0() -> None:
    true = [[100, 400], [50], [10, 30, 31]]
    assert nab_score(true, true) == pytest.approx(100.0)
    assert nab_score(true, [[], [], []]) == pytest.approx(0.0)


def test_alarm_on_the_changepoint_earns_the_full_tp_weight() -> None:
    tally = nab_file_tally([100], [100], window_seconds=60)
    assert tally.score == pytest.approx(A_TP)
    assert (tally.hits, tally.misses, tally.false_alarms) == (1, 0, 0)


@pytest.mark.parametrize("delay", [1, 15, 30, 59, 60])
def test_a_late_alarm_earns_less(delay: int) -> None:
    # window [100, 160]: W = 61 rows, right edge R = 160
    width, right = 61, 160
    position = -(right - (100 + delay) + 1) / width
    expected = A_TP * nab_curve(position) / nab_curve(-1.0)
    got = nab_score([[100]], [[100 + delay]], window_seconds=60)
    assert got == pytest.approx(normalised(expected, 1))
    assert 0 < expected < A_TP


def test_later_alarms_in_a_window_do_not_count() -> None:
    first = nab_score([[100]], [[110]])
    assert nab_score([[100]], [[110, 120, 150]]) == pytest.approx(first)
    assert nab_file_tally([100], [110, 120, 150]).false_alarms == 0


def test_a_far_false_alarm_costs_a_fp() -> None:
    # alarm long before the window: full A_FP, and the window is missed: A_FN
    assert nab_score([[500]], [[10]]) == pytest.approx(normalised(A_FP + A_FN, 1))
    # alarm 3 window widths past the window's end: also the full A_FP (hit at 500 is A_TP)
    right = 560
    far = right + 3 * 60
    assert nab_score([[500]], [[500, far]]) == pytest.approx(normalised(A_TP + A_FP, 1))


def test_a_false_alarm_just_past_the_window_costs_little() -> None:
    right, width = 560, 61
    for gap in (1, 30, 90):
        cost = A_FP * -nab_curve(gap / (width - 1))
        got = nab_file_tally([500], [500, right + gap]).score
        assert got == pytest.approx(A_TP + cost)
        assert A_FP < cost < 0


def test_scores_are_summed_over_files_before_normalising() -> None:
    # file A: 2 changepoints both hit on time; file B: 1 changepoint missed
    raw = 2 * A_TP + A_FN
    expected = normalised(raw, 3)  # 66.67, not the mean of per-file scores (50)
    assert nab_score([[10, 200], [10]], [[10, 200], []]) == pytest.approx(expected)


def test_other_profiles_change_the_weights() -> None:
    # a miss and a far false alarm, low-FN profile: A_FN = -2, A_FP = -0.11
    raw = -2.0 - 0.11
    assert nab_score([[500]], [[10]], profile="reward_low_fn") == pytest.approx(
        100 * (raw - -2.0) / (1.0 - -2.0)
    )


def test_windows_open_right_of_changepoints_and_stop_before_the_next() -> None:
    assert nab_windows([100], window_rows=60) == [(100, 160)]
    assert nab_windows([100, 130, 400], window_rows=60, n_rows=420) == [
        (100, 129),
        (130, 190),
        (400, 419),
    ]
    # an alarm before the changepoint is outside its window
    assert nab_file_tally([100], [99]).hits == 0


def test_period_scales_the_window() -> None:
    # 2 s sampling: a 60 s window is 30 rows
    assert nab_file_tally([100], [131], period_seconds=2.0).hits == 0
    assert nab_file_tally([100], [130], period_seconds=2.0).hits == 1


def test_skab_labels_as_alarms_score_between_null_and_perfect() -> None:
    """On the real files: alarms from the anomaly labels' edges hit the first and last changepoint
    of each file but not those in between, so the score lies strictly between 0 and 100."""
    files = sorted(p for p in SKAB_DIR.glob("*/*.csv") if p.parent.name != "anomaly-free")
    true, pred, rows = [], [], []
    for path in files:
        df = pd.read_csv(path, sep=";", usecols=["anomaly", "changepoint"])
        true.append(changepoints_from_labels(df["changepoint"]))
        pred.append(changepoints_from_predictions(df["anomaly"]))
        rows.append(len(df))
    assert nab_score(true, true, n_rows_per_file=rows) == pytest.approx(100.0)
    score = nab_score(true, pred, n_rows_per_file=rows)
    assert 0.0 < score < 100.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"true": [[1]], "pred": [[1], [2]]}, "one entry per file"),
        ({"true": [[]], "pred": [[3]]}, "at least one true changepoint"),
        ({"true": [[1]], "pred": [[1]], "profile": "strict"}, "profile has to be one of"),
        ({"true": [[1]], "pred": [[1]], "window_seconds": 0}, "window_seconds has to be"),
        ({"true": [[1]], "pred": [[1.5]]}, "whole row indices"),
        ({"true": [[-1]], "pred": [[1]]}, ">= 0"),
    ],
)
def test_nab_score_rejects(kwargs: dict[str, object], match: str) -> None:
    true = kwargs.pop("true")
    pred = kwargs.pop("pred")
    with pytest.raises(ValueError, match=match):
        nab_score(true, pred, **kwargs)  # type: ignore[arg-type]


@given(binary_lists, st.data())
@settings(max_examples=60, deadline=None)
def test_false_alarm_places_match_a_row_by_row_walk(labels: list[int], data: st.DataObject) -> None:
    flags = data.draw(st.lists(st.integers(0, 1), min_size=len(labels), max_size=len(labels)))
    expected = dict.fromkeys(
        ("before", "between", "after", "normal_before", "normal_between", "normal_after"), 0
    )
    anomalies_seen, anomalies_total = 0, sum(labels)
    for label, flag in zip(labels, flags, strict=True):
        anomalies_seen += label
        if label:
            continue
        part = (
            "before"
            if anomalies_seen == 0
            else ("after" if anomalies_seen == anomalies_total else "between")
        )
        expected[f"normal_{part}"] += 1
        expected[part] += flag
    places = false_alarm_places(labels, flags)
    assert places == expected
    assert places["before"] + places["between"] + places["after"] == binary_counts(labels, flags).fp


def test_false_alarm_places_checks_its_input() -> None:
    with pytest.raises(ShapeError, match="false_alarm_places: y_true and y_pred"):
        false_alarm_places([0, 1], [0, 1, 1])


@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 6)), min_size=2, max_size=40),
    st.sampled_from([0.0, 0.2, 0.5, 1.0]),
)
@settings(max_examples=80, deadline=None)
def test_lowest_far_matches_trying_every_threshold(
    rows: list[tuple[int, int]], max_mar: float
) -> None:
    labels = [label for label, _ in rows]
    if 0 in labels and 1 in labels:
        scores = [float(score) for _, score in rows]  # small integers: many ties
        best = 1.0
        for threshold in [-1.0, *scores]:  # flag the rows strictly above each threshold
            counts = binary_counts(labels, [int(s > threshold) for s in scores])
            if counts.fn / (counts.fn + counts.tp) <= max_mar:
                best = min(best, counts.fp / (counts.fp + counts.tn))
        assert lowest_far(labels, scores, max_mar=max_mar) == pytest.approx(best)


def test_lowest_far_checks_its_input() -> None:
    with pytest.raises(ValueError, match="needs anomalous and normal rows"):
        lowest_far([0, 0], [1.0, 2.0])
    with pytest.raises(ShapeError, match="the same length"):
        lowest_far([0, 1], [1.0])
    with pytest.raises(ValueError, match=r"max_mar has to be in \[0, 1\]"):
        lowest_far([0, 1], [1.0, 2.0], max_mar=1.5)
