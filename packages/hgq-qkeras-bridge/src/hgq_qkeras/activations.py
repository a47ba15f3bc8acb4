"""Materializing an activation plan (`hgq_qkeras.quantizers`) as proxy layers on a tensor."""

from __future__ import annotations

import keras
import numpy as np

from HGQ.proxy import FixedPointQuantizer
from HGQ.proxy.unary_lut import UnaryLUT

from .context import Context, ProxyTensor
from .errors import UnsupportedQKerasError
from .evaluate import evaluate
from .numerics import FixedFormat, container
from .quantizers import Fixed, Identity, Lookup, Plan, Relu, describe

MAX_TABLE_BITS = 32
"""Widest table value the firmware type may need (bits of its exact fixed-point container)."""
FLOAT32_BITS = 24
"""Significand bits of float32: a quantizer output of at most this many bits is exact in float32."""


def quantizer_layer(fmt: FixedFormat, name: str, dtype: str = 'float32') -> FixedPointQuantizer:
    """The proxy layer for one homogeneous ``ap_fixed`` cast (``dtype='float64'`` on wide inputs)."""
    return FixedPointQuantizer(fmt.keep_negative, fmt.bits, fmt.integers, fmt.RND, fmt.SAT, name=name, dtype=dtype)


def _dtype(x: ProxyTensor) -> str:
    return 'float64' if x.wide else 'float32'


def apply_plan(ctx: Context, plan: Plan, x: ProxyTensor, name: str, where: str) -> ProxyTensor:
    """Appends the layers of ``plan`` after ``x``.

    Args:
        ctx: Conversion state.
        plan: What the QKeras activation becomes.
        x: Its input.
        name: Base name of the new layers (the QKeras layer's name for a QActivation).
        where: The QKeras layer, for messages.
    """
    if isinstance(plan, Identity):
        return x
    if x.raw_input and not isinstance(plan, (Fixed, Lookup)):
        raise _unquantized_input(x, where)
    if isinstance(plan, Relu):
        y = keras.layers.Activation('relu', name=ctx.name(name), dtype=_dtype(x))(x.tensor)
        res = x.resolution()
        step, bound = res if res is not None else (None, None)
        return ProxyTensor(y, None, False, x.origin, wide=x.wide, step=step, bound=bound)
    if isinstance(plan, Fixed):
        y = quantizer_layer(plan.fmt, ctx.name(name), _dtype(x))(x.tensor)
        return ProxyTensor(y, plan.fmt, False, x.origin, wide=x.wide and plan.fmt.bits > FLOAT32_BITS)
    return _lookup(ctx, plan, x, name, where)


def _unquantized_input(x: ProxyTensor, where: str) -> UnsupportedQKerasError:
    return UnsupportedQKerasError(
        f'{where} reads the model input {x.origin!r} directly, but every input must be quantized first so that '
        'firmware and model see the same values. Put QActivation(quantized_bits(bits, integer)) right after the '
        'Input (matching the data your system sends), then convert again.'
    )


def _lookup(ctx: Context, plan: Lookup, x: ProxyTensor, name: str, where: str) -> ProxyTensor:
    limit = ctx.options.unary_lut_max_table_size
    candidates = [f for f in (x.grid, plan.pre) if f is not None]
    if not candidates:
        if x.raw_input:
            raise _unquantized_input(x, where)
        raise UnsupportedQKerasError(
            f'{where}: {plan.why_grid}, so it becomes a lookup table over the values its input can take, but its '
            f'input (from {x.origin!r}) is not on a known fixed-point grid. Put a QActivation(quantized_bits(...)) '
            'directly before it.'
        )
    fmt = min(candidates, key=lambda f: f.size)
    if fmt.size > limit:
        raise UnsupportedQKerasError(
            f'{where}: {describe(plan.fn)} needs a lookup table of {fmt.size} entries (input format {fmt}), more '
            f'than unary_lut_max_table_size={limit}. Quantize its input with fewer bits, or raise '
            'unary_lut_max_table_size.'
        )
    table = evaluate(plan.fn, fmt.values())
    if not np.array_equal(table, evaluate(plan.fn, fmt.values())):
        raise UnsupportedQKerasError(f'{where}: {describe(plan.fn)} gives different values on every call (random at '
                                     'inference); use a deterministic quantizer.')
    if not np.all(np.isfinite(table)):
        raise UnsupportedQKerasError(f'{where}: {describe(plan.fn)} returns NaN or inf on its input range {fmt}.')
    out = container(table)
    if out.bits > MAX_TABLE_BITS:
        raise UnsupportedQKerasError(
            f'{where}: the outputs of {describe(plan.fn)} need {out.bits} bits as fixed-point numbers (more than '
            f'{MAX_TABLE_BITS}); they are not short fixed-point values.'
        )
    q = quantizer_layer(fmt, ctx.name(f'{name}_input'), _dtype(x))(x.tensor)
    kif_out = out.kif
    lut = UnaryLUT(fmt.kif, kif_out, 'TRN', 'WRAP', table=table, name=ctx.name(name))
    return ProxyTensor(lut(q), out, False, x.origin)
