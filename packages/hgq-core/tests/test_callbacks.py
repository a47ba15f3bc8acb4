"""The training callbacks of `HGQ.callbacks`: beta schedules and control, Pareto-front checkpoints, the progress
bar and EBOPs-aware early stopping, trained for real on small (nested) models."""

import io
import json
import math
import os
import re

import keras
import numpy as np
import pytest

import HGQ
from HGQ import FreeBOPs, ResetMinMax
from HGQ.bops.bops import iter_hgq_layers
from HGQ.callbacks import BetaPID, BetaScheduler, EarlyStoppingWithEbops, ParetoFront, PBar, PieceWiseSchedule
from HGQ.layers import HDense, HQuantize

N_IN, N_OUT = 8, 3


def _nested_model(hidden=8):
    """HQuantize -> HDense -> [inner model: HQuantize -> HDense(relu) -> HDense]: H-layers inside a sub-model."""
    x_in = keras.Input((hidden,), name='inner_in')
    h = HDense(hidden, activation='relu', name='inner_dense')(HQuantize(name='inner_q')(x_in))
    inner = keras.Model(x_in, HDense(N_OUT, name='inner_head')(h), name='inner')
    x = keras.Input((N_IN,))
    y = inner(HDense(hidden, activation='relu', name='outer_dense')(HQuantize(name='outer_q')(x)))
    return keras.Model(x, y)


def _data(n=128, seed=0):
    x = np.random.default_rng(seed).uniform(-1, 1, (n, N_IN)).astype('float32')
    w = np.random.default_rng(1234).normal(size=(N_IN, N_OUT))  # the same rule for every seed
    y = np.argmax(x @ w, axis=-1).astype('int32')
    return x, y


