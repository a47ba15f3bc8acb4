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
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from hls4ml.model.layers import (
    Activation,
    BatchNormalization,
    Concatenate,
    Conv1D,
    Conv2D,
    Dense,
    DepthwiseConv1D,
    DepthwiseConv2D,
    GlobalPooling1D,
    GlobalPooling2D,
    Input,
    Layer,
    Merge,
    Pooling1D,
    Pooling2D,
    Reshape,
    Transpose,
)
from hls4ml.model.optimizer import ModelOptimizerPass
from hls4ml.model.types import FixedPrecisionType, NamedType

from .codegen import AC_BACKENDS, reads_beyond_msb
from .intervals import QArray
from .layers import HGQFixedPointQuantizer, HGQUnaryLUT
from .produce import average_pool_sums, produce

FLOAT32_GUARD_BITS = 24
"""Extra fractional bits given to a model input feeding a quantizer whose rounding needs the exact value
(RND_CONV, ...): enough for every float32 input to round exactly."""

SIGN_DEPENDENT_ROUNDING = ('TRN_ZERO', 'RND_ZERO', 'RND_INF')
"""Rounding modes that depend on the sign of the value (not only on its bits below the cut), so they do not
commute with a wrap of the integer bits."""

FLOAT32_INTEGER_BITS = 129
"""Integer bits (sign included) that hold every finite float32 value."""

INPUT_WIDTH_LIMIT = 100
"""hls4ml replaces a model input type wider than 100 bits (its ``fix_input_precision`` pass, meant for its own
proxies, which then fails on ours): an input that must keep its exact value keeps at most this many bits, so
inputs of magnitude ``2**(INPUT_WIDTH_LIMIT - f - 1)`` and more wrap (documented in docs/exactness.md)."""

_CASTING = (Dense, Conv1D, Conv2D, Pooling1D, Pooling2D, GlobalPooling1D, GlobalPooling2D, Merge, Activation,
            BatchNormalization, HGQUnaryLUT, HGQFixedPointQuantizer, Input)
_PASS_THROUGH = (Reshape, Transpose, Concatenate)
_MONOTONE = (Pooling1D, Pooling2D, GlobalPooling1D, GlobalPooling2D)


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


def _active(node: HGQFixedPointQuantizer):
    k, b, i = node.kbi
    on = b > 0
    return k[on], b[on], i[on]


def quantizer_request(node: HGQFixedPointQuantizer, for_input: bool = False) -> Request:
    """What a quantizer needs from the tensor it reads."""
    k, b, i = _active(node)
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


class ModelView:
    """Tensor-level view of an hls4ml ModelGraph: producers and consumers of every tensor name."""

    def __init__(self, model):
        self.model = model
        self.nodes: list[Layer] = list(model.graph.values())
        self.producer = {out: n for n in self.nodes for out in n.outputs}
        self.consumers: dict[str, list[Layer]] = {out: [] for out in self.producer}
        for n in self.nodes:
            for inp in ([] if isinstance(n, Input) else n.inputs):
                if inp in self.consumers:
                    self.consumers[inp].append(n)

        self.input_like: set[str] = set()
        for n in self.nodes:
            if isinstance(n, Input) or (isinstance(n, _PASS_THROUGH) and all(t in self.input_like for t in n.inputs)):
                self.input_like.update(n.outputs)

    def is_output(self, tensor: str) -> bool:
        return tensor in self.model.outputs


