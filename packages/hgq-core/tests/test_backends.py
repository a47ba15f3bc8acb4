"""HGQ on every Keras backend (KERAS_BACKEND = tensorflow, jax or torch; each tox environment tests one).

- the MLP of issue 13 trains with FreeBOPs and ResetMinMax (on PyTorch the loss was NaN from the first step: torch's
  ``Module.__call__`` ran HGQ's ``forward`` directly, without ``call``, so no range was recorded and the BOPs were
  infinite);
- HGQ1-style layers that override ``forward`` and direct ``layer.forward`` calls;
- one training-mode step, inference and trace_minmax give TensorFlow's values (a subprocess on TensorFlow loads
  the same file);
- BatchNorm-fused layers on JAX adapt their kernel bitwidths at build and at load;
- without TensorFlow installed, JAX and PyTorch train, trace, save, load and convert to a proxy model;
- end to end: train, trace, proxy model, hls4ml C simulation == proxy, io_parallel and io_stream.
"""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from backend_utils import BACKEND, to_numpy
from backend_worker import MODELS, data, hgq_state

import HGQ
from HGQ import FreeBOPs, HDense, HDenseBatchNorm, HQuantize, ResetMinMax, to_proxy_model, trace_minmax
from HGQ.bops.bops import iter_hgq_layers

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'backend_worker.py')


