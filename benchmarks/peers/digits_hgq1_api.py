"""The digits run in HGQ1's API (``import HGQ``): runs with HGQ1 0.2.6 (Keras 2) and with this project (Keras 3).

MLP 64 -> HQuantize -> HDense(32, relu) -> HDense(10), Adam(lr), batch 64, a log beta ramp (one value per epoch,
set on every layer's ``beta`` variable), FreeBOPs + ResetMinMax. Prints one JSON line: the wall time of ``fit``,
the final EBOPs (``trace_minmax`` on the training set) and the test accuracy.

    python digits_hgq1_api.py DATA.npz EPOCHS [SEED]
"""

import json
import os
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

try:  # Keras 3 (this project) or Keras 2 (HGQ1, through tf.keras)
    import keras

    if not hasattr(keras, 'Sequential'):
        raise ImportError
except ImportError:  # pragma: no cover
    keras = tf.keras

BETA0, BETA1, BATCH, LR = 1e-6, 1e-4, 64, 3e-3


def beta_at(epoch, epochs):
    return BETA0 * (BETA1 / BETA0) ** (epoch / max(epochs - 1, 1))


class LogBeta(keras.callbacks.Callback):
    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        b = np.float32(beta_at(epoch, self.epochs))
        for layer in self.model.layers:
            var = getattr(layer, 'beta', None)
            if var is not None and hasattr(var, 'assign'):
                var.assign(b)


def build_model(hgq: bool = True):
    """The compiled MLP of the digits run; ``hgq=False``: the same MLP with plain Dense layers (a float reference,
    which needs no HGQ: `benchmarks/epoch_overhead.py` builds it in any Keras venv)."""
    if hgq:
        from HGQ import HDense, HQuantize

        layers = [HQuantize(beta=BETA0), HDense(32, activation='relu', beta=BETA0), HDense(10, beta=BETA0)]
    else:
        layers = [keras.layers.Dense(32, activation='relu'), keras.layers.Dense(10)]
    model = keras.Sequential([keras.Input((64,)), *layers])
    model.compile(
        keras.optimizers.Adam(LR), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=['accuracy']
    )
    return model


def main():
    import HGQ
    from HGQ import FreeBOPs, ResetMinMax, trace_minmax

    path, epochs = sys.argv[1], int(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    d = np.load(path)
    xtr, ytr, xte, yte = d['xtr'], d['ytr'], d['xte'], d['yte']
    tf.random.set_seed(seed)
    np.random.seed(seed)
    model = build_model()
    cbs = [LogBeta(epochs), FreeBOPs(), ResetMinMax()]
    t0 = time.perf_counter()
    model.fit(xtr, ytr, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=cbs)
    fit_s = time.perf_counter() - t0
    ebops = float(trace_minmax(model, xtr, bsz=4096, verbose=False))
    pred = np.argmax(np.asarray(model.predict(xte, batch_size=1024, verbose=0)), axis=-1)
    acc = float(np.mean(pred == yte))
    import resource

    print(json.dumps(dict(
        fit_s=fit_s, ebops=ebops, acc=acc, epochs=epochs, tool=f'HGQ {getattr(HGQ, "__version__", "?")}',
        keras=keras.__version__, tf=tf.__version__, rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )))


if __name__ == '__main__':
    main()
