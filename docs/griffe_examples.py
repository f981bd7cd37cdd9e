"""A griffe extension for the API reference: a docstring's ``Example:`` section is its examples.

cnnlstm's docstrings head their doctests ``Example:`` (STYLE.md). griffe's Google parser knows
only ``Examples:`` and renders any other title as an admonition whose text is Markdown, so
``>>> data[0][0].shape`` became nested block quotes and ``[0][0]`` a link to nowhere (an error
under ``mkdocs build --strict``). Renaming the title before the docstring is parsed gives the
doctests the code blocks griffe draws for ``Examples:``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^Example:[ \t]*$", flags=re.M)


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` to ``Examples:`` in every docstring, before it is parsed."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is not None and "Example:" in docstring.value:
            docstring.value = _EXAMPLE.sub("Examples:", docstring.value)
