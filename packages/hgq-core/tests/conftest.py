import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
os.environ.setdefault('CUDA_VISIBLE_DEVICES', '-1')

import keras
import numpy as np
import pytest

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'hgq1')


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: exhaustive sweeps, excluded from CI (run with -m slow)')
    # warnings are errors unless a test filters one on purpose
    config.addinivalue_line('filterwarnings', 'error')
    # TensorFlow variables under numpy 2 (np.array(variable), raised inside Keras/TF, not by HGQ)
    config.addinivalue_line(
        'filterwarnings', "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    )


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)
    np.random.seed(0)
