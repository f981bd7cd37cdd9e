"""``from_keras``: walk a Keras model's graph and build the :class:`ConvertedKeras` that runs it.

Each layer call (a Keras graph node) becomes a :class:`~cnnlstm.interop.keras.graph.Step`: the
layout adapters its layer needs, the layer's torch modules, and the slots it reads and writes.
Nested models are inlined (their layers keep their names), a layer called twice on inputs of one
layout shares one torch module, and masks travel as their own slots to the recurrent layers that
read them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from cnnlstm.errors import ConfigError
from cnnlstm.extras import importing
from cnnlstm.interop.keras.basic import convert_dot, convert_merge
from cnnlstm.interop.keras.core import (
    Builder,
    HardSigmoid,
    State,
    build,
    config,
    describe,
    perm,
    sequential,
)
from cnnlstm.interop.keras.dispatch import MERGES, convert_layer
from cnnlstm.interop.keras.graph import ConvertedKeras, Step, Structure
from cnnlstm.interop.keras.layers import ComputeMask, Masking
from cnnlstm.interop.keras.nodes import data_inputs, functional_graph, layer_calls, op_root

__all__ = ["from_keras"]


@dataclass
class _Tensor:
    slot: int
    state: State


class _Graph:
    """The steps and modules of the model being converted."""

    def __init__(self, hard_sigmoid: HardSigmoid) -> None:
        self.names: set[str] = set()
        self.modules: list[tuple[str, Any]] = []
        self.steps: list[Step] = []
        self.slots = 0
        self.tensors: dict[int, _Tensor] = {}  # id(KerasTensor) -> where it is
        self.masks_by_source: dict[int, int] = {}  # id(a Masking layer's input) -> mask slot
        # (id(layer), input state) -> (its modules, output state, the modules taking a mask)
        self.shared: dict[tuple[int, State], tuple[tuple[str, ...], State, tuple[str, ...]]] = {}
        self.hard_sigmoid: HardSigmoid = hard_sigmoid

    def builder(self) -> Builder:
        return Builder(self.names, hard_sigmoid=self.hard_sigmoid)

    def slot(self) -> int:
        self.slots += 1
        return self.slots - 1

    def tensor(self, keras_tensor: Any, *, layer: Any) -> _Tensor:
        found = self.tensors.get(id(keras_tensor))
        if found is None:
            raise ConfigError(
                f"from_keras: {describe(layer)} reads a tensor the converter has not computed "
                f"({getattr(keras_tensor, 'name', keras_tensor)!r}); the graph has a part it "
                f"cannot follow."
            )
        return found

    def add_step(
        self,
        builder: Builder,
        inputs: Sequence[int],
        pre: Sequence[Sequence[str]],
        *,
        outputs: int = 1,
        mask: int | None = None,
    ) -> tuple[int, ...]:
        """Record a step from ``builder``'s modules; returns its output slots."""
        taken = {name for chain in pre for name in chain}
        self.modules.extend(builder.modules)
        names = tuple(n for n, _ in builder.modules if n not in taken)
        out = tuple(self.slot() for _ in range(outputs))
        mask_modules = tuple(n for n in names if n in builder.takes_mask)
        self.steps.append(
            Step(
                inputs=tuple(inputs),
                pre=tuple(tuple(p) for p in pre),
                modules=names,
                outputs=out,
                mask=mask if mask_modules else None,
                mask_modules=mask_modules if mask is not None else (),
            )
        )
        return out


