"""BatchNorm fused into the kernel layer (spec 2.9), with the bn_beta fix: the training function uses bn_beta,
so inference computes exactly the function that was trained."""

import keras
import numpy as np
import pytest
from backend_utils import to_numpy

from HGQ.layers import HConv1DBatchNorm, HConv2DBatchNorm, HDenseBatchNorm, HQuantize

MAKERS = {
    'dense': (lambda **kw: HDenseBatchNorm(4, activation='relu', **kw), (5,)),
    'conv1d': (lambda **kw: HConv1DBatchNorm(3, 3, padding='same', **kw), (7, 2)),
    'conv2d_cf': (lambda **kw: HConv2DBatchNorm(3, 2, data_format='channels_first', **kw), (2, 5, 4)),
}


def _model(kind, **kw):
    make, shape = MAKERS[kind]
    x = keras.Input(shape)
    layer = make(**kw)
    return keras.Model(x, layer(HQuantize(paq_conf={'init_bw': 6})(x))), layer, shape


def _data(shape, n=32, seed=0):
    return np.random.default_rng(seed).uniform(-2, 2, (n, *shape)).astype('float32')


def _randomize_bn(layer, rng):
    c = layer.bias.shape
    layer.bias.assign(rng.uniform(-1, 1, c))
    if layer.scale:
        layer.bn_gamma.assign(rng.uniform(0.5, 2, c))
    if layer.center:
        layer.bn_beta.assign(rng.uniform(-1, 1, c))


@pytest.mark.parametrize('center, scale', [(True, True), (False, True), (True, False), (False, False)])
@pytest.mark.parametrize('kind', list(MAKERS))
def test_inference_computes_the_trained_function(kind, center, scale):
    """With momentum 0 the moving statistics become the batch statistics, so the training-mode output (batch
    statistics) and the inference-mode output (fused kernel and bias) must be identical, bn_beta included."""
    model, layer, shape = _model(kind, momentum=0.0, center=center, scale=scale)
    _randomize_bn(layer, np.random.default_rng(1))
    x = _data(shape)
    y_train = to_numpy(model(x, training=True))
    y_infer = to_numpy(model(x, training=False))
    np.testing.assert_array_equal(y_train, y_infer)


def test_bn_beta_shifts_the_training_output():
    model, layer, shape = _model('dense', scale=False)
    x = _data(shape)
    layer.paq.fbw.assign(np.full(layer.paq.fbw.shape, 20.0, 'float32'))
    before = to_numpy(model(x, training=True))
    layer.bn_beta.assign(np.full(layer.bn_beta.shape, 0.25, 'float32'))
    after = to_numpy(model(x, training=True))
    pre_relu = after > 0
    np.testing.assert_allclose((after - before)[pre_relu & (before > 0)], 0.25, atol=2**-20)


def test_fused_kernel_and_bias_formulas():
    _, layer, _ = _model('conv1d', epsilon=1e-2)
    rng = np.random.default_rng(2)
    _randomize_bn(layer, rng)
    layer.moving_mean.assign(rng.uniform(-1, 1, layer.moving_mean.shape))
    layer.moving_variance.assign(rng.uniform(0.5, 3, layer.moving_variance.shape))
    g = layer.bn_gamma.numpy() / np.sqrt(layer.moving_variance.numpy() + np.float32(1e-2))
    np.testing.assert_allclose(to_numpy(layer.fused_kernel), layer.kernel.numpy() * g, rtol=1e-6)
    expected_bias = layer.bias.numpy() - layer.moving_mean.numpy() * g + layer.bn_beta.numpy()
    np.testing.assert_allclose(to_numpy(layer.fused_bias), expected_bias, rtol=1e-6, atol=1e-7)


@pytest.mark.skipif(
    keras.backend.backend() == 'jax',
    reason='on JAX the kernel bits are adapted at build '
    '(test_backends.py::test_jax_batchnorm_kernel_bits_adapted_at_build)',
)
@pytest.mark.parametrize('kind', list(MAKERS))
def test_kernel_bits_adapt_on_the_first_training_call_only(kind):
    model, layer, shape = _model(kind, kq_conf={'init_bw': 3})
    np.testing.assert_array_equal(layer.kq.fbw.numpy(), 3.0)  # not adapted at build
    assert float(layer._kernel_bits_pending.numpy()) == 1.0
    x = _data(shape)
    model(x, training=False)
    np.testing.assert_array_equal(layer.kq.fbw.numpy(), 3.0)  # nor by inference

    z = to_numpy(layer._apply_kernel(model.layers[1](x), layer.kernel))
    axes = layer._bn_axes
    fused = layer.kernel.numpy() * layer.bn_gamma.numpy() / np.sqrt(z.var(axis=axes) + layer.epsilon)
    model(x, training=True)
    adapted = layer.kq.fbw.numpy()
    np.testing.assert_allclose(adapted, 3.0 - np.log2(np.abs(fused)), atol=1e-4)
    assert float(layer._kernel_bits_pending.numpy()) == 0.0
    model(_data(shape, seed=5), training=True)
    np.testing.assert_array_equal(layer.kq.fbw.numpy(), adapted)


def test_do_adapt_kernel_bits_false_keeps_init_bw():
    model, layer, shape = _model('dense', kq_conf={'init_bw': 3}, do_adapt_kernel_bits=False)
    model(_data(shape), training=True)
    np.testing.assert_array_equal(layer.kq.fbw.numpy(), 3.0)


def test_config_has_the_bn_arguments():
    layer = HConv2DBatchNorm(3, 2, momentum=0.9, epsilon=1e-4, center=False, gamma_initializer='zeros')
    config = layer.get_config()
    assert (config['momentum'], config['epsilon'], config['center'], config['scale']) == (0.9, 1e-4, False, True)
    clone = HConv2DBatchNorm.from_config(config)
    assert clone.get_config() == config
