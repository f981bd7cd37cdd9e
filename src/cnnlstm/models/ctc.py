"""CTC decoding: best path (greedy) and prefix beam search over per-step log-probabilities.

A CTC model emits, at each of ``L`` steps, a distribution over ``K`` classes, one of them the
blank. A labelling's probability is the sum over every alignment (path of ``L`` classes) that
collapses to it: merge repeated classes, then drop blanks (``a a - a b`` -> ``a a b``).

- :func:`ctc_greedy_decode` takes the most probable class at each step and collapses the path.
  It is fast, but the most probable path need not collapse to the most probable labelling.
- :func:`ctc_beam_search` keeps the ``beam_width`` most probable labelling prefixes, each with
  the log-probability of its paths ending in a blank and in a non-blank (Hannun et al. 2014,
  "First-Pass Large Vocabulary Continuous Speech Recognition using Bi-Directional Recurrent
  DNNs"), all in log space. With a beam as wide as the number of prefixes it is exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from cnnlstm.errors import ShapeError
from cnnlstm.functional import check_lengths, format_shape

__all__ = ["ctc_beam_decode", "ctc_beam_search", "ctc_greedy_decode"]

_NEG_INF = -math.inf


def _check_inputs(
    who: str, log_probs: Tensor, lengths: Tensor | Sequence[int] | None, blank: int
) -> list[int]:
    """Check the shapes and the blank; return each sequence's length as a list of ints."""
    if log_probs.dim() != 3:
        raise ShapeError(
            f"{who}: expected log-probabilities (B, L, K), got a {log_probs.dim()}-D tensor of "
            f"shape {format_shape(log_probs.shape)}."
            + (
                " A single sequence needs a batch axis (x.unsqueeze(0))."
                if log_probs.dim() == 2
                else ""
            )
            + " For (L, B, K) as ctc_loss takes it, pass log_probs.transpose(0, 1)."
        ) from None
    batch, steps, classes = log_probs.shape
    if isinstance(blank, bool) or not isinstance(blank, int) or not 0 <= blank < classes:
        raise ValueError(
            f"{who}: blank has to be a class index in [0, {classes}), but got {blank!r}."
        )
    if lengths is None:
        return [steps] * batch
    if steps == 0:
        raise ShapeError(f"{who}: lengths given for sequences of L=0 steps.") from None
    checked: list[int] = check_lengths(torch.as_tensor(lengths), batch, steps, who=who).tolist()
    return checked


def ctc_greedy_decode(
    log_probs: Tensor, lengths: Tensor | Sequence[int] | None = None, blank: int = 0
) -> list[list[int]]:
    """Best-path decoding: the most probable class per step, repeats merged, blanks dropped.

    Args:
        log_probs: ``(B, L, K)`` per-step scores (log-probabilities or logits: only the
            argmax matters).
        lengths: ``(B,)`` valid steps of each sequence; steps past them are ignored.
        blank: the blank class.

    Returns:
        One list of class indices per sequence.

    Raises:
        ShapeError: ``log_probs`` is not 3-D, or ``lengths`` does not fit.
        ValueError: ``blank`` is not a class index.

    Example:
        >>> path = torch.tensor([[1, 1, 0, 1, 2, 2, 0]])
        >>> ctc_greedy_decode(torch.nn.functional.one_hot(path, 3).float().log())
        [[1, 1, 2]]
    """
    steps_per_sequence = _check_inputs("ctc_greedy_decode", log_probs, lengths, blank)
    best = log_probs.argmax(dim=-1).tolist()  # (B, L)
    decoded = []
    for path, steps in zip(best, steps_per_sequence, strict=True):
        labels = []
        previous = blank
        for k in path[:steps]:
            if k != blank and k != previous:
                labels.append(k)
            previous = k
        decoded.append(labels)
    return decoded


