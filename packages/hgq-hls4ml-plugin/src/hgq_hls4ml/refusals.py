"""What the precision pass refuses before any firmware is written (configurations hls4ml cannot build or
simulate correctly) and the settings it warns that it ignores."""

from __future__ import annotations

import warnings

from hls4ml.model.layers import Concatenate, DepthwiseConv1D, DepthwiseConv2D, Pooling1D, Pooling2D

from .codegen import AC_BACKENDS
from .view import MONOTONE, ModelView


def pads(node) -> int:
    return sum(int(node.get_attr(k, 0) or 0) for k in ('pad_left', 'pad_right', 'pad_top', 'pad_bottom'))


def padded_max_pool(node) -> bool:
    return isinstance(node, (Pooling1D, Pooling2D)) and node.get_attr('pool_op') == 'Max' and pads(node) > 0


def check_supported(model, view: ModelView) -> None:
    """Refuses, before any firmware is written, configurations hls4ml cannot build or simulate correctly."""
    for node in view.nodes:
        if isinstance(node, (DepthwiseConv1D, DepthwiseConv2D)) and int(node.get_attr('depth_multiplier', 1) or 1) != 1:
            raise ValueError(
                f'hgq-hls4ml-plugin: depthwise convolution {node.name!r} has depth_multiplier='
                f'{node.get_attr("depth_multiplier")}; hls4ml only implements 1 (its C simulation aborts otherwise). '
                'Use depth_multiplier=1 followed by a 1x1 convolution.'
            )
    backend = str(model.config.config.get('Backend', ''))
    if backend.lower() in AC_BACKENDS:
        for node in view.nodes:
            if isinstance(node, MONOTONE) and node.get_attr('pool_op') == 'Average':
                raise ValueError(
                    f"hgq-hls4ml-plugin: average pooling layer {node.name!r} cannot be exact on the {backend} backend: "
                    "hls4ml's ac_fixed average pooling rounds the mean to the type of the pooling's input (and "
                    "rescales the edge windows of padding='same' afterwards in that type), so its result differs "
                    'from the proxy. Use the Vivado or Vitis backend, or max pooling.'
                )
    if model.config.get_config_value('IOType') == 'io_stream':
        if backend.lower() == 'catapult':
            _refuse_catapult_stream_concatenate_1d(view)
        for node in view.nodes:
            if isinstance(node, (Pooling1D, Pooling2D)) and pads(node) > 0:
                raise ValueError(
                    f"hgq-hls4ml-plugin: pooling layer {node.name!r} uses padding='same', which hls4ml does not "
                    "implement for io_stream (its C simulation aborts). Use padding='valid' or io_type='io_parallel'."
                )



def _refuse_catapult_stream_concatenate_1d(view: ModelView) -> None:
    """hls4ml 1.3's Catapult ``nnet::concatenate1d`` for streams writes one output word per input element instead of
    one packed word: measured 0.07-42 % of outputs right (a plain hls4ml model fails the same way)."""
    for node in view.nodes:
        if isinstance(node, Concatenate) and len(node.get_output_variable().shape) == 1:
            raise ValueError(
                f'hgq-hls4ml-plugin: concatenate layer {node.name!r} joins 1D tensors, which the Catapult backend '
                "computes wrongly with io_type='io_stream' (hls4ml's stream concatenate1d). Use io_type='io_parallel', "
                'another backend, or concatenate before flattening (rank-2 or rank-3 tensors).'
            )


def warn_user_precisions(model) -> None:
    layer_confs = model.config.config.get('HLSConfig', {}).get('LayerName') or {}
    def explicit(precision) -> bool:
        keys = ('result', 'accum', 'weight', 'bias')
        values = [v for k, v in precision.items() if k in keys] if isinstance(precision, dict) else [precision]
        return any(str(v).lower() != 'auto' for v in values)

    named = [
        name for name, conf in layer_confs.items() if isinstance(conf, dict) and explicit(conf.get('Precision', 'auto'))
    ]
    if named:
        warnings.warn(
            f'hgq-hls4ml-plugin: Precision settings for layers {named} are ignored; the plugin derives every type '
            'of a proxy model exactly from its quantizers.',
            stacklevel=2,
        )
