"""Anomaly detection on multivariate sensor rows: the application behind ``cnnlstm detect``.

- :mod:`cnnlstm.anomaly.detector`: :class:`AnomalyDetector` (fit on normal rows, score,
  threshold, save and load) and its chunked and streaming scorers.
- :mod:`cnnlstm.anomaly.scoring`: the held-shift level score beside the model's error.
- :mod:`cnnlstm.anomaly.evaluation`: SKAB's outlier metrics, NAB scores and the leaderboard.

The model families it fits (``window_cnnlstm``, ``mscred``, ``convlstm_ae``) are in
:mod:`cnnlstm.models.detectors`.
"""

from __future__ import annotations

from cnnlstm.anomaly.detector import AnomalyDetector, ChunkScorer, StreamScorer

__all__ = ["AnomalyDetector", "ChunkScorer", "StreamScorer"]
