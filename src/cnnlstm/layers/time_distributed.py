"""TimeDistributed: run a per-frame module on every step of a sequence, in cache-sized chunks.

``(B, T, C, H, W) -> (B*T, C, H, W) -> module -> (B, T, ...)``. Four things set it apart from
the plain reshape the tutorials write (the measurements behind them are in the manual's design
notes and ``python -m benchmarks.bench_time_distributed``):

* **Chunking.** ``chunk_size="auto"`` runs the frames in chunks whose activations fit in
  :data:`AUTO_CHUNK_BYTES` (about a last-level cache): one big batch overflows the caches
  between layers, and single frames leave the kernels too little work. The activation bytes
  per frame are counted once per frame shape on the ``meta`` device (no data, no compute) and
  cached; the choice depends only on the input's shape, dtype and device, so the same input
  always takes the same path.
* **Memory layout.** When the module is an ``nn.Sequential`` of built-in layers whose results
  do not depend on the layout (convolutions, norms, activations, pooling, dropout, flatten,
  linear) and holds a ``Conv2d``, 4-D frames go through it as ``channels_last`` (faster in
  oneDNN on CPU) and the output comes back in the standard layout. A module with its own
  ``forward`` is never converted: it might ``.view`` a tensor in a way only the standard layout
  allows. ``channels_last=False`` turns this off.
* **Padding.** With ``lengths`` or ``mask`` only the valid frames are gathered and run through
  the module; the outputs at padded steps are exactly zero, and batch-norm statistics never see
  a padded frame.
* **Batch statistics.** Chunking a module that normalizes with batch statistics (batch norm in
  training mode, or with ``track_running_stats=False``; instance norm updating running stats in
  training) would change what it computes, so whenever such a layer is active every valid frame
  is folded into one batch, whatever ``chunk_size`` says. Use ``GroupNorm`` or ``LayerNorm``
  inside the CNN to keep the chunking (and its memory savings) in training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain
from typing import Any, ClassVar, Literal

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from cnnlstm.errors import ShapeError
from cnnlstm.functional import (
    check_lengths,
    fold_time,
    format_shape,
    lengths_to_mask,
    unfold_time,
)
from cnnlstm.layers.base import Bridge, meta_forward, probe_output_shape

__all__ = ["AUTO_CHUNK_BYTES", "BATCH_NORMS", "INSTANCE_NORMS", "TimeDistributed"]

AUTO_CHUNK_BYTES = 32 * 2**20
"""Activation bytes one chunk may produce under ``chunk_size="auto"`` (on CPU): about a
last-level cache. How it was chosen is in the manual's design notes."""

BATCH_NORMS: tuple[type[nn.Module], ...] = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.LazyBatchNorm1d,
    nn.LazyBatchNorm2d,
    nn.LazyBatchNorm3d,
)
"""torch's batch-norm layers: normalised with statistics over the whole batch in training."""

INSTANCE_NORMS: tuple[type[nn.Module], ...] = (
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.LazyInstanceNorm1d,
    nn.LazyInstanceNorm2d,
    nn.LazyInstanceNorm3d,
)
"""torch's instance-norm layers: with ``track_running_stats`` they update it from the batch."""

#: Built-in layers whose results do not depend on the memory layout of their input (a subclass
#: may override ``forward``, so the type has to match exactly).
_LAYOUT_AGNOSTIC: tuple[type[nn.Module], ...] = (
    nn.Conv2d,
    nn.ConvTranspose2d,
    nn.BatchNorm2d,
    nn.GroupNorm,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardswish,
    nn.Dropout,
    nn.Dropout2d,
    nn.Identity,
    nn.Flatten,
    nn.Linear,
)

_FALLBACK_EXPANSION = 16
"""Activation bytes per input byte assumed when the module cannot run on the ``meta`` device."""

ChunkSize = int | Literal["auto", "all"]


