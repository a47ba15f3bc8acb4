"""HGQ1's public names and module paths (spec 1.2) work unchanged."""

import importlib
import io
import sys

import HGQ
import pytest

HGQ1_TOP_LEVEL = [
    'CalibratedBOPs', 'FreeBOPs', 'ResetMinMax', 'trace_minmax', 'HConv1D', 'HConv1DBatchNorm', 'HConv2D',
    'HConv2DBatchNorm', 'HDense', 'HDenseBatchNorm', 'HQuantize', 'PAvgPool1D', 'PAvgPool2D', 'PConcatenate',
    'PFlatten', 'PMaxPool1D', 'PMaxPool2D', 'PReshape', 'Signature', 'to_proxy_model', 'HGQ',
    'get_default_kq_conf', 'get_default_paq_conf', 'set_default_kq_conf', 'set_default_paq_conf', 'shutup',
    '__version__', 'version_tuple',
]
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
    'HGQ.proxy': ['to_proxy_model', 'FixedPointQuantizer', 'fixed', 'gfixed', 'gfixed_quantizer', 'ufixed'],
    'HGQ.proxy.unary_lut': ['UnaryLUT'],
}


@pytest.mark.parametrize('name', HGQ1_TOP_LEVEL)
def test_top_level_name(name):
    assert hasattr(HGQ, name)


@pytest.mark.parametrize('name', ['HActivation', 'HAdd', 'PDropout', 'PPermute', 'PMaxPooling2D', 'PAveragePooling1D'])
def test_names_hgq1_kept_out_of_the_top_level(name):
    assert not hasattr(HGQ, name)
    assert hasattr(HGQ.layers, name)


def test_top_level_all_is_hgq1_list_plus_shutup_class():
    assert set(HGQ.__all__) == set(HGQ1_TOP_LEVEL) | {'Shutup'}


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
