"""Hand-built proxy models that stress the plugin's precision propagation and code generation, compared
bit for bit with the C simulation (default precision fixed<1,0>, so any type the plugin misses shows)."""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from HGQ.proxy import FixedPointQuantizer  # noqa: E402
from hgq_hls4ml.testing import compare, convert  # noqa: E402

RNG = np.random.default_rng(3)


def q(k, b, i, rnd='TRN', sat='WRAP', name=None):
    return FixedPointQuantizer(k, b, i, rnd, sat, name=name)


def het(shape, lo_b=2, hi_b=8, lo_i=0, hi_i=4, k=1):
    b = RNG.integers(lo_b, hi_b, (1,) + shape)
    i = RNG.integers(lo_i, hi_i, (1,) + shape)
    return np.full_like(b, k), b, i


def dense(n, x, name):
    layer = keras.layers.Dense(n, name=name)
    y = layer(x)
    w = np.round(RNG.normal(size=layer.kernel.shape) * 8) / 8
    b = np.round(RNG.normal(size=layer.bias.shape) * 4) / 4
    layer.set_weights([w, b])
    return y


def inputs(n, shape, scale=4.0):
    return (RNG.normal(size=(n,) + shape) * scale).astype(np.float32)


def test_heterogeneous_input_quantizer_with_round_half_even(tmp_path):
    inp = keras.Input((12,), name='x')
    h = q(*het((12,)), rnd='RND_CONV', sat='SAT', name='q_in')(inp)
    h = dense(4, h, 'd')
    out = q(1, 10, 5, 'RND', 'SAT', name='q_out')(h)
    proxy = keras.Model(inp, out)
    x = inputs(500, (12,))
    x[:50] = np.round(x[:50] * 4) / 4 + 0.125  # exact ties for some formats
    rep = compare(proxy, x, 'io_parallel', 'Vivado', str(tmp_path))
    assert rep.exact, rep


@pytest.mark.parametrize('io_type', ['io_parallel', 'io_stream'])
def test_quantizer_after_reshape_and_pruned_elements(tmp_path, io_type):
    inp = keras.Input((4, 3), name='x')
    h = q(1, 7, 3, 'RND', 'SAT', name='q_in')(inp)
    h = keras.layers.Reshape((12,), name='flat')(h)
    k, b, i = het((12,))
    b[0, :3] = 0  # pruned elements must be exactly 0
    h = q(k, b, i, 'RND', 'WRAP', name='q_het')(h)
    h = dense(5, h, 'd')
    out = q(1, 9, 4, 'TRN', 'WRAP', name='q_out')(h)
    proxy = keras.Model(inp, out)
    rep = compare(proxy, inputs(400, (4, 3)), io_type, 'Vivado', str(tmp_path))
    assert rep.exact, rep


def test_branching_tensor_and_concatenate_stream(tmp_path):
    inp = keras.Input((6,), name='x')
    h = q(1, 8, 3, 'RND', 'SAT', name='q_in')(inp)
    a = q(*het((6,)), rnd='TRN', sat='SAT', name='qa')(h)
    b = q(0, 5, 2, 'RND', 'SAT', name='qb')(h)
    c = keras.layers.Concatenate(name='cat')([a, b])
    c = dense(3, c, 'd')
    out = q(1, 12, 6, 'RND', 'WRAP', name='q_out')(c)
    proxy = keras.Model(inp, out)
    rep = compare(proxy, inputs(400, (6,)), 'io_stream', 'Vitis', str(tmp_path))
    assert rep.exact, rep


def test_sign_magnitude_wrap_and_consecutive_quantizers(tmp_path):
    inp = keras.Input((8,), name='x')
    h = q(1, 9, 4, 'RND', 'SAT', name='q_in')(inp)
    h = dense(8, h, 'd')
    h = q(1, 5, 2, 'RND_INF', 'WRAP_SM', name='q_sm')(h)
    out = q(*het((8,)), rnd='TRN', sat='SAT_ZERO', name='q_het')(h)
    proxy = keras.Model(inp, out)
    rep = compare(proxy, inputs(400, (8,), scale=8.0), 'io_parallel', 'Vitis', str(tmp_path))
    assert rep.exact, rep


def test_types_are_exact_and_quantizers_fused(tmp_path):
    inp = keras.Input((5,), name='x')
    h = q(1, 6, 3, 'RND', 'SAT', name='q_in')(inp)
    h = dense(3, h, 'd')
    out = q(1, 7, 4, 'TRN', 'SAT', name='q_out')(h)
    hls_model = convert(keras.Model(inp, out), output_dir=str(tmp_path))
    layers = {layer.name: layer for layer in hls_model.get_layers()}
    assert 'q_in' not in layers and 'q_out' not in layers, 'homogeneous quantizers are fused into their producers'
    t_in = layers['x'].get_output_variable().type.precision
    assert (t_in.width, t_in.integer, t_in.signed, str(t_in.rounding_mode), str(t_in.saturation_mode)) == (
        6, 3, True, 'RND', 'SAT'
    )
    t_out = layers['d'].get_output_variable().type.precision
    assert (t_out.width, t_out.integer, str(t_out.saturation_mode)) == (7, 4, 'SAT')
    acc = layers['d'].get_attr('accum_t').precision
    assert acc.width - acc.integer == 3 + 3  # input has 3 fractional bits, weights 3 (eighths)


