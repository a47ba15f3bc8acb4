"""Numbers for a report: per-layer EBOPs and bitwidths of a traced HGQ model, Pareto-front helpers and the
versions of the packages used. Needs only numpy and Keras (no matplotlib, no hls4ml)."""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..bops.bops import iter_hgq_layers


@dataclass
class LayerBits:
    """Exact bitwidths of one H-layer after `trace_minmax`.

    Attributes:
        name: The layer's name.
        cls: The layer's class name.
        ebops: Exact EBOPs of the layer (0 for layers without a kernel).
        kernel_bits: Bits of every deployed (quantized, BN-fused) kernel weight, sign not counted; 0 means the
            weight is pruned (quantized to zero). None for layers without a kernel.
        act_bits: Bits of every output element, sign included (except after ReLU); 0 means the output is
            constant zero (a pruned neuron).
    """

    name: str
    cls: str
    ebops: float
    kernel_bits: np.ndarray | None
    act_bits: np.ndarray

    def as_dict(self) -> dict[str, Any]:
        """The layer's entry in ``summary.json``."""
        k = self.kernel_bits
        return {
            'name': self.name,
            'type': self.cls,
            'ebops': float(self.ebops),
            'kernel_bits_mean': None if k is None or k.size == 0 else float(np.mean(k)),
            'kernel_bits_max': None if k is None or k.size == 0 else int(np.max(k)),
            'kernel_pruned_fraction': None if k is None or k.size == 0 else float(np.mean(k == 0)),
            'n_weights': None if k is None else int(k.size),
            'act_bits_mean': float(np.mean(self.act_bits)) if self.act_bits.size else 0.0,
            'act_bits_max': int(np.max(self.act_bits)) if self.act_bits.size else 0,
            'n_outputs': int(self.act_bits.size),
        }


def layer_bits(model) -> list[LayerBits]:
    """Exact EBOPs and bitwidths of every H-layer of a traced model (run `HGQ.trace_minmax` first).

    The EBOPs are what `trace_minmax` computes (each layer's ``compute_exact_bops``: for a dense layer
    ``sum(input_bits @ kernel_bits)``); kernel bits are ``i + f`` of each quantized weight (as in the EBOPs) and
    activation bits ``k + i + f`` of each output element, read from the layers' quantizers.
    """
    out = []
    for layer in iter_hgq_layers(model):
        ebops = float(layer.compute_exact_bops)
        kernel = np.asarray(layer.kernel_bw_exact, dtype=np.int32).ravel() if layer._has_kernel else None
        act = np.asarray(layer.act_bw_exact, dtype=np.int32).ravel()
        out.append(LayerBits(layer.name, type(layer).__name__, ebops, kernel, act))
    return out


def layer_summary(model) -> list[dict[str, Any]]:
    """The ``"layers"`` entries of ``summary.json`` for a traced model: one dict per H-layer with ``name``,
    ``type``, ``ebops``, ``kernel_bits_mean``, ``kernel_bits_max``, ``kernel_pruned_fraction``, ``n_weights``,
    ``act_bits_mean``, ``act_bits_max``, ``n_outputs`` (kernel entries None for layers without a kernel)."""
    return [lb.as_dict() for lb in layer_bits(model)]


# ------------------------------------------------------------------------------------------------ Pareto
def non_dominated(points: Sequence[Sequence[float]], sides: Sequence[int]) -> list[int]:
    """Indices of the points no other point dominates (at least as good on every coordinate, better on one),
    for ``sides`` +1 (maximize) / -1 (minimize) per coordinate. Of several equal points only the first is kept."""
    keep = []
    for i, p in enumerate(points):
        beaten = False
        for j, q in enumerate(points):
            if i == j:
                continue
            ge = all(s * b >= s * a for s, a, b in zip(sides, p, q))
            gt = any(s * b > s * a for s, a, b in zip(sides, p, q))
            if ge and (gt or j < i):
                beaten = True
                break
        if not beaten:
            keep.append(i)
    return keep


def choose(entries: Sequence[dict[str, Any]], tolerance: float = 0.01, accuracy: str = 'accuracy',
           cost: str = 'ebops') -> int:
    """Index of the entry with the smallest ``cost`` among those whose ``accuracy`` is within ``tolerance``
    (absolute, 0.01 = one accuracy point) of the best one."""
    if not entries:
        raise ValueError('choose: no entries to choose from.')
    best = max(e[accuracy] for e in entries)
    ok = [i for i, e in enumerate(entries) if e[accuracy] >= best - tolerance - 1e-12]
    return min(ok, key=lambda i: (entries[i][cost], -entries[i][accuracy]))


# ---------------------------------------------------------------------------------------------- versions
_DISTRIBUTIONS = (
    'hgq-core', 'hgq-hls4ml-plugin', 'hgq-qkeras-bridge', 'hls4ml', 'keras', 'tensorflow', 'tensorflow-cpu',
    'jax', 'torch', 'numpy', 'scikit-learn', 'matplotlib', 'qkeras', 'qkeras-v3', 'tf-keras',
)


def _gxx_version() -> str | None:
    gxx = shutil.which('g++')
    if gxx is None:
        return None
    try:
        out = subprocess.run([gxx, '--version'], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[0].strip() if out else None


def versions() -> dict[str, str]:
    """Versions of Python, the platform, the Keras backend, g++ and the installed packages that matter."""
    import keras

    out = {
        'python': platform.python_version(), 'platform': platform.platform(), 'keras_backend': keras.backend.backend()
    }
    for dist in _DISTRIBUTIONS:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    gxx = _gxx_version()
    if gxx:
        out['g++'] = gxx
    return out


def command_line(argv: Sequence[str] | None) -> str:
    """The command as the user typed it (for the report's header)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return ' '.join(['hgq'] + [_quote(a) for a in args])


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(str(arg))


def json_ready(value: Any) -> Any:
    """``value`` with numpy scalars/arrays turned into Python objects and non-finite floats into None (strict
    JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if np.isfinite(v) else None
    return value
