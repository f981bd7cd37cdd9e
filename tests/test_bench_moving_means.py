"""The moving-means benchmark runs and its bounded cases alarm on the share of rows they say."""

from __future__ import annotations

import json

import pytest

from benchmarks import bench_moving_means as bench


def test_the_cases_run_and_report_their_share_of_rows_over(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = bench.main(["--rows", "3000", "--sensors", "6", "--repeat", "1"])
    printed = capsys.readouterr().out
    document = json.loads(printed[: printed.index("\n### ")])
    assert document["rows"] == rows
    share = {row["case"]: row["rows_over_pct"] for row in rows}
    assert share["plain"] == 0.0 and share["none over"] == 0.0 and share["all over"] == 100.0
    assert 2.0 < share["4 % over"] < 8.0  # bounded steps change the later steps a little
    assert {"seconds", "us_per_row", "x_plain"} <= set(rows[0])  # timed, not judged here
    assert next(r for r in rows if r["case"] == "plain")["x_plain"] == 1.0
    assert "| case | rows_over_pct | seconds | us_per_row | x_plain |" in printed
