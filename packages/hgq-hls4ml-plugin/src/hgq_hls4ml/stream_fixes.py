"""Two io_stream corrections to hls4ml 1.3's streaming flow (both found with proxy models; both also affect
plain hls4ml models, which these passes fix as well).

1. 'same' padding for Conv1D placed before the right layer. For io_stream, hls4ml turns a Conv1D's 'same'
padding into a ZeroPadding1D layer inserted before the convolution. hls4ml 1.3 inserts it without saying
before which layer, so it lands before the *first* consumer of the convolution's input. When that input feeds
several layers (two convolution branches, say), the padding goes onto another branch: the generated firmware
compiles and silently computes wrong values (measured: a two-branch Conv1D model concatenated on channels,
20/512 outputs right, with and without this plugin).

This pass runs just before hls4ml's own and does the same insertion with the convolution named as the next
layer. hls4ml's pass then finds nothing left to do. The Conv2D pass already names the layer.

2. A Flatten feeding a layer that cannot read a repacked stream. For io_stream, hls4ml skips a Flatten (its
output stream keeps the input's words, e.g. 2 values per word, while the flattened tensor is declared with
all values in one word). Dense layers and this plugin's quantizers and tables read such a stream correctly;
hls4ml's activations silently read past the word (measured: Flatten -> ReLU, 48/512 outputs right) and its
merge layers abort the C simulation. Before that skip, this pass turns such a Flatten into an explicit
repack (hls4ml's own Repack layer).
"""

from __future__ import annotations

from hls4ml.model.optimizer import OptimizerPass

from ._hls4ml_compat import conv1d_same_pad_pass, flow_passes, inserting_before, repack_layer

PASS_NAME = 'hgq_zero_padding_before_conv1d'
FLATTEN_PASS_NAME = 'hgq_repack_flatten'


def zero_padding_pass(backend: str) -> type[OptimizerPass]:
    """The corrected pass class for ``backend`` ('vivado' or 'catapult')."""

    class ZeroPaddingBeforeConv1D(OptimizerPass):
        """Inserts the io_stream ZeroPadding1D of a 'same' Conv1D directly before that Conv1D."""

        def __init__(self):
            self._inner = conv1d_same_pad_pass(backend)

        def match(self, node) -> bool:
            return self._inner.match(node)

        def transform(self, model, node) -> bool:
            with inserting_before(model, node):
                return self._inner.transform(model, node)

    ZeroPaddingBeforeConv1D.__name__ = ZeroPaddingBeforeConv1D.__qualname__ = (
        f'{backend.title()}ZeroPaddingBeforeConv1D'
    )
    return ZeroPaddingBeforeConv1D


def _reads_repacked_streams(node) -> bool:
    """Layers whose io_stream code reads words of any size (the input's, not the declared tensor's)."""
    from hls4ml.model.layers import Dense

    from .layers import HGQFixedPointQuantizer, HGQUnaryLUT

    return isinstance(node, (Dense, HGQFixedPointQuantizer, HGQUnaryLUT))


class RepackFlattenForStrictConsumers(OptimizerPass):
    """io_stream: a Flatten whose consumers include a layer that needs words of the declared size becomes a
    Repack (instead of being skipped by hls4ml's in-place flatten)."""

    def match(self, node) -> bool:
        from hls4ml.model.layers import Reshape

        if node.model.config.get_config_value('IOType') != 'io_stream' or not isinstance(node, Reshape):
            return False
        if len(node.get_output_variable().shape) != 1 or node.outputs[0] in node.model.outputs:
            return False
        consumers = [n for n in node.model.graph.values() if node.outputs[0] in n.inputs]
        return any(not _reads_repacked_streams(n) for n in consumers)

    def transform(self, model, node) -> bool:
        repack = model.make_node(repack_layer(), f'repack_{node.name}', {'target_shape': node.get_attr('target_shape')},
                                 node.inputs.copy())
        repack.get_output_variable().type = node.get_output_variable().type
        model.replace_node(node, repack)
        return True


def _insert_before(flow_name: str, pass_name: str, anchor: str) -> None:
    opts = flow_passes(flow_name)
    if pass_name not in opts:
        opts.insert(opts.index(anchor) if anchor in opts else 0, pass_name)


def register(backend_obj, backend: str) -> None:
    """Registers the passes with ``backend_obj`` ('vivado', 'catapult' or 'quartus') and puts them in its
    streaming flow before hls4ml's own (idempotent)."""
    from hls4ml.model.optimizer import get_available_passes

    available = get_available_passes()
    if f'{backend}:{FLATTEN_PASS_NAME}' not in available:
        backend_obj.register_pass(FLATTEN_PASS_NAME, RepackFlattenForStrictConsumers)
    _insert_before(f'{backend}:streaming', f'{backend}:{FLATTEN_PASS_NAME}', f'{backend}:inplace_stream_flatten')
    if backend == 'quartus':
        return  # no Conv1D padding pass there
    if f'{backend}:{PASS_NAME}' not in available:
        backend_obj.register_pass(PASS_NAME, zero_padding_pass(backend))
    _insert_before(f'{backend}:streaming', f'{backend}:{PASS_NAME}', f'{backend}:insert_zero_padding_before_conv1d')
