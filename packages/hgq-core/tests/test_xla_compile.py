"""HGQ models train under XLA on TensorFlow (``jit_compile=True``, and Keras' ``'auto'``) without retracing: the
training step is traced as often as a plain Keras model's (Keras traces it twice at the first call) and never
again, whatever the epoch-end callbacks (FreeBOPs, ResetMinMax) and a beta schedule change between epochs."""

import keras
import numpy as np
import pytest

import HGQ
from HGQ import FreeBOPs, HConv2D, HDense, HQuantize, PFlatten, PMaxPool2D, ResetMinMax

pytestmark = pytest.mark.skipif(keras.backend.backend() != 'tensorflow', reason='TensorFlow tracing and XLA')


def _count_traces(model):
    traces = []
    step = model.train_step

    def counting_step(data):  # Python code runs only while TensorFlow traces the step
        traces.append(1)
        return step(data)

    model.train_step = counting_step
    return traces


def _model(kind):
    if kind == 'mlp':
        layers = [keras.Input((8,)), HQuantize(beta=1e-6), HDense(6, activation='relu', beta=1e-6),
                  HDense(3, beta=1e-6)]
        shape = (8,)
    else:
        layers = [keras.Input((8, 8, 1)), HQuantize(beta=1e-6), HConv2D(4, 3, activation='relu', beta=1e-6),
                  PMaxPool2D(2), PFlatten(), HDense(3, beta=1e-6)]
        shape = (8, 8, 1)
    return keras.Sequential(layers), shape


@pytest.mark.parametrize('jit', [True, 'auto'])
@pytest.mark.parametrize('kind', ['mlp', 'cnn'])
def test_one_trace_for_the_whole_fit(kind, jit):
    keras.utils.set_random_seed(0)
    model, shape = _model(kind)
    model.compile(keras.optimizers.Adam(1e-3), 'mse', jit_compile=jit)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, *shape)).astype(np.float32)
    y = rng.normal(size=(64, 3)).astype(np.float32)
    beta = HGQ.callbacks.BetaScheduler(lambda epoch: 1e-6 * 10**epoch) if hasattr(HGQ, 'callbacks') else None
    cbs = [c for c in (beta, FreeBOPs(), ResetMinMax()) if c is not None]
    ref = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(3)])
    ref.compile(keras.optimizers.Adam(1e-3), 'mse', jit_compile=jit)
    ref_traces = _count_traces(ref)
    ref.fit(x, y, batch_size=16, epochs=3, verbose=0)
    traces = _count_traces(model)
    hist = model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=cbs)
    assert len(traces) == len(ref_traces)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=cbs)  # a second fit reuses the traced step
    assert len(traces) == len(ref_traces)
    assert np.all(np.isfinite(hist.history['loss']))
    assert hist.history['bops'][-1] > 0
