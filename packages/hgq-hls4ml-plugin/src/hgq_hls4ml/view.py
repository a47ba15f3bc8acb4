"""Tensor-level view of an hls4ml ModelGraph and the layer groups the precision pass distinguishes."""

from __future__ import annotations

from hls4ml.model.layers import (
    Activation,
    BatchNormalization,
    Concatenate,
    Conv1D,
    Conv2D,
    Dense,
    GlobalPooling1D,
    GlobalPooling2D,
    Input,
    Layer,
    Merge,
    Pooling1D,
    Pooling2D,
    Reshape,
    Transpose,
)

from .layers import HGQFixedPointQuantizer, HGQUnaryLUT

CASTING = (  # layers that cast their result to their own result type
    Dense, Conv1D, Conv2D, Pooling1D, Pooling2D, GlobalPooling1D, GlobalPooling2D, Merge, Activation,
            BatchNormalization, HGQUnaryLUT, HGQFixedPointQuantizer, Input)
PASS_THROUGH = (Reshape, Transpose, Concatenate)  # move values without changing them
MONOTONE = (Pooling1D, Pooling2D, GlobalPooling1D, GlobalPooling2D)  # pooling


class ModelView:
    """Tensor-level view of an hls4ml ModelGraph: producers and consumers of every tensor name."""

    def __init__(self, model):
        self.model = model
        self.nodes: list[Layer] = list(model.graph.values())
        self.producer = {out: n for n in self.nodes for out in n.outputs}
        self.consumers: dict[str, list[Layer]] = {out: [] for out in self.producer}
        for n in self.nodes:
            for inp in ([] if isinstance(n, Input) else n.inputs):
                if inp in self.consumers:
                    self.consumers[inp].append(n)

        self.input_like: set[str] = set()
        for n in self.nodes:
            if isinstance(n, Input) or (isinstance(n, PASS_THROUGH) and all(t in self.input_like for t in n.inputs)):
                self.input_like.update(n.outputs)

    def is_output(self, tensor: str) -> bool:
        return tensor in self.model.outputs