class HGQPrecisionPropagation(ModelOptimizerPass):
    """Derives every type of a proxy model exactly (see module docstring)."""

    def __init__(self):
        self.name = 'hgq_precision_propagation'

    def _match(self, model) -> bool:
        return any(isinstance(n, (HGQFixedPointQuantizer, HGQUnaryLUT)) for n in model.graph.values())

    def transform(self, model) -> bool:
        if not self._match(model):
            return False
        _warn_user_precisions(model)
        view = ModelView(model)
        _check_supported(model, view)
        _apply_overrides(model, view)
        produced = self._forward(view)
        fused = self._choose_fusions(view, produced)
        requests = self._requests(view, fused)
        self._set_types(view, produced, fused, requests)
        for q in fused:
            model.remove_node(q)
        return True

    # ------------------------------------------------------------------------------- forward
    def _forward(self, view: ModelView) -> dict[str, QArray]:
        produced: dict[str, QArray] = {}
        for node in view.nodes:
            inputs = [] if isinstance(node, Input) else [produced[t] for t in node.inputs]
            produced[node.outputs[0]] = produce(node, inputs)
        return produced

    # ------------------------------------------------------------------------------- fusion
    def _choose_fusions(self, view: ModelView, produced: dict[str, QArray]) -> list[HGQFixedPointQuantizer]:
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
            if any(_padded_max_pool(c) for c in view.consumers[node.outputs[0]]) and int(np.max(node.kbi[0])) == 0:
                continue  # see _needs_sign: an unsigned fused type would be padded wrongly
            k, b, i = node.kbi
            if int(b.flat[0]) <= 0 or node.get_attr('SAT') == 'WRAP_SM':
                continue
            src = node.inputs[0]
            producer = view.producer[src]
            if not isinstance(producer, _CASTING) or len(view.consumers[src]) != 1 or view.is_output(src):
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

    # ------------------------------------------------------------------------------ requests
    def _requests(self, view: ModelView, fused: list[HGQFixedPointQuantizer]) -> dict[str, Request]:
        fused_ids = {id(q) for q in fused}
        requests: dict[str, Request] = {}
        for node in reversed(view.nodes):
            out = node.outputs[0]
            for_input = out in view.input_like
            req = FULL if view.is_output(out) else Request()
            for c in view.consumers[out]:
                req = req.merge(self._consumer_request(c, requests, fused_ids, for_input))
            requests[out] = req
        return requests

    def _consumer_request(self, consumer, requests, fused_ids, for_input: bool) -> Request:
        if isinstance(consumer, HGQFixedPointQuantizer):
            # (a fused quantizer becomes the producer's own result type; what it needs still travels upstream
            # through a ReLU or max pooling producer)
            return quantizer_request(consumer, for_input=for_input)
        if isinstance(consumer, _PASS_THROUGH):
            return requests[consumer.outputs[0]]
        if for_input:
            raise ValueError(
                f'hgq-hls4ml-plugin: a model input reaches {consumer.name!r} ({consumer.class_name}) without a quantizer. '
                'A proxy model must quantize every input first (HQuantize or Signature in HGQ; a FixedPointQuantizer '
                'in the proxy).'
            )
        is_relu = isinstance(consumer, Activation) and str(consumer.get_attr('activation')).lower() == 'relu'
        is_max = isinstance(consumer, _MONOTONE) and consumer.get_attr('pool_op') == 'Max'
        if is_relu or is_max:
            return Request(None, requests[consumer.outputs[0]].f)
        return FULL

    # --------------------------------------------------------------------------------- types
    def _set_types(self, view, produced, fused, requests):
        fused_by_producer = {q.inputs[0]: q for q in fused}
        for node in view.nodes:
            if id(node) in {id(q) for q in fused}:
                continue
            out = node.outputs[0]
            p = produced[out]
            q = fused_by_producer.get(out)
            if out in view.input_like:
                result = quantizer_type(q) if q is not None else _input_type(node, requests[out])
            elif q is not None:
                result = quantizer_type(q)
            else:
                result = _trimmed_type(node, p, requests[out])
            if not result.signed and any(_padded_max_pool(c) for c in view.consumers[out]):
                # hls4ml pads max pooling with "the most negative value" by setting the top bit, which for an
                # unsigned type is a large positive value: give the pooling a signed input
                result = fixed_type(1, result.integer, result.width - result.integer)
            _set_result(node, result)
            if 'accum_t' in node.attributes and not isinstance(node, (Input, Activation)):
                _set_type_attr(node, 'accum_t', fixed_type(*_accum_kif(node, p, produced)))
            _set_weight_types(node)
            _set_param_type(node)
            _set_native_activation_types(node, produced)
        # produced values of fused quantizers now come from their producers
        for q in fused:
            produced[q.inputs[0]] = produced[q.outputs[0]]


def _rounds_above_source_msb(producer, produced: dict[str, QArray], b: int, i: int) -> bool:
    """Whether a quantizer to ``b`` bits (``i`` integer) fused into ``producer`` would round at a bit above the
    MSB of a value the producer converts to its result type (see `codegen.reads_beyond_msb`)."""
    if isinstance(producer, Input):
        return False  # inputs are converted from floating point
    if isinstance(producer, HGQFixedPointQuantizer):  # each element is first cast to its own type
        _, pb, pi = _active(producer)
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


def _kif(node, p: QArray) -> tuple[int, int, int]:
    if not p.bounded:
        raise ValueError(
            f'hgq-hls4ml-plugin: the output range of {node.name!r} ({node.class_name}) is unbounded; some input is not '
            'quantized. Every model input must be followed by a FixedPointQuantizer.'
        )
    return p.kif_max()


