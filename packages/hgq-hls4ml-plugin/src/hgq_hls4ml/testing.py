"""Helpers to check a proxy model against hls4ml's C simulation."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np

USELESS_PRECISION = 'fixed<1,0>'


@dataclass
class ExactnessReport:
    """Outcome of comparing proxy outputs with C-simulation outputs."""

    equal: int
    total: int
    max_abs_diff: float

    @property
    def exact(self) -> bool:
        return self.equal == self.total

    def __str__(self) -> str:
        return f'{self.equal}/{self.total} outputs equal (max |diff| {self.max_abs_diff:g})'


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
    refs = ref if isinstance(ref, (list, tuple)) else [ref]
    gots = got if isinstance(got, (list, tuple)) else [got]
    equal = total = 0
    diff = 0.0
    for r, g in zip(refs, gots):
        r = np.asarray(r, dtype=np.float64)
        g = np.asarray(g, dtype=np.float64).reshape(r.shape)
        equal += int(np.sum(r == g))
        total += r.size
        diff = max(diff, float(np.max(np.abs(r - g))) if r.size else 0.0)
    return ExactnessReport(equal, total, diff)


def quiet_tensorflow() -> None:
    """Silences TensorFlow's C++ logging (call before importing TensorFlow/Keras)."""
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
