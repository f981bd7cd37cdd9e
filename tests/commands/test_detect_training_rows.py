"""With ``--train-rows``, the rows flagged inside the training rows are counted apart from the
rest: the headline and the span table count the rows after them, a second line and table those
inside (on a real SKAB file where the training rows hold flags), and a span is never counted
across the end of the training rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cnnlstm.commands.detect.watch import SpanTracker

RunDetect = Callable[[list[str]], tuple[int, str, str]]

VALVE = Path(__file__).resolve().parents[3] / "shared" / "data" / "skab" / "valve1" / "2.csv"
TINY = ["--window", "8", "--smooth", "5", "--epochs", "1", "--steps", "10"]


def _runs(flags: np.ndarray, offset: int = 0) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of 1s, walked row by row."""
    runs, start = [], None
    for i, flag in enumerate(flags.tolist()):
        if flag and start is None:
            start = i
        if not flag and start is not None:
            runs.append((offset + start, offset + i))
            start = None
    if start is not None:
        runs.append((offset + start, offset + len(flags)))
    return runs


def test_training_row_flags_are_counted_apart(tmp_path: Path, run_detect: RunDetect) -> None:
    out = tmp_path / "out.csv"
    # a low quantile, so the training rows hold flags (38 rows in 5 spans on this machine)
    argv = [str(VALVE), "--train-rows", "300", "--quantile", "0.8", "-o", str(out), *TINY]
    code, printed, err = run_detect(argv)
    assert code == 0, err
    flags = pd.read_csv(out)["anomaly"].to_numpy()
    inside, after = _runs(flags[:300]), _runs(flags[300:], offset=300)
    assert inside, "the training rows of this run hold flags"
    assert (
        f"flagged {flags[300:].sum()} of the {len(flags) - 300} rows after the 300 training rows, "
        f"in {len(after)} span{'' if len(after) == 1 else 's'}; wrote {out}"
    ) in printed
    assert (
        f"in the training rows 0-299 (fitted on, not counted above): {flags[:300].sum()} "
        f"row{'' if flags[:300].sum() == 1 else 's'} flagged in {len(inside)} "
        f"span{'' if len(inside) == 1 else 's'}"
    ) in printed
    table, training = printed.split("flagged spans in the training rows (not counted above)")
    for start, stop in after:
        assert f"│ {start}-{stop - 1} " in table.split("flagged spans and the sensors")[1]
    for start, stop in inside:
        assert f"│ {start}-{stop - 1} " in training.split("against the labels")[0]


def test_without_training_rows_in_input_nothing_is_set_apart(
    tmp_path: Path, run_detect: RunDetect
) -> None:
    saved, out = tmp_path / "d.pt", tmp_path / "out.csv"
    argv = [str(VALVE), "--train-rows", "300", "--quantile", "0.95", "--save", str(saved)]
    assert run_detect([*argv, "-o", str(tmp_path / "fit.csv"), *TINY])[0] == 0
    code, printed, err = run_detect([str(VALVE), "--load", str(saved), "-o", str(out)])
    assert code == 0, err
    flags = pd.read_csv(out)["anomaly"].to_numpy()
    assert f"flagged {flags.sum()} of {len(flags)} rows in {len(_runs(flags))} spans; " in printed
    assert "training rows" not in printed


@pytest.mark.parametrize("cut", [0, 1, 37, 40, 41, 100, 150])
@pytest.mark.parametrize("chunk", [1, 7, 40, 150])
def test_a_span_is_cut_where_the_training_rows_end(cut: int, chunk: int) -> None:
    """SpanTracker with ``cut()`` at row ``cut``, fed in chunks, against the runs of the rows
    before ``cut`` and after it, walked apart."""
    rng = np.random.default_rng(cut * 1000 + chunk)
    flags = (rng.random(150) < 0.4).astype(np.int8)
    flags[35:45] = 1  # a span across most cuts
    parts = rng.random((150, 2)) + flags[:, None]
    tracker = SpanTracker(["a", "b"], threshold=1.0)
    for begin in range(0, 150, chunk):
        end = min(begin + chunk, 150)
        if begin < cut < end:
            tracker.add(flags[begin:cut], parts[begin:cut])
            tracker.cut()
            tracker.add(flags[cut:end], parts[cut:end])
        else:
            if begin == cut:
                tracker.cut()
            tracker.add(flags[begin:end], parts[begin:end])
    tracker.finish()
    assert tracker.spans == _runs(flags[:cut]) + _runs(flags[cut:], offset=cut)
    for (start, stop), peak in zip(tracker.spans, tracker.peaks, strict=True):
        assert peak == parts[start:stop].max()
