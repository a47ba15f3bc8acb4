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
        wide: True for float64 values that float32 may not hold (the exact output of a QBatchNormalization
            whose scale is not a power of two); only a fixed-point quantizer may read them.
        step: Every value is a multiple of ``step`` (known without a grid after weight layers), else None.
        bound: Every value is at most ``bound`` in magnitude, else None.
    """

    tensor: Any
    grid: FixedFormat | None = None
    raw_input: bool = False
    origin: str = ''
    wide: bool = False
    step: float | None = None
    bound: float | None = None

    def resolution(self) -> tuple[float, float] | None:
        """``(step, bound)``: the values are multiples of ``step``, at most ``bound`` in magnitude; None if unknown."""
        if self.grid is not None:
            g = self.grid
            return 2.0 ** -g.frac_bits, 2.0 ** (g.integers - g.keep_negative)
        if self.step is not None and self.bound is not None:
            return self.step, self.bound
        return None


@dataclass
class Options:
    """Conversion options (see `hgq_qkeras.to_proxy_model`)."""

    unary_lut_max_table_size: int = 65536
    strict: bool = False


@dataclass
class Context:
    """Per-conversion state."""

    options: Options = field(default_factory=Options)
    namer: Namer = field(default_factory=Namer)
    rounded_in_qkeras: dict[str, list[str]] = field(default_factory=dict)
    """QKeras layers whose QKeras outputs can differ from the proxy's (which are the firmware's), and why."""

    def name(self, base: str) -> str:
        return self.namer(base)


def where(layer) -> str:
    """``"layer 'dense_1' (QDense)"``: how messages name a layer."""
    return f"layer {layer.name!r} ({type(layer).__name__})"
