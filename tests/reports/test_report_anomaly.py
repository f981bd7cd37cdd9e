"""The anomaly report: a 1600x900 PNG with the shaded spans, and a Markdown summary."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from cnnlstm.anomaly.evaluation import Counts, skab_scores, spans_from_binary
from cnnlstm.errors import ShapeError
from cnnlstm.reports.anomaly import (
    _SHADE_ALPHA,
    LABEL_COLOR,
    MAX_LANES,
    plot_detection,
    write_summary,
)
from cnnlstm.reports.detection_trace import DetectionTrace, MinMaxColumns

N, S = 600, 4


def run_data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    times = pd.date_range("2020-03-09 10:00:00", periods=N, freq="s").to_numpy()
    values = rng.normal(size=(N, S)) * np.array([1.0, 10.0, 0.1, 100.0])  # mixed units
    labels = np.zeros(N, dtype=int)
    labels[300:420] = 1
    values[300:420] += 3 * values[:120].std(axis=0)
    scores = np.abs(rng.normal(size=N))
    scores[310:420] += 4.0
    return {"times": times, "values": values, "labels": labels, "scores": scores}


def pixels_near(path: Path, rgb: tuple[float, float, float], *, tol: int) -> int:
    """Count pixels within ``tol`` of a colour given as 0..1 floats."""
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    target = np.array([round(255 * c) for c in rgb])
    return int(np.count_nonzero(np.abs(image - target).max(axis=-1) <= tol))


def shade_on_white(color: str, alpha: float) -> tuple[float, float, float]:
    r, g, b = to_rgb(color)
    return (1 - alpha + alpha * r, 1 - alpha + alpha * g, 1 - alpha + alpha * b)


def test_plot_is_a_1600x900_png_with_the_labelled_spans_shaded(tmp_path: Path) -> None:
    d = run_data()
    path = plot_detection(
        d["times"],
        d["values"],
        d["scores"],
        2.5,
        labels=d["labels"],
        columns=["vibration", "current", "pressure", "flow"],
        path=tmp_path / "report" / "plot.png",
        title="test run",
    )
    assert path == tmp_path / "report" / "plot.png" and path.exists()
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (1600, 900)

    no_labels = plot_detection(
        d["times"], d["values"], d["scores"], 2.5, path=tmp_path / "plain.png"
    )
    red = shade_on_white(LABEL_COLOR, _SHADE_ALPHA)
    # the labelled span (120 of 600 rows, on both panels) shows as red-on-white background;
    # without labels only anti-aliased edges of the red sensor line come near that colour
    shaded, plain = pixels_near(path, red, tol=2), pixels_near(no_labels, red, tol=2)
    assert shaded > 10_000
    assert shaded > 10 * plain


def test_plot_takes_row_numbers_and_explicit_predictions(tmp_path: Path) -> None:
    d = run_data()
    predictions = np.zeros(N, dtype=int)
    predictions[::50] = 1
    path = plot_detection(
        None,
        d["values"][:, 0],
        d["scores"],
        1.0,
        predictions=predictions,
        path=tmp_path / "rows.png",
    )
    with Image.open(path) as image:
        assert image.size == (1600, 900)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"values": np.zeros((N - 1, S))}, ShapeError),
        ({"labels": np.zeros(N + 3)}, ShapeError),
        ({"times": np.arange(N - 2)}, ShapeError),
        ({"scores": np.zeros((N, 2))}, ShapeError),
        ({"columns": ["a", "b"]}, ValueError),
    ],
)
def test_plot_rejects_mismatched_inputs(
    tmp_path: Path, change: dict[str, object], error: type[Exception]
) -> None:
    d: dict[str, object] = {**run_data(), "columns": None, **change}
    with pytest.raises(error):
        plot_detection(
            d["times"],  # type: ignore[arg-type]
            d["values"],  # type: ignore[arg-type]
            d["scores"],  # type: ignore[arg-type]
            1.0,
            labels=d["labels"],  # type: ignore[arg-type]
            columns=d["columns"],  # type: ignore[arg-type]
            path=tmp_path / "x.png",
        )


def test_importing_the_module_does_not_import_matplotlib() -> None:
    code = (
        "import sys, cnnlstm; before = 'matplotlib' in sys.modules; "
        "import cnnlstm.reports.anomaly; print(before, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[1] == out[0]


def test_summary_reports_run_spans_metrics_and_plot(tmp_path: Path) -> None:
    d = run_data()
    predictions = (d["scores"] > 2.5).astype(int)
    counts = Counts(tp=90, fp=10, fn=30, tn=470)
    metrics = {**skab_scores(counts), "nab": 42.5}
    spans = spans_from_binary(predictions)
    path = write_summary(
        tmp_path / "summary.md",
        input_name="valve1/0.csv",
        model="AnomalyDetector(conv_lstm_ae)",
        threshold=2.5,
        n_rows=N,
        n_flagged=int(predictions.sum()),
        metrics=metrics,
        plot_name="plot.png",
        flagged_spans=spans,
    )
    text = path.read_text()
    assert text.startswith("# Anomaly detection: valve1/0.csv")
    assert "AnomalyDetector(conv_lstm_ae)" in text
    assert f"rows flagged: {int(predictions.sum())}" in text
    assert f"flagged spans: {len(spans)}" in text
    # F1 = 90 / (90 + (10 + 30) / 2) = 0.818; FAR = 10 / 480 = 2.08 %; MAR = 30 / 120 = 25 %
    assert "| F1 | 0.818 |" in text
    assert "| FAR, % | 2.08 |" in text
    assert "| MAR, % | 25.00 |" in text
    assert "| NAB (standard) | 42.50 |" in text
    assert "](plot.png)" in text


def test_summary_without_labels_and_bad_counts(tmp_path: Path) -> None:
    text = write_summary(
        tmp_path / "s.md",
        input_name="in.csv",
        model="m",
        threshold=1.0,
        n_rows=10,
        n_flagged=0,
        metrics=None,
        plot_name="p.png",
    ).read_text()
    assert "no metrics" in text and "| F1 |" not in text
    with pytest.raises(ValueError, match="n_flagged has to be between"):
        write_summary(
            tmp_path / "t.md",
            input_name="in.csv",
            model="m",
            threshold=1.0,
            n_rows=10,
            n_flagged=11,
            metrics=None,
            plot_name="p.png",
        )


def test_label_strip_and_training_rows_show_only_when_given(tmp_path: Path) -> None:
    d = run_data()
    common = {"columns": ["a", "b", "c", "d"], "predictions": (d["scores"] > 2.5).astype(int)}
    full = plot_detection(
        d["times"],
        d["values"],
        d["scores"],
        2.5,
        labels=d["labels"],
        train_rows=200,
        path=tmp_path / "full.png",
        **common,  # type: ignore[arg-type]
    )
    bare = plot_detection(
        d["times"], d["values"], d["scores"], 2.5, path=tmp_path / "bare.png", **common
    )  # type: ignore[arg-type]
    # the solid red bar of the labelled span (120 rows) in the strip: the sensor lines alone
    # come near that colour only along anti-aliased edges
    red = to_rgb(LABEL_COLOR)
    assert pixels_near(full, red, tol=2) > 5 * max(pixels_near(bare, red, tol=2), 100)
    # the grey shade of the training rows (a third of the axis) on the sensor and score panels
    grey = shade_on_white("#7f7f7f", 0.12)
    assert pixels_near(full, grey, tol=2) - pixels_near(bare, grey, tol=2) > 100_000
    with pytest.raises(ValueError, match="train_rows has to be in"):
        plot_detection(None, d["values"], d["scores"], 1.0, train_rows=N + 1, path=tmp_path / "x")


def test_many_sensors_share_one_axis(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=(200, MAX_LANES + 4))
    path = plot_detection(None, values, np.abs(rng.normal(size=200)), 1.5, path=tmp_path / "m.png")
    with Image.open(path) as image:
        assert image.size == (1600, 900)


# ----------------------------------------------------------------------------- long runs


def _plain_min_max(values: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each bucket's min and max, one bucket at a time in a plain loop."""
    ends = [*starts[1:].tolist(), len(values)]
    low = np.array([values[a:b].min(axis=0) for a, b in zip(starts.tolist(), ends, strict=True)])
    high = np.array([values[a:b].max(axis=0) for a, b in zip(starts.tolist(), ends, strict=True)])
    return low, high


