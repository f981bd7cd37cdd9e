"""The small torch modules a converted Keras model is made of, besides torch's own layers.

Layout adapters (:class:`ChannelsLastToFirst`, :class:`ChannelsFirstToLast`), TensorFlow's
``padding="same"`` (:class:`SamePad`, :class:`SameAvgPool`), Keras's shape layers
(:class:`Reshape`, :class:`Permute`, :class:`RepeatVector`, :class:`Crop`), merges
(:class:`Merge`, :class:`Dot`), masks (:class:`Masking`, :class:`ComputeMask`,
:class:`MaskedAverage`), :class:`Embedding`, and the layers that only act in training
(:class:`GaussianNoise`, :class:`GaussianDropout`). Each is small and takes plain arguments, so a
converted model is rebuilt from its config without Keras.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from cnnlstm.errors import ShapeError

__all__ = [
    "ChannelsFirstToLast",
    "ChannelsLastToFirst",
    "ComputeMask",
    "Crop",
    "Dot",
    "Embedding",
    "GaussianDropout",
    "GaussianNoise",
    "MaskedAverage",
    "Masking",
    "Merge",
    "Permute",
    "Relayout",
    "RepeatVector",
    "Reshape",
    "SameAvgPool",
    "SameAvgPool2d",
    "SamePad",
    "SamePad2d",
    "layout_pattern",
    "same_padding",
]

# Keras axis names by rank (batch included), used to write the adapters' einops patterns.
_AXES = {2: "b c", 3: "b t c", 4: "b h w c", 5: "b t h w c", 6: "b t d h w c"}


def layout_pattern(ndim: int, *, frames: bool) -> tuple[str, str]:
    """The channels-last and channels-first axis strings of a ``ndim``-D tensor.

    Example:
        >>> layout_pattern(5, frames=True)
        ('b t h w c', 'b t c h w')
    """
    if ndim not in _AXES or (frames and ndim < 4):
        raise ValueError(
            f"ndim has to be 2 to 6 (4 to 6 with frames=True), but got {ndim} (frames={frames})"
        )
    axes = _AXES[ndim].split()
    lead = 2 if frames else 1
    first = [*axes[:lead], axes[-1], *axes[lead:-1]]
    return " ".join(axes), " ".join(first)


class Relayout(nn.Module):
    """Move axes with an einops pattern, into contiguous memory: one copy between two torch
    layouts (e.g. a ConvLSTM's ``(B, T, C, H, W)`` to a Conv3d's ``(B, C, T, H, W)``) where
    going through Keras's order would take two.

    Example:
        >>> Relayout("b t c h w -> b c t h w")(torch.zeros(2, 7, 3, 8, 9)).shape
        torch.Size([2, 3, 7, 8, 9])
    """

    def __init__(self, pattern: str) -> None:
        super().__init__()
        self.pattern = pattern

    def forward(self, x: Tensor) -> Tensor:
        """Rearrange ``x`` with :attr:`pattern`, into contiguous memory (a permuted view makes
        the convolutions after it take twice as long)."""
        return rearrange(x, self.pattern).contiguous()

    def extra_repr(self) -> str:
        return repr(self.pattern)


class ChannelsLastToFirst(Relayout):
    """Move the channel axis from last to second: ``(B, H, W, C) -> (B, C, H, W)``.

    Args:
        ndim: rank of the tensor, batch included (3 to 6).
        frames: keep the time axis in front: ``(B, T, H, W, C) -> (B, T, C, H, W)``, the layout
            of :class:`~cnnlstm.layers.convlstm.ConvLSTM` and ``TimeDistributed(conv)``.

    Example:
        >>> ChannelsLastToFirst(5, frames=True)(torch.zeros(2, 7, 8, 9, 3)).shape
        torch.Size([2, 7, 3, 8, 9])
    """

    def __init__(self, ndim: int = 4, *, frames: bool = False) -> None:
        last, first = layout_pattern(ndim, frames=frames)
        super().__init__(f"{last} -> {first}")


class ChannelsFirstToLast(Relayout):
    """Move the channel axis from second to last: ``(B, C, H, W) -> (B, H, W, C)``.

    The inverse of :class:`ChannelsLastToFirst` with the same arguments.

    Example:
        >>> ChannelsFirstToLast(4)(torch.zeros(2, 3, 8, 9)).shape
        torch.Size([2, 8, 9, 3])
    """

    def __init__(self, ndim: int = 4, *, frames: bool = False) -> None:
        last, first = layout_pattern(ndim, frames=frames)
        super().__init__(f"{first} -> {last}")


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's ``padding="same"`` along one axis: ``(before, after)``, the extra cell after.

    The output has ``ceil(size / stride)`` cells.

    Example:
        >>> same_padding(5, 3, 2)
        (1, 1)
        >>> same_padding(6, 3, 2)
        (0, 1)
    """
    reach = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + reach - size, 0)
    return total // 2, total - total // 2


