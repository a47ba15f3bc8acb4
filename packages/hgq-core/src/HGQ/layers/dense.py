"""Dense H-layers."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from .base import HLayerBase


@keras.saving.register_keras_serializable(package='HGQ')
class HDense(HLayerBase, keras.layers.Dense):
    """Dense layer with a per-weight quantized kernel and a quantized output.

    The output is ``activation(paq(x @ kq(kernel) + bias_q))``; ``activation`` is None, 'linear' or
    'relu'. ``parallel_factor`` is passed to hls4ml as ``parallelization_factor`` (for inputs of rank
    > 2 it defaults to the number of positions the kernel is applied to).
    """

    _requires_quantized_input = True

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer='glorot_uniform',
        bias_initializer='zeros',
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        kq_conf=None,
        paq_conf=None,
        beta=0.0,
        parallel_factor=None,
        **kwargs,
    ):
        if not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f'units must be a positive integer, got {units!r}.')
        if parallel_factor is not None and (not isinstance(parallel_factor, (int, np.integer)) or parallel_factor < 1):
            raise ValueError(f'parallel_factor must be None or a positive integer, got {parallel_factor!r}.')
        super().__init__(
            units=units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            kq_conf=kq_conf,
            paq_conf=paq_conf,
            beta=beta,
            **kwargs,
        )
        self.parallel_factor = None if parallel_factor is None else int(parallel_factor)

    def post_build(self, input_shape):
        super().post_build(input_shape)
        if self.parallel_factor is None and len(input_shape) > 2:
            self.parallel_factor = int(np.prod(input_shape[1:-1]))

    def _apply_kernel(self, x, kernel):
        return ops.matmul(x, kernel)

    def _differentiable_bops(self, input_bw, kernel_bw):
        return self._dense_bops(input_bw, kernel_bw)

    @staticmethod
    def _dense_bops(input_bw, kernel_bw):
        return ops.sum(ops.matmul(input_bw, kernel_bw))

    @property
    def compute_exact_bops(self) -> float:
        bops = float(np.sum(np.matmul(self.input_bw_exact.astype(np.float64), self.kernel_bw_exact.astype(np.float64))))
        self.bops.assign(bops)
        return bops

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), 'parallel_factor': self.parallel_factor}
