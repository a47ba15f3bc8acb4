"""Small QKeras models, one per supported layer and quantizer family, for tests, docs and exactness reports.

The same builders run on QKeras 0.9 (tf_keras) and on qkeras-v3 (Keras 3): layers come from the Keras QKeras
is built on. Weights are random (seeded), biases and batch-norm statistics included, so no test passes
because something is zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .environment import LEGACY, V3, import_qkeras, keras_of_qkeras, qkeras_flavour
from .numerics import FixedFormat


@dataclass(frozen=True)
class Example:
    """A QKeras model builder and the grid of its input quantizer.

    Attributes:
        name: Short identifier.
        build: Builds the model (random weights, seeded).
        input_format: ``fixed<bits, integer+1>`` (or ``ufixed``) grid of the input quantizer: inputs drawn from it
            are in range and on the grid.
        flavours: QKeras flavours the model exists in.
        hls4ml_native: Whether hls4ml's own QKeras converter handles it (for the side-by-side report).
    """

    name: str
    build: Callable
    input_format: FixedFormat
    flavours: tuple[str, ...] = (LEGACY, V3)
    hls4ml_native: bool = True

    def inputs(self, model, n: int = 256, seed: int = 1) -> np.ndarray:
        """``n`` samples on the input grid (every value in range)."""
        rng = np.random.default_rng(seed)
        shape = (n,) + tuple(int(s) for s in model.inputs[0].shape[1:])
        return rng.choice(self.input_format.values(), size=shape).astype(np.float32)


def _q():
    return import_qkeras()


def _k():
    return keras_of_qkeras()


def randomize(model, seed: int = 0) -> None:
    """Sets every weight to seeded random values (variances positive), so nothing is trivially zero."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = []
        for w in layer.weights:
            name = w.name.split('/')[-1]
            shape = tuple(w.shape)
            if 'variance' in name:
                weights.append(rng.choice([0.25, 1.0, 4.0, 16.0], size=shape))
            elif 'gamma' in name:
                weights.append(rng.choice([0.5, 1.0, 2.0], size=shape))
            elif 'iteration' in name:
                weights.append(np.zeros(shape))
            else:
                weights.append(rng.normal(0, 0.5, size=shape))
        layer.set_weights([np.asarray(v, np.float32).reshape(tuple(w.shape)) for v, w in zip(weights, layer.weights)])


def _model(inp, out, name: str, seed: int):
    model = _k().Model(inp, out, name=name)
    randomize(model, seed)
    return model


def _input(shape, name='x'):
    return _k().Input(shape, name=name)


def _init(seed: int):
    return _k().initializers.RandomNormal(0.0, 0.5, seed=seed)


def _qbits(bits, integer, **kw):
    return _q().quantized_bits(bits, integer, **kw)


def dense_relu():
    q, kl = _q(), _k().layers
    x = _input((16,))
    h = q.QActivation(_qbits(8, 3), name='q_in')(x)
    h = q.QDense(12, kernel_quantizer=_qbits(6, 0, alpha=1), bias_quantizer=_qbits(6, 0, alpha=1), name='dense1')(h)
    h = q.QActivation(q.quantized_relu(6, 2), name='relu1')(h)
    h = q.QDense(5, kernel_quantizer=_qbits(4, 0), bias_quantizer=_qbits(8, 2), name='dense2')(h)
    del kl
    return _model(x, h, 'dense_relu', 1)


def dense_unsigned_symmetric():
    q = _q()
    x = _input((10,))
    h = q.QActivation(_qbits(6, 2, keep_negative=False), name='q_in')(x)
    h = q.QDense(8, kernel_quantizer=_qbits(5, 0, symmetric=1, alpha=1), bias_quantizer=_qbits(6, 1, alpha=1),
                 activation=_qbits(6, 2, symmetric=1), name='dense1')(h)
    h = q.QDense(4, kernel_quantizer=_qbits(4, 1, alpha=1), bias_quantizer=_qbits(6, 1, alpha=1),
                 activation=q.quantized_relu(5, 1), name='dense2')(h)
    return _model(x, h, 'dense_unsigned_symmetric', 2)


def dense_auto_po2():
    q = _q()
    x = _input((12,))
    h = q.QActivation(_qbits(7, 2), name='q_in')(x)
    h = q.QDense(6, kernel_quantizer=_qbits(6, 0, alpha='auto_po2'), bias_quantizer=_qbits(8, 3), name='dense1')(h)
    h = q.QActivation(_qbits(8, 3), name='q_out')(h)
    return _model(x, h, 'dense_auto_po2', 3)


