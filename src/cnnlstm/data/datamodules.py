"""Lightning DataModules: reproducible train / val / test splits and loaders for every reader.

One import path for all of them; each lives in a module of its own:

- :mod:`cnnlstm.data.loading`: what they share, :class:`BaseDataModule` (the loaders over the
  splits) and :func:`split_sizes` (the seed, the splits as fractions or counts).
- :mod:`cnnlstm.data.video_module`: :class:`VideoDataModule`, with the folder layout checks in
  :mod:`cnnlstm.data.video_layout`.
- :mod:`cnnlstm.data.array_module`: :class:`ArrayDataModule`.
- :mod:`cnnlstm.data.sensor_module`: :class:`SensorDataModule`.
- :mod:`cnnlstm.data.generated_modules`: :class:`MovingDigitsDataModule`,
  :class:`DigitClipsDataModule`, :class:`TextLinesDataModule`, :class:`DigitImagesDataModule`.

Importing this module imports every DataModule, which is how ``LightningCLI`` finds them by
their short names (``--data MovingDigitsDataModule``).
"""

from __future__ import annotations

from cnnlstm.data.array_module import ArrayDataModule
from cnnlstm.data.generated_modules import (
    DigitClipsDataModule,
    DigitImagesDataModule,
    MovingDigitsDataModule,
    TextLinesDataModule,
)
from cnnlstm.data.loading import BaseDataModule, split_sizes
from cnnlstm.data.sensor_module import SensorDataModule
from cnnlstm.data.video_module import VideoDataModule

__all__ = [
    "ArrayDataModule",
    "BaseDataModule",
    "DigitClipsDataModule",
    "DigitImagesDataModule",
    "MovingDigitsDataModule",
    "SensorDataModule",
    "TextLinesDataModule",
    "VideoDataModule",
    "split_sizes",
]
