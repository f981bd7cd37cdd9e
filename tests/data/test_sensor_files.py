"""SensorCSV on plant files as they come from PLC and SCADA exports: decimal commas, grouped
thousands, units rows, BOM and CRLF, day-first dates, date and time columns, offsets, inf.

Every expected value is worked out here with the standard library (``datetime``, ``csv``,
string formatting), not with the reader under test."""

from __future__ import annotations

import datetime as dt
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from cnnlstm.data.sensors import SensorCSV, read_number, sniff_decimal
from cnnlstm.errors import DataError


def _values(rows: int = 30, sensors: int = 3, seed: int = 0) -> np.ndarray:
    """Sensor values with 3 decimals, some above a thousand, some negative."""
    rng = np.random.default_rng(seed)
    scale = np.array([1.0, 2500.0, -40.0, 0.01][:sensors])
    values: np.ndarray = np.round(rng.normal(size=(rows, sensors)) * scale + scale, 3)
    return values


def _european(value: float) -> str:
    """``1234.5`` -> ``1.234,500``: grouped with points, a decimal comma."""
    text = f"{value:,.3f}"  # 1,234.500
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def _stamps(rows: int, start: dt.datetime, step: float = 1.0) -> list[dt.datetime]:
    return [start + dt.timedelta(seconds=step * i) for i in range(rows)]


def _write(path: Path, lines: list[str], *, newline: str = "\n", bom: bool = False) -> Path:
    data = newline.join(lines) + newline
    path.write_bytes(data.encode("utf-8-sig" if bom else "utf-8"))
    return path


@pytest.mark.parametrize(
    ("cells", "delimiter", "expected"),
    [
        (["0,192", "27,5", "3"], ";", ","),
        (["1.234,5", "-0,5e-3"], ";", ","),
        (["12.01.2021 23:55:00", "1,5"], "\t", ","),  # the date is no number
        (["0,5", "0.5"], ";", "."),  # a decimal point anywhere: points
        (["1,234.5", "2"], ";", "."),
        (["1.234", "2,5"], ";", ","),  # 1.234 groups thousands with decimal commas
        (["1,5", "2,5"], ",", "."),  # a comma-separated file: never decimal commas
        (["a", "b", ""], ";", "."),
    ],
)
def test_sniff_decimal(cells: list[str], delimiter: str, expected: str) -> None:
    assert sniff_decimal(cells, delimiter) == expected


def test_read_number() -> None:
    assert read_number("1.234,5", ",") == 1234.5
    assert read_number("-0,25", ",") == -0.25
    assert read_number("1,234,567.25") == 1234567.25
    assert read_number(" 7 ") == 7.0
    assert math.isnan(read_number("n/a")) and math.isnan(read_number(""))
    assert math.isinf(read_number("inf"))
    with pytest.raises(ValueError):
        read_number("RUN")
    with pytest.raises(ValueError):
        read_number("0,5")  # a decimal comma with decimal="."
    with pytest.raises(ValueError):
        read_number("0.5", ",")


def test_european_export_reads_as_the_plain_file(tmp_path: Path) -> None:
    """``;``, decimal commas, ``.`` grouping thousands, a BOM, CRLF, quoted names, a units row
    and day-first dates that cross from the 12th to the 13th."""
    values = _values(40, 3)
    stamps = _stamps(40, dt.datetime(2021, 1, 12, 23, 59, 40))
    header = '"Zeitstempel";"Druck";"Leistung";"Temp"'
    units = ";bar;kW;degC"
    rows = [
        ";".join([f"{t:%d.%m.%Y %H:%M:%S}", *(_european(v) for v in row)])
        for t, row in zip(stamps, values, strict=True)
    ]
    path = _write(tmp_path / "export.csv", [header, units, *rows], newline="\r\n", bom=True)
    data = SensorCSV(path, window=4)
    assert data.delimiter == ";" and data.decimal == ","
    assert data.feature_names == ["Druck", "Leistung", "Temp"]
    assert data.units == {"Druck": "bar", "Leistung": "kW", "Temp": "degC"}
    assert data.time_column == "Zeitstempel" and not data.utc
    np.testing.assert_array_equal(data.features, values)
    assert data.lines.tolist() == list(range(3, 43))  # header, units, then the rows
    expected = np.array([np.datetime64(t) for t in stamps], dtype="datetime64[ns]")
    np.testing.assert_array_equal(data.times, expected)
    assert data.gaps == []


