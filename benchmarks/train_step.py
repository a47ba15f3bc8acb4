"""Training-step time of an HGQ model relative to the same plain-Keras float model.

Two models, each as HGQ and as plain Keras: the jet MLP 16-64-32-32-5 (ReLU) at batch 1024, and a small CNN
(16x16x1 -> Conv2D(8, 3) relu -> MaxPool 2 -> Conv2D(8, 3) relu -> Flatten -> Dense 10) at batch 256; Adam, MSE,
Keras' default compile settings (``--jit`` to change them) of the Keras
backend (``--backend``, default TensorFlow; the script re-runs itself with KERAS_BACKEND set when Keras was
already imported with another one). The two models are timed side by side in one process, alternating, and the
median epoch time over repeats is divided by the number of steps. Prints the ratios and appends them to a results
table (``--table``).

    python benchmarks/train_step.py                 # CPU
    python benchmarks/train_step.py --backend jax --repeats 15 --steps 50 --table benchmarks/results/train_step.md
    python benchmarks/train_step.py --models cnn --jit true
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
BACKENDS = ('tensorflow', 'jax', 'torch')


def _backend_arg(argv: list[str]) -> str | None:
    for i, a in enumerate(argv):
        if a == '--backend' and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith('--backend='):
            return a.split('=', 1)[1]
    return None


def _opt_arg(argv: list[str], name: str) -> str | None:
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(name + '='):
            return a.split('=', 1)[1]
    return None


def set_threads(n: int) -> None:
    """One compute thread pool of ``n`` threads for every backend (set before the backend is imported)."""
    os.environ['OMP_NUM_THREADS'] = str(n)
    os.environ['TF_NUM_INTRAOP_THREADS'] = str(n)
    os.environ['TF_NUM_INTEROP_THREADS'] = str(n)
    if n == 1:
        os.environ['XLA_FLAGS'] = os.environ.get('XLA_FLAGS', '') + ' --xla_cpu_multi_thread_eigen=false'


# Keras reads KERAS_BACKEND once, at import: set it from the command line before importing it
if __name__ == '__main__' and _backend_arg(sys.argv[1:]) in BACKENDS:
    os.environ['KERAS_BACKEND'] = _backend_arg(sys.argv[1:])
if __name__ == '__main__' and _opt_arg(sys.argv[1:], '--threads'):
    set_threads(int(_opt_arg(sys.argv[1:], '--threads')))
if __name__ == '__main__' and _opt_arg(sys.argv[1:], '--clock'):
    os.environ['HGQ_BENCH_CLOCK'] = _opt_arg(sys.argv[1:], '--clock')
os.environ.setdefault('KERAS_BACKEND', 'tensorflow')

import keras  # noqa: E402
import numpy as np  # noqa: E402

from HGQ import HConv2D, HDense, HQuantize, PFlatten, PMaxPool2D  # noqa: E402

SHAPES = (16, 64, 32, 32, 5)
BATCH = 1024
CNN_INPUT = (16, 16, 1)
BATCH_OF = {'mlp': BATCH, 'cnn': 256}
MODELS = ('mlp', 'cnn')


def float_model() -> keras.Model:
    layers = [keras.Input((SHAPES[0],))]
    for n in SHAPES[1:-1]:
        layers.append(keras.layers.Dense(n, activation='relu'))
    layers.append(keras.layers.Dense(SHAPES[-1]))
    return keras.Sequential(layers, name='float')


def hgq_model(beta: float = 1e-6) -> keras.Model:
    layers = [keras.Input((SHAPES[0],)), HQuantize(beta=beta)]
    for n in SHAPES[1:-1]:
        layers.append(HDense(n, activation='relu', beta=beta))
    layers.append(HDense(SHAPES[-1], beta=beta))
    return keras.Sequential(layers, name='hgq')


def float_cnn() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(CNN_INPUT),
            keras.layers.Conv2D(8, 3, activation='relu'),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(8, 3, activation='relu'),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ],
        name='float_cnn',
    )


def hgq_cnn(beta: float = 1e-6) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(CNN_INPUT),
            HQuantize(beta=beta),
            HConv2D(8, 3, activation='relu', beta=beta),
            PMaxPool2D(2),
            HConv2D(8, 3, activation='relu', beta=beta),
            PFlatten(),
            HDense(10, beta=beta),
        ],
        name='hgq_cnn',
    )


def make_float(kind: str) -> keras.Model:
    return float_model() if kind == 'mlp' else float_cnn()


def make_hgq(kind: str) -> keras.Model:
    return hgq_model() if kind == 'mlp' else hgq_cnn()


def make_data(kind: str, steps: int, seed: int = 0):
    """Random inputs and targets for ``steps`` batches of the model ``kind``."""
    rng = np.random.default_rng(seed)
    n = BATCH_OF[kind] * steps
    if kind == 'mlp':
        return rng.normal(size=(n, SHAPES[0])).astype(np.float32), rng.normal(size=(n, SHAPES[-1])).astype(np.float32)
    return rng.normal(size=(n, *CNN_INPUT)).astype(np.float32), rng.normal(size=(n, 10)).astype(np.float32)


CLOCKS = {'wall': time.perf_counter, 'cpu': time.process_time}
CLOCK = CLOCKS[os.environ.get('HGQ_BENCH_CLOCK', 'wall')]


class EpochTimer(keras.callbacks.Callback):
    """Epoch times on the wall clock, or on the process's CPU clock (``HGQ_BENCH_CLOCK=cpu``, with
    ``--threads 1``): the CPU time does not count the time the process waits for a core on a loaded machine."""

    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = CLOCK()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(CLOCK() - self._t0)


def time_steps(model: keras.Model, x, y, steps: int, epochs: int, batch: int = BATCH) -> list[float]:
    """Per-step times (seconds) of ``epochs`` epochs of ``steps`` steps each."""
    timer = EpochTimer()
    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[timer], shuffle=False)
    return [t / steps for t in timer.times]


def _jit_arg(value: str):
    return {'auto': 'auto', 'true': True, 'false': False}[value.lower()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=40, help='steps per epoch')
    parser.add_argument('--repeats', type=int, default=9, help='timed rounds (each: one epoch per model)')
    parser.add_argument('--table', default=None, help='markdown table to append the result to')
    parser.add_argument('--backend', choices=BACKENDS, default=None, help='Keras backend (default: KERAS_BACKEND)')
    parser.add_argument('--models', default='mlp,cnn', help='comma-separated: mlp, cnn')
    parser.add_argument('--jit', default='auto', help="jit_compile of both models: auto (Keras' default), true, false")
    parser.add_argument('--threads', type=int, default=None, help='compute threads of the backend (default: its own)')
    parser.add_argument('--clock', choices=tuple(CLOCKS), default=None, help='wall (default) or cpu (process time)')
    parser.add_argument('--note', default='', help='text for the notes column of the table')
    args = parser.parse_args(argv)
    if args.threads and keras.backend.backend() == 'torch':
        import torch

        torch.set_num_threads(args.threads)
    if args.backend is not None and args.backend != keras.backend.backend():
        # Keras is imported with another backend: run again in a process that starts with this one
        argv = sys.argv[1:] if argv is None else list(argv)
        env = dict(os.environ, KERAS_BACKEND=args.backend)
        return subprocess.run([sys.executable, os.path.abspath(__file__), *argv], env=env).returncode
    kinds = [k for k in args.models.split(',') if k]
    if any(k not in MODELS for k in kinds):
        parser.error(f'--models: choose from {MODELS}')
    jit = _jit_arg(args.jit)

    keras.utils.set_random_seed(0)
    data = {k: make_data(k, args.steps) for k in kinds}
    models = {}
    for k in kinds:
        x, y = data[k]
        b = BATCH_OF[k]
        for name, make in (('float', make_float), ('hgq', make_hgq)):
            m = make(k)
            m.compile(keras.optimizers.Adam(1e-3), 'mse', jit_compile=jit)
            m.fit(x[: b * 2], y[: b * 2], batch_size=b, epochs=2, verbose=0)  # trace + warm up
            models[k, name] = m

    times = {key: [] for key in models}
    load0 = os.getloadavg()[0]
    for _ in range(args.repeats):  # alternate, so that machine noise hits both alike
        for (k, name), m in models.items():
            x, y = data[k]
            times[k, name].extend(time_steps(m, x, y, args.steps, 1, BATCH_OF[k]))
    load = (load0 + os.getloadavg()[0]) / 2
    device = _device()
    print(
        f'device: {device} ({platform.processor() or platform.machine()}), keras {keras.__version__}, backend '
        f'{keras.backend.backend()} {_backend_version()}, jit_compile={args.jit}, threads {args.threads or "default"}, '
        f'clock {_clock_name()}, load {load:.2f}'
    )
    for k in kinds:
        med = {name: statistics.median(times[k, name]) for name in ('float', 'hgq')}
        ratio = med['hgq'] / med['float']
        for name in ('float', 'hgq'):
            ts = sorted(times[k, name])
            print(
                f'{k} {name:>6}: median {med[name] * 1e3:.3f} ms/step  (min {ts[0] * 1e3:.3f}, max {ts[-1] * 1e3:.3f}, '
                f'n={len(ts)})'
            )
        print(f'{k} ratio hgq/float: {ratio:.2f}x  (target <= 1.2x)')
        if args.table:
            _append(Path(args.table), device, k, med, ratio, args, load)
    return 0


def _clock_name() -> str:
    return os.environ.get('HGQ_BENCH_CLOCK', 'wall')


def _backend_version() -> str:
    backend = keras.backend.backend()
    mod = {'tensorflow': 'tensorflow', 'jax': 'jax', 'torch': 'torch'}[backend]
    return __import__(mod).__version__


def _device() -> str:
    """'GPU' when the backend computes on one, else 'CPU'."""
    backend = keras.backend.backend()
    if backend == 'tensorflow':
        import tensorflow as tf

        return 'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'
    if backend == 'jax':
        import jax

        return 'GPU' if jax.default_backend() == 'gpu' else 'CPU'
    import torch

    return 'GPU' if torch.cuda.is_available() else 'CPU'


HEADER = (
    '| date (UTC) | device | backend | keras | float ms/step | HGQ ms/step | ratio | steps x repeats | notes |\n'
    '|---|---|---|---|---|---|---|---|---|\n'
)
# rows with the model, the backend version, the jit_compile setting and the load (from 2026-12-02)
HEADER2_TITLE = '## Both models (MLP 16-64-32-32-5 at batch 1024, CNN at batch 256), median of alternated epochs\n'
HEADER2 = (
    '| date (UTC) | device | model | backend | backend version | keras | jit_compile | threads | clock | float ms/step '
    '| HGQ ms/step | ratio | steps x repeats | load | notes |\n'
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n'
)


def _append(path: Path, device: str, kind: str, med: dict, ratio: float, args, load: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text('# Training step: HGQ vs plain Keras\n\n')
    text = path.read_text()
    if HEADER2_TITLE not in text:
        with path.open('a') as f:
            f.write(('\n' if text.endswith('\n') else '\n\n') + HEADER2_TITLE + '\n' + HEADER2)
    date = datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M')
    with path.open('a') as f:
        f.write(
            f'| {date} | {device} | {kind} | {keras.backend.backend()} | {_backend_version()} | {keras.__version__} | '
            f'{args.jit} | {args.threads or "default"} | {_clock_name()} | {med["float"] * 1e3:.3f} | '
            f'{med["hgq"] * 1e3:.3f} | {ratio:.2f}x | '
            f'{args.steps} x {args.repeats} | {load:.2f} | {args.note} |\n'
        )


if __name__ == '__main__':
    sys.exit(main())
