"""Seeded random HGQ models for the fuzz test (`tests/test_fuzz.py`): one seed -> one model, one backend, one
io type and one overflow mode, the same on every machine.

What a seed draws:

- a topology: MLP; Conv1D or Conv2D stack (padding, strides, max/average pooling 'valid' and, mostly on
  io_parallel, 'same': rarely on io_stream, where the plugin must refuse it); two Dense branches joined by HAdd,
  PConcatenate or HAdd then PConcatenate; two 'same' Conv1D branches concatenated; a Signature input; two inputs
  (Signature + HQuantize); a quantizer chain;
- layers: HDense/HConv1D/HConv2D or their BatchNorm-fused twins, with or without bias and a ReLU;
  HActivation('relu'); table activations (HActivation 'tanh', 'sigmoid' or a custom unary function, converted
  to tables with `to_proxy_model(..., unary_lut_max_table_size=...)`); PReshape/PFlatten/PPermute;
- quantizer chains: two or three HQuantize back to back, a layer whose output quantizer is followed by
  HQuantize or HActivation('relu'), optionally with a ReLU or a PReshape/PFlatten in between;
- per layer: the rounding (paq_conf rnd_strategy 'auto', 'standard_round' or 'floor'), and for each bitwidth
  variable either per-element random fractional bits (uniform 2..8) or layer-wise ones (every element the same
  random value), sometimes pruned weights (kernel fractional bits <= -3, so the weight becomes 0) and, rarely,
  a fully pruned kernel; random biases (-4..4) and BatchNorm statistics;
- backend (Vivado, Vitis, Catapult, Quartus, cycling with the seed), io type (io_parallel, io_stream, cycling)
  and `to_proxy_model(aggressive=...)` (WRAP or SAT, random).

`run_case(seed)` checks the property: H-model == proxy on the calibration data (after `trace_minmax`), and
C simulation == proxy on the calibration data and on far-out-of-range data (calibration x 4 plus large random
values), converted with the useless default precision `fixed<1,0>`. It returns an `Outcome`: 'exact',
'refused' (the proxy conversion or the plugin stopped with a ValueError/NotImplementedError before any
firmware was written), 'mismatch' or 'error' (anything else: a compile or simulation failure).

Command line (from the repository root)::

    /work/venv/bin/python -m tests.random_models describe 17      # the model of seed 17
    /work/venv/bin/python -m tests.random_models run 17 18 19     # check seeds, one line each
    /work/venv/bin/python -m tests.random_models run 0-39 --log fuzz.jsonl
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
os.environ.setdefault('CUDA_VISIBLE_DEVICES', '-1')

import keras  # noqa: E402
import numpy as np  # noqa: E402

from HGQ.layers import (  # noqa: E402
    HActivation,
    HAdd,
    HConv1D,
    HConv1DBatchNorm,
    HConv2D,
    HConv2DBatchNorm,
    HDense,
    HDenseBatchNorm,
    HQuantize,
    PAveragePooling1D,
    PAveragePooling2D,
    PConcatenate,
    PFlatten,
    PMaxPooling1D,
    PMaxPooling2D,
    PPermute,
    PReshape,
    Signature,
)

BACKENDS = ('Vivado', 'Vitis', 'Catapult', 'Quartus')
IO_TYPES = ('io_parallel', 'io_stream')
ROUNDINGS = ('auto', 'standard_round', 'floor')
TOPOLOGIES = ('mlp', 'conv1d', 'conv2d', 'branches', 'conv_branches', 'signature', 'two_inputs', 'chain')
TABLE_SIZE = 1 << 14
N_CAL = 600


def wiggle(x):
    """The custom unary function of the table activations (a module-level function: a stable name)."""
    return keras.ops.sin(x) ** 2 - x


TABLE_FUNCTIONS = {'tanh': 'tanh', 'sigmoid': 'sigmoid', 'wiggle': wiggle}


@dataclass
class InputSpec:
    name: str
    shape: tuple[int, ...]
    signature: tuple[int, int, int] | None = None  # (keep_negative, bits, int_bits): data already on this grid


@dataclass
class LayerBits:
    """How `randomize` sets one layer's variables (drawn at build time, so that the description shows it)."""

    kernel: str | None = None  # 'element' | 'layer' | None (no kernel)
    act: str = 'element'  # 'element' | 'layer'
    pruned: float = 0.0  # fraction of kernel elements with fractional bits <= -3 (1.0: the whole kernel)

    def text(self) -> str:
        parts = []
        if self.kernel:
            parts.append(f'kbits={self.kernel}' + (f' pruned={self.pruned:.0%}' if self.pruned else ''))
        parts.append(f'abits={self.act}')
        return ' '.join(parts)


