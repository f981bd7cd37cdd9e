"""Lightning DataModules: reproducible train / val / test splits and loaders for every reader.

One import path for all of them; each lives in a module of its own:

- :mod:`cnnlstm.data.loading`: what they share, :func:`split_sizes` and the loaders over the
  splits (the seed, the splits as fractions or counts).
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

# the private helpers too ("name as name" re-exports them), for code that imported them from here
from cnnlstm.data.array_module import ArrayDataModule
from cnnlstm.data.generated_modules import (
    DigitClipsDataModule,
    DigitImagesDataModule,
    MovingDigitsDataModule,
    TextLinesDataModule,
)
from cnnlstm.data.generated_modules import _GeneratedDataModule as _GeneratedDataModule
from cnnlstm.data.loading import _check_loader_args as _check_loader_args
from cnnlstm.data.loading import _LoaderMixin as _LoaderMixin
from cnnlstm.data.loading import _permutation as _permutation
from cnnlstm.data.loading import split_sizes
from cnnlstm.data.sensor_module import SensorDataModule
from cnnlstm.data.video_layout import _BOTH_KINDS as _BOTH_KINDS
from cnnlstm.data.video_layout import _few as _few
from cnnlstm.data.video_layout import _frame_clip_in as _frame_clip_in
from cnnlstm.data.video_layout import _holds as _holds
from cnnlstm.data.video_layout import _mixed_kinds as _mixed_kinds
from cnnlstm.data.video_layout import _mixed_layout as _mixed_layout
from cnnlstm.data.video_layout import _predict_layout as _predict_layout
from cnnlstm.data.video_layout import _root_kind as _root_kind
from cnnlstm.data.video_layout import _root_missing as _root_missing
from cnnlstm.data.video_layout import _shown as _shown
from cnnlstm.data.video_layout import _source_fps_missing as _source_fps_missing
from cnnlstm.data.video_layout import _subfolders as _subfolders
from cnnlstm.data.video_layout import _videos_in as _videos_in
from cnnlstm.data.video_module import VideoDataModule
from cnnlstm.data.video_module import _ClipItems as _ClipItems
from cnnlstm.data.video_module import _item_of as _item_of

__all__ = [
    "ArrayDataModule",
    "DigitClipsDataModule",
    "DigitImagesDataModule",
    "MovingDigitsDataModule",
    "SensorDataModule",
    "TextLinesDataModule",
    "VideoDataModule",
    "split_sizes",
]
