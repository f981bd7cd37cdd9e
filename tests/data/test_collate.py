"""pad_sequences / pad_collate against a slow padding loop, and the lengths they hand on."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader

from cnnlstm.data.collate import pad_collate, pad_sequences
from cnnlstm.errors import ShapeError
from cnnlstm.layers.time_distributed import TimeDistributed


def pad_slowly(sequences: list[torch.Tensor], value: float, steps: int) -> torch.Tensor:
    """Padding written out element by element."""
    trailing = tuple(sequences[0].shape[1:])
    out = torch.empty((len(sequences), steps, *trailing), dtype=sequences[0].dtype)
    for b, seq in enumerate(sequences):
        for t in range(steps):
            out[b, t] = seq[t] if t < seq.shape[0] else torch.full(trailing, value)
    return out


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 6), min_size=1, max_size=5),
    trailing=st.lists(st.integers(1, 3), min_size=0, max_size=3),
    value=st.sampled_from([0.0, -1.0, 7.5]),
    extra=st.integers(0, 2),
)
def test_pad_sequences_matches_a_loop(
    lengths: list[int], trailing: list[int], value: float, extra: int
) -> None:
    sequences = [torch.randn(n, *trailing) for n in lengths]
    steps = max(lengths) + extra
    x, lens = pad_sequences(sequences, padding_value=value, length=steps if extra else None)
    assert lens.dtype == torch.int64 and lens.tolist() == lengths
    assert torch.equal(x, pad_slowly(sequences, value, steps))


def test_pad_sequences_errors() -> None:
    with pytest.raises(ShapeError, match="empty batch"):
        pad_sequences([])
    with pytest.raises(ShapeError, match=r"sequence 1 has shape \(3, 4, 5\) but sequence 0 has"):
        pad_sequences([torch.zeros(2, 4, 4), torch.zeros(3, 4, 5)])
    with pytest.raises(ShapeError, match=r"sequence 0 has shape \(0, 2\)"):
        pad_sequences([torch.zeros(0, 2)])
    with pytest.raises(ShapeError, match=r"sequence 0 has shape \(\)"):
        pad_sequences([torch.tensor(1.0)])
    with pytest.raises(ShapeError, match="length=2 is shorter than the longest sequence"):
        pad_sequences([torch.zeros(3, 1)], length=2)


def test_pad_collate_items_labels_and_bare_tensors() -> None:
    clips = [torch.rand(n, 3, 4, 5) for n in (4, 2, 6)]
    batch = [(clips[0], 2), (clips[1], torch.tensor(0)), (clips[2], torch.tensor(1))]
    x, lengths, y = pad_collate(batch)
    assert x.shape == (3, 6, 3, 4, 5)
    assert torch.equal(x, pad_slowly(clips, 0.0, 6))
    assert lengths.tolist() == [4, 2, 6] and y.tolist() == [2, 0, 1] and y.dtype == torch.int64
    only, lens = pad_collate(clips)
    assert torch.equal(only, x) and torch.equal(lens, lengths)
    # per-step labels of different lengths are padded with the ignore index
    steps = [torch.arange(n) for n in (4, 2, 6)]
    x, lengths, y, names = pad_collate(
        [(c, s, name) for c, s, name in zip(clips, steps, "abc", strict=True)]
    )
    assert y.shape == (3, 6) and y[1].tolist() == [0, 1, -100, -100, -100, -100]
    assert names == ["a", "b", "c"]
    with pytest.raises(ShapeError, match="empty batch"):
        pad_collate([])


def test_pad_collate_in_a_loader_feeds_time_distributed() -> None:
    """Padded steps come out of TimeDistributed(..., lengths=) as zeros, valid ones unchanged."""
    clips = [(torch.rand(n, 2, 6, 6), n % 2) for n in (5, 1, 3, 4)]
    loader = DataLoader(clips, batch_size=4, collate_fn=pad_collate)
    x, lengths, y = next(iter(loader))
    conv = nn.Conv2d(2, 3, kernel_size=3)
    out = TimeDistributed(conv)(x, lengths=lengths)
    assert out.shape == (4, 5, 3, 4, 4)
    for b, (clip, _) in enumerate(clips):
        n = clip.shape[0]
        with torch.no_grad():
            expected = torch.stack([conv(clip[t : t + 1])[0] for t in range(n)])
            assert torch.allclose(out[b, :n], expected, atol=1e-6)
            assert float(out[b, n:].abs().sum()) == 0.0
    assert y.tolist() == [1, 1, 1, 0]
