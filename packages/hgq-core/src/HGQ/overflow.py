"""Overflow report: which activation values of some data the firmware types cannot hold, and which kernel layers
have an accumulator wider than float32 computes exactly.

`overflow_report` runs a traced HGQ model or its proxy model on data (in batches) and counts, per activation
quantizer, the values that fall outside the fixed-point type the firmware gives that quantizer. Those values wrap
(or saturate) in the firmware, so the firmware and the HGQ model disagree on them: the traced range did not cover
the data. `accumulator_bits` is the width of the exact sum of a Dense/Conv layer; above 24 bits a float32 sum (the
proxy's, and the HGQ model's) can round it, so that the HGQ model and the proxy may differ in the last bit even on
data inside the traced ranges.

The firmware type of an element is the ``(keep_negative k, bits B, integers I)`` of the proxy: for an HGQ model the
type `HGQ.to_proxy_model` derives from the traced range, for a proxy model the `FixedPointQuantizer`'s own. It holds
the multiples of ``2**-(B - I)`` in ``[-k * 2**m, 2**m)`` with ``m = I - k`` (integer bits without the sign); an
element with ``B = 0`` (pruned) holds only 0.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops

from .bops.bops import _batches, iter_hgq_layers, iter_layers
from .layers.base import HLayerBase
from .layers.passive_layers import PLayerBase, Signature
from .proxy.convert import ProxyLayerXFormer
from .proxy.fixed_point import round_int
from .proxy.fixed_point_quantizer import FixedPointQuantizer
from .quantizer.quantizer import value_kif

FLOAT32_SIGNIFICANT_BITS = 24
logger = logging.getLogger('HGQ')

__all__ = ['FLOAT32_SIGNIFICANT_BITS', 'accumulator_bits', 'format_overflow_table', 'overflow_report',
           'wide_accumulators']


# ------------------------------------------------------------------------------------- accumulator width
def _masked_max(values: np.ndarray, mask: np.ndarray) -> int | None:
    values = np.broadcast_to(values, np.broadcast_shapes(values.shape, mask.shape))
    mask = np.broadcast_to(mask, values.shape)
    return int(np.max(values[mask])) if np.any(mask) else None


def _frac_bits_of(layer) -> int | None:
    """The largest fractional bits among the (non-pruned) output elements of an H-, P- or Signature layer."""
    if isinstance(layer, HLayerBase):
        k, i, f = (a.astype(np.int32) for a in layer.paq.get_bits_exact(pos_only=layer._relu_act))
        return _masked_max(f, (k + i + f) > 0)
    if isinstance(layer, Signature):
        b, i = np.asarray(layer.bits, np.int32), np.asarray(layer.int_bits, np.int32)
        return _masked_max(b - i, b > 0)
    if isinstance(layer, PLayerBase):
        found = [_frac_bits_of(p) for p in (layer.input_layers or [])]
        found = [f for f in found if f is not None]
        return max(found) if found else None
    return None


def _kernel_sum_bits(
    f_in: int | None, kernel: np.ndarray, bias: np.ndarray | None, k_out: int, i_out: int
) -> int | None:
    """``k_out + i_out + max(f_in + f_w, f_b)``; None when the input's fractional bits are unknown."""
    if f_in is None:
        return None
    _, _, fw = value_kif(kernel)
    f_w = _masked_max(fw.astype(np.int32), np.asarray(kernel) != 0)
    fracs = [] if f_w is None else [f_in + f_w]  # no term when every weight is zero
    if bias is not None and np.any(bias != 0):
        _, _, fb = value_kif(bias)
        fracs.append(int(np.max(fb[bias != 0])))
    return int(k_out + i_out + max(fracs)) if fracs else None


