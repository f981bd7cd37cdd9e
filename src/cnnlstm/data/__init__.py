"""Data: built-in generators, readers for the user's files, batching, and DataModules.

The DataModules (and :class:`GlobalOrderSampler`, their sampler) import Lightning, which takes
seconds to load, so they load on first use: ``cnnlstm.data.DigitClipsDataModule`` works, and
``import cnnlstm.data`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cnnlstm.data.arrays import ArrayDataset
from cnnlstm.data.collate import ctc_collate, pad_collate, pad_sequences
from cnnlstm.data.digit_images import DigitImages
from cnnlstm.data.mnist import load_mnist, read_idx, render_digits
from cnnlstm.data.moving_digits import DigitClips, MovingDigits
from cnnlstm.data.sensor_plant import ANOMALY_KINDS, Anomaly, SensorPlant, write_skab_csv
from cnnlstm.data.sensors import SKAB, SensorCSV, SensorWindows, StandardScaler, sniff_delimiter
from cnnlstm.data.text_lines import TextLines
from cnnlstm.data.video import FrameFolder, OnTruncated, Orientation, VideoFolder

if TYPE_CHECKING:
    from cnnlstm.data.array_module import ArrayDataModule
    from cnnlstm.data.generated_modules import (
        DigitClipsDataModule,
        DigitImagesDataModule,
        MovingDigitsDataModule,
        TextLinesDataModule,
    )
    from cnnlstm.data.loading import BaseDataModule, GlobalOrderSampler
    from cnnlstm.data.sensor_module import SensorDataModule
    from cnnlstm.data.text_folder import TextLineDataModule, TextLineFolder
    from cnnlstm.data.video_module import VideoDataModule

# name -> the module that defines it (these import Lightning)
_LAZY = {
    "ArrayDataModule": "cnnlstm.data.array_module",
    "BaseDataModule": "cnnlstm.data.loading",
    "DigitClipsDataModule": "cnnlstm.data.generated_modules",
    "DigitImagesDataModule": "cnnlstm.data.generated_modules",
    "GlobalOrderSampler": "cnnlstm.data.loading",
    "MovingDigitsDataModule": "cnnlstm.data.generated_modules",
    "SensorDataModule": "cnnlstm.data.sensor_module",
    "TextLineDataModule": "cnnlstm.data.text_folder",
    "TextLineFolder": "cnnlstm.data.text_folder",
    "TextLinesDataModule": "cnnlstm.data.generated_modules",
    "VideoDataModule": "cnnlstm.data.video_module",
}

__all__ = [
    "ANOMALY_KINDS",
    "SKAB",
    "Anomaly",
    "ArrayDataModule",
    "ArrayDataset",
    "BaseDataModule",
    "DigitClips",
    "DigitClipsDataModule",
    "DigitImages",
    "DigitImagesDataModule",
    "FrameFolder",
    "GlobalOrderSampler",
    "MovingDigits",
    "MovingDigitsDataModule",
    "OnTruncated",
    "Orientation",
    "SensorCSV",
    "SensorDataModule",
    "SensorPlant",
    "SensorWindows",
    "StandardScaler",
    "TextLineDataModule",
    "TextLineFolder",
    "TextLines",
    "TextLinesDataModule",
    "VideoDataModule",
    "VideoFolder",
    "ctc_collate",
    "load_mnist",
    "pad_collate",
    "pad_sequences",
    "read_idx",
    "render_digits",
    "sniff_delimiter",
    "write_skab_csv",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cnnlstm.data' has no attribute {name!r}")
