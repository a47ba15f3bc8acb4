"""`hgq demo`: train an HGQ model on scikit-learn's digits for a range of resource budgets, keep the Pareto front,
re-trace it, convert every front model to hls4ml, check the C simulation bit for bit and write the report."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from typing import Any

import numpy as np

from ._common import (
    HLS_PROJECT,
    CLIError,
    compile_all,
    compile_error,
    concat,
    hls_compare,
    hls_convert,
    open_log,
    predict,
    prepare_output_dir,
    quiet,
    require,
    require_hls4ml,
    require_matplotlib,
    write_json,
)

SUMMARY = 'summary.json'
CHECKPOINTS = 'checkpoints'
DATA = 'data'
_OWNED = (CHECKPOINTS, DATA, HLS_PROJECT, SUMMARY, 'report.html', 'pareto.png', 'history.png', 'layer_ebops.png',
          'bitwidths.png', 'hgq.log')
ARCHITECTURE = 'HQuantize → HDense(32, relu) → HDense(16, relu) → HDense(10)'

DEFAULT_EPOCHS = 60
DEFAULT_BETA_START = 3e-6
DEFAULT_BETA_END = 5e-4
DEFAULT_MAX_CONVERT = 6
WHAT = 'hgq demo'
CHOSEN_RULE = 'the smallest-EBOPs model within {tol:g} test accuracy of the best one'


def digits(seed: int):
    """scikit-learn's 8x8 digits (bundled, no download) scaled to [0, 1]: 65 % training, 15 % validation, 20 %
    test, split at random with ``seed``."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    y = y.astype(np.int64)
    idx = np.random.default_rng(seed).permutation(len(x))
    n_test, n_val = int(round(0.2 * len(x))), int(round(0.15 * len(x)))
    te, va, tr = idx[:n_test], idx[n_test : n_test + n_val], idx[n_test + n_val :]
    return (x[tr], y[tr]), (x[va], y[va]), (x[te], y[te])


def build_model(n_in: int, n_classes: int, beta: float):
    import keras

    from HGQ import HDense, HQuantize

    return keras.Sequential(
        [
            keras.Input((n_in,), name='pixels'),
            HQuantize(beta=beta, name='inp_q'),
            HDense(32, activation='relu', beta=beta, name='dense1'),
            HDense(16, activation='relu', beta=beta, name='dense2'),
            HDense(n_classes, beta=beta, name='logits'),
        ],
        name='hgq_digits',
    )


def beta_schedule(epochs: int, b0: float, b1: float):
    """``b0`` for the first eighth of the epochs (warm-up), then geometrically up to ``b1`` at the last epoch."""
    from HGQ import PieceWiseSchedule

    warm = epochs // 8
    last = epochs - 1
    if last <= warm:
        return PieceWiseSchedule([(0, b0, 'log'), (max(1, last), b1, 'constant')])
    points = [(0, b0, 'constant')] if warm > 0 else []
    return PieceWiseSchedule(points + [(warm, b0, 'log'), (last, b1, 'constant')])


def _accuracy(model, x, y) -> float:
    return float(np.mean(np.argmax(predict(model, x), axis=-1) == y))


def _stress_inputs(x_test: np.ndarray, seed: int) -> np.ndarray:
    """The test images, the test images times 4 and uniform random values in [-8, 8]: most of the latter two leave
    the traced ranges, so they check that the firmware overflows (wraps) exactly as the proxy does."""
    rng = np.random.default_rng(seed + 1)
    return concat([x_test, 4 * x_test, rng.uniform(-8, 8, x_test.shape).astype(np.float32)])


def _pick_converted(order: list[int], chosen: int, cap: int) -> list[int]:
    """At most ``cap`` front models to convert, always the chosen one, the others spread evenly over EBOPs."""
    if cap <= 0 or len(order) <= cap:
        return list(order)
    others = [i for i in order if i != chosen]
    k = cap - 1
    picks = {chosen}
    if k > 0:
        pos = np.linspace(0, len(others) - 1, k)
        picks.update(others[int(round(p))] for p in pos)
    return [i for i in order if i in picks]