def conv1d_pool():
    q, kl = _q(), _k().layers
    x = _input((16, 3))
    h = q.QActivation(_qbits(7, 2), name='q_in')(x)
    h = q.QConv1D(4, 3, kernel_quantizer=_qbits(6, 0, alpha=1), bias_quantizer=_qbits(6, 1, alpha=1), name='conv1')(h)
    h = q.QActivation(q.quantized_relu(6, 2), name='relu1')(h)
    h = kl.MaxPooling1D(2, name='pool1')(h)
    h = kl.Flatten(name='flatten')(h)
    h = q.QDense(3, kernel_quantizer=_qbits(5, 0, alpha=1), bias_quantizer=_qbits(6, 1, alpha=1), name='dense1')(h)
    return _model(x, h, 'conv1d_pool', 4)


def conv2d_avgpool():
    q, kl = _q(), _k().layers
    x = _input((8, 8, 2))
    h = q.QActivation(_qbits(6, 2), name='q_in')(x)
    h = q.QConv2D(4, (3, 3), padding='same', kernel_quantizer=_qbits(5, 0, alpha=1),
                  bias_quantizer=_qbits(6, 1, alpha=1), name='conv1')(h)
    h = q.QActivation(q.quantized_relu(6, 2), name='relu1')(h)
    h = q.QAveragePooling2D((2, 2), average_quantizer=_qbits(4, 0, keep_negative=False), name='avg1')(h)
    h = q.QActivation(_qbits(8, 3), name='q_avg')(h)
    h = kl.Flatten(name='flatten')(h)
    h = q.QDense(3, kernel_quantizer=_qbits(5, 0, alpha=1), bias_quantizer=_qbits(6, 1, alpha=1), name='dense1')(h)
    return _model(x, h, 'conv2d_avgpool', 5)


def depthwise2d():
    q, kl = _q(), _k().layers
    x = _input((6, 6, 3))
    h = q.QActivation(_qbits(6, 2), name='q_in')(x)
    h = q.QDepthwiseConv2D((3, 3), depthwise_quantizer=_qbits(5, 0, alpha=1),
                           bias_quantizer=_qbits(6, 1, alpha=1), name='dw1')(h)
    h = q.QActivation(q.quantized_relu(6, 2), name='relu1')(h)
    h = kl.Flatten(name='flatten')(h)
    h = q.QDense(3, kernel_quantizer=_qbits(5, 0, alpha=1), bias_quantizer=_qbits(6, 1, alpha=1), name='dense1')(h)
    return _model(x, h, 'depthwise2d', 6)


def separable1d():
    q = _q()
    x = _input((12, 3))
    h = q.QActivation(_qbits(6, 2), name='q_in')(x)
    h = q.QSeparableConv1D(4, 3, depthwise_quantizer=_qbits(5, 0, alpha=1), pointwise_quantizer=_qbits(5, 0, alpha=1),
                           bias_quantizer=_qbits(6, 1, alpha=1), name='sep1')(h)
    h = q.QActivation(_qbits(8, 3), name='q_out')(h)
    return _model(x, h, 'separable1d', 7)


def separable2d():
    q, kl = _q(), _k().layers
    x = _input((6, 6, 3))
    h = q.QActivation(_qbits(6, 2), name='q_in')(x)
    h = q.QSeparableConv2D(4, (3, 3), depthwise_quantizer=_qbits(5, 0, alpha=1),
                           pointwise_quantizer=_qbits(5, 0, alpha=1), bias_quantizer=_qbits(6, 1, alpha=1),
                           name='sep1')(h)
    h = q.QActivation(q.quantized_relu(7, 3), name='relu1')(h)
    h = kl.Flatten(name='flatten')(h)
    return _model(x, h, 'separable2d', 8)


def batchnorm():
    q = _q()
    x = _input((10,))
    h = q.QActivation(_qbits(6, 2), name='q_in')(x)
    h = q.QDense(8, kernel_quantizer=_qbits(5, 0, alpha=1), bias_quantizer=_qbits(6, 1, alpha=1), name='dense1')(h)
    h = q.QBatchNormalization(epsilon=0.0, mean_quantizer=_qbits(8, 3, alpha=1), beta_quantizer=_qbits(8, 3, alpha=1),
                              name='bn1')(h)
    h = q.QActivation(q.quantized_relu(6, 3), name='relu1')(h)
    h = q.QDense(4, kernel_quantizer=_qbits(5, 0, alpha=1), bias_quantizer=_qbits(6, 1, alpha=1), name='dense2')(h)
    return _model(x, h, 'batchnorm', 9)


