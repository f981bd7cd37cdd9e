"""Published Keras CNN + recurrent architectures, written here from their published descriptions
at small sizes, converted and checked against Keras 3 (keras_compare.assert_converts: noisy
weights, two inputs, 1e-4 of the output's size, 1e-3 of how far it moves).

Each builder cites where the architecture was published; the layer choices and their order
follow the source, the sizes are shrunk so the whole file runs in seconds.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import pytest
from keras_compare import assert_converts

L = keras.layers
# Keras (torch backend) calls np.array(tensor) internally, which numpy 2 flags; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _random(shape: tuple[int, ...], *, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def next_frame_prediction() -> keras.Model:
    """keras-io "Next-Frame Video Prediction with Convolutional LSTMs" (A. Joshi, 2021):
    three ConvLSTM2D(relu, same, return_sequences) with BatchNormalization between, then
    Conv3D(1, 3x3x3, sigmoid, same)."""
    inputs = keras.Input((None, 12, 12, 1))
    x = L.ConvLSTM2D(4, (5, 5), padding="same", return_sequences=True, activation="relu")(inputs)
    x = L.BatchNormalization()(x)
    x = L.ConvLSTM2D(4, (3, 3), padding="same", return_sequences=True, activation="relu")(x)
    x = L.BatchNormalization()(x)
    x = L.ConvLSTM2D(4, (1, 1), padding="same", return_sequences=True, activation="relu")(x)
    outputs = L.Conv3D(1, (3, 3, 3), activation="sigmoid", padding="same")(x)
    return keras.Model(inputs, outputs)


def video_classification_with_mask() -> keras.Model:
    """keras-io "Video Classification with a CNN-RNN Architecture" (S. Paul, 2021): per-frame
    CNN features and a boolean frame mask as two inputs, GRU(16, return_sequences) called with
    mask=, GRU(8), Dropout(0.4), Dense(8, relu), Dense(classes, softmax)."""
    features = keras.Input((6, 10))
    mask = keras.Input((6,), dtype="bool")
    x = L.GRU(16, return_sequences=True)(features, mask=mask)
    x = L.GRU(8)(x)
    x = L.Dropout(0.4)(x)
    x = L.Dense(8, activation="relu")(x)
    return keras.Model([features, mask], L.Dense(5, activation="softmax")(x))


def video_classification_with_masking() -> keras.Model:
    """The same classifier with a Masking layer on zero-padded frames instead of a mask input."""
    features = keras.Input((6, 10))
    x = L.Masking(0.0)(features)
    x = L.GRU(16, return_sequences=True)(x)
    x = L.GRU(8)(x)
    return keras.Model(features, L.Dense(5, activation="softmax")(x))


def captcha_ocr() -> keras.Model:
    """keras-io "OCR model for reading Captchas" (A. K. Nain, 2020), its prediction model:
    Conv2D(32)+MaxPool, Conv2D(64)+MaxPool on (width, height, 1), Reshape to (width/4, ...),
    Dense(64, relu), Dropout, two Bidirectional(LSTM(return_sequences)), Dense softmax."""
    image = keras.Input((40, 16, 1))
    x = L.Conv2D(8, 3, activation="relu", padding="same")(image)
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(16, 3, activation="relu", padding="same")(x)
    x = L.MaxPooling2D(2)(x)
    x = L.Reshape((10, 4 * 16))(x)
    x = L.Dense(16, activation="relu")(x)
    x = L.Dropout(0.2)(x)
    x = L.Bidirectional(L.LSTM(8, return_sequences=True, dropout=0.25))(x)
    x = L.Bidirectional(L.LSTM(6, return_sequences=True, dropout=0.25))(x)
    return keras.Model(image, L.Dense(12, activation="softmax")(x))


def timeseries_classification_fcn() -> keras.Model:
    """keras-io "Timeseries classification from scratch" (H. Ismail Fawaz, 2020), after Wang
    et al. 2017's FCN: three Conv1D(same) + BatchNormalization + ReLU, GlobalAveragePooling1D,
    Dense softmax."""
    inputs = keras.Input((20, 1))
    x = inputs
    for _ in range(3):
        x = L.Conv1D(8, 3, padding="same")(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU()(x)
    x = L.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, L.Dense(2, activation="softmax")(x))


def tutorial_cnn_lstm() -> keras.Model:
    """The time-series CNN-LSTM of the common tutorials (J. Brownlee, "How to Develop LSTM
    Models for Time Series Forecasting", 2018): TimeDistributed(Conv1D(64, 1, relu)),
    TimeDistributed(MaxPooling1D(2)), TimeDistributed(Flatten()), LSTM(50, relu), Dense(1)."""
    return keras.Sequential(
        [
            keras.Input((None, 2, 1)),
            L.TimeDistributed(L.Conv1D(8, 1, activation="relu")),
            L.TimeDistributed(L.MaxPooling1D(2)),
            L.TimeDistributed(L.Flatten()),
            L.LSTM(10, activation="relu"),
            L.Dense(1),
        ]
    )


def tutorial_conv_lstm() -> keras.Model:
    """The same tutorial's ConvLSTM on (samples, steps, 1, cols, features):
    ConvLSTM2D(64, (1, 2), relu), Flatten, Dense(1)."""
    return keras.Sequential(
        [
            keras.Input((2, 1, 2, 1)),
            L.ConvLSTM2D(8, (1, 2), activation="relu"),
            L.Flatten(),
            L.Dense(1),
        ]
    )


def activity_recognition_cnn_lstm() -> keras.Model:
    """Conv1D + LSTM human activity recognition (the UCI HAR tutorials, 2018): Conv1D(64, 3,
    relu) twice, Dropout, MaxPooling1D(2), LSTM(100), Dense(100, relu), Dense softmax."""
    return keras.Sequential(
        [
            keras.Input((16, 9)),
            L.Conv1D(8, 3, activation="relu"),
            L.Conv1D(8, 3, activation="relu"),
            L.Dropout(0.5),
            L.MaxPooling1D(2),
            L.LSTM(10),
            L.Dense(10, activation="relu"),
            L.Dense(6, activation="softmax"),
        ]
    )


def lrcn_video_classifier() -> keras.Model:
    """LRCN (Donahue et al. 2015) as the Keras tutorials build it: TimeDistributed Conv2D +
    MaxPooling2D + Dropout blocks, TimeDistributed(Flatten()), LSTM(32), Dense softmax."""
    return keras.Sequential(
        [
            keras.Input((4, 16, 16, 3)),
            L.TimeDistributed(L.Conv2D(4, 3, padding="same", activation="relu")),
            L.TimeDistributed(L.MaxPooling2D(2)),
            L.TimeDistributed(L.Dropout(0.25)),
            L.TimeDistributed(L.Conv2D(8, 3, padding="same", activation="relu")),
            L.TimeDistributed(L.MaxPooling2D(2)),
            L.TimeDistributed(L.Flatten()),
            L.LSTM(8),
            L.Dense(3, activation="softmax"),
        ]
    )


def conv_lstm_autoencoder() -> keras.Model:
    """Spatio-temporal autoencoder for video anomaly detection (Chong & Tay 2017, as the Keras
    tutorials write it): TimeDistributed strided Conv2D encoder with LayerNormalization,
    three ConvLSTM2D, TimeDistributed Conv2DTranspose decoder, Conv2D(1, sigmoid)."""
    return keras.Sequential(
        [
            keras.Input((3, 16, 16, 1)),
            L.TimeDistributed(L.Conv2D(8, (5, 5), strides=4, padding="same")),
            L.LayerNormalization(),
            L.TimeDistributed(L.Conv2D(4, (3, 3), strides=2, padding="same")),
            L.LayerNormalization(),
            L.ConvLSTM2D(4, (3, 3), padding="same", return_sequences=True),
            L.LayerNormalization(),
            L.ConvLSTM2D(2, (3, 3), padding="same", return_sequences=True),
            L.LayerNormalization(),
            L.ConvLSTM2D(4, (3, 3), padding="same", return_sequences=True),
            L.LayerNormalization(),
            L.TimeDistributed(L.Conv2DTranspose(4, (3, 3), strides=2, padding="same")),
            L.LayerNormalization(),
            L.TimeDistributed(L.Conv2DTranspose(8, (5, 5), strides=4, padding="same")),
            L.LayerNormalization(),
            L.TimeDistributed(L.Conv2D(1, (5, 5), activation="sigmoid", padding="same")),
        ]
    )


def conv_lstm_video_classifier_pool3d() -> keras.Model:
    """A ConvLSTM video classifier with MaxPooling3D between ConvLSTM2D layers (the Keras
    tutorials' ConvLSTM action recognition): ConvLSTM2D(tanh, return_sequences),
    MaxPooling3D((1, 2, 2), same), TimeDistributed(Dropout), ..., Flatten, Dense softmax."""
    return keras.Sequential(
        [
            keras.Input((3, 12, 12, 3)),
            L.ConvLSTM2D(4, 3, activation="tanh", recurrent_dropout=0.2, return_sequences=True),
            L.MaxPooling3D((1, 2, 2), padding="same"),
            L.TimeDistributed(L.Dropout(0.2)),
            L.ConvLSTM2D(6, 3, activation="tanh", return_sequences=True),
            L.MaxPooling3D((1, 2, 2), padding="same"),
            L.Flatten(),
            L.Dense(4, activation="softmax"),
        ]
    )


def crnn() -> keras.Model:
    """CRNN (Shi, Bai & Yao 2015) at small size: Conv2D + BatchNormalization + MaxPooling2D
    blocks (the later pools (2, 1) keep the width), Permute and Reshape the width to the time
    axis, two Bidirectional(LSTM), Dense softmax over the alphabet + blank."""
    image = keras.Input((16, 32, 1))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(image)
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(16, 3, padding="same")(x)
    x = L.BatchNormalization()(x)
    x = L.ReLU()(x)
    x = L.MaxPooling2D((2, 1))(x)
    x = L.Permute((2, 1, 3))(x)  # (W, H, C)
    x = L.Reshape((16, 4 * 16))(x)
    x = L.Bidirectional(L.LSTM(8, return_sequences=True))(x)
    x = L.Bidirectional(L.LSTM(8, return_sequences=True))(x)
    return keras.Model(image, L.Dense(11, activation="softmax")(x))


def lstm_autoencoder() -> keras.Model:
    """The LSTM autoencoder of the tutorials (J. Brownlee, "A Gentle Introduction to LSTM
    Autoencoders", 2018): LSTM(100, relu), RepeatVector(n), LSTM(100, relu,
    return_sequences), TimeDistributed(Dense(1))."""
    return keras.Sequential(
        [
            keras.Input((9, 1)),
            L.LSTM(10, activation="relu"),
            L.RepeatVector(9),
            L.LSTM(10, activation="relu", return_sequences=True),
            L.TimeDistributed(L.Dense(1)),
        ]
    )


def sentiment_gru_mask_zero() -> keras.Model:
    """A. Géron, "Hands-On Machine Learning with Scikit-Learn, Keras and TensorFlow" (3rd ed.,
    2022), ch. 16, the IMDb sentiment model with masking: Embedding(vocab, 128,
    mask_zero=True), GRU(128), Dense(1, sigmoid) (the TextVectorization in front makes the
    token ids the converted model takes)."""
    return keras.Sequential(
        [
            keras.Input((None,), dtype="int64"),
            L.Embedding(30, 8, mask_zero=True),
            L.GRU(8),
            L.Dense(1, activation="sigmoid"),
        ]
    )


def imdb_cnn_lstm_mask_zero() -> keras.Model:
    """keras-team/keras 2.x ``examples/imdb_cnn_lstm.py``: Embedding, Dropout(0.25),
    Conv1D(64, 5, valid, relu), MaxPooling1D(4), LSTM(70), Dense(1), Activation(sigmoid), here
    with ``mask_zero=True`` as padded text is often fed. Keras 3's Conv1D drops the mask (with a
    warning), so the LSTM reads every step, in Keras and converted alike."""
    return keras.Sequential(
        [
            keras.Input((20,), dtype="int32"),
            L.Embedding(30, 8, mask_zero=True),
            L.Dropout(0.25),
            L.Conv1D(6, 5, padding="valid", activation="relu", strides=1),
            L.MaxPooling1D(4),
            L.LSTM(7),
            L.Dense(1),
            L.Activation("sigmoid"),
        ]
    )


def pooled_bigru_mask_zero() -> keras.Model:
    """The "Pooled GRU" text classifier of Kaggle's Toxic Comment Classification Challenge
    kernels (2018): Embedding, SpatialDropout1D(0.2), Bidirectional(GRU(80,
    return_sequences)), GlobalAveragePooling1D and GlobalMaxPooling1D concatenated, Dense(6,
    sigmoid); here with ``mask_zero=True``, so the GRUs and the average read each comment
    within its length (Keras's max pool takes no mask)."""
    tokens = keras.Input((12,), dtype="int32")
    x = L.Embedding(30, 8, mask_zero=True)(tokens)
    x = L.SpatialDropout1D(0.2)(x)
    x = L.Bidirectional(L.GRU(6, return_sequences=True))(x)
    pooled = L.Concatenate()([L.GlobalAveragePooling1D()(x), L.GlobalMaxPooling1D()(x)])
    return keras.Model(tokens, L.Dense(6, activation="sigmoid")(pooled))


def _token_ids(steps: int, dtype: str) -> Callable[[int], np.ndarray]:
    """Token ids 1..29 padded with 0 at the end (pad_sequences(padding="post"))."""

    def make(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        ids = rng.integers(1, 30, size=(4, steps))
        for row, length in enumerate([steps, steps // 2, 1, steps - 3]):
            ids[row, length:] = 0
        return ids.astype(dtype)

    return make


def _masked_inputs(seed: int) -> list[np.ndarray]:
    valid = np.array([[True] * 6, [True] * 3 + [False] * 3, [True] * 5 + [False]])
    return [_random((3, 6, 10), seed=seed), valid]


def _padded_frames(seed: int) -> np.ndarray:
    x = _random((3, 6, 10), seed=seed)
    x[1, 3:] = 0.0
    x[2, 5:] = 0.0
    return x


MODELS: dict[str, tuple[Callable[[], keras.Model], Callable[[int], object]]] = {
    "next_frame_prediction": (next_frame_prediction, lambda s: _random((2, 3, 12, 12, 1), seed=s)),
    "video_classification_mask": (video_classification_with_mask, _masked_inputs),
    "video_classification_masking": (video_classification_with_masking, _padded_frames),
    "captcha_ocr": (captcha_ocr, lambda s: _random((2, 40, 16, 1), seed=s)),
    "timeseries_fcn": (timeseries_classification_fcn, lambda s: _random((2, 20, 1), seed=s)),
    "tutorial_cnn_lstm": (tutorial_cnn_lstm, lambda s: _random((2, 3, 2, 1), seed=s)),
    "tutorial_conv_lstm": (tutorial_conv_lstm, lambda s: _random((2, 2, 1, 2, 1), seed=s)),
    "activity_recognition": (activity_recognition_cnn_lstm, lambda s: _random((2, 16, 9), seed=s)),
    "lrcn": (lrcn_video_classifier, lambda s: _random((2, 4, 16, 16, 3), seed=s)),
    "conv_lstm_autoencoder": (conv_lstm_autoencoder, lambda s: _random((2, 3, 16, 16, 1), seed=s)),
    "conv_lstm_pool3d": (
        conv_lstm_video_classifier_pool3d,
        lambda s: _random((2, 3, 12, 12, 3), seed=s),
    ),
    "crnn": (crnn, lambda s: _random((2, 16, 32, 1), seed=s)),
    "lstm_autoencoder": (lstm_autoencoder, lambda s: _random((2, 9, 1), seed=s)),
    "sentiment_gru_mask_zero": (sentiment_gru_mask_zero, _token_ids(9, "int64")),
    "imdb_cnn_lstm_mask_zero": (imdb_cnn_lstm_mask_zero, _token_ids(20, "int32")),
    "pooled_bigru_mask_zero": (pooled_bigru_mask_zero, _token_ids(12, "int32")),
}


@pytest.mark.filterwarnings("ignore:Layer '.*' .* does not support masking")
@pytest.mark.parametrize("name", sorted(MODELS))
def test_published_model_converts_and_matches(name: str) -> None:
    build, inputs = MODELS[name]
    keras.utils.set_random_seed(0)
    model = build()
    assert_converts(model, inputs(0), inputs(1))  # type: ignore[arg-type]
