"""One converter per QKeras (and plain Keras) layer class: QKeras layer -> proxy layers.

Every converter receives the conversion `Context`, the QKeras layer and its input `ProxyTensor`s, and
returns the output `ProxyTensor`s. Weight-carrying layers take the weights QKeras itself applies
(`hgq_qkeras.weights.applied_weights`) and end with the layer's own activation quantizer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
import numpy as np

from .activations import apply_plan
from .context import Context, ProxyTensor, where
from .errors import UnsupportedQKerasError
from .normalization import (
    APPROXIMATE_RSQRT,
    FLOAT64_BITS,
    ROUNDED_SCALE,
    STRICT_HINT,
    affine_layer,
    affine_weights,
    apply_scale,
    exact_sum_bits,
    qbatchnorm_constants,
)
from .numerics import frac_bits
from .quantizers import activation_plan
from .weights import applied_weights, check_weight_quantizer, quantize_weight, validate_weight

Converter = Callable[[Context, object, list[ProxyTensor]], list[ProxyTensor]]
CONVERTERS: dict[str, Converter] = {}


def converter(*class_names: str):
    """Registers a converter for the QKeras / Keras classes named ``class_names``."""

    def deco(fn: Converter) -> Converter:
        for n in class_names:
            CONVERTERS[n] = fn
        return fn

    return deco


def convert_layer(ctx: Context, layer, inputs: list[ProxyTensor]) -> list[ProxyTensor]:
    """The proxy layers for one QKeras or Keras layer call."""
    fn = CONVERTERS.get(type(layer).__name__)
    if fn is None:
        raise UnsupportedQKerasError(
            f'{where(layer)} from {type(layer).__module__} is not supported by hgq-qkeras-bridge. Supported: '
            f'{", ".join(sorted(CONVERTERS))}.'
        )
    return fn(ctx, layer, inputs)


# ------------------------------------------------------------------------------------ helpers
def wide_input_error(reader: str, x: ProxyTensor) -> UnsupportedQKerasError:
    """The error for a layer (or model output) that reads an exact, float64-wide QBatchNormalization output."""
    return UnsupportedQKerasError(
        f'{reader} reads the output of {x.origin!r}, a QBatchNormalization whose scale is not a power of two. The '
        'firmware computes x * scale + offset exactly, with more bits than float32 holds, so the proxy can match it '
        f'only if a fixed-point quantizer reads it directly: put QActivation(quantized_bits(...)) or '
        f'QActivation(quantized_relu(...)) right after {x.origin!r}, or make its scale a power of two '
        '(epsilon=0 with the default power-of-two quantizers).'
    )


def _one(layer, inputs: list[ProxyTensor], allow_raw: bool = False, allow_wide: bool = False) -> ProxyTensor:
    if len(inputs) != 1:
        raise UnsupportedQKerasError(f'{where(layer)} has {len(inputs)} inputs; expected one.')
    x = inputs[0]
    if x.wide and not allow_wide:
        raise wide_input_error(where(layer), x)
    if x.raw_input and not allow_raw:
        raise UnsupportedQKerasError(
            f'{where(layer)} reads the model input {x.origin!r} before any quantizer. Every input must be '
            'quantized first so that firmware and model see the same values: put '
            'QActivation(quantized_bits(bits, integer)) right after the Input, then convert again.'
        )
    return x


def _shape(x: ProxyTensor) -> tuple[int, ...]:
    return tuple(int(s) for s in x.tensor.shape[1:])


def _check_channels_last(layer) -> None:
    fmt = getattr(layer, 'data_format', 'channels_last')
    if fmt not in (None, 'channels_last'):
        raise UnsupportedQKerasError(
            f"{where(layer)} uses data_format={fmt!r}; hls4ml supports only 'channels_last'. Rebuild the model "
            "channels_last."
        )


def _check_padding(layer) -> str:
    padding = str(getattr(layer, 'padding', 'valid')).lower()
    if padding not in ('valid', 'same'):
        raise UnsupportedQKerasError(f"{where(layer)} uses padding={padding!r}; use 'valid' or 'same'.")
    return padding


def _check_groups(layer) -> None:
    groups = getattr(layer, 'groups', 1)
    if groups not in (None, 1):
        raise UnsupportedQKerasError(f'{where(layer)} uses groups={groups}; hls4ml supports groups=1 only.')


def _build(klayer, x: ProxyTensor, weights: list[np.ndarray]):
    klayer.build((None,) + _shape(x))
    klayer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    return klayer(x.tensor)


def _post_activation(ctx: Context, layer, y: ProxyTensor) -> ProxyTensor:
    plan = activation_plan(getattr(layer, 'activation', None), where(layer))
    return apply_plan(ctx, plan, y, f'{layer.name}_quantizer', where(layer))


def _weights(layer, x: ProxyTensor, roles: dict[str, str], use_bias: bool) -> dict[str, np.ndarray]:
    """Quantized weights keyed by role (``kernel``, ``bias``, ...), as QKeras applies them.

    ``roles`` maps the quantizer attribute of the layer (``kernel_quantizer_internal``) to the role name.
    """
    active = {a: r for a, r in roles.items() if r != 'bias' or use_bias}
    for attr, role in active.items():
        internal = getattr(layer, attr, None)
        public = getattr(layer, attr.replace('_internal', ''), internal)
        check_weight_quantizer(internal if (public and internal is not None) else None, where(layer), role)
    captured = applied_weights(layer, tuple(active), _shape(x), where(layer))
    out = {}
    for attr, role in active.items():
        if attr not in captured:
            raise UnsupportedQKerasError(f'{where(layer)}: QKeras did not apply its {role} quantizer during inference.')
        out[role] = validate_weight(captured[attr], getattr(layer, attr), where(layer), role)
    return out


def _origin(layer, y, grid=None) -> ProxyTensor:
    return ProxyTensor(y, grid, False, layer.name)


def _same_values(x: ProxyTensor, layer, y) -> ProxyTensor:
    """The output of a layer that only moves or selects values (reshape, max pooling, dropout)."""
    return dataclasses.replace(x, tensor=y, origin=layer.name)


def _linear_origin(layer, y, x: ProxyTensor, kernel: np.ndarray, bias: np.ndarray | None,
                   per_channel: bool = False) -> ProxyTensor:
    """The output of ``x @ kernel + bias`` (or a convolution) with its step and bound, when ``x`` has them.

    Args:
        per_channel: Depthwise kernels (``(..., channels, multiplier)``): each output reads one input channel.
    """
    res = x.resolution()
    if res is None:
        return _origin(layer, y)
    step, bound = res
    k = np.asarray(kernel, np.float64)
    k = k.reshape(-1, k.shape[-2] * k.shape[-1]) if per_channel else k.reshape(-1, k.shape[-1])
    parts = [k[k != 0]] + ([np.asarray(bias)[np.asarray(bias) != 0]] if bias is not None else [])
    values = np.concatenate([np.ravel(p) for p in parts])
    if values.size == 0:
        return ProxyTensor(y, None, False, layer.name, step=1.0, bound=0.0)
    k_step = 2.0 ** -float(frac_bits(k[k != 0]).max()) if np.any(k != 0) else np.inf
    b_step = 2.0 ** -float(frac_bits(parts[1]).max()) if len(parts) > 1 and parts[1].size else np.inf
    top = bound * np.abs(k).sum(axis=0) + (np.abs(np.asarray(bias, np.float64)).ravel() if bias is not None else 0)
    return ProxyTensor(y, None, False, layer.name, step=min(step * k_step, b_step), bound=float(np.max(top)))


# ------------------------------------------------------------------------------- weight layers
_KERNEL_BIAS = {'kernel_quantizer_internal': 'kernel', 'bias_quantizer_internal': 'bias'}


@converter('QDense')
def _qdense(ctx, layer, inputs):
    x = _one(layer, inputs)
    w = _weights(layer, x, _KERNEL_BIAS, layer.use_bias)
    dense = keras.layers.Dense(layer.units, use_bias=layer.use_bias, name=ctx.name(layer.name))
    y = _build(dense, x, [w['kernel']] + ([w['bias']] if layer.use_bias else []))
    return [_post_activation(ctx, layer, _linear_origin(layer, y, x, w['kernel'], w.get('bias')))]


def _check_depth_multiplier(layer) -> None:
    if int(getattr(layer, 'depth_multiplier', 1)) != 1:
        raise UnsupportedQKerasError(
            f'{where(layer)} has depth_multiplier={layer.depth_multiplier}; hls4ml implements depthwise convolutions '
            'with depth_multiplier=1 only (its C++ aborts otherwise). Use depth_multiplier=1.'
        )


def _conv_args(layer) -> dict:
    _check_channels_last(layer)
    _check_groups(layer)
    return {
        'kernel_size': tuple(layer.kernel_size),
        'strides': tuple(layer.strides),
        'padding': _check_padding(layer),
        'dilation_rate': tuple(layer.dilation_rate),
        'data_format': 'channels_last',
    }


@converter('QConv1D', 'QConv2D')
def _qconv(ctx, layer, inputs):
    x = _one(layer, inputs)
    w = _weights(layer, x, _KERNEL_BIAS, layer.use_bias)
    cls = keras.layers.Conv1D if type(layer).__name__ == 'QConv1D' else keras.layers.Conv2D
    conv = cls(layer.filters, use_bias=layer.use_bias, name=ctx.name(layer.name), **_conv_args(layer))
    y = _build(conv, x, [w['kernel']] + ([w['bias']] if layer.use_bias else []))
    return [_post_activation(ctx, layer, _linear_origin(layer, y, x, w['kernel'], w.get('bias')))]


@converter('QDepthwiseConv2D')
def _qdepthwise(ctx, layer, inputs):
    x = _one(layer, inputs)
    _check_depth_multiplier(layer)
    roles = {'depthwise_quantizer_internal': 'depthwise_kernel', 'bias_quantizer_internal': 'bias'}
    w = _weights(layer, x, roles, layer.use_bias)
    args = _conv_args(layer)
    conv = keras.layers.DepthwiseConv2D(
        depth_multiplier=layer.depth_multiplier, use_bias=layer.use_bias, name=ctx.name(layer.name), **args
    )
    y = _build(conv, x, [w['depthwise_kernel']] + ([w['bias']] if layer.use_bias else []))
    out = _linear_origin(layer, y, x, w['depthwise_kernel'], w.get('bias'), per_channel=True)
    return [_post_activation(ctx, layer, out)]


@converter('QSeparableConv1D', 'QSeparableConv2D')
def _qseparable(ctx, layer, inputs):
    """Depthwise convolution, then a 1x1 convolution with the bias: the order of TensorFlow's separable conv."""
    x = _one(layer, inputs)
    _check_depth_multiplier(layer)
    roles = {
        'depthwise_quantizer_internal': 'depthwise_kernel',
        'pointwise_quantizer_internal': 'pointwise_kernel',
        'bias_quantizer_internal': 'bias',
    }
    w = _weights(layer, x, roles, layer.use_bias)
    one_d = type(layer).__name__ == 'QSeparableConv1D'
    dw, pw = w['depthwise_kernel'], w['pointwise_kernel']
    if one_d:  # QKeras quantizes the kernels expanded to 2D
        dw, pw = dw.reshape(dw.shape[-3:]), pw.reshape(pw.shape[-3:])
    args = _conv_args(layer)
    dcls, pcls = (keras.layers.DepthwiseConv1D, keras.layers.Conv1D) if one_d else (
        keras.layers.DepthwiseConv2D, keras.layers.Conv2D)
    depthwise = dcls(depth_multiplier=layer.depth_multiplier, use_bias=False, name=ctx.name(f'{layer.name}_depthwise'),
                     **args)
    h = _linear_origin(layer, _build(depthwise, x, [dw]), x, dw, None, per_channel=True)
    pointwise = pcls(layer.filters, kernel_size=1, use_bias=layer.use_bias, name=ctx.name(layer.name))
    y = _build(pointwise, h, [pw] + ([w['bias']] if layer.use_bias else []))
    return [_post_activation(ctx, layer, _linear_origin(layer, y, h, pw, w.get('bias')))]


