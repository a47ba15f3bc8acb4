"""Interval arithmetic: every value an operation can produce lies inside the computed interval and on its grid,
and the bounds are attained (the intervals are exact, not merely safe)."""

import itertools

import numpy as np
import pytest

from hgq_hls4ml.intervals import QArray, kif_of_constant, minimal_frac_bits

RNG = np.random.default_rng(0)


def _random_format(shape, rng=RNG):
    k = rng.integers(0, 2, shape)
    i = rng.integers(-1, 4, shape)
    f = rng.integers(0, 5, shape)
    return k, k + i + f, k + i  # k, B, I


def _corners(q: QArray, n: int, rng=RNG) -> np.ndarray:
    """Samples on the grid of ``q``, always including both bounds."""
    out = []
    for _ in range(n):
        lo, hi = q.lo, q.hi
        f = np.where(np.isfinite(q.f), q.f, 0)
        steps = np.round((hi - lo) * 2.0**f)
        pick = rng.integers(0, np.maximum(steps, 0) + 1)
        out.append(lo + pick * 2.0**-f)
    out.append(q.lo.copy())
    out.append(q.hi.copy())
    return np.stack(out)


def _assert_contains(q: QArray, values: np.ndarray):
    assert np.all(values >= q.lo - 1e-12) and np.all(values <= q.hi + 1e-12)
    f = np.where(q.is_zero, 0, q.f)
    scaled = values * 2.0**f
    np.testing.assert_array_equal(scaled, np.round(scaled))


def test_minimal_frac_bits():
    v = np.array([0.375, 5.0, -4.0, 0.0, 1.0, 2.0**-20, 3.5])
    np.testing.assert_array_equal(minimal_frac_bits(v), [3, 0, -2, -np.inf, 0, 20, 1])
    assert kif_of_constant(np.array([0.375, -1.5])) == (1, 1, 3)


def test_matmul_exact_bounds():
    k, b, i = _random_format((7,))
    x = QArray.from_kbi(k, b, i)
    w = np.round(RNG.normal(size=(7, 5)) * 8) / 8
    w[2, :] = 0
    bias = np.round(RNG.normal(size=5) * 16) / 16
    out = x.matmul(w, bias)
    xs = _corners(x, 300)
    ys = xs @ w + bias
    _assert_contains(out, ys)
    # the bounds are attained: the extreme inputs pick lo or hi per sign of the weight
    x_hi = np.where(w > 0, x.hi[:, None], x.lo[:, None])
    np.testing.assert_allclose(out.hi, (x_hi * w).sum(0) + bias)
    # resolution is exactly the finest product that can occur
    fw = np.where(w != 0, minimal_frac_bits(w), -np.inf)
    want_f = np.maximum((x.f[:, None] + fw).max(0), minimal_frac_bits(bias))
    np.testing.assert_array_equal(out.f, want_f)


@pytest.mark.parametrize('rnd', ['TRN', 'RND', 'RND_CONV', 'TRN_ZERO', 'RND_ZERO', 'RND_MIN_INF', 'RND_INF'])
@pytest.mark.parametrize('sat', ['WRAP', 'SAT', 'SAT_SYM', 'SAT_ZERO', 'WRAP_SM'])
def test_quantize_contains_all_results(rnd, sat):
    from HGQ.proxy.fixed_point import quantize_np

    x = QArray(np.full(6, -9.5), np.full(6, 11.5), np.full(6, 1.0))  # coarser than most quantizer grids
    k = np.array([1, 1, 0, 0, 1, 1])
    b = np.array([6, 4, 5, 3, 0, 8])
    i = np.array([3, 1, 2, 3, 0, 5])
    if sat == 'WRAP_SM':
        k = np.ones(6, int)
    q = x.quantize(k, b, i, rnd, sat)
    xs = _corners(x, 400)
    ys = np.stack([quantize_np(row, k, b, i, rnd, sat) for row in xs])
    _assert_contains(q, ys)


def test_quantize_in_range_keeps_tight_bounds():
    x = QArray(np.array([-1.0]), np.array([1.5]), np.array([2.0]))
    q = x.quantize(1, 6, 3, 'RND', 'WRAP')  # fixed<6,3> holds [-4, 3.875]: no overflow possible
    assert (q.lo[0], q.hi[0], q.f[0]) == (-1.0, 1.5, 2.0)
    q = x.quantize(1, 3, 1, 'TRN', 'SAT')  # fixed<3,1>: [-1, 0.75]
    assert (q.lo[0], q.hi[0]) == (-1.0, 0.75)


def test_to_kif_matches_definition():
    for lo, hi, f, want in [(-4.0, 3.875, 3, (1, 2, 3)), (0.0, 7.0, 0, (0, 3, 0)), (0.25, 0.5, 2, (0, 0, 2)),
                            (-1.0, -0.5, 1, (1, 0, 1)), (0.0, 0.0, -np.inf, (0, 0, 0)), (8.0, 8.0, -3, (0, 4, -3))]:
        k, i, ff = QArray(np.array([lo]), np.array([hi]), np.array([f])).to_kif()
        assert (int(k[0]), int(i[0]), int(ff[0])) == want, (lo, hi, f)


def test_add_relu_maximum():
    a = QArray(np.array([-2.0, 0.5]), np.array([1.0, 3.0]), np.array([1.0, 2.0]))
    b = QArray(np.array([-0.25, -1.0]), np.array([0.75, 0.0]), np.array([2.0, 0.0]))
    s = a + b
    np.testing.assert_array_equal(s.lo, [-2.25, -0.5])
    np.testing.assert_array_equal(s.hi, [1.75, 3.0])
    np.testing.assert_array_equal(s.f, [2.0, 2.0])
    r = a.relu()
    np.testing.assert_array_equal(r.lo, [0.0, 0.5])
    for xs in itertools.product(*[np.arange(lo, hi + 1e-9, 2.0**-f) for lo, hi, f in zip(a.lo, a.hi, a.f)]):
        assert np.all(np.maximum(xs, 0) >= r.lo)
