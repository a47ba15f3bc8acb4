"""State shared while one QKeras model is converted: proxy tensors, names and options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from HGQ.proxy.convert import Namer

from .numerics import FixedFormat


@dataclass(frozen=True)
class ProxyTensor:
    """A tensor of the proxy model under construction.

    Attributes:
        tensor: The Keras 3 symbolic tensor.
        grid: The fixed-point format every element lies on (set when a homogeneous quantizer produced the values,
            possibly through reshapes, max pooling or dropout), else None.
        raw_input: True for a model input no quantizer has seen yet.
        origin: Name of the QKeras layer (or input) that produced it, for messages.
    """

    tensor: Any
    grid: FixedFormat | None = None
    raw_input: bool = False
    origin: str = ''


@dataclass
class Options:
    """Conversion options (see `hgq_qkeras.to_proxy_model`)."""

    unary_lut_max_table_size: int = 65536


@dataclass
class Context:
    """Per-conversion state."""

    options: Options = field(default_factory=Options)
    namer: Namer = field(default_factory=Namer)

    def name(self, base: str) -> str:
        return self.namer(base)


def where(layer) -> str:
    """``"layer 'dense_1' (QDense)"``: how messages name a layer."""
    return f"layer {layer.name!r} ({type(layer).__name__})"
