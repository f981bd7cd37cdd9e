"""Per-frame MSE/MAE against numpy, word accuracy by hand, the confusion table's layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlstm.errors import ShapeError
from cnnlstm.tasks.metrics import FrameMAE, FrameMSE, WordAccuracy, format_confusion


def _numpy_frame_errors(
    batches: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[float, float]:
    """OpenSTL's per-frame MSE and MAE written out: loop over every frame, sum its pixels."""
    squared, absolute, frames = 0.0, 0.0, 0
    for preds, target in batches:
        flat_p = preds.reshape(-1, *preds.shape[-3:]).astype(np.float64)
        flat_t = target.reshape(-1, *target.shape[-3:]).astype(np.float64)
        for p, t in zip(flat_p, flat_t, strict=True):
            squared += float(np.sum((p - t) ** 2))
            absolute += float(np.sum(np.abs(p - t)))
            frames += 1
    return squared / frames, absolute / frames


def test_frame_errors_match_numpy_over_several_batches() -> None:
    rng = np.random.default_rng(0)
    batches = [
        (rng.random((3, 4, 2, 5, 6), dtype=np.float32), rng.random((3, 4, 2, 5, 6)).astype("f4"))
        for _ in range(3)
    ]
    batches.append(
        (rng.random((1, 4, 2, 5, 6)).astype("f4"), rng.random((1, 4, 2, 5, 6)).astype("f4"))
    )
    mse, mae = FrameMSE(), FrameMAE()
    for preds, target in batches:
        mse.update(torch.from_numpy(preds), torch.from_numpy(target))
        mae.update(torch.from_numpy(preds), torch.from_numpy(target))
    want_mse, want_mae = _numpy_frame_errors(batches)
    assert float(mse.compute()) == pytest.approx(want_mse, rel=1e-5)
    assert float(mae.compute()) == pytest.approx(want_mae, rel=1e-5)
    # the per-value mean is smaller by C*H*W: the metric is not MeanSquaredError
    per_value = np.mean([np.mean((p - t) ** 2) for p, t in batches[:3]])
    assert float(mse.compute()) > 10 * per_value


def test_frame_errors_take_single_frames() -> None:
    rng = np.random.default_rng(1)
    preds, target = rng.random((5, 3, 4, 4)), rng.random((5, 3, 4, 4))
    metric = FrameMSE()
    metric.update(torch.from_numpy(preds), torch.from_numpy(target))
    assert float(metric.compute()) == pytest.approx(_numpy_frame_errors([(preds, target)])[0])


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 3),
    steps=st.integers(1, 3),
    channels=st.integers(1, 2),
    side=st.integers(1, 4),
    seed=st.integers(0, 1000),
)
def test_frame_mae_matches_numpy_for_any_shape(
    batch: int, steps: int, channels: int, side: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    shape = (batch, steps, channels, side, side + 1)
    preds, target = rng.normal(size=shape), rng.normal(size=shape)
    metric = FrameMAE()
    metric.update(torch.from_numpy(preds), torch.from_numpy(target))
    want = _numpy_frame_errors([(preds, target)])[1]
    assert float(metric.compute()) == pytest.approx(want, rel=1e-5)


def test_frame_errors_reset() -> None:
    metric = FrameMSE()
    metric.update(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2))
    metric.reset()
    metric.update(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 2.0))
    assert float(metric.compute()) == pytest.approx(16.0)


@pytest.mark.parametrize(
    ("preds", "target", "match"),
    [
        ((2, 3, 1, 4, 4), (2, 4, 1, 4, 4), r"same shape.*\(2, 3, 1, 4, 4\).*\(2, 4, 1, 4, 4\)"),
        ((2, 4, 4), (2, 4, 4), r"3-D tensor of shape \(2, 4, 4\)"),
        ((1, 2, 3, 1, 4, 4), (1, 2, 3, 1, 4, 4), r"6-D"),
    ],
)
def test_frame_errors_reject_bad_shapes(
    preds: tuple[int, ...], target: tuple[int, ...], match: str
) -> None:
    with pytest.raises(ShapeError, match=match):
        FrameMSE().update(torch.zeros(preds), torch.zeros(target))


def test_word_accuracy_counts_exact_matches_only() -> None:
    metric = WordAccuracy()
    metric.update(["abc", "ab", "", "x"], ["abc", "abc", "", "X"])
    metric.update(["hello"], ["hello"])
    # exact matches: "abc", "", "hello" -> 3 of 5 ("ab" is a prefix, "x" differs in case)
    assert float(metric.compute()) == pytest.approx(3 / 5)


def test_word_accuracy_rejects_lists_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="2 predictions and 1 references"):
        WordAccuracy().update(["a", "b"], ["a"])


def test_format_confusion_lays_out_rows_as_true_classes() -> None:
    matrix = torch.tensor([[12, 0, 3], [1, 7, 0], [0, 2, 100]])
    table = format_confusion(matrix, ["cat", "dog", "eel"])
    lines = table.splitlines()
    assert lines[0].split() == ["true\\pred", "cat", "dog", "eel"]
    assert lines[1].split() == ["cat", "12", "0", "3"]
    assert lines[3].split() == ["eel", "0", "2", "100"]
    # columns are right-aligned: every line has the same width
    assert len({len(line) for line in lines}) == 1


def test_format_confusion_rejects_bad_input() -> None:
    with pytest.raises(ShapeError, match=r"square.*\(2, 3\)"):
        format_confusion(torch.zeros(2, 3))
    with pytest.raises(ShapeError, match="expected 2 labels"):
        format_confusion(torch.zeros(2, 2), ["a"])
