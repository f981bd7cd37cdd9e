"""``CNNLSTM``: a backbone, a bridge and a recurrent layer that sizes itself, with an optional head.

The model reads an image ``(B, C, H, W)`` or a clip ``(B, T, C, H, W)``::

    x -backbone-> feature maps -bridge-> (B, L, F) -LSTM/GRU-> (B, D) or (B, L, D) -head-> ...

where ``D = hidden_size * directions``. The recurrent layer's ``input_size`` ``F`` comes from the
bridge's output shape, worked out when the model is built, so nobody computes ``C*H`` by hand.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from cnnlstm.errors import ShapeError
from cnnlstm.functional import channels_last_hint, check_lengths, format_shape, lengths_to_mask
from cnnlstm.layers.base import first_tensor, meta_forward, probe_output_shape
from cnnlstm.layers.time_distributed import TimeDistributed

__all__ = ["CNNLSTM", "probe_backbone", "probe_output_shape"]

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
            :func:`probe_backbone`), the bridge cannot take the backbone's output, or a given
            recurrent layer's ``input_size`` is not ``F``.

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
                f"{_batch_shape(feature_shape)}, which the bridge cannot take: {error}"
            ) from None
        if len(sequence_shape) != 3 or sequence_shape[0] != _PROBE_BATCH:
            raise ShapeError(
                f"CNNLSTM: the bridge has to produce a sequence (B, L, F), but it turns "
                f"{_batch_shape(feature_shape)} into {_batch_shape(sequence_shape)}."
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
                    f"({_batch_shape(sequence_shape)} for input "
                    f"{_batch_shape(probe_shape)}), but the given {type(rnn).__name__} has "
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
            frames = "(B*T, " + ", ".join(str(s) for s in frames_shape[1:]) + ")"
            try:
                probe_output_shape(backbone, frames_shape)
            except Exception as frames_error:
                # Explain the reading of the input that got further through the backbone.
                user_shape = probe_shape[1:]
                as_clip, clip_depth = _explain_failure(
                    backbone, probe_shape, user_shape, clip_error
                )
                as_frames, frames_depth = _explain_failure(
                    TimeDistributed(backbone), probe_shape, user_shape, frames_error
                )
                reading, why = (
                    ("the clip", as_clip)
                    if clip_depth > frames_depth
                    else ("its frames", as_frames)
                )
                raise ShapeError(
                    f"CNNLSTM: the backbone takes neither the clip {_batch_shape(probe_shape)} "
                    f"(input_shape={format_shape(probe_shape[1:])} plus a batch axis) nor its "
                    f"frames {frames}. For {reading}: {why}"
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
        expected = _batch_shape((0, *self.input_shape))
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


def _batch_shape(shape: Sequence[int]) -> str:
    """Format a probe shape with ``B`` in place of the probe's batch size: ``(B, 64, 4, 32)``."""
    return "(" + ", ".join(["B", *(str(s) for s in shape[1:])]) + ")"


# --- Build-time errors that name the backbone's layer and what to change ------------------------

#: How many steps of the shapes through a backbone an error message lists at most.
_TRAIL_STEPS = 8

#: Phrases of torch's errors for a feature map smaller than a layer's window.
_TOO_SMALL = (
    "Kernel size can't be greater",
    "output size is too small",
    "Output size is too small",
)


@dataclass(frozen=True)
class _LayerFailure:
    """Where a run of a module on a zero input stopped.

    Attributes:
        name: the qualified name of the innermost layer that was running (``"0"``,
            ``"stages.1.0"``), ``""`` for the module's own ``forward``.
        layer: that layer.
        input_shape: the shape of the first tensor the layer received, if any.
        error: what it raised.
        layers_run: how many leaf layers finished before it.
        trail: the leaf layers that finished and changed the shape, with their output shapes.
    """

    name: str
    layer: nn.Module
    input_shape: tuple[int, ...] | None
    error: Exception
    layers_run: int
    trail: tuple[tuple[str, nn.Module, tuple[int, ...]], ...]


def _first_shape(value: Any) -> tuple[int, ...] | None:
    """The shape of the first tensor in a layer's arguments or output."""
    while isinstance(value, (tuple, list)) and value:
        value = value[0]
    return tuple(value.shape) if isinstance(value, Tensor) else None


