"""Training-step time of an HGQ model relative to the same plain-Keras float model.

Both models are a 16-64-32-32-5 MLP (ReLU), batch 1024, Adam, MSE, default compile settings of the Keras
backend (``--backend``, default TensorFlow; the script re-runs itself with KERAS_BACKEND set when Keras was
already imported with another one). The two models are timed side by side in one process, alternating, and the
median epoch time over repeats is divided by the number of steps. Prints the ratio and appends it to a results
table.

    python benchmarks/train_step.py                 # CPU
    python benchmarks/train_step.py --backend jax --repeats 15 --steps 50 --table benchmarks/results/train_step.md
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


# Keras reads KERAS_BACKEND once, at import: set it from the command line before importing it
if __name__ == '__main__' and _backend_arg(sys.argv[1:]) in BACKENDS:
    os.environ['KERAS_BACKEND'] = _backend_arg(sys.argv[1:])
os.environ.setdefault('KERAS_BACKEND', 'tensorflow')

import keras  # noqa: E402
import numpy as np  # noqa: E402

from HGQ import HDense, HQuantize  # noqa: E402

SHAPES = (16, 64, 32, 32, 5)
BATCH = 1024


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


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._t0)


def time_steps(model: keras.Model, x, y, steps: int, epochs: int) -> list[float]:
    """Per-step times (seconds) of ``epochs`` epochs of ``steps`` steps each."""
    timer = EpochTimer()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=[timer], shuffle=False)
    return [t / steps for t in timer.times]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=40, help='steps per epoch')
    parser.add_argument('--repeats', type=int, default=9, help='timed rounds (each: one epoch per model)')
    parser.add_argument('--table', default=None, help='markdown table to append the result to')
    parser.add_argument('--backend', choices=BACKENDS, default=None, help='Keras backend (default: KERAS_BACKEND)')
    parser.add_argument('--note', default='', help='text for the notes column of the table')
    args = parser.parse_args(argv)
    if args.backend is not None and args.backend != keras.backend.backend():
        # Keras is imported with another backend: run again in a process that starts with this one
        argv = sys.argv[1:] if argv is None else list(argv)
        env = dict(os.environ, KERAS_BACKEND=args.backend)
        return subprocess.run([sys.executable, os.path.abspath(__file__), *argv], env=env).returncode

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH * args.steps, SHAPES[0])).astype(np.float32)
    y = rng.normal(size=(BATCH * args.steps, SHAPES[-1])).astype(np.float32)
    models = {'float': float_model(), 'hgq': hgq_model()}
    for m in models.values():
        m.compile(keras.optimizers.Adam(1e-3), 'mse')
        m.fit(x[: BATCH * 2], y[: BATCH * 2], batch_size=BATCH, epochs=2, verbose=0)  # trace + warm up

    times = {name: [] for name in models}
    for _ in range(args.repeats):  # alternate, so that machine noise hits both alike
        for name, m in models.items():
            times[name].extend(time_steps(m, x, y, args.steps, 1))
    med = {name: statistics.median(t) for name, t in times.items()}
    ratio = med['hgq'] / med['float']
    device = _device()
    print(f'device: {device} ({platform.processor() or platform.machine()}), keras {keras.__version__}, backend {keras.backend.backend()}')
    for name in models:
        ts = sorted(times[name])
        print(f'{name:>6}: median {med[name] * 1e3:.3f} ms/step  (min {ts[0] * 1e3:.3f}, max {ts[-1] * 1e3:.3f}, n={len(ts)})')
    print(f'ratio hgq/float: {ratio:.2f}x  (target <= 1.5x)')
    if args.table:
        _append(Path(args.table), device, med, ratio, args)
    return 0


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


def _append(path: Path, device: str, med: dict, ratio: float, args) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text('# Training step: HGQ vs plain Keras (16-64-32-32-5 MLP, batch 1024)\n\n' + HEADER)
    date = datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M')
    with path.open('a') as f:
        f.write(
            f'| {date} | {device} | {keras.backend.backend()} | {keras.__version__} | {med["float"] * 1e3:.3f} | '
            f'{med["hgq"] * 1e3:.3f} | {ratio:.2f}x | {args.steps} x {args.repeats} | {args.note} |\n'
        )


if __name__ == '__main__':
    sys.exit(main())
