"""Tests for cnnlstm.data.text_lines: the code book, targets, rendering bounds, CTC collation."""

from __future__ import annotations

import string
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlstm.alphabet import DEFAULT_ALPHABET
from cnnlstm.data.text_lines import TextLines

DATA = TextLines(num_samples=50)


@given(st.text(alphabet=DEFAULT_ALPHABET, max_size=30))
@settings(max_examples=50, deadline=None)
def test_decode_inverts_encode(text: str) -> None:
    codes = DATA.encode(text)
    assert codes.dtype == torch.int64 and codes.shape == (len(text),)
    assert DATA.decode(codes) == text
    if text:
        assert int(codes.min()) >= 1 and int(codes.max()) <= len(DEFAULT_ALPHABET)


def test_code_book() -> None:
    assert DATA.num_classes == 37 and DATA.alphabet == string.digits + string.ascii_lowercase
    # class k + 1 is alphabet[k]; 0 is the blank
    assert DATA.encode("0az9").tolist() == [1, 11, 36, 10]
    assert DATA.decode([0, 1, 0, 0, 11]) == "0a"
    assert DATA.decode(torch.tensor([11, 11, 0, 11, 12, 12]), ctc=True) == "aab"
    custom = TextLines(num_samples=1, alphabet="xy ")
    assert custom.num_classes == 4 and custom.encode("y x").tolist() == [2, 3, 1]
    with pytest.raises(ValueError, match=r"alphabet.*'A'"):
        DATA.encode("aA")
    with pytest.raises(ValueError, match="indices have to be in \\[0, 37\\)"):
        DATA.decode([37])


def test_targets_spell_the_text() -> None:
    data = TextLines(num_samples=30, min_length=2, max_length=6, seed=4)
    lengths = set()
    for i in range(30):
        image, target = data[i]
        text = data.text(i)
        assert image.shape == (1, 32, 128) and image.dtype == torch.float32
        assert target.dtype == torch.int64
        assert data.decode(target) == text
        assert [DEFAULT_ALPHABET.index(c) + 1 for c in text] == target.tolist()
        assert 2 <= len(text) <= 6 and set(text) <= set(DEFAULT_ALPHABET)
        lengths.add(len(text))
    assert len(lengths) >= 4


def test_images_vary_and_repeat_by_seed() -> None:
    images = [DATA[i][0] for i in range(6)]
    for a in range(6):
        for b in range(a + 1, 6):
            assert not torch.equal(images[a], images[b])
    assert torch.equal(DATA[3][0], TextLines(num_samples=50)[3][0])
    assert DATA.text(3) == TextLines(num_samples=50).text(3)
    assert not torch.equal(DATA[3][0], TextLines(num_samples=50, seed=1)[3][0])
    # the same string is drawn differently each time: jitter, not a fixed picture
    same = TextLines(num_samples=4, alphabet="7", min_length=3, max_length=3)
    assert {same.text(i) for i in range(4)} == {"777"}
    assert not torch.equal(same[0][0], same[1][0])


@pytest.mark.parametrize(
    ("kwargs", "lengths"),
    [({}, (3, 10)), ({"font_size": (28, 30)}, (15, 25)), ({"height": 20, "width": 60}, (1, 12))],
)
def test_ink_stays_inside_the_image(kwargs: dict[str, Any], lengths: tuple[int, int]) -> None:
    """With noise off, the ink's bounding box keeps off the border: nothing is clipped."""
    data = TextLines(
        num_samples=20, noise=0.0, min_length=lengths[0], max_length=lengths[1], **kwargs
    )
    for i in range(20):
        image = data.image(i)
        assert image.shape == (data.height, data.width)
        rows, cols = np.nonzero(image > 0.02)
        assert len(rows) > 20  # there is ink
        assert rows.min() >= 1 and rows.max() <= data.height - 2
        assert cols.min() >= 1 and cols.max() <= data.width - 2


def ink_span(image: np.ndarray) -> int:
    cols = np.nonzero(image.max(axis=0) > 0.02)[0]
    return int(cols.max() - cols.min() + 1)


def test_long_lines_are_shrunk_to_fit_not_cut() -> None:
    short = TextLines(num_samples=30, noise=0.0)
    spans = [ink_span(short.image(i)) for i in range(30)]
    assert np.corrcoef(spans, [len(short.text(i)) for i in range(30)])[0, 1] > 0.5
    long = TextLines(num_samples=10, noise=0.0, blur=0.0, min_length=20, max_length=25)
    room = long.width - 2 * long.margin
    for i in range(10):
        assert room - 3 <= ink_span(long.image(i)) <= room  # the whole line, scaled to the room


def test_noise_and_blur_change_the_image() -> None:
    clean = TextLines(num_samples=2, noise=0.0, blur=0.0).image(0)
    noisy = TextLines(num_samples=2, noise=0.3, blur=0.0).image(0)
    assert set(np.unique(clean)) - {0.0} and (clean == 0.0).mean() > 0.5
    assert (noisy == 0.0).mean() < (clean == 0.0).mean()


def test_collate_for_ctc() -> None:
    items = [DATA[i] for i in range(4)]
    images, targets, lengths = TextLines.collate(items)
    assert images.shape == (4, 1, 32, 128)
    assert lengths.tolist() == [len(DATA.text(i)) for i in range(4)]
    assert targets.shape == (int(lengths.sum()),)
    assert DATA.decode(targets[: lengths[0]]) == DATA.text(0)
    assert DATA.decode(targets[lengths[0] : lengths[0] + lengths[1]]) == DATA.text(1)
    # the layout ctc_loss takes: (T, B, C) log-probs, flat targets, lengths
    log_probs = torch.randn(32, 4, DATA.num_classes).log_softmax(-1)
    loss = F.ctc_loss(log_probs, targets, torch.full((4,), 32), lengths)
    assert torch.isfinite(loss)
    loader = torch.utils.data.DataLoader(DATA, batch_size=3, collate_fn=TextLines.collate)
    assert next(iter(loader))[0].shape == (3, 1, 32, 128)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alphabet": ""}, "alphabet has to hold at least one character"),
        ({"alphabet": "abca"}, "alphabet has to hold each character once.*'a'"),
        ({"min_length": 0}, "min_length"),
        ({"min_length": 5, "max_length": 4}, "min_length"),
        ({"font_size": (20, 10)}, "font_size"),
        ({"scale": (0.0, 1.0)}, "scale"),
        ({"noise": -0.1}, "noise"),
        ({"height": 6}, "height and width have to be at least 8"),
        ({"height": 10, "blur": 2.0}, "height and width have to exceed"),
        ({"num_samples": 0}, "num_samples"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TextLines(**kwargs)
