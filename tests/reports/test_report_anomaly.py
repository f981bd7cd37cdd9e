"""The anomaly report: a 1600x900 PNG with the shaded spans, and a Markdown summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from cnnlstm.errors import ShapeError
from cnnlstm.evaluation import Counts, skab_scores, spans_from_binary
from cnnlstm.reports.anomaly import (
    _SHADE_ALPHA,
    LABEL_COLOR,
    MAX_LANES,
    plot_detection,
    write_summary,
)

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
