"""Conversion of a trained HGQ model into a proxy model: a flat Keras model of plain Keras layers with
quantized (and BN-fused) weights, and an explicit `FixedPointQuantizer` wherever the firmware rounds.
"""

from __future__ import annotations

import warnings
from importlib.metadata import entry_points
from typing import Any

import keras
import numpy as np
from keras import ops

from ..graph import MERGES as _MERGES
from ..graph import LayerFn, clone_layer, convert_model, iter_hgq_layers, iter_layers
from ..graph import input_shape_of as _input_shape_of
from ..layers.base import HLayerBase
from ..layers.misc import HQuantize
from ..layers.passive_layers import PLayerBase, Signature
from ..quantizer.quantizer import FLOOR
from .fixed_point_quantizer import FixedPointQuantizer
from .unary_lut import convert_activations_to_lut, refuse_activations_without_table

ENTRY_POINT_GROUP = 'hgq.proxy_converters'


class Namer:
    """Hands out unique layer names: ``name``, then ``name_0``, ``name_1``, ..."""

    def __init__(self):
        self.used: set[str] = set()

    def __call__(self, name: str) -> str:
        if name in self.used:
            i = 0
            while f'{name}_{i}' in self.used:
                i += 1
            name = f'{name}_{i}'
        self.used.add(name)
        return name


def _identity(*args, **kwargs):
    return args[0] if len(args) == 1 else list(args)


_ASSOCIATIVE_MERGES = (keras.layers.Add, keras.layers.Concatenate, keras.layers.Maximum, keras.layers.Minimum,
                       keras.layers.Multiply)


def _apply(layer: keras.layers.Layer, x):
    """Calls ``layer``; a merge of more than two tensors becomes a chain of two-input merges (hls4ml merges
    take exactly two inputs), the last one keeping the layer's name."""
    if not isinstance(x, (list, tuple)) or len(x) <= 2 or not isinstance(layer, keras.layers.Layer):
        return layer(x)
    if not isinstance(layer, _ASSOCIATIVE_MERGES):
        if isinstance(layer, (keras.layers.Average, keras.layers.Subtract)):
            raise ValueError(
                f'{type(layer).__name__} {layer.name!r} has {len(x)} inputs; hls4ml merges take two. '
                'Average or subtract pairs explicitly.'
            )
        return layer(x)
    acc = x[0]
    for j, t in enumerate(x[1:-1]):
        conf = dict(layer.get_config(), name=f'{layer.name}_part{j}')
        acc = type(layer).from_config(conf)([acc, t])
    return layer([acc, x[-1]])


def _call_chain(layers: list[keras.layers.Layer]) -> LayerFn:
    def fn(*args, **kwargs):
        x = args[0] if len(args) == 1 else list(args)
        for layer in layers:
            x = _apply(layer, x)
        return x

    return fn


# ---------------------------------------------------------------------------------- HGQ -> Keras
_KERAS_TWIN_ALIASES = {'PAvgPool1D': 'AveragePooling1D', 'PAvgPool2D': 'AveragePooling2D',
                       'PMaxPool1D': 'MaxPooling1D', 'PMaxPool2D': 'MaxPooling2D'}


def keras_twin_class(layer: keras.layers.Layer):
    """The plain Keras class an H- or P-layer emulates (``HDense`` -> ``Dense``, ``HConv2DBatchNorm`` -> ``Conv2D``)."""
    for cls in type(layer).__mro__:
        if (cls.__module__.startswith('keras.') and issubclass(cls, keras.layers.Layer)
                and cls is not keras.layers.Layer):
            return cls
    name = _KERAS_TWIN_ALIASES.get(type(layer).__name__, type(layer).__name__[1:])
    for candidate in (name, name.replace('BatchNorm', '')):
        if hasattr(keras.layers, candidate):
            return getattr(keras.layers, candidate)
    raise ValueError(f'No plain Keras layer corresponds to {type(layer).__name__} ({layer.name!r}).')


