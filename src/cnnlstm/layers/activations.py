"""Activations by name: the ``activation`` and ``recurrent_activation`` a recurrent layer takes.

:data:`ACTIVATIONS` are the names (Keras' names for the same functions); :func:`activate` applies
one in plain ops that TorchScript compiles, and :func:`check_activation` checks an argument when a
layer is built. A ConvLSTM cell (:mod:`cnnlstm.layers.convlstm_cell`) and the Keras import's
recurrent layers use them, so a model trained with ``activation="relu"`` or tf.keras 2's
``recurrent_activation="hard_sigmoid"`` runs as it was trained. :class:`Activation` is
:func:`activate` as a module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ACTIVATIONS", "Activation", "activate", "check_activation"]

ACTIVATIONS = (
    "tanh",
    "sigmoid",
    "hard_sigmoid",
    "hard_sigmoid_tf2",
    "relu",
    "linear",
    "elu",
    "selu",
    "softsign",
)
"""The names :func:`activate` (and a ConvLSTM's ``activation`` / ``recurrent_activation``) take.

``"hard_sigmoid"`` is Keras 3's and torch's ``relu6(x + 3) / 6``; ``"hard_sigmoid_tf2"`` is
tf.keras 2's ``clip(0.2 x + 0.5, 0, 1)``, the default ``recurrent_activation`` of its ``LSTM``,
``GRU`` and ``ConvLSTM2D`` before TensorFlow 2.0 (and of models saved with it explicitly)."""


def activate(x: Tensor, name: str) -> Tensor:
    """Apply the activation ``name`` (one of :data:`ACTIVATIONS`) elementwise.

    Plain ops that TorchScript compiles, so the scripted ConvLSTM loop of :mod:`cnnlstm.export`
    runs them too.

    Example:
        >>> activate(torch.tensor([-10.0, 0.0, 1.0]), "hard_sigmoid_tf2")
        tensor([0.0000, 0.5000, 0.7000])
    """
    if name == "tanh":
        return torch.tanh(x)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "hard_sigmoid":
        return F.hardsigmoid(x)
    if name == "hard_sigmoid_tf2":
        return torch.clamp(x * 0.2 + 0.5, 0.0, 1.0)
    if name == "relu":
        return torch.relu(x)
    if name == "linear":
        return x
    if name == "elu":
        return F.elu(x)
    if name == "selu":
        return torch.selu(x)
    if name == "softsign":
        return x / (1.0 + torch.abs(x))
    raise ValueError(
        "activation has to be one of tanh, sigmoid, hard_sigmoid, hard_sigmoid_tf2, relu, "
        "linear, elu, selu, softsign, but got " + name
    )


class Activation(nn.Module):
    """:func:`activate` as a module: ``Activation("relu")(x)``.

    A converted Keras model uses it for tf.keras 2's ``hard_sigmoid`` after a layer. A ConvLSTM
    cell calls :func:`activate` itself, with its activation names as TorchScript constants.

    Example:
        >>> Activation("hard_sigmoid_tf2")(torch.tensor([0.0, 5.0]))
        tensor([0.5000, 1.0000])
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = check_activation("name", name)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the activation elementwise."""
        return activate(x, self.name)

    def extra_repr(self) -> str:
        return repr(self.name)


def check_activation(argument: str, name: object) -> str:
    """Return ``name`` if it is one of :data:`ACTIVATIONS`, else raise ``ValueError``.

    Args:
        argument: the argument's name, as the message says it.
        name: what the caller got.

    Raises:
        ValueError: ``name`` is not one of :data:`ACTIVATIONS`.

    Example:
        >>> check_activation("activation", "relu")
        'relu'
    """
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"{argument} has to be one of {', '.join(ACTIVATIONS)}, but got {name!r}")
    return name
