"""P-layers ("passive"): plain Keras layers that carry the bitwidth map of their input along, so that
the next layer with a kernel can compute its BOPs. They have no quantizer of their own.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from .base import ABSBaseLayer


class PLayerBase(ABSBaseLayer):
    """Base of the P-layers: the output bitwidth map is the input map, reshaped."""

    def build(self, input_shape):
        super().build(input_shape)
        self._record_output_shape(input_shape)

    def _record_output_shape(self, input_shape):
        self._output_shape_no_batch = tuple(int(s) for s in self.compute_output_shape(input_shape)[1:])

    @property
    def _act_shape(self) -> tuple[int, ...]:
        return (1,) + self._output_shape_no_batch

    def _single_input_layer(self):
        layer = self.last_layer
        self._check_quantized_input(layer)
        return layer

    def _map_bw(self, bw, exact: bool):
        """Maps the input bitwidth map to the output one (reshape by default)."""
        return ops.reshape(bw, self._act_shape)

    @property
    def act_bw(self):
        """Differentiable bitwidth map of the output."""
        return self._map_bw(self._single_input_layer().act_bw, exact=False)

    @property
    def act_bw_exact(self) -> np.ndarray:
        """Exact bitwidth map of the output."""
        bw = self._single_input_layer().act_bw_exact
        return np.asarray(ops.convert_to_numpy(self._map_bw(ops.convert_to_tensor(bw, 'float32'), exact=True)))


def _bits_array(value, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in 'iub' and not np.all(arr == np.round(arr)):
        raise ValueError(f'Signature: {name} must be integers, got {value!r}.')
    return arr.astype(np.int8)


@keras.saving.register_keras_serializable(package='HGQ')
class Signature(PLayerBase):
    """Declares that the input is already in fixed point: ``fixed<bits, int_bits>`` (sign included in both)
    when ``keep_negative`` is 1, ``ufixed<bits, int_bits>`` when 0. Scalars or arrays broadcast to the input
    shape (without batch). An identity in Keras; a fixed-point quantizer in the proxy model.
    """

    def __init__(self, keep_negative, bits, int_bits, **kwargs):
        super().__init__(**kwargs)
        self.keep_negative = _bits_array(keep_negative, 'keep_negative')
        self.bits = _bits_array(bits, 'bits')
        self.int_bits = _bits_array(int_bits, 'int_bits')
        if not np.all(np.isin(self.keep_negative, (0, 1))):
            raise ValueError(f'Signature: keep_negative must be 0 or 1, got {keep_negative!r}.')
        if np.any(self.bits < 0):
            raise ValueError(f'Signature: bits must be non-negative, got {bits!r}.')

    def build(self, input_shape):
        shape = (1,) + tuple(input_shape[1:])
        try:
            self.keep_negative = np.broadcast_to(self.keep_negative, shape).copy()
            self.bits = np.broadcast_to(self.bits, shape).copy()
            self.int_bits = np.broadcast_to(self.int_bits, shape).copy()
        except ValueError:
            raise ValueError(
                f'Signature {self.name!r}: bits of shape {self.bits.shape} do not broadcast to the input shape {shape}.'
            ) from None
        super().build(input_shape)

    def call(self, x, training=None, record_minmax=None):
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    @property
    def act_bw(self):
        return ops.convert_to_tensor(self.bits.astype(np.float32))

    @property
    def act_bw_exact(self) -> np.ndarray:
        return self.bits.astype(np.float32)

    @property
    def input_bw(self):
        raise ValueError('Signature layer does not have input_bw: it declares the format of the model input.')

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            'keep_negative': self.keep_negative.tolist(),
            'bits': self.bits.tolist(),
            'int_bits': self.int_bits.tolist(),
        }