def _run_worker(args, backend, timeout=900):
    env = dict(os.environ, KERAS_BACKEND=backend)
    proc = subprocess.run([sys.executable, WORKER, *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# ------------------------------------------------------------------------------------------------ training
def test_issue_mlp_trains_with_finite_loss_and_recorded_ranges():
    x = np.random.default_rng(0).normal(size=(512, 16)).astype('float32')
    y = np.random.default_rng(1).normal(size=(512, 5)).astype('float32')
    model = keras.Sequential(
        [keras.Input((16,)), HQuantize(beta=1e-5), HDense(64, activation='relu', beta=1e-5), HDense(5, beta=1e-5)]
    )
    model.compile('adam', 'mse')

    class Ranges(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.state = hgq_state(self.model)

    ranges = Ranges()
    history = model.fit(x, y, epochs=2, batch_size=64, verbose=0, callbacks=[FreeBOPs(), ranges, ResetMinMax()])
    assert np.all(np.isfinite(history.history['loss']))
    assert np.all(np.isfinite(history.history['bops'])) and min(history.history['bops']) > 0
    for v in model.weights:
        if 'activation_m' not in v.path:
            assert np.all(np.isfinite(to_numpy(v))), v.path
    for i in range(3):  # recorded during the epoch: finite ranges, min <= max
        lo, hi = ranges.state[f'layer{i}/min'], ranges.state[f'layer{i}/max']
        assert np.all(np.isfinite(lo)) and np.all(lo <= hi)
    # ResetMinMax at the end of the epoch
    assert np.all(to_numpy(model.layers[0].paq._min) == np.inf)
    assert trace_minmax(model, x, verbose=False) > 0


def test_training_call_records_ranges_and_adds_the_bops_loss():
    model = MODELS['mlp']()
    x = data('mlp', n=64)[0]
    model(x, training=True)
    state = hgq_state(model)
    for i in range(3):
        assert np.all(np.isfinite(state[f'layer{i}/min'])) and np.all(state[f'layer{i}/min'] <= state[f'layer{i}/max'])
    xq = to_numpy(model.layers[0](x, training=False))
    np.testing.assert_array_equal(state['layer0/min'], xq.min(axis=0, keepdims=True))
    np.testing.assert_array_equal(state['layer0/max'], xq.max(axis=0, keepdims=True))
    for layer in model.layers[1:]:  # the BOPs loss beta * BOPs, then the two bitwidth regularizers (MonoL1)
        losses = [float(to_numpy(v)) for v in layer.losses]
        assert len(losses) == 3 and all(np.isfinite(v) and v > 0 for v in losses)
        np.testing.assert_allclose(losses[0], 1e-5 * float(to_numpy(layer.bops)), rtol=1e-6)


@keras.saving.register_keras_serializable(package='test_backends')
class DoubledQuantize(HQuantize):
    """An HGQ1-style custom layer: overrides ``forward`` and calls the parent's."""

    def forward(self, x, training=None, record_minmax=None):
        return super().forward(x * 2.0, training=training, record_minmax=record_minmax)


def test_hgq1_style_forward_override_and_direct_forward_calls():
    layer = DoubledQuantize(paq_conf={'init_bw': 2, 'rnd_strategy': 'standard_round'})
    model = keras.Sequential([keras.Input((3,)), layer])
    x = np.array([[0.3, -0.7, 1.1]], 'float32')
    expected = np.floor(x * 2 * 4 + 0.5) / 4
    np.testing.assert_array_equal(to_numpy(model(x, training=True)), expected)
    np.testing.assert_array_equal(to_numpy(layer.paq._max), expected)  # recorded through call
    # the HGQ1 API: layer.forward(x, training, record_minmax) computes the same
    layer.reset_minmax()
    np.testing.assert_array_equal(to_numpy(layer.forward(x, training=False, record_minmax=True)), expected)
    np.testing.assert_array_equal(to_numpy(layer.paq._min), expected)


# ------------------------------------------------------------------------------ same numbers as TensorFlow
def _randomized_model(kind, rng):
    keras.utils.set_random_seed(3)
    if kind == 'bn_mlp':
        model = keras.Sequential(
            [
                keras.Input((16,)),
                HQuantize(beta=1e-4),
                HDenseBatchNorm(16, activation='relu', beta=1e-4, do_adapt_kernel_bits=False),
                HDense(5, beta=1e-4),
            ]
        )
    else:
        model = MODELS[kind](beta=1e-4)
    for layer in iter_hgq_layers(model):
        for v in layer.trainable_variables:
            if v.path.endswith('_bw'):
                v.assign(rng.uniform(1, 5, v.shape).astype('float32'))
    return model


@pytest.mark.skipif(BACKEND == 'tensorflow', reason='compares the other backends with TensorFlow')
@pytest.mark.skipif(not _has('tensorflow'), reason='needs TensorFlow for the reference')
@pytest.mark.parametrize('kind', ['mlp', 'cnn', 'bn_mlp'])
def test_step_inference_and_trace_equal_tensorflow(kind, tmp_path):
    from backend_worker import step

    rng = np.random.default_rng(7)
    model = _randomized_model(kind, rng)
    x = np.round(data(kind, n=64)[0] * 16) / 16
    w = rng.normal(size=(1, 5)).astype('float32')
    model.save(tmp_path / 'm.keras')
    np.savez(tmp_path / 'd.npz', x=x, w=w)
    _run_worker(['step', str(tmp_path / 'm.keras'), str(tmp_path / 'd.npz'), str(tmp_path / 'tf.npz')], 'tensorflow')
    ref = dict(np.load(tmp_path / 'tf.npz'))
    here = step(str(tmp_path / 'm.keras'), str(tmp_path / 'd.npz'))
    assert here.keys() == ref.keys()
    exact = [k for k in ref if k.startswith(('after_step/', 'traced/')) or k in ('y_train', 'y_infer', 'exact_bops')]
    if kind == 'bn_mlp':  # batch statistics: float rounding of the variance moves values across rounding edges
        for k in exact:
            np.testing.assert_allclose(here[k], ref[k], rtol=1e-5, atol=2**-8, err_msg=k)
    else:
        assert not [k for k in exact if not np.array_equal(here[k], ref[k])]
    np.testing.assert_allclose(here['loss'], ref['loss'], rtol=1e-5)
    grads = [k for k in ref if k.startswith('grad/')]
    assert len(grads) == len(model.trainable_variables)
    for k in grads:
        assert np.any(ref[k] != 0), k
        np.testing.assert_allclose(here[k], ref[k], rtol=1e-4, atol=1e-6, err_msg=k)


# --------------------------------------------------------------------------------- BatchNorm kernel bits
@pytest.mark.skipif(BACKEND != 'jax', reason='JAX only (the other backends adapt on the first training call)')
def test_jax_batchnorm_kernel_bits_adapted_at_build(tmp_path):
    """JAX's stateless training step drops assignments to trainable variables, so the adaptation happens when
    the layer gets its variables: at build, to the initial kernel, and at load when the file says it is pending."""
    x = np.random.default_rng(0).uniform(-2, 2, (64, 5)).astype('float32')
    inp = keras.Input((5,))
    layer = HDenseBatchNorm(4, activation='relu', kq_conf={'init_bw': 3})
    model = keras.Model(inp, layer(HQuantize()(inp)))
    kernel = to_numpy(layer.kernel)
    expected = to_numpy(layer.kq.adapted_bw(kernel, np.full(layer.kq.fbw.shape, 3.0, 'float32')))
    np.testing.assert_array_equal(to_numpy(layer.kq.fbw), expected)
    assert np.unique(expected).size > 1
    assert float(to_numpy(layer._kernel_bits_pending)) == 0.0
    model(x, training=True)  # no second adaptation
    np.testing.assert_array_equal(to_numpy(layer.kq.fbw), expected)

    # a file written before the first training call on another backend: adapted at load, to the fused kernel
    layer.kq.fbw.assign(np.full(layer.kq.fbw.shape, 3.0, 'float32'))
    layer._kernel_bits_pending.assign(1.0)
    layer.moving_variance.assign(np.array([0.25, 1.0, 4.0, 9.0], 'float32'))
    model.save(tmp_path / 'pending.keras')
    loaded = keras.models.load_model(tmp_path / 'pending.keras', compile=False).layers[-1]
    fused = to_numpy(loaded.fused_kernel)
    np.testing.assert_allclose(to_numpy(loaded.kq.fbw), np.clip(3.0 - np.log2(np.abs(fused)), -23, 23), atol=1e-5)
    assert float(to_numpy(loaded._kernel_bits_pending)) == 0.0


def test_batchnorm_kernel_bits_adapted_once_in_fit():
    """Kernel bitwidths of a BatchNorm-fused layer trained by fit: adapted (not init_bw everywhere), on every
    backend."""
    x = np.random.default_rng(0).uniform(-2, 2, (128, 5)).astype('float32')
    y = x[:, :2]
    model = keras.Sequential(
        [keras.Input((5,)), HQuantize(), HDenseBatchNorm(4, activation='relu', kq_conf={'init_bw': 3}), HDense(2)]
    )
    model.compile(keras.optimizers.SGD(0.0), 'mse')
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    fbw = to_numpy(model.layers[1].kq.fbw)
    assert np.unique(fbw).size > 1 and not np.all(fbw == 3.0)
    assert float(to_numpy(model.layers[1]._kernel_bits_pending)) == 0.0


# ------------------------------------------------------------------------------------ without TensorFlow
@pytest.mark.skipif(BACKEND == 'tensorflow', reason='the other backends must not need TensorFlow')
def test_runs_without_tensorflow(tmp_path):
    """Training, trace_minmax, .keras/.h5 saving and loading, HGQ1 files and the proxy model, with any import of
    TensorFlow failing."""
    script = f"""
import sys
sys.modules['tensorflow'] = None  # any import of TensorFlow fails
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
import glob, os, warnings
warnings.simplefilter('ignore')
import keras, numpy as np, HGQ
from backend_worker import MODELS, data
from HGQ import FreeBOPs, ResetMinMax, to_proxy_model, trace_minmax
model = MODELS['bn_mlp']()
x, y = data('bn_mlp')
model.compile('adam', 'mse')
model.fit(x, y, epochs=1, batch_size=64, verbose=0, callbacks=[FreeBOPs(), ResetMinMax()])
assert trace_minmax(model, x, verbose=False) > 0
ref = keras.ops.convert_to_numpy(model(x))
for name in ('m.keras', 'm.h5'):
    path = os.path.join({str(tmp_path)!r}, name)
    model.save(path)
    assert np.array_equal(keras.ops.convert_to_numpy(keras.models.load_model(path, compile=False)(x)), ref), name
assert np.array_equal(to_proxy_model(model).predict(x, verbose=0), model.predict(x, verbose=0))
fixtures = os.path.join({os.path.dirname(os.path.abspath(__file__))!r}, 'fixtures')
files = glob.glob(os.path.join(fixtures, 'hgq1', '*.h5')) + glob.glob(os.path.join(fixtures, 'hgq1_files', '*.keras'))
files += glob.glob(os.path.join(fixtures, 'hgq1_files', '*.h5'))
for path in files:
    keras.models.load_model(path, compile=False)
assert len(files) >= 10, files
print('no tensorflow:', 'tensorflow' not in sys.modules or sys.modules['tensorflow'] is None)
"""
    proc = subprocess.run(
        [sys.executable, '-c', script], env=dict(os.environ, KERAS_BACKEND=BACKEND), capture_output=True, text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'no tensorflow: True' in proc.stdout


# ------------------------------------------------------------------------------------------- end to end
HLS_CONFIG = {'Model': {'Precision': 'fixed<1,0>', 'ReuseFactor': 1}}


@pytest.fixture(scope='module')
def trained_cnn():
    keras.utils.set_random_seed(0)
    x, y = data('cnn', n=512)
    model = MODELS['cnn'](beta=1e-5)
    model.compile(keras.optimizers.Adam(3e-3), 'mse')
    model.fit(x, y, epochs=2, batch_size=64, verbose=0, callbacks=[FreeBOPs(), ResetMinMax()])
    assert trace_minmax(model, x, verbose=False) > 0
    return model, x


@pytest.mark.skipif(not (_has('hls4ml') and _has('hgq_hls4ml')), reason='needs hls4ml and hgq-hls4ml-plugin')
@pytest.mark.parametrize('io_type', ['io_parallel', 'io_stream'])
def test_end_to_end_csim_equals_proxy(trained_cnn, io_type, tmp_path):
    import hls4ml

    model, x = trained_cnn
    proxy = to_proxy_model(model)
    p = proxy.predict(x, verbose=0, batch_size=len(x))
    np.testing.assert_array_equal(p, model.predict(x, verbose=0, batch_size=len(x)))
    hls_model = hls4ml.converters.convert_from_keras_model(
        proxy, hls_config=HLS_CONFIG, io_type=io_type, backend='Vivado', output_dir=str(tmp_path / 'prj')
    )
    hls_model.compile()
    h = np.asarray(hls_model.predict(x)).reshape(p.shape)
    assert np.any(p != 0)
    np.testing.assert_array_equal(h, p)


def test_version_and_backend():
    assert HGQ.__version__
    assert keras.backend.backend() == os.environ.get('KERAS_BACKEND', 'tensorflow')
