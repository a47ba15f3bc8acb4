"""The `hgq` command, run as a user runs it (a subprocess): `hgq demo` end to end, `hgq convert` of a model HGQ1
saved (EBOPs equal to HGQ1's own), `hgq report`, and every kind of bad input (exit status 2, one line, no
traceback)."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.join(os.path.dirname(__file__), '..')
HGQ1 = os.path.join(ROOT, 'packages', 'hgq-core', 'tests', 'fixtures', 'hgq1')
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
PARETO_KEYS = {'epoch', 'beta', 'accuracy', 'ebops', 'csim_equal', 'csim_total', 'checkpoint'}
LAYER_KEYS = {'name', 'ebops', 'kernel_bits_mean', 'kernel_pruned_fraction', 'act_bits_mean', 'act_bits_max'}
PNGS = ['pareto.png', 'history.png', 'layer_ebops.png', 'bitwidths.png']
README = os.path.join(ROOT, 'README.md')


def _env(tmp_path=None) -> dict[str, str]:
    env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3', 'CUDA_VISIBLE_DEVICES': '-1', 'PYTHONHASHSEED': '0'}
    if tmp_path is not None:
        env['TMPDIR'] = str(tmp_path)
    return env


def hgq(*args, tmp_path=None, block: tuple[str, ...] = (), timeout: int = 900) -> subprocess.CompletedProcess:
    """Runs ``python -m HGQ.cli ARGS``; ``block`` names modules that then cannot be imported (as if not installed)."""
    if block:
        code = (f'import sys; sys.modules.update(dict.fromkeys({list(block)!r})); from HGQ.cli import main; '
                'raise SystemExit(main(sys.argv[1:]))')
        cmd = [sys.executable, '-c', code, *args]
    else:
        cmd = [sys.executable, '-m', 'HGQ.cli', *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(tmp_path), timeout=timeout, cwd=tmp_path)


def assert_bad_input(returncode, stderr: str, *needles: str, case: str = '') -> str:
    """Exit status 2, no traceback, and the last line of stderr is the one-line message (holding ``needles``)."""
    assert returncode == 2, (case, returncode, stderr[-3000:])
    assert 'Traceback' not in stderr, (case, stderr[-3000:])
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith('hgq') and ': error: ' in line]
    assert len(errors) == 1 and errors[0] == lines[-1], (case, stderr[-3000:])
    for needle in needles:
        assert needle in errors[0], (case, needle, errors[0])
    return errors[0]


def assert_png(path: str) -> None:
    with open(path, 'rb') as f:
        assert f.read(8) == PNG_MAGIC, path
    assert os.path.getsize(path) > 1000, path


def assert_report(out: str, pngs) -> None:
    for name in pngs:
        assert_png(os.path.join(out, name))
    with open(os.path.join(out, 'report.html'), encoding='utf-8') as f:
        page = f.read()
    assert page.startswith('<!DOCTYPE html>')
    assert page.count('src="data:image/png;base64,') == len(pngs)  # self-contained: every figure embedded
    assert 'src="http' not in page and 'href="http' not in page
    assert 'hls4ml' in page and 'Versions' in page


def _hgq1_calibration(name: str, index: int, shape, out_shape) -> np.ndarray:
    """The calibration inputs HGQ1 traced the fixture with (make_hgq1_fixtures.py draws them from
    ``default_rng(1234 + index)`` after the training data)."""
    rng = np.random.default_rng(1234 + index)
    rng.uniform(-2.0, 2.0, size=(256,) + shape)  # x_train
    rng.normal(size=(256,) + out_shape)  # y_train
    return rng.uniform(-2.0, 2.0, size=(512,) + shape).astype(np.float32)


# --------------------------------------------------------------------------------------------------- demo
def test_demo_end_to_end(tmp_path):
    out = str(tmp_path / 'demo')
    res = hgq('demo', '--epochs', '8', '--max-convert', '2', '--jobs', '1', '--output-dir', out, tmp_path=tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert 'BIT-EXACT' in res.stdout and 'Traceback' not in res.stderr
    with open(os.path.join(out, 'summary.json')) as f:
        s = json.load(f)

    front = s['pareto']
    assert front and all(PARETO_KEYS <= set(e) for e in front)
    assert isinstance(s['chosen'], int) and 0 <= s['chosen'] < len(front)
    assert [e['ebops'] for e in front] == sorted(e['ebops'] for e in front)
    for a in front:  # nothing on the front is dominated on (test accuracy, exact EBOPs)
        assert not any(b is not a and b['accuracy'] >= a['accuracy'] and b['ebops'] <= a['ebops'] for b in front)
    best = max(e['accuracy'] for e in front)
    chosen = front[s['chosen']]
    assert chosen['accuracy'] >= best - 0.01 - 1e-12
    assert chosen['ebops'] == min(e['ebops'] for e in front if e['accuracy'] >= best - 0.01 - 1e-12)
    converted = [e for e in front if e['csim_total'] is not None]
    assert chosen in converted and 1 <= len(converted) <= 2 and s['n_converted'] == len(converted)
    assert len(converted) == min(2, len(front)) and (s['not_converted_note'] is None) == (len(front) <= 2)
    for e in converted:
        assert e['csim_total'] == s['compare_samples'] * 10 and e['csim_equal'] == e['csim_total']
    for e in front:
        assert os.path.isfile(os.path.join(out, e['checkpoint']))
        assert 0 <= e['accuracy'] <= 1 and e['ebops'] > 0 and e['beta'] > 0
    assert s['bit_exact'] is True
    assert s['versions']['hgq-core'] and s['versions']['hls4ml']
    assert all(LAYER_KEYS <= set(layer) for layer in s['layers'])
    assert sum(layer['ebops'] for layer in s['layers']) == pytest.approx(chosen['ebops'])
    assert len(s['history']['loss']) == 8 and len(s['history']['beta']) == 8
    assert_report(out, PNGS)
    prj = os.path.join(out, 'hls4ml_prj')
    assert os.path.isfile(os.path.join(prj, 'firmware', 'myproject.cpp'))
    assert not [p for p in os.listdir(tmp_path) if p.startswith('hgq_demo_hls_')]  # temporary projects removed

    # `hgq report` on the chosen checkpoint with the demo's calibration data: the same exact EBOPs
    rep = str(tmp_path / 'report')
    res = hgq('report', os.path.join(out, chosen['checkpoint']), '--calib', os.path.join(out, 'data', 'calib.npy'),
              '--output-dir', rep, tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    with open(os.path.join(rep, 'summary.json')) as f:
        r = json.load(f)
    assert r['ebops'] == chosen['ebops'] and r['layers'] == s['layers']
    assert 'csim_equal' not in r and not os.path.exists(os.path.join(rep, 'hls4ml_prj'))
    assert r['hgq_vs_proxy_equal'] == r['hgq_vs_proxy_total'] > 0
    assert_report(rep, ['layer_ebops.png', 'bitwidths.png'])


# ------------------------------------------------------------------------------------------------ convert
def test_convert_hgq1_h5_matches_hgq1_ebops(tmp_path):
    """A model HGQ1 trained and saved (.h5), traced on HGQ1's own calibration data: the EBOPs, total and per layer,
    are HGQ1's; the firmware is bit-exact (Vitis, io_stream)."""
    io = np.load(os.path.join(HGQ1, 'dense_mlp_io.npz'))
    calib, test = tmp_path / 'calib.npy', tmp_path / 'test.npy'
    np.save(calib, _hgq1_calibration('dense_mlp', 0, (8,), (5,)))
    np.save(test, io['x'])
    out = str(tmp_path / 'out')
    res = hgq('convert', os.path.join(HGQ1, 'dense_mlp.h5'), '--calib', str(calib), '--test', str(test),
              '--backend', 'Vitis', '--io-type', 'io_stream', '--output-dir', out, tmp_path=tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert 'BIT-EXACT' in res.stdout
    with open(os.path.join(out, 'summary.json')) as f:
        s = json.load(f)
    assert s['ebops'] == float(io['bops'])  # 1815, HGQ1's trace_minmax
    assert [layer['name'] for layer in s['layers']] == ['inp_q', 'dense_0', 'dense_1']
    for layer in s['layers']:
        assert LAYER_KEYS <= set(layer)
        assert np.float32(layer['ebops']) == io[f"{layer['name']}__bops"], layer['name']
    assert s['layers'][0]['kernel_bits_mean'] is None  # HQuantize has no kernel
    assert 0 <= s['layers'][1]['kernel_pruned_fraction'] <= 1
    assert s['csim_equal'] == s['csim_total'] == io['x'].shape[0] * 5 and s['bit_exact'] is True
    assert s['compare_data'] == 'test' and s['hgq_vs_proxy_equal'] == s['hgq_vs_proxy_total']
    # the overflow report on the test data (HGQ.overflow_report of the traced model), in the summary and the output
    ov = s['overflow']
    assert ov['model'] == 'hgq' and ov['samples'] == io['x'].shape[0]
    assert [r['layer'] for r in ov['layers']] == ['inp_q', 'dense_0', 'dense_1']
    assert all({'outside', 'total', 'samples', 'max_excess_bits', 'accumulator_bits'} <= set(r) for r in ov['layers'])
    assert ov['layers'][0]['total'] == io['x'].size and ov['layers'][0]['accumulator_bits'] is None
    assert re.search(r'^overflow +\d+ of 3 quantizers get test values outside', res.stdout, re.M)
    with open(os.path.join(out, 'report.html')) as f:
        assert 'Overflows on the test data' in f.read()
    assert os.path.isfile(os.path.join(out, 'hls4ml_prj', 'firmware', 'myproject.cpp'))
    assert_report(out, ['layer_ebops.png', 'bitwidths.png'])


# ---------------------------------------------------------------------------------------------- bad input
@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp('inputs')
    np.save(d / 'good.npy', np.zeros((4, 8), np.float32))
    np.save(d / 'shape.npy', np.zeros((10, 7), np.float32))
    nan = np.zeros((10, 8), np.float32)
    nan[3, 2] = np.nan
    np.save(d / 'nan.npy', nan)
    (d / 'calib.txt').write_text('1 2 3\n')
    return d


@pytest.fixture(scope='module')
def plain_keras_model(tmp_path_factory):
    import keras

    path = tmp_path_factory.mktemp('plain') / 'plain.keras'
    keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)]).save(path)
    return str(path)