def run(args) -> int:
    """`hgq demo`: train, re-trace the Pareto front, convert and check, write the report; 0 when all bit-exact."""
    t_start = time.perf_counter()
    _check_demo_args(args)
    from HGQ.report import write_demo_report
    out_dir = prepare_output_dir(args.output_dir, _OWNED)
    data = digits(args.seed)
    _save_data(out_dir, data)
    timing: dict[str, float] = {}
    log = open_log(out_dir)
    try:
        with _timed(timing, 'training'):
            pareto, history = _train(args, data, out_dir, log)
        with _timed(timing, 'retrace'):
            front, dropped, chosen = _retrace_front(args, pareto, data, out_dir, log)
        with _timed(timing, 'hls4ml'):
            note, n_checked = _convert_front(args, front, chosen, data[2][0], out_dir, log)
        with _timed(timing, 'report'):
            summary = _demo_summary(args, data, front, dropped, chosen, note, n_checked, history)
            with quiet(log):
                write_demo_report(out_dir, summary, summary.pop('_chosen_layers'), history)
        timing['total'] = time.perf_counter() - t_start
        summary['seconds'] = {k: round(v, 1) for k, v in timing.items()}
        write_json(os.path.join(out_dir, SUMMARY), summary)
    finally:
        log.close()
    _print_table(summary, out_dir)
    return 0 if summary['bit_exact'] else 1


@contextlib.contextmanager
def _timed(timing: dict[str, float], key: str):
    t0 = time.perf_counter()
    yield
    timing[key] = time.perf_counter() - t0


def _check_demo_args(args) -> None:
    if args.beta_end < args.beta_start:
        raise CLIError(f'--beta-end ({args.beta_end:g}) must be >= --beta-start ({args.beta_start:g})')
    require('sklearn', WHAT, "pip install scikit-learn (or pip install 'hgq-core[demo]')")
    require_hls4ml(WHAT)
    require_matplotlib(WHAT)


def _save_data(out_dir: str, data) -> None:
    (x_tr, _), _, (x_te, y_te) = data
    os.makedirs(os.path.join(out_dir, DATA), exist_ok=True)
    np.save(os.path.join(out_dir, DATA, 'calib.npy'), x_tr)
    np.save(os.path.join(out_dir, DATA, 'test.npy'), x_te)
    np.save(os.path.join(out_dir, DATA, 'test_labels.npy'), y_te)


def _train(args, data, out_dir: str, log):
    """Trains the demo model over the beta ramp; returns the `ParetoFront` callback and the history."""
    import keras

    from HGQ import BetaScheduler, FreeBOPs, ParetoFront, PBar, ResetMinMax

    (x_tr, y_tr), (x_va, y_va), _ = data
    keras.utils.set_random_seed(args.seed)
    model = build_model(x_tr.shape[1], 10, args.beta_start)
    model.compile(keras.optimizers.Adam(args.learning_rate),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=['accuracy'])
    pareto = ParetoFront(os.path.join(out_dir, CHECKPOINTS), metrics=['val_accuracy', 'bops'], sides=[1, -1],
                         fname_format='epoch{epoch:04d}.keras')
    print(f'{WHAT}: training {ARCHITECTURE} on {len(x_tr)} digits for {args.epochs} epochs, beta '
          f'{args.beta_start:.1e} -> {args.beta_end:.1e}', file=sys.stderr, flush=True)
    callbacks = [BetaScheduler(beta_schedule(args.epochs, args.beta_start, args.beta_end)), FreeBOPs(), pareto,
                 ResetMinMax(), PBar('train {accuracy:.3f} val {val_accuracy:.3f}', leave=True)]
    with quiet(log):
        hist = model.fit(x_tr, y_tr, validation_data=(x_va, y_va), epochs=args.epochs,
                         batch_size=args.batch_size, verbose=0, callbacks=callbacks)
    if not pareto.front:
        raise RuntimeError('ParetoFront kept no checkpoint (every epoch had a NaN metric?)')
    return pareto, {k: [float(v) for v in vs] for k, vs in hist.history.items()}


