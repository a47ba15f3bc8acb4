"""QBatchNormalization as an exact per-channel ``x * scale + offset``, and the proxy layer computing it."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from HGQ.proxy import ExactBatchNormalization

from .errors import UnsupportedQKerasError
from .evaluate import evaluate
from .numerics import frac_bits, is_power_of_two
from .quantizers import describe


def _quantized(layer, weight: str, quantizer: str, enabled: bool) -> np.ndarray | None:
    """A batch-norm parameter as QKeras uses it at inference (through its quantizer if it has one)."""
    var = getattr(layer, weight, None)
    if var is None or not enabled:
        return None
    values = np.asarray(var.numpy() if hasattr(var, 'numpy') else keras.ops.convert_to_numpy(var), dtype=np.float32)
    q = getattr(layer, f'{quantizer}_internal', None)
    if getattr(layer, quantizer, None) and q is not None:
        return evaluate(q, values)
    return values


def _inverse_std(var: np.ndarray, epsilon: float) -> np.ndarray:
    """``1 / sqrt(var + eps)`` in float32, each operation correctly rounded: what QKeras computes on a machine
    whose TensorFlow ``rsqrt`` is exact (qkeras-v3 writes ``1 / sqrt``, QKeras 0.9 ``rsqrt``)."""
    v = np.asarray(var, np.float32) + np.float32(epsilon)
    return np.float32(1.0) / np.sqrt(v)


def _tensorflow_rsqrt(var: np.ndarray, epsilon: float) -> np.ndarray:
    """``rsqrt(var + eps)`` as this machine's ``tf.nn.batch_normalization`` computes it (QKeras 0.9's path;
    TensorFlow's vectorized float32 rsqrt is approximate on some CPUs): its result for x = 1, mean 0."""
    import tensorflow as tf

    v = tf.constant(np.asarray(var, np.float32))
    return tf.nn.batch_normalization(tf.ones_like(v), tf.zeros_like(v), v, None, None, float(epsilon)).numpy()


APPROXIMATE_RSQRT = (
    'QKeras computes rsqrt(variance + epsilon) with TensorFlow, whose vectorized float32 rsqrt is approximate on '
    'this CPU (rsqrt(1) = 0.99999994), so its scale is off by an ulp on this machine; the proxy and the firmware '
    'use the exact scale, as QKeras does on other machines and as hls4ml does'
)


ROUNDED_SCALE = ('its scale is not a power of two: QKeras rounds x * scale + offset in float32, while the proxy '
                 'computes it exactly, as the firmware does')


@dataclass(frozen=True)
class NormalizationConstants:
    """What QKeras's QBatchNormalization computes at inference: ``x * scale + offset`` per channel (float32).

    Attributes:
        scale: ``gamma / sqrt(variance + epsilon)`` (through the layer's quantizers), float32, correctly rounded.
        offset: ``beta - moving_mean * scale``, float32.
        issues: Why float32 ``x * scale + offset`` is not exact (empty when it is): then QKeras rounds where
            firmware does not.
        rounded_here: Whether QKeras on this machine computes a different scale (TensorFlow's approximate
            rsqrt, `APPROXIMATE_RSQRT`): its outputs can then differ from the firmware's, which follow ``scale``.
    """

    scale: np.ndarray
    offset: np.ndarray
    issues: tuple[str, ...]
    rounded_here: bool = False


def _scale_offset(inverse_std: np.ndarray, gamma, beta, mean, inverse_q) -> tuple[np.ndarray, np.ndarray]:
    """QKeras's float32 ``scale`` and ``offset`` from the inverse standard deviation, operation by operation."""
    inv = np.asarray(inverse_std, np.float32)
    if gamma is not None:
        inv = inv * np.asarray(gamma, np.float32)
    if inverse_q is not None:
        inv = np.asarray(evaluate(inverse_q, inv), np.float32)
    shift = np.asarray(mean, np.float32) * inv
    offset = -shift if beta is None else np.asarray(beta, np.float32) - shift
    return inv.astype(np.float32), offset.astype(np.float32)


def qbatchnorm_constants(layer, where: str) -> NormalizationConstants:
    """``scale`` and ``offset`` as QKeras defines them (checked against the layer itself on probe inputs), and
    the reasons, if any, why float32 ``x * scale + offset`` is rounded or QKeras computes otherwise here."""
    gamma = _quantized(layer, 'gamma', 'gamma_quantizer', bool(layer.scale))
    beta = _quantized(layer, 'beta', 'beta_quantizer', bool(layer.center))
    mean = _quantized(layer, 'moving_mean', 'mean_quantizer', True)
    var = _quantized(layer, 'moving_variance', 'variance_quantizer', True)
    inverse_q = getattr(layer, 'inverse_quantizer_internal', None)
    scale, offset = _scale_offset(_inverse_std(var, layer.epsilon), gamma, beta, mean, inverse_q)
    differ, probes = _probe_mismatches(layer, scale, offset)
    rounded_here = differ > 0
    if rounded_here:
        here = _scale_offset(_tensorflow_rsqrt(var, layer.epsilon), gamma, beta, mean, inverse_q)
        if _probe_mismatches(layer, *here)[0]:
            raise UnsupportedQKerasError(
                f'{where}: could not reproduce this QKeras version\'s batch normalization bit for bit ({differ} of '
                f'{probes} probe values differ); please report it with your QKeras and TensorFlow versions.'
            )
    issues = _float32_issues(layer, where, scale, offset, beta, mean)
    return NormalizationConstants(scale, offset, issues, rounded_here)


