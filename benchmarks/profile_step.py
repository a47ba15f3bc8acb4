"""Break an HGQ training step down by timing variants with parts switched off.

Each variant is the same model (jet MLP 16-64-32-32-5 at batch 1024, or the small CNN at batch 256) built and
traced while one part of HGQ is replaced by a no-op (monkeypatched only during the trace, so that every variant keeps
its own compiled step); the variants are then timed side by side, alternating, and the median per-step time is
reported. The difference between two variants is the cost of the part switched off.

    python benchmarks/profile_step.py --backend tensorflow --model mlp --repeats 9
    python benchmarks/profile_step.py --backend jax --model cnn

Variants:
    float           the plain Keras model
    hgq             the HGQ model as is
    hgq_prev_quant  with the quantizer's training path as before this change (division by the grid, -ln2 per term)
    no_bops         without the BOPs term (``input_bw`` None: no act_bw/kernel_bw, no matmul, no add_loss, no assign)
    no_record       without the min/max recording
    no_quant        quantizers are identities (the recording and the BOPs term stay)
    hgq_fast_bops   the HDense BOPs term computed by `HGQ.bops.fast` (kernel bitwidths summed over the outputs first)
    bops_by_conv    the convolutions' BOPs term as the sum of a convolution of the bitwidth maps (the form before the
                    tap coverage the layers use now)
    float_xla / hgq_xla   compiled with ``jit_compile=True`` (TensorFlow only)
Callbacks (FreeBOPs + ResetMinMax) are timed separately: the mean time of their ``on_epoch_end``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')


def _backend_arg(argv):
    for i, a in enumerate(argv):
        if a == '--backend' and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith('--backend='):
            return a.split('=', 1)[1]
    return None


def _opt(argv, name):
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
    return None


if __name__ == '__main__' and _backend_arg(sys.argv[1:]):
    os.environ['KERAS_BACKEND'] = _backend_arg(sys.argv[1:])
if __name__ == '__main__' and _opt(sys.argv[1:], '--threads'):  # as train_step.set_threads, before the import
    n = _opt(sys.argv[1:], '--threads')
    os.environ.update(OMP_NUM_THREADS=n, TF_NUM_INTRAOP_THREADS=n, TF_NUM_INTEROP_THREADS=n)
    if n == '1':
        os.environ['XLA_FLAGS'] = os.environ.get('XLA_FLAGS', '') + ' --xla_cpu_multi_thread_eigen=false'
if __name__ == '__main__' and _opt(sys.argv[1:], '--clock'):
    os.environ['HGQ_BENCH_CLOCK'] = _opt(sys.argv[1:], '--clock')
os.environ.setdefault('KERAS_BACKEND', 'tensorflow')

import keras  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import BATCH_OF, EpochTimer, make_data, make_float, make_hgq  # noqa: E402

import HGQ  # noqa: E402
from HGQ.layers.base import HLayerBase  # noqa: E402
from HGQ.layers.conv import HConv  # noqa: E402
from HGQ.quantizer.quantizer import HGQ as Quantizer  # noqa: E402


@contextlib.contextmanager
def patched(obj, name, value):
    owner = next(c for c in obj.__mro__ if name in c.__dict__)
    old = owner.__dict__[name]
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


def _identity_forward(self, x, training=None, record_minmax=None):
    if record_minmax:
        self.record(x)
    return x


def _bops_by_convolution(self, input_bw, kernel_bw):
    return keras.ops.sum(self.convolution_op(input_bw, kernel_bw)) * (self.parallel_factor / self._n_positions)


def _previous_quantizer():
    from quantizer_micro import previous_quantize

    import HGQ.quantizer.quantizer as qmod

    return patched_module(qmod, 'surrogate_quantize', previous_quantize)


@contextlib.contextmanager
def patched_module(mod, name, value):
    old = getattr(mod, name)
    setattr(mod, name, value)
    try:
        yield
    finally:
        setattr(mod, name, old)


PATCHES = {
    'hgq_prev_quant': _previous_quantizer,
    'no_bops': lambda: patched(HLayerBase, 'input_bw', property(lambda self: None)),
    'no_record': lambda: patched(Quantizer, 'record', lambda self, xq: None),
    'no_quant': lambda: patched(Quantizer, 'forward', _identity_forward),
    'bops_by_conv': lambda: patched(HConv, '_differentiable_bops', _bops_by_convolution),
}


def fast_bops_patch():
    from HGQ.bops import fast

    return fast.patch_layers()


def build(kind: str, variant: str, x, y, jit):
    keras.utils.set_random_seed(0)
    m = make_float(kind) if variant.startswith('float') else make_hgq(kind)
    m.compile(keras.optimizers.Adam(1e-3), 'mse', jit_compile=jit)
    if variant == 'hgq_fast_bops':
        ctx = fast_bops_patch()
    else:
        ctx = PATCHES[variant]() if variant in PATCHES else contextlib.nullcontext()
    b = BATCH_OF[kind]
    with ctx:
        m.fit(x[: b * 2], y[: b * 2], batch_size=b, epochs=2, verbose=0)  # traced with the patch in place
    return m


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument('--backend', default=None)
    p.add_argument('--model', choices=('mlp', 'cnn'), default='mlp')
    p.add_argument('--steps', type=int, default=30)
    p.add_argument('--repeats', type=int, default=9)
    p.add_argument('--variants', default=None, help='comma-separated subset')
    p.add_argument('--threads', default=None, help='compute threads of the backend (default: its own)')
    p.add_argument('--clock', default=None, help='wall (default) or cpu (process time; use with --threads 1)')
    args = p.parse_args(argv)
    backend = keras.backend.backend()
    variants = ['float', 'hgq', 'hgq_prev_quant', 'no_bops', 'no_record', 'no_quant', 'hgq_fast_bops', 'bops_by_conv']
    if backend == 'tensorflow':
        variants += ['float_xla', 'hgq_xla']
    if args.variants:
        variants = args.variants.split(',')
    x, y = make_data(args.model, args.steps)
    b = BATCH_OF[args.model]
    models = {v: build(args.model, v, x, y, True if v.endswith('_xla') else 'auto') for v in variants}
    times = {v: [] for v in variants}
    cb_times = []
    for _ in range(args.repeats):
        for v, m in models.items():
            timer = EpochTimer()
            m.fit(x, y, batch_size=b, epochs=1, verbose=0, callbacks=[timer], shuffle=False)
            times[v].append(timer.times[0] / args.steps)
        hm = models.get('hgq')
        if hm is not None:
            cbs = [HGQ.FreeBOPs(), HGQ.ResetMinMax()]
            for c in cbs:
                c.set_model(hm)
            t0 = time.perf_counter()
            logs = {}
            for c in cbs:
                c.on_epoch_end(0, logs)
            cb_times.append(time.perf_counter() - t0)

    med = {v: statistics.median(t) for v, t in times.items()}
    clock = os.environ.get('HGQ_BENCH_CLOCK', 'wall')
    print(f'# {args.model} backend={backend} batch={b} steps={args.steps} repeats={args.repeats} '
          f'threads={args.threads} '
          f'clock={clock} load={os.getloadavg()}')
    for v in variants:
        print(f'{v:>14}: {med[v] * 1e3:8.3f} ms/step  ratio to float {med[v] / med["float"]:.2f}' if 'float' in med
              else f'{v:>14}: {med[v] * 1e3:8.3f} ms/step')
    if cb_times:
        print(f'FreeBOPs+ResetMinMax on_epoch_end: {statistics.median(cb_times) * 1e3:.3f} ms per epoch')
    return 0


if __name__ == '__main__':
    sys.exit(main())
