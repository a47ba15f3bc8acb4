"""Micro-benchmark of the BOPs contraction alone (value + gradients for both bitwidth maps), compiled (``tf.function``
/ ``jax.jit``), alternated, on the shapes of the benchmark models' layers. Dense: the matrix product the layers use
('current') against `HGQ.bops.fast` (kernel bitwidths summed over the outputs first); convolutions: the sum of the
convolution of the bitwidth maps ('current', the form before the coverage) against the tap-coverage form the layers
use now ('fast', `HGQ.layers.conv.coverage_bops_sum`).

    python benchmarks/bops_micro.py --backend tensorflow
"""

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

from HGQ.bops import fast  # noqa: E402
from HGQ.layers.conv import coverage_bops_sum, tap_coverage  # noqa: E402

CASES = {
    'dense 64x32': ((1, 64), (64, 32), 'dense'),
    'conv 14x14x8, 3x3x8x8': ((1, 14, 14, 8), (3, 3, 8, 8), 'conv'),
    'conv 16x16x1, 3x3x1x8': ((1, 16, 16, 1), (3, 3, 1, 8), 'conv'),
}


def conv(a, k):
    return ops.conv(a, k, strides=1, padding='valid')


def forms(kind, ashape=None, kshape=None):
    if kind == 'dense':
        return {'current': lambda a, k: ops.sum(ops.matmul(a, k)), 'fast': fast.dense_bops}
    coverage = tap_coverage(ashape[1:-1], kshape[:-2], (1, 1), (1, 1), 'valid')
    return {'current': lambda a, k: ops.sum(conv(a, k)), 'fast': lambda a, k: coverage_bops_sum(coverage, a, k)}


def compiled(f):
    if keras.backend.backend() == 'tensorflow':
        import tensorflow as tf

        @tf.function
        def step(a, k):
            with tf.GradientTape() as tape:
                tape.watch([a, k])
                v = f(a, k) * 1e-6
            return [v] + tape.gradient(v, [a, k])

        return step
    import jax

    return jax.jit(jax.value_and_grad(lambda a, k: f(a, k) * 1e-6, argnums=(0, 1)))


def main():
    rng = np.random.default_rng(0)
    reps, calls = 9, 300
    for name, (ashape, kshape, kind) in CASES.items():
        a = ops.convert_to_tensor(rng.integers(0, 8, ashape).astype('float32'))
        k = ops.convert_to_tensor(rng.integers(0, 8, kshape).astype('float32'))
        steps = {n: compiled(f) for n, f in forms(kind, ashape, kshape).items()}
        for s in steps.values():
            s(a, k)
        times = {n: [] for n in steps}
        for _ in range(reps):
            for n, s in steps.items():
                t0 = time.perf_counter()
                for _ in range(calls):
                    r = s(a, k)
                keras.ops.convert_to_numpy(r[0])
                times[n].append((time.perf_counter() - t0) / calls)
        med = {n: statistics.median(t) * 1e6 for n, t in times.items()}
        print(f'{keras.backend.backend()} {name}: current {med["current"]:.1f} us, fast {med["fast"]:.1f} us, '
              f'ratio {med["fast"] / med["current"]:.2f}, load {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
    main()
