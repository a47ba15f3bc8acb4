"""Errors raised by the bridge. Each one names the layer and quantizer involved and says what to change."""

from __future__ import annotations


class QKerasConversionError(ValueError):
    """A QKeras model (or part of it) cannot be turned into a bit-exact proxy model."""


class UnsupportedQKerasError(QKerasConversionError):
    """A layer, quantizer or option has no bit-exact proxy equivalent."""


class LegacyKerasError(RuntimeError):
    """QKeras 0.9 was used without Keras 2 (tf_keras) behind ``tf.keras``."""


class LegacyKerasImportError(LegacyKerasError, ImportError):
    """``import qkeras`` (QKeras 0.9) refused by the bridge because tf_keras would not be behind ``tf.keras``.

    Raised instead of the TypeError QKeras would give at its first layer call. It is also an ImportError, so code
    that treats QKeras as optional (``try: import qkeras / except ImportError``, as hls4ml does) keeps working.
    """
