"""The plugin's precision propagation pass, in hls4ml's ``convert`` flow before ``infer_precision_types``.

It sets every result, accumulator, weight and bias type of a proxy model from its quantizers and quantized weights,
so that the firmware is bit-exact with the proxy (the steps: `propagation`). This module is imported when hls4ml
registers the plugin, also for plain hls4ml models: it imports the propagation (and with it HGQ) only when a model
holds plugin layers.
"""

from __future__ import annotations

from hls4ml.model.optimizer import ModelOptimizerPass

from .layers import HGQFixedPointQuantizer, HGQUnaryLUT


class HGQPrecisionPropagation(ModelOptimizerPass):
    """Derives every type of a proxy model exactly (see `hgq_hls4ml.propagation`)."""

    def __init__(self):
        self.name = 'hgq_precision_propagation'

    def _match(self, model) -> bool:
        return any(isinstance(n, (HGQFixedPointQuantizer, HGQUnaryLUT)) for n in model.graph.values())

    def transform(self, model) -> bool:
        if not self._match(model):
            return False
        from .propagation import propagate

        return propagate(model)
