"""Models for the bit-exactness matrix: one small model per HGQ layer type, made non-trivial (random bitwidths
in 2..8, per element or layer-wise, biases in -4..4), plus the helpers that train-free "randomize", trace and
compare them."""

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
    PAveragePooling2D,
    PConcatenate,
    PFlatten,
    PMaxPooling1D,
    PMaxPooling2D,
    PPermute,
    PReshape,
    Signature,
)


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[dict], keras.Model]
    input_shape: tuple[int, ...]
    signature: tuple[int, int, int] | None = None  # inputs already in fixed<bits, int_bits> (Signature models)
    stream_error: str | None = None  # the plugin must refuse io_stream with this message (hls4ml cannot build it)


def _in(shape, name='x'):
    return keras.Input(shape, name=name)


def _seq(shape, *layers) -> Callable[[dict], keras.Model]:
    def build(conf):
        inp = _in(shape)
        h = HQuantize(name='inp_q', **conf['paq'])(inp)
        for make in layers:
            h = make(conf)(h)
        return keras.Model(inp, h)

    return build


def _h(cls, *args, **kwargs):
    return lambda conf: cls(*args, **kwargs, **conf['h'])


def _p(cls, *args, **kwargs):
    return lambda conf: cls(*args, **kwargs)


def _two_branch(merge) -> Callable[[dict], keras.Model]:
    def build(conf):
        inp = _in((10,))
        h = HQuantize(name='inp_q', **conf['paq'])(inp)
        a = HDense(6, name='branch_a', **conf['h'])(h)
        b = HDense(6, activation='relu', name='branch_b', **conf['h'])(h)
        return keras.Model(inp, merge(conf)([a, b]))

    return build


def _signature(conf):
    inp = _in((6,))
    h = Signature(1, 6, 3, name='sig')(inp)
    return keras.Model(inp, HDense(5, name='dense', **conf['h'])(h))


