"""Number of TensorFlow graph ops in one training step (forward, gradient, optimizer), per variant of
`profile_step.py` (the same patches). Unlike timings, op counts do not depend on the load of the machine; in
TensorFlow's graph executor (no XLA) every op costs a roughly fixed dispatch overhead, which dominates steps of
models this small.

    python benchmarks/op_count.py --model mlp
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import sys

os.environ['KERAS_BACKEND'] = 'tensorflow'
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import profile_step as ps  # noqa: E402
import tensorflow as tf  # noqa: E402
from train_step import BATCH_OF, make_data, make_float, make_hgq  # noqa: E402

FREE = {'Const', 'NoOp', 'Placeholder'}


def count(kind: str, variant: str) -> dict[str, int]:
    x, y = make_data(kind, 1)
    b = BATCH_OF[kind]
    m = make_float(kind) if variant.startswith('float') else make_hgq(kind)
    m.compile(keras.optimizers.Adam(1e-3), 'mse')
    if variant == 'hgq_fast_bops':
        ctx = ps.fast_bops_patch()
    else:
        ctx = ps.PATCHES[variant]() if variant in ps.PATCHES else contextlib.nullcontext()
    spec = (tf.TensorSpec((b,) + x.shape[1:]), tf.TensorSpec((b,) + y.shape[1:]))
    with ctx:
        m.fit(x, y, batch_size=b, epochs=1, verbose=0)
        graph = tf.function(m.train_step).get_concrete_function(spec).graph
    parts: collections.Counter = collections.Counter()
    for op in graph.get_operations():
        if op.type in FREE:
            continue
        name = op.name.lower()
        if 'gradient' in name:
            parts['gradient'] += 1
        elif 'adam' in name or 'optimizer' in name or 'assign' in op.type.lower() and 'iteration' in name:
            parts['optimizer'] += 1
        else:
            parts['forward+other'] += 1
    parts['total'] = sum(parts.values())
    return dict(parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='mlp', choices=('mlp', 'cnn'))
    args = ap.parse_args(argv)
    variants = ['float', 'hgq', 'hgq_prev_quant', 'no_bops', 'no_record', 'no_quant', 'hgq_fast_bops',
                'skip_noop_broadcast']
    print(f'# {args.model}: ops per training step (Const/Placeholder/NoOp not counted)')
    print(f'{"variant":>15} {"total":>6} {"forward+other":>14} {"gradient":>9} {"optimizer":>10}')
    for v in variants:
        c = count(args.model, v)
        fwd, grad, opt = c.get('forward+other', 0), c.get('gradient', 0), c.get('optimizer', 0)
        print(f'{v:>15} {c["total"]:>6} {fwd:>14} {grad:>9} {opt:>10}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