def _compile(model, lr=3e-3):
    model.compile(
        keras.optimizers.Adam(lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=['accuracy']
    )
    return model


def _betas(model):
    return [float(keras.ops.convert_to_numpy(layer.beta)) for layer in iter_hgq_layers(model)]


class _Probe(keras.callbacks.Callback):
    """Records, at each epoch end, the betas of the layers (and optionally predictions and recorded ranges)."""

    def __init__(self, x=None):
        super().__init__()
        self.x = x
        self.betas, self.preds, self.ranges = [], [], []

    def on_epoch_end(self, epoch, logs=None):
        self.betas.append(_betas(self.model))
        if self.x is not None:
            self.preds.append(keras.ops.convert_to_numpy(self.model(self.x, training=False)))
            self.ranges.append(_ranges(self.model))


def _ranges(model):
    return [
        (keras.ops.convert_to_numpy(layer.paq._min).copy(), keras.ops.convert_to_numpy(layer.paq._max).copy())
        for layer in iter_hgq_layers(model)
    ]


# ----------------------------------------------------------------------------------------------- PieceWiseSchedule
def test_piecewise_schedule_values():
    s = PieceWiseSchedule([(2, 1e-6, 'linear'), (6, 5e-6, 'log'), (10, 5e-4, 'constant'), (12, 1e-3, 'log')])
    assert s(0) == s(1) == s(2) == 1e-6  # before the first key point: the first beta
    assert s(4) == pytest.approx(3e-6, rel=1e-12)  # linear midpoint
    assert s(6) == 5e-6 and s(10) == 5e-4 and s(12) == 1e-3  # key points exactly
    assert s(8) == pytest.approx(5e-5, rel=1e-12)  # geometric midpoint of 5e-6 .. 5e-4
    assert s(11) == 5e-4  # 'constant' holds until the next key point
    assert s(13) == s(1000) == 1e-3  # constant after the last key point, whatever its interpolation
    assert isinstance(s(3), float) and isinstance(s(0), float)
    one = PieceWiseSchedule([[5, 2e-5, 'log']])  # a single key point (lists work too): constant everywhere
    assert one(0) == one(5) == one(50) == 2e-5


@pytest.mark.parametrize(
    'intervals, match',
    [
        ([], r'intervals is empty; give at least one key point'),
        ('linear', r"must be a list of \(epoch, beta, interpolation\) tuples, got str: 'linear'"),
        ([(0, 1e-6, 'linear'), (5, 1e-5)],
         r"intervals\[1\] = \(5, 1e-05\) must be a tuple .* of length 3, got length 2"),
        ([(0, 1e-6, 'linear', 'x')], r'intervals\[0\] = .* of length 3, got length 4'),
        ([(0, 1e-6, 'linear'), (5, 1e-5, 'cubic')],
         r"intervals\[1\] = .*unknown interpolation 'cubic'; use one of \['linear', 'log', 'constant'\]"),
        ([(0, -1e-6, 'linear')], r'intervals\[0\] = .*beta must be a finite number >= 0, got -1e-06'),
        ([(0, float('nan'), 'linear')], r'intervals\[0\] = .*beta must be a finite number >= 0, got nan'),
        ([(0, 1e-6, 'linear'), (10, 1e-5, 'log'), (5, 1e-4, 'constant')],
         r'intervals\[2\] = \(5, .*epoch 5 comes before the epoch 10 of intervals\[1\].*Sort them by epoch'),
        ([(0, 1e-6, 'linear'), (3, 1e-5, 'log'), (3, 1e-4, 'constant')],
         r'intervals\[2\] = .*epoch 3 duplicates the epoch 3 of intervals\[1\]'),
        ([(0, 0.0, 'log'), (5, 1e-5, 'constant')],
         r"'log' interval from epoch 0 \(beta 0.0\) to epoch 5 \(beta 1e-05\) has beta 0 at intervals\[0\] "
         r"\(epoch 0\).*small positive beta"),
        ([(0, 1e-6, 'log'), (5, 0.0, 'constant')], r"'log' interval .* has beta 0 at intervals\[1\] \(epoch 5\)"),
        ([(-1, 1e-6, 'linear')], r'intervals\[0\] = .*the epoch must be an integer >= 0, got -1'),
        ([(1.5, 1e-6, 'linear')], r'intervals\[0\] = .*the epoch must be an integer >= 0, got 1.5'),
    ],
    ids=['empty', 'string', 'short', 'long', 'interp', 'negative', 'nan', 'unsorted', 'duplicate', 'log0-start',
         'log0-end', 'negative-epoch', 'float-epoch'],
)
def test_piecewise_schedule_bad_intervals(intervals, match):
    with pytest.raises(ValueError, match=match):
        PieceWiseSchedule(intervals)


def test_piecewise_schedule_zero_beta_allowed_outside_log_intervals():
    s = PieceWiseSchedule([(0, 0.0, 'linear'), (4, 1e-5, 'log'), (8, 1e-3, 'log')])  # last 'log': no interval after
    assert s(2) == 5e-6 and s(8) == 1e-3
    assert PieceWiseSchedule([(0, 1e-6, 'log'), (4, 1e-5, 'constant'), (6, 0.0, 'log')])(9) == 0.0


def test_piecewise_schedule_serializes():
    s = PieceWiseSchedule([(0, 0.0, 'linear'), (5, 1e-6, 'log'), (20, 1e-4, 'constant')])
    assert keras.saving.get_registered_name(PieceWiseSchedule) == 'HGQ>PieceWiseSchedule'
    assert PieceWiseSchedule.from_config(s.get_config()) == s
    restored = keras.saving.deserialize_keras_object(json.loads(json.dumps(keras.saving.serialize_keras_object(s))))
    assert isinstance(restored, PieceWiseSchedule) and restored == s
    assert [restored(e) for e in range(25)] == [s(e) for e in range(25)]


# ----------------------------------------------------------------------------------------------------- BetaScheduler
def test_beta_scheduler_hits_the_key_points_in_training():
    """The betas the layers hold in each epoch and logs['beta'] follow the schedule, key points exactly; and
    beta is read by the compiled training step: with a frozen model (lr 0) the training loss of an epoch is the
    loss without beta plus beta times the (constant) BOPs."""
    s = PieceWiseSchedule([(1, 0.0, 'constant'), (2, 1e-6, 'linear'), (4, 1e-2, 'log'), (6, 1e-4, 'constant')])
    model = _compile(_nested_model(), lr=0.0)
    x, y = _data()
    probe = _Probe()
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0, callbacks=[FreeBOPs(), BetaScheduler(s), probe])
    want = [s(e) for e in range(8)]
    assert history.history['beta'] == want
    assert want[:3] == [0.0, 0.0, 1e-6] and want[4] == 1e-2 and want[6] == want[7] == 1e-4
    assert want[3] == pytest.approx(0.5e-2 + 0.5e-6) and want[5] == pytest.approx(1e-3)
    for epoch, betas in enumerate(probe.betas):
        assert len(betas) == 5  # the nested layers too
        assert betas == [float(np.float32(want[epoch]))] * 5, epoch
    loss, bops = history.history['loss'], history.history['bops']
    assert bops[1:] == [bops[1]] * 7 and bops[1] > 0
    for epoch in range(2, 8):
        extra = float(np.float32(want[epoch])) * bops[epoch]
        assert loss[epoch] - loss[1] == pytest.approx(extra, rel=1e-3, abs=1e-5), epoch


