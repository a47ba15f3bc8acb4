"""QKeras 0.9 without TF_USE_LEGACY_KERAS=1, as a user meets it: `import hgq_qkeras` first, then `import qkeras`
raises hgq_qkeras.LegacyKerasError with the fix (not QKeras's TypeError at the first layer call). Each case runs in
a fresh interpreter without the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hgq_qkeras.environment import LEGACY


def _run(code: str, legacy: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != 'TF_USE_LEGACY_KERAS'}
    if legacy is not None:
        env['TF_USE_LEGACY_KERAS'] = legacy
    return subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(autouse=True)
def _only_qkeras_09(flavour):
    if flavour != LEGACY:
        pytest.skip('only QKeras 0.9 needs tf_keras')


def test_import_qkeras_after_the_bridge_raises_legacy_keras_error():
    """... and hls4ml, which imports QKeras only optionally (``except ImportError``), still works next to it."""
    out = _run(
        'import hgq_qkeras, hls4ml, hgq_hls4ml\n'
        "print('PLUGIN', hgq_hls4ml.is_registered())\n"
        'try:\n'
        '    import qkeras\n'
        'except ImportError:\n'
        "    print('OPTIONAL-IMPORT-SKIPPED')\n"
        'try:\n'
        '    import qkeras\n'
        'except hgq_qkeras.LegacyKerasError as exc:\n'
        "    print('LEGACY-ERROR', exc)\n"
    )
    assert 'PLUGIN True' in out.stdout and 'OPTIONAL-IMPORT-SKIPPED' in out.stdout, out.stderr[-3000:]
    assert 'LEGACY-ERROR' in out.stdout, out.stderr[-3000:]
    assert 'TF_USE_LEGACY_KERAS=1' in out.stdout and 'is not set' in out.stdout


def test_the_documented_example_without_the_variable_fails_with_the_fix():
    """The QKeras 0.9 example of docs/coming-from-qkeras.md with its os.environ line forgotten."""
    code = (
        'import hgq_qkeras\n'
        'import tf_keras\n'
        'from qkeras import QActivation, quantized_bits\n'
        'x = tf_keras.Input((4,))\n'
        'QActivation(quantized_bits(8, 3))(x)\n'
    )
    out = _run(code)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith('hgq_qkeras.errors.LegacyKerasImportError: QKeras 0.9 needs Keras 2'), out.stderr[-3000:]
    assert 'TypeError' not in out.stderr


def test_variable_set_after_tensorflow_is_too_late():
    out = _run(
        "import os, tensorflow, hgq_qkeras\n"
        "os.environ['TF_USE_LEGACY_KERAS'] = '1'\n"
        'try:\n'
        '    import qkeras\n'
        'except hgq_qkeras.LegacyKerasError as exc:\n'
        "    print('LEGACY-ERROR', exc)\n"
    )
    assert 'LEGACY-ERROR' in out.stdout, out.stderr[-3000:]
    assert 'imported before it was set' in out.stdout


def test_qkeras_imported_before_the_bridge_warns():
    out = _run('import warnings, qkeras\nwarnings.simplefilter("always")\nimport hgq_qkeras\n')
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'RuntimeWarning: QKeras 0.9 was imported on Keras 3' in out.stderr
    assert 'TF_USE_LEGACY_KERAS=1' in out.stderr
