"""CRNN (Shi, Bai and Yao 2015): a text-line recognizer trained with CTC.

``HeightCollapsingCNN`` turns a line image ``(B, C, H, W)`` into a row of columns
``(B, C', 1, W')``; ``SpatialSequence("columns")`` reads the columns as ``W'`` steps; a
bidirectional LSTM and a per-step linear layer give log-probabilities ``(B, W', num_classes)``
with class 0 the CTC blank. Any height and width work: the CNN averages the height away, and the
sequence is as long as the line is wide. Decode with :mod:`cnnlstm.models.ctc`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cnnlstm.errors import ConfigError
from cnnlstm.layers.base import probe_output_shape
from cnnlstm.layers.spatial import SpatialSequence
from cnnlstm.models.backbones import HeightCollapsingCNN
from cnnlstm.models.cnnlstm import CNNLSTM
from cnnlstm.models.registry import (
    check_ints,
    check_positive_int,
    check_probability,
    register_model,
)

__all__ = ["CRNN", "crnn"]


class CRNN(nn.Module):
    """CNN -> columns -> bidirectional LSTM -> per-step log-probabilities for CTC.

    Args:
        backbone: a CNN ``(B, C, H, W) -> (B, C', H', W')``; with the default
            :class:`~cnnlstm.models.backbones.HeightCollapsingCNN` ``H' = 1`` for any ``H``.
            A backbone whose ``H'`` depends on ``H`` works only for ``image_height``.
        num_classes: classes per step, including the blank (class 0).
        in_channels: ``C`` of the line images.
        image_height: ``H`` of the example line; the example width is ``4 * image_height``.
        hidden_size: LSTM units per direction.
        num_layers: stacked bidirectional LSTM layers.
        dropout: dropout between the LSTM layers and before the per-step head.

    Raises:
        ValueError: a bad argument.
        ShapeError: the backbone cannot take lines of ``image_height``.

    Example:
        >>> model = CRNN(HeightCollapsingCNN(1, channels=(8, 16)), num_classes=5, hidden_size=8)
        >>> model(torch.randn(2, 1, 20, 50)).shape
        torch.Size([2, 13, 5])
        >>> model.output_lengths(torch.tensor([50, 30])).tolist()
        [13, 8]
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        num_classes: int,
        in_channels: int = 1,
        image_height: int = 32,
        hidden_size: int = 128,
        num_layers: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.image_height = image_height
        self.num_classes = num_classes
        self.sequence = CNNLSTM(
            backbone,
            SpatialSequence("columns"),
            input_shape=(in_channels, image_height, 4 * image_height),
            hidden_size=hidden_size,
            num_layers=num_layers,
            bidirectional=True,
            dropout=dropout,
            head=num_classes,
            output="all",
        )
        self.num_features = self.sequence.num_features

    @property
    def backbone(self) -> nn.Module:
        """The CNN in front of the columns."""
        return self.sequence.backbone

    @property
    def example_input_shape(self) -> tuple[int, ...]:
        """One example line's shape ``(C, image_height, 4 * image_height)``."""
        return (self.in_channels, self.image_height, 4 * self.image_height)

    def output_lengths(self, input_widths: Tensor | Sequence[int]) -> Tensor:
        """The number of steps ``L`` (CTC's input lengths) for lines of ``input_widths`` pixels.

        Args:
            input_widths: ``(B,)`` widths ``W`` of the lines in a batch (before padding).

        Returns:
            ``(B,)`` int64 on the widths' device: ``W'`` after the backbone.
        """
        widths = torch.as_tensor(input_widths)
        output_widths = getattr(self.backbone, "output_widths", None)
        if callable(output_widths):
            lengths: Tensor = output_widths(widths)
            return lengths.to(torch.int64)
        shape = (1, self.in_channels, self.image_height)
        steps = {
            w: probe_output_shape(self.backbone, (*shape, w))[-1]
            for w in set(widths.reshape(-1).tolist())
        }
        return torch.tensor(
            [steps[w] for w in widths.reshape(-1).tolist()], dtype=torch.int64, device=widths.device
        ).reshape(widths.shape)

    def forward_features(self, x: Tensor, widths: Tensor | None = None) -> Tensor:
        """``(B, C, H, W)`` -> LSTM features ``(B, L, num_features)``, zero past each length.

        Args:
            x: line images ``(B, C, H, W)``, padded on the right to a common width.
            widths: ``(B,)`` each line's width before padding; steps past
                ``output_lengths(widths)`` are not fed to the LSTM. None: every step is valid.
        """
        lengths = None if widths is None else self.output_lengths(widths)
        features: Tensor = self.sequence.forward_features(x, lengths)
        return features

    def forward_head(self, features: Tensor) -> Tensor:
        """Per-step linear layer and log-softmax: ``(B, L, num_classes)`` log-probabilities."""
        return self.sequence.forward_head(features).log_softmax(dim=-1)

    def forward(self, x: Tensor, widths: Tensor | None = None) -> Tensor:
        """Log-probabilities ``(B, L, num_classes)`` per step for line images ``(B, C, H, W)``.

        For ``torch.nn.functional.ctc_loss`` transpose to ``(L, B, num_classes)`` and pass
        ``output_lengths(widths)`` as the input lengths.
        """
        return self.forward_head(self.forward_features(x, widths))


@register_model()
def crnn(
    *,
    num_classes: int = 37,
    in_channels: int = 1,
    image_height: int = 32,
    hidden_size: int = 128,
    num_layers: int = 2,
    channels: Sequence[int] = (64, 128, 256, 256),
    dropout: float = 0.0,
    backbone: nn.Module | None = None,
) -> nn.Module:
    """Text-line recognizer (CRNN): height-collapsing CNN, columns, BiLSTM, CTC log-probabilities.

    Input ``(B, C, H, W)`` of any height and width; output ``(B, L, num_classes)``
    log-probabilities with ``L = ceil(W / 4)`` for the built-in CNN and class 0 the CTC blank.

    Args:
        num_classes: classes including the blank (37 = ``TextLines``' default ``0-9a-z`` + 1).
        in_channels: ``C`` of the line images.
        image_height: ``H`` of the example line (``example_input_shape``); any height works
            with the built-in CNN.
        hidden_size: LSTM units per direction.
        num_layers: stacked bidirectional LSTM layers.
        channels: the stages of the built-in ``HeightCollapsingCNN`` (the first two halve the
            width, all halve the height).
        dropout: dropout between the LSTM layers and before the per-step head.
        backbone: a CNN ``(B, C, H, W) -> (B, C', H', W')`` to use instead.

    Raises:
        ConfigError: a bad size or count.

    Example:
        >>> model = crnn(num_classes=5, channels=(4, 8), hidden_size=8, num_layers=1)
        >>> model(torch.randn(2, 1, 24, 60)).shape
        torch.Size([2, 15, 5])
    """
    who = "crnn"
    check_positive_int(who, "num_classes", num_classes)
    if num_classes < 2:
        raise ConfigError(
            f"{who}: num_classes has to be at least 2 (the CTC blank and one character), but got "
            f"{num_classes}."
        )
    check_positive_int(who, "in_channels", in_channels)
    check_positive_int(who, "image_height", image_height)
    check_positive_int(who, "hidden_size", hidden_size)
    check_positive_int(who, "num_layers", num_layers)
    dropout = check_probability(who, "dropout", dropout)
    if backbone is None:
        stages = check_ints(who, "channels", channels)
        backbone = HeightCollapsingCNN(
            in_channels, channels=stages, width_pools=min(2, len(stages))
        )
    elif not isinstance(backbone, nn.Module):
        raise ConfigError(
            f"{who}: backbone has to be an nn.Module or None, but got {type(backbone).__name__}."
        )
    return CRNN(
        backbone,
        num_classes=num_classes,
        in_channels=in_channels,
        image_height=image_height,
        hidden_size=hidden_size,
        num_layers=num_layers,
        dropout=dropout,
    )
