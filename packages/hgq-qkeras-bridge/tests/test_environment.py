"""QKeras 0.9 without TF_USE_LEGACY_KERAS=1: an error that says what to set and where."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hgq_qkeras.environment import LEGACY

SCRIPT = """
import hgq_qkeras
try:
    hgq_qkeras.to_proxy_model(None)
except hgq_qkeras.LegacyKerasError as exc:
    print('LEGACY-ERROR', exc)
"""


def test_missing_legacy_keras_is_explained(flavour):
    if flavour != LEGACY:
        pytest.skip('only QKeras 0.9 needs tf_keras')
    env = {k: v for k, v in os.environ.items() if k != 'TF_USE_LEGACY_KERAS'}
    out = subprocess.run([sys.executable, '-c', SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert 'LEGACY-ERROR' in out.stdout, out.stderr[-2000:]
    assert 'TF_USE_LEGACY_KERAS=1' in out.stdout
    assert 'before' in out.stdout and 'import tensorflow' in out.stdout
    assert 'is not set' in out.stdout


def test_late_legacy_keras_is_explained(flavour):
    """Setting the variable after TensorFlow was imported is too late, and the message says so."""
    if flavour != LEGACY:
        pytest.skip('only QKeras 0.9 needs tf_keras')
    env = {k: v for k, v in os.environ.items() if k != 'TF_USE_LEGACY_KERAS'}
    script = "import os, tensorflow, qkeras\nos.environ['TF_USE_LEGACY_KERAS'] = '1'\n" + SCRIPT
    out = subprocess.run([sys.executable, '-c', script], env=env, capture_output=True, text=True, timeout=120)
    assert 'LEGACY-ERROR' in out.stdout, out.stderr[-2000:]
    assert 'imported before it was set' in out.stdout


def test_importing_the_bridge_imports_no_tensorflow():
    code = "import sys, hgq_qkeras, hgq_qkeras.entry_point; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == 'False False', out.stderr[-2000:]
