"""hls4ml's own (approximate, table-based) tanh, sigmoid and softmax: their table types and sizes, and the
warning that they are not bit-exact."""

from __future__ import annotations

import warnings

import numpy as np
from hls4ml.model.layers import Layer
from hls4ml.model.types import FixedPrecisionType

from .intervals import QArray
from .ir_types import fixed_type, set_type_attr
from .produce import native_activation


def set_native_activation_types(node: Layer, produced: dict[str, QArray]) -> None:
    """Tables of hls4ml's own tanh/sigmoid/softmax (approximate): sized so that every input value of the
    (quantized) input has its own entry where possible, and precise enough for the output type."""
    act = native_activation(node)
    if act is None:
        return
    warnings.warn(
        f'hgq-hls4ml-plugin: {act} layer {node.name!r} uses hls4ml\'s own lookup tables, which are not bit-exact '
        'with Keras. For tanh/sigmoid use to_proxy_model(..., unary_lut_max_table_size=N) (exact); '
        'see docs/exactness.md.',
        stacklevel=3,
    )
    res = node.attributes['result_t'].precision
    table_f = max(res.width - res.integer + 2, 8)
    if act == 'softmax':
        # hls4ml's defaults for its softmax tables; the sum of exponentials gets ceil(log2(n)) more integer bits
        n = int(np.prod(node.get_input_variable().shape[-1:]))
        scale = int(np.ceil(np.log2(max(n, 2))))
        set_type_attr(node, 'exp_table_t', FixedPrecisionType(18, 8, True, 'RND', 'SAT'))
        set_type_attr(node, 'inv_table_t', FixedPrecisionType(18, 8, True, 'RND', 'SAT'))
        set_type_attr(node, 'inv_inp_t', FixedPrecisionType(18, 8, True, 'RND', 'SAT'))
        set_type_attr(node, 'accum_t', FixedPrecisionType(18 + scale, 8 + scale, True))
        return
    set_type_attr(node, 'table_t', fixed_type(1, 1, table_f, 'RND', 'SAT'))
    x = produced[node.inputs[0]]
    f_in = x.kif_max()[2] if x.bounded else 10
    span = 8 if act == 'tanh' else 16  # hls4ml's tables cover [-4, 4) for tanh and [-8, 8) for sigmoid
    node.set_attr('table_size', int(min(max(span * 2**f_in, 1024), 1 << 16)))
