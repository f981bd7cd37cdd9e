"""CRNN: any height and width, CTC lengths, padding kept out of the LSTM, and it learns.

The output length is checked against ``ceil(W / 4)`` worked out here, the log-probabilities
against a softmax's normalisation, and the padding against a changed right margin.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlstm.errors import ConfigError, ShapeError
from cnnlstm.models.backbones import HeightCollapsingCNN
from cnnlstm.models.crnn import CRNN, crnn
from cnnlstm.models.ctc import ctc_greedy_decode


def small_crnn(**kwargs: object) -> CRNN:
    arguments: dict[str, object] = {
        "num_classes": 6,
        "image_height": 16,
        "channels": (4, 8),
        "hidden_size": 6,
        "num_layers": 2,
        **kwargs,
    }
    model = crnn(**arguments)  # type: ignore[arg-type]
    assert isinstance(model, CRNN)
    return model.eval()


@pytest.mark.parametrize(("height", "width"), [(16, 64), (32, 128), (9, 23), (1, 1), (48, 8)])
def test_any_height_and_width(height: int, width: int) -> None:
    model = small_crnn()
    x = torch.rand(2, 1, height, width)
    with torch.no_grad():
        log_probs = model(x)
    steps = math.ceil(width / 4)
    assert log_probs.shape == (2, steps, 6)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(2, steps))
    assert model.output_lengths(torch.tensor([width, width])).tolist() == [steps, steps]


def test_structure_and_interface() -> None:
    model = small_crnn(num_layers=3)
    assert model.example_input_shape == (1, 16, 64)
    lstm = model.sequence.rnn
    assert isinstance(lstm, nn.LSTM) and lstm.bidirectional and lstm.num_layers == 3
    assert lstm.input_size == 8  # the height is collapsed: F = C'
    assert model.num_features == 12
    assert isinstance(model.backbone, HeightCollapsingCNN)
    x = torch.rand(2, 1, 16, 40)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (2, 10, 12)
        torch.testing.assert_close(model.forward_head(features), model(x))


def test_output_lengths_follow_the_widths() -> None:
    model = small_crnn()
    widths = torch.tensor([128, 37, 4, 1])
    expected = [math.ceil(w / 4) for w in widths.tolist()]
    assert model.output_lengths(widths).tolist() == expected
    assert model.output_lengths([9]).dtype == torch.int64


def test_padding_is_kept_out_of_the_lstm() -> None:
    model = small_crnn()
    x = torch.rand(2, 1, 16, 64)
    widths = torch.tensor([24, 64])  # the first line is 24 px wide: 6 steps, then padding
    changed = x.clone()
    changed[0, :, :, 40:] = torch.rand(1, 16, 24)  # far past the CNN's reach from column 24
    with torch.no_grad():
        with_widths = model(x, widths)
        # Bitwise: the packed LSTM never reads the steps past a line's width, and the changed
        # columns are past the CNN's reach, so the first 6 steps see the same numbers.
        assert torch.equal(
            model(changed, widths)[0, :6], with_widths[0, :6]
        )  # the backward direction starts at each line's own last step
        # Without widths the backward LSTM reads the changed margin into the first steps.
        assert not torch.allclose(model(changed)[0, :6], model(x)[0, :6])
        features = model.forward_features(x, widths)
        assert torch.equal(features[0, 6:], torch.zeros_like(features[0, 6:]))


def test_custom_backbone_sizes_lengths_by_probing() -> None:
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, stride=(4, 3), padding=1), nn.ReLU())
    model = crnn(num_classes=5, image_height=8, backbone=cnn, hidden_size=4, num_layers=1)
    assert isinstance(model, CRNN)
    widths = torch.tensor([30, 7])
    expected = [(w + 2 - 3) // 3 + 1 for w in widths.tolist()]  # the conv's output width
    assert model.output_lengths(widths).tolist() == expected
    assert model(torch.rand(2, 1, 8, 30)).shape == (2, expected[0], 5)
    # This backbone keeps H' = 2, so the features depend on the height: other heights fail.
    with pytest.raises(ShapeError, match="sized for F="):
        model(torch.rand(2, 1, 16, 30))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_classes": 1}, "num_classes has to be at least 2"),
        ({"num_classes": 0}, "num_classes has to be a positive int"),
        ({"image_height": 0}, "image_height has to be a positive int"),
        ({"channels": []}, "channels has to be a non-empty sequence"),
        ({"num_layers": 0}, "num_layers has to be a positive int"),
        ({"backbone": 3}, "backbone has to be an nn.Module or None"),
    ],
)
def test_bad_configs(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        crnn(**kwargs)  # type: ignore[arg-type]


def test_a_few_ctc_steps_fit_two_lines() -> None:
    torch.manual_seed(0)
    model = small_crnn(num_classes=4, hidden_size=16, num_layers=1, channels=(8, 16)).train()
    # Two synthetic "lines": bright vertical bars at class-specific heights, 48 px wide.
    images = torch.zeros(2, 1, 16, 48)
    targets = [[1, 2, 3], [3, 1]]
    for b, labels in enumerate(targets):
        for i, label in enumerate(labels):
            images[b, 0, 4 * label - 4 : 4 * label, 12 * i + 4 : 12 * i + 10] = 1.0
    flat = torch.tensor([k for labels in targets for k in labels])
    target_lengths = torch.tensor([len(labels) for labels in targets])
    input_lengths = model.output_lengths(torch.tensor([48, 48]))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)

    def loss() -> torch.Tensor:
        log_probs = model(images).transpose(0, 1)  # (L, B, K) as ctc_loss takes it
        return F.ctc_loss(log_probs, flat, input_lengths, target_lengths, blank=0)

    with torch.no_grad():
        first = float(loss())
    for _ in range(60):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        assert float(loss()) < 0.2 * first
        assert ctc_greedy_decode(model(images)) == targets
