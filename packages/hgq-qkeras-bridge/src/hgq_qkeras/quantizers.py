"""What each QKeras activation quantizer becomes in a proxy model.

`activation_plan` reads a quantizer's configuration (never its output) and returns one of:

* `Identity`: nothing to do (linear);
* `Relu`: a float ReLU, exact on any input;
* `Fixed`: one ``FixedPointQuantizer`` (the quantizer *is* an ``ap_fixed`` cast);
* `Lookup`: a ``UnaryLUT`` whose table is QKeras's own function evaluated on every value the input can take.
  ``pre`` is a ``FixedPointQuantizer`` format that maps any input to a value with the same QKeras output
  (so the table covers every input); without ``pre`` the input must already sit on a known grid.

Anything that cannot be reproduced bit for bit raises `UnsupportedQKerasError`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import UnsupportedQKerasError
from .evaluate import is_deterministic
from .numerics import FixedFormat, frac_bits, is_power_of_two

SIGN = FixedFormat(1, 1, 1, 'TRN', 'SAT')
"""Maps x < 0 to -1 and x >= 0 to 0: enough for every sign-like quantizer (binary, 1-bit quantized_bits)."""


@dataclass(frozen=True)
class Identity:
    """No operation."""


@dataclass(frozen=True)
class Relu:
    """A float ReLU (exact)."""


@dataclass(frozen=True)
class Fixed:
    """One ``FixedPointQuantizer`` with this format."""

    fmt: FixedFormat


@dataclass(frozen=True)
class Lookup:
    """A lookup table of ``fn`` (QKeras's own function).

    Attributes:
        fn: The QKeras quantizer or function.
        pre: Format that keeps ``fn``'s output unchanged for every input, or None.
        why_grid: Why ``pre`` is None (shown when the input has no known grid).
    """

    fn: Callable
    pre: FixedFormat | None
    why_grid: str = ''


Plan = Identity | Relu | Fixed | Lookup


def describe(q) -> str:
    """QKeras's own spelling of a quantizer (``quantized_bits(8,0,0,alpha=1)``) or a function's name."""
    if q is None:
        return 'None'
    if hasattr(q, 'get_config') and type(q).__module__.startswith('qkeras'):
        try:
            return str(q)
        except Exception:  # some __str__ need a built quantizer
            return type(q).__name__
    return getattr(q, '__name__', type(q).__name__)


def to_int(v, what: str) -> int:
    """An integer attribute of a quantizer (plain int, numpy scalar or variable)."""
    try:
        arr = np.asarray(v.numpy() if hasattr(v, 'numpy') else v)
    except Exception:
        arr = np.asarray(v)
    if arr.size != 1 or float(arr.reshape(-1)[0]) != int(arr.reshape(-1)[0]):
        raise UnsupportedQKerasError(f'{what} must be one integer, got {v!r}.')
    return int(arr.reshape(-1)[0])


def alpha_kind(alpha) -> str:
    """Classifies a QKeras ``alpha``.

    Returns:
        ``'one'`` (None or 1), ``'po2'`` (one power of two), ``'po2-array'``, ``'auto'``, ``'auto_po2'`` or ``'float'``.
    """
    if alpha is None:
        return 'one'
    if isinstance(alpha, str):
        return alpha if alpha in ('auto', 'auto_po2') else 'float'
    a = np.asarray(alpha, dtype=np.float64)
    if a.size == 0 or not np.all(np.isfinite(a)):
        return 'float'
    if np.all(a == 1.0):
        return 'one'
    if not np.all(is_power_of_two(a)):
        return 'float'
    return 'po2' if np.unique(a).size == 1 else 'po2-array'


def _check_qnoise(q, where: str) -> None:
    qn = getattr(q, 'qnoise_factor', 1.0)
    value = float(np.asarray(qn.numpy() if hasattr(qn, 'numpy') else qn))
    if value != 1.0:
        raise UnsupportedQKerasError(
            f'{where}: {describe(q)} has qnoise_factor={value}, so its output mixes quantized and float values. '
            'Set qnoise_factor=1.0 (the end of the QKeras noise schedule) before converting.'
        )


def _check_activation_alpha(q, where: str) -> str:
    kind = alpha_kind(getattr(q, 'alpha', None))
    alpha = getattr(q, 'alpha', None)
    if kind in ('auto', 'auto_po2'):
        raise UnsupportedQKerasError(
            f"{where}: {describe(q)} has alpha={alpha!r}, which computes its scale from every batch at inference, "
            'so the activation has no fixed format. Use alpha=1 (or None) for activation quantizers.'
        )
    if kind == 'float':
        raise UnsupportedQKerasError(
            f'{where}: {describe(q)} has alpha={alpha!r}, which is not a power of two, so its outputs are not '
            'fixed-point numbers. Use alpha=1 (or None), or a power of two.'
        )
    if kind == 'po2-array':
        raise UnsupportedQKerasError(
            f'{where}: {describe(q)} has a per-channel alpha; activation quantizers must use one scale. '
            'Use alpha=1 (or None).'
        )
    return kind


def _internal_sigmoid_is_hard(q) -> bool:
    module = sys.modules.get(type(q).__module__)
    fn = getattr(module, '_sigmoid', None)
    return getattr(fn, '__name__', '') == 'hard_sigmoid'


def _plan_quantized_bits(q, where: str) -> Plan:
    _check_qnoise(q, where)
    kind = _check_activation_alpha(q, where)
    bits = to_int(q.bits, f'{where}: quantized_bits bits')
    integer = to_int(q.integer, f'{where}: quantized_bits integer')
    k = 1 if q.keep_negative else 0
    if bits - k <= 0:
        if bits < 1:
            raise UnsupportedQKerasError(f'{where}: {describe(q)} has no bits; use bits >= 1.')
        return Lookup(q, SIGN)
    sat = 'SAT_SYM' if (q.symmetric and k) else 'SAT'
    fmt = FixedFormat(k, bits, integer + k, 'RND_CONV', sat)
    return Fixed(fmt) if kind == 'one' else Lookup(q, fmt)


def _plan_quantized_relu(q, where: str) -> Plan:
    _check_qnoise(q, where)
    bits = to_int(q.bits, f'{where}: quantized_relu bits')
    integer = to_int(q.integer, f'{where}: quantized_relu integer')
    fmt = FixedFormat(0, bits, integer, 'RND_CONV', 'SAT')
    options = []
    if q.negative_slope:
        options.append(f'negative_slope={q.negative_slope}')
    if q.use_sigmoid:
        options.append(f'use_sigmoid={q.use_sigmoid}')
    top = 2.0**integer - 2.0 ** (integer - bits)
    ub = getattr(q, 'relu_upper_bound', None)
    if ub is not None and not getattr(q, 'is_quantized_clip', True) and float(ub) < top:
        options.append(f'relu_upper_bound={ub} with is_quantized_clip=False')
    if not options:
        return Fixed(fmt)
    return Lookup(q, None, f'{describe(q)} uses {", ".join(options)}, which is not an ap_ufixed cast')


def _plan_quantized_tanh(q, where: str) -> Plan:
    bits = to_int(q.bits, f'{where}: quantized_tanh bits')
    if q.use_real_tanh:
        return Lookup(q, None, f'{describe(q)} uses the real tanh (use_real_tanh=True)')
    if not _internal_sigmoid_is_hard(q):
        return Lookup(q, None, f'{describe(q)} uses QKeras internal sigmoid mode other than "hard"')
    return Lookup(q, FixedFormat(1, bits + 1, 2, 'RND_CONV', 'SAT'))


def _plan_quantized_sigmoid(q, where: str) -> Plan:
    bits = to_int(q.bits, f'{where}: quantized_sigmoid bits')
    if q.use_real_sigmoid:
        return Lookup(q, None, f'{describe(q)} uses the real sigmoid (use_real_sigmoid=True)')
    if not _internal_sigmoid_is_hard(q):
        return Lookup(q, None, f'{describe(q)} uses QKeras internal sigmoid mode other than "hard"')
    if bits < 2:
        return Lookup(q, None, f'{describe(q)} has 1 bit, whose rounding ties cannot be preserved by a pre-quantizer')
    return Lookup(q, FixedFormat(1, bits + 1, 2, 'RND_CONV', 'SAT'))


def _plan_binary(q, where: str) -> Plan:
    _check_activation_alpha(q, where)
    return Lookup(q, SIGN)


def _plan_ternary(q, where: str) -> Plan:
    _check_activation_alpha(q, where)
    threshold = q.threshold if q.threshold is not None else getattr(q, 'default_threshold', 0.33)
    if isinstance(threshold, str):
        raise UnsupportedQKerasError(f"{where}: {describe(q)} has threshold={threshold!r}; use a number.")
    t = float(np.float32(threshold))
    if t <= 0:
        return Lookup(q, None, f'{describe(q)} has threshold {t}')
    f = int(frac_bits(np.array([t]))[0])
    integers = int(np.ceil(np.log2(t))) + 2
    bits = integers + f
    if bits > 20:
        return Lookup(q, None, f'{describe(q)} has threshold {threshold}, which needs {f} fractional bits')
    # round toward zero keeps |x| >= t exactly when t sits on the grid
    return Lookup(q, FixedFormat(1, max(bits, 1), integers, 'TRN_ZERO', 'SAT'))


def _plan_elementwise(q, where: str) -> Plan:
    _check_qnoise(q, where)
    return Lookup(q, None, f'{describe(q)} is not a fixed-point cast of its input')


def _plan_random(q, where: str) -> Plan:
    raise UnsupportedQKerasError(
        f'{where}: {describe(q)} draws random numbers at inference, so no firmware can reproduce it. '
        'Replace it by a deterministic quantizer (binary(), ternary() or quantized_bits(...)).'
    )


_PLANS: dict[str, Callable[[object, str], Plan]] = {
    'quantized_bits': _plan_quantized_bits,
    'quantized_relu': _plan_quantized_relu,
    'quantized_tanh': _plan_quantized_tanh,
    'quantized_sigmoid': _plan_quantized_sigmoid,
    'binary': _plan_binary,
    'stochastic_binary': _plan_binary,
    'ternary': _plan_ternary,
    'stochastic_ternary': _plan_ternary,
    'quantized_po2': _plan_elementwise,
    'quantized_relu_po2': _plan_elementwise,
    'quantized_ulaw': _plan_elementwise,
    'quantized_hswish': _plan_elementwise,
    'bernoulli': _plan_random,
}

_EXACT_FUNCTIONS = {'linear': Identity(), 'relu': Relu()}

SUPPORTED_ACTIVATIONS = tuple(sorted(set(_PLANS) - {'bernoulli'})) + ('linear', 'relu')


def activation_plan(q, where: str) -> Plan:
    """The proxy equivalent of activation quantizer ``q`` (a QKeras quantizer or a Keras activation function).

    Args:
        q: The quantizer object, a Keras activation function, or None.
        where: ``"layer 'name' (Class)"``, used in error messages.

    Raises:
        UnsupportedQKerasError: ``q`` cannot be reproduced exactly.
    """
    if q is None:
        return Identity()
    name = type(q).__name__
    if type(q).__module__.startswith('qkeras') and name in _PLANS:
        plan = _PLANS[name](q, where)
        if getattr(q, 'use_stochastic_rounding', False) and not is_deterministic(q):
            raise UnsupportedQKerasError(
                f'{where}: {describe(q)} rounds stochastically at inference in this QKeras version, so no firmware can '
                'reproduce it. Set use_stochastic_rounding=False (it only matters for training).'
            )
        return plan
    fn_name = getattr(q, '__name__', '')
    if fn_name in _EXACT_FUNCTIONS and not hasattr(q, 'get_config'):
        return _EXACT_FUNCTIONS[fn_name]
    if getattr(q, '__module__', '').startswith('qkeras') and callable(q) and not isinstance(q, type):
        return Lookup(q, None, f'QKeras function {fn_name or name} is not a fixed-point cast of its input')
    raise UnsupportedQKerasError(
        f'{where}: activation {describe(q)!r} ({type(q).__module__}.{name}) has no bit-exact firmware equivalent. '
        f'Use a QKeras quantizer instead (supported: {", ".join(SUPPORTED_ACTIVATIONS)}); float activations '
        'such as tanh, sigmoid or softmax must become quantized_tanh/quantized_sigmoid or be removed.'
    )
