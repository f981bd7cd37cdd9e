"""Video folders as people really have them: hidden folders, mixed kinds, one clip, odd sizes.

Every folder here is written for the test (PNG frames with Pillow, small mp4s with PyAV); the
expected clips, labels and frame sizes come from what was written, not from the readers.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from cnnlstm import cli
from cnnlstm.data.datamodules import VideoDataModule
from cnnlstm.data.frame_folder import FrameFolder
from cnnlstm.data.paths import visible_entries
from cnnlstm.data.video import VideoFolder
from cnnlstm.data.video_layout import predict_layout
from cnnlstm.errors import ConfigError, DataError


def write_video(path: Path, *, frames: int = 6, height: int = 16, width: int = 24) -> Path:
    """A small mp4 whose frame ``i`` is grey level ``20 * i``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height = width, height
        for i in range(frames):
            image = np.full((height, width, 3), 20 * i, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return path


def write_frames(folder: Path, *, frames: int = 4, height: int = 8, width: int = 12) -> Path:
    """A clip folder of PNG frames; frame ``i`` is grey level ``30 * i + 5``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        Image.new("RGB", (width, height), (30 * i + 5,) * 3).save(folder / f"frame{i}.png")
    return folder


def litter(folder: Path) -> None:
    """What notebooks, git and macOS leave in a folder: hidden folders and files."""
    (folder / ".ipynb_checkpoints").mkdir(parents=True, exist_ok=True)
    (folder / ".git").mkdir(exist_ok=True)
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")


# -- 1. hidden entries are never classes, clips or frames ----------------------------------------


def test_visible_entries_skips_hidden_names(tmp_path: Path) -> None:
    litter(tmp_path)
    (tmp_path / "walk").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    assert sorted(p.name for p in visible_entries(tmp_path)) == ["notes.txt", "walk"]


def test_hidden_folders_among_videos_are_skipped(tmp_path: Path) -> None:
    root = tmp_path / "vids2"
    for name in ("walk", "run"):
        write_video(root / name / f"{name}0.mp4")
        write_video(root / name / f"{name}1.mp4")
    litter(root)
    litter(root / "walk")  # the report: an empty walk/.ipynb_checkpoints/ among the videos
    (root / "run" / "._run0.mp4").write_bytes(b"\x00\x05\x16\x07")  # a macOS resource fork
    module = VideoDataModule(root, frames=3, val_split=0, test_split=0, batch_size=2)
    module.setup("fit")
    assert module.classes == ["run", "walk"]
    data = VideoFolder(root, frames=3)
    assert [(p.relative_to(root).as_posix(), y) for p, y in data.samples] == [
        ("run/run0.mp4", 0),
        ("run/run1.mp4", 0),
        ("walk/walk0.mp4", 1),
        ("walk/walk1.mp4", 1),
    ]
    x, y = next(iter(module.train_dataloader()))
    assert x.shape == (2, 3, 3, 16, 24) and y.shape == (2,)


def test_hidden_entries_among_frame_folders_are_skipped(tmp_path: Path) -> None:
    root = tmp_path / "frames"
    write_frames(root / "wave" / "c0", frames=5)
    write_frames(root / "clap" / "c1", frames=5)
    litter(root)
    litter(root / "wave")
    litter(root / "wave" / "c0")
    (root / "wave" / "c0" / "._frame1.png").write_bytes(b"\x00\x05\x16\x07")  # not an image
    data = FrameFolder(root, frames=None)
    assert data.classes == ["clap", "wave"]
    assert [p.name for p in data.frame_files(1)] == [f"frame{i}.png" for i in range(5)]
    clip, label = data[1]
    assert int(label) == 1
    expected = torch.tensor([30 * i + 5 for i in range(5)], dtype=torch.float32) / 255
    assert torch.allclose(clip[:, 0, 0, 0], expected)
    module = VideoDataModule(root, val_split=0, test_split=0, frames=2)
    module.setup("fit")  # format auto finds frame folders; .ipynb_checkpoints is no clip
    assert module.classes == ["clap", "wave"]


def test_an_empty_class_folder_is_named_with_both_kinds(tmp_path: Path) -> None:
    write_video(tmp_path / "walk" / "a.mp4")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "a.gif").write_bytes(b"not taken")
    with pytest.raises(DataError) as error:
        VideoDataModule(tmp_path).setup("fit")
    message = str(error.value)
    assert f"class folder {tmp_path / 'run'} is empty" in message
    assert "videos (.mp4, .avi, .mkv, .webm) or other video files (.mov, .m4v, .3gp" in message
    assert ", or folders of frames (.png, .jpg, .jpeg" in message
    assert "it holds only a.gif" in message


def test_frame_folder_on_videos_names_the_class_folder_and_the_reader(tmp_path: Path) -> None:
    write_video(tmp_path / "run" / "a.mp4")
    with pytest.raises(DataError) as error:
        FrameFolder(tmp_path)
    assert str(error.value) == (
        f"FrameFolder: class folder {tmp_path / 'run'} is empty; expected clip folders in it (one "
        f"folder of .png/.jpg/.jpeg frames per clip), but it holds videos (a.mp4): read them with "
        f"VideoFolder (format: video)."
    )
    write_frames(tmp_path / "walk" / "c0")
    with pytest.raises(DataError, match=r"walk is empty.*holds folders of frames \(c0\)"):
        VideoFolder(tmp_path)
    write_frames(tmp_path / "jump", frames=2)  # frames straight in a class folder
    with pytest.raises(DataError, match=r"jump is empty.*holds frames directly \(frame0.png"):
        FrameFolder(tmp_path)


def test_a_root_of_both_kinds_names_one_clip_of_each(tmp_path: Path) -> None:
    write_video(tmp_path / "walk" / "a.mp4")
    write_frames(tmp_path / "run" / "c0")
    with pytest.raises(DataError) as error:
        VideoDataModule(tmp_path).setup("fit")
    assert str(error.value) == (
        f"VideoDataModule: root {tmp_path} holds both videos (walk/a.mp4) and folders of frames "
        f"(run/c0), but one run reads one kind of clip; keep one kind under it (move the other "
        f"clips out, or convert them)."
    )


# -- 2. predict_root: mixed kinds, one clip ------------------------------------------------------


def test_predict_root_of_videos_and_frame_folders_is_an_error(tmp_path: Path) -> None:
    write_video(tmp_path / "vid1.mp4")
    write_frames(tmp_path / "myclip")
    with pytest.raises(DataError) as error:
        predict_layout(tmp_path, "auto")
    assert str(error.value) == (
        f"VideoDataModule: predict_root {tmp_path} holds both videos (vid1.mp4) and folders of "
        f"frames (myclip), but one run reads one kind of clip; move one kind to a folder of its "
        f"own and predict on each folder in turn."
    )
    assert predict_layout(tmp_path, "video") == ("video", True)  # a format reads one kind
    assert predict_layout(tmp_path, "frames") == ("frames", True)


def test_predict_root_grouping_both_kinds_is_an_error(tmp_path: Path) -> None:
    write_video(tmp_path / "monday" / "vid1.mp4")
    write_frames(tmp_path / "tuesday" / "myclip")
    with pytest.raises(DataError, match=r"videos \(monday/vid1.mp4\) and folders of frames "):
        predict_layout(tmp_path, "auto")


def test_predict_root_that_is_one_clip_says_to_give_its_parent(tmp_path: Path) -> None:
    clip = write_frames(tmp_path / "NEW2" / "myclip", frames=3)
    litter(clip)
    with pytest.raises(DataError) as error:
        predict_layout(clip, "auto")
    assert str(error.value) == (
        f"VideoDataModule: predict_root {clip} looks like one clip: it holds 3 frames (frame0.png, "
        f"frame1.png, frame2.png) and no clip folders; give the folder it is in "
        f"({tmp_path / 'NEW2'}) as predict_root, which predicts every clip in it, or move it into "
        f"a folder of its own and give that."
    )
    assert predict_layout(clip.parent, "auto") == ("frames", True)  # the advice works
    video = write_video(tmp_path / "NEW3" / "one.mp4")
    with pytest.raises(DataError, match=r"one.mp4 is one video, not a folder; give the folder"):
        predict_layout(video, "auto")
    assert predict_layout(video.parent, "auto") == ("video", True)


def test_predict_root_with_hidden_folders_predicts_the_clips_only(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_frames(root / "a" / "c0")
    write_frames(root / "b" / "c0")
    new = tmp_path / "new"
    write_frames(new / "x")
    write_frames(new / "y")
    litter(new)
    module = VideoDataModule(root, frames=2, predict_root=new, batch_size=2)
    module.setup("predict")
    assert module.predict_items() == [("x", None), ("y", None)]
    x, y = next(iter(module.predict_dataloader()))
    assert x.shape == (2, 2, 3, 8, 12) and y.tolist() == [-1, -1]


# -- 3. a root that is not there -----------------------------------------------------------------


def test_a_missing_root_names_the_setting_the_folder_and_the_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as error:
        VideoDataModule("clips", predict_root="elsewhere").setup("predict")
    message = str(error.value)
    assert message == (
        f"VideoDataModule: root clips (looked for {tmp_path.resolve() / 'clips'}, relative to the "
        f"current folder) does not exist; set data.init_args.root to your folder of class "
        f"folders (ROOT/<class>/<clip>), or write the built-in example there first: cnnlstm "
        f"generate digit-clips clips/"
    )
    command = shlex.split(message.rsplit(": ", 1)[1])
    assert command[0] == "cnnlstm"
    assert cli.main([*command[1:], "--samples", "10"]) == 0  # the advice works
    module = VideoDataModule("clips", frames=2, val_split=0, test_split=0)
    module.setup("fit")
    assert module.classes == sorted(p.name for p in (tmp_path / "clips").iterdir())
    assert set(module.classes) <= {str(d) for d in range(10)} and len(module.classes) >= 2


# -- 4. fps without source_fps, clips of different sizes -----------------------------------------


def test_fps_on_frame_folders_needs_source_fps(tmp_path: Path) -> None:
    write_frames(tmp_path / "a" / "c0", frames=6)
    with pytest.raises(ConfigError, match=r"set data.init_args.source_fps to the rate the frames"):
        VideoDataModule(tmp_path, format="frames", fps=5)  # known at once with format frames
    module = VideoDataModule(tmp_path, fps=5, val_split=0, test_split=0)
    with pytest.raises(ConfigError) as error:
        module.setup("fit")  # format auto: known once the folders are looked at
    assert str(error.value) == (
        f"VideoDataModule: fps=5 samples clips by time, but {tmp_path} holds folders of frames "
        f"and image files carry no timestamps; set data.init_args.source_fps to the rate the "
        f"frames were taken at (e.g. --data.init_args.source_fps 25 for 25 frames per second), "
        f"or leave fps unset to sample by frame."
    )
    with pytest.raises(ValueError, match=r"source_fps has to be given with fps=5, but got None"):
        FrameFolder(tmp_path, fps=5)
    # 6 frames taken at 10 per second last 0.6 s: at 5 per second that is 3 moments, 0.2 s apart
    fine = VideoDataModule(tmp_path, fps=5, source_fps=10, frames=None, val_split=0, test_split=0)
    fine.setup("fit")
    x, lengths, _ = next(iter(fine.train_dataloader()))
    assert lengths.tolist() == [3]
    expected = torch.tensor([30 * i + 5 for i in (0, 2, 4)], dtype=torch.float32) / 255
    assert torch.allclose(x[0, :, 0, 0, 0], expected)


def test_clips_of_different_sizes_are_a_data_error_naming_two(tmp_path: Path) -> None:
    write_frames(tmp_path / "a" / "c0", height=8, width=12)
    write_frames(tmp_path / "a" / "c1", height=8, width=12)
    write_frames(tmp_path / "b" / "c2", height=10, width=6)
    module = VideoDataModule(tmp_path, frames=2, size=None, val_split=0, test_split=0, batch_size=3)
    module.setup("fit")
    loader = torch.utils.data.DataLoader(module.train_set, batch_size=3)  # in clip order
    with pytest.raises(DataError) as error:
        next(iter(loader))
    assert str(error.value) == (
        f"VideoDataModule: clips of different frame sizes cannot share a batch: "
        f"{tmp_path / 'b' / 'c2'} is 6x10 (width x height) but {tmp_path / 'a' / 'c0'}, read "
        f"before it, is 12x8; set size: [H, W] to resize every frame to one size (e.g. "
        f"--data.init_args.size '[8, 12]'), or batch_size: 1."
    )
    with pytest.raises(DataError, match="cannot share a batch"):  # the module's shuffled loader
        list(module.train_dataloader())
    one = VideoDataModule(tmp_path, frames=2, size=None, val_split=0, test_split=0, batch_size=1)
    one.setup("fit")
    sizes = sorted(tuple(x.shape[-2:]) for x, _ in one.train_dataloader())
    assert sizes == [(8, 12), (8, 12), (10, 6)]  # one clip a batch: any size goes
    resized = VideoDataModule(tmp_path, frames=2, size=(8, 8), val_split=0, test_split=0)
    resized.setup("fit")
    x, _ = next(iter(resized.train_dataloader()))
    assert x.shape == (3, 2, 3, 8, 8)
