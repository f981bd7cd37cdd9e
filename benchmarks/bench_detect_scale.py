"""``cnnlstm detect`` at plant scale: time and peak memory end to end, where the time goes, and
the batched scoring path's rows per second against the streaming path's.

A recording of :class:`~cnnlstm.data.sensor_plant.SensorPlant` (``--sensors`` sensors, 1 Hz,
with its labelled anomalies) is tiled, times running on, to ``--rows`` rows in a ``;``-separated
CSV under ``/tmp`` (never in the repository). Then, each in a subprocess of its own (so that its
peak resident memory, ``ru_maxrss``, is its alone):

- ``detect``: the whole command, ``cnnlstm detect FILE --train-rows T -o OUT``;
- ``parse``: reading the file part by part (:class:`~cnnlstm.data.sensor_chunks.SensorChunks`);
- ``fit``: fitting the default detector on the first ``T`` rows (its budget of steps);
- ``score``: scoring every row in parts (:class:`~cnnlstm.anomaly.streaming.ChunkScorer`), from
  rows in memory;
- ``stream`` / ``batched``: the same detector scoring the same rows one at a time
  (:class:`~cnnlstm.anomaly.streaming.StreamScorer`) and in one call
  (:class:`~cnnlstm.anomaly.streaming.ChunkScorer`), timed in one process, taking turns, the
  best of 3 runs each (a single run charged the batched call alone with torch's first-call set-up),
  their rows per second side by side;
- ``report`` (with ``--report``): the whole command again with ``--report DIR``, its time, peak
  memory and the PNG's size (the plot is drawn from the rows' minimum and maximum per pixel
  column, gathered as they are scored);
- ``generate`` (with ``--generate-rows N``): ``cnnlstm generate sensor-plant`` of ``N`` rows,
  written part by part: its time, peak memory and the file's size;
- ``wide`` (with ``--wide 20000x2000``): the whole command on a file of that many rows and
  sensors (numpy's correlated sensors, fitted on the first fifth of the rows): the fit's and the
  scoring's seconds as the command says them, the fit's steps (its budget for wide rows) and the
  peak memory.

``write`` is what the whole command took beyond parse, fit and score (the output lines and the
rest). Run: ``python -m benchmarks.bench_detect_scale --rows 3000000 --report --generate-rows
10000000 --wide 20000x2000``; ``--quick`` runs a tiny size in seconds (with all three).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import cpu_pressure, report

_TILE = 20_000
"""Rows of the generated recording that is tiled to the file's length."""


