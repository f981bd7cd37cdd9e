"""Anomaly-detection scores as the SKAB benchmark counts them: outlier metrics and NAB.

Two problems, two markups (SKAB, Katser and Kozitsin 2020):

* **Outlier detection**: every row is a binary decision. Counts of true and false positives and
  negatives are summed over all files first, then turned into F1, FAR and MAR
  (:func:`binary_counts`, :func:`skab_scores`). SKAB's F1 is ``TP / (TP + (FP + FN) / 2)``.
* **Changepoint detection**: a detector is scored on *when* it raises an alarm, with the
  Numenta Anomaly Benchmark (NAB) rules (:func:`nab_score`): each true changepoint opens a
  window to its right; the first alarm inside a window earns up to ``A_TP`` along NAB's scaled
  sigmoid (the earlier, the more), a window without an alarm costs ``A_FN``, and alarms outside
  every window cost up to ``A_FP``. The raw sum over all files is normalised so that the null
  detector (no alarms) scores 0 and the perfect detector (an alarm on every changepoint) 100.

Positions are row indices of a file sampled at a fixed rate (SKAB: 1 Hz, so a row index is
seconds since the file's first row). Functions here take numpy arrays or anything
``np.asarray`` takes; none needs torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cnnlstm.errors import ShapeError

__all__ = [
    "NAB_PROFILES",
    "Counts",
    "EdgeName",
    "NabProfile",
    "NabTally",
    "binary_counts",
    "changepoints_from_labels",
    "changepoints_from_predictions",
    "false_alarm_places",
    "format_skab_scores",
    "lowest_far",
    "nab_file_tally",
    "nab_score",
    "nab_windows",
    "scaled_sigmoid",
    "skab_scores",
    "spans_from_binary",
]

EdgeName = Literal["both", "rising"]
EDGES: tuple[str, ...] = get_args(EdgeName)


# ----------------------------------------------------------------------------------------------
# Binary labels
# ----------------------------------------------------------------------------------------------


def _as_binary(y: ArrayLike, name: str) -> NDArray[np.bool_]:
    """``y`` as a 1-D boolean array; labels have to be 0/1 (or booleans)."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ShapeError(
            f"{name}: expected a 1-D array of 0/1 labels (N,), got a {arr.ndim}-D array of "
            f"shape {tuple(arr.shape)}. Pass one file's labels at a time."
        ) from None
    if arr.dtype == np.bool_:
        return arr
    if arr.size and not np.isin(arr, (0, 1)).all():
        bad = np.unique(arr[~np.isin(arr, (0, 1))])[:5]
        raise ValueError(
            f"{name} has to hold only 0 and 1, but got other values such as {bad.tolist()}"
        )
    return arr.astype(bool)


def spans_from_binary(y: ArrayLike) -> list[tuple[int, int]]:
    """Runs of consecutive ones as ``(start, stop)`` row pairs, ``stop`` exclusive.

    Args:
        y: ``(N,)`` labels or predictions, 0/1.

    Returns:
        One ``(start, stop)`` pair per run of ones, in order.

    Example:
        >>> spans_from_binary([0, 1, 1, 0, 0, 1])
        [(1, 3), (5, 6)]
    """
    flags = _as_binary(y, "spans_from_binary(y)").astype(np.int8)
    edges = np.diff(np.concatenate(([0], flags, [0])))  # (N + 1,)
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


