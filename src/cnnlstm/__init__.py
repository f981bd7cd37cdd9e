"""cnnlstm: CNN-LSTM models in PyTorch.

Checked, swappable bridges from a Conv2D's ``(B, C, H, W)`` to an LSTM's ``(B, L, F)``,
``TimeDistributed`` for clips of frames, and ``ConvLSTM`` for recurrences that keep the grid.
"""

from __future__ import annotations

from cnnlstm.errors import CNNLSTMError, ConfigError, DataError, ShapeError
from cnnlstm.layers import Bridge, GlobalPoolBridge, SequenceToSpatial, SpatialSequence

__version__ = "0.1.0"

__all__ = [
    "Bridge",
    "GlobalPoolBridge",
    "SequenceToSpatial",
    "SpatialSequence",
    "CNNLSTMError",
    "ConfigError",
    "DataError",
    "ShapeError",
    "__version__",
]