def _mask_slot(graph: _Graph, node: Any, layer: Any, tensor: Any) -> int | None:
    """The slot of the mask a layer call gets: its ``mask=`` argument, or its input's mask."""
    explicit = node.arguments.kwargs.get("mask")
    if isinstance(explicit, (list, tuple)):
        explicit = next((m for m in explicit if m is not None), None)
    source = explicit if explicit is not None else getattr(tensor, "_keras_mask", None)
    if source is None:
        return None
    found = graph.tensors.get(id(source))
    if found is None:  # a Sequential recomputes a Masking mask with keras.ops: follow it back
        slot = graph.masks_by_source.get(id(op_root(source)))
        if slot is not None:
            return slot
        raise ConfigError(
            f"from_keras: {describe(layer)} gets a mask the converter cannot compute (not from "
            f"a Masking layer, Embedding(mask_zero=True) or a boolean model input, e.g. one a "
            f"merge layer combined); supported masks: a Masking layer, "
            f"Embedding(mask_zero=True), or a boolean (B, T) input passed as mask=."
        )
    return found.slot


def _convert_node(graph: _Graph, node: Any) -> None:
    with importing("converting Keras models (cnnlstm.interop.keras.convert)", "keras"):
        import keras

    layer = node.operation
    kind = type(layer).__name__
    outputs = list(node.outputs)
    if isinstance(layer, keras.Model):
        _inline(graph, layer, [graph.tensor(t, layer=layer) for t in node.input_tensors], outputs)
        return
    if not isinstance(layer, keras.layers.Layer):
        raise ConfigError(
            f"from_keras: the graph calls {kind} ({getattr(layer, 'name', '?')!r}), a keras.ops "
            f"operation rather than a layer; only layers convert. Use the layer of the same "
            f"name (e.g. keras.layers.Add instead of keras.ops.add)."
        )
    inputs = [graph.tensor(t, layer=layer) for t in data_inputs(node)]
    if kind in MERGES or kind == "Dot":
        _convert_merge_node(graph, layer, inputs, outputs)
        return
    if kind == "Masking":
        _convert_masking(graph, layer, data_inputs(node)[0], outputs[0])
        return
    first = data_inputs(node)[0]
    source = graph.tensor(first, layer=layer)
    mask = _mask_slot(graph, node, layer, first)
    if kind == "Embedding" and config(layer).get("mask_zero"):
        _embedding_mask(graph, layer, first, outputs[0])
    key = (id(layer), source.state)
    if key in graph.shared:  # a layer called again on the same kind of input: share its modules
        names, state, takes = graph.shared[key]
        slots: tuple[int, ...] = (graph.slot(),)
        graph.steps.append(
            Step(
                inputs=(source.slot,),
                pre=((),),
                modules=names,
                outputs=slots,
                mask=mask if takes else None,
                mask_modules=takes if mask is not None else (),
            )
        )
    else:
        builder = graph.builder()
        state = convert_layer(builder, layer, source.state)
        slots = graph.add_step(builder, [source.slot], [()], outputs=len(outputs), mask=mask)
        names = tuple(n for n, _ in builder.modules)
        takes = tuple(n for n in names if n in builder.takes_mask)
        graph.shared[key] = (names, state, takes)
    for slot, tensor in zip(slots, outputs, strict=True):
        graph.tensors[id(tensor)] = _Tensor(slot, _output_state(state, tensor))


def _output_state(state: State, tensor: Any) -> State:
    """The state of one output tensor (Bidirectional(merge_mode=None) has two of one shape)."""
    shape = tuple(None if s is None else int(s) for s in tensor.shape)
    return State(shape, state.perm) if len(shape) == state.ndim else state


def _convert_masking(graph: _Graph, layer: Any, keras_input: Any, output: Any) -> None:
    """``Masking``: one step computes the mask ``(B, T)``, one the masked output."""
    source = graph.tensor(keras_input, layer=layer)
    value = float(layer.get_config()["mask_value"])
    builder = graph.builder()
    state = builder.to_layout(source.state, "last")
    builder.add(f"{layer.name}_mask", build(ComputeMask, value))
    (mask_slot,) = graph.add_step(builder, [source.slot], [()])
    graph.masks_by_source[id(keras_input)] = mask_slot
    out_builder = graph.builder()
    out_builder.to_layout(source.state, "last")
    out_builder.add(layer.name, build(Masking, value))
    (out_slot,) = graph.add_step(out_builder, [source.slot], [()])
    graph.tensors[id(output)] = _Tensor(out_slot, state)
    mask = getattr(output, "_keras_mask", None)
    if mask is not None:
        graph.tensors[id(mask)] = _Tensor(mask_slot, State(tuple(mask.shape), (0, 1)))


