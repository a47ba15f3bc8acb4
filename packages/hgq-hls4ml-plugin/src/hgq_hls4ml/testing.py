"""Helpers to check a proxy model against hls4ml's C simulation."""

from __future__ import annotations

import os
import tempfile

import numpy as np
from HGQ.utils.exactness import ExactnessCount, count_equal

USELESS_PRECISION = 'fixed<1,0>'

ExactnessReport = ExactnessCount
"""Outcome of comparing proxy outputs with C-simulation outputs."""


def convert(proxy, io_type: str = 'io_parallel', backend: str = 'Vivado', output_dir: str | None = None,
            precision: str = USELESS_PRECISION, **kwargs):
    """Converts a proxy model with hls4ml using a deliberately useless default precision, so that any type the
    plugin fails to set breaks the result."""
    import hls4ml

    output_dir = output_dir or tempfile.mkdtemp(prefix='hgq_hls_')
    hls_config = {'Model': {'Precision': precision, 'ReuseFactor': 1}}
    return hls4ml.converters.convert_from_keras_model(
        proxy, hls_config=hls_config, io_type=io_type, backend=backend, output_dir=output_dir, **kwargs
    )


def compare(proxy, x, io_type: str = 'io_parallel', backend: str = 'Vivado', output_dir: str | None = None,
            **kwargs) -> ExactnessReport:
    """Converts ``proxy``, compiles the C simulation and compares its outputs with ``proxy.predict(x)``."""
    hls_model = convert(proxy, io_type, backend, output_dir, **kwargs)
    hls_model.compile()
    xs = [np.ascontiguousarray(a, dtype=np.float32) for a in x] if isinstance(x, (list, tuple)) else np.ascontiguousarray(x, dtype=np.float32)
    ref = proxy.predict(xs, verbose=0, batch_size=max(1, len(xs[0]) if isinstance(xs, list) else len(xs)))
    # hls4ml takes a bare array for one input (a proxy of an HGQ1 model may list even one input)
    got = hls_model.predict(xs[0] if isinstance(xs, list) and len(xs) == 1 else xs)
    return count_equal(ref, got)


def quiet_tensorflow() -> None:
    """Silences TensorFlow's C++ logging (call before importing TensorFlow/Keras)."""
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
