"""Shared pieces of the benchmark scripts: timing, the machine's matmul rate, JSON + table output.

Benchmarks report ratios measured in one run: the machine is shared and noisy, so absolute
seconds mean little, but two things timed side by side, interleaved, compare fairly.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch


def time_call(
    fn: Callable[[], Any],
    *,
    warmup: int = 2,
    repeat: int = 5,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Median time of ``fn()`` in seconds of ``clock``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)


def time_interleaved_samples(
    fns: dict[str, Callable[[], Any]],
    *,
    warmup: int = 2,
    repeat: int = 5,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Seconds of every call of each function, timed round-robin so machine noise hits all alike.

    ``clock`` is wall time by default; ``time.process_time`` (with one thread) measures the CPU
    time a call used, which other work on a shared machine barely changes.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = clock()
            fn()
            samples[name].append(clock() - start)
    return samples


def time_interleaved(
    fns: dict[str, Callable[[], Any]],
    *,
    warmup: int = 2,
    repeat: int = 5,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Median seconds of each function, timed round-robin so machine noise hits all alike."""
    samples = time_interleaved_samples(fns, warmup=warmup, repeat=repeat, clock=clock)
    return {name: statistics.median(values) for name, values in samples.items()}


def add_clock_arguments(parser: argparse.ArgumentParser) -> None:
    """``--cpu-time``: time CPU seconds on one thread instead of wall seconds on all threads."""
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="one thread, timed in CPU seconds (stable on a busy machine; no parallel speedup)",
    )


def configure_clock(args: argparse.Namespace) -> Callable[[], float]:
    """Apply ``--cpu-time`` (one torch thread) and return the clock to time with."""
    if args.cpu_time:
        torch.set_num_threads(1)
        return time.process_time
    return time.perf_counter


def spread_pct(values: Sequence[float]) -> float:
    """How noisy a set of timings was: ``(max - min) / median`` in percent (0 for one value)."""
    return 100 * (max(values) - min(values)) / statistics.median(values)


def cpu_pressure() -> float | None:
    """Share of the last 60 s in which some runnable task waited for a CPU (Linux PSI), in %.

    Recorded so a reader can tell a quiet run from one sharing the machine with other work.
    """
    try:
        with open("/proc/pressure/cpu") as file:
            fields = dict(item.split("=") for item in file.readline().split()[1:])
        return float(fields["avg60"])
    except (OSError, KeyError, ValueError):
        return None


def matmul_gflops(
    n: int = 1024, *, repeat: int = 10, clock: Callable[[], float] = time.perf_counter
) -> float:
    """The machine's float32 matrix-multiply rate in GFLOP/s (``n x n`` by ``n x n``)."""
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    seconds = time_call(lambda: a @ b, warmup=3, repeat=repeat, clock=clock)
    return 2 * n**3 / seconds / 1e9


def report(
    title: str, rows: Sequence[dict[str, Any]], *, extra: dict[str, Any] | None = None
) -> None:
    """Print the rows as one JSON document, then as a Markdown table a person can read."""
    print(json.dumps({"benchmark": title, "rows": list(rows), **(extra or {})}, indent=2))
    if not rows:
        return
    columns = list(rows[0])

    def cell(value: Any) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    print(f"\n### {title}\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |")
    for key, value in (extra or {}).items():
        print(f"\n{key}: {cell(value)}")
