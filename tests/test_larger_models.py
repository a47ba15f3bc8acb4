"""Two larger models, trained briefly, bit-exact through hls4ml on both io types:
a CNN (HConv2D -> PMaxPool2D -> HConv1D -> PFlatten -> HDense -> HActivation) and a multi-branch functional
model (conv branches with parallel_factor, HAdd, PConcatenate, PDropout)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from HGQ import FreeBOPs, ResetMinMax, to_proxy_model, trace_minmax
from HGQ.layers import (
    HActivation,
    HAdd,
    HConv1D,
    HConv2D,
    HDense,
    HQuantize,
    PConcatenate,
    PDropout,
    PFlatten,
    PMaxPool1D,
    PMaxPool2D,
    PReshape,
)

from .conftest import compare_csim


def cnn(beta=1e-6):
    inp = keras.Input((10, 10, 2), name='image')
    h = HQuantize(beta=beta, name='inp_q')(inp)
    h = HConv2D(4, (3, 3), activation='relu', beta=beta, name='conv2d')(h)
    h = PMaxPool2D((2, 2), name='pool2d')(h)
    h = PReshape((16, 4), name='to_1d')(h)
    h = HConv1D(4, 3, padding='same', activation='relu', beta=beta, name='conv1d')(h)
    h = PMaxPool1D(2, name='pool1d')(h)
    h = PFlatten(name='flatten')(h)
    h = HDense(8, beta=beta, name='dense')(h)
    out = HActivation('sigmoid', beta=beta, name='sigmoid')(h)
    return keras.Model(inp, out, name='cnn')


def branches(beta=1e-6):
    a_in = keras.Input((8, 8, 1), name='a')
    b_in = keras.Input((16, 2), name='b')
    a = HQuantize(beta=beta, name='a_q')(a_in)
    a = HConv2D(3, (3, 3), activation='relu', parallel_factor=9, beta=beta, name='a_conv')(a)
    a = PMaxPool2D((2, 2), name='a_pool')(a)
    a = PFlatten(name='a_flat')(a)
    b = HQuantize(beta=beta, name='b_q')(b_in)
    b = HConv1D(3, 3, strides=2, parallel_factor=7, beta=beta, name='b_conv')(b)
    b = PFlatten(name='b_flat')(b)
    b = PDropout(0.1, name='b_drop')(b)
    a1 = HDense(12, activation='relu', beta=beta, name='a_dense')(a)
    b1 = HDense(12, beta=beta, name='b_dense')(b)
    s = HAdd(beta=beta, name='add')([a1, b1])
    c = PConcatenate(name='cat')([s, a1, b1])
    out = HDense(3, beta=beta, name='head')(c)
    return keras.Model([a_in, b_in], out, name='branches')


def _fit(model, xs, y):
    model.compile(keras.optimizers.Adam(3e-3), 'mse')
    model.fit(xs, y, epochs=2, batch_size=64, verbose=0, callbacks=[FreeBOPs(), ResetMinMax()])


@pytest.fixture(scope='module')
def trained_cnn():
    keras.utils.set_random_seed(4)
    rng = np.random.default_rng(4)
    x = rng.uniform(-2, 2, (1200, 10, 10, 2)).astype('float32')
    model = cnn()
    _fit(model, x, rng.uniform(0, 1, (1200, 8)).astype('float32'))
    trace_minmax(model, x, verbose=False, cover_factor=1.0)
    return model, x


@pytest.fixture(scope='module')
def trained_branches():
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    xs = [rng.normal(size=(1200, 8, 8, 1)).astype('float32'), rng.normal(size=(1200, 16, 2)).astype('float32')]
    model = branches()
    _fit(model, xs, rng.normal(size=(1200, 3)).astype('float32'))
    trace_minmax(model, xs, verbose=False)
    return model, xs


@pytest.mark.parametrize('io_type,backend', [('io_parallel', 'Vivado'), ('io_stream', 'Vitis')])
def test_cnn_bit_exact(trained_cnn, io_type, backend, hls_dir):
    model, x = trained_cnn
    proxy = to_proxy_model(model, unary_lut_max_table_size=4096)
    np.testing.assert_array_equal(model.predict(x, verbose=0), proxy.predict(x, verbose=0))
    x_test = np.concatenate([x[:1000], x[:200] * 3])  # the second part overflows the traced ranges
    p, h, _ = compare_csim(proxy, x_test, io_type, backend, hls_dir)
    assert np.sum(p != h) == 0, f'{np.sum(p != h)} of {p.size} outputs differ'


@pytest.mark.parametrize('io_type,backend', [('io_parallel', 'Vitis'), ('io_stream', 'Vivado')])
def test_branches_bit_exact(trained_branches, io_type, backend, hls_dir):
    model, xs = trained_branches
    proxy = to_proxy_model(model, aggressive=False)
    np.testing.assert_array_equal(model.predict(xs, verbose=0), proxy.predict(xs, verbose=0))
    assert not any('drop' in layer.name for layer in proxy.layers)
    x_test = [np.concatenate([x[:1000], x[:200] * 3]) for x in xs]
    p, h, hls_model = compare_csim(proxy, x_test, io_type, backend, hls_dir)
    assert np.sum(p != h) == 0, f'{np.sum(p != h)} of {p.size} outputs differ'
    pf = {layer.name: layer.get_attr('parallelization_factor') for layer in hls_model.get_layers()}
    assert pf.get('a_conv') == 9 and pf.get('b_conv') == 7, pf
