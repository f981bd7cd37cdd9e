"""The library's own exceptions.

Each message says what was expected, what came, and what to change. ``ShapeError`` subclasses
``ValueError`` so code that already catches shape problems as ``ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = ["CNNLSTMError", "ConfigError", "DataError", "ShapeError"]


class CNNLSTMError(Exception):
    """Base class of every error cnnlstm raises on purpose."""


class ShapeError(CNNLSTMError, ValueError):
    """A tensor reached a layer with a shape the layer cannot take.

    Example:
        >>> raise ShapeError("GlobalPoolBridge: expected (B, C, H, W), got (8, 3)")
        Traceback (most recent call last):
        ...
        cnnlstm.errors.ShapeError: GlobalPoolBridge: expected (B, C, H, W), got (8, 3)
    """


class DataError(CNNLSTMError, ValueError):
    """A file or an array given by the user is not what a reader expects.

    The message names the file (and the line, column or frame) and what was expected.
    """


class ConfigError(CNNLSTMError, ValueError):
    """A configuration, a model description or a converted model cannot be built."""