@dataclass
class FuzzModel:
    seed: int
    topology: str
    backend: str
    io_type: str
    aggressive: bool
    model: keras.Model
    inputs: list[InputSpec]
    lines: list[str]
    tables: list[str] = field(default_factory=list)  # names of the HActivation layers that must become tables
    features: set[str] = field(default_factory=set)

    def describe(self) -> str:
        head = (f'seed {self.seed}: {self.topology} on {self.backend} {self.io_type}, '
                f'aggressive={self.aggressive} ({"WRAP" if self.aggressive else "SAT"}), '
                f'table size {TABLE_SIZE}')
        return '\n'.join([head] + ['  ' + line for line in self.lines])

    def data(self, n: int, seed: int, far: bool = False) -> list[np.ndarray]:
        """Calibration-like data (normal, sigma 2); ``far``: scaled by 4, the last quarter uniform in -256..256.
        Signature inputs stay on their grid and in range (they declare data already in fixed point)."""
        rng = np.random.default_rng(seed)
        out = []
        for spec in self.inputs:
            x = rng.normal(0, 2, (n,) + spec.shape).astype('float32')
            if spec.signature is not None:
                k, b, i = spec.signature
                f = b - i
                lo, hi = (-(2.0 ** (i - 1)) if k else 0.0), 2.0 ** (i - k) - 2.0**-f
                x = np.clip(np.round(x * 2**f) / 2**f, lo, hi).astype('float32')
            elif far:
                x *= 4
                m = n // 4
                x[-m:] = rng.uniform(-256, 256, (m,) + spec.shape).astype('float32')
            out.append(x)
        return out


