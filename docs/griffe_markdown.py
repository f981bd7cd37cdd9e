"""A griffe extension for the API reference: cnnlstm's docstrings as Markdown reads them.

The docstrings are written for ``help()`` and doctest (STYLE.md): a section ``Example:`` holds
the doctests, and cross-references are Sphinx roles
(``:class:`~cnnlstm.anomaly.detector.AnomalyDetector```). griffe's Google parser knows only
``Examples:`` and renders another title as an admonition whose text is Markdown, so ``>>>
data[0][0].shape`` became nested block quotes and ``[0][0]`` a link to nowhere (an error under
``mkdocs build --strict``); and Markdown shows a role as ``:class:`` before a code span. Before a
docstring is parsed, this renames the section and turns each role into the code span it stands for:
``~a.b.C`` shows ``C``, ``a.b.C`` shows itself.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^Example:[ \t]*$", flags=re.M)
_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|obj|exc):`(~?)([^`]+)`")


def _code_span(match: re.Match[str]) -> str:
    target = re.sub(r"\s+", "", match.group(2))  # a role may wrap across a line
    return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"


class MarkdownDocstrings(griffe.Extension):
    """``Example:`` becomes ``Examples:`` and ``:role:`target``` a code span, in every docstring."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is not None:
            text = _EXAMPLE.sub("Examples:", docstring.value)
            docstring.value = _ROLE.sub(_code_span, text)
