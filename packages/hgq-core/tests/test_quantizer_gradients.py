"""The surrogate gradients of the HGQ quantizer (spec 2.3, 2.7): d(out)/dx = 1, d(out)/d(fbw) = -ln2 (xq - x),
and the bitwidth estimate's gradient reaching only the fractional bits, scaled by 1/sqrt(degeneracy)."""

import math

import keras
import numpy as np
import pytest
from keras import ops

tf = pytest.importorskip('tensorflow')
needs_tf = pytest.mark.skipif(keras.backend.backend() != 'tensorflow', reason='gradients taken with tf.GradientTape')

from HGQ.quantizer.quantizer import FLOOR, STANDARD_ROUND, bits_with_grad, round_values, surrogate_quantize


def _reference_quantize(x, fbw, strategy):
    """The textbook formulation: straight-through value plus -ln2 * delta * (fbw - stop_gradient(fbw))."""
    scale = ops.power(2.0, ops.round(fbw))
    xq = round_values(x * scale, strategy) / scale
    delta = ops.stop_gradient(xq - x)
    return x + delta - delta * math.log(2.0) * (fbw - ops.stop_gradient(fbw))


@needs_tf
@pytest.mark.parametrize('strategy', [STANDARD_ROUND, FLOOR])
@pytest.mark.parametrize('fbw_shape', [(1, 6), (1, 1), (5, 6)])
def test_surrogate_gradient_matches_reference(strategy, fbw_shape):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(5, 6)).astype(np.float32) * 3)
    fbw = tf.Variable(rng.uniform(-1, 4, size=fbw_shape).astype(np.float32))
    w = tf.constant(rng.normal(size=(5, 6)).astype(np.float32))
    grads = []
    for fn in (lambda: surrogate_quantize(x, fbw, strategy, True), lambda: _reference_quantize(x, fbw, strategy)):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            out = fn()
            loss = tf.reduce_sum(out * w)
        grads.append((out.numpy(), tape.gradient(loss, x).numpy(), tape.gradient(loss, fbw).numpy()))
    (o1, gx1, gf1), (o2, gx2, gf2) = grads
    np.testing.assert_array_equal(o1, o2)
    np.testing.assert_allclose(gx1, w.numpy())  # straight through for x
    np.testing.assert_allclose(gf1, gf2, rtol=1e-6, atol=1e-6)
    assert np.any(gf1 != 0)


@needs_tf
def test_bits_gradient_only_reaches_fbw_and_is_scaled():
    base = tf.constant([[1.0, -np.inf, 2.0, -5.0]])
    fbw = tf.Variable([[2.0, 3.0, 1.4, 1.0]])
    with tf.GradientTape() as tape:
        bw = bits_with_grad(base, fbw, 0.5)
        loss = tf.reduce_sum(bw * tf.constant([[1.0, 2.0, 3.0, 4.0]]))
    np.testing.assert_array_equal(bw.numpy(), [[3.0, 0.0, 3.0, 0.0]])
    # relu passes the gradient where the width is positive; the scale applies; pruned elements get none
    np.testing.assert_allclose(tape.gradient(loss, fbw).numpy(), [[0.5, 0.0, 1.5, 0.0]])


def test_keras_ops_only():
    """The quantizer math runs on plain Keras tensors (no TensorFlow-specific calls needed)."""
    x = keras.ops.convert_to_tensor(np.array([[0.3, -1.26]], np.float32))
    out = surrogate_quantize(x, keras.ops.convert_to_tensor(np.array([[2.0, 2.0]], np.float32)), STANDARD_ROUND, True)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), [[0.25, -1.25]])
