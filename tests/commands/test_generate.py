"""``cnnlstm generate``: each generator's file or folder is read back by the project's readers with
the generator's own items, bad arguments end in one line, and a failed write leaves nothing
behind."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from cnnlstm import cli
from cnnlstm.commands.configs import CONFIGS_DIR
from cnnlstm.commands.generate import main, normal_path
from cnnlstm.data import (
    ArrayDataset,
    DigitClips,
    FrameFolder,
    MovingDigits,
    SensorCSV,
    SensorPlant,
    TextLineFolder,
    TextLines,
)

TEXT_CONFIG = CONFIGS_DIR / "text_folder.yaml"


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("cnnlstm generate: error: ")
    return err[0]


# ----------------------------------------------------------------------------- sensor-plant


def test_sensor_plant_csv_is_the_plant_recording_in_skab_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "data" / "plant.csv"
    argv = ["generate", "sensor-plant", str(out), "--rows", "1600", "--anomalies", "3"]
    assert cli.main([*argv, "--seed", "4", "--sensors", "9", "--clean-rows", "300"]) == 0
    printed = capsys.readouterr().out
    expected = SensorPlant(n_sensors=9, seed=4, n_anomalies=3, normal_rows=300).generate(1600)

    written = pd.read_csv(out, sep=";")
    assert list(written.columns) == list(expected.columns)
    assert len(written) == 1600
    sensors = [c for c in expected.columns if c not in ("datetime", "anomaly", "changepoint")]
    assert len(sensors) == 9
    np.testing.assert_allclose(written[sensors], expected[sensors], rtol=1e-5)  # 6 digits
    np.testing.assert_array_equal(written["anomaly"], expected["anomaly"])
    assert written["anomaly"].iloc[:300].sum() == 0  # the clean rows
    assert written["datetime"].iloc[1] == "2021-01-01 00:00:01"

    read = SensorCSV(out, window=1)  # what cnnlstm detect reads it with
    assert read.feature_names == sensors and read.labels is not None
    anomalies = expected.attrs["anomalies"]
    assert len(anomalies) == 3
    for anomaly in anomalies:
        assert f"{anomaly.start}-{anomaly.end - 1}" in printed and anomaly.kind in printed
    assert "--train-rows 300" in printed
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask  # not the temporary file's 0o600


def test_normal_rows_writes_an_anomaly_free_file_beside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plant.csv"
    assert main(["sensor-plant", str(out), "--normal-rows", "500", "--seed", "2"]) == 0
    normal = normal_path(out)
    assert normal == tmp_path / "plant-normal.csv"
    written = pd.read_csv(normal, sep=";")
    expected = SensorPlant(seed=2).normal(500)
    assert list(written.columns) == list(expected.columns)  # no label columns
    assert "anomaly" not in written.columns and len(written) == 500
    sensors = list(expected.columns[1:])
    np.testing.assert_allclose(written[sensors], expected[sensors], rtol=1e-5)
    assert f"--train {normal}" in capsys.readouterr().out
    # it ends a second before plant.csv begins: detect --train warms up on its last rows
    plant = pd.read_csv(out, sep=";")
    gap = pd.Timestamp(plant["datetime"].iloc[0]) - pd.Timestamp(written["datetime"].iloc[-1])
    assert gap == pd.Timedelta(seconds=1)


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plant.csv"
    out.write_text("the previous file\n")

    def half_written(plant: SensorPlant, path: Path, rows: int, **options: object) -> None:
        Path(path).write_text("datetime;Current\n2021-01-01 00:00:00;")
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(SensorPlant, "write_csv_in_chunks", half_written)
    assert main(["sensor-plant", str(out)]) == 2
    assert "No space left on device" in _error_line(capsys)
    assert out.read_text() == "the previous file\n"
    assert [p.name for p in tmp_path.iterdir()] == ["plant.csv"]


# ----------------------------------------------------------------------------- image data


def test_moving_digits_npz_reads_back_with_array_dataset(tmp_path: Path) -> None:
    out = tmp_path / "digits.npz"
    assert main(["moving-digits", str(out), "--samples", "3", "--seed", "5"]) == 0
    data = ArrayDataset(out)
    source = MovingDigits(num_samples=3, seed=5)
    assert len(data) == 3 and data.x_shape == (3, 10, 1, 64, 64)
    for i in range(3):
        x, y = data[i]
        want_x, want_y = source[i]
        torch.testing.assert_close(x, want_x, rtol=0, atol=0)
        torch.testing.assert_close(y, want_y, rtol=0, atol=0)


def test_digit_clips_npz_reads_back_with_array_dataset(tmp_path: Path) -> None:
    out = tmp_path / "clips.npz"
    assert cli.main(["generate", "digit-clips", str(out), "--samples", "4"]) == 0
    data = ArrayDataset(out)
    source = DigitClips(num_samples=4, seed=0)
    for i in range(4):
        clip, label = data[i]
        want_clip, want_label = source[i]
        torch.testing.assert_close(clip, want_clip, rtol=0, atol=0)
        assert label.dtype == torch.int64 and int(label) == int(want_label)


def test_digit_clips_folder_reads_back_with_frame_folder(tmp_path: Path) -> None:
    out = tmp_path / "clips"
    out.mkdir()  # an empty folder is fine
    assert main(["digit-clips", str(out), "--samples", "5", "--seed", "1"]) == 0
    data = FrameFolder(out, frames=None, grayscale=True)
    source = DigitClips(num_samples=5, seed=1)
    assert len(data) == 5
    by_clip = {path.name: (path, label) for path, label in data.samples}
    for i in range(5):
        want_clip, want_label = source[i]
        path, label = by_clip[f"clip{i}"]
        assert data.classes[label] == str(int(want_label))  # class folders are the digits
        clip, _ = data[data.samples.index((path, label))]
        assert clip.shape == want_clip.shape == (10, 1, 32, 32)
        torch.testing.assert_close(clip, want_clip, rtol=0, atol=0.5 / 255 + 1e-6)  # 8-bit PNG
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder


def test_text_lines_npz_holds_padded_ctc_targets(tmp_path: Path) -> None:
    out = tmp_path / "lines.npz"
    assert main(["text-lines", str(out), "--samples", "6", "--seed", "3"]) == 0
    data = ArrayDataset(out, lengths_key=None)  # the padded targets, as stored
    source = TextLines(num_samples=6, seed=3)
    with np.load(out) as archive:
        lengths, alphabet = archive["lengths"], str(archive["alphabet"])
    assert alphabet == source.alphabet
    for i in range(6):
        image, target = data[i]
        want_image, want_target = source[i]
        torch.testing.assert_close(image, want_image, rtol=0, atol=0)
        assert target.shape == (source.max_length,) and int(lengths[i]) == len(want_target)
        assert target[: len(want_target)].tolist() == want_target.tolist()
        assert (target[len(want_target) :] == 0).all()  # padded with the CTC blank
        assert source.decode(target) == source.text(i)


def test_text_lines_folder_reads_back_as_the_text_folder_config_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "lines"
    assert cli.main(["generate", "text-lines", str(out), "--samples", "12", "--seed", "2"]) == 0
    assert "wrote" in capsys.readouterr().out
    settings = yaml.safe_load(TEXT_CONFIG.read_text(encoding="utf-8"))
    data, model = settings["data"]["init_args"], settings["model"]["init_args"]
    folder = TextLineFolder(
        out,
        labels=data["labels"],
        height=data["height"],
        width=data["width"],
        alphabet=model["alphabet"],
        ink=data["ink"],
    )
    source = TextLines(num_samples=12, seed=2)
    assert sorted(p.name for p in out.iterdir()) == ["labels.tsv"] + [
        f"line{i:02d}.png" for i in range(12)
    ]
    assert [path.name for path in folder.files] == [f"line{i:02d}.png" for i in range(12)]
    assert folder.texts == [source.text(i) for i in range(12)]
    for i in range(12):
        image, target = folder[i]
        want_image, want_target = source[i]
        assert image.shape == want_image.shape == (1, 32, 128)
        torch.testing.assert_close(image, want_image, rtol=0, atol=0.5 / 255 + 1e-6)  # 8-bit
        assert target.tolist() == want_target.tolist()  # the config's alphabet is the generator's
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder


# ----------------------------------------------------------------------------- mistakes


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["sensor-plant", "p.csv", "--rows", "500"], "--rows has to be at least 1435"),
        (["sensor-plant", "p.csv", "--sensors", "4"], "--sensors has to be in [8, 64], but got 4"),
        (["sensor-plant", "p.csv", "--rows", "0"], "--rows has to be a positive int"),
        (["sensor-plant", "p.csv", "--anomalies", "-1"], "--anomalies has to be a non-negative"),
        (["sensor-plant", "p.csv", "--samples", "9"], "--samples is for moving-digits"),
        (["sensor-plant", "p.npz"], "OUTPUT has to be a .csv file for sensor-plant"),
        (["text-lines", "t.npz", "--rows", "9"], "--rows is for sensor-plant"),
        (["moving-digits", "m.npz", "--samples", "0"], "--samples has to be a positive int"),
        (["moving-digits", "m.csv"], "OUTPUT has to be a .npz file for moving-digits"),
        (["digit-clips", "c.avi"], "or a folder (no suffix) for PNG frames"),
        (["text-lines", "t.tsv"], "or a folder (no suffix) for PNG line images and labels.tsv"),
        (["pick-place", "m.csv", "--sensors", "9"], "--sensors is for sensor-plant"),
        (["pick-place", "m.csv", "--rows", "900"], "--rows has to be at least 985"),
        (["pick-place", "m.csv", "--samples", "3"], "pick-place takes --rows"),
        (["pick-place", "m.npz"], "OUTPUT has to be a .csv file for pick-place"),
        (["pick-place", "m.csv", "--clean-rows", "-1"], "--clean-rows has to be a non-negative"),
    ],
)
def test_mistakes_are_one_line_and_write_nothing(
    argv: list[str],
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert expected in _error_line(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["digit-clips", "text-lines"])
def test_a_folder_that_holds_files_is_refused(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keep.txt").write_text("mine")
    assert main([name, str(tmp_path / "data"), "--samples", "2"]) == 2
    assert f"has to be a new or empty folder for {name}" in _error_line(capsys)
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["keep.txt"]


def test_unknown_name_through_the_main_parser(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["generate", "mnist", "m.npz"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "invalid choice: 'mnist'" in err[0]
    assert "sensor-plant" in err[0]