def test_decimal_point_with_grouped_thousands(tmp_path: Path) -> None:
    values = _values(20, 2)
    rows = [",".join(f'"{v:,.3f}"' for v in row) for row in values]
    path = _write(tmp_path / "us.csv", ["flow,power", *rows])
    data = SensorCSV(path, window=2)
    assert data.decimal == "."
    np.testing.assert_array_equal(data.features, values)
    # on a ;-separated file "1,500" is a decimal comma unless the decimal mark is given
    path = _write(tmp_path / "semi.csv", ["a;b", "1,500;2", "2,250;3"])
    assert SensorCSV(path, window=1).features[:, 0].tolist() == [1.5, 2.25]
    assert SensorCSV(path, window=1, decimal=".").features[:, 0].tolist() == [1500, 2250]


def test_wrong_decimal_mark_says_which_to_pass(tmp_path: Path) -> None:
    path = _write(tmp_path / "comma.csv", ["a;b", "1;0,5", "2;0,7"])
    with pytest.raises(DataError, match=r"line 2, column 'b': '0,5' .*pass decimal=','\)"):
        SensorCSV(path, window=1, decimal=".")
    # the first lines have decimal commas, a later one a point
    rows = [*(f"{i};0,{i}" for i in range(1, 300)), "9;0.5"]
    path = _write(tmp_path / "mixed.csv", ["a;b", *rows])
    with pytest.raises(DataError, match=r"line 301, column 'b': '0\.5'.*pass decimal='\.' if"):
        SensorCSV(path, window=1)
    with pytest.raises(ValueError, match="decimal has to be one of"):
        SensorCSV(path, decimal=";")  # type: ignore[arg-type]


def test_units_row_is_skipped_and_a_lone_one_is_explained(tmp_path: Path) -> None:
    path = _write(tmp_path / "u.csv", ["time,p,q", "s,bar,-", "0,1,2", "1,2,3", "2,3,4"])
    data = SensorCSV(path, window=1)
    assert data.units == {"time": "s", "p": "bar", "q": "-"}
    assert data.features.tolist() == [[1, 2], [2, 3], [3, 4]] and data.lines.tolist() == [3, 4, 5]
    # one text cell is not a units row: the message says what the line may be
    path = _write(tmp_path / "one.csv", ["p", "bar", "1", "2"])
    with pytest.raises(DataError, match=r"line 2, column 'p': 'bar' .* second header line"):
        SensorCSV(path, window=1)
    # a first row of gaps is data, not units
    path = _write(tmp_path / "gap.csv", ["p;q", ";nan", "1;2", "2;3"])
    data = SensorCSV(path, window=1, nan_policy="ffill")
    assert data.units == {} and data.features.tolist() == [[1, 2], [1, 2], [2, 3]]


def test_iso_times_with_offsets_are_read_in_utc(tmp_path: Path) -> None:
    zone = dt.timezone(dt.timedelta(hours=2))
    stamps = _stamps(10, dt.datetime(2021, 3, 28, 0, 0, 0, tzinfo=zone), step=0.5)
    rows = [f"{t.isoformat()};{i}" for i, t in enumerate(stamps)]
    data = SensorCSV(_write(tmp_path / "iso.csv", ["timestamp;v", *rows]), window=1)
    utc = [t.astimezone(dt.timezone.utc).replace(tzinfo=None) for t in stamps]
    assert data.utc and data.times is not None
    np.testing.assert_array_equal(data.times, np.array(utc, dtype="datetime64[ns]"))
    # the offset changes with summer time: one second apart in UTC, no gap, no step back
    text = ["time;v", "2021-03-28T01:59:59+01:00;1", "2021-03-28T03:00:00+02:00;2"]
    data = SensorCSV(_write(tmp_path / "dst.csv", text), window=1)
    utc = [dt.datetime(2021, 3, 28, 0, 59, 59), dt.datetime(2021, 3, 28, 1, 0, 0)]
    np.testing.assert_array_equal(data.times, np.array(utc, dtype="datetime64[ns]"))
    # fractional seconds on some rows only
    text = ["t;v", "2021-01-01 00:00:00.5;1", "2021-01-01 00:00:01;2", "2021-01-01 00:00:01.5;3"]
    data = SensorCSV(_write(tmp_path / "frac.csv", text), window=1)
    assert data.times is not None and not data.utc
    steps = np.diff(data.times).astype("timedelta64[ms]").astype(int)
    assert steps.tolist() == [500, 500]


