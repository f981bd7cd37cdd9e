"""``cnnlstm detect`` on plant files that are not SKAB: European exports, other clocks, odd
columns. Each either scores as the plain file does, or stops with one line that says what to
change, exit code 2 and no OUT.csv.

The plain file is :class:`SensorPlant`'s own; the variants are written here from its rows with
the standard library, so a variant that reads right gives byte-identical scores."""

from __future__ import annotations

import csv
import datetime as dt
import io
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cnnlstm.data.sensor_plant import SensorPlant

RunDetect = Callable[[list[str]], tuple[int, str, str]]
"""The ``run_detect`` fixture (conftest.py): exit code, standard output, standard error."""
OneError = Callable[[str], str]
"""The ``one_error`` fixture: the one error line of a standard error."""

TINY = ["--window", "8", "--epochs", "2", "--smooth", "5"]
TRAIN_ROWS = "200"


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("real")
    plant = SensorPlant(seed=1, n_anomalies=1, normal_rows=200, anomaly_kinds=("spike",))
    plant.write_csv(root / "plant.csv", 400)
    plant.write_normal_csv(root / "normal.csv", 250)
    return {"plant": root / "plant.csv", "normal": root / "normal.csv", "root": root}


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as handle:
        table = list(csv.reader(handle, delimiter=";"))
    return table[0], table[1:]


def _european(source: Path, target: Path, *, units: bool = True) -> Path:
    """The file as a German SCADA export writes it: a BOM, CRLF, quoted names, a units row,
    ``dd.mm.yyyy`` dates and decimal commas."""
    header, rows = _rows(source)
    lines = [";".join(f'"{name}"' for name in header)]
    if units:
        lines.append(
            ";".join(
                "" if i == 0 else "-" if name in ("anomaly", "changepoint") else "bar"
                for i, name in enumerate(header)
            )
        )
    for row in rows:
        when = dt.datetime.strptime(row[0], "%Y-%m-%d %H:%M:%S")
        lines.append(
            ";".join([f"{when:%d.%m.%Y %H:%M:%S}", *(c.replace(".", ",") for c in row[1:])])
        )
    target.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))
    return target


@pytest.mark.parametrize("fit", ["rows", "train"])
def test_european_export_scores_as_the_plain_file(
    plain: dict[str, Path],
    tmp_path: Path,
    fit: str,
    run_detect: RunDetect,
) -> None:
    euro = _european(plain["plant"], tmp_path / "export.csv")
    plain_fit = ["--train-rows", TRAIN_ROWS] if fit == "rows" else ["--train", str(plain["normal"])]
    euro_fit = (
        ["--train-rows", TRAIN_ROWS]
        if fit == "rows"
        else ["--train", str(_european(plain["normal"], tmp_path / "normal.csv", units=False))]
    )
    code, _, _ = run_detect([str(plain["plant"]), "-o", str(tmp_path / "a.csv"), *plain_fit, *TINY])
    assert code == 0
    code, out, err = run_detect([str(euro), "-o", str(tmp_path / "b.csv"), *euro_fit, *TINY])
    assert code == 0, err
    assert (tmp_path / "b.csv").read_bytes() == (tmp_path / "a.csv").read_bytes()
    assert "precision" in out  # the labels were found under their quoted names


def test_a_wrong_decimal_mark_is_one_line_naming_the_flag(
    plain: dict[str, Path],
    tmp_path: Path,
    run_detect: RunDetect,
    one_error: OneError,
) -> None:
    euro = _european(plain["plant"], tmp_path / "export.csv")
    out = tmp_path / "out.csv"
    code, _, err = run_detect([str(euro), "--decimal", ".", "-o", str(out), *TINY])
    assert code == 2 and not out.exists()
    line = one_error(err)
    assert "line 3, column 'Accelerometer1RMS'" in line and line.endswith("pass --decimal ,).")
    code, _, err = run_detect([str(euro), "--decimal", ",", "-o", str(out), *TINY])
    assert code == 0, err


def _variant(plain: Path, target: Path, change: object) -> Path:
    """The plain file through ``change(frame) -> frame``, written ``;``-separated."""
    frame = pd.read_csv(plain, sep=";", dtype=str, keep_default_na=False)
    changed = change(frame)  # type: ignore[operator]
    changed.to_csv(target, sep=";", index=False)
    return target


