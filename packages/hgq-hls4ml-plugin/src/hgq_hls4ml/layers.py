"""The plugin's own hls4ml IR layers.

Their class names differ from hls4ml's built-in ``FixedPointQuantizer``/``UnaryLUT`` on purpose: hls4ml
matches templates by class-name string, so reusing those names would pick up the built-in templates.
"""

from __future__ import annotations

import numpy as np
from hls4ml.model.attributes import Attribute, TypeAttribute, WeightAttribute
from hls4ml.model.layers import Layer
from hls4ml.model.types import FixedPrecisionType


class HGQFixedPointQuantizer(Layer):
    """Casts each element to its own ``ap_fixed<B, I, RND, SAT>`` (``ap_ufixed`` where ``k == 0``)."""

    _expected_attributes = [
        Attribute('n_in'),
        Attribute('RND', value_type=str),
        Attribute('SAT', value_type=str),
    ]

    def initialize(self):
        inp = self.get_input_variable()
        self.add_output_variable(inp.shape)
        self.set_attr('n_in', inp.size())
        k, b, i = (np.asarray(a, dtype=np.int64) for a in self.attributes['mask_kbi'])
        shape = tuple(inp.shape)
        k, b, i = (np.broadcast_to(a.reshape(a.shape[1:]) if a.ndim == len(shape) + 1 else a, shape) for a in (k, b, i))
        self.set_attr('mask_kbi', (k.copy(), b.copy(), i.copy()))

    @property
    def kbi(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.attributes['mask_kbi']

    @property
    def homogeneous(self) -> bool:
        return all(np.unique(a).size == 1 for a in self.kbi)


class HGQUnaryLUT(Layer):
    """Looks up each element in a table indexed by the raw bits of its ``ap_fixed`` input format."""

    _expected_attributes = [
        Attribute('n_in'),
        Attribute('table_size'),
        TypeAttribute('table_t', default=FixedPrecisionType(18, 8, True)),
        WeightAttribute('table'),
    ]

    def initialize(self):
        inp = self.get_input_variable()
        self.add_output_variable(inp.shape)
        self.set_attr('n_in', inp.size())
        table = np.asarray(self.attributes['table_data'], dtype=np.float64).ravel()
        self.set_attr('table_data', table)
        self.set_attr('table_size', int(table.size))
        self.add_weights_variable(name='table', var_name='t{index}')
