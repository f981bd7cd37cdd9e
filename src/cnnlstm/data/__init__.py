"""Data: built-in generators, readers for the user's files, batching, and DataModules.

Each name loads its module on first use, so ``import cnnlstm.data`` stays fast and needs none of
the extras: ``cnnlstm.data.VideoFolder`` loads PyAV (the ``video`` extra), the sensor readers
pandas (``sensors``), the generators Pillow and the DataModules Lightning (``train``). A missing
extra ends in a :class:`~cnnlstm.extras.MissingExtraError` naming the pip command.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cnnlstm.extras import importing

if TYPE_CHECKING:
    from cnnlstm.data.array_module import ArrayDataModule
    from cnnlstm.data.arrays import ArrayDataset
    from cnnlstm.data.collate import ctc_collate, pad_collate, pad_sequences
    from cnnlstm.data.digit_images import DigitImages
    from cnnlstm.data.frame_folder import FrameFolder
    from cnnlstm.data.generated_modules import (
        DigitClipsDataModule,
        DigitImagesDataModule,
        MovingDigitsDataModule,
        TextLinesDataModule,
    )
    from cnnlstm.data.loading import BaseDataModule, GlobalOrderSampler
    from cnnlstm.data.mnist import load_mnist, read_idx, render_digits
    from cnnlstm.data.moving_digits import DigitClips, MovingDigits
    from cnnlstm.data.sensor_module import SensorDataModule
    from cnnlstm.data.sensor_plant import ANOMALY_KINDS, Anomaly, SensorPlant
    from cnnlstm.data.sensors import SKAB, SensorCSV, SensorWindows, StandardScaler, sniff_delimiter
    from cnnlstm.data.skab_files import write_skab_csv
    from cnnlstm.data.text_folder import TextLineDataModule, TextLineFolder
    from cnnlstm.data.text_lines import TextLines
    from cnnlstm.data.video import OnTruncated, Orientation, VideoFolder
    from cnnlstm.data.video_module import VideoDataModule

# name -> the module that defines it
_LAZY = {
    "ANOMALY_KINDS": "cnnlstm.data.sensor_plant",
    "Anomaly": "cnnlstm.data.sensor_plant",
    "ArrayDataModule": "cnnlstm.data.array_module",
    "ArrayDataset": "cnnlstm.data.arrays",
    "BaseDataModule": "cnnlstm.data.loading",
    "DigitClips": "cnnlstm.data.moving_digits",
    "DigitClipsDataModule": "cnnlstm.data.generated_modules",
    "DigitImages": "cnnlstm.data.digit_images",
    "DigitImagesDataModule": "cnnlstm.data.generated_modules",
    "FrameFolder": "cnnlstm.data.frame_folder",
    "GlobalOrderSampler": "cnnlstm.data.loading",
    "MovingDigits": "cnnlstm.data.moving_digits",
    "MovingDigitsDataModule": "cnnlstm.data.generated_modules",
    "OnTruncated": "cnnlstm.data.video",
    "Orientation": "cnnlstm.data.video",
    "SKAB": "cnnlstm.data.sensors",
    "SensorCSV": "cnnlstm.data.sensors",
    "SensorDataModule": "cnnlstm.data.sensor_module",
    "SensorPlant": "cnnlstm.data.sensor_plant",
    "SensorWindows": "cnnlstm.data.sensors",
    "StandardScaler": "cnnlstm.data.sensors",
    "TextLineDataModule": "cnnlstm.data.text_folder",
    "TextLineFolder": "cnnlstm.data.text_folder",
    "TextLines": "cnnlstm.data.text_lines",
    "TextLinesDataModule": "cnnlstm.data.generated_modules",
    "VideoDataModule": "cnnlstm.data.video_module",
    "VideoFolder": "cnnlstm.data.video",
    "ctc_collate": "cnnlstm.data.collate",
    "load_mnist": "cnnlstm.data.mnist",
    "pad_collate": "cnnlstm.data.collate",
    "pad_sequences": "cnnlstm.data.collate",
    "read_idx": "cnnlstm.data.mnist",
    "render_digits": "cnnlstm.data.mnist",
    "sniff_delimiter": "cnnlstm.data.sensors",
    "write_skab_csv": "cnnlstm.data.skab_files",
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
        with importing(f"cnnlstm.data.{name}"):
            module = importlib.import_module(_LAZY[name])
        return getattr(module, name)
    raise AttributeError(f"module 'cnnlstm.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
