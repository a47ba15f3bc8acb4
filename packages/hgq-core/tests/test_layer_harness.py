"""One table-driven harness applied to every HGQ layer (rows in `hgq_core_cases.CASES`).

For each layer: config round trip, weight and loss counts, a training step that moves the weights and the
bitwidths, a non-zero gradient for every trainable variable, exact ``.keras``/``.h5`` round trips
(predictions, bitwidths, traced ranges, beta, BOPs), and equality with the plain Keras layer at 20
fractional bits.
"""

import keras
import numpy as np
import pytest
from backend_utils import grads_wrt_variables, to_numpy
from hgq_core_cases import CASES, GRID, build_model, grid_inputs, model_inputs

import HGQ
from HGQ.layers import HBatchNormBase, HLayerBase
from HGQ.utils import MonoL1

case_params = pytest.mark.parametrize('case', CASES, ids=[c.id for c in CASES])


def _has_kernel(layer) -> bool:
    return isinstance(layer, HLayerBase) and getattr(layer, 'kernel', None) is not None


def _values(variables) -> dict[str, np.ndarray]:
    return {v.path: np.array(v.numpy()) for v in variables}


@case_params
def test_config_round_trip(case):
    _, layer = build_model(case)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer)
    assert restored.get_config() == config


@case_params
def test_weight_and_loss_counts(case):
    model, layer = build_model(case, regularizer=MonoL1(1e-6))
    assert len(layer.trainable_weights) == case.n_trainable
    assert len(layer.non_trainable_weights) == case.n_non_trainable
    xs = grid_inputs(case)
    model(model_inputs(xs), training=True)
    assert len(layer.losses) == case.n_losses
    # the BOPs loss is a training-time loss only; the bitwidth regularizers stay
    model(model_inputs(xs), training=False)
    assert len(layer.losses) == case.n_losses - (1 if _has_kernel(layer) else 0)


@case_params
def test_training_step_moves_weights_and_bitwidths(case):
    model, layer = build_model(case, head=case.head)
    xs = grid_inputs(case)
    ys = np.random.default_rng(1).normal(size=(len(xs[0]), *model.output.shape[1:])).astype('float32')
    model.compile(keras.optimizers.Adam(1e-2), 'mse')
    before = _values(model.trainable_variables)
    model.fit(model_inputs(xs), ys, batch_size=len(ys), epochs=1, verbose=0)
    after = _values(model.trainable_variables)
    unchanged = [p for p in before if np.array_equal(before[p], after[p])]
    assert not unchanged, f'variables not updated by the training step: {unchanged}'
    own = [v.path for v in layer.trainable_variables]
    assert len(own) == case.n_trainable
    if case.n_trainable:  # the layer's own bitwidths are among the variables that moved
        assert any(p.endswith('activation_bw') for p in own)
        assert _has_kernel(layer) == any(p.endswith('kernel_bw') for p in own)
    if isinstance(layer, HBatchNormBase):  # the delayed kernel-bit adaptation ran inside the compiled step
        assert float(layer._kernel_bits_pending.numpy()) == 0.0


@case_params
def test_every_trainable_variable_gets_a_gradient(case):
    model, _ = build_model(case, beta=1e-3, head=case.head)
    xs = grid_inputs(case)
    weights = keras.ops.convert_to_tensor(
        np.random.default_rng(2).normal(size=(1, *model.output.shape[1:])).astype('float32')
    )

    def loss():
        y = model(model_inputs(xs), training=True)
        return keras.ops.mean(y * weights) + keras.ops.sum(model.losses)

    _, grads = grads_wrt_variables(loss, model.trainable_variables)
    zero = [v.path for v, g in zip(model.trainable_variables, grads) if g is None or not np.any(g)]
    assert not zero, f'variables without gradient: {zero}'


def _perturb(model, rng) -> None:
    """Moves every bitwidth by a random integer (keeping the fractional part) and sets a random beta, so that
    a round trip that drops or reorders them cannot pass."""
    for layer in model.layers:
        if not isinstance(layer, HLayerBase):
            continue
        for v in layer.trainable_variables:
            if v.path.endswith('_bw'):
                v.assign(v.numpy() + rng.integers(-1, 3, v.shape).astype('float32'))
        layer.beta.assign(float(rng.uniform(1e-6, 1e-3)))


@pytest.mark.filterwarnings('ignore:You are saving your model as an HDF5 file:UserWarning')
@case_params
def test_save_load_round_trip(case, tmp_path):
    model, _ = build_model(case, head=True)
    xs = grid_inputs(case, n=64)
    _perturb(model, np.random.default_rng(3))
    bops = HGQ.trace_minmax(model, model_inputs(xs), verbose=False)
    y = to_numpy(model(model_inputs(xs), training=False))
    for fmt in ('keras', 'h5'):
        path = str(tmp_path / f'model.{fmt}')
        model.save(path)
        _check_restored(model, keras.models.load_model(path, compile=False), xs, y, bops)


def _check_restored(model, loaded, xs, y, bops) -> None:
    np.testing.assert_array_equal(to_numpy(loaded(model_inputs(xs), training=False)), y)
    for a, b in zip(model.layers, loaded.layers):
        assert type(a) is type(b) and a.name == b.name
        assert [w.name for w in a.weights] == [w.name for w in b.weights]
        for wa, wb in zip(a.weights, b.weights):
            np.testing.assert_array_equal(wa.numpy(), wb.numpy(), err_msg=f'{a.name}/{wa.name}')
        if isinstance(a, HLayerBase):
            assert np.all(np.isfinite(b.paq._min.numpy())), 'traced ranges were not restored'
            assert float(b.beta.numpy()) == float(a.beta.numpy())
    # the restored ranges give the same exact BOPs without re-tracing
    assert sum(float(l.compute_exact_bops) for l in loaded.layers if isinstance(l, HLayerBase)) == bops


@case_params
def test_equals_plain_keras_layer_at_20_bits(case):
    model, layer = build_model(case, init_bw=20.0)
    rng = np.random.default_rng(4)
    if _has_kernel(layer):
        layer.kernel.assign(np.round(layer.kernel.numpy() / GRID) * GRID)
        if layer.use_bias:
            bias = rng.uniform(-1, 1, layer.bias.shape)
            layer.bias.assign(np.zeros_like(bias) if case.zero_bias_for_twin else np.round(bias / GRID) * GRID)
    if isinstance(layer, HBatchNormBase):
        c = layer.bn_gamma.shape
        layer.bn_gamma.assign(rng.uniform(0.5, 2, c))
        layer.bn_beta.assign(rng.uniform(-1, 1, c))
        layer.moving_mean.assign(rng.uniform(-1, 1, c))
        layer.moving_variance.assign(rng.uniform(0.25, 4, c))

    inputs = [keras.Input(s) for s in case.input_shapes]
    plain = keras.Model(model_inputs(inputs), case.twin(layer, inputs))
    xs = grid_inputs(case, n=64)
    y_h = to_numpy(model(model_inputs(xs), training=False))
    y_k = to_numpy(plain(model_inputs(xs), training=False))
    if case.twin_atol == 0:
        np.testing.assert_array_equal(y_h, y_k)
    else:
        # tolerance: see case.twin_reason
        assert case.twin_reason
        np.testing.assert_allclose(y_h, y_k, rtol=0, atol=case.twin_atol)
