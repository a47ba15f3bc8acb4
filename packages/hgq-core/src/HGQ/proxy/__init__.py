"""Proxy models: plain Keras layers plus explicit fixed-point quantizers, the input format of hls4ml."""

from __future__ import annotations

import warnings
from importlib.metadata import entry_points

from .convert import to_proxy_model
from .exact_batchnorm import ExactBatchNormalization
from .fixed_point_quantizer import FixedPointQuantizer, fixed, gfixed, gfixed_quantizer, ufixed
from .unary_lut import UnaryLUT

HLS4ML_ENTRY_POINT = ('hls4ml.backends', 'hgq')
"""Group and name of the entry point through which hgq-hls4ml-plugin registers with hls4ml."""


def init_all() -> list[str]:
    """Registers the installed hls4ml integration now (HGQ1 name; HGQ1 ran it on import).

    The hgq-hls4ml-plugin package registers itself whenever hls4ml is imported, so calling this is never
    required; it is kept for HGQ1 scripts and to surface a registration problem early. The plugin is reached
    only through its ``hls4ml.backends`` entry point (the one hls4ml itself calls), never imported by name.

    Returns:
        The names of the integrations that are active (``['hls4ml']`` when the plugin is installed).
    """
    group, name = HLS4ML_ENTRY_POINT
    active = []
    for ep in entry_points().select(group=group, name=name):
        try:
            register = ep.load()
        except Exception as exc:  # a broken plugin must not break HGQ
            warnings.warn(f'HGQ: could not load the hls4ml integration {ep.value!r}: {exc}', stacklevel=2)
            continue
        if register() and 'hls4ml' not in active:
            active.append('hls4ml')
    return active


__all__ = [
    'to_proxy_model', 'ExactBatchNormalization', 'FixedPointQuantizer', 'UnaryLUT', 'fixed', 'gfixed',
    'gfixed_quantizer', 'ufixed', 'init_all',
]
