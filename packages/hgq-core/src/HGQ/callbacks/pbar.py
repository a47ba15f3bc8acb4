"""`PBar`: one tqdm progress bar over the epochs of `fit`."""

from __future__ import annotations

import string
from typing import Any

import keras


class _Missing:
    """Stands for a log that is not there: formats as '-' whatever the format spec."""

    def __format__(self, spec: str) -> str:
        return '-'

    def __getattr__(self, name):
        return self

    def __getitem__(self, key):
        return self


class _LenientFormatter(string.Formatter):
    def get_value(self, key, args, kwargs):
        if isinstance(key, int):
            return args[key] if key < len(args) else _Missing()
        return kwargs.get(key, _Missing())

    def convert_field(self, value, conversion):
        if isinstance(value, _Missing):
            return value
        return super().convert_field(value, conversion)

    def format_field(self, value, format_spec):
        if isinstance(value, _Missing):
            return '-'
        try:
            return super().format_field(value, format_spec)
        except (ValueError, TypeError):
            return str(value)


_FORMATTER = _LenientFormatter()


class PBar(keras.callbacks.Callback):
    """A tqdm progress bar over epochs (pass ``verbose=0`` to `fit` to silence Keras' own output).

    The bar's description is ``metric`` formatted with the epoch logs (`str.format` syntax); logs that are
    missing (e.g. ``val_loss`` without validation data) show as ``-`` instead of failing. When the logs hold
    ``bops`` (from `FreeBOPs`) or ``beta`` (from `BetaScheduler`/`BetaPID`), they are shown after the bar.

    Args:
        metric: Format string over the logs, e.g. ``'loss: {loss:.3f}/{val_loss:.3f}'``.
        disable: Do not show the bar.
        **tqdm_kwargs: Passed to ``tqdm.tqdm`` (e.g. ``file=``, ``ncols=``).
    """

    def __init__(self, metric: str = 'loss: {loss:.3f}/{val_loss:.3f}', disable: bool = False, **tqdm_kwargs: Any):
        super().__init__()
        if not isinstance(metric, str):
            raise TypeError(f"PBar: metric must be a format string like 'loss: {{loss:.3f}}', got {metric!r}.")
        try:
            list(string.Formatter().parse(metric))
        except ValueError as e:
            raise ValueError(f'PBar: metric {metric!r} is not a valid format string ({e}).') from None
        if not isinstance(disable, bool):
            raise TypeError(f'PBar: disable must be True or False, got {disable!r}.')
        self.metric = metric
        self.disable = disable
        self.tqdm_kwargs = tqdm_kwargs
        self.pbar = None

    def format(self, logs: dict[str, Any] | None) -> str:
        """The bar's description for ``logs``."""
        return _FORMATTER.format(self.metric, **(logs or {}))

    @staticmethod
    def postfix(logs: dict[str, Any] | None) -> str:
        logs = logs or {}
        parts = []
        if 'bops' in logs:
            parts.append(f'bops={float(logs["bops"]):.0f}')
        if 'beta' in logs:
            parts.append(f'beta={float(logs["beta"]):.2e}')
        return ' '.join(parts)

    def on_train_begin(self, logs=None):
        from tqdm.auto import tqdm

        if self.pbar is not None:
            self.pbar.close()
        total = (self.params or {}).get('epochs')
        self.pbar = tqdm(total=total, disable=self.disable, unit='epoch', **self.tqdm_kwargs)
        self._started = False

    def on_epoch_begin(self, epoch, logs=None):
        if self.pbar is not None and not self._started:
            self._started = True
            if epoch:  # fit(initial_epoch=...)
                self.pbar.n = epoch
                self.pbar.refresh()

    def on_epoch_end(self, epoch, logs=None):
        if self.pbar is None:
            return
        self.pbar.set_description_str(self.format(logs), refresh=False)
        post = self.postfix(logs)
        if post:
            self.pbar.set_postfix_str(post, refresh=False)
        self.pbar.update(1)

    def on_train_end(self, logs=None):
        if self.pbar is not None:
            self.pbar.close()
            self.pbar = None