def to_keras_layer(layer: HLayerBase | PLayerBase, name: str | None = None) -> keras.layers.Layer:
    """The plain Keras twin of an H- or P-layer, with deployment (quantized, fused) weights."""
    cls = keras_twin_class(layer)
    if issubclass(cls, keras.layers.Activation):
        return keras.layers.Activation(layer.activation, name=name or layer.name)  # the function itself, unserialized
    conf = layer.get_keras_config() if isinstance(layer, HLayerBase) else keras_parent_config(layer, cls)
    if conf.get('activation') not in (None, 'linear'):
        conf['activation'] = 'linear'
    conf['name'] = name or layer.name
    for key in ('kq_conf', 'paq_conf', 'beta', 'parallel_factor'):
        conf.pop(key, None)
    klayer = cls.from_config(conf)
    if not isinstance(klayer, _MERGES):  # merges are built when called (possibly as a chain of pairs)
        klayer.build(_input_shape_of(layer))
        _copy_deployment_weights(layer, klayer)
    return klayer


def keras_parent_config(layer: keras.layers.Layer, cls) -> dict:
    """Config of ``layer`` as seen by its plain Keras parent class ``cls``."""
    return cls.get_config(layer)


def _channels_last(layer, klayer, namer: Namer) -> list[keras.layers.Layer]:
    """``[klayer]``, or for a channels_first convolution its channels_last twin between two Permutes.

    Keras' channels_first convolution adds the bias with a broadcast that TensorFlow misreads when the last
    spatial size equals the number of filters; hls4ml computes in channels_last anyway.
    """
    if getattr(klayer, 'data_format', None) != 'channels_first' or getattr(klayer, 'kernel', None) is None:
        return [klayer]
    shape = _input_shape_of(layer)
    rank = len(shape) - 2
    twin = type(klayer).from_config(dict(klayer.get_config(), data_format='channels_last'))
    twin.build((shape[0],) + tuple(shape[2:]) + (shape[1],))
    twin.set_weights(klayer.get_weights())
    to_last = keras.layers.Permute(tuple(range(2, rank + 2)) + (1,), name=namer(f'{layer.name}_to_channels_last'))
    to_first = keras.layers.Permute(
        (rank + 1,) + tuple(range(1, rank + 1)), name=namer(f'{layer.name}_to_channels_first')
    )
    return [to_last, twin, to_first]


def _copy_deployment_weights(src: keras.layers.Layer, dst: keras.layers.Layer) -> None:
    if getattr(dst, 'kernel', None) is not None:
        kernel = src.fused_qkernel if isinstance(src, HLayerBase) else src.kernel
        dst.kernel.assign(ops.convert_to_numpy(kernel))
    if getattr(dst, 'bias', None) is not None:
        bias = src.fused_qbias if isinstance(src, HLayerBase) else src.bias
        dst.bias.assign(ops.convert_to_numpy(bias))
    for w in dst.weights:
        if w is getattr(dst, 'kernel', None) or w is getattr(dst, 'bias', None):
            continue
        match = [v for v in src.weights if v.name == w.name and tuple(v.shape) == tuple(w.shape)]
        if match:
            w.assign(match[0])