def _same_pads(
    shape: Sequence[int], kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]
) -> list[int]:
    """``F.pad``'s list (last axis first) for "same" padding of the last ``len(kernel)`` axes."""
    n = len(kernel)
    pads: list[int] = []
    for axis in reversed(range(n)):
        pads.extend(same_padding(shape[-n + axis], kernel[axis], stride[axis], dilation[axis]))
    return pads


class SamePad(nn.Module):
    """Pad the last ``len(kernel_size)`` axes the way TensorFlow's ``padding="same"`` does.

    The padding can be uneven (one more cell at the end), which torch's own ``padding=`` cannot
    express for strided layers; it is computed in ``forward`` from the input's size, so any
    size works.

    Args:
        kernel_size: the kernel of the convolution or pool that follows, one int per axis.
        stride: its strides.
        dilation: its dilation.
        value: the fill: ``0.0`` before a convolution, ``-inf`` before a max pool.

    Example:
        >>> SamePad((3,), (2,))(torch.zeros(1, 4, 6)).shape
        torch.Size([1, 4, 7])
    """

    def __init__(
        self,
        kernel_size: Sequence[int],
        stride: Sequence[int],
        *,
        dilation: Sequence[int] | None = None,
        value: float = 0.0,
    ) -> None:
        super().__init__()
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.stride = tuple(int(s) for s in stride)
        self.dilation = (
            (1,) * len(self.kernel_size) if dilation is None else tuple(int(d) for d in dilation)
        )
        if not len(self.kernel_size) == len(self.stride) == len(self.dilation):
            raise ValueError(
                f"kernel_size, stride and dilation have to have one entry per axis, but got "
                f"{self.kernel_size}, {self.stride} and {self.dilation}"
            )
        self.value = float(value)

    def forward(self, x: Tensor) -> Tensor:
        """Pad the last axes of ``x``: ``(B, C, *S) -> (B, C, *S')``."""
        pads = _same_pads(x.shape, self.kernel_size, self.stride, self.dilation)
        return F.pad(x, pads, value=self.value)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, dilation={self.dilation}, "
            f"value={self.value}"
        )


class SamePad2d(SamePad):
    """:class:`SamePad` for ``(B, C, H, W)``: two-axis kernel, stride and dilation.

    Example:
        >>> SamePad2d((3, 3), (2, 2))(torch.zeros(1, 4, 6, 6)).shape
        torch.Size([1, 4, 7, 7])
    """

    def __init__(
        self,
        kernel_size: tuple[int, int],
        stride: tuple[int, int],
        *,
        dilation: tuple[int, int] = (1, 1),
        value: float = 0.0,
    ) -> None:
        super().__init__(kernel_size, stride, dilation=dilation, value=value)


class SameAvgPool(nn.Module):
    """Average pooling with TensorFlow's ``padding="same"``: padded cells don't count.

    Each output is the mean of the input cells its window covers, so a window that hangs over
    the edge averages fewer cells. torch's ``AvgPool2d(count_include_pad=False)`` does the same
    only for even padding; this module handles the uneven case too. Pools the last
    ``len(kernel_size)`` axes (1 to 3).

    Args:
        kernel_size: the window, one int per axis.
        stride: the strides.

    Example:
        >>> SameAvgPool((2,), (2,))(torch.ones(1, 3, 5)).shape
        torch.Size([1, 3, 3])
    """

    def __init__(self, kernel_size: Sequence[int], stride: Sequence[int]) -> None:
        super().__init__()
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.stride = tuple(int(s) for s in stride)
        if len(self.kernel_size) not in (1, 2, 3) or len(self.stride) != len(self.kernel_size):
            raise ValueError(
                f"kernel_size and stride have to have 1 to 3 entries each, the same number, "
                f"but got {self.kernel_size} and {self.stride}"
            )

    def forward(self, x: Tensor) -> Tensor:
        """Pool the last axes of ``x``: ``(B, C, *S) -> (B, C, *ceil(S / stride))``."""
        n = len(self.kernel_size)
        pads = _same_pads(x.shape, self.kernel_size, self.stride, (1,) * n)
        kernel, stride = self.kernel_size, self.stride
        padded, ones = F.pad(x, pads), F.pad(x.new_ones(1, 1, *x.shape[-n:]), pads)  # (1, 1, *S)
        if n == 1:  # avg_pool1d has no divisor_override: pool (B, C, 1, W) in 2-D
            padded, ones = padded.unsqueeze(-2), ones.unsqueeze(-2)
            kernel, stride = (1, *kernel), (1, *stride)
        pool = F.avg_pool3d if n == 3 else F.avg_pool2d
        sums = pool(padded, kernel, stride, divisor_override=1)
        counts = pool(ones, kernel, stride, divisor_override=1)
        result = sums / counts  # (B, C, *S')
        return result.squeeze(-2) if n == 1 else result

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class SameAvgPool2d(SameAvgPool):
    """:class:`SameAvgPool` for ``(B, C, H, W)``.

    Example:
        >>> SameAvgPool2d((2, 2), (2, 2))(torch.ones(1, 3, 5, 5)).shape
        torch.Size([1, 3, 3, 3])
    """

    def __init__(self, kernel_size: tuple[int, int], stride: tuple[int, int]) -> None:
        super().__init__(kernel_size, stride)


