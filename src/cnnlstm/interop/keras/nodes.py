"""A Keras model's graph as the converter reads it: its functional form, the layer calls its
outputs need in an order that runs, what each call reads as data, and the single chain of layers
a model nested inside ``TimeDistributed`` has to be.

Keras is imported when one of these runs, not with the module.
"""

from __future__ import annotations

from typing import Any

from cnnlstm.errors import ConfigError
from cnnlstm.extras import importing
from cnnlstm.interop.keras.core import describe

__all__ = ["data_inputs", "functional_graph", "layer_calls", "layer_chain", "op_root"]


def functional_graph(model: Any) -> Any:
    """The functional graph of a Sequential or functional model."""
    with importing("converting Keras models (cnnlstm.interop.keras.nodes)", "keras"):
        import keras

    if isinstance(model, keras.Sequential):
        graph = getattr(model, "_functional", None)
        if graph is None:
            raise ConfigError(
                f"from_keras: model {model.name!r} has no known input shape; build it with "
                f"keras.Input(shape) as its first layer (or call model.build) so its shapes are "
                f"known."
            )
        return graph
    if type(model).__name__ != "Functional" and not hasattr(model, "_nodes_by_depth"):
        raise ConfigError(
            f"from_keras: model {model.name!r} is a subclassed keras.Model "
            f"({type(model).__name__}) whose call() is Python code; only Sequential models and "
            f"functional keras.Model(inputs, outputs) graphs can be converted."
        )
    return model


def data_inputs(node: Any) -> list[Any]:
    """The tensors a layer call reads as data (its positional arguments; not ``mask=``)."""
    with importing("converting Keras models (cnnlstm.interop.keras.nodes)", "keras"):
        import keras

    return [t for t in keras.tree.flatten(node.arguments.args) if isinstance(t, keras.KerasTensor)]


def op_root(tensor: Any) -> Any:
    """The tensor a chain of keras.ops calls (Sequential's ``not_equal`` + ``any`` that recompute
    a ``Masking`` mask) starts from."""
    with importing("converting Keras models (cnnlstm.interop.keras.nodes)", "keras"):
        import keras

    seen = 0
    while seen < 16:
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            return tensor
        operation, node_index, _ = history
        if isinstance(operation, keras.layers.Layer):
            return tensor
        inputs = operation._inbound_nodes[node_index].input_tensors
        if not inputs:
            return tensor
        tensor = inputs[0]
        seen += 1
    return tensor


def layer_calls(functional: Any) -> list[Any]:
    """The functional model's layer calls that its outputs need, in an order that runs.

    Only the calls on a path to an output count: the ops a ``Masking`` layer records while it
    computes its mask symbolically are not (the converter computes masks itself).
    """
    needed: set[int] = set()
    stack = list(functional.outputs)
    while stack:
        tensor = stack.pop()
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            continue
        operation, node_index, _ = history
        node = operation._inbound_nodes[node_index]
        if id(node) in needed:
            continue
        needed.add(id(node))
        stack.extend(data_inputs(node))  # not a mask= argument: masks are followed apart
    nodes = []
    for depth in sorted(functional._nodes_by_depth, reverse=True):
        for node in functional._nodes_by_depth[depth]:
            if node.operation is not None and not node.is_input and id(node) in needed:
                nodes.append(node)
    return nodes


def layer_chain(model: Any) -> list[Any]:
    """The layers of a model nested inside ``TimeDistributed``: a single chain is required."""
    with importing("converting Keras models (cnnlstm.interop.keras.nodes)", "keras"):
        import keras

    if isinstance(model, keras.Sequential):
        return list(model.layers)
    functional = functional_graph(model)
    layers = []
    for node in layer_calls(functional):
        if len(node.input_tensors) != 1:
            raise ConfigError(
                f"from_keras: {describe(node.operation)} in model {model.name!r} takes "
                f"{len(node.input_tensors)} inputs; inside TimeDistributed only a chain of "
                f"single-input layers is supported."
            )
        layers.append(node.operation)
    return layers