def accumulator_bits(layer: keras.layers.Layer) -> int | None:
    """Bits of the exact accumulator of a traced kernel layer (HDense, HConv*, their BatchNorm variants).

    The rule: ``k + i + f``, where ``k + i`` are the sign and integer bits of the layer's traced output range (the
    range of the sum, before any ReLU) and ``f = max(f_in + f_w, f_b)`` the fractional bits of the exact sum:
    ``f_in`` the largest fractional bits of the (non-pruned) input elements, ``f_w`` those of the (nonzero)
    quantized weights, ``f_b`` those of the quantized bias. A float32 (24 significant bits) holds every such sum
    exactly when the result is at most 24; above, the HGQ model and the proxy (both computing in float32) may round
    the sum and differ from the firmware, which adds exactly, in the last bit.

    Returns None for a layer without a kernel, or when the input bits are unknown.
    """
    if not isinstance(layer, HLayerBase) or not layer._has_kernel:
        return None
    try:
        k, i, f = (a.astype(np.int32) for a in layer.paq.get_bits_exact(pos_only=False))
        k_out, i_out = _masked_max(k, (k + i + f) > 0), _masked_max(i, (k + i + f) > 0)
        if k_out is None:
            return None
        f_in = _frac_bits_of(layer.last_layer)
        kernel = np.asarray(ops.convert_to_numpy(layer.fused_qkernel), np.float64)
        bias = np.asarray(layer.fused_qbias, np.float64) if layer._has_bias else None
    except (ValueError, RuntimeError, AttributeError, TypeError):  # not connected, untraced, unusual input
        return None
    return _kernel_sum_bits(f_in, kernel, bias, k_out, i_out)


def _producers(model: keras.Model) -> dict[int, keras.layers.Layer]:
    """The layer producing each tensor of a flat (proxy) model, by ``id`` of the tensor."""
    out = {}
    for layer in model.layers:
        try:
            out[id(layer.output)] = layer
        except (AttributeError, ValueError):  # a layer used several times, or not connected
            continue
    return out


_RESHAPES = (keras.layers.Flatten, keras.layers.Reshape, keras.layers.Permute, keras.layers.ZeroPadding1D,
             keras.layers.ZeroPadding2D)


def _proxy_accumulator_bits(q: FixedPointQuantizer, producers: dict[int, keras.layers.Layer]) -> int | None:
    """`accumulator_bits` for the Dense/Conv layer feeding a proxy quantizer ``q`` (None if none feeds it)."""
    try:
        layer = producers.get(id(q.input))
        if not isinstance(layer, (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D)):
            return None
        src = producers.get(id(layer.input))
        while isinstance(src, _RESHAPES):
            src = producers.get(id(src.input))
        if not isinstance(src, FixedPointQuantizer):
            return None
        k, b, i = src.kbi()
        f_in = _masked_max(b - i, b > 0)
        qk, qb, qi = q.kbi()
        k_out, i_out = _masked_max(qk, qb > 0), _masked_max(qi - qk, qb > 0)
        if k_out is None:
            return None
        kernel = np.asarray(ops.convert_to_numpy(layer.kernel), np.float64)
        bias = np.asarray(ops.convert_to_numpy(layer.bias), np.float64) if layer.use_bias else None
    except (AttributeError, ValueError):
        return None
    return _kernel_sum_bits(f_in, kernel, bias, k_out, i_out)


def wide_accumulators(model: keras.Model) -> list[tuple[str, int]]:
    """``(layer name, accumulator_bits)`` of the kernel layers of a traced HGQ model whose exact sums need more
    than float32's 24 significant bits (see `accumulator_bits`)."""
    out = []
    for layer in iter_hgq_layers(model):
        bits = accumulator_bits(layer)
        if bits is not None and bits > FLOAT32_SIGNIFICANT_BITS:
            out.append((layer.name, bits))
    return out


