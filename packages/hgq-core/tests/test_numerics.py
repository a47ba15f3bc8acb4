"""Property tests of `HGQ.numerics` against the reference fixed-point quantizers of the ``quantizers`` package
(the one hls4ml depends on), and against exact rational arithmetic.

The reference rounds with ``floor(x + 0.5)``, exact only where ``x * 2**f + 0.5`` is representable: the inputs
here lie on a grid a few bits finer than the format, with small magnitudes, so both sides compute exactly.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

hypothesis = pytest.importorskip('hypothesis')
quantizers = pytest.importorskip('quantizers')

from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from quantizers import get_fixed_quantizer_np  # noqa: E402

from HGQ.numerics import (  # noqa: E402
    ROUNDING_MODES,
    minimal_frac_bits,
    quantize,
    quantize_np,
    significant_bits,
    smallest_kif,
)

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True)


@st.composite
def formats(draw):
    """``(k, i, f)`` with at least one bit."""
    k = draw(st.integers(0, 1))
    f = draw(st.integers(-3, 8))
    i = draw(st.integers(max(-f, 1 - k - f), 8))
    return k, i, f


@st.composite
def grid_values(draw, f: int, i: int, n: int = 32):
    """Values on the ``2**-(f + 3)`` grid, up to four times beyond the format's range."""
    top = 1 << max(i + f + 5, 1)
    ints = draw(st.lists(st.integers(-top, top), min_size=1, max_size=n))
    return np.array(ints, dtype=np.float64) * 2.0 ** -(f + 3)


def _reference(x, k, i, f, rnd, sat):
    q = get_fixed_quantizer_np(rnd, sat)
    shape = np.shape(x)
    return q(x, np.full(shape, float(k)), np.full(shape, float(i)), np.full(shape, float(f)))


@SETTINGS
@given(data=st.data(), kif=formats(), rnd=st.sampled_from(ROUNDING_MODES),
       sat=st.sampled_from(('WRAP', 'SAT', 'SAT_SYM')))
def test_quantize_matches_reference(data, kif, rnd, sat):
    k, i, f = kif
    x = data.draw(grid_values(f, i))
    got = quantize_np(x, k, k + i + f, k + i, rnd, sat)
    np.testing.assert_array_equal(got, _reference(x, k, i, f, rnd, sat))


@SETTINGS
@given(data=st.data(), kif=formats(), rnd=st.sampled_from(('RND', 'RND_CONV')))
def test_quantize_wrap_sm_matches_reference(data, kif, rnd):
    """Sign-magnitude wrap, for the rounding modes the reference implements it with (signed types).

    One-bit types are left out: for ``ap_fixed<1,1,AP_RND_CONV,AP_WRAP_SM>(0.5)`` the reference gives -1, while
    ap_fixed itself (g++ with hls4ml's ap_types) gives 0, as `quantize_np` does.
    """
    _, i, f = kif
    assume(i + f >= 1)
    x = data.draw(grid_values(f, i))
    got = quantize_np(x, 1, 1 + i + f, 1 + i, rnd, 'WRAP_SM')
    np.testing.assert_array_equal(got, _reference(x, 1, i, f, rnd, 'WRAP_SM'))


def test_quantize_keras_ops_matches_numpy():
    """One implementation, two namespaces: keras.ops (float32) gives the numpy values on float32-exact inputs."""
    from keras import ops

    x = np.arange(-300, 301, dtype=np.float64) / 16
    for rnd in ROUNDING_MODES:
        for sat in ('WRAP', 'SAT', 'SAT_SYM', 'SAT_ZERO', 'WRAP_SM'):
            want = quantize_np(x, 1, 6, 3, rnd, sat)
            got = ops.convert_to_numpy(quantize(ops, ops.convert_to_tensor(x, 'float32'), 1.0, 6.0, 3.0, rnd, sat))
            np.testing.assert_array_equal(got, want, err_msg=f'{rnd}/{sat}')


finite = st.floats(min_value=-(2.0**40), max_value=2.0**40, allow_nan=False, allow_infinity=False, width=64)


@SETTINGS
@given(v=finite.filter(lambda a: a == 0 or abs(a) >= 2.0**-40))
def test_minimal_frac_bits_exact(v):
    f = minimal_frac_bits(np.array([v]))[0]
    if v == 0:
        assert f == -np.inf  # the documented convention for zeros
        return
    frac = Fraction(v)
    want = frac.denominator.bit_length() - 1 if frac.denominator > 1 else -_trailing_zeros(frac.numerator)
    assert f == want
    assert significant_bits(np.array([v]))[0] == abs(frac.numerator).bit_length() - _trailing_zeros(frac.numerator)


def _trailing_zeros(n: int) -> int:
    n = abs(n)
    return (n & -n).bit_length() - 1


@SETTINGS
@given(n=st.integers(-(1 << 40), 1 << 40).filter(bool), s=st.integers(-10, 40))
def test_minimal_frac_bits_against_reference(n, s):
    """Truncating ``v = n * 2**-s`` to ``f`` fractional bits keeps it; one bit fewer changes it. (The reference's
    wrap adds ``2**i`` in float64: ``v`` has at most 41 significant bits, so that sum stays exact.)"""
    x = np.array([n * 2.0**-s])
    f = int(minimal_frac_bits(x)[0])
    i = int(np.frexp(x[0])[1]) + 1
    np.testing.assert_array_equal(_reference(x, 1, i, f, 'TRN', 'WRAP'), x)
    assert _reference(x, 1, i, f - 1, 'TRN', 'WRAP')[0] != x[0]


@st.composite
def held_values(draw):
    """Arrays on a ``2**-f`` grid, some zeros among them."""
    f = draw(st.integers(-4, 12))
    ints = draw(st.lists(st.integers(-(1 << 20), 1 << 20), min_size=1, max_size=24))
    return np.array(ints, dtype=np.float64) * 2.0**-f


@SETTINGS
@given(v=held_values())
def test_smallest_kif_holds_and_is_minimal(v):
    k, i, f = smallest_kif(v)
    if not np.any(v != 0):
        assert (k, i, f) == (0, 0, 0)  # the documented convention for all-zero values
        return
    keeps = lambda k, i, f: np.array_equal(_reference(v, k, i, f, 'TRN', 'WRAP'), v)  # noqa: E731
    assert i >= -f and keeps(k, i, f)
    assert not keeps(k, i, f - 1)
    if k + i - 1 + f >= 1:
        assert not keeps(k, i - 1, f)
    if k == 1:
        assert not keeps(0, i, f)


@SETTINGS
@given(v=held_values(), extra=st.integers(0, 4))
def test_smallest_kif_with_given_frac_bits(v, extra):
    """With ``f`` given (at least the minimal one), the integer bits are the fewest that hold every value."""
    f_min = int(np.max(minimal_frac_bits(v))) if np.any(v != 0) else 0
    k, i, f = smallest_kif(v, f_min + extra)
    assert f == f_min + extra and i >= -f
    assert np.array_equal(_reference(v, k, i, f, 'TRN', 'WRAP'), v)