def test_beta_scheduler_bad_inputs():
    with pytest.raises(TypeError, match=r'beta_fn must be a callable epoch -> beta, got float: 1e-06'):
        BetaScheduler(1e-6)
    model = _nested_model()
    cb = BetaScheduler(lambda epoch: -1.0)
    cb.set_model(model)
    with pytest.raises(ValueError, match=r'beta_fn\(3\) must be a finite number >= 0, got -1.0'):
        cb.on_epoch_begin(3)
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    cb = BetaScheduler(lambda epoch: 0.0)
    cb.set_model(plain)
    with pytest.raises(ValueError, match=r'has no HGQ layers'):
        cb.on_train_begin()


def test_beta_scheduler_sets_beta_of_layers_not_built_yet():
    model = keras.Sequential([HQuantize(), HDense(4, activation='relu'), HDense(N_OUT)])  # built in the first step
    _compile(model)
    x, y = _data(64)
    probe = _Probe()
    history = model.fit(x, y, epochs=2, batch_size=32, verbose=0,
                        callbacks=[BetaScheduler(lambda e: 1e-5 * (e + 1)), probe])
    assert history.history['beta'] == [1e-5, 2e-5]
    assert probe.betas == [[float(np.float32(1e-5))] * 3, [float(np.float32(2e-5))] * 3]


# ----------------------------------------------------------------------------------------------------------- BetaPID
def _fake_pid_run(pid, bops_seq):
    model = _nested_model()
    model.build((None, N_IN))
    pid.set_model(model)
    pid.on_train_begin()
    betas, seen = [], []
    for epoch, bops in enumerate(bops_seq):
        pid.on_epoch_begin(epoch)
        seen.append(_betas(model)[0])
        logs = {'bops': bops}
        pid.on_epoch_end(epoch, logs)
        betas.append(logs['beta'])
    return betas, seen


def test_beta_pid_control_law():
    pid = BetaPID(1000, p=0.5, i=0.1, d=0.2, warmup=2, init_beta=1e-5, beta_min=1e-8, beta_max=1e-3)
    betas, seen = _fake_pid_run(pid, [4000.0, 4000.0, 2000.0, 2000.0, 500.0])
    assert betas[:2] == [1e-5] * 2  # the warm-up epochs run at init_beta
    e1, e2, e3, e4 = math.log(4.0), math.log(2.0), math.log(2.0), math.log(0.5)
    b2 = 1e-5 * math.exp(0.1 * e1)  # the first controlled epoch: the integral term only (no P/D kick)
    assert betas[2] == pytest.approx(b2, rel=1e-12)
    b3 = b2 * math.exp(0.1 * e2 + 0.5 * (e2 - e1) + 0.2 * (e2 - 2 * e1 + e1))
    assert betas[3] == pytest.approx(b3, rel=1e-12)
    b4 = b3 * math.exp(0.1 * e3 + 0.5 * (e3 - e2) + 0.2 * (e3 - 2 * e2 + e1))
    assert betas[4] == pytest.approx(b4, rel=1e-12)
    assert pid.beta == pytest.approx(b4 * math.exp(0.1 * e4 + 0.5 * (e4 - e3) + 0.2 * (e4 - 2 * e3 + e2)), rel=1e-12)
    assert seen == pytest.approx(betas, rel=1e-6)  # the layers held the logged beta


def test_beta_pid_clips_and_uses_model_beta():
    pid = BetaPID(1000, i=10.0, warmup=0, beta_min=1e-7, beta_max=1e-4, init_beta=1e-5)
    betas, _ = _fake_pid_run(pid, [1e6, 1e6, 1.0, 0.0])
    assert betas[1:3] == [1e-4, 1e-4] and pid.beta == 1e-7  # EBOPs collapsed to 0: beta to its minimum
    pid = BetaPID(1000, warmup=3, log=False)
    betas, _ = _fake_pid_run(pid, [1000.0] * 4)
    assert betas == [1e-6] * 4  # model betas are 0: starts at 1e-6; on target nothing moves


