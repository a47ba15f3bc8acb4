"""Models saved by the real HGQ1 (``hgq`` 0.2.6, Keras 2) load with ``keras.models.load_model`` and reproduce
HGQ1's predictions and BOPs exactly (see fixtures/hgq1/README.md for how the files were made)."""

import glob
import json
import os

import h5py
import keras
import numpy as np
import pytest
from backend_utils import to_numpy
from conftest import FIXTURES

import HGQ
from HGQ.bops.bops import iter_hgq_layers
from HGQ.layers import HBatchNormBase, HLayerBase

NAMES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(FIXTURES, '*.h5')))

# Sequential HGQ1 files give their first layer an input shape, which Keras 3 warns about while loading
pytestmark = pytest.mark.filterwarnings('ignore:Do not pass an `input_shape`:UserWarning')


def test_all_eight_fixtures_are_present():
    assert NAMES == [
        'conv1d', 'conv1d_parallel', 'conv2d', 'custom_conf', 'dense_bn', 'dense_mlp', 'functional_branches',
        'signature',
    ]


def _load(name: str):
    model = keras.models.load_model(os.path.join(FIXTURES, f'{name}.h5'), compile=False)
    io = np.load(os.path.join(FIXTURES, f'{name}_io.npz'))
    xs = [io['x0'], io['x1']] if 'x0' in io else [io['x']]
    # HGQ1 functional configs list their inputs ([['x', 0, 0]]), so even one input is passed as a list
    structure = getattr(getattr(model, '_functional', model), '_inputs_struct', None)
    x = xs if isinstance(structure, (list, tuple)) else xs[0]
    return model, io, x


def _h5_weights(name: str) -> dict[str, dict[str, np.ndarray]]:
    """``{layer: {variable: array}}`` read straight from the HGQ1 file with h5py."""
    out = {}
    with h5py.File(os.path.join(FIXTURES, f'{name}.h5'), 'r') as f:
        group = f['model_weights']
        for layer in group:
            names = [n.decode() if isinstance(n, bytes) else n for n in group[layer].attrs['weight_names']]
            out[layer] = {n.split('/')[-1].split(':')[0]: np.asarray(group[layer][n]) for n in names}
    return out


@pytest.mark.parametrize('name', NAMES)
def test_predictions_equal_hgq1_exactly(name):
    model, io, x = _load(name)
    np.testing.assert_array_equal(model.predict(x, batch_size=64, verbose=0), io['y'])
    np.testing.assert_array_equal(to_numpy(model(x, training=False)), io['y'])


@pytest.mark.parametrize('name', NAMES)
def test_weights_equal_the_file(name):
    model, _, _ = _load(name)
    stored = _h5_weights(name)
    for layer in model.layers:
        if not isinstance(layer, HLayerBase):
            continue
        expected = stored[layer.name]
        got = {w.name: w.numpy() for w in layer.weights}
        for var, value in expected.items():
            np.testing.assert_array_equal(got[var], value, err_msg=f'{name}/{layer.name}/{var}')
        # HGQ1 files hold no ranges: they start empty (re-run trace_minmax)
        assert np.all(np.isinf(layer.paq._min.numpy()))
        assert not layer.save_ranges


@pytest.mark.parametrize('name', NAMES)
def test_exact_bops_from_hgq1_ranges_equal_hgq1(name):
    """With the ranges HGQ1 traced, every layer's exact BOPs equal HGQ1's (conv: sum * pf / N_pos)."""
    model, io, _ = _load(name)
    layers = list(iter_hgq_layers(model))
    for layer in layers:
        layer.paq._min.assign(io[f'{layer.name}__min'])
        layer.paq._max.assign(io[f'{layer.name}__max'])
    total = 0.0
    for layer in layers:
        bops = layer.compute_exact_bops
        assert np.float32(bops) == io[f'{layer.name}__bops'], layer.name
        total += float(bops)
    assert total == float(io['bops'])


def test_bn_config_defaults_and_no_readaptation():
    """HGQ1 BN configs omit epsilon/momentum (defaults apply); a restored BN layer keeps its trained kernel
    bitwidths on its first training step (no delayed re-adaptation)."""
    model, _, x = _load('conv2d')
    layer = model.get_layer('conv_bn_1')
    assert isinstance(layer, HBatchNormBase)
    assert (layer.epsilon, layer.momentum, layer.center, layer.scale) == (1e-3, 0.99, True, True)
    assert float(layer._kernel_bits_pending.numpy()) == 0.0
    kernel_bw = layer.kq.fbw.numpy().copy()
    model(x, training=True)
    np.testing.assert_array_equal(layer.kq.fbw.numpy(), kernel_bw)


def test_configs_keep_hgq1_keys():
    model, _, _ = _load('conv1d_parallel')
    with h5py.File(os.path.join(FIXTURES, 'conv1d_parallel.h5'), 'r') as f:
        hgq1 = {l['config']['name']: l['config'] for l in json.loads(f.attrs['model_config'])['config']['layers']}
    for layer in model.layers:
        if isinstance(layer, HLayerBase):
            config = layer.get_config()
            for key in ('kq_conf', 'paq_conf', 'beta'):
                assert key in config
            if 'parallel_factor' in hgq1[layer.name]:
                assert config['parallel_factor'] == hgq1[layer.name]['parallel_factor']
    assert model.get_layer('conv_0').kq.degeneracy == 6.0  # parallel_factor multiplies the kernel degeneracy


@pytest.mark.filterwarnings('ignore:You are saving your model as an HDF5 file:UserWarning')
@pytest.mark.parametrize('fmt', ['keras', 'h5'])
@pytest.mark.parametrize('name', ['conv2d', 'functional_branches'])
def test_loaded_hgq1_model_round_trips(name, fmt, tmp_path):
    model, io, x = _load(name)
    HGQ.trace_minmax(model, x, verbose=False)
    path = str(tmp_path / f'm.{fmt}')
    model.save(path)
    again = keras.models.load_model(path, compile=False)
    np.testing.assert_array_equal(to_numpy(again(x, training=False)), io['y'])
    for a, b in zip(model.layers, again.layers):
        for wa, wb in zip(a.weights, b.weights):
            np.testing.assert_array_equal(wa.numpy(), wb.numpy())
