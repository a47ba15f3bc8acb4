"""The plugin's precision propagation: sets every result, accumulator, weight and bias type of a proxy
model from its quantizers and quantized weights, so that the firmware is bit-exact with the proxy.

Steps (one model-level optimizer pass, run in hls4ml's ``convert`` flow before ``infer_precision_types``):

1. forward: exact intervals of every tensor (`produce`);
2. fuse each homogeneous quantizer into its producer when the producer casts its result and has no other
   consumer (the producer's result type becomes the quantizer's type, rounding and overflow modes included),
   and the producer is not itself a quantizer being fused (in a chain, the later quantizer stays a cast);
3. backward: what each tensor's consumers need (a quantizer truncating at ``f`` needs ``f`` fractional bits,
   ``f + 1`` if it rounds to nearest; a wrapping quantizer only needs its own integer bits; every other
   consumer needs the exact value);
4. types: result = produced range trimmed by the request (TRN/WRAP), accumulators = exact produced range,
   weights and biases = the smallest type holding every value; model inputs get the type their quantizers need.

This module runs the steps (1, 2 and 4 and accumulator sizing are here); `precision` holds the hls4ml pass,
which imports it (and with it HGQ) only when a model holds plugin layers. The other jobs live in their own modules:
`produce` (forward rules), `requests` (step 3, the request algebra), `ir_types` (IR types and setting them),
`refusals` (configurations refused up front, ignored settings warned about), `native` (hls4ml's own activation
tables), `overrides` (hls4ml settings embedded in proxies) and `view` (the tensor-level graph view).
"""

from __future__ import annotations

import numpy as np
from hls4ml.model.layers import Activation, Concatenate, Input, Pooling1D, Pooling2D

from .codegen import reads_beyond_msb
from .intervals import QArray
from .ir_types import (
    fixed_type,
    input_type,
    kif,
    quantizer_type,
    set_param_type,
    set_result,
    set_type_attr,
    set_weight_types,
    trimmed_type,
)
from .layers import HGQFixedPointQuantizer
from .native import set_native_activation_types
from .overrides import apply_overrides
from .produce import average_pool_sums, produce
from .refusals import check_supported, padded_max_pool, warn_user_precisions
from .requests import active_kbi, tensor_requests
from .view import CASTING, MONOTONE, ModelView


def propagate(model) -> bool:
    """Runs the steps above on ``model``."""
    warn_user_precisions(model)
    view = ModelView(model)
    check_supported(model, view)
    apply_overrides(model, view)
    produced = forward(view)
    fused = choose_fusions(view, produced)
    requests = tensor_requests(view)
    set_types(view, produced, fused, requests)
    for q in fused:
        model.remove_node(q)
    return True


def forward(view: ModelView) -> dict[str, QArray]:
    """Forward pass: the exact intervals of every tensor."""
    produced: dict[str, QArray] = {}
    for node in view.nodes:
        inputs = [] if isinstance(node, Input) else [produced[t] for t in node.inputs]
        produced[node.outputs[0]] = produce(node, inputs)
    return produced


def choose_fusions(view: ModelView, produced: dict[str, QArray]) -> list[HGQFixedPointQuantizer]:
    """Homogeneous quantizers whose cast can become their producer's result type.

    A quantizer never fuses into a quantizer that is itself fused: the producer node disappears, so the
    second cast would be applied nowhere (two back-to-back quantizers gave silently wrong firmware). The
    later quantizer of such a chain stays a real cast node. Fusing into a quantizer that stays a node is
    exact: that node casts every element to its own type, then assigns it to its result type, which is the
    composition of the two quantizers. Nor does a quantizer fuse where its rounding would read a bit above
    the MSB of what the producer converts (ap_fixed's C simulation aborts there); it stays a cast node, whose
    code widens its input first.
    """
    fused = []
    fused_ids: set[int] = set()
    for node in view.nodes:
        if not isinstance(node, HGQFixedPointQuantizer) or not node.homogeneous:
            continue
        if any(padded_max_pool(c) for c in view.consumers[node.outputs[0]]) and int(np.max(node.kbi[0])) == 0:
            continue  # an unsigned fused type would be padded wrongly (see set_types)
        k, b, i = node.kbi
        if int(b.flat[0]) <= 0 or node.get_attr('SAT') == 'WRAP_SM':
            continue
        src = node.inputs[0]
        producer = view.producer[src]
        if not isinstance(producer, CASTING) or len(view.consumers[src]) != 1 or view.is_output(src):
            continue
        if len(producer.outputs) != 1:
            continue
        if isinstance(producer, Input) and node.get_attr('SAT') not in ('WRAP', 'SAT', 'SAT_SYM', 'SAT_ZERO'):
            continue
        if id(producer) in fused_ids or _rounds_above_source_msb(producer, produced, int(b.flat[0]), int(i.flat[0])):
            continue
        fused.append(node)
        fused_ids.add(id(node))
    return fused


