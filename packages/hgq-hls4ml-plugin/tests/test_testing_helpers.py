"""hgq_hls4ml.testing: temporary hls4ml projects are removed, a named output folder is kept, and hls4ml's da4ml
fallback (and its 'Function da_call requires da4ml' message) is off."""

import os
import subprocess
import sys
import tempfile

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from HGQ.proxy import FixedPointQuantizer  # noqa: E402
from hgq_hls4ml.testing import compare  # noqa: E402


def _proxy():
    inp = keras.Input((4,), name='x')
    h = FixedPointQuantizer(1, 6, 3, 'RND', 'SAT', name='q_in')(inp)
    layer = keras.layers.Dense(3, name='d')
    h = layer(h)
    layer.set_weights([np.full((4, 3), 0.5, np.float32), np.full((3,), 0.25, np.float32)])
    out = FixedPointQuantizer(1, 8, 4, 'TRN', 'SAT', name='q_out')(h)
    return keras.Model(inp, out)


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Points tempfile at an empty folder, so that anything left behind shows."""
    root = tmp_path / 'system_tmp'
    root.mkdir()
    monkeypatch.setattr(tempfile, 'tempdir', str(root))
    return root


def test_compare_leaves_no_project_behind(private_tmp, capfd):
    x = np.random.default_rng(0).uniform(-4, 4, (64, 4)).astype(np.float32)
    report = compare(_proxy(), x)
    assert report.exact, report
    assert list(private_tmp.iterdir()) == []
    assert 'da4ml' not in capfd.readouterr().out


def test_convert_removes_its_temporary_project_at_exit(tmp_path):
    """hls4ml's writer keeps every written model alive (a YAML representer closure), so the folder goes at the
    latest when Python exits."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from test_testing_helpers import _proxy\n"
        "from hgq_hls4ml.testing import convert\n"
        "hls_model = convert(_proxy())\n"
        "hls_model.write()\n"
        "print('PROJECT', hls_model.config.get_output_dir())\n"
    )
    env = dict(os.environ, TMPDIR=str(tmp_path))
    out = subprocess.run([sys.executable, '-c', script, os.path.dirname(__file__)], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    project = out.stdout.split('PROJECT ')[-1].strip()
    assert project.startswith(str(tmp_path)), project
    assert not os.path.exists(project)
    assert list(tmp_path.iterdir()) == []


def test_a_named_output_dir_is_kept(tmp_path):
    out = tmp_path / 'prj'
    x = np.random.default_rng(1).uniform(-4, 4, (16, 4)).astype(np.float32)
    assert compare(_proxy(), x, output_dir=str(out)).exact
    assert (out / 'firmware').is_dir()