@converter('QConv2DBatchnorm', 'QDenseBatchnorm')
def _qfolded(ctx, layer, inputs):
    """Batch norm folded into the kernel and bias exactly as QKeras folds them at inference."""
    x = _one(layer, inputs)
    mode = getattr(layer, 'folding_mode', 'ema_stats_folding')
    if mode not in ('ema_stats_folding', 'batch_stats_folding'):
        raise UnsupportedQKerasError(f'{where(layer)} has folding_mode={mode!r}; expected a QKeras folding mode.')
    w = _weights(layer, x, _KERNEL_BIAS, True)
    name = ctx.name(layer.name)
    if type(layer).__name__ == 'QDenseBatchnorm':
        klayer = keras.layers.Dense(layer.units, use_bias=True, name=name)
    else:
        klayer = keras.layers.Conv2D(layer.filters, use_bias=True, name=name, **_conv_args(layer))
    y = _build(klayer, x, [w['kernel'], w['bias'].reshape(-1)])
    return [_post_activation(ctx, layer, _linear_origin(layer, y, x, w['kernel'], w['bias'].reshape(-1)))]


@converter('QBatchNormalization')
def _qbatchnorm(ctx, layer, inputs):
    x = _one(layer, inputs)
    axis = [int(a) for a in np.atleast_1d(layer.axis)]
    rank = len(x.tensor.shape)
    if [a % rank for a in axis] != [rank - 1]:
        raise UnsupportedQKerasError(
            f'{where(layer)} normalizes axis {layer.axis}; hls4ml supports the last axis only.'
        )
    constants = qbatchnorm_constants(layer, where(layer))
    scale, offset = constants.scale, constants.offset
    if constants.rounded_here:
        ctx.rounded_in_qkeras.setdefault(layer.name, []).append(APPROXIMATE_RSQRT)
    if not constants.issues:
        y = _build(affine_layer(ctx.name(layer.name)), x, affine_weights(scale, offset))
        return [_post_activation(ctx, layer, _affine_origin(layer, y, x, scale, offset))]
    if ctx.options.strict:
        raise UnsupportedQKerasError(constants.issues[0] + STRICT_HINT)
    return [_exact_affine(ctx, layer, x, scale, offset)]


