"""An activation hls4ml has no implementation of (a custom function, a Keras layer, ``silu``, ...) can only be
deployed as a lookup table: `to_proxy_model` stops with what to do when it cannot make one (tables off, the
default, or a table larger than ``unary_lut_max_table_size``). Activations hls4ml implements keep the warning.
Average pooling with 'same' padding whose windows all average a power-of-two number of values keeps the grid
of its input known, so a table can follow it."""

import warnings

import keras
import numpy as np
import pytest

from HGQ import HDense, HQuantize, PFlatten, to_proxy_model, trace_minmax
from HGQ.layers import HActivation, PAveragePooling1D, PAveragePooling2D
from HGQ.proxy import UnaryLUT
from HGQ.proxy.unary_lut import average_pool_counts


def _model(activation, name='act'):
    inp = keras.Input((4,), name='x')
    h = HQuantize(name='q')(inp)
    h = HDense(3, name='d')(h)
    h = HActivation(activation, name=name)(h)
    model = keras.Model(inp, HDense(2, name='out')(h))
    # the table needs 2**(1 + 3 + 2) = 64 entries: signed, 3 integer bits (traced), 2 fractional bits
    model.get_layer('d').paq.fbw.assign(np.full(model.get_layer('d').paq.fbw.shape, 2.0, 'float32'))
    x = np.random.default_rng(0).uniform(-3, 3, (256, 4)).astype(np.float32)
    trace_minmax(model, x, verbose=False)
    return model, x


def _table_entries(model) -> int:
    k, i, f = model.get_layer('d').paq.get_bits_exact()
    return 1 << int(np.max(k) + np.max(i) + np.max(f))


@pytest.mark.parametrize('limit', [-1, 0, 16])
def test_custom_function_without_table_is_refused(limit):
    model, _ = _model(lambda x: keras.ops.sin(x), name='my_sin')
    n = _table_entries(model)
    assert n > 16
    with pytest.raises(ValueError) as err:
        to_proxy_model(model, unary_lut_max_table_size=limit)
    msg = str(err.value)
    assert "Activation layer 'my_sin' computes '<lambda>', which hls4ml has no implementation of" in msg
    assert f'so the table needs {n} entries' in msg
    if limit > 0:
        assert f'that is more than unary_lut_max_table_size={limit}' in msg
    else:
        assert f'tables are off (unary_lut_max_table_size={limit}' in msg
    assert f'raise unary_lut_max_table_size to at least {n}' in msg
    assert 'narrow the input quantizer' in msg


def test_the_default_is_named():
    model, _ = _model(keras.layers.ELU(alpha=-1.5))
    with pytest.raises(ValueError, match=r'computes the Keras layer ELU, .*tables are off '
                                         r'\(unary_lut_max_table_size=-1, the default\)'):
        to_proxy_model(model)


def test_the_size_the_message_asks_for_is_enough():
    model, x = _model(lambda x: keras.ops.sin(x))
    proxy = to_proxy_model(model, unary_lut_max_table_size=_table_entries(model))
    assert isinstance(proxy.get_layer('act'), UnaryLUT)
    np.testing.assert_array_equal(proxy.predict(x, verbose=0), model.predict(x, verbose=0))


def test_native_activation_keeps_the_warning():
    model, _ = _model('tanh')
    with pytest.warns(UserWarning, match="Activation 'act' stays a native activation"):
        proxy = to_proxy_model(model, unary_lut_max_table_size=16)
    assert type(proxy.get_layer('act')) is keras.layers.Activation
    with warnings.catch_warnings():
        warnings.filterwarnings('error', message='.*stays a native activation')
        proxy = to_proxy_model(model)  # tables off: hls4ml's own tanh, as before
    assert type(proxy.get_layer('act')) is keras.layers.Activation


def test_fully_pruned_input_gives_a_constant_table():
    model, x = _model(lambda x: keras.ops.cos(x))
    model.get_layer('d').paq.fbw.assign(np.full(model.get_layer('d').paq.fbw.shape, -30.0, 'float32'))
    trace_minmax(model, x, verbose=False)
    proxy = to_proxy_model(model, unary_lut_max_table_size=16)
    assert isinstance(proxy.get_layer('act'), UnaryLUT)
    np.testing.assert_array_equal(proxy.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize('layer,shape,counts', [
    (PAveragePooling1D(2, padding='same'), (None, 11, 3), [1, 2]),
    (PAveragePooling1D(2, padding='valid'), (None, 11, 3), [2]),
    (PAveragePooling1D(3, strides=1, padding='same'), (None, 11, 3), [2, 3]),
    (PAveragePooling2D((1, 2), padding='same'), (None, 5, 5, 2), [1, 2]),
    (PAveragePooling2D((2, 2), padding='same'), (None, 5, 5, 2), [1, 2, 4]),
    (PAveragePooling2D((2, 2), padding='same'), (None, 4, 4, 2), [4]),
    (PAveragePooling2D((2, 2), padding='same', data_format='channels_first'), (None, 2, 5, 4), [2, 4]),
])
def test_average_pool_counts(layer, shape, counts):
    assert average_pool_counts(layer, shape) == counts


@pytest.mark.parametrize('pool,shape', [(PAveragePooling1D(2, padding='same'), (7, 3)),
                                        (PAveragePooling2D((2, 2), padding='same'), (5, 5, 2))])
def test_table_after_same_average_pooling(pool, shape):
    inp = keras.Input(shape)
    h = HQuantize(name='q')(inp)
    h = PFlatten()(pool(h))
    model = keras.Model(inp, HDense(2, name='out')(HActivation(lambda x: keras.ops.sin(x) - x, name='act')(h)))
    x = np.random.default_rng(1).uniform(-3, 3, (256,) + shape).astype(np.float32)
    trace_minmax(model, x, verbose=False)
    proxy = to_proxy_model(model, unary_lut_max_table_size=1 << 14)
    assert isinstance(proxy.get_layer('act'), UnaryLUT)
    np.testing.assert_array_equal(proxy.predict(x, verbose=0), model.predict(x, verbose=0))


def test_table_after_average_over_three_is_refused():
    inp = keras.Input((7, 3))
    h = PFlatten()(PAveragePooling1D(3, strides=1, padding='same')(HQuantize(name='q')(inp)))
    model = keras.Model(inp, HActivation(lambda x: keras.ops.sin(x), name='act')(h))
    trace_minmax(model, np.random.default_rng(2).uniform(-3, 3, (64, 7, 3)).astype(np.float32), verbose=False)
    with pytest.raises(ValueError, match="'act' .*not on a known fixed-point grid.*Put an HQuantize right before it"):
        to_proxy_model(model, unary_lut_max_table_size=1 << 14)
