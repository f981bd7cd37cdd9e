"""The interface every bridge shares, and how to find any module's output shape without data.

:class:`Bridge` is a module that knows its output shape before it sees data.
:func:`probe_output_shape` finds the output shape of any module: from its ``output_shape`` when
it has one, else by running it on the ``meta`` device (:func:`meta_forward`: shapes only, no
memory, no arithmetic), else on a zero batch (:func:`run_on_zeros`). ``TimeDistributed`` and
``CNNLSTM`` both size themselves with it, and :mod:`cnnlstm.models.diagnose` runs a backbone
that failed the probe again with the same two functions to say which layer failed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from cnnlstm.errors import ShapeError
from cnnlstm.functional import format_shape

__all__ = ["Bridge", "first_tensor", "meta_forward", "probe_output_shape", "run_on_zeros"]


class Bridge(nn.Module):
    """Base class of the layers that turn CNN feature maps into sequences for a recurrent layer.

    A bridge maps ``(B, C, H, W)`` (or ``(B, T, C, H, W)`` where it makes sense) to
    ``(B, L, F)``. Subclasses implement :meth:`output_shape` so that a model builder can size
    the recurrent layer from the input shape alone, without running data through the network.
    """

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """Return the output shape for an input of ``input_shape`` (batch axis included).

        Raises:
            ShapeError: when the layer cannot take an input of this shape.
        """
        raise NotImplementedError

    def out_features(self, input_shape: Sequence[int]) -> int:
        """``F``: the features per step that the recurrent layer after this bridge receives."""
        return int(self.output_shape(input_shape)[-1])


def first_tensor(value: Any) -> Tensor:
    """The first tensor of a module's output: ``output`` of ``(output, (h_n, c_n))``.

    A ``PackedSequence`` is unpacked (batch first).

    Example:
        >>> first_tensor((torch.zeros(2, 3), (torch.zeros(1), torch.zeros(1)))).shape
        torch.Size([2, 3])
    """
    # A PackedSequence is a tuple too: stop at it rather than take its packed data.
    while isinstance(value, (tuple, list)) and not isinstance(value, PackedSequence) and value:
        value = value[0]
    if isinstance(value, PackedSequence):
        value = pad_packed_sequence(value, batch_first=True)[0]
    if not isinstance(value, Tensor):
        raise TypeError(f"expected a module output holding a tensor, but got {type(value)!r}")
    return value


def _device_dtype(module: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of a module's first floating parameter or buffer.

    CPU and the default dtype (float32) for a module without any.
    """
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.get_default_dtype()


@contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    """Put ``module`` in eval mode; give every submodule back its training flag afterwards."""
    flags = {m: m.training for m in module.modules()}
    module.eval()
    try:
        yield
    finally:
        for m, training in flags.items():
            m.training = training


def meta_forward(
    module: nn.Module,
    input_shape: Sequence[int],
    *,
    dtype: torch.dtype | None = None,
    context: AbstractContextManager[Any] | None = None,
) -> Any:
    """Run ``module`` once on an empty ``meta`` tensor: shapes only, no data, no arithmetic.

    The module's parameters and buffers are swapped for ``meta`` copies for the call (shared
    weights stay shared by name), so its own state, running statistics included, is left
    untouched; it runs in whatever mode (train or eval) it is in, under ``no_grad``. Python side
    effects of ``forward`` (hooks, counters) do happen.

    Args:
        module: any module that takes one tensor.
        input_shape: shape of that tensor, batch axis included.
        dtype: dtype of the input; by default that of the module's first floating parameter or
            buffer, or the default dtype.
        context: entered around the module call alone, e.g. a ``TorchFunctionMode`` that
            counts the tensors the module makes (the meta copies of the weights and the input
            are made outside it).

    Returns:
        Whatever the module returns, with ``meta`` tensors in it.

    Raises:
        Exception: whatever the module raises on this input, or for an operation the ``meta``
            device cannot do (``.item()``, data-dependent shapes).

    Example:
        >>> meta_forward(nn.Conv2d(3, 8, 3), (2, 3, 16, 16)).shape
        torch.Size([2, 8, 14, 14])
    """
    tensors = itertools.chain(
        module.named_parameters(remove_duplicate=False),
        module.named_buffers(remove_duplicate=False),
    )
    state = {name: torch.empty_like(t, device="meta") for name, t in tensors}
    if dtype is None:
        _, dtype = _device_dtype(module)
    x = torch.empty(tuple(int(s) for s in input_shape), device="meta", dtype=dtype)
    with torch.no_grad(), context or nullcontext():
        return torch.func.functional_call(module, state, (x,), tie_weights=False, strict=False)


