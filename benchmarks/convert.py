"""Conversion time (hls4ml ``convert_from_keras_model``, no compile) of HGQ proxy models with about 10k, 100k
and 1M weights, with the plugin's passes and with hls4ml's built-in HGQ path (plugin disabled), side by side.

Each model is HQuantize -> 3 x HDense(W, relu) -> HDense(5) with per-element bitwidths. The table gives the
median over repeats of the whole conversion and of the precision-propagation pass alone (the plugin's
`hgq_precision_propagation`, or hls4ml's `bit_exact`), and the fitted exponent t ~ n_weights**a.

    python benchmarks/convert.py --repeats 3 --table benchmarks/results/convert.md
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import keras  # noqa: E402
import numpy as np  # noqa: E402

from HGQ import HDense, HQuantize, to_proxy_model, trace_minmax  # noqa: E402

SIZES = {'10k': 56, '100k': 180, '300k': 316, '1M': 576, '3M': 1000}


def build_proxy(width: int, seed: int = 0) -> tuple[keras.Model, int]:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((width,)), HQuantize()]
        + [HDense(width, activation='relu') for _ in range(3)]
        + [HDense(5)]
    )
    rng = np.random.default_rng(seed)
    for v in model.weights:
        if v.path.endswith('_bw'):
            v.assign(rng.uniform(2, 8, tuple(v.shape)).astype('float32'))
    trace_minmax(model, rng.normal(size=(512, width)).astype('float32'), verbose=False)
    proxy = to_proxy_model(model)
    n_weights = sum(int(np.prod(v.shape)) for v in proxy.weights if v.path.endswith('kernel'))
    return proxy, n_weights


@contextlib.contextmanager
def timed_pass(name: str, sink: list[float]):
    """Records the time of one optimizer pass (model-level) while converting."""
    from hls4ml.model.optimizer import get_optimizer

    opt = get_optimizer(name)
    original = opt.transform

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            sink.append(time.perf_counter() - t0)

    opt.transform = wrapper
    try:
        yield
    finally:
        opt.transform = original


@contextlib.contextmanager
def plugin_disabled():
    """hls4ml without the plugin: its handlers unregistered and its pass out of the flow."""
    from hls4ml.converters.keras_v3._base import registry
    from hls4ml.model.flow import get_flow

    from hgq_hls4ml.handlers import QUANTIZER_PATHS, UNARY_LUT_PATHS
    from hgq_hls4ml.plugin import PASS_NAME

    saved = {k: registry.pop(k) for k in QUANTIZER_PATHS + UNARY_LUT_PATHS if k in registry}
    flow = get_flow('convert')._optimizers
    idx = flow.index(PASS_NAME)
    flow.remove(PASS_NAME)
    try:
        yield
    finally:
        registry.update(saved)
        flow.insert(idx, PASS_NAME)


def convert_once(proxy, plugin: bool) -> tuple[float, float]:
    import hls4ml

    import hgq_hls4ml  # noqa: F401

    prop: list[float] = []
    ctx = contextlib.nullcontext() if plugin else plugin_disabled()
    name = 'hgq_precision_propagation' if plugin else 'bit_exact'
    with ctx, timed_pass(name, prop), tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        hls4ml.converters.convert_from_keras_model(
            proxy, hls_config={'Model': {'Precision': 'fixed<1,0>', 'ReuseFactor': 1}}, output_dir=d,
            io_type='io_parallel', backend='Vivado',
        )
        total = time.perf_counter() - t0
    return total, sum(prop)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--sizes', nargs='*', default=['10k', '100k', '1M'], choices=list(SIZES))
    parser.add_argument('--no-builtin', action='store_true', help='skip the hls4ml built-in path')
    parser.add_argument('--table', default=None)
    args = parser.parse_args(argv)

    rows = []
    for label in args.sizes:
        proxy, n = build_proxy(SIZES[label])
        res = {}
        for plugin in ([True] if args.no_builtin else [True, False]):
            runs = []
            for _ in range(args.repeats):
                try:
                    runs.append(convert_once(proxy, plugin))
                except Exception as exc:  # the built-in path may refuse what the plugin handles
                    runs = [(float('nan'), float('nan'))]
                    print(f'{label} {"plugin" if plugin else "built-in"}: {type(exc).__name__}: {exc}', file=sys.stderr)
                    break
            res[plugin] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
        rows.append((label, n, res))
        print(f'{label:>5} ({n} weights): plugin total {res[True][0] * 1e3:.1f} ms, '
              f'propagation {res[True][1] * 1e3:.1f} ms'
              + ('' if args.no_builtin
                 else f'; built-in total {res[False][0] * 1e3:.1f} ms, bit_exact {res[False][1] * 1e3:.1f} ms'))

    ns = np.log([r[1] for r in rows])
    exps = {}
    for key, idx in (('plugin propagation', (True, 1)), ('plugin total', (True, 0))) + (
        () if args.no_builtin else (('built-in bit_exact', (False, 1)), ('built-in total', (False, 0)))
    ):
        ts = np.array([r[2][idx[0]][idx[1]] for r in rows])
        if len(rows) >= 2 and np.all(np.isfinite(ts)) and np.all(ts > 0):
            exps[key] = float(np.polyfit(ns, np.log(ts), 1)[0])
            exps[key + ', largest two sizes'] = float((np.log(ts[-1]) - np.log(ts[-2])) / (ns[-1] - ns[-2]))
    for key, a in exps.items():
        print(f'exponent ({key}): t ~ n^{a:.2f}')
    if args.table:
        _write(Path(args.table), rows, exps, args)
    return 0


def _write(path: Path, rows, exps, args) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    date = datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M')
    lines = [f'## {date} UTC, CPU, median of {args.repeats}\n',
             '| model | weights | plugin: total ms | plugin: propagation ms '
             '| built-in: total ms | built-in: bit_exact ms |',
             '|---|---|---|---|---|---|']
    for label, n, res in rows:
        b = res.get(False, (float('nan'), float('nan')))
        lines.append(f'| {label} | {n} | {res[True][0] * 1e3:.1f} | {res[True][1] * 1e3:.1f} '
                     f'| {b[0] * 1e3:.1f} | {b[1] * 1e3:.1f} |')
    lines.append('')
    lines += [f'- exponent, {k}: **{a:.2f}**' for k, a in exps.items()]
    header = ('' if path.exists()
              else '# Conversion time of proxy models (hls4ml convert_from_keras_model, no compile)\n\n')
    with path.open('a') as f:
        f.write(header + '\n'.join(lines) + '\n\n')


if __name__ == '__main__':
    sys.exit(main())
