"""Every access of the plugin to hls4ml internals that are not part of its public API, in one place.

Each function says what the plugin needs and which public API hls4ml lacks for it, so that a new hls4ml release
(``tox -e latest``) breaks here, not somewhere in the plugin. hls4ml's documented extension API (custom layers
declaring ``_expected_attributes``, ``register_layer``, ``register_pass``, ``register_template``, flows by name) is
used directly by the other modules.
"""

from __future__ import annotations

import contextlib


def keras_v3_handler_base() -> type:
    """The base class of hls4ml's Keras-3 layer handlers: hls4ml exports no public handler base for Keras 3."""
    from hls4ml.converters.keras_v3._base import KerasV3LayerHandler

    return KerasV3LayerHandler


def flow_passes(flow_name: str) -> list[str]:
    """The mutable pass list of a registered flow: hls4ml has no public API to insert a pass into an existing flow."""
    from hls4ml.model.flow import get_flow

    return get_flow(flow_name)._optimizers


def conv1d_same_pad_pass(backend: str):
    """hls4ml's io_stream 'same'-padding pass for Conv1D: backend passes are not exported by hls4ml."""
    if backend == 'catapult':
        from hls4ml.backends.catapult.passes.conv_same_pad import InsertZeroPaddingBeforeConv1D
    else:
        from hls4ml.backends.vivado.passes.conv_same_pad import InsertZeroPaddingBeforeConv1D
    return InsertZeroPaddingBeforeConv1D()


@contextlib.contextmanager
def inserting_before(model, node):
    """Makes ``model.insert_node`` insert before ``node`` by default while the block runs (by shadowing the method
    on the instance): hls4ml's padding pass calls insert_node without ``before`` and has no parameter for it."""
    insert = model.insert_node

    def insert_before_node(new_node, before=None, input_idx=0):
        return insert(new_node, before=node if before is None else before, input_idx=input_idx)

    model.insert_node = insert_before_node
    try:
        yield
    finally:
        del model.insert_node  # back to the ModelGraph method


def repack_layer() -> type:
    """hls4ml's io_stream Repack layer: defined in a backend pass module, not exported with the other layers."""
    from hls4ml.backends.fpga.passes.repack_stream import Repack

    return Repack


def function_params(template, node) -> dict:
    """The default parameters of a function-call template: hls4ml's templates expose them only as a private method."""
    return template._default_function_params(node)


def config_params(template, node) -> dict:
    """The default parameters of a layer-config template: hls4ml's templates expose them only as a private method."""
    return template._default_config_params(node)


def record_weight_precision(node, weight_name: str, precision) -> None:
    """Records a weight's precision in the model's HLS config, where hls4ml's writers look it up: hls4ml has no
    public setter for ``HLSConfig.layer_name_precision``."""
    node.model.config.layer_name_precision[f'{node.name}_{weight_name}'] = str(precision)
