"""`EarlyStoppingWithEbops`: Keras' early stopping, allowed to stop only within an EBOPs budget."""

from __future__ import annotations

import math
import numbers

import keras

from ._common import read_bops


class EarlyStoppingWithEbops(keras.callbacks.EarlyStopping):
    """`keras.callbacks.EarlyStopping` that only watches epochs whose EBOPs are within ``ebops_threshold``.

    The EBOPs are read from ``logs['bops']`` (put `FreeBOPs` or `CalibratedBOPs` BEFORE this callback). Epochs
    with ``bops > ebops_threshold`` are not monitored at all: they never stop the training, never count towards
    ``patience`` and never become the best epoch (so ``restore_best_weights`` restores an epoch within the
    budget). Once the EBOPs are at or below the threshold it behaves as the Keras callback.

    Args:
        ebops_threshold: The EBOPs budget (>= 0).
        monitor, min_delta, patience, verbose, mode, baseline, restore_best_weights, start_from_epoch: As in
            `keras.callbacks.EarlyStopping`.
    """

    def __init__(
        self,
        ebops_threshold: float,
        monitor: str = 'val_loss',
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = 'auto',
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ):
        if isinstance(ebops_threshold, bool) or not isinstance(ebops_threshold, numbers.Real):
            raise TypeError(
                f'EarlyStoppingWithEbops: ebops_threshold must be a number (an EBOPs budget), got {ebops_threshold!r}.'
            )
        if math.isnan(ebops_threshold) or ebops_threshold < 0:
            raise ValueError(f'EarlyStoppingWithEbops: ebops_threshold must be >= 0, got {ebops_threshold!r}.')
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) or patience < 0:
            raise ValueError(f'EarlyStoppingWithEbops: patience must be an integer >= 0, got {patience!r}.')
        if mode not in ('auto', 'min', 'max'):
            raise ValueError(f"EarlyStoppingWithEbops: mode must be 'auto', 'min' or 'max', got {mode!r}.")
        if not isinstance(monitor, str):
            raise TypeError(f'EarlyStoppingWithEbops: monitor must be the name of a log, got {monitor!r}.')
        super().__init__(
            monitor=monitor,
            min_delta=min_delta,
            patience=patience,
            verbose=verbose,
            mode=mode,
            baseline=baseline,
            restore_best_weights=restore_best_weights,
            start_from_epoch=start_from_epoch,
        )
        self.ebops_threshold = float(ebops_threshold)

    def on_epoch_end(self, epoch, logs=None):
        bops = read_bops(logs, 'EarlyStoppingWithEbops')
        if not bops <= self.ebops_threshold:
            return
        super().on_epoch_end(epoch, logs)
