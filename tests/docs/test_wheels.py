"""The three packages build (`python -m build`: an sdist, then the wheel from that sdist) and their wheels install
into fresh virtual environments, each alone and all together, from the built wheels plus the package index: each
package imports, the plugin registers with hls4ml, the entry points are declared, and, together, a tiny HGQ model
goes through hls4ml's C simulation bit for bit. Runs in `tox -e wheels`.

No TensorFlow is installed: hgq-core needs Keras and a backend to import, and the smallest backend that works is
JAX (`jax[cpu]`, installed next to the wheels; Keras's numpy backend imports JAX and scipy as well). The documented
install adds TensorFlow with the `[tensorflow]` extra, which tests/docs/test_install_commands.py resolves. The fresh
environments are made and filled by uv, so they share the download cache of the other tox environments.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BACKEND = ['jax[cpu]']
PACKAGES = {'hgq-core': 'hgq_core', 'hgq-hls4ml-plugin': 'hgq_hls4ml_plugin', 'hgq-qkeras-bridge': 'hgq_qkeras_bridge'}


def _uv() -> str:
    for candidate in (Path(sys.executable).parent / 'uv', shutil.which('uv')):
        if candidate and Path(candidate).exists():
            return str(candidate)
    pytest.fail('uv is not installed in this environment (tox -e wheels installs it)')


def _run(command, **kwargs) -> subprocess.CompletedProcess:
    out = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=900, **kwargs)
    assert out.returncode == 0, f'{" ".join(map(str, command))}\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}'
    return out


@pytest.fixture(scope='session')
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('dist')
    for package in PACKAGES:
        _run([sys.executable, '-m', 'build', '--installer', 'uv', '--outdir', out, ROOT / 'packages' / package])
    return out


def _files(dist: Path, package: str) -> tuple[Path, Path]:
    stem = PACKAGES[package]
    (wheel,) = dist.glob(f'{stem}-*.whl')
    (sdist,) = dist.glob(f'{stem}-*.tar.gz')
    return wheel, sdist


def test_each_package_builds_an_sdist_and_a_wheel(dist):
    for package in PACKAGES:
        _files(dist, package)
    names = zipfile.ZipFile(_files(dist, 'hgq-hls4ml-plugin')[0]).namelist()
    assert 'hgq_hls4ml/nnet_utils/hgq_unary_lut.h' in names  # package data made it through the sdist
    metadata = next(n for n in names if n.endswith('.dist-info/METADATA'))
    requires = [line for line in zipfile.ZipFile(_files(dist, 'hgq-hls4ml-plugin')[0]).read(metadata).decode()
                .splitlines() if line.startswith('Requires-Dist:')]
    assert any(line.startswith('Requires-Dist: hgq-core') for line in requires), requires
    assert any('hls4ml' in line and '<1.4' in line for line in requires), requires
    assert 'HGQ/py.typed' in zipfile.ZipFile(_files(dist, 'hgq-core')[0]).namelist()


CHECKS = {
    'hgq-core': (
        'import HGQ, keras\n'
        "assert keras.backend.backend() == 'jax'\n"
        'assert HGQ.HDense and HGQ.to_proxy_model and HGQ.trace_minmax\n'
    ),
    'hgq-hls4ml-plugin': (
        'import hls4ml\n'
        'import hgq_hls4ml\n'
        'assert hgq_hls4ml.plugin.is_registered(), hgq_hls4ml.plugin._state\n'
        'from importlib.metadata import entry_points\n'
        "assert 'hgq' in [e.name for e in entry_points(group='hls4ml.backends')]\n"
        'assert hgq_hls4ml.plugin.HEADER_PATH.exists()\n'
        'import hgq_hls4ml.testing\n'
    ),
    'hgq-qkeras-bridge': (
        'import sys, hgq_qkeras, hgq_qkeras.entry_point\n'
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        'assert hgq_qkeras.qkeras_flavour() is None\n'
        'from importlib.metadata import entry_points\n'
        "assert 'qkeras' in [e.name for e in entry_points(group='hgq.proxy_converters')]\n"
        'import hgq_qkeras.convert\n'
    ),
}

TOGETHER = '''
import numpy as np, keras
from HGQ import HDense, HQuantize, to_proxy_model, trace_minmax
import hls4ml, hgq_hls4ml, hgq_qkeras
from hgq_hls4ml.testing import compare
assert hgq_hls4ml.is_registered()
model = keras.Sequential([keras.Input((6,)), HQuantize(beta=0.0), HDense(3, activation='relu', beta=0.0)])
x = np.random.default_rng(0).uniform(-2, 2, (64, 6)).astype('float32')
trace_minmax(model, x, verbose=0)
report = compare(to_proxy_model(model), x)
assert report.exact, report
print('TOGETHER-EXACT')
'''


def _venv(tmp_path: Path, dist: Path, packages: list[str]) -> Path:
    venv = tmp_path / 'venv'
    _run([_uv(), 'venv', '--quiet', '--python', sys.executable, venv])
    python = venv / 'bin' / 'python'
    wheels = [_files(dist, package)[0] for package in packages]
    # --find-links: a sibling dependency (hgq-core) comes from the built wheels, everything else from the index
    _run([_uv(), 'pip', 'install', '--quiet', '--python', python, '--find-links', dist, *wheels, *BACKEND])
    return python


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')} | {'KERAS_BACKEND': 'jax'}


@pytest.mark.parametrize('package', list(PACKAGES))
def test_wheel_installs_alone(package, dist, tmp_path):
    python = _venv(tmp_path, dist, [package])
    _run([python, '-c', CHECKS[package]], cwd=tmp_path, env=_env())


def test_wheels_install_together(dist, tmp_path):
    python = _venv(tmp_path, dist, list(PACKAGES))
    for check in CHECKS.values():
        _run([python, '-c', check], cwd=tmp_path, env=_env())
    out = _run([python, '-c', TOGETHER], cwd=tmp_path, env=_env())
    assert 'TOGETHER-EXACT' in out.stdout
