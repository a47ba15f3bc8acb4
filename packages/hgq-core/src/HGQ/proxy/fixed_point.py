"""ap_fixed arithmetic on floats: moved to `HGQ.numerics` (the one home of the fixed-point numerics); the names
stay importable from here."""

from __future__ import annotations

from ..numerics import (
    OVERFLOW_MODES,
    ROUNDING_MODES,
    check_modes,
    numpy_namespace,
    overflow_int,
    quantize,
    quantize_np,
    round_int,
)

__all__ = [
    'OVERFLOW_MODES', 'ROUNDING_MODES', 'check_modes', 'numpy_namespace', 'overflow_int', 'quantize', 'quantize_np',
    'round_int',
]
