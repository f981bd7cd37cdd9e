"""The leaderboard table: our rows placed by F1 among SKAB's published ones."""

from __future__ import annotations

import pytest

from cnnlstm.anomaly.leaderboard import leaderboard_table


def test_leaderboard_places_our_row_by_f1_with_percentages() -> None:
    table = leaderboard_table(
        [{"name": "cnnlstm", "f1": 0.75, "far": 0.2, "mar": 0.3, "nab": 21.5}]
    )
    lines = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    names = [line.split("|")[1].strip() for line in lines[1:]]
    assert names.index("T-squared+Q (PCA)") < names.index("cnnlstm") < names.index("LSTM-AE")
    ours = lines[1 + names.index("cnnlstm")]
    assert "| 0.75 | 20.00 | 30.00 | 21.50 | this run |" in ours
    conv = lines[1 + names.index("Conv-AE")]
    assert "| 0.78 | 13.55 | 28.02 | 23.61 | SKAB |" in conv
    assert "waico/SKAB" in table


def test_leaderboard_without_published_rows_and_rows_without_f1_last() -> None:
    table = leaderboard_table(
        [{"name": "cp only", "nab": 30.0}, {"name": "a", "f1": 0.5}], published=False
    )
    body = table.splitlines()[2:]
    assert body[0].startswith("| a | 0.50 | - |") and body[1].startswith("| cp only | - |")
    with pytest.raises(ValueError, match="'name'"):
        leaderboard_table([{"f1": 0.5}])
