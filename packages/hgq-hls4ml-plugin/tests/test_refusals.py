"""What the plugin refuses, before any firmware is written, with what to do instead:

- an HGQ (training) model handed to hls4ml instead of its proxy (the most common mistake of HGQ1 users);
- average pooling on the ac_fixed backends (Catapult, Quartus, oneAPI), whose pooling rounds the mean to the
  input type; and average pooling whose windows do not all hold a power-of-two number of values.
And the accumulator of 'same' average pooling, whose edge windows average fewer values, on io_parallel."""

import os
import subprocess
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from HGQ.proxy import FixedPointQuantizer  # noqa: E402
from hgq_hls4ml.handlers import HGQ_LAYER_PATHS  # noqa: E402
from hgq_hls4ml.testing import convert  # noqa: E402

HINT = ('hls4ml converts the proxy model of an HGQ model, not the HGQ model itself. Run '
        'HGQ.trace_minmax(model, calibration_data) (with representative data), then convert '
        'proxy = HGQ.to_proxy_model(model) instead')


def _hgq_model():
    from HGQ import HDense, HQuantize

    inp = keras.Input((4,), name='x')
    h = keras.layers.Reshape((4,), name='plain_reshape')(inp)  # a plain layer first: converted, then the stop
    return keras.Model(inp, HDense(2, name='dense')(HQuantize(name='inp_q')(h)))


def test_hgq_model_given_to_hls4ml(tmp_path):
    import hls4ml

    out = tmp_path / 'prj'
    with pytest.raises(ValueError) as err:
        hls4ml.converters.convert_from_keras_model(_hgq_model(), output_dir=str(out), backend='Vivado')
    assert str(err.value) == f"hgq-hls4ml-plugin: layer 'inp_q' (HQuantize) is an HGQ training layer: {HINT}: " \
        'hls4ml.converters.convert_from_keras_model(proxy, ...).'
    assert not out.exists()


def test_hgq_model_given_to_config_from_keras_model():
    import hls4ml

    with pytest.raises(ValueError, match=r"layer 'inp_q' \(HQuantize\) is an HGQ training layer.*to_proxy_model"):
        hls4ml.utils.config_from_keras_model(_hgq_model(), granularity='name')


def test_every_hgq_layer_class_is_recognized():
    import HGQ.layers as hgq_layers

    classes = {
        cls for cls in vars(hgq_layers).values() if isinstance(cls, type) and issubclass(cls, keras.layers.Layer)
    }
    paths = {f'{cls.__module__}.{cls.__name__}' for cls in classes if cls.__module__.startswith('HGQ.layers')}
    assert len(paths) >= 20
    assert paths <= set(HGQ_LAYER_PATHS), sorted(paths - set(HGQ_LAYER_PATHS))


def test_plain_hls4ml_does_not_import_hgq():
    code = 'import sys, hls4ml; from hls4ml.converters.keras_v3 import layer_handlers\n' \
           "print('HGQ' in sys.modules, 'HGQ.layers.misc.HQuantize' in layer_handlers)"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ['False', 'True'], out.stdout + out.stderr


def _avg_proxy(pool, shape):
    inp = keras.Input(shape, name='x')
    h = FixedPointQuantizer(1, 6, 3, 'RND', 'WRAP', name='q_in')(inp)
    h = pool(h)
    return keras.Model(inp, FixedPointQuantizer(1, 12, 6, 'TRN', 'WRAP', name='q_out')(h))


@pytest.mark.parametrize('backend', ['Catapult', 'Quartus'])
@pytest.mark.parametrize('pool', [lambda: keras.layers.AveragePooling1D(2, name='avg'),
                                  lambda: keras.layers.AveragePooling1D(2, padding='same', name='avg'),
                                  lambda: keras.layers.GlobalAveragePooling1D(name='avg')])
def test_average_pooling_refused_on_ac_fixed_backends(tmp_path, backend, pool):
    proxy = _avg_proxy(pool(), (7, 3))
    with pytest.raises(ValueError, match=f"average pooling layer 'avg' cannot be exact on the {backend} backend: "
                                         "hls4ml's ac_fixed average pooling rounds the mean"):
        convert(proxy, 'io_parallel', backend, str(tmp_path / 'prj'))
    assert not (tmp_path / 'prj').exists()


def test_catapult_stream_concatenate_1d_refused(tmp_path):
    a_in, b_in = keras.Input((3,), name='a'), keras.Input((2,), name='b')
    a = FixedPointQuantizer(1, 6, 3, 'RND', 'WRAP', name='qa')(a_in)
    b = FixedPointQuantizer(1, 5, 2, 'RND', 'WRAP', name='qb')(b_in)
    proxy = keras.Model([a_in, b_in], keras.layers.Concatenate(name='cat')([a, b]))
    with pytest.raises(ValueError, match="concatenate layer 'cat' joins 1D tensors, which the Catapult backend "
                                         "computes wrongly with io_type='io_stream'"):
        convert(proxy, 'io_stream', 'Catapult', str(tmp_path / 'prj'))
    assert not (tmp_path / 'prj').exists()


def test_same_average_pooling_over_three_refused(tmp_path):
    proxy = _avg_proxy(keras.layers.AveragePooling1D(3, strides=1, padding='same', name='avg'), (7, 3))
    with pytest.raises(NotImplementedError, match=r"Average pooling 'avg' divides by 3, which is not a power of two "
                                                  r"\(padding='same': its windows average \[2, 3\] values\)"):
        convert(proxy, 'io_parallel', 'Vivado', str(tmp_path / 'prj'))


@pytest.mark.parametrize('pool,shape,frac', [
    (lambda: keras.layers.AveragePooling1D(2, padding='same', name='avg'), (5, 3), 4),  # windows of 2, 2, 1
    (lambda: keras.layers.AveragePooling2D((2, 2), padding='same', name='avg'), (3, 3, 2), 5),  # 4, 2, 2, 1
])
def test_same_average_pooling_accumulator(tmp_path, pool, shape, frac):
    """The accumulator holds every window's sum and the fractional bits of the largest window's mean (hls4ml
    divides the sum by the number of values inside the input)."""
    hls_model = convert(_avg_proxy(pool(), shape), 'io_parallel', 'Vivado', str(tmp_path / 'prj'))
    accum = hls_model.graph['avg'].get_attr('accum_t').precision
    assert accum.width - accum.integer == frac
    window = int(np.prod(pool().pool_size))
    assert accum.integer >= 3 + int(np.log2(window))  # sums of up to `window` values of fixed<6, 3>