@pytest.mark.parametrize(
    ("rows", "chunk"),
    [(7, 3), (64, 64), (65, 1), (1000, 7), (1000, 1000), (4099, 250), (100_003, 9_999)],
)
def test_min_max_columns_equal_a_plain_loop_over_their_buckets(rows: int, chunk: int) -> None:
    rng = np.random.default_rng(rows)
    values = rng.normal(size=(rows, 3))
    columns = MinMaxColumns(3, columns=32)
    sizes = rng.integers(1, 2 * chunk + 1, size=rows)  # uneven chunks, some longer than a bucket
    at = 0
    for size in sizes.tolist():
        columns.add(values[at : at + size])
        at += size
        if at >= rows:
            break
    starts = columns.starts
    assert columns.rows == rows
    # buckets: one per row up to 64 rows, then between 32 and 64 of `per` rows, the last shorter
    assert len(starts) == min(rows, len(starts)) and (rows <= 64 or 32 < len(starts) <= 64)
    np.testing.assert_array_equal(starts, columns.per * np.arange(len(starts)))
    assert starts[-1] < rows <= starts[-1] + columns.per
    low, high = _plain_min_max(values, starts)
    np.testing.assert_array_equal(columns.minimum, low)
    np.testing.assert_array_equal(columns.maximum, high)


