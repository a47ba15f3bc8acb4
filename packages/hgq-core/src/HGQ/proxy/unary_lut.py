"""Unary lookup-table activation for proxy models.

A `UnaryLUT` replaces an element-wise activation whose input takes few distinct values: the table holds
the activation of every value of the input format, already quantized. In firmware the raw
two's-complement bits of the input index the table, so the table is stored in that order (the
non-negative half first, then the negative half for signed inputs).
"""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

from .._keras_compat import inbound_nodes, keras_history, outbound_nodes
from ..graph import clone_layer, convert_model
from ..numerics import check_modes, smallest_kif
from .fixed_point_quantizer import FixedPointQuantizer, gfixed_quantizer

LUT_SIZE_LIMITATION = 1 << 20


def _kif(v, name: str) -> tuple[int, int, int]:
    try:
        k, i, f = (int(x) for x in v)
    except (TypeError, ValueError):
        raise ValueError(
            f'UnaryLUT: {name} must be a (keep_negative, int_bits, frac_bits) triple, got {v!r}.'
        ) from None
    if k not in (0, 1):
        raise ValueError(f'UnaryLUT: {name}[0] (keep_negative) must be 0 or 1, got {k}.')
    return k, i, f


def table_inputs(kif_in: tuple[int, int, int]) -> np.ndarray:
    """The input value of every table entry, in two's-complement index order (float32)."""
    k, i, f = kif_in
    n = 1 << (k + i + f)
    idx = np.arange(n, dtype=np.int64)
    if k:
        idx = np.where(idx >= n // 2, idx - n, idx)
    return (idx.astype(np.float64) * 2.0**-f).astype(np.float32)


@keras.saving.register_keras_serializable(package='HGQ')
class UnaryLUT(keras.layers.Layer):
    """Element-wise lookup table: ``table[index(x)]`` with ``index(x) = round(x * 2**f_in) mod N``.

    Args:
        kif_in: ``(keep_negative, int_bits, frac_bits)`` of the input format; the table has ``2**(k+i+f)`` entries.
        kif_out: Format of the table values (informational; the values are given by ``table``).
        RND, SAT: Rounding/overflow used when the table was built.
        table: Table values in two's-complement index order (None: zeros, e.g. before weights are loaded).
    """

    def __init__(self, kif_in, kif_out, RND: str = 'TRN', SAT: str = 'WRAP', table=None, **kwargs):
        kwargs.pop('trainable', None)
        super().__init__(trainable=False, **kwargs)
        self.kif_in = _kif(kif_in, 'kif_in')
        self.kif_out = _kif(kif_out, 'kif_out')
        self.RND, self.SAT = check_modes(RND, SAT)
        bits = sum(self.kif_in)
        if bits < 0 or (1 << max(bits, 0)) > LUT_SIZE_LIMITATION:
            raise ValueError(
                f'UnaryLUT: input format {self.kif_in} needs 2**{bits} entries; the limit is {LUT_SIZE_LIMITATION}. '
                'Quantize the input more coarsely or keep the activation.'
            )
        n = 1 << bits
        values = (np.zeros(n, np.float32) if table is None
                  else np.asarray(ops.convert_to_numpy(table), np.float32).ravel())
        if values.size != n:
            raise ValueError(f'UnaryLUT: table has {values.size} entries, expected {n} for input format {self.kif_in}.')
        self.table = self.add_weight(
            name='table', shape=(n,), dtype='float32', trainable=False, initializer=keras.initializers.Constant(values)
        )

    @classmethod
    def from_activation(cls, activation, kif_in, kif_out=None, RND: str = 'TRN', SAT: str = 'WRAP', name=None):
        """Builds the table of ``activation`` (a Keras activation name or any unary callable).

        The activation is evaluated in float32 with Keras, exactly as the model computes it, then quantized to
        ``kif_out`` with ``RND``/``SAT`` (``kif_out=None`` keeps the float32 values).
        """
        fn = keras.activations.get(activation) if isinstance(activation, str) else activation
        kif_in = _kif(kif_in, 'kif_in')
        x = ops.convert_to_tensor(table_inputs(kif_in))
        y = ops.convert_to_numpy(fn(x)).astype(np.float32)
        if kif_out is not None:
            k, i, f = _kif(kif_out, 'kif_out')
            y = ops.convert_to_numpy(gfixed_quantizer(y, k, k + i + f, k + i, RND, SAT)).astype(np.float32)
        else:
            kif_out = (1, 32, 32)
        return cls(kif_in, kif_out, RND, SAT, table=y, name=name)

    def call(self, x):
        k, i, f = self.kif_in
        n = float(1 << (k + i + f))
        idx = ops.mod(ops.round(ops.cast(x, 'float32') * float(2.0**f)), n)
        return ops.take(self.table, ops.cast(idx, 'int32'))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        conf = super().get_config()
        conf.pop('trainable', None)
        conf.update(kif_in=list(self.kif_in), kif_out=list(self.kif_out), RND=self.RND, SAT=self.SAT)
        return conf


# ------------------------------------------------------------------------------ proxy conversion
_PASS_THROUGH = (keras.layers.Reshape, keras.layers.Flatten, keras.layers.Permute, keras.layers.MaxPooling1D,
                 keras.layers.MaxPooling2D)
_KEEP = ('relu', 'linear', 'softmax')
# keras.activations functions hls4ml implements itself (nnet_activation.h): without a table they stay native
# activations, which hls4ml converts (not always bit-exactly). Anything else can only be deployed as a table.
HLS4ML_NATIVE = ('linear', 'relu', 'relu6', 'leaky_relu', 'elu', 'selu', 'sigmoid', 'hard_sigmoid', 'tanh',
                 'hard_tanh', 'softmax', 'softplus', 'softsign')


def _is_keras_activation(fn, names) -> bool:
    return any(fn is getattr(keras.activations, name, None) for name in names)


def is_hls4ml_native(fn) -> bool:
    """Whether hls4ml has its own implementation of the activation function ``fn``."""
    return _is_keras_activation(fn, HLS4ML_NATIVE)


def _describe(fn) -> str:
    if isinstance(fn, keras.layers.Layer):
        return f'the Keras layer {type(fn).__name__}'
    return repr(getattr(fn, '__name__', type(fn).__name__))


def _no_table_error(layer: keras.layers.Layer, kif_in, max_table_size: int) -> ValueError:
    """The error for an activation hls4ml cannot implement that did not become a table."""
    what = (f'Activation layer {layer.name!r} computes {_describe(layer.activation)}, '
            'which hls4ml has no implementation of')
    if not kif_in:
        return ValueError(
            f'{what}, and the values of its input are not on a known fixed-point grid (its input does not come '
            'from a quantizer, possibly through reshapes, pooling or concatenation), so it cannot become a lookup '
            'table (UnaryLUT) either. Put an HQuantize right before it.'
        )
    k, i, f = kif_in
    n = 1 << max(sum(kif_in), 0)
    if max_table_size is None or max_table_size <= 0:
        default = ', the default' if max_table_size == -1 else ''
        limit = f'tables are off (unary_lut_max_table_size={max_table_size}{default})'
    else:
        limit = f'that is more than unary_lut_max_table_size={max_table_size}'
    return ValueError(
        f'{what}, so the proxy must hold it as a lookup table (UnaryLUT). Its input takes {n} values '
        f'(keep_negative={k}, integer bits={i}, fractional bits={f}), so the table needs {n} entries, and {limit}. '
        f'Either raise unary_lut_max_table_size to at least {n} (to_proxy_model(model, unary_lut_max_table_size={n})), '
        f'or narrow the input quantizer (fewer integer or fractional bits in the layer that feeds {layer.name!r}) '
        'so that a smaller table serves.'
    )


def refuse_activations_without_table(proxy: keras.Model, max_table_size: int) -> None:
    """Raises ValueError for the first activation of ``proxy`` that hls4ml cannot implement (not a table)."""
    for layer in proxy.layers:
        if type(layer) is not keras.layers.Activation or is_hls4ml_native(layer.activation):
            continue
        inputs = inbound_nodes(layer)[0].input_tensors if inbound_nodes(layer) else []
        kif_in = _input_format(inputs[0]) if len(inputs) == 1 else None
        raise _no_table_error(layer, (0, 1, 0) if kif_in == _NO_VALUES else kif_in, max_table_size)


def _window_counts(n: int, pool: int, stride: int, padding: str) -> np.ndarray:
    """Number of input positions in each pooling window along one axis (Keras: 'same' windows count only
    the positions inside the input)."""
    if padding == 'valid':
        return np.full(max((n - pool) // stride + 1, 0), pool)
    out = -(-n // stride)
    left = max((out - 1) * stride + pool - n, 0) // 2
    starts = np.arange(out) * stride - left
    return np.minimum(starts + pool, n) - np.maximum(starts, 0)


def average_pool_counts(layer: keras.layers.Layer, input_shape: tuple) -> list[int]:
    """The distinct numbers of values a Keras average pooling layer averages over (one per window shape:
    e.g. [1, 2, 4] for 'same' padding at the edges), sorted."""
    spatial = input_shape[2:] if layer.data_format == 'channels_first' else input_shape[1:-1]
    counts = np.ones(1, dtype=np.int64)
    for n, pool, stride in zip(spatial, layer.pool_size, layer.strides):
        counts = np.multiply.outer(counts, _window_counts(int(n), int(pool), int(stride), layer.padding)).ravel()
    return sorted({int(c) for c in counts})


_NO_VALUES = ()  # input format of a tensor whose elements are all pruned (always 0)


def _input_format(tensor) -> tuple[int, int, int] | tuple[()] | None:
    """``(keep_negative, int_bits, frac_bits)`` covering every element of ``tensor``, from the quantizers that
    fix its value grid, looking through reshapes, max pooling and concatenation; None when unknown."""
    op = keras_history(tensor).operation
    while isinstance(op, _PASS_THROUGH):
        tensor = inbound_nodes(op)[0].input_tensors[0]
        op = keras_history(tensor).operation
    if isinstance(op, (keras.layers.AveragePooling1D, keras.layers.AveragePooling2D)):
        # a mean over a power-of-two number of values only adds fractional bits
        counts = average_pool_counts(op, tuple(inbound_nodes(op)[0].input_tensors[0].shape))
        if any(c & (c - 1) for c in counts):
            return None
        inner = _input_format(inbound_nodes(op)[0].input_tensors[0])
        if not inner:
            return inner
        k, i, f = inner
        return k, i, f + max(counts).bit_length() - 1
    if isinstance(op, keras.layers.Concatenate):
        parts = [_input_format(t) for t in inbound_nodes(op)[0].input_tensors]
        if any(p is None for p in parts):
            return None
        parts = [p for p in parts if p != _NO_VALUES]
        return tuple(max(v) for v in zip(*parts)) if parts else _NO_VALUES
    if not isinstance(op, FixedPointQuantizer):
        return None
    k, b, i = op.kbi()
    on = b > 0
    if not np.any(on):
        return _NO_VALUES
    return int(k[on].max()), int((i - k)[on].max()), int((b - i)[on].max())


def _table_frac_bits(layer: keras.layers.Layer) -> int | None:
    """Fractional bits the table needs so that the quantizer after the activation still rounds exactly
    (TRN: its own; RND: one more); None keeps the exact float32 values."""
    if len(outbound_nodes(layer)) != 1:
        return None
    q = outbound_nodes(layer)[0].operation
    if not isinstance(q, FixedPointQuantizer):
        return None
    k, b, i = q.kbi()
    on = b > 0
    if not np.any(on):
        return None
    f = int((b - i)[on].max())
    return {'TRN': f, 'RND': f + 1}.get(q.RND)


def lut_for(layer: keras.layers.Layer, max_table_size: int) -> UnaryLUT | None:
    """A `UnaryLUT` equivalent to an `Activation` layer of a proxy model, or None if not applicable."""
    if type(layer) is not keras.layers.Activation or len(inbound_nodes(layer)) != 1:
        return None
    act = layer.activation
    if _is_keras_activation(act, _KEEP):
        return None
    inputs = inbound_nodes(layer)[0].input_tensors
    if len(inputs) != 1:
        return None
    kif_in = _input_format(inputs[0])
    if kif_in == _NO_VALUES:
        # every element pruned: the input is always 0 (two entries: hls4ml has no 0-bit index); also for the
        # activations hls4ml has, whose own tables are not exact
        kif_in = (0, 1, 0)
    if not kif_in:  # unknown grid, or every element pruned
        return None
    if 1 << max(sum(kif_in), 0) > max_table_size:
        if not is_hls4ml_native(act):
            raise _no_table_error(layer, kif_in, max_table_size)
        warnings.warn(
            f'Activation {layer.name!r} stays a native activation (not bit-exact in hls4ml): its input takes '
            f'{1 << sum(kif_in)} values, more than unary_lut_max_table_size={max_table_size}. Raise the limit or '
            'narrow the input quantizer.',
            stacklevel=4,
        )
        return None
    exact = UnaryLUT.from_activation(act, kif_in, None)
    f = _table_frac_bits(layer)
    values = ops.convert_to_numpy(exact.table).astype(np.float64)
    if f is None:
        return UnaryLUT(kif_in, (1, 32, 32), table=values, name=layer.name)
    values = np.floor(values * 2.0**f) / 2.0**f
    return UnaryLUT(kif_in, smallest_kif(values, f), 'TRN', 'WRAP', table=values.astype(np.float32), name=layer.name)


def convert_activations_to_lut(proxy: keras.Model, max_table_size: int) -> keras.Model:
    """Replaces the proxy's element-wise activations by lookup tables where the table has at most
    ``max_table_size`` entries. The quantizer after each activation stays and rounds the table values."""
    def layer_fn(layer):
        new = lut_for(layer, max_table_size) or clone_layer(layer, layer.name)

        def fn(*args, **kwargs):
            return new(args[0] if len(args) == 1 else list(args))

        return fn

    converted = convert_model(proxy, layer_fn, name=proxy.name)
    refuse_activations_without_table(converted, max_table_size)
    return converted