def conv2d_batchnorm_folded():
    q, kl = _q(), _k().layers
    x = _input((6, 6, 2))
    h = q.QActivation(_qbits(6, 2), name='q_in')(x)
    h = q.QConv2DBatchnorm(4, (3, 3), kernel_quantizer=_qbits(6, 1, alpha=1), bias_quantizer=_qbits(8, 3, alpha=1),
                           name='convbn1')(h)
    h = q.QActivation(q.quantized_relu(6, 3), name='relu1')(h)
    h = kl.Flatten(name='flatten')(h)
    h = q.QDense(3, kernel_quantizer=_qbits(5, 0, alpha=1), bias_quantizer=_qbits(6, 1, alpha=1), name='dense1')(h)
    return _model(x, h, 'conv2d_batchnorm_folded', 10)


def dense_batchnorm_folded():
    q = _q()
    x = _input((10,))
    h = q.QActivation(_qbits(6, 2), name='q_in')(x)
    h = q.QDenseBatchnorm(8, kernel_quantizer=_qbits(6, 1, alpha=1), bias_quantizer=_qbits(8, 3, alpha=1),
                          name='densebn1')(h)
    h = q.QActivation(q.quantized_relu(6, 3), name='relu1')(h)
    return _model(x, h, 'dense_batchnorm_folded', 11)


def tanh_sigmoid():
    q = _q()
    x = _input((8,))
    h = q.QActivation(_qbits(8, 2), name='q_in')(x)
    h = q.QDense(8, kernel_quantizer=_qbits(5, 0, alpha=1), bias_quantizer=_qbits(6, 1, alpha=1), name='dense1')(h)
    h = q.QActivation(q.quantized_tanh(6), name='tanh1')(h)
    h = q.QDense(6, kernel_quantizer=_qbits(5, 0, alpha=1), bias_quantizer=_qbits(6, 1, alpha=1), name='dense2')(h)
    h = q.QActivation(q.quantized_sigmoid(5), name='sigmoid1')(h)
    return _model(x, h, 'tanh_sigmoid', 12)


def binary_ternary():
    q = _q()
    x = _input((12,))
    h = q.QActivation(_qbits(6, 2), name='q_in')(x)
    h = q.QDense(8, kernel_quantizer=q.binary(alpha=1), bias_quantizer=_qbits(6, 2, alpha=1),
                 kernel_initializer=_init(1), name='dense1')(h)
    h = q.QActivation(q.binary(alpha=1), name='bin1')(h)
    h = q.QDense(8, kernel_quantizer=q.ternary(alpha=1), bias_quantizer=_qbits(6, 2, alpha=1),
                 kernel_initializer=_init(2), name='dense2')(h)
    h = q.QActivation(q.ternary(threshold=0.5), name='tern1')(h)
    h = q.QDense(4, kernel_quantizer=q.ternary(), bias_quantizer=_qbits(6, 2, alpha=1), kernel_initializer=_init(3),
                 name='dense3')(h)
    return _model(x, h, 'binary_ternary', 13)


def po2():
    q = _q()
    x = _input((8,))
    h = q.QActivation(_qbits(6, 2), name='q_in')(x)
    h = q.QDense(8, kernel_quantizer=q.quantized_po2(4, 1), bias_quantizer=_qbits(8, 3, alpha=1),
                 kernel_initializer=_init(4), name='dense1')(h)
    h = q.QActivation(_qbits(8, 4), name='q_mid')(h)
    h = q.QActivation(q.quantized_relu_po2(4, 8), name='relupo2')(h)
    h = q.QDense(4, kernel_quantizer=q.quantized_po2(4), bias_quantizer=_qbits(8, 3, alpha=1),
                 kernel_initializer=_init(5), name='dense2')(h)
    return _model(x, h, 'po2', 14)


