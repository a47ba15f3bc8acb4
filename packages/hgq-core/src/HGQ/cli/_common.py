"""What the `hgq` commands share: bad-input errors, dependency checks, loading models and arrays, the output
directory, quiet hls4ml calls and the conversion + bit-exact comparison."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import shutil
import sys
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

MARKER = '.hgq-output'
"""File that marks a directory as written by `hgq` (so that a later run may overwrite it)."""

HLS_PROJECT = 'hls4ml_prj'
HLS_CONFIG = {'Model': {'Precision': 'fixed<1,0>', 'ReuseFactor': 1}}
"""A useless default precision: the plugin sets every type, so nothing may depend on it."""

PLUGIN_HINT = "pip install hgq-hls4ml-plugin (from this repository: pip install ./packages/hgq-hls4ml-plugin)"
HLS4ML_HINT = "pip install 'hls4ml>=1.3'"
QKERAS_HINT = (
    "pip install './packages/hgq-qkeras-bridge[qkeras-v3]' (QKeras on Keras 3) or "
    "'./packages/hgq-qkeras-bridge[qkeras]' (QKeras 0.9; then run with TF_USE_LEGACY_KERAS=1)"
)


class CLIError(Exception):
    """Bad input (a missing file, a wrong array, a missing package): `hgq` prints the message and exits with 2."""


def one_line(exc: BaseException | str, limit: int = 400) -> str:
    """An exception's message on one line, shortened to ``limit`` characters."""
    text = str(exc) if not isinstance(exc, BaseException) else (str(exc) or type(exc).__name__)
    text = ' '.join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + '...'


# -------------------------------------------------------------------------------------------- dependencies
def require(module: str, what: str, hint: str):
    """Imports ``module``; a `CLIError` saying what to install when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise CLIError(f'{what} needs {module}, which is not installed ({one_line(e)}): {hint}') from None


def require_hls4ml(what: str):
    """hls4ml with the hgq-hls4ml-plugin registered, and g++ for the C simulation."""
    require('hgq_hls4ml', what, PLUGIN_HINT)
    hls4ml = require('hls4ml', what, HLS4ML_HINT)
    if shutil.which('g++') is None:
        raise CLIError(f'{what} compiles the hls4ml C simulation with g++, which is not on PATH: install g++ '
                       '(e.g. apt-get install g++)')
    return hls4ml


def require_matplotlib(what: str) -> None:
    from ..report.plots import INSTALL_HINT

    require('matplotlib', what, INSTALL_HINT)


# ------------------------------------------------------------------------------------------------- files
def check_file(path: str, what: str, exts: Sequence[str]) -> str:
    if not os.path.exists(path):
        raise CLIError(f'{what} not found: {path}')
    if os.path.isdir(path):
        raise CLIError(f'{what} {path} is a directory, not a file')
    if not any(path.lower().endswith(e) for e in exts):
        raise CLIError(f'{what} {path} must be a {" or ".join(exts)} file')
    return path


def prepare_output_dir(path: str, owned: Sequence[str]) -> str:
    """Creates ``path``; refuses a non-empty directory that `hgq` did not write, and removes the entries of
    ``owned`` that an earlier `hgq` run left there."""
    path = os.path.abspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise CLIError(f'output directory {path} exists and is not a directory')
    if os.path.isdir(path) and os.listdir(path):
        if not os.path.exists(os.path.join(path, MARKER)):
            raise CLIError(f'output directory {path} is not empty and was not written by hgq; give another '
                           '--output-dir or empty it')
        for name in owned:
            p = os.path.join(path, name)
            if os.path.isdir(p):
                shutil.rmtree(p)
            elif os.path.exists(p):
                os.remove(p)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, MARKER), 'w') as f:
        f.write('written by the hgq command; a later hgq run may replace the files here\n')
    return path


def write_json(path: str, obj: Any) -> str:
    from ..report.summary import json_ready

    with open(path, 'w') as f:
        json.dump(json_ready(obj), f, indent=1, allow_nan=False)
        f.write('\n')
    return path


# ------------------------------------------------------------------------------------------------ models
_QKERAS_CLASS = re.compile(r'^Q[A-Z][A-Za-z0-9]*$')


def _config_text(path: str) -> str | None:
    """The model config JSON stored in a ``.keras`` or ``.h5`` file (None when unreadable)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                return z.read('config.json').decode('utf-8', 'replace')
        import h5py

        with h5py.File(path, 'r') as f:
            cfg = f.attrs.get('model_config')
            if cfg is None:
                return None
            return cfg.decode('utf-8', 'replace') if isinstance(cfg, bytes) else str(cfg)
    except Exception:
        return None


