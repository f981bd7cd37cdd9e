"""cnnlstm.alphabet: CTC's class numbering, checked against a by-hand numbering."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from cnnlstm.alphabet import DEFAULT_ALPHABET, check_alphabet, decode_classes, encode_text

ALPHABETS = st.text(min_size=1, max_size=20).map(lambda s: "".join(dict.fromkeys(s)))


@given(ALPHABETS, st.data())
def test_encode_numbers_characters_from_one_and_decode_inverts_it(
    alphabet: str, data: st.DataObject
) -> None:
    text = data.draw(st.text(alphabet=alphabet, max_size=30))
    codes = encode_text(text, alphabet)
    assert codes.dtype == torch.int64 and codes.shape == (len(text),)
    assert codes.tolist() == [alphabet.index(c) + 1 for c in text]
    assert decode_classes(codes, alphabet) == text
    assert decode_classes(codes.tolist(), alphabet) == text


def test_decode_drops_blanks_and_collapses_repeats_only_for_ctc() -> None:
    assert decode_classes([2, 2, 0, 2, 1, 0], "ab") == "bbba"
    assert decode_classes([2, 2, 0, 2, 1, 0], "ab", ctc=True) == "bba"
    assert decode_classes([], "ab") == ""


@pytest.mark.parametrize("indices", [[3], [-1], [0, 1, 7]])
def test_decode_refuses_classes_outside_the_alphabet(indices: list[int]) -> None:
    with pytest.raises(ValueError, match=r"indices have to be in \[0, 3\)"):
        decode_classes(indices, "ab")


def test_encode_names_a_character_outside_the_alphabet() -> None:
    with pytest.raises(ValueError, match="alphabet 'ab', but got 'abc' with 'c'"):
        encode_text("abc", "ab")


def test_check_alphabet() -> None:
    check_alphabet(DEFAULT_ALPHABET)
    assert len(DEFAULT_ALPHABET) == 36
    with pytest.raises(ValueError, match="at least one character"):
        check_alphabet("")
    with pytest.raises(ValueError, match="repeated: 'ab'"):
        check_alphabet("abcab")