def _float32_issues(layer, where: str, scale, offset, beta, mean) -> tuple[str, ...]:
    issues = []
    bad = ~(is_power_of_two(scale) | (scale == 0))
    if np.any(bad):
        issues.append(
            f'{where}: its scale gamma/sqrt(variance + epsilon) is {scale[bad][:4].tolist()} for some channels, '
            'not a power of two, so x * scale is not exact in float32. With '
            f"gamma_quantizer={describe(layer.gamma_quantizer_internal)!r} and "
            f"variance_quantizer={describe(layer.variance_quantizer_internal)!r}, set epsilon=0 (the power-of-two "
            "variance then has an exact square root when quantized with quantized_relu_po2(..., "
            "quadratic_approximation=True)), or fold the normalization into the previous layer "
            '(QConv2DBatchnorm / QDenseBatchnorm).'
        )
    exact = np.float64(beta if beta is not None else 0.0) - np.float64(mean) * np.float64(scale)
    inexact = exact != offset.astype(np.float64)
    if np.any(inexact):
        issues.append(
            f'{where}: beta - moving_mean * scale is not exact in float32 for some channels '
            f'(exact {exact[inexact][:3].tolist()}, float32 {offset[inexact][:3].tolist()}), so the result depends on '
            'the order in which TensorFlow evaluates the normalization. This happens when '
            f'mean_quantizer={describe(layer.mean_quantizer_internal)!r} turns small means into tiny powers of two '
            '(quantized_po2 has no zero). Quantize moving_mean and beta on a common grid instead, e.g. '
            'mean_quantizer=quantized_bits(8, 3, alpha=1) and beta_quantizer=quantized_bits(8, 3, alpha=1).'
        )
    return tuple(issues)


def qbatchnorm_scale_offset(layer, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, offset)`` of a QBatchNormalization whose float32 ``x * scale + offset`` is exact.

    Raises:
        UnsupportedQKerasError: a scale is not a power of two, or the offset is rounded in float32 (then no
            float32 evaluation, QKeras's included, matches firmware bit for bit).
    """
    constants = qbatchnorm_constants(layer, where)
    if constants.issues:
        raise UnsupportedQKerasError(constants.issues[0] + STRICT_HINT)
    return constants.scale, constants.offset


STRICT_HINT = (' (strict=True refuses such layers; with strict=False the proxy computes x * scale + offset exactly, '
               'as the firmware does, and the agreement with QKeras is measured on calibration_data.)')


def exact_sum_bits(scale: np.ndarray, offset: np.ndarray, step: float, bound: float) -> int:
    """Significant bits the exact ``x * scale + offset`` needs, for inputs that are multiples of ``step`` with
    ``|x| <= bound`` (the widest channel)."""
    scale, offset = np.asarray(scale, np.float64), np.asarray(offset, np.float64)
    product_step = np.where(scale != 0, step * 2.0 ** -frac_bits(scale), np.inf)
    offset_step = np.where(offset != 0, 2.0 ** -frac_bits(offset), np.inf)
    lsb = np.minimum(product_step, offset_step)
    top = bound * np.abs(scale) + np.abs(offset)
    used = (top > 0) & np.isfinite(lsb)
    if not np.any(used):
        return 0
    return int(np.ceil(np.log2(np.max(top[used] / lsb[used])))) + 1


FLOAT64_BITS = 53
"""Significand bits of float64: a multiple of ``lsb`` below ``2**53 * lsb`` in magnitude is exact in it."""


def _probe_mismatches(layer, scale: np.ndarray, offset: np.ndarray) -> tuple[int, int]:
    """``(differ, total)``: probe outputs of the QKeras layer that differ from float32 ``x * scale + offset``."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    try:
        rank = len(layer.input.shape)
    except (AttributeError, ValueError):  # not called in a graph
        rank = 2
    shape = (64,) + (1,) * (rank - 2) + (scale.size,)
    x = (rng.integers(-64, 64, size=shape) / 8.0).astype(np.float32)
    try:
        expected = np.asarray(layer(tf.constant(x), training=False))
    except TypeError:
        expected = np.asarray(layer(tf.constant(x)))
    got = (tf.constant(x) * tf.constant(scale) + tf.constant(offset)).numpy()
    return int(np.sum(expected != got)), x.size


def affine_layer(name: str, dtype: str = 'float32') -> keras.layers.BatchNormalization:
    """A batch normalization that computes exactly ``x * scale + offset`` with `affine_weights`.

    It is `HGQ.proxy.ExactBatchNormalization` (mean 0, variance 1, epsilon 0): ``scale / sqrt(1)`` is ``scale``
    on every machine, where Keras' own layer goes through TensorFlow's approximate vectorized ``rsqrt``.
    hls4ml converts it as a ``BatchNormalization``.
    """
    return ExactBatchNormalization(axis=-1, epsilon=0.0, name=name, dtype=dtype)


def affine_weights(scale: np.ndarray, offset: np.ndarray) -> list[np.ndarray]:
    """Weights of `affine_layer`: gamma, beta, moving mean, moving variance."""
    scale = np.asarray(scale, np.float32)
    return [scale, np.asarray(offset, np.float32), np.zeros_like(scale), np.ones_like(scale)]


def apply_scale(tensor, factor: float, name: str):
    """``tensor * factor`` through an `affine_layer` (exact when ``factor`` is a short fixed-point number)."""
    channels = int(tensor.shape[-1])
    layer = affine_layer(name)
    layer.build(tuple(tensor.shape))
    layer.set_weights(affine_weights(np.full(channels, factor), np.zeros(channels)))
    return layer(tensor)
