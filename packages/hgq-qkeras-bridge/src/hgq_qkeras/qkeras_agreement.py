"""How many outputs of a proxy model equal QKeras's own, on the user's data."""

from __future__ import annotations

import numpy as np


def _batches(data, batch_size: int):
    arrays = data if isinstance(data, (list, tuple)) else [data]
    arrays = [np.asarray(a, dtype=np.float32) for a in arrays]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f'calibration_data: the inputs have different numbers of samples {[len(a) for a in arrays]}.')
    for i in range(0, n, batch_size):
        part = [a[i:i + batch_size] for a in arrays]
        yield part[0] if len(part) == 1 else part


def _flat_outputs(y) -> list[np.ndarray]:
    ys = y if isinstance(y, (list, tuple)) else [y]
    return [np.asarray(v.numpy() if hasattr(v, 'numpy') else v, dtype=np.float64).reshape(len(v), -1) for v in ys]


def agreement(qmodel, proxy, data, batch_size: int = 1024) -> tuple[int, int]:
    """``(equal, total)``: outputs of ``proxy`` on ``data`` equal to QKeras's eager inference outputs.

    QKeras is called eagerly (``qmodel(x, training=False)``), its reference semantics (its graph mode may
    recompute a batch-norm scale with 1-ulp differences).

    Args:
        qmodel: The QKeras model.
        proxy: Its proxy model (`hgq_qkeras.to_proxy_model`).
        data: Inputs: an array, or a list of arrays for a model with several inputs.
        batch_size: Samples per call.
    """
    import tensorflow as tf

    equal = total = 0
    for x in _batches(data, batch_size):
        tx = [tf.constant(v) for v in x] if isinstance(x, list) else tf.constant(x)
        expected = _flat_outputs(qmodel(tx, training=False))
        got = _flat_outputs(proxy(x, training=False))
        for e, g in zip(expected, got):
            equal += int(np.sum(e == g))
            total += e.size
    return equal, total