def _embedding_mask(graph: _Graph, layer: Any, keras_input: Any, output: Any) -> None:
    """``Embedding(mask_zero=True)``'s mask, ``indices != 0``: one step before the embedding's
    own (so the embedding and the layers after it still fuse into one step)."""
    source = graph.tensor(keras_input, layer=layer)
    builder = graph.builder()
    builder.add(f"{layer.name}_mask", build(ComputeMask, 0.0))
    (mask_slot,) = graph.add_step(builder, [source.slot], [()])
    graph.masks_by_source[id(keras_input)] = mask_slot  # a Sequential recomputes it with ops
    mask = getattr(output, "_keras_mask", None)
    if mask is not None:
        shape = tuple(mask.shape)
        graph.tensors[id(mask)] = _Tensor(mask_slot, State(shape, perm("last", len(shape))))


def _convert_merge_node(
    graph: _Graph, layer: Any, inputs: list[_Tensor], outputs: list[Any]
) -> None:
    """A merge layer: the inputs are brought to one layout first (Keras order unless they
    already share one), ``Dot`` always to Keras order."""
    builder = graph.builder()
    perms = {t.state.perm for t in inputs}
    same_rank = len({t.state.ndim for t in inputs}) == 1
    keep = len(perms) == 1 and same_rank and type(layer).__name__ != "Dot"
    pre: list[list[str]] = []
    states = []
    for tensor in inputs:
        before = len(builder.modules)
        state = tensor.state if keep else builder.to_layout(tensor.state, "last")
        pre.append([n for n, _ in builder.modules[before:]])
        states.append(state)
    if type(layer).__name__ == "Dot":
        state = convert_dot(builder, layer, states)
    else:
        state = convert_merge(builder, layer, states)
    (slot,) = graph.add_step(builder, [t.slot for t in inputs], pre)
    graph.tensors[id(outputs[0])] = _Tensor(slot, state)


def _inline(graph: _Graph, model: Any, inputs: list[_Tensor], outputs: list[Any]) -> None:
    """Convert a nested model's graph in place, its inputs bound to ``inputs``."""
    functional = functional_graph(model)
    inner_inputs = list(functional.inputs)
    if len(inner_inputs) != len(inputs):
        raise ConfigError(
            f"from_keras: nested model {model.name!r} takes {len(inner_inputs)} inputs but is "
            f"called with {len(inputs)}."
        )
    for keras_tensor, tensor in zip(inner_inputs, inputs, strict=True):
        graph.tensors[id(keras_tensor)] = tensor
    for node in layer_calls(functional):
        _convert_node(graph, node)
    inner_outputs = list(functional.outputs)
    for inner, outer in zip(inner_outputs, outputs, strict=True):
        graph.tensors[id(outer)] = graph.tensor(inner, layer=model)


def _structure(value: Any) -> Structure:
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, (list, tuple)):
        return "list"
    return "single"