def float32_notice(wide: list[tuple[str, int]]) -> str:
    """The one-line notice naming the layers of `wide_accumulators`."""
    names = ', '.join(f'{n!r} ({b} bits)' for n, b in wide)
    return (f'accumulators wider than float32 holds exactly ({FLOAT32_SIGNIFICANT_BITS} significant bits): {names}. '
            'The HGQ model and the proxy compute these sums in float32 and may differ from the firmware in the last '
            'bit even on data inside the traced ranges; fewer fractional bits of inputs or weights (or a smaller '
            'range) make them exact.')


# ----------------------------------------------------------------------------------------- range checks
class _Check:
    """One firmware type ``(k, m, pruned)`` (numpy arrays broadcastable to a batch of values) and how a value is
    made from what the hook sees: ``relu`` (the type follows a ReLU) and the rounding ``(RND, f)`` of a proxy
    quantizer (None: the values are already quantized)."""

    def __init__(self, k, b, i, relu: bool = False, rnd: str | None = None):
        k, b, i = (np.asarray(a, np.int32) for a in (k, b, i))
        self.pruned = b == 0
        self.k = np.where(self.pruned, 0, k).astype(np.float32)
        self.m = np.where(self.pruned, 0, i - k).astype(np.float32)
        self.f = np.where(self.pruned, 0, b - i).astype(np.float32)
        self.relu, self.rnd = relu, rnd

    def outside(self, x):
        """``(outside mask, excess bits or -inf)`` of a batch ``x``."""
        if self.relu:
            x = ops.relu(x)
        if self.rnd is not None:
            scale = ops.convert_to_tensor(np.power(2.0, self.f, dtype=np.float32))
            x = ops.where(ops.convert_to_tensor(self.pruned), x, round_int(ops, x * scale, self.rnd) / scale)
        bound = ops.convert_to_tensor(np.power(2.0, self.m, dtype=np.float32))
        lower = -ops.convert_to_tensor(self.k) * bound
        out = ops.where(ops.convert_to_tensor(self.pruned), ops.not_equal(x, 0.0),
                        ops.logical_or(ops.greater_equal(x, bound), ops.less(x, lower)))
        excess = ops.log2(ops.abs(x)) - ops.convert_to_tensor(self.m)
        return out, ops.where(out, excess, float('-inf'))


class _Tally:
    def __init__(self, name: str, checks: list[_Check], acc_bits: int | None):
        self.name, self.checks, self.acc_bits = name, checks, acc_bits
        self.outside = self.total = self.samples = 0
        self.excess = float('-inf')

    def add(self, x) -> None:
        x = ops.cast(x, 'float32')
        out, excess = self.checks[0].outside(x)
        for check in self.checks[1:]:
            o, e = check.outside(x)
            out, excess = ops.logical_or(out, o), ops.maximum(excess, e)
        nd = len(out.shape)
        self.outside += int(ops.convert_to_numpy(ops.sum(ops.cast(out, 'int32'))))
        self.total += int(np.prod(out.shape))
        if nd > 1:
            self.samples += int(
                ops.convert_to_numpy(ops.sum(ops.cast(ops.any(out, axis=tuple(range(1, nd))), 'int32')))
            )
        else:
            self.samples += int(ops.convert_to_numpy(ops.sum(ops.cast(out, 'int32'))))
        self.excess = max(self.excess, float(ops.convert_to_numpy(ops.max(excess))) if out.shape[0] else self.excess)

    def result(self) -> dict[str, Any]:
        bits = self.acc_bits
        return {
            'layer': self.name, 'outside': self.outside, 'total': self.total,
            'max_excess_bits': self.excess if self.outside else 0.0, 'samples': self.samples,
            'accumulator_bits': bits, 'float32_exact': None if bits is None else bits <= FLOAT32_SIGNIFICANT_BITS,
        }


