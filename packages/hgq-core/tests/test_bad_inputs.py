"""Wrong arguments fail early with a ValueError that echoes the value and says what to do."""

import keras
import numpy as np
import pytest

from HGQ.layers import (
    HActivation,
    HAdd,
    HConv1D,
    HConv2D,
    HConv2DBatchNorm,
    HDense,
    HDenseBatchNorm,
    HQuantize,
    PConcatenate,
)


def test_unknown_skip_dims_string():
    with pytest.raises(ValueError, match=r"Unknown skip_dims 'per_channel'.*Use a tuple of axes or one of"):
        HDense(4, kq_conf={'skip_dims': 'per_channel'})


def test_skip_dims_of_wrong_type():
    with pytest.raises(ValueError, match=r'skip_dims must be None, a tuple of ints or one of .*got 1\.5'):
        HQuantize(paq_conf={'skip_dims': 1.5})


def test_skip_dims_axis_out_of_range():
    with pytest.raises(ValueError, match=r'skip_dims \(0, 5\) has axis 5, out of range .* Use axes in \[-2, 1\]'):
        HQuantize(paq_conf={'skip_dims': (0, 5)})(keras.Input((4,)))


def test_activation_skip_dims_must_include_the_batch_axis():
    with pytest.raises(ValueError, match=r'include 0 in skip_dims'):
        HQuantize(paq_conf={'skip_dims': (1,)})(keras.Input((4,)))


# "Negative init_bw bounds": HGQ1 allows negative fractional bits (init_bw < 0 means a grid coarser than 1),
# so a negative init_bw is fine; what must fail is an impossible clip range for the bitwidths.
def test_negative_init_bw_is_allowed():
    layer = HQuantize(paq_conf={'init_bw': -2})
    layer(keras.Input((3,)))
    np.testing.assert_array_equal(layer.paq.fbw.numpy(), -2.0)


@pytest.mark.parametrize('bw_clip', [(4, -4), (23, -23)])
def test_bw_clip_with_min_above_max(bw_clip):
    with pytest.raises(ValueError, match=r'bw_clip must be a pair \(min, max\) with min <= max, got'):
        HDense(2, kq_conf={'bw_clip': bw_clip})


def test_unknown_quantizer_config_key():
    with pytest.raises(ValueError, match=r"kq_conf has unknown keys \['init_bits'\]; allowed keys are"):
        HDense(2, kq_conf={'init_bits': 4})


@pytest.mark.parametrize('padding', ['causal', 'full', 3])
def test_unsupported_padding(padding):
    with pytest.raises(ValueError, match=rf'padding={padding!r} is not supported; use "valid" or "same"'):
        HConv1D(2, 3, padding=padding)


@pytest.mark.parametrize('cls', [HConv1D, HConv2D, HConv2DBatchNorm])
def test_unsupported_data_format(cls):
    with pytest.raises(ValueError, match=r"data_format='NHWC' is not supported; use \"channels_last\""):
        cls(2, 3, data_format='NHWC')


@pytest.mark.parametrize('cls', [HConv1D, HConv2D, HConv2DBatchNorm])
def test_groups_other_than_one(cls):
    with pytest.raises(ValueError, match=r'groups=2 is not supported.*Use groups=1'):
        cls(4, 3, groups=2)


@pytest.mark.parametrize('parallel_factor', [0, -3, 2.5, True])
def test_bad_parallel_factor(parallel_factor):
    with pytest.raises(ValueError, match=rf'parallel_factor must be a positive integer .*got {parallel_factor!r}'):
        HConv2D(4, 3, parallel_factor=parallel_factor)


@pytest.mark.parametrize(
    'make, shape',
    [
        (lambda: HDense(3), (4,)),
        (lambda: HDenseBatchNorm(3), (4,)),
        (lambda: HConv1D(2, 3), (8, 2)),
        (lambda: HConv2D(2, 3), (6, 6, 2)),
        (lambda: HConv2DBatchNorm(2, 3), (6, 6, 2)),
    ],
    ids=['HDense', 'HDenseBatchNorm', 'HConv1D', 'HConv2D', 'HConv2DBatchNorm'],
)
def test_kernel_layer_needs_a_quantized_input(make, shape):
    with pytest.raises(ValueError, match=r'takes its input from the model input.* Put HQuantize \(or Signature'):
        make()(keras.Input(shape))


def test_kernel_layer_after_a_plain_keras_layer():
    x = keras.layers.Reshape((3, 1), name='plain')(HQuantize()(keras.Input((3,))))
    with pytest.raises(ValueError, match=r"from 'plain' \(Reshape\), which is not quantized by HGQ"
                                         r".*Replace Reshape by HGQ's PReshape"):
        HConv1D(2, 1)(x)


def test_pconcatenate_with_one_input():
    x = HQuantize()(keras.Input((3,)))
    with pytest.raises(ValueError, match=r'got 1 input; it needs at least two.*remove the layer'):
        PConcatenate()([x])


def test_hadd_with_one_input():
    x = HQuantize()(keras.Input((3,)))
    with pytest.raises(ValueError, match=r'got 1 input; it needs at least two.*use HQuantize'):
        HAdd()([x])


@pytest.mark.parametrize('activation', ['tanh', 'sigmoid', keras.activations.softmax])
def test_hdense_with_an_unsupported_activation(activation):
    with pytest.raises(ValueError, match=r'only supports activation None, "linear" or "relu".*separate HActivation'):
        HDense(4, activation=activation)


def test_hconv_with_an_unsupported_activation():
    with pytest.raises(ValueError, match=r'HConv2D only supports activation None, "linear" or "relu"; got \'tanh\''):
        HConv2D(4, 3, activation='tanh')


def test_hactivation_without_an_activation():
    with pytest.raises(ValueError, match=r'activation must be a Keras activation name .* got None'):
        HActivation(None)


@pytest.mark.parametrize(
    'momentum, epsilon, what', [(1.5, 1e-3, 'momentum'), (0.9, 0.0, 'epsilon'), (0.9, -1, 'epsilon')]
)
def test_bad_batchnorm_arguments(momentum, epsilon, what):
    with pytest.raises(ValueError, match=rf'{what} must be'):
        HDenseBatchNorm(3, momentum=momentum, epsilon=epsilon)


def test_batchnorm_center_without_bias_warns_and_disables_center():
    with pytest.warns(UserWarning, match=r'center=True needs use_bias=True.*setting center=False'):
        layer = HDenseBatchNorm(3, use_bias=False)
    assert layer.center is False


def test_bw_clip_that_is_not_a_pair():
    from HGQ.quantizer import HGQ

    with pytest.raises(ValueError, match=r'bw_clip must be a pair .* got 5'):
        HGQ(2, None, bw_clip=5)
