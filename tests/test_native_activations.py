"""What is not bit-exact, measured: tanh, sigmoid and softmax on hls4ml's own lookup tables (the proxy keeps a
plain Keras Activation). With `unary_lut_max_table_size` tanh and sigmoid become exact UnaryLUTs (see the
matrix test); softmax is not unary and stays approximate. Numbers go to the log (HGQ_MATRIX_LOG) for the docs."""

from __future__ import annotations

import json
import os
import warnings

import keras
import numpy as np
import pytest

from HGQ import to_proxy_model, trace_minmax
from HGQ.layers import HActivation, HDense, HQuantize

from .conftest import compare_csim


def _model(act: str):
    inp = keras.Input((12,), name='x')
    h = HQuantize(name='inp_q', paq_conf={'init_bw': 4, 'skip_dims': 'all'})(inp)
    h = HDense(8, name='dense', paq_conf={'init_bw': 6, 'skip_dims': 'all'})(h)
    out = HActivation(act, name=act, paq_conf={'init_bw': 8, 'skip_dims': 'all'})(h)
    return keras.Model(inp, out)


@pytest.mark.parametrize('act,io_type', [('tanh', 'io_parallel'), ('sigmoid', 'io_stream'), ('softmax', 'io_parallel')])
def test_native_activation_error_is_small(act, io_type, hls_dir):
    keras.utils.set_random_seed(11)
    model = _model(act)
    x = np.random.default_rng(11).normal(size=(1000, 12)).astype('float32')
    trace_minmax(model, x, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        proxy = to_proxy_model(model)  # no lookup tables: hls4ml's native activation
        p, h, _ = compare_csim(proxy, x, io_type, 'Vivado', hls_dir)
    lsb = 2.0**-8
    err = np.abs(p - h)
    stats = {'activation': act, 'io_type': io_type, 'compared': int(p.size), 'equal': int(np.sum(p == h)),
             'max_abs_error': float(err.max()), 'max_error_lsb': float(err.max() / lsb),
             'argmax_agreement': float(np.mean(np.argmax(p, -1) == np.argmax(h, -1)))}
    if os.environ.get('HGQ_MATRIX_LOG'):
        with open(os.environ['HGQ_MATRIX_LOG'], 'a') as f:
            f.write(json.dumps(stats) + '\n')
    print(stats)
    if act == 'softmax':
        # hls4ml's softmax (stable implementation, 18-bit tables) is an approximation: measured 99.7 % argmax
        # agreement and a worst-case error of 0.2 on this model
        assert stats['argmax_agreement'] > 0.9, stats
        assert stats['max_abs_error'] < 0.3, stats
    else:
        assert stats['max_error_lsb'] <= 4, stats
