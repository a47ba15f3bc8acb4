"""Registration: found by hls4ml through its entry point, idempotent, and never fatal for hls4ml."""

import subprocess
import sys
from importlib.metadata import entry_points

import pytest


def test_entry_point_is_declared():
    eps = [ep for ep in entry_points().select(group='hls4ml.backends') if ep.value.startswith('hgq_hls4ml')]
    assert eps, 'hgq-hls4ml-plugin must declare an hls4ml.backends entry point'
    assert eps[0].value == 'hgq_hls4ml.plugin:register'


def test_import_hls4ml_alone_registers_everything():
    code = (
        'import sys, hls4ml\n'
        'from hls4ml.model.layers import layer_map\n'
        'from hls4ml.model.flow import get_flow\n'
        'from hls4ml.converters.keras_v3 import layer_handlers\n'
        "ok = ['hgq_hls4ml' in sys.modules, 'HGQFixedPointQuantizer' in layer_map, 'HGQUnaryLUT' in layer_map,\n"
        "      'hgq_precision_propagation' in get_flow('convert').optimizers,\n"
        "      'HGQ.proxy.fixed_point_quantizer.FixedPointQuantizer' in layer_handlers]\n"
        'print(*ok)\n'
    )
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ['True'] * 5, out.stdout + out.stderr


def test_register_is_idempotent():
    from hls4ml.model.flow import get_flow

    import hgq_hls4ml

    assert hgq_hls4ml.register() is True
    assert hgq_hls4ml.register() is True
    assert get_flow('convert').optimizers.count('hgq_precision_propagation') == 1


def test_failed_registration_warns_and_leaves_hls4ml_usable(monkeypatch):
    from hgq_hls4ml import plugin

    monkeypatch.setitem(plugin._state, 'registered', False)

    def boom():
        raise RuntimeError('simulated incompatibility')

    monkeypatch.setattr(plugin, '_register', boom)
    with pytest.warns(UserWarning, match='simulated incompatibility'):
        assert plugin.register() is False
    import hls4ml

    assert hasattr(hls4ml.converters, 'convert_from_keras_model')
