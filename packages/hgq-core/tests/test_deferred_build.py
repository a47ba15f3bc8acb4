"""A Sequential model written without an input shape (built by its first training step, inside a traced
function on TensorFlow) trains, and its kernel bitwidths are adapted to the initial kernel as in an eager build."""

import keras
import numpy as np
import pytest

from HGQ import HConv2D, HDense, HDenseBatchNorm, HQuantize, PFlatten, ResetMinMax, trace_minmax
from HGQ.layers import PMaxPooling2D


def _fit_without_learning(model, x, y):
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss='mse')
    history = model.fit(x, y, epochs=1, batch_size=64, verbose=0, callbacks=[ResetMinMax()])
    assert np.isfinite(history.history['loss'][0])


def test_kernel_bitwidths_adapted_when_built_by_training():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 6, 6, 2)).astype(np.float32)
    y = rng.normal(size=(256, 3)).astype(np.float32)
    model = keras.Sequential([
        HQuantize(beta=1e-5),
        HConv2D(4, (3, 3), activation='relu', padding='same', beta=1e-5),
        PMaxPooling2D((2, 2)),
        PFlatten(),
        HDense(3, beta=1e-5),
    ])
    assert not model.built
    _fit_without_learning(model, x, y)
    for layer in (model.layers[1], model.layers[4]):
        kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel))
        base = np.full(layer.kq.fbw.shape, layer.kq.init_bw, np.float32)
        expected = np.asarray(keras.ops.convert_to_numpy(layer.kq.adapted_bw(kernel, base)))
        np.testing.assert_array_equal(np.asarray(keras.ops.convert_to_numpy(layer.kq.fbw)), expected)
        assert np.unique(expected).size > 1  # really adapted, not the constant init_bw
    assert trace_minmax(model, x, verbose=False) > 0


@pytest.mark.parametrize('with_input', [False, True])
def test_batchnorm_layer_built_by_training(with_input):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 5)).astype(np.float32)
    y = rng.normal(size=(256, 2)).astype(np.float32)
    layers = [HQuantize(beta=1e-5), HDenseBatchNorm(4, activation='relu', beta=1e-5), HDense(2, beta=1e-5)]
    model = keras.Sequential(([keras.Input((5,))] if with_input else []) + layers)
    _fit_without_learning(model, x, y)
    fbw = np.asarray(keras.ops.convert_to_numpy(model.layers[1].kq.fbw))
    # adapted to the BN-fused kernel on the first training call (on JAX, whose stateless training step drops
    # assignments to trainable variables, to the initial kernel at build)
    assert np.unique(fbw).size > 1
    assert trace_minmax(model, x, verbose=False) > 0
