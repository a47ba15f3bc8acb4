"""Callbacks that drive the BOPs regularization strength ``beta`` of the H-layers during training."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import keras

from ._common import check_beta, hgq_layers, layer_beta, read_bops, set_beta

_INTERPOLATIONS = ('linear', 'log', 'constant')


class BetaScheduler(keras.callbacks.Callback):
    """Sets ``beta`` of every H-layer (nested models included) from a schedule.

    At the start of each epoch, ``beta_fn(epoch)`` (``epoch`` is Keras' 0-based epoch index) becomes the beta
    of every H-layer; it takes effect in the already compiled training step (``beta`` is a non-trainable
    variable of each layer). At the end of the epoch the beta used is written to ``logs['beta']``.

    Args:
        beta_fn: ``beta_fn(epoch: int) -> float``, e.g. a `PieceWiseSchedule`. Must return a finite number >= 0.

    Example:
        ``BetaScheduler(PieceWiseSchedule([(0, 0.0, 'linear'), (10, 1e-6, 'log'), (50, 1e-4, 'constant')]))``
    """

    def __init__(self, beta_fn: Callable[[int], float]):
        super().__init__()
        if not callable(beta_fn):
            raise TypeError(
                f'BetaScheduler: beta_fn must be a callable epoch -> beta, got {type(beta_fn).__name__}: {beta_fn!r}. '
                'Pass e.g. PieceWiseSchedule([...]) or lambda epoch: 1e-6.'
            )
        self.beta_fn = beta_fn
        self.beta: float | None = None

    def on_train_begin(self, logs=None):
        self._layers = hgq_layers(self.model, 'BetaScheduler')

    def on_epoch_begin(self, epoch, logs=None):
        beta = check_beta(self.beta_fn(epoch), f'BetaScheduler: beta_fn({epoch})')
        if not hasattr(self, '_layers'):
            self._layers = hgq_layers(self.model, 'BetaScheduler')
        set_beta(self._layers, beta)
        self.beta = beta

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.beta is not None:
            logs['beta'] = self.beta


@keras.saving.register_keras_serializable(package='HGQ')
class PieceWiseSchedule:
    """A piecewise schedule ``epoch -> beta`` from key points, for `BetaScheduler`.

    Args:
        intervals: Key points ``[(epoch, beta, interpolation), ...]`` with strictly increasing epochs
            (integers >= 0), betas >= 0 and interpolation one of ``'linear'``, ``'log'`` (geometric: both
            betas of the interval must be > 0) or ``'constant'``. The interpolation named at a key point applies
            from that key point up to the next one; the schedule is the first beta before the first key point
            and the last beta from the last key point on (whatever its interpolation).

    Example:
        ``PieceWiseSchedule([(0, 0.0, 'constant'), (5, 1e-7, 'log'), (25, 1e-5, 'constant')])`` is 0 for
        epochs 0-4, rises geometrically from 1e-7 at epoch 5 to 1e-5 at epoch 25, and stays at 1e-5.
    """

    def __init__(self, intervals: Sequence[Sequence[Any]]):
        self.intervals = self._validate(intervals)
        self.epochs = [e for e, _, _ in self.intervals]
        self.betas = [b for _, b, _ in self.intervals]
        self.interpolations = [i for _, _, i in self.intervals]

    @staticmethod
    def _validate(intervals) -> list[tuple[int, float, str]]:
        hint = "Pass key points like [(0, 0.0, 'linear'), (10, 1e-6, 'log'), (50, 1e-4, 'constant')]."
        if isinstance(intervals, (str, bytes, dict)) or not isinstance(intervals, Sequence):
            raise ValueError(
                f'PieceWiseSchedule: intervals must be a list of (epoch, beta, interpolation) tuples, got '
                f'{type(intervals).__name__}: {intervals!r}. {hint}'
            )
        if len(intervals) == 0:
            raise ValueError(f'PieceWiseSchedule: intervals is empty; give at least one key point. {hint}')
        out: list[tuple[int, float, str]] = []
        for n, entry in enumerate(intervals):
            where = f'PieceWiseSchedule: intervals[{n}] = {entry!r}'
            if isinstance(entry, (str, bytes)) or not isinstance(entry, Sequence) or len(entry) != 3:
                raise ValueError(
                    f'{where} must be a tuple (epoch, beta, interpolation) of length 3'
                    + (f', got length {len(entry)}' if isinstance(entry, Sequence) else '')
                    + f'. {hint}'
                )
            epoch, beta, interp = entry
            if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
                raise ValueError(f'{where}: the epoch must be an integer >= 0, got {epoch!r}. {hint}')
            if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not math.isfinite(beta) or beta < 0:
                raise ValueError(f'{where}: beta must be a finite number >= 0, got {beta!r}. {hint}')
            if interp not in _INTERPOLATIONS:
                raise ValueError(
                    f'{where}: unknown interpolation {interp!r}; use one of {list(_INTERPOLATIONS)}. {hint}'
                )
            if out and epoch <= out[-1][0]:
                what = 'duplicates' if epoch == out[-1][0] else 'comes before'
                raise ValueError(
                    f'{where}: epoch {int(epoch)} {what} the epoch {out[-1][0]} of intervals[{n - 1}]; key points '
                    'must have strictly increasing epochs, each epoch once. Sort them by epoch and merge duplicates.'
                )
            out.append((int(epoch), float(beta), str(interp)))
        for n in range(len(out) - 1):
            (e0, b0, interp), (e1, b1, _) = out[n], out[n + 1]
            if interp == 'log' and (b0 == 0 or b1 == 0):
                zero = f'intervals[{n}] (epoch {e0})' if b0 == 0 else f'intervals[{n + 1}] (epoch {e1})'
                raise ValueError(
                    f"PieceWiseSchedule: the 'log' interval from epoch {e0} (beta {b0!r}) to epoch {e1} (beta {b1!r}) "
                    f"has beta 0 at {zero}; a geometric interpolation needs betas > 0 at both ends. Use a small "
                    "positive beta (e.g. 1e-8), or 'linear'/'constant' for this interval."
                )
        return out

    def __call__(self, epoch) -> float:
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Real) or not math.isfinite(epoch):
            raise TypeError(f'PieceWiseSchedule: epoch must be a finite number, got {epoch!r}.')
        epochs, betas = self.epochs, self.betas
        if epoch <= epochs[0]:
            return betas[0]
        if epoch >= epochs[-1]:
            return betas[-1]
        k = max(n for n, e in enumerate(epochs) if e <= epoch)
        if epoch == epochs[k]:
            return betas[k]
        e0, e1, b0, b1 = epochs[k], epochs[k + 1], betas[k], betas[k + 1]
        t = (epoch - e0) / (e1 - e0)
        interp = self.interpolations[k]
        if interp == 'constant':
            return b0
        if interp == 'linear':
            return float(b0 + (b1 - b0) * t)
        return float(math.exp(math.log(b0) + (math.log(b1) - math.log(b0)) * t))

    def get_config(self) -> dict[str, Any]:
        return {'intervals': [[e, b, i] for e, b, i in self.intervals]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PieceWiseSchedule:
        return cls(**config)

    def __eq__(self, other) -> bool:
        return isinstance(other, PieceWiseSchedule) and other.intervals == self.intervals

    def __hash__(self) -> int:
        return hash(tuple(self.intervals))

    def __repr__(self) -> str:
        return f'PieceWiseSchedule({self.intervals!r})'


def _positive(value, name: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f'BetaPID: {name} must be a real number, got {type(value).__name__}: {value!r}.')
    value = float(value)
    ok = value >= 0 if allow_zero else value > 0
    if math.isnan(value) or not ok:
        raise ValueError(f'BetaPID: {name} must be {">= 0" if allow_zero else "> 0"}, got {value!r}.')
    return value


class BetaPID(keras.callbacks.Callback):
    """Steers ``beta`` of every H-layer so that the training EBOPs approach ``target_ebops``.

    At the end of each epoch the controller reads the training EBOPs from ``logs['bops']``, written by
    `FreeBOPs` (or `CalibratedBOPs`), which must come BEFORE this callback in the callback list, e.g.
    ``callbacks=[FreeBOPs(), BetaPID(3000), ResetMinMax()]``. The error is ``e = ln(ebops / target_ebops)``
    (``log=True``) or the relative error ``e = ebops / target_ebops - 1`` (``log=False``); beta for the next
    epoch is updated multiplicatively, i.e. as a PID controller acting on ``ln(beta)``::

        ln(beta[n+1]) = ln(beta[n]) + i * e[n] + p * (e[n] - e[n-1]) + d * (e[n] - 2 e[n-1] + e[n-2])

    (at the first controlled epoch only the integral term acts: the earlier errors count as equal to the first),
    clipped to ``[beta_min, beta_max]``. Too many EBOPs raise beta, too few lower it. As the EBOPs only follow
    beta with a lag of many epochs (the optimizer moves the bitwidths by about its learning rate per step), the
    proportional term matters most: it lowers beta while the EBOPs are already falling, so that the controller
    asks for a descent rate of about ``(i / p) * e`` per epoch instead of winding beta up until the model
    collapses. During the first ``warmup`` epochs beta stays at ``init_beta``. The beta used in each epoch is
    written to ``logs['beta']``. The controller state persists across `fit` calls on the same callback.

    The defaults were tuned on a 64-32-10 MLP on scikit-learn's digits (inputs /16, Adam lr 3e-3, batch 64,
    ``[FreeBOPs(), BetaPID(target_ebops=3000), ResetMinMax()]``, starting from beta 0): the training EBOPs go
    from about 47k to within a factor 1.5 of the target after about 90 epochs and stay within about 0.85-1.05
    of it over epochs 150-200 (measured for targets 3000 and 1000, and for a 32-16-10 MLP). On other models,
    learning rates or numbers of batches per epoch, scale ``i`` and ``p`` together: larger is faster but
    overshoots more, and a beta far above what holds the target can prune a model to 0 EBOPs, from which it
    does not recover.

    Args:
        target_ebops: The EBOPs to reach (> 0).
        p: Proportional gain (on the change of the error, in ln(beta) per unit error).
        i: Integral gain (ln(beta) change per epoch per unit error); ``p / i`` is about the time constant, in
            epochs, of the approach to the target.
        d: Derivative gain; EBOPs are noisy, keep it 0 or small.
        warmup: Epochs (counted by this callback) during which beta stays at ``init_beta``.
        beta_min, beta_max: Bounds of beta (``0 < beta_min <= beta_max``).
        log: Error in log space (True) or as a relative error (False).
        init_beta: Beta during warm-up and the controller's starting point; None: the mean beta of the model's
            H-layers, or 1e-6 when that is 0 (clipped to the bounds).
    """

    def __init__(
        self,
        target_ebops: float,
        p: float = 2.0,
        i: float = 0.08,
        d: float = 0.0,
        warmup: int = 5,
        beta_min: float = 1e-9,
        beta_max: float = 1e-2,
        log: bool = True,
        init_beta: float | None = None,
    ):
        super().__init__()
        self.target_ebops = _positive(target_ebops, 'target_ebops')
        self.p = _positive(p, 'p', allow_zero=True)
        self.i = _positive(i, 'i', allow_zero=True)
        self.d = _positive(d, 'd', allow_zero=True)
        if isinstance(warmup, bool) or not isinstance(warmup, numbers.Integral) or warmup < 0:
            raise ValueError(f'BetaPID: warmup must be an integer >= 0 (epochs), got {warmup!r}.')
        self.warmup = int(warmup)
        self.beta_min = _positive(beta_min, 'beta_min')
        self.beta_max = _positive(beta_max, 'beta_max')
        if not self.beta_min <= self.beta_max or math.isinf(self.beta_max):
            raise ValueError(
                f'BetaPID: need beta_min <= beta_max < inf, got beta_min={beta_min!r}, beta_max={beta_max!r}.'
            )
        if not isinstance(log, bool):
            raise TypeError(f'BetaPID: log must be True or False, got {log!r}.')
        self.log = log
        self.init_beta = None if init_beta is None else _positive(init_beta, 'init_beta')
        self.beta: float | None = None
        self._errors: list[float] = []
        self._n_epochs = 0

    def _error(self, ebops: float) -> float:
        ratio = max(ebops, 1e-12) / self.target_ebops
        return math.log(ratio) if self.log else ratio - 1.0

    def on_train_begin(self, logs=None):
        self._layers = hgq_layers(self.model, 'BetaPID')
        if self.beta is None:
            beta = self.init_beta
            if beta is None:
                betas = [layer_beta(layer) for layer in self._layers]
                beta = sum(betas) / len(betas)
                beta = beta if beta > 0 else 1e-6
            self.beta = min(max(beta, self.beta_min), self.beta_max)

    def on_epoch_begin(self, epoch, logs=None):
        if self.beta is None:
            self.on_train_begin()
        set_beta(self._layers, self.beta)

    def on_epoch_end(self, epoch, logs=None):
        ebops = read_bops(logs, 'BetaPID')
        logs['beta'] = self.beta
        self._n_epochs += 1
        if self._n_epochs < self.warmup or not math.isfinite(ebops):
            return
        err = self._error(ebops)
        if not self._errors:  # the first controlled epoch: no proportional/derivative kick
            self._errors = [err, err]
        e2, e1 = self._errors[-2:]
        step = self.i * err + self.p * (err - e1) + self.d * (err - 2 * e1 + e2)
        step = min(max(step, math.log(self.beta_min / self.beta)), math.log(self.beta_max / self.beta))
        self.beta = float(min(max(self.beta * math.exp(step), self.beta_min), self.beta_max))
        self._errors = (self._errors + [err])[-2:]
