"""`ParetoFront`: keeps the checkpoints of the epochs that no other epoch beats on every metric."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np

FRONT_JSON = 'front.json'


def _as_float(value) -> float | None:
    try:
        out = float(np.asarray(value).reshape(()))
    except (TypeError, ValueError):
        return None
    return out


def _format_value(name: str, value: float) -> str:
    if 'bops' in name.lower():
        return f'{value:.0f}'
    return f'{value:.4f}'


class ParetoFront(keras.callbacks.Callback):
    """Saves the model at every epoch on the Pareto front of ``metrics`` and deletes the checkpoints it beats.

    At the end of each epoch the vector of ``metrics`` (read from the logs) is compared with the kept
    checkpoints, in the direction given by ``sides`` (+1: larger is better, -1: smaller is better). When no kept
    checkpoint is at least as good on every metric, the model is saved in the directory ``path`` and every kept
    checkpoint that the new one dominates (at least as good everywhere, better somewhere) is deleted. On a tie
    (equal on all metrics) the older checkpoint is kept and the new epoch is not saved. Epochs with a NaN metric
    are skipped. Files in ``path`` that this callback did not write are left alone.

    The ``.keras`` files keep every variable of the H-layers, the recorded activation ranges included, so a
    loaded checkpoint predicts exactly as the model did at the end of its epoch.

    Note:
        The training EBOPs (``bops`` from `FreeBOPs`) are an over-estimate of the exact EBOPs of the deployed
        model: they use the ranges recorded during the epoch (while the weights changed) and differentiable
        bitwidths. A report step should re-trace each checkpoint of the front with `trace_minmax` on calibration
        data to get its exact EBOPs (the front on exact EBOPs may then differ slightly).

    Args:
        path: Directory for the checkpoints (created when missing).
        metrics: Names of the logs to compare, e.g. ``['val_accuracy', 'bops']`` (``bops`` needs `FreeBOPs`
            or `CalibratedBOPs` before this callback).
        sides: For each metric, +1 (maximize) or -1 (minimize).
        fname_format: File name as a `str.format` string over ``epoch`` (Keras' 0-based epoch index) and the
            logs, e.g. ``'ep{epoch}-acc{val_accuracy:.3f}.keras'``; the extension is added when missing. Default:
            ``'epoch={epoch:04d}-<metric>=<value>-...'``, e.g. ``epoch=0012-val_accuracy=0.9512-bops=3071.keras``
            (values with ``bops`` in their name without decimals, the others with 4).
        enable_if: Optional ``enable_if(epoch, logs) -> bool``; epochs for which it is False are not considered.
        save_weights_only: Save ``.weights.h5`` files (weights only) instead of whole ``.keras`` models.

    Attributes:
        front: The kept checkpoints, sorted by epoch: a list of ``{'epoch': int, 'path': str, 'logs': {name:
            float}}`` (all logs of that epoch). The same list is written to ``<path>/front.json`` after every
            change.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        metrics: Sequence[str] | str = ('val_accuracy', 'bops'),
        sides: Sequence[int] | int = (1, -1),
        fname_format: str | None = None,
        enable_if: Callable[[int, dict[str, Any]], bool] | None = None,
        save_weights_only: bool = False,
    ):
        super().__init__()
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise TypeError(f'ParetoFront: path must be a directory path (str), got {path!r}.')
        self.path = os.path.abspath(os.fspath(path))
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise ValueError(f'ParetoFront: path {self.path!r} exists and is not a directory; pass a directory.')
        if isinstance(metrics, str):
            metrics = [metrics]
        if not isinstance(metrics, Sequence) or not metrics or not all(isinstance(m, str) and m for m in metrics):
            raise TypeError(
                f"ParetoFront: metrics must be a non-empty list of log names, got {metrics!r}; e.g. "
                "metrics=['val_accuracy', 'bops']."
            )
        if len(set(metrics)) != len(metrics):
            raise ValueError(f'ParetoFront: metrics has duplicates: {list(metrics)!r}; name each metric once.')
        if isinstance(sides, (int, float)) and not isinstance(sides, bool):
            sides = [sides]
        if not isinstance(sides, Sequence) or isinstance(sides, str):
            raise TypeError(f'ParetoFront: sides must be a list of +1/-1, one per metric, got {sides!r}.')
        if len(sides) != len(metrics):
            raise ValueError(
                f'ParetoFront: sides {list(sides)!r} has {len(sides)} entries but metrics {list(metrics)!r} has '
                f'{len(metrics)}; give one side (+1: maximize, -1: minimize) per metric.'
            )
        for m, s in zip(metrics, sides):
            if isinstance(s, bool) or s not in (1, -1):
                raise ValueError(
                    f'ParetoFront: the side of metric {m!r} must be +1 (maximize) or -1 (minimize), got {s!r}.'
                )
        if fname_format is not None and not isinstance(fname_format, str):
            raise TypeError(f'ParetoFront: fname_format must be a str.format string or None, got {fname_format!r}.')
        if enable_if is not None and not callable(enable_if):
            raise TypeError(
                f'ParetoFront: enable_if must be a callable (epoch, logs) -> bool or None, got {enable_if!r}.'
            )
        if not isinstance(save_weights_only, bool):
            raise TypeError(f'ParetoFront: save_weights_only must be True or False, got {save_weights_only!r}.')
        self.metrics = list(metrics)
        self.sides = [int(s) for s in sides]
        self.fname_format = fname_format
        self.enable_if = enable_if
        self.save_weights_only = save_weights_only
        self.front: list[dict[str, Any]] = []

    # ------------------------------------------------------------------------------------------------ helpers
    @property
    def _ext(self) -> str:
        return '.weights.h5' if self.save_weights_only else '.keras'

    def _values(self, logs: Mapping[str, Any]) -> list[float]:
        missing = [m for m in self.metrics if m not in logs]
        if missing:
            hint = ''
            if any('bops' in m for m in missing):
                hint += ' Add HGQ.FreeBOPs() to the callbacks before ParetoFront.'
            if any(m.startswith('val_') for m in missing):
                hint += ' Metrics starting with "val_" need validation data in fit().'
            raise ValueError(
                f'ParetoFront: metric(s) {missing} not in the epoch logs; available keys: {sorted(logs)}.{hint} '
                'Or pass metrics= with names from the available keys.'
            )
        return [_as_float(logs[m]) for m in self.metrics]

    def _fname(self, epoch: int, logs: dict[str, float]) -> str:
        if self.fname_format is None:
            parts = [f'epoch={epoch:04d}'] + [f'{m}={_format_value(m, logs[m])}' for m in self.metrics]
            name = '-'.join(parts)
        else:
            try:
                name = self.fname_format.format(epoch=epoch, **{k: v for k, v in logs.items() if k != 'epoch'})
            except (KeyError, IndexError) as e:
                raise ValueError(
                    f'ParetoFront: fname_format {self.fname_format!r} uses {e}, which is not in the epoch logs; '
                    f'available keys: {["epoch"] + sorted(logs)}.'
                ) from None
            except ValueError as e:
                raise ValueError(f'ParetoFront: fname_format {self.fname_format!r} cannot be formatted: {e}.') from None
        if os.sep in name or (os.altsep and os.altsep in name):
            raise ValueError(f'ParetoFront: fname_format gave {name!r}, which is not a plain file name.')
        if not name.endswith(self._ext):
            name += self._ext
        return name

    def _better_or_equal(self, a: Sequence[float], b: Sequence[float]) -> bool:
        return all(s * x >= s * y for s, x, y in zip(self.sides, a, b))

    def dominates(self, a: Sequence[float], b: Sequence[float]) -> bool:
        """Whether metric vector ``a`` dominates ``b``: at least as good on every metric, better on one."""
        return self._better_or_equal(a, b) and any(s * x > s * y for s, x, y in zip(self.sides, a, b))

    def _write_front(self) -> None:
        tmp = os.path.join(self.path, FRONT_JSON + '.tmp')
        with open(tmp, 'w') as f:
            json.dump(self.front, f, indent=1)
        os.replace(tmp, os.path.join(self.path, FRONT_JSON))

    # ---------------------------------------------------------------------------------------------- callback
    def on_train_begin(self, logs=None):
        os.makedirs(self.path, exist_ok=True)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        values = self._values(logs)
        if any(v is None or math.isnan(v) for v in values):
            return
        if self.enable_if is not None and not self.enable_if(epoch, dict(logs)):
            return
        for entry in self.front:
            if self._better_or_equal(self._entry_values(entry), values):
                return
        float_logs = {k: f for k, f in ((k, _as_float(v)) for k, v in logs.items()) if f is not None}
        os.makedirs(self.path, exist_ok=True)
        fname = self._fname(int(epoch), float_logs)
        target = os.path.join(self.path, fname)
        kept_paths = {entry['path'] for entry in self.front}
        stem, n = target[: -len(self._ext)], 1
        while target in kept_paths:  # the same name from another fit() call: do not overwrite a kept checkpoint
            target, n = f'{stem}-{n}{self._ext}', n + 1
        if self.save_weights_only:
            self.model.save_weights(target)
        else:
            self.model.save(target)
        keep = []
        for entry in self.front:
            if self.dominates(values, self._entry_values(entry)):
                if os.path.exists(entry['path']) and entry['path'] != target:
                    os.remove(entry['path'])
            else:
                keep.append(entry)
        keep.append({'epoch': int(epoch), 'path': target, 'logs': float_logs})
        self.front = sorted(keep, key=lambda e: e['epoch'])
        self._write_front()

    def _entry_values(self, entry: dict[str, Any]) -> list[float]:
        return [entry['logs'][m] for m in self.metrics]