def write_file(path: Path, rows: int, sensors: int, *, seed: int = 0) -> Path:
    """Write ``rows`` rows of a tiled plant recording to ``path`` (SKAB's layout)."""
    from cnnlstm.data.sensor_plant import SensorPlant

    tile = min(rows, _TILE)
    anomalies = 2 if tile >= 2000 else 0
    plant = SensorPlant(
        n_sensors=sensors, seed=seed, n_anomalies=anomalies, normal_rows=min(400, tile // 4)
    )
    frame = plant.generate(tile, anomalies=anomalies > 0)
    names = [c for c in frame.columns if c != "datetime"]
    values = frame[names].to_numpy(dtype=np.float64)
    start = np.datetime64("2021-01-01T00:00:00")
    with open(path, "w", encoding="utf-8") as out:
        out.write(";".join(["datetime", *names]) + "\n")
        for first in range(0, rows, tile):
            count = min(tile, rows - first)
            times = np.datetime_as_string(start + np.arange(first, first + count), unit="s")
            cells = [np.char.replace(times, "T", " ")]
            for j, name in enumerate(names):
                fmt = "%.1f" if name in ("anomaly", "changepoint") else "%.6g"
                cells.append(np.char.mod(fmt, values[:count, j]))
            out.write("\n".join(";".join(row) for row in zip(*cells, strict=True)) + "\n")
    return path


_CHILD = {
    "parse": """
        from cnnlstm.data.sensor_chunks import SensorChunks
        rows = sum(len(part.features) for part in SensorChunks(FILE))
        RESULT["rows"] = rows
    """,
    "fit": """
        from cnnlstm.data.sensor_chunks import SensorChunks
        from cnnlstm.anomaly.detector import AnomalyDetector
        import numpy as np
        parts, count = [], 0
        for part in SensorChunks(FILE):
            parts.append(part.features)
            count += len(part.features)
            if count >= TRAIN:
                break
        train = np.concatenate(parts)[:TRAIN]
        started = time.perf_counter()
        detector = AnomalyDetector().fit(train)
        RESULT["seconds"] = time.perf_counter() - started
        RESULT["steps"] = detector.steps_
        detector.save(DETECTOR)
    """,
    "score": """
        from cnnlstm.data.sensor_chunks import SensorChunks
        from cnnlstm.anomaly.detector import AnomalyDetector
        detector = AnomalyDetector.load(DETECTOR)
        parts = [part.features for part in SensorChunks(FILE)]
        scorer = detector.chunks()
        started = time.perf_counter()
        for rows in parts:
            scorer.update(rows)
        RESULT["seconds"] = time.perf_counter() - started
        RESULT["rows"] = sum(len(p) for p in parts)
    """,
    "stream": """
        from cnnlstm.data.sensor_chunks import SensorChunks
        from cnnlstm.anomaly.detector import AnomalyDetector
        detector = AnomalyDetector.load(DETECTOR)
        rows = next(iter(SensorChunks(FILE))).features[:STREAM]
        stream = batched = float("inf")
        for _ in range(3):  # the best of 3, each from a fresh state (the first pays for warm-up)
            scorer = detector.stream()
            started = time.perf_counter()
            for row in rows:
                scorer.update(row)
            stream = min(stream, time.perf_counter() - started)
            chunks = detector.chunks()
            started = time.perf_counter()
            chunks.update(rows)
            batched = min(batched, time.perf_counter() - started)
        RESULT.update(rows=len(rows), stream_rows_per_s=len(rows) / stream,
                      batched_rows_per_s=len(rows) / batched)
    """,
}


def _child(kind: str, **names: Any) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its result, wall seconds and peak memory."""
    body = textwrap.dedent(_CHILD[kind])
    preamble = "".join(f"{key} = {value!r}\n" for key, value in names.items())
    script = (
        "import json, resource, sys, time\nRESULT = {}\n"
        + preamble
        + "started = time.perf_counter()\n"
        + body
        + "RESULT.setdefault('seconds', time.perf_counter() - started)\n"
        + "RESULT['wall'] = time.perf_counter() - started\n"
        + "RESULT['peak_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        + "print(json.dumps(RESULT))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def write_wide_file(path: Path, rows: int, sensors: int, *, seed: int = 0) -> Path:
    """Write ``rows`` rows of ``sensors`` correlated sensors (3 shared cycles and a slow wander,
    each sensor its own mix of them plus noise; 1 Hz, ``;``-separated) to ``path``."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(4, sensors))  # (4, S)
    noise = rng.uniform(0.05, 0.3, sensors)  # (S,)
    wander = 0.0
    start = np.datetime64("2021-01-01T00:00:00")
    names = [f"s{j:04d}" for j in range(sensors)]
    line = "%s" + ";%.6g" * sensors
    with open(path, "w", encoding="utf-8") as out:
        out.write(";".join(["datetime", *names]) + "\n")
        for first in range(0, rows, 1000):
            t = np.arange(first, min(first + 1000, rows))
            walk = rng.normal(0.0, 0.02, len(t)).cumsum() + wander
            wander = float(walk[-1])
            cycles = [np.sin(2 * np.pi * t / period) for period in (600.0, 1700.0, 97.0)]
            shared = np.stack([*cycles, walk], axis=1)  # (n, 4)
            values = shared @ mix + rng.normal(size=(len(t), sensors)) * noise  # (n, S)
            times = np.char.replace(np.datetime_as_string(start + t, unit="s"), "T", " ")
            cells = zip(times.tolist(), values.tolist(), strict=True)
            out.write("\n".join(line % (when, *row) for when, row in cells) + "\n")
    return path


def wide(rows: int, sensors: int, *, train_rows: int, folder: Path) -> dict[str, Any]:
    """``cnnlstm detect`` on a wide file in a subprocess: its stages' seconds (as the command
    says them), the fit's steps and the peak memory."""
    path = write_wide_file(folder / f"wide-{rows}x{sensors}.csv", rows, sensors)
    argv = [str(path), "--train-rows", str(train_rows), "-o", str(folder / "wide-out.csv")]
    printed, seconds, peak_mib = _run_detect(argv)
    fitted = re.search(r"fitted in ([\d.]+) s \((\d+) steps", printed)
    scored = re.search(r"scored \d+ rows in ([\d.]+) s", printed)
    if fitted is None or scored is None:
        raise RuntimeError(f"cnnlstm detect did not say its stages: {printed}")
    size = path.stat().st_size
    path.unlink()
    return {
        "wide_rows": rows,
        "wide_sensors": sensors,
        "wide_csv_mb": round(size / 1e6, 1),
        "wide_detect_s": round(seconds, 1),
        "wide_fit_s": float(fitted.group(1)),
        "wide_fit_steps": int(fitted.group(2)),
        "wide_score_s": float(scored.group(1)),
        "wide_peak_mib": round(peak_mib),
    }


def _command(path: Path, train_rows: int, out: Path, report: Path | None = None) -> dict[str, Any]:
    """The whole command in a subprocess: wall seconds and peak memory (``ru_maxrss``)."""
    argv = [str(path), "--train-rows", str(train_rows), "-o", str(out)]
    if report is not None:
        argv += ["--report", str(report)]
    _, seconds, peak_mib = _run_detect(argv)
    return {"seconds": seconds, "peak_mib": peak_mib}


def _run_detect(argv: list[str]) -> tuple[str, float, float]:
    """``cnnlstm detect ARGV`` in a subprocess: what it printed, its wall seconds and its peak
    memory in MiB (``ru_maxrss``)."""
    script = (
        "import resource, sys, time\nfrom cnnlstm.commands.detect import main\n"
        "started = time.perf_counter()\n"
        f"code = main({argv!r})\n"
        "print('RESULT', code, time.perf_counter() - started,"
        " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT")][-1].split()
    if line[1] != "0":
        raise RuntimeError(f"cnnlstm detect failed: {done.stdout}\n{done.stderr}")
    return done.stdout, float(line[2]), float(line[3])


