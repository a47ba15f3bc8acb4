"""Train an HGQ model, convert it to hls4ml and check that the firmware is bit-exact: the steps as a plain script.

The `hgq demo` command (the README's quick start) does the same for a whole Pareto front of models, with a
report; this script shows the API calls one by one. Runs on scikit-learn's 8x8 handwritten digits (no download):

    python examples/quickstart.py                       # Vivado, io_parallel
    python examples/quickstart.py --io-type io_stream --backend Vitis --epochs 30 --beta 3e-6

Steps: HQuantize -> HDense(relu) -> HDense(relu) -> HDense, trained with a BOPs penalty; `trace_minmax`
on the training data; `to_proxy_model`; `hls4ml.converters.convert_from_keras_model` with a useless
default precision (the hgq-hls4ml-plugin sets every type); C simulation compared element by element.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import keras  # noqa: E402
import numpy as np  # noqa: E402

from HGQ import FreeBOPs, HDense, HQuantize, ResetMinMax, to_proxy_model, trace_minmax  # noqa: E402


def load_digits_data(seed: int = 0):
    """scikit-learn's digits, scaled to [0, 1), split 80/20."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))
    n_train = int(0.8 * len(x))
    tr, te = idx[:n_train], idx[n_train:]
    return x[tr], y[tr], x[te], y[te]


def build_model(n_in: int, n_classes: int, beta: float) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((n_in,), name='pixels'),
            HQuantize(beta=beta, name='inp_q'),
            HDense(32, activation='relu', beta=beta, name='dense1'),
            HDense(16, activation='relu', beta=beta, name='dense2'),
            HDense(n_classes, beta=beta, name='logits'),
        ]
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--epochs', type=int, default=20)
    parser.add_argument('--beta', type=float, default=1e-6, help='BOPs regularization strength')
    parser.add_argument('--io-type', default='io_parallel', choices=['io_parallel', 'io_stream'])
    parser.add_argument('--backend', default='Vivado', choices=['Vivado', 'Vitis'])
    parser.add_argument('--output-dir', default=None, help='hls4ml project directory (default: a temporary one)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)

    import hls4ml  # the plugin registers itself here, through its entry point

    keras.utils.set_random_seed(args.seed)
    x_tr, y_tr, x_te, y_te = load_digits_data(args.seed)
    model = build_model(x_tr.shape[1], 10, args.beta)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=['accuracy'])
    t0 = time.perf_counter()
    model.fit(x_tr, y_tr, epochs=args.epochs, batch_size=64, verbose=0, callbacks=[FreeBOPs(), ResetMinMax()])
    print(f'trained {args.epochs} epochs in {time.perf_counter() - t0:.1f} s')

    bops = trace_minmax(model, x_tr, verbose=True)
    acc = float(np.mean(np.argmax(model.predict(x_te, verbose=0), -1) == y_te))
    print(f'HGQ model: test accuracy {acc:.4f}, exact BOPs {bops:.0f}')

    proxy = to_proxy_model(model, aggressive=True)
    # on the calibration data no value leaves its traced range, so the proxy reproduces the HGQ model exactly
    same = np.array_equal(model.predict(x_tr, verbose=0), proxy.predict(x_tr, verbose=0))
    print(f'proxy model == HGQ model on the calibration data: {same}')
    agree = float(np.mean(
        np.argmax(proxy.predict(x_te, verbose=0), -1) == np.argmax(model.predict(x_te, verbose=0), -1)
    ))
    print(f'proxy vs HGQ model on test data: {agree:.4f} argmax agreement (values outside the traced range wrap)')

    out_dir = args.output_dir or tempfile.mkdtemp(prefix='hgq_quickstart_')
    hls_model = hls4ml.converters.convert_from_keras_model(
        proxy,
        hls_config={'Model': {'Precision': 'fixed<1,0>', 'ReuseFactor': 1}},
        io_type=args.io_type,
        backend=args.backend,
        output_dir=out_dir,
    )
    hls_model.compile()
    # test data plus inputs far outside the calibration range (overflow must match too)
    x_check = np.concatenate([x_te, np.random.default_rng(1).uniform(-4, 4, x_te.shape).astype(np.float32)])
    p = proxy.predict(x_check, verbose=0)
    h = np.asarray(hls_model.predict(x_check)).reshape(p.shape)
    n_eq = int(np.sum(p == h))
    print(f'hls4ml C simulation ({args.backend}, {args.io_type}) == proxy: {n_eq}/{p.size} outputs equal')
    print(f'HLS project written to {out_dir}')
    ok = same and n_eq == p.size
    print('BIT-EXACT' if ok else 'MISMATCH')
    return 0 if ok else 1


if __name__ == '__main__':
    raise SystemExit(main())
