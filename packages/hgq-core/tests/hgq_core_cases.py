"""The layer table shared by the layer-test harness: one row per HGQ layer configuration.

Each row says how to make the layer, what it is fed with, how many weights and losses it must have, and
which plain Keras layer it must equal when the bitwidths are large (20 fractional bits). Test models are
``Input -> HQuantize (per input) -> layer`` (the quantizer gives the kernel layers a quantized input);
layers without trainable weights of their own get an ``HDense`` head for the training tests, so that
their bitwidth map takes part in the BOPs of a real training step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

from HGQ.layers import (
    HActivation,
    HAdd,
    HConv1D,
    HConv1DBatchNorm,
    HConv2D,
    HConv2DBatchNorm,
    HDense,
    HDenseBatchNorm,
    HQuantize,
    PAveragePooling1D,
    PAvgPool2D,
    PConcatenate,
    PDropout,
    PFlatten,
    PMaxPool1D,
    PMaxPooling2D,
    PPermute,
    PReshape,
    Signature,
)

GRID = 2.0**-8
"""Test inputs and weights lie on this grid, so that 20 fractional bits represent them exactly."""


def quantizer_confs(init_bw: float = 2.0, regularizer=None) -> dict:
    """``kq_conf``/``paq_conf`` for the tests (no bitwidth regularizer unless asked: gradients must come
    from the task loss and the BOPs, not from the constant MonoL1 term)."""
    kq = {'init_bw': init_bw, 'regularizer': regularizer}
    paq = {'init_bw': init_bw, 'regularizer': regularizer}
    return {'kq_conf': kq, 'paq_conf': paq}


# ---------------------------------------------------------------------------------- plain twins
def _set(layer: keras.layers.Layer, *arrays) -> None:
    layer.set_weights([np.asarray(a) for a in arrays])


def twin_identity(h, xs):
    return keras.layers.Identity()(xs[0])


def keras_parent(h) -> type:
    """The first plain Keras class among the bases of an HGQ layer (``HConv2DBatchNorm`` -> ``Conv2D``)."""
    return next(c for c in type(h).__mro__ if c.__module__.startswith('keras.'))


def _channels_last(h, x, apply):
    """Applies ``apply`` in channels_last layout. Keras' own channels_first conv adds its bias with
    ``ops.add``, which on TensorFlow treats the bias as channels_last when the last spatial size equals the
    number of filters (a Keras bug), so the reference is computed between two Permutes instead."""
    if getattr(h, 'data_format', 'channels_last') != 'channels_first':
        return apply(x, {})
    rank = len(x.shape) - 2
    x = keras.layers.Permute(tuple(range(2, rank + 2)) + (1,))(x)
    y = apply(x, {'data_format': 'channels_last'})
    return keras.layers.Permute((rank + 1,) + tuple(range(1, rank + 1)))(y)


def twin_kernel(h, xs):
    """The Keras parent of a Dense/Conv H-layer, with the same kernel and bias."""

    def apply(x, overrides):
        plain = keras_parent(h).from_config({**h.get_keras_config(), 'name': 'twin', **overrides})
        y = plain(x)
        _set(plain, h.kernel, *([h.bias] if h.use_bias else []))
        return y

    return _channels_last(h, xs[0], apply)


def twin_batchnorm(h, xs):
    """Kernel layer -> BatchNormalization -> activation. HGQ1's fusion adds the kernel layer's own bias
    unscaled (spec 2.9); the rows using this twin give the H-layer a zero bias, where both are plain BN."""

    def apply(x, overrides):
        conf = h.get_keras_config()
        activation = conf['activation']
        conf.update(name='twin', activation='linear', **overrides)
        plain = keras_parent(h).from_config(conf)
        bn = keras.layers.BatchNormalization(axis=-1, epsilon=h.epsilon, momentum=h.momentum)
        y = keras.layers.Activation(activation)(bn(plain(x)))
        _set(plain, h.kernel, h.bias)
        _set(bn, h.bn_gamma, h.bn_beta, h.moving_mean, h.moving_variance)
        return y

    return _channels_last(h, xs[0], apply)


def twin_activation(h, xs):
    return keras.layers.Activation(h.activation)(xs[0])


def twin_same_class(parent: type) -> Callable:
    """The plain Keras parent of a P-layer (or HAdd) with the same config."""

    def twin(h, xs):
        conf = {k: v for k, v in h.get_config().items() if k not in ('kq_conf', 'paq_conf', 'beta', 'save_ranges')}
        plain = parent.from_config({**conf, 'name': 'twin'})
        return plain(xs if len(xs) > 1 else xs[0])

    return twin


# ----------------------------------------------------------------------------------------- table
@dataclass(frozen=True)
class LayerCase:
    """One layer configuration under test.

    Attributes:
        id: Test id.
        make: ``make(kq_conf=..., paq_conf=..., beta=...)`` -> a fresh layer (P-layers ignore the arguments).
        input_shapes: Input shapes without the batch axis (one per input).
        n_trainable / n_non_trainable: Weight counts of the built layer.
        n_losses: Losses of the layer after a training call with the default (MonoL1) quantizer configs.
        twin: ``twin(built_h_layer, plain_inputs) -> output`` building the equivalent plain Keras layer.
        twin_atol: 0 for exact equality; else the allowed difference (reason in ``twin_reason``).
        twin_reason: Why a tolerance is needed.
        zero_bias_for_twin: Give the H-layer a zero bias before comparing (see `twin_batchnorm`).
        quantize_inputs: Put an HQuantize in front of each input.
        head: Add an HDense head for the training tests (layers without trainable weights of their own).
    """

    id: str
    make: Callable[..., keras.layers.Layer]
    input_shapes: tuple[tuple[int, ...], ...]
    n_trainable: int
    n_non_trainable: int
    n_losses: int
    twin: Callable
    twin_atol: float = 0.0
    twin_reason: str = ''
    zero_bias_for_twin: bool = False
    quantize_inputs: bool = True
    head: bool = False


_BN_REASON = (
    'the BN-fused kernel is not on the 2^-8 grid: quantizing it with 20 fractional bits moves each weight by '
    '<= 2^-21, so each output moves by <= 2^-21 * (sum |x| + 2) < 1e-4 for these fan-ins (|x| <= 2)'
)
_ACT_REASON = 'the activation output is rounded to 20 fractional bits: half an LSB is 2^-21'

# H-layers with a kernel: kernel, bias, kernel_bw, activation_bw | beta, bops, activation_min/max.
# Losses: kernel_bw and activation_bw regularizers, plus beta * BOPs.
# BN adds bn_beta, bn_gamma | moving_mean, moving_variance, kernel_bw_pending.
CASES: list[LayerCase] = [
    LayerCase('HQuantize', lambda **q: HQuantize(paq_conf=q.get('paq_conf'), beta=q.get('beta', 0.0)),
              ((6,),), 1, 4, 1, twin_identity, quantize_inputs=False, head=True),
    LayerCase('HDense_relu', lambda **q: HDense(4, activation='relu', **q), ((6,),), 4, 4, 3, twin_kernel),
    LayerCase('HDense_rank3_nobias', lambda **q: HDense(3, use_bias=False, **q), ((4, 5),), 3, 4, 3, twin_kernel),
    LayerCase('HConv1D_same_stride', lambda **q: HConv1D(3, 3, strides=2, padding='same', **q),
              ((9, 2),), 4, 4, 3, twin_kernel),
    LayerCase('HConv1D_cf_dilated_pf', lambda **q: HConv1D(
        4, 3, dilation_rate=2, data_format='channels_first', activation='relu', parallel_factor=3, **q),
              ((2, 10),), 4, 4, 3, twin_kernel),
    LayerCase('HConv2D_same', lambda **q: HConv2D(4, (3, 3), padding='same', activation='relu', **q),
              ((6, 6, 2),), 4, 4, 3, twin_kernel),
    LayerCase('HConv2D_cf_stride', lambda **q: HConv2D(3, (2, 3), strides=2, data_format='channels_first', **q),
              ((2, 7, 7),), 4, 4, 3, twin_kernel),
    LayerCase('HDenseBatchNorm', lambda **q: HDenseBatchNorm(4, activation='relu', **q), ((6,),), 6, 7, 3,
              twin_batchnorm, 1e-4, _BN_REASON, zero_bias_for_twin=True),
    LayerCase('HConv1DBatchNorm', lambda **q: HConv1DBatchNorm(3, 3, padding='same', **q), ((8, 2),), 6, 7, 3,
              twin_batchnorm, 1e-4, _BN_REASON, zero_bias_for_twin=True),
    LayerCase('HConv2DBatchNorm_cf', lambda **q: HConv2DBatchNorm(
        3, (3, 3), data_format='channels_first', activation='relu', **q),
              ((2, 6, 6),), 6, 7, 3, twin_batchnorm, 1e-4, _BN_REASON, zero_bias_for_twin=True),
    LayerCase('HActivation_tanh', lambda **q: HActivation('tanh', beta=q.get('beta', 0.0), paq_conf=q.get('paq_conf')),
              ((6,),), 1, 4, 1, twin_activation, 2.0**-21, _ACT_REASON, head=True),
    LayerCase('HActivation_relu', lambda **q: HActivation('relu', beta=q.get('beta', 0.0), paq_conf=q.get('paq_conf')),
              ((3, 4),), 1, 4, 1, twin_activation, head=True),
    LayerCase('HAdd', lambda **q: HAdd(paq_conf=q.get('paq_conf'), beta=q.get('beta', 0.0)),
              ((5,), (5,), (5,)), 1, 4, 1, twin_same_class(keras.layers.Add), head=True),
    LayerCase('PMaxPool1D', lambda **q: PMaxPool1D(2), ((8, 3),), 0, 0, 0,
              twin_same_class(keras.layers.MaxPooling1D), head=True),
    LayerCase('PAveragePooling1D_same', lambda **q: PAveragePooling1D(3, strides=2, padding='same'), ((7, 2),),
              0, 0, 0, twin_same_class(keras.layers.AveragePooling1D), head=True),
    LayerCase('PMaxPooling2D', lambda **q: PMaxPooling2D((2, 2)), ((6, 6, 2),), 0, 0, 0,
              twin_same_class(keras.layers.MaxPooling2D), head=True),
    LayerCase('PAvgPool2D_cf', lambda **q: PAvgPool2D(2, data_format='channels_first'), ((2, 6, 4),), 0, 0, 0,
              twin_same_class(keras.layers.AveragePooling2D), head=True),
    LayerCase('PConcatenate', lambda **q: PConcatenate(axis=1), ((3, 2), (4, 2)), 0, 0, 0,
              twin_same_class(keras.layers.Concatenate), head=True),
    LayerCase('PReshape', lambda **q: PReshape((3, 4)), ((12,),), 0, 0, 0,
              twin_same_class(keras.layers.Reshape), head=True),
    LayerCase('PFlatten', lambda **q: PFlatten(), ((3, 2, 2),), 0, 0, 0, twin_same_class(keras.layers.Flatten),
              head=True),
    LayerCase('PFlatten_cf', lambda **q: PFlatten(data_format='channels_first'), ((3, 2, 2),), 0, 0, 0,
              twin_same_class(keras.layers.Flatten), head=True),
    LayerCase('PPermute', lambda **q: PPermute((2, 1)), ((3, 5),), 0, 0, 0, twin_same_class(keras.layers.Permute),
              head=True),
    LayerCase('PDropout', lambda **q: PDropout(0.25), ((6,),), 0, 0, 0, twin_same_class(keras.layers.Dropout),
              head=True),
    LayerCase('Signature', lambda **q: Signature(1, 12, 4), ((6,),), 0, 0, 0, twin_identity,
              quantize_inputs=False, head=True),
]


# ---------------------------------------------------------------------------------- model helpers
def grid_inputs(case: LayerCase, n: int = 32, seed: int = 0) -> list[np.ndarray]:
    """Inputs in [-2, 2) on the 2^-8 grid (exactly representable with 20 fractional bits)."""
    rng = np.random.default_rng(seed)
    return [
        np.round(rng.uniform(-2, 2, (n, *s)) / GRID).astype('float32') * np.float32(GRID) for s in case.input_shapes
    ]


def build_model(case: LayerCase, init_bw: float = 2.0, beta: float = 1e-4, regularizer=None, head: bool = False):
    """``Input -> HQuantize -> layer [-> HDense head]``; returns ``(model, layer)``."""
    q = {**quantizer_confs(init_bw, regularizer), 'beta': beta}
    inputs = [keras.Input(s) for s in case.input_shapes]
    xs = [HQuantize(paq_conf=q['paq_conf'], beta=beta)(x) if case.quantize_inputs else x for x in inputs]
    layer = case.make(**q)
    y = layer(xs if len(xs) > 1 else xs[0])
    if head:
        y = HDense(2, **q)(y)
    return keras.Model(model_inputs(inputs), y), layer


def model_inputs(xs: list[np.ndarray]):
    return xs if len(xs) > 1 else xs[0]
