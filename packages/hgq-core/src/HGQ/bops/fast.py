"""Cheaper forms of the differentiable BOPs term of the layers with a kernel (same value, same gradient).

The BOPs term of a layer, computed once per training step, contracts the input bitwidth map (no batch axis) with
the kernel bitwidths:

* `HDense`: ``sum(input_bw @ kernel_bw)`` with ``input_bw`` of shape ``(1, ..., N)`` and ``kernel_bw`` ``(N, M)``;
* `HConv`: ``sum(conv(input_bw, kernel_bw)) * parallel_factor / N_pos``.

Every output channel of the kernel meets the same inputs, so the contraction equals the one with the kernel
bitwidths summed over the output channels first (``M`` or ``C_out`` times fewer products, a matrix-vector product
or a one-filter convolution, and the same for their gradients). Bitwidths are integers, and every partial sum of
products of them is an integer below 2**24, so both forms are exact in float32: the value and the gradients (for
``input_bw``: the kernel bitwidths summed over the outputs it meets; for ``kernel_bw``: the sum of the input
bitwidths it meets, the same for every output channel) are equal bit for bit. Scaled by ``beta`` in the loss, the
gradients of the two forms agree to float rounding (the sums are taken before or after the scaling).

`patch_layers` swaps these forms into `HDense` / `HConv` for as long as the context is open (for benchmarks: the
layer files keep the straightforward forms). On PyTorch, `conv_bops_sum`'s gradient fails in torch's slow_conv2d
("grad_weight must be contiguous"); the layers do not use this module.
"""

from __future__ import annotations

import contextlib

from keras import ops


def dense_bops(input_bw, kernel_bw):
    """``sum(input_bw @ kernel_bw)`` as ``sum(input_bw @ sum(kernel_bw, axis=-1))``."""
    k_sum = ops.sum(kernel_bw, axis=-1, keepdims=True)  # (N, 1)
    return ops.sum(ops.matmul(input_bw, k_sum))


def conv_bops_sum(convolution_op, input_bw, kernel_bw):
    """``sum(conv(input_bw, kernel_bw))`` as the sum of one convolution with a single filter, the kernel bitwidths
    summed over the output channels (the last kernel axis)."""
    k_sum = ops.sum(kernel_bw, axis=-1, keepdims=True)  # (*kernel_size, C_in, 1)
    return ops.sum(convolution_op(input_bw, k_sum))


@contextlib.contextmanager
def patch_layers():
    """Within the context, `HDense` and `HConv` (and their subclasses) compute the BOPs term with `dense_bops` and
    `conv_bops_sum`."""
    from ..layers.conv import HConv
    from ..layers.dense import HDense

    def _dense(self, input_bw, kernel_bw):
        return dense_bops(input_bw, kernel_bw)

    def _conv(self, input_bw, kernel_bw):
        return conv_bops_sum(self.convolution_op, input_bw, kernel_bw) * (self.parallel_factor / self._n_positions)

    saved = []
    for cls, fn in ((HDense, _dense), (HConv, _conv)):
        saved.append((cls, cls.__dict__.get('_differentiable_bops')))
        cls._differentiable_bops = fn
    dense_static = HDense.__dict__.get('_dense_bops')
    HDense._dense_bops = staticmethod(dense_bops)
    try:
        yield
    finally:
        for cls, old in saved:
            if old is None:
                del cls._differentiable_bops
            else:
                cls._differentiable_bops = old
        if dense_static is not None:
            HDense._dense_bops = dense_static
