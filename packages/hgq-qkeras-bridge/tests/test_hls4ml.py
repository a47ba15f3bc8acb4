"""Proxy == hls4ml C simulation (hgq-hls4ml-plugin, default precision fixed<1,0>), bit for bit.

Default run: every example on one backend/io_type combination (rotating, so each combination is covered), plus
the full Vivado/Vitis x io_parallel/io_stream matrix for two examples. ``-m slow`` adds every example on every
combination.
"""

from __future__ import annotations

import pytest
from bridge_helpers import built, stress_inputs

from hgq_qkeras import to_proxy_model
from hgq_qkeras.exactness import COMBOS, count_equal, csim_outputs, proxy_outputs
from hgq_qkeras.examples import available_examples

pytest.importorskip('hls4ml')
pytest.importorskip('hgq_hls4ml')

EXAMPLES = available_examples()
FULL_MATRIX = ('dense_relu', 'tanh_sigmoid')


def _case(example, backend, io_type, slow=False):
    marks = [pytest.mark.slow] if slow else []
    return pytest.param(example, backend, io_type, marks=marks, id=f'{example.name}-{backend}-{io_type}')


def _default_cases():
    cases = []
    for i, example in enumerate(EXAMPLES):
        combos = COMBOS if example.name in FULL_MATRIX else (COMBOS[i % len(COMBOS)],)
        cases += [_case(example, b, io) for b, io in combos]
    return cases


def _slow_cases():
    cases = []
    for i, example in enumerate(EXAMPLES):
        if example.name in FULL_MATRIX:
            continue
        cases += [_case(example, b, io, slow=True) for j, (b, io) in enumerate(COMBOS) if j != i % len(COMBOS)]
    return cases


def _check(example, backend, io_type, tmp_path):
    qmodel = built(example)
    proxy = to_proxy_model(qmodel)
    x = stress_inputs(example, qmodel, 256)
    expected = proxy_outputs(proxy, x)
    count = count_equal(expected, csim_outputs(proxy, x, backend, io_type, str(tmp_path / 'prj')))
    assert count.exact, f'{example.name} {backend}/{io_type}: {count}'


@pytest.mark.parametrize('example,backend,io_type', _default_cases())
def test_proxy_equals_csim(example, backend, io_type, tmp_path):
    _check(example, backend, io_type, tmp_path)


@pytest.mark.parametrize('example,backend,io_type', _slow_cases())
def test_proxy_equals_csim_all_combinations(example, backend, io_type, tmp_path):
    _check(example, backend, io_type, tmp_path)
