"""Which QKeras is installed, and whether this process can run it.

QKeras 0.9 (PyPI ``qkeras``) is written for Keras 2: on TensorFlow >= 2.16 it only works through
``tf_keras``, which TensorFlow puts behind ``tf.keras`` when ``TF_USE_LEGACY_KERAS=1`` is set before
TensorFlow is first imported. ``qkeras-v3`` (PyPI ``qkeras-v3``) is a Keras 3 port with the same import
name. Nothing here imports TensorFlow or QKeras unless a function needs them.

Without the variable QKeras 0.9 imports, but its layers are built on Keras 3 and fail at their first call with a
long TypeError from tf_keras. So `install_import_guard` (run by ``import hgq_qkeras``) checks the environment when
``qkeras`` is imported after the bridge and raises `LegacyKerasImportError` (a `LegacyKerasError`) with the fix
instead; when QKeras was imported first, ``import hgq_qkeras`` warns (`warn_if_qkeras_is_unusable`), and
`check_environment` raises in `hgq_qkeras.to_proxy_model`.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
import warnings
from importlib import metadata
from types import ModuleType

from .errors import LegacyKerasError, LegacyKerasImportError

LEGACY = 'qkeras-0.9'
V3 = 'qkeras-v3'
_TRUE = ('1', 'true', 'True')

LEGACY_KERAS_HELP = (
    'QKeras 0.9 needs Keras 2 (tf_keras) behind tf.keras. Set the environment variable TF_USE_LEGACY_KERAS=1 '
    'before TensorFlow or QKeras is imported for the first time: in the shell '
    '(`TF_USE_LEGACY_KERAS=1 python your_script.py`), or as the very first lines of your script or notebook, '
    "before `import tensorflow` and `import qkeras`: `import os; os.environ['TF_USE_LEGACY_KERAS'] = '1'`. "
    'Install `tf-keras` (same minor version as tensorflow) and `pyparsing` as well. To stay on Keras 3 instead, '
    'use the qkeras-v3 package.'
)


def _installed(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def qkeras_flavour() -> str | None:
    """``'qkeras-0.9'`` (Keras 2 QKeras), ``'qkeras-v3'`` (Keras 3 port) or None when QKeras is not installed."""
    module = sys.modules.get('qkeras')
    if module is not None:
        version = str(getattr(module, '__version__', '0'))
        return LEGACY if version.startswith('0.') else V3
    if _installed('qkeras-v3') is not None:
        return V3
    if _installed('qkeras') is not None:
        return LEGACY
    return None


def legacy_keras_enabled() -> bool:
    """True when ``tf.keras`` is (or will be, once TensorFlow is imported) tf_keras."""
    qkeras = sys.modules.get('qkeras')
    if qkeras is not None and hasattr(qkeras, 'QDense'):
        return any(c.__module__.startswith('tf_keras') for c in qkeras.QDense.__mro__)
    tensorflow = sys.modules.get('tensorflow')
    if tensorflow is not None and hasattr(tensorflow, '_tf_uses_legacy_keras'):
        return bool(tensorflow._tf_uses_legacy_keras)  # TensorFlow reads the variable once, when it is imported
    return os.environ.get('TF_USE_LEGACY_KERAS') in _TRUE


def _legacy_keras_message() -> str:
    found = os.environ.get('TF_USE_LEGACY_KERAS')
    state = 'is not set' if found is None else f'is {found!r}'
    if found in _TRUE:
        state += ', but TensorFlow was imported before it was set'
    return f'{LEGACY_KERAS_HELP} (Here TF_USE_LEGACY_KERAS {state}.)'


def check_environment() -> None:
    """Raises `LegacyKerasError` when QKeras 0.9 is installed but ``TF_USE_LEGACY_KERAS=1`` was not set in time."""
    if qkeras_flavour() != LEGACY or legacy_keras_enabled():
        return
    raise LegacyKerasError(_legacy_keras_message())


class _QKerasImportGuard(importlib.abc.MetaPathFinder):
    """Checks the environment when ``qkeras`` is about to be imported; finds nothing itself."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != 'qkeras':
            return None
        if qkeras_flavour() == LEGACY and not legacy_keras_enabled():
            exc = LegacyKerasImportError(_legacy_keras_message())
            exc.name = 'qkeras'
            raise exc  # the guard stays: every further attempt in this process would fail the same way
        remove_import_guard()
        return None


_GUARD = _QKerasImportGuard()


def install_import_guard() -> None:
    """Makes a later ``import qkeras`` of QKeras 0.9 raise `LegacyKerasImportError` when tf_keras would not be
    behind ``tf.keras`` (run by ``import hgq_qkeras``; idempotent; nothing to do for qkeras-v3)."""
    if 'qkeras' in sys.modules or _GUARD in sys.meta_path or qkeras_flavour() != LEGACY:
        return
    sys.meta_path.insert(0, _GUARD)


def remove_import_guard() -> None:
    """Undoes `install_import_guard`."""
    while _GUARD in sys.meta_path:
        sys.meta_path.remove(_GUARD)


def warn_if_qkeras_is_unusable() -> None:
    """Warns when QKeras 0.9 was imported without tf_keras behind ``tf.keras`` (its layers fail when called)."""
    if 'qkeras' in sys.modules and qkeras_flavour() == LEGACY and not legacy_keras_enabled():
        warnings.warn(f'QKeras 0.9 was imported on Keras 3: its layers fail when called. {_legacy_keras_message()}',
                      RuntimeWarning, stacklevel=3)


def import_qkeras() -> ModuleType:
    """Imports QKeras after `check_environment`; raises ImportError with install hints if it is missing."""
    check_environment()
    try:
        import qkeras
    except ImportError as exc:
        raise ImportError(
            f'QKeras is not importable ({exc}). Install `qkeras` with `tf-keras`, `tensorflow` and `pyparsing` '
            '(QKeras 0.9, run with TF_USE_LEGACY_KERAS=1), or `qkeras-v3` for Keras 3.'
        ) from exc
    return qkeras


def keras_of_qkeras() -> ModuleType:
    """The Keras package QKeras layers are built on: ``tf_keras`` for QKeras 0.9, ``keras`` for qkeras-v3."""
    import_qkeras()
    if qkeras_flavour() == LEGACY:
        import tf_keras

        return tf_keras
    import keras

    return keras
