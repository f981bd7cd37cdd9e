"""Shared pieces of the benchmark scripts: timing, the machine's matmul rate, JSON + table output.

Benchmarks report ratios measured in one run: the machine is shared and noisy, so absolute
seconds mean little, but two things timed side by side, interleaved, compare fairly.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch


def time_call(fn: Callable[[], Any], *, warmup: int = 2, repeat: int = 5) -> float:
    """Median wall time of ``fn()`` in seconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_interleaved(
    fns: dict[str, Callable[[], Any]], *, warmup: int = 2, repeat: int = 5
) -> dict[str, float]:
    """Median seconds of each function, timed round-robin so machine noise hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def matmul_gflops(n: int = 1024, *, repeat: int = 10) -> float:
    """The machine's float32 matrix-multiply rate in GFLOP/s (``n x n`` by ``n x n``)."""
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    seconds = time_call(lambda: a @ b, warmup=3, repeat=repeat)
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
