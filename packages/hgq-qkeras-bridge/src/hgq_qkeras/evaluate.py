"""Running QKeras's own functions on numpy data (eagerly, in inference mode)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def evaluate(fn: Callable, x) -> np.ndarray:
    """``fn(x)`` for a QKeras quantizer or activation ``fn`` and a numpy array ``x``, as float32 numpy.

    The tensor is a TensorFlow tensor, which both QKeras 0.9 (tf_keras) and qkeras-v3 (Keras 3 on the
    TensorFlow backend) accept, so the result is exactly what QKeras computes for these values.
    """
    import keras

    t = keras.ops.convert_to_tensor(np.asarray(x, dtype=np.float32))
    y = fn(t)
    return np.asarray(keras.ops.convert_to_numpy(y), dtype=np.float32)


def probe_values(n: int = 4001, scale: float = 8.0, seed: int = 0) -> np.ndarray:
    """Values on fine and coarse grids around zero, used to check that a quantizer is deterministic."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(-scale, scale, n)
    noise = rng.uniform(-scale, scale, n)
    return np.concatenate([grid, noise]).astype(np.float32)


def is_deterministic(fn: Callable, x=None) -> bool:
    """Whether two evaluations of ``fn`` on the same data agree (False for random quantizers)."""
    x = probe_values() if x is None else x
    a, b = evaluate(fn, x), evaluate(fn, x)
    return bool(np.array_equal(a, b, equal_nan=True))
