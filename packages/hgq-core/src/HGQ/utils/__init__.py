"""Utilities: the bitwidth regularizer, default quantizer configs and fixed-point type strings."""

from .exactness import ExactnessCount, count_equal
from .utils import (
    MonoL1,
    apf_to_tuple,
    get_default_kq_conf,
    get_default_paq_conf,
    set_default_kq_conf,
    set_default_paq_conf,
    strategy_dict,
    tuple_to_apf,
    warn,
)

__all__ = [
    'MonoL1',
    'apf_to_tuple',
    'tuple_to_apf',
    'get_default_kq_conf',
    'get_default_paq_conf',
    'set_default_kq_conf',
    'set_default_paq_conf',
    'strategy_dict',
    'warn',
    'ExactnessCount',
    'count_equal',
]