def test_beta_pid_needs_bops_in_logs():
    pid = BetaPID(1000)
    pid.set_model(_nested_model())
    pid.on_train_begin()
    pid.on_epoch_begin(0)
    with pytest.raises(ValueError,
                       match=r"logs have no 'bops' \(available keys: \['loss'\]\).*FreeBOPs\(\).*BEFORE BetaPID"):
        pid.on_epoch_end(0, {'loss': 1.0})


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        ({'target_ebops': 0}, ValueError, r'target_ebops must be > 0, got 0.0'),
        ({'target_ebops': 'big'}, TypeError, r"target_ebops must be a real number, got str: 'big'"),
        ({'target_ebops': 1e3, 'i': -1}, ValueError, r'i must be >= 0, got -1.0'),
        ({'target_ebops': 1e3, 'warmup': 1.5}, ValueError, r'warmup must be an integer >= 0'),
        ({'target_ebops': 1e3, 'beta_min': 0}, ValueError, r'beta_min must be > 0, got 0.0'),
        ({'target_ebops': 1e3, 'beta_min': 1e-3, 'beta_max': 1e-4}, ValueError, r'need beta_min <= beta_max'),
        ({'target_ebops': 1e3, 'log': 'yes'}, TypeError, r"log must be True or False, got 'yes'"),
    ],
)
def test_beta_pid_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        BetaPID(**kwargs)


def _bops_after_one_epoch(model, x, y):
    return model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[FreeBOPs()]).history['bops'][0]


def test_beta_pid_lowers_ebops_from_above():
    model = _compile(_nested_model(16), lr=1e-2)
    x, y = _data(256)
    start = _bops_after_one_epoch(model, x, y)
    target = start / 3
    pid = BetaPID(target, i=0.2, warmup=1, init_beta=1e-4)
    h = model.fit(x, y, epochs=25, batch_size=32, verbose=0, callbacks=[FreeBOPs(), pid, ResetMinMax()]).history
    assert h['beta'][-1] > 1e-4  # too many EBOPs: beta was raised
    assert abs(math.log(h['bops'][-1] / target)) < 0.5 * abs(math.log(start / target)), (start, target, h['bops'])


def test_beta_pid_raises_ebops_from_below():
    """Too few EBOPs: beta goes down, and the EBOPs end higher than at the start and than with beta kept
    at its initial value."""
    x, y = _data(256)
    finals = {}
    for controlled in (False, True):
        keras.utils.set_random_seed(1)
        model = _compile(_nested_model(16), lr=1e-2)
        start = _bops_after_one_epoch(model, x, y)
        cb = BetaPID(3 * start, p=0.5, i=0.3, warmup=0, init_beta=1e-4) if controlled else BetaScheduler(lambda e: 1e-4)
        h = model.fit(x, y, epochs=15, batch_size=32, verbose=0, callbacks=[FreeBOPs(), cb, ResetMinMax()]).history
        finals[controlled] = h['bops'][-1]
    assert h['beta'][-1] < 0.5e-4 and min(h['beta']) < 0.5e-4, h['beta']
    assert finals[True] > start and finals[True] > 1.1 * finals[False], (start, finals)


def _slow_enabled(request):
    expr = request.config.getoption('markexpr') or ''
    return 'slow' in expr and 'not slow' not in expr


def test_beta_pid_defaults_on_the_digits_demo(request):
    """The defaults reach the target on the documented demo (64-32-10 MLP, digits, Adam 3e-3, batch 64)."""
    if not _slow_enabled(request):
        pytest.skip('about a minute of training: run with -m slow')
    sklearn_datasets = pytest.importorskip('sklearn.datasets')
    x, y = sklearn_datasets.load_digits(return_X_y=True)
    x = (x / 16.0).astype('float32')
    model = keras.Sequential([keras.Input((64,)), HQuantize(), HDense(64, activation='relu'),
                              HDense(32, activation='relu'), HDense(10)])
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    h = model.fit(x, y, epochs=200, batch_size=64, verbose=0,
                  callbacks=[FreeBOPs(), BetaPID(target_ebops=3000), ResetMinMax()]).history
    ratios = np.array(h['bops'][100:]) / 3000
    assert np.all((ratios > 1 / 1.5) & (ratios < 1.5)), ratios


test_beta_pid_defaults_on_the_digits_demo = pytest.mark.slow(test_beta_pid_defaults_on_the_digits_demo)


