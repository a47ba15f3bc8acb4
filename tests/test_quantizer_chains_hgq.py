"""HGQ models with quantizers back to back and layer-wise (all-equal) bitwidths, through the proxy to the C
simulation: H-model == proxy on the calibration data, proxy == C simulation on in-range and overflowing inputs.

Layer-wise bits make a quantizer homogeneous, which the plugin fuses into its producer; a second quantizer right
after the first was once fused into it and silently dropped (500 of 500 samples wrong).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from HGQ import HDense, HQuantize, PReshape, to_proxy_model, trace_minmax
from HGQ.layers import HActivation

from .conftest import compare_csim

COMBOS = [('io_parallel', 'Vivado'), ('io_stream', 'Vitis'), ('io_parallel', 'Catapult'), ('io_stream', 'Quartus')]


def _set_layerwise(model: keras.Model, bits: dict[str, float]) -> None:
    """Every bitwidth variable of layer ``name`` set to ``bits[name]`` (one value for the whole layer)."""
    for v in model.weights:
        layer, name = v.path.split('/')[0], v.path.split('/')[-1]
        if name in ('kernel_bw', 'activation_bw') and layer in bits:
            v.assign(np.full(v.shape, bits[layer], 'float32'))


def _chain(between: str | None, rounding: str) -> keras.Model:
    conf = {'paq_conf': {'rnd_strategy': rounding, 'skip_dims': (0,)}}
    inp = keras.Input((8,), name='x')
    h = HQuantize(name='q1', **conf)(inp)
    h = HDense(8, name='d1', **conf)(h)
    h = HQuantize(name='q2', **conf)(h)
    if between == 'relu':
        h = HActivation('relu', name='relu', **conf)(h)
    elif between == 'reshape':
        h = PReshape((4, 2), name='reshape')(h)
        h = PReshape((8,), name='flat')(h)
    h = HQuantize(name='q3', **conf)(h)
    return keras.Model(inp, HDense(4, name='d2', **conf)(h))


def _check(model, x_cal, io_type, backend, hls_dir, aggressive=True):
    trace_minmax(model, x_cal, verbose=False)
    proxy = to_proxy_model(model, aggressive=aggressive)
    h_model, h_proxy = model.predict(x_cal, verbose=0), proxy.predict(x_cal, verbose=0)
    assert np.sum(h_model != h_proxy) == 0, 'HGQ model and proxy differ on in-range data'
    x = np.concatenate([x_cal, 4 * x_cal])
    p, h, _ = compare_csim(proxy, x, io_type, backend, hls_dir)
    assert np.sum(p != h) == 0, f'C simulation differs from the proxy on {np.sum(p != h)} of {p.size} outputs'


@pytest.mark.parametrize('io_type,backend', COMBOS)
def test_two_layerwise_input_quantizers(io_type, backend, hls_dir):
    """The reported model: HQuantize -> HQuantize -> HDense, the second quantizer coarser."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((8,), name='x')
    h = HQuantize(name='q1')(inp)
    h = HQuantize(name='q2')(h)
    model = keras.Model(inp, HDense(4, name='d')(h))
    _set_layerwise(model, {'q1': 6.0, 'q2': 2.0})
    x = np.random.default_rng(0).normal(0, 2, (500, 8)).astype('float32')
    _check(model, x, io_type, backend, hls_dir)


@pytest.mark.parametrize('between,rounding,aggressive', [
    (None, 'auto', True), ('relu', 'standard_round', False), ('reshape', 'floor', True), ('relu', 'auto', True),
])
@pytest.mark.parametrize('io_type,backend', COMBOS[:2])
def test_layerwise_chain_after_a_layer(between, rounding, aggressive, io_type, backend, hls_dir):
    keras.utils.set_random_seed(1)
    model = _chain(between, rounding)
    rng = np.random.default_rng(1)
    _set_layerwise(model, {name: float(rng.uniform(1, 7)) for name in ('q1', 'd1', 'q2', 'relu', 'q3', 'd2')})
    x = np.random.default_rng(2).normal(0, 2, (400, 8)).astype('float32')
    _check(model, x, io_type, backend, hls_dir, aggressive)
