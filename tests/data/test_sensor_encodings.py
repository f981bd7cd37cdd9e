"""SensorCSV and LineDecoder on plant files that are not UTF-8: Windows-1252 and Latin-1 headers
(``Temperatur Kühlwasser``), UTF-16 with a byte order mark, UTF-8 with one; binary files
refused; a header with another delimiter than its rows.

The files are written here with Python's codecs; every expected value comes from
``pandas.read_csv(path, encoding=...)`` on the same file, told the encoding, not from the reader
under test."""

from __future__ import annotations

import codecs
import gzip
import io
import itertools
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlstm.data.csv_text import read_table
from cnnlstm.data.sensors import EncodingNote, SensorCSV
from cnnlstm.data.text_encoding import LineDecoder, decode_text
from cnnlstm.errors import DataError

HEADER = ["Zeit", "Temperatur Kühlwasser", "Druck (°C)", "Durchfluss m³/h"]
SENSORS = HEADER[1:]


def _text(rows: int = 40) -> str:
    """A German export: ``;``, decimal commas, day-first dates, CRLF."""
    rng = np.random.default_rng(0)
    lines = [";".join(HEADER)]
    for i in range(rows):
        values = rng.normal(size=3) * [5.0, 2.0, 30.0] + [60.0, 3.0, 120.0]
        cells = [f"{v:.3f}".replace(".", ",") for v in values]
        lines.append(f"13.02.2021 10:{i // 60:02d}:{i % 60:02d};" + ";".join(cells))
    return "\r\n".join(lines) + "\r\n"


# what the file is written with, and what pandas is told to read it with
ENCODINGS = {
    "cp1252": ("cp1252", "cp1252"),
    "latin-1": ("latin-1", "latin-1"),
    "utf-8": ("utf-8", "utf-8"),
    "utf-8 BOM": ("utf-8-sig", "utf-8-sig"),
    "utf-16 LE BOM": ("utf-16-le", "utf-16"),
    "utf-16 BE BOM": ("utf-16-be", "utf-16"),
}


def _write(path: Path, name: str) -> Path:
    codec, _ = ENCODINGS[name]
    data = _text().encode(codec)
    if codec == "utf-16-le":
        data = codecs.BOM_UTF16_LE + data
    elif codec == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    path.write_bytes(data)
    return path


