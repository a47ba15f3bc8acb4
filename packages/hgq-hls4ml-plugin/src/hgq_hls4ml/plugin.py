"""Registration of the plugin with hls4ml.

hls4ml >= 1.3 calls `register` through the ``hls4ml.backends`` entry point while ``import hls4ml`` runs,
so only modules that are complete at that moment are used here (layers, optimizers, flows, backends,
templates and the Keras-v3 handler registry). Registration is idempotent and never breaks hls4ml: a
failure is reported as a warning and hls4ml keeps working without the plugin.
"""

from __future__ import annotations

import warnings
from pathlib import Path

PASS_NAME = 'hgq_precision_propagation'
CODEGEN_PASS = 'hgq_quantizer_codegen'
HEADER_PATH = Path(__file__).parent / 'nnet_utils' / 'hgq_unary_lut.h'
_BACKENDS_WITH_VIVADO_FLOWS = ('Vivado', 'Vitis', 'VivadoAccelerator')
_AC_BACKENDS = ('Catapult', 'Quartus')

_state = {'registered': False, 'error': None}


def is_registered() -> bool:
    """Whether the plugin is active in this process."""
    return _state['registered']


def register(register_backend=None, register_writer=None, **_ignored) -> bool:
    """Registers the plugin's layers, handlers, passes and templates with hls4ml (idempotent).

    The arguments are those hls4ml passes to backend plugins; they are not needed.

    Returns:
        True if the plugin is active.
    """
    if _state['registered']:
        return True
    try:
        _register()
    except Exception as exc:  # never break `import hls4ml`
        _state['error'] = exc
        warnings.warn(
            f'hgq-hls4ml-plugin could not register with hls4ml ({type(exc).__name__}: {exc}). hls4ml works without it, '
            'but proxy models then go through hls4ml built-in HGQ path (io_parallel only, no plugin precision '
            'propagation). Check that hls4ml >= 1.3 is installed.',
            stacklevel=2,
        )
        return False
    _state['registered'] = True
    return True


def _register() -> None:
    from hls4ml.model.layers import register_layer
    from hls4ml.model.optimizer import get_available_passes, register_pass

    from . import handlers  # noqa: F401  (defines the Keras-v3 handlers)
    from ._hls4ml_compat import flow_passes
    from .layers import HGQFixedPointQuantizer, HGQUnaryLUT
    from .precision import HGQPrecisionPropagation

    register_layer('HGQFixedPointQuantizer', HGQFixedPointQuantizer)
    register_layer('HGQUnaryLUT', HGQUnaryLUT)

    if PASS_NAME not in get_available_passes():
        register_pass(PASS_NAME, HGQPrecisionPropagation)
    opts = flow_passes('convert')
    if PASS_NAME not in opts:
        anchor = 'bit_exact' if 'bit_exact' in opts else 'infer_precision_types'
        opts.insert(opts.index(anchor) if anchor in opts else len(opts), PASS_NAME)

    _register_backends()


def _register_backends() -> None:
    from hls4ml.backends import get_available_backends, get_backend
    from hls4ml.model.optimizer import get_available_passes

    from . import stream_fixes
    from .templates import (
        HGQQuantizerCodegen,
        HGQQuantizerFunctionTemplate,
        HGQUnaryLUTConfigTemplate,
        HGQUnaryLUTFunctionTemplate,
        HGQUnaryLUTInlineTemplate,
    )

    available = set(get_available_backends())
    for name in _BACKENDS_WITH_VIVADO_FLOWS:
        if name.lower() not in available:
            continue
        backend = get_backend(name)
        backend.register_source(str(HEADER_PATH))
        if name != 'Vivado':
            continue  # Vitis and VivadoAccelerator run Vivado's flows and templates
        if f'vivado:{CODEGEN_PASS}' not in get_available_passes():
            backend.register_pass(CODEGEN_PASS, HGQQuantizerCodegen, flow='vivado:specific_types')
        stream_fixes.register(backend, 'vivado')
        for template in (HGQQuantizerFunctionTemplate, HGQUnaryLUTConfigTemplate, HGQUnaryLUTFunctionTemplate):
            if f'vivado:{template().get_name()}' not in get_available_passes():
                backend.register_template(template)
    for name in _AC_BACKENDS:  # ac_fixed backends: the casts and lookups are inlined by the function templates
        if name.lower() not in available:
            continue
        backend = get_backend(name)
        if name.lower() in ('catapult', 'quartus'):
            stream_fixes.register(backend, name.lower())
        for template in (HGQQuantizerFunctionTemplate, HGQUnaryLUTInlineTemplate):
            if f'{name.lower()}:{template().get_name()}' not in get_available_passes():
                backend.register_template(template)
