"""HGQ.proxy.ExactBatchNormalization converts to hls4ml's BatchNormalization, bit for bit (fixed<1,0> default)."""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from HGQ.proxy import ExactBatchNormalization, FixedPointQuantizer  # noqa: E402
from hgq_hls4ml.testing import compare, convert  # noqa: E402

CHANNELS = 8


def _quantizer(shape, bits, integers, name, rnd='TRN', sat='WRAP'):
    k, b, i = (np.full((1,) + shape, v) for v in (1, bits, integers))
    return FixedPointQuantizer(k, b, i, rnd, sat, name=name)


def _proxy(shape, seed: int):
    rng = np.random.default_rng(seed)
    inp = keras.Input(shape)
    h = _quantizer(shape, 6, 3, 'q_in')(inp)
    bn = ExactBatchNormalization(epsilon=0.0, name='bn')
    h = bn(h)
    out = _quantizer(shape, 7, 3, 'q_out', rnd='RND', sat='SAT')(h)
    bn.set_weights([rng.choice([0.25, 0.5, 1.0, 2.0], CHANNELS).astype(np.float32),
                    (rng.integers(-32, 32, CHANNELS) / 16).astype(np.float32),
                    np.zeros(CHANNELS, np.float32), np.ones(CHANNELS, np.float32)])
    return keras.Model(inp, out), rng


@pytest.mark.parametrize('shape,io_type', [((CHANNELS,), 'io_parallel'), ((4, CHANNELS), 'io_stream')])
def test_csim_equals_proxy(shape, io_type):
    proxy, rng = _proxy(shape, 0)
    x = rng.uniform(-10, 10, (256,) + shape).astype(np.float32)  # out of range and off the grid too
    report = compare(proxy, x, io_type=io_type)
    assert report.exact, report


def test_a_normalization_over_another_axis_is_refused_with_what_to_do():
    inp = keras.Input((CHANNELS, 4))
    h = _quantizer((CHANNELS, 4), 6, 3, 'q_in')(inp)
    out = ExactBatchNormalization(axis=1, epsilon=0.0, name='bn')(h)
    with pytest.raises(ValueError, match=r"'bn' normalizes axis 1; .*axis=-1"):
        convert(keras.Model(inp, out))