class ProxyLayerXFormer:
    """Maps each layer of an HGQ model to the layers that emulate it in the proxy model.

    Args:
        SAT: Overflow mode of every quantizer (``'WRAP'`` or ``'SAT'``).
        namer: Source of unique names.
    """

    def __init__(self, SAT: str = 'WRAP', namer: Namer | None = None):
        self.SAT = SAT
        self.namer = namer or Namer()

    def get_kbiRS(self, layer: HLayerBase, pos_only: bool = False):
        """Per-element ``(k, B, I)``, rounding and overflow of an H-layer's output quantizer."""
        k, i, f = (a.astype(np.int32) for a in layer.paq.get_bits_exact(pos_only=pos_only))
        rnd = 'RND' if layer.paq.rnd_strategy != FLOOR and not layer.can_bias_cover_rnd else 'TRN'
        return k, k + i + f, k + i, rnd, self.SAT

    def _quantizer(self, k, b, i, rnd, name, overrides=None) -> FixedPointQuantizer:
        return FixedPointQuantizer(k, b, i, rnd, self.SAT, overrides=overrides, name=self.namer(name))

    def __call__(self, layer: keras.layers.Layer) -> LayerFn:
        if isinstance(layer, HQuantize):
            k, b, i, rnd, _ = self.get_kbiRS(layer)
            return _call_chain([self._quantizer(k, b, i, rnd, layer.name)])
        if isinstance(layer, Signature):
            q = self._quantizer(layer.keep_negative, layer.bits, layer.int_bits, 'TRN', layer.name)
            return _call_chain([q])
        if isinstance(layer, HLayerBase):
            return _call_chain(self.h_layer(layer))
        if isinstance(layer, PLayerBase):
            if isinstance(layer, keras.layers.Dropout):
                return _identity
            return _call_chain([to_keras_layer(layer, self.namer(layer.name))])
        if isinstance(layer, keras.layers.Dropout):
            return _identity
        if isinstance(layer, keras.layers.Activation) and layer.activation is keras.activations.linear:
            return _identity
        _check_hls4ml_supports(layer)
        return _call_chain([clone_layer(layer, self.namer(layer.name))])

    def h_layer(self, layer: HLayerBase) -> list[keras.layers.Layer]:
        """Keras twin + quantizer(s) of an H-layer (two quantizers around a ReLU, as HGQ1)."""
        name = layer.name
        klayer = to_keras_layer(layer, self.namer(name))
        overrides = {'layers': {}}
        pf = getattr(layer, 'parallel_factor', None)
        if pf is not None:
            overrides = {'layers': {klayer.name: {'parallelization_factor': int(pf)}}}
        core = _channels_last(layer, klayer, self.namer)
        if layer._relu_act and not isinstance(klayer, keras.layers.Activation):
            k, i, f = (a.astype(np.int32) for a in layer.paq.get_bits_exact(pos_only=False))
            k0, i0, f0 = int(np.max(k)), int(np.max(i)), int(np.max(f))
            rk, rb, ri, rnd, _ = self.get_kbiRS(layer, pos_only=True)
            extra = 0 if rnd == 'TRN' else 1
            q1 = self._quantizer(k0, k0 + i0 + f0 + extra, k0 + i0, 'TRN', f'{name}_quantizer', overrides)
            relu = keras.layers.Activation('relu', name=self.namer(f'{name}_relu'))
            q2 = self._quantizer(rk, rb, ri, rnd, f'{name}_relu_quantizer')
            return core + [q1, relu, q2]
        k, b, i, rnd, _ = self.get_kbiRS(layer)
        return core + [self._quantizer(k, b, i, rnd, f'{name}_quantizer', overrides)]


def _check_hls4ml_supports(layer: keras.layers.Layer) -> None:
    """A plain Keras layer goes into the proxy unchanged, if hls4ml (when installed) can convert it."""
    try:
        from hls4ml.converters.keras_v2_to_hls import layer_handlers as v2_handlers
        from hls4ml.converters.keras_v3 import layer_handlers as v3_handlers
    except ImportError:
        return
    cls = type(layer)
    if f'{cls.__module__}.{cls.__name__}' in v3_handlers or cls.__name__ in v3_handlers or cls.__name__ in v2_handlers:
        return
    raise ValueError(
        f'Layer {layer.name!r} ({cls.__name__}) is not an HGQ layer and hls4ml cannot convert it, so the proxy model '
        'could not be deployed. Replace it with an HGQ layer (e.g. HActivation for an activation) or remove it.'
    )


def _check_traced(model: keras.Model) -> None:
    bad = []
    for layer in iter_hgq_layers(model):
        q = layer.paq
        if q._min is None:
            continue
        vmin, vmax = ops.convert_to_numpy(q._min), ops.convert_to_numpy(q._max)
        if not np.all(vmax >= vmin):
            bad.append(layer.name)
    if bad:
        raise ValueError(
            f'to_proxy_model: layers {bad} have no recorded value range, so their integer bits are unknown. '
            'Run HGQ.trace_minmax(model, calibration_data) on representative data first.'
        )