def _logaddexp(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    high, low = (a, b) if a > b else (b, a)
    return high + math.log1p(math.exp(low - high))


def _add(
    beams: dict[tuple[int, ...], tuple[float, float]],
    prefix: tuple[int, ...],
    to_blank: float,
    to_label: float,
) -> None:
    """Add path probability mass (log) ending in a blank / a label to ``beams[prefix]``."""
    old_blank, old_label = beams.get(prefix, (_NEG_INF, _NEG_INF))
    beams[prefix] = (_logaddexp(old_blank, to_blank), _logaddexp(old_label, to_label))


def _prefix_beam(
    rows: list[list[float]], *, beam_width: int, blank: int
) -> list[tuple[list[int], float]]:
    """Prefix beam search over one sequence's ``L x K`` log-probabilities."""
    # prefix -> (log P(paths so far collapse to prefix and end in blank), ... end in non-blank)
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, _NEG_INF)}
    for row in rows:
        candidates: dict[tuple[int, ...], tuple[float, float]] = {}
        for prefix, (p_blank, p_label) in beams.items():
            p_total = _logaddexp(p_blank, p_label)
            _add(candidates, prefix, p_total + row[blank], _NEG_INF)  # a blank keeps the prefix
            last = prefix[-1] if prefix else None
            for k, p_k in enumerate(row):
                if k == blank or p_k == _NEG_INF:
                    continue
                if k == last:
                    # Repeating the last label merges into it, unless a blank separates them.
                    _add(candidates, prefix, _NEG_INF, p_label + p_k)
                    _add(candidates, (*prefix, k), _NEG_INF, p_blank + p_k)
                else:
                    _add(candidates, (*prefix, k), _NEG_INF, p_total + p_k)
        scored = [(_logaddexp(*p), prefix, p) for prefix, p in candidates.items()]
        ranked = sorted((item for item in scored if item[0] > _NEG_INF), reverse=True)
        beams = {prefix: p for _, prefix, p in ranked[:beam_width]}
    best = [(list(prefix), _logaddexp(*p)) for prefix, p in beams.items()]
    return sorted(best, key=lambda item: item[1], reverse=True)


def ctc_beam_search(
    log_probs: Tensor,
    beam_width: int = 8,
    lengths: Tensor | Sequence[int] | None = None,
    blank: int = 0,
) -> list[list[tuple[list[int], float]]]:
    """CTC prefix beam search: the ``beam_width`` best labellings of each sequence with scores.

    Each labelling's score is the log of the summed probability of the paths that collapse to
    it (among those the beam kept), so with a beam that keeps every prefix it is the exact
    log-probability of the labelling.

    Args:
        log_probs: ``(B, L, K)`` log-probabilities (``log_softmax`` over ``K``).
        beam_width: how many prefixes survive each step.
        lengths: ``(B,)`` valid steps of each sequence; steps past them are ignored.
        blank: the blank class.

    Returns:
        Per sequence, up to ``beam_width`` ``(labels, log_probability)`` pairs, best first.

    Raises:
        ShapeError: ``log_probs`` is not 3-D, or ``lengths`` does not fit.
        ValueError: ``beam_width`` is not a positive int, or ``blank`` is not a class index.

    Example:
        >>> log_probs = torch.tensor([[[0.6, 0.4], [0.6, 0.4]]]).log()
        >>> [(labels, round(math.exp(score), 2)) for labels, score in ctc_beam_search(log_probs)[0]]
        [([1], 0.64), ([], 0.36)]
    """
    if isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(
            f"ctc_beam_search: beam_width has to be a positive int, but got {beam_width!r}."
        )
    steps_per_sequence = _check_inputs("ctc_beam_search", log_probs, lengths, blank)
    table = log_probs.detach().to(device="cpu", dtype=torch.float64).tolist()  # (B, L, K)
    return [
        _prefix_beam(rows[:steps], beam_width=beam_width, blank=blank)
        for rows, steps in zip(table, steps_per_sequence, strict=True)
    ]


def ctc_beam_decode(
    log_probs: Tensor,
    beam_width: int = 8,
    lengths: Tensor | Sequence[int] | None = None,
    blank: int = 0,
) -> list[list[int]]:
    """The best labelling of each sequence found by :func:`ctc_beam_search`.

    Example:
        >>> log_probs = torch.tensor([[[0.6, 0.4], [0.6, 0.4]]]).log()
        >>> ctc_beam_decode(log_probs), ctc_greedy_decode(log_probs)
        ([[1]], [[]])
    """
    return [
        hypotheses[0][0] if hypotheses else []
        for hypotheses in ctc_beam_search(log_probs, beam_width, lengths, blank)
    ]
