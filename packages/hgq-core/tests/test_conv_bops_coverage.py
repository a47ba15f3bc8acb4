"""The BOPs term of the HGQ convolutions, computed from the tap coverage (a matrix product instead of a convolution),
equals the sum of the convolution of the bitwidth maps in value and in both gradients: bit for bit for integer
bitwidths and an integer upstream gradient, to float rounding once scaled by a non-integer beta; layers keep the
convolution form where the coverage cannot be used (a custom ``conv_op``)."""

import keras
import numpy as np
import pytest
from backend_utils import grads_wrt_inputs
from keras import ops

from HGQ import HConv1D, HConv2D, HQuantize
from HGQ.layers.conv import coverage_bops_sum, tap_coverage

UPSTREAM = [(3.0, 0.0), (1.3e-3, 1e-6)]  # (d loss / d BOPs, rtol): an integer is exact; a beta rounds

CASES = [  # spatial input, kernel size, strides, padding, dilation
    ((9, 8), (3, 3), (1, 1), 'valid', (1, 1)),
    ((9, 8), (3, 2), (2, 1), 'same', (1, 1)),
    ((9, 8), (2, 2), (1, 1), 'valid', (2, 2)),
    ((7, 7), (3, 3), (2, 2), 'same', (1, 1)),
    ((7, 6), (1, 1), (1, 1), 'valid', (1, 1)),
    ((11,), (3,), (1,), 'same', (2,)),
    ((10,), (4,), (3,), 'valid', (1,)),
]


def _bits(rng, shape, hi=9):
    b = rng.integers(0, hi, size=shape).astype(np.float32)
    b[rng.random(shape) < 0.2] = 0.0  # pruned
    return b


def _check(g1, g2, rtol):
    for a, b in zip(g1, g2):
        if rtol:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=0)
        else:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('w,rtol', UPSTREAM)
@pytest.mark.parametrize('channels_first', [False, True])
@pytest.mark.parametrize('spatial,kernel_size,strides,padding,dilation', CASES)
def test_coverage_bops_equals_conv_sum(spatial, kernel_size, strides, padding, dilation, channels_first, w, rtol):
    if channels_first and keras.backend.backend() == 'tensorflow':
        pytest.skip("TensorFlow's CPU convolution has no channels_first kernel (the reference)")
    rng = np.random.default_rng(len(spatial) * 10 + kernel_size[0])
    cin, cout = 3, 5
    shape = (1, cin) + spatial if channels_first else (1,) + spatial + (cin,)
    in_bw, k_bw = _bits(rng, shape), _bits(rng, kernel_size + (cin, cout))
    coverage = tap_coverage(spatial, kernel_size, strides, dilation, padding)
    w = np.float32(w)
    fmt = 'channels_first' if channels_first else 'channels_last'

    def straight(a, k):
        v = ops.sum(ops.conv(a, k, strides=strides, padding=padding, dilation_rate=dilation, data_format=fmt))
        return v * w, v

    def cheap(a, k):
        v = coverage_bops_sum(coverage, a, k, channels_first=channels_first)
        return v * w, v

    _, v1, g1 = grads_wrt_inputs(straight, in_bw, k_bw)
    _, v2, g2 = grads_wrt_inputs(cheap, in_bw, k_bw)
    np.testing.assert_array_equal(v1, v2)
    _check(g1, g2, rtol)


def test_tap_coverage_counts_every_product_once():
    # 1D, stride 2, 'same' on 5 inputs with a 3-tap kernel: outputs read inputs (-1, 0, 1), (1, 2, 3), (3, 4, 5)
    cov = tap_coverage((5,), (3,), (2,), (1,), 'same')
    expected = np.zeros((5, 3), np.float32)
    for o in range(3):
        for t in range(3):
            p = 2 * o + t - 1
            if 0 <= p < 5:
                expected[p, t] = 1
    np.testing.assert_array_equal(cov, expected)


@pytest.mark.parametrize('layer_cls,shape', [(HConv2D, (8, 7, 2)), (HConv1D, (9, 2))])
def test_layers_use_the_coverage_and_keep_the_convolution_for_a_custom_op(layer_cls, shape):
    inp = keras.Input(shape)
    conv = layer_cls(3, 3, beta=1.0)
    keras.Model(inp, conv(HQuantize()(inp)))
    assert conv._bops_coverage is not None
    assert conv._bops_coverage.shape == (int(np.prod(shape[:-1])), 3 ** (len(shape) - 1))
    rng = np.random.default_rng(0)
    in_bw, k_bw = _bits(rng, (1,) + shape), _bits(rng, tuple(conv.kernel.shape))
    via_coverage = ops.convert_to_numpy(conv._differentiable_bops(in_bw, k_bw))
    conv._bops_coverage = None  # the convolution form
    via_conv = ops.convert_to_numpy(conv._differentiable_bops(in_bw, k_bw))
    np.testing.assert_array_equal(via_coverage, via_conv)

    with pytest.warns(UserWarning, match='conv_op'):
        custom = layer_cls(3, 3, conv_op=lambda x, k: ops.conv(x, k))
    keras.Model(inp, custom(HQuantize()(inp)))
    assert custom._bops_coverage is None