@pytest.mark.parametrize(
    ("fmt", "start", "warns"),
    [
        ("%d.%m.%Y %H:%M:%S", dt.datetime(2021, 1, 12, 23, 59, 55), False),  # crosses 12 -> 13
        ("%d/%m/%Y %H:%M:%S", dt.datetime(2021, 1, 12, 23, 59, 55), False),
        ("%m/%d/%Y %H:%M:%S", dt.datetime(2021, 1, 12, 23, 59, 55), False),
        ("%Y-%m-%d %H:%M:%S", dt.datetime(2021, 6, 5, 23, 59, 55), False),  # never day first
        ("%d.%m.%Y %H:%M:%S", dt.datetime(2021, 5, 6, 10, 0, 0), True),  # 06.05 or 05.06?
        ("%d.%m.%Y %H:%M:%S", dt.datetime(2021, 1, 31, 23, 59, 55), False),  # 31.01 -> 01.02
    ],
)
def test_day_first_and_month_first_dates(
    tmp_path: Path, fmt: str, start: dt.datetime, warns: bool
) -> None:
    stamps = _stamps(12, start)
    rows = [f"{t.strftime(fmt)};{i}" for i, t in enumerate(stamps)]
    path = _write(tmp_path / "d.csv", ["datetime;v", *rows])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = SensorCSV(path, window=1)
    said = [str(w.message) for w in caught]
    assert bool(said) == warns, said
    if warns:
        assert "read day first" in said[0] and "2021-05-06, not 2021-06-05" in said[0]
    np.testing.assert_array_equal(data.times, np.array(stamps, dtype="datetime64[ns]"))


def test_date_and_time_columns_make_one_clock(tmp_path: Path) -> None:
    stamps = _stamps(8, dt.datetime(2021, 2, 13, 23, 59, 56))
    rows = [f"{t:%d.%m.%Y};{t:%H:%M:%S};{i};{2 * i}" for i, t in enumerate(stamps)]
    path = _write(tmp_path / "dt.csv", ["Datum;Uhrzeit;a;b", *rows])
    data = SensorCSV(path, window=1)
    assert data.time_columns == ["Datum", "Uhrzeit"] and data.feature_names == ["a", "b"]
    np.testing.assert_array_equal(data.times, np.array(stamps, dtype="datetime64[ns]"))
    with pytest.raises(DataError, match="'Uhrzeit' is the datetime column"):
        SensorCSV(path, window=1, columns=["a", "Uhrzeit"])
    # the time of day first, unnamed columns
    rows = [f"{t:%H:%M:%S},{t:%Y-%m-%d},{i}" for i, t in enumerate(stamps)]
    data = SensorCSV(_write(tmp_path / "td.csv", ["Time,Date,a", *rows]), window=1)
    assert data.time_columns == ["Date", "Time"] and data.feature_names == ["a"]
    np.testing.assert_array_equal(data.times, np.array(stamps, dtype="datetime64[ns]"))


def test_epoch_seconds_keep_every_digit(tmp_path: Path) -> None:
    rows = [f"{1609459200 + i * 0.25};{i}" for i in range(8)]
    data = SensorCSV(_write(tmp_path / "e.csv", ["timestamp;v", *rows]), window=1)
    assert data.times is not None
    assert data.times.tolist() == [1609459200 + i * 0.25 for i in range(8)]


