"""Forward rules: the exact value intervals a layer produces from the intervals of its inputs.

`produce(node, inputs)` returns the `QArray` of the node's output before any cast to its result type
(for layers with an accumulator, this is the exact accumulator content).
"""

from __future__ import annotations

import functools

import numpy as np
from hls4ml.model.layers import (
    Activation,
    BatchNormalization,
    Concatenate,
    Conv1D,
    Conv2D,
    Dense,
    DepthwiseConv1D,
    DepthwiseConv2D,
    GlobalPooling1D,
    GlobalPooling2D,
    Input,
    Layer,
    Merge,
    Pooling1D,
    Pooling2D,
    Reshape,
    Transpose,
    ZeroPadding1D,
    ZeroPadding2D,
)

from .intervals import QArray, minimal_frac_bits, zero_f
from .layers import HGQFixedPointQuantizer, HGQUnaryLUT


class UnsupportedLayerError(NotImplementedError):
    """Raised for IR layers whose output range the plugin cannot derive exactly."""


@functools.singledispatch
def produce(node: Layer, inputs: list[QArray]) -> QArray:
    """Exact intervals of ``node``'s output (before its own result cast).

    The rule is chosen by the node's class, the most specific registered class of its MRO first (so
    ``DepthwiseConv1D`` gets its own rule, not ``Conv1D``'s). Rules read the node's configuration and weights and
    never write to it.
    """
    raise UnsupportedLayerError(
        f'hgq-hls4ml-plugin: no exact precision rule for layer {node.name!r} ({node.class_name}). Supported: '
        + ', '.join(supported_classes())
        + '. Remove the layer from the proxy model or open an issue.'
    )


def supported_classes() -> list[str]:
    """Names of the IR layer classes that have a forward rule."""
    return sorted(c.__name__ for c in produce.registry if c is not object)


def rule(*classes: type):
    """Registers the decorated function as the forward rule of ``classes``."""

    def deco(fn):
        for cls in classes:
            produce.register(cls, fn)
        return fn

    return deco


def _weight(node: Layer, name: str) -> np.ndarray | None:
    w = node.weights.get(name) if hasattr(node.weights, 'get') else None
    if w is None:
        return None
    return np.asarray(w.data, dtype=np.float64)


def _output_shape(node: Layer) -> tuple[int, ...]:
    return tuple(node.get_output_variable().shape)


@rule(Input)
def _input(node, inputs):
    return QArray.unbounded(_output_shape(node))


@rule(HGQFixedPointQuantizer)
def _quantizer(node, inputs):
    k, b, i = node.kbi
    return inputs[0].quantize(k, b, i, node.get_attr('RND'), node.get_attr('SAT'))


@rule(HGQUnaryLUT)
def _unary_lut(node, inputs):
    table = QArray.constant(node.get_attr('table_data'))
    shape = _output_shape(node)
    nz = ~table.is_zero
    lo, hi = float(table.lo.min()), float(table.hi.max())
    f = float(table.f[nz].max()) if np.any(nz) else -np.inf
    lo, hi = np.full(shape, lo), np.full(shape, hi)
    return QArray(lo, hi, zero_f(lo, hi, np.full(shape, f)))


@rule(Dense)
def _dense(node, inputs):
    w = _weight(node, 'weight')
    b = _weight(node, 'bias')
    return inputs[0].matmul(w, b)


def _pad_and_patches(node, x: QArray, rank: int, pad_value_zero=True):
    """im2col of the (zero-padded) input: returns patches QArray of shape (positions, window*channels)."""
    if node.get_attr('data_format', 'channels_last') != 'channels_last':
        raise UnsupportedLayerError(f'Layer {node.name!r}: only channels_last is supported.')
    if rank == 1:
        pads = [(node.get_attr('pad_left', 0), node.get_attr('pad_right', 0))]
        window = [node.get_attr('filt_width', node.get_attr('pool_width'))]
        strides = [node.get_attr('stride_width')]
        dil = [node.get_attr('dilation', 1) or 1]
    else:
        pads = [(node.get_attr('pad_top', 0), node.get_attr('pad_bottom', 0)),
                (node.get_attr('pad_left', 0), node.get_attr('pad_right', 0))]
        window = [node.get_attr('filt_height', node.get_attr('pool_height')),
                  node.get_attr('filt_width', node.get_attr('pool_width'))]
        strides = [node.get_attr('stride_height'), node.get_attr('stride_width')]
        d = node.get_attr('dilation', 1) or 1
        dil = list(d) if isinstance(d, (list, tuple)) else [d, d]
    return _im2col(x, pads, window, strides, dil, _output_shape(node)[:-1])


