"""``CNNLSTM``: a backbone, a bridge and a recurrent layer that sizes itself, with an optional head.

The model reads an image ``(B, C, H, W)`` or a clip ``(B, T, C, H, W)``::

    x -backbone-> feature maps -bridge-> (B, L, F) -LSTM/GRU-> (B, D) or (B, L, D) -head-> ...

where ``D = hidden_size * directions``. The recurrent layer's ``input_size`` ``F`` comes from the
bridge's output shape, worked out when the model is built, so nobody computes ``C*H`` by hand.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Literal

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from cnnlstm.errors import ShapeError
from cnnlstm.functional import channels_last_hint, check_lengths, format_shape, lengths_to_mask
from cnnlstm.layers.base import first_tensor, probe_output_shape
from cnnlstm.layers.time_distributed import TimeDistributed
from cnnlstm.models.diagnose import batch_shape, clip_or_frames_error, probe_backbone

__all__ = ["CNNLSTM"]

# Batch size of the probe that finds the backbone's output shape. Two, not one, so layers that
# squeeze or normalise over the batch behave as they do in training.
_PROBE_BATCH = 2


def _takes_lengths(module: nn.Module) -> bool:
    try:
        return "lengths" in inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False


class CNNLSTM(nn.Module):
    """A CNN backbone, a bridge to a sequence, a recurrent layer sized from the bridge, a head.

    Args:
        backbone: the feature extractor. For a clip ``input_shape=(T, C, H, W)`` this is usually
            ``TimeDistributed(cnn)``; a CNN that only takes ``(B, C, H, W)`` is wrapped in
            :class:`~cnnlstm.layers.time_distributed.TimeDistributed` automatically (check with
            ``model.backbone``). A backbone that returns a tuple (``ConvLSTM``) gives its first
            element to the bridge.
        bridge: turns the backbone's output into ``(B, L, F)``: ``GlobalPoolBridge``,
            ``SpatialSequence`` or any module (its ``output_shape`` is used when it has one).
        input_shape: one example's shape without the batch axis: ``(C, H, W)`` for an image or
            ``(T, C, H, W)`` for a clip. The backbone's and bridge's output shapes, and hence the
            recurrent layer's ``input_size``, are found from it when the model is built.
        rnn: ``"lstm"`` or ``"gru"`` to build one sized ``input_size=F``, or a ready
            ``nn.LSTM`` / ``nn.GRU`` whose ``input_size`` has to be ``F``; its own
            ``hidden_size``, ``num_layers`` and ``bidirectional`` are used, and the three
            arguments below are ignored.
        hidden_size: hidden units per direction of a built recurrent layer.
        num_layers: stacked recurrent layers of a built recurrent layer.
        bidirectional: whether a built recurrent layer also reads the sequence backwards.
        dropout: dropout between stacked recurrent layers (when ``num_layers > 1``) and on the
            recurrent features before the head.
        head: an ``int`` ``n`` for ``nn.Linear(num_features, n)``, a module used as it is, or
            ``None`` for no head (the model returns the recurrent features).
        output: ``"last"`` returns ``(B, D)``, each sequence's last valid step (for a
            bidirectional layer: the forward direction's last valid step concatenated with the
            backward direction's output at step 0); ``"all"`` returns every step ``(B, L, D)``
            with zeros at padded steps. ``D = hidden_size * directions`` is ``num_features``.

    Inputs whose axes differ from ``input_shape`` are accepted when the channels match and the
    bridge still produces ``F`` features per step: more or fewer frames, or a wider text line
    read by columns.

    Raises:
        ValueError: a bad argument.
        ShapeError: the backbone cannot take ``input_shape`` (the message names the layer that
            failed and what to change: ``input_shape`` or that layer's ``in_channels``, or a
            larger input or fewer pooling layers when the feature map became too small; see
            :func:`~cnnlstm.models.diagnose.probe_backbone`), the bridge cannot take the
            backbone's output, or a given recurrent layer's ``input_size`` is not ``F``.

    Example:
        >>> from cnnlstm.layers.pooling import GlobalPoolBridge
        >>> cnn = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        >>> model = CNNLSTM(cnn, GlobalPoolBridge(pool="avg"), input_shape=(8, 3, 32, 32),
        ...                 hidden_size=32, head=5)
        >>> model(torch.randn(2, 8, 3, 32, 32)).shape
        torch.Size([2, 5])
    """

    def __init__(
        self,
        backbone: nn.Module,
        bridge: nn.Module,
        *,
        input_shape: Sequence[int],
        rnn: Literal["lstm", "gru"] | nn.LSTM | nn.GRU = "lstm",
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        head: int | nn.Module | None = None,
        output: Literal["last", "all"] = "last",
    ) -> None:
        super().__init__()
        shape = tuple(input_shape)
        if len(shape) not in (3, 4) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape
        ):
            raise ValueError(
                "input_shape has to be (C, H, W) for an image or (T, C, H, W) for a clip, "
                f"positive integers without the batch axis, but got {input_shape!r}"
            )
        if output not in ("last", "all"):
            raise ValueError(f"output has to be 'last' or 'all', but got {output!r}")
        if not isinstance(rnn, nn.RNNBase):
            if rnn not in ("lstm", "gru"):
                raise ValueError(
                    f"rnn has to be 'lstm', 'gru', an nn.LSTM or an nn.GRU, but got {rnn!r}"
                )
            for name, value in (("hidden_size", hidden_size), ("num_layers", num_layers)):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(f"{name} has to be a positive integer, but got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout has to be in [0, 1), but got {dropout!r}")
        if not (
            head is None
            or isinstance(head, nn.Module)
            or (isinstance(head, int) and not isinstance(head, bool) and head > 0)
        ):
            raise ValueError(
                "head has to be a positive number of outputs, an nn.Module or None, "
                f"but got {head!r}"
            )

        self.input_shape = shape
        self.output = output
        self.is_clip = len(shape) == 4
        probe_shape = (_PROBE_BATCH, *shape)
        self.backbone = self._wrap_if_frame_cnn(backbone, probe_shape)
        feature_shape = probe_backbone(self.backbone, probe_shape, input_shape=shape)
        try:
            sequence_shape = probe_output_shape(bridge, feature_shape)
        except ShapeError as error:
            raise ShapeError(
                f"CNNLSTM: the backbone turns input_shape={format_shape(shape)} into "
                f"{batch_shape(feature_shape)}, which the bridge cannot take: {error}"
            ) from None
        if len(sequence_shape) != 3 or sequence_shape[0] != _PROBE_BATCH:
            raise ShapeError(
                f"CNNLSTM: the bridge has to produce a sequence (B, L, F), but it turns "
                f"{batch_shape(feature_shape)} into {batch_shape(sequence_shape)}."
            )
        self.bridge = bridge
        self.feature_shape = feature_shape[1:]
        self.sequence_shape = sequence_shape[1:]
        in_features = sequence_shape[2]

        self.rnn: nn.RNNBase
        if isinstance(rnn, nn.RNNBase):
            if rnn.input_size != in_features:
                raise ShapeError(
                    f"CNNLSTM: the bridge produces F={in_features} features per step "
                    f"({batch_shape(sequence_shape)} for input "
                    f"{batch_shape(probe_shape)}), but the given {type(rnn).__name__} has "
                    f"input_size={rnn.input_size}. Build it as {type(rnn).__name__}("
                    f"{in_features}, ...), or pass rnn='{type(rnn).__name__.lower()}' to size it "
                    f"automatically."
                )
            self.rnn = rnn
        else:
            rnn_class = nn.LSTM if rnn == "lstm" else nn.GRU
            self.rnn = rnn_class(
                in_features,
                hidden_size,
                num_layers=num_layers,
                batch_first=True,
                dropout=dropout if num_layers > 1 else 0.0,
                bidirectional=bidirectional,
            )
        proj_size = int(getattr(self.rnn, "proj_size", 0))
        self._rnn_out = proj_size if proj_size > 0 else self.rnn.hidden_size
        self._directions = 2 if self.rnn.bidirectional else 1
        self.num_features = self._rnn_out * self._directions
        self.head_drop = nn.Dropout(dropout)
        if head is None:
            self.head: nn.Module = nn.Identity()
        elif isinstance(head, nn.Module):
            self.head = head
        else:
            self.head = nn.Linear(self.num_features, head)
        self._backbone_takes_lengths = _takes_lengths(self.backbone)

    def _wrap_if_frame_cnn(self, backbone: nn.Module, probe_shape: tuple[int, ...]) -> nn.Module:
        """Wrap a CNN that takes only ``(B, C, H, W)`` in TimeDistributed for a clip input."""
        if not self.is_clip or isinstance(backbone, TimeDistributed):
            return backbone
        try:
            probe_output_shape(backbone, probe_shape)
        except Exception as clip_error:
            frames_shape = (probe_shape[0] * probe_shape[1], *probe_shape[2:])  # (B*T, C, H, W)
            try:
                probe_output_shape(backbone, frames_shape)
            except Exception as frames_error:
                raise clip_or_frames_error(
                    backbone, probe_shape, clip_error, frames_error
                ) from None
            return TimeDistributed(backbone)
        return backbone

    def extra_repr(self) -> str:
        return (
            f"input_shape={format_shape(self.input_shape)}, "
            f"feature_shape={format_shape(self.feature_shape)}, "
            f"sequence_shape={format_shape(self.sequence_shape)}, "
            f"num_features={self.num_features}, output={self.output!r}"
        )

    def _check_input(self, x: Tensor) -> None:
        expected = batch_shape((0, *self.input_shape))
        where = f"CNNLSTM(input_shape={format_shape(self.input_shape)})"
        if x.dim() != len(self.input_shape) + 1:
            if tuple(x.shape) == self.input_shape:
                hint = "Add the batch axis, e.g. x.unsqueeze(0)."
            elif x.dim() == 5:
                hint = "For clips of frames build the model with input_shape=(T, C, H, W)."
            elif x.dim() == 4 and self.is_clip:
                hint = (
                    "For a batch of images build the model with input_shape=(C, H, W); for one "
                    "clip add the batch axis, e.g. x.unsqueeze(0)."
                )
            elif x.dim() == len(self.input_shape):
                hint = "Add the batch axis, e.g. x.unsqueeze(0)."
            else:
                hint = "Pass one batch shaped like input_shape with a batch axis in front."
            raise ShapeError(
                f"{where}: expected a {len(self.input_shape) + 1}-D input {expected}, got a "
                f"{x.dim()}-D tensor of shape {format_shape(x.shape)}. {hint}"
            ) from None
        channels = self.input_shape[-3]
        if x.shape[-3] != channels:
            moved = channels_last_hint(x.shape, channels)
            if moved is not None:
                last = (*x.shape[1:-3], x.shape[-1], *x.shape[-3:-1])  # one example, C first
                rebuild = self._rebuild_hint(last)
                hint = moved + (f" Then {rebuild}." if rebuild else "")
            else:
                rebuild = self._rebuild_hint(tuple(x.shape[1:]))
                hint = (
                    f"Give it {channels}-channel input (channels at axis {x.dim() - 3}), or "
                    f"{rebuild}."
                )
            raise ShapeError(
                f"{where}: expected input {expected} with C={channels} channels, got "
                f"shape {format_shape(x.shape)} with {x.shape[-3]}. {hint}"
            ) from None

    def _rebuild_hint(self, example_shape: tuple[int, ...]) -> str:
        """How to build this model for inputs of one example's ``example_shape`` (no batch axis).

        ``""`` when the model already takes that shape. A subclass built by a factory names the
        factory's settings instead of ``input_shape``.

        Example:
            >>> from cnnlstm.layers.pooling import GlobalPoolBridge
            >>> model = CNNLSTM(nn.Conv2d(1, 4, 3), GlobalPoolBridge(), input_shape=(1, 8, 8))
            >>> model._rebuild_hint((3, 8, 8))
            'build the model with input_shape=(3, 8, 8) (and a backbone that takes 3 channels)'
        """
        if tuple(example_shape[-3:]) == tuple(self.input_shape[-3:]):
            return ""
        wanted = (*self.input_shape[:-3], *example_shape[-3:])  # keeps the example's T
        backbone = (
            f" (and a backbone that takes {example_shape[-3]} channels)"
            if example_shape[-3] != self.input_shape[-3]
            else ""
        )
        return f"build the model with input_shape={format_shape(wanted)}{backbone}"

    def forward_features(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Backbone, bridge and recurrent layer: the features before the head.

        Args:
            x: ``(B, C, H, W)`` or ``(B, T, C, H, W)``, as ``input_shape`` says.
            lengths: ``(B,)`` valid steps of each sequence: frames for a clip, steps ``L`` after
                the bridge for an image. Padded frames go neither through a backbone that takes
                ``lengths`` (TimeDistributed) nor into the recurrent layer.

        Returns:
            ``(B, num_features)`` for ``output="last"``, ``(B, L, num_features)`` with zeros at
            padded steps for ``output="all"``.

        Raises:
            ShapeError: ``x`` does not match ``input_shape``, or bad ``lengths``.
        """
        self._check_input(x)
        batch_size = x.shape[0]
        if lengths is not None and self.is_clip:
            lengths = check_lengths(lengths, batch_size, x.shape[1], who="CNNLSTM")
        if lengths is not None and self.is_clip and self._backbone_takes_lengths:
            features = first_tensor(self.backbone(x, lengths=lengths))
        else:
            features = first_tensor(self.backbone(x))
        sequence = self.bridge(features)  # (B, L, F)
        if sequence.dim() != 3 or sequence.shape[-1] != self.rnn.input_size:
            rebuild = self._rebuild_hint(tuple(x.shape[1:]))
            rebuild = f", or {rebuild}" if rebuild else ""
            raise ShapeError(
                f"CNNLSTM: an input of shape {format_shape(x.shape)} gives a sequence of shape "
                f"{format_shape(sequence.shape)} after the bridge, but the "
                f"{type(self.rnn).__name__} was sized for F={self.rnn.input_size} from "
                f"input_shape={format_shape(self.input_shape)}. Only the sequence axes may "
                f"differ from input_shape: resize the input to {format_shape(self.input_shape)} "
                f"plus a batch axis{rebuild}."
            ) from None
        steps = sequence.shape[1]
        if not self.rnn.batch_first:
            sequence = rearrange(sequence, "b l f -> l b f")  # (L, B, F)
        rnn_input: Tensor | PackedSequence = sequence
        if lengths is not None:
            lengths = check_lengths(lengths, batch_size, steps, who="CNNLSTM")
            rnn_input = pack_padded_sequence(
                sequence, lengths.cpu(), batch_first=self.rnn.batch_first, enforce_sorted=False
            )
        out, hidden = self.rnn(rnn_input)
        if self.output == "last":
            h_n: Tensor = hidden[0] if isinstance(hidden, tuple) else hidden  # (layers*dirs, B, H)
            h_last = h_n[-self._directions :]  # (dirs, B, H): the last layer
            last: Tensor = rearrange(h_last, "d b h -> b (d h)")  # (B, dirs*H)
            return last
        if isinstance(out, PackedSequence):
            out, _ = pad_packed_sequence(
                out, batch_first=self.rnn.batch_first, total_length=steps
            )  # (B, L, D) or (L, B, D), zeros at padding
        steps_out: Tensor = out if self.rnn.batch_first else rearrange(out, "l b d -> b l d")
        return steps_out  # (B, L, D)

    def forward_head(self, features: Tensor) -> Tensor:
        """Dropout and the head on ``forward_features``'s output."""
        return self.head(self.head_drop(features))  # type: ignore[no-any-return]

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Run the model.

        Args:
            x: ``(B, C, H, W)`` or ``(B, T, C, H, W)``, as ``input_shape`` says.
            lengths: ``(B,)`` valid steps of each sequence; see :meth:`forward_features`.

        Returns:
            ``(B, n)`` for ``output="last"`` (``n`` from the head, ``num_features`` without),
            ``(B, L, n)`` for ``output="all"``, zero at padded steps also after the head.
        """
        features = self.forward_features(x, lengths)
        out = self.forward_head(features)
        if self.output == "all" and lengths is not None and out.shape[:2] == features.shape[:2]:
            mask = lengths_to_mask(torch.as_tensor(lengths).to(out.device), out.shape[1])  # (B, L)
            mask = mask.reshape(*mask.shape, *([1] * (out.dim() - 2)))  # (B, L, 1, ...)
            out = out.masked_fill(~mask, 0.0)
        return out
