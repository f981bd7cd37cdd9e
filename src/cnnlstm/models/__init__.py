"""Models: the registry of model families built from the layers, and ``CNNLSTM`` itself.

``create_model(name, **kwargs)`` builds a registered family; ``list_models(pattern)`` lists them.
"""

from __future__ import annotations

from cnnlstm.models.backbones import HeightCollapsingCNN, SimpleCNN
from cnnlstm.models.classifiers import (
    CNNLSTMClassifier,
    ConvLSTMClassifier,
    SingleFrameClassifier,
    clip_classifier,
    image_sequence_classifier,
)
from cnnlstm.models.cnnlstm import CNNLSTM
from cnnlstm.models.crnn import CRNN, crnn
from cnnlstm.models.ctc import ctc_beam_decode, ctc_beam_search, ctc_greedy_decode
from cnnlstm.models.detectors import (
    ConvLSTMAutoencoder,
    RowStepper,
    WindowCNNLSTM,
    convlstm_ae,
    window_cnnlstm,
)
from cnnlstm.models.forecaster import ConvLSTMForecaster, convlstm_forecaster, copy_last_frame
from cnnlstm.models.registry import (
    ModelInfo,
    create_model,
    list_models,
    model_info,
    register_model,
)
from cnnlstm.models.signatures import MSCRED, mscred, signature_matrices

__all__ = [
    "CNNLSTM",
    "CRNN",
    "MSCRED",
    "CNNLSTMClassifier",
    "ConvLSTMAutoencoder",
    "ConvLSTMClassifier",
    "ConvLSTMForecaster",
    "HeightCollapsingCNN",
    "ModelInfo",
    "RowStepper",
    "SimpleCNN",
    "SingleFrameClassifier",
    "WindowCNNLSTM",
    "clip_classifier",
    "convlstm_ae",
    "convlstm_forecaster",
    "copy_last_frame",
    "create_model",
    "crnn",
    "ctc_beam_decode",
    "ctc_beam_search",
    "ctc_greedy_decode",
    "image_sequence_classifier",
    "list_models",
    "model_info",
    "mscred",
    "register_model",
    "signature_matrices",
    "window_cnnlstm",
]
