"""The converted model: named torch modules and the Keras graph they run in, in topological order.

:class:`ConvertedKeras` holds every module under its Keras layer's name (so ``print(module)``
and the state dict read like the Keras model) and a list of :class:`Step` s: each reads tensors
from numbered slots, runs a few modules, and writes its result to new slots. A Sequential model is
a single step through all its modules; a functional model with branches, merges, several inputs
or outputs is several. :meth:`ConvertedKeras.config` describes the whole module in plain Python
values, so :meth:`ConvertedKeras.from_config` rebuilds it (then ``load_state_dict``) without Keras.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from torch import Tensor, nn

from cnnlstm.errors import ShapeError
from cnnlstm.functional import format_shape
from cnnlstm.interop.keras.core import rebuild, spec

__all__ = ["ConvertedKeras", "Step"]

Structure = Literal["single", "list", "dict", "tuple"]


@dataclass(frozen=True)
class Step:
    """One node of the graph: read ``inputs``, run ``pre[i]`` on input ``i``, then ``modules`` on
    the input (or the list of inputs), and write the result to ``outputs`` (a tuple result is
    spread over several slots). The modules named in ``mask_modules`` also get the tensor in slot
    ``mask`` as ``mask=``."""

    inputs: tuple[int, ...]
    pre: tuple[tuple[str, ...], ...]
    modules: tuple[str, ...]
    outputs: tuple[int, ...]
    mask: int | None = None
    mask_modules: tuple[str, ...] = ()

    @staticmethod
    def from_dict(values: Mapping[str, Any]) -> Step:
        """The step :meth:`dataclasses.asdict` wrote."""
        return Step(
            inputs=tuple(values["inputs"]),
            pre=tuple(tuple(p) for p in values["pre"]),
            modules=tuple(values["modules"]),
            outputs=tuple(values["outputs"]),
            mask=values.get("mask"),
            mask_modules=tuple(values.get("mask_modules", ())),
        )


def _shape_text(shape: Sequence[int | None]) -> str:
    return "(B, " + ", ".join("?" if s is None else str(s) for s in shape) + ")"


class ConvertedKeras(nn.Sequential):
    """A converted Keras model: named torch layers run as the Keras graph runs them.

    Built by :func:`~cnnlstm.interop.keras.from_keras`. It takes what the Keras model takes (one
    tensor, or a list or dict of tensors for several inputs, channels last) and returns what it
    returns. It checks each input against the Keras input shape (``None`` axes accept any size)
    so a channels-first tensor fails with a clear message. Iterating gives the modules in the
    order they were converted.

    Args:
        layers: ``(name, module)`` pairs.
        input_shape: the Keras input shape without the batch axis, ``None`` for any size (one
            input; use ``input_shapes`` for several).
        name: the Keras model's name, used in error messages.
        input_shapes: each input's shape, in the order the model takes them.
        input_names: each input's name (the keys of a dict input).
        steps: the graph; None runs ``layers`` one after another on a single input.
        outputs: the slots of the model's outputs (slot ``i < len(inputs)`` is input ``i``).
        input_structure: ``"single"``, ``"list"`` or ``"dict"``: how the inputs are passed.
        output_structure: ``"single"``, ``"list"``, ``"tuple"`` or ``"dict"``.
        output_names: the output keys for ``output_structure="dict"``.
    """

    def __init__(
        self,
        layers: Sequence[tuple[str, nn.Module]],
        *,
        input_shape: Sequence[int | None] | None = None,
        name: str = "model",
        input_shapes: Sequence[Sequence[int | None]] | None = None,
        input_names: Sequence[str] | None = None,
        steps: Sequence[Step] | None = None,
        outputs: Sequence[int] | None = None,
        input_structure: Structure = "single",
        output_structure: Structure = "single",
        output_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(OrderedDict(layers))
        if input_shapes is None:
            if input_shape is None:
                raise ValueError("input_shape or input_shapes has to be given, but got neither")
            input_shapes = [input_shape]
        self.input_shapes = [
            tuple(None if s is None else int(s) for s in shape) for shape in input_shapes
        ]
        self.input_names = list(
            input_names or [f"input_{i}" for i in range(len(self.input_shapes))]
        )
        self.keras_name = name
        if steps is None:
            names = tuple(n for n, _ in layers)
            steps = [Step(inputs=(0,), pre=((),), modules=names, outputs=(1,))]
            outputs = [1]
        self.steps = list(steps)
        self.outputs = list(outputs if outputs is not None else [self.steps[-1].outputs[0]])
        self.input_structure: Structure = input_structure
        self.output_structure: Structure = output_structure
        self.output_names = list(output_names or [])
        self.slot_count = 1 + max(
            [len(self.input_shapes) - 1, *self.outputs, *(o for s in self.steps for o in s.outputs)]
        )

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        """The first input's Keras shape, without the batch axis."""
        return self.input_shapes[0]

    def _check(self, index: int, x: Any) -> None:
        expected = self.input_shapes[index]
        if not isinstance(x, Tensor):
            raise ShapeError(
                f"ConvertedKeras({self.keras_name!r}): input {self.input_names[index]!r} has to "
                f"be a tensor, but got {type(x).__name__}."
            ) from None
        if x.dim() != len(expected) + 1 or any(
            want is not None and want != got
            for want, got in zip(expected, x.shape[1:], strict=True)
        ):
            which = "" if len(self.input_shapes) == 1 else f" for input {self.input_names[index]!r}"
            raise ShapeError(
                f"ConvertedKeras({self.keras_name!r}): expected the Keras model's input layout "
                f"{_shape_text(expected)}{which} (channels last, '?' is any size), got a tensor "
                f"of shape {format_shape(x.shape)}. Pass the tensor you would give the Keras "
                f"model; a channels-first (B, C, H, W) tensor needs x.permute(0, 2, 3, 1) first."
            ) from None

    def _inputs(self, args: tuple[Any, ...]) -> list[Any]:
        count = len(self.input_shapes)
        if len(args) == 1 and isinstance(args[0], Mapping):
            missing = [n for n in self.input_names if n not in args[0]]
            if missing:
                raise ShapeError(
                    f"ConvertedKeras({self.keras_name!r}): the inputs dict lacks {missing}; it "
                    f"takes {self.input_names}."
                ) from None
            return [args[0][n] for n in self.input_names]
        if len(args) == 1 and isinstance(args[0], (list, tuple)):
            args = tuple(args[0])
        if len(args) != count:
            raise ShapeError(
                f"ConvertedKeras({self.keras_name!r}): expected {count} input(s) "
                f"{self.input_names}, got {len(args)}. Pass them as the Keras model takes them "
                f"(a list or a dict by name)."
            ) from None
        return list(args)

    def forward(self, *args: Any) -> Any:
        """Run the graph: ``x`` (one input), or a list / dict of inputs; returns one tensor, or
        the list / tuple / dict the Keras model returns."""
        inputs = self._inputs(args)
        for index, x in enumerate(inputs):
            self._check(index, x)
        values: list[Any] = [None] * self.slot_count
        values[: len(inputs)] = inputs
        modules = self._modules
        for step in self.steps:
            taken = []
            for slot, chain in zip(step.inputs, step.pre, strict=True):
                value = values[slot]
                for name in chain:
                    value = modules[name](value)
                taken.append(value)
            out: Any = taken[0] if len(taken) == 1 else taken
            for name in step.modules:
                module = modules[name]
                if step.mask is not None and name in step.mask_modules:
                    out = module(out, mask=values[step.mask])
                else:
                    out = module(out)
            if len(step.outputs) == 1:
                values[step.outputs[0]] = out
            else:
                for slot, value in zip(step.outputs, out, strict=True):
                    values[slot] = value
        results = [values[slot] for slot in self.outputs]
        if self.output_structure == "single":
            return results[0]
        if self.output_structure == "tuple":
            return tuple(results)
        if self.output_structure == "dict":
            return dict(zip(self.output_names, results, strict=True))
        return results

    def config(self) -> dict[str, Any]:
        """Everything but the weights, in plain values: :meth:`from_config` rebuilds the module.

        Example:
            >>> module = ConvertedKeras([("dense", nn.Linear(2, 3))], input_shape=(2,))
            >>> ConvertedKeras.from_config(module.config())
            Traceback (most recent call last):
            ...
            TypeError: spec: Linear was not made with build()
        """
        return {
            "format": "cnnlstm.ConvertedKeras/1",
            "name": self.keras_name,
            "modules": [(name, spec(module)) for name, module in self.named_children()],
            "input_shapes": [list(s) for s in self.input_shapes],
            "input_names": list(self.input_names),
            "steps": [asdict(step) for step in self.steps],
            "outputs": list(self.outputs),
            "input_structure": self.input_structure,
            "output_structure": self.output_structure,
            "output_names": list(self.output_names),
            # Weights Keras keeps fixed (BatchNormalization(scale=False)'s gamma, ...): a
            # rebuilt module starts with every parameter trainable, so they are named here.
            "frozen": [name for name, p in self.named_parameters() if not p.requires_grad],
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ConvertedKeras:
        """The module :meth:`config` describes, with fresh weights (load the state dict next);
        the parameters it lists as ``"frozen"`` get ``requires_grad=False`` again."""
        module = cls(
            [(name, rebuild(record)) for name, record in config["modules"]],
            name=str(config["name"]),
            input_shapes=config["input_shapes"],
            input_names=config["input_names"],
            steps=[Step.from_dict(s) for s in config["steps"]],
            outputs=config["outputs"],
            input_structure=config["input_structure"],
            output_structure=config["output_structure"],
            output_names=config["output_names"],
        )
        for name in config.get("frozen", ()):
            module.get_parameter(name).requires_grad_(False)
        return module

    def extra_repr(self) -> str:
        shapes = ", ".join(_shape_text(s) for s in self.input_shapes)
        text = f"keras_model={self.keras_name!r}, input_shape={shapes}"
        if len(self.steps) > 1:
            text += f", steps={len(self.steps)}"
        return text