MLP = os.path.join(HGQ1, 'dense_mlp.h5')


def test_bad_missing_model(tmp_path, inputs):
    hgq_exe = shutil.which('hgq', path=os.path.dirname(sys.executable))
    args = ['convert', str(tmp_path / 'nope.keras'), '--calib', str(inputs / 'good.npy')]
    if hgq_exe:  # the console script itself
        res = subprocess.run([hgq_exe, *args], capture_output=True, text=True, env=_env(), timeout=600)
    else:
        res = hgq(*args)
    assert_bad_input(res.returncode, res.stderr, 'model file not found', 'nope.keras')


def test_bad_hls4ml_missing(inputs, tmp_path):
    res = hgq('convert', MLP, '--calib', str(inputs / 'good.npy'), tmp_path=tmp_path, block=('hls4ml',))
    assert_bad_input(res.returncode, res.stderr, 'needs hls4ml, which is not installed', "pip install 'hls4ml")
    assert not os.listdir(tmp_path)  # refused before writing anything


_BATCH = """
import contextlib, io, json, sys, traceback
from HGQ.cli import main
out = {}
for name, argv, block in json.loads(sys.argv[1]):
    saved = {m: sys.modules.get(m) for m in block}
    sys.modules.update(dict.fromkeys(block))  # as if not installed
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            rc = main(argv)
    except BaseException:
        rc = None
        err.write(traceback.format_exc())
    finally:
        for m, mod in saved.items():
            if mod is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = mod
    out[name] = [rc, err.getvalue()]
print('@@' + json.dumps(out))
"""


