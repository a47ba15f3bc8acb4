"""Every use of Keras internals in hgq-core, fenced in one module.

Each name below says what HGQ needs from Keras and which public API is missing; the rest of hgq-core uses the
public Keras 3 API only. When a Keras release changes one of these internals, this is the file to adapt.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any

import keras

# The rank-generic convolution base of Conv1D/2D/3D (HConv of any rank derives from it): not exported publicly.
from keras.src.layers.convolutional.base_conv import BaseConv  # noqa: E402

__all__ = [
    'BaseConv',
    'PerThreadLosses',
    'functional_class',
    'functional_graph',
    'inbound_nodes',
    'inputs_struct',
    'keras_history',
    'keras2_functional_module_exists',
    'legacy_h5_saving_utils',
    'outbound_nodes',
    'own_variables',
    'producer_of',
    'run_through_graph',
]


# ------------------------------------------------------------------------------------------- graph
def keras_history(tensor) -> Any:
    """``(operation, node_index, tensor_index)`` of a symbolic tensor, or None for other tensors."""
    # KerasTensor has no public accessor of the operation that produced it (only `_keras_history`)
    return getattr(tensor, '_keras_history', None)


def inbound_nodes(layer) -> list:
    """The nodes (calls in a functional graph) of ``layer``, in call order."""
    # Keras 3 has no public `inbound_nodes` (Keras 2 had one); the graph keeps them in `_inbound_nodes`
    return layer._inbound_nodes


def outbound_nodes(layer) -> list:
    """The nodes consuming the outputs of ``layer``."""
    # as `inbound_nodes`: no public accessor of a layer's consumers
    return getattr(layer, '_outbound_nodes', [])


def functional_graph(model) -> Any:
    """The functional graph of a built Sequential model, ``model`` itself for a functional one, else None."""
    # a Sequential model keeps the Functional it builds in `_functional`; there is no public accessor
    inner = getattr(model, '_functional', None)
    if inner is not None:
        return inner
    # only Functional has `_run_through_graph`; the public `isinstance(model, Functional)` needs the private class
    return model if hasattr(model, '_run_through_graph') else None


def run_through_graph(graph, inputs, operation_fn):
    """Re-applies ``graph`` to ``inputs`` with each operation replaced by ``operation_fn(operation)``."""
    # Functional's graph walk with substituted operations; `keras.models.clone_model` rebuilds layers instead
    return graph._run_through_graph(inputs, operation_fn=operation_fn)


def inputs_struct(graph) -> Any:
    """The nesting of a Functional's inputs (e.g. a list of one input, as in HGQ1 files), or None."""
    # the public `model.inputs` is always a flat list; the structure the model was built with is `_inputs_struct`
    return getattr(graph, '_inputs_struct', None)


def producer_of(tensor) -> keras.layers.Layer | None:
    """The layer that produced a symbolic tensor, looking through nested models to their inner layer."""
    history = keras_history(tensor)
    if history is None:
        return None
    op, _, index = history
    while isinstance(op, keras.Model):
        model = functional_graph(op) or op
        outputs = getattr(model, 'outputs', None)
        if not outputs:
            return op
        op, _, index = keras_history(outputs[index])
    return op


# ----------------------------------------------------------------------------------------- layers
def own_variables(layer) -> list:
    """The variables ``layer`` created itself, trainable ones first, in creation order (what
    `keras.layers.Layer.save_own_variables` writes)."""
    # public `layer.weights` adds the sublayers' variables and is reordered by `trainable`; Keras' own store order is
    # `_trainable_variables + _non_trainable_variables`
    return list(layer._trainable_variables) + list(layer._non_trainable_variables)


if keras.backend.backend() == 'tensorflow':

    class PerThreadLosses:
        """Mixin giving each thread its own list of a layer's `add_loss` losses.

        Keras keeps them in one list (``_losses``), which every replica of a tf.distribute strategy clears and fills
        from its own thread. The replicas run one at a time between synchronisations, and HGQ synchronises the
        recorded ranges inside the forward pass (see `HGQ.record`), so with one shared list a replica would read the
        BOPs losses of another (and lose its own).
        """

        # Keras has no public hook for where `add_loss` stores losses: `_losses` / `_clear_losses` are overridden
        @property
        def _losses(self):
            store = self.__dict__.setdefault('_hgq_losses_by_thread', {})
            return store.setdefault(threading.get_ident(), [])

        @_losses.setter
        def _losses(self, value):
            self.__dict__['_hgq_losses_by_thread'] = {threading.get_ident(): list(value)}

        def _clear_losses(self):
            store = self.__dict__.get('_hgq_losses_by_thread')
            if store is not None and len(store) > 1:  # forget the lists of replica threads that ended
                alive = {t.ident for t in threading.enumerate()}
                for ident in [i for i in store if i not in alive]:
                    del store[ident]
            super()._clear_losses()

else:

    class PerThreadLosses:
        """Nothing to do: only TensorFlow's tf.distribute runs replicas of one layer in several threads."""


# ---------------------------------------------------------------------------------- Keras 2 files
def legacy_h5_saving_utils() -> ModuleType | None:
    """The module whose ``compile_args_from_training_config`` compiles a legacy ``.h5`` model, or None."""
    # the legacy .h5 loader has no public hook for the training config it reads
    try:
        return importlib.import_module('keras.src.legacy.saving.saving_utils')
    except ImportError:
        return None


def keras2_functional_module_exists() -> bool:
    """Whether Keras resolves the Keras 2 class path ``keras.src.engine.functional`` itself."""
    # Keras 2 `.keras` files name this private module; Keras 3 has no public alias of it
    try:
        importlib.import_module('keras.src.engine.functional')
    except ImportError:
        return False
    return True


def functional_class() -> type | None:
    """Keras 3's Functional model class, or None."""
    # `keras.Model(inputs, outputs)` returns a Functional, but the class itself is not exported
    try:
        return importlib.import_module('keras.src.models.functional').Functional
    except (ImportError, AttributeError):
        return None