class Crop(nn.Module):
    """Cut ``(before, after)`` cells off each of the last ``len(crops)`` axes (Keras Cropping).

    Example:
        >>> Crop((1, 2), (0, 1))(torch.zeros(2, 3, 8, 9)).shape
        torch.Size([2, 3, 5, 8])
    """

    def __init__(self, *crops: Sequence[int]) -> None:
        super().__init__()
        self.crops = tuple((int(a), int(b)) for a, b in crops)

    def forward(self, x: Tensor) -> Tensor:
        """Crop the last axes of ``x``."""
        n = len(self.crops)
        index: list[slice] = [slice(None)] * (x.dim() - n)
        for (before, after), size in zip(self.crops, x.shape[-n:], strict=True):
            index.append(slice(before, size - after))
        return x[tuple(index)]

    def extra_repr(self) -> str:
        return ", ".join(str(c) for c in self.crops)


class Reshape(nn.Module):
    """Keras ``Reshape``: reshape everything after the batch axis to ``shape`` (one ``-1`` allowed).

    Example:
        >>> Reshape(1, -1)(torch.zeros(2, 8)).shape
        torch.Size([2, 1, 8])
    """

    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: Tensor) -> Tensor:
        """Reshape ``x`` to ``(B, *shape)``."""
        return x.reshape(x.shape[0], *self.shape)  # (B, *shape)

    def extra_repr(self) -> str:
        return ", ".join(str(s) for s in self.shape)


class Permute(nn.Module):
    """Keras ``Permute``: reorder the axes after the batch axis; ``dims`` count from 1.

    Example:
        >>> Permute(2, 1)(torch.zeros(2, 5, 3)).shape
        torch.Size([2, 3, 5])
    """

    def __init__(self, *dims: int) -> None:
        super().__init__()
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(
                f"dims has to be a permutation of 1..{len(dims)}, but got {tuple(dims)}"
            )
        self.dims = tuple(int(d) for d in dims)

    def forward(self, x: Tensor) -> Tensor:
        """Permute ``x`` to ``(B, *x.shape[dims])``."""
        return x.permute(0, *self.dims)  # (B, ...permuted)

    def extra_repr(self) -> str:
        return ", ".join(str(d) for d in self.dims)


