"""VideoFolder's pixels against an independent decode: a plain PyAV loop, ``to_ndarray("rgb24")``.

Clips are written here with PyAV at widths whose last ``width % 16`` columns libswscale 9.5 left
unwritten when converting to planar ``gbrp`` (340, 360, 568, 854), with a gradient running into
those columns, in every chroma layout a camera or an encoder leaves behind. The real clips in
``shared/data/videos`` come from other encoders.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from cnnlstm.data.video import VideoFolder

VIDEOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "videos"
HEIGHT = 16
FRAMES = 3


def gradient(width: int, t: int) -> np.ndarray:
    """``uint8 (HEIGHT, width, 3)``: red rises, blue falls left to right, to the last column."""
    ramp = np.linspace(0, 255, width)[None, :]
    image = np.empty((HEIGHT, width, 3), dtype=np.uint8)
    image[..., 0] = ramp
    image[..., 1] = 60 + 40 * t
    image[..., 2] = 255 - ramp
    return image


def write_gradient_clip(path: Path, width: int, pix_fmt: str) -> Path:
    """A short lossless H.264 clip of :func:`gradient` frames stored as ``pix_fmt``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, HEIGHT, pix_fmt
        stream.options = {"crf": "0"}
        for t in range(FRAMES):
            image = gradient(width, t)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def plain_decode(path: Path, *, format: str = "rgb24") -> np.ndarray:
    """Every frame as a plain PyAV loop gives it: ``uint8 (N, H, W, C)``."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format=format) for f in container.decode(video=0)]
    out = np.stack(frames)
    return out[..., None] if out.ndim == 3 else out


def as_uint8(clip: torch.Tensor) -> np.ndarray:
    """A reader's ``float32 (T, C, H, W)`` clip back to ``uint8 (T, H, W, C)``."""
    return np.rint(clip.numpy() * 255).astype(np.uint8).transpose(0, 2, 3, 1)


def as_float(frames: np.ndarray) -> torch.Tensor:
    """``uint8 (T, H, W, C)`` to ``float32 (T, C, H, W)`` in [0, 1]."""
    return torch.from_numpy(frames.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)


WIDTHS = [340, 360, 568, 854]
PIX_FMTS = ["yuv420p", "yuvj420p", "yuv422p", "yuv444p"]


@pytest.fixture(scope="module")
def gradient_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gradients")
    for pix_fmt in PIX_FMTS:
        for width in WIDTHS:
            write_gradient_clip(root / pix_fmt / f"w{width}.mkv", width, pix_fmt)
    return root


def test_every_column_matches_a_plain_pyav_decode(gradient_root: Path) -> None:
    data = VideoFolder(gradient_root, frames=None)
    assert len(data) == len(PIX_FMTS) * len(WIDTHS)
    for index, (path, _) in enumerate(data.samples):
        expected = plain_decode(path)  # (T, H, W, 3)
        got = as_uint8(data[index][0])
        assert got.shape == expected.shape == (FRAMES, HEIGHT, int(path.stem[1:]), 3)
        wrong = np.argwhere(got != expected)
        assert not len(wrong), f"{path}: pixels differ, first at (t, y, x, c) = {wrong[0]}"
        # the gradient reaches the last column (not memory left over from another frame)
        width = got.shape[2]
        reds = got[:, :, width - 8 :, 0].astype(int)
        assert np.abs(reds - gradient(width, 0)[None, :, width - 8 :, 0]).max() <= 12


def test_sampled_frames_match_a_plain_pyav_decode(gradient_root: Path) -> None:
    data = VideoFolder(gradient_root, frames=2, sampling="sliding", stride=1)
    for index in range(len(data)):
        path = data.samples[data.clip_index[index]][0]
        start = int(data.positions(index)[0])
        expected = plain_decode(path)[start : start + 2]
        np.testing.assert_array_equal(as_uint8(data[index][0]), expected, err_msg=str(path))


def test_resized_frames_match_resizing_a_plain_decode(gradient_root: Path) -> None:
    """``size`` documents a bilinear, antialiased resize of the whole frame, clamped to [0, 1]."""
    data = VideoFolder(gradient_root, frames=None, size=(64, 64))
    for index, (path, _) in enumerate(data.samples):
        expected = F.interpolate(
            as_float(plain_decode(path)), size=(64, 64), mode="bilinear", antialias=True
        ).clamp(0.0, 1.0)
        got = data[index][0]
        assert got.shape == (FRAMES, 3, 64, 64)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-6, msg=str(path))


def test_grayscale_matches_a_plain_pyav_gray_decode(gradient_root: Path) -> None:
    data = VideoFolder(gradient_root, frames=None, grayscale=True)
    for index, (path, _) in enumerate(data.samples):
        expected = plain_decode(path, format="gray")  # (T, H, W, 1)
        np.testing.assert_array_equal(as_uint8(data[index][0]), expected, err_msg=str(path))


@pytest.mark.parametrize(
    ("name", "count"),
    [("variable_fps.mp4", None), ("xvid_mp3.avi", 12), ("vp9_no_duration.webm", 5)],
)
def test_real_clips_match_a_plain_pyav_decode(tmp_path: Path, name: str, count: int | None) -> None:
    """Clips from other encoders (yuv444p H.264, packed B-frames in AVI, VP9 at 1280x720)."""
    source = VIDEOS / name
    if not source.exists():
        pytest.skip(f"{source} is not here")
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / name).symlink_to(source)  # the folder layout, not a copy
    data = VideoFolder(tmp_path, frames=count)
    every = plain_decode(source)
    if count is None:
        expected = every
    else:  # the centre of each of `count` equal segments, as VideoFolder documents
        expected = every[[(2 * i + 1) * len(every) // (2 * count) for i in range(count)]]
    got = as_uint8(data[0][0])
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
