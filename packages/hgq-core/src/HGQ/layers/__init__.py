"""HGQ layers: H-layers (trainable quantizers) and P-layers (bitwidth pass-through).

The names and module paths follow HGQ1: ``HGQ.layers.conv``, ``HGQ.layers.dense``, ``HGQ.layers.misc``,
``HGQ.layers.passive_layers`` and ``HGQ.layers.batchnorm_base`` (which defines `HDenseBatchNorm`; it is also
reachable as ``HGQ.layers.dense.HDenseBatchNorm``, its HGQ1 path).
"""

from . import dense as _dense
from .base import ABSBaseLayer, HLayerBase
from .batchnorm_base import HBatchNormBase, HDenseBatchNorm
from .conv import (
    HConv,
    HConv1D,
    HConv1DBatchNorm,
    HConv2D,
    HConv2DBatchNorm,
    HConvBatchNorm,
)
from .dense import HDense
from .misc import HActivation, HAdd, HQuantize
from .passive_layers import (
    PAveragePooling1D,
    PAveragePooling2D,
    PAvgPool1D,
    PAvgPool2D,
    PConcatenate,
    PDropout,
    PFlatten,
    PLayerBase,
    PMaxPool1D,
    PMaxPool2D,
    PMaxPooling1D,
    PMaxPooling2D,
    PPermute,
    PPool,
    PPool1D,
    PPool2D,
    PReshape,
    Signature,
)
from .passive_layers import __all__ as _passive_all

# HGQ1 path `HGQ.layers.dense.HDenseBatchNorm` (the class lives in batchnorm_base, which imports dense)
_dense.HDenseBatchNorm = HDenseBatchNorm

__all__ = [
    'ABSBaseLayer',
    'HLayerBase',
    'HBatchNormBase',
    'HConv',
    'HConv1D',
    'HConv2D',
    'HConvBatchNorm',
    'HConv1DBatchNorm',
    'HConv2DBatchNorm',
    'HDense',
    'HDenseBatchNorm',
    'HActivation',
    'HAdd',
    'HQuantize',
    *_passive_all,
]
