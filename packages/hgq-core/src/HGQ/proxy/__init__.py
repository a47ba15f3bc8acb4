"""Proxy models: plain Keras layers plus explicit fixed-point quantizers, the input format of hls4ml."""

from .convert import to_proxy_model
from .fixed_point_quantizer import FixedPointQuantizer, fixed, gfixed, gfixed_quantizer, ufixed
from .unary_lut import UnaryLUT

__all__ = ['to_proxy_model', 'FixedPointQuantizer', 'UnaryLUT', 'fixed', 'gfixed', 'gfixed_quantizer', 'ufixed']
