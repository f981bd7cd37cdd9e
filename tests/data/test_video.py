"""VideoFolder and FrameFolder read back real files written here with PyAV and Pillow."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from cnnlstm.data.collate import pad_collate
from cnnlstm.data.frame_folder import FrameFolder
from cnnlstm.data.paths import natural_key
from cnnlstm.data.video import VideoFolder
from cnnlstm.errors import DataError

H, W = 32, 48
TOL = 0.02  # mean absolute error in [0, 1] that a high-bitrate codec stays under


def indexed_frames(n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` RGB frames ``(n, H, W, 3)`` that differ clearly from one frame to the next."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 60, size=(H, W, 1)).astype(np.float64)
    frames = np.empty((n, H, W, 3), dtype=np.uint8)
    for i in range(n):
        image = np.repeat(base + 3 * i, 3, axis=2)
        x = (2 * i) % (W - 8)
        image[8:16, x : x + 8] = 230
        image[20:24, :, 0] += 20  # a red band so colour survives the round trip
        frames[i] = np.clip(image, 0, 255).astype(np.uint8)
    return frames


def timed_frames(n: int, fps: float) -> np.ndarray:
    """The same motion sampled at ``fps``: frame ``i`` shows the scene at ``i / fps`` seconds."""
    frames = np.empty((n, H, W, 3), dtype=np.uint8)
    for i in range(n):
        frames[i] = scene_at(i / fps)
    return frames


def scene_at(t: float) -> np.ndarray:
    image = np.full((H, W, 3), 40 + 100 * t)
    x = round(20 * t)
    image[10:20, x : x + 10] = 220
    return image.astype(np.uint8)


def write_video(
    path: Path, frames: np.ndarray, *, fps: float = 10, codec: str = "mpeg4", gop: int = 6
) -> Path:
    """Encode ``frames`` ``(T, H, W, 3)`` with PyAV at a quality high enough to compare pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=int(fps))
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        if codec == "libx264":
            stream.options = {"crf": "0", "bf": "2", "sc_threshold": "0"}
        else:
            stream.bit_rate = 8_000_000
            stream.codec_context.max_b_frames = 2
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def as_float(frames: np.ndarray) -> torch.Tensor:
    """``uint8 (T, H, W, C)`` -> ``float32 (T, C, H, W)`` in [0, 1], the slow obvious way."""
    out = torch.zeros(frames.shape[0], frames.shape[3], frames.shape[1], frames.shape[2])
    for t in range(frames.shape[0]):
        for c in range(frames.shape[3]):
            out[t, c] = torch.from_numpy(frames[t, :, :, c].astype(np.float32)) / 255.0
    return out


_REFERENCES: dict[int, tuple[np.ndarray, torch.Tensor]] = {}


def identify(clip: torch.Tensor, originals: np.ndarray) -> list[int]:
    """For each decoded frame, the original frame it is closest to; checks it is close."""
    if id(originals) not in _REFERENCES:
        _REFERENCES[id(originals)] = (originals, as_float(originals))  # keeps the id alive
    reference = _REFERENCES[id(originals)][1].numpy()
    found = []
    for frame in clip.numpy():
        errors = np.abs(reference - frame).mean(axis=(1, 2, 3))
        best = int(errors.argmin())
        assert float(errors[best]) < TOL, (
            f"decoded frame matches no original (error {errors[best]})"
        )
        found.append(best)
    return found


@pytest.fixture(scope="module")
def video_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path_factory.mktemp("videos")
    originals = {
        "run/a.mp4": indexed_frames(30, seed=1),
        "run/b.mkv": indexed_frames(21, seed=2),
        "jump/c.avi": indexed_frames(25, seed=3),
    }
    for name, frames in originals.items():
        codec = "libx264" if name.endswith(".mkv") else "mpeg4"
        write_video(root / name, frames, codec=codec)
    (root / "jump" / "notes.txt").write_text("not a video")
    return root, originals


