"""Runs one HGQ computation on the Keras backend of its process (KERAS_BACKEND), for the cross-backend and
data-parallel tests, which start it as a subprocess (the device configuration and the backend are per process).

    python backend_worker.py step MODEL.keras DATA.npz OUT.npz     # one training-mode step, inference, trace
    python backend_worker.py dp KIND[,KIND...] OUT_DIR [--devices N]  # one device vs N data-parallel replicas

``dp`` sets up N devices before TensorFlow or JAX starts: N logical CPUs for a ``tf.distribute.MirroredStrategy``,
``--xla_force_host_platform_device_count=N`` for ``keras.distribution.DataParallel``.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
os.environ.setdefault('CUDA_VISIBLE_DEVICES', '-1')


# ------------------------------------------------------------------------------------------- models and data
def mlp(beta=1e-5):
    import keras

    from HGQ import HDense, HQuantize

    return keras.Sequential(
        [
            keras.Input((16,)),
            HQuantize(beta=beta),
            HDense(32, activation='relu', beta=beta),
            HDense(5, beta=beta),
        ]
    )


def cnn(beta=1e-5):
    import keras

    from HGQ import HConv2D, HDense, HQuantize, PFlatten
    from HGQ.layers import PMaxPooling2D

    return keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            HQuantize(beta=beta),
            HConv2D(4, (3, 3), activation='relu', beta=beta),
            PMaxPooling2D((2, 2)),
            PFlatten(),
            HDense(5, beta=beta),
        ]
    )


def bn_mlp(beta=1e-5):
    import keras

    from HGQ import HDense, HDenseBatchNorm, HQuantize

    return keras.Sequential(
        [
            keras.Input((16,)),
            HQuantize(beta=beta),
            HDenseBatchNorm(16, activation='relu', beta=beta),
            HDense(5, beta=beta),
        ]
    )


MODELS = {'mlp': mlp, 'cnn': cnn, 'bn_mlp': bn_mlp}


def data(kind: str, n: int = 256, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    shape = (8, 8, 2) if kind == 'cnn' else (16,)
    x = rng.normal(size=(n, *shape)).astype(np.float32)
    w = rng.normal(size=(int(np.prod(shape)), 5)).astype(np.float32)
    y = np.tanh(x.reshape(n, -1) @ w / 4).astype(np.float32)
    return x, y


# --------------------------------------------------------------------------------------------------- helpers
def hgq_state(model) -> dict:
    """Recorded ranges and ``bops`` of every H-layer, by position (layer names differ between two models)."""
    import numpy as np
    from keras import ops

    from HGQ.bops.bops import iter_hgq_layers

    out = {}
    for i, layer in enumerate(iter_hgq_layers(model)):
        if layer.paq._min is not None:
            out[f'layer{i}/min'] = np.asarray(ops.convert_to_numpy(layer.paq._min))
            out[f'layer{i}/max'] = np.asarray(ops.convert_to_numpy(layer.paq._max))
        out[f'layer{i}/bops'] = np.asarray(ops.convert_to_numpy(layer.bops))
    return out


def step(model_path: str, data_path: str) -> dict:
    """Loss, gradients (by variable path), recorded ranges and BOPs of one training-mode call, then the inference
    output and the exact BOPs after `trace_minmax`, for the model file on this backend."""
    import keras
    import numpy as np
    from backend_utils import grads_wrt_variables, to_numpy

    from HGQ import trace_minmax

    d = np.load(data_path)
    x, w = d['x'], keras.ops.convert_to_tensor(d['w'])
    out = {}

    model = keras.models.load_model(model_path, compile=False)

    def loss():
        return keras.ops.mean(model(x, training=True) * w) + keras.ops.sum(model.losses)

    out['loss'], grads = grads_wrt_variables(loss, model.trainable_variables)
    for v, g in zip(model.trainable_variables, grads):
        out[f'grad/{v.path}'] = np.zeros(v.shape, np.float32) if g is None else g

    model = keras.models.load_model(model_path, compile=False)  # the state before the step, again
    out['y_train'] = to_numpy(model(x, training=True))
    out.update({f'after_step/{k}': v for k, v in hgq_state(model).items()})
    out['y_infer'] = to_numpy(model(x, training=False))
    out['exact_bops'] = np.asarray(trace_minmax(model, x, verbose=False))
    out.update({f'traced/{k}': v for k, v in hgq_state(model).items()})
    return out


_STRATEGIES: dict = {}


def data_parallel(kind: str, n_devices: int) -> dict:
    """Trains the same model (same seed, data and global batch) on one device and on ``n_devices`` replicas;
    returns both runs' per-epoch losses, FreeBOPs, ranges at the end of each epoch, CalibratedBOPs, exact BOPs
    and ranges after trace_minmax, and final weights, under keys ``single/...`` and ``multi/...``."""
    import contextlib

    import keras
    import numpy as np

    from HGQ import CalibratedBOPs, FreeBOPs, ResetMinMax, trace_minmax

    backend = keras.backend.backend()
    x, y = data(kind)

    class Record(keras.callbacks.Callback):
        """The recorded ranges at the end of each epoch (before ResetMinMax, which comes after it)."""

        def __init__(self):
            super().__init__()
            self.states = []

        def on_epoch_end(self, epoch, logs=None):
            self.states.append(hgq_state(self.model))

    last_model = []  # the model of the latest run

    def run(scope) -> dict:
        keras.utils.set_random_seed(0)
        with scope():
            model = MODELS[kind]()
            model.compile(keras.optimizers.Adam(3e-3), 'mse')
        last_model[:] = [model]
        record = Record()
        history = model.fit(
            x, y, epochs=2, batch_size=64, shuffle=False, verbose=0, callbacks=[FreeBOPs(), record, ResetMinMax()]
        )
        res = {'loss': np.asarray(history.history['loss']), 'free_bops': np.asarray(history.history['bops'])}
        for epoch, state in enumerate(record.states):
            res.update({f'epoch{epoch}/{k}': v for k, v in state.items()})
        with scope():  # trace_minmax and CalibratedBOPs inside the strategy's scope
            res['exact_bops'] = np.asarray(trace_minmax(model, x, verbose=False))
            res.update({f'traced/{k}': v for k, v in hgq_state(model).items()})
            history = model.fit(
                x, y, epochs=1, batch_size=64, shuffle=False, verbose=0, callbacks=[CalibratedBOPs(x[:256])]
            )
        res['calibrated_bops'] = np.asarray(history.history['bops'])
        res['calibrated_loss'] = np.asarray(history.history['loss'])
        for i, v in enumerate(model.weights):
            res[f'weight/{i}/{v.name}'] = np.asarray(keras.ops.convert_to_numpy(v))
        if backend == 'tensorflow':  # how far the replicas' copies of each variable are apart
            for i, v in enumerate(model.weights):
                values = getattr(v.value, 'values', None)
                if values is not None and len(values) > 1:
                    spread = max(float(np.max(np.abs(r.numpy() - values[0].numpy()))) for r in values)
                    res[f'replica_spread/{i}/{v.name}'] = np.asarray(spread)
        return res

    if backend == 'tensorflow':
        import tensorflow as tf

        # one strategy for the process (a second MirroredStrategy's collectives were cancelled on TF 2.21)
        if n_devices not in _STRATEGIES:
            _STRATEGIES[n_devices] = tf.distribute.MirroredStrategy([f'/cpu:{i}' for i in range(n_devices)])
        strategy = _STRATEGIES[n_devices]
        multi_scope = strategy.scope
        n_replicas = strategy.num_replicas_in_sync
    elif backend == 'jax':
        import jax

        distribution = keras.distribution.DataParallel(devices=jax.devices())
        multi_scope = distribution.scope
        n_replicas = len(jax.devices())
    else:
        raise SystemExit(f'no data-parallel training with Keras on {backend}')

    out = {'n_replicas': np.asarray(n_replicas)}
    out.update({f'single/{k}': v for k, v in run(contextlib.nullcontext).items()})
    out.update({f'multi/{k}': v for k, v in run(multi_scope).items()})
    if backend == 'jax':  # the replicated variables really live on every device
        out['devices_per_variable'] = np.asarray(min(len(v.value.sharding.device_set) for v in last_model[0].weights))
    return out


def _setup_devices(n: int) -> None:
    backend = os.environ.get('KERAS_BACKEND', 'tensorflow')
    if backend == 'jax':
        os.environ['XLA_FLAGS'] = (
            os.environ.get('XLA_FLAGS', '') + f' --xla_force_host_platform_device_count={n}'
        ).strip()
    elif backend == 'tensorflow':
        import tensorflow as tf

        cpu = tf.config.list_physical_devices('CPU')[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)


def main(argv: list[str]) -> int:
    import numpy as np

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    mode = argv[0]
    if mode == 'step':
        model_path, data_path, out_path = argv[1:4]
        np.savez(out_path, **step(model_path, data_path))
    elif mode == 'dp':
        kinds, out_dir = argv[1:3]
        n = int(argv[argv.index('--devices') + 1]) if '--devices' in argv else 4
        _setup_devices(n)
        for kind in kinds.split(','):
            np.savez(os.path.join(out_dir, f'{kind}.npz'), **data_parallel(kind, n))
    else:
        raise SystemExit(f'unknown mode {mode!r}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main(sys.argv[1:]))
