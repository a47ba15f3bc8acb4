"""The proxy quantizer against the real ap_fixed C++ types (hls4ml's ap_types headers, compiled with g++).

Every rounding x overflow mode, signed and unsigned, random widths, values on and off the grid, ties and
overflowing values: the Keras (float32) implementation must give exactly what ``ap_fixed<B, I, Q, O>(x)`` gives.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from HGQ.proxy.fixed_point import quantize_np
from HGQ.proxy.fixed_point_quantizer import gfixed_quantizer

ROUNDING = ('TRN', 'RND', 'RND_CONV', 'TRN_ZERO', 'RND_ZERO', 'RND_MIN_INF', 'RND_INF')
OVERFLOW = ('WRAP', 'SAT', 'SAT_SYM', 'SAT_ZERO', 'WRAP_SM')
FORMATS = [(1, 8, 3), (1, 5, 5), (1, 3, 6), (0, 6, 2), (0, 4, -1), (1, 10, 0), (0, 7, 7), (1, 2, 1)]


def _ap_types_dir() -> Path:
    import hls4ml

    return Path(hls4ml.__file__).parent / 'templates' / 'vivado' / 'ap_types'


def _cpp_source(cases) -> str:
    lines = ['#include <cstdio>', '#include "ap_fixed.h"', 'int main() {', '  double x;', '  int c;',
             '  while (scanf("%d %lf", &c, &x) == 2) {', '    double y = 0;', '    switch (c) {']
    for n, (k, b, i, rnd, sat) in enumerate(cases):
        u = '' if k else 'u'
        lines.append(f'    case {n}: y = ap_{u}fixed<{b}, {i}, AP_{rnd}, AP_{sat}>(x).to_double(); break;')
    lines += ['    }', '    printf("%.17g\\n", y);', '  }', '  return 0;', '}']
    return '\n'.join(lines)


@pytest.fixture(scope='module')
def cases():
    out = []
    for (k, b, i), rnd, sat in itertools.product(FORMATS, ROUNDING, OVERFLOW):
        if sat == 'WRAP_SM' and not k:
            continue  # ap_ufixed does not support AP_WRAP_SM
        out.append((k, b, i, rnd, sat))
    return out


@pytest.fixture(scope='module')
def oracle(tmp_path_factory, cases):
    if shutil.which('g++') is None:
        pytest.skip('g++ is needed for the ap_fixed oracle')
    d = tmp_path_factory.mktemp('apfixed')
    (d / 'oracle.cpp').write_text(_cpp_source(cases))
    exe = d / 'oracle'
    subprocess.run(['g++', '-O1', '-std=c++14', f'-I{_ap_types_dir()}', str(d / 'oracle.cpp'), '-o', str(exe)],
                   check=True)

    def run(case_ids: np.ndarray, xs: np.ndarray) -> np.ndarray:
        data = '\n'.join(f'{c} {x:.17g}' for c, x in zip(case_ids, xs))
        res = subprocess.run([str(exe)], input=data, capture_output=True, text=True, check=True, env=dict(os.environ))
        return np.array([float(v) for v in res.stdout.split()])

    return run


def _inputs(k, b, i, rng) -> np.ndarray:
    f = b - i
    lsb = 2.0**-f
    span = 2.0 ** (i - k) * 4  # reach well beyond the range to exercise overflow
    grid = np.arange(-span, span, lsb / 2)  # on-grid values and exact ties
    if grid.size > 600:
        grid = rng.choice(grid, 600, replace=False)
    rand = rng.uniform(-span, span, 300)
    return np.concatenate([grid, rand]).astype(np.float32)


def test_proxy_quantizer_matches_ap_fixed(cases, oracle):
    rng = np.random.default_rng(42)
    ids, xs, specs = [], [], []
    for n, (k, b, i, rnd, sat) in enumerate(cases):
        x = _inputs(k, b, i, rng)
        ids.append(np.full(x.size, n))
        xs.append(x)
        specs.append((k, b, i, rnd, sat, x))
    expected = oracle(np.concatenate(ids), np.concatenate(xs).astype(np.float64))
    pos = 0
    mismatches = []
    for k, b, i, rnd, sat, x in specs:
        want = expected[pos : pos + x.size]
        pos += x.size
        got_keras = np.asarray(gfixed_quantizer(x, k, b, i, rnd, sat), dtype=np.float64)
        got_np = quantize_np(x, k, b, i, rnd, sat)
        for label, got in (('keras', got_keras), ('numpy', got_np)):
            bad = np.flatnonzero(got != want)
            if bad.size:
                j = bad[0]
                mismatches.append(f'{label} k={k} B={b} I={i} {rnd}/{sat}: x={x[j]!r} ap_fixed={want[j]!r} '
                                  f'ours={got[j]!r} ({bad.size} bad)')
    assert not mismatches, '\n'.join(mismatches[:20])
