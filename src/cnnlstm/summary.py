"""``summary(model, input_shape)``: every stage's output shape and parameter count, in one table.

What Keras's ``model.summary()`` and torchinfo show: one forward pass of a zero tensor with
forward hooks on the modules, recording what each returns. Works for any ``nn.Module``.

A forward hook fires only when a module is called. A model that uses a submodule through its
``forward_features`` and ``forward_head`` methods (the interface every cnnlstm model has; CRNN
runs its ``CNNLSTM`` that way) never calls it, so those two methods are recorded too: such a
submodule's row shows what its ``forward_head`` returned (``forward_features`` without a head
call).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence
from torch.utils.hooks import RemovableHandle

from cnnlstm.functional import format_shape

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["Summary", "SummaryRow", "summary"]


@dataclass(frozen=True)
class SummaryRow:
    """One module of a :class:`Summary`.

    Attributes:
        name: the module's qualified name in the model (``"backbone.0"``); ``""`` for the model.
        type: the module's class name.
        output_shape: the shape of what the module returned (the first tensor of a tuple, the
            padded shape of a packed sequence), or ``None`` when it did not run.
        params: parameters of the module and its children.
        trainable_params: those of ``params`` with ``requires_grad``.
        depth: ``0`` for the model, ``1`` for its children, and so on.
    """

    name: str
    type: str
    output_shape: tuple[int, ...] | None
    params: int
    trainable_params: int
    depth: int


@dataclass(frozen=True)
class Summary:
    """The result of :func:`summary`: rows of modules and the model's parameter totals.

    ``str(summary)`` is a plain-text table; ``rich.print(summary)`` (or a rich ``Console``)
    renders it as a rich table.
    """

    model_name: str
    input_shape: tuple[int, ...]
    rows: tuple[SummaryRow, ...]
    total_params: int
    trainable_params: int

    @property
    def non_trainable_params(self) -> int:
        """Parameters without ``requires_grad`` (frozen layers)."""
        return self.total_params - self.trainable_params

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        """The model's output shape (the first row's)."""
        return self.rows[0].output_shape

    def _cells(self) -> list[tuple[str, str, str, str]]:
        cells = []
        for row in self.rows:
            name = row.name.rsplit(".", 1)[-1] if row.name else "(model)"
            shape = "--" if row.output_shape is None else format_shape(row.output_shape)
            cells.append(("  " * row.depth + name, row.type, shape, f"{row.params:,}"))
        return cells

    def _title(self) -> str:
        return f"{self.model_name} on input {format_shape(self.input_shape)}"

    def _footer(self) -> list[str]:
        return [
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
        ]

    def __str__(self) -> str:
        header = ("Layer", "Type", "Output shape", "Params")
        cells = self._cells()
        widths = [max(len(r[i]) for r in [header, *cells]) for i in range(4)]

        def line(row: Sequence[str]) -> str:
            left = [row[i].ljust(widths[i]) for i in range(3)]
            return "  ".join([*left, row[3].rjust(widths[3])])

        rule = "-" * len(line(header))
        body = [line(r) for r in cells]
        return "\n".join([self._title(), rule, line(header), rule, *body, rule, *self._footer()])

    def __rich__(self) -> Table:
        from rich.table import Table

        table = Table(
            title=self._title(), caption="\n".join(self._footer()), caption_justify="left"
        )
        table.add_column("Layer")
        table.add_column("Type", style="cyan")
        table.add_column("Output shape", style="green")
        table.add_column("Params", justify="right")
        for cells in self._cells():
            table.add_row(*cells)
        return table


def _output_shape(value: Any) -> tuple[int, ...] | None:
    """Shape of a module's output: the first tensor of nested tuples, lists or dicts."""
    while True:
        if isinstance(value, PackedSequence):
            batch_sizes = value.batch_sizes
            return (int(batch_sizes[0]), len(batch_sizes), *value.data.shape[1:])
        if isinstance(value, Tensor):
            return tuple(value.shape)
        if isinstance(value, dict) and value:
            value = next(iter(value.values()))
        elif isinstance(value, (tuple, list)) and value:
            value = value[0]
        else:
            return None


def _is_meta(value: Any) -> bool:
    while isinstance(value, (tuple, list)) and value:
        value = value[0]
    return isinstance(value, Tensor) and value.is_meta