def test_bad_inputs(inputs, plain_keras_model, tmp_path):
    """Each bad input: exit status 2 and a one-line message saying what is wrong (or what to install). The cases
    run through `main()` in one Python process (each alone would pay TensorFlow's import again); the console
    script, a usage error and a missing hls4ml run as processes of their own."""
    import importlib.util
    import zipfile

    qmodel = tmp_path / 'qmodel.keras'  # a QKeras model's config (only the config is read before the refusal)
    config = {'class_name': 'Sequential', 'config': {'layers': [
        {'class_name': 'InputLayer', 'config': {'batch_shape': [None, 8]}},
        {'module': 'qkeras.qlayers', 'class_name': 'QDense', 'config': {'units': 3}}]}}
    with zipfile.ZipFile(qmodel, 'w') as z:
        z.writestr('config.json', json.dumps(config))
    good = str(inputs / 'good.npy')
    cases = {
        'missing calibration': (['report', MLP, '--calib', str(tmp_path / 'none.npy')], [],
                                ['calibration file not found', 'none.npy']),
        'calibration format': (['report', MLP, '--calib', str(inputs / 'calib.txt')], [],
                               ['must be a .npy or .npz file']),
        'calibration shape': (['report', MLP, '--calib', str(inputs / 'shape.npy')], [],
                              ['shape.npy has shape (10, 7), but the model input', '(N, 8)']),
        'calibration NaN': (['convert', MLP, '--calib', str(inputs / 'nan.npy')], [], ['NaN', 'at index (3, 2)']),
        'no HGQ layers': (['report', plain_keras_model, '--calib', good], [], ['no HGQ layers', 'no QKeras layers']),
        'plugin missing': (['convert', MLP, '--calib', good], ['hgq_hls4ml'],
                           ['needs hgq_hls4ml, which is not installed', 'pip install hgq-hls4ml-plugin']),
        'matplotlib missing': (['report', MLP, '--calib', good], ['matplotlib'], ['matplotlib', 'hgq-core[report]']),
        'bad cover factor': (['report', MLP, '--calib', good, '--cover-factor', '-1'], [], ['--cover-factor']),
    }
    if importlib.util.find_spec('qkeras') is None:
        cases['QKeras missing'] = (['report', str(qmodel), '--calib', good], [],
                                   ['QKeras model (QDense)', 'hgq-qkeras-bridge'])
    arg = json.dumps([[name, argv, block] for name, (argv, block, _) in cases.items()])
    res = subprocess.run([sys.executable, '-c', _BATCH, arg], capture_output=True, text=True, env=_env(tmp_path),
                         cwd=tmp_path, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    results = json.loads(res.stdout.rsplit('@@', 1)[1])
    for name, (_, _, needles) in cases.items():
        rc, err = results[name]
        assert_bad_input(rc, err, *needles, case=name)
    assert sorted(os.listdir(tmp_path)) == ['qmodel.keras']  # refused before writing anything


def test_bad_arguments():
    res = hgq('demo', '--epochs', '0')
    assert_bad_input(res.returncode, res.stderr, 'argument --epochs', 'positive integer')


def test_import_hgq_does_not_import_hls4ml():
    code = ('import sys, HGQ, HGQ.cli, HGQ.report; '
            'assert "hls4ml" not in sys.modules and "hgq_hls4ml" not in sys.modules')
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=_env(), timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]


