"""Quantizer math: each QKeras activation quantizer against the proxy layers it becomes (no hls4ml)."""

from __future__ import annotations

import numpy as np
import pytest
from bridge_helpers import dense_inputs
from quantizers import get_fixed_quantizer_np

from hgq_qkeras.environment import import_qkeras
from hgq_qkeras.evaluate import evaluate
from hgq_qkeras.numerics import FixedFormat
from hgq_qkeras.quantizers import Fixed, Identity, Lookup, Relu, activation_plan


def qk():
    return import_qkeras()


BITS_CASES = [  # bits, integer, keep_negative, symmetric
    (8, 0, True, 0), (8, 3, True, 0), (6, 2, True, 1), (4, 0, True, 1), (5, 5, True, 0), (4, 6, True, 0),
    (6, 2, False, 0), (3, 0, False, 0), (7, 3, False, 1), (2, 1, True, 0), (12, 4, True, 0),
]


@pytest.mark.parametrize('bits,integer,keep_negative,symmetric', BITS_CASES)
def test_quantized_bits_is_one_fixed_point_cast(bits, integer, keep_negative, symmetric):
    q = qk().quantized_bits(bits, integer, symmetric=symmetric, keep_negative=keep_negative, alpha=1)
    plan = activation_plan(q, 'test')
    assert isinstance(plan, Fixed)
    fmt = plan.fmt
    x = dense_inputs(FixedFormat(int(keep_negative), bits, integer + int(keep_negative)))
    np.testing.assert_array_equal(evaluate(q, x), fmt.quantize(x).astype(np.float32))


@pytest.mark.parametrize('bits,integer', [(6, 0), (6, 2), (4, 4), (8, 3), (3, 5), (1, 0)])
def test_quantized_relu_is_one_unsigned_cast(bits, integer):
    q = qk().quantized_relu(bits, integer)
    plan = activation_plan(q, 'test')
    assert isinstance(plan, Fixed) and plan.fmt.keep_negative == 0
    x = dense_inputs(FixedFormat(0, bits, integer))
    np.testing.assert_array_equal(evaluate(q, x), plan.fmt.quantize(x).astype(np.float32))


@pytest.mark.parametrize('fmt', [FixedFormat(1, 6, 3, 'RND_CONV', 'SAT'), FixedFormat(0, 5, 1, 'RND_CONV', 'SAT'),
                                 FixedFormat(1, 4, 1, 'RND_CONV', 'WRAP'), FixedFormat(1, 5, 2, 'TRN_ZERO', 'SAT'),
                                 FixedFormat(1, 3, 0, 'TRN', 'SAT')])
def test_fixed_format_matches_the_quantizers_package(fmt):
    """The numpy reference used above agrees with hls4ml's `quantizers` package (an independent oracle)."""
    x = dense_inputs(fmt).astype(np.float64)
    k, i, f = fmt.kif
    oracle = get_fixed_quantizer_np(fmt.RND, fmt.SAT)(x, np.float64(k), np.float64(i), np.float64(f))
    np.testing.assert_array_equal(fmt.quantize(x), oracle)


def _check_pre_quantizer(q, plan):
    """``q(x) == q(pre(x))`` for every input: the table over ``pre``'s values covers all inputs exactly."""
    assert isinstance(plan, Lookup) and plan.pre is not None
    x = dense_inputs(plan.pre, extra_range=3)
    direct = evaluate(q, x)
    via_pre = evaluate(q, plan.pre.quantize(x).astype(np.float32))
    np.testing.assert_array_equal(direct, via_pre)


@pytest.mark.parametrize('bits', [1, 2, 3, 5, 8])
@pytest.mark.parametrize('symmetric', [False, True])
def test_quantized_tanh_table_covers_every_input(bits, symmetric):
    q = qk().quantized_tanh(bits, symmetric=symmetric)
    _check_pre_quantizer(q, activation_plan(q, 'test'))


@pytest.mark.parametrize('bits', [2, 3, 4, 6, 8])
@pytest.mark.parametrize('symmetric', [False, True])
def test_quantized_sigmoid_table_covers_every_input(bits, symmetric):
    q = qk().quantized_sigmoid(bits, symmetric=symmetric)
    _check_pre_quantizer(q, activation_plan(q, 'test'))


@pytest.mark.parametrize('kwargs', [{}, {'alpha': 1}, {'use_01': True}, {'alpha': 0.5}, {'use_01': True, 'alpha': 2}])
def test_binary_table_covers_every_input(kwargs):
    q = qk().binary(**kwargs)
    _check_pre_quantizer(q, activation_plan(q, 'test'))


@pytest.mark.parametrize('threshold', [0.5, 0.25, 1.0, 0.75, 2.0])
def test_ternary_table_covers_every_input(threshold):
    q = qk().ternary(threshold=threshold)
    _check_pre_quantizer(q, activation_plan(q, 'test'))


def test_one_bit_quantized_bits_is_a_sign_table():
    q = qk().quantized_bits(1, 0, alpha=1)
    _check_pre_quantizer(q, activation_plan(q, 'test'))


def test_power_of_two_alpha_scales_a_fixed_point_grid():
    q = qk().quantized_bits(6, 2, alpha=0.5)
    plan = activation_plan(q, 'test')
    assert plan.pre == FixedFormat(1, 6, 3, 'RND_CONV', 'SAT')
    _check_pre_quantizer(q, plan)


@pytest.mark.parametrize('make', [
    lambda q: q.quantized_po2(4),
    lambda q: q.quantized_relu_po2(4, 8),
    lambda q: q.quantized_relu(6, 2, negative_slope=0.25),
    lambda q: q.quantized_tanh(6, use_real_tanh=True),
    lambda q: q.ternary(),  # threshold 0.33 is not a short binary fraction
])
def test_quantizers_without_pre_quantizer_need_a_grid(make):
    plan = activation_plan(make(qk()), 'test')
    assert isinstance(plan, Lookup) and plan.pre is None and plan.why_grid


def test_plain_functions():
    import keras

    assert isinstance(activation_plan(None, 'test'), Identity)
    assert isinstance(activation_plan(keras.activations.linear, 'test'), Identity)
    assert isinstance(activation_plan(keras.activations.relu, 'test'), Relu)


@pytest.mark.parametrize('make', [
    lambda q: q.quantized_bits(6, 2, alpha=1, use_stochastic_rounding=True),
    lambda q: q.quantized_relu(6, 2, use_stochastic_rounding=True),
    lambda q: q.stochastic_binary(alpha=1),
])
def test_training_only_stochastic_options_are_deterministic_at_inference(make):
    """QKeras rounds stochastically only in training; at inference these behave as their deterministic forms."""
    plan = activation_plan(make(qk()), 'test')
    assert isinstance(plan, (Fixed, Lookup))
