"""Classifier families: clips of frames (LRCN, ConvLSTM, a single-frame baseline) and images read
as sequences.

``clip_classifier`` takes ``(B, T, C, H, W)`` clips (any ``T``; ``lengths`` marks padded ones)
and returns logits ``(B, num_classes)``. Its ``bridge`` picks how the frames meet the recurrence:

- ``"temporal"`` (LRCN, Donahue et al. 2015): ``TimeDistributed(SimpleCNN)`` ->
  ``GlobalPoolBridge`` (one feature vector per frame) -> LSTM/GRU -> linear head, built as a
  :class:`~cnnlstm.models.cnnlstm.CNNLSTM`.
- ``"convlstm"``: the same per-frame CNN, then a ConvLSTM over its feature maps (the grid is
  kept through time), its hidden state at each clip's last valid step pooled, then the head.
- ``"single_frame"``: the baseline without recurrence: the clip's last valid frame (the last
  frame without ``lengths``) through the same CNN, pooling and head. A temporal model that does
  not beat it has not learnt anything from the order of the frames.

``image_sequence_classifier`` reads one image ``(B, C, H, W)`` as a sequence (its columns, rows,
cells in a scan order, or pooled channels) after an optional CNN, then an LSTM/GRU and a head.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import torch
from einops import rearrange
from torch import Tensor, nn

from cnnlstm.errors import ConfigError, ShapeError
from cnnlstm.functional import (
    POOLS,
    SPATIAL_ORDERS,
    PoolName,
    StepsName,
    channels_last_hint,
    check_lengths,
    format_shape,
)
from cnnlstm.layers.convlstm import ConvLSTM
from cnnlstm.layers.pooling import GlobalPoolBridge
from cnnlstm.layers.spatial import SpatialSequence
from cnnlstm.layers.time_distributed import TimeDistributed
from cnnlstm.models.backbones import NORMS, NormName, SimpleCNN
from cnnlstm.models.cnnlstm import CNNLSTM
from cnnlstm.models.diagnose import probe_backbone
from cnnlstm.models.registry import (
    check_choice,
    check_ints,
    check_positive_int,
    check_probability,
    register_model,
)

__all__ = [
    "CLIP_BRIDGES",
    "IMAGE_BRIDGES",
    "CNNLSTMClassifier",
    "ConvLSTMClassifier",
    "SingleFrameClassifier",
    "clip_classifier",
    "image_sequence_classifier",
]

ClipBridge = Literal["temporal", "convlstm", "single_frame"]
ImageBridge = Literal[
    "columns", "rows", "raster", "raster_columns", "snake", "hilbert", "pool", "pool_channels"
]
RnnName = Literal["lstm", "gru"]

CLIP_BRIDGES: tuple[str, ...] = get_args(ClipBridge)
"""The ``bridge`` names of :func:`clip_classifier`."""

IMAGE_BRIDGES: tuple[str, ...] = get_args(ImageBridge)
"""The ``bridge`` names of :func:`image_sequence_classifier`: the spatial orders, then pooling."""

_RNNS: tuple[str, ...] = get_args(RnnName)


class CNNLSTMClassifier(CNNLSTM):
    """A :class:`~cnnlstm.models.cnnlstm.CNNLSTM` with a class head, as the factories build it.

    It adds ``example_input_shape`` (its ``input_shape``) to the registry's interface; all
    arguments are :class:`~cnnlstm.models.cnnlstm.CNNLSTM`'s.

    Example:
        >>> model = clip_classifier(num_classes=3, frames=4, image_size=(16, 16),
        ...                         channels=(4, 8), hidden_size=8)
        >>> model(torch.randn(2, *model.example_input_shape)).shape
        torch.Size([2, 3])
    """

    @property
    def example_input_shape(self) -> tuple[int, ...]:
        """One example's shape without the batch axis: ``(T, C, H, W)`` or ``(C, H, W)``."""
        return tuple(self.input_shape)

    def _rebuild_hint(self, example_shape: tuple[int, ...]) -> str:
        """The factory settings (``in_channels``, ``image_size``) that fit ``example_shape``."""
        return _rebuild_with(self.input_shape, example_shape)


