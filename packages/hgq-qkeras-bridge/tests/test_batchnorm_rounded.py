"""QBatchNormalization with QKeras's default quantizers (its scale gamma/sqrt(var + eps) is not a power of two).

QKeras rounds ``x * scale + offset`` in float32; the firmware computes it exactly. The proxy computes what the
firmware computes (float64, followed by its quantizer in float64), so proxy == C simulation bit for bit, and
proxy == QKeras wherever QKeras's rounding does not cross a quantization step; the bridge counts the agreement
on calibration data. ``strict=True`` keeps the refusal.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hgq_qkeras import UnsupportedQKerasError, agreement, to_proxy_model
from hgq_qkeras.environment import LEGACY, import_qkeras, keras_of_qkeras
from hgq_qkeras.examples import batchnorm, randomize


def q():
    return import_qkeras()


def k():
    return keras_of_qkeras()


def qbits(bits, integer, **kw):
    return q().quantized_bits(bits, integer, **kw)


def _bn_model(conv: bool = False, after=None, seed: int = 0):
    """``q_in -> QDense/QConv2D -> QBatchNormalization() (QKeras defaults) -> after``."""
    shape = (6, 6, 2) if conv else (8,)
    x = k().Input(shape, name='x')
    h = q().QActivation(qbits(6, 2), name='q_in')(x)
    wq = {'kernel_quantizer': qbits(6, 0, alpha=1), 'bias_quantizer': qbits(6, 0, alpha=1)}
    h = q().QConv2D(4, 3, name='conv', **wq)(h) if conv else q().QDense(6, name='dense', **wq)(h)
    h = q().QBatchNormalization(name='bn')(h)
    after = after if after is not None else [q().QActivation(q().quantized_relu(6, 2), name='act')]
    for layer in after:
        h = layer(h)
    model = k().Model(x, h)
    randomize(model, seed)
    return model


def _inputs(model, n: int = 2000, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (n,) + tuple(int(s) for s in model.inputs[0].shape[1:])
    x = np.round(rng.uniform(-2, 2, size=shape) * 16) / 16  # the input quantizer's grid (6 bits, 2 integer)
    x[: n // 4] *= 8  # beyond its range: it saturates
    return x.astype(np.float32)


def _convert(model, x=None, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        proxy = to_proxy_model(model, calibration_data=x, **kw)
    return proxy, [str(w.message) for w in caught if 'QBatchNormalization' in str(w.message)]


def test_strict_refuses_with_the_reason():
    with pytest.raises(UnsupportedQKerasError) as info:
        to_proxy_model(_bn_model(), strict=True)
    message = str(info.value)
    for fragment in ("'bn'", 'not a power of two', 'epsilon=0', 'strict=True'):
        assert fragment in message, message


@pytest.mark.parametrize('conv', [False, True], ids=['dense', 'conv2d'])
def test_exact_affine_agrees_with_qkeras_and_counts(conv):
    model = _bn_model(conv)
    x = _inputs(model)
    proxy, messages = _convert(model, x)
    equal, total = agreement(model, proxy, x)
    assert total == x.shape[0] * int(np.prod(model.outputs[0].shape[1:]))
    assert equal >= 0.99 * total, (equal, total)  # QKeras's float32 rounding crosses a step only rarely
    if equal < total:
        assert len(messages) == 1 and f'{equal} of {total}' in messages[0], messages
    else:
        assert messages == [], messages
    bn = proxy.get_layer('bn')
    assert bn.dtype_policy.name == 'float64'
    assert proxy.get_layer('act').dtype_policy.name == 'float64'


def test_the_exact_value_is_what_the_proxy_quantizes():
    """The proxy's output is the quantizer applied to the exact x * scale + offset (numpy, float64)."""
    model = _bn_model()
    x = _inputs(model, 500)
    proxy, _ = _convert(model, x)
    bn = proxy.get_layer('bn')
    gamma, beta = (np.asarray(w.numpy(), np.float64) for w in bn.weights[:2])
    h = k().Model(model.input, model.get_layer('dense').output)(x).numpy().astype(np.float64)
    exact = h * gamma + beta
    act = proxy.get_layer('act')
    expected = act(exact).numpy() if hasattr(act(exact), 'numpy') else np.asarray(act(exact))
    np.testing.assert_array_equal(np.asarray(proxy(x), np.float64), np.asarray(expected, np.float64))