def _run_until_failure(module: nn.Module, shape: tuple[int, ...]) -> _LayerFailure | None:
    """Run ``module`` on zeros of ``shape`` with hooks on every layer; say where it stopped.

    The run is in eval mode under ``no_grad`` (the training flags are restored after it), on
    the module's device and floating dtype. ``None`` when the run succeeds.
    """
    entered: list[tuple[str, nn.Module, tuple[int, ...] | None]] = []
    trail: list[tuple[str, nn.Module, tuple[int, ...]]] = []
    finished = 0

    def before(name: str) -> Any:
        def hook(layer: nn.Module, args: Any) -> None:
            entered.append((name, layer, _first_shape(args)))

        return hook

    def after(name: str) -> Any:
        def hook(layer: nn.Module, args: Any, output: Any) -> None:
            nonlocal finished
            _, _, received = entered.pop() if entered else ("", layer, None)
            if next(layer.children(), None) is None:  # a leaf layer
                finished += 1
                produced = _first_shape(output)
                if produced is not None and produced != received:
                    trail.append((name, layer, produced))

        return hook

    handles = []
    for name, layer in module.named_modules():
        handles.append(layer.register_forward_pre_hook(before(name)))
        handles.append(layer.register_forward_hook(after(name)))
    floating = [t for t in (*module.parameters(), *module.buffers()) if t.is_floating_point()]
    device = floating[0].device if floating else torch.device("cpu")
    dtype = floating[0].dtype if floating else torch.get_default_dtype()
    flags = {m: m.training for m in module.modules()}
    module.eval()
    try:
        with torch.no_grad():
            module(torch.zeros(shape, device=device, dtype=dtype))
    except Exception as error:
        name, layer, received = entered[-1] if entered else ("", module, shape)
        return _LayerFailure(name, layer, received, error, finished, tuple(trail))
    finally:
        for handle in handles:
            handle.remove()
        for m, training in flags.items():
            m.training = training
    return None


def _runs_on_meta(module: nn.Module, shape: tuple[int, ...]) -> bool:
    """Whether ``module`` takes ``shape`` on the ``meta`` device (never on real memory: the
    search below tries inputs of thousands of pixels a side)."""
    try:
        meta_forward(module, shape)
    except Exception:
        return False
    return True