def _affine_origin(layer, y, x: ProxyTensor, scale, offset) -> ProxyTensor:
    diagonal = np.asarray(scale, np.float64).reshape(1, -1)  # one "kernel" row per channel
    return _linear_origin(layer, y, x, diagonal, np.asarray(offset), per_channel=True)


def _exact_affine(ctx, layer, x: ProxyTensor, scale, offset) -> ProxyTensor:
    """``x * scale + offset`` in float64, exact (as in firmware) when it needs at most 53 significant bits."""
    res = x.resolution()
    if res is None:
        raise UnsupportedQKerasError(
            f'{where(layer)}: its scale is not a power of two, so QKeras rounds x * scale + offset in float32 while '
            f'the firmware computes it exactly; the proxy can compute it exactly only if its input (from '
            f'{x.origin!r}) is on a known fixed-point grid, which it is not. Quantize the input of {layer.name!r} '
            '(a quantized input to the layer before it), or use strict=True to see the float32 issue.'
        )
    bits = exact_sum_bits(scale, offset, *res)
    if bits > FLOAT64_BITS:
        raise UnsupportedQKerasError(
            f'{where(layer)}: the exact x * scale + offset needs {bits} significant bits (inputs on steps of '
            f'{res[0]:g} up to {res[1]:g}), more than float64 holds ({FLOAT64_BITS}); the proxy cannot compute what '
            'the firmware computes. Quantize its input with fewer bits, or make its scale a power of two '
            '(epsilon=0 with the default power-of-two quantizers).'
        )
    bn = affine_layer(ctx.name(layer.name), dtype='float64')
    bn.build((None,) + _shape(x))
    bn.set_weights([np.asarray(w, np.float64) for w in affine_weights(scale, offset)])
    ctx.rounded_in_qkeras.setdefault(layer.name, []).append(ROUNDED_SCALE)
    return ProxyTensor(bn(x.tensor), None, False, layer.name, wide=True)


