"""`cnnlstm predict` on the user's own videos: predictions.csv, predict_root, and the errors.

One tiny model is fitted for two steps with the shipped video_folder config on digit clips that
`cnnlstm generate` writes as folders of PNG frames; each test then predicts with its checkpoint.
Expected values come from predictions.pt, from the generated folders and from runs on other
folders holding the same clips, never from the CSV writer's own summary.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from pathlib import Path

import av
import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from PIL import Image

from cnnlstm import cli
from cnnlstm.commands.configs import CONFIGS_DIR
from cnnlstm.commands.predictions import PredictionWriter
from cnnlstm.data.datamodules import DigitClipsDataModule
from cnnlstm.errors import ConfigError
from cnnlstm.tasks import ClassificationTask

CONFIG = str(CONFIGS_DIR / "video_folder.yaml")
PREDICTIONS = Path("runs") / "video_folder" / "predictions"
QUIET = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
TINY = [
    "--model.init_args.model_args.channels=[4, 8]",
    "--model.init_args.model_args.hidden_size=8",
    "--trainer.max_steps=2",
    "--trainer.limit_val_batches=1",
    *QUIET,
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder with clips/ (60 digit clips, 6 per class) and a checkpoint fitted on it."""
    folder = tmp_path_factory.mktemp("predict_videos")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        assert cli.main(["generate", "digit-clips", "clips", "--samples", "60"]) == 0
        assert cli.main(["fit", "--config", CONFIG, "--data.init_args.root=clips", *TINY]) == 0
    torch.set_num_threads(threads)
    yield folder