def test_a_fine_quantizer_after_it_shows_the_disagreement_count():
    """With 13 fractional bits after the normalization, QKeras's float32 rounding crosses a step now and then
    (measured: 58 of 256,000 outputs for this conv model on 4000 samples)."""
    model = _bn_model(True, after=[q().QActivation(qbits(16, 2), name='act')])
    x = _inputs(model, 1000)
    proxy, messages = _convert(model, x)
    equal, total = agreement(model, proxy, x)
    assert 0.99 * total < equal < total, (equal, total)
    assert len(messages) == 1 and f'equal QKeras on {equal} of {total} outputs' in messages[0], messages


def test_without_calibration_data_the_warning_says_not_measured():
    _, messages = _convert(_bn_model())
    assert len(messages) == 1 and 'not measured' in messages[0] and 'calibration_data' in messages[0], messages


def test_a_weight_layer_after_it_is_refused():
    model = _bn_model(after=[q().QDense(3, kernel_quantizer=qbits(4, 0, alpha=1),
                                        bias_quantizer=qbits(4, 0, alpha=1), name='next')])
    with pytest.raises(UnsupportedQKerasError) as info:
        to_proxy_model(model)
    message = str(info.value)
    for fragment in ("'next'", "'bn'", 'QActivation(quantized_bits', 'not a power of two'):
        assert fragment in message, message


def test_as_model_output_it_is_refused():
    with pytest.raises(UnsupportedQKerasError, match="the model output reads the output of 'bn'"):
        to_proxy_model(_bn_model(after=[]))


@pytest.mark.parametrize('conv, fine', [(False, False), (True, True)], ids=['dense', 'conv2d-16-bit-quantizer'])
def test_firmware_equals_proxy(conv, fine, tmp_path):
    """The C simulation equals the proxy bit for bit, also where QKeras differs (the 16-bit case)."""
    pytest.importorskip('hls4ml')
    testing = pytest.importorskip('hgq_hls4ml.testing')
    after = [q().QActivation(qbits(16, 2), name='act')] if fine else None
    model = _bn_model(conv, after=after, seed=3)
    x = _inputs(model, 1000)
    proxy, _ = _convert(model, x)
    io_type = 'io_stream' if conv else 'io_parallel'
    report = testing.compare(proxy, x, io_type=io_type, backend='Vivado', output_dir=str(tmp_path / 'prj'))
    assert report.exact, str(report)


def test_an_approximate_tensorflow_rsqrt_is_reported_and_the_exact_scale_kept(monkeypatch, flavour):
    """On AVX CPUs TensorFlow's vectorized float32 rsqrt returns the float below the exact value for powers of
    four (rsqrt(1) = 0.99999994): QKeras 0.9 then rounds where the firmware does not. Emulated here on any CPU."""
    if flavour != LEGACY:
        pytest.skip('qkeras-v3 computes 1 / sqrt(variance + epsilon), not rsqrt')
    import tensorflow as tf
    from tensorflow.python.ops import nn_impl

    def approximate_rsqrt(x, name=None):
        return tf.constant(1.0, x.dtype) / tf.math.sqrt(x) * tf.constant(1 - 2.0**-24, x.dtype)

    monkeypatch.setattr(nn_impl.math_ops, 'rsqrt', approximate_rsqrt)
    model = batchnorm()
    x = _inputs(model, 512)
    proxy, messages = _convert(model, x)
    assert len(messages) == 1 and "'bn1'" in messages[0] and 'approximate on this CPU' in messages[0], messages
    bn = next(layer for layer in proxy.layers if type(layer).__name__ == 'ExactBatchNormalization')
    gamma = np.asarray(bn.gamma)
    assert np.all(np.log2(np.abs(gamma)) == np.round(np.log2(np.abs(gamma)))), gamma  # the exact scale
    assert np.asarray(bn.weights[0]).dtype == np.float32  # the power-of-two scale is exact in float32
    strict, _ = _convert(model, x, strict=True)  # not refused: the layer itself is exact
    assert [type(layer).__name__ for layer in strict.layers] == [type(layer).__name__ for layer in proxy.layers]


def test_a_normalization_the_bridge_cannot_reproduce_is_refused_with_the_count():
    model = batchnorm()
    layer = model.get_layer('bn1')
    original = layer.call
    layer.call = lambda *args, **kwargs: original(*args, **kwargs) * 1.5  # not what QKeras's formula gives
    with pytest.raises(UnsupportedQKerasError, match=r"'bn1'.*could not reproduce.*\(\d+ of \d+ probe values differ\)"
                       r".*QKeras and TensorFlow versions"):
        to_proxy_model(model)
