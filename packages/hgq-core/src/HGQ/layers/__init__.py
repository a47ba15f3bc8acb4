"""HGQ layers: H-layers (trainable quantizers) and P-layers (bitwidth pass-through)."""

from .base import ABSBaseLayer, HLayerBase
from .dense import HDense
from .misc import HQuantize
from .passive_layers import PLayerBase, Signature

__all__ = ['ABSBaseLayer', 'HLayerBase', 'HDense', 'HQuantize', 'PLayerBase', 'Signature']
