"""io_stream structures where hls4ml 1.3 alone writes wrong firmware (see hgq_hls4ml/stream_fixes.py) or where
the stream words change size: bit-exact through the plugin.

- two 'same' Conv1D branches of one input (hls4ml put the padding on the wrong branch);
- a Flatten feeding a ReLU, a table and an Add (hls4ml skips the Flatten; its activations and merges need
  words of the declared size).
"""

import keras
import numpy as np
import pytest

from HGQ import HConv1D, HDense, HQuantize, PConcatenate, PFlatten, to_proxy_model, trace_minmax
from HGQ.layers import HActivation, HAdd
from tests.conftest import compare_csim


def _two_same_conv_branches(inp):
    q = HQuantize(name='q')(inp)
    a = HConv1D(2, 3, padding='same', name='conv_a')(q)
    b = HConv1D(3, 3, padding='same', activation='relu', name='conv_b')(q)
    return HDense(3, name='out')(PFlatten(name='flat')(PConcatenate(name='cat')([a, b])))


def _flatten_relu(inp):
    h = PFlatten(name='flat')(HConv1D(2, 3, name='conv')(HQuantize(name='q')(inp)))
    return HDense(3, name='out')(HActivation('relu', name='relu')(h))


def _flatten_table(inp):
    h = PFlatten(name='flat')(HConv1D(2, 3, activation='relu', name='conv')(HQuantize(name='q')(inp)))
    return HDense(3, name='out')(HActivation('sigmoid', name='table')(h))


def _flatten_add(inp):
    q = HQuantize(name='q')(inp)
    a = PFlatten(name='flat_a')(HConv1D(2, 3, name='conv_a')(q))
    b = PFlatten(name='flat_b')(HConv1D(2, 3, activation='relu', name='conv_b')(q))
    return HDense(3, name='out')(HAdd(name='add')([a, b]))


CASES = {
    'two_same_conv_branches': (_two_same_conv_branches, 'Vitis'),
    'two_same_conv_branches_catapult': (_two_same_conv_branches, 'Catapult'),
    'flatten_relu': (_flatten_relu, 'Vitis'),
    'flatten_table': (_flatten_table, 'Vivado'),
    'flatten_add': (_flatten_add, 'Vitis'),
}


@pytest.mark.parametrize('name', list(CASES))
def test_stream_structure_bit_exact(name, hls_dir):
    build, backend = CASES[name]
    keras.utils.set_random_seed(5)
    inp = keras.Input((12, 3))
    model = keras.Model(inp, build(inp))
    rng = np.random.default_rng(5)
    x = rng.uniform(-2, 2, (600, 12, 3)).astype(np.float32)
    trace_minmax(model, x[:400], verbose=False)
    proxy = to_proxy_model(model, aggressive=True, unary_lut_max_table_size=4096)
    np.testing.assert_array_equal(proxy.predict(x[:400], verbose=0), model.predict(x[:400], verbose=0))
    p, h, _ = compare_csim(proxy, x * np.float32(1.5), 'io_stream', backend, hls_dir)
    np.testing.assert_array_equal(h, p)