# ------------------------------------------------------------------------------------ pooling
def _pool_area(layer) -> int:
    size = layer.pool_size
    return int(np.prod(size if isinstance(size, (tuple, list)) else (size,)))


def _average_pool(ctx, layer, x: ProxyTensor, rank: int):
    _check_channels_last(layer)
    area = _pool_area(layer)
    if area & (area - 1):
        raise UnsupportedQKerasError(
            f'{where(layer)} averages over {area} values; only a power-of-two pool area divides exactly in firmware. '
            'Use a pool size whose product is a power of two.'
        )
    if _check_padding(layer) != 'valid':
        raise UnsupportedQKerasError(
            f"{where(layer)} uses padding='same', where border windows average fewer values than the pool area; "
            "use padding='valid'."
        )
    cls = keras.layers.AveragePooling1D if rank == 1 else keras.layers.AveragePooling2D
    pool = cls(pool_size=layer.pool_size, strides=layer.strides, padding='valid', name=ctx.name(layer.name))
    return pool(x.tensor), area


@converter('QAveragePooling2D')
def _qavgpool(ctx, layer, inputs):
    """``avg(x) * area * q(1/area)`` as QKeras computes it: average pooling, then an exact per-tensor scale."""
    x = _one(layer, inputs)
    y, area = _average_pool(ctx, layer, x, 2)
    q = getattr(layer, 'average_quantizer_internal', None)
    if getattr(layer, 'average_quantizer', None) and q is not None:
        factor = quantize_weight(q, np.float32(1.0 / area), where(layer), 'average factor')
        scale = np.float32(area) * np.float32(factor)
        if scale != 1.0:
            y = apply_scale(y, float(scale), ctx.name(f'{layer.name}_scale'))
    return [_post_activation(ctx, layer, _origin(layer, y))]