def test_out_of_order_rows_say_how_to_go_on(tmp_path: Path) -> None:
    stamps = _stamps(6, dt.datetime(2021, 10, 31, 2, 58, 0), step=60)
    stamps[3:] = [t - dt.timedelta(hours=1) for t in stamps[3:]]  # the clock set back
    rows = [f"{t:%Y-%m-%d %H:%M:%S};{i}" for i, t in enumerate(stamps)]
    path = _write(tmp_path / "dst.csv", ["datetime;v", *rows])
    with pytest.raises(DataError, match=r"line 5: .*pass datetime_column=None .*goes back 3540 s"):
        SensorCSV(path, window=1)
    data = SensorCSV(path, window=1, datetime_column=None, columns=["v"])
    assert data.times is None and data.features[:, 0].tolist() == [0, 1, 2, 3, 4, 5]


def test_inf_cells_are_gaps(tmp_path: Path) -> None:
    path = _write(tmp_path / "inf.csv", ["a;b", "1;5", "2;inf", "3;7", "4;-Infinity", "5;9"])
    with pytest.raises(DataError, match=r"line 3, column 'b' holds 'inf', not a finite number"):
        SensorCSV(path, window=1)
    data = SensorCSV(path, window=1, nan_policy="ffill")
    assert data.features[:, 1].tolist() == [5, 5, 7, 7, 9]
    data = SensorCSV(path, window=1, nan_policy="interpolate")
    assert data.features[:, 1].tolist() == [5, 6, 7, 8, 9]
    expected = np.zeros((5, 2), dtype=bool)
    expected[[1, 3], 1] = True
    np.testing.assert_array_equal(data.missing, expected)


def test_gap_messages_count_and_point_at_the_way_out(tmp_path: Path) -> None:
    # an all-empty column: the same message under every policy, with the columns to keep
    path = _write(tmp_path / "e.csv", ["a;spare;b", "1;;2", "2;;3", "3;;4"])
    for policy in ("fail", "ffill", "interpolate"):
        with pytest.raises(DataError, match=r"'spare' has no values at all") as info:
            SensorCSV(path, window=1, nan_policy=policy)
        assert info.value.suggested_columns == ["a", "b"]  # type: ignore[attr-defined]
    # scattered gaps are counted
    path = _write(tmp_path / "s.csv", ["a;b;c", "1;;3", "4;5;", "7;;9", "1;2;3"])
    with pytest.raises(DataError, match=r"line 2, column 'b' is empty \(NaN\) \(3 such cells in 2"):
        SensorCSV(path, window=1)
    # a column that starts late: filling would invent its start
    lines = ["a;late", *(f"{i};" for i in range(5)), *(f"{i};{i}" for i in range(5, 9))]
    with pytest.raises(DataError, match=r"'late' has no value before line 7: leave it out") as info:
        SensorCSV(_write(tmp_path / "late.csv", lines), window=1)
    assert info.value.suggested_columns == ["a"]  # type: ignore[attr-defined]


def test_a_few_text_readings_in_a_column_of_numbers(tmp_path: Path) -> None:
    lines = ["a;b;status", *(f"{i};{i * 2};RUN" for i in range(8))]
    lines[4] = "3;Bad Input;STOP"
    path = _write(tmp_path / "t.csv", lines)
    with pytest.raises(DataError) as info:
        SensorCSV(path, window=1)
    message = str(info.value)
    assert "line 5, column 'b': 'Bad Input' is not a finite number" in message
    assert (
        "1 of its 8 cells is text. Read them as gaps with missing_values=['Bad Input']" in message
    )
    assert message.endswith("leave the column out with columns=['a'].")
    assert info.value.suggested_missing == ["Bad Input"]  # type: ignore[attr-defined]
    # as it says: the text is a gap, filled by the policy
    with pytest.raises(DataError, match=r"line 5, column 'b' is empty \(NaN\); pass"):
        SensorCSV(path, window=1, columns=["a", "b"], missing_values=["Bad Input"])
    data = SensorCSV(
        path, window=1, columns=["a", "b"], missing_values=["bad input"], nan_policy="ffill"
    )
    assert data.features[:, 1].tolist() == [0, 2, 4, 4, 8, 10, 12, 14]
    assert data.missing[:, 1].tolist() == [False] * 3 + [True] + [False] * 4
    with pytest.raises(ValueError, match="missing_values has to be a list"):
        SensorCSV(path, missing_values="Bad Input")
    # the column of states is named first when it comes first
    with pytest.raises(DataError, match=r"'status': 'RUN' .*columns=\['a'\]\)\.$"):
        SensorCSV(path, window=1, columns=["a", "status"])