def _pads(node) -> int:
    return sum(int(node.get_attr(k, 0) or 0) for k in ('pad_left', 'pad_right', 'pad_top', 'pad_bottom'))


def _padded_max_pool(node) -> bool:
    return isinstance(node, (Pooling1D, Pooling2D)) and node.get_attr('pool_op') == 'Max' and _pads(node) > 0


def _check_supported(model, view: ModelView) -> None:
    """Refuses, before any firmware is written, configurations hls4ml cannot build or simulate correctly."""
    for node in view.nodes:
        if isinstance(node, (DepthwiseConv1D, DepthwiseConv2D)) and int(node.get_attr('depth_multiplier', 1) or 1) != 1:
            raise ValueError(
                f'hgq-hls4ml-plugin: depthwise convolution {node.name!r} has depth_multiplier='
                f'{node.get_attr("depth_multiplier")}; hls4ml only implements 1 (its C simulation aborts otherwise). '
                'Use depth_multiplier=1 followed by a 1x1 convolution.'
            )
    backend = str(model.config.config.get('Backend', ''))
    if backend.lower() in AC_BACKENDS:
        for node in view.nodes:
            if isinstance(node, _MONOTONE) and node.get_attr('pool_op') == 'Average':
                raise ValueError(
                    f"hgq-hls4ml-plugin: average pooling layer {node.name!r} cannot be exact on the {backend} backend: "
                    "hls4ml's ac_fixed average pooling rounds the mean to the type of the pooling's input (and "
                    "rescales the edge windows of padding='same' afterwards in that type), so its result differs "
                    'from the proxy. Use the Vivado or Vitis backend, or max pooling.'
                )
    if model.config.get_config_value('IOType') == 'io_stream':
        for node in view.nodes:
            if isinstance(node, (Pooling1D, Pooling2D)) and _pads(node) > 0:
                raise ValueError(
                    f"hgq-hls4ml-plugin: pooling layer {node.name!r} uses padding='same', which hls4ml does not "
                    "implement for io_stream (its C simulation aborts). Use padding='valid' or io_type='io_parallel'."
                )


def _accum_kif(node, p: QArray, produced: dict[str, QArray]) -> tuple[int, int, int]:
    """Accumulator format: the exact produced range, except for pooling, whose accumulator also holds every
    input of the window (max) or the window sum with the fractional bits of the mean (average: the division by
    the power-of-two window size must be exact)."""
    if not isinstance(node, _MONOTONE):
        return _kif(node, p)
    x = produced[node.inputs[0]]
    k, i, f = _kif(node, x)
    if node.get_attr('pool_op') == 'Max':
        return k, i, f
    if isinstance(node, (Pooling1D, Pooling2D)):
        # every window's sum, and the fractional bits of every window's mean (windows of 'same' padding
        # average fewer values at the edges)
        sums, _ = average_pool_sums(node, x)
        ks, is_, fs = _kif(node, sums)
        return max(ks, _kif(node, p)[0]), is_, max(fs, _kif(node, p)[2])
    ko, io, fo = _kif(node, p)
    extra = max(fo - f, 0)  # log2 of the window size
    return max(k, ko), i + extra, max(fo, f + extra)


def _trimmed_type(node, p: QArray, req: Request) -> FixedPrecisionType:
    k, i, f = _kif(node, p)
    I = k + i
    if req.I == -np.inf or req.f == -np.inf:
        return fixed_type(0, 0, 1)  # no consumer reads any bit of this tensor (e.g. all of them are pruned)
    if req.I is not None:
        I = min(I, int(req.I))
    if req.f is not None:
        f = min(f, int(req.f))
    return fixed_type(k, I - k, f)


def _input_type(node: Input, req: Request) -> FixedPrecisionType:
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


def _set_result(node: Layer, precision: FixedPrecisionType) -> None:
    var = node.get_output_variable()
    t = NamedType(var.type.name, precision)
    var.type = t
    node.attributes['result_t'] = t


def _set_type_attr(node: Layer, key: str, precision: FixedPrecisionType) -> None:
    node.attributes[key] = NamedType(f'{node.name}_{key}', precision)


