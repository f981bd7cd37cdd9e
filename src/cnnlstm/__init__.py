"""cnnlstm: CNN-LSTM models in PyTorch.

Checked, swappable bridges from a Conv2D's ``(B, C, H, W)`` to an LSTM's ``(B, L, F)``,
``TimeDistributed`` for clips of frames, and ``ConvLSTM`` for recurrences that keep the grid.

``import cnnlstm`` needs torch, einops and numpy alone. The names of the application around the
core (:class:`~cnnlstm.anomaly.AnomalyDetector`, :func:`~cnnlstm.interop.keras.from_keras`) load
their modules on first use.

Example:
    >>> import torch
    >>> from cnnlstm import GlobalPoolBridge
    >>> GlobalPoolBridge("avg")(torch.randn(8, 64, 7, 7)).shape
    torch.Size([8, 1, 64])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cnnlstm.errors import CNNLSTMError, ConfigError, DataError, ShapeError
from cnnlstm.layers import (
    Bridge,
    ConvLSTM,
    ConvLSTM1d,
    ConvLSTM2d,
    ConvLSTM3d,
    ConvLSTMCell,
    GlobalPoolBridge,
    SequenceToSpatial,
    SpatialSequence,
    TimeDistributed,
    probe_output_shape,
)
from cnnlstm.models import CNNLSTM, create_model, list_models, model_info, register_model
from cnnlstm.summary import Summary, summary

if TYPE_CHECKING:
    from cnnlstm.anomaly import AnomalyDetector
    from cnnlstm.interop.keras import from_keras

# name -> the module that defines it: the application around the core loads on first use, so
# `import cnnlstm` needs torch, einops and numpy alone
_LAZY = {
    "AnomalyDetector": "cnnlstm.anomaly",
    "from_keras": "cnnlstm.interop.keras",
}

__version__ = "0.1.0"

__all__ = [
    "CNNLSTM",
    "AnomalyDetector",
    "Bridge",
    "CNNLSTMError",
    "ConfigError",
    "ConvLSTM",
    "ConvLSTM1d",
    "ConvLSTM2d",
    "ConvLSTM3d",
    "ConvLSTMCell",
    "DataError",
    "GlobalPoolBridge",
    "SequenceToSpatial",
    "ShapeError",
    "SpatialSequence",
    "Summary",
    "TimeDistributed",
    "__version__",
    "create_model",
    "from_keras",
    "list_models",
    "model_info",
    "probe_output_shape",
    "register_model",
    "summary",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cnnlstm' has no attribute {name!r}")
