"""Fixed-point numerics, the one home shared by hgq-core, the hls4ml plugin and the QKeras bridge.

* Exact properties of float values: `minimal_frac_bits` (``-inf`` for zeros, the one convention; callers that
  need another value for zeros substitute it themselves), `significant_bits` and `smallest_kif`, the smallest
  ``(k, i, f)`` format holding given values exactly.
* Arbitrary-precision fixed-point arithmetic on floats, as ``ap_fixed<B, I, RND, SAT>`` does it: `round_int`,
  `overflow_int`, `quantize`. These take an array namespace ``xp`` (``numpy`` or ``keras.ops``) so that one
  implementation serves the Keras proxy layers (float32 tensors) and table building or interval arithmetic
  (float64 numpy). The rounding modes are written so that they are exact for every float input (no
  ``floor(y + 0.5)``, which rounds wrongly when ``y + 0.5`` is not representable) and map infinities to
  themselves (with ``np.errstate(invalid='ignore')`` around numpy calls on infinite values).

``HGQ.proxy.fixed_point`` re-exports the arithmetic under its former names.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

ROUNDING_MODES = ('TRN', 'RND', 'RND_CONV', 'TRN_ZERO', 'RND_ZERO', 'RND_MIN_INF', 'RND_INF')
OVERFLOW_MODES = ('WRAP', 'SAT', 'SAT_SYM', 'SAT_ZERO', 'WRAP_SM')


def check_modes(RND: str, SAT: str) -> tuple[str, str]:
    """Validates and normalizes rounding/overflow mode names (``AP_`` prefixes are accepted)."""
    rnd = str(RND).upper().removeprefix('AP_')
    sat = str(SAT).upper().removeprefix('AP_')
    if sat == 'WARP':
        sat = 'WRAP'
    if rnd not in ROUNDING_MODES:
        raise ValueError(f'Unknown rounding mode {RND!r}; use one of {ROUNDING_MODES}.')
    if sat not in OVERFLOW_MODES:
        raise ValueError(f'Unknown overflow mode {SAT!r}; use one of {OVERFLOW_MODES}.')
    return rnd, sat


def _frac_split(xp: Any, y):
    fl = xp.floor(y)
    return fl, y - fl  # exact for every float (Sterbenz), except for tiny negatives where it only rounds up


def round_int(xp: Any, y, RND: str):
    """Rounds ``y`` to an integer with the ap_fixed rounding mode ``RND``."""
    if RND == 'TRN':
        return xp.floor(y)
    if RND == 'RND_CONV':
        return xp.round(y)
    if RND in ('RND', 'RND_MIN_INF'):
        fl, r = _frac_split(xp, y)
        up = r >= 0.5 if RND == 'RND' else r > 0.5
        return xp.where(up, fl + 1.0, fl)
    a = xp.abs(y)
    sign = xp.where(y < 0, -1.0, 1.0)
    fl, r = _frac_split(xp, a)
    if RND == 'TRN_ZERO':
        mag = fl
    elif RND == 'RND_ZERO':
        mag = xp.where(r > 0.5, fl + 1.0, fl)
    elif RND == 'RND_INF':
        mag = xp.where(r >= 0.5, fl + 1.0, fl)
    else:
        raise ValueError(f'Unknown rounding mode {RND!r}.')
    return mag * sign


def overflow_int(xp: Any, y, k, B, SAT: str, y_trunc=None):
    """Applies the overflow mode to integers ``y`` held in ``B`` bits (``k``: signed).

    ``y_trunc`` (WRAP_SM only) is the value before rounding, truncated toward -inf: ap_fixed takes the lowest
    dropped bit from it, not from the rounded value.
    """
    k = xp.where(B > 0, k, 0.0)
    n = B - k  # magnitude bits
    high = xp.power(2.0, n) - 1.0
    low = -(high + 1.0) * k
    if SAT == 'SAT':
        return xp.minimum(xp.maximum(y, low), high)
    if SAT == 'SAT_SYM':
        return xp.minimum(xp.maximum(y, -high * k), high)
    if SAT == 'SAT_ZERO':
        return xp.where((y <= high) & (y >= low), y, 0.0)
    period = xp.power(2.0, B)
    r = xp.mod(y, period)  # exact: both are floats, period a power of two
    wrapped = xp.where(r > high, r - period, r)
    if SAT == 'WRAP':
        return wrapped
    if SAT == 'WRAP_SM':
        # sign-magnitude wrap (signed only): on overflow, where the lowest dropped bit of the unrounded value
        # differs from the new sign bit, the kept bits are inverted (-w - 1).
        src = y if y_trunc is None else y_trunc
        dropped = xp.mod(xp.floor(src / period), 2.0)
        overflow = (y > high) | (y < low)
        flip = overflow & (dropped != xp.where(wrapped < 0, 1.0, 0.0)) & (k > 0)
        return xp.where(flip, -wrapped - 1.0, wrapped)
    raise ValueError(f'Unknown overflow mode {SAT!r}.')


def quantize(xp: Any, x, k, B, I, RND: str = 'TRN', SAT: str = 'WRAP'):
    """``ap_fixed<B, I>`` (``ap_ufixed`` where ``k == 0``) conversion of ``x`` with the given modes.

    ``k``, ``B``, ``I`` broadcast against ``x``; elements with ``B == 0`` give 0.
    """
    RND, SAT = check_modes(RND, SAT)
    f = B - I
    scale = xp.power(2.0, f)
    scaled = x * scale
    y = round_int(xp, scaled, RND)
    y = overflow_int(xp, y, k, B, SAT, xp.floor(scaled) if SAT == 'WRAP_SM' else None)
    return xp.where(B > 0, y / scale, 0.0)


def quantize_np(x: np.ndarray, k, B, I, RND: str = 'TRN', SAT: str = 'WRAP') -> np.ndarray:
    """Float64 numpy version of `quantize`."""
    as_f = lambda v: np.asarray(v, dtype=np.float64)  # noqa: E731
    return quantize(np, as_f(x), as_f(k), as_f(B), as_f(I), RND, SAT)


numpy_namespace: ModuleType = np


# ------------------------------------------------------------------------------- exact properties of floats
def _mantissa_bits(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For ``|v|``: the mask of nonzeros, the frexp exponent and the count of significant mantissa bits."""
    a = np.abs(np.asarray(v, dtype=np.float64))
    nz = a > 0
    mant, exp = np.frexp(np.where(nz, a, 1.0))  # a = mant * 2**exp, mant in [0.5, 1)
    m = (mant * 2.0**53).astype(np.int64)
    trailing = np.log2((m & -m).astype(np.float64)).astype(np.int64)  # exact: m & -m is a power of two
    return nz, exp.astype(np.int64), 53 - trailing