# ------------------------------------------------------------------------------------------------- README
def _readme_section(heading: str) -> str:
    with open(README, encoding='utf-8') as f:
        text = f.read()
    return text.split(f'\n## {heading}\n', 1)[1].split('\n## ', 1)[0]


def test_readme_quick_start_is_two_commands_and_the_demo_figure():
    blocks = re.findall(r'```(\w*)\n(.*?)\n```', _readme_section('Quick start'), re.S)
    assert [lang for lang, _ in blocks] == ['bash', 'bash']
    assert all(len(code.strip().splitlines()) == 1 for _, code in blocks)
    assert blocks[0][1].strip().endswith('.venv/bin/hgq demo') and 'tox' in blocks[1][1]
    images = re.findall(r'!\[[^\]]*\]\(([^)]+)\)', _readme_section('Quick start'))
    assert images
    for image in images:
        assert_png(os.path.join(ROOT, image))


def _budget_script() -> str:
    return _readme_section('Train for a budget').split('```python\n', 1)[1].split('\n```', 1)[0]


def test_readme_train_for_budget_uses_existing_names():
    """The block itself runs in `tox -e docs` (tests/docs); here only: it uses the callbacks, by their names."""
    import HGQ

    tree = ast.parse(_budget_script())
    names = [a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module == 'HGQ'
             for a in node.names]
    assert {'BetaScheduler', 'BetaPID', 'ParetoFront', 'PBar'} <= set(names)
    assert all(hasattr(HGQ, name) for name in names)
