import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
os.environ.setdefault('CUDA_VISIBLE_DEVICES', '-1')

import numpy as np  # noqa: E402
import pytest  # noqa: E402

HLS_CONFIG = {'Model': {'Precision': 'fixed<1,0>', 'ReuseFactor': 1}}
"""A useless default precision: any type the plugin forgets to set breaks the comparison."""


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: exhaustive sweeps, excluded from CI (run with -m slow)')


@pytest.fixture
def hls_dir(tmp_path):
    return str(tmp_path / 'hls_prj')


def compare_csim(proxy, x, io_type, backend, output_dir):
    """Converts ``proxy`` (plugin auto-registered, nothing imported by hand), compiles, returns (proxy, csim)."""
    import hls4ml

    hls_model = hls4ml.converters.convert_from_keras_model(
        proxy, hls_config=HLS_CONFIG, io_type=io_type, backend=backend, output_dir=output_dir
    )
    hls_model.compile()
    p = proxy.predict(x, verbose=0, batch_size=len(x[0]) if isinstance(x, list) else len(x))
    h = hls_model.predict(x[0] if isinstance(x, list) and len(x) == 1 else x)  # hls4ml: one input, bare array
    if isinstance(p, list):
        h = [np.asarray(hh).reshape(pp.shape) for hh, pp in zip(h, p)]
    else:
        h = np.asarray(h).reshape(p.shape)
    return p, h, hls_model
