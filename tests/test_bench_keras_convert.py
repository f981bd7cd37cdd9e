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


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # inside Keras
def test_the_ratios_divide_the_named_timings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each ratio is the quotient of the two timings it names, whatever order they come in."""
    seconds = {"converted": 0.002, "keras": 0.010, "by_hand": 0.001, "python_loop": 0.004}

    def fake_timing(calls: dict[str, object], **_: object) -> dict[str, float]:
        return {name: seconds[name] for name in reversed(list(calls))}

    monkeypatch.setattr(bench, "time_interleaved", fake_timing)
    result = bench.main(["--quick", "--repeat", "1"])
    capsys.readouterr()
    for row in result["rows"]:
        assert row["converted_ms"] == pytest.approx(2.0) and row["by_hand_ms"] == pytest.approx(1.0)
        assert row["keras_ms"] == pytest.approx(10.0)
        assert row["converted_over_by_hand"] == pytest.approx(2.0)
        assert row["keras_over_converted"] == pytest.approx(5.0)
    (relu,) = (row for row in result["rows"] if row["case"].startswith("lstm_relu"))
    assert relu["python_loop_ms"] == pytest.approx(4.0)
    assert relu["python_loop_over_by_hand"] == pytest.approx(4.0)
    assert result["lstm_relu_python_loop_ms"] == pytest.approx(4.0)
    assert result["lstm_relu_python_loop_over_by_hand"] == pytest.approx(4.0)
    assert all("python_loop_ms" not in row for row in result["rows"] if row is not relu)