@converter('AveragePooling1D', 'AveragePooling2D')
def _avgpool(ctx, layer, inputs):
    x = _one(layer, inputs)
    y, _ = _average_pool(ctx, layer, x, 1 if type(layer).__name__.endswith('1D') else 2)
    return [_origin(layer, y)]


@converter('MaxPooling1D', 'MaxPooling2D')
def _maxpool(ctx, layer, inputs):
    x = _one(layer, inputs)
    _check_channels_last(layer)
    cls = keras.layers.MaxPooling1D if type(layer).__name__.endswith('1D') else keras.layers.MaxPooling2D
    padding = _check_padding(layer)
    pool = cls(pool_size=layer.pool_size, strides=layer.strides, padding=padding, name=ctx.name(layer.name))
    return [_same_values(x, layer, pool(x.tensor))]


# --------------------------------------------------------------------------------- activations
@converter('QActivation')
def _qactivation(ctx, layer, inputs):
    x = _one(layer, inputs, allow_raw=True, allow_wide=True)
    q = getattr(layer, 'quantizer', None) or layer.activation
    plan = activation_plan(q, where(layer))
    return [apply_plan(ctx, plan, x, layer.name, where(layer))]


@converter('Activation')
def _activation(ctx, layer, inputs):
    x = _one(layer, inputs, allow_wide=True)
    return [apply_plan(ctx, activation_plan(layer.activation, where(layer)), x, layer.name, where(layer))]


@converter('ReLU')
def _relu(ctx, layer, inputs):
    x = _one(layer, inputs)
    conf = layer.get_config()
    plain = conf.get('max_value') is None and not conf.get('negative_slope') and not conf.get('threshold')
    if not plain:
        raise UnsupportedQKerasError(
            f'{where(layer)} has max_value/negative_slope/threshold; use quantized_relu(...) in a QActivation instead.'
        )
    return [apply_plan(ctx, activation_plan(keras.activations.relu, where(layer)), x, layer.name, where(layer))]


# ------------------------------------------------------------------------------------ reshaping
@converter('Dropout', 'SpatialDropout1D', 'SpatialDropout2D')
def _dropout(ctx, layer, inputs):
    return [_one(layer, inputs, allow_raw=True, allow_wide=True)]


@converter('Flatten')
def _flatten(ctx, layer, inputs):
    x = _one(layer, inputs)
    _check_channels_last(layer)
    return [_same_values(x, layer, keras.layers.Flatten(name=ctx.name(layer.name))(x.tensor))]


@converter('Reshape')
def _reshape(ctx, layer, inputs):
    x = _one(layer, inputs)
    return [
        _same_values(x, layer, keras.layers.Reshape(tuple(layer.target_shape), name=ctx.name(layer.name))(x.tensor))
    ]


def _merge_inputs(layer, inputs: list[ProxyTensor]) -> list:
    for x in inputs:
        if x.wide:
            raise wide_input_error(where(layer), x)
    raw = [x.origin for x in inputs if x.raw_input]
    if raw:
        raise UnsupportedQKerasError(
            f'{where(layer)} reads the model input(s) {raw} before any quantizer; put '
            'QActivation(quantized_bits(bits, integer)) right after each Input.'
        )
    return [x.tensor for x in inputs]


@converter('Concatenate')
def _concatenate(ctx, layer, inputs):
    tensors = _merge_inputs(layer, inputs)
    y = keras.layers.Concatenate(axis=layer.axis, name=ctx.name(layer.name))(tensors)
    grids = {x.grid for x in inputs}
    res = [x.resolution() for x in inputs]
    step, bound = (min(r[0] for r in res), max(r[1] for r in res)) if None not in res else (None, None)
    return [ProxyTensor(y, grids.pop() if len(grids) == 1 else None, False, layer.name, step=step, bound=bound)]


@converter('Add')
def _add(ctx, layer, inputs):
    y = keras.layers.Add(name=ctx.name(layer.name))(_merge_inputs(layer, inputs))
    res = [x.resolution() for x in inputs]
    step, bound = (min(r[0] for r in res), sum(r[1] for r in res)) if None not in res else (None, None)
    return [ProxyTensor(y, None, False, layer.name, step=step, bound=bound)]


SUPPORTED_LAYERS = tuple(sorted(CONVERTERS))
