"""The bit-exactness matrix: every layer type x output rounding {auto, standard_round, floor} x aggressive
{True, False} x io {io_parallel, io_stream} x backend {Vivado, Vitis}, converted with a useless default precision.

- C simulation == proxy for every output element, on 1000 calibration samples plus 500 samples scaled by 4
  (values far outside the traced ranges: the overflow behaviour must match too);
- HGQ model == proxy on the calibration data (no value leaves its traced range).

CI runs three combinations per layer type (every value of every axis appears); `-m slow` runs the rest.
Set HGQ_MATRIX_LOG=<file> to append one JSON line per case (cases, outputs compared, outputs equal).
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import zlib

import keras
import numpy as np
import pytest

from HGQ import to_proxy_model, trace_minmax
from HGQ.proxy import UnaryLUT

from .conftest import compare_csim
from .layer_cases import CASES, ROUNDINGS, layer_conf, make_data, randomize

# aggressive, io type, backend
TWO_VALUED_AXES = ((True, False), ('io_parallel', 'io_stream'), ('Vivado', 'Vitis'))
COMBOS = list(itertools.product(ROUNDINGS, *TWO_VALUED_AXES))


def _ci_combos(j: int) -> list[tuple]:
    """Three combinations for layer type ``j`` in which every rounding and both values of each two-valued axis
    appear: one with the first values of aggressive/io/backend, one with the second values, one mixed (the mix
    and the roundings' order move with ``j``, so that across the types every combination of values shows up)."""
    flip = j % 2
    mixed = ((j >> 1) & 1, (j >> 2) & 1, (j >> 3) & 1)
    picks = [(flip,) * 3, (1 - flip,) * 3, mixed]
    return [
        (ROUNDINGS[(j + m) % len(ROUNDINGS)],) + tuple(values[b] for values, b in zip(TWO_VALUED_AXES, bits))
        for m, bits in enumerate(picks)
    ]


def _params():
    for j, case in enumerate(CASES):
        ci = _ci_combos(j)
        for combo in COMBOS:
            rnd, aggressive, io_type, backend = combo
            marks = [] if combo in ci else [pytest.mark.slow]
            yield pytest.param(
                case, rnd, aggressive, io_type, backend, marks=marks,
                id=f'{case.name}-{rnd}-{"wrap" if aggressive else "sat"}-{io_type}-{backend}',
            )


def _log(record: dict) -> None:
    path = os.environ.get('HGQ_MATRIX_LOG')
    if path:
        with open(path, 'a') as f:
            f.write(json.dumps(record) + '\n')


@functools.lru_cache(maxsize=4)
def _prepared(case, rounding: str, aggressive: bool):
    """Model, proxy, calibration data and the HGQ-vs-proxy mismatch count (shared by the io/backend cases)."""
    seed = zlib.crc32(f'{case.name}-{rounding}'.encode())
    keras.utils.set_random_seed(seed)
    model = case.build(layer_conf(rounding))
    randomize(model, seed)
    x_cal = make_data(case, 1000, seed)
    trace_minmax(model, x_cal, verbose=False)
    proxy = to_proxy_model(model, aggressive=aggressive, unary_lut_max_table_size=1 << 14)
    h_model = model.predict(x_cal, verbose=0, batch_size=1000)
    h_proxy = proxy.predict(x_cal, verbose=0, batch_size=1000)
    return proxy, x_cal, seed, int(h_model.size), int(np.sum(h_model != h_proxy))


@pytest.mark.parametrize('case,rounding,aggressive,io_type,backend', list(_params()))
def test_layer_bit_exact(case, rounding, aggressive, io_type, backend, hls_dir):
    proxy, x_cal, seed, n_model, n_model_diff = _prepared(case, rounding, aggressive)
    if case.name.endswith('_lut'):  # the activation must have become a table, not hls4ml's approximation
        assert any(isinstance(layer, UnaryLUT) for layer in proxy.layers)

    if case.stream_error and io_type == 'io_stream':
        from hgq_hls4ml.testing import convert

        with pytest.raises(ValueError, match=case.stream_error):
            convert(proxy, io_type, backend, hls_dir)
        return

    # proxy == C simulation, overflowing inputs included
    x = np.concatenate([x_cal, make_data(case, 500, seed + 1) * 4]) if case.signature is None else x_cal
    p, h, _ = compare_csim(proxy, x, io_type, backend, hls_dir)
    n_diff = int(np.sum(p != h))
    _log({'case': case.name, 'rounding': rounding, 'aggressive': aggressive, 'io_type': io_type,
          'backend': backend, 'compared': int(p.size), 'equal': int(p.size - n_diff),
          'model_vs_proxy_compared': n_model, 'model_vs_proxy_equal': n_model - n_model_diff})
    assert n_model_diff == 0, f'HGQ model and proxy differ on {n_model_diff} of {n_model} in-range outputs'
    assert n_diff == 0, f'C simulation differs from the proxy on {n_diff} of {p.size} outputs'
