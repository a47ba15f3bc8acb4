"""H-layers without a kernel: HQuantize (and, later, HActivation and HAdd)."""

from __future__ import annotations

import keras

from .base import HLayerBase


@keras.saving.register_keras_serializable(package='HGQ')
class HQuantize(HLayerBase):
    """Quantizes its input with a trainable per-element quantizer; usually the first layer of a model."""

    def __init__(self, paq_conf=None, beta: float = 0.0, **kwargs):
        if 'kq_conf' in kwargs:
            kwargs.pop('kq_conf')
        super().__init__(paq_conf=paq_conf, beta=beta, **kwargs)

    def forward(self, x, training=None, record_minmax=None):
        return self.paq(x, training=training, record_minmax=record_minmax)

    def compute_output_shape(self, input_shape):
        return input_shape