def test_classes_labels_and_uniform_frames(video_root: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, originals = video_root
    data = VideoFolder(root, frames=5)
    assert data.classes == ["jump", "run"]
    assert data.class_to_idx == {"jump": 0, "run": 1}
    assert [p.relative_to(root).as_posix() for p, _ in data.samples] == [
        "jump/c.avi",
        "run/a.mp4",
        "run/b.mkv",
    ]
    assert len(data) == 3
    for index, (path, label) in enumerate(data.samples):
        clip, y = data[index]
        assert clip.shape == (5, 3, H, W) and clip.dtype == torch.float32
        assert y.dtype == torch.int64 and int(y) == label == data.class_to_idx[path.parent.name]
        assert float(clip.min()) >= 0.0 and float(clip.max()) <= 1.0
        frames = originals[path.relative_to(root).as_posix()]
        n = len(frames)
        expected = [math.floor((i + 0.5) * n / 5) for i in range(5)]
        assert identify(clip, frames) == expected
        assert float((clip - as_float(frames[expected])).abs().mean()) < TOL


def test_random_windows_are_contiguous_and_seeded(
    video_root: tuple[Path, dict[str, np.ndarray]],
) -> None:
    root, originals = video_root
    frames = originals["run/a.mp4"]
    data = VideoFolder(root, frames=6, sampling="random")
    index = 1  # run/a.mp4: 30 frames
    starts = set()
    for _ in range(8):
        found = identify(data[index][0], frames)
        assert found == list(range(found[0], found[0] + 6))
        starts.add(found[0])
    assert len(starts) > 1, "random windows always started at the same frame"
    # torch's global RNG drives the draw, so seeding it (as DataLoader workers do) repeats it
    torch.manual_seed(5)
    first = data[index][0]
    torch.manual_seed(5)
    assert torch.equal(first, data[index][0])
    # a fixed seed gives every item one window for good
    fixed = VideoFolder(root, frames=6, sampling="random", seed=3)
    assert torch.equal(fixed[index][0], fixed[index][0])
    assert identify(fixed[index][0], frames) == identify(
        VideoFolder(root, frames=6, sampling="random", seed=3)[index][0], frames
    )


@pytest.mark.parametrize(("frames", "stride"), [(6, 4), (5, None), (21, 1)])
def test_sliding_windows(
    video_root: tuple[Path, dict[str, np.ndarray]], frames: int, stride: int | None
) -> None:
    root, originals = video_root
    data = VideoFolder(root, frames=frames, sampling="sliding", stride=stride)
    step = stride or frames
    expected: list[tuple[str, int]] = []
    for path, _ in data.samples:
        n = len(originals[path.relative_to(root).as_posix()])
        start = 0
        while start + frames <= n:
            expected.append((path.relative_to(root).as_posix(), start))
            start += step
    assert len(data) == len(expected)
    for index in (0, len(data) // 2, len(data) - 1):
        name, start = expected[index]
        clip, label = data[index]
        assert identify(clip, originals[name]) == list(range(start, start + frames))
        assert int(label) == data.class_to_idx[name.split("/")[0]]


def test_whole_clips_and_pad_collate(video_root: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, originals = video_root
    data = VideoFolder(root, frames=None)
    items = [data[i] for i in range(len(data))]
    lengths = [len(originals[p.relative_to(root).as_posix()]) for p, _ in data.samples]
    assert [clip.shape[0] for clip, _ in items] == lengths
    for (clip, _), (path, _) in zip(items, data.samples, strict=True):
        frames = originals[path.relative_to(root).as_posix()]
        assert identify(clip, frames) == list(range(len(frames)))
    x, lens, y = pad_collate(items)
    assert x.shape == (3, max(lengths), 3, H, W)
    assert lens.tolist() == lengths
    assert y.tolist() == [label for _, label in data.samples]
    assert float(x[2, lengths[2] :].abs().sum()) == 0.0


def test_seeking_into_long_clips(tmp_path: Path) -> None:
    """Late windows of long clips (sparse keyframes, B-frames) decode the right frames."""
    frames = indexed_frames(80, seed=4)
    write_video(tmp_path / "a" / "x.mp4", frames, gop=10)
    write_video(tmp_path / "a" / "y.mkv", frames, codec="libx264", gop=10)
    write_video(tmp_path / "a" / "z.webm", frames, codec="libvpx", gop=10)
    for fps in (None, 10.0):
        data = VideoFolder(tmp_path, frames=7, sampling="sliding", stride=9, fps=fps)
        per_clip = len(data) // 3
        assert per_clip == (80 - 7) // 9 + 1
        for index in range(len(data)):
            start = 9 * (index % per_clip)
            assert identify(data[index][0], frames) == list(range(start, start + 7))
    sparse = VideoFolder(tmp_path, frames=4)
    for index in range(3):
        assert identify(sparse[index][0], frames) == [10, 30, 50, 70]


def test_frame_rate_independence(tmp_path: Path) -> None:
    """The same motion written at 10 and at 30 fps gives the same moments with ``fps`` set."""
    seconds = 1.2
    for fps in (10, 30):
        write_video(
            tmp_path / f"fps{fps}" / "clip.mp4", timed_frames(round(seconds * fps), fps), fps=fps
        )
    moments = [k / 5 for k in range(6)]  # 5 per second over 1.2 s
    expected = as_float(np.stack([scene_at(t) for t in moments]))
    whole = VideoFolder(tmp_path, frames=None, fps=5)
    slow, fast = whole[0][0], whole[1][0]
    assert slow.shape == fast.shape == (6, 3, H, W)
    assert float((slow - expected).abs().mean()) < TOL
    assert float((fast - expected).abs().mean()) < TOL
    # the neighbouring moments differ clearly, so matching them is not an accident
    assert float((expected[1:] - expected[:-1]).abs().mean()) > 3 * TOL
    uniform = VideoFolder(tmp_path, frames=3, fps=5)
    assert float((uniform[0][0] - uniform[1][0]).abs().mean()) < TOL
    assert float((uniform[0][0] - expected[[1, 3, 5]]).abs().mean()) < TOL
    sliding = VideoFolder(tmp_path, frames=2, sampling="sliding", stride=2, fps=5)
    assert len(sliding) == 2 * 3
    for k in range(3):
        assert float((sliding[k][0] - sliding[3 + k][0]).abs().mean()) < TOL
        assert float((sliding[k][0] - expected[2 * k : 2 * k + 2]).abs().mean()) < TOL
    seeded = VideoFolder(tmp_path, frames=3, sampling="random", fps=5, seed=11)
    assert float((seeded[0][0] - seeded[1][0]).abs().mean()) < TOL  # same seed, same index
    # without fps the 30 fps clip has three times the frames
    plain = VideoFolder(tmp_path, frames=None)
    assert [plain[i][0].shape[0] for i in range(2)] == [12, 36]


def test_resize_and_grayscale(video_root: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, originals = video_root
    frames = originals["run/a.mp4"]
    data = VideoFolder(root, frames=5, size=(16, 20))
    clip = data[1][0]
    assert clip.shape == (5, 3, 16, 20)
    picked = as_float(frames[[3, 9, 15, 21, 27]])
    expected = F.interpolate(picked, size=(16, 20), mode="bilinear", antialias=True)
    assert float((clip - expected).abs().mean()) < TOL
    gray = VideoFolder(root, frames=5, grayscale=True)[1][0]
    assert gray.shape == (5, 1, H, W)
    rgb = picked
    luma = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]  # BT.601
    assert float((gray[:, 0] - luma).abs().mean()) < 2 * TOL


def test_transform_is_applied(video_root: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, _ = video_root
    data = VideoFolder(root, frames=3, transform=lambda clip: clip.flip(-1) * 2)
    plain = VideoFolder(root, frames=3)
    assert torch.allclose(data[0][0], plain[0][0].flip(-1) * 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frames": 0}, "frames has to be"),
        ({"sampling": "every"}, "sampling has to be"),
        ({"frames": None, "sampling": "random"}, "frames has to be an int"),
        ({"stride": 2}, "stride has to be None unless"),
        ({"sampling": "sliding", "stride": 0}, "stride has to be a positive"),
        ({"size": (0, 4)}, "size has to be"),
        ({"fps": -1.0}, "fps has to be"),
        ({"extensions": ".mp4"}, "extensions has to be"),
    ],
)
def test_bad_arguments(
    video_root: tuple[Path, dict[str, np.ndarray]], kwargs: dict[str, object], message: str
) -> None:
    root, _ = video_root
    with pytest.raises(ValueError, match=message):
        VideoFolder(root, **kwargs)  # type: ignore[arg-type]


def test_bad_layouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError, match="missing does not exist; expected root/<class>/<clip>"):
        VideoFolder(tmp_path / "missing")
    (tmp_path / "file.mp4").write_bytes(b"")
    with pytest.raises(DataError, match=r"file\.mp4 is a file, not a folder"):
        VideoFolder(tmp_path / "file.mp4")
    (tmp_path / "file.mp4").unlink()
    monkeypatch.chdir(tmp_path)  # a relative root is shown resolved against the current folder
    with pytest.raises(DataError) as error:
        VideoFolder("clips")
    assert f"clips (that is {tmp_path.resolve() / 'clips'}) does not exist" in str(error.value)
    with pytest.raises(DataError, match="no class folders"):
        VideoFolder(tmp_path)
    (tmp_path / "walk").mkdir()
    (tmp_path / "walk" / "readme.md").write_text("x")
    with pytest.raises(DataError, match=r"class folder .*walk is empty"):
        VideoFolder(tmp_path)
    write_video(tmp_path / "walk" / "a.mp4", indexed_frames(4))
    with pytest.raises(DataError, match=r"no clip under .* has 9 frames"):
        VideoFolder(tmp_path, frames=9, sampling="sliding")


def test_corrupt_and_truncated_videos(tmp_path: Path) -> None:
    frames = indexed_frames(24)
    good = write_video(tmp_path / "ok" / "good.mp4", frames).read_bytes()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "half.mp4").write_bytes(good[: len(good) // 2])
    (tmp_path / "bad" / "header.mp4").write_bytes(b"\x00" * 64 + good[64:])
    (tmp_path / "bad" / "text.mp4").write_text("this is not a video\n" * 50)
    data = VideoFolder(tmp_path, frames=4)
    for index, (path, _) in enumerate(data.samples):
        if path.parent.name != "bad":
            continue
        with pytest.raises(DataError, match=path.name):
            data[index]
    whole = VideoFolder(tmp_path, frames=None)
    with pytest.raises(DataError, match=r"half\.mp4"):
        whole[0]


@pytest.mark.parametrize("where", [0.3, 0.5, 0.8])
def test_damaged_streams_load_or_raise_data_error(tmp_path: Path, where: float) -> None:
    """Bytes overwritten inside the stream, or a Matroska file cut short: never a bare crash."""
    frames = indexed_frames(30)
    for name, codec in [("x.mp4", "mpeg4"), ("y.mkv", "libx264"), ("z.avi", "mpeg4")]:
        data = write_video(tmp_path / "src" / name, frames, codec=codec).read_bytes()
        cut = int(len(data) * where)
        damaged = data[:cut] + bytes(range(256)) * 4 + data[cut + 1024 :]
        (tmp_path / "c" / "damaged").mkdir(parents=True, exist_ok=True)
        (tmp_path / "c" / "damaged" / name).write_bytes(damaged)
        (tmp_path / "c" / "short").mkdir(parents=True, exist_ok=True)
        (tmp_path / "c" / "short" / name).write_bytes(data[:cut])
    for kwargs in ({"frames": 5}, {"frames": None}, {"frames": 4, "sampling": "random"}):
        try:
            data = VideoFolder(tmp_path / "c", **kwargs)  # type: ignore[arg-type]
        except DataError:
            continue
        for index in range(len(data)):
            try:
                clip, _ = data[index]
            except DataError as err:
                assert str(data.samples[data.clip_index[index]][0]) in str(err)
                continue
            assert clip.dim() == 4 and clip.shape[1:] == (3, H, W)
            assert bool(torch.isfinite(clip).all())


# -- FrameFolder -------------------------------------------------------------------------------


def write_frames(folder: Path, frames: np.ndarray, *, ext: str = ".png") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(frames):
        Image.fromarray(image).save(folder / f"frame{i}{ext}")


@pytest.fixture(scope="module")
def frame_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path_factory.mktemp("frames")
    originals = {"b/clip2": indexed_frames(12, seed=5), "a/clip10": indexed_frames(17, seed=6)}
    originals["a/clip9"] = indexed_frames(9, seed=7)
    for name, frames in originals.items():
        write_frames(root / name, frames)
    return root, originals


def test_natural_order() -> None:
    names = ["frame10.png", "frame2.png", "Frame1.png", "frame1b.png", "frame02.png"]
    assert sorted(names, key=natural_key) == [
        "Frame1.png",
        "frame1b.png",
        "frame2.png",
        "frame02.png",
        "frame10.png",
    ]


def test_frame_folder_is_exact(frame_root: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, originals = frame_root
    data = FrameFolder(root, frames=None)
    assert data.classes == ["a", "b"]
    assert [p.relative_to(root).as_posix() for p, _ in data.samples] == [
        "a/clip9",
        "a/clip10",
        "b/clip2",
    ]
    assert [f.name for f in data.frame_files(0)][:3] == ["frame0.png", "frame1.png", "frame2.png"]
    assert data.frame_files(1)[-1].name == "frame16.png"
    for index, (path, label) in enumerate(data.samples):
        clip, y = data[index]
        assert torch.equal(clip, as_float(originals[path.relative_to(root).as_posix()]))
        assert int(y) == label


def test_frame_folder_sampling(frame_root: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, originals = frame_root
    frames = originals["a/clip10"]
    uniform = FrameFolder(root, frames=4)[1][0]
    assert torch.equal(uniform, as_float(frames[[2, 6, 10, 14]]))
    random = FrameFolder(root, frames=5, sampling="random")
    clip = random[1][0]
    start = identify(clip, frames)[0]
    assert torch.equal(clip, as_float(frames[start : start + 5]))
    sliding = FrameFolder(root, frames=4, sampling="sliding", stride=3)
    counts = [len(range(0, n - 4 + 1, 3)) for n in (9, 17, 12)]
    assert len(sliding) == sum(counts)
    assert sliding.clip_index == [0] * counts[0] + [1] * counts[1] + [2] * counts[2]
    assert torch.equal(sliding[counts[0] + 2][0], as_float(frames[6:10]))
    # frames taken at 20 fps, read at 5 moments a second: every fourth frame
    timed = FrameFolder(root, frames=None, fps=5, source_fps=20)
    assert torch.equal(timed[1][0], as_float(frames[[0, 4, 8, 12, 16]]))
    gray = FrameFolder(root, frames=2, grayscale=True)[0][0]
    picked = originals["a/clip9"][[2, 6]]
    expected = [np.asarray(Image.fromarray(f).convert("L")) for f in picked]
    assert torch.equal(gray[:, 0], torch.from_numpy(np.stack(expected)).float() / 255)


def test_frame_folder_jpeg_and_resize(tmp_path: Path) -> None:
    frames = indexed_frames(6)
    write_frames(tmp_path / "k" / "c", frames, ext=".jpg")
    clip = FrameFolder(tmp_path, frames=None)[0][0]
    assert float((clip - as_float(frames)).abs().mean()) < TOL
    # a frame of another size is an error unless a size is asked for
    Image.fromarray(frames[0][:, :40]).save(tmp_path / "k" / "c" / "frame6.jpg")
    with pytest.raises(DataError, match=r"frame6.jpg: frame 6 is 40x32"):
        FrameFolder(tmp_path, frames=None)[0]
    resized = FrameFolder(tmp_path, frames=None, size=(8, 12))[0][0]
    assert resized.shape == (7, 3, 8, 12)
    reference = F.interpolate(as_float(frames), size=(8, 12), mode="bilinear", antialias=True)
    assert float((resized[:6] - reference).abs().mean()) < TOL


def test_frame_folder_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="source_fps has to be given"):
        FrameFolder(tmp_path, fps=5)
    (tmp_path / "k" / "empty_clip").mkdir(parents=True)
    with pytest.raises(DataError, match="empty_clip holds no frames"):
        FrameFolder(tmp_path)
    (tmp_path / "k" / "empty_clip").rmdir()
    with pytest.raises(DataError, match=r"class folder .*k is empty"):
        FrameFolder(tmp_path)
    write_frames(tmp_path / "k" / "c", indexed_frames(5))
    png = (tmp_path / "k" / "c" / "frame3.png").read_bytes()
    (tmp_path / "k" / "c" / "frame3.png").write_bytes(png[: len(png) // 2])
    (tmp_path / "k" / "c" / "frame4.png").write_text("garbage")
    data = FrameFolder(tmp_path, frames=None)
    with pytest.raises(DataError, match=r"frame3.png: cannot read frame 3"):
        data[0]
    with pytest.raises(DataError, match=r"frame4.png: cannot read frame 4"):
        FrameFolder(tmp_path, frames=1, sampling="sliding", stride=4)[1]


class _CountingContainer:
    """A PyAV container that records the frames it decodes and the seeks it is asked for."""

    def __init__(self, container: object, log: dict[str, list[object]]) -> None:
        self._container = container
        self._log = log

    def __getattr__(self, name: str) -> object:
        return getattr(self._container, name)

    def __enter__(self) -> _CountingContainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._container.__exit__(*exc)  # type: ignore[attr-defined]

    def decode(self, *args: object, **kwargs: object) -> object:
        for frame in self._container.decode(*args, **kwargs):  # type: ignore[attr-defined]
            self._log["decoded"].append(frame.pts)
            yield frame

    def seek(self, *args: object, **kwargs: object) -> None:
        self._log["seeks"].append(args)
        self._container.seek(*args, **kwargs)  # type: ignore[attr-defined]


def test_decoding_stops_early_and_seeks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = indexed_frames(80, seed=8)
    write_video(tmp_path / "a" / "long.mp4", frames, gop=10)
    data = VideoFolder(tmp_path, frames=5, sampling="sliding", stride=5)
    keyframes = data.stream_info(0).keyframes.tolist()
    assert 4 <= len(keyframes) <= 20, keyframes  # not every frame is a keyframe
    log: dict[str, list[object]] = {"decoded": [], "seeks": []}
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: _CountingContainer(real_open(*a, **k), log))

    assert identify(data[0][0], frames) == [0, 1, 2, 3, 4]
    assert len(log["decoded"]) == 5 and not log["seeks"]  # stopped after the last frame needed

    log["decoded"].clear()
    assert identify(data[12][0], frames) == [60, 61, 62, 63, 64]
    before = max(k for k in keyframes if k <= 60)
    assert len(log["seeks"]) == 1  # jumped to the keyframe before frame 60
    assert len(log["decoded"]) <= 65 - before + 2

    log["decoded"].clear()
    log["seeks"].clear()
    sparse = VideoFolder(tmp_path, frames=4)
    assert identify(sparse[0][0], frames) == [10, 30, 50, 70]
    assert len(log["decoded"]) < 40 and len(log["seeks"]) >= 2