def _h_checks(layer: HLayerBase) -> list[_Check]:
    """The firmware types of an H-layer's output, as `to_proxy_model` makes them (two around a ReLU)."""
    xf = ProxyLayerXFormer()
    if layer._relu_act and not isinstance(layer, keras.layers.Activation):
        k, i, f = (a.astype(np.int32) for a in layer.paq.get_bits_exact(pos_only=False))
        k0, i0, f0 = int(np.max(k)), int(np.max(i)), int(np.max(f))
        rk, rb, ri, rnd, _ = xf.get_kbiRS(layer, pos_only=True)
        extra = 0 if rnd == 'TRN' else 1
        return [_Check(k0, k0 + i0 + f0 + extra, k0 + i0), _Check(rk, rb, ri, relu=True)]
    k, b, i, _, _ = xf.get_kbiRS(layer)
    return [_Check(k, b, i)]


def _untraced(layers: list[HLayerBase]) -> list[str]:
    bad = []
    for layer in layers:
        q = layer.paq
        if q._min is None:
            continue
        if not np.all(ops.convert_to_numpy(q._max) >= ops.convert_to_numpy(q._min)):
            bad.append(layer.name)
    return bad


def _hook_h_layers(layers: list[HLayerBase], tallies: dict[int, _Tally]) -> Callable[[], None]:
    """Makes each layer hand its quantized output to its tally (instead of recording its range); returns the undo."""
    saved = []
    for layer in layers:
        tally = tallies[id(layer)]
        saved.append((layer, layer.record_minmax))
        layer.paq.record = tally.add  # an instance attribute: shadows HGQ.record, deleted by undo
        layer.record_minmax = True

    def undo():
        for layer, rec in saved:
            layer.paq.__dict__.pop('record', None)
            layer.record_minmax = rec

    return undo


def _hook_quantizers(quantizers: list[FixedPointQuantizer], tallies: dict[int, _Tally]) -> Callable[[], None]:
    """Makes each proxy quantizer hand its input to its tally; returns the undo."""
    for q in quantizers:
        tally, call = tallies[id(q)], q.call

        def hooked(x, training=None, _tally=tally, _call=call):
            _tally.add(x)
            return _call(x, training=training)

        q.call = hooked

    def undo():
        for q in quantizers:
            q.__dict__.pop('call', None)

    return undo


# ------------------------------------------------------------------------------------------- data checks
def _input_specs(model: keras.Model) -> list[tuple[str, tuple]] | None:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    if not inputs:
        return None
    names = {id(la.output): la.name for la in model.layers if isinstance(la, keras.layers.InputLayer)}
    return [(names.get(id(t), t.name), tuple(t.shape[1:])) for t in inputs]


def _shape_text(shape: tuple) -> str:
    return '(n_samples, ' + ', '.join(str(s) for s in shape) + (',)' if len(shape) == 0 else ')')


def _check_one(arr, name: str, shape: tuple, model_name: str) -> None:
    got = tuple(arr.shape)
    ok = len(got) == len(shape) + 1 and all(s is None or s == g for s, g in zip(shape, got[1:]))
    if not ok:
        raise ValueError(
            f'overflow_report: data for input {name!r} has shape {got}, but model {model_name!r} takes '
            f'{(None,) + tuple(shape)}. Pass an array of shape {_shape_text(shape)}.'
        )