def _foreign_converter(model: Any):
    """An installed converter (entry point group ``hgq.proxy_converters``) that accepts ``model``, if any."""
    for ep in entry_points().select(group=ENTRY_POINT_GROUP):
        try:
            converter = ep.load()
        except Exception as exc:  # a broken plugin must not break HGQ
            warnings.warn(f'HGQ: could not load proxy converter {ep.name!r}: {exc}', stacklevel=3)
            continue
        can = getattr(converter, 'can_convert', None)
        if can is not None and can(model):
            return converter
    return None


def _is_hgq_model(model: Any) -> bool:
    return isinstance(model, keras.Model) and any(
        isinstance(layer, (HLayerBase, PLayerBase)) for layer in iter_layers(model)
    )


def to_proxy_model(
    model: keras.Model,
    aggressive: bool = True,
    accum_fp_max_offset: int | None = None,
    unary_lut_max_table_size: int = -1,
    skip_precision_reg: bool = True,
    **converter_options,
) -> keras.Model:
    """Converts a traced HGQ model into a proxy model for hls4ml (bit-exact with the firmware).

    Args:
        model: The HGQ model, after `trace_minmax`. Models of other libraries (e.g. QKeras) are handed to an
            installed converter such as hgq-qkeras-bridge.
        aggressive: Overflow mode WRAP (True) or SAT (False) for every quantizer.
        accum_fp_max_offset: Accepted for HGQ1 compatibility; the hls4ml plugin sizes accumulators exactly.
        unary_lut_max_table_size: If > 0, HActivation layers (other than relu/linear/softmax) whose input has
            at most this many distinct values become `UnaryLUT` tables. An activation hls4ml has no
            implementation of (a custom function, a Keras layer such as ``ELU(alpha)``, ``silu``, ...) must become
            a table: if it cannot (tables off, or too large), a ValueError names the layer and the size needed.
        skip_precision_reg: Accepted for HGQ1 compatibility (precisions are derived by the hls4ml plugin).
        **converter_options: Passed to the converter of a foreign model (e.g. hgq-qkeras-bridge's ``strict`` and
            ``calibration_data``); an HGQ model takes none.

    Returns:
        A flat Keras model of plain Keras layers, `FixedPointQuantizer` and `UnaryLUT` layers.
    """
    if not _is_hgq_model(model):
        converter = _foreign_converter(model)
        if converter is not None:
            return converter.convert(
                model, aggressive=aggressive, unary_lut_max_table_size=unary_lut_max_table_size, **converter_options
            )
        if not isinstance(model, keras.Model):
            raise TypeError(
                f'to_proxy_model expects a Keras 3 model with HGQ layers, got {type(model).__module__}.'
                f'{type(model).__name__}. For QKeras models install hgq-qkeras-bridge.'
            )
    if accum_fp_max_offset is not None:
        warnings.warn(
            'accum_fp_max_offset is ignored: the hgq-hls4ml-plugin derives exact accumulator types.', stacklevel=2
        )
    if not skip_precision_reg:
        warnings.warn(
            'skip_precision_reg=False is ignored: precisions are derived by the hgq-hls4ml-plugin.', stacklevel=2
        )
    if converter_options:
        raise TypeError(f'to_proxy_model got unexpected keyword arguments {sorted(converter_options)} for an HGQ '
                        'model; they are options of a foreign converter (e.g. hgq-qkeras-bridge\'s strict=, '
                        'calibration_data=).')
    _check_traced(model)
    xformer = ProxyLayerXFormer('WRAP' if aggressive else 'SAT')
    proxy = convert_model(model, xformer)
    if unary_lut_max_table_size is not None and unary_lut_max_table_size > 0:
        proxy = convert_activations_to_lut(proxy, int(unary_lut_max_table_size))
    else:  # no tables: an activation hls4ml has no implementation of cannot be deployed
        refuse_activations_without_table(proxy, unary_lut_max_table_size)
    return proxy
