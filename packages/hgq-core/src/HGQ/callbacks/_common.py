"""Helpers shared by the callbacks: finding the H-layers of a model, reading and setting their ``beta``, and
reading the training EBOPs from the epoch logs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from keras import ops

from ..graph import iter_hgq_layers
from ..layers.base import HLayerBase

BOPS_KEY = 'bops'


def hgq_layers(model: keras.Model, who: str) -> list[HLayerBase]:
    """The H-layers of ``model`` (nested models included); a clear error when there are none."""
    layers = list(iter_hgq_layers(model))
    if not layers:
        raise ValueError(
            f'{who}: model {getattr(model, "name", model)!r} has no HGQ layers (HDense, HConv2D, HQuantize, ...), '
            'so there is no beta to set. Build the model from HGQ layers or remove this callback.'
        )
    return layers


def check_beta(value: Any, what: str) -> float:
    """``value`` as a finite, non-negative float; ValueError naming ``what`` otherwise."""
    if isinstance(value, bool):
        raise TypeError(f'{what} must be a real number, got the bool {value!r}.')
    try:
        beta = float(value)
    except (TypeError, ValueError):
        raise TypeError(f'{what} must be a real number, got {type(value).__name__}: {value!r}.') from None
    if not math.isfinite(beta) or beta < 0:
        raise ValueError(f'{what} must be a finite number >= 0, got {value!r}.')
    return beta


def layer_beta(layer: HLayerBase) -> float:
    """The current beta of one H-layer (its variable once built, the constructor value before)."""
    var = getattr(layer, 'beta', None)
    if isinstance(var, keras.Variable):
        return float(ops.convert_to_numpy(var))
    return float(getattr(layer, '_beta0', 0.0))


def set_beta(layers: list[HLayerBase], beta: float) -> None:
    """Sets ``beta`` on every layer: ``assign`` on the non-trainable variable of built layers (read by the
    compiled training step, on every backend), the initial value of layers that are not built yet."""
    for layer in layers:
        var = getattr(layer, 'beta', None)
        if isinstance(var, keras.Variable):
            var.assign(np.asarray(beta, dtype=var.dtype))
        else:
            layer._beta0 = float(beta)


def read_bops(logs: Mapping[str, Any] | None, who: str) -> float:
    """The training EBOPs that `FreeBOPs` or `CalibratedBOPs` wrote into the logs."""
    if logs is None or BOPS_KEY not in logs:
        keys = sorted(logs) if logs else []
        raise ValueError(
            f"{who}: the epoch logs have no {BOPS_KEY!r} (available keys: {keys}). Add HGQ.FreeBOPs() (or "
            f'HGQ.CalibratedBOPs(...)) to the callbacks BEFORE {who}, e.g. callbacks=[FreeBOPs(), {who}(...)].'
        )
    return float(logs[BOPS_KEY])