def _set_weight_types(node: Layer) -> None:
    for key in list(node.attributes.keys()):
        if not key.endswith('_t'):
            continue
        wname = key[:-2]
        var = node.attributes.get(wname)
        if var is None or not hasattr(var, 'data') or not hasattr(var, 'update_precision'):
            continue
        k, i, f = QArray.constant(np.asarray(var.data, dtype=np.float64)).kif_max()
        precision = fixed_type(k, i, f)
        t = NamedType(f'{node.name}_{key}', precision)
        var.type = t
        var.update_precision(precision)
        node.attributes[key] = t
        node.model.config.layer_name_precision[f'{node.name}_{wname}'] = str(precision)


def _set_param_type(node: Layer) -> None:
    """Parametrized activations (thresholded/leaky ReLU): the smallest type holding the parameter."""
    if 'param_t' in node.attributes and node.get_attr('activ_param') is not None:
        k, i, f = QArray.constant(np.array([float(node.get_attr('activ_param'))])).kif_max()
        _set_type_attr(node, 'param_t', fixed_type(k, i, f))


def _set_native_activation_types(node: Layer, produced: dict[str, QArray]) -> None:
    """Tables of hls4ml's own tanh/sigmoid/softmax (approximate): sized so that every input value of the
    (quantized) input has its own entry where possible, and precise enough for the output type."""
    act = node.get_attr('hgq_native_activation')
    if act is None:
        return
    warnings.warn(
        f'hgq-hls4ml-plugin: {act} layer {node.name!r} uses hls4ml\'s own lookup tables, which are not bit-exact '
        'with Keras. For tanh/sigmoid use to_proxy_model(..., unary_lut_max_table_size=N) (exact); see docs/exactness.md.',
        stacklevel=3,
    )
    res = node.attributes['result_t'].precision
    table_f = max(res.width - res.integer + 2, 8)
    if act == 'softmax':
        # hls4ml's defaults for its softmax tables; the sum of exponentials gets ceil(log2(n)) more integer bits
        n = int(np.prod(node.get_input_variable().shape[-1:]))
        scale = int(np.ceil(np.log2(max(n, 2))))
        _set_type_attr(node, 'exp_table_t', FixedPrecisionType(18, 8, True, 'RND', 'SAT'))
        _set_type_attr(node, 'inv_table_t', FixedPrecisionType(18, 8, True, 'RND', 'SAT'))
        _set_type_attr(node, 'inv_inp_t', FixedPrecisionType(18, 8, True, 'RND', 'SAT'))
        _set_type_attr(node, 'accum_t', FixedPrecisionType(18 + scale, 8 + scale, True))
        return
    _set_type_attr(node, 'table_t', fixed_type(1, 1, table_f, 'RND', 'SAT'))
    x = produced[node.inputs[0]]
    f_in = x.kif_max()[2] if x.bounded else 10
    span = 8 if act == 'tanh' else 16  # hls4ml's tables cover [-4, 4) for tanh and [-8, 8) for sigmoid
    node.set_attr('table_size', int(min(max(span * 2**f_in, 1024), 1 << 16)))


def _apply_overrides(model, view: ModelView) -> None:
    """Applies the hls4ml settings embedded in proxy quantizers (``parallelization_factor``)."""
    for node in view.nodes:
        if not isinstance(node, HGQFixedPointQuantizer):
            continue
        for name, conf in (node.get_attr('overrides') or {}).get('layers', {}).items():
            target = model.graph.get(name)
            if target is None:
                continue
            for key, value in conf.items():
                if key.endswith('_t') or key == 'table_size':
                    continue  # types are derived exactly, never taken from the model
                if key == 'parallelization_factor':
                    if _user_defined(model, name, 'ParallelizationFactor'):
                        continue
                    target.set_attr(key, int(value))
                elif key in target.attributes:
                    target.set_attr(key, value)


def _user_defined(model, layer_name: str, key: str) -> bool:
    conf = (model.config.config.get('HLSConfig', {}).get('LayerName') or {}).get(layer_name) or {}
    return key in conf


def _warn_user_precisions(model) -> None:
    layer_confs = model.config.config.get('HLSConfig', {}).get('LayerName') or {}
    def explicit(precision) -> bool:
        keys = ('result', 'accum', 'weight', 'bias')
        values = [v for k, v in precision.items() if k in keys] if isinstance(precision, dict) else [precision]
        return any(str(v).lower() != 'auto' for v in values)

    named = [
        name for name, conf in layer_confs.items() if isinstance(conf, dict) and explicit(conf.get('Precision', 'auto'))
    ]
    if named:
        warnings.warn(
            f'hgq-hls4ml-plugin: Precision settings for layers {named} are ignored; the plugin derives every type '
            'of a proxy model exactly from its quantizers.',
            stacklevel=2,
        )
