"""Micro-benchmark of the quantizer's training path alone (forward + gradient of ``surrogate_quantize`` on a
1024 x 64 activation with one bitwidth per feature), the current form against the previous one (reproduced here as
``previous_quantize``: division by the grid, ``-ln2`` applied before the sum), compiled with the backend's
function compiler (``tf.function`` / ``jax.jit``), alternated.

    python benchmarks/quantizer_micro.py --backend tensorflow
"""

import argparse
import math
import os
import statistics
import sys
import time

if '--backend' in sys.argv:
    os.environ['KERAS_BACKEND'] = sys.argv[sys.argv.index('--backend') + 1]
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from HGQ.quantizer.quantizer import STANDARD_ROUND, sum_to_shape, surrogate_quantize  # noqa: E402

LN2 = math.log(2.0)


def previous_quantize(x, fbw, strategy, exact_q_value, clip=None):
    fbw_shape = tuple(fbw.shape)

    @ops.custom_gradient
    def fn(x, fbw):
        if clip is not None:
            fbw = ops.clip(fbw, clip[0], clip[1])
        fq = ops.round(fbw) if exact_q_value else fbw
        scale = ops.power(2.0, fq)
        y = ops.floor(x * scale + 0.5)
        xq = y / scale

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return upstream, sum_to_shape(upstream * (xq - x) * (-LN2), fbw_shape)

        return xq, grad

    return fn(x, fbw)


def make(q, backend):
    if backend == 'tensorflow':
        import tensorflow as tf

        @tf.function
        def step(x, f, w):
            with tf.GradientTape() as tape:
                tape.watch([x, f])
                loss = tf.reduce_sum(q(x, f, STANDARD_ROUND, True, (-23.0, 23.0)) * w)
            return tape.gradient(loss, [x, f])

        return step
    import jax

    def loss(x, f, w):
        return ops.sum(q(x, f, STANDARD_ROUND, True, (-23.0, 23.0)) * w)

    return jax.jit(jax.grad(loss, argnums=(0, 1)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--backend', default='tensorflow')
    ap.add_argument('--calls', type=int, default=300)
    ap.add_argument('--repeats', type=int, default=9)
    a = ap.parse_args()
    be = keras.backend.backend()
    rng = np.random.default_rng(0)
    x = ops.convert_to_tensor(rng.normal(size=(1024, 64)).astype('float32'))
    f = ops.convert_to_tensor(rng.uniform(0, 6, size=(1, 64)).astype('float32'))
    w = ops.convert_to_tensor(rng.normal(size=(1024, 64)).astype('float32'))
    steps = {'previous': make(previous_quantize, be), 'current': make(surrogate_quantize, be)}
    outs = {k: [np.asarray(ops.convert_to_numpy(g)) for g in s(x, f, w)] for k, s in steps.items()}
    np.testing.assert_array_equal(outs['previous'][0], outs['current'][0])
    # the bitwidth gradient is a sum over the batch: equal to float rounding of the terms (TensorFlow's own
    # multi-threaded sum varies at this level from run to run)
    scale = float(np.sum(np.abs(np.asarray(ops.convert_to_numpy(w)))) * 2.0**-8)
    np.testing.assert_allclose(outs['previous'][1], outs['current'][1], rtol=0, atol=scale * 2e-7)
    times = {k: [] for k in steps}
    for _ in range(a.repeats):
        for k, s in steps.items():
            t0 = time.perf_counter()
            for _ in range(a.calls):
                r = s(x, f, w)
            ops.convert_to_numpy(r[1])
            times[k].append((time.perf_counter() - t0) / a.calls)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f'{be}: previous {med["previous"] * 1e6:.1f} us, current {med["current"] * 1e6:.1f} us, '
          f'ratio {med["current"] / med["previous"]:.3f}, load {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
    main()