def from_keras(
    model: Any,
    *,
    weights: str | os.PathLike[str] | None = None,
    hard_sigmoid: HardSigmoid | None = None,
) -> ConvertedKeras:
    """Convert a Keras model into a PyTorch module with the same weights and the same outputs.

    The module takes what the Keras model takes (channels last, e.g. ``(B, H, W, C)`` or
    ``(B, T, H, W, C)``; a list or dict of tensors for several inputs) and returns what it
    returns, in the same layout. The weights are copied into torch ``Parameter`` s and buffers,
    so the module trains on its own afterwards.

    Args:
        model: a built ``keras.Sequential`` or functional ``keras.Model`` (any graph of
            supported layers: several inputs and outputs, branches, merges, nested models,
            shared layers, masks), or the path of a saved model: a ``.keras`` file, a legacy
            ``.h5`` full model saved by tf.keras 2 (read without TensorFlow), or an
            architecture ``.json`` with its weights in ``weights``.
        weights: the ``.weights.h5`` or legacy ``.h5`` weights of an architecture ``.json``.
        hard_sigmoid: which ``"hard_sigmoid"`` the model uses: ``"keras3"``
            (``relu6(x + 3) / 6``) or ``"tf_keras2"`` (``clip(0.2 x + 0.5, 0, 1)``). Default:
            from the file's Keras version for a path, ``"keras3"`` for a model object.

    Returns:
        A :class:`ConvertedKeras`, in eval mode like ``model.predict``: call ``.train()`` to
        fine-tune it.

    Raises:
        ConfigError: a layer without a converter, or an option with no torch equivalent. The
            message names the layer and the setting.

    Example:
        >>> import keras, torch  # with KERAS_BACKEND=torch
        >>> model = keras.Sequential([
        ...     keras.Input((16, 16, 3)),
        ...     keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        ...     keras.layers.GlobalAveragePooling2D(),
        ...     keras.layers.Reshape((1, -1)),
        ...     keras.layers.LSTM(12),
        ...     keras.layers.Dense(5),
        ... ])
        >>> from_keras(model)(torch.zeros(2, 16, 16, 3)).shape
        torch.Size([2, 5])
    """
    with importing("converting Keras models (cnnlstm.interop.keras.convert)", "keras"):
        import keras

    if isinstance(model, (str, Path)):
        from cnnlstm.interop.keras.io import load_model

        loaded = load_model(model, weights=weights)
        model = loaded.model
        hard_sigmoid = hard_sigmoid or loaded.hard_sigmoid
    elif weights is not None:
        raise ValueError("weights has to be None when model is a keras.Model, but got a path")
    if not isinstance(model, keras.Model):
        raise ConfigError(
            f"from_keras: expected a keras.Model (Sequential or functional) or the path of a "
            f"saved model, got {type(model).__name__}."
        )
    functional = functional_graph(model)
    try:
        inputs = list(functional.inputs)
    except (AttributeError, ValueError):
        inputs = []
    if not inputs:
        raise ConfigError(
            f"from_keras: model {model.name!r} has no inputs; build it with keras.Input(shape) "
            f"so its shapes are known."
        )
    graph = _Graph(hard_sigmoid or "keras3")
    shapes = []
    for tensor in inputs:
        shape = tuple(None if s is None else int(s) for s in tensor.shape)
        shapes.append(shape[1:])
        graph.tensors[id(tensor)] = _Tensor(graph.slot(), State(shape, perm("last", len(shape))))
    for node in layer_calls(functional):
        _convert_node(graph, node)
    out_slots = []
    for tensor in functional.outputs:
        found = graph.tensor(tensor, layer=model)
        if found.state.perm != perm("last", found.state.ndim):
            builder = graph.builder()
            builder.to_layout(found.state, "last")
            (slot,) = graph.add_step(builder, [found.slot], [()])
            found = _Tensor(slot, State(found.state.shape, perm("last", found.state.ndim)))
        out_slots.append(found.slot)
    input_struct = _structure(getattr(functional, "_inputs_struct", inputs))
    output_struct = _structure(getattr(functional, "_outputs_struct", None))
    input_names = [str(getattr(t, "name", f"input_{i}")) for i, t in enumerate(inputs)]
    if input_struct == "dict":
        input_names = list(functional._inputs_struct.keys())
    output_names: list[str] = []
    if output_struct == "dict":
        output_names = list(functional._outputs_struct.keys())
    if output_struct == "single" and len(out_slots) > 1:
        output_struct = "tuple"  # all the outputs of the last layer (Bidirectional merge None)
    if isinstance(model, keras.Sequential) and len(out_slots) > 1:
        output_struct = "tuple"
    steps = _fuse(graph.steps, out_slots, len(inputs))
    modules, steps = _merge_time_distributed(graph.modules, steps)
    converted = ConvertedKeras(
        modules,
        name=model.name,
        input_shapes=shapes,
        input_names=input_names,
        steps=steps,
        outputs=out_slots,
        input_structure="single" if len(inputs) == 1 else input_struct,
        output_structure=output_struct,
        output_names=output_names,
    )
    return converted.eval()


