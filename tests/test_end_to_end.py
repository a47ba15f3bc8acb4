"""Walking skeleton, end to end: train an HGQ model, trace it, convert it to a proxy model and to hls4ml
(with the plugin registered by hls4ml itself, through its entry point), and compare bit for bit."""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from HGQ import FreeBOPs, HDense, HQuantize, ResetMinMax, to_proxy_model, trace_minmax
from HGQ.proxy import FixedPointQuantizer

from .conftest import compare_csim

N_IN, N_OUT = 16, 5


def _data(n, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_IN)).astype(np.float32) * scale
    w = rng.normal(size=(N_IN, N_OUT)).astype(np.float32)
    y = np.tanh(x @ w / 4).astype(np.float32)
    return x, y


def build_model(beta=1e-5):
    return keras.Sequential(
        [
            keras.Input((N_IN,)),
            HQuantize(beta=beta, name='inp_q'),
            HDense(32, activation='relu', beta=beta, name='dense_relu'),
            HDense(N_OUT, beta=beta, name='dense_out'),
        ]
    )


@pytest.fixture(scope='module')
def trained():
    keras.utils.set_random_seed(0)
    x, y = _data(4096, 0)
    model = build_model()
    model.compile(keras.optimizers.Adam(3e-3), 'mse')
    history = model.fit(x, y, epochs=3, batch_size=256, verbose=0, callbacks=[FreeBOPs(), ResetMinMax()])
    bops = trace_minmax(model, x, verbose=False)
    return model, x, history, bops


def test_training_reduces_loss_and_reports_bops(trained):
    _, _, history, bops = trained
    assert history.history['loss'][-1] < history.history['loss'][0]
    assert all(b > 0 for b in history.history['bops'])
    assert bops > 0


def test_every_trainable_variable_gets_a_gradient():
    keras.utils.set_random_seed(1)
    model = build_model(beta=1e-4)
    x, y = _data(256, 1)
    model(x, training=True)  # record ranges once so that the BOPs estimate is finite
    with tf.GradientTape() as tape:
        out = model(x, training=True)
        loss = tf.reduce_mean((out - y) ** 2) + tf.add_n(model.losses)
    grads = tape.gradient(loss, model.trainable_variables)
    names = [v.path for v in model.trainable_variables]
    assert any('kernel_bw' in n for n in names) and any('activation_bw' in n for n in names)
    for v, g in zip(model.trainable_variables, grads):
        assert g is not None, f'{v.path} has no gradient'
        assert np.any(np.asarray(g) != 0), f'{v.path} has an all-zero gradient'


@pytest.mark.parametrize('aggressive', [True, False])
def test_model_equals_proxy_in_range(trained, aggressive):
    model, x, _, _ = trained
    proxy = to_proxy_model(model, aggressive=aggressive)
    assert any(isinstance(layer, FixedPointQuantizer) for layer in proxy.layers)
    np.testing.assert_array_equal(model.predict(x, verbose=0), proxy.predict(x, verbose=0))


def test_proxy_needs_tracing():
    model = build_model()
    model.build((None, N_IN))
    with pytest.raises(ValueError, match='trace_minmax'):
        to_proxy_model(model)


def _test_inputs():
    """1000+ samples: calibration-like data, data 4x wider, and some values far outside the traced range."""
    x1, _ = _data(800, 7)
    x2, _ = _data(200, 8, scale=4.0)
    x3, _ = _data(40, 9, scale=50.0)
    return np.concatenate([x1, x2, x3])


@pytest.mark.parametrize('backend', ['Vivado', 'Vitis'])
@pytest.mark.parametrize('io_type', ['io_parallel', 'io_stream'])
@pytest.mark.parametrize('aggressive', [True, False])
def test_csim_equals_proxy(trained, aggressive, io_type, backend, hls_dir):
    model, _, _, _ = trained
    proxy = to_proxy_model(model, aggressive=aggressive)
    x = _test_inputs()
    p, h, hls_model = compare_csim(proxy, x, io_type, backend, hls_dir)
    classes = {layer.class_name for layer in hls_model.get_layers()}
    assert 'HGQFixedPointQuantizer' in classes, f'the plugin did not handle the proxy: {classes}'
    n_diff = int(np.sum(p != h))
    assert n_diff == 0, f'{n_diff} of {p.size} outputs differ (max {np.max(np.abs(p - h))})'


def test_plugin_registers_through_hls4ml_entry_point():
    code = (
        'import sys, hls4ml\n'
        'from hls4ml.model.layers import layer_map\n'
        "print('hgq_hls4ml' in sys.modules, 'HGQFixedPointQuantizer' in layer_map)\n"
    )
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-2:] == ['True', 'True'], out.stdout + out.stderr


@pytest.mark.parametrize('fmt', ['keras', 'h5'])
def test_save_load_keeps_predictions_and_ranges(trained, tmp_path, fmt):
    model, x, _, _ = trained
    path = tmp_path / f'model.{fmt}'
    model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    for a, b in zip(model.layers, loaded.layers):
        if hasattr(a, 'paq'):
            np.testing.assert_array_equal(np.asarray(a.paq._min), np.asarray(b.paq._min))
            np.testing.assert_array_equal(np.asarray(a.paq._max), np.asarray(b.paq._max))
    # the reloaded model converts without re-tracing and gives the same proxy
    np.testing.assert_array_equal(
        to_proxy_model(model).predict(x, verbose=0), to_proxy_model(loaded).predict(x, verbose=0)
    )


def test_proxy_save_load(trained, tmp_path):
    model, x, _, _ = trained
    proxy = to_proxy_model(model)
    path = tmp_path / 'proxy.keras'
    proxy.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(proxy.predict(x, verbose=0), loaded.predict(x, verbose=0))


def test_unsupported_plain_layer_is_named(tmp_path):
    inp = keras.Input((4, 4, 1))
    h = HQuantize(name='q')(inp)
    h = keras.layers.UnitNormalization(name='unit')(h)  # no hls4ml handler
    model = keras.Model(inp, keras.layers.Flatten()(h))
    trace_minmax(model, np.zeros((4, 4, 4, 1), 'float32'), verbose=False)
    with pytest.raises(ValueError, match="'unit' \\(UnitNormalization\\).*hls4ml cannot convert it"):
        to_proxy_model(model)


def test_average_pool_of_three_is_refused_before_firmware(tmp_path):
    from HGQ.layers import PAveragePooling1D
    from hgq_hls4ml.testing import convert

    inp = keras.Input((9, 2))
    h = HQuantize(name='q')(inp)
    h = PAveragePooling1D(3, name='avg3')(h)
    model = keras.Model(inp, HQuantize(name='q2')(h))
    trace_minmax(model, np.random.default_rng(0).normal(size=(64, 9, 2)).astype('float32'), verbose=False)
    proxy = to_proxy_model(model)
    with pytest.raises(NotImplementedError, match='not a power of two'):
        convert(proxy, output_dir=str(tmp_path / 'prj'))
    assert not (tmp_path / 'prj' / 'firmware').exists()
