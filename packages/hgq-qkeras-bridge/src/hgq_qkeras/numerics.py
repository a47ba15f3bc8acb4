"""Fixed-point formats and exact properties of float arrays (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from HGQ.proxy.fixed_point import check_modes, quantize_np
from HGQ.proxy.unary_lut import table_inputs


@dataclass(frozen=True)
class FixedFormat:
    """One ``ap_fixed<bits, integers, RND, SAT>`` cast (``ap_ufixed`` when ``keep_negative`` is 0).

    Attributes:
        keep_negative: 1 for signed, 0 for unsigned.
        bits: Total width, sign included.
        integers: Integer bits, sign included.
        RND: Rounding mode (``HGQ.proxy.fixed_point.ROUNDING_MODES``).
        SAT: Overflow mode (``HGQ.proxy.fixed_point.OVERFLOW_MODES``).
    """

    keep_negative: int
    bits: int
    integers: int
    RND: str = 'TRN'
    SAT: str = 'WRAP'

    def __post_init__(self):
        if self.keep_negative not in (0, 1):
            raise ValueError(f'FixedFormat: keep_negative must be 0 or 1, got {self.keep_negative!r}.')
        if self.bits < 1:
            raise ValueError(f'FixedFormat: bits must be at least 1, got {self.bits!r}.')
        check_modes(self.RND, self.SAT)

    @property
    def frac_bits(self) -> int:
        return self.bits - self.integers

    @property
    def kif(self) -> tuple[int, int, int]:
        """``(keep_negative, integer bits without sign, fractional bits)`` as `HGQ.proxy.UnaryLUT` takes it."""
        return self.keep_negative, self.integers - self.keep_negative, self.frac_bits

    @property
    def size(self) -> int:
        """Number of distinct values."""
        return 1 << self.bits

    def values(self) -> np.ndarray:
        """Every value of the format in two's-complement index order (the order of a UnaryLUT table)."""
        return table_inputs(self.kif)

    def quantize(self, x) -> np.ndarray:
        """The cast applied to ``x`` (float64)."""
        return quantize_np(x, self.keep_negative, self.bits, self.integers, self.RND, self.SAT)

    def __str__(self) -> str:
        kind = 'fixed' if self.keep_negative else 'ufixed'
        return f'{kind}<{self.bits},{self.integers},{self.RND},{self.SAT}>'


def significant_bits(values) -> np.ndarray:
    """Number of significant mantissa bits of each value (0 for zeros), e.g. 12.0 -> 2, 0.75 -> 2."""
    v = np.abs(np.asarray(values, dtype=np.float64))
    nz = v > 0
    mant, _ = np.frexp(np.where(nz, v, 1.0))
    m = (mant * 2.0**53).astype(np.int64)
    low = m & -m
    trailing = np.log2(low.astype(np.float64)).astype(np.int64)
    return np.where(nz, 53 - trailing, 0)


def frac_bits(values) -> np.ndarray:
    """Smallest ``f`` with ``value * 2**f`` integral, per element (a large negative number for zeros)."""
    v = np.abs(np.asarray(values, dtype=np.float64))
    nz = v > 0
    _, exp = np.frexp(np.where(nz, v, 1.0))
    return np.where(nz, significant_bits(v) - exp, -(1 << 20))


def is_power_of_two(values) -> np.ndarray:
    """True where ``|value|`` is an exact power of two."""
    v = np.asarray(values, dtype=np.float64)
    return (v != 0) & (significant_bits(v) == 1)


def container(values) -> FixedFormat:
    """The smallest fixed-point format holding every value exactly (TRN/WRAP: no rounding happens)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    nz = v[v != 0]
    if nz.size == 0:
        return FixedFormat(0, 1, 1)
    k = int(np.any(v < 0))
    f = int(frac_bits(nz).max())
    step = 2.0**-f
    top = max(float(v.max()) + step, float(-v.min()), step)
    i = int(np.ceil(np.log2(top)))
    while 2.0**i < top:  # guard against log2 rounding
        i += 1
    return FixedFormat(k, k + i + f, k + i)