class RepeatVector(nn.Module):
    """Keras ``RepeatVector``: ``(B, F) -> (B, n, F)``, the LSTM autoencoder's bridge.

    Example:
        >>> RepeatVector(4)(torch.zeros(2, 3)).shape
        torch.Size([2, 4, 3])
    """

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = int(n)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``(B, F)`` -> ``(B, n, F)``."""
        if x.dim() != 2:
            raise ShapeError(
                f"RepeatVector: expected (B, F), got a tensor of shape {tuple(x.shape)}."
            ) from None
        return x.unsqueeze(1).expand(-1, self.n, -1)  # (B, n, F)

    def extra_repr(self) -> str:
        return str(self.n)


_MERGE_MODES = ("concat", "add", "subtract", "multiply", "average", "maximum", "minimum")


class Merge(nn.Module):
    """Keras's merge layers: ``Concatenate`` (``mode="concat"`` on ``dim``), ``Add``,
    ``Subtract``, ``Multiply``, ``Average``, ``Maximum``, ``Minimum``.

    Args:
        mode: one of ``"concat"``, ``"add"``, ``"subtract"``, ``"multiply"``, ``"average"``,
            ``"maximum"``, ``"minimum"``.
        dim: the torch dim to concatenate on (``"concat"`` only).

    Example:
        >>> Merge("concat", dim=1)([torch.zeros(2, 3), torch.zeros(2, 4)]).shape
        torch.Size([2, 7])
    """

    def __init__(self, mode: str, *, dim: int = -1) -> None:
        super().__init__()
        if mode not in _MERGE_MODES:
            raise ValueError(f"mode has to be one of {_MERGE_MODES}, but got {mode!r}")
        self.mode = mode
        self.dim = int(dim)

    def forward(self, tensors: list[Tensor]) -> Tensor:
        """Merge the tensors (broadcasting as Keras does for the elementwise modes)."""
        if self.mode == "concat":
            return torch.cat(tensors, dim=self.dim)
        if self.mode == "subtract":
            return tensors[0] - tensors[1]
        out = tensors[0]
        for other in tensors[1:]:
            if self.mode in ("add", "average"):
                out = out + other
            elif self.mode == "multiply":
                out = out * other
            elif self.mode == "maximum":
                out = torch.maximum(out, other)
            else:
                out = torch.minimum(out, other)
        return out / len(tensors) if self.mode == "average" else out

    def extra_repr(self) -> str:
        return f"{self.mode!r}" + (f", dim={self.dim}" if self.mode == "concat" else "")


class Dot(nn.Module):
    """Keras ``Dot``: the dot product of two tensors along one axis each (batch kept).

    Args:
        axes: ``(axis of the first, axis of the second)``, torch dims counted with the batch.
        normalize: L2-normalise both along their axis first (cosine similarity).

    Example:
        >>> Dot((1, 1))([torch.ones(2, 3), torch.ones(2, 3)]).shape
        torch.Size([2, 1])
    """

    def __init__(self, axes: tuple[int, int], *, normalize: bool = False) -> None:
        super().__init__()
        self.axes = (int(axes[0]), int(axes[1]))
        self.normalize = bool(normalize)

    def forward(self, tensors: list[Tensor]) -> Tensor:
        """``(B, ..., n, ...)`` with ``(B, ..., n, ...)`` -> the remaining axes of both."""
        a, b = tensors
        if self.normalize:
            a = F.normalize(a, dim=self.axes[0])
            b = F.normalize(b, dim=self.axes[1])
        a = a.movedim(self.axes[0], -1)  # (B, ..., n)
        b = b.movedim(self.axes[1], 1)  # (B, n, ...)
        rest_a, rest_b = a.shape[1:-1], b.shape[2:]
        out = torch.bmm(a.reshape(a.shape[0], -1, a.shape[-1]), b.reshape(*b.shape[:2], -1))
        out = out.reshape(a.shape[0], *rest_a, *rest_b)
        return out.unsqueeze(1) if out.dim() == 1 else out  # Keras keeps (B, 1) for vectors

    def extra_repr(self) -> str:
        return f"axes={self.axes}, normalize={self.normalize}"


class ComputeMask(nn.Module):
    """Keras ``Masking``'s mask: ``(B, T, ...) -> (B, T)``, True where any feature differs from
    ``mask_value`` (the steps a following recurrent layer reads); on ``(B, T)`` indices, True
    where the index differs (``Embedding(mask_zero=True)``'s mask with ``mask_value=0``).

    Example:
        >>> ComputeMask(0.0)(torch.tensor([[[1.0], [0.0]]]))
        tensor([[ True, False]])
        >>> ComputeMask(0.0)(torch.tensor([[4, 7, 0]]))
        tensor([[ True,  True, False]])
    """

    def __init__(self, mask_value: float = 0.0) -> None:
        super().__init__()
        self.mask_value = float(mask_value)

    def forward(self, x: Tensor) -> Tensor:
        """The boolean mask of ``x``'s first two axes (of ``x`` itself for ``(B, T)``: the
        indices ``Embedding(mask_zero=True)`` reads)."""
        if x.dim() == 2:
            return x != self.mask_value  # (B, T)
        return (x != self.mask_value).flatten(2).any(dim=-1)  # (B, T)

    def extra_repr(self) -> str:
        return f"mask_value={self.mask_value}"


class Masking(ComputeMask):
    """Keras ``Masking``'s output: the input, with the masked steps set to 0.

    Example:
        >>> Masking(-1.0)(torch.tensor([[[1.0], [-1.0]]])).flatten().tolist()
        [1.0, 0.0]
    """

    def forward(self, x: Tensor) -> Tensor:
        """``x`` with every step whose features all equal ``mask_value`` zeroed."""
        keep = (x != self.mask_value).any(dim=-1, keepdim=True)  # (B, T, ..., 1)
        return torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))


class Embedding(nn.Embedding):
    """Keras ``Embedding``: a row of ``weight`` per index, ``(B, ...) -> (B, ..., F)``.

    It takes indices of any dtype, as Keras does: floats are cast to integers first (truncated,
    as Keras's cast to ``int32`` truncates), so a model whose Keras input is the default
    ``float32`` runs on the same arrays. Arguments as ``nn.Embedding``.

    Example:
        >>> Embedding(10, 4)(torch.tensor([[1.0, 9.0, 0.0]])).shape
        torch.Size([1, 3, 4])
    """

    def forward(self, x: Tensor) -> Tensor:
        """``x``: indices ``(B, ...)`` -> ``(B, ..., F)``.

        Raises:
            ValueError: an index outside ``[0, num_embeddings)`` (checked unless traced).
        """
        if x.dtype not in (torch.int32, torch.int64):
            x = x.long()
        if x.numel() and not torch.jit.is_tracing():  # type: ignore[attr-defined,no-untyped-call]
            low, high = int(x.min()), int(x.max())
            if low < 0 or high >= self.num_embeddings:
                raise ValueError(
                    f"Embedding: indices have to be in [0, {self.num_embeddings - 1}] "
                    f"(num_embeddings={self.num_embeddings}), but got values from {low} to "
                    f"{high}. Pass token ids as the Keras model was trained on them."
                )
        return super().forward(x)


class MaskedAverage(nn.Module):
    """Keras ``GlobalAveragePooling1D`` on channels-first steps ``(B, C, T)``, mask-aware: with
    a mask ``(B, T)`` the mean of the unmasked steps only (any pattern, holes too), as Keras
    computes it (a row with every step masked is 0 / 0, NaN, in both).

    Args:
        keepdims: keep the step axis, ``(B, C, 1)``.

    Example:
        >>> x = torch.tensor([[[1.0, 3.0, 100.0]]])  # (B=1, C=1, T=3)
        >>> MaskedAverage()(x, mask=torch.tensor([[True, True, False]]))
        tensor([[2.]])
    """

    def __init__(self, *, keepdims: bool = False) -> None:
        super().__init__()
        self.keepdims = bool(keepdims)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``x``: ``(B, C, T)``, ``mask``: ``(B, T)`` or None -> ``(B, C)`` or ``(B, C, 1)``."""
        if mask is None:
            return x.mean(dim=-1, keepdim=self.keepdims)
        if mask.shape != (x.shape[0], x.shape[-1]):
            raise ShapeError(
                f"MaskedAverage: expected a mask (B, T) = ({x.shape[0]}, {x.shape[-1]}) for steps "
                f"of shape {tuple(x.shape)}, got {tuple(mask.shape)}."
            ) from None
        keep = mask.bool().unsqueeze(1)  # (B, 1, T)
        total = torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))
        count = keep.to(x.dtype).sum(dim=-1, keepdim=self.keepdims)  # (B, 1) or (B, 1, 1)
        return total.sum(dim=-1, keepdim=self.keepdims) / count

    def extra_repr(self) -> str:
        return "keepdims=True" if self.keepdims else ""


class GaussianNoise(nn.Module):
    """Keras ``GaussianNoise``: adds ``N(0, stddev²)`` noise in training, identity in eval.

    Example:
        >>> GaussianNoise(0.5).eval()(torch.ones(2)).tolist()
        [1.0, 1.0]
    """

    def __init__(self, stddev: float) -> None:
        super().__init__()
        self.stddev = float(stddev)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` plus noise in training, ``x`` in eval."""
        if not self.training or self.stddev == 0:
            return x
        return x + torch.randn_like(x) * self.stddev

    def extra_repr(self) -> str:
        return f"stddev={self.stddev}"


class GaussianDropout(nn.Module):
    """Keras ``GaussianDropout``: multiplies by ``N(1, rate / (1 - rate))`` noise in training,
    identity in eval.

    Example:
        >>> GaussianDropout(0.2).eval()(torch.ones(2)).tolist()
        [1.0, 1.0]
    """

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = float(rate)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` times noise in training, ``x`` in eval."""
        if not self.training or not 0 < self.rate < 1:
            return x
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        return x * (1.0 + torch.randn_like(x) * stddev)

    def extra_repr(self) -> str:
        return f"rate={self.rate}"
