"""CTC decoding against independent computations.

Greedy decoding is compared with a plain loop (``itertools.groupby`` over the argmax path).
Beam search is compared with brute force: on tiny ``L`` and ``K`` every one of the ``K**L``
alignments is enumerated, collapsed, and its probability added to its labelling's total, so each
labelling's exact probability is known; and with PyTorch's ``ctc_loss``, which computes
``-log P(labelling)`` by the forward algorithm.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlstm.errors import ShapeError
from cnnlstm.models.ctc import ctc_beam_decode, ctc_beam_search, ctc_greedy_decode


def collapse(path: tuple[int, ...] | list[int], blank: int) -> tuple[int, ...]:
    return tuple(k for k, _ in itertools.groupby(path) if k != blank)


def brute_force(log_probs: torch.Tensor, blank: int) -> dict[tuple[int, ...], float]:
    """log P(labelling) for every labelling of one ``(L, K)`` sequence, by enumeration."""
    probs = log_probs.double().exp().tolist()
    steps, classes = log_probs.shape
    totals: dict[tuple[int, ...], float] = defaultdict(float)
    for path in itertools.product(range(classes), repeat=steps):
        p = 1.0
        for t, k in enumerate(path):
            p *= probs[t][k]
        totals[collapse(path, blank)] += p
    return {labels: math.log(p) for labels, p in totals.items() if p > 0}


def random_log_probs(batch: int, steps: int, classes: int, sharpness: float = 2.0) -> torch.Tensor:
    return (sharpness * torch.randn(batch, steps, classes)).log_softmax(-1)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    steps=st.integers(1, 5),
    classes=st.integers(2, 3),
    blank_last=st.booleans(),
)
def test_wide_beam_finds_the_most_probable_labelling(
    seed: int, steps: int, classes: int, blank_last: bool
) -> None:
    torch.manual_seed(seed)
    blank = classes - 1 if blank_last else 0
    log_probs = random_log_probs(1, steps, classes)
    exact = brute_force(log_probs[0], blank)
    best = max(exact, key=exact.__getitem__)
    beam_width = classes**steps  # at least the number of prefixes: nothing is pruned
    hypotheses = ctc_beam_search(log_probs, beam_width=beam_width, blank=blank)[0]
    labels, score = hypotheses[0]
    assert tuple(labels) == best
    assert score == pytest.approx(exact[best], abs=1e-5)
    # Every labelling the beam returns carries its exact log-probability.
    for labels, score in hypotheses:
        assert score == pytest.approx(exact[tuple(labels)], abs=1e-5)
    assert ctc_beam_decode(log_probs, beam_width=beam_width, blank=blank) == [list(best)]


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), beam_width=st.integers(1, 3))
def test_narrow_beam_scores_never_exceed_the_exact_probability(seed: int, beam_width: int) -> None:
    torch.manual_seed(seed)
    log_probs = random_log_probs(1, 5, 3, sharpness=1.0)
    exact = brute_force(log_probs[0], 0)
    hypotheses = ctc_beam_search(log_probs, beam_width=beam_width)[0]
    assert 1 <= len(hypotheses) <= beam_width
    scores = [score for _, score in hypotheses]
    assert scores == sorted(scores, reverse=True)
    for labels, score in hypotheses:
        # A pruned beam sums only some of a labelling's paths: a lower bound.
        assert score <= exact[tuple(labels)] + 1e-9


def test_beam_scores_match_torch_ctc_loss_on_longer_sequences() -> None:
    torch.manual_seed(3)
    log_probs = random_log_probs(3, 12, 4, sharpness=3.0).double()
    lengths = torch.tensor([12, 9, 5])

    def exact(b: int, labels: list[int]) -> float:
        if not labels:
            return float(log_probs[b, : lengths[b], 0].sum())
        return -float(
            F.ctc_loss(
                log_probs[b : b + 1, : lengths[b]].transpose(0, 1),  # (L, 1, K)
                torch.tensor([labels]),
                lengths[b : b + 1],
                torch.tensor([len(labels)]),
                reduction="sum",
            )
        )

    wide = ctc_beam_search(log_probs, beam_width=1024, lengths=lengths)
    narrow = ctc_beam_search(log_probs, beam_width=4, lengths=lengths)
    for b in range(3):
        for labels, score in wide[b][:5]:  # a wide beam keeps all but a sliver of their paths
            assert exact(b, labels) - 1e-4 <= score <= exact(b, labels) + 1e-9
        for labels, score in narrow[b]:  # a narrow one sums some of them: a lower bound
            assert score <= exact(b, labels) + 1e-9


def test_beam_beats_greedy_where_paths_split_the_probability() -> None:
    # Blank 0.6, label 0.4 at both steps: the best path is blank-blank ("" with 0.36), but the
    # three paths 1-0, 0-1 and 1-1 together give "1" a probability of 0.64.
    log_probs = torch.tensor([[[0.6, 0.4], [0.6, 0.4]]]).log()
    assert ctc_greedy_decode(log_probs) == [[]]
    assert ctc_beam_decode(log_probs) == [[1]]
    (best, score), (second, second_score) = ctc_beam_search(log_probs)[0]
    assert (best, second) == ([1], [])
    assert math.exp(score) == pytest.approx(0.64) and math.exp(second_score) == pytest.approx(0.36)


def test_beam_respects_lengths() -> None:
    torch.manual_seed(1)
    log_probs = random_log_probs(2, 5, 3)
    lengths = torch.tensor([5, 3])
    decoded = ctc_beam_decode(log_probs, beam_width=27, lengths=lengths)
    for b, length in enumerate(lengths.tolist()):
        exact = brute_force(log_probs[b, :length], 0)
        assert tuple(decoded[b]) == max(exact, key=exact.__getitem__)


def greedy_by_hand(log_probs: torch.Tensor, lengths: list[int], blank: int) -> list[list[int]]:
    out = []
    for b, length in enumerate(lengths):
        path = [int(torch.argmax(log_probs[b, t])) for t in range(length)]
        out.append(list(collapse(path, blank)))
    return out


@pytest.mark.parametrize("blank", [0, 4])
def test_greedy_matches_a_plain_loop(blank: int) -> None:
    torch.manual_seed(0)
    log_probs = random_log_probs(6, 20, 5)
    lengths = [20, 1, 7, 13, 20, 2]
    assert ctc_greedy_decode(log_probs, torch.tensor(lengths), blank) == greedy_by_hand(
        log_probs, lengths, blank
    )
    assert ctc_greedy_decode(log_probs, blank=blank) == greedy_by_hand(log_probs, [20] * 6, blank)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ([1, 1, 0, 1, 2, 2, 0], [1, 1, 2]),
        ([0, 0, 0], []),
        ([3, 3, 3], [3]),
        ([1, 2, 1, 2], [1, 2, 1, 2]),
        ([0, 1, 0, 0, 1, 1, 0], [1, 1]),
    ],
)
def test_greedy_collapses_repeats_and_drops_blanks(path: list[int], expected: list[int]) -> None:
    log_probs = F.one_hot(torch.tensor([path]), 4).float().clamp(min=1e-6).log()
    assert ctc_greedy_decode(log_probs) == [expected]
    assert ctc_beam_decode(log_probs) == [expected]  # one dominant path: the beam agrees


@pytest.mark.parametrize("decode", [ctc_greedy_decode, ctc_beam_decode])
def test_decoders_reject_bad_inputs(decode: object) -> None:
    call = decode  # type: ignore[assignment]
    with pytest.raises(ShapeError, match=r"expected log-probabilities \(B, L, K\).*2-D"):
        call(torch.zeros(5, 3))  # type: ignore[operator]
    with pytest.raises(ValueError, match=r"blank has to be a class index in \[0, 3\)"):
        call(torch.zeros(1, 5, 3), blank=3)  # type: ignore[operator]
    with pytest.raises(ShapeError, match="lengths"):
        call(torch.zeros(2, 5, 3), lengths=torch.tensor([6, 1]))  # type: ignore[operator]


def test_beam_width_has_to_be_positive() -> None:
    with pytest.raises(ValueError, match="beam_width has to be a positive int, but got 0"):
        ctc_beam_search(torch.zeros(1, 2, 3), beam_width=0)


def test_empty_sequences_decode_to_nothing() -> None:
    empty = torch.zeros(2, 0, 3)
    assert ctc_greedy_decode(empty) == [[], []]
    assert ctc_beam_decode(empty) == [[], []]
