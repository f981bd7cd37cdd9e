"""Layers: the bridges, TimeDistributed and ConvLSTM. Pure modules, no training code."""

from __future__ import annotations

from cnnlstm.layers.base import Bridge
from cnnlstm.layers.pooling import GlobalPoolBridge
from cnnlstm.layers.spatial import SequenceToSpatial, SpatialSequence

__all__ = ["Bridge", "GlobalPoolBridge", "SequenceToSpatial", "SpatialSequence"]
