"""The quality benchmarks run end to end in --quick mode, so they cannot rot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import quality
from cnnlstm.data import MovingDigitsDataModule

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def _printed_document(printed: str) -> dict[str, object]:
    """The JSON document ``report`` prints before its Markdown table."""
    document: dict[str, object] = json.loads(printed[: printed.index("\n### ")])
    return document


def test_digit_clips_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = quality.main(["digit-clips", "--quick", "--threads", "1", "--output", str(tmp_path)])
    printed = capsys.readouterr().out
    assert _printed_document(printed)["rows"] == result["rows"]
    assert "| bridge | test_acc |" in printed
    assert [row["bridge"] for row in result["rows"]] == ["temporal", "single_frame", "convlstm"]
    for row in result["rows"]:
        assert 0.0 <= row["test_acc"] <= 1.0 and row["params"] > 0 and row["seconds"] > 0
    # The single-frame model is the temporal one without its LSTM: fewer parameters.
    params = {row["bridge"]: row["params"] for row in result["rows"]}
    assert params["single_frame"] < params["temporal"] < params["convlstm"]
    accs = {row["bridge"]: row["test_acc"] for row in result["rows"]}
    assert result["temporal_minus_single_frame"] == pytest.approx(
        accs["temporal"] - accs["single_frame"]
    )
    assert result["bar_met"] == (accs["temporal"] > accs["single_frame"])
    # 16 test clips: every accuracy is a whole number of them.
    assert all(abs(acc * 16 - round(acc * 16)) < 1e-4 for acc in accs.values())
    written = json.loads((tmp_path / "quality_digit_clips-quick.json").read_text())
    assert written["rows"] == result["rows"] and written["threads"] == 1


def test_moving_digits_quick_scores_copy_last_by_hand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["moving-digits", "--quick", "--threads", "1", "--output", str(tmp_path)]
    if not MNIST.is_dir():
        args += ["--mnist-root", "none"]
    result = quality.main(args)
    capsys.readouterr()
    ours, copy_last, blank, openstl = result["rows"]
    assert openstl["mse_per_frame"] == 29.80 and openstl["epochs"] == 200
    assert ours["mse_per_frame"] > 0 and ours["params"] > 0

    # The copy-last baseline recomputed the slow, obvious way on the same held-out sequences:
    # for every sequence and target frame, the squared error summed over the frame's pixels.
    data = MovingDigitsDataModule(
        train_samples=8,
        val_samples=4,
        test_samples=4,
        mnist_root=None if "none" in args else str(MNIST),
        seed=0,
    )
    errors, ink = [], []
    for inputs, targets in data.test_set:  # type: ignore[union-attr]
        last = inputs[-1]
        for frame in targets:
            errors.append(float(((frame.double() - last.double()) ** 2).sum()))
            ink.append(float((frame.double() ** 2).sum()))
    expected = sum(errors) / len(errors)
    assert copy_last["mse_per_frame"] == pytest.approx(expected, rel=1e-4)
    assert blank["mse_per_frame"] == pytest.approx(sum(ink) / len(ink), rel=1e-4)
    assert result["mse_ratio_to_copy_last"] == pytest.approx(ours["mse_per_frame"] / expected)
    assert result["bar_met"] == (
        ours["mse_per_frame"] < 0.5 * expected and ours["mse_per_frame"] < sum(ink) / len(ink)
    )


def test_text_lines_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = quality.main(
        ["text-lines", "--quick", "--threads", "1", "--seed", "3", "--output", str(tmp_path)]
    )
    printed = capsys.readouterr().out
    assert "| decoder | word_acc | cer |" in printed
    greedy, beam = result["rows"]
    assert greedy["decoder"] == "greedy" and beam["decoder"].startswith("beam")
    for row in (greedy, beam):
        assert 0.0 <= row["word_acc"] <= 1.0 and row["cer"] >= 0.0
    assert "seed 5" in result["test_set"] and result["seed"] == 3


def test_bad_benchmark_name_exits() -> None:
    with pytest.raises(SystemExit):
        quality.main(["no-such-benchmark", "--quick"])
