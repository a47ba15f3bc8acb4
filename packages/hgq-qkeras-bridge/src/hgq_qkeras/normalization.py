"""QBatchNormalization as an exact per-channel ``x * scale + offset``, and the proxy layer computing it."""

from __future__ import annotations

import keras
import numpy as np

from .environment import LEGACY, qkeras_flavour
from .errors import UnsupportedQKerasError
from .evaluate import evaluate
from .numerics import is_power_of_two
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


def qbatchnorm_scale_offset(layer, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``scale = 1/sqrt(var + eps) * gamma`` and ``offset = beta - mean * scale``, in float32, exactly as QKeras
    computes them for QBatchNormalization at inference (checked against the layer itself on probe inputs).

    Raises:
        UnsupportedQKerasError: a scale is not a power of two (then ``x * scale`` is not exact in float32 and
            cannot match firmware), or the offset is rounded in float32 (then TensorFlow's graph and eager
            evaluations of QKeras differ, and neither matches firmware).
    """
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
    bad = ~(is_power_of_two(scale) | (scale == 0))
    if np.any(bad):
        raise UnsupportedQKerasError(
            f'{where}: its scale gamma/sqrt(variance + epsilon) is {scale[bad][:4].tolist()} for some channels, '
            'not a power of two, so x * scale is not exact in float32 and cannot match firmware. With '
            f"gamma_quantizer={describe(layer.gamma_quantizer_internal)!r} and "
            f"variance_quantizer={describe(layer.variance_quantizer_internal)!r}, set epsilon=0 (the power-of-two "
            "variance then has an exact square root when quantized with quantized_relu_po2(..., "
            "quadratic_approximation=True)), or fold the normalization into the previous layer "
            '(QConv2DBatchnorm / QDenseBatchnorm).'
        )
    exact = np.float64(beta if beta is not None else 0.0) - np.float64(mean) * np.float64(scale)
    inexact = exact != offset.astype(np.float64)
    if np.any(inexact):
        raise UnsupportedQKerasError(
            f'{where}: beta - moving_mean * scale is not exact in float32 for some channels '
            f'(exact {exact[inexact][:3].tolist()}, float32 {offset[inexact][:3].tolist()}), so the result depends on '
            'the order in which TensorFlow evaluates the normalization and cannot match firmware. This happens when '
            f'mean_quantizer={describe(layer.mean_quantizer_internal)!r} turns small means into tiny powers of two '
            '(quantized_po2 has no zero). Quantize moving_mean and beta on a common grid instead, e.g. '
            'mean_quantizer=quantized_bits(8, 3, alpha=1) and beta_quantizer=quantized_bits(8, 3, alpha=1).'
        )
    return scale, offset


def _check_reproduced(layer, scale: np.ndarray, offset: np.ndarray, where: str) -> None:
    """Runs the QKeras layer on probe inputs and compares with ``x * scale + offset`` in float32."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = (rng.integers(-64, 64, size=(64, scale.size)) / 8.0).astype(np.float32)
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


def affine_layer(name: str) -> keras.layers.BatchNormalization:
    """A Keras BatchNormalization that computes exactly ``x * scale + offset`` with `affine_weights`.

    With mean 0, variance 1 and epsilon 0, TensorFlow evaluates it as ``x * (rsqrt(1) * scale) + (offset - 0)``:
    the same float32 operations as QKeras's batch normalization with that scale and offset.
    """
    return keras.layers.BatchNormalization(axis=-1, epsilon=0.0, name=name)


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
