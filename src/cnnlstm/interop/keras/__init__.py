"""Convert Keras 3 CNN + recurrent models (in memory or saved) into PyTorch modules.

Most "how do I put an LSTM after a Conv2D" code is Keras. :func:`from_keras` takes a Keras 3
``Sequential`` or functional model, or the path of a saved one (``.keras``, tf.keras 2's legacy
``.h5``, or an architecture JSON with its weights), and returns a :class:`ConvertedKeras`: named
torch layers that take the Keras model's inputs (channels last: ``(B, H, W, C)`` or
``(B, T, H, W, C)``) and return what the Keras model returns, in the same layout and shape.

Convolutions, pools and norms run channels first, as torch wants them. The converter tracks
where the channel axis of each tensor is and inserts small layout adapters
(:class:`ChannelsLastToFirst`, :class:`ChannelsFirstToLast`) where it has to move, so every
layout-dependent step (Flatten, Reshape, Permute, Dense, the LSTM's input) sees the tensor in
Keras order and flattens it in the same order. ``print(module)`` shows the whole structure.

The package, one concept a module: :mod:`~cnnlstm.interop.keras.convert` (``from_keras`` and the
graph walk), :mod:`~cnnlstm.interop.keras.nodes` (reading a Keras model's graph),
:mod:`~cnnlstm.interop.keras.dispatch` (which converter takes which layer),
:mod:`~cnnlstm.interop.keras.graph` (:class:`ConvertedKeras`),
:mod:`~cnnlstm.interop.keras.core` (layout state, builder, module specs),
:mod:`~cnnlstm.interop.keras.layers` and :mod:`~cnnlstm.interop.keras.recurrent` (the torch
modules), :mod:`~cnnlstm.interop.keras.conv`, :mod:`~cnnlstm.interop.keras.pooling`,
:mod:`~cnnlstm.interop.keras.recurrent_convert`, :mod:`~cnnlstm.interop.keras.basic` (the
converters by kind of layer) and :mod:`~cnnlstm.interop.keras.io` (reading saved files, writing
converted models).

Keras is imported lazily, so ``import cnnlstm`` never needs it; Keras must run on a backend that
is installed (``KERAS_BACKEND=torch`` is the natural choice next to PyTorch). Reading a legacy
``.h5`` file needs ``h5py``, not TensorFlow.

``Bidirectional`` becomes one bidirectional ``nn.LSTM``, ``nn.GRU`` or ``nn.RNN`` inside a
:class:`Bidirectional` module (two :class:`KerasRNN` s, forward and backward, for other
activations or ``GRU(reset_after=False)``), for every ``merge_mode``; with ``merge_mode=None``
the converted model returns the tuple ``(forward, backward)`` as Keras returns the pair.
Dropout inside the recurrent layers (``dropout=``, ``recurrent_dropout=``) only acts in training
and is not carried over; ``Dropout`` layers are (as ``nn.Dropout``).

Where the Keras backends differ (average pooling with uneven "same" padding), the manual's
*Coming from Keras* page says which one is matched.
"""

from __future__ import annotations

from cnnlstm.interop.keras.convert import from_keras
from cnnlstm.interop.keras.dispatch import supported_layers
from cnnlstm.interop.keras.graph import ConvertedKeras, Step
from cnnlstm.interop.keras.io import load_converted, load_model, save_converted
from cnnlstm.interop.keras.layers import (
    ChannelsFirstToLast,
    ChannelsLastToFirst,
    ComputeMask,
    Crop,
    Dot,
    Embedding,
    GaussianDropout,
    GaussianNoise,
    MaskedAverage,
    Masking,
    Merge,
    Permute,
    RepeatVector,
    Reshape,
    SameAvgPool,
    SameAvgPool2d,
    SamePad,
    SamePad2d,
    same_padding,
)
from cnnlstm.interop.keras.recurrent import Bidirectional, KerasRNN, Recurrent, mask_lengths
from cnnlstm.layers.activations import Activation

__all__ = [
    "Activation",
    "Bidirectional",
    "ChannelsFirstToLast",
    "ChannelsLastToFirst",
    "ComputeMask",
    "ConvertedKeras",
    "Crop",
    "Dot",
    "Embedding",
    "GaussianDropout",
    "GaussianNoise",
    "KerasRNN",
    "MaskedAverage",
    "Masking",
    "Merge",
    "Permute",
    "Recurrent",
    "RepeatVector",
    "Reshape",
    "SameAvgPool",
    "SameAvgPool2d",
    "SamePad",
    "SamePad2d",
    "Step",
    "from_keras",
    "load_converted",
    "load_model",
    "mask_lengths",
    "same_padding",
    "save_converted",
    "supported_layers",
]
