"""QBatchNormalization as an exact per-channel ``x * scale + offset``, and the proxy layer computing it."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from .environment import LEGACY, qkeras_flavour
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


def _inverse_std(var: np.ndarray, epsilon: float, legacy: bool):
    """``1/sqrt(var + eps)`` with the operation the QKeras flavour uses (rsqrt in 0.9, 1/sqrt in qkeras-v3)."""
    import tensorflow as tf

    v = tf.constant(var) + float(epsilon)
    return tf.math.rsqrt(v) if legacy else 1.0 / tf.math.sqrt(v)


@dataclass(frozen=True)
class NormalizationConstants:
    """What QKeras's QBatchNormalization computes at inference: ``x * scale + offset`` per channel (float32).

    Attributes:
        scale: ``gamma / sqrt(variance + epsilon)`` (through the layer's quantizers), float32.
        offset: ``beta - moving_mean * scale``, float32.
        issues: Why float32 ``x * scale + offset`` is not exact (empty when it is): then QKeras rounds where
            firmware does not.
    """

    scale: np.ndarray
    offset: np.ndarray
    issues: tuple[str, ...]


def qbatchnorm_constants(layer, where: str) -> NormalizationConstants:
    """``scale`` and ``offset`` exactly as QKeras computes them (checked against the layer itself on probe
    inputs), and the reasons, if any, why float32 ``x * scale + offset`` is rounded."""
    import tensorflow as tf

    legacy = qkeras_flavour() == LEGACY
    gamma = _quantized(layer, 'gamma', 'gamma_quantizer', bool(layer.scale))
    beta = _quantized(layer, 'beta', 'beta_quantizer', bool(layer.center))
    mean = _quantized(layer, 'moving_mean', 'mean_quantizer', True)
    var = _quantized(layer, 'moving_variance', 'variance_quantizer', True)
    inv = _inverse_std(var, layer.epsilon, legacy)
    if gamma is not None:
        inv = inv * tf.constant(gamma)
    inverse_q = getattr(layer, 'inverse_quantizer_internal', None)
    if inverse_q is not None:
        inv = tf.constant(evaluate(inverse_q, inv.numpy()))
    offset = (tf.constant(beta) - tf.constant(mean) * inv) if beta is not None else -tf.constant(mean) * inv
    scale, offset = inv.numpy().astype(np.float32), offset.numpy().astype(np.float32)
    _check_reproduced(layer, scale, offset, where)
    return NormalizationConstants(scale, offset, _float32_issues(layer, where, scale, offset, beta, mean))


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


def _check_reproduced(layer, scale: np.ndarray, offset: np.ndarray, where: str) -> None:
    """Runs the QKeras layer on probe inputs and compares with ``x * scale + offset`` in float32."""
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
    if not np.array_equal(expected, got):
        raise UnsupportedQKerasError(
            f'{where}: could not reproduce this QKeras version\'s batch normalization bit for bit '
            f'({int(np.sum(expected != got))} of {x.size} probe values differ); please report it with your QKeras '
            'version.'
        )


def affine_layer(name: str, dtype: str = 'float32') -> keras.layers.BatchNormalization:
    """A Keras BatchNormalization that computes exactly ``x * scale + offset`` with `affine_weights`.

    With mean 0, variance 1 and epsilon 0, TensorFlow evaluates it as ``x * (rsqrt(1) * scale) + (offset - 0)``:
    the same float32 operations as QKeras's batch normalization with that scale and offset.
    """
    return keras.layers.BatchNormalization(axis=-1, epsilon=0.0, name=name, dtype=dtype)


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