def _class_names(obj: Any) -> Iterator[tuple[str, str]]:
    if isinstance(obj, dict):
        if isinstance(obj.get('class_name'), str):
            yield obj['class_name'], str(obj.get('module') or '')
        for v in obj.values():
            yield from _class_names(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _class_names(v)


def qkeras_layers_in_file(path: str) -> list[str]:
    """Class names of the QKeras layers a saved model's config holds (empty for other models)."""
    text = _config_text(path)
    if not text:
        return []
    try:
        cfg = json.loads(text)
    except ValueError:
        return []
    import keras

    found = []
    for name, module in _class_names(cfg):
        if module.startswith('qkeras') or (_QKERAS_CLASS.match(name) and not hasattr(keras.layers, name)):
            if name not in found and not name.startswith('quantized_'):
                found.append(name)
    return found


def _load_qkeras(path: str, classes: list[str]):
    what = f'{path} holds a QKeras model ({", ".join(classes[:4])})'
    require('hgq_qkeras', what, QKERAS_HINT)
    try:
        import qkeras.utils
    except ImportError as e:
        raise CLIError(f'{what}, but QKeras is not installed ({one_line(e)}): {QKERAS_HINT}') from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            return qkeras.utils.load_qmodel(path, compile=False)
    except Exception as e:
        raise CLIError(f'cannot load the QKeras model {path}: {one_line(e)}') from None


def load_model(path: str):
    """Loads a ``.keras``/``.h5`` model written by HGQ (this one or HGQ1), a proxy model, or a QKeras model.

    Returns:
        ``(model, kind)`` with kind ``'hgq'``, ``'qkeras'`` or ``'proxy'`` (a proxy model: FixedPointQuantizer
        layers, as `to_proxy_model` of HGQ or HGQ1 writes them).
    """
    check_file(path, 'model file', ('.keras', '.h5', '.hdf5'))
    qk = qkeras_layers_in_file(path)
    if qk:
        return _load_qkeras(path, qk), 'qkeras'
    import keras

    from ..bops.bops import iter_layers
    from ..layers.base import ABSBaseLayer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            model = keras.models.load_model(path, compile=False)
    except Exception as e:
        raise CLIError(f'cannot load the model {path}: {one_line(e)}') from None
    if not isinstance(model, keras.Model):
        raise CLIError(f'{path} does not hold a Keras model')
    layers = list(iter_layers(model))
    if any(isinstance(layer, ABSBaseLayer) for layer in layers):
        return model, 'hgq'
    from ..proxy import FixedPointQuantizer

    if any(isinstance(layer, FixedPointQuantizer) for layer in layers):
        return model, 'proxy'  # a proxy model already (e.g. saved by HGQ1's to_proxy_model)
    raise CLIError(
        f'the model in {path} has no HGQ layers (HQuantize, HDense, HConv2D, ...) and no QKeras layers: hgq '
        'works on models trained with HGQ (or QKeras models, with hgq-qkeras-bridge, or proxy models)')


# ------------------------------------------------------------------------------------------------ arrays
def _input_specs(model) -> list[tuple[str, tuple]]:
    specs = []
    for i, t in enumerate(model.inputs):
        name = getattr(t, 'name', None) or f'input_{i}'
        shape = tuple(None if s is None else int(s) for s in tuple(t.shape)[1:])
        specs.append((str(name).split(':')[0], shape))
    return specs


def _fmt_shape(shape: tuple) -> str:
    return '(N, ' + ', '.join('?' if s is None else str(s) for s in shape) + ')' if shape else '(N,)'


def _check_one(arr: np.ndarray, name: str, shape: tuple, where: str) -> np.ndarray:
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise CLIError(f'{where} holds {arr.dtype} values; it must hold numbers')
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise CLIError(f'{where} is empty (shape {arr.shape}); it needs at least one sample')
    ok = arr.ndim == len(shape) + 1 and all(e is None or e == s for e, s in zip(shape, arr.shape[1:]))
    if not ok:
        hint = ' (add the batch axis: one row per sample)' if arr.ndim == len(shape) and arr.shape == shape else ''
        raise CLIError(f'{where} has shape {arr.shape}, but the model input {name!r} takes {_fmt_shape(shape)}{hint}')
    arr = arr.astype(np.float32)
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = 'NaN' if np.isnan(arr).any() else 'infinite'
        raise CLIError(f'{where} contains {int(bad.sum())} NaN or infinite value(s) ({kind} at index {first}); '
                       'the data must be finite')
    return np.ascontiguousarray(arr)


def load_inputs(path: str, model, what: str):
    """Reads model inputs from ``.npy`` (one input) or ``.npz`` (one array per input, by input name or in order)
    and checks them against the model's inputs (shape, finite numbers)."""
    check_file(path, what, ('.npy', '.npz'))
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as e:
        raise CLIError(f'cannot read {what} {path}: {one_line(e)}') from None
    specs = _input_specs(model)
    if isinstance(data, np.ndarray):
        if len(specs) != 1:
            raise CLIError(f'the model has {len(specs)} inputs ({", ".join(n for n, _ in specs)}), but {what} {path} '
                           'holds one array; give an .npz file with one array per input')
        return _check_one(data, specs[0][0], specs[0][1], f'{what} {path}')
    with data:
        keys = list(data.files)
        names = [n for n, _ in specs]
        if set(names) <= set(keys):
            arrays = [data[n] for n in names]
        elif len(keys) == len(specs):
            arrays = [data[k] for k in keys]
        else:
            raise CLIError(f'{what} {path} holds arrays {keys}, but the model has inputs {names}; name the arrays '
                           'after the inputs or store one per input, in order')
    out = [_check_one(a, n, s, f'{what} {path} (input {n!r})') for a, (n, s) in zip(arrays, specs)]
    lengths = {len(a) for a in out}
    if len(lengths) != 1:
        raise CLIError(f'the arrays in {what} {path} have different numbers of samples: {[len(a) for a in out]}')
    return out if len(out) > 1 else out[0]


def n_samples(x) -> int:
    return len(x[0]) if isinstance(x, list) else len(x)


def concat(xs: Sequence[Any]):
    if isinstance(xs[0], list):
        return [np.concatenate(parts) for parts in zip(*xs)]
    return np.concatenate(xs)


# ------------------------------------------------------------------------------------------------ hls4ml
@contextlib.contextmanager
def quiet(log):
    """Sends stdout (Python's and the C level's) and Python warnings to the open file ``log`` meanwhile."""
    log.flush()
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):
        saved = None
    if saved is not None:
        os.dup2(log.fileno(), 1)
    try:
        with contextlib.redirect_stdout(log), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            try:
                yield
            finally:
                for w in caught:
                    log.write(f'warning: {w.category.__name__}: {w.message} ({w.filename}:{w.lineno})\n')
    finally:
        log.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def predict(model, x):
    """The model's outputs on ``x`` (numpy; a list for several outputs), called directly in inference mode: no
    ``predict`` function to trace for each of many small models."""
    out = model(x, training=False)
    if isinstance(out, (list, tuple)):
        return [_numpy(o) for o in out]
    return _numpy(out)


