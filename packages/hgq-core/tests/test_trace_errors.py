"""trace_minmax and to_proxy_model refuse what they cannot turn into correct firmware, and say why."""

import keras
import numpy as np
import pytest

from HGQ import HDense, HQuantize, to_proxy_model, trace_minmax


def _model():
    return keras.Sequential([keras.Input((4,)), HQuantize(name='q'), HDense(3, name='d')])


def test_nan_in_calibration_data_is_reported_as_nan():
    model = _model()
    x = np.ones((8, 4), 'float32')
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        trace_minmax(model, x, verbose=False)


def test_untraced_model_cannot_be_proxied():
    model = _model()
    with pytest.raises(ValueError, match=r"\['q', 'd'\].*trace_minmax"):
        to_proxy_model(model)


def test_bad_trace_arguments():
    model = _model()
    with pytest.raises(ValueError, match='bsz must be a positive integer, got 0'):
        trace_minmax(model, np.ones((2, 4), 'float32'), bsz=0)
    with pytest.raises(ValueError, match='cover_factor must be > 0, got -1'):
        trace_minmax(model, np.ones((2, 4), 'float32'), cover_factor=-1)
    with pytest.raises(ValueError, match='unsupported dataset of type int'):
        trace_minmax(model, 3)
