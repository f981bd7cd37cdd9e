"""Layers: the bridges, TimeDistributed and ConvLSTM. Pure modules, no training code."""

from __future__ import annotations

from cnnlstm.layers.base import Bridge, meta_forward, probe_output_shape, run_on_zeros
from cnnlstm.layers.convlstm import ConvLSTM, ConvLSTM1d, ConvLSTM2d, ConvLSTM3d
from cnnlstm.layers.convlstm_cell import (
    ConvLSTMCell,
    ConvLSTMCell1d,
    ConvLSTMCell2d,
    ConvLSTMCell3d,
)
from cnnlstm.layers.pooling import GlobalPoolBridge
from cnnlstm.layers.spatial import SequenceToSpatial, SpatialSequence
from cnnlstm.layers.time_distributed import TimeDistributed

__all__ = [
    "Bridge",
    "ConvLSTM",
    "ConvLSTM1d",
    "ConvLSTM2d",
    "ConvLSTM3d",
    "ConvLSTMCell",
    "ConvLSTMCell1d",
    "ConvLSTMCell2d",
    "ConvLSTMCell3d",
    "GlobalPoolBridge",
    "SequenceToSpatial",
    "SpatialSequence",
    "TimeDistributed",
    "meta_forward",
    "probe_output_shape",
    "run_on_zeros",
]
