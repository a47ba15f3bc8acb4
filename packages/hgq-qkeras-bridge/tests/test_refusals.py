"""What cannot be exact is refused with an error that names the layer and the quantizer and says what to do."""

from __future__ import annotations

import numpy as np
import pytest

from hgq_qkeras import UnsupportedQKerasError, to_proxy_model
from hgq_qkeras.environment import import_qkeras, keras_of_qkeras
from hgq_qkeras.examples import randomize


def q():
    return import_qkeras()


def k():
    return keras_of_qkeras()


def qbits(bits, integer, **kw):
    return q().quantized_bits(bits, integer, **kw)


def _dense(units=4, name='dense', **kw):
    kw.setdefault('kernel_quantizer', qbits(4, 0, alpha=1))
    kw.setdefault('bias_quantizer', qbits(4, 0, alpha=1))
    return q().QDense(units, name=name, **kw)


def _model(*layers, shape=(6,), quantize_input=True):
    x = k().Input(shape, name='x')
    h = q().QActivation(qbits(6, 2), name='q_in')(x) if quantize_input else x
    for layer in layers:
        h = layer(h)
    model = k().Model(x, h)
    randomize(model)
    return model


def _refused(model, *fragments):
    with pytest.raises(UnsupportedQKerasError) as info:
        to_proxy_model(model)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f'{fragment!r} not in: {message}'
    return message


def test_input_without_quantizer():
    _refused(_model(_dense(name='first'), quantize_input=False), "'first'", 'QDense', "model input 'x'",
             'QActivation(quantized_bits')


def test_float_alpha_on_activation():
    _refused(_model(_dense(), q().QActivation(qbits(6, 2, alpha=0.7), name='act')), "'act'", 'alpha=0.7',
             'alpha=1')


def test_auto_alpha_on_activation():
    _refused(_model(_dense(), q().QActivation(qbits(6, 2, alpha='auto_po2'), name='act')), "'act'", 'auto_po2',
             'every batch')


def test_auto_alpha_on_kernel():
    _refused(_model(_dense(kernel_quantizer=qbits(6, 0, alpha='auto'), name='d')), "'d'", "alpha='auto'",
             "alpha='auto_po2'")


def test_qnoise_factor():
    _refused(_model(_dense(), q().QActivation(qbits(6, 2, qnoise_factor=0.5), name='act')), "'act'",
             'qnoise_factor=0.5', 'qnoise_factor=1.0')


def test_stochastic_quantizer():
    _refused(_model(_dense(), q().QActivation(q().bernoulli(), name='act')), "'act'", 'bernoulli', 'random')


def test_missing_kernel_quantizer():
    layer = q().QDense(4, kernel_quantizer=None, bias_quantizer=qbits(4, 0, alpha=1), name='d')
    _refused(_model(layer), "'d'", 'kernel has no quantizer', 'kernel_quantizer')


def test_missing_bias_quantizer():
    _refused(_model(_dense(bias_quantizer=None, name='d')), "'d'", 'bias has no quantizer', 'bias_quantizer')


def test_float_activation():
    _refused(_model(_dense(), k().layers.Activation('tanh', name='act')), "'act'", 'tanh', 'quantized_tanh')


def test_softmax_activation_argument():
    _refused(_model(_dense(activation='softmax', name='d')), "'d'", 'softmax')


def test_lookup_quantizer_after_unquantized_tensor():
    _refused(_model(_dense(name='d'), q().QActivation(q().quantized_po2(4), name='po')), "'po'", 'quantized_po2',
             "from 'd'", 'QActivation(quantized_bits')


def test_lookup_table_too_large():
    model = _model(_dense(name='d'), q().QActivation(q().quantized_tanh(8), name='t'))
    with pytest.raises(UnsupportedQKerasError, match='unary_lut_max_table_size=64'):
        to_proxy_model(model, unary_lut_max_table_size=64)


def test_batchnorm_with_epsilon_as_output():
    layer = q().QBatchNormalization(name='bn')  # default epsilon=1e-3: scale is not a power of two
    _refused(_model(_dense(), layer), "'bn'", 'not a power of two', 'epsilon=0', 'QActivation(quantized_bits')


def test_depth_multiplier():
    layer = q().QDepthwiseConv2D((3, 3), depth_multiplier=2, depthwise_quantizer=qbits(4, 0, alpha=1),
                                 bias_quantizer=qbits(4, 0, alpha=1), name='dw')
    _refused(_model(layer, shape=(5, 5, 2)), "'dw'", 'depth_multiplier=2', 'depth_multiplier=1')


def test_average_pool_area_not_power_of_two():
    layer = q().QAveragePooling2D((3, 3), name='avg')
    _refused(_model(layer, shape=(6, 6, 2)), "'avg'", 'averages over 9 values', 'power of two')


def test_unsupported_layer():
    _refused(_model(_dense(), k().layers.LayerNormalization(name='ln')), "'ln'", 'LayerNormalization',
             'not supported')


def test_channels_first():
    layer = q().QConv1D(2, 3, kernel_quantizer=qbits(4, 0, alpha=1), bias_quantizer=qbits(4, 0, alpha=1),
                        data_format='channels_first', name='conv')
    try:
        model = _model(layer, shape=(4, 8))
    except Exception as exc:  # some TF builds cannot run channels_first convolutions on CPU at all
        pytest.skip(f'channels_first conv not runnable here: {exc}')
    _refused(model, "'conv'", 'channels_first', 'channels_last')


def test_error_names_received_table_size():
    with pytest.raises(ValueError, match='-3'):
        to_proxy_model(_model(_dense()), unary_lut_max_table_size=-3)


def test_random_inputs_do_not_hide_errors():
    """The refusal does not depend on weight values (no silent proxy for a lucky model)."""
    model = _model(_dense(kernel_quantizer=qbits(6, 0, alpha='auto'), name='d'))
    for w in model.get_layer('d').weights:
        w.assign(np.zeros(w.shape, np.float32))
    _refused(model, "alpha='auto'")
