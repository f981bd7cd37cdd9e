"""The rows a detector takes: each sensor's longest repeat, checked rows, torch threads."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from cnnlstm.anomaly.rows import all_finite, as_rows, longest_repeats, torch_threads
from cnnlstm.errors import DataError


def test_longest_repeats_equal_a_plain_count() -> None:
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 2, size=(500, 300)).astype(float)  # more columns than one block
    rows[40:140, 7] = 3.0
    rows[:, 299] = 1.0
    plain = []
    for column in rows.T.tolist():
        best = run = 1
        for before, value in itertools.pairwise(column):
            run = run + 1 if value == before else 1
            best = max(best, run)
        plain.append(best)
    assert longest_repeats(rows).tolist() == plain
    assert plain[7] >= 100 and plain[299] == 500
    assert longest_repeats(np.zeros((0, 3))).tolist() == [0, 0, 0]


def test_as_rows_gives_c_ordered_float64_and_names_the_first_bad_cell() -> None:
    rows = as_rows(np.asfortranarray(np.arange(6).reshape(3, 2)), "fit")
    assert rows.dtype == np.float64 and rows.flags.c_contiguous and rows.shape == (3, 2)
    with pytest.raises(DataError, match=r"fit: .*column 1 .* row 2 holds 'x'"):
        as_rows([[1, 2], [3, 4], [5, "x"]], "fit")
    with pytest.raises(DataError, match=r"fit: row 1, column 0 is NaN or infinite"):
        as_rows([[1.0, 2.0], [float("inf"), 4.0]], "fit")
    with pytest.raises(DataError, match=r"shape \(3,\)"):
        as_rows([1.0, 2.0, 3.0], "fit")


@pytest.mark.parametrize(
    ("values", "finite"),
    [
        ([1.0, 2.0], True),
        ([1.0, float("nan")], False),
        ([float("-inf"), 1.0], False),
        ([1e308, 1e308], True),
    ],  # the sum overflows, the values are finite
)
def test_all_finite(values: list[float], finite: bool) -> None:
    assert all_finite(np.array(values)) is finite


def test_torch_threads_restores_the_setting() -> None:
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(0):  # 0: unchanged
        assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("model", "window"), [("window_cnnlstm", 16), ("mscred", 32), ("convlstm_ae", 32)]
)
def test_a_value_past_the_limit_is_named_and_one_under_it_scores_finite(
    model: str, window: int
) -> None:
    """A sentinel (1e300) made the scores NaN, which no threshold flags: it is refused, by row
    and sensor, by score(), chunks() and stream(). A value just under the limit scores finite
    in every model family, and its row is flagged."""
    from cnnlstm.anomaly import AnomalyDetector
    from cnnlstm.anomaly.rows import STANDARD_LIMIT, FarValue

    rng = np.random.default_rng(0)
    detector = AnomalyDetector(model=model, window=window, epochs=1).fit(rng.normal(size=(300, 4)))
    mean, sd = detector.scaler.mean[2], detector.scaler.std[2]
    rows = rng.normal(size=(120, 4))
    rows[60, 2] = mean + 0.99 * STANDARD_LIMIT * sd
    scores = detector.score(rows)
    assert np.isfinite(scores).all() and scores[60:80].max() > detector.threshold_
    rows[70, 2] = 1e300
    for score, row in (
        (detector.score, 70),
        (lambda x: detector.chunks().update(x), 70),
        (lambda x: [detector.stream().update(r) for r in x[70:]], 0),  # one row at a time
    ):
        with pytest.raises(FarValue, match=rf"row {row}, sensor 'column2': 1e\+300 is ") as caught:
            score(rows)
        assert (caught.value.row, caught.value.column, caught.value.value) == (row, 2, 1e300)
        assert "training sds from that sensor's training mean" in str(caught.value)


def test_a_sentinel_among_the_training_rows_is_refused_and_plain_columns_are_not() -> None:
    """A 1e300 (or 1e20) cell in the training rows made its sensor's sd inf (or its own), so
    every other value of that sensor scored 0: fit refuses it by training row and sensor. A
    rare step, a 0/1 signal that is mostly 0 and a constant column fit as before."""
    from cnnlstm.anomaly import AnomalyDetector
    from cnnlstm.anomaly.rows import FarValue, check_training_spread

    rng = np.random.default_rng(0)
    rows = rng.normal(size=(300, 4))
    rows[:, 1] = (rng.random(300) < 0.02).astype(float)  # a 0/1 signal, mostly 0: MAD 0
    rows[:, 2] = 7.0  # constant
    rows[250:, 3] += 40.0  # a step of 40 sds: far, but a reading
    check_training_spread(rows, ["a", "b", "c", "d"], "fit")  # nothing to refuse
    for sentinel in (1e300, 1e20):
        bad = rows.copy()
        bad[120, 0] = sentinel
        with pytest.raises(FarValue, match=r"AnomalyDetector\.fit: training row 120, sensor 'a'"):
            AnomalyDetector(window=16, epochs=1).fit(bad, columns=["a", "b", "c", "d"])
    AnomalyDetector(window=16, epochs=1).fit(rows)  # the plain rows fit
    # past the first block of 256 columns the error still names the file's column and row
    wide = rng.normal(size=(40, 600))
    wide[7, 300] = 1e20
    names = [f"s{i}" for i in range(600)]
    with pytest.raises(FarValue, match=r"fit: training row 7, sensor 's300': 1e\+20 is") as far:
        check_training_spread(wide, names, "fit")
    assert (far.value.row, far.value.column, far.value.value) == (7, 300, 1e20)
    mad = np.median(np.abs(wide[:, 300] - np.median(wide[:, 300])))  # the spread, by hand
    assert far.value.sds == pytest.approx(abs(1e20 - np.median(wide[:, 300])) / mad, rel=1e-9)
