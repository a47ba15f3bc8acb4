"""HActivation with any activation Keras can serialize (a Keras layer such as ELU(alpha) / LeakyReLU / ReLU(max_value),
a registered function, ``keras.activations.*``): saved and loaded through ``.keras`` and ``.h5``, also from files the
real HGQ1 wrote (``fixtures/hgq1_activations``), and turned into exact lookup tables by ``to_proxy_model``."""

import os

import keras
import numpy as np
import pytest

from HGQ import HDense, HQuantize, to_proxy_model, trace_minmax
from HGQ.layers import HActivation
from HGQ.layers.misc import deserialize_activation
from HGQ.proxy import UnaryLUT

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'hgq1_activations')
ACT_LAYERS = ('act_elu', 'act_leaky', 'act_relu_max', 'act_cubic', 'act_swish')


@keras.saving.register_keras_serializable(package='fix')
def cubic(x):
    """The function HGQ1's fixture registered as ``fix>cubic``."""
    return x * x * x - x


def _fixture_inputs(model, x):
    structure = getattr(getattr(model, '_functional', model), '_inputs_struct', None)
    return [x] if isinstance(structure, (list, tuple)) else x


@pytest.mark.parametrize('filename', ['activation_layers.h5', 'activation_layers.keras'])
def test_hgq1_file_with_activation_objects(filename):
    kwargs = {'compile': False} if filename.endswith('.keras') else {}
    model = keras.models.load_model(os.path.join(FIXTURES, filename), **kwargs)
    assert isinstance(model.get_layer('act_elu').activation, keras.layers.ELU)
    assert model.get_layer('act_elu').activation.alpha == -1.5
    assert model.get_layer('act_leaky').activation.negative_slope == pytest.approx(0.2)  # Keras 2 called it alpha
    assert model.get_layer('act_relu_max').activation.max_value == 2.0
    assert model.get_layer('act_cubic').activation is keras.saving.get_registered_object('fix>cubic')
    io = np.load(os.path.join(FIXTURES, 'activation_layers_io.npz'))
    x = _fixture_inputs(model, io['x'])
    y = model.predict(x, verbose=0)
    np.testing.assert_array_equal(y, io['y'])  # HGQ1's own predictions

    trace_minmax(model, x, verbose=False)  # HGQ1 files hold no ranges
    proxy = to_proxy_model(model, unary_lut_max_table_size=int(io['lut']))
    assert all(isinstance(proxy.get_layer(name), UnaryLUT) for name in ACT_LAYERS)
    np.testing.assert_array_equal(proxy.predict(x, verbose=0), y)


def _model(activation):
    inp = keras.Input((5,), name='x')
    h = HQuantize(name='q')(inp)
    h = HDense(6, name='d')(h)
    h = HActivation(activation, name='act')(h)
    return keras.Model(inp, HDense(3, name='out')(h))


ACTIVATIONS = {
    'elu_layer': lambda: keras.layers.ELU(alpha=-1.5),
    'leaky_relu_layer': lambda: keras.layers.LeakyReLU(negative_slope=0.2),
    'relu_max_layer': lambda: keras.layers.ReLU(max_value=2.0),
    'registered_function': lambda: cubic,
    'keras_silu': lambda: keras.activations.silu,
}


ROUND_TRIPS = [('elu_layer', 'keras'), ('elu_layer', 'h5'), ('leaky_relu_layer', 'keras'), ('relu_max_layer', 'h5'),
               ('registered_function', 'keras'), ('registered_function', 'h5'), ('keras_silu', 'keras')]


@pytest.mark.parametrize('name,ext', ROUND_TRIPS)
def test_activation_round_trip_and_table(name, ext, tmp_path):
    model = _model(ACTIVATIONS[name]())
    x = np.random.default_rng(3).uniform(-3, 3, (256, 5)).astype(np.float32)
    trace_minmax(model, x, verbose=False)
    y = model.predict(x, verbose=0)
    path = str(tmp_path / f'm.{ext}')
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.get_layer('act').activation) is type(model.get_layer('act').activation)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), y)
    proxy = to_proxy_model(loaded, unary_lut_max_table_size=1 << 14)
    assert isinstance(proxy.get_layer('act'), UnaryLUT)
    np.testing.assert_array_equal(proxy.predict(x, verbose=0), y)


def test_keras2_activation_configs():
    """What Keras 2 writes: a layer with ``module`` (LeakyReLU's ``alpha``), the older format without it, and
    a registered function."""
    leaky = deserialize_activation({
        'module': 'keras.layers', 'class_name': 'LeakyReLU', 'registered_name': None,
        'config': {'name': 'leaky_re_lu', 'trainable': True, 'dtype': 'float32', 'alpha': 0.25},
        'build_config': {'input_shape': [None, 4]},
    })
    assert isinstance(leaky, keras.layers.LeakyReLU) and leaky.negative_slope == 0.25
    elu = deserialize_activation({'class_name': 'ELU', 'config': {'name': 'elu', 'alpha': -1.5, 'dtype': 'float32'}})
    assert isinstance(elu, keras.layers.ELU) and elu.alpha == -1.5
    fn = deserialize_activation({'module': 'builtins', 'class_name': 'function', 'config': 'fix>cubic',
                                 'registered_name': 'function'})
    assert fn is keras.saving.get_registered_object('fix>cubic') and fn.__name__ == 'cubic'


def test_unknown_serialized_activation_is_named():
    with pytest.raises(TypeError, match='no_such_function'):
        HActivation({'module': 'builtins', 'class_name': 'function', 'config': 'no_such_function',
                     'registered_name': 'function'})
