"""The ConvLSTM encoder-forecaster of Shi et al. 2015 for next-frame prediction.

::

    x (B, N, C, H, W) -space-to-depth-> (B, N, C*p*p, H/p, W/p) -encoder ConvLSTM stack->
    states of every layer -> forecaster ConvLSTM stack, K steps -> concat hidden states ->
    1x1 conv -> sigmoid -> depth-to-space -> (B, K, C, H, W)

Frames are cut into ``p x p`` patches stacked on the channel axis (space-to-depth), so the
recurrence runs on a grid ``p`` times smaller, as Shi et al. do with their 64x64 radar maps. The
forecaster's layers start from the encoder's final states, layer for layer. Its input at each
step is the previous prediction (patched): the last observed frame at the first step, then its
own output, kept in the graph so training sees its own errors as it will when it forecasts.
(Shi et al. feed the forecaster no input; feeding the prediction back lets every weight of the
forecaster learn, and is what Srivastava et al.'s conditional decoder does.) In training,
``targets`` with ``teacher_forcing`` feed the true previous frame instead, per sequence and step
with that probability (scheduled sampling, as OpenSTL trains its ConvLSTM). The hidden states of
all forecaster layers are concatenated and mapped to the patched frame by a 1x1 convolution, with
a sigmoid since the frames are intensities in ``[0, 1]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from einops import rearrange, repeat
from torch import Tensor, nn

from cnnlstm.errors import ConfigError, ShapeError
from cnnlstm.functional import fold_time, format_shape, unfold_time
from cnnlstm.layers.convlstm import ConvLSTM
from cnnlstm.layers.convlstm_cell import ConvLSTMCell
from cnnlstm.models.registry import check_ints, check_positive_int, register_model

__all__ = ["ConvLSTMForecaster", "convlstm_forecaster", "copy_last_frame"]


def copy_last_frame(x: Tensor, steps: int) -> Tensor:
    """The persistence baseline: the last input frame repeated ``steps`` times.

    A forecaster that does not beat it has learnt no motion.

    Args:
        x: input frames ``(B, N, C, H, W)``.
        steps: ``K``, how many frames to forecast.

    Returns:
        ``(B, K, C, H, W)``: ``x[:, -1]`` at every step (a new tensor).

    Raises:
        ShapeError: ``x`` is not 5-D or has no frames.
        ValueError: ``steps`` is not a positive int.

    Example:
        >>> copy_last_frame(torch.rand(2, 10, 1, 64, 64), 5).shape
        torch.Size([2, 5, 1, 64, 64])
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"copy_last_frame: steps has to be a positive int, but got {steps!r}.")
    if x.dim() != 5 or x.shape[1] < 1:
        raise ShapeError(
            f"copy_last_frame: expected frames (B, N, C, H, W) with N >= 1, got shape "
            f"{format_shape(x.shape)}."
        ) from None
    return repeat(x[:, -1], "b c h w -> b k c h w", k=steps)  # (B, K, C, H, W)


