"""Files cut short (an interrupted copy or download): a DataError by default, or what is there.

Clips are written here with PyAV and cut inside frame 6's data, so the file holds frames 0-5
whole. MP4/MOV are written with ``movflags=faststart`` (the sample table before the data, as
phones and web exports store it): cut short, they still open and their table lists 25 frames.
An AVI cut short loses its index at the end, but its header still counts 25 frames. Where the
cut is comes from PyAV's index of the intact file, and the frames read are compared with a plain
PyAV decode of the intact file.
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from cnnlstm.data.video import VideoFolder
from cnnlstm.data.video_module import VideoDataModule
from cnnlstm.errors import DataError

FRAMES, KEPT = 25, 6
H, W = 32, 48


def scene(t: int) -> np.ndarray:
    """Frame ``t``: a square that moves, over a ramp, so every frame differs."""
    image = np.zeros((H, W, 3), dtype=np.uint8)
    image[..., 1] = np.linspace(0, 200, W)[None, :]
    image[4:14, t : t + 10] = (230, 40, 40)
    return image


def write_clip(path: Path, codec: str = "mpeg4") -> Path:
    """25 frames at 25 fps without B-frames (decode order is display order); MP4/MOV faststart."""
    path.parent.mkdir(parents=True, exist_ok=True)
    faststart = path.suffix.lower() in (".mp4", ".mov", ".m4v", ".3gp")
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.gop_size = 5
        if codec == "libx264":
            stream.options = {"crf": "12", "bf": "0"}
        else:
            stream.bit_rate = 2_000_000
            stream.codec_context.max_b_frames = 0
        for t in range(FRAMES):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(scene(t), format="rgb24")))
        container.mux(stream.encode())
    return path


def cut_inside_frame(source: Path, target: Path, frame: int = KEPT) -> Path:
    """``target``: ``source`` cut half way through frame ``frame``'s data (per PyAV's index)."""
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        if len(stream.index_entries) == FRAMES:
            entry = stream.index_entries[frame]
            offset, size = entry.pos, entry.size
        else:  # an index built while reading: take the packets' offsets
            packets = [p for p in container.demux(stream) if p.size]
            offset, size = int(packets[frame].pos), packets[frame].size
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes()[: offset + size // 2])
    return target


def plain_decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def as_uint8(clip: torch.Tensor) -> np.ndarray:
    return np.rint(clip.numpy() * 255).astype(np.uint8).transpose(0, 2, 3, 1)


CASES = [("cut.mp4", "mpeg4"), ("cut.mov", "libx264"), ("cut.mp4", "libx264"), ("cut.avi", "mpeg4")]


@pytest.fixture(params=CASES, ids=[f"{name}-{codec}" for name, codec in CASES])
def cut_clip(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path, str]:
    """``(root, the clip cut short, its intact source)``; the root holds the cut clip only."""
    name, codec = request.param
    intact = write_clip(tmp_path / "intact" / name, codec)
    cut = cut_inside_frame(intact, tmp_path / "root" / "walk" / name)
    return tmp_path / "root", cut, intact


@pytest.mark.parametrize("frames", [None, 8, 4])
def test_a_file_cut_short_is_a_data_error_naming_what_is_listed_and_there(
    cut_clip: tuple[Path, Path, Path], frames: int | None
) -> None:
    root, cut, _ = cut_clip
    data = VideoFolder(root, frames=frames)
    with pytest.raises(DataError) as error:
        data[0]
    message = str(error.value)
    listed = "header" if cut.suffix == ".avi" else "index"
    assert message.startswith(
        f"{cut}: the file is cut short: its {listed} lists 25 frames (1.00 s)"
    )
    assert f"but only {KEPT} of them are in the file (up to 0.24 s)" in message
    assert "on_truncated='warn'" in message


def test_warn_reads_the_frames_that_are_there_and_warns_once(
    cut_clip: tuple[Path, Path, Path],
) -> None:
    root, cut, intact = cut_clip
    expected = plain_decode(intact)[:KEPT]  # frames 0-5 depend on no later frame
    data = VideoFolder(root, frames=None, on_truncated="warn")
    with pytest.warns(UserWarning, match=r"cut short: .* only 6 of them") as record:
        clip = data[0][0]
    assert len(record) == 1 and str(cut) in str(record[0].message)
    np.testing.assert_array_equal(as_uint8(clip), expected)
    assert data.num_frames(0) == KEPT

    sampled = VideoFolder(root, frames=4, on_truncated="warn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once for this file already
        got = as_uint8(sampled[0][0])
    # the centres of 4 equal segments of the 6 frames there
    np.testing.assert_array_equal(got, expected[[0, 2, 3, 5]])


def test_a_plain_decode_of_the_cut_file_gives_what_warn_reads(tmp_path: Path) -> None:
    """Without B-frames a plain loop decodes the whole frames too (MPEG-4 adds a broken one)."""
    intact = write_clip(tmp_path / "intact" / "cut.mp4", "mpeg4")
    cut = cut_inside_frame(intact, tmp_path / "root" / "walk" / "cut.mp4")
    plain = plain_decode(cut)
    assert len(plain) in (KEPT, KEPT + 1)  # the partial seventh frame, when the decoder draws it
    data = VideoFolder(tmp_path / "root", frames=None, on_truncated="warn")
    with pytest.warns(UserWarning):
        np.testing.assert_array_equal(as_uint8(data[0][0]), plain[:KEPT])


def test_an_flv_file_whose_last_frame_is_cut_in_two(tmp_path: Path) -> None:
    """FLV counts no frames, but its demuxer hands over the last packet cut short: evidence."""
    intact = write_clip(tmp_path / "intact" / "cut.flv", "flv")
    cut = cut_inside_frame(intact, tmp_path / "root" / "walk" / "cut.flv")
    with pytest.raises(DataError) as error:
        VideoFolder(tmp_path / "root", frames=None)[0]
    assert str(error.value).startswith(
        f"{cut}: the file is cut short: frame {KEPT}'s data runs past its last byte (the "
        f"container lists no frame count); {KEPT} frames are whole (up to 0.24 s)"
    )
    data = VideoFolder(tmp_path / "root", frames=None, on_truncated="warn")
    with pytest.warns(UserWarning, match="cut short"):
        clip = data[0][0]
    np.testing.assert_array_equal(as_uint8(clip), plain_decode(intact)[:KEPT])


def test_a_file_with_no_whole_frame_left_is_an_error_either_way(tmp_path: Path) -> None:
    intact = write_clip(tmp_path / "intact" / "cut.mp4")
    cut = cut_inside_frame(intact, tmp_path / "root" / "walk" / "cut.mp4", frame=0)
    for on_truncated in ("error", "warn"):
        data = VideoFolder(tmp_path / "root", frames=None, on_truncated=on_truncated)
        with pytest.raises(DataError, match="but none of them is in the file") as error:
            data[0]
        assert str(error.value).startswith(f"{cut}: the file is cut short: its index lists 25")


def test_an_intact_faststart_file_is_read_whole(tmp_path: Path) -> None:
    intact = write_clip(tmp_path / "walk" / "whole.mp4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clip = VideoFolder(tmp_path, frames=None)[0][0]
    np.testing.assert_array_equal(as_uint8(clip), plain_decode(intact))


def test_a_matroska_file_cut_short_lists_no_frames_and_reads_shorter(tmp_path: Path) -> None:
    """Matroska/WebM carry no frame table: what is there reads as a shorter clip (documented)."""
    intact = write_clip(tmp_path / "intact" / "cut.mkv")
    data = intact.read_bytes()
    (tmp_path / "root" / "walk").mkdir(parents=True)
    (tmp_path / "root" / "walk" / "cut.mkv").write_bytes(data[: len(data) // 2])
    clip = VideoFolder(tmp_path / "root", frames=None)[0][0]
    assert 0 < clip.shape[0] < FRAMES
    np.testing.assert_array_equal(as_uint8(clip), plain_decode(intact)[: clip.shape[0]])


def test_the_data_module_passes_on_truncated(tmp_path: Path) -> None:
    for k in range(3):
        write_clip(tmp_path / "walk" / f"ok{k}.mp4")
    cut_inside_frame(write_clip(tmp_path / "src" / "a.mp4"), tmp_path / "walk" / "cut.mp4")
    write_clip(tmp_path / "run" / "ok.mp4")
    (tmp_path / "src" / "a.mp4").unlink()
    (tmp_path / "src").rmdir()

    strict = VideoDataModule(tmp_path, frames=4, val_split=0, test_split=0, batch_size=5)
    strict.setup("fit")
    with pytest.raises(DataError, match=r"cut\.mp4: the file is cut short"):
        next(iter(strict.train_dataloader()))

    lenient = VideoDataModule(
        tmp_path, frames=4, val_split=0, test_split=0, batch_size=5, on_truncated="warn"
    )
    lenient.setup("fit")
    with pytest.warns(UserWarning, match=r"cut\.mp4: the file is cut short"):
        x, y = next(iter(lenient.train_dataloader()))
    assert x.shape == (5, 4, 3, H, W) and sorted(y.tolist()) == [0, 1, 1, 1, 1]
    with pytest.raises(ValueError, match="on_truncated has to be 'error' or 'warn'"):
        VideoDataModule(tmp_path, on_truncated="skip")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_truncated has to be one of"):
        VideoFolder(tmp_path, on_truncated="skip")  # type: ignore[arg-type]


REAL_CLIP = Path("/work/shared/data/videos/variable_fps.mp4")  # a real phone-style H.264 clip


def index_at_the_end(source: Path, target: Path) -> Path:
    """``source`` re-encoded to H.264 in an MP4 written without faststart, PyAV's default: the
    frames (``mdat``) first, the index (``moov``) after them, as many cameras record."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(source)) as reader, av.open(str(target), "w") as writer:
        stream = writer.add_stream("libx264", rate=25)
        original = reader.streams.video[0]
        stream.width, stream.height, stream.pix_fmt = original.width, original.height, "yuv420p"
        for t, frame in enumerate(reader.decode(original)):
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = t, Fraction(1, 25)
            writer.mux(stream.encode(frame))
        writer.mux(stream.encode())
    return target


