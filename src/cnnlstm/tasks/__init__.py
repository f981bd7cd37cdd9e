"""Tasks: one LightningModule per task (loss, metrics, predict), models taken from the registry."""

from __future__ import annotations

from cnnlstm.extras import importing

# Lightning and torchmetrics come with the "train" extra: without them, importing any task (this
# package runs first) says which extra to install.
with importing("the tasks (cnnlstm.tasks)", "train"):
    from cnnlstm.tasks.base import SCHEDULERS, SchedulerName, TaskBase
    from cnnlstm.tasks.classify import ClassificationTask
    from cnnlstm.tasks.forecast import ForecastTask
    from cnnlstm.tasks.metrics import FrameMAE, FrameMSE, WordAccuracy, format_confusion
    from cnnlstm.tasks.recognize import RecognitionTask

__all__ = [
    "SCHEDULERS",
    "ClassificationTask",
    "ForecastTask",
    "FrameMAE",
    "FrameMSE",
    "RecognitionTask",
    "SchedulerName",
    "TaskBase",
    "WordAccuracy",
    "format_confusion",
]
