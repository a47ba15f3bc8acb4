"""Forward rules (`hgq_hls4ml.produce`): chosen by the most specific class, pure (they never write to the node),
and exact on small cases checked by enumeration. Fast: fake IR nodes, no hls4ml conversion, no g++."""

import copy
import itertools

import numpy as np
import pytest
from fake_nodes import fake_node, fake_quantizer
from hls4ml.model.layers import (
    Activation,
    Concatenate,
    Conv1D,
    Dense,
    DepthwiseConv1D,
    GlobalPooling1D,
    Input,
    Merge,
    Pooling1D,
    Reshape,
    Transpose,
    ZeroPadding1D,
)

from hgq_hls4ml import produce as P
from hgq_hls4ml.intervals import QArray


def _q(lo, hi, f):
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    return QArray(lo, hi, np.broadcast_to(np.asarray(f, dtype=np.float64), lo.shape).copy())


def _pure(node, inputs):
    """Runs the rule and checks that neither the node's attributes nor the inputs changed."""
    before = copy.deepcopy(node.attributes)
    snapshot = [(a.lo.copy(), a.hi.copy(), a.f.copy()) for a in inputs]
    out = P.produce(node, inputs)
    assert node.attributes.keys() == before.keys()
    for key, value in before.items():
        assert np.array_equal(np.asarray(node.attributes[key], dtype=object), np.asarray(value, dtype=object)), key
    for a, (lo, hi, f) in zip(inputs, snapshot):
        assert np.array_equal(a.lo, lo) and np.array_equal(a.hi, hi) and np.array_equal(a.f, f)
    return out


def test_dispatch_takes_the_most_specific_class():
    assert P.produce.dispatch(DepthwiseConv1D) is not P.produce.dispatch(Conv1D)
    assert P.produce.dispatch(Concatenate) is not P.produce.dispatch(Merge)
    assert P.produce.dispatch(Conv1D).__name__ == '_conv'
    assert P.produce.dispatch(DepthwiseConv1D).__name__ == '_depthwise'
    assert P.produce.dispatch(Concatenate).__name__ == '_concat'


def test_unsupported_layer_names_the_supported_ones():
    from hls4ml.model.layers import LSTM

    with pytest.raises(P.UnsupportedLayerError, match='no exact precision rule') as err:
        P.produce(fake_node(LSTM, (4,)), [])
    for name in ('Dense', 'Conv1D', 'DepthwiseConv1D', 'HGQFixedPointQuantizer', 'Concatenate'):
        assert name in str(err.value)
    assert 'object' not in P.supported_classes()


def test_input_is_unbounded():
    out = _pure(fake_node(Input, (3,)), [])
    assert out.shape == (3,) and not out.bounded


def test_quantizer_rule_casts():
    node = fake_quantizer([1, 0], [4, 3], [2, 3], 'RND', 'SAT')
    out = _pure(node, [_q([-5.0, -1.0], [5.0, 9.0], [3, 3])])
    np.testing.assert_array_equal(out.lo, [-2.0, 0.0])
    np.testing.assert_array_equal(out.hi, [1.75, 7.0])


def test_dense_is_exact_on_the_grid():
    w = np.array([[0.5, -1.25], [2.0, 0.0], [-0.75, 0.125]])
    b = np.array([0.25, -1.0])
    node = fake_node(Dense, (2,), weights={'weight': w, 'bias': b})
    x = _q([-1.0, 0.0, -0.5], [1.0, 0.5, 0.0], [1, 1, 1])
    out = _pure(node, [x])
    grid = [np.arange(lo, hi + 0.25, 0.5) for lo, hi in zip(x.lo, x.hi)]
    values = np.array([np.array(v) @ w + b for v in itertools.product(*grid)])
    np.testing.assert_array_equal(out.lo, values.min(0))
    np.testing.assert_array_equal(out.hi, values.max(0))


def test_depthwise_conv1d_is_not_a_conv1d():
    """One filter per channel: channel 1 of the output sees only channel 1 of the input."""
    w = np.zeros((2, 2, 1))
    w[:, 0, 0] = 1.0
    w[:, 1, 0] = 0.5
    attrs = dict(filt_width=2, stride_width=1, pad_left=0, pad_right=0, depth_multiplier=1)
    node = fake_node(DepthwiseConv1D, (3, 2), weights={'weight': w}, **attrs)
    x = _q(np.zeros((4, 2)), np.array([[1.0, 4.0]] * 4), np.zeros((4, 2)))
    out = _pure(node, [x])
    np.testing.assert_array_equal(out.hi, [[2.0, 4.0]] * 3)


def test_conv1d_mixes_channels():
    w = np.ones((2, 2, 1))
    node = fake_node(Conv1D, (3, 1), weights={'weight': w}, filt_width=2, stride_width=1, pad_left=0, pad_right=0)
    x = _q(np.zeros((4, 2)), np.array([[1.0, 4.0]] * 4), np.zeros((4, 2)))
    np.testing.assert_array_equal(_pure(node, [x]).hi, [[10.0]] * 3)


