"""The HGQ quantizer."""

from .quantizer import HGQ

__all__ = ['HGQ']
