"""A cheaper form of the `HDense` BOPs term (same value, same gradient), kept for benchmarks.

The BOPs term of an `HDense`, computed once per training step, is ``sum(input_bw @ kernel_bw)`` with ``input_bw`` of
shape ``(1, ..., N)`` and ``kernel_bw`` ``(N, M)``. Every output of the kernel meets the same inputs, so it equals the
contraction with the kernel bitwidths summed over the outputs first (a matrix-vector product, ``M`` times fewer
products, and the same for its gradients). Bitwidths are integers, and every partial sum of products of them is an
integer below 2**24, so both forms are exact in float32: the value and the gradients are equal bit for bit. Scaled by
``beta`` in the loss, the gradients of the two forms agree to float rounding (the sums are taken before or after the
scaling).

Measured (`benchmarks/bops_micro.py`, profile.md): a gain on JAX only, a loss on TensorFlow (one op more per step), so
`HDense` keeps the matrix product; `patch_layers` swaps this form in for as long as the context is open. The
convolutions compute their BOPs term from the tap coverage (`HGQ.layers.conv.coverage_bops_sum`), which is faster on
every backend.
"""

from __future__ import annotations

import contextlib

from keras import ops


def dense_bops(input_bw, kernel_bw):
    """``sum(input_bw @ kernel_bw)`` as ``sum(input_bw @ sum(kernel_bw, axis=-1))``."""
    k_sum = ops.sum(kernel_bw, axis=-1, keepdims=True)  # (N, 1)
    return ops.sum(ops.matmul(input_bw, k_sum))


@contextlib.contextmanager
def patch_layers():
    """Within the context, `HDense` (and its subclasses) compute the BOPs term with `dense_bops`."""
    from ..layers.dense import HDense

    saved = HDense.__dict__['_dense_bops']
    HDense._dense_bops = staticmethod(dense_bops)
    try:
        yield
    finally:
        HDense._dense_bops = saved
