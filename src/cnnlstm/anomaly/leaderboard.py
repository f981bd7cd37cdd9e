"""SKAB's published results, and a table of ours beside them.

:data:`SKAB_LEADERBOARD` holds the published figures of SKAB's leaderboard
(:data:`SKAB_LEADERBOARD_SOURCE` says where they come from); :func:`leaderboard_table` writes
a Markdown table of our results (as :func:`~cnnlstm.anomaly.evaluation.skab_scores` and
:func:`~cnnlstm.anomaly.evaluation.nab_score` give them) beside those, sorted by F1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["SKAB_LEADERBOARD", "SKAB_LEADERBOARD_SOURCE", "PublishedResult", "leaderboard_table"]


@dataclass(frozen=True)
class PublishedResult:
    """One published SKAB result: F1 as a fraction, FAR and MAR in percent, NAB 0..100."""

    name: str
    f1: float | None = None
    far_percent: float | None = None
    mar_percent: float | None = None
    nab_standard: float | None = None


SKAB_LEADERBOARD_SOURCE = (
    "SKAB v0.9 leaderboards, waico/SKAB README (Katser & Kozitsin, doi:10.34740/KAGGLE/DSV/"
    "1693952); 'flag every row' is the floor a detector that flags every row reaches"
)

SKAB_LEADERBOARD: tuple[PublishedResult, ...] = (
    PublishedResult("Conv-AE", f1=0.78, far_percent=13.55, mar_percent=28.02, nab_standard=23.61),
    PublishedResult("MSET", f1=0.78, far_percent=39.73, mar_percent=14.13),
    PublishedResult("T-squared+Q (PCA)", f1=0.76, far_percent=26.62, mar_percent=24.92),
    PublishedResult("LSTM-AE", f1=0.74, far_percent=29.96, mar_percent=25.92),
    PublishedResult("flag every row (floor)", f1=0.70, far_percent=100.0, mar_percent=0.0),
    PublishedResult("MSCRED", f1=0.36, far_percent=49.94, mar_percent=69.88, nab_standard=32.42),
    PublishedResult(
        "Isolation forest", f1=0.29, far_percent=2.56, mar_percent=82.89, nab_standard=26.16
    ),
)


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None or math.isnan(value) else format(value, fmt)


def leaderboard_table(rows: Sequence[Mapping[str, Any]], *, published: bool = True) -> str:
    """A Markdown table of our results beside SKAB's published ones, sorted by F1.

    Args:
        rows: our results, each with ``"name"`` and any of ``"f1"``, ``"far"``, ``"mar"``
            (fractions, as :func:`skab_scores` returns them) and ``"nab"`` (0..100).
        published: add the rows of :data:`SKAB_LEADERBOARD`.

    Returns:
        Markdown: a header, one line per result (rows without F1 last, by NAB), and the source.

    Example:
        >>> print(leaderboard_table([{"name": "ours", "f1": 0.8, "far": 0.1, "mar": 0.2}],
        ...                         published=False))
        | Algorithm | F1 | FAR, % | MAR, % | NAB (standard) | Source |
        |---|---|---|---|---|---|
        | ours | 0.80 | 10.00 | 20.00 | - | this run |
    """
    entries: list[tuple[str, float | None, float | None, float | None, float | None, str]] = []
    for row in rows:
        if "name" not in row:
            raise ValueError(f"each row has to have a 'name', but got keys {sorted(row)}")

        def get(key: str, scale: float = 1.0, row: Mapping[str, Any] = row) -> float | None:
            value = row.get(key)
            return None if value is None else float(value) * scale

        entries.append(
            (
                str(row["name"]),
                get("f1"),
                get("far", 100.0),
                get("mar", 100.0),
                get("nab"),
                "this run",
            )
        )
    if published:
        for res in SKAB_LEADERBOARD:
            entries.append(
                (res.name, res.f1, res.far_percent, res.mar_percent, res.nab_standard, "SKAB")
            )

    def key(
        e: tuple[str, float | None, float | None, float | None, float | None, str],
    ) -> tuple[int, float, float]:
        f1 = e[1] if e[1] is not None and not math.isnan(e[1]) else None
        nab = e[4] if e[4] is not None and not math.isnan(e[4]) else -math.inf
        return (0, -f1, -nab) if f1 is not None else (1, 0.0, -nab)

    lines = [
        "| Algorithm | F1 | FAR, % | MAR, % | NAB (standard) | Source |",
        "|---|---|---|---|---|---|",
    ]
    for name, f1, far, mar, nab, source in sorted(entries, key=key):
        lines.append(
            f"| {name} | {_cell(f1, '.2f')} | {_cell(far, '.2f')} | {_cell(mar, '.2f')} | "
            f"{_cell(nab, '.2f')} | {source} |"
        )
    if published:
        lines.append("")
        lines.append(f"Published figures: {SKAB_LEADERBOARD_SOURCE}.")
    return "\n".join(lines)