# ----------------------------------------------------------------------------------------------
# Outlier detection: counts summed over files, then SKAB's F1 / FAR / MAR
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """Confusion counts of binary decisions; add them to pool files (``sum(counts)`` works)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: Counts) -> Counts:
        if not isinstance(other, Counts):
            return NotImplemented
        return Counts(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    def __radd__(self, other: object) -> Counts:
        if other == 0:  # so that sum([...]) starts from 0
            return self
        if isinstance(other, Counts):
            return other + self
        return NotImplemented

    @property
    def total(self) -> int:
        """All rows counted."""
        return self.tp + self.fp + self.fn + self.tn


def _label_pair(
    y_true: ArrayLike, y_pred: ArrayLike, who: str
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    t = _as_binary(y_true, f"{who}(y_true)")
    p = _as_binary(y_pred, f"{who}(y_pred)")
    if t.shape != p.shape:
        raise ShapeError(
            f"{who}: y_true and y_pred have to be the same length, but got {t.shape[0]} "
            f"labels and {p.shape[0]} predictions. Predict one value per input row."
        ) from None
    return t, p


def binary_counts(y_true: ArrayLike, y_pred: ArrayLike) -> Counts:
    """Count true/false positives/negatives of one file's row-wise decisions.

    Args:
        y_true: ``(N,)`` labels, 1 = anomalous row.
        y_pred: ``(N,)`` predictions, 1 = flagged row.

    Returns:
        :class:`Counts`; add the counts of several files before scoring, as SKAB does.

    Raises:
        ShapeError: the two arrays are not 1-D of the same length.
        ValueError: a value is neither 0 nor 1.

    Example:
        >>> binary_counts([0, 1, 1, 0], [0, 1, 0, 1])
        Counts(tp=1, fp=1, fn=1, tn=1)
    """
    t, p = _label_pair(y_true, y_pred, "binary_counts")
    return Counts(
        tp=int(np.count_nonzero(t & p)),
        fp=int(np.count_nonzero(~t & p)),
        fn=int(np.count_nonzero(t & ~p)),
        tn=int(np.count_nonzero(~t & ~p)),
    )


def false_alarm_places(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, int]:
    """Where one file's false alarms fall, relative to its labelled anomalies.

    Normal rows are split in three: ``before`` the first anomalous row, ``between`` the first
    and the last one (gaps between anomalies), and ``after`` the last one; a file without an
    anomaly is all ``before``. In SKAB's experiments the rows after a fault is removed are
    labelled normal even where the plant has not returned to the state it was fitted on, so
    false alarms there and before the fault say different things about a detector.

    Args:
        y_true: ``(N,)`` labels, 1 = anomalous row.
        y_pred: ``(N,)`` predictions, 1 = flagged row.

    Returns:
        ``{"before", "between", "after"}``: the false alarms in each part, and
        ``{"normal_before", "normal_between", "normal_after"}``: the normal rows in each part.

    Raises:
        ShapeError: the two arrays are not 1-D of the same length.
        ValueError: a value is neither 0 nor 1.

    Example:
        >>> places = false_alarm_places([0, 0, 1, 0, 1, 0, 0], [1, 0, 1, 1, 0, 1, 1])
        >>> places["before"], places["between"], places["after"], places["normal_after"]
        (1, 1, 2, 2)
    """
    t, p = _label_pair(y_true, y_pred, "false_alarm_places")
    anomalous = np.flatnonzero(t)
    first, last = (anomalous[0], anomalous[-1]) if len(anomalous) else (len(t), len(t))
    parts = {
        "before": slice(0, first),
        "between": slice(first, last + 1),
        "after": slice(last + 1, None),
    }
    places: dict[str, int] = {}
    for name, rows in parts.items():
        normal = ~t[rows]
        places[name] = int(np.count_nonzero(normal & p[rows]))
        places[f"normal_{name}"] = int(np.count_nonzero(normal))
    return places


def lowest_far(y_true: ArrayLike, scores: ArrayLike, *, max_mar: float = 0.2) -> float:
    """The lowest false alarm rate any threshold on ``scores`` gets with MAR at most ``max_mar``.

    A diagnostic, not a detector: the threshold is chosen with the labels. Rows with a score
    above the threshold are flagged; every threshold between two distinct scores is tried. It
    says whether a score's *ranking* of the rows can meet a target at all, whatever its
    threshold.

    Args:
        y_true: ``(N,)`` labels, 1 = anomalous row, with at least one of each.
        scores: ``(N,)`` scores, higher = more anomalous.
        max_mar: the largest missing alarm rate allowed, in [0, 1].

    Returns:
        FAR as a fraction.

    Raises:
        ShapeError: the two arrays are not 1-D of the same length.
        ValueError: labels that are not 0/1, or not both present; ``max_mar`` outside [0, 1].

    Example:
        >>> lowest_far([0, 0, 1, 1, 0], [0.1, 0.5, 0.9, 0.4, 0.2], max_mar=0.0)
        0.3333333333333333
    """
    if not 0 <= max_mar <= 1:
        raise ValueError(f"max_mar has to be in [0, 1], but got {max_mar!r}")
    labels = _as_binary(y_true, "lowest_far(y_true)")
    values = np.asarray(scores, dtype=np.float64)
    if values.shape != labels.shape:
        raise ShapeError(
            f"lowest_far: y_true and scores have to be the same length, but got "
            f"{labels.shape[0]} labels and {values.shape} scores."
        ) from None
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        raise ValueError(
            f"lowest_far needs anomalous and normal rows, but got {positives} and {negatives}"
        )
    order = np.argsort(-values, kind="stable")
    ranked, hits = values[order], labels[order]
    # entry k: the top k rows flagged (k = 0..N); a threshold can only fall between values
    tp = np.concatenate([[0], np.cumsum(hits)])
    fp = np.concatenate([[0], np.cumsum(~hits)])
    cut = np.concatenate([[True], ranked[1:] != ranked[:-1], [True]])
    allowed = cut & (1 - tp / positives <= max_mar + 1e-12)  # flagging every row always is
    return float(fp[allowed].min() / negatives)


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def skab_scores(counts: Counts) -> dict[str, float]:
    """SKAB's outlier-detection scores from pooled counts.

    ``f1 = TP / (TP + (FP + FN) / 2)``, ``far = FP / (FP + TN)`` (false alarm rate),
    ``mar = FN / (FN + TP)`` (missing alarm rate), ``precision = TP / (TP + FP)``,
    ``recall = TP / (TP + FN)``. All are fractions in [0, 1] (the SKAB leaderboard prints FAR and
    MAR as percentages: see :func:`format_skab_scores`); a ratio with a zero denominator is NaN.

    Example:
        >>> s = skab_scores(Counts(tp=6, fp=2, fn=2, tn=10))
        >>> round(s["f1"], 3), round(s["far"], 3), round(s["mar"], 3)
        (0.75, 0.167, 0.25)
    """
    tp, fp, fn, tn = counts.tp, counts.fp, counts.fn, counts.tn
    return {
        "f1": _ratio(tp, tp + (fp + fn) / 2),
        "far": _ratio(fp, fp + tn),
        "mar": _ratio(fn, fn + tp),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
    }


def format_skab_scores(scores: Mapping[str, float]) -> str:
    """One line for a terminal: F1 and precision/recall as fractions, FAR and MAR in percent.

    Example:
        >>> format_skab_scores({"f1": 0.75, "far": 0.1667, "mar": 0.25, "precision": 0.75,
        ...                     "recall": 0.75})
        'precision 0.750  recall 0.750  F1 0.750  FAR 16.67 %  MAR 25.00 %'
    """
    return (
        f"precision {scores['precision']:.3f}  recall {scores['recall']:.3f}  "
        f"F1 {scores['f1']:.3f}  FAR {100 * scores['far']:.2f} %  MAR {100 * scores['mar']:.2f} %"
    )


# ----------------------------------------------------------------------------------------------
# Changepoints
# ----------------------------------------------------------------------------------------------


def changepoints_from_predictions(
    y_pred: ArrayLike, *, edges: EdgeName = "both"
) -> NDArray[np.int64]:
    """Rows where a binary prediction changes state: the alarms NAB scores.

    SKAB's notebooks turn row-wise predictions into changepoints with ``abs(pred.diff())`` and
    the first row kept as it is, so both the start (0 -> 1) and the end (1 -> 0) of a flagged
    span count, as does a span that starts on the first row. ``edges="rising"`` keeps only
    the starts.

    Args:
        y_pred: ``(N,)`` predictions, 0/1.
        edges: ``"both"`` (SKAB) or ``"rising"``.

    Returns:
        ``(K,)`` sorted row indices.

    Example:
        >>> changepoints_from_predictions([1, 1, 0, 0, 1, 1, 0]).tolist()
        [0, 2, 4, 6]
        >>> changepoints_from_predictions([1, 1, 0, 0, 1, 1, 0], edges="rising").shape
        (2,)
    """
    if edges not in EDGES:
        raise ValueError(f"edges has to be one of {EDGES}, but got {edges!r}")
    flags = _as_binary(y_pred, "changepoints_from_predictions(y_pred)").astype(np.int8)
    step = np.diff(flags, prepend=np.int8(0))  # (N,): +1 where a span starts, -1 where it ends
    keep = step != 0 if edges == "both" else step == 1
    return np.flatnonzero(keep).astype(np.int64)


def changepoints_from_labels(changepoint_column: ArrayLike) -> NDArray[np.int64]:
    """Rows marked 1 in a changepoint label column (SKAB's ``changepoint``).

    Example:
        >>> changepoints_from_labels([0.0, 1.0, 0.0, 0.0, 1.0]).tolist()
        [1, 4]
    """
    flags = _as_binary(changepoint_column, "changepoints_from_labels(changepoint_column)")
    return np.flatnonzero(flags).astype(np.int64)


# ----------------------------------------------------------------------------------------------
# NAB scoring
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NabProfile:
    """Weights of one NAB application profile: reward of a hit, costs of alarms and misses."""

    a_tp: float
    a_fp: float
    a_fn: float


NAB_PROFILES: dict[str, NabProfile] = {
    "standard": NabProfile(a_tp=1.0, a_fp=-0.11, a_fn=-1.0),
    "reward_low_fp": NabProfile(a_tp=1.0, a_fp=-0.22, a_fn=-1.0),
    "reward_low_fn": NabProfile(a_tp=1.0, a_fp=-0.11, a_fn=-2.0),
}


def scaled_sigmoid(position: float) -> float:
    """NAB's scoring curve ``2 * sigmoid(-5 * position) - 1``.

    ``position`` is -1 at a window's left edge (about 0.987), 0 at its right edge (0), positive
    past it (negative values); from 3 on it is exactly -1, as in NAB.

    Example:
        >>> round(scaled_sigmoid(-1.0), 5), scaled_sigmoid(0.0), scaled_sigmoid(3.0)
        (0.98661, 0.0, -1.0)
    """
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def _as_positions(x: ArrayLike, name: str) -> NDArray[np.int64]:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ShapeError(
            f"{name}: expected a 1-D array of row indices (K,), got shape {tuple(arr.shape)}."
        ) from None
    if arr.size and arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} has to hold row indices, but got {arr.dtype} values")
    whole = np.issubdtype(arr.dtype, np.integer) or (
        np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))
    )
    if arr.size and not whole:
        raise ValueError(f"{name} has to hold whole row indices, but got {arr[:5].tolist()}")
    out = np.unique(arr.astype(np.int64))
    if out.size and out[0] < 0:
        raise ValueError(f"{name} has to hold row indices >= 0, but got {int(out[0])}")
    return out


def _window_rows(window_seconds: float, period_seconds: float) -> int:
    if period_seconds <= 0:
        raise ValueError(f"period_seconds has to be > 0, but got {period_seconds}")
    rows = round(window_seconds / period_seconds)
    if rows < 1 or not math.isclose(rows * period_seconds, window_seconds):
        raise ValueError(
            f"window_seconds has to be a positive whole number of sampling periods "
            f"({period_seconds} s), but got {window_seconds}"
        )
    return rows


def nab_windows(
    true_changepoints: ArrayLike, *, window_rows: int, n_rows: int | None = None
) -> list[tuple[int, int]]:
    """Scoring windows ``(left, right)``, both inclusive, one per true changepoint.

    Each window starts on its changepoint and reaches ``window_rows`` rows to the right
    (SKAB's ``anomaly_window_destination="righter"``: an alarm cannot come before its event).
    A window that would reach the next changepoint ends on the row before it (SKAB's
    ``intersection_mode="cut left window"``), so every changepoint keeps a window that starts on
    it and an alarm on each changepoint scores 100. With ``n_rows`` the windows end at the
    file's last row.

    Example:
        >>> nab_windows([10, 30], window_rows=60, n_rows=100)
        [(10, 29), (30, 90)]
    """
    if window_rows < 1:
        raise ValueError(f"window_rows has to be >= 1, but got {window_rows}")
    cps = _as_positions(true_changepoints, "nab_windows(true_changepoints)").tolist()
    if n_rows is not None and cps and cps[-1] >= n_rows:
        raise ValueError(f"true changepoints have to be < n_rows={n_rows}, but got {cps[-1]}")
    windows: list[tuple[int, int]] = []
    for i, cp in enumerate(cps):
        right = cp + window_rows
        if i + 1 < len(cps):
            right = min(right, cps[i + 1] - 1)
        if n_rows is not None:
            right = min(right, n_rows - 1)
        windows.append((cp, right))
    return windows


@dataclass(frozen=True)
class NabTally:
    """Raw NAB sums of one or more files; add tallies of files, then :attr:`normalised`.

    Attributes:
        score: the detector's raw score.
        null: the null detector's raw score (every window missed).
        perfect: the perfect detector's raw score (every window hit on its first row).
        hits: windows with an alarm. misses: windows without. false_alarms: alarms outside.
    """

    score: float = 0.0
    null: float = 0.0
    perfect: float = 0.0
    hits: int = 0
    misses: int = 0
    false_alarms: int = 0

    def __add__(self, other: NabTally) -> NabTally:
        if not isinstance(other, NabTally):
            return NotImplemented
        return NabTally(
            self.score + other.score,
            self.null + other.null,
            self.perfect + other.perfect,
            self.hits + other.hits,
            self.misses + other.misses,
            self.false_alarms + other.false_alarms,
        )

    def __radd__(self, other: object) -> NabTally:
        if other == 0:
            return self
        if isinstance(other, NabTally):
            return other + self
        return NotImplemented

    @property
    def normalised(self) -> float:
        """``100 * (score - null) / (perfect - null)``: 0 for no alarms, 100 for perfect."""
        if self.perfect == self.null:
            raise ValueError(
                "NAB normalisation needs at least one true changepoint, but got none in any file"
            )
        return 100.0 * (self.score - self.null) / (self.perfect - self.null)


def _profile(profile: str | NabProfile) -> NabProfile:
    if isinstance(profile, NabProfile):
        return profile
    if profile not in NAB_PROFILES:
        raise ValueError(f"profile has to be one of {sorted(NAB_PROFILES)}, but got {profile!r}")
    return NAB_PROFILES[profile]


def nab_file_tally(
    true_changepoints: ArrayLike,
    predicted_changepoints: ArrayLike,
    *,
    window_seconds: float = 60,
    period_seconds: float = 1.0,
    profile: str | NabProfile = "standard",
    n_rows: int | None = None,
) -> NabTally:
    """Raw NAB score of one file, with the null and perfect scores it is normalised against.

    The rules follow NAB's ``Sweeper`` (``nab/sweeper.py``) with SKAB's window placement:

    * In a window ``[L, R]`` (``W = R - L + 1`` rows) only the earliest alarm counts, scoring
      ``A_TP * scaled_sigmoid(-(R - t + 1) / W) / scaled_sigmoid(-1)``: exactly ``A_TP`` on the
      changepoint itself, falling towards 0 at the window's right edge. Later alarms in the same
      window neither add nor cost.
    * A window without an alarm adds ``A_FN``.
    * An alarm before the first window costs ``A_FP``; one after a window costs
      ``A_FP * -scaled_sigmoid((t - R) / (W - 1))``: little just past the window, the full
      ``A_FP`` from three window widths on.

    NAB's probationary period (the first 15 % of each file unscored) is not applied: SKAB does
    not apply it either.

    Args:
        true_changepoints: ``(K,)`` row indices of true changepoints.
        predicted_changepoints: ``(M,)`` row indices of alarms (see
            :func:`changepoints_from_predictions`).
        window_seconds: window length to the right of each changepoint.
        period_seconds: sampling period of the rows (SKAB: 1 s).
        profile: ``"standard"``, ``"reward_low_fp"``, ``"reward_low_fn"`` or a
            :class:`NabProfile`.
        n_rows: the file's length, to end windows at its last row; ``None`` leaves them whole.

    Example:
        >>> t = nab_file_tally([100], [100])
        >>> t.score, t.null, t.perfect
        (1.0, -1.0, 1.0)
    """
    weights = _profile(profile)
    windows = nab_windows(
        true_changepoints,
        window_rows=_window_rows(window_seconds, period_seconds),
        n_rows=n_rows,
    )
    alarms = _as_positions(predicted_changepoints, "nab_file_tally(predicted_changepoints)")
    max_tp = scaled_sigmoid(-1.0)

    best: list[float | None] = [None] * len(windows)
    score = 0.0
    false_alarms = 0
    for t in alarms.tolist():
        inside = next((i for i, (lo, hi) in enumerate(windows) if lo <= t <= hi), None)
        if inside is not None:
            lo, hi = windows[inside]
            hit = weights.a_tp * scaled_sigmoid(-(hi - t + 1) / (hi - lo + 1)) / max_tp
            current = best[inside]
            best[inside] = hit if current is None else max(current, hit)
            continue
        false_alarms += 1
        before = [(lo, hi) for lo, hi in windows if hi < t]
        if not before:
            score += weights.a_fp
            continue
        lo, hi = before[-1]
        width = hi - lo + 1
        past = (t - hi) / (width - 1) if width > 1 else 3.0
        score += weights.a_fp * -scaled_sigmoid(past)
    hits = [b for b in best if b is not None]
    misses = len(windows) - len(hits)
    score += sum(hits) + misses * weights.a_fn
    return NabTally(
        score=score,
        null=len(windows) * weights.a_fn,
        perfect=len(windows) * weights.a_tp,
        hits=len(hits),
        misses=misses,
        false_alarms=false_alarms,
    )


def nab_score(
    true_changepoints_per_file: Sequence[ArrayLike],
    predicted_changepoints_per_file: Sequence[ArrayLike],
    *,
    window_seconds: float = 60,
    profile: str | NabProfile = "standard",
    period_seconds: float = 1.0,
    n_rows_per_file: Sequence[int] | None = None,
) -> float:
    """NAB score, 0 (null detector) to 100 (perfect detector), of alarms over several files.

    Raw scores, null scores and perfect scores are each summed over files, then normalised once
    (as SKAB and NAB both do). See :func:`nab_file_tally` for the rules.

    Args:
        true_changepoints_per_file: per file, ``(K,)`` row indices of true changepoints
            (:func:`changepoints_from_labels`). Rows are ``period_seconds`` apart: SKAB's 1 Hz
            rows make a row index the seconds since the file's first row.
        predicted_changepoints_per_file: per file, ``(M,)`` row indices of alarms
            (:func:`changepoints_from_predictions`).
        window_seconds: length of the scoring window to the right of each true changepoint.
        profile: ``"standard"`` (A_TP 1, A_FP -0.11, A_FN -1), ``"reward_low_fp"``,
            ``"reward_low_fn"`` or a :class:`NabProfile`.
        period_seconds: sampling period of the rows.
        n_rows_per_file: lengths of the files, to end windows at each file's last row.

    Returns:
        The normalised score; below 0 when false alarms outweigh hits.

    Example:
        >>> nab_score([[100], [50]], [[100], []])
        50.0
    """
    if len(true_changepoints_per_file) != len(predicted_changepoints_per_file):
        raise ValueError(
            f"predicted_changepoints_per_file has to have one entry per file "
            f"({len(true_changepoints_per_file)}), but got {len(predicted_changepoints_per_file)}"
        )
    if n_rows_per_file is not None and len(n_rows_per_file) != len(true_changepoints_per_file):
        raise ValueError(
            f"n_rows_per_file has to have one entry per file "
            f"({len(true_changepoints_per_file)}), but got {len(n_rows_per_file)}"
        )
    total = NabTally()
    for i, (true_cps, pred_cps) in enumerate(
        zip(true_changepoints_per_file, predicted_changepoints_per_file, strict=True)
    ):
        total = total + nab_file_tally(
            true_cps,
            pred_cps,
            window_seconds=window_seconds,
            period_seconds=period_seconds,
            profile=profile,
            n_rows=None if n_rows_per_file is None else n_rows_per_file[i],
        )
    return total.normalised
