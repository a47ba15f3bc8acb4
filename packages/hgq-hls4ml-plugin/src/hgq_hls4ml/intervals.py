"""Exact value ranges of fixed-point tensors.

Every element of a tensor is described by an interval ``[lo, hi]`` and a resolution exponent ``f``:
the element takes values in ``[lo, hi]`` that are multiples of ``2**-f``. An element that is exactly
zero has ``lo == hi == 0`` and ``f == -inf``; an unknown (unquantized) element has infinite bounds and
``f == +inf``. Sums, products with constant weights, rounding and overflow are propagated exactly
(up to the float64 representation of the bounds, which only feeds the integer-bit count, with a
guard bit when more than 50 bits are involved).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from HGQ.numerics import minimal_frac_bits, round_int, smallest_kif

__all__ = ['QArray', 'kif_of_constant', 'minimal_frac_bits', 'zero_f']

_GUARD_BITS_THRESHOLD = 50


def kif_of_constant(values: np.ndarray) -> tuple[int, int, int]:
    """Smallest homogeneous ``(k, i, f)`` that holds every value exactly (``(0, 0, 0)`` if all are zero)."""
    return smallest_kif(values)


@dataclass
class QArray:
    """Per-element value intervals and resolutions of a tensor (batch axis excluded)."""

    lo: np.ndarray
    hi: np.ndarray
    f: np.ndarray

    # ----------------------------------------------------------------------------- construction
    @classmethod
    def unbounded(cls, shape) -> QArray:
        shape = tuple(shape)
        return cls(np.full(shape, -np.inf), np.full(shape, np.inf), np.full(shape, np.inf))

    @classmethod
    def constant(cls, values) -> QArray:
        v = np.asarray(values, dtype=np.float64)
        return cls(v.copy(), v.copy(), minimal_frac_bits(v))

    @classmethod
    def from_kbi(cls, k, B, I, shape=None) -> QArray:
        """The full range of ``ap_fixed<B, I>`` (``ap_ufixed`` where ``k == 0``), per element."""
        k, B, I = (np.asarray(a, dtype=np.float64) for a in (k, B, I))
        if shape is not None:
            k, B, I = (np.broadcast_to(a, shape) for a in (k, B, I))
        f = B - I
        i = I - k
        lo = np.where(B > 0, -k * 2.0**i, 0.0)
        hi = np.where(B > 0, 2.0**i - 2.0**-f, 0.0)
        return cls(lo, hi, np.where(B > 0, f, -np.inf))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.lo.shape

    @property
    def is_zero(self) -> np.ndarray:
        return (self.lo == 0) & (self.hi == 0)

    @property
    def bounded(self) -> bool:
        return bool(np.all(np.isfinite(self.lo)) and np.all(np.isfinite(self.hi)) and np.all(self.f < np.inf))

    # --------------------------------------------------------------------------------- shape ops
    def reshape(self, shape) -> QArray:
        return QArray(self.lo.reshape(shape), self.hi.reshape(shape), self.f.reshape(shape))

    def transpose(self, perm) -> QArray:
        return QArray(self.lo.transpose(perm), self.hi.transpose(perm), self.f.transpose(perm))

    @staticmethod
    def concatenate(arrs: list[QArray], axis: int) -> QArray:
        return QArray(
            np.concatenate([a.lo for a in arrs], axis),
            np.concatenate([a.hi for a in arrs], axis),
            np.concatenate([a.f for a in arrs], axis),
        )

    def take(self, index) -> QArray:
        """Gathers elements (``index`` is any numpy index of the flattened tensor)."""
        return QArray(self.lo.ravel()[index], self.hi.ravel()[index], self.f.ravel()[index])

    # ---------------------------------------------------------------------------- arithmetic
    def __add__(self, other: QArray) -> QArray:
        lo = self.lo + other.lo
        hi = self.hi + other.hi
        f = np.maximum(self.f, other.f)
        return QArray(lo, hi, zero_f(lo, hi, f))

    def __neg__(self) -> QArray:
        return QArray(-self.hi, -self.lo, self.f.copy())

    def __sub__(self, other: QArray) -> QArray:
        return self + (-other)

    def scale(self, c: float) -> QArray:
        """Multiplication by a constant power of two or any constant."""
        c = float(c)
        lo, hi = (self.lo * c, self.hi * c) if c >= 0 else (self.hi * c, self.lo * c)
        fc = minimal_frac_bits(np.array(c))
        f = self.f + fc if c != 0 else np.full(self.shape, -np.inf)
        return QArray(lo, hi, zero_f(lo, hi, f))

    def scale_each(self, c) -> QArray:
        """Multiplication by positive constants, one per element (broadcast to the shape)."""
        c = np.broadcast_to(np.asarray(c, dtype=np.float64), self.shape)
        lo, hi = self.lo * c, self.hi * c
        return QArray(lo, hi, zero_f(lo, hi, self.f + minimal_frac_bits(c)))

    def relu(self) -> QArray:
        lo, hi = np.maximum(self.lo, 0.0), np.maximum(self.hi, 0.0)
        return QArray(lo, hi, zero_f(lo, hi, self.f.copy()))

    def maximum_over(self, axis) -> QArray:
        """Elementwise max reduced over ``axis`` (max pooling)."""
        return QArray(self.lo.max(axis=axis), self.hi.max(axis=axis), self.f.max(axis=axis))

    def matmul(self, w: np.ndarray, b: np.ndarray | None = None, chunk: int = 1 << 22) -> QArray:
        """``x @ w + b`` over the last axis of ``x``, exactly, for constant ``w`` (n_in, n_out) and ``b``."""
        w = np.asarray(w, dtype=np.float64)
        lead = self.shape[:-1]
        n_in = self.shape[-1]
        lo2 = self.lo.reshape(-1, n_in)
        hi2 = self.hi.reshape(-1, n_in)
        f2 = self.f.reshape(-1, n_in)
        wp, wn = np.maximum(w, 0.0), np.minimum(w, 0.0)
        nzw = w != 0
        # 0 * inf must not poison the sums: an unknown input multiplied by a zero weight contributes 0
        lo_s = np.where(np.isfinite(lo2), lo2, 0.0)
        hi_s = np.where(np.isfinite(hi2), hi2, 0.0)
        lo = lo_s @ wp + hi_s @ wn
        hi = hi_s @ wp + lo_s @ wn
        if not np.all(np.isfinite(lo2)) or not np.all(np.isfinite(hi2)):
            unk = (~np.isfinite(lo2) | ~np.isfinite(hi2)).astype(np.float64) @ nzw.astype(np.float64) > 0
            lo = np.where(unk, -np.inf, lo)
            hi = np.where(unk, np.inf, hi)
        fw = np.where(nzw, minimal_frac_bits(w), -np.inf)
        f = _maxplus(f2, fw, chunk)
        if b is not None:
            b = np.asarray(b, dtype=np.float64)
            lo = lo + b
            hi = hi + b
            f = np.maximum(f, minimal_frac_bits(b))
        lo, hi, f = (a.reshape(lead + (w.shape[1],)) for a in (lo, hi, f))
        return QArray(lo, hi, zero_f(lo, hi, f))

    def mean_over(self, axis, count: int) -> QArray:
        """Sum over ``axis`` divided by ``count`` (average pooling)."""
        s_lo, s_hi = self.lo.sum(axis=axis), self.hi.sum(axis=axis)
        f = self.f.max(axis=axis)
        return QArray(s_lo, s_hi, zero_f(s_lo, s_hi, f)).scale(1.0 / count)

    def quantize(self, k, B, I, RND: str, SAT: str) -> QArray:
        """Result of casting to ``ap_fixed<B, I, RND, SAT>`` per element (``k == 0``: unsigned)."""
        k, B, I = (np.broadcast_to(np.asarray(a, dtype=np.float64), self.shape) for a in (k, B, I))
        fq = B - I
        scale = 2.0**fq
        with np.errstate(invalid='ignore'):  # infinite bounds round to themselves
            lo_r = round_int(np, self.lo * scale, RND) / scale
            hi_r = round_int(np, self.hi * scale, RND) / scale
        f = np.minimum(self.f, fq)
        t = QArray.from_kbi(k, B, I)
        inside = (lo_r >= t.lo) & (hi_r <= t.hi)
        if SAT in ('WRAP', 'WRAP_SM'):
            lo = np.where(inside, lo_r, t.lo)
            hi = np.where(inside, hi_r, t.hi)
        elif SAT in ('SAT', 'SAT_SYM'):
            low = t.lo if SAT == 'SAT' else -t.hi * k
            lo = np.clip(lo_r, low, t.hi)
            hi = np.clip(hi_r, low, t.hi)
        elif SAT == 'SAT_ZERO':
            lo = np.where(inside, lo_r, np.minimum(np.clip(lo_r, t.lo, t.hi), 0.0))
            hi = np.where(inside, hi_r, np.maximum(np.clip(hi_r, t.lo, t.hi), 0.0))
        else:
            raise ValueError(f'Unknown overflow mode {SAT!r}.')
        if SAT in ('SAT', 'SAT_SYM', 'WRAP_SM'):
            # a saturated (or sign-magnitude flipped) value sits on the quantizer's own grid, which can be finer
            # than the input's
            f = np.where(inside, f, fq)
        zero = B <= 0
        lo = np.where(zero, 0.0, lo)
        hi = np.where(zero, 0.0, hi)
        return QArray(lo, hi, zero_f(lo, hi, np.where(zero, -np.inf, f)))

    # -------------------------------------------------------------------------------- to kif
    def to_kif(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-element minimal ``(k, i, f)`` (``i`` without the sign bit); exact zeros give ``(0, 0, 0)``."""
        if not self.bounded:
            raise ValueError('unbounded values have no fixed-point format')
        zero = self.is_zero
        f = np.where(zero, 0.0, self.f)
        k = (self.lo < 0).astype(np.float64)
        with np.errstate(divide='ignore'):
            top = np.maximum(self.hi + 2.0**-f, -self.lo)
            i = np.ceil(np.log2(np.where(zero, 1.0, top)))
        guard = (i + f) > _GUARD_BITS_THRESHOLD
        i = np.where(guard, i + 1, i)
        i = np.where(zero, 0.0, i)
        k = np.where(zero, 0.0, k)
        return k.astype(np.int64), i.astype(np.int64), f.astype(np.int64)

    def kif_max(self) -> tuple[int, int, int]:
        """Smallest homogeneous ``(k, i, f)`` holding every element (``(0, 0, 0)`` if all are zero)."""
        k, i, f = self.to_kif()
        nz = ~self.is_zero
        if not np.any(nz):
            return 0, 0, 0
        return int(k[nz].max()), int(i[nz].max()), int(f[nz].max())


def zero_f(lo: np.ndarray, hi: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``f`` with ``-inf`` where the interval is the exact zero (the convention of `HGQ.numerics.minimal_frac_bits`)."""
    return np.where((lo == 0) & (hi == 0), -np.inf, f)


def _maxplus(f_in: np.ndarray, fw: np.ndarray, chunk: int) -> np.ndarray:
    """``out[p, j] = max_i (f_in[p, i] + fw[i, j])`` computed in bounded memory."""
    n_pos, n_in = f_in.shape
    n_out = fw.shape[1]
    f_in = np.where(f_in == np.inf, 1e9, f_in)  # unknown inputs: huge but finite, so that -inf weights win
    out = np.full((n_pos, n_out), -np.inf)
    # rows of f_in that are identical share the result: compute each distinct row once
    uniq, inverse = np.unique(f_in, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    res = np.full((uniq.shape[0], n_out), -np.inf)
    step = max(1, chunk // max(1, n_in * n_out))
    for s in range(0, uniq.shape[0], step):
        block = uniq[s : s + step]
        res[s : s + step] = np.max(block[:, :, None] + fw[None, :, :], axis=1)
    out[:] = res[inverse]
    return np.where(out >= 1e8, np.inf, out)
