"""Display matrices: VideoFolder shows frames as players do, against a plain PyAV decode turned
with NumPy.

The clips written here carry a display matrix set with PyAV's ``set_display_rotation(degrees,
hflip, vflip)`` (a counterclockwise rotation, then the mirrors). For every combination of 0, 90,
180, 270 and -90 degrees with and without each mirror, ffmpeg 5.1's command line (``ffmpeg -i
clip.mp4 -pix_fmt rgb24``, autorotate on) showed the same frames as the NumPy expectation here
when these tests were written; ffmpeg is not needed to run them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from cnnlstm.data.video import VideoFolder, display_steps
from cnnlstm.data.video_module import VideoDataModule
from cnnlstm.errors import DataError

VIDEOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "videos"
PHONE = VIDEOS / "phone_rotated_90.mov"
H, W = 24, 40


def scene(t: int = 0) -> np.ndarray:
    """``uint8 (H, W, 3)`` with no symmetry: ramps across and down, a blue top-left corner."""
    image = np.zeros((H, W, 3), dtype=np.uint8)
    image[..., 0] = np.linspace(0, 250, W)[None, :]
    image[..., 1] = np.linspace(0, 250, H)[:, None]
    image[:6, :6, 2] = 255
    image[-4:, :, 2] = 40 * t
    return image


def write_turned_clip(
    path: Path,
    degrees: float | None,
    *,
    hflip: bool = False,
    vflip: bool = False,
    frames: int = 3,
    width: int = W,
) -> Path:
    """A lossless clip of :func:`scene` frames whose display matrix PyAV sets from the arguments."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, H, "yuv444p"
        stream.options = {"crf": "0"}
        if degrees is not None:
            stream.set_display_rotation(degrees, hflip=hflip, vflip=vflip)
        for t in range(frames):
            image = scene(t)[:, :width]
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def plain_decode(path: Path, *, format: str = "rgb24") -> np.ndarray:
    """Every frame as stored, from a plain PyAV loop: ``uint8 (N, H, W, C)``."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format=format) for f in container.decode(video=0)]
    out = np.stack(frames)
    return out[..., None] if out.ndim == 3 else out


def shown(stored: np.ndarray, degrees: float, *, hflip: bool, vflip: bool) -> np.ndarray:
    """``(N, H, W, C)`` frames turned ``degrees`` counterclockwise, then mirrored, with NumPy."""
    out = np.rot90(stored, k=round(degrees / 90), axes=(1, 2))
    if hflip:
        out = out[:, :, ::-1]
    if vflip:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def as_uint8(clip: torch.Tensor) -> np.ndarray:
    """A reader's ``float32 (T, C, H, W)`` clip back to ``uint8 (T, H, W, C)``."""
    return np.rint(clip.numpy() * 255).astype(np.uint8).transpose(0, 2, 3, 1)


def as_float(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)


def one_clip_folder(tmp_path: Path, source: Path) -> Path:
    """``tmp_path/clips/<source name>``, a link to ``source``: the layout without a copy."""
    (tmp_path / "clips").mkdir(exist_ok=True)
    (tmp_path / "clips" / source.name).symlink_to(source)
    return tmp_path


# -- a real phone clip -------------------------------------------------------------------------


@pytest.fixture
def phone_root(tmp_path: Path) -> Path:
    if not PHONE.exists():
        pytest.skip(f"{PHONE} is not here")
    return one_clip_folder(tmp_path, PHONE)


def test_a_phone_clip_is_shown_upright_as_ffmpeg_shows_it(phone_root: Path) -> None:
    """568x320 stored with a -90 degree matrix: ffmpeg (and every player) shows 320x568."""
    with av.open(str(PHONE)) as container:
        frames = list(container.decode(video=0))
        rotations = {f.rotation for f in frames}
        stored = np.stack([f.to_ndarray(format="rgb24") for f in frames])
    assert rotations == {-90} and stored.shape == (3, 320, 568, 3)
    expected = np.ascontiguousarray(np.rot90(stored, k=-1, axes=(1, 2)))  # a quarter turn clockwise

    data = VideoFolder(phone_root, frames=None)
    clip = data[0][0]
    assert clip.shape == (3, 3, 568, 320)  # (T, C, H, W): 320 wide, 568 high
    np.testing.assert_array_equal(as_uint8(clip), expected)
    assert data.turned(0) == ("clock",)

    sampled = VideoFolder(phone_root, frames=2, sampling="sliding", stride=1)
    np.testing.assert_array_equal(as_uint8(sampled[1][0]), expected[1:3])


def test_a_phone_clip_as_stored(phone_root: Path) -> None:
    data = VideoFolder(phone_root, frames=None, orientation="stored")
    np.testing.assert_array_equal(as_uint8(data[0][0]), plain_decode(PHONE))
    assert data.turned(0) == ()


def test_a_phone_clip_resized_and_gray(phone_root: Path) -> None:
    """The turn comes before ``size``; gray frames turn too."""
    with av.open(str(PHONE)) as container:
        stored = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    upright = np.ascontiguousarray(np.rot90(stored, k=-1, axes=(1, 2)))
    expected = F.interpolate(
        as_float(upright), size=(64, 32), mode="bilinear", antialias=True
    ).clamp(0.0, 1.0)
    got = VideoFolder(phone_root, frames=None, size=(64, 32))[0][0]
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)

    gray = plain_decode(PHONE, format="gray")
    upright_gray = np.ascontiguousarray(np.rot90(gray, k=-1, axes=(1, 2)))
    got_gray = VideoFolder(phone_root, frames=None, grayscale=True)[0][0]
    np.testing.assert_array_equal(as_uint8(got_gray), upright_gray)


