"""Exactness counts: QKeras vs proxy, proxy vs hls4ml C simulation, and hls4ml's own QKeras path vs QKeras.

Run ``python -m hgq_qkeras.exactness`` for a table over the example models (``--help`` for options). The
C-simulation columns need the optional extra ``hgq-qkeras-bridge[hls4ml]`` (hls4ml and hgq-hls4ml-plugin); the
bridge reaches the plugin only through hls4ml.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import warnings
from importlib.metadata import entry_points

import numpy as np

from HGQ.utils.exactness import count_equal

COMBOS = (('Vivado', 'io_parallel'), ('Vivado', 'io_stream'), ('Vitis', 'io_parallel'), ('Vitis', 'io_stream'))


def qkeras_outputs(qmodel, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """QKeras's inference outputs, computed eagerly (``model(x, training=False)``).

    Eager calls are QKeras's reference semantics: qkeras-v3's QBatchNormalization gives 1-ulp different values in
    graph mode (``model.predict``) because TensorFlow's constant folding recomputes its scale.
    """
    import keras

    outs = []
    for i in range(0, len(x), batch_size):
        y = qmodel(keras.ops.convert_to_tensor(x[i:i + batch_size]), training=False)
        outs.append(np.asarray(keras.ops.convert_to_numpy(y) if not hasattr(y, 'numpy') else y.numpy()))
    return np.concatenate(outs)


def proxy_outputs(proxy, x: np.ndarray) -> np.ndarray:
    return np.asarray(proxy.predict(x, verbose=0, batch_size=256))


USELESS_PRECISION = 'fixed<1,0>'
"""Default precision of the C-simulation conversions: any type the plugin fails to set breaks the result."""


def csim_outputs(proxy, x: np.ndarray, backend: str, io_type: str, output_dir: str | None = None) -> np.ndarray:
    """Outputs of the hls4ml C simulation of ``proxy`` (plugin path, default precision ``fixed<1,0>``).

    Needs the optional extra ``hgq-qkeras-bridge[hls4ml]`` (hls4ml and hgq-hls4ml-plugin). The bridge never
    imports the plugin: hls4ml loads it through its ``hls4ml.backends`` entry point.
    """
    _require_plugin()
    import hls4ml

    output_dir = output_dir or tempfile.mkdtemp(prefix='hgq_qk_')
    hls_model = hls4ml.converters.convert_from_keras_model(
        proxy, hls_config={'Model': {'Precision': USELESS_PRECISION, 'ReuseFactor': 1}}, io_type=io_type,
        backend=backend, output_dir=output_dir, allow_da_fallback=False,
    )
    hls_model.compile()
    return np.asarray(hls_model.predict(np.ascontiguousarray(x, dtype=np.float32)))


def _require_plugin() -> None:
    if not any(ep.name == 'hgq' for ep in entry_points().select(group='hls4ml.backends')):
        raise ModuleNotFoundError(
            'hgq_qkeras.exactness: the C-simulation counts need hls4ml and hgq-hls4ml-plugin: '
            'pip install "hgq-qkeras-bridge[hls4ml]".'
        )


def hls4ml_native_outputs(qmodel, x: np.ndarray, backend: str, io_type: str, output_dir: str | None = None):
    """Outputs of hls4ml's own QKeras path (`hgq_qkeras.hls4ml_qkeras`) in C simulation.

    Warnings raised inside hls4ml's path are hls4ml's and tf_keras's, so they are silenced here (a test run that
    turns warnings into errors would otherwise measure nothing).
    """
    from .hls4ml_qkeras import convert_with_hls4ml

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        hls_model = convert_with_hls4ml(qmodel, backend, io_type, output_dir or tempfile.mkdtemp(prefix='hls4ml_qk_'))
        hls_model.compile()
        return np.asarray(hls_model.predict(np.ascontiguousarray(x, dtype=np.float32)))


def _guard(fn, *args) -> str:
    try:
        return str(fn(*args))
    except Exception as exc:  # report, keep going
        return f'error: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}'


def report(names: list[str] | None, combos, n: int, native: bool) -> list[dict]:
    """Exactness rows for the examples ``names`` (all available if None)."""
    from . import to_proxy_model
    from .examples import available_examples

    rows = []
    for ex in available_examples():
        if names and ex.name not in names:
            continue
        qmodel = ex.build()
        x = ex.inputs(qmodel, n)
        ref = qkeras_outputs(qmodel, x)
        proxy = to_proxy_model(qmodel)
        py = proxy_outputs(proxy, x)
        row = {'model': ex.name, 'qkeras_vs_proxy': str(count_equal(ref, py))}
        for backend, io in combos:
            row[f'csim {backend}/{io}'] = _guard(lambda: count_equal(py, csim_outputs(proxy, x, backend, io)))
            if native:
                row[f'hls4ml-qkeras {backend}/{io}'] = _guard(
                    lambda: count_equal(ref, hls4ml_native_outputs(qmodel, x, backend, io)))
        rows.append(row)
        print(' | '.join(f'{k}: {v}' for k, v in row.items()), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command line: prints exactness counts per example model."""
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    parser = argparse.ArgumentParser(prog='python -m hgq_qkeras.exactness', description=__doc__)
    parser.add_argument('models', nargs='*', help='example names (default: all)')
    parser.add_argument('-n', type=int, default=256, help='input samples per model')
    parser.add_argument('--combos', default='Vivado/io_parallel',
                        help="comma-separated backend/io_type pairs, or 'all' (default Vivado/io_parallel)")
    parser.add_argument('--hls4ml-native', action='store_true', help="also run hls4ml's own QKeras path (QKeras 0.9)")
    args = parser.parse_args(argv)
    combos = COMBOS if args.combos == 'all' else [tuple(c.split('/')) for c in args.combos.split(',') if c]
    report(args.models or None, combos, args.n, args.hls4ml_native)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
