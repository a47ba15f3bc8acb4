"""``HGQ.to_proxy_model`` reaches the bridge through the ``hgq.proxy_converters`` entry point."""

from __future__ import annotations

from importlib.metadata import entry_points

import numpy as np
from bridge_helpers import built, proxy_layer_classes

import HGQ
from hgq_qkeras import to_proxy_model
from hgq_qkeras.entry_point import converter
from hgq_qkeras.exactness import proxy_outputs
from hgq_qkeras.examples import get_example


def test_entry_point_is_installed():
    eps = [ep for ep in entry_points().select(group='hgq.proxy_converters') if ep.name == 'qkeras']
    assert eps and eps[0].load() is converter


def test_hgq_to_proxy_model_dispatches_to_the_bridge():
    example = get_example('dense_relu')
    qmodel = built(example)
    via_hgq = HGQ.to_proxy_model(qmodel)
    direct = to_proxy_model(qmodel)
    assert proxy_layer_classes(via_hgq) == proxy_layer_classes(direct)
    x = example.inputs(qmodel, 64)
    np.testing.assert_array_equal(proxy_outputs(via_hgq, x), proxy_outputs(direct, x))


def test_can_convert_only_qkeras_models():
    import keras

    assert converter.can_convert(built(get_example('dense_relu')))
    x = keras.Input((3,))
    assert not converter.can_convert(keras.Model(x, keras.layers.Dense(2)(x)))
    assert not converter.can_convert(object())
