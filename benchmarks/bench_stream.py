"""Streaming latency of the default detector: one new row at a time, state kept vs re-scored.

``window_cnnlstm`` is causal and recurrent, so :class:`cnnlstm.anomaly.streaming.StreamScorer`
does a fixed, small amount of work per new row: its :class:`~cnnlstm.models.detectors.RowStepper`
holds the weights as plain numpy arrays (each causal conv one dense matrix over a ring of its last
``kernel_time`` input rows, the LSTM gates one matrix over ``[input, h, 1]``), so a row costs
four matrix-vector products and a few element-wise operations, with no torch call.

The baseline is what a stateless service does: keep the last ``window`` rows and run the model
over the whole window for each new row (conv stack and LSTM over ``window`` steps) to get the
prediction of the next row. Both include scaling the row and computing its error, and both
advance the same held-shift level score (:class:`cnnlstm.anomaly.held_shift.HeldShift`, the default
``scoring="level"``: per-row state by design, so re-scoring a window cannot replace it); they
run on one torch thread (the detector's default), on rows of a
:class:`~cnnlstm.data.sensor_plant.SensorPlant` recording. Each row is timed on its own; the two
take turns by runs of consecutive rows, as a live stream feeds them (see :func:`run_case`), and
the medians are reported with the machine's CPU pressure. Before timing, the streamed scores
are checked against :meth:`AnomalyDetector.score` on the same rows.

Run: ``python -m benchmarks.bench_stream`` (under a minute on 2 cores), or ``--quick`` for a
tiny size in seconds.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from benchmarks.common import cpu_pressure, report
from cnnlstm.anomaly.combine import HOLD, TrailingMax
from cnnlstm.anomaly.detector import AnomalyDetector
from cnnlstm.data.sensor_plant import SensorPlant


def _rescorer(detector: AnomalyDetector) -> Any:
    """One row in, the next-row error from re-running the model over the last ``window`` rows."""
    model = detector.model_
    assert model is not None
    mean = torch.as_tensor(detector.scaler.mean, dtype=torch.float32)
    std = torch.as_tensor(detector.scaler.std, dtype=torch.float32)
    scale = torch.as_tensor(detector.error_scale_, dtype=torch.float64)
    rows: collections.deque[torch.Tensor] = collections.deque(maxlen=detector.window)
    last: list[torch.Tensor] = []
    level = detector.level_
    level_state = level.start() if level is not None else None
    held = TrailingMax(HOLD)
    checks_state = detector.checks_.start() if detector.checks_ is not None else None

    @torch.inference_mode()
    def update(row: np.ndarray) -> float:
        values = torch.from_numpy(np.array(row, dtype=np.float64))
        scaled = (values.float() - mean) / std  # (S,)
        score = 0.0
        if last:
            score = float(((last[0] - scaled) ** 2).double().div(scale).mean())
        rows.append(scaled)
        window = torch.stack(list(rows)).unsqueeze(0)  # (1, W, S)
        prediction = model(window)[0, -1]  # (S,): the whole window, every new row
        last[:] = [prediction]
        if level is not None and level_state is not None:
            standard = (values.numpy() - detector.scaler.mean) / detector.scaler.std  # (S,)
            shift = held.update(level.update(level_state, standard) / detector.level_threshold_)
            score = max(detector.error_weight * score / detector.error_threshold_, shift)
        if detector.checks_ is not None:  # T² and the discrete states, as the stream has them
            checked = detector.checks_.scores(values.numpy()[None, :], checks_state)
            score = max(score, float(checked[0]))
        return score

    return update


def run_case(window: int, *, rows: int, repeat: int, block: int = 20) -> dict[str, Any]:
    """Fit a detector with ``window`` (one epoch: latency does not depend on training), time it.

    Every row is timed on its own, and the sides take turns by runs of ``block`` consecutive
    rows (``repeat`` runs each), as a live stream feeds rows; the per-row time is the median.
    Alternating single rows would charge the stream for the caches the window re-scoring just
    evicted; timing whole runs would charge the longer runs more of the machine's preemptions.
    """
    plant = SensorPlant(seed=0, n_anomalies=0)
    train = plant.normal(max(400, 2 * window)).drop(columns="datetime").to_numpy()
    stream = plant.generate(max(rows, 200), anomalies=False, index=1)[plant.sensor_names].to_numpy()
    detector = AnomalyDetector(window=window, epochs=1).fit(train)

    offline = detector.score(stream[:200])
    check = detector.stream()
    streamed = np.array([check.update(row)[0] for row in stream[:200]])
    max_diff = float(np.abs(streamed - offline).max())

    scorer = detector.stream()
    rescore = _rescorer(detector)
    position = {"stream": 0, "rescore": 0}

    def next_row(name: str) -> np.ndarray:
        position[name] += 1
        row: np.ndarray = stream[position[name] % len(stream)]
        return row

    updates = {"stream": scorer.update, "rescore": rescore}
    samples: dict[str, list[float]] = {name: [] for name in updates}
    for run in range(repeat + 1):  # run 0 warms up
        for name, update in updates.items():
            for _ in range(block):
                row = next_row(name)
                start = time.perf_counter()
                update(row)
                if run:
                    samples[name].append(time.perf_counter() - start)
    stream_ms = statistics.median(samples["stream"]) * 1e3
    rescore_ms = statistics.median(samples["rescore"]) * 1e3
    model = detector.model_
    return {
        "window": window,
        "receptive_field": int(getattr(model, "receptive_field", 0)),
        "stream_ms_per_row": stream_ms,
        "rescore_ms_per_row": rescore_ms,
        "speedup": rescore_ms / stream_ms,
        "max_abs_diff_vs_offline": max_diff,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print JSON and a table, and return the JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny size, in seconds")
    args = parser.parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if args.quick:
            rows_out = [run_case(32, rows=200, repeat=5, block=5)]
        else:
            rows_out = [run_case(w, rows=2000, repeat=50) for w in (32, 128, 512)]
    finally:
        torch.set_num_threads(threads)
    extra = {
        "torch": torch.__version__,
        "threads": 1,
        "cpu_pressure_pct": cpu_pressure(),
        "targets": "stream < 2 ms, speedup >= 10",
    }
    report("Streaming latency of window_cnnlstm (ms per new row)", rows_out, extra=extra)
    return {"rows": rows_out, **extra}


if __name__ == "__main__":
    main()
