"""Range calibration (`trace_minmax`), exact BOPs, and the BOPs/range callbacks."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
from keras import ops

from ..graph import iter_hgq_layers, iter_layers
from ..layers.base import HLayerBase
from ..variable_io import read_scalar

__all__ = ['CalibratedBOPs', 'FreeBOPs', 'ResetMinMax', 'iter_hgq_layers', 'iter_layers', 'trace_minmax']


def _batches(dataset: Any, bsz: int) -> Iterator[Any]:
    """Splits arrays (or a list/tuple/dict of arrays, for several inputs) into batches; passes any other
    iterable (e.g. a ``tf.data.Dataset``) through, taking ``x`` from ``(x, y)`` pairs."""
    if isinstance(dataset, dict):
        n = len(next(iter(dataset.values())))
        for i in range(0, n, bsz):
            yield {k: v[i : i + bsz] for k, v in dataset.items()}
        return
    if isinstance(dataset, (list, tuple)) and dataset and hasattr(dataset[0], 'shape'):
        n = len(dataset[0])
        for i in range(0, n, bsz):
            yield [d[i : i + bsz] for d in dataset]
        return
    if hasattr(dataset, 'shape') and hasattr(dataset, '__getitem__'):
        n = dataset.shape[0]
        for i in range(0, n, bsz):
            yield dataset[i : i + bsz]
        return
    try:
        iterator = iter(dataset)
    except TypeError:
        raise ValueError(
            f'trace_minmax: unsupported dataset of type {type(dataset).__name__}. Pass a numpy array, a list of '
            'arrays (one per model input), a dict of arrays, or an iterable of batches.'
        ) from None
    for batch in iterator:
        if isinstance(batch, tuple) and len(batch) in (2, 3):
            batch = batch[0]
        yield batch


_CLAMPS = {'softmax': (0.0, 1.0), 'sigmoid': (0.0, 1.0), 'tanh': (-1.0, 1.0)}


def _activation_clamp(layer: HLayerBase) -> tuple[float, float] | None:
    act = getattr(layer, 'activation', None)
    for name, bounds in _CLAMPS.items():
        if act is getattr(keras.activations, name):
            return bounds
    return None


def _apply_cover_factor(layer: HLayerBase, cover_factor: float) -> None:
    q = layer.paq
    vmin = ops.convert_to_numpy(q._min).astype(np.float64)
    vmax = ops.convert_to_numpy(q._max).astype(np.float64)
    mid, half = (vmin + vmax) / 2, (vmax - vmin) / 2
    vmin, vmax = mid - half * cover_factor, mid + half * cover_factor
    q._min.assign(q(ops.convert_to_tensor(vmin.astype(np.float32)), training=False))
    q._max.assign(q(ops.convert_to_tensor(vmax.astype(np.float32)), training=False))


def _print_table(rows: list[tuple[str, str, str, float]]) -> None:
    w = max([len(r[0]) for r in rows] + [5])
    print(f'{"layer":<{w}}  {"type":<20} {"output bits (mean/max)":>24} {"BOPs":>14}')
    for name, cls, bits, bops in rows:
        print(f'{name:<{w}}  {cls:<20} {bits:>24} {bops:>14.1f}')
    print(f'{"total":<{w}}  {"":<20} {"":>24} {sum(r[3] for r in rows):>14.1f}')


def trace_minmax(
    model: keras.Model,
    dataset,
    bsz: int = 16384,
    verbose: bool = True,
    return_predictions: bool = False,
    no_bops_computation: bool = False,
    rst: bool = True,
    cover_factor: float = 1.0,
):
    """Records the range of every quantized activation on calibration data and computes exact BOPs.

    Args:
        model: A model with HGQ layers (nested models included).
        dataset: Calibration inputs: an array, a list/dict of arrays for several inputs, or an iterable of batches.
        bsz: Batch size for arrays.
        verbose: Print a per-layer table of output bits and BOPs.
        return_predictions: Also return the concatenated model outputs.
        no_bops_computation: Only record ranges (leaves recording on) and return -1.
        rst: Reset the recorded ranges first.
        cover_factor: Widen (> 1) or shrink (< 1) each recorded range about its middle.

    Returns:
        The total exact BOPs (float), or ``(bops, predictions)``.

    Kernel layers whose exact sum needs more than float32's 24 significant bits (`HGQ.overflow.accumulator_bits`)
    are named once per call in a warning of the ``'HGQ'`` logger: there the HGQ model and the proxy, which compute
    in float32, may differ from the firmware in the last bit.
    """
    _check_trace_arguments(bsz, cover_factor)
    layers = _start_recording(model, rst)
    try:
        preds = _run_calibration(model, dataset, int(bsz), return_predictions)
    finally:
        if not no_bops_computation:
            for layer in layers:
                layer.record_minmax = False
    if cover_factor != 1.0:
        _widen_ranges(layers, cover_factor)
    _clamp_ranges(layers)
    if no_bops_computation:
        return -1

    from ..overflow import float32_notice, logger, wide_accumulators

    wide = wide_accumulators(model)
    if wide:  # a log record, not a warning: the HGQ model stays right, only float32 emulation may round
        logger.warning('trace_minmax: %s', float32_notice(wide))
    total = _exact_bops(layers, verbose)
    if return_predictions:
        return total, _concatenate_predictions(preds)
    return total


# ------------------------------------------------------------------------------- the steps of tracing
def _check_trace_arguments(bsz, cover_factor) -> None:
    if not isinstance(bsz, (int, np.integer)) or bsz <= 0:
        raise ValueError(f'bsz must be a positive integer, got {bsz!r}.')
    if not cover_factor > 0:
        raise ValueError(f'cover_factor must be > 0, got {cover_factor!r}.')


def _start_recording(model: keras.Model, rst: bool) -> list[HLayerBase]:
    """The H-layers of ``model``, set to record their output ranges (reset first with ``rst``)."""
    layers = list(iter_hgq_layers(model))
    if not layers:
        raise ValueError(f'trace_minmax: model {model.name!r} has no HGQ layers to trace.')
    for layer in layers:
        if rst:
            layer.reset_minmax()
        layer.record_minmax = True
        layer.save_ranges = True  # traced ranges are worth keeping, also for layers restored from HGQ1 files
    return layers


def _run_calibration(model: keras.Model, dataset, bsz: int, keep_outputs: bool) -> list:
    """Runs ``model`` on every batch of ``dataset`` (recording the ranges); the outputs as numpy when kept."""
    preds = []
    for batch in _batches(dataset, bsz):
        out = model(batch, training=False)
        if keep_outputs:
            preds.append(
                ops.convert_to_numpy(out) if not isinstance(out, (list, tuple))
                else [ops.convert_to_numpy(o) for o in out]
            )
    return preds


def _widen_ranges(layers: list[HLayerBase], cover_factor: float) -> None:
    if cover_factor < 1:
        # stacklevel: the caller of trace_minmax
        warnings.warn(f'cover_factor={cover_factor} < 1 will likely result in overflows.', stacklevel=3)
    for layer in layers:
        _apply_cover_factor(layer, cover_factor)


def _clamp_ranges(layers: list[HLayerBase]) -> None:
    """Clamps the recorded ranges to the output range of a bounded activation (softmax, sigmoid, tanh)."""
    for layer in layers:
        bounds = _activation_clamp(layer)
        if bounds is None or layer.paq._min is None:
            continue
        lo, hi = bounds
        q = layer.paq
        if layer.activation is keras.activations.softmax:
            q._min.assign(ops.zeros_like(q._min))
            q._max.assign(ops.ones_like(q._max))
        else:
            q._min.assign(ops.maximum(q._min, lo))
            q._max.assign(ops.minimum(q._max, hi))


def _exact_bops(layers: list[HLayerBase], verbose: bool) -> float:
    """The total exact BOPs of ``layers`` (each stored in the layer's ``bops``); a table of them when ``verbose``."""
    total = 0.0
    rows = []
    for layer in layers:
        bops = float(layer.compute_exact_bops)
        total += bops
        if verbose:
            bw = layer.act_bw_exact
            rows.append((layer.name, type(layer).__name__, f'{float(np.mean(bw)):.2f}/{int(np.max(bw))}', bops))
    if verbose:
        _print_table(rows)
    return total


def _concatenate_predictions(preds: list):
    if preds and isinstance(preds[0], list):
        return [np.concatenate(p, axis=0) for p in zip(*preds)]
    return np.concatenate(preds, axis=0)


class ResetMinMax(keras.callbacks.Callback):
    """Resets the recorded activation ranges of every H-layer at the end of each epoch (put it last)."""

    def on_epoch_end(self, epoch, logs=None):
        self.reset_minmax(self.model)

    @staticmethod
    def reset_minmax(model: keras.Model) -> None:
        for layer in iter_hgq_layers(model):
            layer.reset_minmax()


class FreeBOPs(keras.callbacks.Callback):
    """Adds ``bops``, the sum of the layers' BOPs estimated during training, to the epoch logs."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs['bops'] = self._bops(self.model)

    @staticmethod
    def _bops(model: keras.Model) -> float:
        total = 0.0
        for layer in iter_layers(model):
            bops = getattr(layer, 'bops', None)
            if bops is not None and hasattr(bops, 'shape'):
                total += read_scalar(bops)
        return total


class CalibratedBOPs(keras.callbacks.Callback):
    """Adds ``bops``, the exact BOPs after tracing ``calibration_data``, to the epoch logs."""

    def __init__(self, calibration_data, bsz: int | None = None):
        super().__init__()
        self.calibration_data = calibration_data
        self.bsz = bsz

    def on_epoch_end(self, epoch, logs=None):
        data = self.calibration_data
        bsz = self.bsz or (len(data[0]) if isinstance(data, (list, tuple)) else len(data))
        bops = trace_minmax(self.model, data, bsz=bsz, verbose=False)
        if logs is not None:
            logs['bops'] = bops
