"""Files written by the real HGQ1 (``hgq`` 0.2.6, Keras 2) go through hls4ml bit-exactly on the new stack.

Two paths an HGQ1 user takes:

- a model HGQ1 saved with ``model.save('m.h5')`` (compiled, ``loss='mse'``): ``keras.models.load_model``,
  ``trace_minmax``, ``to_proxy_model``, hls4ml;
- a proxy model HGQ1 itself made and saved (``proxy.save('p.h5')``): ``keras.models.load_model``, hls4ml,
  and the C simulation equals HGQ1's own proxy predictions.

The fixtures and the scripts that made them are in ``packages/hgq-core/tests/fixtures``.
"""

import glob
import os

import keras
import numpy as np
import pytest

import HGQ
from tests.conftest import compare_csim

FIXTURES = os.path.join(os.path.dirname(__file__), '..', 'packages', 'hgq-core', 'tests', 'fixtures')
MODELS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(FIXTURES, 'hgq1', '*.h5')))
PROXIES = sorted(
    os.path.basename(p)[: -len('_proxy.h5')] for p in glob.glob(os.path.join(FIXTURES, 'hgq1_files', '*_proxy.h5'))
)

# Sequential HGQ1 files give their first layer an input shape, which Keras 3 warns about while loading
pytestmark = pytest.mark.filterwarnings('ignore:Do not pass an `input_shape`:UserWarning')


def _inputs(io, model):
    xs = [io[k] for k in ('x', 'x0', 'x1') if k in io]
    structure = getattr(getattr(model, '_functional', model), '_inputs_struct', None)
    return xs if isinstance(structure, (list, tuple)) else xs[0]


def test_fixtures_found():
    assert len(MODELS) == 8 and PROXIES == ['conv2d', 'dense_mlp', 'functional_branches']


@pytest.mark.parametrize('name', MODELS)
def test_hgq1_model_file_to_firmware(name, hls_dir):
    model = keras.models.load_model(os.path.join(FIXTURES, 'hgq1', f'{name}.h5'))  # compiled, as saved
    assert model.compiled
    io = np.load(os.path.join(FIXTURES, 'hgq1', f'{name}_io.npz'))
    x = _inputs(io, model)
    np.testing.assert_array_equal(model.predict(x, verbose=0), io['y'])  # HGQ1's own predictions

    HGQ.trace_minmax(model, x, verbose=False)  # HGQ1 files hold no ranges
    proxy = HGQ.to_proxy_model(model, aggressive=True, unary_lut_max_table_size=4096)
    signatures = [layer for layer in model.layers if isinstance(layer, HGQ.Signature)]
    if signatures:
        # Signature declares that the inputs are already on its fixed-point grid: put them there
        snap = proxy.get_layer(signatures[0].name)
        x = [np.asarray(snap(x[0]))] if isinstance(x, list) else np.asarray(snap(x))
    np.testing.assert_array_equal(proxy.predict(x, verbose=0), model.predict(x, verbose=0))

    # twice as many inputs, the new ones up to 1.5x out of the traced range (they overflow in WRAP)
    rng = np.random.default_rng(1)
    wide = [
        np.concatenate([a, a * rng.uniform(1.0, 1.5, a.shape).astype(np.float32)])
        for a in (x if isinstance(x, list) else [x])
    ]
    wide = wide if isinstance(x, list) else wide[0]
    p, h, _ = compare_csim(proxy, wide, 'io_parallel', 'Vivado', hls_dir)
    np.testing.assert_array_equal(h, p)


@pytest.mark.parametrize('io_type', ['io_parallel', 'io_stream'])
@pytest.mark.parametrize('name', PROXIES)
def test_hgq1_proxy_file_to_firmware(name, io_type, hls_dir):
    proxy = keras.models.load_model(os.path.join(FIXTURES, 'hgq1_files', f'{name}_proxy.h5'))
    io = np.load(os.path.join(FIXTURES, 'hgq1_files', f'{name}_files_io.npz'))
    x = _inputs(io, proxy)
    p, h, _ = compare_csim(proxy, x, io_type, 'Vitis', hls_dir)
    np.testing.assert_array_equal(p, io['y_proxy'])  # the loaded proxy computes what HGQ1's proxy computed
    np.testing.assert_array_equal(h, p)