def test_unquantized_input_is_refused(tmp_path):
    inp = keras.Input((4,), name='x')
    out = q(1, 8, 4, name='q')(dense(2, inp, 'd'))
    with pytest.raises(ValueError, match='without a quantizer'):
        convert(keras.Model(inp, out), output_dir=str(tmp_path))


def test_native_table_activation_warns(tmp_path):
    inp = keras.Input((4,), name='x')
    h = q(1, 12, 4, name='q')(inp)
    out = q(1, 8, 2, name='q2')(keras.layers.Activation('tanh', name='tanh')(h))
    with pytest.warns(UserWarning, match='not bit-exact'):
        hls_model = convert(keras.Model(inp, out), output_dir=str(tmp_path))
    tanh = [layer for layer in hls_model.get_layers() if layer.name == 'tanh'][0]
    assert tanh.get_attr('table_size') == 8 * 2**8  # one entry per input value over hls4ml's [-4, 4) range


def test_activation_without_exact_rule_is_refused(tmp_path):
    inp = keras.Input((4,), name='x')
    h = q(1, 8, 4, name='q')(inp)
    out = q(1, 8, 2, name='q2')(keras.layers.Activation('softplus', name='softplus')(h))
    with pytest.raises(NotImplementedError, match='UnaryLUT'):
        convert(keras.Model(inp, out), output_dir=str(tmp_path))


@pytest.mark.parametrize('backend,io_type', [('Catapult', 'io_parallel'), ('Quartus', 'io_stream')])
def test_ac_fixed_backends(tmp_path, backend, io_type):
    """Catapult and Quartus (ac_fixed): per-element quantizers and lookup tables are inlined; exact too."""
    from HGQ.proxy.unary_lut import convert_activations_to_lut

    inp = keras.Input((8,), name='x')
    h = q(*het((8,)), rnd='RND', sat='SAT', name='q_in')(inp)
    h = dense(6, h, 'd1')
    h = q(*het((6,)), rnd='TRN', sat='WRAP', name='q1')(h)
    h = keras.layers.Activation('tanh', name='tanh')(h)
    h = q(*het((6,)), rnd='RND', sat='SAT', name='q2')(h)
    h = dense(3, h, 'd2')
    out = q(1, 10, 5, 'TRN', 'WRAP', name='q3')(h)
    proxy = convert_activations_to_lut(keras.Model(inp, out), 4096)
    rep = compare(proxy, inputs(300, (8,)), io_type, backend, str(tmp_path))
    assert rep.exact, rep


def test_ac_fixed_backends_refuse_sign_magnitude_wrap(tmp_path):
    inp = keras.Input((4,), name='x')
    out = q(*het((4,)), rnd='RND', sat='WRAP_SM', name='q_sm')(q(1, 8, 4, name='q')(inp))
    with pytest.raises(NotImplementedError, match='WRAP_SM'):
        hls_model = convert(keras.Model(inp, out), 'io_parallel', 'Quartus', str(tmp_path))
        hls_model.write()


def test_relu_before_fused_round_half_even_quantizer(tmp_path):
    """A ReLU whose quantizer is fused into it passes the quantizer's needs (RND_CONV: the exact value) on to the
    layer before it (reported by the QKeras bridge: plain relu then quantized_relu)."""
    inp = keras.Input((4,), name='x')
    h = q(1, 6, 3, 'RND_CONV', 'SAT', name='q_in')(inp)
    h = dense(3, h, 'dense1')
    h = keras.layers.Activation('relu', name='relu')(h)
    h = q(0, 6, 3, 'RND_CONV', 'SAT', name='q_relu')(h)
    out = dense(2, h, 'dense2')
    rep = compare(keras.Model(inp, out), inputs(200, (4,), scale=2.0), 'io_parallel', 'Vivado', str(tmp_path))
    assert rep.exact, rep


def test_depth_multiplier_is_refused_before_firmware(tmp_path):
    inp = keras.Input((6, 6, 2), name='x')
    h = q(1, 6, 3, 'RND', 'SAT', name='q_in')(inp)
    h = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name='dw')(h)
    out = q(1, 10, 5, 'RND', 'SAT', name='q_out')(h)
    with pytest.raises(ValueError, match='depth_multiplier=2'):
        convert(keras.Model(inp, out), output_dir=str(tmp_path / 'prj'))