def _im2col(x: QArray, pads, window, strides, dil, out_spatial) -> QArray:
    spatial = x.shape[:-1]
    ch = x.shape[-1]
    padded_shape = tuple(s + p0 + p1 for s, (p0, p1) in zip(spatial, pads)) + (ch,)
    # zero padding contributes exact zeros (lo = hi = 0, f = -inf)
    lo = np.zeros(padded_shape)
    hi = np.zeros(padded_shape)
    f = np.full(padded_shape, -np.inf)
    sl = tuple(slice(p0, p0 + s) for s, (p0, _) in zip(spatial, pads))
    lo[sl], hi[sl], f[sl] = x.lo, x.hi, x.f
    idx = np.arange(int(np.prod(padded_shape))).reshape(padded_shape)
    grids = np.meshgrid(*[np.arange(o) * st for o, st in zip(out_spatial, strides)], indexing='ij')
    offs = np.meshgrid(*[np.arange(w) * d for w, d in zip(window, dil)], indexing='ij')
    pos = [g.reshape(-1, 1) + o.reshape(1, -1) for g, o in zip(grids, offs)]  # (P, W) per spatial dim
    gathered = idx[tuple(p for p in pos)]  # (P, W, ch)
    flat = gathered.reshape(gathered.shape[0], -1)
    return QArray(lo.ravel()[flat], hi.ravel()[flat], f.ravel()[flat])


@rule(DepthwiseConv1D, DepthwiseConv2D)
def _depthwise(node, inputs):
    rank = 1 if isinstance(node, DepthwiseConv1D) else 2
    x = inputs[0]
    patches = _pad_and_patches(node, x, rank)  # (P, W*ch)
    w = _weight(node, 'weight')  # (*window, ch, mult)
    b = _weight(node, 'bias')
    ch = x.shape[-1]
    mult = w.shape[-1]
    n_win = int(np.prod(w.shape[:-2]))
    outs = []
    for c in range(ch):
        sel = np.arange(n_win) * ch + c
        pc = QArray(patches.lo[:, sel], patches.hi[:, sel], patches.f[:, sel])
        wc = w.reshape(n_win, ch, mult)[:, c, :]
        bc = None if b is None else b.reshape(ch, mult)[c]
        outs.append(pc.matmul(wc, bc))
    out = QArray.concatenate([o.reshape((o.shape[0], 1, mult)) for o in outs], axis=1)
    return out.reshape(_output_shape(node))


@rule(Conv1D, Conv2D)
def _conv(node, inputs):
    rank = 1 if isinstance(node, Conv1D) else 2
    patches = _pad_and_patches(node, inputs[0], rank)
    w = _weight(node, 'weight')
    b = _weight(node, 'bias')
    out = patches.matmul(w.reshape(-1, w.shape[-1]), b)
    return out.reshape(_output_shape(node))


@rule(Pooling1D, Pooling2D)
def _pool(node, inputs):
    x = inputs[0]
    out = _max_pool(node, x) if node.get_attr('pool_op') == 'Max' else _average_pool(node, x)
    return QArray(out.lo, out.hi, zero_f(out.lo, out.hi, out.f)).reshape(_output_shape(node))


def _max_pool(node, x: QArray) -> QArray:
    rank = 1 if isinstance(node, Pooling1D) else 2
    ch = x.shape[-1]
    patches = _pad_and_patches(node, x, rank)  # (P, W*ch) with padded entries as exact zeros
    n = patches.shape[1] // ch
    lo, hi, f = (a.reshape(-1, n, ch) for a in (patches.lo, patches.hi, patches.f))
    valid = _valid_positions(node, x, rank).reshape(-1, n, ch)
    return QArray(*(np.where(valid, a, -np.inf).max(axis=1) for a in (lo, hi, f)))


