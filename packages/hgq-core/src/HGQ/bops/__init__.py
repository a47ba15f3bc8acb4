"""Range calibration, exact BOPs and the BOPs callbacks."""

from .bops import CalibratedBOPs, FreeBOPs, ResetMinMax, trace_minmax

__all__ = ['CalibratedBOPs', 'FreeBOPs', 'ResetMinMax', 'trace_minmax']