def _retrace_front(args, pareto, data, out_dir: str, log):
    """Re-traces every kept checkpoint (exact EBOPs, test accuracy of the proxy); returns the front sorted by
    EBOPs, the checkpoints the exact numbers dominate, and the index of the chosen model."""
    from tqdm.auto import tqdm

    from HGQ.report import choose, non_dominated

    cands = [_retrace(entry, data, out_dir, log)
             for entry in tqdm(pareto.front, desc='re-trace front (exact EBOPs)', unit='model', leave=False)]
    keep = non_dominated([(c['accuracy'], c['ebops']) for c in cands], sides=[1, -1])
    front = sorted((cands[i] for i in keep), key=lambda c: (c['ebops'], -c['accuracy']))
    dropped = [c for i, c in enumerate(cands) if i not in keep]
    return front, dropped, choose(front, args.accuracy_tolerance)


def _retrace(entry: dict, data, out_dir: str, log) -> dict:
    import keras

    from HGQ import to_proxy_model, trace_minmax

    (x_tr, _), _, (x_te, y_te) = data
    with quiet(log):
        m = keras.models.load_model(entry['path'], compile=False)
        ebops = float(trace_minmax(m, x_tr, verbose=False))
        proxy = to_proxy_model(m, aggressive=True)
        acc, acc_hgq = _accuracy(proxy, x_te, y_te), _accuracy(m, x_te, y_te)
    logs = entry['logs']
    return {
        'epoch': int(entry['epoch']), 'beta': float(logs.get('beta', float('nan'))), 'accuracy': acc,
        'ebops': ebops, 'csim_equal': None, 'csim_total': None,
        'checkpoint': os.path.relpath(entry['path'], out_dir), 'val_accuracy': float(logs['val_accuracy']),
        'training_ebops': float(logs['bops']), 'hgq_accuracy': acc_hgq, 'converted': False,
        '_model': m, '_proxy': proxy,
    }


def _convert_front(args, front: list[dict], chosen: int, x_test: np.ndarray, out_dir: str, log):
    """Converts (at most ``--max-convert``) front models with hls4ml, compiles them and counts C-sim == proxy;
    returns the note on models not converted and the number of samples compared."""
    from tqdm.auto import tqdm

    to_convert = _pick_converted(list(range(len(front))), chosen, args.max_convert)
    x_check = _stress_inputs(x_test, args.seed)
    note = None
    if len(to_convert) < len(front):
        note = (f'{len(front)} models on the front; {len(to_convert)} converted (--max-convert '
                f'{args.max_convert}): the chosen one and others spread over the EBOPs range.')
        print(f'{WHAT}: {note}', file=sys.stderr, flush=True)
    tmp = tempfile.mkdtemp(prefix='hgq_demo_hls_')
    try:
        bar = tqdm(total=len(to_convert), desc=f'hls4ml convert + compile ({args.backend}, {args.io_type})',
                   unit='model')
        with quiet(log):
            hls_models = {}
            for i in to_convert:
                prj = (os.path.join(out_dir, HLS_PROJECT) if i == chosen
                       else os.path.join(tmp, f'epoch{front[i]["epoch"]}'))
                hls_models[i] = hls_convert(front[i]['_proxy'], args.backend, args.io_type, prj)
            for i, err in compile_all(hls_models, args.jobs):
                if err is not None:
                    raise compile_error(err, out_dir)
                count = hls_compare(front[i]['_proxy'], hls_models[i], x_check)
                front[i].update(csim_equal=count.equal, csim_total=count.total, converted=True)
                bar.update(1)
                bar.set_postfix_str(f'epoch {front[i]["epoch"]}: {count}')
        bar.close()
        del hls_models
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return note, len(x_check)