def _average_pool(node, x: QArray) -> QArray:
    sums, counts = average_pool_sums(node, x)
    every = sorted({int(c) for c in counts})
    bad = [c for c in every if c & (c - 1)]
    if bad:
        same = len(every) > 1
        raise UnsupportedLayerError(
            f'Average pooling {node.name!r} divides by {bad[0]}, which is not a power of two'
            + (f" (padding='same': its windows average {every} values)" if same else '')
            + ': the firmware division cannot match the Keras proxy bit for bit. Use a pool size whose product '
            'is a power of two'
            + (", and an input size for which every 'same' window holds a power-of-two number of values (or "
               "padding='valid')." if same else '.')
        )
    return sums.scale_each(1.0 / counts[:, None])


def _valid_positions(node, x: QArray, rank: int) -> np.ndarray:
    """Per window position: True where it reads the input, False where it reads padding (im2col layout)."""
    ones = np.ones(x.shape)
    return _pad_and_patches(node, QArray(ones, ones, np.zeros(x.shape)), rank).hi > 0


def average_pool_sums(node, x: QArray) -> tuple[QArray, np.ndarray]:
    """Sum of each window of an average pooling node, shape (positions, channels), and the number of values
    each is divided by: the values inside the input (hls4ml's io_parallel pooling and Keras both leave the
    padding out), or the whole window with ``count_pad``."""
    rank = 1 if isinstance(node, Pooling1D) else 2
    ch = x.shape[-1]
    patches = _pad_and_patches(node, x, rank)
    n = patches.shape[1] // ch
    lo, hi, f = (a.reshape(-1, n, ch) for a in (patches.lo, patches.hi, patches.f))
    if node.get_attr('count_pad', False):
        counts = np.full(lo.shape[0], n)
    else:
        counts = _valid_positions(node, x, rank).reshape(-1, n, ch)[:, :, 0].sum(axis=1)
    return QArray(lo.sum(axis=1), hi.sum(axis=1), f.max(axis=1)), counts


def _check_pow2(node, count: int):
    if count & (count - 1):
        raise UnsupportedLayerError(
            f'Average pooling {node.name!r} divides by {count}, which is not a power of two: the firmware division '
            'cannot match the Keras proxy bit for bit. Use a pool size whose product is a power of two.'
        )


@rule(GlobalPooling1D, GlobalPooling2D)
def _global_pool(node, inputs):
    x = inputs[0]
    ch = x.shape[-1]
    flat = x.reshape((-1, ch))
    if node.get_attr('pool_op') == 'Max':
        return flat.maximum_over(0)
    count = flat.shape[0]
    _check_pow2(node, count)
    return flat.mean_over(0, count)


@rule(ZeroPadding1D, ZeroPadding2D)
def _zero_pad(node, inputs):
    x = inputs[0]
    if x.lo.ndim == 2:
        pads = [(node.get_attr('pad_left'), node.get_attr('pad_right')), (0, 0)]
    else:
        pads = [(node.get_attr('pad_top'), node.get_attr('pad_bottom')),
                (node.get_attr('pad_left'), node.get_attr('pad_right')), (0, 0)]
    lo = np.pad(x.lo, pads)
    hi = np.pad(x.hi, pads)
    f = np.pad(x.f, pads, constant_values=-np.inf)
    return QArray(lo, hi, f)


@rule(BatchNormalization)
def _batchnorm(node, inputs):
    """``x * scale + bias`` per channel (last axis), with the scale and bias the IR holds."""
    x = inputs[0]
    scale = np.broadcast_to(_weight(node, 'scale'), x.shape)
    bias = np.broadcast_to(_weight(node, 'bias'), x.shape)
    c1, c2 = x.lo * scale, x.hi * scale
    lo, hi = np.minimum(c1, c2) + bias, np.maximum(c1, c2) + bias
    f = np.maximum(np.where(scale != 0, x.f + minimal_frac_bits(scale), -np.inf), minimal_frac_bits(bias))
    return QArray(lo, hi, zero_f(lo, hi, f))


@rule(Concatenate)
def _concat(node, inputs):
    axis = node.get_attr('axis')
    if axis > 0:
        axis -= 1
    return QArray.concatenate(inputs, axis)