def _pandas(path: Path, encoding: str) -> pd.DataFrame:
    return pd.read_csv(path, sep=";", decimal=",", encoding=encoding)


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_each_encoding_reads_the_names_and_values_pandas_reads(name: str, tmp_path: Path) -> None:
    path = _write(tmp_path / "export.csv", name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = SensorCSV(path, window=4)
    expected = _pandas(path, ENCODINGS[name][1])
    assert list(expected.columns) == HEADER  # the independent reading agrees on the names
    assert data.columns == HEADER and data.feature_names == SENSORS
    np.testing.assert_array_equal(data.features, expected[SENSORS].to_numpy(dtype=np.float64))
    assert data.times is not None and str(data.times[1]) == "2021-02-13T10:00:01.000000000"
    notes = [w for w in caught if issubclass(w.category, EncodingNote)]
    if name in ("cp1252", "latin-1"):  # no BOM and not UTF-8: the guess is said
        assert data.encoding == "cp1252"
        (note,) = notes
        text = str(note.message)
        assert "line 1 is not UTF-8 (byte 0xfc)" in text
        assert "read as cp1252 (Windows-1252, Western European)" in text
        assert "Temperatur Kühlwasser" in text  # the line as read, for the user to judge
        assert "encoding='cp1250'" in text and "encoding='cp1252' reads it so" in text
    else:
        assert not notes
        assert data.encoding == {"utf-8": "utf-8", "utf-8 BOM": "utf-8-sig"}.get(name, "utf-16")


def test_the_utf_8_file_gives_the_same_windows(tmp_path: Path) -> None:
    plain = SensorCSV(_write(tmp_path / "a.csv", "utf-8"), window=8)
    with pytest.warns(EncodingNote):
        other = SensorCSV(_write(tmp_path / "b.csv", "cp1252"), window=8)
    wide = SensorCSV(_write(tmp_path / "c.csv", "utf-16 LE BOM"), window=8)
    for data in (other, wide):
        assert len(data) == len(plain)
        assert np.array_equal(data[5][0].numpy(), plain[5][0].numpy())


def test_a_named_encoding_overrides_the_guess(tmp_path: Path) -> None:
    latin = _write(tmp_path / "latin.csv", "cp1252")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # named: no note
        data = SensorCSV(latin, window=4, encoding="latin-1")
    assert data.feature_names == SENSORS and data.encoding == "iso8859-1"
    utf8 = _write(tmp_path / "utf8.csv", "utf-8")
    misread = SensorCSV(utf8, window=4, encoding="cp1252")  # what the user asked for
    assert misread.feature_names[0] == "Temperatur KÃ¼hlwasser"
    with pytest.raises(DataError) as error:
        SensorCSV(latin, window=4, encoding="utf-8")
    assert str(error.value) == (
        f"{latin}: line 1 cannot be read as utf-8 (byte 0xfc); pass the file's encoding, e.g. "
        f"encoding='cp1252', or encoding='auto' to detect it."
    )
    with pytest.raises(ValueError, match="encoding has to be 'auto' or the name of a text"):
        SensorCSV(latin, window=4, encoding="klingon")
    with pytest.raises(ValueError, match="but got 'rot13'"):
        SensorCSV(latin, window=4, encoding="rot13")


def test_a_file_that_mixes_encodings_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "appended.csv"
    good = _text(4).encode("utf-8")
    path.write_bytes(good + "13.02.2021 11:00:00;1,5;2,5;Kühl\r\n".encode("cp1252"))
    with pytest.raises(DataError) as error:
        SensorCSV(path, window=2)
    assert str(error.value).startswith(
        f"{path}: line 6 cannot be read as utf-8 (byte 0xfc), though line 1 was: the file mixes "
        f"encodings."
    )


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def _binary(kind: str) -> bytes:
    """Bytes that get passed for a CSV: an image, archives, noise, UTF-16 without its BOM."""
    text = _text()
    if kind == "png":
        return _png()
    if kind == "gzip":
        return gzip.compress(text.encode("utf-8"))
    if kind == "xlsx":  # a ZIP's local file header, then anything
        return b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256))
    if kind == "random":
        return np.random.default_rng(0).bytes(4096)
    return text.encode("utf-16-le" if "LE" in kind else "utf-16-be")


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("png", "is a PNG image, not text; expected a delimited sensor file (CSV)."),
        ("gzip", "is a gzip archive, not text: decompress it first (gunzip)"),
        ("xlsx", "is a ZIP archive (an Excel .xlsx workbook?), not text: save the sheet as CSV"),
        ("random", "which no text holds: the file is binary"),
        (
            "utf-16 LE, no BOM",
            "UTF-16 LE text without a byte order mark? Pass encoding='utf-16-le'",
        ),
        (
            "utf-16 BE, no BOM",
            "UTF-16 BE text without a byte order mark? Pass encoding='utf-16-be'",
        ),
    ],
)
def test_binary_files_are_refused_as_binary(kind: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(_binary(kind))
    for encoding in ("auto", "cp1252"):  # a named encoding that decodes every byte: still binary
        if kind.startswith("utf-16") and encoding != "auto":
            continue
        with pytest.raises(DataError) as error:
            SensorCSV(path, window=4, encoding=encoding)
        message = str(error.value)
        assert message.startswith(f"{path}: ") and expected in message
        assert "\n" not in message


@pytest.mark.parametrize("name", list(ENCODINGS))
@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12))
def test_line_decoder_in_pieces_reads_as_the_whole(name: str, cuts: list[int]) -> None:
    """Standard input arrives in pieces of any size: the lines are those of the whole file."""
    codec, told = ENCODINGS[name]
    data = _text(12).encode(codec)
    if codec in ("utf-16-le", "utf-16-be"):
        data = (codecs.BOM_UTF16_LE if codec.endswith("le") else codecs.BOM_UTF16_BE) + data
    whole = data.decode(told).removeprefix("\ufeff").split("\r\n")[:-1]
    decoder = LineDecoder(source="stdin")
    lines: list[str] = []
    edges = sorted({min(cut, len(data)) for cut in cuts} | {0, len(data)})
    for start, stop in itertools.pairwise(edges):
        lines += decoder.feed(data[start:stop])
    lines += decoder.feed(b"", final=True)
    assert lines == whole
    assert (decoder.note is not None) == (codec in ("cp1252", "latin-1"))


