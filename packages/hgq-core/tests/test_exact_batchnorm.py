"""HGQ.proxy.ExactBatchNormalization: x * scale + offset with correctly rounded operations, on every path."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from HGQ.proxy import ExactBatchNormalization

CHANNELS = 16  # eight or more: TensorFlow's vectorized float32 rsqrt, approximate on AVX CPUs


def _model(dtype: str, weights, shape=(CHANNELS,)):
    layer = ExactBatchNormalization(epsilon=0.0, dtype=dtype, name='bn')
    inp = keras.Input(shape)
    model = keras.Model(inp, layer(inp))
    layer.set_weights([np.asarray(w, dtype) for w in weights])
    return model


def _outputs(model, x) -> dict[str, np.ndarray]:
    outs = {'eager': keras.ops.convert_to_numpy(model(x)), 'predict': model.predict(x, verbose=0)}
    if keras.backend.backend() != 'torch':  # torch's jit_compile goes through the deprecated torch.jit
        model.compile(jit_compile=True)
        outs['jit'] = model.predict(x, verbose=0)
    return outs


@pytest.mark.parametrize('dtype', ['float32', 'float64'])
@pytest.mark.parametrize('statistics', ['unit', 'powers_of_four'])
def test_equals_the_exact_affine_map(dtype, statistics):
    if dtype == 'float64' and keras.backend.backend() == 'jax':
        import jax

        if not jax.config.jax_enable_x64:
            pytest.skip('JAX without jax_enable_x64 has no float64')
    rng = np.random.default_rng(0)
    gamma = rng.choice([0.25, 0.5, 1.0, 2.0, 4.0], CHANNELS)
    beta = rng.integers(-64, 64, CHANNELS) / 16
    if statistics == 'unit':
        mean, var = np.zeros(CHANNELS), np.ones(CHANNELS)
    else:
        mean, var = rng.integers(-8, 8, CHANNELS) / 8, rng.choice([0.25, 1.0, 4.0, 16.0], CHANNELS)
    x = (rng.integers(-512, 512, (1024, CHANNELS)) / 64).astype(np.float32)
    expected = (x.astype(np.float64) - mean) * (gamma / np.sqrt(var)) + beta  # exact: few significant bits
    for path, got in _outputs(_model(dtype, [gamma, beta, mean, var]), x).items():
        np.testing.assert_array_equal(got, expected.astype(got.dtype), err_msg=path)


def test_channels_last_on_images():
    rng = np.random.default_rng(1)
    gamma, beta = rng.choice([0.5, 2.0], CHANNELS), rng.integers(-8, 8, CHANNELS) / 4
    model = _model('float32', [gamma, beta, np.zeros(CHANNELS), np.ones(CHANNELS)], shape=(3, 3, CHANNELS))
    x = (rng.integers(-64, 64, (32, 3, 3, CHANNELS)) / 8).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), x * gamma + beta)


def test_saves_and_loads(tmp_path):
    rng = np.random.default_rng(2)
    weights = [rng.choice([0.5, 2.0], CHANNELS), rng.normal(size=CHANNELS), np.zeros(CHANNELS), np.ones(CHANNELS)]
    model = _model('float32', weights)
    path = tmp_path / 'proxy.keras'
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.get_layer('bn')) is ExactBatchNormalization
    x = rng.normal(size=(64, CHANNELS)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