def test_a_one_row_spike_survives_decimation() -> None:
    rows, spike = 1_000_003, 777_777
    values = np.random.default_rng(0).normal(size=(rows, 1))
    values[spike] = 50.0
    values[spike + 1] = -50.0
    columns = MinMaxColumns(1, columns=1024)
    for at in range(0, rows, 65_000):
        columns.add(values[at : at + 65_000])
    starts = columns.starts
    bucket = int(np.searchsorted(starts, spike, side="right")) - 1
    after = int(np.searchsorted(starts, spike + 1, side="right")) - 1
    assert columns.maximum[bucket, 0] == 50.0 and columns.minimum[after, 0] == -50.0
    assert (columns.maximum[:, 0] == 50.0).sum() == 1
    low, high = _plain_min_max(values, starts)
    np.testing.assert_array_equal(columns.maximum, high)
    np.testing.assert_array_equal(columns.minimum, low)


def test_min_max_columns_reject_rows_of_another_width() -> None:
    with pytest.raises(ShapeError, match=r"expected rows \(n, L\) with L = 2 lanes"):
        MinMaxColumns(2).add(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="columns has to be an int >= 1"):
        MinMaxColumns(2, columns=0)


def test_trace_fed_in_chunks_equals_the_trace_of_all_rows() -> None:
    d = run_data()
    predictions = (d["scores"] > 2.5).astype(int)
    whole = DetectionTrace(S, labels=True, columns=64)
    whole.add(d["times"], d["values"], d["scores"], predictions=predictions, labels=d["labels"])
    parts = DetectionTrace(S, labels=True, columns=64)
    for at in range(0, N, 77):
        part = slice(at, at + 77)
        parts.add(
            d["times"][part],
            d["values"][part],
            d["scores"][part],
            predictions=predictions[part],
            labels=d["labels"][part],
        )
    for name in ("x", "sensors", "scores"):
        for got, want in zip(getattr(parts, name), getattr(whole, name), strict=True):
            np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(parts.flags, whole.flags)
    np.testing.assert_array_equal(parts.labels, whole.labels)
    assert parts.flagged == whole.flagged == predictions.sum()
    assert parts.spans == whole.spans == len(spans_from_binary(predictions))
    mean, sd = parts.standard()
    np.testing.assert_allclose(mean, d["values"].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sd, d["values"].std(axis=0), rtol=1e-12)


