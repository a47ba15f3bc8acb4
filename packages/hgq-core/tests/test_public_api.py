"""HGQ1's public names and module paths (spec 1.2) work unchanged."""

import importlib
import io
import sys

import numpy as np
import pytest

import HGQ

HGQ1_TOP_LEVEL = [
    'CalibratedBOPs', 'FreeBOPs', 'ResetMinMax', 'trace_minmax', 'HConv1D', 'HConv1DBatchNorm', 'HConv2D',
    'HConv2DBatchNorm', 'HDense', 'HDenseBatchNorm', 'HQuantize', 'PAvgPool1D', 'PAvgPool2D', 'PConcatenate',
    'PFlatten', 'PMaxPool1D', 'PMaxPool2D', 'PReshape', 'Signature', 'to_proxy_model', 'HGQ',
    'get_default_kq_conf', 'get_default_paq_conf', 'set_default_kq_conf', 'set_default_paq_conf', 'shutup',
    '__version__', 'version_tuple',
]
# new in hgq-core (not in HGQ1): the training callbacks, also importable from HGQ.callbacks
CALLBACKS = ['BetaPID', 'BetaScheduler', 'EarlyStoppingWithEbops', 'ParetoFront', 'PBar', 'PieceWiseSchedule']
# new in hgq-core: diagnostics
DIAGNOSTICS = ['overflow_report']
HGQ1_LAYERS = [
    'HLayerBase', 'HConv', 'HConv1D', 'HConv1DBatchNorm', 'HConv2D', 'HConv2DBatchNorm', 'HDense', 'HDenseBatchNorm',
    'HActivation', 'HAdd', 'HQuantize', 'ABSBaseLayer', 'PLayerBase', 'Signature', 'PReshape', 'PFlatten',
    'PConcatenate', 'PPool1D', 'PPool2D', 'PMaxPooling1D', 'PMaxPooling2D', 'PAveragePooling1D', 'PAveragePooling2D',
    'PMaxPool1D', 'PMaxPool2D', 'PAvgPool1D', 'PAvgPool2D', 'PDropout', 'PPermute',
]
HGQ1_MODULES = {
    'HGQ.layers.base': ['HLayerBase', 'ABSBaseLayer'],
    'HGQ.layers.conv': ['HConv', 'HConv1D', 'HConv2D', 'HConvBatchNorm', 'HConv1DBatchNorm', 'HConv2DBatchNorm'],
    'HGQ.layers.dense': ['HDense', 'HDenseBatchNorm'],
    'HGQ.layers.misc': ['HQuantize', 'HActivation', 'HAdd'],
    'HGQ.layers.batchnorm_base': ['HBatchNormBase'],
    'HGQ.layers.passive_layers': HGQ1_LAYERS[11:],
    'HGQ.bops': ['CalibratedBOPs', 'FreeBOPs', 'ResetMinMax', 'trace_minmax'],
    'HGQ.quantizer': ['HGQ'],
    'HGQ.utils': ['MonoL1', 'apf_to_tuple', 'tuple_to_apf', 'get_default_kq_conf', 'get_default_paq_conf',
                  'set_default_kq_conf', 'set_default_paq_conf', 'strategy_dict', 'warn'],
    'HGQ.proxy': ['to_proxy_model', 'FixedPointQuantizer', 'fixed', 'gfixed', 'gfixed_quantizer', 'ufixed', 'init_all'],
    'HGQ.proxy.unary_lut': ['UnaryLUT'],
    'HGQ.proxy.fixed_point_quantizer': ['FixedPointQuantizer', 'fixed', 'ufixed', 'gfixed', 'gfixed_quantizer', 'TRN',
                                        'RND', 'RND_CONV', 'TRN_ZERO', 'RND_ZERO', 'RND_MIN_INF', 'RND_INF', 'SAT',
                                        'SAT_ZERO', 'SAT_SYM', 'WRAP', 'WRAP_SM', 'RND_MAP', 'SAT_MAP'],
    'HGQ._version': ['__version__', '__version_tuple__', 'version', 'version_tuple'],
    'HGQ.callbacks': CALLBACKS,
}


@pytest.mark.parametrize('name', HGQ1_TOP_LEVEL + CALLBACKS + DIAGNOSTICS)
def test_top_level_name(name):
    assert hasattr(HGQ, name)


@pytest.mark.parametrize('name', CALLBACKS)
def test_callbacks_are_the_same_objects_at_the_top_level(name):
    import HGQ.callbacks

    assert getattr(HGQ, name) is getattr(HGQ.callbacks, name)


@pytest.mark.parametrize('name', ['HActivation', 'HAdd', 'PDropout', 'PPermute', 'PMaxPooling2D', 'PAveragePooling1D'])
def test_names_hgq1_kept_out_of_the_top_level(name):
    assert not hasattr(HGQ, name)
    assert hasattr(HGQ.layers, name)


def test_top_level_all_is_hgq1_list_plus_shutup_class_and_callbacks():
    assert set(HGQ.__all__) == set(HGQ1_TOP_LEVEL) | {'Shutup'} | set(CALLBACKS) | set(DIAGNOSTICS)
    assert set(HGQ.callbacks.__all__) == set(CALLBACKS)