def _fuse(steps: list[Step], outputs: list[int], n_inputs: int) -> list[Step]:
    """Join a step into the one before when it only reads that step's single output, and nothing
    else reads it: a chain becomes one step, as fast as ``nn.Sequential``."""
    reads: dict[int, int] = {}
    for step in steps:
        for slot in step.inputs:
            reads[slot] = reads.get(slot, 0) + 1
        if step.mask is not None:
            reads[step.mask] = reads.get(step.mask, 0) + 1
    for slot in outputs:
        reads[slot] = reads.get(slot, 0) + 1
    fused: list[Step] = []
    for step in steps:
        prev = fused[-1] if fused else None
        if (
            prev is not None
            and len(step.inputs) == 1
            and len(prev.outputs) == 1
            and step.inputs[0] == prev.outputs[0]
            and reads.get(prev.outputs[0], 0) == 1
            and (prev.mask is None or step.mask is None or prev.mask == step.mask)
        ):
            fused[-1] = Step(
                inputs=prev.inputs,
                pre=prev.pre,
                modules=(*prev.modules, *step.pre[0], *step.modules),
                outputs=step.outputs,
                mask=prev.mask if prev.mask is not None else step.mask,
                mask_modules=(*prev.mask_modules, *step.mask_modules),
            )
        else:
            fused.append(step)
    del n_inputs
    return fused


def _merge_time_distributed(
    modules: list[tuple[str, Any]], steps: list[Step]
) -> tuple[list[tuple[str, Any]], list[Step]]:
    """Join consecutive ``TimeDistributed`` modules of a step into one (named after the first)
    whose inner module runs their layers in turn: the frames are folded into the batch once for
    the whole CNN, as a model built by hand does, not once per layer."""
    from cnnlstm.layers.time_distributed import TimeDistributed

    by_name = dict(modules)
    uses: dict[str, int] = {}
    for step in steps:
        for name in (*step.modules, *(n for chain in step.pre for n in chain)):
            uses[name] = uses.get(name, 0) + 1
    merged: dict[str, Any] = {}
    dropped: set[str] = set()
    new_steps = []
    for step in steps:
        # Runs of mergeable TimeDistributed modules, and every other module alone.
        groups: list[list[str]] = []
        in_run = False
        for name in step.modules:
            module = by_name[name]
            mergeable = (
                isinstance(module, TimeDistributed)
                and module.chunk_size == "auto"
                and uses.get(name, 0) == 1
                and name not in step.mask_modules
            )
            if mergeable and in_run:
                groups[-1].append(name)
            else:
                groups.append([name])
            in_run = mergeable
        names = []
        for group in groups:
            names.append(group[0])
            if len(group) > 1:
                pairs: list[tuple[str, Any]] = []
                for name in group:
                    inner = by_name[name].module
                    if isinstance(inner, torch.nn.Sequential):
                        pairs.extend(inner.named_children())
                    else:
                        pairs.append((name, inner))
                merged[group[0]] = build(TimeDistributed, sequential(pairs))
                dropped.update(group[1:])
        new_steps.append(replace(step, modules=tuple(names)))
    result = [(n, merged.get(n, m)) for n, m in modules if n not in dropped]
    return result, new_steps
