"""`to_proxy_model(..., unary_lut_max_table_size=N)` turns an HActivation into a `UnaryLUT` wherever the grid of
its input is known: straight after a quantizer, through reshapes, max pooling, concatenation and power-of-two
average pooling; the proxy computes what the model computes."""

import keras
import numpy as np
import pytest

from HGQ import HDense, HQuantize, PConcatenate, PFlatten, to_proxy_model, trace_minmax
from HGQ.layers import HActivation, PAveragePooling1D, PMaxPooling1D, PPermute
from HGQ.proxy import UnaryLUT


def _sequence(*middle):
    def build():
        inp = keras.Input((8, 3))
        h = HQuantize(name='q')(inp)
        for layer in middle:
            h = layer(h)
        return keras.Model(inp, HDense(2, name='out')(HActivation('sigmoid', name='act')(h)))

    return build


def _concatenated():
    inp = keras.Input((6,))
    h = HQuantize(name='q')(inp)
    a = HDense(4, activation='relu', name='a')(h)
    b = HDense(3, name='b')(h)
    return keras.Model(inp, HDense(2, name='out')(HActivation('tanh', name='act')(PConcatenate(name='cat')([a, b]))))


CASES = {
    'after_quantizer_flatten': _sequence(PFlatten()),
    'through_permute': _sequence(PPermute((2, 1)), PFlatten()),
    'through_maxpool': _sequence(PMaxPooling1D(2), PFlatten()),
    'through_avgpool': _sequence(PAveragePooling1D(2), PFlatten()),
    'through_avgpool_of_4': _sequence(PAveragePooling1D(4), PFlatten()),
    'through_concatenate': _concatenated,
}


@pytest.mark.parametrize('name', list(CASES))
def test_activation_becomes_an_exact_table(name):
    model = CASES[name]()
    x = np.random.default_rng(0).uniform(-3, 3, (512,) + tuple(model.inputs[0].shape[1:])).astype(np.float32)
    trace_minmax(model, x, verbose=False)
    proxy = to_proxy_model(model, unary_lut_max_table_size=1 << 14)
    assert isinstance(proxy.get_layer('act'), UnaryLUT)
    np.testing.assert_array_equal(proxy.predict(x, verbose=0), model.predict(x, verbose=0))


def test_average_over_three_keeps_the_activation():
    """A mean over 3 values is not on a binary grid: no table (hls4ml's own activation, which the plugin flags)."""
    model = _sequence(PAveragePooling1D(3), PFlatten())()
    x = np.random.default_rng(1).uniform(-3, 3, (256, 8, 3)).astype(np.float32)
    trace_minmax(model, x, verbose=False)
    proxy = to_proxy_model(model, unary_lut_max_table_size=1 << 14)
    assert not isinstance(proxy.get_layer('act'), UnaryLUT)
