"""Exact BOPs (spec 2.7) against hand computations, including conv strides/padding, parallel_factor and
channels_first, and the training-time (differentiable) BOPs loss."""

import keras
import numpy as np
import pytest

import HGQ
from HGQ.layers import HConv1D, HConv2D, HDense, HQuantize, PFlatten, Signature
from HGQ.layers.conv import conv_bops_sum


def _set_kernel(layer, kernel) -> None:
    """Sets the kernel and gives it plenty of fractional bits, so the quantized kernel is the kernel."""
    layer.kernel.assign(np.asarray(kernel, dtype='float32'))
    layer.kq.fbw.assign(np.full(layer.kq.fbw.shape, 12.0, dtype='float32'))


def test_dense_bops_by_hand():
    # input bits 4 and 3; kernel bits: 0.5 -> 1, 1.5 -> 2 (1.1b), 0.375 -> 2 (0.011b), 0 -> 0 (pruned)
    x = keras.Input((2,))
    dense = HDense(2, use_bias=False)
    model = keras.Model(x, dense(Signature(1, [4, 3], [2, 1])(x)))
    _set_kernel(dense, [[0.5, 1.5], [0.375, 0.0]])
    data = np.random.default_rng(0).uniform(-1, 1, (16, 2)).astype('float32')
    bops = HGQ.trace_minmax(model, data, verbose=False)
    assert bops == 4 * (1 + 2) + 3 * (2 + 0) == 18
    assert float(dense.bops.numpy()) == 18


@pytest.mark.parametrize(
    'padding, strides, parallel_factor, expected',
    [
        # positions (x0,x1), (x1,x2), (x2,x3) with input bits 2,3,4,5 and kernel bits 1,2 (per filter):
        # 8 + 11 + 14 = 33 per filter, 2 filters, 3 positions -> 66 / 3 = 22 per position
        ('valid', 1, 1, 22.0),
        ('valid', 1, 3, 66.0),  # parallel_factor = N_pos: the full cost
        # 'same' with stride 2: positions (x0,x1), (x2,x3): (8 + 14) * 2 filters / 2 positions
        ('same', 2, 1, 22.0),
    ],
)
@pytest.mark.parametrize('data_format', ['channels_last', 'channels_first'])
def test_conv1d_bops_by_hand(padding, strides, parallel_factor, expected, data_format):
    bits = np.array([2, 3, 4, 5])
    shape = (4, 1) if data_format == 'channels_last' else (1, 4)
    x = keras.Input(shape)
    conv = HConv1D(2, 2, strides=strides, padding=padding, data_format=data_format, use_bias=False,
                   parallel_factor=parallel_factor)
    model = keras.Model(x, conv(Signature(1, bits.reshape(shape), 1)(x)))
    _set_kernel(conv, np.array([[[0.5, 0.5]], [[1.5, 1.5]]]))
    data = np.random.default_rng(0).uniform(-0.5, 0.5, (8, *shape)).astype('float32')
    assert HGQ.trace_minmax(model, data, verbose=False) == expected


def test_channels_first_bops_equal_channels_last():
    """N_pos counts output positions only; HGQ1 divided by prod(output_shape[1:-1]), which for channels_first
    includes the channels and excludes the last spatial axis."""
    rng = np.random.default_rng(1)
    kernel = rng.uniform(-1, 1, (3, 2, 2, 5)).astype('float32')
    bits = rng.integers(0, 8, (1, 6, 7, 2))
    totals = {}
    for data_format in ('channels_last', 'channels_first'):
        b = bits if data_format == 'channels_last' else np.transpose(bits, (0, 3, 1, 2))
        x = keras.Input(b.shape[1:])
        conv = HConv2D(5, (3, 2), strides=(1, 2), padding='same', data_format=data_format, parallel_factor=4)
        model = keras.Model(x, conv(Signature(1, b, 2)(x)))
        _set_kernel(conv, kernel)
        data = rng.uniform(-1, 1, (8, *b.shape[1:])).astype('float32')
        totals[data_format] = HGQ.trace_minmax(model, data, verbose=False)
    assert totals['channels_last'] == totals['channels_first'] > 0


@pytest.mark.parametrize('padding', ['valid', 'same'])
@pytest.mark.parametrize('strides, dilation', [(1, 1), (2, 1), (1, 2)])
def test_conv_bops_sum_equals_a_float_convolution(padding, strides, dilation):
    """The exact (float64, numpy) sum equals the sum of the Keras convolution of the two maps."""
    rng = np.random.default_rng(2)
    x = rng.integers(0, 9, (1, 7, 6, 3)).astype('float32')
    k = rng.integers(0, 9, (3, 2, 3, 4)).astype('float32')
    ref = float(np.sum(keras.ops.convert_to_numpy(
        keras.ops.conv(x, k, strides=strides, padding=padding, dilation_rate=dilation))))
    got = conv_bops_sum(x, k, (strides,) * 2, padding, (dilation,) * 2, 'channels_last')
    assert got == ref


def test_training_bops_loss_is_beta_times_bops():
    x = keras.Input((6, 2))
    q = HQuantize()(x)
    conv = HConv1D(3, 3, beta=0.5, parallel_factor=2)
    model = keras.Model(x, HDense(1)(PFlatten()(conv(q))))
    data = np.random.default_rng(3).uniform(-1, 1, (16, 6, 2)).astype('float32')
    model(data, training=True)
    bops = float(conv.bops.numpy())
    assert bops > 0
    losses = [float(keras.ops.convert_to_numpy(loss)) for loss in conv.losses]
    assert any(np.isclose(loss, 0.5 * bops, rtol=1e-6) for loss in losses), (losses, bops)
    # inference adds no BOPs loss and leaves the recorded BOPs alone
    model(data, training=False)
    assert float(conv.bops.numpy()) == bops
