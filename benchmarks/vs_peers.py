"""The same training in this project, HGQ1 and HGQ2: wall time of ``fit``, final EBOPs and accuracy.

scikit-learn's bundled digits (8x8, first 1437 images to train, the other 360 to test, pixels / 16), an MLP
64-32-10 with a quantized input, Adam, batch 64, a log beta ramp (1e-6 -> 1e-4), ``--epochs`` epochs (300 by
default). Each tool runs in its own subprocess and virtualenv:

    this project   /work/venv          peers/digits_hgq1_api.py (HGQ1's API, which this project also runs)
    HGQ1 0.2.6     /work/peer-hgq1     peers/digits_hgq1_api.py
    HGQ2 0.2.0     /work/peer-hgq2     peers/digits_hgq2.py (HGQ2's API; make the venv with
                                       ../shared/peers/make-venv.sh hgq2 /work/peer-hgq2)

The tools alternate within each round (the order rotates from round to round), ``--rounds`` rounds; the medians
are appended to benchmarks/results/vs_peers.md.

    python benchmarks/vs_peers.py --rounds 3 --epochs 300
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOOLS = {
    'this project': ('/work/venv/bin/python', HERE / 'peers' / 'digits_hgq1_api.py'),
    'HGQ1': ('/work/peer-hgq1/bin/python', HERE / 'peers' / 'digits_hgq1_api.py'),
    'HGQ2': ('/work/peer-hgq2/bin/python', HERE / 'peers' / 'digits_hgq2.py'),
}


def digits_npz(path: Path) -> None:
    import numpy as np
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    np.savez(path, xtr=x[:1437], ytr=y[:1437], xte=x[1437:], yte=y[1437:])


def run_json(what: str, cmd: list[str]) -> dict:
    """Runs ``cmd`` (an interpreter of another venv and its arguments) on TensorFlow with nothing of this venv on
    the path; returns the last JSON line it printed (RuntimeError with its output if it failed)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', KERAS_BACKEND='tensorflow', PYTHONPATH='')
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith('{')]
    if p.returncode != 0 or not lines:
        raise RuntimeError(f'{what} failed (rc {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}')
    return json.loads(lines[-1])


def run_one(tool: str, data: Path, epochs: int, seed: int) -> dict:
    py, script = TOOLS[tool]
    t0 = time.perf_counter()
    out = run_json(tool, [py, str(script), str(data), str(epochs), str(seed)])
    out['process_s'] = time.perf_counter() - t0
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--epochs', type=int, default=300)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--tools', default=','.join(TOOLS))
    ap.add_argument('--table', default=str(HERE / 'results' / 'vs_peers.md'))
    ap.add_argument('--note', default='')
    args = ap.parse_args(argv)
    tools = [t for t in args.tools.split(',') if t]
    results: dict[str, list[dict]] = {t: [] for t in tools}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / 'digits.npz'
        digits_npz(data)
        for r in range(args.rounds):
            order = tools[r % len(tools) :] + tools[: r % len(tools)]
            for t in order:
                res = run_one(t, data, args.epochs, seed=r)
                results[t].append(res)
                loads.append(os.getloadavg()[0])
                line = f'round {r} {t:>12}: fit {res["fit_s"]:.1f} s, EBOPs {res["ebops"]:.0f}, acc {res["acc"]:.3f}'
                print(line, flush=True)
    load = statistics.mean(loads)
    date = datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M')
    path = Path(args.table)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            '# Digits MLP 64-32-10: this project vs HGQ1 and HGQ2\n\n'
            'Wall time of `fit` (first-epoch tracing included), final EBOPs (`trace_minmax` on the training set) and '
            'test accuracy; median over the rounds (each tool in its own subprocess, alternated), CPU only.\n\n'
            '| date (UTC) | tool | versions | epochs | rounds | fit s (median) | fit s (all) | s/epoch '
            '| EBOPs (median) | accuracy (median) | peak RSS MB | load | notes |\n'
            '|---|---|---|---|---|---|---|---|---|---|---|---|---|\n'
        )
    with path.open('a') as f:
        for t in tools:
            rs = results[t]
            fit = statistics.median(r['fit_s'] for r in rs)
            all_fit = ', '.join(f"{r['fit_s']:.1f}" for r in rs)
            f.write(
                f'| {date} | {t} | {rs[0]["tool"]}, keras {rs[0]["keras"]}, TF {rs[0]["tf"]} | {args.epochs} | '
                f'{len(rs)} | {fit:.1f} | {all_fit} | {fit / args.epochs:.3f} | '
                f'{statistics.median(r["ebops"] for r in rs):.0f} | {statistics.median(r["acc"] for r in rs):.3f} | '
                f'{statistics.median(r["rss_mb"] for r in rs):.0f} | {load:.1f} | {args.note} |\n'
            )
    print(path.read_text())
    return 0


if __name__ == '__main__':
    sys.exit(main())