def _numpy(t) -> np.ndarray:
    try:
        import keras

        return np.asarray(keras.ops.convert_to_numpy(t))
    except Exception:  # a tf_keras (QKeras 0.9) tensor
        return np.asarray(t)


def hls_convert(proxy, backend: str, io_type: str, output_dir: str):
    """The hls4ml model of ``proxy`` (the plugin sets every type; the default precision is never used)."""
    import hls4ml

    return hls4ml.converters.convert_from_keras_model(
        proxy, hls_config=HLS_CONFIG, io_type=io_type, backend=backend, output_dir=output_dir)


def hls_compare(proxy, hls_model, x):
    """Runs the compiled C simulation and the proxy on ``x``; counts the output values that are equal bit for bit."""
    from ..utils.exactness import count_equal

    ref = predict(proxy, x)
    got = hls_model.predict(x[0] if isinstance(x, list) and len(x) == 1 else x)
    return count_equal(ref, got)


def compile_all(hls_models: dict, jobs: int) -> Iterator[tuple[Any, BaseException | None]]:
    """Writes and compiles the hls4ml models (``{key: model}``), ``jobs`` g++ builds at a time; yields
    ``(key, error or None)`` as each one finishes. Call inside `quiet`."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    def build(key):
        hls_models[key].compile()
        return key

    if jobs <= 1 or len(hls_models) <= 1:
        for key in hls_models:
            try:
                build(key)
            except Exception as e:  # noqa: BLE001 - reported by the caller
                yield key, e
            else:
                yield key, None
        return
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(build, key): key for key in hls_models}
        for fut in as_completed(futures):
            yield futures[fut], fut.exception()


def compile_error(e: BaseException, out_dir: str) -> RuntimeError:
    return RuntimeError(f'hls4ml could not write or compile the C simulation ({type(e).__name__}: {one_line(e)}); '
                        f'the compiler output is in {os.path.join(out_dir, "hgq.log")}')


def default_jobs() -> int:
    """Parallel g++ builds: the CPUs this process may use, at most 4."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(4, n))


def open_log(out_dir: str):
    return open(os.path.join(out_dir, 'hgq.log'), 'a', encoding='utf-8')
