"""`HGQ.variable_io`: the epoch-end reads and assignments give what Keras' own calls give, on every backend, and take
TensorFlow's raw resource ops only for plain variables outside a traced function (a tf.distribute variable must be
written on every replica: test_data_parallel.py checks the reset ranges under MirroredStrategy)."""

import keras
import numpy as np
import pytest
from keras import ops

from HGQ import FreeBOPs, HDense, HQuantize, ResetMinMax
from HGQ.variable_io import _plain_tf_variable, assign_constant, read_scalar


def test_assign_and_read_match_keras():
    v = keras.Variable(np.zeros((1, 3), np.float32))
    value = ops.convert_to_tensor(np.array([[np.inf, -2.5, 7.0]], np.float32))
    assign_constant(v, value)
    np.testing.assert_array_equal(ops.convert_to_numpy(v), [[np.inf, -2.5, 7.0]])
    s = keras.Variable(np.float32(1234.5))
    assert read_scalar(s) == 1234.5 and isinstance(read_scalar(s), float)


@pytest.mark.skipif(keras.backend.backend() != 'tensorflow', reason='the raw resource ops are TensorFlow only')
def test_raw_ops_only_for_plain_eager_variables():
    import tensorflow as tf

    v = keras.Variable(np.zeros(2, np.float32))
    assert _plain_tf_variable(v) is not None
    seen = []

    @tf.function
    def traced():
        seen.append(_plain_tf_variable(v))
        assign_constant(v, tf.constant([1.0, 2.0]))

    traced()
    assert seen == [None]  # in a trace: Keras' assign (the automatic control dependencies)
    np.testing.assert_array_equal(ops.convert_to_numpy(v), [1.0, 2.0])


def test_callbacks_reset_ranges_and_sum_bops():
    model = keras.Sequential([keras.Input((4,)), HQuantize(beta=1e-3), HDense(3, beta=1e-3), HDense(2, beta=1e-3)])
    model.compile('adam', 'mse')
    x, y = np.random.default_rng(0).normal(size=(32, 4)), np.zeros((32, 2))
    logs = {}
    free = FreeBOPs()
    free.set_model(model)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    free.on_epoch_end(0, logs)
    expected = sum(float(ops.convert_to_numpy(layer.bops)) for layer in model.layers if hasattr(layer, 'bops'))
    assert logs['bops'] == expected > 0
    ResetMinMax.reset_minmax(model)
    for layer in model.layers:
        assert np.all(ops.convert_to_numpy(layer.paq._min) == np.inf)
        assert np.all(ops.convert_to_numpy(layer.paq._max) == -np.inf)