def significant_bits(values) -> np.ndarray:
    """Number of significant mantissa bits of each value (0 for zeros), e.g. 12.0 -> 2, 0.75 -> 2."""
    nz, _, sig = _mantissa_bits(values)
    return np.where(nz, sig, 0)


def minimal_frac_bits(values) -> np.ndarray:
    """Smallest ``f`` such that ``v * 2**f`` is an integer, per element, as float64.

    Zeros give ``-inf`` (zero is an integer multiple of every ``2**-f``); a caller that needs a finite value for
    zeros substitutes it explicitly, e.g. ``np.where(v != 0, minimal_frac_bits(v), 0)``.
    """
    nz, exp, sig = _mantissa_bits(values)
    return np.where(nz, (sig - exp).astype(np.float64), -np.inf)


def _ceil_log2(top: float) -> int:
    """Exact ``ceil(log2(top))`` for a positive float (no ``np.log2`` rounding)."""
    mant, exp = np.frexp(top)
    return int(exp) - 1 if mant == 0.5 else int(exp)


def smallest_kif(values, f: int | None = None) -> tuple[int, int, int]:
    """The smallest homogeneous ``(k, i, f)`` (``i`` without the sign bit) holding every value exactly with
    truncation and wrapping: ``fixed<k + i + f, k + i>``.

    Args:
        values: Any float array.
        f: Fractional bits to use (values must lie on its grid); by default the largest `minimal_frac_bits`.

    Returns:
        ``(k, i, f)``; ``i`` is at least ``-f``, so the format has at least ``k`` bits. With ``f`` not given, values
        that are all zero (or none) give ``(0, 0, 0)``: a caller that needs a nonempty format chooses one.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if f is None:
        nz = v[v != 0]
        if nz.size == 0:
            return 0, 0, 0
        f = int(minimal_frac_bits(nz).max())
    f = int(f)
    k = int(np.any(v < 0))
    i = -f
    vmax = float(v.max()) if v.size else 0.0
    vmin = float(v.min()) if v.size else 0.0
    if vmax > 0:  # smallest i with vmax < 2**i (vmax lies on the 2**-f grid)
        i = max(i, int(np.frexp(vmax)[1]))
    if vmin < 0:  # smallest i with -vmin <= 2**i
        i = max(i, _ceil_log2(-vmin))
    return k, i, f
