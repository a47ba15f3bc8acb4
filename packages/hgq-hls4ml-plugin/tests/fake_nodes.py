"""Stand-ins for hls4ml IR nodes: instances of the real layer classes (so that type dispatch sees them as hls4ml
does) carrying only the attributes, weights and output shape the plugin reads. No ModelGraph, no g++."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np


def fake_node(cls: type, out_shape, name: str | None = None, weights: dict | None = None, inputs=(), **attrs):
    node = cls.__new__(cls)  # no hls4ml initialization: only what the plugin's rules read
    node.name = name or cls.__name__.lower()
    node.attributes = dict(attrs)
    node.weights = {k: SimpleNamespace(data=np.asarray(v, dtype=np.float64)) for k, v in (weights or {}).items()}
    node.variables = {node.name: SimpleNamespace(shape=list(out_shape))}
    node.inputs = list(inputs)
    node.outputs = [node.name]
    return node


def fake_quantizer(k, b, i, rnd: str = 'TRN', sat: str = 'WRAP', name: str = 'q'):
    """An ``HGQFixedPointQuantizer`` with per-element ``(k, B, I)``."""
    from hgq_hls4ml.layers import HGQFixedPointQuantizer

    k, b, i = (np.atleast_1d(np.asarray(a, dtype=np.int64)) for a in (k, b, i))
    return fake_node(HGQFixedPointQuantizer, k.shape, name=name, mask_kbi=(k, b, i), RND=rnd, SAT=sat)
