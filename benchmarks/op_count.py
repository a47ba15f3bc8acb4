"""Number of TensorFlow ops in one training step, as traced and after TensorFlow's graph optimizer (grappler), split
by where they come from (forward layers, autodiff gradients, custom gradients and losses, optimizer), per variant of
`profile_step.py` (the same patches).

Unlike timings, op counts do not depend on the load of the machine. In TensorFlow's graph executor (no XLA) every op
costs a roughly fixed dispatch overhead (about 2.5-3 us per op on the shared 2-core CPU, measured: profile.md section
9), which dominates the steps of models this small. The optimized count is the one the executor runs: grappler
removes identities and no-op broadcasts, folds constants and merges common subexpressions (offline, with the default
options; the runtime also fuses a few MatMul + BiasAdd (+ Relu) pairs for oneDNN, not counted here).

    python benchmarks/op_count.py --model digits
    python benchmarks/op_count.py --model mlp --variants float,hgq,no_bops
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import sys

os.environ['KERAS_BACKEND'] = 'tensorflow'
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, 'peers'))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import profile_step as ps  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.core.protobuf import config_pb2  # noqa: E402
from tensorflow.python.grappler import tf_optimizer  # noqa: E402
from train_step import BATCH_OF, make_data, make_float, make_hgq  # noqa: E402

FREE = {'Const', 'NoOp', 'Placeholder', '_Arg', '_Retval'}
PARTS = ('forward', 'autodiff gradients', 'custom gradients, losses, metrics', 'optimizer')
ASSIGNS = ('AssignVariableOp', 'AssignAddVariableOp', 'AssignSubVariableOp')


def _digits(hgq: bool):
    from digits_hgq1_api import BATCH, build_model

    rng = np.random.default_rng(0)
    x, y = rng.random((BATCH * 2, 64)).astype('float32'), rng.integers(0, 10, BATCH * 2)
    return build_model(hgq), x, y, BATCH


def _model(kind: str, variant: str):
    float_model = variant.startswith('float')
    if kind == 'digits':
        return _digits(not float_model)
    x, y = make_data(kind, 2)
    m = make_float(kind) if float_model else make_hgq(kind)
    m.compile(keras.optimizers.Adam(1e-3), 'mse')
    return m, x, y, BATCH_OF[kind]


def _part(name: str, model_scope: str) -> str:
    low = name.lower()
    if 'adam' in low or 'optimizer' in low:
        return 'optimizer'
    if 'gradient' in low:
        return 'autodiff gradients'
    top = name.split('/')[0]
    if '/' in name and (top == model_scope or top.startswith(model_scope + '_')):  # Keras numbers the model's scope
        return 'forward'
    return 'custom gradients, losses, metrics'


def count(kind: str, variant: str) -> dict[str, dict[str, int]]:
    """``{'traced': {part: n}, 'optimized': {part: n}}`` for one training step of ``kind`` in ``variant``."""
    keras.utils.set_random_seed(0)
    m, x, y, b = _model(kind, variant)
    if variant == 'hgq_fast_bops':
        ctx = ps.fast_bops_patch()
    else:
        ctx = ps.PATCHES[variant]() if variant in ps.PATCHES else contextlib.nullcontext()
    spec = (tf.TensorSpec((b,) + x.shape[1:]), tf.TensorSpec((b,) + y.shape[1:], dtype=tf.as_dtype(y.dtype)))
    with ctx:
        m.fit(x, y, batch_size=b, epochs=1, verbose=0)
        fn = tf.function(m.train_step).get_concrete_function(spec)
    graph = fn.graph
    traced: collections.Counter = collections.Counter()
    for op in graph.get_operations():
        if op.type not in FREE:
            traced[_part(op.name, m.name)] += 1
    meta = tf.compat.v1.train.export_meta_graph(graph_def=graph.as_graph_def(), graph=graph)
    fetch = meta.collection_def['train_op'].node_list.value
    fetch.extend(t.name for t in fn.outputs)
    fetch.extend(op.name for op in graph.get_operations() if op.type in ASSIGNS)
    optimized_graph = tf_optimizer.OptimizeGraph(config_pb2.ConfigProto(), meta)
    optimized: collections.Counter = collections.Counter()
    for node in optimized_graph.node:
        if node.op not in FREE and node.op != 'Identity':
            optimized[_part(node.name, m.name)] += 1
    return {'traced': dict(traced), 'optimized': dict(optimized)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='digits', choices=('digits', 'mlp', 'cnn'))
    ap.add_argument('--variants', default='float,hgq,no_bops,no_record,no_quant,hgq_fast_bops')
    args = ap.parse_args(argv)
    print(f'# {args.model}: TensorFlow ops per training step, traced -> after grappler (Const/Placeholder/NoOp and, '
          'after grappler, Identity not counted)')
    print(f'| variant | total | {" | ".join(PARTS)} |')
    print('|---|---|' + '---|' * len(PARTS))
    for v in args.variants.split(','):
        c = count(args.model, v)
        cells = [f'{sum(c["traced"].values())} -> {sum(c["optimized"].values())}']
        cells += [f'{c["traced"].get(p, 0)} -> {c["optimized"].get(p, 0)}' for p in PARTS]
        print(f'| {v} | {" | ".join(cells)} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
