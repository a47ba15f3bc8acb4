"""Small utilities shared by the whole package: the bitwidth regularizer, the default quantizer
configurations, fixed-point type strings and a coloured warning helper."""

from __future__ import annotations

import re
import warnings
from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package='HGQ')
class MonoL1(keras.regularizers.Regularizer):
    """Monotonic L1 regularizer on bitwidths: ``l1 * sum(x)``.

    The sum is signed (not of absolute values), so the penalty pushes bitwidths down monotonically.

    Args:
        l1: Non-negative strength.
    """

    def __init__(self, l1: float = 0.0):
        l1 = float(l1)
        if not l1 >= 0:
            raise ValueError(f'MonoL1: l1 must be non-negative, got {l1}. Pass l1 >= 0 (e.g. 1e-6).')
        self.l1 = l1

    def __call__(self, x):
        return ops.sum(x) * self.l1

    def get_config(self) -> dict[str, Any]:
        return {'l1': self.l1}

    def __eq__(self, other):
        return isinstance(other, MonoL1) and other.l1 == self.l1

    def __hash__(self):
        return hash(('MonoL1', self.l1))

    def __repr__(self):
        return f'MonoL1(l1={self.l1})'


_KQ_DEFAULT: dict[str, Any] = dict(
    init_bw=2,
    skip_dims=None,
    rnd_strategy='standard_round',
    exact_q_value=True,
    dtype=None,
    bw_clip=(-23, 23),
    trainable=True,
    regularizer=MonoL1(1e-6),
)

_PAQ_DEFAULT: dict[str, Any] = dict(
    init_bw=2,
    skip_dims=(0,),
    rnd_strategy='standard_round',
    exact_q_value=True,
    dtype=None,
    bw_clip=(-23, 23),
    trainable=True,
    regularizer=MonoL1(1e-6),
    minmax_record=True,
)

DEFAULT_KERNEL_QUANTIZER_CONFIG = _KQ_DEFAULT
DEFAULT_PRE_ACTIVATION_QUANTIZER_CONFIG = _PAQ_DEFAULT


def get_default_kq_conf() -> dict[str, Any]:
    """Returns a copy of the default kernel-quantizer config."""
    return dict(_KQ_DEFAULT)


def get_default_paq_conf() -> dict[str, Any]:
    """Returns a copy of the default pre-activation-quantizer config."""
    return dict(_PAQ_DEFAULT)


def _check_conf_keys(config: Any, reference: dict[str, Any], what: str):
    if not isinstance(config, dict):
        raise ValueError(f'{what} must be a dict, got {type(config).__name__}: {config!r}.')
    missing = sorted(set(reference) - set(config))
    unknown = sorted(set(config) - set(reference))
    if missing or unknown:
        raise ValueError(
            f'{what} must have exactly the keys {sorted(reference)}; '
            f'missing: {missing}, unknown: {unknown}. Start from get_default_*_conf() and change values.'
        )


def set_default_kq_conf(config: dict[str, Any]) -> None:
    """Replaces the default kernel-quantizer config (same key set as `get_default_kq_conf()`)."""
    _check_conf_keys(config, _KQ_DEFAULT, 'kernel quantizer config')
    _KQ_DEFAULT.clear()
    _KQ_DEFAULT.update(config)


def set_default_paq_conf(config: dict[str, Any]) -> None:
    """Replaces the default pre-activation-quantizer config (same key set as `get_default_paq_conf()`)."""
    _check_conf_keys(config, _PAQ_DEFAULT, 'pre-activation quantizer config')
    _PAQ_DEFAULT.clear()
    _PAQ_DEFAULT.update(config)


strategy_dict = {
    'standard_round': 0,
    'stochastic_round': 1,
    'fast_uniform_noise_injection': 2,
    'floor': 3,
}

_apf_re = re.compile(r'\s*(?:ap_)?(u?)fixed<\s*(\d+)\s*,\s*(-?\d+)[\s,_\w]*>\s*$')


def apf_to_tuple(apf: str) -> tuple[int, int, int]:
    """Parses ``'fixed<B,I>'`` / ``'ufixed<B,I>'`` into ``(keep_negative, int_bits, frac_bits)``.

    ``int_bits`` excludes the sign bit: ``fixed<8,3>`` gives ``(1, 2, 5)``.
    """
    m = _apf_re.match(apf)
    if m is None:
        raise ValueError(
            f'Unable to parse fixed-point type {apf!r}. Expected a string like "fixed<8,3>" or "ufixed<6,2>".'
        )
    u, b, i = m.groups()
    b, i = int(b), int(i)
    k = 0 if u else 1
    return k, i - k, b - i


def tuple_to_apf(t: tuple[int, int, int], rnd: str = 'TRN', warp: str = 'WARP', keep_zeros: bool = True) -> str:
    """Formats ``(keep_negative, int_bits, frac_bits)`` as an hls4ml fixed-point type string.

    Args:
        t: ``(k, i, f)``; ``i`` excludes the sign bit.
        rnd: Rounding mode, added to the string when not ``'TRN'``.
        warp: Overflow mode (``'WRAP'``/``'WARP'`` mean wrap and are omitted).
        keep_zeros: If False, a zero-width type gives ``'nuke'``.
    """
    k, i, f = (int(v) for v in t)
    if not keep_zeros and k + i + f <= 0:
        return 'nuke'
    u = '' if k else 'u'
    base = f'{u}fixed<{max(k + i + f, 1)},{k + i}'
    wrap = warp in ('WRAP', 'WARP')
    if rnd != 'TRN' or not wrap:
        base += f',{rnd}'
    if not wrap:
        base += f',{warp}'
    return base + '>'


def warn(msg: str, stacklevel: int = 2) -> None:
    """Issues a UserWarning (kept for HGQ1 compatibility)."""
    warnings.warn(msg, stacklevel=stacklevel + 1)
