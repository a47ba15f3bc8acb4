"""The quantized weights a QKeras layer really applies, captured from QKeras's own forward pass.

The layer's weight quantizers are wrapped for one call so that the values QKeras computes (after
``alpha='auto_po2'`` scaling, batch-norm folding, ...) are recorded exactly; nothing is re-derived.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from .errors import UnsupportedQKerasError
from .evaluate import evaluate
from .numerics import significant_bits
from .quantizers import alpha_kind, describe, to_int

WEIGHT_QUANTIZERS = (
    'quantized_bits', 'quantized_relu', 'binary', 'stochastic_binary', 'ternary', 'stochastic_ternary',
    'quantized_po2', 'quantized_relu_po2', 'quantized_linear',
)


def check_weight_quantizer(q, where: str, role: str) -> None:
    """Refuses weight quantizers whose output is not a short fixed-point number.

    Raises:
        UnsupportedQKerasError: naming the layer, the weight and the quantizer.
    """
    if not q:
        raise UnsupportedQKerasError(
            f'{where}: the {role} has no quantizer, so firmware would need its float32 values. '
            f'Give the layer a {role}_quantizer (e.g. quantized_bits(8, 0, alpha=1)).'
        )
    name = type(q).__name__
    if name not in WEIGHT_QUANTIZERS or not type(q).__module__.startswith('qkeras'):
        raise UnsupportedQKerasError(
            f'{where}: {role} quantizer {describe(q)} is not supported for weights; '
            f'use one of {", ".join(WEIGHT_QUANTIZERS)}.'
        )
    qn = getattr(q, 'qnoise_factor', 1.0)
    if float(np.asarray(qn.numpy() if hasattr(qn, 'numpy') else qn)) != 1.0:
        raise UnsupportedQKerasError(
            f'{where}: {role} quantizer {describe(q)} has qnoise_factor={qn}; set qnoise_factor=1.0 before converting.'
        )
    alpha = getattr(q, 'alpha', None)
    kind = alpha_kind(alpha)
    if kind == 'auto':
        raise UnsupportedQKerasError(
            f"{where}: {role} quantizer {describe(q)} uses alpha='auto', a float scale per channel, so the weights are "
            "not short fixed-point numbers. Retrain with alpha='auto_po2' (power-of-two scales) or alpha=1."
        )
    if kind == 'float':
        raise UnsupportedQKerasError(
            f'{where}: {role} quantizer {describe(q)} has alpha={alpha!r}, which is not a power of two. '
            "Use alpha=1, a power of two, or alpha='auto_po2'."
        )


def _budget(q) -> int:
    """Significant bits a weight value may have after quantizer ``q`` (its integer levels)."""
    bits = getattr(q, 'bits', None)
    if bits is None:
        return 2
    return max(to_int(bits, 'bits'), 1) + 1


def validate_weight(values: np.ndarray, q, where: str, role: str) -> np.ndarray:
    """Checks that QKeras's quantized weights are finite, short fixed-point numbers; returns them as float32."""
    w = np.asarray(values, dtype=np.float32)
    if not np.all(np.isfinite(w)):
        raise UnsupportedQKerasError(f'{where}: the quantized {role} contains NaN or inf.')
    worst = int(significant_bits(w).max()) if w.size else 0
    if worst > _budget(q):
        raise UnsupportedQKerasError(
            f'{where}: {role} quantizer {describe(q)} produced values with {worst} significant bits, more than its '
            f'{_budget(q) - 1} bits allow, so they are not fixed-point numbers of that width (a float scale or '
            "qnoise?). Use alpha=1 or alpha='auto_po2'."
        )
    return w


@contextmanager
def _recording(layer, attrs: tuple[str, ...]) -> Iterator[dict[str, np.ndarray]]:
    records: dict[str, np.ndarray] = {}
    originals = {a: getattr(layer, a, None) for a in attrs}

    def wrap(attr, q):
        def recorded(x):
            y = q(x)
            records[attr] = np.asarray(y, dtype=np.float32) if not hasattr(y, 'numpy') else y.numpy().astype(np.float32)
            return y

        return recorded

    try:
        for a, q in originals.items():
            if q is not None:
                object.__setattr__(layer, a, wrap(a, q))
        yield records
    finally:
        for a, q in originals.items():
            object.__setattr__(layer, a, q)


def applied_weights(layer, attrs: tuple[str, ...], input_shape: tuple[int, ...], where: str) -> dict[str, np.ndarray]:
    """Runs ``layer`` once in inference mode on zeros and returns what each quantizer in ``attrs`` produced.

    Runs it twice and refuses quantizers whose outputs differ between the runs (random at inference).
    """
    probe = np.zeros((1,) + tuple(int(s) for s in input_shape), dtype=np.float32)
    runs = []
    for _ in range(2):
        with _recording(layer, attrs) as rec:
            _call_inference(layer, probe)
        runs.append(rec)
    for attr, value in runs[0].items():
        if not np.array_equal(value, runs[1][attr]):
            raise UnsupportedQKerasError(
                f'{where}: {describe(getattr(layer, attr))} ({attr}) gives different weights on every call '
                '(stochastic at inference); use a deterministic quantizer.'
            )
    return runs[0]


def _call_inference(layer, probe: np.ndarray) -> None:
    import keras

    x = keras.ops.convert_to_tensor(probe)
    try:
        layer(x, training=False)
    except TypeError:
        layer(x)


def quantize_weight(q, values, where: str, role: str) -> np.ndarray:
    """``q(values)`` evaluated by QKeras, checked (used where QKeras applies the quantizer to a stored weight)."""
    check_weight_quantizer(q, where, role)
    return validate_weight(evaluate(q, values), q, where, role)
