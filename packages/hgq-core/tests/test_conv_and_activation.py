"""Layer details beyond the harness: parallel_factor, conv_op, the generic HConv, HActivation's activations."""

import keras
import numpy as np
import pytest
from backend_utils import to_numpy

import HGQ
from HGQ.layers import HActivation, HConv, HConv1D, HConv2D, HQuantize
from HGQ.quantizer.quantizer import FLOOR, STANDARD_ROUND


def _data(shape, n=16):
    return np.random.default_rng(0).uniform(-2, 2, (n, *shape)).astype('float32')


def test_parallel_factor_is_saved_and_scales_kernel_degeneracy():
    layer = HConv2D(4, 3, parallel_factor=5, kq_conf={'skip_dims': (0, 1)})
    layer(HQuantize()(keras.Input((6, 6, 2))))
    assert layer.get_config()['parallel_factor'] == 5
    assert layer.kq.degeneracy == 3 * 3 * 5  # the 3x3 positions share a bitwidth, times parallel_factor


def test_generic_hconv_rank_round_trips(tmp_path):
    x = keras.Input((8, 2))
    layer = HConv(1, 3, 3, padding='same', name='conv')
    model = keras.Model(x, layer(HQuantize()(x)))
    assert layer.get_config()['rank'] == 1
    data = _data((8, 2))
    HGQ.trace_minmax(model, data, verbose=False)
    model.save(tmp_path / 'm.keras')
    loaded = keras.models.load_model(tmp_path / 'm.keras', compile=False)
    assert type(loaded.get_layer('conv')) is HConv
    np.testing.assert_array_equal(to_numpy(loaded(data)), to_numpy(model(data)))


def test_conv_op_replaces_the_convolution():
    calls = []

    def conv_op(inputs, kernel):
        calls.append(kernel.shape)
        return keras.ops.conv(inputs, kernel, padding='valid')

    with pytest.warns(UserWarning, match='conv_op replaces the default convolution'):
        layer = HConv1D(2, 3, conv_op=conv_op)
    x = keras.Input((6, 1))
    model = keras.Model(x, layer(HQuantize()(x)))
    model(_data((6, 1)))
    assert calls and tuple(calls[0]) == (3, 1, 2)


@pytest.mark.parametrize('activation', ['tanh', 'sigmoid', 'softplus', 'relu', keras.activations.tanh])
def test_hactivation_is_paq_of_activation(activation):
    layer = HActivation(activation, paq_conf={'init_bw': 5})
    x = keras.Input((4,))
    model = keras.Model(x, layer(HQuantize(paq_conf={'init_bw': 8})(x)))
    data = np.round(_data((4,)) * 256) / 256
    fn = keras.activations.get(activation)
    expected = np.floor(np.asarray(fn(data)) * 32 + 0.5) / 32
    np.testing.assert_array_equal(to_numpy(model(data)), expected)


def test_hactivation_accepts_any_unary_callable():
    layer = HActivation(lambda v: v * v, paq_conf={'init_bw': 4})
    x = keras.Input((3,))
    model = keras.Model(x, layer(HQuantize(paq_conf={'init_bw': 8})(x)))
    data = np.array([[0.5, -1.25, 1.5]], 'float32')
    np.testing.assert_array_equal(to_numpy(model(data)), [[0.25, 1.5625, 2.25]])


def test_trace_minmax_clamps_tanh_range():
    layer = HActivation('tanh')
    x = keras.Input((3,))
    model = keras.Model(x, layer(HQuantize()(x)))
    HGQ.trace_minmax(model, _data((3,)) * 10, verbose=False)
    assert layer.paq._min.numpy().min() >= -1 and layer.paq._max.numpy().max() <= 1


@pytest.mark.parametrize('cls, expected', [(HActivation, STANDARD_ROUND), (HQuantize, FLOOR)])
def test_auto_rounding(cls, expected):
    """'auto' is standard rounding for HActivation (HGQ1), and floor where no bias can absorb the offset."""
    layer = cls('tanh', paq_conf={'rnd_strategy': 'auto'}) if cls is HActivation else cls(
        paq_conf={'rnd_strategy': 'auto'})
    layer(keras.Input((3,)))
    assert layer.paq.rnd_strategy == expected
    assert layer.get_config()['paq_conf']['rnd_strategy'] == 'auto'