# ------------------------------------------------------------------------------------------------------- ParetoFront
def _expected_front(history, metrics, sides):
    """Independently: an epoch stays iff no earlier epoch is at least as good on every metric (ties keep the
    older) and no later epoch is at least as good everywhere and better somewhere."""
    vecs = [[s * history[m][e] for m, s in zip(metrics, sides)] for e in range(len(history[metrics[0]]))]
    geq = lambda a, b: all(u >= v for u, v in zip(a, b))  # noqa: E731
    keep = []
    for e, v in enumerate(vecs):
        if any(geq(vecs[j], v) for j in range(e)):
            continue
        if any(geq(vecs[j], v) and vecs[j] != v for j in range(e + 1, len(vecs))):
            continue
        keep.append(e)
    return keep


def test_pareto_front_keeps_exactly_the_non_dominated_epochs(tmp_path):
    model = _compile(_nested_model(16), lr=1e-2)
    x, y = _data(256)
    xv, yv = _data(64, seed=1)
    schedule = PieceWiseSchedule([(0, 1e-6, 'log'), (12, 3e-3, 'constant')])  # EBOPs go down, accuracy varies
    front = ParetoFront(tmp_path / 'front')
    by_loss = ParetoFront(str(tmp_path / 'loss'), metrics='loss', sides=-1, fname_format='ep{epoch:03d}-loss{loss:.5f}',
                          save_weights_only=True)
    probe = _Probe(xv)
    callbacks = [FreeBOPs(), BetaScheduler(schedule), front, by_loss, probe, ResetMinMax()]
    h = model.fit(x, y, epochs=12, batch_size=32, verbose=0, validation_data=(xv, yv), callbacks=callbacks).history

    expected = _expected_front(h, ['val_accuracy', 'bops'], [1, -1])
    assert [e['epoch'] for e in front.front] == expected and len(expected) >= 2
    on_disk = sorted(os.listdir(tmp_path / 'front'))
    assert on_disk == sorted([os.path.basename(e['path']) for e in front.front] + ['front.json'])
    for entry in front.front:
        epoch = entry['epoch']
        assert os.path.basename(entry['path']) == (
            f'epoch={epoch:04d}-val_accuracy={h["val_accuracy"][epoch]:.4f}-bops={h["bops"][epoch]:.0f}.keras'
        )
        assert re.fullmatch(r'epoch=\d{4}-val_accuracy=[01]\.\d{4}-bops=\d+\.keras', os.path.basename(entry['path']))
        assert entry['logs'] == {k: float(v[epoch]) for k, v in h.items()}
        assert all(type(v) is float for v in entry['logs'].values())
    with open(tmp_path / 'front' / 'front.json') as f:
        assert json.load(f) == front.front

    # the loaded checkpoints predict as the model did at the end of their epoch, with the same recorded ranges
    for entry in front.front:
        loaded = keras.models.load_model(entry['path'])
        epoch = entry['epoch']
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(xv, training=False)), probe.preds[epoch])
        for (lo, hi), (want_lo, want_hi) in zip(_ranges(loaded), probe.ranges[epoch], strict=True):
            assert np.all(np.isfinite(want_lo))
            np.testing.assert_array_equal(lo, want_lo)
            np.testing.assert_array_equal(hi, want_hi)

    # one metric: only the best (earliest on ties) epoch survives, weights-only files with the custom name
    best = _expected_front(h, ['loss'], [-1])
    assert len(best) == 1 and [e['epoch'] for e in by_loss.front] == best
    (entry,) = by_loss.front
    assert sorted(os.listdir(tmp_path / 'loss')) == sorted(
        ['front.json', f'ep{best[0]:03d}-loss{h["loss"][best[0]]:.5f}.weights.h5']
    )
    fresh = _nested_model(16)
    fresh.build((None, N_IN))
    fresh.load_weights(entry['path'])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(fresh(xv, training=False)), probe.preds[best[0]])


