"""Backend templates and passes of the plugin's IR layers."""

from __future__ import annotations

from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
from hls4ml.model.optimizer import OptimizerPass
from hls4ml.model.types import FixedPrecisionType, Source

from ._hls4ml_compat import config_params, function_params
from .codegen import AC_BACKENDS, SourceType, cast_body, element_type, lut_body, quantizer_function
from .layers import HGQFixedPointQuantizer, HGQUnaryLUT

HEADER = 'nnet_utils/hgq_unary_lut.h'


def _namespace(node) -> str:
    return node.model.config.writer_config.get('Namespace', None) or 'nnet'


def _pack(var) -> int | None:
    t = getattr(var, 'type', None)
    n_elem = getattr(t, 'n_elem', None)
    n_pack = getattr(t, 'n_pack', 1) or 1
    if n_elem is None:
        return None
    return int(n_elem) * int(n_pack) if getattr(t, 'unpack', False) else max(1, int(n_elem) // int(n_pack))


class HGQQuantizerCodegen(OptimizerPass):
    """Generates the element-wise cast function of every remaining quantizer layer."""

    def match(self, node) -> bool:
        return isinstance(node, HGQFixedPointQuantizer) and 'hgq_cast_fn' not in node.attributes

    def transform(self, model, node) -> bool:
        io_type = model.config.get_config_value('IOType')
        backend = model.config.config['Backend']
        name = f'hgq_quantize_{node.index}'
        code = quantizer_function(
            name,
            node.kbi,
            node.get_attr('RND'),
            node.get_attr('SAT'),
            io_type,
            backend,
            in_pack=_pack(node.get_input_variable()),
            out_pack=_pack(node.get_output_variable()),
            src=source_type(node),
        )
        node.set_attr('hgq_cast_fn_name', name)
        node.set_attr('hgq_cast_fn', Source(code))
        return False


def source_type(node) -> SourceType | None:
    """``(signed, width, integer bits)`` of the elements the quantizer reads, None if not a fixed-point type."""
    precision = node.get_input_variable().type.precision
    if not isinstance(precision, FixedPrecisionType):
        return None
    return int(precision.signed), int(precision.width), int(precision.integer)


def _inline_block(body: str) -> str:
    return '{\n' + body + '    }'


def _backend(node) -> str:
    return str(node.model.config.config['Backend'])


class HGQQuantizerFunctionTemplate(FunctionCallTemplate):
    """Calls the generated cast function (Vivado, Vitis) or inlines the casts (ac_fixed backends, whose writers
    have no generated-code header)."""

    def __init__(self):
        super().__init__(HGQFixedPointQuantizer, include_header=[])
        self.template = '{namespace}::{fn}<{input_t}, {output_t}>({input}, {output});'

    def format(self, node):
        params = function_params(self, node)
        backend = _backend(node)
        if backend.lower() in AC_BACKENDS:
            body = cast_body(
                node.kbi, node.get_attr('RND'), node.get_attr('SAT'), node.model.config.get_config_value('IOType'),
                backend, _pack(node.get_input_variable()), _pack(node.get_output_variable()),
                data=params['input'], res=params['output'], data_t=params['input_t'], res_t=params['output_t'],
                src=source_type(node),
            )
            return _inline_block(body)
        params['namespace'] = _namespace(node)
        params['fn'] = node.get_attr('hgq_cast_fn_name')
        return self.template.format(**params)


_lut_config = """struct config{index} : nnet::hgq_unary_lut_config {{
    static const unsigned n_in = {n_in};
    static const unsigned table_size = {table_size};
    static const unsigned index_bits = {index_bits};
    typedef {index_t} index_t;
    typedef {table_t} table_t;
}};
"""


def _lut_index_type(node, backend: str) -> tuple[str, int]:
    k, i, f = node.get_attr('kif_in')
    b = k + i + f
    return element_type(k, b, k + i, 'RND_CONV', 'WRAP', backend), b


class HGQUnaryLUTConfigTemplate(LayerConfigTemplate):
    def __init__(self):
        super().__init__(HGQUnaryLUT)
        self.template = _lut_config

    def format(self, node):
        params = config_params(self, node)
        backend = node.model.config.config['Backend']
        params['index_t'], params['index_bits'] = _lut_index_type(node, backend)
        params['table_t'] = node.get_attr('table_t').name
        params['table_size'] = node.get_attr('table_size')
        return self.template.format(**params)


class HGQUnaryLUTFunctionTemplate(FunctionCallTemplate):
    def __init__(self):
        super().__init__(HGQUnaryLUT, include_header=[HEADER])
        self.template = 'nnet::hgq_unary_lut<{input_t}, {output_t}, {config}>({input}, {output}, {table});'

    def format(self, node):
        params = function_params(self, node)
        params['table'] = node.get_weights('table').name
        backend = _backend(node)
        if backend.lower() in AC_BACKENDS:
            body = lut_body(
                node.get_attr('kif_in'), node.get_attr('n_in'), node.model.config.get_config_value('IOType'), backend,
                params['table'], data=params['input'], res=params['output'], data_t=params['input_t'],
                res_t=params['output_t'],
            )
            return _inline_block(body)
        return self.template.format(**params)


class HGQUnaryLUTInlineTemplate(HGQUnaryLUTFunctionTemplate):
    """The lookup inlined for the ac_fixed backends (no ap_fixed header to include)."""

    def __init__(self):
        super().__init__()
        self.include_header = []


__all__ = [
    'HGQUnaryLUTInlineTemplate',
    'AC_BACKENDS',
    'HGQQuantizerCodegen',
    'HGQQuantizerFunctionTemplate',
    'HGQUnaryLUTConfigTemplate',
    'HGQUnaryLUTFunctionTemplate',
]