@rule(Merge)
def _merge(node, inputs):
    op = node.get_attr('op', '').lower()
    a, b = inputs
    if a.shape != b.shape:
        shape = np.broadcast_shapes(a.shape, b.shape)
        a = QArray(*(np.broadcast_to(v, shape) for v in (a.lo, a.hi, a.f)))
        b = QArray(*(np.broadcast_to(v, shape) for v in (b.lo, b.hi, b.f)))
    if op == 'add':
        return a + b
    if op == 'subtract':
        return a - b
    if op == 'average':
        return (a + b).scale(0.5)
    if op in ('maximum', 'minimum'):
        fn = np.maximum if op == 'maximum' else np.minimum
        return QArray(fn(a.lo, b.lo), fn(a.hi, b.hi), np.maximum(a.f, b.f))
    if op == 'multiply':
        cands = np.stack([a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi])
        lo, hi = cands.min(axis=0), cands.max(axis=0)
        return QArray(lo, hi, zero_f(lo, hi, a.f + b.f))
    raise UnsupportedLayerError(f'Merge layer {node.name!r}: operation {op!r} is not supported.')


@rule(Reshape)
def _reshape(node, inputs):
    return inputs[0].reshape(_output_shape(node))


def transpose_perm(node) -> list[int]:
    """The permutation of a Transpose node. Read from ``perm_str``: ``perm`` itself is shadowed by the output
    variable when the layer is named 'perm' (hls4ml stores outputs in the attributes under their name)."""
    ndim = len(node.get_input_variable().shape)
    perm = node.get_attr('perm')
    if isinstance(perm, (list, tuple)) and len(perm) == ndim:
        return [int(p) for p in perm]
    values = [int(v) for v in str(node.get_attr('perm_str')).split(',')]
    if len(values) == ndim + 1:  # 2-d transposes are written with a leading batch-like axis
        values = [v - 1 for v in values[1:]]
    return values


@rule(Transpose)
def _transpose(node, inputs):
    return inputs[0].transpose(transpose_perm(node))


@rule(Activation)
def _activation(node, inputs):
    act = str(node.get_attr('activation', '')).lower()
    x = inputs[0]
    if act == 'linear':
        return x
    if act == 'relu':
        return x.relu()
    if act == 'thresholdedrelu':
        theta = float(node.get_attr('activ_param', 0.0))
        passed = x.hi > theta
        lo = np.where(passed, np.minimum(0.0, np.where(x.lo > theta, x.lo, 0.0)), 0.0)
        hi = np.where(passed, np.maximum(x.hi, 0.0), 0.0)
        return QArray(lo, hi, zero_f(lo, hi, x.f))
    if act == 'leakyrelu':
        alpha = float(node.get_attr('activ_param', 0.0))
        neg = QArray(np.minimum(x.lo, 0.0), np.minimum(x.hi, 0.0), x.f).scale(alpha)
        pos = x.relu()
        lo = np.minimum(neg.lo, pos.lo)
        hi = np.maximum(neg.hi, pos.hi)
        return QArray(lo, hi, zero_f(lo, hi, np.maximum(neg.f, pos.f)))
    if act in NATIVE_ACTIVATIONS:
        return _native_activation(act, x)
    raise UnsupportedLayerError(
        f'Activation {node.name!r} ({act}) has no exact hls4ml implementation; convert it to a UnaryLUT '
        '(to_proxy_model(..., unary_lut_max_table_size=N)).'
    )


NATIVE_ACTIVATIONS = ('tanh', 'sigmoid', 'softmax')
NATIVE_FRAC_BITS = 18
"""Resolution assumed for the output of hls4ml's own (table-based, approximate) activations."""


def native_activation(node: Layer) -> str | None:
    """The name of hls4ml's own table activation (tanh, sigmoid, softmax) that ``node`` computes, or None."""
    if not isinstance(node, Activation):
        return None
    act = str(node.get_attr('activation', '')).lower()
    return act if act in NATIVE_ACTIVATIONS else None


def _native_activation(act: str, x: QArray) -> QArray:
    """hls4ml's own table activations: only the output range is known; they are not bit-exact."""
    if act == 'softmax':
        lo, hi = np.zeros(x.shape), np.ones(x.shape)
    else:
        fn = np.tanh if act == 'tanh' else (lambda v: 1.0 / (1.0 + np.exp(-v)))
        with np.errstate(over='ignore'):
            lo, hi = fn(np.clip(x.lo, -1e3, 1e3)), fn(np.clip(x.hi, -1e3, 1e3))
    return QArray(lo, hi, np.full(x.shape, float(NATIVE_FRAC_BITS)))