def top_level_atoms(data: bytes) -> list[tuple[bytes, int, int]]:
    """``(type, start, end)`` of each top-level MP4 atom, by a plain walk of 32-bit sizes."""
    atoms, offset = [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        atoms.append((data[offset + 4 : offset + 8], offset, offset + size))
        offset += size
    return atoms


@pytest.fixture(scope="module")
def moov_last(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return index_at_the_end(REAL_CLIP, tmp_path_factory.mktemp("intact") / "clip.mp4")


def test_an_mp4_cut_short_before_its_index_at_the_end_cannot_be_opened_and_says_why(
    moov_last: Path, tmp_path: Path
) -> None:
    data = moov_last.read_bytes()
    kinds = [kind for kind, _, _ in top_level_atoms(data)]
    assert kinds.index(b"moov") > kinds.index(b"mdat")  # the index after the frames
    assert VideoFolder(moov_last.parent, frames=None, labelled=False)[0][0].shape[0] == 300
    _, mdat_start, mdat_end = next(a for a in top_level_atoms(data) if a[0] == b"mdat")
    kept = int(len(data) * 0.6)
    assert kept < mdat_end  # the cut is inside the frames: the index is gone with the end
    root = tmp_path / "root"
    cut = root / "walk" / "clip.mp4"
    cut.parent.mkdir(parents=True)
    cut.write_bytes(data[:kept])
    with pytest.raises(av.error.InvalidDataError):  # what FFmpeg itself says
        av.open(str(cut))
    for on_truncated in ("error", "warn"):  # nothing can be read: an error either way
        with pytest.raises(DataError) as error:
            VideoFolder(root, frames=4, on_truncated=on_truncated)[0]
        message = str(error.value)
        assert message.startswith(
            f"{cut}: cannot open as a video: the file is cut short: its index is missing (the "
            f"moov atom is not in its {kept} bytes: the 'mdat' atom at byte {mdat_start} runs to "
            f"byte {mdat_end}); re-copy it, or recover it with a tool such as untrunc"
        ), message


def test_an_mp4_cut_inside_its_index_at_the_end_says_so(moov_last: Path, tmp_path: Path) -> None:
    data = moov_last.read_bytes()
    _, moov_start, moov_end = next(a for a in top_level_atoms(data) if a[0] == b"moov")
    kept = moov_end - 100  # the last 100 bytes of the index are gone
    (tmp_path / "walk").mkdir()
    (tmp_path / "walk" / "ok.mp4").write_bytes(data)
    (tmp_path / "walk" / "cut.mp4").write_bytes(data[:kept])
    folder = VideoFolder(tmp_path, frames=4)
    assert [path.name for path, _ in folder.samples] == ["cut.mp4", "ok.mp4"]
    assert folder[1][0].shape == (4, 3, 128, 128)  # the whole file beside it reads
    with pytest.raises(DataError) as error:
        folder[0]
    assert str(error.value).startswith(
        f"{tmp_path / 'walk' / 'cut.mp4'}: the video stream holds no frames: the file is cut "
        f"short: its "
        f"index (the moov atom at byte {moov_start}) runs to byte {moov_end}, past its {kept} "
        f"bytes; re-copy it"
    )


def test_a_file_that_is_no_video_is_still_just_not_a_video(tmp_path: Path) -> None:
    (tmp_path / "walk").mkdir()
    (tmp_path / "walk" / "notes.mp4").write_bytes(b"these are notes, not a video\n" * 10)
    with pytest.raises(DataError) as error:
        VideoFolder(tmp_path, frames=4)[0]
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'walk' / 'notes.mp4'}: cannot open as a video (")
    assert "cut short" not in message
