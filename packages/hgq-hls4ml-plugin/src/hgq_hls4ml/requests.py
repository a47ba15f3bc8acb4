"""Request algebra: what the consumers of a tensor need from it (integer and fractional bits, overflow
behaviour), merged over consumers and propagated backward from the model outputs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hls4ml.model.layers import Activation

from .layers import HGQFixedPointQuantizer
from .view import MONOTONE, PASS_THROUGH, ModelView

FLOAT32_GUARD_BITS = 24
"""Extra fractional bits given to a model input feeding a quantizer whose rounding needs the exact value
(RND_CONV, ...): enough for every float32 input to round exactly."""

SIGN_DEPENDENT_ROUNDING = ('TRN_ZERO', 'RND_ZERO', 'RND_INF')
"""Rounding modes that depend on the sign of the value (not only on its bits below the cut), so they do not
commute with a wrap of the integer bits."""

FLOAT32_INTEGER_BITS = 129
"""Integer bits (sign included) that hold every finite float32 value."""


@dataclass
class Request:
    """What the consumers of a tensor need: integer bits incl. sign (``I``) and fractional bits (``f``);
    ``None`` means the exact value. ``saturating``: some consumer saturates (for model inputs)."""

    I: float | None = -np.inf
    f: float | None = -np.inf
    saturating: bool = False
    wrapping: bool = False
    signed: bool = False

    def merge(self, other: Request) -> Request:
        return Request(
            None if self.I is None or other.I is None else max(self.I, other.I),
            None if self.f is None or other.f is None else max(self.f, other.f),
            self.saturating or other.saturating,
            self.wrapping or other.wrapping,
            self.signed or other.signed,
        )


FULL = Request(None, None)


def active_kbi(node: HGQFixedPointQuantizer):
    k, b, i = node.kbi
    on = b > 0
    return k[on], b[on], i[on]


def quantizer_request(node: HGQFixedPointQuantizer, for_input: bool = False) -> Request:
    """What a quantizer needs from the tensor it reads."""
    k, b, i = active_kbi(node)
    if b.size == 0:
        return Request()
    rnd, sat = node.get_attr('RND'), node.get_attr('SAT')
    f_q = float(np.max(b - i))
    if rnd == 'TRN':
        f = f_q
    elif rnd == 'RND':
        f = f_q + 1
    else:
        f = f_q + FLOAT32_GUARD_BITS if for_input else None
    I_q = float(np.max(i))
    wrapping = sat in ('WRAP', 'WRAP_SM')
    needs_exact = rnd in SIGN_DEPENDENT_ROUNDING or (sat == 'WRAP_SM' and rnd != 'TRN')
    if wrapping and needs_exact:
        # wrapping the input could flip its sign, which changes how these modes round; and a sign-magnitude wrap
        # flips only where the rounded value overflows, which a wrapped input (e.g. -16.4 -> -0.4, rounding to 0)
        # no longer shows: keep the exact value
        I = FLOAT32_INTEGER_BITS if for_input else None
    elif sat == 'WRAP':
        I = I_q
    elif sat == 'WRAP_SM':
        I = I_q + 1  # truncation: the lowest dropped bit decides the sign-magnitude flip
    else:
        I = I_q + 1 if for_input else None
    return Request(I, f, saturating=not wrapping, wrapping=wrapping and not needs_exact,
                   signed=bool(np.any(k > 0)) or not wrapping or needs_exact)


def tensor_requests(view: ModelView) -> dict[str, Request]:
    """Backward pass: what the consumers of every tensor need, from the outputs up."""
    requests: dict[str, Request] = {}
    for node in reversed(view.nodes):
        out = node.outputs[0]
        for_input = out in view.input_like
        req = FULL if view.is_output(out) else Request()
        for c in view.consumers[out]:
            req = req.merge(consumer_request(c, requests, for_input))
        requests[out] = req
    return requests


def consumer_request(consumer, requests: dict[str, Request], for_input: bool) -> Request:
    """What one consumer needs from the tensor it reads (``requests`` holds those of the tensors below)."""
    if isinstance(consumer, HGQFixedPointQuantizer):
        # (a fused quantizer becomes the producer's own result type; what it needs still travels upstream
        # through a ReLU or max pooling producer)
        return quantizer_request(consumer, for_input=for_input)
    if isinstance(consumer, PASS_THROUGH):
        return requests[consumer.outputs[0]]
    if for_input:
        raise ValueError(
            f'hgq-hls4ml-plugin: a model input reaches {consumer.name!r} ({consumer.class_name}) without a quantizer. '
            'A proxy model must quantize every input first (HQuantize or Signature in HGQ; a FixedPointQuantizer '
            'in the proxy).'
        )
    is_relu = isinstance(consumer, Activation) and str(consumer.get_attr('activation')).lower() == 'relu'
    is_max = isinstance(consumer, MONOTONE) and consumer.get_attr('pool_op') == 'Max'
    if is_relu or is_max:
        return Request(None, requests[consumer.outputs[0]].f)
    return FULL
