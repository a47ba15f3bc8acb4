"""Test setup: Keras 2 for QKeras 0.9 (TF_USE_LEGACY_KERAS=1 before TensorFlow loads), quiet TensorFlow, and
shared fixtures. The suite runs against whichever QKeras is installed (QKeras 0.9 or qkeras-v3)."""

from __future__ import annotations

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from hgq_qkeras.environment import LEGACY, qkeras_flavour  # noqa: E402  (imports no TensorFlow)

FLAVOUR = qkeras_flavour()
if FLAVOUR == LEGACY:
    os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import pytest  # noqa: E402

if FLAVOUR is None:  # nothing to test without QKeras (install qkeras or qkeras-v3)
    collect_ignore_glob = ['test_*.py']


@pytest.fixture(scope='session')
def flavour() -> str:
    return FLAVOUR


@pytest.fixture(autouse=True)
def exact_tensorflow_rsqrt(monkeypatch):
    """TensorFlow's batch-normalization rsqrt, correctly rounded, as on CPUs where it is exact.

    On AVX CPUs TensorFlow's vectorized float32 rsqrt is approximate (rsqrt(1) = 0.99999994), so QKeras 0.9's
    QBatchNormalization (tf.nn.batch_normalization) is off by an ulp there; the bridge detects that and warns
    (test_batchnorm_rounded.py checks it with a deliberately approximate rsqrt). The other tests compare the
    proxy with QKeras as it computes on an exact machine, the same on every CI runner.
    """
    import tensorflow as tf
    from tensorflow.python.ops import nn_impl

    def rsqrt(x, name=None):
        return tf.constant(1.0, x.dtype) / tf.math.sqrt(x)

    monkeypatch.setattr(nn_impl.math_ops, 'rsqrt', rsqrt)