class _Builder:
    def __init__(self, rng: np.random.Generator, io_type: str):
        self.rng = rng
        self.io_type = io_type
        self.lines: list[str] = []
        self.bits: dict[str, LayerBits] = {}
        self.tables: list[str] = []
        self.features: set[str] = set()
        self.n = 0
        self.inputs: list[InputSpec] = []
        self.tensors = {}  # id(tensor) -> display name

    # ------------------------------------------------------------------ bookkeeping
    def _name(self, kind: str) -> str:
        self.n += 1
        return f'{kind}{self.n}'

    def _ref(self, t) -> str:
        if isinstance(t, (list, tuple)):
            return '[' + ', '.join(self._ref(x) for x in t) + ']'
        return self.tensors.get(id(t), '?')

    def _emit(self, layer, args: str, x, extra: str = ''):
        y = layer(x)
        self.tensors[id(y)] = layer.name
        shape = tuple(y.shape[1:])
        bits = self.bits.get(layer.name)
        detail = ' '.join(s for s in (extra, bits.text() if bits else '') if s)
        self.lines.append(f'{layer.name} = {type(layer).__name__}({args}){" [" + detail + "]" if detail else ""}'
                          f'({self._ref(x)}) -> {shape}')
        return y

    def _paq(self) -> tuple[dict, str]:
        rnd = str(self.rng.choice(ROUNDINGS))
        return {'paq_conf': {'rnd_strategy': rnd, 'skip_dims': (0,)}}, f'rnd={rnd}'

    def _layer_bits(self, name: str, kernel: bool) -> None:
        r = self.rng
        kb = None
        pruned = 0.0
        if kernel:
            kb = 'layer' if r.random() < 0.5 else 'element'
            u = r.random()
            if u < 0.05:
                pruned = 1.0
                self.features.add('fully_pruned')
            elif u < 0.35:
                pruned = float(r.uniform(0.1, 0.6))
                self.features.add('pruned')
        act = 'layer' if r.random() < 0.5 else 'element'
        self.features.add(f'bits_{act}')
        self.bits[name] = LayerBits(kb, act, pruned)

    # ------------------------------------------------------------------ layers
    def input(self, shape, signature=None):
        name = f'in{len(self.inputs)}'
        spec = InputSpec(name, tuple(shape), signature)
        self.inputs.append(spec)
        x = keras.Input(shape, name=name)
        self.tensors[id(x)] = name
        self.lines.append(f'{name} = Input({tuple(shape)})')
        if signature is not None:
            self.features.add('signature')
            layer = Signature(*signature, name=self._name('sig'))
            k, b, i = signature
            return x, self._emit(layer, f'keep_negative={k}, bits={b}, int_bits={i}', x)
        return x, self.quantize(x)

    def quantize(self, x):
        conf, txt = self._paq()
        name = self._name('q')
        self._layer_bits(name, kernel=False)
        return self._emit(HQuantize(name=name, **conf), '', x, txt)

    def relu(self, x):
        conf, txt = self._paq()
        name = self._name('relu')
        self._layer_bits(name, kernel=False)
        self.features.add('hactivation_relu')
        return self._emit(HActivation('relu', name=name, **conf), "'relu'", x, txt)

    def table(self, x):
        conf, txt = self._paq()
        fn = str(self.rng.choice(list(TABLE_FUNCTIONS)))
        name = self._name(f'{fn}_')
        self._layer_bits(name, kernel=False)
        self.tables.append(name)
        self.features.add(f'table_{fn}')
        return self._emit(HActivation(TABLE_FUNCTIONS[fn], name=name, **conf), repr(fn), x, txt)

    def _kernel_common(self):
        conf, txt = self._paq()
        act = 'relu' if self.rng.random() < 0.4 else None
        bn = bool(self.rng.random() < 0.3)
        bias = bn or bool(self.rng.random() < 0.8)  # a BatchNorm shift is fused into the bias
        args = (", activation='relu'" if act else '') + ('' if bias else ', use_bias=False')
        return conf, txt, act, bias, bn, args

    def dense(self, x, units=None):
        units = int(units or self.rng.integers(2, 11))
        conf, txt, act, bias, bn, args = self._kernel_common()
        cls = HDenseBatchNorm if bn else HDense
        name = self._name('dense_bn' if bn else 'dense')
        self._layer_bits(name, kernel=True)
        self.features.add(cls.__name__)
        return self._emit(cls(units, activation=act, use_bias=bias, name=name, **conf), f'{units}{args}', x, txt)

    def conv(self, x, rank: int, filters=None, kernel=None, padding=None, strides=None):
        r = self.rng
        spatial = tuple(x.shape[1:-1])
        filters = int(filters or r.integers(2, 5))
        padding = padding or str(r.choice(['valid', 'same']))
        k = int(kernel or r.integers(1, 4))
        s = int(strides or (2 if r.random() < 0.3 else 1))
        if padding == 'valid':
            k = min(k, min(spatial))
        conf, txt, act, bias, bn, args = self._kernel_common()
        if rank == 1:
            cls = HConv1DBatchNorm if bn else HConv1D
            ks, st = k, s
        else:
            cls = HConv2DBatchNorm if bn else HConv2D
            ks, st = (k, k), (s, s)
        name = self._name(('conv%dd' % rank) + ('_bn' if bn else ''))
        self._layer_bits(name, kernel=True)
        self.features.add(cls.__name__)
        self.features.add(f'conv_{padding}' + ('_stride2' if s > 1 else ''))
        layer = cls(filters, ks, strides=st, padding=padding, activation=act, use_bias=bias, name=name, **conf)
        return self._emit(layer, f'{filters}, {ks}, strides={st}, padding={padding!r}{args}', x, txt)

    def pool(self, x, rank: int):
        r = self.rng
        spatial = tuple(x.shape[1:-1])
        if min(spatial) < 2:
            return x
        op = 'max' if r.random() < 0.5 else 'avg'
        padding = 'valid'
        if r.random() < (0.4 if self.io_type == 'io_parallel' else 0.05):  # io_stream: the plugin must refuse it
            padding = 'same'
        if rank == 1:
            cls = PMaxPooling1D if op == 'max' else PAveragePooling1D
            size = 2
        else:
            cls = PMaxPooling2D if op == 'max' else PAveragePooling2D
            size = (2, 2)
        self.features.add(f'{op}pool{rank}d_{padding}')
        return self._emit(cls(size, padding=padding, name=self._name(f'{op}pool')), f'{size}, padding={padding!r}', x)

    def flatten(self, x):
        r = self.rng
        if len(x.shape) == 2:
            return x
        if r.random() < 0.5:
            self.features.add('flatten')
            return self._emit(PFlatten(name=self._name('flatten')), '', x)
        self.features.add('reshape')
        n = int(np.prod(x.shape[1:]))
        return self._emit(PReshape((n,), name=self._name('reshape')), f'({n},)', x)

    def permute(self, x):
        self.features.add('permute')
        perm = (2, 1) if len(x.shape) == 3 else (2, 1, 3)
        return self._emit(PPermute(perm, name=self._name('permute')), str(perm), x)

    def concat(self, xs, axis=-1):
        self.features.add('concatenate')
        return self._emit(PConcatenate(axis=axis, name=self._name('cat')), f'axis={axis}', xs)

    def add(self, xs):
        conf, txt = self._paq()
        name = self._name('add')
        self._layer_bits(name, kernel=False)
        self.features.add('add')
        return self._emit(HAdd(name=name, **conf), '', xs, txt)

    # ------------------------------------------------------------------ chains and activations
    def chain(self, x):
        """Quantizers back to back (issue 9): two or three HQuantize, or HActivation('relu') -> HQuantize,
        with a ReLU or a reshape in between."""
        r = self.rng
        kind = str(r.choice(['q_q', 'q_q_q', 'relu_q', 'q_relu_q', 'reshape_q', 'q_reshape_q', 'relu']))
        self.features.add(f'chain_{kind}')
        for step in kind.split('_'):
            if step == 'q':
                x = self.quantize(x)
            elif step == 'relu':
                x = self.relu(x)
            elif step == 'reshape':
                n = int(np.prod(x.shape[1:]))
                if len(x.shape) > 2 and r.random() < 0.5:
                    x = self._emit(PFlatten(name=self._name('flatten')), '', x)
                elif n % 2 == 0 and len(x.shape) == 2:
                    x = self._emit(PReshape((n // 2, 2), name=self._name('reshape')), f'({n // 2}, 2)', x)
                    x = self._emit(PReshape((n,), name=self._name('reshape')), f'({n},)', x)
                else:
                    x = self._emit(PReshape((n,), name=self._name('reshape')), f'({n},)', x)
        return x

    def maybe_after(self, x, p_chain=0.3, p_table=0.15, p_relu=0.1):
        u = self.rng.random()
        if u < p_chain:
            return self.chain(x)
        if u < p_chain + p_table:
            return self.table(x)
        if u < p_chain + p_table + p_relu:
            return self.relu(x)
        return x

    # ------------------------------------------------------------------ topologies
    def build(self, topology: str) -> keras.Model:
        getattr(self, f'_top_{topology}')()
        inputs = self._model_inputs
        return keras.Model(inputs if len(inputs) > 1 else inputs[0], self._model_output)

    def _finish(self, inputs, out):
        self._model_inputs = inputs
        self._model_output = out

    def _mlp_tail(self, h, n_layers):
        for j in range(n_layers):
            h = self.dense(h)
            if j < n_layers - 1:
                h = self.maybe_after(h)
        return self.maybe_after(h, p_chain=0.15, p_table=0.15, p_relu=0.0)

    def _top_mlp(self):
        x, h = self.input((int(self.rng.integers(4, 13)),))
        h = self.maybe_after(h, p_chain=0.2, p_table=0.1, p_relu=0.0)
        self._finish([x], self._mlp_tail(h, int(self.rng.integers(1, 4))))

    def _conv_stack(self, rank: int):
        r = self.rng
        if rank == 1:
            shape = (int(r.integers(6, 15)), int(r.integers(1, 4)))
        else:
            shape = (int(r.integers(4, 9)), int(r.integers(4, 9)), int(r.integers(1, 3)))
        x, h = self.input(shape)
        for _ in range(int(r.integers(1, 3))):
            if len(h.shape) < 3 or min(h.shape[1:-1]) < 2:  # a chain's reshape can flatten (seeds 3028, 3047)
                break
            h = self.conv(h, rank)
            if r.random() < 0.6:
                h = self.pool(h, rank)
            h = self.maybe_after(h, p_chain=0.2, p_table=0.15, p_relu=0.1)
        if rank == 1 and r.random() < 0.15 and len(h.shape) == 3:
            h = self.permute(h)
        h = self.flatten(h)
        h = self.maybe_after(h, p_chain=0.1, p_table=0.1, p_relu=0.05)
        self._finish([x], self._mlp_tail(h, int(r.integers(1, 3))))

    def _top_conv1d(self):
        self._conv_stack(1)

    def _top_conv2d(self):
        self._conv_stack(2)

    def _top_branches(self):
        r = self.rng
        x, h = self.input((int(r.integers(4, 13)),))
        units = int(r.integers(2, 11))
        a = self.maybe_after(self.dense(h, units), p_chain=0.2, p_table=0.1, p_relu=0.1)
        b = self.maybe_after(self.dense(h, units), p_chain=0.2, p_table=0.1, p_relu=0.1)
        merge = str(r.choice(['add', 'concatenate', 'add_concatenate']))
        self.features.add(f'merge_{merge}')
        if merge == 'add':
            m = self.add([a, b])
        elif merge == 'concatenate':
            m = self.concat([a, b])
        else:  # the structure reported on Catapult io_stream
            s = self.add([a, b])
            m = self.concat([s, a] if r.random() < 0.5 else [s, a, b])
        m = self.maybe_after(m, p_chain=0.2, p_table=0.1, p_relu=0.1)
        self._finish([x], self._mlp_tail(m, int(r.integers(1, 3))))

    def _top_conv_branches(self):
        r = self.rng
        x, h = self.input((int(r.integers(6, 13)), int(r.integers(1, 4))))
        a = self.conv(h, 1, padding='same', strides=1)
        b = self.conv(h, 1, padding='same', strides=1)
        m = self.concat([a, b])
        if r.random() < 0.5:
            m = self.pool(m, 1)
        self._finish([x], self._mlp_tail(self.flatten(m), 1))

    def _signature_spec(self):
        r = self.rng
        k = int(r.integers(0, 2))
        i = int(r.integers(1, 4)) + k
        return k, i + int(r.integers(1, 5)), i

    def _top_signature(self):
        x, h = self.input((int(self.rng.integers(3, 11)),), signature=self._signature_spec())
        self._finish([x], self._mlp_tail(h, int(self.rng.integers(1, 3))))

    def _top_two_inputs(self):
        r = self.rng
        x0, h0 = self.input((int(r.integers(3, 9)),), signature=self._signature_spec())
        x1, h1 = self.input((int(r.integers(3, 9)),))
        a = self.dense(h0)
        b = self.maybe_after(self.dense(h1), p_chain=0.3, p_table=0.1, p_relu=0.1)
        self._finish([x0, x1], self._mlp_tail(self.concat([a, b]), 1))

    def _top_chain(self):
        r = self.rng
        x, h = self.input((int(r.integers(4, 11)),))
        if r.random() < 0.5:
            h = self.chain(h)  # HQuantize -> HQuantize right after the input
        h = self.dense(h)
        h = self.chain(h)
        if r.random() < 0.5:
            h = self.dense(h)
            h = self.chain(h)
        self._finish([x], self.dense(h))


def randomize(model: keras.Model, bits: dict[str, LayerBits], rng: np.random.Generator) -> None:
    """Fractional bits: per element uniform in 2..8, or one such value for a whole variable ('layer'); pruned
    kernel elements get -6..-3 (the weight quantizes to 0). Kernels scaled by 0.5..3, biases in -4..4, BatchNorm
    statistics random."""
    for layer in model.layers:
        spec = bits.get(layer.name)
        for v in layer.weights:
            name = v.path.split('/')[-1]
            shape = tuple(v.shape)
            if name == 'kernel_bw':
                if spec.kernel == 'layer':
                    val = np.full(shape, rng.uniform(2, 8), 'float32')
                else:
                    val = rng.uniform(2, 8, shape).astype('float32')
                if spec.pruned:
                    mask = rng.random(shape) < spec.pruned if spec.pruned < 1 else np.ones(shape, bool)
                    val[mask] = rng.uniform(-6, -3, int(mask.sum()))
                v.assign(val)
            elif name == 'activation_bw':
                if spec.act == 'layer':
                    v.assign(np.full(shape, rng.uniform(2, 8), 'float32'))
                else:
                    v.assign(rng.uniform(2, 8, shape).astype('float32'))
            elif name == 'kernel':
                v.assign(np.asarray(v) * np.float32(rng.uniform(0.5, 3)))
            elif name in ('bias', 'bn_beta'):
                v.assign(rng.uniform(-4, 4, shape).astype('float32'))
            elif name == 'bn_gamma':
                v.assign((rng.uniform(0.3, 2, shape) * rng.choice([-1, 1], shape)).astype('float32'))
            elif name == 'moving_mean':
                v.assign(rng.uniform(-2, 2, shape).astype('float32'))
            elif name == 'moving_variance':
                v.assign(rng.uniform(0.3, 4, shape).astype('float32'))


def generate(seed: int) -> FuzzModel:
    """The model of ``seed`` (built, randomized, not traced)."""
    rng = np.random.default_rng([seed, 0x46555A5A])
    backend = BACKENDS[seed % len(BACKENDS)]
    io_type = IO_TYPES[(seed // len(BACKENDS)) % len(IO_TYPES)]
    aggressive = bool(rng.random() < 0.5)
    topology = TOPOLOGIES[int(rng.integers(len(TOPOLOGIES)))]
    keras.utils.set_random_seed(seed)
    b = _Builder(rng, io_type)
    model = b.build(topology)
    randomize(model, b.bits, rng)
    return FuzzModel(seed, topology, backend, io_type, aggressive, model, b.inputs, b.lines, b.tables, b.features)


# ---------------------------------------------------------------------------------------------------- checking
@dataclass
class Outcome:
    seed: int
    backend: str
    io_type: str
    aggressive: bool
    topology: str
    status: str  # 'exact' | 'refused' | 'mismatch' | 'error'
    message: str = ''
    compared: int = 0  # C-sim outputs compared (in-range + far)
    equal: int = 0
    cal_compared: int = 0
    cal_equal: int = 0
    model_compared: int = 0  # H-model vs proxy on calibration data
    model_equal: int = 0
    seconds: float = 0.0
    features: list[str] = field(default_factory=list)

    def line(self) -> str:
        s = (f'seed {self.seed:4d} {self.backend:8s} {self.io_type:11s} {"wrap" if self.aggressive else "sat ":4s} '
             f'{self.topology:13s} {self.status:8s}')
        if self.status in ('exact', 'mismatch'):
            s += (f' csim {self.equal}/{self.compared} (in-range {self.cal_equal}/{self.cal_compared})'
                  f' model {self.model_equal}/{self.model_compared}')
        if self.message:
            s += f' : {self.message}'
        return s + f' [{self.seconds:.1f}s]'


REFUSAL_TYPES = (ValueError, NotImplementedError)
NOT_EXACT_WARNING = r"Activation '.*' stays a native activation \(not bit-exact in hls4ml\)"
"""The warning of a model that to_proxy_model converts but says is not bit-exact: counted as refused."""


def _predict(model, xs):
    return model.predict(xs if len(xs) > 1 else xs[0], verbose=0, batch_size=len(xs[0]))


def run_case(seed: int, output_dir: str | None = None) -> Outcome:
    """Builds, traces, converts, compiles and compares the model of ``seed``. Without ``output_dir`` the hls4ml
    project goes to a temporary folder, removed unless the model fails (the message names it then)."""
    from HGQ import to_proxy_model, trace_minmax
    from HGQ.proxy import UnaryLUT
    from hgq_hls4ml.testing import convert

    t0 = time.time()
    tmp = None
    fm = generate(seed)
    out = Outcome(seed, fm.backend, fm.io_type, fm.aggressive, fm.topology, 'error', features=sorted(fm.features))
    try:
        x_cal = fm.data(N_CAL, seed + 1)
        x_far = fm.data(N_CAL // 2, seed + 2, far=True)
        feed = x_cal if len(x_cal) > 1 else x_cal[0]
        trace_minmax(fm.model, feed, verbose=False)
        try:
            with warnings.catch_warnings():
                # a table over the limit: to_proxy_model keeps the native activation and says it is not bit-exact
                warnings.filterwarnings('error', message=NOT_EXACT_WARNING, category=UserWarning)
                proxy = to_proxy_model(fm.model, aggressive=fm.aggressive, unary_lut_max_table_size=TABLE_SIZE)
        except (*REFUSAL_TYPES, UserWarning) as e:
            if isinstance(e, UserWarning) and not re.search(NOT_EXACT_WARNING, str(e)):
                raise  # any other warning (an error under pytest's filters) stays an error
            out.status, out.message = 'refused', f'to_proxy_model: {type(e).__name__}: {e}'
            return out
        luts = {layer.name for layer in proxy.layers if isinstance(layer, UnaryLUT)}
        if len(luts) < len(fm.tables):
            out.status, out.message = 'error', f'tables {fm.tables} gave only {len(luts)} UnaryLUT layers'
            return out
        h_model = np.asarray(_predict(fm.model, x_cal))
        h_proxy = np.asarray(_predict(proxy, x_cal))
        out.model_compared, out.model_equal = int(h_model.size), int(np.sum(h_model == h_proxy))
        if output_dir is None:
            output_dir = tmp = tempfile.mkdtemp(prefix=f'hgq_fuzz_{seed}_')
        try:
            hls_model = convert(proxy, fm.io_type, fm.backend, output_dir)
        except REFUSAL_TYPES as e:
            out.status, out.message = 'refused', f'convert: {type(e).__name__}: {e}'
            return out
        hls_model.compile()
        xs = [np.concatenate([a, b]) for a, b in zip(x_cal, x_far)]
        ref = np.asarray(_predict(proxy, xs))
        got = np.asarray(hls_model.predict(np.ascontiguousarray(xs[0]) if len(xs) == 1
                                           else [np.ascontiguousarray(a) for a in xs])).reshape(ref.shape)
        eq = ref == got
        out.compared, out.equal = int(eq.size), int(eq.sum())
        out.cal_compared, out.cal_equal = int(eq[:N_CAL].size), int(eq[:N_CAL].sum())
        ok = out.equal == out.compared and out.model_equal == out.model_compared
        out.status = 'exact' if ok else 'mismatch'
    except Exception as e:  # noqa: BLE001 - every other failure is reported with its seed
        out.status = 'error'
        out.message = f'{type(e).__name__}: {str(e)[:300]}'
        if os.environ.get('HGQ_FUZZ_TRACEBACK'):
            traceback.print_exc()
    finally:
        out.seconds = time.time() - t0
        if tmp is not None:
            if out.status in ('exact', 'refused'):
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                out.message = (out.message + ' ' if out.message else '') + f'(hls4ml project kept in {tmp})'
    return out


def _seeds(args: list[str]) -> list[int]:
    seeds = []
    for a in args:
        if '-' in a:
            lo, hi = a.split('-')
            seeds.extend(range(int(lo), int(hi) + 1))
        else:
            seeds.append(int(a))
    return seeds


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ('describe', 'run'):
        print(__doc__)
        return 2
    log = None
    if '--log' in argv:
        j = argv.index('--log')
        log = argv[j + 1]
        argv = argv[:j] + argv[j + 2:]
    for seed in _seeds(argv[1:]):
        if argv[0] == 'describe':
            print(generate(seed).describe())
            continue
        o = run_case(seed)
        print(o.line(), flush=True)
        if o.status in ('mismatch', 'error'):
            print(generate(seed).describe(), flush=True)
        if log:
            with open(log, 'a') as f:
                f.write(json.dumps(dataclasses.asdict(o)) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