def test_a_text_status_column_is_named_with_the_columns_to_pass(
    plain: dict[str, Path],
    tmp_path: Path,
    run_detect: RunDetect,
    one_error: OneError,
) -> None:
    def status(frame: pd.DataFrame) -> pd.DataFrame:
        frame.insert(1, "Status", np.where(np.arange(len(frame)) % 50 < 40, "RUN", "STOP"))
        return frame

    path = _variant(plain["plant"], tmp_path / "status.csv", status)
    out = tmp_path / "out.csv"
    code, _, err = run_detect([str(path), "-o", str(out), *TINY])
    assert code == 2 and not out.exists()
    line = one_error(err)
    sensors = _rows(plain["normal"])[0][1:]
    flag = f"--columns '{','.join(sensors)}'"
    assert "line 2, column 'Status': 'RUN' is not a finite number" in line
    assert line.endswith(f"(pick the sensor columns with {flag}).")
    code, _, err = run_detect([str(path), "--columns", ",".join(sensors), "-o", str(out), *TINY])
    assert code == 0, err
    assert len(pd.read_csv(out)) == 400


def test_gaps_say_what_to_pass_and_an_empty_training_part_is_refused(
    plain: dict[str, Path],
    tmp_path: Path,
    run_detect: RunDetect,
    one_error: OneError,
) -> None:
    def late(frame: pd.DataFrame) -> pd.DataFrame:
        extra = frame["Pressure"].copy()
        extra.iloc[:250] = ""  # the sensor was fitted after row 250
        frame.insert(1, "Extra", extra)
        frame.loc[[30, 31, 300], "Current"] = ""
        frame.loc[120, "Voltage"] = "inf"
        return frame

    path = _variant(plain["plant"], tmp_path / "late.csv", late)
    out = tmp_path / "out.csv"
    sensors = ",".join(_rows(plain["normal"])[0][1:])
    code, _, err = run_detect([str(path), "--train-rows", TRAIN_ROWS, "-o", str(out), *TINY])
    line = one_error(err)
    assert code == 2 and not out.exists()
    assert "line 2, column 'Extra' is empty (NaN) (254 such cells in 3 columns)" in line
    assert "pass --nan ffill or --nan interpolate to fill the gaps" in line
    assert f"leave it out with --columns '{sensors}' rather than fill it" in line
    argv = [str(path), "--train-rows", TRAIN_ROWS, "--nan", "ffill", "-o", str(out), *TINY]
    code, _, err = run_detect(argv)
    line = one_error(err)
    assert code == 2 and not out.exists()
    assert "column 'Extra' is empty in all 200 training rows (lines 2-201" in line
    assert "pass a --train-rows well above 250" in line
    code, _, err = run_detect([*argv, "--columns", sensors])
    assert code == 0, err
    filled = pd.read_csv(out)
    assert len(filled) == 400 and filled["score"].notna().all()


