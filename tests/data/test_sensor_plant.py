"""Tests for cnnlstm.data.sensor_plant: SKAB layout, labels that match the injected changes,
changepoints, correlation structure, and reproducibility."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from cnnlstm.data.sensor_plant import (
    ANOMALY_KINDS,
    Anomaly,
    SensorPlant,
    sensor_names,
)
from cnnlstm.data.skab_files import write_skab_csv

# the bundled development data sit in shared/ beside the checkout
SKAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "skab"


@pytest.fixture(scope="module")
def plant() -> SensorPlant:
    return SensorPlant(seed=0)


@pytest.fixture(scope="module")
def frame(plant: SensorPlant) -> pd.DataFrame:
    return plant.generate(2000)


def test_columns_follow_skab(plant: SensorPlant, frame: pd.DataFrame) -> None:
    skab = pd.read_csv(SKAB / "valve1" / "1.csv", sep=";")
    assert list(frame.columns) == ["datetime", *plant.sensor_names, "anomaly", "changepoint"]
    assert list(frame.columns[[0, -2, -1]]) == list(skab.columns[[0, -2, -1]])
    # the eight sensors carry SKAB's sensor names
    assert plant.sensor_names == list(skab.columns[1:-2])
    step = frame["datetime"].diff().dropna().unique()
    assert len(step) == 1 and pd.Timedelta(step[0]) == pd.Timedelta(seconds=1)
    assert set(np.unique(frame["anomaly"])) == {0.0, 1.0}
    assert frame[plant.sensor_names].notna().all().all()


def test_csv_reads_back_like_a_skab_file(tmp_path: Path, plant: SensorPlant) -> None:
    path = tmp_path / "plant.csv"
    frame = plant.write_csv(path, 1500, index=2)
    lines = path.read_text().splitlines()
    skab_header = (SKAB / "valve1" / "1.csv").read_text().splitlines()[0]
    assert lines[0] == ";".join(["datetime", *plant.sensor_names, "anomaly", "changepoint"])
    assert lines[0] == skab_header
    assert len(lines) == 1501
    fields = lines[1].split(";")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", fields[0])
    assert fields[-2] in ("0.0", "1.0") and fields[-1] in ("0.0", "1.0")
    back = pd.read_csv(path, sep=";", parse_dates=["datetime"])
    skab = pd.read_csv(SKAB / "valve1" / "1.csv", sep=";", parse_dates=["datetime"])
    assert list(back.columns) == list(frame.columns)
    assert list(back.dtypes) == list(skab.dtypes)
    np.testing.assert_allclose(back[plant.sensor_names], frame[plant.sensor_names], rtol=1e-5)
    np.testing.assert_array_equal(back["anomaly"], frame["anomaly"])
    np.testing.assert_array_equal(back["changepoint"], frame["changepoint"])
    assert (back["datetime"] == frame["datetime"]).all()


def test_normal_file_is_like_skab_anomaly_free(tmp_path: Path, plant: SensorPlant) -> None:
    path = tmp_path / "anomaly-free.csv"
    frame = plant.write_normal_csv(path, 600)
    skab_header = (SKAB / "anomaly-free" / "anomaly-free.csv").read_text().splitlines()[0]
    assert path.read_text().splitlines()[0] == skab_header
    assert list(frame.columns) == ["datetime", *plant.sensor_names]
    # a recording of its own, not the anomalous one's clean version
    other = plant.generate(plant.min_rows, anomalies=False)
    assert not np.allclose(frame[plant.sensor_names], other[plant.sensor_names].iloc[:600])


def test_labels_cover_exactly_the_injected_segments(plant: SensorPlant) -> None:
    for index in range(4):
        dirty = plant.generate(1800, index=index)
        records = list(plant.anomalies)
        clean = plant.generate(1800, anomalies=False, index=index)
        assert plant.anomalies == [] and clean["anomaly"].sum() == 0
        changed = (dirty[plant.sensor_names] != clean[plant.sensor_names]).any(axis=1)
        np.testing.assert_array_equal(changed.to_numpy(), dirty["anomaly"].to_numpy() == 1.0)
        expected = np.zeros(1800)
        for record in records:
            expected[record.start : record.end] = 1.0
            touched = (dirty[list(record.sensors)] != clean[list(record.sensors)]).iloc[
                record.start : record.end
            ]
            assert touched.any(axis=0).all()  # every named sensor is changed
            untouched = [s for s in plant.sensor_names if s not in record.sensors]
            seg = slice(record.start, record.end)
            assert dirty[untouched].iloc[seg].equals(clean[untouched].iloc[seg])
        np.testing.assert_array_equal(dirty["anomaly"], expected)
        assert dirty.attrs["anomalies"] == records
        assert sorted(r.kind for r in records) == sorted(ANOMALY_KINDS)
        assert all(r.start >= plant.normal_rows for r in records)
        gaps = [b.start - a.end for a, b in itertools.pairwise(records)]
        assert min(gaps) >= plant.min_gap and 1800 - records[-1].end >= plant.min_gap


def test_changepoints_at_segment_edges(frame: pd.DataFrame, plant: SensorPlant) -> None:
    anomaly = frame["anomaly"].to_numpy()
    # SKAB marks the first row of a segment and the first row after it
    edges = np.flatnonzero(np.diff(np.concatenate([[0.0], anomaly])) != 0)
    np.testing.assert_array_equal(np.flatnonzero(frame["changepoint"].to_numpy()), edges)
    starts = [r.start for r in plant.generate(2000).attrs["anomalies"]]
    assert set(starts) <= set(edges.tolist())


def test_kinds_look_like_their_names(plant: SensorPlant) -> None:
    for kind in ANOMALY_KINDS:
        one = SensorPlant(seed=5, anomaly_kinds=[kind], n_anomalies=1)
        dirty = one.generate(1000)
        clean = one.generate(1000, anomalies=False)
        (record,) = dirty.attrs["anomalies"]
        assert record.kind == kind
        sensor = record.sensors[0]
        normal = clean[sensor].iloc[: one.normal_rows]
        seg = slice(record.start, record.end)
        delta = (dirty[sensor] - clean[sensor]).iloc[seg].to_numpy() / normal.std()
        if kind == "spike":
            assert 1 <= len(delta) <= 5 and (np.abs(delta) >= 2.0).all()
            assert (np.abs(delta) <= 6.0).all()  # a few sigma, not a trivial 50
        elif kind == "drift":
            assert (np.diff(np.abs(delta)) > 0).all() and len(delta) >= 80  # grows slowly
            assert 1.5 <= np.abs(delta[-1]) <= 6.0 and np.abs(delta[0]) < 0.1
        elif kind == "stuck":
            assert dirty[sensor].iloc[seg].nunique() == 1
            assert dirty[sensor].iloc[record.start] == dirty[sensor].iloc[record.start - 1]
        elif kind == "noise":
            rough = dirty[sensor].diff().iloc[seg].std()
            assert rough > 2.5 * clean[sensor].diff().iloc[seg].std()
        else:  # decouple keeps the level and spread
            values = dirty[sensor].iloc[seg]
            assert abs(values.mean() - clean[sensor].iloc[seg].mean()) < 0.5 * normal.std()
            assert 0.5 < values.std() / clean[sensor].iloc[seg].std() < 2.0


@pytest.mark.parametrize(("seed", "n_sensors"), [(0, 8), (3, 16), (11, 24)])
def test_correlation_high_when_normal_broken_when_decoupled(seed: int, n_sensors: int) -> None:
    plant = SensorPlant(seed=seed, n_sensors=n_sensors, anomaly_kinds=["decouple"], n_anomalies=2)
    frame = plant.generate(plant.min_rows)
    names = plant.sensor_names
    normal = frame[names].iloc[: plant.normal_rows].corr().abs().to_numpy()
    assert normal.min() >= 0.7
    for record in plant.anomalies:
        (sensor,) = record.sensors
        corr = frame[names].iloc[record.start : record.end].corr().abs()
        with_others = corr[sensor].drop(sensor)
        among_others = corr.drop(index=sensor, columns=sensor).to_numpy()
        assert with_others.mean() <= 0.25 and with_others.max() <= 0.55
        assert np.median(among_others) >= 0.5  # the rest still move together


def test_reproducible_by_seed() -> None:
    a = SensorPlant(seed=7).generate(1500)
    b = SensorPlant(seed=7).generate(1500)
    c = SensorPlant(seed=8).generate(1500)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["anomalies"] == b.attrs["anomalies"]
    assert not np.allclose(a.iloc[:, 1:9], c.iloc[:, 1:9])
    other = SensorPlant(seed=7).generate(1500, index=1)
    assert not np.allclose(a.iloc[:, 1:9], other.iloc[:, 1:9])
    pd.testing.assert_frame_equal(SensorPlant(seed=7).normal(50), SensorPlant(seed=7).normal(50))


def test_many_sensors_and_dataset_items() -> None:
    plant = SensorPlant(n_sensors=64, seed=2, num_samples=3, rows=1500)
    assert len(set(plant.sensor_names)) == 64
    assert plant.sensor_names == sensor_names(64)
    assert plant.sensor_names[8] == "Accelerometer1RMS_2"
    values, labels = plant[1]
    assert values.shape == (1500, 64) and labels.shape == (1500,)
    assert values.dtype == torch.float32 and labels.dtype == torch.float32
    frame = plant.generate(1500, index=1)
    np.testing.assert_allclose(values.numpy(), frame[plant.sensor_names], rtol=1e-6)
    np.testing.assert_array_equal(labels.numpy(), frame["anomaly"])
    assert len(plant) == 3
    with pytest.raises(IndexError):
        plant[3]


def test_records_are_named_tuples(plant: SensorPlant, frame: pd.DataFrame) -> None:
    record = frame.attrs["anomalies"][0]
    assert isinstance(record, Anomaly)
    start, end, kind, sensors = record
    assert end - start > 0 and kind in ANOMALY_KINDS and set(sensors) <= set(plant.sensor_names)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_sensors": 7}, "n_sensors has to be in \\[8, 64\\]"),
        ({"n_sensors": 65}, "n_sensors"),
        ({"anomaly_kinds": ["spike", "meteor"]}, "anomaly_kinds has to be distinct kinds"),
        ({"anomaly_kinds": []}, "anomaly_kinds"),
        ({"n_anomalies": -1}, "n_anomalies"),
        ({"normal_rows": -5}, "normal_rows"),
        ({"min_gap": 0}, "min_gap"),
        ({"rows": 100}, "rows has to be at least min_rows="),
        ({"start": "yesterday-ish"}, "start has to be a time"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SensorPlant(**kwargs)


def test_too_few_rows_for_generate(plant: SensorPlant) -> None:
    with pytest.raises(ValueError, match=f"rows has to be at least min_rows={plant.min_rows}"):
        plant.generate(plant.min_rows - 1)
    assert len(SensorPlant(n_anomalies=0).generate(10)) == 10
    assert len(plant.generate(10, anomalies=False)) == 10


# ----------------------------------------------------------------------------- in parts

PLANTS = {
    "default": ({"seed": 0}, 2000),
    "held": (
        {"seed": 5, "n_sensors": 9, "anomaly_kinds": ("stuck", "decouple"), "n_anomalies": 4},
        2500,
    ),
    "spikes": (
        {"seed": 7, "n_sensors": 16, "anomaly_kinds": ("spike",), "n_anomalies": 6, "min_gap": 1},
        900,
    ),
}


@pytest.mark.parametrize("chunk_rows", [1, 37, 500, 1999, 100_000])
@pytest.mark.parametrize("name", sorted(PLANTS))
def test_a_chunked_write_equals_the_whole_write_byte_for_byte(
    tmp_path: Path, name: str, chunk_rows: int
) -> None:
    options, rows = PLANTS[name]
    plant = SensorPlant(**options)
    write_skab_csv(plant.generate(rows, index=1), tmp_path / "whole.csv")
    expected = plant.anomalies
    got = plant.write_csv_in_chunks(tmp_path / "parts.csv", rows, index=1, chunk_rows=chunk_rows)
    assert (tmp_path / "parts.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    assert got == expected == plant.anomalies and len(got) == options.get("n_anomalies", 5)
    write_skab_csv(plant.normal(rows), tmp_path / "normal.csv")
    assert (
        plant.write_csv_in_chunks(
            tmp_path / "normal-parts.csv", rows, normal=True, chunk_rows=chunk_rows
        )
        == []
    )
    assert (tmp_path / "normal-parts.csv").read_bytes() == (tmp_path / "normal.csv").read_bytes()
    assert plant.anomalies == expected  # the normal recording leaves them as they were


def test_chunks_hold_each_anomaly_whole_with_the_row_before_it() -> None:
    plant = SensorPlant(seed=3, n_anomalies=6, min_gap=1, anomaly_kinds=("stuck", "drift"))
    whole = plant.generate(2000)
    parts = list(plant.chunks(2000, chunk_rows=50))
    assert [p.start for p in parts] == list(
        itertools.accumulate([0] + [len(p.values) for p in parts[:-1]])
    )
    assert max(len(p.values) for p in parts) <= 50 + 200  # a part grows by an anomaly at most
    for part in parts:
        for anomaly in part.anomalies:
            assert part.start < anomaly.start and anomaly.end <= part.start + len(part.values)
    assert [a for p in parts for a in p.anomalies] == whole.attrs["anomalies"]
    np.testing.assert_array_equal(
        np.concatenate([p.values for p in parts]), whole[plant.sensor_names].to_numpy()
    )
    for column in ("anomaly", "changepoint"):
        got = np.concatenate([getattr(p, column) for p in parts])
        np.testing.assert_array_equal(got, whole[column].to_numpy())


def test_chunks_reject_a_bad_chunk_size() -> None:
    with pytest.raises(ValueError, match="chunk_rows has to be a positive int, but got 0"):
        next(SensorPlant().chunks(2000, chunk_rows=0))