def test_pareto_front_ties_keep_the_older_and_dominated_files_go(tmp_path):
    model = _nested_model()
    model.build((None, N_IN))
    pf = ParetoFront(tmp_path, metrics=['a', 'b'], sides=[1, -1], enable_if=lambda epoch, logs: epoch != 4)
    pf.set_model(model)
    pf.on_train_begin()
    logs = [{'a': 0.5, 'b': 10.0}, {'a': 0.5, 'b': 10.0}, {'a': 0.6, 'b': 20.0}, {'a': 0.7, 'b': 9.0},
            {'a': 0.9, 'b': 1.0}, {'a': 0.6, 'b': float('nan')}, {'a': 0.7, 'b': 20.0}]
    for epoch, log in enumerate(logs):
        pf.on_epoch_end(epoch, dict(log, loss=1.0))
    # 1 ties 0 (kept: 0); 3 dominates 0 and 2; 4 is disabled; 5 has a NaN; 6 is dominated by 3
    assert [e['epoch'] for e in pf.front] == [3]
    assert sorted(os.listdir(tmp_path)) == ['epoch=0003-a=0.7000-b=9.0000.keras', 'front.json']
    assert pf.front[0]['logs'] == {'a': 0.7, 'b': 9.0, 'loss': 1.0}


def test_pareto_front_bad_inputs(tmp_path):
    pf = ParetoFront(tmp_path)
    with pytest.raises(ValueError, match=r"metric\(s\) \['bops'\] not in the epoch logs; "
                                         r"available keys: \['loss', 'val_accuracy'\]\. Add HGQ.FreeBOPs\(\)"):
        pf.on_epoch_end(0, {'loss': 1.0, 'val_accuracy': 0.5})
    with pytest.raises(ValueError, match=r"metric\(s\) \['val_accuracy'\] not in the epoch logs.*need validation data"):
        pf.on_epoch_end(0, {'loss': 1.0, 'bops': 5.0})
    with pytest.raises(ValueError, match=r'sides \[1\] has 1 entries but metrics .* has 2'):
        ParetoFront(tmp_path, sides=[1])
    with pytest.raises(ValueError, match=r"side of metric 'bops' must be \+1 \(maximize\) or -1 \(minimize\), got 0"):
        ParetoFront(tmp_path, sides=[1, 0])
    with pytest.raises(TypeError, match=r'metrics must be a non-empty list of log names, got \[\]'):
        ParetoFront(tmp_path, metrics=[], sides=[])
    with pytest.raises(TypeError, match=r'enable_if must be a callable'):
        ParetoFront(tmp_path, enable_if=True)
    (tmp_path / 'file').write_text('')
    with pytest.raises(ValueError, match=r'exists and is not a directory'):
        ParetoFront(tmp_path / 'file')
    model = _nested_model()
    model.build((None, N_IN))
    pf = ParetoFront(tmp_path / 'x', metrics=['loss'], sides=[-1], fname_format='{epoch}-{val_loss:.3f}')
    pf.set_model(model)
    with pytest.raises(ValueError, match=r"fname_format '\{epoch\}-\{val_loss:.3f\}' uses 'val_loss', "
                                         r"which is not in the epoch logs; available keys: \['epoch', 'loss'\]"):
        pf.on_epoch_end(0, {'loss': 1.0})


# -------------------------------------------------------------------------------------------------------------- PBar
def test_pbar_with_and_without_validation():
    model = _compile(_nested_model())
    x, y = _data(64)
    for with_val in (True, False):
        out = io.StringIO()
        bar = PBar(file=out, ascii=True)
        kwargs = {'validation_data': _data(32, seed=1)} if with_val else {}
        callbacks = [FreeBOPs(), BetaScheduler(lambda e: 1e-6), bar]
        last = model.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=callbacks, **kwargs).history
        text = out.getvalue()
        assert '3/3' in text and bar.pbar is None  # total = epochs, closed at the end
        if with_val:
            assert f'loss: {last["loss"][-1]:.3f}/{last["val_loss"][-1]:.3f}' in text
        else:
            assert f'loss: {last["loss"][-1]:.3f}/-' in text  # a missing log does not crash
        assert f'bops={last["bops"][-1]:.0f}' in text and 'beta=1.00e-06' in text