def test_trace_lanes_equal_plain_loops_over_their_buckets() -> None:
    """Past 2 * columns rows the buckets merge; each lane is still its bucket's exact range,
    the score's low end the smallest positive score, and the spans are counted across chunks."""
    rng = np.random.default_rng(3)
    rows = 1000
    values = rng.normal(size=(rows, 2))
    scores = np.where(rng.random(rows) < 0.3, 0.0, rng.exponential(size=rows))  # 0: unscored
    scores[:40] = 0.0  # a whole first bucket unscored: its low end is inf
    flags = (rng.random(rows) < 0.05).astype(int)
    flags[198:203] = 1  # a span across the chunk cut at 200
    trace = DetectionTrace(2, columns=16)
    for at, end in itertools.pairwise([0, 200, 201, 650, rows]):  # uneven chunks, one of 1 row
        trace.add(None, values[at:end], scores[at:end], predictions=flags[at:end])
    starts = trace.starts
    assert trace.rows == rows and 16 <= len(starts) <= 32 and starts[0] == 0
    low, high = _plain_min_max(values, starts)
    np.testing.assert_array_equal(trace.sensors[0], low)
    np.testing.assert_array_equal(trace.sensors[1], high)
    ends = [*starts[1:].tolist(), rows]
    buckets = list(zip(starts.tolist(), ends, strict=True))
    positive = [[v for v in scores[a:b].tolist() if v > 0] for a, b in buckets]
    np.testing.assert_array_equal(trace.scores[0], [min(p) if p else np.inf for p in positive])
    np.testing.assert_array_equal(trace.scores[1], [scores[a:b].max() for a, b in buckets])
    np.testing.assert_array_equal(trace.flags, [bool(flags[a:b].any()) for a, b in buckets])
    np.testing.assert_array_equal(trace.x[0], [float(a) for a, _ in buckets])
    np.testing.assert_array_equal(trace.x[1], [float(b - 1) for _, b in buckets])
    runs = sum(1 for i in range(rows) if flags[i] and (i == 0 or not flags[i - 1]))
    assert trace.spans == runs and trace.flagged == flags.sum()


def test_trace_rejects_mismatched_chunks() -> None:
    trace = DetectionTrace(2)
    with pytest.raises(ShapeError, match=r"values has to be \(3, 2\)"):
        trace.add(None, np.zeros((3, 4)), np.zeros(3), predictions=np.zeros(3))
    with pytest.raises(ValueError, match="labels has to be None"):
        trace.add(None, np.zeros((3, 2)), np.zeros(3), predictions=np.zeros(3), labels=np.zeros(3))
    trace.add(np.arange(3.0), np.zeros((3, 2)), np.zeros(3), predictions=np.zeros(3))
    with pytest.raises(ValueError, match="times has to be of one kind"):
        trace.add(
            np.array(["2020-01-01"] * 3, "datetime64[ns]"),
            np.zeros((3, 2)),
            np.zeros(3),
            predictions=np.zeros(3),
        )


def test_a_one_row_spike_in_a_long_lane_shows_in_the_plot(tmp_path: Path) -> None:
    rows, spike = 400_000, 123_457
    rng = np.random.default_rng(3)
    slow = np.sin(2 * np.pi * np.arange(rows) / 100_000)[:, None]  # (rows, 1): sd 0.71
    values = slow + rng.normal(size=(rows, 3)) * 0.01
    scores = np.full(rows, 0.5)
    flat = plot_detection(None, values, scores, 1.0, path=tmp_path / "flat.png")
    values[spike, 2] -= 3.0  # one row of the third lane (green), 4 sd below its neighbours
    spiked = plot_detection(None, values, scores, 1.0, path=tmp_path / "spike.png")
    green = np.array([round(255 * c) for c in to_rgb("C2")])

    def tall_green_columns(path: Path) -> np.ndarray:
        image = np.asarray(Image.open(path).convert("RGB")).astype(int)
        near = np.abs(image - green).max(axis=-1) <= 40  # (H, W)
        return np.flatnonzero(near.sum(axis=0) > 40)  # pixel columns with a tall green line

    # the spike draws a line about a lane's half height (a lane is a third of the sensor panel)
    # in one pixel column, where a plot of every 100th row would most likely have missed it
    assert len(tall_green_columns(flat)) == 0
    columns = tall_green_columns(spiked)
    assert 1 <= len(columns) <= 2
    image = np.asarray(Image.open(flat).convert("RGB")).astype(int)
    green_columns = np.flatnonzero((np.abs(image - green).max(axis=-1) <= 40).any(axis=0))
    runs = np.split(green_columns, np.flatnonzero(np.diff(green_columns) > 1) + 1)
    x_axis = max(runs, key=len)  # the lane's line, from row 0 to the last (not the tick label)
    where = (columns[0] - x_axis[0]) / (x_axis[-1] - x_axis[0])
    assert abs(where - spike / rows) < 0.01
