"""What round 6's bound on T²'s moving mean costs: plain against bounded moving means.

:func:`~cnnlstm.anomaly.row_checks.moving_means` takes 64 rows at a time as one matrix product
while no row's step is over the limit, and goes row by row from a row that is until 8 rows in a
row are under it. So its time depends on how many rows alarm. This times, interleaved in one run,
the plain mean and the bounded one on the same rows with a limit that (almost) no row, about 4 %
of the rows, or nearly every row is over (a file scored against training rows unlike it), and
prints each as a ratio to the plain mean.

Run: ``python -m benchmarks.bench_moving_means [--rows 200000] [--sensors 20] [--cpu-time]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.common import (
    add_clock_arguments,
    configure_clock,
    cpu_pressure,
    report,
    time_interleaved,
)
from cnnlstm.anomaly.row_checks import moving_means

TAU = 50
"""The time constant (rows): ``PCA_TAU``."""
COMPONENTS = 8
"""Columns of the projection (T²'s kept components)."""


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Time the cases, print JSON and a table, and return the rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows (default 200000)")
    parser.add_argument("--sensors", type=int, default=20, help="sensors (default 20)")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls of each (default 3)")
    add_clock_arguments(parser)
    args = parser.parse_args(argv)
    clock = configure_clock(args)
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(args.rows, args.sensors))
    project = rng.normal(size=(args.sensors, COMPONENTS)) / np.sqrt(args.sensors)
    start = np.zeros(args.sensors)
    plain_before, _ = moving_means(rows, TAU, start)
    t2 = (((rows - plain_before) @ project) ** 2).sum(axis=1)  # the steps' T², unbounded
    limits = {  # a limit over every step; one 4 % of the steps are over; one under all
        "none over": float(t2.max()) * 1.0001,
        "4 % over": float(np.quantile(t2, 0.96)),
        "all over": float(t2.min()) / 10,
    }

    def bounded(limit: float) -> Any:
        return lambda: moving_means(rows, TAU, start, project=project, limit=limit)

    calls = {"plain": lambda: moving_means(rows, TAU, start)}
    calls |= {name: bounded(limit) for name, limit in limits.items()}
    seconds = time_interleaved(calls, warmup=1, repeat=args.repeat, clock=clock)
    result = []
    for name, took in seconds.items():
        share = 0.0
        if name in limits:
            before, _ = moving_means(rows, TAU, start, project=project, limit=limits[name])
            share = float(((((rows - before) @ project) ** 2).sum(axis=1) > limits[name]).mean())
        result.append(
            {
                "case": name,
                "rows_over_pct": round(100 * share, 1),
                "seconds": round(took, 3),
                "us_per_row": round(1e6 * took / args.rows, 2),
                "x_plain": round(took / seconds["plain"], 2),
            }
        )
    report(
        f"moving means, {args.rows} x {args.sensors}",
        result,
        extra={"cpu_pressure_pct": cpu_pressure()},
    )
    return result


if __name__ == "__main__":
    main()
