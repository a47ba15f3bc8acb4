"""`HGQ.bops.fast`: the cheaper HDense BOPs contraction equals the straightforward one in value and gradient (bit for
bit for the BOPs and their gradient, integer bitwidths; to float rounding once scaled by a non-integer beta), on
whichever backend runs the tests; and layers patched with it train to the same state (the convolutions' coverage
form: test_conv_bops_coverage.py)."""

import keras
import numpy as np
import pytest
from backend_utils import grads_wrt_inputs
from keras import ops

from HGQ.bops import fast

UPSTREAM = [(3.0, 0.0), (1.3e-3, 1e-6)]  # (d loss / d BOPs, rtol): an integer is exact; a beta rounds


def _check(g1, g2, rtol):
    for a, b in zip(g1, g2):
        if rtol:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=0)
        else:
            np.testing.assert_array_equal(a, b)


def _bits(rng, shape, hi=9):
    b = rng.integers(0, hi, size=shape).astype(np.float32)
    b[rng.random(shape) < 0.2] = 0.0  # pruned
    return b


@pytest.mark.parametrize('w,rtol', UPSTREAM)
@pytest.mark.parametrize('lead', [(1,), (1, 3)])
def test_dense_bops_equals_matmul_sum(lead, w, rtol):
    rng = np.random.default_rng(0)
    n, m = 13, 7
    in_bw, k_bw = _bits(rng, lead + (n,)), _bits(rng, (n, m))
    w = np.float32(w)

    def straight(a, k):
        v = ops.sum(ops.matmul(a, k))
        return v * w, v

    def cheap(a, k):
        v = fast.dense_bops(a, k)
        return v * w, v

    _, v1, g1 = grads_wrt_inputs(straight, in_bw, k_bw)
    _, v2, g2 = grads_wrt_inputs(cheap, in_bw, k_bw)
    np.testing.assert_array_equal(v1, v2)
    _check(g1, g2, rtol)


def _train(patch: bool, kind: str):
    from HGQ import HConv2D, HDense, HQuantize, PFlatten

    keras.utils.set_random_seed(3)
    if kind == 'dense':
        layers = [keras.Input((6,)), HQuantize(beta=1e-3), HDense(5, activation='relu', beta=1e-3),
                  HDense(2, beta=1e-3)]
        x = np.random.default_rng(0).normal(size=(32, 6)).astype(np.float32)
    else:
        layers = [keras.Input((6, 6, 2)), HQuantize(beta=1e-3), HConv2D(3, 3, activation='relu', beta=1e-3), PFlatten(),
                  HDense(2, beta=1e-3)]
        x = np.random.default_rng(0).normal(size=(32, 6, 6, 2)).astype(np.float32)
    y = np.random.default_rng(1).normal(size=(32, 2)).astype(np.float32)
    model = keras.Sequential(layers)
    model.compile(keras.optimizers.SGD(0.1), 'mse')
    ctx = fast.patch_layers() if patch else _null()
    with ctx:
        model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    return [np.asarray(ops.convert_to_numpy(v)) for v in model.weights]


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize('kind', ['dense', 'conv'])
def test_patched_layers_train_to_the_same_weights(kind):
    ref, patched = _train(False, kind), _train(True, kind)
    assert len(ref) == len(patched)
    for a, b in zip(ref, patched):  # beta * BOPs: the gradients agree to float rounding
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