def test_decode_text_keeps_line_numbers_for_every_line_end() -> None:
    for end in ("\n", "\r\n", "\r"):
        text, codec, note = decode_text(end.join(["a;b", "", "1;2", "3;4"]).encode())
        assert text.splitlines() == ["a;b", "", "1;2", "3;4"]
        assert (codec, note) == ("utf-8", None)


def test_a_header_with_another_delimiter_than_its_rows(tmp_path: Path) -> None:
    rows = [f"2021-01-01 00:00:{s:02d};{s / 10};{s % 3}" for s in range(20)]
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join(["datetime,flow,level", *rows]) + "\n")
    with pytest.raises(DataError) as error:
        SensorCSV(path, window=4)
    message = str(error.value)
    assert message == (
        f"{path}: the header (line 1) is separated by commas (',') but the rows by semicolons "
        f"(';'): header 'datetime,flow,level', line 2 '2021-01-01 00:00:00;0.0;0'. Write the "
        f"header with ';' between its names, like the rows."
    )
    assert message.count(rows[0]) == 1
    # rows with decimal commas under a comma-separated header: the same mistake
    path.write_text("\n".join(["time,flow", "0;1,5", "1;2,5"]) + "\n")
    with pytest.raises(DataError, match="separated by commas \\(','\\) but the rows by semi"):
        read_table(path)
    # the reverse, and a units row between
    path.write_text("\n".join(["time;flow;level", "s;l/min;m", "0,1.5,2", "1,2.5,3"]) + "\n")
    with pytest.raises(DataError, match=re.escape("line 3 '0,1.5,2'")):
        read_table(path)


def test_a_bad_first_time_is_quoted_once(tmp_path: Path) -> None:
    path = tmp_path / "clock.csv"
    rows = [f"2021-01-01 00:00:{s:02d};{s}" for s in range(1, 10)]
    path.write_text("\n".join(["time;flow", "soon;0", *rows]) + "\n")
    with pytest.raises(DataError) as error:
        SensorCSV(path, window=2)
    message = str(error.value)
    assert f"{path}: line 2, column 'time': 'soon' is not a date and time." in message
    assert message.count("'soon'") == 1 and "first row" not in message


def test_the_note_quotes_the_line_around_its_first_letter_above_ascii() -> None:
    names = [f"Sensor {i}" for i in range(12)]
    for line, shown in (
        (
            ";".join(["Zeit", *names, "Störung"]),
            "'...sor 6;Sensor 7;Sensor 8;Sensor 9;Sensor 10;Sensor 11;Störung'",
        ),
        (
            ";".join(["Störung", *names]),
            "'Störung;Sensor 0;Sensor 1;Sensor 2;Sensor 3;Sensor 4;Sensor ...'",
        ),
        ("Zeit;Störung;Druck", "'Zeit;Störung;Druck'"),
    ):
        _, codec, note = decode_text((line + "\n0;1;2\n").encode("cp1252"), source="a.csv")
        assert codec == "cp1252" and note is not None
        assert f"line 1 reads {shown}." in note
