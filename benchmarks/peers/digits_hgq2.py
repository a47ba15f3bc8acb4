"""The digits run in HGQ2's API (``import hgq``, hgq2 0.2.0 on Keras 3): QDense(32, relu) -> QDense(10) with their
default input/output quantizers (the first QDense's input quantizer quantizes the input, as HQuantize does),
Adam(lr), batch 64, the same log beta ramp (hgq's BetaScheduler), FreeEBOPs. Prints one JSON line like
digits_hgq1_api.py.

    python digits_hgq2.py DATA.npz EPOCHS [SEED]
"""

import json
import os
import resource
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
os.environ.setdefault('KERAS_BACKEND', 'tensorflow')

import hgq  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from hgq.layers import QDense  # noqa: E402
from hgq.utils import trace_minmax  # noqa: E402
from hgq.utils.sugar import BetaScheduler, FreeEBOPs  # noqa: E402

BETA0, BETA1, BATCH, LR = 1e-6, 1e-4, 64, 3e-3


def main():
    path, epochs = sys.argv[1], int(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    d = np.load(path)
    xtr, ytr, xte, yte = d['xtr'], d['ytr'], d['xte'], d['yte']
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((64,)), QDense(32, activation='relu', beta0=BETA0), QDense(10, beta0=BETA0)]
    )
    model.compile(
        keras.optimizers.Adam(LR), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=['accuracy']
    )

    def beta(epoch):
        return BETA0 * (BETA1 / BETA0) ** (epoch / max(epochs - 1, 1))

    cbs = [BetaScheduler(beta), FreeEBOPs()]
    t0 = time.perf_counter()
    model.fit(xtr, ytr, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=cbs)
    fit_s = time.perf_counter() - t0
    ebops = float(trace_minmax(model, xtr, batch_size=4096, verbose=0))
    pred = np.argmax(np.asarray(model.predict(xte, batch_size=1024, verbose=0)), axis=-1)
    acc = float(np.mean(pred == yte))
    import tensorflow as tf

    print(json.dumps(dict(
        fit_s=fit_s, ebops=ebops, acc=acc, epochs=epochs, tool=f'hgq2 {getattr(hgq, "__version__", "?")}',
        keras=keras.__version__, tf=tf.__version__, rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )))


if __name__ == '__main__':
    main()
