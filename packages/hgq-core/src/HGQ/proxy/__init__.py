"""Proxy models: plain Keras layers plus explicit fixed-point quantizers, the input format of hls4ml."""

from __future__ import annotations

import importlib.util

from .convert import to_proxy_model
from .fixed_point_quantizer import FixedPointQuantizer, fixed, gfixed, gfixed_quantizer, ufixed
from .unary_lut import UnaryLUT


def init_all() -> list[str]:
    """Registers the installed hls4ml integration now (HGQ1 name; HGQ1 ran it on import).

    The hgq-hls4ml-plugin package registers itself whenever hls4ml is imported, so calling this is never
    required; it is kept for HGQ1 scripts and to surface a registration problem early.

    Returns:
        The names of the integrations that are active (``['hls4ml']`` when the plugin is installed).
    """
    active = []
    if importlib.util.find_spec('hgq_hls4ml') is not None:
        import hgq_hls4ml

        if hgq_hls4ml.register():
            active.append('hls4ml')
    return active


__all__ = [
    'to_proxy_model', 'FixedPointQuantizer', 'UnaryLUT', 'fixed', 'gfixed', 'gfixed_quantizer', 'ufixed', 'init_all',
]