def set_types(view: ModelView, produced: dict[str, QArray], fused: list, requests: dict) -> None:
    """Sets the result, accumulator, weight, parameter and table types of every remaining node."""
    fused_by_producer = {q.inputs[0]: q for q in fused}
    for node in view.nodes:
        if id(node) in {id(q) for q in fused}:
            continue
        out = node.outputs[0]
        p = produced[out]
        q = fused_by_producer.get(out)
        if out in view.input_like:
            result = quantizer_type(q) if q is not None else input_type(node, requests[out])
        elif q is not None:
            result = quantizer_type(q)
        else:
            result = trimmed_type(node, p, requests[out])
        if not result.signed and any(padded_max_pool(c) for c in view.consumers[out]):
            # hls4ml pads max pooling with "the most negative value" by setting the top bit, which for an
            # unsigned type is a large positive value: give the pooling a signed input
            result = fixed_type(1, result.integer, result.width - result.integer)
        set_result(node, result)
        if 'accum_t' in node.attributes and not isinstance(node, (Input, Activation)):
            set_type_attr(node, 'accum_t', fixed_type(*_accum_kif(node, p, produced)))
        set_weight_types(node)
        set_param_type(node)
        set_native_activation_types(node, produced)
    # produced values of fused quantizers now come from their producers
    for q in fused:
        produced[q.inputs[0]] = produced[q.outputs[0]]


def _rounds_above_source_msb(producer, produced: dict[str, QArray], b: int, i: int) -> bool:
    """Whether a quantizer to ``b`` bits (``i`` integer) fused into ``producer`` would round at a bit above the
    MSB of a value the producer converts to its result type (see `codegen.reads_beyond_msb`)."""
    if isinstance(producer, Input):
        return False  # inputs are converted from floating point
    if isinstance(producer, HGQFixedPointQuantizer):  # each element is first cast to its own type
        _, pb, pi = active_kbi(producer)
        return any(reads_beyond_msb(int(w), int(n), b, i) for w, n in zip(pb, pi))
    if isinstance(producer, (Activation, Concatenate)):  # converts its inputs' values
        sources = [produced[t] for t in producer.inputs]
    else:  # converts its accumulator (the exact produced range)
        sources = [produced[producer.outputs[0]]]
    for p in sources:
        if not p.bounded:
            continue
        k, n, f = p.kif_max()
        if reads_beyond_msb(k + n + f, k + n, b, i):
            return True
    return False


def _accum_kif(node, p: QArray, produced: dict[str, QArray]) -> tuple[int, int, int]:
    """Accumulator format: the exact produced range, except for pooling, whose accumulator also holds every
    input of the window (max) or the window sum with the fractional bits of the mean (average: the division by
    the power-of-two window size must be exact)."""
    if not isinstance(node, MONOTONE):
        return kif(node, p)
    x = produced[node.inputs[0]]
    k, i, f = kif(node, x)
    if node.get_attr('pool_op') == 'Max':
        return k, i, f
    if isinstance(node, (Pooling1D, Pooling2D)):
        # every window's sum, and the fractional bits of every window's mean (windows of 'same' padding
        # average fewer values at the edges)
        sums, _ = average_pool_sums(node, x)
        ks, is_, fs = kif(node, sums)
        return max(ks, kif(node, p)[0]), is_, max(fs, kif(node, p)[2])
    ko, io, fo = kif(node, p)
    extra = max(fo - f, 0)  # log2 of the window size
    return max(k, ko), i + extra, max(fo, f + extra)
