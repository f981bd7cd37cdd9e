"""Video decode throughput: VideoFolder against a plain PyAV decoding loop over the same files.

The plain loop is ``for frame in container.decode(video=0): frame.to_ndarray(format="rgb24")``.
VideoFolder does that and more (float32 ``(T, C, H, W)`` clips in [0, 1], a label), so the
ratio says what the reader costs over bare decoding. Resizing is off. ``vs_plain`` compares
clips per second with the plain loop: the same work for whole clips; for ``frames=16`` it shows
what decoding only up to the last sampled frame saves. The clips are generated into a temporary
folder and removed afterwards.

VideoFolder converts each frame to ``rgb24`` as the plain loop does (one swscale context per
clip rather than per frame) and then to float ``(C, H, W)``; planar ``gbrp``, which it used
before, skipped that transposition but left the last ``width % 16`` columns unwritten for some
widths (libswscale 9.5).

Run: ``python -m benchmarks.bench_video_decode`` (``--quick`` for a few seconds; ``--cpu-time``
decodes on one thread in both readers and times CPU seconds, which other work on a shared
machine barely changes).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import av
import numpy as np

from benchmarks.common import (
    add_clock_arguments,
    configure_clock,
    cpu_pressure,
    report,
    spread_pct,
    time_interleaved_samples,
)
from cnnlstm.data.video import VideoFolder


def write_clips(
    root: Path,
    *,
    clips: int,
    frames: int,
    height: int,
    width: int,
    fps: int = 25,
    codec: str = "mpeg4",
) -> list[Path]:
    """Moving-square clips in .mp4 (``mpeg4`` or ``libx264``), a keyframe every 12 frames."""
    paths = []
    rng = np.random.default_rng(0)
    background = rng.integers(0, 80, size=(height, width, 3), dtype=np.uint8)
    for k in range(clips):
        path = root / f"class{k % 2}" / f"clip{k}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(path), "w") as container:
            stream = container.add_stream(codec, rate=fps)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            stream.bit_rate = 2_000_000
            stream.codec_context.gop_size = 12
            side = max(4, height // 6)
            for t in range(frames):
                image = background.copy()
                y = (3 * t + 7 * k) % (height - side)
                x = (5 * t + 3 * k) % (width - side)
                image[y : y + side, x : x + side] = (220, 200 - 10 * k % 100, 40)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            container.mux(stream.encode())
        paths.append(path)
    return paths


def plain_decode(paths: list[Path], *, thread_type: str | None = None) -> int:
    """The reference: decode every frame of every file to an RGB array."""
    count = 0
    for path in paths:
        with av.open(str(path)) as container:
            if thread_type is not None:
                container.streams.video[0].thread_type = thread_type
            for frame in container.decode(video=0):
                frame.to_ndarray(format="rgb24")
                count += 1
    return count


def read_all(data: VideoFolder) -> int:
    return sum(int(data[i][0].shape[0]) for i in range(len(data)))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny size that runs in seconds")
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--codec", choices=["mpeg4", "libx264"], default="mpeg4")
    add_clock_arguments(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.clips, args.frames, args.height, args.width, args.repeat = 2, 24, 48, 64, 2
    clock = configure_clock(args)
    # --cpu-time: one decoding thread in both readers, so CPU seconds compare the work done
    plain_threads = "NONE" if args.cpu_time else None
    reader_threads: dict[str, Any] = {"thread_type": "NONE"} if args.cpu_time else {}

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        paths = write_clips(
            root,
            clips=args.clips,
            frames=args.frames,
            height=args.height,
            width=args.width,
            codec=args.codec,
        )
        whole = VideoFolder(root, frames=None, **reader_threads)
        whole_plain_threads = VideoFolder(root, frames=None, thread_type="SLICE")
        uniform = VideoFolder(root, frames=16, **reader_threads)
        paths = [p for p, _ in whole.samples]
        total = plain_decode(paths)
        delivered = read_all(uniform)
        for i in range(len(uniform)):  # demux the clips once, as a first epoch does
            uniform.stream_info(i)
            whole.stream_info(i)
            whole_plain_threads.stream_info(i)
        samples = time_interleaved_samples(
            {
                "plain PyAV loop": lambda: plain_decode(paths, thread_type=plain_threads),
                "plain PyAV loop, thread_type=AUTO": lambda: plain_decode(
                    paths, thread_type="AUTO"
                ),
                "VideoFolder(frames=None)": lambda: read_all(whole),
                "VideoFolder(frames=None, thread_type=SLICE)": lambda: read_all(
                    whole_plain_threads
                ),
                "VideoFolder(frames=16), uniform": lambda: read_all(uniform),
            },
            warmup=1,
            repeat=args.repeat,
            clock=clock,
        )
    seconds = {name: statistics.median(values) for name, values in samples.items()}
    base = seconds["plain PyAV loop"]
    rows = []
    for name, value in seconds.items():
        frames = delivered if "frames=16" in name else total
        rows.append(
            {
                "reader": name,
                "frames_out": frames,
                "seconds": value,
                "frames_out_per_s": frames / value,
                "clips_per_s": args.clips / value,
                "vs_plain": base / value,
                "spread_pct": spread_pct(samples[name]),
            }
        )
    ratio = rows[2]["vs_plain"]
    extra = {
        "clips": args.clips,
        "frames_per_clip": args.frames,
        "size": f"{args.width}x{args.height}",
        "codec": f"{args.codec}, keyframe every 12",
        "clock": "cpu seconds, one decoding thread" if args.cpu_time else "wall seconds",
        "cpu_pressure_avg60_pct": cpu_pressure(),
        "videofolder_vs_plain": ratio,
        "target": ">= 0.8",
    }
    report("video decode throughput", rows, extra=extra)
    return {"rows": rows, **extra}


if __name__ == "__main__":
    main()
