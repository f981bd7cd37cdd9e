"""cnnlstm.summary: shapes and parameter counts checked against numbers worked out by hand."""

from __future__ import annotations

import io

import pytest
import torch
from rich.console import Console
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from cnnlstm.layers.pooling import GlobalPoolBridge
from cnnlstm.layers.time_distributed import TimeDistributed
from cnnlstm.models.cnnlstm import CNNLSTM
from cnnlstm.summary import Summary, summary


def small_cnn() -> nn.Sequential:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3),  # 3*8*3*3 + 8 = 224
        nn.BatchNorm2d(8),  # weight 8 + bias 8 = 16, frozen below
        nn.ReLU(),
        nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
        nn.Linear(8, 5),  # 8*5 + 5 = 45
    )
    for p in model[1].parameters():
        p.requires_grad_(False)
    return model


def test_rows_of_a_known_model() -> None:
    s = summary(small_cnn(), (2, 3, 32, 32))
    got = [(r.name, r.type, r.output_shape, r.params, r.trainable_params, r.depth) for r in s.rows]
    assert got == [
        ("", "Sequential", (2, 5), 285, 269, 0),
        ("0", "Conv2d", (2, 8, 30, 30), 224, 224, 1),
        ("1", "BatchNorm2d", (2, 8, 30, 30), 16, 0, 1),
        ("2", "ReLU", (2, 8, 30, 30), 0, 0, 1),
        ("3", "Sequential", (2, 8), 0, 0, 1),
        ("3.0", "AdaptiveAvgPool2d", (2, 8, 1, 1), 0, 0, 2),
        ("3.1", "Flatten", (2, 8), 0, 0, 2),
        ("4", "Linear", (2, 5), 45, 45, 1),
    ]
    assert (s.total_params, s.trainable_params, s.non_trainable_params) == (285, 269, 16)
    assert s.output_shape == (2, 5)


@pytest.mark.parametrize(("depth", "names"), [(0, [""]), (1, ["", "0", "1", "2", "3", "4"])])
def test_depth_limits_rows_but_not_totals(depth: int, names: list[str]) -> None:
    s = summary(small_cnn(), (2, 3, 16, 16), depth=depth)
    assert [r.name for r in s.rows] == names
    assert s.total_params == 285