def functional_merge():
    q, kl = _q(), _k().layers
    x = _input((12,))
    h = q.QActivation(_qbits(6, 2), name='q_in')(x)
    a = q.QDense(6, kernel_quantizer=_qbits(5, 0, alpha=1), bias_quantizer=_qbits(6, 1, alpha=1), name='branch_a')(h)
    a = q.QActivation(_qbits(7, 3), name='qa')(a)
    b = q.QDense(6, kernel_quantizer=_qbits(5, 0, alpha=1), bias_quantizer=_qbits(6, 1, alpha=1), name='branch_b')(h)
    b = q.QActivation(q.quantized_relu(7, 3), name='qb')(b)
    s = kl.Add(name='add')([a, b])
    c = kl.Concatenate(name='concat')([s, a])
    c = kl.Dropout(0.25, name='drop')(c)
    out = q.QDense(3, kernel_quantizer=_qbits(5, 0, alpha=1), bias_quantizer=_qbits(6, 1, alpha=1), name='head')(c)
    return _model(x, out, 'functional_merge', 15)


def reshape_maxpool2d():
    q, kl = _q(), _k().layers
    x = _input((32,))
    h = q.QActivation(_qbits(6, 2), name='q_in')(x)
    h = kl.Reshape((4, 4, 2), name='reshape')(h)
    h = q.QConv2D(3, (2, 2), kernel_quantizer=_qbits(5, 0, alpha=1), bias_quantizer=_qbits(6, 1, alpha=1),
                  name='conv1')(h)
    h = q.QActivation(q.quantized_relu(6, 2), name='relu1')(h)
    h = kl.MaxPooling2D((2, 2), name='pool1')(h)
    h = kl.Flatten(name='flatten')(h)
    h = kl.Activation('linear', name='linear')(h)
    h = q.QDense(3, kernel_quantizer=_qbits(5, 0, alpha=1), bias_quantizer=_qbits(6, 1, alpha=1), name='dense1')(h)
    return _model(x, h, 'reshape_maxpool2d', 17)


def plain_relu():
    q, kl = _q(), _k().layers
    x = _input((10,))
    h = q.QActivation(_qbits(6, 2), name='q_in')(x)
    h = q.QDense(8, kernel_quantizer=_qbits(5, 0, alpha=1), bias_quantizer=_qbits(6, 1, alpha=1), name='dense1')(h)
    h = kl.Activation('relu', name='relu')(h)
    h = q.QActivation(q.quantized_relu(6, 3), name='q_relu')(h)
    h = q.QDense(4, kernel_quantizer=_qbits(5, 0, alpha=1), bias_quantizer=_qbits(6, 1, alpha=1), name='dense2')(h)
    return _model(x, h, 'plain_relu', 16)


EXAMPLES: tuple[Example, ...] = (
    Example('dense_relu', dense_relu, FixedFormat(1, 8, 4)),
    Example('dense_unsigned_symmetric', dense_unsigned_symmetric, FixedFormat(0, 6, 2)),
    Example('dense_auto_po2', dense_auto_po2, FixedFormat(1, 7, 3)),
    Example('conv1d_pool', conv1d_pool, FixedFormat(1, 7, 3)),
    Example('conv2d_avgpool', conv2d_avgpool, FixedFormat(1, 6, 3), hls4ml_native=False),
    Example('depthwise2d', depthwise2d, FixedFormat(1, 6, 3)),
    Example('separable1d', separable1d, FixedFormat(1, 6, 3)),
    Example('separable2d', separable2d, FixedFormat(1, 6, 3)),
    Example('batchnorm', batchnorm, FixedFormat(1, 6, 3)),
    Example('conv2d_batchnorm_folded', conv2d_batchnorm_folded, FixedFormat(1, 6, 3)),
    Example('dense_batchnorm_folded', dense_batchnorm_folded, FixedFormat(1, 6, 3), flavours=(V3,),
            hls4ml_native=False),
    Example('tanh_sigmoid', tanh_sigmoid, FixedFormat(1, 8, 3)),
    Example('binary_ternary', binary_ternary, FixedFormat(1, 6, 3)),
    Example('po2', po2, FixedFormat(1, 6, 3)),
    Example('functional_merge', functional_merge, FixedFormat(1, 6, 3)),
    Example('reshape_maxpool2d', reshape_maxpool2d, FixedFormat(1, 6, 3)),
    Example('plain_relu', plain_relu, FixedFormat(1, 6, 3)),
)


def available_examples() -> tuple[Example, ...]:
    """The examples that exist for the installed QKeras."""
    flavour = qkeras_flavour()
    return tuple(e for e in EXAMPLES if flavour in e.flavours)


def get_example(name: str) -> Example:
    """The example called ``name``."""
    for e in EXAMPLES:
        if e.name == name:
            return e
    raise KeyError(f'No example {name!r}; have {[e.name for e in EXAMPLES]}.')
