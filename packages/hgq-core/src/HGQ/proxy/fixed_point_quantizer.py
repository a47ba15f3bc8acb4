"""The proxy-model quantizer layer: an explicit ``ap_fixed`` cast, per element or for the whole tensor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops

from .._keras_compat import inbound_nodes, outbound_nodes
from ..numerics import OVERFLOW_MODES, ROUNDING_MODES, check_modes, overflow_int, quantize, round_int


# HGQ1's per-mode functions: rounding on scaled values ``x`` (to integers), overflow on integers held in
# ``b`` bits (``k``: signed). `gfixed_quantizer` is the whole cast.
def _rounding(mode: str) -> Callable:
    def rnd(x):
        return round_int(ops, ops.convert_to_tensor(x, 'float32'), mode)

    rnd.__name__ = rnd.__qualname__ = mode
    rnd.__doc__ = f'Rounds scaled values to integers with ap_fixed mode {mode}.'
    return rnd


def _overflow(mode: str) -> Callable:
    def sat(x, k, b):
        x = ops.convert_to_tensor(x, 'float32')
        k, b = (ops.cast(ops.convert_to_tensor(v), 'float32') for v in (k, b))
        return overflow_int(ops, x, k, b, mode)

    sat.__name__ = sat.__qualname__ = mode
    sat.__doc__ = f'Applies ap_fixed overflow mode {mode} to integers held in ``b`` bits (``k``: signed).'
    return sat


RND_MAP: dict[str, Callable] = {mode: _rounding(mode) for mode in ROUNDING_MODES}
SAT_MAP: dict[str, Callable] = {mode: _overflow(mode) for mode in OVERFLOW_MODES}
TRN, RND, RND_CONV, TRN_ZERO, RND_ZERO, RND_MIN_INF, RND_INF = (RND_MAP[m] for m in ROUNDING_MODES)
WRAP, SAT, SAT_SYM, SAT_ZERO, WRAP_SM = (SAT_MAP[m] for m in OVERFLOW_MODES)


def gfixed_quantizer(x, keep_negative, bits, integer_bits, RND: str = 'TRN', SAT: str = 'WRAP'):
    """Generalized fixed-point quantizer with ap_fixed semantics (Keras tensors; bitwidths broadcast)."""
    x = ops.convert_to_tensor(x)
    dtype = x.dtype if 'float' in str(x.dtype) else 'float32'
    x = ops.cast(x, dtype)
    k, b, i = (ops.cast(ops.convert_to_tensor(v), dtype) for v in (keep_negative, bits, integer_bits))
    return quantize(ops, x, k, b, i, RND, SAT)


def gfixed(keep_negative, bits, integer_bits, RND: str = 'TRN', SAT: str = 'WRAP') -> Callable:
    """Returns ``x -> gfixed_quantizer(x, keep_negative, bits, integer_bits, RND, SAT)``."""
    return lambda x: gfixed_quantizer(x, keep_negative, bits, integer_bits, RND, SAT)


def fixed(bits, integer_bits, RND: str = 'TRN', SAT: str = 'WRAP') -> Callable:
    """Signed ``fixed<bits, integer_bits>`` quantizer function."""
    return gfixed(1, bits, integer_bits, RND, SAT)


def ufixed(bits, integer_bits, RND: str = 'TRN', SAT: str = 'WRAP') -> Callable:
    """Unsigned ``ufixed<bits, integer_bits>`` quantizer function."""
    return gfixed(0, bits, integer_bits, RND, SAT)


def _int8_array(v, name: str) -> np.ndarray:
    arr = np.asarray(ops.convert_to_numpy(v) if not isinstance(v, (int, float, np.ndarray, list, tuple)) else v)
    if arr.size and (np.any(arr < -128) or np.any(arr > 127)):
        raise ValueError(f'FixedPointQuantizer: {name} must fit in int8, got values in [{arr.min()}, {arr.max()}].')
    return arr.astype(np.int8)


@keras.saving.register_keras_serializable(package='HGQ')
class FixedPointQuantizer(keras.layers.Layer):
    """Casts its input to ``ap_fixed<bits, integers, RND, SAT>`` (``ap_ufixed`` where ``keep_negative`` is 0).

    Args:
        keep_negative: Sign bit per element (0/1), scalar or array broadcastable to the input (batch axis 1).
        bits: Total bits (sign included); 0 means the element is pruned (always 0).
        integers: Integer bits (sign included).
        RND: Rounding mode: TRN, RND, RND_CONV, TRN_ZERO, RND_ZERO, RND_MIN_INF, RND_INF.
        SAT: Overflow mode: WRAP, SAT, SAT_SYM, SAT_ZERO, WRAP_SM.
        overrides: hls4ml settings embedded in the model, ``{'layers': {name: {key: value}}}``.
    """

    def __init__(self, keep_negative, bits, integers, RND: str = 'TRN', SAT: str = 'WRAP',
                 overrides: dict | None = None, **kwargs):
        kwargs.pop('trainable', None)
        kwargs.pop('fusible', None)
        shape = kwargs.pop('shape', None)
        super().__init__(trainable=False, **kwargs)
        self.RND, self.SAT = check_modes(RND, SAT)
        k = _int8_array(keep_negative, 'keep_negative')
        b = _int8_array(bits, 'bits')
        i = _int8_array(integers, 'integers')
        if not k.shape == b.shape == i.shape:
            raise ValueError(
                'FixedPointQuantizer: keep_negative, bits and integers must have the same shape; got '
                f'{k.shape}, {b.shape}, {i.shape}.'
            )
        if shape is not None and tuple(shape) != b.shape:
            raise ValueError(f'FixedPointQuantizer: shape {tuple(shape)} does not match the bit arrays {b.shape}.')
        if np.any(b < 0):
            raise ValueError(f'FixedPointQuantizer: bits must be non-negative, got min {b.min()}.')
        if not np.all(np.isin(k, (0, 1))):
            raise ValueError('FixedPointQuantizer: keep_negative must be 0 or 1.')
        zero = b == 0
        k = np.where(zero, 0, k).astype(np.int8)
        i = np.where(zero, 0, i).astype(np.int8)
        self.overrides = overrides if overrides is not None else {'layers': {}}
        if not isinstance(self.overrides, dict):
            raise ValueError(f'FixedPointQuantizer: overrides must be a dict, got {overrides!r}.')
        self.keep_negative = self.add_weight(
            name='keep_negative', shape=k.shape, dtype='int8', trainable=False,
            initializer=keras.initializers.Constant(k),
        )
        self.bits = self.add_weight(
            name='bits', shape=b.shape, dtype='int8', trainable=False, initializer=keras.initializers.Constant(b)
        )
        self.integers = self.add_weight(
            name='integers', shape=i.shape, dtype='int8', trainable=False, initializer=keras.initializers.Constant(i)
        )

    def build(self, input_shape):
        shape = tuple(self.bits.shape)
        try:
            np.broadcast_shapes(shape, (1,) + tuple(1 if s is None else s for s in input_shape[1:]))
        except ValueError:
            raise ValueError(
                f'FixedPointQuantizer {self.name!r}: bit arrays of shape {shape} do not broadcast to the input '
                f'shape {tuple(input_shape)}.'
            ) from None
        super().build(input_shape)

    def call(self, x, training=None):
        if training:
            raise ValueError(
                f'FixedPointQuantizer {self.name!r} belongs to a proxy model, which emulates firmware and cannot be '
                'trained. Train the HGQ model, then convert it again with to_proxy_model.'
            )
        return gfixed_quantizer(x, self.keep_negative, self.bits, self.integers, self.RND, self.SAT)

    def compute_output_shape(self, input_shape):
        return input_shape

    # -------------------------------------------------------------------------------- properties
    def kbi(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``(keep_negative, bits, integers)`` int arrays."""
        return tuple(
            np.asarray(ops.convert_to_numpy(v)).astype(np.int32) for v in (self.keep_negative, self.bits, self.integers)
        )

    @property
    def result_t_kif(self) -> tuple[int, int, int]:
        k, b, i = self.kbi()
        return int(np.max(k)), int(np.max(i - k)), int(np.max(b - i))

    @property
    def heterogeneous(self) -> bool:
        return any(np.unique(a).size > 1 for a in self.kbi())

    @property
    def fusible(self) -> bool:
        """True when homogeneous and the producing layer feeds only this quantizer."""
        if self.heterogeneous or len(inbound_nodes(self)) != 1:
            return False
        parents = inbound_nodes(self)[0].parent_nodes
        if len(parents) != 1:
            return False
        producer = parents[0].operation
        return len(outbound_nodes(producer)) == 1

    def get_config(self) -> dict[str, Any]:
        conf = super().get_config()
        conf.pop('trainable', None)
        try:
            fusible = self.fusible
        except Exception:  # not connected in a graph
            fusible = False
        conf.update(RND=self.RND, SAT=self.SAT, shape=tuple(self.bits.shape), overrides=self.overrides, fusible=fusible)
        return conf

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        shape = tuple(config.pop('shape'))
        config.pop('fusible', None)
        placeholder = np.zeros(shape, dtype=np.int8)
        return cls(placeholder, placeholder, placeholder, **config)

