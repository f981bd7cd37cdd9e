"""Why a backbone cannot take an input shape: the build-time errors of ``CNNLSTM`` and the
model families.

:func:`probe_backbone` is :func:`~cnnlstm.layers.base.probe_output_shape` with a better error:
when the backbone cannot take the input, it is run again on zeros with a hook on every layer
(:func:`~cnnlstm.layers.base.run_on_zeros`), and the message names the layer that failed and
what to change: ``input_shape``, that layer's ``in_channels`` or ``in_features``, or a larger
input (the smallest that works is found by runs on the ``meta`` device) or fewer pooling layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from cnnlstm.errors import ShapeError
from cnnlstm.functional import format_shape
from cnnlstm.layers.base import meta_forward, probe_output_shape, run_on_zeros
from cnnlstm.layers.time_distributed import BATCH_NORMS, INSTANCE_NORMS, TimeDistributed

__all__ = ["batch_shape", "clip_or_frames_error", "probe_backbone"]


def batch_shape(shape: Sequence[int]) -> str:
    """Format a probe shape with ``B`` in place of the probe's batch size: ``(B, 64, 4, 32)``.

    Example:
        >>> batch_shape((2, 64, 4, 32))
        '(B, 64, 4, 32)'
    """
    return "(" + ", ".join(["B", *(str(s) for s in shape[1:])]) + ")"


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

    The run is :func:`~cnnlstm.layers.base.run_on_zeros`'s (eval mode, ``no_grad``, the
    module's device and floating dtype). ``None`` when the run succeeds.
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
    try:
        run_on_zeros(module, shape)
    except Exception as error:
        name, layer, received = entered[-1] if entered else ("", module, shape)
        return _LayerFailure(name, layer, received, error, finished, tuple(trail))
    finally:
        for handle in handles:
            handle.remove()
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
    num_features = getattr(layer, "num_features", None)
    if isinstance(layer, nn.GroupNorm):
        expected = int(layer.num_channels)
    elif isinstance(in_channels, int):
        expected = in_channels
    elif isinstance(layer, (*BATCH_NORMS, *INSTANCE_NORMS)) and isinstance(num_features, int):
        expected = num_features
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


def clip_or_frames_error(
    backbone: nn.Module, probe_shape: Sequence[int], clip_error: Exception, frames_error: Exception
) -> ShapeError:
    """The error for a backbone that takes neither a clip nor its frames folded into the batch.

    Both readings are run again layer by layer, and the message explains the one that got
    further through the backbone.

    Args:
        backbone: the CNN, not wrapped in ``TimeDistributed``.
        probe_shape: the clip's probe shape ``(B, T, C, H, W)``.
        clip_error: what probing the clip raised.
        frames_error: what probing the frames ``(B*T, C, H, W)`` raised.

    Returns:
        The ``ShapeError`` to raise, its message starting with ``CNNLSTM:``.
    """
    shape = tuple(int(s) for s in probe_shape)
    frames_shape = (shape[0] * shape[1], *shape[2:])  # (B*T, C, H, W)
    frames = "(B*T, " + ", ".join(str(s) for s in frames_shape[1:]) + ")"
    user_shape = shape[1:]
    as_clip, clip_depth = _explain_failure(backbone, shape, user_shape, clip_error)
    as_frames, frames_depth = _explain_failure(
        TimeDistributed(backbone), shape, user_shape, frames_error
    )
    reading, why = ("the clip", as_clip) if clip_depth > frames_depth else ("its frames", as_frames)
    return ShapeError(
        f"CNNLSTM: the backbone takes neither the clip {batch_shape(shape)} "
        f"(input_shape={format_shape(user_shape)} plus a batch axis) nor its "
        f"frames {frames}. For {reading}: {why}"
    )
