"""QKeras model == proxy model, bit for bit, on inputs on the input quantizer's grid and in range (no hls4ml)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from bridge_helpers import built, proxy_layer_classes

from hgq_qkeras import to_proxy_model
from hgq_qkeras.exactness import count_equal, proxy_outputs, qkeras_outputs
from hgq_qkeras.examples import available_examples

EXAMPLES = available_examples()
PROXY_CLASSES = {'InputLayer', 'FixedPointQuantizer', 'UnaryLUT', 'Dense', 'Conv1D', 'Conv2D', 'DepthwiseConv1D',
                 'DepthwiseConv2D', 'BatchNormalization',
                 'ExactBatchNormalization', 'AveragePooling2D', 'MaxPooling1D', 'MaxPooling2D', 'Flatten',
                 'Reshape', 'Concatenate', 'Add', 'Activation'}


@pytest.mark.parametrize('example', EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_proxy_equals_qkeras(example):
    qmodel = built(example)
    proxy = to_proxy_model(qmodel)
    x = example.inputs(qmodel, 512)
    ref = qkeras_outputs(qmodel, x)
    got = proxy_outputs(proxy, x)
    assert np.std(ref) > 0.1, 'degenerate example: outputs are (nearly) constant'
    count = count_equal(ref, got)
    assert count.exact, f'{example.name}: {count}'


@pytest.mark.parametrize('example', EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_proxy_structure(example):
    """Plain Keras layers, quantizers and tables only; every input is followed by a FixedPointQuantizer."""
    proxy = to_proxy_model(built(example))
    assert set(proxy_layer_classes(proxy)) <= PROXY_CLASSES
    inp = proxy.layers[0]
    nxt = [layer for layer in proxy.layers if any(
        n.input_tensors and n.input_tensors[0] is inp.output for n in layer._inbound_nodes)]
    assert nxt and all(type(layer).__name__ == 'FixedPointQuantizer' for layer in nxt)
    for layer in proxy.layers:
        if type(layer).__name__ == 'Activation':
            assert layer.get_config()['activation'] == 'relu'


def test_proxy_saves_and_loads(tmp_path):
    example = next(e for e in EXAMPLES if e.name == 'tanh_sigmoid')
    qmodel = built(example)
    proxy = to_proxy_model(qmodel)
    path = tmp_path / 'proxy.keras'
    proxy.save(path)
    loaded = keras.models.load_model(path)
    x = example.inputs(qmodel, 128)
    np.testing.assert_array_equal(proxy_outputs(loaded, x), proxy_outputs(proxy, x))


def test_sequential_and_nested_models_are_flattened():
    from hgq_qkeras.environment import import_qkeras, keras_of_qkeras

    q, k = import_qkeras(), keras_of_qkeras()
    inner = k.Sequential([
        k.layers.InputLayer((6,)),
        q.QDense(4, kernel_quantizer=q.quantized_bits(4, 0, alpha=1), bias_quantizer=q.quantized_bits(4, 0, alpha=1),
                 name='inner_dense'),
        q.QActivation(q.quantized_relu(4, 2), name='inner_relu'),
    ], name='inner')
    x = k.Input((6,), name='x')
    h = q.QActivation(q.quantized_bits(6, 2), name='q_in')(x)
    outer = k.Model(x, inner(h), name='outer')
    proxy = to_proxy_model(outer)
    assert [type(layer).__name__ for layer in proxy.layers] == [
        'InputLayer', 'FixedPointQuantizer', 'Dense', 'FixedPointQuantizer']
    xs = np.random.default_rng(0).integers(-32, 32, size=(64, 6)).astype(np.float32) / 8
    assert count_equal(qkeras_outputs(outer, xs), proxy_outputs(proxy, xs)).exact


def test_qkeras_model_is_not_modified():
    example = next(e for e in EXAMPLES if e.name == 'conv2d_batchnorm_folded')
    qmodel = example.build()
    before = [w.copy() for w in qmodel.get_weights()]
    to_proxy_model(qmodel)
    after = qmodel.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


GRID_LUT_QUANTIZERS = {
    'relu_negative_slope': lambda q: q.quantized_relu(6, 2, negative_slope=0.25),
    'relu_use_sigmoid': lambda q: q.quantized_relu(6, 2, use_sigmoid=1),
    'relu_upper_bound': lambda q: q.quantized_relu(6, 2, relu_upper_bound=1.5, is_quantized_clip=False),
    'real_tanh': lambda q: q.quantized_tanh(6, use_real_tanh=True),
    'real_sigmoid': lambda q: q.quantized_sigmoid(6, use_real_sigmoid=True),
    'ternary_default_threshold': lambda q: q.ternary(),
    'bits_alpha_po2': lambda q: q.quantized_bits(5, 1, alpha=0.5),
    'po2': lambda q: q.quantized_po2(4, 2),
    'hswish': lambda q: q.quantized_hswish(6, 2),
    'ulaw': lambda q: q.quantized_ulaw(6, 0),
}


@pytest.mark.parametrize('name', sorted(GRID_LUT_QUANTIZERS))
def test_lookup_tables_over_a_quantized_input(name):
    """Quantizers that are not fixed-point casts become tables over the previous quantizer's grid."""
    from hgq_qkeras.environment import import_qkeras, keras_of_qkeras
    from hgq_qkeras.numerics import FixedFormat

    q, k = import_qkeras(), keras_of_qkeras()
    x = k.Input((5,), name='x')
    h = q.QActivation(q.quantized_bits(7, 2), name='q_in')(x)
    h = q.QActivation(GRID_LUT_QUANTIZERS[name](q), name='act')(h)
    qmodel = k.Model(x, h)
    proxy = to_proxy_model(qmodel)
    assert 'UnaryLUT' in proxy_layer_classes(proxy)
    values = FixedFormat(1, 7, 3).values()
    xs = np.resize(values, (len(values) // 5 + 1) * 5).reshape(-1, 5).astype(np.float32)
    count = count_equal(qkeras_outputs(qmodel, xs), proxy_outputs(proxy, xs))
    assert count.exact, f'{name}: {count}'
