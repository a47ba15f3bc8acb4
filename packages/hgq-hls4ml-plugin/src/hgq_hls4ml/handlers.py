"""Keras 3 layer handlers: proxy-model layers to the plugin's IR layers.

Handlers register themselves in hls4ml's Keras-v3 registry when this module is imported (hls4ml >= 1.3
uses a metaclass for that). They are keyed by the full class path of the proxy layers, which hls4ml
looks up before the bare class name, so they take precedence over hls4ml's built-in path.
"""

from __future__ import annotations

import numpy as np

from ._hls4ml_compat import keras_v3_handler_base

KerasV3LayerHandler = keras_v3_handler_base()

QUANTIZER_PATHS = ('HGQ.proxy.fixed_point_quantizer.FixedPointQuantizer',)
UNARY_LUT_PATHS = ('HGQ.proxy.unary_lut.UnaryLUT',)
BATCHNORM_PATHS = ('HGQ.proxy.exact_batchnorm.ExactBatchNormalization',)


def _weight(layer, name: str) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(getattr(layer, name)))


class ProxyQuantizerHandler(KerasV3LayerHandler):
    """``HGQ.proxy.FixedPointQuantizer`` -> ``HGQFixedPointQuantizer``."""

    handles = QUANTIZER_PATHS

    def handle(self, layer, in_tensors, out_tensors):
        k, b, i = (_weight(layer, n).astype(np.int64) for n in ('keep_negative', 'bits', 'integers'))
        return {
            'class_name': 'HGQFixedPointQuantizer',
            'mask_kbi': (k, b, i),
            'RND': str(layer.RND),
            'SAT': str(layer.SAT),
            'overrides': dict(getattr(layer, 'overrides', None) or {}),
        }


class ProxyUnaryLUTHandler(KerasV3LayerHandler):
    """``HGQ.proxy.UnaryLUT`` -> ``HGQUnaryLUT``."""

    handles = UNARY_LUT_PATHS

    def handle(self, layer, in_tensors, out_tensors):
        return {
            'class_name': 'HGQUnaryLUT',
            'table_data': _weight(layer, 'table').astype(np.float64),
            'kif_in': tuple(int(v) for v in layer.kif_in),
            'kif_out': tuple(int(v) for v in layer.kif_out),
        }


class ProxyBatchNormHandler(KerasV3LayerHandler):
    """``HGQ.proxy.ExactBatchNormalization`` -> hls4ml's ``BatchNormalization`` (the same weights and formula)."""

    handles = BATCHNORM_PATHS

    def handle(self, layer, in_tensors, out_tensors):
        shape = [int(s) for s in in_tensors[0].shape[1:]]
        channels = shape[-1]
        if int(layer.axis) % (len(shape) + 1) != len(shape):
            raise ValueError(
                f'hgq-hls4ml-plugin: batch normalization {layer.name!r} normalizes axis {layer.axis}; hls4ml '
                'supports the last (channel) axis only: normalize axis=-1, or move the channels last (Permute).'
            )
        ones, zeros = np.ones(channels), np.zeros(channels)
        return {
            'class_name': 'BatchNormalization',
            'n_in': int(np.prod(shape)),
            'n_out': int(np.prod(shape)),
            'n_filt': -1 if len(shape) == 1 else channels,
            'use_gamma': bool(layer.scale),
            'gamma_data': _weight(layer, 'gamma') if layer.scale else ones,
            'use_beta': bool(layer.center),
            'beta_data': _weight(layer, 'beta') if layer.center else zeros,
            'mean_data': _weight(layer, 'moving_mean'),
            'variance_data': _weight(layer, 'moving_variance'),
            'epsilon': float(layer.epsilon),
        }


# The HGQ training layers (``HGQ.layers``), by full class path: an HGQ model handed to hls4ml directly stops
# at its first HGQ layer with what to do instead. Listed here, not imported, so that HGQ is not imported
# for plain hls4ml models.
HGQ_LAYER_PATHS = tuple(
    f'HGQ.layers.{module}.{name}'
    for module, names in {
        'base': ('ABSBaseLayer', 'HLayerBase'),
        'misc': ('HQuantize', 'HActivation', 'HAdd'),
        'dense': ('HDense',),
        'conv': ('HConv', 'HConv1D', 'HConv2D', 'HConvBatchNorm', 'HConv1DBatchNorm', 'HConv2DBatchNorm'),
        'batchnorm_base': ('HBatchNormBase', 'HDenseBatchNorm'),
        'passive_layers': ('PLayerBase', 'Signature', 'PFlatten', 'PReshape', 'PPermute', 'PConcatenate',
                           'PDropout', 'PPool', 'PMaxPooling1D', 'PMaxPooling2D', 'PAveragePooling1D',
                           'PAveragePooling2D'),
    }.items()
    for name in names
)


class HGQModelGivenToHls4mlError(ValueError):
    """An HGQ (training) model was handed to hls4ml instead of its proxy model."""


class HGQLayerHandler(KerasV3LayerHandler):
    """Stops the conversion of an HGQ model (not a proxy) before anything is written, saying what to do."""

    handles = HGQ_LAYER_PATHS

    def handle(self, layer, in_tensors, out_tensors):
        raise HGQModelGivenToHls4mlError(
            f'hgq-hls4ml-plugin: layer {layer.name!r} ({type(layer).__name__}) is an HGQ training layer: hls4ml '
            'converts the proxy model of an HGQ model, not the HGQ model itself. Run '
            'HGQ.trace_minmax(model, calibration_data) (with representative data), then convert '
            'proxy = HGQ.to_proxy_model(model) instead: hls4ml.converters.convert_from_keras_model(proxy, ...).'
        )
