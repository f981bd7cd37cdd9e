"""The Keras conversion benchmark runs end to end in --quick mode, so it cannot rot."""

from __future__ import annotations

import json

import pytest

from benchmarks import bench_keras_convert as bench


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # inside Keras
def test_quick_run_prints_json_and_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    result = bench.main(["--quick", "--repeat", "1"])
    printed = capsys.readouterr().out
    document = json.loads(printed[: printed.index("\n### ")])
    assert document["rows"] == result["rows"]
    assert "| case | size | converted_ms |" in printed
    cases = [row["case"] for row in result["rows"]]
    assert cases[:2] == ["video_classifier", "conv_lstm"] and cases[2].startswith("lstm_relu")
    for row in result["rows"]:
        for key in ("converted_ms", "by_hand_ms", "keras_ms"):
            assert row[key] > 0, key
        assert row["converted_over_by_hand"] == pytest.approx(
            row["converted_ms"] / row["by_hand_ms"]
        )
