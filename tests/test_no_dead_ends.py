"""Paths that used to end in an error or in a proxy hls4ml cannot convert, now converted bit-exactly (or refused
early with what to do):

- an HGQ1 file whose HActivation holds a Keras layer (ELU(alpha), LeakyReLU, ReLU(max_value)), a registered
  function or ``keras.activations.swish``: loads, predicts as HGQ1 did, and its tables convert exactly;
- average pooling with padding='same' whose windows all average a power-of-two number of values (HGQ1's own
  cases ``PAvgPool1D(2, padding='same')``, ``PAvgPool2D((1, 2), padding='same')``, ``PAvgPool2D((2, 2),
  padding='same')``): exact on io_parallel, refused with a reason on the ac_fixed backends;
- an activation table whose input is fully pruned (a constant).
"""

import os

import keras
import numpy as np
import pytest

import HGQ
from HGQ.layers import HActivation, HDense, HQuantize, PAvgPool1D, PAvgPool2D, PFlatten
from HGQ.proxy import UnaryLUT
from tests.conftest import compare_csim
from tests.layer_cases import layer_conf, randomize

FIXTURES = os.path.join(
    os.path.dirname(__file__), '..', 'packages', 'hgq-core', 'tests', 'fixtures', 'hgq1_activations'
)


@keras.saving.register_keras_serializable(package='fix')
def cubic(x):
    """The function the HGQ1 fixture registered as ``fix>cubic``."""
    return x * x * x - x


def test_hgq1_activation_layers_to_firmware(hls_dir):
    model = keras.models.load_model(os.path.join(FIXTURES, 'activation_layers.h5'))
    io = np.load(os.path.join(FIXTURES, 'activation_layers_io.npz'))
    x = [io['x']]  # the HGQ1 functional model lists its input
    np.testing.assert_array_equal(model.predict(x, verbose=0), io['y'])
    HGQ.trace_minmax(model, x, verbose=False)
    proxy = HGQ.to_proxy_model(model, unary_lut_max_table_size=int(io['lut']))
    assert sum(isinstance(layer, UnaryLUT) for layer in proxy.layers) == 5
    np.testing.assert_array_equal(proxy.predict(x, verbose=0), io['y'])  # H-model == proxy in range
    rng = np.random.default_rng(5)
    wide = [np.concatenate([io['x'], io['x'] * rng.uniform(1.0, 2.0, io['x'].shape).astype(np.float32)])]
    p, h, _ = compare_csim(proxy, wide, 'io_parallel', 'Vivado', hls_dir)
    np.testing.assert_array_equal(h, p)


def _pool_model(pool, shape, rounding='auto', seed=0):
    conf = layer_conf(rounding)
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape, name='x')
    h = HQuantize(name='inp_q', **conf['paq'])(inp)
    h = pool()(h)
    h = HDense(3, name='dense', **conf['h'])(PFlatten(name='flat')(h))
    model = keras.Model(inp, h)
    randomize(model, seed)
    x = np.random.default_rng(seed).normal(0, 2, (500,) + shape).astype(np.float32)
    HGQ.trace_minmax(model, x, verbose=False)
    return model, x


SAME_POOLS = {  # HGQ1's test_syn_players cases; odd sizes, so that the edge windows hold fewer values
    'avgpool1d_2_same': (lambda: PAvgPool1D(2, padding='same', name='pool'), (11, 3), 'Vivado'),
    'avgpool2d_1x2_same': (lambda: PAvgPool2D((1, 2), padding='same', name='pool'), (5, 5, 2), 'Vitis'),
    'avgpool2d_2x2_same': (lambda: PAvgPool2D((2, 2), padding='same', name='pool'), (5, 7, 2), 'Vivado'),
}


@pytest.mark.parametrize('name', list(SAME_POOLS))
def test_same_average_pooling_is_exact(name, hls_dir):
    pool, shape, backend = SAME_POOLS[name]
    model, x = _pool_model(pool, shape, seed=len(name))
    proxy = HGQ.to_proxy_model(model)
    np.testing.assert_array_equal(proxy.predict(x, verbose=0), model.predict(x, verbose=0))
    p, h, _ = compare_csim(proxy, np.concatenate([x, 4 * x]), 'io_parallel', backend, hls_dir)
    np.testing.assert_array_equal(h, p)


@pytest.mark.parametrize('backend', ['Catapult', 'Quartus'])
def test_average_pooling_refused_on_ac_fixed_backends(backend, tmp_path):
    import hls4ml

    model, _ = _pool_model(lambda: PAvgPool1D(2, padding='same', name='pool'), (11, 3))
    out = tmp_path / 'prj'
    with pytest.raises(ValueError, match=f"average pooling layer 'pool' cannot be exact on the {backend} backend"):
        hls4ml.converters.convert_from_keras_model(HGQ.to_proxy_model(model), output_dir=str(out), backend=backend,
                                                   io_type='io_parallel')
    assert not out.exists()


@pytest.mark.parametrize('activation', ['cos', 'sigmoid'])
def test_pruned_input_table_to_firmware(hls_dir, activation):
    """A fully pruned input (always 0) becomes a two-entry table, also for an activation hls4ml implements (its own
    sigmoid table is not exact; the plugin would warn)."""
    fn = (lambda v: keras.ops.cos(v)) if activation == 'cos' else 'sigmoid'
    inp = keras.Input((4,), name='x')
    h = HDense(3, name='d')(HQuantize(name='q')(inp))
    model = keras.Model(inp, HDense(2, name='out')(HActivation(fn, name='act')(h)))
    model.get_layer('d').paq.fbw.assign(np.full(model.get_layer('d').paq.fbw.shape, -30.0, 'float32'))
    x = np.random.default_rng(4).uniform(-3, 3, (256, 4)).astype(np.float32)
    HGQ.trace_minmax(model, x, verbose=False)
    proxy = HGQ.to_proxy_model(model, unary_lut_max_table_size=16)
    assert isinstance(proxy.get_layer('act'), UnaryLUT)
    np.testing.assert_array_equal(proxy.predict(x, verbose=0), model.predict(x, verbose=0))
    p, h, _ = compare_csim(proxy, x, 'io_parallel', 'Vitis', hls_dir)
    np.testing.assert_array_equal(h, p)
