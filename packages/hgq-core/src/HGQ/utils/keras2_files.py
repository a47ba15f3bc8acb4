"""Loading files that HGQ1 (Keras 2) wrote with ``keras.models.load_model``.

Keras 3 reads Keras 2 files, with two gaps that every HGQ1 user meets, closed here when `HGQ` is imported:

- A legacy ``.h5`` model compiled with a short loss alias (``loss='mse'``, ``'mae'``, ...) fails to load
  ("Could not deserialize 'keras.metrics.mse'"): Keras 3 no longer resolves those aliases from a saved
  training config. The aliases are given their full names while the ``.h5`` training config is read.
- A Keras 2 ``.keras`` file of a functional model names its class ``keras.src.engine.functional.Functional``,
  a module Keras 3 does not have. ``Functional`` is registered as a custom object, so the lookup finds the
  Keras 3 class (which reads the Keras 2 config). Keras 3's own files resolve to the same class, unchanged.

Both are feature-detected: with a Keras that loads these files itself, nothing is changed.
"""

from __future__ import annotations

import functools
from typing import Any

import keras

from .._keras_compat import functional_class, keras2_functional_module_exists, legacy_h5_saving_utils

# Keras 2 loss aliases and the full names Keras 3 still resolves from a saved config
LOSS_ALIASES = {
    'mse': 'mean_squared_error',
    'MSE': 'mean_squared_error',
    'mae': 'mean_absolute_error',
    'MAE': 'mean_absolute_error',
    'mape': 'mean_absolute_percentage_error',
    'MAPE': 'mean_absolute_percentage_error',
    'msle': 'mean_squared_logarithmic_error',
    'MSLE': 'mean_squared_logarithmic_error',
    'kld': 'kl_divergence',
    'KLD': 'kl_divergence',
    'kullback_leibler_divergence': 'kl_divergence',
}


def canonical_loss(loss: Any) -> Any:
    """``loss`` with every Keras 2 alias string (also inside lists and dicts) replaced by its full name."""
    if isinstance(loss, str):
        return LOSS_ALIASES.get(loss, loss)
    if isinstance(loss, list):
        return [canonical_loss(v) for v in loss]
    if isinstance(loss, dict) and 'class_name' not in loss:
        return {k: canonical_loss(v) for k, v in loss.items()}
    return loss


def _alias_is_broken() -> bool:
    try:
        keras.losses.deserialize('mse')
    except Exception:
        return True
    return False


def _patch_legacy_h5_loss_aliases() -> None:
    saving_utils = legacy_h5_saving_utils()
    if saving_utils is None:
        return
    original = getattr(saving_utils, 'compile_args_from_training_config', None)
    if original is None or getattr(original, '_hgq_loss_aliases', False) or not _alias_is_broken():
        return

    @functools.wraps(original)
    def compile_args_from_training_config(training_config, *args, **kwargs):
        if isinstance(training_config, dict) and 'loss' in training_config:
            training_config = {**training_config, 'loss': canonical_loss(training_config['loss'])}
        return original(training_config, *args, **kwargs)

    compile_args_from_training_config._hgq_loss_aliases = True
    saving_utils.compile_args_from_training_config = compile_args_from_training_config


def _register_keras2_functional() -> None:
    if keras2_functional_module_exists():
        return  # this Keras resolves the Keras 2 module path itself
    functional = functional_class()
    if functional is not None:
        keras.saving.get_custom_objects().setdefault('Functional', functional)


def enable_keras2_file_loading() -> None:
    """Closes the two Keras 2 file gaps described in this module (idempotent; `import HGQ` calls it)."""
    _patch_legacy_h5_loss_aliases()
    _register_keras2_functional()
