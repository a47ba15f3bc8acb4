"""Data-parallel training gives the model of one-device training (same seed, data and global batch): the
recorded ranges at the end of every epoch, FreeBOPs, the exact BOPs and ranges after trace_minmax and
CalibratedBOPs are identical; the losses and weights agree to float rounding (the replicas' gradients are summed
in another order). TensorFlow: MirroredStrategy over 4 logical CPUs; JAX: keras.distribution.DataParallel over 4
host devices. Each runs in a subprocess (backend_worker.py), which sets up its devices before TensorFlow or JAX
starts, on the backend of this test session (each tox environment tests its own backend).
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()
KINDS = ('mlp', 'cnn', 'bn_mlp')
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'backend_worker.py')

pytestmark = pytest.mark.skipif(
    BACKEND == 'torch', reason='Keras has no data-parallel training for PyTorch (keras.distribution is JAX only)'
)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp('dp')
    env = dict(os.environ, KERAS_BACKEND=BACKEND)
    proc = subprocess.run(
        [sys.executable, WORKER, 'dp', ','.join(KINDS), str(out), '--devices', '4'],
        env=env, capture_output=True, text=True, timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {kind: dict(np.load(out / f'{kind}.npz')) for kind in KINDS}


def _split(run):
    single = {k[len('single/'):]: v for k, v in run.items() if k.startswith('single/')}
    multi = {k[len('multi/'):]: v for k, v in run.items() if k.startswith('multi/') and 'replica_spread/' not in k}
    assert single.keys() == multi.keys()
    return single, multi


@pytest.mark.parametrize('kind', KINDS)
def test_ranges_and_bops_equal_one_device_exactly(runs, kind):
    run = runs[kind]
    assert int(run['n_replicas']) == 4
    single, multi = _split(run)
    exact = [
        k for k in single if k.startswith(('epoch', 'traced/')) or k in ('free_bops', 'exact_bops', 'calibrated_bops')
    ]
    assert any(k.startswith('epoch1/') and k.endswith('/min') for k in exact)
    assert any(k.startswith('traced/') and k.endswith('/max') for k in exact)
    differ = [k for k in exact if not np.array_equal(single[k], multi[k])]
    assert not differ, f'differ between one device and 4 replicas: {differ}'
    assert np.all(np.isfinite(single['free_bops'])) and np.all(single['free_bops'] > 0)
    assert float(single['exact_bops']) > 0


@pytest.mark.parametrize('kind', KINDS)
def test_losses_and_weights_equal_one_device_to_float_rounding(runs, kind):
    single, multi = _split(runs[kind])
    # the loss holds beta * BOPs once per step (not once per replica)
    for key in ('loss', 'calibrated_loss'):
        np.testing.assert_allclose(multi[key], single[key], rtol=1e-6)
    for key in (k for k in single if k.startswith('weight/')):
        np.testing.assert_allclose(multi[key], single[key], rtol=1e-5, atol=1e-5, err_msg=key)


@pytest.mark.parametrize('kind', KINDS)
def test_replicas_keep_identical_copies(runs, kind):
    """Every replica recorded the same (global) range, BOPs and, for BatchNorm, the same statistics and adapted
    kernel bitwidths. tf.distribute keeps one copy of each variable per replica: all copies are equal. JAX keeps
    one array per variable, replicated on the 4 devices."""
    run = runs[kind]
    if BACKEND == 'jax':
        assert int(run['devices_per_variable']) == 4
        return
    spreads = {k: float(v) for k, v in run.items() if k.startswith('multi/replica_spread/')}
    assert len(spreads) == len([k for k in run if k.startswith('multi/weight/')])
    assert not {k: v for k, v in spreads.items() if v != 0}
