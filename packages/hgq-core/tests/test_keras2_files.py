"""Keras 2 files written by the real HGQ1: compiled ``.h5`` models, ``.keras`` models and HGQ1's own proxy models
load with plain ``keras.models.load_model`` after ``import HGQ`` and compute what HGQ1 computed.

Fixtures: ``fixtures/hgq1`` (``make_hgq1_fixtures.py``) and ``fixtures/hgq1_files`` (``make_hgq1_file_fixtures.py``).
"""

import glob
import os

import keras
import numpy as np
import pytest
from conftest import FIXTURES

import HGQ  # noqa: F401  (registers the layers and the Keras 2 file support)
from HGQ.proxy import FixedPointQuantizer, UnaryLUT
from HGQ.utils.keras2_files import canonical_loss

FILES = os.path.join(os.path.dirname(FIXTURES), 'hgq1_files')
H5_MODELS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(FIXTURES, '*.h5')))
FILE_MODELS = ['conv2d', 'dense_mlp', 'functional_branches']

pytestmark = [
    pytest.mark.filterwarnings('ignore:Do not pass an `input_shape`:UserWarning'),
    # Keras 2 optimizers keep one variable less than Keras 3's; Keras skips restoring the optimizer state
    pytest.mark.filterwarnings('ignore:Skipping variable loading for optimizer:UserWarning'),
]


def _feed(io, model):
    xs = [io[k] for k in ('x', 'x0', 'x1') if k in io]
    structure = getattr(getattr(model, '_functional', model), '_inputs_struct', None)
    return xs if isinstance(structure, (list, tuple)) else xs[0]


def test_the_file_fixtures_are_present():
    assert sorted(os.path.basename(p)[:-6] for p in glob.glob(os.path.join(FILES, '*.keras'))) == FILE_MODELS
    assert sorted(os.path.basename(p)[:-9] for p in glob.glob(os.path.join(FILES, '*_proxy.h5'))) == FILE_MODELS


@pytest.mark.parametrize('name', H5_MODELS)
def test_compiled_h5_loads_with_the_defaults(name):
    """HGQ1 files are compiled with loss='mse'; Keras 3 alone cannot read that training config back."""
    model = keras.models.load_model(os.path.join(FIXTURES, f'{name}.h5'))
    assert model.compiled
    io = np.load(os.path.join(FIXTURES, f'{name}_io.npz'))
    np.testing.assert_array_equal(model.predict(_feed(io, model), verbose=0), io['y'])


@pytest.mark.parametrize('name', FILE_MODELS)
def test_keras2_dot_keras_model_loads(name):
    # Keras 3 cannot restore a Keras 2 `.keras` training config (its steps_per_execution is None): compile=False
    model = keras.models.load_model(os.path.join(FILES, f'{name}.keras'), compile=False)
    io = np.load(os.path.join(FILES, f'{name}_files_io.npz'))
    np.testing.assert_array_equal(model.predict(_feed(io, model), verbose=0), io['y'])
    # the trained bitwidths came back too: the `.keras` model equals the `.h5` model weight by weight
    reference = keras.models.load_model(os.path.join(FIXTURES, f'{name}.h5'), compile=False)
    for a, b in zip(model.weights, reference.weights):
        if a.name != 'bops':  # the generator traced the model again before saving it as `.keras`
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)


@pytest.mark.parametrize('name', FILE_MODELS)
def test_hgq1_proxy_loads_and_computes_what_hgq1_computed(name):
    proxy = keras.models.load_model(os.path.join(FILES, f'{name}_proxy.h5'))
    io = np.load(os.path.join(FILES, f'{name}_files_io.npz'))
    np.testing.assert_array_equal(proxy.predict(_feed(io, proxy), verbose=0), io['y_proxy'])
    kinds = {type(layer) for layer in proxy.layers}
    assert FixedPointQuantizer in kinds
    assert (UnaryLUT in kinds) == (int(io['lut']) > 0)


def test_hgq1_proxy_round_trips_in_keras3_formats(tmp_path):
    proxy = keras.models.load_model(os.path.join(FILES, 'functional_branches_proxy.h5'))
    io = np.load(os.path.join(FILES, 'functional_branches_files_io.npz'))
    for fmt in ('keras', 'h5'):
        path = str(tmp_path / f'proxy.{fmt}')
        proxy.save(path)
        again = keras.models.load_model(path)
        np.testing.assert_array_equal(again.predict(_feed(io, again), verbose=0), io['y_proxy'])


def test_scalar_quantizer_keeps_its_shape(tmp_path):
    """HGQ1 writes a homogeneous quantizer's bit arrays as scalars (shape ())."""
    q = FixedPointQuantizer(1, 6, 3, 'RND', 'SAT', name='q')
    assert tuple(q.bits.shape) == ()
    model = keras.Sequential([keras.Input((4,)), q])
    x = np.linspace(-5, 5, 40, dtype=np.float32).reshape(10, 4)
    path = str(tmp_path / 'q.keras')
    model.save(path)
    np.testing.assert_array_equal(keras.models.load_model(path).predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize('loss,expected', [
    ('mse', 'mean_squared_error'),
    ('mae', 'mean_absolute_error'),
    ('categorical_crossentropy', 'categorical_crossentropy'),
    (['mse', 'mape'], ['mean_squared_error', 'mean_absolute_percentage_error']),
    ({'out_a': 'msle', 'out_b': 'kld'}, {'out_a': 'mean_squared_logarithmic_error', 'out_b': 'kl_divergence'}),
    ({'class_name': 'MeanSquaredError', 'config': {}}, {'class_name': 'MeanSquaredError', 'config': {}}),
])
def test_loss_aliases_get_names_keras3_reads(loss, expected):
    assert canonical_loss(loss) == expected
    names = [expected] if isinstance(expected, str) else expected if isinstance(expected, list) else (
        [] if 'class_name' in expected else list(expected.values()))
    for name in names:
        assert callable(keras.losses.deserialize(name))
