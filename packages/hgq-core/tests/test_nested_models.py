"""`trace_minmax` and the callbacks reach H-layers inside nested models."""

import keras
import numpy as np

import HGQ
from HGQ.bops.bops import iter_hgq_layers
from HGQ.layers import HDense, HQuantize


def _nested_model():
    x_in = keras.Input((5,), name='inner_in')
    inner = keras.Model(x_in, HDense(3, activation='relu', name='inner_dense')(HQuantize(name='inner_q')(x_in)),
                        name='inner')
    x = keras.Input((4,))
    y = HDense(2, name='outer_head')(inner(HDense(5, name='outer_dense')(HQuantize(name='outer_q')(x))))
    return keras.Model(x, y), inner


def _data(n=64):
    return np.random.default_rng(0).uniform(-2, 2, (n, 4)).astype('float32')


def test_trace_minmax_reaches_nested_layers():
    model, _ = _nested_model()
    names = [layer.name for layer in iter_hgq_layers(model)]
    assert names == ['outer_q', 'outer_dense', 'inner_q', 'inner_dense', 'outer_head']
    total = HGQ.trace_minmax(model, _data(), verbose=False)
    for layer in iter_hgq_layers(model):
        assert np.all(np.isfinite(layer.paq._min.numpy())), layer.name
    per_layer = {layer.name: float(layer.bops.numpy()) for layer in iter_hgq_layers(model)}
    assert per_layer['inner_dense'] > 0 and per_layer['outer_head'] > 0
    assert total == sum(per_layer.values())


def test_callbacks_reach_nested_layers():
    model, inner = _nested_model()
    x = _data()
    y = np.zeros((len(x), 2), 'float32')
    model.compile('adam', 'mse')
    logs = {}
    free = HGQ.FreeBOPs()
    reset = HGQ.ResetMinMax()
    history = model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[free, reset])
    bops = history.history['bops'][0]
    assert bops == sum(float(layer.bops.numpy()) for layer in iter_hgq_layers(model)) > 0
    assert float(inner.get_layer('inner_dense').bops.numpy()) > 0
    # ResetMinMax (last in the list) cleared the nested ranges too
    assert np.all(np.isinf(inner.get_layer('inner_q').paq._min.numpy()))

    calibrated = HGQ.CalibratedBOPs(x)
    calibrated.set_model(model)
    calibrated.on_epoch_end(0, logs)
    assert logs['bops'] == HGQ.trace_minmax(model, x, verbose=False) > 0
