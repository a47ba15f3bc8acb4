"""Precision requests (`hgq_hls4ml.requests`) and the IR types derived from them (`hgq_hls4ml.ir_types`). Fast: fake
IR nodes, no hls4ml conversion, no g++."""

from types import SimpleNamespace

import numpy as np
import pytest
from fake_nodes import fake_node, fake_quantizer
from hls4ml.model.layers import Activation, Dense, Input, Pooling1D, Reshape

from hgq_hls4ml import ir_types as T
from hgq_hls4ml import requests as R
from hgq_hls4ml.intervals import QArray


@pytest.mark.parametrize(
    'rnd, sat, want',
    [
        ('TRN', 'WRAP', (3, 2, False, True, True)),  # wraps: only its own integer bits
        ('RND', 'WRAP', (3, 3, False, True, True)),  # rounds to nearest: one more fractional bit
        ('TRN', 'SAT', (None, 2, True, False, True)),  # saturates: the exact integer part
        ('TRN', 'WRAP_SM', (4, 2, False, True, True)),  # the lowest dropped bit decides the flip
        ('RND_CONV', 'WRAP', (3, None, False, True, True)),  # ties to even: the exact value below the cut
        ('RND_ZERO', 'WRAP', (None, None, False, False, True)),  # sign-dependent: the exact value
    ],
)
def test_quantizer_request(rnd, sat, want):
    req = R.quantizer_request(fake_quantizer([1, 1], [5, 4], [3, 2], rnd, sat))
    assert (req.I, req.f, req.saturating, req.wrapping, req.signed) == want


def test_quantizer_request_for_a_model_input():
    """A model input is converted from float: the exact-value requests become finite widths."""
    req = R.quantizer_request(fake_quantizer([0], [5], [3], 'RND_CONV', 'SAT'), for_input=True)
    assert (req.I, req.f) == (4, 2 + R.FLOAT32_GUARD_BITS)
    req = R.quantizer_request(fake_quantizer([1], [5], [3], 'RND_ZERO', 'WRAP'), for_input=True)
    assert req.I == R.FLOAT32_INTEGER_BITS


def test_fully_pruned_quantizer_requests_nothing():
    req = R.quantizer_request(fake_quantizer([1, 0], [0, 0], [2, 2]))
    assert (req.I, req.f) == (-np.inf, -np.inf)


def test_merge_is_the_larger_need():
    a = R.Request(3, 2, saturating=True)
    b = R.Request(5, 1, wrapping=True, signed=True)
    m = a.merge(b)
    assert (m.I, m.f, m.saturating, m.wrapping, m.signed) == (5, 2, True, True, True)
    assert R.Request(3, 2).merge(R.FULL).I is None and R.Request(3, 2).merge(R.FULL).f is None
    nothing = R.Request()
    assert nothing.merge(a) == a


def _view(chain, outputs):
    """A ModelView stand-in for a chain of nodes (each reads the previous one)."""
    consumers = {n.outputs[0]: [] for n in chain}
    for prev, node in zip(chain, chain[1:]):
        node.inputs = [prev.outputs[0]]
        consumers[prev.outputs[0]].append(node)
    return SimpleNamespace(nodes=chain, consumers=consumers, input_like={chain[0].outputs[0]},
                           is_output=lambda t: t in outputs)


def test_requests_travel_through_relu_and_reshape():
    inp = fake_node(Input, (2,), name='x')
    q0 = fake_quantizer([1, 1], [8, 8], [4, 4], name='q0')
    dense = fake_node(Dense, (2,), name='dense')
    relu = fake_node(Activation, (2,), name='relu', activation='relu')
    flat = fake_node(Reshape, (2,), name='flat')
    q1 = fake_quantizer([0, 0], [4, 4], [2, 2], 'RND', 'WRAP', name='q1')
    reqs = R.tensor_requests(_view([inp, q0, dense, relu, flat, q1], outputs={'q1'}))
    assert reqs['q1'] == R.FULL  # a model output: the exact value
    assert (reqs['flat'].I, reqs['flat'].f) == (2, 3)
    assert (reqs['relu'].I, reqs['relu'].f) == (2, 3)
    assert (reqs['dense'].I, reqs['dense'].f) == (None, 3)  # ReLU passes on the fractional need only
    assert reqs['q0'] == R.FULL  # a Dense reads the exact value
    assert (reqs['x'].I, reqs['x'].f) == (4, 4)


def test_input_without_quantizer_is_refused():
    inp = fake_node(Input, (2,), name='x')
    dense = fake_node(Dense, (2,), name='dense')
    with pytest.raises(ValueError, match='without a quantizer'):
        R.tensor_requests(_view([inp, dense], outputs={'dense'}))


def test_max_pool_passes_the_fractional_request():
    pool = fake_node(Pooling1D, (1, 1), name='pool', pool_op='Max')
    req = R.consumer_request(pool, {'pool': R.Request(3, 5)}, for_input=False)
    assert (req.I, req.f) == (None, 5)


def test_fixed_type_is_at_least_one_bit():
    t = T.fixed_type(0, 0, 0)
    assert (t.width, t.integer, t.signed) == (1, 0, False)
    t = T.fixed_type(1, 3, 2, 'RND', 'SAT')
    assert (t.width, t.integer, t.signed, str(t.rounding_mode), str(t.saturation_mode)) == (6, 4, True, 'RND', 'SAT')


def test_trimmed_type_takes_the_request():
    node = fake_node(Dense, (2,), name='d')
    p = QArray(np.array([-3.0, 0.0]), np.array([5.5, 1.0]), np.array([1.0, 3.0]))
    t = T.trimmed_type(node, p, R.Request(2, 1))
    assert (t.width, t.integer, t.signed) == (3, 2, True)
    t = T.trimmed_type(node, p, R.FULL)
    assert (t.width, t.integer) == (1 + 3 + 3, 4)
    assert T.trimmed_type(node, p, R.Request()).width == 1  # nobody reads it


def test_unbounded_range_has_no_type():
    with pytest.raises(ValueError, match='unbounded'):
        T.kif(fake_node(Dense, (1,), name='d'), QArray.unbounded((1,)))


def test_input_type():
    inp = fake_node(Input, (2,), name='x')
    t = T.input_type(inp, R.Request(4, 3, saturating=True, signed=True))
    assert (t.width, t.integer, t.signed, str(t.saturation_mode)) == (7, 4, True, 'SAT')
    wide = T.input_type(inp, R.Request(90, 30, signed=True))
    assert wide.width == T.INPUT_WIDTH_LIMIT
    with pytest.raises(ValueError, match='both wrapping and saturating'):
        T.input_type(inp, R.Request(4, 3, saturating=True, wrapping=True))


def test_quantizer_type_is_the_widest_element():
    t = T.quantizer_type(fake_quantizer([0, 1], [3, 6], [1, 2], 'RND', 'SAT'))
    assert (t.width, t.integer, t.signed) == (6, 2, True)
