"""hls4ml IR types: fixed-point types of ``(k, i, f)`` formats and requests, and setting them on IR nodes."""

from __future__ import annotations

import numpy as np
from hls4ml.model.layers import Input, Layer
from hls4ml.model.types import FixedPrecisionType, NamedType

from HGQ.numerics import smallest_kif

from ._hls4ml_compat import record_weight_precision
from .intervals import QArray
from .layers import HGQFixedPointQuantizer
from .requests import Request

INPUT_WIDTH_LIMIT = 100
"""hls4ml replaces a model input type wider than 100 bits (its ``fix_input_precision`` pass, meant for its own
proxies, which then fails on ours): an input that must keep its exact value keeps at most this many bits, so
inputs of magnitude ``2**(INPUT_WIDTH_LIMIT - f - 1)`` and more wrap (documented in docs/exactness.md)."""


def fixed_type(k: int, i: int, f: int, rnd: str | None = None, sat: str | None = None) -> FixedPrecisionType:
    """``FixedPrecisionType`` of ``(k, i, f)`` (``i`` without sign), at least one bit wide."""
    k, i, f = int(k), int(i), int(f)
    if k + i + f < 1:
        f = 1 - k - i
    return FixedPrecisionType(width=k + i + f, integer=k + i, signed=bool(k), rounding_mode=rnd, saturation_mode=sat)


def quantizer_type(node: HGQFixedPointQuantizer) -> FixedPrecisionType:
    k, b, i = (int(np.max(a)) for a in node.kbi)
    return FixedPrecisionType(width=b, integer=i, signed=bool(k), rounding_mode=node.get_attr('RND'),
                              saturation_mode=node.get_attr('SAT'))


def kif(node, p: QArray) -> tuple[int, int, int]:
    if not p.bounded:
        raise ValueError(
            f'hgq-hls4ml-plugin: the output range of {node.name!r} ({node.class_name}) is unbounded; some input is not '
            'quantized. Every model input must be followed by a FixedPointQuantizer.'
        )
    return p.kif_max()


def trimmed_type(node, p: QArray, req: Request) -> FixedPrecisionType:
    k, i, f = kif(node, p)
    I = k + i
    if req.I == -np.inf or req.f == -np.inf:
        return fixed_type(0, 0, 1)  # no consumer reads any bit of this tensor (e.g. all of them are pruned)
    if req.I is not None:
        I = min(I, int(req.I))
    if req.f is not None:
        f = min(f, int(req.f))
    return fixed_type(k, I - k, f)


def input_type(node: Input, req: Request) -> FixedPrecisionType:
    if req.I is None or req.f is None:
        raise ValueError(f'hgq-hls4ml-plugin: cannot derive the type of input {node.name!r}; it must feed quantizers.')
    if req.I == -np.inf:  # every consumer quantizer is fully pruned
        return fixed_type(0, 0, 1)
    if req.saturating and req.wrapping:
        raise ValueError(
            f'hgq-hls4ml-plugin: input {node.name!r} feeds both wrapping and saturating quantizers; one input type '
            'cannot serve both exactly. Use one overflow mode for the quantizers reading the same input.'
        )
    k = 1 if req.signed else 0
    sat = 'SAT' if req.saturating else None
    I, f = int(req.I), int(req.f)
    if I + f > INPUT_WIDTH_LIMIT:
        I = max(INPUT_WIDTH_LIMIT - f, 1)
    return fixed_type(k, I - k, f, 'TRN', sat)


def set_result(node: Layer, precision: FixedPrecisionType) -> None:
    var = node.get_output_variable()
    t = NamedType(var.type.name, precision)
    var.type = t
    node.attributes['result_t'] = t


def set_type_attr(node: Layer, key: str, precision: FixedPrecisionType) -> None:
    node.attributes[key] = NamedType(f'{node.name}_{key}', precision)


def set_weight_types(node: Layer) -> None:
    for key in list(node.attributes.keys()):
        if not key.endswith('_t'):
            continue
        wname = key[:-2]
        var = node.attributes.get(wname)
        if var is None or not hasattr(var, 'data') or not hasattr(var, 'update_precision'):
            continue
        k, i, f = smallest_kif(var.data)
        precision = fixed_type(k, i, f)
        t = NamedType(f'{node.name}_{key}', precision)
        var.type = t
        var.update_precision(precision)
        node.attributes[key] = t
        record_weight_precision(node, wname, precision)


def set_param_type(node: Layer) -> None:
    """Parametrized activations (thresholded/leaky ReLU): the smallest type holding the parameter."""
    if 'param_t' in node.attributes and node.get_attr('activ_param') is not None:
        k, i, f = smallest_kif([float(node.get_attr('activ_param'))])
        set_type_attr(node, 'param_t', fixed_type(k, i, f))
