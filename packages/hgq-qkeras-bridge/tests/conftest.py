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
