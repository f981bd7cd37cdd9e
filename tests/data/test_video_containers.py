"""Containers people record or export (.mov, .m4v, .mpg, .ts, .3gp, .wmv, .flv...), read like mp4.

Each clip is written here with PyAV in the codec its container usually carries and read back
against a plain PyAV decode of the same file. A file in a class folder that is neither a video
nor an image is named in a warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from cnnlstm.data.clip_folder import VIDEO_EXTENSIONS
from cnnlstm.data.frame_folder import FrameFolder
from cnnlstm.data.video import VideoFolder
from cnnlstm.data.video_module import VideoDataModule

# (file name, codec, (width, height)): H.263 only encodes its standard sizes
CONTAINERS = [
    ("a.mov", "mpeg4", (48, 32)),
    ("b.MOV", "libx264", (48, 32)),  # an iPhone's upper-case ending
    ("c.m4v", "mpeg4", (48, 32)),
    ("d.mpg", "mpeg1video", (48, 32)),
    ("e.mpeg", "mpeg2video", (48, 32)),
    ("f.ts", "mpeg2video", (48, 32)),
    ("g.m2ts", "libx264", (48, 32)),
    ("h.3gp", "h263", (176, 144)),
    ("i.3g2", "mpeg4", (48, 32)),
    ("j.wmv", "wmv2", (48, 32)),
    ("k.flv", "flv", (48, 32)),
    ("l.vob", "mpeg2video", (48, 32)),
    ("m.Mp4", "mpeg4", (48, 32)),
]
FRAMES = 5


def scene(t: int, width: int, height: int) -> np.ndarray:
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[..., 0] = np.linspace(0, 250, width)[None, :]
    image[..., 1] = 40 * t
    image[: height // 2, : width // 3, 2] = 200
    return image


def write_clip(path: Path, codec: str, size: tuple[int, int], *, frames: int = FRAMES) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    with av.open(str(path), "w") as container:  # the ending picks the muxer, in any case
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "10"}
        else:
            stream.bit_rate = 2_000_000
        for t in range(frames):
            frame = av.VideoFrame.from_ndarray(scene(t, width, height), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def plain_decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def as_uint8(clip: torch.Tensor) -> np.ndarray:
    return np.rint(clip.numpy() * 255).astype(np.uint8).transpose(0, 2, 3, 1)


@pytest.fixture(scope="module")
def containers_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("containers")
    for name, codec, size in CONTAINERS:
        write_clip(root / "clips" / name, codec, size)
    return root


def test_every_container_is_found_and_matches_a_plain_decode(containers_root: Path) -> None:
    data = VideoFolder(containers_root, frames=None)
    assert sorted(p.name for p, _ in data.samples) == sorted(name for name, _, _ in CONTAINERS)
    for index, (path, _) in enumerate(data.samples):
        expected = plain_decode(path)
        assert len(expected) == FRAMES, path
        np.testing.assert_array_equal(as_uint8(data[index][0]), expected, err_msg=str(path))


def test_sampled_frames_in_every_container(containers_root: Path) -> None:
    """Sampling seeks by the timestamps a demux pass finds: MPEG-PS/TS and ASF have no index."""
    data = VideoFolder(containers_root, frames=2)
    for index, (path, _) in enumerate(data.samples):
        assert data.num_frames(index) == FRAMES, path
        expected = plain_decode(path)[[1, 3]]  # the centres of two equal halves of 5 frames
        np.testing.assert_array_equal(as_uint8(data[index][0]), expected, err_msg=str(path))


def test_the_default_endings_cover_what_cameras_and_editors_write() -> None:
    for ending in (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".ts"):
        assert ending in VIDEO_EXTENSIONS
    for ending in (".3gp", ".wmv", ".flv", ".mts", ".m2ts"):
        assert ending in VIDEO_EXTENSIONS
    assert all(e == e.lower() and e.startswith(".") for e in VIDEO_EXTENSIONS)


def test_a_folder_of_mp4_and_mov_clips_reads_both(tmp_path: Path) -> None:
    for label in ("wave", "clap"):
        for k in range(3):
            write_clip(tmp_path / label / f"p{k}.mp4", "mpeg4", (48, 32))
            write_clip(tmp_path / label / f"q{k}.MOV", "libx264", (48, 32))
    module = VideoDataModule(tmp_path, frames=3, val_split=2, test_split=2, batch_size=4)
    module.setup("fit")
    data = module.train_set.data  # type: ignore[union-attr]
    endings = {p.suffix for p, _ in data.samples}
    assert endings == {".mp4", ".MOV"} and len(data.samples) == 12
    seen = 0
    for x, y in module.train_dataloader():
        assert x.shape[1:] == (3, 3, 32, 48) and bool(torch.isfinite(x).all())
        seen += len(y)
    assert seen == 8
    module.setup("predict")
    clips = [name for name, _ in module.predict_items()]
    assert len(clips) == 2 and all(name.endswith((".mp4", ".MOV")) for name in clips)


def test_a_stray_file_in_a_class_folder_is_named_in_a_warning(tmp_path: Path) -> None:
    write_clip(tmp_path / "walk" / "a.mp4", "mpeg4", (48, 32))
    write_clip(tmp_path / "walk" / "b.mov", "mpeg4", (48, 32))
    (tmp_path / "walk" / "notes.txt").write_text("filmed on Tuesday")
    with pytest.warns(
        UserWarning, match=r"skipped a file that is neither a video nor an image"
    ) as record:
        data = VideoFolder(tmp_path, frames=2)
    message = str(record[0].message)
    assert "notes.txt" in message and str(tmp_path / "walk") in message
    assert [p.name for p, _ in data.samples] == ["a.mp4", "b.mov"]


def test_many_stray_files_are_counted_and_clips_without_classes_warn_too(tmp_path: Path) -> None:
    write_clip(tmp_path / "new" / "a.mp4", "mpeg4", (48, 32))
    for k in range(12):
        (tmp_path / "new" / f"log{k}.csv").write_text("x")
    with pytest.warns(UserWarning, match=r"12 files that are neither") as record:
        VideoFolder(tmp_path / "new", frames=2, labelled=False)
    assert "log0.csv, log1.csv" in str(record[0].message)
    assert "and 2 more" in str(record[0].message)


def test_images_beside_videos_and_hidden_files_are_skipped_quietly(tmp_path: Path) -> None:
    write_clip(tmp_path / "walk" / "a.mp4", "mpeg4", (48, 32))
    (tmp_path / "walk" / "thumbnail.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "walk" / ".DS_Store").write_bytes(b"\x00")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = VideoFolder(tmp_path, frames=2)
    assert len(data) == 1


def test_frame_folders_warn_about_a_stray_file_in_a_class_folder(tmp_path: Path) -> None:
    from PIL import Image

    clip = tmp_path / "wave" / "clip0"
    clip.mkdir(parents=True)
    for t in range(3):
        Image.new("RGB", (8, 8)).save(clip / f"{t}.png")
    (tmp_path / "wave" / "labels.xlsx").write_bytes(b"PK")
    with pytest.warns(UserWarning, match=r"labels\.xlsx"):
        FrameFolder(tmp_path, frames=2)
