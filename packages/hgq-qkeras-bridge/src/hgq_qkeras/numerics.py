"""Fixed-point formats of the bridge; the exact properties of float arrays come from `HGQ.numerics` (the names
here stay for the bridge's modules)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from HGQ.numerics import check_modes, minimal_frac_bits, quantize_np, significant_bits, smallest_kif
from HGQ.proxy.unary_lut import table_inputs

__all__ = ['FixedFormat', 'container', 'frac_bits', 'is_power_of_two', 'significant_bits']


@dataclass(frozen=True)
class FixedFormat:
    """One ``ap_fixed<bits, integers, RND, SAT>`` cast (``ap_ufixed`` when ``keep_negative`` is 0).

    Attributes:
        keep_negative: 1 for signed, 0 for unsigned.
        bits: Total width, sign included.
        integers: Integer bits, sign included.
        RND: Rounding mode (``HGQ.numerics.ROUNDING_MODES``).
        SAT: Overflow mode (``HGQ.numerics.OVERFLOW_MODES``).
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


def frac_bits(values) -> np.ndarray:
    """Smallest ``f`` with ``value * 2**f`` integral, per element (``-(1 << 20)`` for zeros, so that a max over
    values ignores them and the result stays an integer; `HGQ.numerics.minimal_frac_bits` gives ``-inf``)."""
    v = np.asarray(values, dtype=np.float64)
    return np.where(v != 0, minimal_frac_bits(v), -(1 << 20)).astype(np.int64)


def is_power_of_two(values) -> np.ndarray:
    """True where ``|value|`` is an exact power of two."""
    v = np.asarray(values, dtype=np.float64)
    return (v != 0) & (significant_bits(v) == 1)


def container(values) -> FixedFormat:
    """The smallest fixed-point format holding every value exactly (TRN/WRAP: no rounding happens); all-zero
    values get the one-bit ``ufixed<1, 1>``."""
    v = np.asarray(values, dtype=np.float64)
    if not np.any(v != 0):
        return FixedFormat(0, 1, 1)
    k, i, f = smallest_kif(v)
    return FixedFormat(k, k + i + f, k + i)