def _count(module: nn.Module) -> tuple[int, int]:
    """(all, trainable) parameters of a module and its children, shared ones counted once."""
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def summary(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    depth: int = 3,
    lengths: Tensor | Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
) -> Summary:
    """Run ``model`` once on a zero tensor and tabulate every module's output shape and params.

    The model runs in eval mode under ``no_grad``; afterwards every submodule has the training
    flag it had. A module's parameter count includes its children's, so the column does not sum
    to the total; ``total_params`` counts each parameter once. Buffers (BatchNorm's running
    statistics) are not parameters and are not counted.

    Args:
        model: any module that takes one tensor (and ``lengths=`` when ``lengths`` is given).
        input_shape: the input's shape with the batch axis, e.g. ``(2, 3, 32, 32)``.
        depth: the deepest level listed: ``0`` the model alone, ``1`` its children, ...
        lengths: passed to ``model(x, lengths=lengths)`` when given.
        dtype: the input's dtype; defaults to the model's floating dtype (float32 without one).

    Returns:
        A :class:`Summary`: ``rows``, ``total_params``, ``trainable_params``; ``str()`` is the
        table.

    Raises:
        ValueError: a bad ``input_shape`` or ``depth``.

    Example:
        >>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten())
        >>> s = summary(model, (2, 3, 32, 32))
        >>> [(row.name, row.params) for row in s.rows]
        [('', 224), ('0', 224), ('1', 0), ('2', 0)]
        >>> s.rows[-1].output_shape
        (2, 7200)
    """
    shape = tuple(input_shape)
    if not shape or not all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape
    ):
        raise ValueError(
            "input_shape has to be a non-empty sequence of positive integers with the batch "
            f"axis first, e.g. (2, 3, 32, 32), but got {input_shape!r}"
        )
    own = getattr(model, "input_shape", None) or getattr(model, "example_input_shape", None)
    if isinstance(own, tuple) and shape == own:  # the model's per-sample shape, as it names it
        raise ValueError(
            f"input_shape has to start with the batch axis, but got {input_shape!r}, the model's "
            f"shape of one sample; pass {(2, *shape)!r}"
        )
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(f"depth has to be a non-negative integer, but got {depth!r}")

    listed = [
        (name, module)
        for name, module in model.named_modules()
        if (name.count(".") + 1 if name else 0) <= depth
    ]
    shapes: dict[str, tuple[int, ...] | None] = {}
    handles: list[RemovableHandle] = []

    def recorder(name: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if not _is_meta(output):  # a layer sizing itself on the meta device is no stage
                shapes.setdefault(name, _output_shape(output))

        return hook

    for name, module in listed:
        handles.append(module.register_forward_hook(recorder(name)))
    # name -> what its forward_features / forward_head returned, for modules not called.
    method_shapes: dict[str, dict[str, tuple[int, ...] | None]] = {}
    wrapped: list[tuple[nn.Module, str]] = []

    def method_recorder(name: str, method_name: str, method: Any) -> Any:
        def record(*args: Any, **kwargs: Any) -> Any:
            output = method(*args, **kwargs)
            if not _is_meta(output):
                method_shapes.setdefault(name, {}).setdefault(method_name, _output_shape(output))
            return output

        return record

    for name, module in listed:
        for method_name in ("forward_features", "forward_head"):
            method = getattr(module, method_name, None)
            if callable(method) and method_name not in vars(module):
                # An instance attribute shadows the class's method until it is deleted below.
                object.__setattr__(module, method_name, method_recorder(name, method_name, method))
                wrapped.append((module, method_name))

    device = torch.device("cpu")
    floating = [
        t for t in itertools.chain(model.parameters(), model.buffers()) if t.is_floating_point()
    ]
    if floating:
        device = floating[0].device
    input_dtype = dtype or (floating[0].dtype if floating else torch.get_default_dtype())
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            x = torch.zeros(shape, dtype=input_dtype, device=device)
            if lengths is None:
                model(x)
            else:
                model(x, lengths=torch.as_tensor(lengths))
    finally:
        for handle in handles:
            handle.remove()
        for module, method_name in wrapped:
            object.__delattr__(module, method_name)
        for m, training in flags.items():
            m.training = training

    for name, by_method in method_shapes.items():
        if shapes.get(name) is None:  # not called: its forward_head's (or features') output
            shapes[name] = by_method.get("forward_head") or by_method.get("forward_features")
    rows = []
    for name, module in listed:
        params, trainable = _count(module)
        rows.append(
            SummaryRow(
                name=name,
                type=type(module).__name__,
                output_shape=shapes.get(name),
                params=params,
                trainable_params=trainable,
                depth=name.count(".") + 1 if name else 0,
            )
        )
    total, trainable = _count(model)
    return Summary(
        model_name=type(model).__name__,
        input_shape=shape,
        rows=tuple(rows),
        total_params=total,
        trainable_params=trainable,
    )