def _check_data(model: keras.Model, data) -> None:
    specs = _input_specs(model)
    if data is None:
        raise ValueError('overflow_report: data is None. Pass the inputs to check, e.g. an array of shape '
                         f'{_shape_text(specs[0][1]) if specs else "(n_samples, ...)"}.')
    if specs is None:
        return
    if isinstance(data, dict):
        names = [n for n, _ in specs]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f'overflow_report: data has keys {unknown}, but model {model.name!r} has the inputs '
                             f'{names}. Key the arrays by input name.')
        for n, shape in specs:
            if n in data and hasattr(data[n], 'shape'):
                _check_one(data[n], n, shape, model.name)
        arrays = list(data.values())
    elif isinstance(data, (list, tuple)) and data and hasattr(data[0], 'shape'):
        if len(data) != len(specs):
            raise ValueError(
                f'overflow_report: data is a list of {len(data)} arrays, but model {model.name!r} has {len(specs)} '
                f'input(s) {[(n, (None,) + s) for n, s in specs]}. Pass one array per input, in order.'
            )
        for arr, (n, shape) in zip(data, specs):
            _check_one(arr, n, shape, model.name)
        arrays = list(data)
    elif hasattr(data, 'shape') and hasattr(data, '__getitem__'):
        if len(specs) != 1:
            raise ValueError(
                f'overflow_report: data is one array of shape {tuple(data.shape)}, but model {model.name!r} has '
                f'{len(specs)} inputs {[(n, (None,) + s) for n, s in specs]}. Pass a list of {len(specs)} arrays.'
            )
        _check_one(data, specs[0][0], specs[0][1], model.name)
        arrays = [data]
    else:
        return  # an iterable of batches: checked by the model when called
    if any(int(a.shape[0]) == 0 for a in arrays):
        raise ValueError('overflow_report: data has 0 samples. Pass at least one sample.')
    if len({int(a.shape[0]) for a in arrays}) > 1:
        raise ValueError(f'overflow_report: the input arrays have different numbers of samples '
                         f'{[int(a.shape[0]) for a in arrays]}. Pass the same samples for every input.')


