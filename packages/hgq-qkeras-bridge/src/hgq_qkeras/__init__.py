"""hgq-qkeras-bridge: QKeras models to bit-exact Keras 3 HGQ proxy models.

``to_proxy_model(qmodel)`` turns a QKeras 0.9 (tf_keras, run with ``TF_USE_LEGACY_KERAS=1``) or qkeras-v3
(Keras 3) model into a proxy model: plain Keras 3 layers with QKeras's quantized weights,
``HGQ.proxy.FixedPointQuantizer`` and ``HGQ.proxy.UnaryLUT`` layers. The proxy computes exactly what QKeras
computes, and hls4ml with hgq-hls4ml-plugin turns it into firmware whose C simulation is bit-exact with it.
``HGQ.to_proxy_model(qmodel)`` reaches the same function through the ``hgq.proxy_converters`` entry point.

Importing this package does not import Keras or TensorFlow, so it is safe before ``TF_USE_LEGACY_KERAS=1``
takes effect; the converter loads them on first use. With QKeras 0.9 installed, a later ``import qkeras`` without
``TF_USE_LEGACY_KERAS=1`` (or with it set after TensorFlow was imported) raises `LegacyKerasError` saying what to
set, instead of QKeras's TypeError at the first layer call.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .environment import check_environment, install_import_guard, qkeras_flavour, warn_if_qkeras_is_unusable
from .errors import LegacyKerasError, LegacyKerasImportError, QKerasConversionError, UnsupportedQKerasError

install_import_guard()
warn_if_qkeras_is_unusable()

_LAZY = {'to_proxy_model', 'is_qkeras_model', 'DEFAULT_UNARY_LUT_MAX_TABLE_SIZE'}

__all__ = [
    'DEFAULT_UNARY_LUT_MAX_TABLE_SIZE',
    'LegacyKerasError',
    'LegacyKerasImportError',
    'QKerasConversionError',
    'UnsupportedQKerasError',
    '__version__',
    'agreement',
    'check_environment',
    'is_qkeras_model',
    'qkeras_flavour',
    'to_proxy_model',
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import convert

        return getattr(convert, name)
    if name == 'agreement':
        from .qkeras_agreement import agreement

        return agreement
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
