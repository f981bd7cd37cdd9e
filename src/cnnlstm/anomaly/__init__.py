"""Anomaly detection on multivariate sensor rows: the application behind ``cnnlstm detect``.

- :mod:`cnnlstm.anomaly.detector`: :class:`AnomalyDetector` (fit on normal rows, score,
  threshold, save and load).
- :mod:`cnnlstm.anomaly.streaming`: its scorers of a stream, row by row
  (:class:`StreamScorer`) or chunk by chunk (:class:`ChunkScorer`).
- :mod:`cnnlstm.anomaly.training`: training a model family within a budget of steps.
- :mod:`cnnlstm.anomaly.thresholds`: thresholds from training scores (quantile, POT).
- :mod:`cnnlstm.anomaly.rows`: the checks of the rows a detector takes.
- :mod:`cnnlstm.anomaly.settings`: the checks of a detector's settings.
- :mod:`cnnlstm.anomaly.held_shift`: the held-shift level score beside the model's error.
- :mod:`cnnlstm.anomaly.cross_sensor`: each sensor against the others of its row (its inputs).
- :mod:`cnnlstm.anomaly.combine`: the error and level parts as one alarm score.
- :mod:`cnnlstm.anomaly.discrete`: discrete signals (PLC states) judged by the states seen.
- :mod:`cnnlstm.anomaly.evaluation`: SKAB's outlier metrics and NAB scores.
- :mod:`cnnlstm.anomaly.events`: counting by event (point adjustment, event recall, delays).
- :mod:`cnnlstm.anomaly.leaderboard`: SKAB's published results and a table of ours beside them.
- :mod:`cnnlstm.anomaly.baselines`: the classic detectors to compare against (PCA T², max |z|).

The model families it fits (``window_cnnlstm``, ``mscred``, ``convlstm_ae``) are in
:mod:`cnnlstm.models.detectors`.
"""

from __future__ import annotations

from cnnlstm.anomaly.detector import AnomalyDetector
from cnnlstm.anomaly.streaming import ChunkScorer, StreamScorer

__all__ = ["AnomalyDetector", "ChunkScorer", "StreamScorer"]
