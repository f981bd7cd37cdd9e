"""`cnnlstm demo`: every stage of every model printed, the losses fall, and the generated data's
labels follow from the data (or a falling loss would mean nothing)."""

from __future__ import annotations

import io

import pytest
import torch
from rich.console import Console

from cnnlstm import cli
from cnnlstm.commands import demo


def test_demo_prints_every_stage_of_every_model_and_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["demo", "--steps", "3"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    for stage in ["GlobalPoolBridge", "SpatialSequence", "TimeDistributed", "ConvLSTM", "LSTM"]:
        assert stage in out
    # Bridge outputs worked out by hand from the demo CNN: (N, C, H, W) -> (N, 16, H/4, W/4).
    assert "(2, 1, 32)" in out  # avgmax pooling of 16 channels: one step of 2*16 features
    assert "(2, 16, 64)" in out  # columns of a (16, 4, 16) map: 16 steps of 16*4 features
    assert "(2, 6, 16)" in out  # 6 frames, each pooled to 16 features
    assert "(2, 5, 8, 16, 16)" in out  # ConvLSTM keeps the grid: 8 hidden channels
    assert out.count("after 3 steps") == 4
    assert "Total params" in out


def test_demo_losses_fall_and_the_thread_count_is_restored() -> None:
    threads = torch.get_num_threads()
    results = demo.run_demo(steps=30, seed=1, console=Console(file=io.StringIO()))
    assert [title for title, _, _ in results] == [demo.title for demo in demo.DEMOS]
    for title, before, after in results:
        assert after < 0.8 * before, (title, before, after)
    assert torch.get_num_threads() == threads


# ----------------------------------------------------------------------------- generated data
# The labels have to follow from the data, or the demo's falling loss would mean nothing.


def test_blob_label_is_the_channel_with_the_blob() -> None:
    x, y = demo.make_blob_images(16, torch.Generator().manual_seed(0))
    assert x.shape == (16, 3, 32, 32)
    blob_channel = x.mean(dim=(2, 3)).argmax(dim=1)  # the blob adds 2.0 over 64 of 1024 pixels
    assert torch.equal(blob_channel, y)


def test_text_line_label_is_the_number_of_strokes_minus_one() -> None:
    x, y = demo.make_text_lines(16, torch.Generator().manual_seed(0))
    assert x.shape == (16, 1, 16, 64)
    for line, label in zip(x, y, strict=True):
        bright = (line[0].mean(dim=0) > 0.5).int().tolist()  # (64,) columns with a stroke
        starts = sum(1 for j in range(64) if bright[j] and (j == 0 or not bright[j - 1]))
        assert starts == int(label) + 1


def test_square_label_says_whether_it_grows() -> None:
    x, y = demo.make_growing_squares(16, torch.Generator().manual_seed(0))
    assert x.shape == (16, 6, 1, 16, 16)
    area = (x > 0.5).flatten(2).sum(dim=2).float()  # (16, 6) bright pixels per frame
    grows = (area[:, -1] > area[:, 0]).long()
    assert torch.equal(grows, 1 - y)


def test_dot_target_is_the_clip_and_each_frame_shifts_the_last() -> None:
    x, target = demo.make_moving_dots(8, torch.Generator().manual_seed(0))
    assert x.shape == (8, 6, 1, 16, 16)
    assert target is x
    for clip in x:
        first, second = clip[0, 0], clip[1, 0]
        shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
        (shift,) = [s for s in shifts if torch.equal(torch.roll(first, s, dims=(0, 1)), second)]
        for t in range(2, 6):
            assert torch.equal(torch.roll(clip[t - 1, 0], shift, dims=(0, 1)), clip[t, 0])