def test_a_counter_column_is_warned_of(
    plain: dict[str, Path], tmp_path: Path, run_detect: RunDetect
) -> None:
    def counter(frame: pd.DataFrame) -> pd.DataFrame:
        frame.insert(1, "Hours", [str(1000 + i // 2) for i in range(len(frame))])
        frame.insert(2, "Energy", [f"{1e12 + 250.5 * i:.1f}" for i in range(len(frame))])
        frame.insert(3, "Setpoint", ["75"] * 300 + ["80"] * (len(frame) - 300))  # one step up
        frame.insert(4, "Constant", ["1"] * len(frame))
        return frame

    path = _variant(plain["plant"], tmp_path / "counter.csv", counter)
    code, out, _ = run_detect([str(path), "-o", str(tmp_path / "o.csv"), *TINY])
    assert code == 0
    warned = [line for line in out.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "['Hours', 'Energy'] only rise from row to row" in warned[0]
    sensors = ",".join(["Setpoint", "Constant", *_rows(plain["normal"])[0][1:]])
    assert warned[0].endswith(f"leave them out with --columns '{sensors}'.")


def test_clocks_reach_out_csv_as_written(
    plain: dict[str, Path], tmp_path: Path, run_detect: RunDetect
) -> None:
    header, rows = _rows(plain["plant"])
    start = dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc)
    epoch = [str(int(start.timestamp()) + i) for i in range(len(rows))]
    text = [";".join(["timestamp", *header[1:]])]
    text += [";".join([e, *row[1:]]) for e, row in zip(epoch, rows, strict=True)]
    (tmp_path / "epoch.csv").write_text("\n".join(text))
    code, _, err = run_detect([str(tmp_path / "epoch.csv"), "-o", str(tmp_path / "e.csv"), *TINY])
    assert code == 0, err
    assert pd.read_csv(tmp_path / "e.csv", dtype=str)["datetime"].tolist() == epoch
    # times with an offset are written in UTC, and say so
    zone = dt.timezone(dt.timedelta(hours=2))
    local = [dt.datetime.strptime(row[0], "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone) for row in rows]
    text = [";".join(header)] + [
        ";".join([t.isoformat(), *row[1:]]) for t, row in zip(local, rows, strict=True)
    ]
    (tmp_path / "iso.csv").write_text("\n".join(text))
    code, _, err = run_detect([str(tmp_path / "iso.csv"), "-o", str(tmp_path / "i.csv"), *TINY])
    assert code == 0, err
    expected = [f"{t.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M:%S}+00:00" for t in local]
    assert pd.read_csv(tmp_path / "i.csv")["datetime"].tolist() == expected


def test_rows_out_of_time_order_and_datetime_none(
    plain: dict[str, Path],
    tmp_path: Path,
    run_detect: RunDetect,
    one_error: OneError,
) -> None:
    header, rows = _rows(plain["plant"])
    rows[250], rows[251] = rows[251], rows[250]
    (tmp_path / "shuffled.csv").write_text("\n".join(";".join(r) for r in [header, *rows]))
    out = tmp_path / "out.csv"
    code, _, err = run_detect([str(tmp_path / "shuffled.csv"), "-o", str(out), *TINY])
    assert code == 2 and not out.exists()
    line = one_error(err)
    assert "line 253: time" in line and "or pass --datetime none to read the rows" in line
    argv = [str(tmp_path / "shuffled.csv"), "-o", str(out), "--datetime", "none"]
    code, _, err = run_detect([*argv, "--columns", ",".join(header[1:-2]), *TINY])
    assert code == 0, err
    assert pd.read_csv(out)["row"].tolist() == list(range(400))


def test_stream_reads_decimal_commas_and_day_first_dates(
    plain: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_detect: RunDetect,
) -> None:
    saved, out = tmp_path / "d.pt", tmp_path / "out.csv"
    argv = [str(plain["plant"]), "--train-rows", TRAIN_ROWS, "-o", str(out), "--save", str(saved)]
    assert run_detect([*argv, *TINY])[0] == 0
    euro = _european(plain["plant"], tmp_path / "export.csv", units=False)
    text = euro.read_bytes().decode("utf-8-sig").replace("\r\n", "\n").replace('"', "")
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    code, streamed, err = run_detect(["-", "--stream", "--load", str(saved)])
    assert code == 0, err
    live, offline = pd.read_csv(io.StringIO(streamed)), pd.read_csv(out)
    assert live["datetime"].tolist() == offline["datetime"].tolist()
    np.testing.assert_allclose(live["score"], offline["score"], atol=1e-5, rtol=0)


def test_stream_takes_datetime_none(
    plain: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_detect: RunDetect,
    one_error: OneError,
) -> None:
    saved = tmp_path / "d.pt"
    argv = [str(plain["plant"]), "--train-rows", TRAIN_ROWS, "-o", str(tmp_path / "o.csv")]
    assert run_detect([*argv, "--save", str(saved), *TINY])[0] == 0
    for given, first in (("none", "row"), ("datetime", "datetime"), ("when", None)):
        monkeypatch.setattr(sys, "stdin", io.StringIO(plain["plant"].read_text()))
        code, streamed, err = run_detect(
            ["-", "--stream", "--load", str(saved), "--datetime", given]
        )
        if first is None:
            assert code == 2 and "stdin: has no datetime column 'when'" in one_error(err)
            continue
        assert code == 0, err
        assert streamed.splitlines()[0] == f"{first},score,anomaly"
        assert len(streamed.splitlines()) == 401


def test_historian_texts_are_gaps_with_missing(
    plain: dict[str, Path],
    tmp_path: Path,
    run_detect: RunDetect,
    one_error: OneError,
) -> None:
    def bad(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[[220, 221], "Pressure"] = "Bad Input"
        frame.loc[300, "Pressure"] = "No Data"
        return frame

    path = _variant(plain["plant"], tmp_path / "pi.csv", bad)
    out = tmp_path / "out.csv"
    code, _, err = run_detect([str(path), "-o", str(out), *TINY])
    line = one_error(err)
    assert code == 2 and not out.exists()
    assert "line 222, column 'Pressure': 'Bad Input' is not a finite number" in line
    assert (
        "3 of its 400 cells are text. Read them as gaps with --missing 'Bad Input,No Data'" in line
    )
    argv = [str(path), "-o", str(out), "--missing", "Bad Input,No Data", *TINY]
    code, _, err = run_detect(argv)
    assert code == 2 and "line 222, column 'Pressure' is empty (NaN) (3 such" in one_error(err)
    code, _, err = run_detect([*argv, "--nan", "ffill"])
    assert code == 0, err


def test_stream_reads_missing_texts_as_gaps(
    plain: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_detect: RunDetect,
    one_error: OneError,
) -> None:
    saved = tmp_path / "d.pt"
    argv = [str(plain["plant"]), "--train-rows", TRAIN_ROWS, "-o", str(tmp_path / "o.csv")]
    assert run_detect([*argv, "--save", str(saved), *TINY])[0] == 0
    header, rows = _rows(plain["plant"])
    rows[5][4] = "No Data"  # Pressure
    text = "\n".join(";".join(row) for row in [header, *rows])
    stream = ["-", "--stream", "--load", str(saved), "--nan", "ffill"]
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    code, _, err = run_detect(stream)
    assert code == 2 and "line 7, column 'Pressure': 'No Data' is not a finite" in one_error(err)
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    code, streamed, err = run_detect([*stream, "--missing", "no data"])
    assert code == 0, err
    assert len(streamed.splitlines()) == 401


def _date_time(
    source: Path, target: Path, *, status: bool = False, swap: int | None = None
) -> Path:
    """The file as a plant export with separate ``Datum`` and ``Uhrzeit`` columns: a BOM, a
    units row, decimal commas, optionally a text ``Status`` column and two rows swapped."""
    header, rows = _rows(source)
    if swap is not None:
        rows[swap], rows[swap + 1] = rows[swap + 1], rows[swap]
    extra = ["Status"] if status else []
    lines = [";".join(["Datum", "Uhrzeit", *header[1:], *extra])]
    lines.append(";".join(["", "", *("bar" for _ in header[1:-2]), "", "", *("" for _ in extra)]))
    for i, row in enumerate(rows):
        when = dt.datetime.strptime(row[0], "%Y-%m-%d %H:%M:%S")
        cells = [f"{when:%d.%m.%Y}", f"{when:%H:%M:%S}", *(c.replace(".", ",") for c in row[1:])]
        lines.append(";".join(cells + (["RUN" if i % 7 else "IDLE"] if status else [])))
    target.write_bytes(("\n".join(lines) + "\n").encode("utf-8-sig"))
    return target


def test_decimal_comma_status_column_names_every_sensor(
    plain: dict[str, Path],
    tmp_path: Path,
    run_detect: RunDetect,
    one_error: OneError,
) -> None:
    path = _date_time(plain["plant"], tmp_path / "export.csv", status=True)
    sensors = ",".join(_rows(plain["normal"])[0][1:])
    out = tmp_path / "out.csv"
    code, _, err = run_detect([str(path), "--train-rows", TRAIN_ROWS, "-o", str(out), *TINY])
    line = one_error(err)
    assert code == 2 and "column 'Status': 'IDLE' is not a finite number" in line
    assert line.endswith(f"(pick the sensor columns with --columns '{sensors}').")
    # a sensor with historian texts and --missing: the others are still named
    text = path.read_bytes().decode("utf-8-sig").splitlines()
    cells = text[40].split(";")
    cells[5] = "Bad Input"  # Pressure
    text[40] = ";".join(cells)
    path.write_bytes("\n".join(text).encode("utf-8-sig"))
    argv = [str(path), "--train-rows", TRAIN_ROWS, "-o", str(out), "--missing", "Bad Input"]
    code, _, err = run_detect([*argv, *TINY])
    assert code == 2 and one_error(err).endswith(
        f"(pick the sensor columns with --columns '{sensors}')."
    )
    code, _, err = run_detect([*argv, "--columns", sensors, "--nan", "ffill", *TINY])
    assert code == 0, err


def test_date_and_time_columns_stream_as_offline(
    plain: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_detect: RunDetect,
) -> None:
    path = _date_time(plain["plant"], tmp_path / "export.csv")
    saved, out = tmp_path / "d.pt", tmp_path / "out.csv"
    argv = [str(path), "--train-rows", TRAIN_ROWS, "-o", str(out), "--save", str(saved)]
    code, _, err = run_detect([*argv, *TINY])
    assert code == 0, err
    offline = pd.read_csv(out)
    assert offline["datetime"].nunique() == 400
    # the BOM and the units row come along on standard input, as in the file
    monkeypatch.setattr(sys, "stdin", io.StringIO(path.read_bytes().decode("utf-8")))
    code, streamed, err = run_detect(["-", "--stream", "--load", str(saved)])
    assert code == 0, err
    live = pd.read_csv(io.StringIO(streamed))
    assert live["datetime"].tolist() == offline["datetime"].tolist()
    np.testing.assert_allclose(live["score"], offline["score"], atol=1e-5, rtol=0)
    for given in ("Uhrzeit", "Datum"):  # either half of the pair names the clock
        monkeypatch.setattr(sys, "stdin", io.StringIO(path.read_bytes().decode("utf-8")))
        code, streamed, err = run_detect(
            ["-", "--stream", "--load", str(saved), "--datetime", given]
        )
        assert code == 0, err
        assert (
            pd.read_csv(io.StringIO(streamed))["datetime"].tolist() == offline["datetime"].tolist()
        )


@pytest.mark.parametrize("given", ["Uhrzeit", "Datum"])
def test_datetime_naming_either_column_of_a_pair_reads_both(
    plain: dict[str, Path],
    tmp_path: Path,
    given: str,
    run_detect: RunDetect,
) -> None:
    path = _date_time(plain["plant"], tmp_path / "export.csv")
    out = tmp_path / "out.csv"
    code, _, err = run_detect([str(path), "-o", str(out), "--datetime", given, *TINY])
    assert code == 0, err
    expected = [row[0] for row in _rows(plain["plant"])[1]]  # 2021-01-01 00:00:00 ...
    assert pd.read_csv(out)["datetime"].tolist() == expected


def test_date_and_time_messages_say_the_flags_and_both_columns(
    plain: dict[str, Path],
    tmp_path: Path,
    run_detect: RunDetect,
    one_error: OneError,
) -> None:
    path = _date_time(plain["plant"], tmp_path / "export.csv")
    out = tmp_path / "out.csv"
    code, _, err = run_detect([str(path), "-o", str(out), "--datetime", "nope", *TINY])
    line = one_error(err)
    assert code == 2 and "has no datetime column 'nope'" in line
    assert line.endswith("Pass --datetime none for files without one.")
    assert "datetime_column" not in line
    code, _, err = run_detect([str(path), "-o", str(out), "--datetime", "none", *TINY])
    line = one_error(err)
    sensors = ",".join(_rows(plain["normal"])[0][1:])
    assert code == 2 and "column 'Datum': '01.01.2021' is not a finite number" in line
    assert (
        f"'Datum' holds dates or times, not readings; leave it out with --columns '{sensors}'"
        in line
    )
    code, _, err = run_detect(
        [str(path), "-o", str(out), "--datetime", "none", "--columns", sensors, *TINY]
    )
    assert code == 0, err
    shuffled = _date_time(plain["plant"], tmp_path / "shuffled.csv", swap=250)
    code, _, err = run_detect([str(shuffled), "-o", str(out), *TINY])
    line = one_error(err)
    assert code == 2 and "line 254: time" in line
    assert "sort the file by 'Datum' and 'Uhrzeit', or pass --datetime none" in line