class ConvLSTMForecaster(nn.Module):
    """Encoder-forecaster ConvLSTM: reads ``N`` frames, predicts the next ``K``.

    Args:
        in_channels: ``C`` of the frames.
        image_size: ``(H, W)`` of the example frames; any size divisible by ``patch_size``
            works.
        input_frames: ``N`` of the example input (``example_input_shape``); any ``N`` works.
        output_frames: ``K``, the frames forecast.
        hidden_channels: channels of each ConvLSTM layer, the same for encoder and forecaster.
        kernel_size: the ConvLSTM kernel size.
        patch_size: ``p`` of the space-to-depth patching; 1 keeps the full resolution.

    Raises:
        ConfigError: (a ``ValueError``) a bad argument, or an ``image_size`` not divisible by
            ``patch_size``.

    Example:
        >>> model = ConvLSTMForecaster(image_size=(16, 16), input_frames=3, output_frames=2,
        ...                            hidden_channels=(4, 4), patch_size=4)
        >>> model(torch.rand(2, 3, 1, 16, 16)).shape
        torch.Size([2, 2, 1, 16, 16])
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        image_size: Sequence[int] = (64, 64),
        input_frames: int = 10,
        output_frames: int = 10,
        hidden_channels: Sequence[int] = (64, 64),
        kernel_size: int = 3,
        patch_size: int = 4,
    ) -> None:
        super().__init__()
        who = "ConvLSTMForecaster"
        check_positive_int(who, "in_channels", in_channels)
        check_positive_int(who, "input_frames", input_frames)
        check_positive_int(who, "output_frames", output_frames)
        check_positive_int(who, "kernel_size", kernel_size)
        check_positive_int(who, "patch_size", patch_size)
        height, width = check_ints(who, "image_size", image_size, size=2)
        hidden = check_ints(who, "hidden_channels", hidden_channels)
        if height % patch_size or width % patch_size:
            raise ConfigError(
                f"{who}: image_size has to be divisible by patch_size={patch_size} (the frames "
                f"are cut into {patch_size}x{patch_size} patches), but got ({height}, {width}). "
                f"Pick a patch_size that divides both, or crop or pad the frames."
            )
        self.in_channels = in_channels
        self.image_size = (height, width)
        self.input_frames = input_frames
        self.output_frames = output_frames
        self.hidden_channels = hidden
        self.patch_size = patch_size
        patched = in_channels * patch_size * patch_size
        self.encoder = ConvLSTM(patched, list(hidden), kernel_size)
        self.forecaster = nn.ModuleList(
            ConvLSTMCell(patched if layer == 0 else hidden[layer - 1], size, kernel_size)
            for layer, size in enumerate(hidden)
        )
        self.num_features = sum(hidden)
        self.head = nn.Conv2d(self.num_features, patched, kernel_size=1)

    @property
    def example_input_shape(self) -> tuple[int, ...]:
        """One example's input frames ``(N, C, H, W)``."""
        return (self.input_frames, self.in_channels, *self.image_size)

    def _check_input(self, x: Tensor) -> None:
        who = f"ConvLSTMForecaster(patch_size={self.patch_size})"
        if x.dim() != 5:
            raise ShapeError(
                f"{who}: expected frames (B, N, C, H, W) like "
                f"(B, {', '.join(map(str, self.example_input_shape))}), got a {x.dim()}-D "
                f"tensor of shape {format_shape(x.shape)}."
            ) from None
        _, _, c, h, w = x.shape
        if c != self.in_channels:
            raise ShapeError(
                f"{who}: expected C={self.in_channels} channels at axis 2 of (B, N, C, H, W), got "
                f"shape {format_shape(x.shape)}. Build the model with in_channels={c}."
            ) from None
        p = self.patch_size
        if h % p or w % p:
            raise ShapeError(
                f"{who}: expected H and W divisible by the patch size {p}, got H={h}, W={w} in "
                f"shape {format_shape(x.shape)}. Crop or pad the frames to a multiple of {p}, "
                f"or build the model with a patch_size that divides both."
            ) from None

    def _to_patches(self, features: Tensor) -> Tensor:
        """Head of one step: concatenated hidden states ``(B, S, h, w)`` -> ``(B, C*p*p, h, w)``."""
        return torch.sigmoid(self.head(features))

    def _check_targets(self, x: Tensor, targets: Tensor, teacher_forcing: float) -> None:
        who = "ConvLSTMForecaster"
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ValueError(
                f"{who}: teacher_forcing has to be a probability in [0, 1], but got "
                f"{teacher_forcing!r}."
            )
        expected = (x.shape[0], self.output_frames, *x.shape[2:])
        if tuple(targets.shape) != expected:
            raise ShapeError(
                f"{who}: expected targets (B, K, C, H, W) of shape {format_shape(expected)} "
                f"(K = output_frames = {self.output_frames}, the rest as the inputs), got "
                f"{format_shape(targets.shape)}."
            ) from None

    def forward_features(
        self, x: Tensor, targets: Tensor | None = None, *, teacher_forcing: float = 0.0
    ) -> Tensor:
        """Encode ``x`` and unroll the forecaster ``K`` steps.

        Args:
            x: input frames ``(B, N, C, H, W)`` in ``[0, 1]``.
            targets: the true next frames ``(B, K, C, H, W)``, for teacher forcing in training.
            teacher_forcing: with ``targets``, the probability that a sequence's forecaster
                step ``k >= 1`` is fed the true frame ``k - 1`` instead of its own prediction
                (drawn per sequence and step: scheduled sampling). 0 ignores ``targets``.

        Returns:
            ``(B, K, num_features, H/p, W/p)``: the forecaster's hidden states of all layers,
            concatenated on the channel axis, at each forecast step.

        Raises:
            ShapeError: ``x`` or ``targets`` has the wrong shape.
            ValueError: ``teacher_forcing`` is not in ``[0, 1]``.
        """
        self._check_input(x)
        p = self.patch_size
        patched = rearrange(
            x, "b n c (h p1) (w p2) -> b n (c p1 p2) h w", p1=p, p2=p
        )  # (B, N, C*p*p, H/p, W/p)
        true_patches = None
        if targets is not None:
            self._check_targets(x, targets, teacher_forcing)
            if teacher_forcing > 0:
                true_patches = rearrange(
                    targets, "b k c (h p1) (w p2) -> b k (c p1 p2) h w", p1=p, p2=p
                )  # (B, K, C*p*p, H/p, W/p)
        _, (h_n, c_n) = self.encoder(patched)
        states = list(zip(self._per_layer(h_n), self._per_layer(c_n), strict=True))
        step_input = patched[:, -1]  # (B, C*p*p, H/p, W/p)
        steps = []
        for step in range(self.output_frames):
            layer_input = step_input
            hidden_states = []
            for layer, cell in enumerate(self.forecaster):
                h, c = cast(ConvLSTMCell, cell)(layer_input, states[layer])
                states[layer] = (h, c)
                hidden_states.append(h)
                layer_input = h
            features = torch.cat(hidden_states, dim=1)  # (B, num_features, H/p, W/p)
            steps.append(features)
            step_input = self._to_patches(features)  # (B, C*p*p, H/p, W/p)
            if true_patches is not None:
                use_truth = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < teacher_forcing
                step_input = torch.where(use_truth, true_patches[:, step], step_input)
        return torch.stack(steps, dim=1)  # (B, K, num_features, H/p, W/p)

    @staticmethod
    def _per_layer(states: Tensor | tuple[Tensor, ...]) -> list[Tensor]:
        """One ``(B, hidden_l, h, w)`` state per layer from the encoder's ``h_n`` or ``c_n``."""
        if isinstance(states, Tensor):
            return list(states.unbind(0))  # (num_layers, B, hidden, h, w) -> per layer
        return [layer_state[0] for layer_state in states]  # each (1, B, hidden_l, h, w)

    def forward_head(self, features: Tensor) -> Tensor:
        """1x1 conv, sigmoid and depth-to-space: ``(B, K, num_features, h, w)`` -> frames.

        Returns:
            ``(B, K, C, H, W)`` in ``(0, 1)``.
        """
        batch = features.shape[0]
        patches = unfold_time(self._to_patches(fold_time(features)), batch)
        # patches: (B, K, C*p*p, H/p, W/p)
        p = self.patch_size
        return rearrange(
            patches, "b k (c p1 p2) h w -> b k c (h p1) (w p2)", p1=p, p2=p
        )  # (B, K, C, H, W)

    def forward(
        self, x: Tensor, targets: Tensor | None = None, *, teacher_forcing: float = 0.0
    ) -> Tensor:
        """Forecast ``K = output_frames`` frames ``(B, K, C, H, W)`` from ``(B, N, C, H, W)``.

        ``targets`` and ``teacher_forcing`` (scheduled sampling in training) are as in
        :meth:`forward_features`.
        """
        features = self.forward_features(x, targets, teacher_forcing=teacher_forcing)
        return self.forward_head(features)


