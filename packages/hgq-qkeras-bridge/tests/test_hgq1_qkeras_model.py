"""HGQ1's own QKeras conversion test model (calad0i/HGQ ``test/test_syn_qkeras.py``), written as its users write
QKeras: a QConv2D with a quantized activation followed by a QActivation, i.e. two per-tensor quantizers back to
back, which once lost the second one in the firmware (106,395 of 140,000 outputs right).

QKeras == proxy, proxy == C simulation (default precision fixed<1,0>) on Vivado io_parallel, Vitis io_stream and
Quartus io_parallel, with HGQ1's data (normal, sigma 8, per-feature scale: many inputs saturate).
"""

from __future__ import annotations

import numpy as np
import pytest

from hgq_qkeras import to_proxy_model
from hgq_qkeras.environment import import_qkeras, keras_of_qkeras
from hgq_qkeras.exactness import count_equal, csim_outputs, proxy_outputs, qkeras_outputs

pytest.importorskip('hgq_hls4ml')


def hgq1_test_model():
    qkeras, keras = import_qkeras(), keras_of_qkeras()
    quantized_bits = qkeras.quantizers.quantized_bits

    def dense(n):
        return qkeras.QDense(n, kernel_quantizer='quantized_bits(8, 3, alpha=1.)',
                             activation='quantized_bits(5, 3, alpha=1.)',
                             bias_quantizer='quantized_bits(8, 3, alpha=1)')

    def relu(x):
        return keras.layers.Activation('relu')(x)

    shared = dense(10)
    inp = keras.layers.Input((10,))
    h = qkeras.QActivation(quantized_bits(8, 4, alpha=1.))(inp)
    h = shared(h)
    h = relu(shared(h))
    h = shared(h)
    h = relu(dense(20)(h))
    branch = dense(20)(h)
    h = keras.layers.Reshape((2, 5, 2))(h)
    h = qkeras.QConv2D(2, 2, kernel_quantizer=quantized_bits(8, 3, alpha=1.),
                       activation=quantized_bits(6, 1, alpha=1., symmetric=True),
                       bias_quantizer=quantized_bits(8, 3, alpha=1))(h)
    h = qkeras.QActivation('quantized_relu(5, 3)')(h)
    h = keras.layers.Flatten()(h)
    return keras.models.Model(inp, keras.layers.Concatenate()([h, branch]))


def hgq1_data(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 8, (n, 10)) * rng.uniform(0, 1, (1, 10))).astype(np.float32)


@pytest.fixture(scope='module')
def converted():
    keras = keras_of_qkeras()
    keras.utils.set_random_seed(42)
    qmodel = hgq1_test_model()
    x = hgq1_data(2000, 42)
    return qmodel, to_proxy_model(qmodel), x


def test_qkeras_equals_proxy(converted):
    qmodel, proxy, x = converted
    rep = count_equal(qkeras_outputs(qmodel, x), proxy_outputs(proxy, x))
    assert rep.exact, rep


@pytest.mark.parametrize('backend,io_type', [('Vivado', 'io_parallel'), ('Vitis', 'io_stream'),
                                             ('Quartus', 'io_parallel')])
def test_proxy_equals_csim(converted, backend, io_type, tmp_path):
    _, proxy, x = converted
    rep = count_equal(proxy_outputs(proxy, x), csim_outputs(proxy, x, backend, io_type, str(tmp_path / 'prj')))
    assert rep.exact, rep
