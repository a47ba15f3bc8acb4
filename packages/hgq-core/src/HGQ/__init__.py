"""HGQ: High Granularity Quantization for Keras 3.

Per-weight and per-activation bitwidths trained by gradient, exact resource estimates (BOPs), and
bit-exact conversion to hls4ml through proxy models. The public API follows HGQ1 (``hgq`` 0.2.6).
"""

from ._version import __version__, version_tuple
from .bops import CalibratedBOPs, FreeBOPs, ResetMinMax, trace_minmax
from .layers import HDense, HQuantize, Signature
from .proxy import to_proxy_model
from .quantizer import HGQ
from .utils import get_default_kq_conf, get_default_paq_conf, set_default_kq_conf, set_default_paq_conf

__all__ = [
    'CalibratedBOPs',
    'FreeBOPs',
    'ResetMinMax',
    'trace_minmax',
    'HDense',
    'HQuantize',
    'Signature',
    'to_proxy_model',
    'HGQ',
    'get_default_kq_conf',
    'get_default_paq_conf',
    'set_default_kq_conf',
    'set_default_paq_conf',
    '__version__',
    'version_tuple',
]