@pytest.mark.parametrize('name', HGQ1_LAYERS)
def test_layers_name(name):
    assert hasattr(HGQ.layers, name)


@pytest.mark.parametrize('module, names', list(HGQ1_MODULES.items()), ids=list(HGQ1_MODULES))
def test_module_paths(module, names):
    mod = importlib.import_module(module)
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing


def test_pooling_aliases_are_the_same_classes():
    from HGQ.layers import passive_layers as p

    assert p.PMaxPool1D is p.PMaxPooling1D and p.PMaxPool2D is p.PMaxPooling2D
    assert p.PAvgPool1D is p.PAveragePooling1D and p.PAvgPool2D is p.PAveragePooling2D
    assert HGQ.PAvgPool2D is p.PAveragePooling2D


def test_hgq1_import_lines():
    """Import lines taken from HGQ1 scripts run unchanged."""
    from HGQ import HGQ as quantizer_class
    from HGQ import HDense, ResetMinMax, Signature, to_proxy_model, trace_minmax  # noqa: F401
    from HGQ.bops import trace_minmax as trace_minmax_bops
    from HGQ.layers import (  # noqa: F401
        HActivation,
        HAdd,
        HLayerBase,
        PConcatenate,
        PDropout,
        PPermute,
    )
    from HGQ.proxy import FixedPointQuantizer  # noqa: F401
    from HGQ.utils import MonoL1, apf_to_tuple, tuple_to_apf  # noqa: F401

    assert HDense is HGQ.HDense and trace_minmax is trace_minmax_bops
    assert quantizer_class is HGQ.quantizer.HGQ


def test_layers_serialize_under_the_hgq_package():
    import keras

    for name in ['HDense', 'HConv1D', 'HConv2DBatchNorm', 'HDenseBatchNorm', 'HActivation', 'HAdd', 'PConcatenate',
                 'PMaxPooling1D', 'PAveragePooling2D', 'PDropout', 'PPermute', 'PFlatten', 'PReshape', 'Signature']:
        assert keras.saving.get_registered_name(getattr(HGQ.layers, name)) == f'HGQ>{name}'
    assert keras.saving.get_registered_object('HGQ>PAvgPool2D') is None  # aliases serialize under the long name


def test_shutup_silences_stdout_and_stderr():
    saved = sys.stdout, sys.stderr
    sink = io.StringIO()
    sys.stdout = sink
    try:
        with HGQ.shutup:
            print('hidden')
            print('hidden', file=sys.stderr)
        print('shown')
    finally:
        sys.stdout, sys.stderr = saved
    assert sink.getvalue() == 'shown\n'
    assert isinstance(HGQ.shutup, HGQ.Shutup)


def test_hgq1_mode_functions():
    from HGQ.proxy import fixed_point_quantizer as fpq

    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 1.25, -1.75], np.float32)
    expected = {
        'TRN': np.floor(x), 'RND': np.floor(x + 0.5), 'RND_CONV': np.round(x), 'TRN_ZERO': np.trunc(x),
        'RND_ZERO': np.sign(x) * np.ceil(np.abs(x) - 0.5), 'RND_MIN_INF': np.ceil(x - 0.5),
        'RND_INF': np.sign(x) * np.floor(np.abs(x) + 0.5),
    }
    for mode, want in expected.items():
        np.testing.assert_array_equal(np.asarray(fpq.RND_MAP[mode](x)), want, err_msg=mode)
        assert getattr(fpq, mode) is fpq.RND_MAP[mode]
    y = np.array([-9.0, -8.0, -5.0, 0.0, 7.0, 8.0, 12.0], np.float32)  # integers in 4 bits, signed: [-8, 7]
    np.testing.assert_array_equal(np.asarray(fpq.SAT(y, 1, 4)), [-8, -8, -5, 0, 7, 7, 7])
    np.testing.assert_array_equal(np.asarray(fpq.SAT_SYM(y, 1, 4)), [-7, -7, -5, 0, 7, 7, 7])
    np.testing.assert_array_equal(np.asarray(fpq.SAT_ZERO(y, 1, 4)), [0, -8, -5, 0, 7, 0, 0])
    np.testing.assert_array_equal(np.asarray(fpq.WRAP(y, 1, 4)), [7, -8, -5, 0, 7, -8, -4])
    np.testing.assert_array_equal(np.asarray(fpq.WRAP(y, 0, 4)), [7, 8, 11, 0, 7, 8, 12])


def test_init_all_reports_the_hls4ml_plugin():
    import importlib.util

    active = HGQ.proxy.init_all()
    assert active == (['hls4ml'] if importlib.util.find_spec('hgq_hls4ml') else [])


def test_count_equal_counts_exact_agreement():
    from HGQ.utils import count_equal

    same = count_equal(np.array([[1.0, 2.0]]), np.array([1.0, 2.0]))  # reshaped to the reference
    assert same.exact and str(same) == '2/2'
    pair = count_equal([np.zeros(3), np.ones(2)], [np.array([0.0, 0.5, 0.0]), np.ones(2)])
    assert (pair.equal, pair.total, pair.max_abs_diff) == (4, 5, 0.5) and not pair.exact
    assert str(pair) == '4/5 (max |diff| 0.5)'