@register_model()
def convlstm_forecaster(
    *,
    in_channels: int = 1,
    image_size: tuple[int, int] = (64, 64),
    input_frames: int = 10,
    output_frames: int = 10,
    hidden_channels: Sequence[int] = (64, 64),
    kernel_size: int = 3,
    patch_size: int = 4,
) -> nn.Module:
    """Next-frame forecaster: patched frames, ConvLSTM encoder and forecaster, 1x1 conv, sigmoid.

    Input ``(B, N, C, H, W)`` in ``[0, 1]`` (``MovingDigits``: ``N = 10`` frames of 64x64),
    output the next ``output_frames`` frames ``(B, K, C, H, W)``. See
    :class:`ConvLSTMForecaster`; compare with :func:`copy_last_frame`.

    Args:
        in_channels: ``C`` of the frames.
        image_size: ``(H, W)``; divisible by ``patch_size``.
        input_frames: ``N`` of the example input; any ``N`` works.
        output_frames: ``K``, the frames forecast.
        hidden_channels: channels of each ConvLSTM layer (encoder and forecaster alike).
        kernel_size: the ConvLSTM kernel size.
        patch_size: the side of the patches stacked into channels (space-to-depth).

    Raises:
        ConfigError: a bad size, or an ``image_size`` not divisible by ``patch_size``.

    Example:
        >>> model = convlstm_forecaster(image_size=(16, 16), input_frames=4, output_frames=3,
        ...                             hidden_channels=(4,), patch_size=2)
        >>> model(torch.rand(2, 4, 1, 16, 16)).shape
        torch.Size([2, 3, 1, 16, 16])
    """
    return ConvLSTMForecaster(
        in_channels=in_channels,
        image_size=image_size,
        input_frames=input_frames,
        output_frames=output_frames,
        hidden_channels=hidden_channels,
        kernel_size=kernel_size,
        patch_size=patch_size,
    )