def run_on_zeros(
    module: nn.Module, input_shape: Sequence[int], *, dtype: torch.dtype | None = None
) -> Any:
    """Run ``module`` once on a zero tensor of ``input_shape``, in eval mode under ``no_grad``.

    The input is on the module's device, in the dtype of its first floating parameter or buffer
    (or the default dtype) unless ``dtype`` is given. Eval mode keeps batch norm from needing
    more than one sample or updating its running statistics; every submodule gets back the
    training flag it had, also when the module raises. Hooks registered on the module run.

    Args:
        module: any module that takes one tensor.
        input_shape: shape of that tensor, batch axis included.
        dtype: dtype of the input.

    Returns:
        Whatever the module returns.

    Raises:
        Exception: whatever the module raises on this input.

    Example:
        >>> run_on_zeros(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)), (1, 3, 9, 9)).shape
        torch.Size([1, 8, 7, 7])
    """
    device, default_dtype = _device_dtype(module)
    shape = tuple(int(s) for s in input_shape)
    with _eval_mode(module), torch.no_grad():
        return module(torch.zeros(shape, device=device, dtype=dtype or default_dtype))


def probe_output_shape(
    module: nn.Module, input_shape: Sequence[int], *, dtype: torch.dtype | None = None
) -> tuple[int, ...]:
    """Output shape of ``module`` for an input of ``input_shape`` (batch axis included).

    Tries, in order:

    1. the module's own ``output_shape(input_shape)``, when it has one that does not raise
       ``NotImplementedError`` (a :class:`Bridge` subclass without its own);
    2. one run on the ``meta`` device (:func:`meta_forward`: no memory, no arithmetic, the
       weights untouched);
    3. when the module cannot run there, one run on a zero tensor (:func:`run_on_zeros`: under
       ``no_grad``, on the module's device).

    Runs 2 and 3 happen in eval mode (so batch norm neither needs more than one sample nor
    updates its running statistics), after which every submodule gets back the training flag
    it had. A module that returns a tuple (an RNN's ``(output, state)``) reports its first
    tensor; a ``PackedSequence`` is reported padded, batch first. Give a batch of 2 or more
    when the module's output shape could depend on it (squeezing the batch axis).

    Args:
        module: the module to probe.
        input_shape: the input's shape, batch axis included.
        dtype: dtype of the probe input; by default that of the module's first floating
            parameter or buffer, or the default dtype.

    Returns:
        The shape of the module's (first) output tensor.

    Raises:
        ShapeError: the module cannot take an input of this shape.

    Example:
        >>> probe_output_shape(nn.Conv2d(3, 8, 3, stride=2), (2, 3, 32, 32))
        (2, 8, 15, 15)
        >>> probe_output_shape(nn.LSTM(8, 16, batch_first=True), (2, 5, 8))
        (2, 5, 16)
    """
    shape = tuple(int(s) for s in input_shape)
    output_shape = getattr(module, "output_shape", None)
    if callable(output_shape):
        try:
            return tuple(int(s) for s in output_shape(shape))
        except NotImplementedError:
            pass  # a Bridge subclass without its own output_shape: run it
    with _eval_mode(module):
        try:
            return tuple(first_tensor(meta_forward(module, shape, dtype=dtype)).shape)
        except Exception:  # the module does something the meta device cannot: run it
            try:
                out = run_on_zeros(module, shape, dtype=dtype)
            except Exception as error:
                raise ShapeError(
                    f"{type(module).__name__} cannot take an input of shape "
                    f"{format_shape(shape)}: {error}"
                ) from None
            return tuple(first_tensor(out).shape)
