"""Text as CTC classes: class 0 is the blank and ``alphabet[k]`` is class ``k + 1``.

One numbering for the whole library: the text readers (:class:`~cnnlstm.data.TextLines`,
:class:`~cnnlstm.data.TextLineFolder`) encode their labels with :func:`encode_text`, and
:class:`~cnnlstm.tasks.RecognitionTask` decodes its predictions with :func:`decode_classes`.
It sits beside :mod:`cnnlstm.errors` and :mod:`cnnlstm.functional` so that data and tasks
both import it without one reaching into the other.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["DEFAULT_ALPHABET", "check_alphabet", "decode_classes", "encode_text"]

DEFAULT_ALPHABET = string.digits + string.ascii_lowercase
"""``0-9a-z``: 36 characters, 37 classes with the CTC blank."""


@functools.lru_cache(maxsize=32)
def check_alphabet(alphabet: str) -> None:
    """Check that ``alphabet`` holds at least one character and each one once.

    Raises:
        ValueError: an empty alphabet, or one with a repeated character (named).

    Example:
        >>> check_alphabet("abc")
    """
    if not alphabet:
        raise ValueError("alphabet has to hold at least one character, but got ''")
    repeated = sorted({c for c in alphabet if alphabet.count(c) > 1})
    if repeated:
        raise ValueError(
            f"alphabet has to hold each character once, but got {alphabet!r} "
            f"(repeated: {''.join(repeated)!r})"
        )


@functools.lru_cache(maxsize=32)
def _classes(alphabet: str) -> dict[str, int]:
    """Each character's class: ``alphabet[k]`` is ``k + 1``."""
    return {c: k + 1 for k, c in enumerate(alphabet)}


def encode_text(text: str, alphabet: str) -> Tensor:
    """The classes ``(L,)`` int64 of ``text``: ``alphabet[k]`` is class ``k + 1``.

    Raises:
        ValueError: for a character outside the alphabet.

    Example:
        >>> encode_text("a0", DEFAULT_ALPHABET)
        tensor([11,  1])
    """
    classes = _classes(alphabet)
    try:
        return torch.tensor([classes[c] for c in text], dtype=torch.int64)
    except KeyError as err:
        raise ValueError(
            f"text has to use characters of the alphabet {alphabet!r}, but got "
            f"{text!r} with {err.args[0]!r}"
        ) from None


def decode_classes(indices: Tensor | Sequence[int], alphabet: str, *, ctc: bool = False) -> str:
    """The string of class ``indices``: the inverse of :func:`encode_text`. Blanks (0) are dropped.

    Args:
        indices: ``(L,)`` class indices in ``[0, len(alphabet) + 1)``.
        alphabet: the characters of classes ``1..len(alphabet)``.
        ctc: collapse repeated indices before dropping blanks, as greedy CTC decoding does
            on a model's per-step argmax.

    Raises:
        ValueError: for an index outside ``[0, len(alphabet) + 1)``.

    Example:
        >>> decode_classes([11, 11, 0, 11, 1], DEFAULT_ALPHABET, ctc=True)
        'aa0'
    """
    values = [int(k) for k in (indices.tolist() if isinstance(indices, Tensor) else indices)]
    num_classes = len(alphabet) + 1
    bad = [k for k in values if not 0 <= k < num_classes]
    if bad:
        raise ValueError(f"indices have to be in [0, {num_classes}), but got {bad[:5]}")
    if ctc:
        values = [k for j, k in enumerate(values) if j == 0 or k != values[j - 1]]
    return "".join(alphabet[k - 1] for k in values if k != 0)
