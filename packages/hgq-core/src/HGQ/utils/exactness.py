"""Bit-for-bit comparison of model outputs (HGQ model, proxy, QKeras model, hls4ml C simulation)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ExactnessCount:
    """How many output values agree exactly, and the largest difference among the others."""

    equal: int
    total: int
    max_abs_diff: float

    @property
    def exact(self) -> bool:
        return self.equal == self.total

    def __str__(self) -> str:
        return f'{self.equal}/{self.total}' + ('' if self.exact else f' (max |diff| {self.max_abs_diff:.3g})')


def count_equal(reference, other) -> ExactnessCount:
    """Element-wise exact agreement of two arrays, or two lists of arrays (``other`` reshaped to ``reference``)."""
    refs = reference if isinstance(reference, (list, tuple)) else [reference]
    others = other if isinstance(other, (list, tuple)) else [other]
    equal = total = 0
    diff = 0.0
    for r, o in zip(refs, others):
        r = np.asarray(r, np.float64)
        o = np.asarray(o, np.float64).reshape(r.shape)
        equal += int(np.sum(r == o))
        total += r.size
        diff = max(diff, float(np.max(np.abs(r - o))) if r.size else 0.0)
    return ExactnessCount(equal, total, diff)