# -- display matrices written here -------------------------------------------------------------

TURNS = [
    (degrees, hflip, vflip)
    for degrees in (0, 90, 180, 270, -90)
    for hflip in (False, True)
    for vflip in (False, True)
]


@pytest.mark.parametrize(("degrees", "hflip", "vflip"), TURNS)
def test_display_matrices_turn_and_mirror(
    tmp_path: Path, degrees: int, hflip: bool, vflip: bool
) -> None:
    path = write_turned_clip(tmp_path / "c" / "turned.mp4", degrees, hflip=hflip, vflip=vflip)
    stored = plain_decode(path)
    expected = shown(stored, degrees, hflip=hflip, vflip=vflip)
    got = as_uint8(VideoFolder(tmp_path, frames=None)[0][0])
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    as_stored = VideoFolder(tmp_path, frames=None, orientation="stored")[0][0]
    np.testing.assert_array_equal(as_uint8(as_stored), stored)


def test_a_matroska_clip_turned_half_way(tmp_path: Path) -> None:
    """An upside-down clip (180 degrees) in Matroska, at a width with a ragged last block."""
    path = write_turned_clip(tmp_path / "c" / "upside_down.mkv", 180, width=34)
    expected = shown(plain_decode(path), 180, hflip=False, vflip=False)
    data = VideoFolder(tmp_path, frames=2, extensions=(".mkv",))
    positions = data.positions(0)  # frames 0 and 2 of 3 (the centre of each half)
    np.testing.assert_array_equal(as_uint8(data[0][0]), expected[positions])
    assert data.turned(0) == ("hflip", "vflip")


def test_an_angle_that_is_not_a_quarter_turn_is_read_as_stored_with_a_warning(
    tmp_path: Path,
) -> None:
    path = write_turned_clip(tmp_path / "c" / "tilted.mp4", 30)
    data = VideoFolder(tmp_path, frames=None)
    with pytest.warns(UserWarning, match=r"tilted\.mp4: its display matrix rotates frames by 30"):
        clip = data[0][0]
    np.testing.assert_array_equal(as_uint8(clip), plain_decode(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data[0]  # once per file


def test_display_steps_table() -> None:
    """fftools' autorotate rules on display matrices (16.16 fixed point)."""
    one = 1 << 16
    cases = {
        (one, 0, 0, 0, one, 0, 0, 0, 1 << 30): (),
        (0, one, 0, -one, 0, 0, 0, 0, 1 << 30): ("clock",),
        (0, -one, 0, one, 0, 0, 0, 0, 1 << 30): ("cclock",),
        (-one, 0, 0, 0, -one, 0, 0, 0, 1 << 30): ("hflip", "vflip"),
        (-one, 0, 0, 0, one, 0, 0, 0, 1 << 30): ("hflip",),
        (one, 0, 0, 0, -one, 0, 0, 0, 1 << 30): ("vflip",),
        (0, 0, 0, 0, 0, 0, 0, 0, 0): (),  # degenerate: nothing to turn
    }
    for matrix, steps in cases.items():
        assert display_steps(list(matrix)) == steps, matrix
    assert display_steps(None) == ()
    half = round(one * 0.7071)
    assert display_steps([half, -half, 0, half, half, 0, 0, 0, 1 << 30]) is None  # 45 degrees


def test_bad_orientation_is_a_value_error(tmp_path: Path) -> None:
    write_turned_clip(tmp_path / "c" / "a.mp4", None)
    with pytest.raises(ValueError, match="orientation has to be one of"):
        VideoFolder(tmp_path, orientation="upright")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="orientation has to be 'display' or 'stored'"):
        VideoDataModule(tmp_path, orientation="upright")  # type: ignore[arg-type]


# -- a folder of clips -------------------------------------------------------------------------


def test_clips_shown_at_different_sizes_cannot_share_a_batch(tmp_path: Path) -> None:
    """Stored alike (40x24), shown 24x40 and 40x24: the module's clips-of-different-sizes error."""
    write_turned_clip(tmp_path / "walk" / "a_upright.mp4", -90)
    write_turned_clip(tmp_path / "walk" / "b_plain.mp4", None)
    module = VideoDataModule(
        tmp_path, frames=2, sampling="uniform", val_split=0, test_split=0, batch_size=2
    )
    module.setup("fit")
    with pytest.raises(DataError, match="clips of different frame sizes") as error:
        next(iter(module.train_dataloader()))
    message = str(error.value)
    assert "a_upright.mp4" in message and "b_plain.mp4" in message
    assert "orientation: stored" in message

    stored = VideoDataModule(
        tmp_path,
        frames=2,
        sampling="uniform",
        val_split=0,
        test_split=0,
        batch_size=2,
        orientation="stored",
    )
    stored.setup("fit")
    x, _ = next(iter(stored.train_dataloader()))
    assert x.shape == (2, 2, 3, H, W)
