"""Errors raised by the bridge. Each one names the layer and quantizer involved and says what to change."""

from __future__ import annotations


class QKerasConversionError(ValueError):
    """A QKeras model (or part of it) cannot be turned into a bit-exact proxy model."""


class UnsupportedQKerasError(QKerasConversionError):
    """A layer, quantizer or option has no bit-exact proxy equivalent."""


class LegacyKerasError(RuntimeError):
    """QKeras 0.9 was used without Keras 2 (tf_keras) behind ``tf.keras``."""