def generate(rows: int, sensors: int, folder: Path) -> dict[str, Any]:
    """``cnnlstm generate sensor-plant`` of ``rows`` rows in a subprocess: seconds, peak memory
    (``ru_maxrss``) and the file's size."""
    out = folder / f"generated-{rows}.csv"
    argv = ["sensor-plant", str(out), "--rows", str(rows), "--sensors", str(sensors)]
    script = (
        "import resource, sys, time\nfrom cnnlstm.commands.generate import main\n"
        "started = time.perf_counter()\n"
        f"code = main({argv!r})\n"
        "print('RESULT', code, time.perf_counter() - started,"
        " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT")][-1].split()
    if line[1] != "0":
        raise RuntimeError(f"cnnlstm generate failed: {done.stdout}\n{done.stderr}")
    size = out.stat().st_size
    out.unlink()
    return {
        "generate_rows": rows,
        "generate_s": round(float(line[2]), 1),
        "generate_peak_mib": round(float(line[3])),
        "generate_mb": round(size / 1e6, 1),
    }


def run(
    rows: int,
    sensors: int,
    train_rows: int,
    stream_rows: int,
    folder: Path,
    *,
    report: bool = False,
    generate_rows: int = 0,
    wide_shape: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Make the file and measure it (see the module docstring); one table row."""
    path = folder / f"plant-{rows}x{sensors}.csv"
    started = time.perf_counter()
    write_file(path, rows, sensors)
    made = time.perf_counter() - started
    detector = folder / "detector.pt"
    fit = _child("fit", FILE=str(path), TRAIN=train_rows, DETECTOR=str(detector))
    parse = _child("parse", FILE=str(path))
    score = _child("score", FILE=str(path), DETECTOR=str(detector))
    rates = _child("stream", FILE=str(path), DETECTOR=str(detector), STREAM=stream_rows)
    whole = _command(path, train_rows, folder / "out.csv")
    rest = whole["seconds"] - parse["wall"] - fit["seconds"] - score["seconds"]
    reported: dict[str, Any] = {}
    if report:
        drawn = _command(path, train_rows, folder / "out-report.csv", folder / "report")
        png = folder / "report" / "detection.png"
        reported = {
            "report_s": round(drawn["seconds"], 1),
            "report_peak_mib": round(drawn["peak_mib"]),
            "report_over_detect_s": round(drawn["seconds"] - whole["seconds"], 1),
            "report_png_kb": round(png.stat().st_size / 1024),
        }
    generated = generate(generate_rows, sensors, folder) if generate_rows else {}
    widened: dict[str, Any] = {}
    if wide_shape is not None:
        widened = wide(*wide_shape, train_rows=wide_shape[0] // 5, folder=folder)
    return {
        "rows": rows,
        "sensors": sensors,
        "csv_mb": round(path.stat().st_size / 1e6, 1),
        "train_rows": train_rows,
        "detect_s": round(whole["seconds"], 1),
        "detect_peak_mib": round(whole["peak_mib"]),
        "parse_s": round(parse["wall"], 1),
        "fit_s": round(fit["seconds"], 1),
        "fit_steps": fit["steps"],
        "score_s": round(score["seconds"], 1),
        "write_and_rest_s": round(rest, 1),
        "score_rows_per_s": round(score["rows"] / score["seconds"]),
        "stream_rows_per_s": round(rates["stream_rows_per_s"]),
        "batched_rows_per_s": round(rates["batched_rows_per_s"]),
        "batched_over_stream": round(rates["batched_rows_per_s"] / rates["stream_rows_per_s"], 2),
        **reported,
        "generate_file_s": round(made, 1),
        **generated,
        **widened,
    }


def _shape(text: str) -> tuple[int, int]:
    """``"20000x2000"`` -> ``(20000, 2000)``."""
    rows, _, sensors = text.lower().partition("x")
    return int(rows), int(sensors)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print JSON and a table, and return the JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--sensors", type=int, default=20)
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--stream-rows", type=int, default=20_000)
    parser.add_argument(
        "--report",
        action="store_true",
        help="also run the command with --report: its time, peak memory and PNG size",
    )
    parser.add_argument(
        "--generate-rows",
        type=int,
        default=0,
        metavar="N",
        help="also time cnnlstm generate sensor-plant of N rows (--sensors of them, at most 64) "
        "and its peak memory",
    )
    parser.add_argument(
        "--wide",
        metavar="ROWSxSENSORS",
        help="also time cnnlstm detect on a wide file, e.g. 20000x2000 (fitted on its first "
        "fifth): its stages and peak memory",
    )
    parser.add_argument("--quick", action="store_true", help="a tiny size, in seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.sensors, args.train_rows, args.stream_rows = 3000, 8, 600, 500
        args.report = True
        args.generate_rows = 20_000
        args.wide = "1500x100"
    with tempfile.TemporaryDirectory(prefix="bench_detect_scale.") as folder:
        row = run(
            args.rows,
            args.sensors,
            args.train_rows,
            args.stream_rows,
            Path(folder),
            report=args.report,
            generate_rows=args.generate_rows,
            wide_shape=_shape(args.wide) if args.wide else None,
        )
    document: dict[str, Any] = {"benchmark": "cnnlstm detect at scale", "rows": [row]}
    pressure = cpu_pressure()
    extra = {"cpu_pressure_pct": pressure} if pressure is not None else {}
    report(document["benchmark"], [row], extra=extra)
    document.update(extra)
    return document


if __name__ == "__main__":
    main()
