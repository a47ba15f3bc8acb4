"""hls4ml's own QKeras converter, for side-by-side exactness reports (not used by the bridge itself).

hls4ml picks its Keras parser from the installed ``keras`` version, so with Keras 3 installed a tf_keras
(QKeras 0.9) model would go to the Keras 3 parser and fail. Swapping ``sys.modules['keras']`` for ``tf_keras``
around the calls routes it to hls4ml's Keras 2 parser and its QKeras handlers. qkeras-v3 models have no hls4ml
path in hls4ml 1.3.
"""

from __future__ import annotations

import sys
import tempfile
from contextlib import contextmanager

from .environment import LEGACY, qkeras_flavour


@contextmanager
def keras_is_tf_keras():
    """Temporarily makes ``import keras`` return tf_keras (what hls4ml's Keras 2 path expects)."""
    import tf_keras

    saved = sys.modules.get('keras')
    sys.modules['keras'] = tf_keras
    try:
        yield
    finally:
        if saved is None:
            sys.modules.pop('keras', None)
        else:
            sys.modules['keras'] = saved


def convert_with_hls4ml(qmodel, backend: str = 'Vivado', io_type: str = 'io_parallel', output_dir: str | None = None,
                        default_precision: str = 'fixed<16,6>'):
    """Converts a QKeras 0.9 model with hls4ml's own QKeras support (``granularity='name'``, ``backend=`` set, as
    hls4ml's documentation recommends for QKeras).

    Returns:
        The (not yet compiled) hls4ml model.

    Raises:
        NotImplementedError: for qkeras-v3 models, which hls4ml 1.3 cannot parse.
    """
    if qkeras_flavour() != LEGACY:
        raise NotImplementedError(
            'hls4ml 1.3 has no converter for qkeras-v3 (Keras 3) models; only the bridge path exists.'
        )
    import hls4ml

    output_dir = output_dir or tempfile.mkdtemp(prefix='hls4ml_qkeras_')
    with keras_is_tf_keras():
        config = hls4ml.utils.config_from_keras_model(
            qmodel, granularity='name', backend=backend, default_precision=default_precision
        )
        return hls4ml.converters.convert_from_keras_model(
            qmodel, hls_config=config, io_type=io_type, backend=backend, output_dir=output_dir
        )