def test_pbar_formatting_and_disable():
    bar = PBar('acc {accuracy:.2%} {nothing:.3f} {loss!r} {0} {loss:d}')
    assert bar.format({'accuracy': 0.5, 'loss': 1.5}) == 'acc 50.00% - 1.5 - 1.5'
    assert PBar.postfix({'loss': 1.0}) == ''
    assert PBar.postfix({'bops': 1234.4, 'beta': 2e-6}) == 'bops=1234 beta=2.00e-06'
    with pytest.raises(TypeError, match=r"metric must be a format string"):
        PBar(metric=3)
    with pytest.raises(ValueError, match=r"metric '\{loss' is not a valid format string"):
        PBar(metric='{loss')
    out = io.StringIO()
    quiet = PBar(disable=True, file=out)
    quiet.set_params({'epochs': 2, 'steps': 1, 'verbose': 0})
    quiet.on_train_begin()
    for epoch in range(2):
        quiet.on_epoch_begin(epoch)
        quiet.on_epoch_end(epoch, {'loss': 1.0})
    quiet.on_train_end()
    assert out.getvalue() == ''
    resumed = PBar(file=out, ascii=True)  # fit(initial_epoch=3, epochs=5)
    resumed.set_params({'epochs': 5, 'steps': 1, 'verbose': 0})
    resumed.on_train_begin()
    for epoch in (3, 4):
        resumed.on_epoch_begin(epoch)
        resumed.on_epoch_end(epoch, {'loss': 0.25})
    resumed.on_train_end()
    assert '5/5' in out.getvalue() and 'loss: 0.250/-' in out.getvalue()


# ------------------------------------------------------------------------------------------- EarlyStoppingWithEbops
def test_early_stopping_waits_for_the_ebops_budget():
    x, y = _data(64)
    model = _compile(_nested_model(), lr=0.0)  # frozen: the loss never improves, EBOPs stay constant
    plain = keras.callbacks.EarlyStopping(monitor='loss', patience=1, min_delta=1e-3)  # float noise is no gain
    assert len(model.fit(x, y, epochs=6, verbose=0, callbacks=[plain]).history['loss']) == 2
    bops = model.fit(x, y, epochs=1, verbose=0, callbacks=[FreeBOPs()]).history['bops'][0]
    above = EarlyStoppingWithEbops(bops / 2, monitor='loss', patience=1, min_delta=1e-3)
    h = model.fit(x, y, epochs=6, verbose=0, callbacks=[FreeBOPs(), above]).history
    assert len(h['loss']) == 6 and all(b > bops / 2 for b in h['bops'])  # never stopped above the threshold
    within = EarlyStoppingWithEbops(bops, monitor='loss', patience=1, min_delta=1e-3)
    assert len(model.fit(x, y, epochs=6, verbose=0, callbacks=[FreeBOPs(), within]).history['loss']) == 2


def test_early_stopping_only_watches_epochs_within_budget():
    model = _nested_model()
    model.build((None, N_IN))
    es = EarlyStoppingWithEbops(100, monitor='val_loss', patience=1, restore_best_weights=True)
    es.set_model(model)
    es.on_train_begin()
    weights = []
    for epoch, (loss, bops) in enumerate([(0.1, 500), (0.2, 500), (0.3, 500), (0.5, 90), (0.4, 100), (0.45, 80)]):
        model.stop_training = False
        w = [np.full(v.shape, epoch, v.dtype) for v in model.get_weights()]
        model.set_weights(w)
        weights.append(w)
        es.on_epoch_end(epoch, {'val_loss': loss, 'bops': bops})
        if epoch < 5:
            assert not model.stop_training, epoch  # over budget never counts; 4 improves on 3
    assert model.stop_training and es.stopped_epoch == 5 and es.best_epoch == 4
    es.on_train_end()
    for got, want in zip(model.get_weights(), weights[4]):
        np.testing.assert_array_equal(got, want)  # the best epoch within the budget, not epoch 0
    with pytest.raises(ValueError, match=r"EarlyStoppingWithEbops: the epoch logs have no 'bops'.*FreeBOPs\(\)"):
        es.on_epoch_end(6, {'val_loss': 0.1})
    with pytest.raises(ValueError, match=r'ebops_threshold must be >= 0, got -1'):
        EarlyStoppingWithEbops(-1)
    with pytest.raises(TypeError, match=r"ebops_threshold must be a number .* got '3k'"):
        EarlyStoppingWithEbops('3k')
    assert isinstance(es, keras.callbacks.EarlyStopping) and isinstance(es, keras.callbacks.Callback)


def test_callbacks_are_exported_at_the_top_level():
    for name in ['BetaPID', 'BetaScheduler', 'EarlyStoppingWithEbops', 'ParetoFront', 'PBar', 'PieceWiseSchedule']:
        cls = getattr(HGQ, name)
        assert cls is getattr(HGQ.callbacks, name)
        assert name == 'PieceWiseSchedule' or issubclass(cls, keras.callbacks.Callback)