class _ActivationBytes(TorchFunctionMode):
    """Adds up the bytes of every new tensor the torch functions called under it return.

    Views and in-place results share memory with a tensor counted before, so they are skipped.
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        inputs = chain(args, (kwargs or {}).values())
        if isinstance(out, Tensor) and out._base is None and not any(out is a for a in inputs):
            self.total += out.numel() * out.element_size()
        return out


def _uses_batch_statistics(module: nn.Module) -> bool:
    """Whether some layer in ``module`` computes, or updates state, from the whole batch."""
    for layer in module.modules():
        if isinstance(layer, BATCH_NORMS) and (layer.training or not layer.track_running_stats):
            return True
        if isinstance(layer, INSTANCE_NORMS) and layer.training and layer.track_running_stats:
            return True
    return False


def _channels_last_safe(module: nn.Module) -> bool:
    """Whether ``module`` is an ``nn.Sequential`` tree of layout-agnostic built-in layers with
    at least one ``Conv2d``: then its results are the same for ``channels_last`` input."""
    has_conv = False
    for layer in module.modules():
        if type(layer) is nn.Sequential:
            continue
        if type(layer) not in _LAYOUT_AGNOSTIC:
            return False
        has_conv = has_conv or type(layer) is nn.Conv2d
    return has_conv


class TimeDistributed(Bridge):
    """Apply a per-frame module to every step of a ``(B, T, ...)`` sequence.

    The module sees ordinary batches ``(N, ...)`` of frames and has to return a tensor whose
    first axis is still ``N``; the result is ``(B, T, ...)`` with whatever the module returns
    per frame.

    Args:
        module: the per-frame module, e.g. a CNN taking ``(N, C, H, W)``.
        chunk_size: how many frames go through the module at once. ``"all"`` folds every
            frame into one batch; an int runs chunks of that many frames (``1`` is the
            per-frame loop); ``"auto"`` (default) picks chunks whose activations fit in
            :data:`AUTO_CHUNK_BYTES` on CPU and folds everything on other devices. The
            chunking never changes the results beyond float rounding: when a layer with batch
            statistics is active (batch norm in training), all valid frames form one batch.
            To size its chunks, ``"auto"`` runs the module once per new frame shape on the
            ``meta`` device (no data, no compute); hooks and other Python side effects of the
            module's ``forward`` see that call too.
        channels_last: on CPU, run 4-D frames through the module in ``channels_last`` memory
            (faster oneDNN convolutions) when the module is an ``nn.Sequential`` of built-in,
            layout-agnostic layers with a ``Conv2d``; the output is returned in the standard
            layout either way, and the values do not change beyond float rounding. Never
            under ``torch.jit.trace``, ``torch.compile`` or ``torch.export``.

    Raises:
        ValueError: ``chunk_size`` is not a positive int, ``"auto"`` or ``"all"``, or
            ``channels_last`` is not a bool.

    Example:
        >>> td = TimeDistributed(nn.Conv2d(3, 8, kernel_size=3))
        >>> td(torch.zeros(2, 5, 3, 16, 16)).shape
        torch.Size([2, 5, 8, 14, 14])
        >>> td(torch.zeros(2, 5, 3, 16, 16), lengths=torch.tensor([5, 2])).shape
        torch.Size([2, 5, 8, 14, 14])
    """

    auto_chunk_bytes: ClassVar[int] = AUTO_CHUNK_BYTES

    def __init__(
        self,
        module: nn.Module,
        *,
        chunk_size: int | Literal["auto", "all"] = "auto",
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(module, nn.Module):
            raise ValueError(
                f"TimeDistributed: module has to be a torch.nn.Module, but got "
                f"{type(module).__name__}."
            )
        valid_int = (
            isinstance(chunk_size, int) and not isinstance(chunk_size, bool) and chunk_size > 0
        )
        if not (valid_int or chunk_size in ("auto", "all")):
            raise ValueError(
                f"TimeDistributed: chunk_size has to be a positive int, 'auto' or 'all', "
                f"but got {chunk_size!r}."
            )
        if not isinstance(channels_last, bool):
            raise ValueError(
                f"TimeDistributed: channels_last has to be a bool, but got {channels_last!r}."
            )
        self.module = module
        self.chunk_size: ChunkSize = chunk_size
        self.channels_last = channels_last
        self._frame_bytes_cache: dict[tuple[tuple[int, ...], torch.dtype, bool], int] = {}

    def forward(
        self, x: Tensor, lengths: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        """Run the module on every valid step.

        Args:
            x: ``(B, T, ...)``, e.g. ``(B, T, C, H, W)`` frames.
            lengths: ``(B,)`` integers in ``[1, T]``: sequence ``b`` is valid on its first
                ``lengths[b]`` steps.
            mask: ``(B, T)`` booleans, True on valid steps (any pattern). Give ``lengths`` or
                ``mask``, not both.

        Returns:
            ``(B, T, ...)``: the module's output per step, exactly zero on padded steps.

        Raises:
            ShapeError: ``x`` has fewer than 3 dimensions, or ``lengths`` / ``mask`` does not
                fit ``(B, T)``.
            TypeError: the module returned something other than a tensor.
        """
        if x.dim() < 3:
            raise ShapeError(
                f"TimeDistributed: expected a sequence (B, T, ...) with at least 3 dimensions, "
                f"e.g. frames (B, T, C, H, W), but got a {x.dim()}-D tensor of shape "
                f"{format_shape(x.shape)}. Add a time axis (x.unsqueeze(1) for one step)."
            ) from None
        batch, steps = x.shape[0], x.shape[1]
        valid = self._valid_steps(x, lengths, mask)  # (B, T) or None when all are valid
        frames = fold_time(x)  # (B*T, ...)
        if frames.shape[0] == 0 or (valid is not None and not bool(valid.any())):
            shape = self.output_shape(x.shape, dtype=x.dtype)  # nothing to run the module on
            return torch.zeros(shape, dtype=x.dtype, device=x.device)  # (B, T, ...)
        if valid is None:
            return unfold_time(self._run(frames, x.shape), batch)  # (B, T, ...)

        index = rearrange(valid, "b t -> (b t)").nonzero().squeeze(1)  # (N_valid,)
        out = self._run(frames.index_select(0, index), x.shape)  # (N_valid, ...)
        padded = out.new_zeros((batch * steps, *out.shape[1:]))  # (B*T, ...)
        return unfold_time(padded.index_copy(0, index, out), batch)  # (B, T, ...)

    def output_shape(
        self, input_shape: Sequence[int], *, dtype: torch.dtype | None = None
    ) -> tuple[int, ...]:
        """Output shape for an input of ``input_shape`` ``(B, T, ...)``, without running data.

        Asks :func:`~cnnlstm.layers.base.probe_output_shape` for the wrapped module's output on
        ``max(B*T, 2)`` frames: its own ``output_shape`` when it has one, else a run on the
        ``meta`` device, else one on zeros, with inputs of ``dtype`` (by default the dtype of
        the module's first floating-point parameter or buffer, or float32).

        Raises:
            ShapeError: the input has fewer than 3 dimensions, or the module cannot take frames
                of this shape.

        Example:
            >>> td = TimeDistributed(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()))
            >>> td.output_shape((2, 5, 3, 8, 8))
            (2, 5, 144)
        """
        shape = tuple(int(s) for s in input_shape)
        if len(shape) < 3:
            raise ShapeError(
                f"TimeDistributed: expected an input shape (B, T, ...) with at least 3 "
                f"dimensions, but got {format_shape(shape)}."
            ) from None
        batch, steps, frame = shape[0], shape[1], shape[2:]
        try:
            # At least 2 frames, so batch statistics are defined; the frame axis is dropped below.
            per_frame = probe_output_shape(
                self.module, (max(batch * steps, 2), *frame), dtype=dtype
            )
        except ShapeError as error:
            raise ShapeError(
                f"TimeDistributed: the wrapped {type(self.module).__name__} cannot take frames "
                f"of shape {format_shape(frame)} (input {format_shape(shape)}): {error}"
            ) from None
        return (batch, steps, *per_frame[1:])

    def plan_chunk_size(
        self,
        num_frames: int,
        frame_shape: Sequence[int],
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> int:
        """How many frames per chunk ``forward`` runs for ``num_frames`` frames of one shape.

        ``num_frames`` is the number of valid frames (``B*T`` without padding). Under
        ``torch.jit.trace``, ``torch.compile`` and ``torch.export`` (and so ONNX export) every
        frame is folded into one batch: the captured graph then holds one call of the module
        that takes any number of frames, not slices fixed when it was captured.

        Example:
            >>> TimeDistributed(nn.Identity(), chunk_size=4).plan_chunk_size(10, (3, 8, 8))
            4
            >>> TimeDistributed(nn.Identity(), chunk_size="all").plan_chunk_size(10, (3, 8, 8))
            10
        """
        if (
            num_frames <= 1
            or self.chunk_size == "all"
            or torch.jit.is_tracing()  # type: ignore[attr-defined,no-untyped-call]
            or torch.compiler.is_compiling()
            or _uses_batch_statistics(self.module)
        ):
            return max(num_frames, 1)
        if isinstance(self.chunk_size, int):
            return min(self.chunk_size, num_frames)
        if torch.device(device).type != "cpu":
            return num_frames
        per_frame = self._frame_bytes(tuple(int(s) for s in frame_shape), dtype)
        largest = max(1, self.auto_chunk_bytes // per_frame)
        # Equal chunks: 100 frames with room for 32 run as 4 x 25, not 32 + 32 + 32 + 4.
        num_chunks = math.ceil(num_frames / largest)
        return math.ceil(num_frames / num_chunks)

    def extra_repr(self) -> str:
        extra = "" if self.channels_last else ", channels_last=False"
        return f"chunk_size={self.chunk_size!r}{extra}"

    def uses_channels_last(self, frames: Tensor) -> bool:
        """Whether ``forward`` runs these frames ``(N, ...)`` through the module as
        ``channels_last`` (see ``channels_last`` in the class docstring).

        Example:
            >>> cnn = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
            >>> frames = torch.zeros(4, 3, 16, 16)  # (N, C, H, W)
            >>> TimeDistributed(cnn).uses_channels_last(frames)
            True
            >>> TimeDistributed(cnn, channels_last=False).uses_channels_last(frames)
            False
        """
        return (
            getattr(self, "channels_last", True)
            and frames.dim() == 4
            and frames.device.type == "cpu"
            and not (
                torch.jit.is_tracing()  # type: ignore[attr-defined,no-untyped-call]
                or torch.compiler.is_compiling()
            )
            and _channels_last_safe(self.module)
        )

    def _frame_bytes(self, frame_shape: tuple[int, ...], dtype: torch.dtype) -> int:
        """Bytes of activations the module makes per frame, counted on ``meta`` once, cached."""
        key = (frame_shape, dtype, self.training)
        if key not in self._frame_bytes_cache:
            counter = _ActivationBytes()
            try:
                meta_forward(self.module, (2, *frame_shape), dtype=dtype, context=counter)
                per_frame = counter.total // 2
            except Exception:  # any module that cannot run on meta: estimate from the input
                item = torch.empty((), dtype=dtype).element_size()
                per_frame = math.prod(frame_shape) * item * _FALLBACK_EXPANSION
            self._frame_bytes_cache[key] = max(1, per_frame)
        return self._frame_bytes_cache[key]

    def _run(self, frames: Tensor, input_shape: torch.Size) -> Tensor:
        """Run the module on ``frames`` ``(N, ...)`` chunk by chunk; returns ``(N, ...)``.

        ``input_shape`` is the shape of the ``(B, T, ...)`` input, for error messages only.
        """
        chunk = self.plan_chunk_size(
            frames.shape[0], frames.shape[1:], dtype=frames.dtype, device=frames.device
        )
        convert = self.uses_channels_last(frames)
        if convert:  # once for all chunks: split keeps the layout
            frames = frames.contiguous(memory_format=torch.channels_last)
        if chunk >= frames.shape[0]:
            out = self._call(frames, input_shape)  # (N, ...)
        else:
            parts = torch.split(frames, chunk)
            out = torch.cat([self._call(part, input_shape) for part in parts])  # (N, ...)
        return out.contiguous() if convert else out  # the standard layout

    def _call(self, frames: Tensor, input_shape: torch.Size) -> Tensor:
        try:  # free when nothing is raised; the handler only words the error
            out = self.module(frames)
        except (RuntimeError, ValueError) as error:
            if torch.compiler.is_compiling():  # the compiler's own errors stay as they are
                raise
            raise self._module_error(error, input_shape) from error
        if not isinstance(out, Tensor):
            raise TypeError(
                f"TimeDistributed: the wrapped module has to return a tensor, but it returned "
                f"{type(out).__name__}. Wrap it so that forward returns one tensor."
            )
        if out.dim() == 0 or out.shape[0] != frames.shape[0]:
            raise ShapeError(
                f"TimeDistributed: the wrapped module has to keep the frame axis, but for "
                f"frames of shape {format_shape(frames.shape)} it returned shape "
                f"{format_shape(out.shape)}. Its output needs {frames.shape[0]} rows, one per "
                f"frame."
            ) from None
        return out

    def _module_error(self, error: Exception, input_shape: torch.Size) -> ShapeError:
        """The ShapeError saying how the input was folded before the wrapped module raised."""
        lines = str(error).strip().splitlines()
        first = lines[0].rstrip() if lines else type(error).__name__
        first += "" if first.endswith((".", "!", "?")) else "."
        folded = (input_shape[0] * input_shape[1], *input_shape[2:])  # (B*T, ...)
        return ShapeError(
            f"TimeDistributed: reads (B, T, ...) and folded the input of shape "
            f"{format_shape(input_shape)} into (B*T, ...) = {format_shape(folded)} for the "
            f"wrapped {type(self.module).__name__}, which raised: {first} If the input has no "
            f"time axis, add one (x.unsqueeze(1)) or call the module directly."
        )

    def _valid_steps(self, x: Tensor, lengths: Tensor | None, mask: Tensor | None) -> Tensor | None:
        """The ``(B, T)`` mask of valid steps, or None when every step is valid."""
        batch, steps = x.shape[0], x.shape[1]
        if lengths is not None and mask is not None:
            raise ValueError(
                "TimeDistributed: give lengths or mask, not both (lengths says the same as "
                "lengths_to_mask(lengths, T))."
            )
        if lengths is not None:
            lengths = check_lengths(lengths, batch, steps, who="TimeDistributed")
            if batch and int(lengths.min()) == steps:
                return None
            return lengths_to_mask(lengths, steps).to(x.device)  # (B, T)
        if mask is None:
            return None
        if mask.shape != (batch, steps) or mask.dtype != torch.bool:
            raise ShapeError(
                f"TimeDistributed: mask has to be a boolean tensor of shape (B, T) = "
                f"{format_shape((batch, steps))} for an input of shape {format_shape(x.shape)}, "
                f"but got shape {format_shape(mask.shape)} with dtype {mask.dtype}."
            ) from None
        mask = mask.to(x.device)
        return None if bool(mask.all()) else mask