def _rebuild_with(built: Sequence[int], example_shape: Sequence[int]) -> str:
    """How to build a factory's model for one example of ``example_shape`` (C, H, W last).

    Names the factory settings that differ from the ``built`` example shape, as Python
    arguments and as the command line's options, or ``""`` when none does.

    Example:
        >>> _rebuild_with((8, 3, 64, 64), (8, 1, 64, 64))
        'build the model with in_channels=1 (on the command line: --model.init_args.model_args.in_channels 1)'
    """  # noqa: E501
    changes: list[tuple[str, str, str]] = []
    if example_shape[-3] != built[-3]:
        c = int(example_shape[-3])
        changes.append(("in_channels", f"{c}", f"{c}"))
    if tuple(example_shape[-2:]) != tuple(built[-2:]):
        h, w = (int(s) for s in example_shape[-2:])
        changes.append(("image_size", f"({h}, {w})", f"[{h},{w}]"))
    if not changes:
        return ""
    python = " and ".join(f"{name}={value}" for name, value, _ in changes)
    cli = " ".join(f"--model.init_args.model_args.{name} {value}" for name, _, value in changes)
    return f"build the model with {python} (on the command line: {cli})"


def _check_clip(who: str, x: Tensor, example: tuple[int, ...]) -> None:
    """ShapeError unless ``x`` is a clip ``(B, T, C, H, W)`` with the example's ``C``."""
    t, c, h, w = example
    if x.dim() != 5:
        hint = (
            " One image per clip needs a time axis (x.unsqueeze(1))."
            if x.dim() == 4
            else " A single clip needs a batch axis (x.unsqueeze(0))."
            if tuple(x.shape) == example
            else ""
        )
        raise ShapeError(
            f"{who}: expected clips (B, T, C, H, W) like (B, {t}, {c}, {h}, {w}), got a "
            f"{x.dim()}-D tensor of shape {format_shape(x.shape)}.{hint}"
        ) from None
    if x.shape[2] != c:
        moved = channels_last_hint(x.shape, c)
        if moved is not None:
            rebuild = _rebuild_with(example, (x.shape[-1], *x.shape[2:4]))
            hint = moved + (f" Then {rebuild}." if rebuild else "")
        else:
            rebuild = _rebuild_with(example, x.shape[2:])
            hint = f"Give it {c}-channel frames (channels at axis 2), or {rebuild}."
        raise ShapeError(
            f"{who}: expected C={c} channels at axis 2 of (B, T, C, H, W), got shape "
            f"{format_shape(x.shape)}. {hint}"
        ) from None


