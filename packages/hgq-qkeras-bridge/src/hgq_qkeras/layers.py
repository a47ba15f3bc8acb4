"""One converter per QKeras (and plain Keras) layer class: QKeras layer -> proxy layers.

Every converter receives the conversion `Context`, the QKeras layer and its input `ProxyTensor`s, and
returns the output `ProxyTensor`s. Weight-carrying layers take the weights QKeras itself applies
(`hgq_qkeras.weights.applied_weights`) and end with the layer's own activation quantizer.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from .activations import apply_plan
from .context import Context, ProxyTensor, where
from .errors import UnsupportedQKerasError
from .normalization import affine_layer, affine_weights, apply_scale, qbatchnorm_scale_offset
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
def _one(layer, inputs: list[ProxyTensor], allow_raw: bool = False) -> ProxyTensor:
    if len(inputs) != 1:
        raise UnsupportedQKerasError(f'{where(layer)} has {len(inputs)} inputs; expected one.')
    x = inputs[0]
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


# ------------------------------------------------------------------------------- weight layers
_KERNEL_BIAS = {'kernel_quantizer_internal': 'kernel', 'bias_quantizer_internal': 'bias'}


@converter('QDense')
def _qdense(ctx, layer, inputs):
    x = _one(layer, inputs)
    w = _weights(layer, x, _KERNEL_BIAS, layer.use_bias)
    dense = keras.layers.Dense(layer.units, use_bias=layer.use_bias, name=ctx.name(layer.name))
    y = _build(dense, x, [w['kernel']] + ([w['bias']] if layer.use_bias else []))
    return [_post_activation(ctx, layer, _origin(layer, y))]


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
    return [_post_activation(ctx, layer, _origin(layer, y))]


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
    return [_post_activation(ctx, layer, _origin(layer, y))]


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
    h = _build(depthwise, x, [dw])
    pointwise = pcls(layer.filters, kernel_size=1, use_bias=layer.use_bias, name=ctx.name(layer.name))
    y = _build(pointwise, _origin(layer, h), [pw] + ([w['bias']] if layer.use_bias else []))
    return [_post_activation(ctx, layer, _origin(layer, y))]


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
    return [_post_activation(ctx, layer, _origin(layer, y))]


@converter('QBatchNormalization')
def _qbatchnorm(ctx, layer, inputs):
    x = _one(layer, inputs)
    axis = [int(a) for a in np.atleast_1d(layer.axis)]
    rank = len(x.tensor.shape)
    if [a % rank for a in axis] != [rank - 1]:
        raise UnsupportedQKerasError(
            f'{where(layer)} normalizes axis {layer.axis}; hls4ml supports the last axis only.'
        )
    scale, offset = qbatchnorm_scale_offset(layer, where(layer))
    y = _build(affine_layer(ctx.name(layer.name)), x, affine_weights(scale, offset))
    return [_post_activation(ctx, layer, _origin(layer, y))]


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
    return [ProxyTensor(pool(x.tensor), x.grid, False, layer.name)]


# --------------------------------------------------------------------------------- activations
@converter('QActivation')
def _qactivation(ctx, layer, inputs):
    x = _one(layer, inputs, allow_raw=True)
    q = getattr(layer, 'quantizer', None) or layer.activation
    plan = activation_plan(q, where(layer))
    return [apply_plan(ctx, plan, x, layer.name, where(layer))]


@converter('Activation')
def _activation(ctx, layer, inputs):
    x = _one(layer, inputs)
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
    return [_one(layer, inputs, allow_raw=True)]


@converter('Flatten')
def _flatten(ctx, layer, inputs):
    x = _one(layer, inputs)
    _check_channels_last(layer)
    y = keras.layers.Flatten(name=ctx.name(layer.name))(x.tensor)
    return [ProxyTensor(y, x.grid, False, layer.name)]


@converter('Reshape')
def _reshape(ctx, layer, inputs):
    x = _one(layer, inputs)
    y = keras.layers.Reshape(tuple(layer.target_shape), name=ctx.name(layer.name))(x.tensor)
    return [ProxyTensor(y, x.grid, False, layer.name)]


def _merge_inputs(layer, inputs: list[ProxyTensor]) -> list:
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
    return [ProxyTensor(y, grids.pop() if len(grids) == 1 else None, False, layer.name)]


@converter('Add')
def _add(ctx, layer, inputs):
    y = keras.layers.Add(name=ctx.name(layer.name))(_merge_inputs(layer, inputs))
    return [ProxyTensor(y, None, False, layer.name)]


SUPPORTED_LAYERS = tuple(sorted(CONVERTERS))