def _smallest_input(module: nn.Module, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The input ``shape`` with ``H`` and ``W`` grown by the least ``m`` that the module takes.

    A binary search over ``m`` in ``[1, 4096]`` with runs on the ``meta`` device (convolution
    and pooling sizes only grow with the input); ``None`` when even ``m = 4096`` fails, or the
    module cannot run on ``meta``.
    """

    def grown(m: int) -> tuple[int, ...]:
        return (*shape[:-2], shape[-2] + m, shape[-1] + m)

    low, high = 1, 4096
    if len(shape) < 3 or not _runs_on_meta(module, grown(high)):
        return None
    while low < high:
        middle = (low + high) // 2
        if _runs_on_meta(module, grown(middle)):
            high = middle
        else:
            low = middle + 1
    return grown(low)


def _first_line(error: Exception) -> str:
    """The first line of an error's message, ending in a full stop."""
    lines = str(error).strip().splitlines()
    line = lines[0].rstrip() if lines else type(error).__name__
    return line if line.endswith((".", "!", "?", ")")) else line + "."


def _layer_name(name: str, layer: nn.Module) -> str:
    """``layer '3' (Conv2d(32, 64, kernel_size=(3, 3), stride=(1, 1)))``, shortened."""
    text = repr(layer).splitlines()[0]
    if next(layer.children(), None) is not None or len(text) > 80:
        text = f"{type(layer).__name__}(...)"
    return f"layer '{name}' ({text})"


def _explain_failure(
    backbone: nn.Module,
    probe_shape: tuple[int, ...],
    input_shape: tuple[int, ...],
    error: Exception,
) -> tuple[str, int]:
    """Say which layer of ``backbone`` cannot take ``probe_shape`` and what to change.

    Returns the explanation and how many leaf layers ran before the failure (so a caller that
    tried two readings of the input can report the one that got further).
    """
    module, shape, lead = backbone, probe_shape, "B"
    if isinstance(backbone, TimeDistributed) and len(shape) >= 3:
        module, shape, lead = backbone.module, (shape[0] * shape[1], *shape[2:]), "B*T"

    def show(dims: Sequence[int]) -> str:
        return "(" + ", ".join([lead, *(str(d) for d in dims[1:])]) + ")"

    failure = _run_until_failure(module, shape)
    if failure is None or failure.name == "" or failure.input_shape is None:
        detail = _first_line(error)
        return (
            f"the backbone {type(module).__name__} cannot take input_shape="
            f"{format_shape(input_shape)} (probed with a batch of {shape[0]}, shape "
            f"{format_shape(shape)}): {detail}",
            0 if failure is None else failure.layers_run,
        )
    name, layer, got = failure.name, failure.layer, failure.input_shape
    where = _layer_name(name, layer)
    torch_says = _first_line(failure.error)
    steps = [show(shape)] + [f"'{n}' {type(m).__name__} -> {show(s)}" for n, m, s in failure.trail]
    if len(steps) > _TRAIL_STEPS:
        steps = [steps[0], "...", *steps[-(_TRAIL_STEPS - 1) :]]
    sizes = f" Its sizes up to there: {' -> '.join(steps)}." if failure.trail else ""
    first_layer = got == shape and not failure.trail

    expected: int | None = None
    in_channels = getattr(layer, "in_channels", None)
    if isinstance(layer, nn.GroupNorm):
        expected = int(layer.num_channels)
    elif isinstance(in_channels, int):
        expected = in_channels
    elif isinstance(layer, nn.modules.batchnorm._NormBase):
        expected = int(layer.num_features)
    if expected is not None and len(got) >= 2 and got[1] != expected:
        if first_layer:
            wanted = (*input_shape[:-3], expected, *input_shape[-2:])
            return (
                f"the backbone's first {where} expects {expected} input channels, but "
                f"input_shape={format_shape(input_shape)} has C={got[1]}. Change input_shape "
                f"to {format_shape(wanted)} if the inputs have {expected} channels, or build "
                f"layer '{name}' with in_channels={got[1]}.",
                failure.layers_run,
            )
        return (
            f"the backbone's {where} expects {expected} input channels, but the layers before "
            f"it give {got[1]} (a feature map {show(got)}). Build layer '{name}' with "
            f"in_channels={got[1]}, or the layer before it with {expected} output channels."
            f"{sizes}",
            failure.layers_run,
        )
    if isinstance(layer, nn.Linear) and got and got[-1] != layer.in_features:
        return (
            f"the backbone's {where} expects {layer.in_features} input features, but gets "
            f"{got[-1]} (a tensor {show(got)}): the layers before it give a feature map of "
            f"another size than the one the layer was built for. Change input_shape's H and "
            f"W (now {format_shape(input_shape)}), or build layer '{name}' with "
            f"in_features={got[-1]}.{sizes}",
            failure.layers_run,
        )
    if any(phrase in torch_says for phrase in _TOO_SMALL) and len(got) >= 3:
        size = "x".join(str(d) for d in got[2:])
        window = getattr(layer, "kernel_size", None)
        window_text = f" (kernel_size={window})" if window is not None else ""
        smallest = _smallest_input(module, shape)
        larger = (
            f" (H, W of {format_shape(smallest[-2:])} or more work)"
            if smallest is not None and len(smallest) == len(shape)
            else ""
        )
        return (
            f"the feature map is {size} when it reaches the backbone's {where}, too small "
            f"for its window{window_text}; torch says: {torch_says} Give the model larger "
            f"inputs than input_shape={format_shape(input_shape)}{larger}, or use fewer "
            f"pooling or strided layers before layer '{name}'.{sizes}",
            failure.layers_run,
        )
    return (
        f"the backbone's {where} cannot take its input {show(got)}: {torch_says}{sizes}",
        failure.layers_run,
    )


def probe_backbone(
    backbone: nn.Module,
    probe_shape: Sequence[int],
    *,
    input_shape: Sequence[int],
    who: str = "CNNLSTM",
) -> tuple[int, ...]:
    """The backbone's output shape for ``probe_shape``, or a ShapeError that says what to change.

    Like :func:`~cnnlstm.layers.base.probe_output_shape`, but when the backbone cannot take the
    input it is run again on zeros with a hook on every layer, and the error names the layer
    that failed: a first layer whose ``in_channels`` is not the input's ``C`` (change
    ``input_shape`` or that layer), a feature map that became smaller than a layer's window
    (its size there, the smallest input that works, and "fewer pooling layers"), or the torch
    error of any other layer.

    Args:
        backbone: the CNN (a ``TimeDistributed`` one is examined on its folded frames).
        probe_shape: the dummy input's shape, batch axis included.
        input_shape: the user's ``input_shape`` (no batch axis), as the messages name it.
        who: the model named at the start of the messages.

    Raises:
        ShapeError: the backbone cannot take ``probe_shape``.

    Example:
        >>> cnn = nn.Sequential(nn.Conv2d(3, 8, 3), nn.MaxPool2d(2))
        >>> probe_backbone(cnn, (2, 3, 16, 16), input_shape=(3, 16, 16))
        (2, 8, 7, 7)
        >>> probe_backbone(cnn, (2, 1, 16, 16), input_shape=(1, 16, 16))
        Traceback (most recent call last):
        ...
        cnnlstm.errors.ShapeError: CNNLSTM: the backbone's first layer '0' (Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))) expects 3 input channels, but input_shape=(1, 16, 16) has C=1. Change input_shape to (3, 16, 16) if the inputs have 3 channels, or build layer '0' with in_channels=1.
    """  # noqa: E501
    shape = tuple(int(s) for s in probe_shape)
    try:
        return probe_output_shape(backbone, shape)
    except ShapeError as error:
        text, _ = _explain_failure(backbone, shape, tuple(input_shape), error)
        raise ShapeError(f"{who}: {text}") from None
