"""Peak resident memory of a 10-epoch training of the jet MLP (16-64-32-32-5, batch 1024), HGQ vs plain Keras.

Each model trains in its own fresh subprocess (``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end; the
peak after the imports and model build is also reported, so that the cost of the training itself shows); the
two alternate, ``--repeats`` times, and the medians are appended to benchmarks/results/peak_rss.md.

    python benchmarks/peak_rss.py --backend tensorflow --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r'''
import os, sys, json, resource
sys.path.insert(0, {here!r})
import keras, numpy as np
import train_step as ts
kind = 'mlp'
x, y = ts.make_data(kind, {steps})
m = ts.make_hgq(kind) if {hgq} else ts.make_float(kind)
m.compile(keras.optimizers.Adam(1e-3), 'mse')
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cbs = []
if {hgq}:
    import HGQ
    cbs = [HGQ.FreeBOPs(), HGQ.ResetMinMax()]
m.fit(x, y, batch_size=ts.BATCH, epochs=10, verbose=0, callbacks=cbs)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(before_mb=before / 1024, peak_mb=after / 1024, keras=keras.__version__)))
'''


def run(hgq: bool, backend: str, steps: int) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL='3')
    code = CHILD.format(here=str(HERE), steps=steps, hgq=hgq)
    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith('{')]
    if p.returncode or not lines:
        raise RuntimeError(p.stderr[-3000:])
    return json.loads(lines[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--backend', default='tensorflow', choices=('tensorflow', 'jax', 'torch'))
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--steps', type=int, default=40, help='steps per epoch')
    ap.add_argument('--table', default=str(HERE / 'results' / 'peak_rss.md'))
    args = ap.parse_args(argv)
    res = {'float': [], 'hgq': []}
    for _ in range(args.repeats):
        for name in res:
            res[name].append(run(name == 'hgq', args.backend, args.steps))
    med = {n: {k: statistics.median(r[k] for r in rs) for k in ('before_mb', 'peak_mb')} for n, rs in res.items()}
    for n in res:
        print(f'{n:>6}: peak RSS {med[n]["peak_mb"]:.0f} MB (after build {med[n]["before_mb"]:.0f} MB)')
    ratio = med['hgq']['peak_mb'] / med['float']['peak_mb']
    print(f'ratio hgq/float {ratio:.2f}')
    path = Path(args.table)
    if not path.exists():
        path.write_text(
            '# Peak RSS of a 10-epoch MLP training (16-64-32-32-5, batch 1024), HGQ vs plain Keras\n\n'
            'Fresh subprocess per run, `ru_maxrss` after `fit` (and after imports + build); medians of alternated runs.'
            '\n\n| date (UTC) | backend | keras | steps/epoch | repeats | float peak MB | HGQ peak MB | ratio '
            '| float after build MB | HGQ after build MB | load |\n|---|---|---|---|---|---|---|---|---|---|---|\n'
        )
    date = datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M')
    with path.open('a') as f:
        f.write(
            f'| {date} | {args.backend} | {res["float"][0]["keras"]} | {args.steps} | {args.repeats} | '
            f'{med["float"]["peak_mb"]:.0f} | {med["hgq"]["peak_mb"]:.0f} | {ratio:.2f}x | '
            f'{med["float"]["before_mb"]:.0f} | {med["hgq"]["before_mb"]:.0f} | {os.getloadavg()[0]:.1f} |\n'
        )
    return 0


if __name__ == '__main__':
    sys.exit(main())
