"""Walking the layer graph of a Keras 2 (tf_keras) or Keras 3 functional/Sequential model.

Both Keras generations keep, per model, the call nodes grouped by depth and, per node, the symbolic input
and output tensors; the only differences are attribute names. Nested models are inlined.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .errors import QKerasConversionError

V = TypeVar('V')
Apply = Callable[[Any, list], list]


def _flat(x) -> list:
    if isinstance(x, (list, tuple)):
        out = []
        for item in x:
            out.extend(_flat(item))
        return out
    if isinstance(x, dict):
        return _flat(list(x.values()))
    return [x]


def node_layer(node):
    """The layer (Keras 2) or operation (Keras 3) a node calls."""
    return getattr(node, 'operation', None) or node.layer


def node_inputs(node) -> list:
    return _flat(node.input_tensors)


def node_outputs(node) -> list:
    outs = getattr(node, 'output_tensors', None)
    if outs is None:
        outs = node.outputs
    return _flat(outs)


def is_model(layer) -> bool:
    """Whether ``layer`` is a functional or Sequential model (Keras 3 Sequential keeps its graph in ``_functional``)."""
    has_graph = hasattr(layer, '_nodes_by_depth') or getattr(layer, '_functional', None) is not None
    return has_graph and hasattr(layer, 'layers')


def model_io(model) -> tuple[list, list]:
    """Symbolic inputs and outputs of a built model."""
    inner = getattr(model, '_functional', None)  # Keras 3 Sequential
    graph = inner if inner is not None else model
    try:
        inputs, outputs = graph.inputs, graph.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if not inputs or not outputs:
        raise QKerasConversionError(
            f'Model {model.name!r} has no symbolic inputs; it is a subclassed model or an unbuilt Sequential. '
            'Build it with an Input (or input_shape on the first layer) before converting.'
        )
    return _flat(inputs), _flat(outputs)


def _ordered_nodes(model) -> list:
    inner = getattr(model, '_functional', None)
    graph = inner if inner is not None else model
    by_depth = graph._nodes_by_depth
    nodes = []
    for depth in sorted(by_depth, reverse=True):
        nodes.extend(by_depth[depth])
    return nodes


def is_input_layer(layer) -> bool:
    return type(layer).__name__ == 'InputLayer'


def run_graph(model, inputs: Sequence[V], apply: Apply) -> list[V]:
    """Re-runs ``model``'s graph on arbitrary values.

    Args:
        model: A built Keras 2 or Keras 3 functional or Sequential model.
        inputs: One value per model input.
        apply: ``apply(layer, input_values) -> output_values`` for every layer call except InputLayers and
            nested models (which are inlined).

    Returns:
        One value per model output.
    """
    model_inputs, model_outputs = model_io(model)
    if len(inputs) != len(model_inputs):
        raise QKerasConversionError(f'Model {model.name!r} has {len(model_inputs)} inputs, got {len(inputs)} values.')
    env = {id(t): v for t, v in zip(model_inputs, inputs)}
    for node in _ordered_nodes(model):
        layer = node_layer(node)
        if is_input_layer(layer):
            continue
        ins = node_inputs(node)
        missing = [t for t in ins if id(t) not in env]
        if missing:
            continue  # node of a call of this layer outside this model
        values = [env[id(t)] for t in ins]
        outs = run_graph(layer, values, apply) if is_model(layer) else apply(layer, values)
        for t, v in zip(node_outputs(node), outs):
            env[id(t)] = v
    try:
        return [env[id(t)] for t in model_outputs]
    except KeyError:
        raise QKerasConversionError(f'Could not follow the graph of model {model.name!r} to its outputs.') from None


def iter_layers(model):
    """Every layer of ``model``, nested models expanded."""
    for layer in getattr(model, 'layers', []):
        if is_model(layer):
            yield from iter_layers(layer)
        else:
            yield layer