class ConvLSTMClassifier(nn.Module):
    """Per-frame CNN -> ConvLSTM over the feature maps -> pooled last state -> linear head.

    The ConvLSTM keeps each frame's ``H' x W'`` grid through time; its hidden state at each
    clip's last valid step (both directions' final states when bidirectional, forward first) is
    pooled over positions and classified.

    Args:
        backbone: a per-frame CNN ``(N, C, H, W) -> (N, C', H', W')``; it is wrapped in
            :class:`~cnnlstm.layers.time_distributed.TimeDistributed` unless it is one.
        input_shape: one clip's shape ``(T, C, H, W)`` (any ``T`` works later).
        num_classes: outputs of the head.
        hidden_channels: channels of the ConvLSTM's state.
        kernel_size: the ConvLSTM's kernel size.
        bidirectional: also run the ConvLSTM backwards in time.
        pool: how the state is pooled over positions: ``"avg"``, ``"max"``, ``"avgmax"`` or
            ``"attention"``.
        dropout: dropout on the pooled features before the head.

    Raises:
        ValueError: a bad argument.
        ShapeError: the backbone cannot take frames of ``input_shape``.

    Example:
        >>> model = ConvLSTMClassifier(SimpleCNN(1, channels=(4,)), input_shape=(4, 1, 8, 8),
        ...                            num_classes=3, hidden_channels=6)
        >>> model(torch.randn(2, 5, 1, 8, 8), lengths=torch.tensor([5, 2])).shape
        torch.Size([2, 3])
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        input_shape: Sequence[int],
        num_classes: int,
        hidden_channels: int = 64,
        kernel_size: int = 3,
        bidirectional: bool = False,
        pool: PoolName = "avg",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        if len(self.input_shape) != 4:
            raise ValueError(
                f"ConvLSTMClassifier: input_shape has to be one clip's (T, C, H, W), but got "
                f"{input_shape!r}."
            )
        self.backbone = (
            backbone if isinstance(backbone, TimeDistributed) else TimeDistributed(backbone)
        )
        feature_shape = probe_backbone(
            self.backbone,
            (2, *self.input_shape),
            input_shape=self.input_shape,
            who="ConvLSTMClassifier",
        )
        if len(feature_shape) != 5:
            raise ShapeError(
                f"ConvLSTMClassifier: the backbone has to turn each frame into a feature map "
                f"(C', H', W'), but it turns clips of shape {format_shape((2, *self.input_shape))}"
                f" into {format_shape(feature_shape)}."
            ) from None
        _, _, channels, height, width = feature_shape
        self.convlstm = ConvLSTM(
            channels, hidden_channels, kernel_size, bidirectional=bidirectional
        )
        self.directions = 2 if bidirectional else 1
        state_channels = hidden_channels * self.directions
        self.pool = GlobalPoolBridge(pool, channels=state_channels)
        self.num_features = self.pool.out_features((2, state_channels, height, width))
        self.head_drop = nn.Dropout(dropout)
        self.head = nn.Linear(self.num_features, num_classes)

    @property
    def example_input_shape(self) -> tuple[int, ...]:
        """One example clip's shape ``(T, C, H, W)``."""
        return self.input_shape

    def forward_features(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``(B, T, C, H, W)`` -> pooled final ConvLSTM state ``(B, num_features)``.

        Args:
            x: clips ``(B, T, C, H, W)``.
            lengths: ``(B,)`` valid frames of each clip; padded frames reach neither the CNN nor
                the ConvLSTM.
        """
        _check_clip("ConvLSTMClassifier", x, self.input_shape)
        features = self.backbone(x, lengths=lengths)  # (B, T, C', H', W')
        _, (h_n, _) = self.convlstm(features, lengths=lengths)
        assert isinstance(h_n, Tensor)  # one layer: one stacked tensor
        last = rearrange(h_n, "d b c h w -> b (d c) h w")  # (B, dirs*hidden, H', W')
        pooled: Tensor = self.pool(last)  # (B, 1, num_features)
        return pooled[:, 0]  # (B, num_features)

    def forward_head(self, features: Tensor) -> Tensor:
        """Dropout and the linear head: ``(B, num_features)`` -> ``(B, num_classes)``."""
        return self.head(self.head_drop(features))  # type: ignore[no-any-return]

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Logits ``(B, num_classes)`` for clips ``(B, T, C, H, W)``."""
        return self.forward_head(self.forward_features(x, lengths))


class SingleFrameClassifier(nn.Module):
    """The baseline that sees one frame of each clip: CNN -> global pooling -> linear head.

    The frame is each clip's last valid frame: ``x[b, lengths[b] - 1]``, or ``x[:, -1]`` without
    ``lengths``. Build it with the same CNN and pooling as a temporal model to learn what the
    recurrence adds.

    Args:
        backbone: a CNN ``(B, C, H, W) -> (B, C', H', W')`` (a ``TimeDistributed`` one is
            unwrapped).
        input_shape: one clip's shape ``(T, C, H, W)`` (any ``T`` works later).
        num_classes: outputs of the head.
        pool: ``"avg"``, ``"max"``, ``"avgmax"`` or ``"attention"``.
        dropout: dropout on the pooled features before the head.

    Raises:
        ValueError: a bad argument.
        ShapeError: the backbone cannot take frames of ``input_shape``.

    Example:
        >>> model = SingleFrameClassifier(SimpleCNN(1, channels=(4,)), input_shape=(4, 1, 8, 8),
        ...                               num_classes=3)
        >>> model(torch.randn(2, 4, 1, 8, 8)).shape
        torch.Size([2, 3])
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        input_shape: Sequence[int],
        num_classes: int,
        pool: PoolName = "avg",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        if len(self.input_shape) != 4:
            raise ValueError(
                f"SingleFrameClassifier: input_shape has to be one clip's (T, C, H, W), but got "
                f"{input_shape!r}."
            )
        self.backbone = backbone.module if isinstance(backbone, TimeDistributed) else backbone
        feature_shape = probe_backbone(
            self.backbone,
            (2, *self.input_shape[1:]),
            input_shape=self.input_shape[1:],
            who="SingleFrameClassifier",
        )
        if len(feature_shape) != 4:
            raise ShapeError(
                f"SingleFrameClassifier: the backbone has to turn a frame into a feature map "
                f"(C', H', W'), but it turns frames of shape "
                f"{format_shape((2, *self.input_shape[1:]))} into {format_shape(feature_shape)}."
            ) from None
        self.pool = GlobalPoolBridge(pool, channels=feature_shape[1])
        self.num_features = self.pool.out_features(feature_shape)
        self.head_drop = nn.Dropout(dropout)
        self.head = nn.Linear(self.num_features, num_classes)

    @property
    def example_input_shape(self) -> tuple[int, ...]:
        """One example clip's shape ``(T, C, H, W)``."""
        return self.input_shape

    def forward_features(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Pooled CNN features of each clip's last valid frame: ``(B, num_features)``."""
        _check_clip("SingleFrameClassifier", x, self.input_shape)
        if lengths is None:
            frame = x[:, -1]  # (B, C, H, W)
        else:
            lengths = check_lengths(lengths, x.shape[0], x.shape[1], who="SingleFrameClassifier")
            batch_index = torch.arange(x.shape[0], device=x.device)  # (B,)
            frame = x[batch_index, lengths.to(x.device) - 1]  # (B, C, H, W)
        pooled: Tensor = self.pool(self.backbone(frame))  # (B, 1, num_features)
        return pooled[:, 0]  # (B, num_features)

    def forward_head(self, features: Tensor) -> Tensor:
        """Dropout and the linear head: ``(B, num_features)`` -> ``(B, num_classes)``."""
        return self.head(self.head_drop(features))  # type: ignore[no-any-return]

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Logits ``(B, num_classes)`` for clips ``(B, T, C, H, W)``."""
        return self.forward_head(self.forward_features(x, lengths))


def _frame_backbone(
    who: str,
    backbone: nn.Module | None,
    in_channels: int,
    channels: Sequence[int],
    frame_shape: tuple[int, int, int],
    *,
    norm: NormName = "batch",
) -> tuple[nn.Module, int]:
    """The per-frame CNN (a SimpleCNN unless given) and its output channels ``C'``."""
    if backbone is None:
        widths = check_ints(who, "channels", channels)
        cnn = SimpleCNN(in_channels, channels=widths, norm=norm)
        _, height, width = frame_shape
        if min(height, width) < cnn.reduction:  # fails now, not at the first batch
            least = cnn.reduction
            fits = min(height, width).bit_length() - 1  # the stages that image_size allows
            flag = "--model.init_args.model_args."
            fewer = (
                f", or with fewer channels entries ({flag}channels "
                f"[{','.join(str(c) for c in widths[:fits])}])"
                if fits >= 1
                else ""
            )
            raise ShapeError(
                f"{who}: image_size=({height}, {width}) is too small for channels="
                f"{list(widths)}: each of its {len(widths)} stages halves H and W, so both have "
                f"to be at least {least}. Build the model with image_size of at least "
                f"({least}, {least}) and inputs of that size ({flag}image_size "
                f"[{max(height, least)},{max(width, least)}]){fewer}."
            )
        return cnn, cnn.out_channels
    if not isinstance(backbone, nn.Module):
        raise ConfigError(
            f"{who}: backbone has to be an nn.Module or None, but got {type(backbone).__name__}."
        )
    frame_cnn = backbone.module if isinstance(backbone, TimeDistributed) else backbone
    shape = probe_backbone(frame_cnn, (2, *frame_shape), input_shape=frame_shape, who=who)
    if len(shape) != 4:
        raise ConfigError(
            f"{who}: backbone has to map images (B, C, H, W) to feature maps (B, C', H', W'), "
            f"but it maps {format_shape((2, *frame_shape))} to {format_shape(shape)}."
        )
    return backbone, shape[1]


def _check_choices(
    who: str, *, bridge: object, bridges: Sequence[str], pool: object, rnn: object, norm: object
) -> None:
    """Check the named choices both classifier factories take, in this order."""
    check_choice(who, "bridge", bridge, bridges)
    check_choice(who, "pool", pool, POOLS)
    check_choice(who, "rnn", rnn, _RNNS)
    check_choice(who, "norm", norm, NORMS)


def _check_sizes(
    who: str, image_size: object, dropout: object, **positive: object
) -> tuple[int, int, float]:
    """Check each of ``positive`` (in order), then ``image_size`` and ``dropout``.

    Returns:
        ``(height, width, dropout)``.
    """
    for name, value in positive.items():
        check_positive_int(who, name, value)
    height, width = check_ints(who, "image_size", image_size, size=2)
    return height, width, check_probability(who, "dropout", dropout)


@register_model()
def clip_classifier(
    *,
    num_classes: int = 10,
    in_channels: int = 1,
    frames: int = 10,
    image_size: tuple[int, int] = (32, 32),
    bridge: ClipBridge = "temporal",
    pool: PoolName = "avg",
    rnn: RnnName = "lstm",
    hidden_size: int = 128,
    bidirectional: bool = False,
    dropout: float = 0.0,
    backbone: nn.Module | None = None,
    channels: Sequence[int] = (32, 64),
    norm: NormName = "batch",
) -> nn.Module:
    """Clip classifier: per-frame CNN, then an LSTM/GRU (LRCN), a ConvLSTM, or one frame only.

    Input ``(B, T, C, H, W)`` (any ``T``; ``forward(x, lengths)`` for padded clips), output
    logits ``(B, num_classes)``.

    Args:
        num_classes: outputs of the head (10 for ``DigitClips`` digits).
        in_channels: ``C`` of the frames.
        frames: ``T`` of the example clip (``example_input_shape``); other lengths work too.
        image_size: ``(H, W)`` of the frames.
        bridge: ``"temporal"`` (CNN per frame -> pooled vector per frame -> LSTM/GRU),
            ``"convlstm"`` (CNN per frame -> ConvLSTM with ``hidden_size`` channels -> pooled
            last state) or ``"single_frame"`` (the last valid frame only, no recurrence).
        pool: how feature maps are pooled: ``"avg"``, ``"max"``, ``"avgmax"``, ``"attention"``.
        rnn: ``"lstm"`` or ``"gru"``; ``bridge="convlstm"`` needs ``"lstm"``.
        hidden_size: LSTM/GRU units, or the ConvLSTM's channels for ``"convlstm"``.
        bidirectional: also read the clip backwards (``"temporal"`` and ``"convlstm"``).
        dropout: dropout on the features before the head.
        backbone: a per-frame CNN ``(N, C, H, W) -> (N, C', H', W')`` to use instead of
            ``SimpleCNN(in_channels, channels=channels)``.
        channels: the channels of the built-in ``SimpleCNN``'s stages (each halves H and W).
        norm: the built-in ``SimpleCNN``'s normalisation: ``"batch"``, ``"group"``,
            ``"instance"`` or ``"none"``. Under DDP, ``"batch"`` normalises each process's part
            of the batch (set the Trainer's ``sync_batchnorm: true`` on GPUs); ``"group"`` and
            ``"instance"`` normalise each frame alone, so they train alike on any number of
            processes. Not used with a ``backbone`` of your own.

    ``"single_frame"`` has no recurrence: ``rnn``, ``hidden_size`` and ``bidirectional`` are
    not used, so one config can switch between the bridges.

    Raises:
        ConfigError: an unknown bridge, pool, rnn or norm, ``rnn="gru"`` with
            ``bridge="convlstm"``, or a bad size.
        ShapeError: the backbone cannot take frames of ``image_size``.

    Example:
        >>> model = clip_classifier(num_classes=4, frames=3, image_size=(16, 16),
        ...                         bridge="convlstm", channels=(4, 8), hidden_size=8)
        >>> model(torch.randn(2, 3, 1, 16, 16)).shape
        torch.Size([2, 4])
    """
    who = "clip_classifier"
    _check_choices(who, bridge=bridge, bridges=CLIP_BRIDGES, pool=pool, rnn=rnn, norm=norm)
    if rnn == "gru" and bridge == "convlstm":
        raise ConfigError(
            f"{who}: rnn has to be 'lstm' with bridge='convlstm' (its recurrence is a ConvLSTM), "
            f"but got rnn='gru'. Valid combinations: bridge='temporal' with rnn='lstm' or 'gru'; "
            f"bridge='convlstm' with rnn='lstm'; bridge='single_frame' (no recurrence) with any."
        )
    height, width, dropout = _check_sizes(
        who,
        image_size,
        dropout,
        num_classes=num_classes,
        in_channels=in_channels,
        frames=frames,
        hidden_size=hidden_size,
    )
    input_shape = (frames, in_channels, height, width)
    cnn, features = _frame_backbone(
        who, backbone, in_channels, channels, (in_channels, height, width), norm=norm
    )

    if bridge == "single_frame":
        return SingleFrameClassifier(
            cnn, input_shape=input_shape, num_classes=num_classes, pool=pool, dropout=dropout
        )
    if bridge == "convlstm":
        return ConvLSTMClassifier(
            cnn,
            input_shape=input_shape,
            num_classes=num_classes,
            hidden_channels=hidden_size,
            bidirectional=bidirectional,
            pool=pool,
            dropout=dropout,
        )
    frame_cnn = cnn if isinstance(cnn, TimeDistributed) else TimeDistributed(cnn)
    return CNNLSTMClassifier(
        frame_cnn,
        GlobalPoolBridge(pool, channels=features),
        input_shape=input_shape,
        rnn=rnn,
        hidden_size=hidden_size,
        bidirectional=bidirectional,
        dropout=dropout,
        head=num_classes,
    )


@register_model()
def image_sequence_classifier(
    *,
    num_classes: int = 10,
    in_channels: int = 1,
    image_size: tuple[int, int] = (28, 28),
    bridge: ImageBridge = "columns",
    pool: PoolName = "avg",
    rnn: RnnName = "lstm",
    hidden_size: int = 128,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    backbone: nn.Module | None = None,
    channels: Sequence[int] = (32, 64),
    norm: NormName = "batch",
) -> nn.Module:
    """Image classifier that reads one image as a sequence: CNN -> bridge -> LSTM/GRU -> head.

    Input ``(B, C, H, W)``, output logits ``(B, num_classes)``.

    Args:
        num_classes: outputs of the head.
        in_channels: ``C`` of the images.
        image_size: ``(H, W)`` of the images.
        bridge: how the feature map becomes a sequence: ``"columns"`` (each column a step,
            ``(B, W', C'*H')``), ``"rows"``, the cell orders ``"raster"``,
            ``"raster_columns"``, ``"snake"``, ``"hilbert"`` (each position a step of ``C'``
            features), ``"pool"`` (one pooled step) or ``"pool_channels"`` (the ``C'``
            channels as steps). See :class:`~cnnlstm.layers.spatial.SpatialSequence` and
            :class:`~cnnlstm.layers.pooling.GlobalPoolBridge`.
        pool: the pooling of ``"pool"`` and ``"pool_channels"`` (``"avg"``, ``"max"``,
            ``"avgmax"``, ``"attention"``); the other bridges do not pool.
        rnn: ``"lstm"`` or ``"gru"``.
        hidden_size: units per direction of the recurrent layer.
        num_layers: stacked recurrent layers.
        bidirectional: also read the sequence backwards.
        dropout: dropout between recurrent layers and before the head.
        backbone: a CNN ``(B, C, H, W) -> (B, C', H', W')`` to use instead of the built-in one.
        channels: the built-in ``SimpleCNN``'s stages (each halves H and W); ``()`` reads the
            raw pixels (row by row as in sequential MNIST with ``bridge="rows"``).
        norm: the built-in ``SimpleCNN``'s normalisation: ``"batch"``, ``"group"``,
            ``"instance"`` or ``"none"`` (see :func:`clip_classifier` for DDP).

    Raises:
        ConfigError: an unknown bridge, pool, rnn or norm, or a bad size.
        ShapeError: the backbone cannot take images of ``image_size``.

    Example:
        >>> model = image_sequence_classifier(bridge="hilbert", image_size=(16, 16),
        ...                                   channels=(4, 8), hidden_size=8)
        >>> model(torch.randn(2, 1, 16, 16)).shape
        torch.Size([2, 10])
    """
    who = "image_sequence_classifier"
    _check_choices(who, bridge=bridge, bridges=IMAGE_BRIDGES, pool=pool, rnn=rnn, norm=norm)
    height, width, dropout = _check_sizes(
        who,
        image_size,
        dropout,
        num_classes=num_classes,
        in_channels=in_channels,
        hidden_size=hidden_size,
        num_layers=num_layers,
    )
    image_shape = (in_channels, height, width)
    cnn: nn.Module
    raw_pixels = not isinstance(channels, str) and isinstance(channels, Sequence)
    if backbone is None and raw_pixels and len(channels) == 0:
        cnn, features = nn.Identity(), in_channels
    else:
        cnn, features = _frame_backbone(
            who, backbone, in_channels, channels, image_shape, norm=norm
        )

    seq_bridge: nn.Module
    if bridge in SPATIAL_ORDERS:
        seq_bridge = SpatialSequence(bridge)  # type: ignore[arg-type]
    else:
        steps: StepsName = "channels" if bridge == "pool_channels" else "single"
        seq_bridge = GlobalPoolBridge(pool, steps, channels=features)
    return CNNLSTMClassifier(
        cnn,
        seq_bridge,
        input_shape=image_shape,
        rnn=rnn,
        hidden_size=hidden_size,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dropout=dropout,
        head=num_classes,
    )