def test_concatenate_is_not_a_merge():
    node = fake_node(Concatenate, (3,), axis=-1, op='concatenate')
    out = _pure(node, [_q([0.0, 1.0], [1.0, 2.0], 1), _q([-1.0], [0.0], 2)])
    np.testing.assert_array_equal(out.lo, [0.0, 1.0, -1.0])
    np.testing.assert_array_equal(out.f, [1, 1, 2])


def test_merge_multiply_and_the_zero_rule():
    node = fake_node(Merge, (3,), op='multiply')
    a, b = _q([-1.0, 0.0, 2.0], [2.0, 0.0, 3.0], 1), _q([-3.0, -1.0, 0.0], [1.0, 1.0, 0.0], 2)
    out = _pure(node, [a, b])
    np.testing.assert_array_equal(out.lo, [-6.0, 0.0, 0.0])
    np.testing.assert_array_equal(out.hi, [3.0, 0.0, 0.0])
    np.testing.assert_array_equal(out.f, [3, -np.inf, -np.inf])  # exact zeros have no resolution


def test_average_merge_halves():
    out = _pure(fake_node(Merge, (1,), op='average'), [_q([1.0], [3.0], 0), _q([0.0], [1.0], 0)])
    np.testing.assert_array_equal([out.lo, out.hi, out.f], [[0.5], [2.0], [1]])


@pytest.mark.parametrize('act', ['tanh', 'sigmoid', 'softmax'])
def test_native_activation_writes_nothing(act):
    node = fake_node(Activation, (2,), activation=act)
    out = _pure(node, [_q([-1.0, 0.0], [1.0, 2.0], 2)])
    assert 'hgq_native_activation' not in node.attributes
    assert P.native_activation(node) == act
    assert np.all(out.f == P.NATIVE_FRAC_BITS)
    assert P.native_activation(fake_node(Activation, (2,), activation='relu')) is None


def test_leaky_relu_and_thresholded_relu():
    x = _q([-4.0, -1.0], [2.0, 3.0], 0)
    leaky = _pure(fake_node(Activation, (2,), activation='leakyrelu', activ_param=0.25), [x])
    np.testing.assert_array_equal([leaky.lo, leaky.hi], [[-1.0, -0.25], [2.0, 3.0]])
    thr = _pure(fake_node(Activation, (2,), activation='thresholdedrelu', activ_param=2.5), [x])
    np.testing.assert_array_equal([thr.lo, thr.hi, thr.f], [[0.0, 0.0], [0.0, 3.0], [-np.inf, 0]])


def test_unknown_activation_is_refused():
    with pytest.raises(P.UnsupportedLayerError, match='UnaryLUT'):
        P.produce(fake_node(Activation, (1,), activation='elu'), [_q([0.0], [1.0], 0)])


def test_max_pool_ignores_padding_and_average_pool_needs_power_of_two():
    attrs = dict(pool_width=2, stride_width=2, pad_left=0, pad_right=0)
    x = _q([[-3.0], [-1.0], [-2.0], [-4.0]], [[-2.0], [0.0], [-1.0], [-3.0]], np.zeros((4, 1)))
    mx = _pure(fake_node(Pooling1D, (2, 1), pool_op='Max', **attrs), [x])
    np.testing.assert_array_equal([mx.lo.ravel(), mx.hi.ravel()], [[-1.0, -2.0], [0.0, -1.0]])
    avg = _pure(fake_node(Pooling1D, (2, 1), pool_op='Average', **attrs), [x])
    np.testing.assert_array_equal([avg.lo.ravel(), avg.hi.ravel(), avg.f.ravel()], [[-2.0, -3.0], [-1.0, -2.0], [1, 1]])
    three = dict(pool_width=3, stride_width=1, pad_left=0, pad_right=0)
    with pytest.raises(P.UnsupportedLayerError, match='not a power of two'):
        P.produce(fake_node(Pooling1D, (2, 1), pool_op='Average', **three), [x])


def test_global_pool():
    x = _q(np.zeros((4, 1)), np.array([[1.0], [2.0], [3.0], [4.0]]), np.zeros((4, 1)))
    g = _pure(fake_node(GlobalPooling1D, (1,), pool_op='Average'), [x])
    np.testing.assert_array_equal([g.hi, g.f], [[2.5], [2]])
    with pytest.raises(P.UnsupportedLayerError):
        P.produce(fake_node(GlobalPooling1D, (1,), pool_op='Average'), [x.take(np.arange(3)).reshape((3, 1))])


def test_shape_rules():
    x = _q(np.arange(6.0).reshape(2, 3), np.arange(6.0).reshape(2, 3) + 1, np.zeros((2, 3)))
    r = _pure(fake_node(Reshape, (3, 2)), [x])
    assert r.shape == (3, 2)
    t = fake_node(Transpose, (3, 2), perm=[1, 0])
    t.get_input_variable = lambda: type('V', (), {'shape': [2, 3]})()
    np.testing.assert_array_equal(P.produce(t, [x]).lo, x.lo.T)
    z = _pure(fake_node(ZeroPadding1D, (4, 3), pad_left=1, pad_right=1), [x])
    np.testing.assert_array_equal(z.f[0], [-np.inf] * 3)
    assert z.shape == (4, 3)