def test_naming_either_column_of_a_date_and_time_pair_reads_both(tmp_path: Path) -> None:
    stamps = _stamps(8, dt.datetime(2021, 1, 13, 9, 59, 57))
    rows = [f"{t:%d.%m.%Y};{t:%H:%M:%S};{i},5" for i, t in enumerate(stamps)]
    path = _write(tmp_path / "dt.csv", ["Datum;Uhrzeit;a", *rows], bom=True)
    expected = np.array(stamps, dtype="datetime64[ns]")
    for given in ("Uhrzeit", "Datum"):
        data = SensorCSV(path, window=1, datetime_column=given)
        assert data.time_columns == ["Datum", "Uhrzeit"] and data.feature_names == ["a"]
        np.testing.assert_array_equal(data.times, expected)
    rows[3], rows[4] = rows[4], rows[3]
    path = _write(tmp_path / "swapped.csv", ["Datum;Uhrzeit;a", *rows])
    with pytest.raises(DataError, match=r"line 6: .*sort the file by 'Datum' and 'Uhrzeit',"):
        SensorCSV(path, window=1)


def test_decimal_comma_text_column_names_every_numeric_column(tmp_path: Path) -> None:
    rows = [f"{i},5;{2 * i},25;{i % 4};{'RUN' if i % 3 else 'IDLE'}" for i in range(12)]
    path = _write(tmp_path / "s.csv", ["a;b;c;Status", *rows])
    with pytest.raises(
        DataError, match=r"\(pick the sensor columns with columns=\['a', 'b', 'c'\]\)"
    ):
        SensorCSV(path, window=1)
    # a column with a historian text among its numbers is still a sensor
    rows[5] = "Bad Input;10,25;1;RUN"
    path = _write(tmp_path / "g.csv", ["a;b;c;Status", *rows])
    with pytest.raises(DataError, match=r"columns=\['a', 'b', 'c'\]\)") as caught:
        SensorCSV(path, window=1, missing_values=["Bad Input"])
    assert getattr(caught.value, "suggested_columns", None) == ["a", "b", "c"]
    # with --datetime none the clock columns are no readings
    stamps = _stamps(8, dt.datetime(2021, 1, 13, 10, 0, 0))
    rows = [f"{t:%d.%m.%Y};{t:%H:%M:%S};{i},5" for i, t in enumerate(stamps)]
    path = _write(tmp_path / "dt.csv", ["Datum;Uhrzeit;a", *rows])
    with pytest.raises(
        DataError,
        match=r"'Datum' holds dates or times, not readings; leave it out with columns=\['a'\]",
    ):
        SensorCSV(path, window=1, datetime_column=None)


@pytest.mark.parametrize("mix", ["block", "alternate"])
def test_a_column_that_mixes_dotted_and_iso_dates_reads_each_right(
    tmp_path: Path, mix: str
) -> None:
    """Day-first dotted dates and ISO dates in one column: an ISO date is never read day first
    (2020-03-09 stayed 2020-09-03 when the first rows were 09.03.2020), and a dotted one is
    read day first beside ISO ones; both readers give the times of an all-ISO file."""
    from cnnlstm.data.sensor_chunks import SensorChunks

    start = dt.datetime(2020, 3, 9, 10, 14, 33)
    stamps = [start + dt.timedelta(seconds=i) for i in range(300)]

    def text(i: int, when: dt.datetime) -> str:
        dotted = i < 150 if mix == "block" else i % 2 == 1
        return when.strftime("%d.%m.%Y %H:%M:%S" if dotted else "%Y-%m-%d %H:%M:%S")

    rows = [f"{text(i, when)};{i};{i % 7}" for i, when in enumerate(stamps)]
    path = tmp_path / "mixed.csv"
    path.write_text("datetime;a;b\n" + "\n".join(rows) + "\n")
    want = np.array(stamps, dtype="datetime64[ns]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = SensorCSV(path, window=1)
        parts = list(SensorChunks(path, cells=120))
    np.testing.assert_array_equal(whole.times, want)
    np.testing.assert_array_equal(np.concatenate([part.times for part in parts]), want)
    assert len(parts) > 2
