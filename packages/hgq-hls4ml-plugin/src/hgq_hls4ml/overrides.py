"""hls4ml settings embedded in proxy quantizers (``overrides``), applied to the IR nodes they name."""

from __future__ import annotations

from .layers import HGQFixedPointQuantizer
from .view import ModelView


def apply_overrides(model, view: ModelView) -> None:
    """Applies the hls4ml settings embedded in proxy quantizers (``parallelization_factor``)."""
    for node in view.nodes:
        if not isinstance(node, HGQFixedPointQuantizer):
            continue
        for name, conf in (node.get_attr('overrides') or {}).get('layers', {}).items():
            target = model.graph.get(name)
            if target is None:
                continue
            for key, value in conf.items():
                if key.endswith('_t') or key == 'table_size':
                    continue  # types are derived exactly, never taken from the model
                if key == 'parallelization_factor':
                    if user_defined(model, name, 'ParallelizationFactor'):
                        continue
                    target.set_attr(key, int(value))
                elif key in target.attributes:
                    target.set_attr(key, value)


def user_defined(model, layer_name: str, key: str) -> bool:
    conf = (model.config.config.get('HLSConfig', {}).get('LayerName') or {}).get(layer_name) or {}
    return key in conf