class Recurrent(nn.Module):
    """An LSTM (tuple output) and a GRU fed a packed sequence (PackedSequence output)."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(4, 6, batch_first=True)  # 4*(4*6) + 4*(6*6) + 2*4*6 = 288
        self.gru = nn.GRU(6, 3, batch_first=True)  # 3*(6*3) + 3*(3*3) + 2*3*3 = 99
        self.unused = nn.Linear(2, 2)  # 2*2 + 2 = 6

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        out, _ = self.lstm(x)
        packed = pack_padded_sequence(out, lengths, batch_first=True, enforce_sorted=False)
        _, h = self.gru(packed)
        return h[-1]


def test_tuple_and_packed_outputs_show_first_tensor_and_unrun_modules_show_none() -> None:
    s = summary(Recurrent(), (3, 7, 4), lengths=[7, 2, 5])
    rows = {r.name: r for r in s.rows}
    assert rows["lstm"].output_shape == (3, 7, 6)
    assert rows["gru"].output_shape == (3, 7, 3)  # padded shape of the packed output
    assert rows["unused"].output_shape is None
    assert (rows["lstm"].params, rows["gru"].params, rows["unused"].params) == (288, 99, 6)
    assert s.total_params == 288 + 99 + 6
    assert "--" in str(s)


def test_shared_parameters_count_once() -> None:
    linear = nn.Linear(4, 4)  # 20
    model = nn.Sequential(linear, nn.ReLU(), linear)
    s = summary(model, (2, 4))
    assert s.total_params == 20


def test_training_flags_and_weights_are_restored() -> None:
    model = small_cnn()
    model.train()
    model[1].eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    summary(model, (4, 3, 8, 8))
    assert [m.training for m in model.modules()] == [
        True,
        True,
        False,
        True,
        True,
        True,
        True,
        True,
    ]
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key  # eval mode: BatchNorm stats untouched


def test_plain_and_rich_rendering() -> None:
    s = summary(small_cnn(), (2, 3, 32, 32))
    text = str(s)
    lines = text.splitlines()
    assert lines[0] == "Sequential on input (2, 3, 32, 32)"
    assert any("Conv2d" in line and "(2, 8, 30, 30)" in line and "224" in line for line in lines)
    assert lines[-3:] == ["Total params: 285", "Trainable params: 269", "Non-trainable params: 16"]
    console = Console(file=io.StringIO(), width=120, record=True)
    console.print(s)
    rendered = console.export_text()
    assert "AdaptiveAvgPool2d" in rendered
    assert "(2, 8, 1, 1)" in rendered
    assert "Total params: 285" in rendered


def test_large_counts_have_thousands_separators() -> None:
    s = summary(nn.Linear(1000, 1000), (1, 1000))
    assert isinstance(s, Summary)
    assert s.total_params == 1_001_000
    assert "1,001,000" in str(s)


@pytest.mark.parametrize("shape", [(), (2, 0, 4), (2, -1), (2.0, 4), "abc"])
def test_bad_input_shape(shape: object) -> None:
    with pytest.raises(ValueError, match="input_shape has to be"):
        summary(nn.Identity(), shape)  # type: ignore[arg-type]


def test_the_models_own_shape_without_a_batch_axis_says_what_to_pass() -> None:
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1))
    model = CNNLSTM(cnn, GlobalPoolBridge("avg"), input_shape=(5, 1, 8, 8), hidden_size=4)
    with pytest.raises(ValueError, match=r"shape of one sample; pass \(2, 5, 1, 8, 8\)"):
        summary(model, model.input_shape)
    assert summary(model, (2, *model.input_shape)).total_params > 0


def test_bad_depth() -> None:
    with pytest.raises(ValueError, match="depth has to be a non-negative integer, but got -1"):
        summary(nn.Identity(), (2, 3), depth=-1)


def test_a_cnnlstm_clip_model_with_lengths() -> None:
    frame_cnn = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2))  # 3*8*9 + 8 = 224
    model = CNNLSTM(
        TimeDistributed(frame_cnn),
        GlobalPoolBridge("avg"),
        input_shape=(4, 3, 8, 8),
        hidden_size=5,  # LSTM(8, 5): 4*5*8 + 4*5*5 + 2*4*5 = 300
        head=2,  # Linear(5, 2): 5*2 + 2 = 12
    )
    s = summary(model, (2, 4, 3, 8, 8), lengths=[4, 2], depth=2)
    shapes = {r.name: r.output_shape for r in s.rows}
    assert shapes == {
        "": (2, 2),
        "backbone": (2, 4, 8, 4, 4),
        "backbone.module": (6, 8, 4, 4),  # the 4 + 2 valid frames only
        "bridge": (2, 4, 8),
        "rnn": (2, 4, 5),  # padded shape of the packed output
        "head_drop": (2, 5),
        "head": (2, 2),
    }
    params = {r.name: r.params for r in s.rows}
    assert (params["backbone"], params["rnn"], params["head"]) == (224, 300, 12)
    assert s.total_params == 536


class Features(nn.Module):
    """A part with the forward_features / forward_head interface, used through those methods."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.head = nn.Linear(4, 2)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.conv(x).mean(dim=(2, 3))  # (B, 4)

    def forward_head(self, features: Tensor) -> Tensor:
        return self.head(features).unsqueeze(1)  # (B, 1, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


class UsesMethods(nn.Module):
    """Calls its parts' methods, never the parts: their forward hooks do not fire."""

    def __init__(self) -> None:
        super().__init__()
        self.both = Features()
        self.features_only = Features()

    def forward(self, x: Tensor) -> Tensor:
        head = self.both.forward_head(self.both.forward_features(x))  # (B, 1, 2)
        return head[:, 0] + self.features_only.forward_features(x)[:, :2]  # (B, 2)


def test_a_part_used_through_its_methods_shows_what_they_return() -> None:
    model = UsesMethods()
    s = summary(model, (3, 1, 8, 8))
    rows = {r.name: r for r in s.rows}
    assert rows["both"].output_shape == (3, 1, 2)  # forward_head's output
    assert rows["features_only"].output_shape == (3, 4)  # no head call: the features
    assert rows["both.conv"].output_shape == (3, 4, 6, 6)
    # The methods are the class's again afterwards, and the model still runs.
    for part in (model.both, model.features_only):
        assert "forward_head" not in vars(part) and "forward_features" not in vars(part)
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 2)


def test_the_crnn_sequence_row_shows_its_real_shape() -> None:
    from cnnlstm.models.crnn import crnn

    model = crnn(num_classes=5, channels=(4, 8), hidden_size=6, num_layers=1).eval()
    s = summary(model, (2, 1, 16, 40))
    rows = {r.name: r for r in s.rows}
    # What the sequence part returns, computed by calling it directly.
    with torch.no_grad():
        sequence = model.sequence
        expected = sequence.forward_head(sequence.forward_features(torch.zeros(2, 1, 16, 40)))
    assert rows["sequence"].output_shape == tuple(expected.shape) == (2, 10, 5)
    assert all(row.output_shape is not None for row in s.rows)
    line = next(text for text in str(s).splitlines() if text.strip().startswith("sequence "))
    assert "(2, 10, 5)" in line