# -------------------------------------------------------------------------------------------- the report
def overflow_report(model: keras.Model, data, verbose: bool = False, bsz: int = 16384) -> list[dict[str, Any]]:
    """Counts, per activation quantizer, the values of ``data`` outside the range its firmware type holds.

    Args:
        model: A traced HGQ model (after `HGQ.trace_minmax`; nested models included) or a proxy model (from
            `HGQ.to_proxy_model`), told apart by its layers: H-layers or `FixedPointQuantizer` layers.
        data: The inputs: an array, a list (or dict by input name) of arrays for several inputs, or an iterable
            of batches. Run through the model in batches of ``bsz`` samples; only counts are kept.
        verbose: Print the table of `format_overflow_table` (quantizers with overflows first).
        bsz: Batch size for arrays.

    Returns:
        One dict per activation quantizer, in model order: for an HGQ model one per H-layer (named after it), for
        a proxy one per `FixedPointQuantizer` (named after it; a ReLU layer has two). Keys:

        - ``layer``: the name;
        - ``outside``: how many values fall outside the type (these wrap, or saturate, in the firmware), and
          ``total``: how many values were checked (samples times elements);
        - ``samples``: how many samples (rows of ``data``) have at least one value outside;
        - ``max_excess_bits``: the largest ``log2(|v| / 2**m)`` over the values ``v`` outside, where ``2**m`` is
          the bound of the type's magnitude (``m`` integer bits without the sign: the type holds ``[-2**m, 2**m)``
          when signed, ``[0, 2**m)`` when unsigned); 0.0 when no value is outside. A value ``v > 0`` outside needs
          ``floor(e) + 1`` more integer bits, a negative one ``ceil(e)`` (``e`` its excess), so 0.58 means "one bit
          short" and 2.3 "three bits short". It is below 0 only for a negative value in an unsigned type (which
          lacks the sign bit) and for a pruned element (0 bits: ``m = 0``, the firmware gives 0);
        - ``accumulator_bits``: for the quantizer after a Dense/Conv layer, the width of its exact sum (see
          `accumulator_bits`), else None; ``float32_exact``: whether that is at most 24 bits (float32 sums it
          exactly; if not, the HGQ model and proxy may differ from the firmware in the last bit), else None.

        Values are checked after rounding to the type's LSB. For an HGQ model they are the H-layer's quantized
        outputs (before a ReLU against the pre-ReLU type, after it against the output type); for a proxy, each
        quantizer's input. The HGQ model never wraps, so downstream of an overflow its counts describe the values
        that the layers would see if nothing overflowed; the proxy propagates the wrapped values as the firmware
        does. The two agree up to the first overflowing quantizer (and on pruned elements the HGQ model counts
        the values that do not round to 0, the proxy, which does not know their precision, every nonzero input).

    Raises:
        ValueError: an untraced HGQ model, data that does not fit the model's inputs, a model without quantizers.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f'overflow_report: model must be a Keras model (an HGQ model or its proxy), got '
                        f'{type(model).__module__}.{type(model).__name__}.')
    if not isinstance(bsz, (int, np.integer)) or bsz <= 0:
        raise ValueError(f'overflow_report: bsz must be a positive integer, got {bsz!r}.')
    h_layers = list(iter_hgq_layers(model))
    quantizers = [q for q in iter_layers(model) if isinstance(q, FixedPointQuantizer)]
    if h_layers:
        bad = _untraced(h_layers)
        if bad:
            raise ValueError(
                f'overflow_report: model {model.name!r} is not traced: layers {bad} have no recorded value range, '
                'which is what the firmware types are made from. Call HGQ.trace_minmax(model, calibration_data) '
                'first, then overflow_report(model, data).'
            )
        tallies = {id(la): _Tally(la.name, _h_checks(la), accumulator_bits(la)) for la in h_layers}
    elif quantizers:
        producers = _producers(model)
        tallies = {id(q): _Tally(q.name, [_Check(*q.kbi(), rnd=q.RND)], _proxy_accumulator_bits(q, producers))
                   for q in quantizers}
    else:
        raise ValueError(
            f'overflow_report: model {model.name!r} has no activation quantizers (no HGQ layers and no '
            'FixedPointQuantizer layers). Pass a traced HGQ model or its proxy model (HGQ.to_proxy_model(model)).'
        )
    _check_data(model, data)
    undo = _hook_h_layers(h_layers, tallies) if h_layers else _hook_quantizers(quantizers, tallies)
    try:
        for batch in _batches(data, int(bsz)):
            model(batch, training=False)
    finally:
        undo()
    report = [t.result() for t in tallies.values()]
    if verbose:
        print(format_overflow_table(report))
    return report


def _fmt_excess(item: dict[str, Any]) -> str:
    e = item['max_excess_bits']
    if not item['outside']:
        return '-'
    if e is None:  # a non-finite value, after JSON
        return 'n/a'
    return 'inf' if math.isinf(e) else f'{e:.2f}'


def format_overflow_table(report: list[dict[str, Any]], count_line: bool = True) -> str:
    """The report of `overflow_report` as a text table: quantizers with overflows first (most values outside
    first), then the rest in model order; then (``count_line``) how many quantizers overflow and a line naming the
    accumulators wider than float32 (see `accumulator_bits`), if any."""
    rows = sorted(report, key=lambda r: -r['outside'] if r['outside'] else 1)
    w = max([len(r['layer']) for r in rows] + [5])
    lines = [f'{"layer":<{w}}  {"outside":>9}  {"of values":>10}  {"samples":>8}  {"max excess bits":>15}  '
             f'{"accumulator bits":>16}']
    for r in rows:
        acc = '' if r.get('accumulator_bits') is None else str(r['accumulator_bits'])
        if r.get('float32_exact') is False:
            acc += ' (> 24)'
        lines.append(f'{r["layer"]:<{w}}  {r["outside"]:>9,}  {r["total"]:>10,}  {r["samples"]:>8,}  '
                     f'{_fmt_excess(r):>15}  {acc:>16}')
    n_bad = sum(1 for r in report if r['outside'])
    if count_line:
        lines.append(f'{n_bad} of {len(report)} quantizers have values outside their firmware range'
                     + (' (they wrap or saturate in the firmware).' if n_bad else '.'))
    wide = [(r['layer'], r['accumulator_bits']) for r in report if r.get('float32_exact') is False]
    if wide:
        lines.append('float32: ' + float32_notice(wide))
    return '\n'.join(lines)

