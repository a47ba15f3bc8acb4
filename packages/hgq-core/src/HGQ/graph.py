"""Walking a model's layers: the one place hgq-core iterates over a model (nested models included).

`iter_layers` yields the layers of a model with nested models inlined, `iter_hgq_layers` only the H-layers;
`producer_of` finds the layer that produced a symbolic tensor (through nested models too); `run_flattened` and
`convert_model` re-apply a model's graph with every layer replaced (nested models inlined), `clone_layer` copies a
plain Keras layer with its weights (for the proxy model and its lookup tables).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import keras

from ._keras_compat import functional_graph, inbound_nodes, inputs_struct, keras_history, producer_of, run_through_graph
from .layers.base import HLayerBase

__all__ = [
    'MERGES', 'LayerFn', 'clone_layer', 'convert_model', 'input_shape_of', 'iter_hgq_layers', 'iter_layers',
    'producer_of', 'run_flattened',
]

LayerFn = Callable[..., Any]
# the merge layers: built when called (their input shapes are a list)
MERGES = (keras.layers.Add, keras.layers.Concatenate, keras.layers.Maximum, keras.layers.Minimum,
          keras.layers.Multiply, keras.layers.Average, keras.layers.Subtract, keras.layers.Dot)


def iter_layers(model: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    """Yields every layer of ``model``, descending into nested models (depth first, in order)."""
    for layer in getattr(model, 'layers', []):
        if isinstance(layer, keras.Model):
            yield from iter_layers(layer)
        else:
            yield layer


def iter_hgq_layers(model: keras.layers.Layer) -> Iterator[HLayerBase]:
    """Yields every H-layer of ``model``, nested models included."""
    for layer in iter_layers(model):
        if isinstance(layer, HLayerBase):
            yield layer


# ------------------------------------------------------------------------------ rebuilding a graph
def _functional(model: keras.Model):
    graph = functional_graph(model)
    if graph is None:
        raise ValueError(
            f'Model {model.name!r} ({type(model).__name__}) is a subclassed model without a functional graph; '
            'to_proxy_model needs a Sequential or Functional model.'
        )
    return graph


def run_flattened(model: keras.Model, inputs, layer_fn: Callable[[keras.layers.Layer], LayerFn]):
    """Re-applies ``model``'s graph to new ``inputs``, replacing each layer by ``layer_fn(layer)``
    (a callable producing the outputs) and inlining nested models."""
    if isinstance(model, keras.Sequential) and functional_graph(model) is None:
        raise ValueError(f'Sequential model {model.name!r} is not built; call it on data or give it an input shape.')
    graph = _functional(model)

    def operation_fn(op):
        if isinstance(op, keras.Model):
            return lambda *args, **kwargs: run_flattened(op, args[0] if len(args) == 1 else list(args), layer_fn)
        return layer_fn(op)

    return run_through_graph(graph, inputs, operation_fn)


def convert_model(model: keras.Model, layer_fn: Callable[[keras.layers.Layer], LayerFn], name: str | None = None):
    """Builds a new flat model with every layer of ``model`` replaced by ``layer_fn(layer)``."""
    graph = _functional(model)
    new_inputs = [
        keras.Input(shape=tuple(t.shape[1:]), dtype=t.dtype, name=keras_history(t).operation.name) for t in graph.inputs
    ]
    outputs = run_flattened(model, new_inputs, layer_fn)
    # keep the input structure, so that the proxy takes what the model takes (HGQ1 files list even one input)
    listed = isinstance(inputs_struct(graph), (list, tuple))
    inputs = new_inputs if listed or len(new_inputs) != 1 else new_inputs[0]
    return keras.Model(inputs, outputs, name=name or f'{model.name}_proxy')


def input_shape_of(layer: keras.layers.Layer):
    node = inbound_nodes(layer)[0]
    shapes = [tuple(t.shape) for t in node.input_tensors]
    return shapes[0] if len(shapes) == 1 else shapes


def clone_layer(layer: keras.layers.Layer, name: str, config: dict | None = None, cls=None) -> keras.layers.Layer:
    """A fresh copy of a plain Keras layer with the same config and weights (built on its input shape)."""
    if type(layer) is keras.layers.Activation and config is None and cls is None:
        return keras.layers.Activation(layer.activation, name=name)  # no round trip through a (lambda) config
    conf = dict(layer.get_config() if config is None else config)
    conf['name'] = name
    cls = cls or type(layer)
    new = cls.from_config(conf)
    if inbound_nodes(layer) and not isinstance(new, MERGES):
        new.build(input_shape_of(layer))
        weights = layer.get_weights()
        if weights and len(weights) == len(new.get_weights()):
            new.set_weights(weights)
    return new
