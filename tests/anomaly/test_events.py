"""Event counting against loops that walk the rows one at a time."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlstm.anomaly.evaluation import Counts
from cnnlstm.anomaly.events import detection_delays, event_recall, point_adjusted_counts
from cnnlstm.errors import ShapeError


def _events(labels: list[int]) -> list[list[int]]:
    """The rows of each run of ones, walked row by row."""
    events: list[list[int]] = []
    for i, label in enumerate(labels):
        if label and (i == 0 or not labels[i - 1]):
            events.append([])
        if label:
            events[-1].append(i)
    return events


pairs = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
    )
)


@settings(max_examples=200, deadline=None)
@given(pairs)
def test_event_counts_match_a_row_walk(pair):
    labels, flags = pair
    events = _events(labels)
    found = [any(flags[i] for i in rows) for rows in events]
    adjusted = list(flags)
    for rows, hit in zip(events, found, strict=True):
        for i in rows:
            adjusted[i] = 1 if hit else flags[i]
    tp = sum(1 for t, p in zip(labels, adjusted, strict=True) if t and p)
    fp = sum(1 for t, p in zip(labels, adjusted, strict=True) if not t and p)
    fn = sum(1 for t, p in zip(labels, adjusted, strict=True) if t and not p)
    tn = sum(1 for t, p in zip(labels, adjusted, strict=True) if not t and not p)
    assert point_adjusted_counts(labels, flags) == Counts(tp, fp, fn, tn)

    recall = event_recall(labels, flags)
    if events:
        assert recall == sum(found) / len(events)
    else:
        assert math.isnan(recall)

    delays = []
    for rows in events:
        first = next((i for i in rows if flags[i]), None)
        delays.append(None if first is None else first - rows[0])
    assert detection_delays(labels, flags) == delays


def test_point_adjustment_only_ever_adds_true_positives():
    rng = np.random.default_rng(0)
    labels = (rng.random(500) < 0.1).astype(int)
    flags = (rng.random(500) < 0.05).astype(int)
    plain = Counts(
        int(((labels == 1) & (flags == 1)).sum()),
        int(((labels == 0) & (flags == 1)).sum()),
        int(((labels == 1) & (flags == 0)).sum()),
        int(((labels == 0) & (flags == 0)).sum()),
    )
    adjusted = point_adjusted_counts(labels, flags)
    assert adjusted.fp == plain.fp and adjusted.tn == plain.tn
    assert adjusted.tp >= plain.tp and adjusted.tp + adjusted.fn == plain.tp + plain.fn


def test_lengths_have_to_match():
    with pytest.raises(ShapeError, match=r"same length, but got shapes \(3,\) and \(2,\)"):
        event_recall([0, 1, 0], [0, 1])