CASES: list[Case] = [
    Case('dense', _seq((10,), _h(HDense, 8)), (10,)),
    Case('dense_relu', _seq((10,), _h(HDense, 8, activation='relu')), (10,)),
    Case('dense_nobias', _seq((10,), _h(HDense, 8, use_bias=False)), (10,)),
    Case('dense_bn', _seq((10,), _h(HDenseBatchNorm, 8, activation='relu')), (10,)),
    Case('conv1d_valid', _seq((12, 3), _h(HConv1D, 4, 3)), (12, 3)),
    Case('conv1d_same_relu', _seq((12, 3), _h(HConv1D, 4, 3, padding='same', activation='relu')), (12, 3)),
    Case('conv1d_stride2_nobias', _seq((12, 3), _h(HConv1D, 4, 3, strides=2, use_bias=False)), (12, 3)),
    Case('conv1d_bn', _seq((12, 3), _h(HConv1DBatchNorm, 4, 3)), (12, 3)),
    Case('conv2d_valid', _seq((6, 6, 2), _h(HConv2D, 3, (3, 3))), (6, 6, 2)),
    Case('conv2d_same_relu', _seq((6, 6, 2), _h(HConv2D, 3, (3, 3), padding='same', activation='relu')), (6, 6, 2)),
    Case('conv2d_stride2', _seq((6, 6, 2), _h(HConv2D, 3, (2, 2), strides=2)), (6, 6, 2)),
    Case('conv2d_channels_first', _seq((2, 6, 3), _h(HConv2D, 3, (3, 3), padding='same', data_format='channels_first')),
         (2, 6, 3)),
    Case('conv2d_bn', _seq((6, 6, 2), _h(HConv2DBatchNorm, 3, (3, 3), activation='relu')), (6, 6, 2)),
    Case('add', _two_branch(lambda conf: HAdd(name='add', **conf['h'])), (10,)),
    Case('concatenate', _two_branch(lambda conf: PConcatenate(name='cat')), (10,)),
    Case('activation_relu', _seq((10,), _h(HActivation, 'relu')), (10,)),
    Case('activation_tanh_lut', _seq((10,), _h(HActivation, 'tanh')), (10,)),
    Case('activation_sigmoid_lut', _seq((10,), _h(HActivation, 'sigmoid')), (10,)),
    Case('activation_custom_lut', _seq((10,), _h(HActivation, lambda x: keras.ops.sin(x) ** 2 - x)), (10,)),
    Case('maxpool1d', _seq((12, 3), _p(PMaxPooling1D, 2), _h(HQuantize)), (12, 3)),
    Case('maxpool1d_same', _seq((11, 3), _p(PMaxPooling1D, 2, padding='same'), _h(HQuantize)), (11, 3),
         stream_error="padding='same'"),
    Case('maxpool1d_same_after_relu',
         _seq((11, 3), _h(HConv1D, 3, 2, padding='same', activation='relu'), _p(PMaxPooling1D, 2, padding='same'),
              _h(HQuantize)), (11, 3), stream_error="padding='same'"),
    Case('avgpool1d', _seq((12, 3), _p(PAveragePooling1D, 2), _h(HQuantize)), (12, 3)),
    Case('maxpool2d', _seq((6, 6, 2), _p(PMaxPooling2D, 2), _h(HQuantize)), (6, 6, 2)),
    Case('avgpool2d', _seq((6, 6, 2), _p(PAveragePooling2D, (2, 2)), _h(HQuantize)), (6, 6, 2)),
    Case('flatten_dense', _seq((4, 3), _p(PFlatten), _h(HDense, 5)), (4, 3)),
    Case('reshape_dense', _seq((12,), _p(PReshape, (3, 4)), _h(HDense, 5)), (12,)),
    Case('permute_dense', _seq((4, 3), _p(PPermute, (2, 1)), _h(HDense, 5)), (4, 3)),
    Case('signature', _signature, (6,), signature=(1, 6, 3)),
    # quantizers back to back (with layer-wise bits, the second was once dropped from the firmware)
    Case('quantizer_chain', _seq((10,), _h(HQuantize), _h(HQuantize), _h(HDense, 6)), (10,)),
    Case('dense_relu_quantizer_chain', _seq((10,), _h(HDense, 8, activation='relu'), _h(HQuantize),
                                            _h(HActivation, 'relu'), _h(HQuantize), _h(HDense, 4)), (10,)),
    # a table whose input grid comes through average pooling and a Flatten (stream words repacked)
    Case('avgpool_flatten_lut', _seq((8, 3), _p(PAveragePooling1D, 2), _p(PFlatten), _h(HActivation, 'sigmoid')),
         (8, 3)),
]

ROUNDINGS = ('auto', 'standard_round', 'floor')


def layer_conf(rounding: str) -> dict:
    paq = {'rnd_strategy': rounding}
    return {'paq': {'paq_conf': dict(paq, skip_dims=(0,))}, 'h': {'paq_conf': dict(paq, skip_dims=(0,))}}


def randomize(model: keras.Model, seed: int) -> None:
    """Random fractional bits in 2..8 for every bitwidth variable, biases in -4..4 (so that the test is not
    trivial: offsets that move values across rounding boundaries). Half of the bitwidth variables get one value
    for all their elements (layer-wise bits: homogeneous quantizers, which the plugin fuses into their
    producers), the others one value per element."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        name = v.path.split('/')[-1]
        shape = tuple(v.shape)
        if name in ('kernel_bw', 'activation_bw'):
            if rng.random() < 0.5:
                v.assign(np.full(shape, rng.uniform(2, 8), 'float32'))
            else:
                v.assign(rng.uniform(2, 8, shape).astype('float32'))
        elif name in ('bias', 'bn_beta'):
            v.assign(rng.uniform(-4, 4, shape).astype('float32'))


def make_data(case: Case, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2, size=(n,) + case.input_shape).astype('float32')
    if case.signature is not None:
        k, b, i = case.signature
        f = b - i
        x = np.clip(np.round(x * 2**f) / 2**f, -(2.0 ** (i - k)) * k, 2.0 ** (i - k) - 2.0**-f).astype('float32')
    return x
