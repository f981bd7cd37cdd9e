"""Layers: the bridges, TimeDistributed and ConvLSTM. Pure modules, no training code."""

from __future__ import annotations

from cnnlstm.layers.base import Bridge

__all__ = ["Bridge"]
