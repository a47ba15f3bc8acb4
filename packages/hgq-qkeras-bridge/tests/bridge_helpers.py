"""Shared test helpers."""

from __future__ import annotations

import numpy as np

from hgq_qkeras.numerics import FixedFormat


def dense_inputs(fmt: FixedFormat, extra_range: int = 2, seed: int = 0) -> np.ndarray:
    """Every value of ``fmt``, every midpoint (rounding ties), values beyond its range and random off-grid ones."""
    v = np.sort(fmt.values().astype(np.float64))
    step = 2.0**-fmt.frac_bits
    mids = v + step / 2
    span = max(abs(v.min()), abs(v.max()), step) * (2**extra_range)
    beyond = np.linspace(-span, span, 257)
    rng = np.random.default_rng(seed)
    noise = rng.uniform(-span, span, 2000)
    quarter = v + step / 4
    return np.concatenate([v, mids, -mids, quarter, beyond, noise, [0.0, -0.0]]).astype(np.float32)


def stress_inputs(example, model, n: int, seed: int = 2) -> np.ndarray:
    """Inputs for proxy-vs-firmware checks: mostly on the input grid, plus out-of-range and off-grid values
    (the firmware must round and saturate them exactly as the proxy does)."""
    x = example.inputs(model, n, seed=seed)
    rng = np.random.default_rng(seed)
    k = n // 4
    x[:k] *= 4.0  # overflow: the input quantizer saturates
    step = 2.0**-example.input_format.frac_bits
    x[k:2 * k] += rng.uniform(-0.5, 0.5, size=x[k:2 * k].shape).astype(np.float32) * step
    return x


_MODELS: dict[str, object] = {}


def built(example):
    """The example model, built once per session (conversion never changes it)."""
    if example.name not in _MODELS:
        _MODELS[example.name] = example.build()
    return _MODELS[example.name]


def proxy_layer_classes(proxy) -> list[str]:
    return [type(layer).__name__ for layer in proxy.layers]
