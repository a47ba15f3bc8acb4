"""Per-step and per-epoch cost of the digits run (``benchmarks/peers/digits_hgq1_api.py``), float vs HGQ.

The digits run trains for 300 short epochs (23 steps of batch 64), so the fixed cost of an epoch in ``fit`` counts
as much as the steps. This script splits the two: each model is fit for E epochs, then for one epoch holding the
same E x 23 steps (the training set repeated E times); the difference, divided by E, is the per-epoch overhead of
``fit`` (data iterator, callbacks, metrics), the one-epoch time divided by its steps the per-step cost. The models
(plain Keras Dense 64-32-10 and the HGQ1-API model of the digits run, with and without FreeBOPs + ResetMinMax)
alternate inside one process, medians over the rounds. Run it with other interpreters (``--python``) to compare
stacks side by side, e.g. HGQ1's Keras 2 venv made by ``../shared/peers/make-venv.sh hgq1 /work/peer-hgq1``:

    python benchmarks/epoch_overhead.py --python /work/peer-hgq1/bin/python --table benchmarks/results/epoch_overhead.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
# the last variant passes fit(steps_per_epoch=the number of batches): Keras 3 then makes one data iterator per epoch
# instead of two (docs/training-speed.md)
VARIANTS = ('float', 'hgq', 'hgq + FreeBOPs, ResetMinMax', 'hgq + FreeBOPs, ResetMinMax, steps_per_epoch')


def _worker(data: str, epochs: int, rounds: int) -> None:
    """Measures in this interpreter and prints one JSON line (runs in the subprocess)."""
    sys.path.insert(0, str(HERE / 'peers'))
    import numpy as np
    from digits_hgq1_api import BATCH, build_model, keras, tf

    try:  # HGQ1's API: this project or HGQ1 (an interpreter without it, such as HGQ2's, measures float only)
        import HGQ
        from HGQ import FreeBOPs, ResetMinMax

        variants, hgq_version = VARIANTS, getattr(HGQ, '__version__', '?')
    except ImportError:
        variants, hgq_version = VARIANTS[:1], 'none'
    d = np.load(data)
    xtr, ytr = d['xtr'], d['ytr']
    xrep, yrep = np.concatenate([xtr] * epochs), np.concatenate([ytr] * epochs)
    steps = -(-len(xtr) // BATCH)

    times: dict[str, dict[str, list[float]]] = {v: {'epoch_ms': [], 'step_ms': []} for v in variants}
    for _ in range(rounds):
        for v in variants:
            m = build_model(hgq=v != 'float')
            cbs = [FreeBOPs(), ResetMinMax()] if 'FreeBOPs' in v else []
            m.fit(xtr, ytr, batch_size=BATCH, epochs=2, verbose=0, callbacks=cbs)  # tracing
            spe = steps if 'steps_per_epoch' in v else None
            t0 = time.perf_counter()
            m.fit(xtr, ytr, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=cbs, steps_per_epoch=spe)
            t_many = time.perf_counter() - t0
            t0 = time.perf_counter()
            m.fit(xrep, yrep, batch_size=BATCH, epochs=1, verbose=0, callbacks=cbs)
            t_one = time.perf_counter() - t0
            times[v]['epoch_ms'].append((t_many - t_one) / epochs * 1e3)
            times[v]['step_ms'].append(t_one / (epochs * steps) * 1e3)
    print(json.dumps(dict(
        keras=keras.__version__, tf=tf.__version__, hgq=hgq_version, steps=steps,
        med={v: {k: statistics.median(x) for k, x in t.items()} for v, t in times.items()},
    )))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--python', action='append', default=None,
                   help='interpreter to measure in (repeatable; default: this one)')
    p.add_argument('--epochs', type=int, default=60)
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--table', default=None, help='markdown table to append the results to')
    p.add_argument('--note', default='')
    p.add_argument('--worker', nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        _worker(args.worker[0], int(args.worker[1]), int(args.worker[2]))
        return 0
    sys.path.insert(0, str(HERE))
    from vs_peers import digits_npz, run_json

    pythons = args.python or [sys.executable]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / 'digits.npz'
        digits_npz(data)
        results = []
        for py in pythons:
            cmd = [py, str(Path(__file__).resolve()), '--worker', str(data), str(args.epochs), str(args.rounds)]
            try:
                r = run_json(py, cmd)
            except RuntimeError as e:
                print(e, file=sys.stderr)
                return 1
            results.append(r)
            for v, m in r['med'].items():
                print(f"HGQ {r['hgq']:12s} Keras {r['keras']:8s} {v:30s} step {m['step_ms']:.3f} ms   "
                      f"epoch overhead {m['epoch_ms']:.1f} ms")
    if args.table:
        _append(Path(args.table), results, args)
    return 0


def _append(path: Path, results: list[dict], args) -> None:
    new = not path.exists()
    load = os.getloadavg()[0]
    stamp = datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M')
    with path.open('a') as f:
        if new:
            f.write('# Per-step and per-epoch cost of the digits run (`benchmarks/epoch_overhead.py`)\n\n'
                    'Medians over the rounds; per-epoch overhead = (E epochs - the same steps in one epoch) / E.\n\n'
                    '| date (UTC) | machine | HGQ | Keras | TF | variant | step ms | epoch overhead ms '
                    '| epochs x rounds | load | notes |\n|---|---|---|---|---|---|---|---|---|---|---|\n')
        for r in results:
            for v, m in r['med'].items():
                f.write(f"| {stamp} | {platform.machine()} CPU | {r['hgq']} | {r['keras']} | {r['tf']} | {v} | "
                        f"{m['step_ms']:.3f} | {m['epoch_ms']:.1f} | {args.epochs} x {args.rounds} | {load:.1f} | "
                        f'{args.note} |\n')


if __name__ == '__main__':
    sys.exit(main())
