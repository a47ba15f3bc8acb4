"""HGQ: High Granularity Quantization for Keras 3.

Per-weight and per-activation bitwidths trained by gradient, exact resource estimates (BOPs), and
bit-exact conversion to hls4ml through proxy models. The public API follows HGQ1 (``hgq`` 0.2.6): the
top-level names below are HGQ1's, plus the training callbacks of `HGQ.callbacks` and `overflow_report`;
`HActivation`, `HAdd`, the long pooling names, `PDropout` and `PPermute` live in `HGQ.layers`, as in HGQ1.
"""

from __future__ import annotations

import sys

from ._version import __version__, version_tuple
from .bops import CalibratedBOPs, FreeBOPs, ResetMinMax, trace_minmax
from .callbacks import BetaPID, BetaScheduler, EarlyStoppingWithEbops, ParetoFront, PBar, PieceWiseSchedule
from .layers import (
    HConv1D,
    HConv1DBatchNorm,
    HConv2D,
    HConv2DBatchNorm,
    HDense,
    HDenseBatchNorm,
    HQuantize,
    PAvgPool1D,
    PAvgPool2D,
    PConcatenate,
    PFlatten,
    PMaxPool1D,
    PMaxPool2D,
    PReshape,
    Signature,
)
from .overflow import overflow_report
from .proxy import to_proxy_model
from .quantizer import HGQ
from .utils import (
    get_default_kq_conf,
    get_default_paq_conf,
    set_default_kq_conf,
    set_default_paq_conf,
)
from .utils.keras2_files import enable_keras2_file_loading

enable_keras2_file_loading()


class Shutup:
    """Context manager that silences ``sys.stdout`` and ``sys.stderr`` (kept from HGQ1: ``with HGQ.shutup:``)."""

    def write(self, s: str) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> Shutup:
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout = sys.stderr = self
        return self

    def __exit__(self, exc_type, exc_val, exc_tb) -> None:
        sys.stdout, sys.stderr = self._saved


shutup = Shutup()

__all__ = [
    'CalibratedBOPs',
    'FreeBOPs',
    'ResetMinMax',
    'trace_minmax',
    'BetaPID',
    'BetaScheduler',
    'EarlyStoppingWithEbops',
    'ParetoFront',
    'PBar',
    'PieceWiseSchedule',
    'HConv1D',
    'HConv1DBatchNorm',
    'HConv2D',
    'HConv2DBatchNorm',
    'HDense',
    'HDenseBatchNorm',
    'HQuantize',
    'PAvgPool1D',
    'PAvgPool2D',
    'PConcatenate',
    'PFlatten',
    'PMaxPool1D',
    'PMaxPool2D',
    'PReshape',
    'Signature',
    'overflow_report',
    'to_proxy_model',
    'HGQ',
    'get_default_kq_conf',
    'get_default_paq_conf',
    'set_default_kq_conf',
    'set_default_paq_conf',
    'Shutup',
    'shutup',
    '__version__',
    'version_tuple',
]
