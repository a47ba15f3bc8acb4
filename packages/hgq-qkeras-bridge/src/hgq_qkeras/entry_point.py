"""The object hgq-core finds through the ``hgq.proxy_converters`` entry point (``HGQ.to_proxy_model``).

Loading it imports nothing heavy; the conversion code is imported when a model is converted.
"""

from __future__ import annotations


class QKerasConverter:
    """Converts QKeras models for ``HGQ.to_proxy_model``."""

    name = 'hgq-qkeras-bridge'

    def can_convert(self, model) -> bool:
        """True for Keras 2 (tf_keras) or Keras 3 models that contain QKeras layers."""
        from .graph import iter_layers

        try:
            return hasattr(model, 'layers') and any(
                type(layer).__module__.startswith('qkeras.') for layer in iter_layers(model))
        except Exception:
            return False

    def convert(self, model, aggressive: bool = True, unary_lut_max_table_size: int = -1, strict: bool = False,
                calibration_data=None, **_ignored):
        """Converts ``model`` with `hgq_qkeras.to_proxy_model`.

        Args:
            model: The QKeras model.
            aggressive: Ignored: QKeras quantizers saturate, so the proxy always saturates where QKeras does
                (HGQ's WRAP mode would change results).
            unary_lut_max_table_size: Largest lookup table; values <= 0 (HGQ's default -1) use the bridge's
                default (`hgq_qkeras.DEFAULT_UNARY_LUT_MAX_TABLE_SIZE`).
        """
        from .convert import DEFAULT_UNARY_LUT_MAX_TABLE_SIZE, to_proxy_model

        del aggressive
        size = unary_lut_max_table_size if unary_lut_max_table_size and unary_lut_max_table_size > 0 else (
            DEFAULT_UNARY_LUT_MAX_TABLE_SIZE)
        return to_proxy_model(model, unary_lut_max_table_size=size, strict=strict, calibration_data=calibration_data)


converter = QKerasConverter()
