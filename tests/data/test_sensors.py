"""SensorCSV and SKAB against independent reads (csv module), plus fuzzed messy files."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import math
import re
import statistics
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnlstm.data.sensors import SKAB, SensorCSV, SensorWindows, StandardScaler, sniff_delimiter
from cnnlstm.errors import DataError

SKAB_ROOT = Path("/work/shared/data/skab")
SKAB_SENSORS = [
    "Accelerometer1RMS",
    "Accelerometer2RMS",
    "Current",
    "Pressure",
    "Temperature",
    "Thermocouple",
    "Voltage",
    "Volume Flow RateRMS",
]


def read_plain(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    return rows[0], [row for row in rows[1:] if row]


def expected_gaps(stamps: list[dt.datetime], factor: float = 2.0) -> list[tuple[int, float]]:
    steps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    typical = statistics.median(steps)
    return [(i + 1, step) for i, step in enumerate(steps) if step > factor * typical]


def test_skab_lists_every_file() -> None:
    skab = SKAB(SKAB_ROOT)
    expected = (
        [f"valve1/{i}.csv" for i in range(16)]
        + [f"valve2/{i}.csv" for i in range(4)]
        + [f"other/{i}.csv" for i in range(1, 15)]
    )
    assert skab.files == expected and len(skab) == 34
    assert skab.anomaly_free == "anomaly-free/anomaly-free.csv"
    assert skab.path("valve2/3") == SKAB_ROOT / "valve2" / "3.csv"
    with pytest.raises(DataError, match=r"no file 'valve3/1\.csv'"):
        skab.load("valve3/1.csv")


@pytest.mark.parametrize(
    "name",
    [
        *(f"valve1/{i}.csv" for i in range(16)),
        *(f"valve2/{i}.csv" for i in range(4)),
        *(f"other/{i}.csv" for i in range(1, 15)),
        "anomaly-free/anomaly-free.csv",
    ],
)
def test_skab_file_matches_a_plain_read(name: str) -> None:
    header, rows = read_plain(SKAB_ROOT / name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = SKAB(SKAB_ROOT, window=16, stride=5).load(name)
    labelled = "anomaly" in header
    assert data.columns == header
    assert data.delimiter == ";"
    assert data.time_column == "datetime"
    assert data.feature_names == SKAB_SENSORS
    assert data.label_names == (["anomaly", "changepoint"] if labelled else [])
    assert data.features.shape == (len(rows), 8)
    expected = np.array([[float(row[header.index(c)]) for c in SKAB_SENSORS] for row in rows])
    assert np.array_equal(data.features, expected)
    assert data.lines.tolist() == list(range(2, len(rows) + 2))
    stamps = [dt.datetime.strptime(row[0], "%Y-%m-%d %H:%M:%S") for row in rows]
    assert [str(t)[:19].replace("T", " ") for t in data.times[[0, -1]]] == [
        str(stamps[0]),
        str(stamps[-1]),
    ]
    gaps = expected_gaps(stamps)
    assert data.gaps == gaps
    assert len([w for w in caught if "gap" in str(w.message)]) == (1 if gaps else 0)
    if labelled:
        assert data.labels is not None
        for k, column in enumerate(["anomaly", "changepoint"]):
            count = sum(float(row[header.index(column)]) == 1.0 for row in rows)
            assert int(data.labels[:, k].sum()) == count
        assert data.targets.tolist() == [int(float(row[-2])) for row in rows]
    else:
        assert data.labels is None and not data.targets.any()
    assert len(data) == (len(rows) - 16) // 5 + 1
    window, labels = data[3]
    assert window.shape == (16, 8) and window.dtype == torch.float32
    assert torch.equal(window, torch.tensor(expected[15:31], dtype=torch.float32))
    assert labels.dtype == torch.int64 and torch.equal(
        labels, torch.from_numpy(data.targets[15:31])
    )


def test_scaler_is_fitted_on_training_rows_only(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(60, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -2.0]
    lines = ["a,b,c"] + [",".join(repr(float(v)) for v in row) for row in values]
    (tmp_path / "s.csv").write_text("\n".join(lines))
    data = SensorCSV(tmp_path / "s.csv", window=10, train_rows=40)
    assert data.scaler is not None and data.time_column is None
    for j in range(3):
        column = [values[i, j] for i in range(40)]
        mean = sum(column) / 40
        std = math.sqrt(sum((v - mean) ** 2 for v in column) / 40)
        assert data.scaler.mean is not None and data.scaler.std is not None
        assert math.isclose(data.scaler.mean[j], mean, rel_tol=1e-12)
        assert math.isclose(data.scaler.std[j], std, rel_tol=1e-12)
        assert np.allclose(data.data[:, j], (values[:, j] - mean) / std, atol=1e-6)
    # rows after train_rows do not move the scaler
    changed = values.copy()
    changed[40:] *= 100
    lines = ["a,b,c"] + [",".join(repr(float(v)) for v in row) for row in changed]
    (tmp_path / "t.csv").write_text("\n".join(lines))
    other = SensorCSV(tmp_path / "t.csv", window=10, train_rows=40)
    assert other.scaler is not None
    assert np.array_equal(other.scaler.state_dict()["mean"], data.scaler.state_dict()["mean"])
    # a fitted scaler is used as it is; an unfitted one is fitted on all rows
    reused = SensorCSV(tmp_path / "t.csv", window=10, scaler=data.scaler)
    assert reused.scaler is data.scaler
    fresh = SensorCSV(tmp_path / "s.csv", window=10, scaler=StandardScaler())
    assert fresh.scaler is not None and fresh.scaler.mean is not None
    assert np.allclose(fresh.scaler.mean, values.mean(axis=0))
    assert SensorCSV(tmp_path / "s.csv", window=10).scaler is None
    with pytest.raises(DataError, match=r"has 2 sensor columns \['a', 'c'\] but the scaler was"):
        SensorCSV(tmp_path / "t.csv", window=10, scaler=data.scaler, columns=["a", "c"])
    with pytest.raises(DataError, match="train_rows=61 but the file has 60 rows"):
        SensorCSV(tmp_path / "s.csv", window=10, train_rows=61)


def test_standard_scaler() -> None:
    x = np.array([[1.0, 4.0, 7.0], [3.0, 4.0, 9.0], [5.0, 4.0, 20.0]])
    scaler = StandardScaler()
    assert not scaler.fitted and "unfitted" in repr(scaler)
    with pytest.raises(ValueError, match="has to be fitted first"):
        scaler.transform(x)
    scaler.fit(x)
    expected = np.empty_like(x)
    for j in range(3):
        column = x[:, j]
        std = math.sqrt(sum((v - column.mean()) ** 2 for v in column) / 3) or 1.0
        expected[:, j] = (column - column.mean()) / std
    assert np.allclose(scaler.transform(x), expected)
    assert np.allclose(scaler.transform(x)[:, 1], 0.0)  # a constant column maps to 0
    t = torch.tensor(x, dtype=torch.float32).expand(2, 3, 3)
    assert torch.allclose(scaler.transform(t), torch.tensor(expected, dtype=torch.float32))
    assert torch.allclose(scaler.inverse_transform(scaler.transform(t)), t, atol=1e-5)
    assert np.allclose(scaler.inverse_transform(scaler.transform(x)), x)
    restored = StandardScaler().load_state_dict(scaler.state_dict())
    assert np.array_equal(restored.transform(x), scaler.transform(x))
    with pytest.raises(ValueError, match="has to have 3 features"):
        scaler.transform(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="has to be finite"):
        StandardScaler().fit(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="'mean' and 'std'"):
        StandardScaler().load_state_dict({"mean": torch.zeros(2)})


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["time;a;b", "2020-01-01 10:00:00;1,5;2"], ";"),
        (["a,b,c", "1,2,3", "4,5,6"], ","),
        (["a\tb", "1\t2"], "\t"),
        (["a|b|c", "1|2|3"], "|"),
        (["a  b   c", "1 2 3", "4\t5 6"], "whitespace"),
        (["value", "1.5", "2.5"], None),
        (["a;b", "", "1;2"], ";"),
    ],
)
def test_sniff_delimiter(lines: list[str], expected: str | None) -> None:
    assert sniff_delimiter(lines) == expected


def test_time_columns_headers_and_one_column(tmp_path: Path) -> None:
    # the first column reads as dates although it is not named like time
    rows = [f"2021-05-0{d} 12:00|{d}|{d * d}" for d in range(1, 8)]
    (tmp_path / "a.txt").write_text("\n".join(["when|x|y", *rows]))
    data = SensorCSV(tmp_path / "a.txt", window=3)
    assert data.delimiter == "|" and data.time_column == "when"
    assert data.feature_names == ["x", "y"]
    assert data.times is not None and str(data.times[1])[:10] == "2021-05-02"
    # a numeric time column counts seconds; gaps are found in it
    rows = [f"{t},{t * 2}" for t in (0, 1, 2, 3, 10, 11, 12)]
    (tmp_path / "b.csv").write_text("\n".join(["time,flow", *rows]))
    with pytest.warns(UserWarning, match=r": 1 gap in time .*: 7 s before line 6\.$"):
        data = SensorCSV(tmp_path / "b.csv", window=2)
    assert data.gaps == [(4, 7.0)] and data.times is not None and data.times[4] == 10.0
    for header, time_column in (
        ("Time (s),flow", "Time (s)"),
        ("date_time,flow", "date_time"),
        ("cycle_time,flow", None),  # a sensor, not the clock
    ):
        (tmp_path / "n.csv").write_text("\n".join([header, *rows[:4]]))
        named = SensorCSV(tmp_path / "n.csv", window=2)
        assert named.time_column == time_column
        assert len(named.feature_names) == (1 if time_column else 2)
    none = SensorCSV(tmp_path / "b.csv", window=2, datetime_column=None)
    assert none.feature_names == ["time", "flow"] and none.times is None
    # no header: a first line of numbers and dates is data
    (tmp_path / "c.csv").write_text("2020-01-01T00:00:00 1.5 2\n2020-01-01T00:00:01 2.5 3\n")
    data = SensorCSV(tmp_path / "c.csv", window=1)
    assert data.columns == ["column0", "column1", "column2"] and data.time_column == "column0"
    assert data.delimiter == "whitespace"
    assert data.features.tolist() == [[1.5, 2.0], [2.5, 3.0]]
    assert data.lines.tolist() == [1, 2]
    # one column, blank lines skipped, line numbers kept
    (tmp_path / "d.csv").write_text("level\n1\n\n2\n  \n3\n")
    data = SensorCSV(tmp_path / "d.csv", window=2)
    assert data.delimiter is None and data.features[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert data.lines.tolist() == [2, 4, 6] and len(data) == 2
    # labels only from label_columns; columns picks features
    text = "t;a;b;status;anomaly\n" + "\n".join(f"{i};{i};{-i};{i % 2};{i % 2}" for i in range(5))
    (tmp_path / "e.csv").write_text(text)
    data = SensorCSV(tmp_path / "e.csv", window=2, label_columns=("anomaly", "status"))
    assert data.feature_names == ["t", "a", "b"] and data.label_names == ["anomaly", "status"]
    picked = SensorCSV(tmp_path / "e.csv", window=2, columns=["b"])
    assert picked.feature_names == ["b"] and picked.features[:, 0].tolist() == [0, -1, -2, -3, -4]


@pytest.mark.parametrize(
    ("name", "coding", "line", "cell"),
    [("anomaly", (-1, 1), 2, "-1"), ("Anomaly", (0, 2), 3, "2"), ("changepoint", (1, 2), 3, "2")],
)
def test_an_anomaly_label_other_than_0_or_1_is_refused_by_both_readers(
    tmp_path: Path, name: str, coding: tuple[int, int], line: int, cell: str
) -> None:
    """A -1/1 or 0/2 coding of a binary label column would count every row (or none) as
    anomalous; both readers stop on its first such cell, by line. Another label column keeps
    its class ids."""
    from cnnlstm.data.sensor_chunks import SensorChunks

    normal, anomalous = coding
    labels = [normal, anomalous, anomalous, normal, normal, normal]
    rows = [f"{i},{i * 0.5},{label},{i % 3}" for i, label in enumerate(labels)]
    path = tmp_path / "coded.csv"
    path.write_text(f"a,b,{name},status\n" + "\n".join(rows) + "\n")
    want = re.escape(f"line {line}, label column '{name}': '{cell}' is neither 0 (normal) nor 1")
    with pytest.raises(DataError, match=want):
        SensorCSV(path, window=1, label_columns=(name, "status"))
    with pytest.raises(DataError, match=want):
        list(SensorChunks(path, cells=8, label_columns=(name, "status")))
    fine = tmp_path / "fine.csv"
    fine.write_text("a,b,anomaly,status\n" + "\n".join(f"{i},1,{i % 2},{i % 3}" for i in range(6)))
    data = SensorCSV(fine, window=1, label_columns=("anomaly", "status"))
    assert data.labels is not None and data.labels[:, 1].tolist() == [0, 1, 2, 0, 1, 2]


def test_bad_files_name_the_line_and_column(tmp_path: Path) -> None:
    def write(text: str) -> Path:
        path = tmp_path / "bad.csv"
        path.write_text(text)
        return path

    with pytest.raises(DataError, match="no such file"):
        SensorCSV(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="the file is empty"):
        SensorCSV(write("\n\n"))
    with pytest.raises(DataError, match="has a header but no rows"):
        SensorCSV(write("a;b\n"))
    rows = "datetime;p;q\n2020-01-01 00:00:00;1;2\n2020-01-01 00:00:01;1;x2\n"
    with pytest.raises(DataError, match=r"bad\.csv: line 3, column 'q': 'x2' is not a finite"):
        SensorCSV(write(rows), window=1)
    rows = "p,q\n1,2\n3,\n4,5\n"
    with pytest.raises(DataError, match=r"line 3, column 'q' is empty \(NaN\)"):
        SensorCSV(write(rows), window=1)
    rows = "time,p\n2020-01-01 00:00:00,1\n2020-01-01 00:00:02,1\n2020-01-01 00:00:01,3\n"
    with pytest.raises(DataError, match=r"line 4: time 2020-01-01 00:00:01 comes before"):
        SensorCSV(write(rows), window=1)
    rows = "time,p\n2020-01-01 00:00:00,1\nyesterday,2\n"
    with pytest.raises(DataError, match=r"line 3, column 'time': 'yesterday' is not a date"):
        SensorCSV(write(rows), window=1)
    rows = "p;q;anomaly\n1;2;0\n\n3;4;0;9\n"
    with pytest.raises(DataError, match=r"line 4: rows have different numbers of fields"):
        SensorCSV(write(rows), window=1)
    rows = "p;q;anomaly\n1;2;0\n3;4;maybe\n"
    with pytest.raises(DataError, match=r"line 3, column 'anomaly': 'maybe'"):
        SensorCSV(write(rows), window=1)
    rows = "p;q;anomaly\n1;2;0\n3;4;0.5\n"
    with pytest.raises(DataError, match=r"line 3, label column 'anomaly'"):
        SensorCSV(write(rows), window=1)
    rows = "p;q;anomaly\n1;2;0\n3;4;0\n"
    with pytest.raises(DataError, match=r"has no column 'r'; its columns are \['p', 'q'"):
        SensorCSV(write(rows), window=1, columns=["p", "r"])
    with pytest.raises(DataError, match="'anomaly' is a label column"):
        SensorCSV(write(rows), window=1, columns=["p", "anomaly"])
    with pytest.raises(DataError, match="has no datetime column 'stamp'"):
        SensorCSV(write(rows), window=1, datetime_column="stamp")
    with pytest.raises(DataError, match="2 rows, fewer than one window of 3"):
        SensorCSV(write(rows), window=3)
    with pytest.raises(DataError, match=r"repeats the column names \['p'\]"):
        SensorCSV(write("p;p\n1;2\n"), window=1)
    with pytest.raises(DataError, match="column 'q' has no values at all"):
        SensorCSV(write("p;q\n1;\n2;nan\n"), window=1, nan_policy="ffill")
    with pytest.raises(ValueError, match="window and stride have to be positive"):
        SensorCSV(tmp_path / "missing.csv", window=0)
    with pytest.raises(ValueError, match="nan_policy has to be one of"):
        SensorCSV(write(rows), nan_policy="zero")  # type: ignore[arg-type]


def _gappy_file(path: Path, steps: dict[int, int], rows: int = 60) -> Path:
    """Rows one second apart but for ``steps`` (row -> seconds since the row before)."""
    t, lines = 0, ["time;a;b"]
    for i in range(rows):
        t += steps.get(i, 1)
        lines.append(f"{t};{i};{2 * i}")
    path.write_text("\n".join(lines))
    return path


def test_gap_warning_lists_the_longest_three_on_one_line(tmp_path: Path) -> None:
    steps = {10: 31, 20: 12, 30: 5, 40: 7, 50: 3}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = SensorCSV(_gappy_file(tmp_path / "g.csv", steps), window=2)
    (message,) = [str(w.message) for w in caught]
    # row i is on line i + 2 (after the header)
    assert data.gaps == [(row, float(s)) for row, s in sorted(steps.items())]
    assert message == (
        f"{tmp_path / 'g.csv'}: 5 gaps in time longer than 2 x the usual step of 1 s; the 3 "
        f"longest: 31 s before line 12, 12 s before line 22, 7 s before line 42 "
        f"(SensorCSV.gaps has them all)."
    )
    assert "\n" not in message


def test_gap_warning_lists_all_of_up_to_three_gaps(tmp_path: Path) -> None:
    with pytest.warns(UserWarning) as record:
        SensorCSV(_gappy_file(tmp_path / "g.csv", {10: 4, 30: 9}), window=2)
    message = str(record[0].message)
    assert message.endswith(
        ": 2 gaps in time longer than 2 x the usual step of 1 s: 9 s before "
        "line 32, 4 s before line 12."
    )
    assert ".gaps" not in message


def test_text_columns_get_the_columns_that_read_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    lines = [f"2020-01-01 00:00:{i:02d};{i};ok;{-i};Zone {i % 2};0" for i in range(5)]
    path.write_text("\n".join(["datetime;a;status;b;zone;anomaly", *lines]))
    with pytest.raises(DataError) as info:
        SensorCSV(path, window=1)
    message = str(info.value)
    assert "line 2, column 'status': 'ok' is not a finite number" in message
    assert message.endswith("(pick the sensor columns with columns=['a', 'b']).")
    assert info.value.suggested_columns == ["a", "b"]  # type: ignore[attr-defined]
    # the suggestion is right: those columns read
    assert SensorCSV(path, window=1, columns=["a", "b"]).features[:, 1].tolist() == [
        0,
        -1,
        -2,
        -3,
        -4,
    ]
    # no column of numbers: the delimiter is the likelier mistake
    path.write_text("p;q\nx;y\nz;w\n")
    with pytest.raises(
        DataError, match=r"no column \['p', 'q'\] reads as numbers; check the delim"
    ):
        SensorCSV(path, window=1)
    # a text label is no sensor to pick
    path.write_text("p;anomaly\n1;0\n2;maybe\n")
    with pytest.raises(
        DataError,
        match=r"'maybe' is not a finite number; expected numbers in "
        r"this column\.$",
    ) as label_info:
        SensorCSV(path, window=1)
    assert not hasattr(label_info.value, "suggested_columns")


def test_an_empty_column_gets_the_columns_to_keep(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("p;q;r\n1;;3\n2;nan;4\n")
    with pytest.raises(DataError, match=r"leave it out with columns=\['p', 'r'\]\.$") as info:
        SensorCSV(path, window=1, nan_policy="ffill")
    assert info.value.suggested_columns == ["p", "r"]  # type: ignore[attr-defined]


def test_sensor_windows_respect_their_rows() -> None:
    data = np.arange(40, dtype=np.float64).reshape(20, 2)
    targets = np.arange(20) % 2
    windows = SensorWindows(data, targets, window=4, stride=3, start=5, stop=15)
    assert windows.window_starts.tolist() == [5, 8, 11]
    x, y = windows[2]
    assert torch.equal(x, torch.tensor(data[11:15], dtype=torch.float32))
    assert y.tolist() == targets[11:15].tolist()
    with pytest.raises(DataError, match="rows 5 to 7 are 2 rows, fewer than one window of 4"):
        SensorWindows(data, targets, window=4, start=5, stop=7)
    with pytest.raises(ValueError, match="start and stop have to satisfy"):
        SensorWindows(data, targets, window=4, start=5, stop=30)


# -- fuzzing ------------------------------------------------------------------------------------

MARKERS = ["", "nan", "NaN", "NA"]


@st.composite
def messy_files(draw: st.DrawFn) -> dict[str, object]:
    """A sensor table plus what is wrong with it, written to text by the test itself."""
    n_rows = draw(st.integers(2, 25))
    n_features = draw(st.integers(1, 4))
    delimiter = draw(st.sampled_from([";", ",", "\t", "|", " "]))
    with_time = draw(st.booleans())
    with_label = draw(st.booleans())
    values = draw(
        st.lists(
            st.lists(
                st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False).map(
                    lambda v: round(v, 4)
                ),
                min_size=n_features,
                max_size=n_features,
            ),
            min_size=n_rows,
            max_size=n_rows,
        )
    )
    holes = draw(st.sets(st.tuples(st.integers(0, n_rows - 1), st.integers(0, n_features - 1))))
    steps = draw(st.lists(st.sampled_from([1, 1, 1, 2, 30]), min_size=n_rows, max_size=n_rows))
    labels = draw(st.lists(st.integers(0, 1), min_size=n_rows, max_size=n_rows))
    fault = draw(st.sampled_from(["none", "none", "text", "shuffle"]))
    fault_row = draw(st.integers(0, n_rows - 1))
    fault_column = draw(st.integers(0, n_features - 1))
    blank_after = draw(st.sets(st.integers(0, n_rows - 1), max_size=3))
    return {
        "values": values,
        "holes": holes,
        "delimiter": delimiter,
        "with_time": with_time,
        "with_label": with_label,
        "seconds": list(np.cumsum(steps) - steps[0]),
        "labels": labels,
        "fault": fault,
        "fault_row": fault_row,
        "fault_column": fault_column,
        "blank_after": blank_after,
        "marker": draw(st.sampled_from(MARKERS)),
        "nan_policy": draw(st.sampled_from(["fail", "ffill", "interpolate"])),
        "window": draw(st.integers(1, 6)),
    }


def fill_expected(
    values: list[list[float | None]], policy: str, seconds: list[float] | None
) -> np.ndarray | None:
    """The NaN policy, the slow obvious way; None when the reader has to refuse the file."""
    n, s = len(values), len(values[0])
    out = np.zeros((n, s))
    for j in range(s):
        column = [row[j] for row in values]
        known = [i for i, v in enumerate(column) if v is not None]
        if not known or (policy == "fail" and len(known) < n):
            return None
        for i, v in enumerate(column):
            if v is not None:
                out[i, j] = v
            elif policy == "ffill":
                before = [k for k in known if k < i]
                out[i, j] = column[before[-1] if before else known[0]]  # type: ignore[assignment]
            else:
                position = seconds if seconds is not None else list(range(n))
                left = [k for k in known if k < i]
                right = [k for k in known if k > i]
                if not left:
                    out[i, j] = column[right[0]]  # type: ignore[assignment]
                elif not right:
                    out[i, j] = column[left[-1]]  # type: ignore[assignment]
                else:
                    a, b = left[-1], right[0]
                    va, vb = column[a], column[b]
                    assert va is not None and vb is not None
                    share = (position[i] - position[a]) / (position[b] - position[a])
                    out[i, j] = va + share * (vb - va)
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=messy_files())
def test_messy_files_load_right_or_raise_data_error(
    tmp_path_factory: pytest.TempPathFactory, case: dict[str, object]
) -> None:
    values: list[list[float | None]] = [list(row) for row in case["values"]]  # type: ignore[attr-defined]
    n_rows, n_features = len(values), len(values[0])
    delimiter = str(case["delimiter"])
    with_time, with_label = bool(case["with_time"]), bool(case["with_label"])
    fault, row_f, col_f = case["fault"], int(case["fault_row"]), int(case["fault_column"])  # type: ignore[call-overload]
    seconds = [float(s) for s in case["seconds"]]  # type: ignore[attr-defined]
    marker = str(case["marker"])
    lonely = n_features == 1 and not with_time and not with_label
    if delimiter == " " or lonely:
        marker = "nan"  # an empty cell cannot be told apart from blanks there
    for i, j in case["holes"]:  # type: ignore[attr-defined]
        values[i][j] = None
    cells = [[marker if v is None else repr(v) for v in row] for row in values]
    if fault == "text":
        cells[row_f][col_f] = "n/a?" if row_f % 2 else "12abc"
    start = dt.datetime(2021, 3, 1, 8, 0, 0)
    stamps = [start + dt.timedelta(seconds=s) for s in seconds]
    shuffled = False
    if fault == "shuffle" and with_time and n_rows > 1:
        a, b = row_f, (row_f + 1) % n_rows
        shuffled = stamps[a] != stamps[b]
        stamps[a], stamps[b] = stamps[b], stamps[a]
    time_format = "%Y-%m-%dT%H:%M:%S" if delimiter == " " else "%Y-%m-%d %H:%M:%S"
    header = (["timestamp"] if with_time else []) + [f"sensor{j}" for j in range(n_features)]
    if with_label:
        header.append("anomaly")
    glue = "   " if delimiter == " " else delimiter
    lines = [glue.join(header)]
    line_of_row = []
    for i in range(n_rows):
        row = ([stamps[i].strftime(time_format)] if with_time else []) + cells[i]
        if with_label:
            row.append(str(case["labels"][i]))  # type: ignore[index]
        lines.append(glue.join(row))
        line_of_row.append(len(lines))
        if i in case["blank_after"]:  # type: ignore[operator]
            lines.append("")
    path = tmp_path_factory.mktemp("fuzz") / "sensors.csv"
    path.write_text("\n".join(lines) + "\n")

    policy = str(case["nan_policy"])
    window = int(case["window"])  # type: ignore[call-overload]
    time_seconds = [(t - stamps[0]).total_seconds() for t in stamps] if with_time else None
    expected = fill_expected(values, policy, time_seconds)
    must_fail = fault == "text" or shuffled or expected is None or n_rows < window
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = SensorCSV(path, window=window, nan_policy=policy)  # type: ignore[arg-type]
    except DataError as err:
        assert must_fail, f"refused a good file: {err}\n" + "\n".join(lines)
        assert str(path) in str(err)
        if fault == "text":
            assert f"line {line_of_row[row_f]}, column 'sensor{col_f}'" in str(err)
        elif shuffled:
            assert "comes before" in str(err)
        return
    assert not must_fail, "loaded a file it had to refuse:\n" + "\n".join(lines)
    assert expected is not None
    assert data.feature_names == [f"sensor{j}" for j in range(n_features)]
    assert data.time_column == ("timestamp" if with_time else None)
    assert data.lines.tolist() == line_of_row
    np.testing.assert_allclose(data.features, expected, rtol=1e-9, atol=1e-9)
    labels = case["labels"] if with_label else [0] * n_rows
    assert data.targets.tolist() == labels
    assert len(data) == n_rows - window + 1
    if with_time:
        steps = [b - a for a, b in itertools.pairwise(seconds)]
        typical = statistics.median(steps) if steps else 0
        gaps = [(k + 1, s) for k, s in enumerate(steps) if typical > 0 and s > 2 * typical]
        assert data.gaps == gaps
