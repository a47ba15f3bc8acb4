"""P-layers ("passive"): plain Keras layers that carry the bitwidth map of their input along, so that
the next layer with a kernel can compute its BOPs. They have no quantizer of their own.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from .._keras_compat import inbound_nodes
from .base import ABSBaseLayer


class PLayerBase(ABSBaseLayer):
    """Base of the P-layers: the output bitwidth map is the input map, reshaped."""

    @property
    def _act_shape(self) -> tuple[int, ...]:
        """``(1,) + output_shape[1:]``, read from the layer's place in the model graph (some Keras parents,
        e.g. ``Reshape``, are built at construction, so ``build`` cannot record it)."""
        nodes = inbound_nodes(self)
        if not nodes:
            raise ValueError(f'Layer {self.name!r} is not connected in a model graph yet.')
        return (1,) + tuple(int(s) for s in nodes[-1].output_tensors[0].shape[1:])

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


# ------------------------------------------------------------------------------- shape-only layers
@keras.saving.register_keras_serializable(package='HGQ')
class PReshape(PLayerBase, keras.layers.Reshape):
    """`keras.layers.Reshape` that reshapes the bitwidth map along."""


@keras.saving.register_keras_serializable(package='HGQ')
class PFlatten(PLayerBase, keras.layers.Flatten):
    """`keras.layers.Flatten` that flattens the bitwidth map along (in the same order, for either data format)."""

    def _map_bw(self, bw, exact: bool):
        return keras.layers.Flatten.call(self, bw)


@keras.saving.register_keras_serializable(package='HGQ')
class PPermute(PLayerBase, keras.layers.Permute):
    """`keras.layers.Permute` that permutes the bitwidth map along."""

    def _map_bw(self, bw, exact: bool):
        return ops.transpose(bw, (0,) + tuple(self.dims))


@keras.saving.register_keras_serializable(package='HGQ')
class PDropout(PLayerBase, keras.layers.Dropout):
    """`keras.layers.Dropout`; the bitwidth map passes unchanged (the layer is removed in the proxy model)."""


# ------------------------------------------------------------------------------------------ merging
@keras.saving.register_keras_serializable(package='HGQ')
class PConcatenate(PLayerBase, keras.layers.Concatenate):
    """`keras.layers.Concatenate` of two or more HGQ-quantized tensors; the bitwidth maps are concatenated too."""

    def build(self, input_shape):
        if (not isinstance(input_shape, (list, tuple)) or not input_shape
                or not isinstance(input_shape[0], (list, tuple))):
            raise ValueError(
                f'PConcatenate {self.name!r} must be called on a list of at least two tensors, got input shape '
                f'{input_shape!r}.'
            )
        if len(input_shape) < 2:
            raise ValueError(
                f'PConcatenate {self.name!r} got {len(input_shape)} input; it needs at least two. With a single '
                'tensor there is nothing to concatenate: remove the layer and use the tensor directly.'
            )
        super().build(input_shape)

    def _input_layers_checked(self) -> list:
        layers = self.input_layers
        if layers is None:
            raise ValueError(f'Layer {self.name!r} is not connected in a model graph yet.')
        for layer in layers:
            self._check_quantized_input(layer)
        return layers

    @property
    def act_bw(self):
        return ops.concatenate([layer.act_bw for layer in self._input_layers_checked()], axis=self.axis)

    @property
    def act_bw_exact(self) -> np.ndarray:
        maps = [np.asarray(layer.act_bw_exact, dtype=np.float32) for layer in self._input_layers_checked()]
        return np.concatenate(maps, axis=self.axis)


# ------------------------------------------------------------------------------------------ pooling
class PPool(PLayerBase):
    """Pooling P-layer: the output bitwidth map is the max-pool of the input map (for average pooling too,
    as in HGQ1: the widest input of a window bounds the cost downstream)."""

    def _map_bw(self, bw, exact: bool):
        return ops.max_pool(
            bw, pool_size=self.pool_size, strides=self.strides, padding=self.padding, data_format=self.data_format
        )


@keras.saving.register_keras_serializable(package='HGQ')
class PMaxPooling1D(PPool, keras.layers.MaxPooling1D):
    """`keras.layers.MaxPooling1D` with bitwidth-map propagation."""


@keras.saving.register_keras_serializable(package='HGQ')
class PMaxPooling2D(PPool, keras.layers.MaxPooling2D):
    """`keras.layers.MaxPooling2D` with bitwidth-map propagation."""


@keras.saving.register_keras_serializable(package='HGQ')
class PAveragePooling1D(PPool, keras.layers.AveragePooling1D):
    """`keras.layers.AveragePooling1D` with bitwidth-map propagation (max-pool of the map)."""


@keras.saving.register_keras_serializable(package='HGQ')
class PAveragePooling2D(PPool, keras.layers.AveragePooling2D):
    """`keras.layers.AveragePooling2D` with bitwidth-map propagation (max-pool of the map)."""


# HGQ1 had one pooling base per rank; here one mixin serves both
PPool1D = PPool2D = PPool

PMaxPool1D = PMaxPooling1D
PMaxPool2D = PMaxPooling2D
PAvgPool1D = PAveragePooling1D
PAvgPool2D = PAveragePooling2D

__all__ = [
    'PLayerBase',
    'Signature',
    'PReshape',
    'PFlatten',
    'PPermute',
    'PDropout',
    'PConcatenate',
    'PPool',
    'PPool1D',
    'PPool2D',
    'PMaxPooling1D',
    'PMaxPooling2D',
    'PAveragePooling1D',
    'PAveragePooling2D',
    'PMaxPool1D',
    'PMaxPool2D',
    'PAvgPool1D',
    'PAvgPool2D',
]