@pytest.fixture(autouse=True)
def _in_workdir_on_one_thread(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(workdir)
    PREDICTIONS.unlink(missing_ok=True)  # the link to the newest predict's folder
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def predict(*extra: str, ckpt: str = "runs/video_folder/checkpoints/last.ckpt") -> int:
    return cli.main(["predict", "--config", CONFIG, f"--ckpt_path={ckpt}", *QUIET, *extra])


def read_rows() -> list[dict[str, str]]:
    with (PREDICTIONS / "predictions.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def saved() -> tuple[torch.Tensor, list[int]]:
    data = torch.load(PREDICTIONS / "predictions.pt")
    return data["predictions"], data["indices"]


def last_error(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


def copy_clip(clip: str, to: Path) -> None:
    shutil.copytree(Path("clips") / clip, to)


CLASSES = [str(digit) for digit in range(10)]  # the class folders cnnlstm generate writes


def test_predict_on_the_test_split_writes_one_readable_row_per_clip(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert predict() == 0
    rows = read_rows()
    probabilities, indices = saved()
    assert len(rows) == 6 == len(probabilities)  # test_split 0.1 of 60 clips, one item each
    assert list(rows[0]) == ["clip", "predicted", "probability", "true", "top3", "items"]
    assert len({row["clip"] for row in rows}) == len(rows)
    for row in rows:
        clip = Path("clips") / row["clip"]
        assert clip.is_dir() and list(clip.glob("*.png"))
        assert row["true"] == clip.parent.name  # the class folder it lies in
        (item,) = (int(i) for i in row["items"].split())
        p = probabilities[indices.index(item)]  # (K,)
        assert 0.0 <= float(row["probability"]) <= 1.0
        assert float(row["probability"]) == pytest.approx(float(p.max()), abs=5e-5)
        assert row["predicted"] == CLASSES[int(p.argmax())]
        order = sorted(range(10), key=lambda k: -float(p[k]))[:3]
        top = [part.split(" (") for part in row["top3"].split("; ")]
        assert [name for name, _ in top] == [CLASSES[k] for k in order]
        assert [float(v.rstrip(")")) for _, v in top] == pytest.approx(
            [float(p[k]) for k in order], abs=5e-5
        )
    right = sum(row["predicted"] == row["true"] for row in rows)
    out = capsys.readouterr().out
    assert f"accuracy {right / 6:.3f} ({right} of 6 clips of a known class)" in out
    assert not [p for p in PREDICTIONS.iterdir() if p.suffix == ".tmp" or p.name.startswith(".")]


def test_predict_root_of_clip_folders_without_classes(tmp_path: Path) -> None:
    assert predict() == 0
    reference = {row["clip"]: row for row in read_rows()}  # the same clips in the test split
    names = sorted(reference)[:3]
    new = tmp_path / "new"
    for k, clip in enumerate(names):
        copy_clip(clip, new / f"visit{k}")
    assert predict(f"--data.init_args.predict_root={new}") == 0
    rows = read_rows()
    assert [row["clip"] for row in rows] == ["visit0", "visit1", "visit2"]
    for row, clip in zip(rows, names, strict=True):
        assert row["true"] == ""
        for key in ("predicted", "probability", "top3"):
            assert row[key] == reference[clip][key]  # a clip's prediction not where it lies


def test_two_predicts_on_other_clips_keep_a_csv_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first predict's CSV is neither replaced nor mixed with the second's: each is in its
    run's folder, named in the line that reports it; runs/video_folder/predictions is the newest."""
    assert predict() == 0
    reference = {row["clip"]: row for row in read_rows()}  # the test split's 6 clips
    names = sorted(reference)
    written = []
    for new, clips in ((tmp_path / "two", names[:2]), (tmp_path / "three", names[2:5])):
        for k, clip in enumerate(clips):
            copy_clip(clip, new / f"visit{k}")
        capsys.readouterr()
        assert predict(f"--data.init_args.predict_root={new}") == 0
        (line,) = [x for x in capsys.readouterr().out.splitlines() if "predictions.csv" in x]
        written.append(Path(line.removeprefix("cnnlstm: wrote ").split(" (")[0]))
    assert written[0] != written[1]
    assert written[0].parent.parent.parent == written[1].parent.parent.parent == PREDICTIONS.parent
    for csv_path, clips in zip(written, (names[:2], names[2:5]), strict=True):
        with csv_path.open(newline="") as file:
            rows = list(csv.DictReader(file))
        assert [row["clip"] for row in rows] == [f"visit{k}" for k in range(len(clips))]
        for row, clip in zip(rows, clips, strict=True):
            assert row["predicted"] == reference[clip]["predicted"]
            assert row["probability"] == reference[clip]["probability"]
        saved_pt = torch.load(csv_path.with_suffix(".pt"))
        assert len(saved_pt["predictions"]) == len(clips)
    assert PREDICTIONS.resolve() == written[1].parent.resolve()


def test_predict_root_of_videos_without_classes(tmp_path: Path) -> None:
    new = tmp_path / "videos"
    new.mkdir()
    for name in ("b.mp4", "a.mp4"):
        with av.open(str(new / name), "w") as out:
            stream = out.add_stream("mpeg4", rate=10)
            stream.width, stream.height = 48, 32
            for i in range(12):
                image = np.full((32, 48, 3), 15 * i, np.uint8)
                out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            out.mux(stream.encode())
    (new / "notes.txt").write_text("not a video")
    assert predict(f"--data.init_args.predict_root={new}") == 0
    rows = read_rows()
    assert [row["clip"] for row in rows] == ["a.mp4", "b.mp4"]
    assert all(row["predicted"] in CLASSES and row["true"] == "" for row in rows)


def test_predict_root_with_class_folders_keeps_the_labels_it_can_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = tmp_path / "sorted"
    sevens, twos = sorted(Path("clips/7").iterdir()), sorted(Path("clips/2").iterdir())
    copy_clip(f"7/{sevens[0].name}", new / "7" / "c0")
    copy_clip(f"2/{twos[0].name}", new / "2" / "c1")
    copy_clip(f"2/{twos[1].name}", new / "monday" / "c2")  # a folder that is no class
    assert predict(f"--data.init_args.predict_root={new}") == 0
    rows = {row["clip"]: row for row in read_rows()}
    assert set(rows) == {"2/c1", "7/c0", "monday/c2"}
    assert (rows["7/c0"]["true"], rows["2/c1"]["true"], rows["monday/c2"]["true"]) == ("7", "2", "")
    probabilities, indices = saved()
    for row in rows.values():  # the label is the class of clips/, not of the folder's own order
        p = probabilities[indices.index(int(row["items"]))]
        assert row["predicted"] == CLASSES[int(p.argmax())]
    right = sum(rows[c]["predicted"] == rows[c]["true"] for c in ("7/c0", "2/c1"))
    assert f"({right} of 2 clips of a known class)" in capsys.readouterr().out


def test_sliding_windows_are_averaged_per_clip() -> None:
    sliding = ["--data.init_args.eval_sampling=sliding", "--data.init_args.stride=1"]
    assert predict(*sliding) == 0
    rows = read_rows()
    probabilities, indices = saved()
    assert len(rows) == 6 and len(probabilities) == 6 * 3  # 10 frames: windows of 8 at 0, 1, 2
    for row in rows:
        items = [int(i) for i in row["items"].split()]
        assert len(items) == 3
        total = torch.zeros(10, dtype=torch.float64)
        for item in items:
            total += probabilities[indices.index(item)].double()
        mean = total / 3
        assert float(row["probability"]) == pytest.approx(float(mean.max()), abs=5e-5)
        assert row["predicted"] == CLASSES[int(mean.argmax())]


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("missing", "predict_root {root} does not exist; give a folder of videos or of frame"),
        ("empty", "predict_root {root} holds no clips; expected videos (.mp4, .avi, .mkv, .webm)"),
        ("images", "predict_root {root} looks like one clip: it holds 1 frame (frame0.png)"),
    ],
    ids=["missing", "empty", "frames-without-clip-folders"],
)
def test_a_predict_root_without_clips_is_one_clear_line(
    where: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / where
    if where != "missing":
        root.mkdir()
    if where == "images":  # frames straight in the folder: not a clip folder
        Image.new("RGB", (8, 8)).save(root / "frame0.png")
    assert predict(f"--data.init_args.predict_root={root}") == 2
    error = last_error(capsys)
    assert error.startswith("cnnlstm: error: VideoDataModule: ")
    assert message.format(root=root) in error
    assert not (PREDICTIONS / "predictions.csv").exists()


def test_a_checkpoint_for_other_classes_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    three = tmp_path / "three"
    for digit in "012":
        shutil.copytree(Path("clips") / digit, three / digit)
    assert predict(f"--data.init_args.root={three}") == 2  # a 10-class model, 3 class folders
    error = last_error(capsys)
    assert error.startswith(
        "cnnlstm: error: predict: the model (from the checkpoint, when one is given) predicts "
        "10 classes, but the data has 3 classes ['0', '1', '2']; "
    )
    assert "set it to the class folders the model was trained on" in error
    assert not (PREDICTIONS / "predictions.pt").exists()


def test_a_checkpoint_for_other_class_names_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    renamed = tmp_path / "renamed"
    for digit in CLASSES:
        shutil.copytree(Path("clips") / digit, renamed / f"digit{digit}")
    assert predict(f"--data.init_args.root={renamed}") == 2
    error = last_error(capsys)
    assert error == (
        f"cnnlstm: error: VideoDataModule: the checkpoint's model was trained on the classes "
        f"{CLASSES}, but {renamed} holds the class folders {[f'digit{d}' for d in CLASSES]}; "
        f"set data.init_args.root to the folder it was trained on (the class names come from "
        f"there)."
    )


def test_nothing_to_predict_on_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert predict("--data.init_args.test_split=0") == 2
    assert "VideoDataModule: nothing to predict on: predict_root is not set" in last_error(capsys)


def test_a_classifier_for_other_classes_than_generated_data_names_the_fix(tmp_path: Path) -> None:
    model_args = {"frames": 10, "image_size": (32, 32), "channels": (4,), "hidden_size": 4}
    task = ClassificationTask("clip_classifier", model_args, num_classes=3)
    data = DigitClipsDataModule(train_samples=2, val_samples=1, test_samples=2, batch_size=2)
    writer = PredictionWriter(str(tmp_path))
    trainer = pl.Trainer(callbacks=[writer], logger=False, enable_progress_bar=False)
    with pytest.raises(ConfigError) as error:
        trainer.predict(task, datamodule=data)
    assert str(error.value) == (
        "predict: the model (from the checkpoint, when one is given) predicts 3 classes, but the "
        "data has 10 classes; predict on the data the model was trained on, or with a checkpoint "
        "trained on these 10 classes."
    )
    assert not list(tmp_path.iterdir())


def test_data_that_cannot_name_its_items_gets_the_pt_and_no_stale_csv(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model_args = {"frames": 10, "image_size": (32, 32), "channels": (4,), "hidden_size": 4}
    task = ClassificationTask("clip_classifier", model_args, num_classes=10)
    data = DigitClipsDataModule(train_samples=2, val_samples=1, test_samples=3, batch_size=2)
    (tmp_path / "predictions.csv").write_text("clip,predicted\nold,1\n")  # an earlier run's
    writer = PredictionWriter(str(tmp_path))
    trainer = pl.Trainer(callbacks=[writer], logger=False, enable_progress_bar=False)
    trainer.predict(task, datamodule=data)
    assert torch.load(tmp_path / "predictions.pt")["predictions"].shape == (3, 10)
    assert writer.csv_path is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.pt"]


def test_a_predict_root_that_mixes_layouts_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mixed = tmp_path / "new"
    clips = sorted((Path("clips") / "3").iterdir())
    shutil.copytree(clips[0], mixed / clips[0].name)  # new/<clip>/ of frames: a clip as it comes
    shutil.copytree(clips[1], mixed / "3" / clips[1].name)  # new/3/<clip>/: a class folder
    assert predict(f"--data.init_args.predict_root={mixed}") == 2
    assert last_error(capsys) == (
        f"cnnlstm: error: VideoDataModule: predict_root {mixed} mixes clips ({clips[0].name}) "
        f"with folders of clips (3); use one layout: clips directly in it, or one folder per "
        f"class."
    )


def write_mp4(path: Path, *, width: int = 48, height: int = 32) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height = width, height
        for i in range(12):
            image = np.full((height, width, 3), 15 * i, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())


def test_hidden_folders_in_predict_root_are_skipped(tmp_path: Path) -> None:
    new = tmp_path / "new"
    first = sorted((Path("clips") / "4").iterdir())[0]
    copy_clip(f"4/{first.name}", new / "visit")
    (new / ".ipynb_checkpoints").mkdir()
    copy_clip(f"4/{first.name}", new / ".git" / "objects")  # a hidden folder of frames
    (new / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    assert predict(f"--data.init_args.predict_root={new}") == 0
    assert [row["clip"] for row in read_rows()] == ["visit"]


def test_a_predict_root_of_videos_and_frame_folders_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = tmp_path / "NEW"
    write_mp4(new / "vid1.mp4")
    copy_clip(f"5/{sorted((Path('clips') / '5').iterdir())[0].name}", new / "myclip")
    assert predict(f"--data.init_args.predict_root={new}") == 2
    assert last_error(capsys) == (
        f"cnnlstm: error: VideoDataModule: predict_root {new} holds both videos (vid1.mp4) and "
        f"folders of frames (myclip), but one run reads one kind of clip; move one kind to a "
        f"folder of its own and predict on each folder in turn."
    )
    assert not (PREDICTIONS / "predictions.csv").exists()
    assert predict(f"--data.init_args.predict_root={new / 'myclip'}") == 2  # one clip folder
    error = last_error(capsys)
    assert error.startswith(f"cnnlstm: error: VideoDataModule: predict_root {new / 'myclip'} ")
    assert "looks like one clip: it holds 10 frames (frame0.png, frame1.png" in error
    assert f"give the folder it is in ({new}) as predict_root" in error


def test_predicting_from_another_folder_names_the_root_setting(
    workdir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    new = tmp_path / "new"
    copy_clip(f"6/{sorted((Path('clips') / '6').iterdir())[0].name}", new / "visit")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the video_folder config's root is clips, relative
    checkpoint = str(workdir / "runs" / "video_folder" / "checkpoints" / "last.ckpt")
    assert predict(f"--data.init_args.predict_root={new}", ckpt=checkpoint) == 2
    assert last_error(capsys) == (
        f"cnnlstm: error: VideoDataModule: root clips (looked for {elsewhere.resolve() / 'clips'}, "
        f"relative to the current folder) does not exist; set data.init_args.root to your folder "
        f"of class folders (ROOT/<class>/<clip>), or write the built-in example there first: "
        f"cnnlstm generate digit-clips clips/"
    )
    root = f"--data.init_args.root={workdir / 'clips'}"
    assert predict(f"--data.init_args.predict_root={new}", root, ckpt=checkpoint) == 0


def test_fps_on_frame_folders_without_source_fps_is_one_clear_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert predict("--data.init_args.fps=5") == 2
    error = last_error(capsys)
    assert error.startswith(
        "cnnlstm: error: VideoDataModule: fps=5.0 samples clips by time, but clips holds folders "
        "of frames and image files carry no timestamps; set data.init_args.source_fps to the rate"
    )
    frames = "--data.init_args.format=frames"  # checked as the data module is built
    assert predict("--data.init_args.fps=5", frames) == 2
    assert "set data.init_args.source_fps to the rate the frames" in last_error(capsys)
    assert predict("--data.init_args.fps=5", "--data.init_args.source_fps=10") == 0


def test_videos_of_different_sizes_without_size_are_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = tmp_path / "sizes"
    write_mp4(new / "a.mp4", width=48, height=32)
    write_mp4(new / "b.mp4", width=64, height=48)
    no_size = "--data.init_args.size=null"
    assert predict(f"--data.init_args.predict_root={new}", no_size) == 2
    assert last_error(capsys) == (
        f"cnnlstm: error: VideoDataModule: clips of different frame sizes cannot share a batch: "
        f"{new / 'b.mp4'} is 64x48 (width x height) but {new / 'a.mp4'}, read before it, is "
        f"48x32; set size: [H, W] to resize every frame to one size (e.g. --data.init_args.size "
        f"'[32, 48]'), or batch_size: 1."
    )
    assert predict(f"--data.init_args.predict_root={new}") == 0  # the config's size: [64, 64]
    assert [row["clip"] for row in read_rows()] == ["a.mp4", "b.mp4"]
