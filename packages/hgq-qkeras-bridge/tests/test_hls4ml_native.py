"""Side by side: hls4ml's own QKeras path (QKeras 0.9 only) and the bridge, on the same models and inputs.

hls4ml's exactness is reported, not asserted (it is what the bridge improves on); the bridge's is asserted.
``python -m hgq_qkeras.exactness --hls4ml-native --combos all`` prints the full table.
"""

from __future__ import annotations

import re

import pytest

from hgq_qkeras.environment import LEGACY
from hgq_qkeras.exactness import COMBOS, report
from hgq_qkeras.examples import available_examples

pytest.importorskip('hls4ml')
pytest.importorskip('hgq_hls4ml')

# hls4ml's writer leaves its weight files open when its own QKeras conversion crashes (np.product is gone in
# numpy 2); the leaked handles surface as unraisable ResourceWarnings at garbage collection. They are hls4ml's.
pytestmark = [
    pytest.mark.filterwarnings('ignore::pytest.PytestUnraisableExceptionWarning'),
    pytest.mark.filterwarnings('ignore::ResourceWarning'),
]

NATIVE = [e.name for e in available_examples() if e.hls4ml_native and e.name != 'plain_relu']
_COUNT = re.compile(r'^(\d+)/(\d+)')


def _run(names, combos, capsys):
    rows = report(names, combos, 128, native=True)
    with capsys.disabled():
        for row in rows:
            print('\n  ' + ' | '.join(f'{k}: {v}' for k, v in row.items()))
    for row in rows:
        for key, value in row.items():
            if key == 'qkeras_vs_proxy' or key.startswith('csim'):
                m = _COUNT.match(value)
                assert m and m.group(1) == m.group(2), f'bridge not exact: {row}'
            elif key.startswith('hls4ml-qkeras'):
                assert _COUNT.match(value) or value.startswith('error:'), value
    return rows


@pytest.fixture(autouse=True)
def _legacy_only(flavour):
    if flavour != LEGACY:
        pytest.skip('hls4ml 1.3 has no converter for qkeras-v3 models')


def test_side_by_side_report(capsys):
    rows = _run(['conv1d_pool'], [COMBOS[0]], capsys)
    assert len(rows) == 1 and 'hls4ml-qkeras Vivado/io_parallel' in rows[0]


@pytest.mark.slow
@pytest.mark.parametrize('name', NATIVE)
def test_side_by_side_report_all(name, capsys):
    _run([name], COMBOS, capsys)
