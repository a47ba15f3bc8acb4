"""Helpers to check a proxy model against hls4ml's C simulation.

Without ``output_dir`` the hls4ml project goes to a temporary folder that is removed again: by `compare` when it
returns, and for `convert` when the returned model is garbage-collected or, at the latest, when Python exits
(hls4ml's writer keeps every written model alive). A folder the caller names is kept.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref

import numpy as np

from HGQ.utils.exactness import ExactnessCount, count_equal

USELESS_PRECISION = 'fixed<1,0>'

ExactnessReport = ExactnessCount
"""Outcome of comparing proxy outputs with C-simulation outputs."""


def convert(proxy, io_type: str = 'io_parallel', backend: str = 'Vivado', output_dir: str | None = None,
            precision: str = USELESS_PRECISION, **kwargs):
    """Converts a proxy model with hls4ml using a deliberately useless default precision, so that any type the
    plugin fails to set breaks the result.

    ``allow_da_fallback`` defaults to False: hls4ml would otherwise first try its optional da4ml handler for every
    plain Keras layer (printing ``Function da_call requires da4ml...`` when da4ml is missing) before using the
    handler the plugin's path needs. Without ``output_dir`` the project lives in a temporary folder that is removed
    when the returned model is garbage-collected or, at the latest, when Python exits.
    """
    import hls4ml

    kwargs.setdefault('allow_da_fallback', False)
    temporary = output_dir is None
    if temporary:
        output_dir = tempfile.mkdtemp(prefix='hgq_hls_')
    hls_config = {'Model': {'Precision': precision, 'ReuseFactor': 1}}
    try:
        hls_model = hls4ml.converters.convert_from_keras_model(
            proxy, hls_config=hls_config, io_type=io_type, backend=backend, output_dir=output_dir, **kwargs
        )
    except BaseException:
        if temporary:
            shutil.rmtree(output_dir, ignore_errors=True)
        raise
    if temporary:
        weakref.finalize(hls_model, shutil.rmtree, output_dir, ignore_errors=True)
    return hls_model


def compare(proxy, x, io_type: str = 'io_parallel', backend: str = 'Vivado', output_dir: str | None = None,
            **kwargs) -> ExactnessReport:
    """Converts ``proxy``, compiles the C simulation and compares its outputs with ``proxy.predict(x)``.

    Without ``output_dir`` the hls4ml project is written to a temporary folder, removed before this returns.
    """
    if output_dir is None:
        with tempfile.TemporaryDirectory(prefix='hgq_hls_') as tmp:
            return compare(proxy, x, io_type, backend, os.path.join(tmp, 'prj'), **kwargs)
    hls_model = convert(proxy, io_type, backend, output_dir, **kwargs)
    hls_model.compile()
    xs = ([np.ascontiguousarray(a, dtype=np.float32) for a in x] if isinstance(x, (list, tuple))
          else np.ascontiguousarray(x, dtype=np.float32))
    ref = proxy.predict(xs, verbose=0, batch_size=max(1, len(xs[0]) if isinstance(xs, list) else len(xs)))
    # hls4ml takes a bare array for one input (a proxy of an HGQ1 model may list even one input)
    got = hls_model.predict(xs[0] if isinstance(xs, list) and len(xs) == 1 else xs)
    return count_equal(ref, got)


def quiet_tensorflow() -> None:
    """Silences TensorFlow's C++ logging (call before importing TensorFlow/Keras)."""
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