def _demo_summary(args, data, front, dropped, chosen, note, n_checked, history) -> dict[str, Any]:
    """The content of summary.json (its keys are documented in the README); ``_chosen_layers`` is popped by the
    caller."""
    from HGQ.report import layer_bits, versions
    from HGQ.report.summary import command_line

    (x_tr, _), (x_va, _), (x_te, _) = data
    chosen_layers = layer_bits(front[chosen]['_model'])
    for c in front + dropped:
        c.pop('_model')
        c.pop('_proxy')
    converted = [c for c in front if c['converted']]
    n_exact = sum(c['csim_equal'] == c['csim_total'] for c in converted)
    settings = {
        'architecture': ARCHITECTURE, 'epochs': args.epochs, 'batch_size': args.batch_size,
        'learning_rate': args.learning_rate, 'beta_start': args.beta_start, 'beta_end': args.beta_end,
        'seed': args.seed, 'backend': args.backend, 'io_type': args.io_type,
        'accuracy_tolerance': args.accuracy_tolerance, 'max_convert': args.max_convert, 'jobs': args.jobs,
    }
    dataset = {'name': 'sklearn.datasets.load_digits', 'n_train': len(x_tr), 'n_val': len(x_va), 'n_test': len(x_te),
               'calib': f'{DATA}/calib.npy', 'test': f'{DATA}/test.npy', 'test_labels': f'{DATA}/test_labels.npy'}
    return {
        'tool': WHAT, 'schema_version': 1, 'command': command_line(args.argv), 'settings': settings,
        'dataset': dataset, 'pareto': front, 'chosen': chosen,
        'chosen_rule': CHOSEN_RULE.format(tol=args.accuracy_tolerance),
        'bit_exact': n_exact == len(converted), 'n_converted': len(converted), 'n_bit_exact': n_exact,
        'compare_samples': n_checked, 'not_converted_note': note, 'dropped_after_retrace': dropped,
        'hls_project': HLS_PROJECT, 'layers': [lb.as_dict() for lb in chosen_layers], 'history': history,
        'versions': versions(), '_chosen_layers': chosen_layers,
    }


def _print_table(s: dict[str, Any], out_dir: str) -> None:
    front, chosen = s['pareto'], s['chosen']
    print(f"\nPareto front ({len(front)} models; accuracy on {s['dataset']['n_test']} test digits, exact EBOPs; "
          f"C simulation vs proxy on {s['compare_samples']} inputs incl. out-of-range ones):")
    print(f"{'':2}{'#':>3} {'epoch':>5} {'beta':>9} {'test acc':>8} {'EBOPs':>9}   C sim == proxy")
    for i, c in enumerate(front):
        if c['converted']:
            ok = c['csim_equal'] == c['csim_total']
            res = f"{c['csim_equal']}/{c['csim_total']} {'bit-exact' if ok else 'MISMATCH'}"
        else:
            res = 'not converted'
        mark = '*' if i == chosen else ' '
        print(f"{mark:2}{i:>3} {c['epoch']:>5} {c['beta']:>9.2e} {c['accuracy']:>8.4f} {c['ebops']:>9,.0f}   {res}")
    c = front[chosen]
    print(f"* chosen ({s['chosen_rule']}): epoch {c['epoch']}, test accuracy {c['accuracy']:.4f}, "
          f"{c['ebops']:,.0f} EBOPs")
    if s['dropped_after_retrace']:
        print('dropped after re-tracing (dominated): epochs '
              f"{', '.join(str(d['epoch']) for d in s['dropped_after_retrace'])}")
    if s.get('not_converted_note'):
        print(s['not_converted_note'])
    status = 'BIT-EXACT' if s['bit_exact'] else 'MISMATCH'
    print(f"{status}: {s['n_bit_exact']}/{s['n_converted']} converted models bit-exact")
    print(f'hls4ml project of the chosen model: {os.path.join(out_dir, HLS_PROJECT)}')
    print(f"report: {os.path.join(out_dir, 'report.html')}   summary: {os.path.join(out_dir, SUMMARY)}   "
          f"({s['seconds']['total']:.0f} s)")
