"""Quantizers back to back: the firmware must apply every one of them, exactly as the proxy does.

A chain ``producer -> Q1 -> [ReLU | Reshape] -> Q2 [-> Q3]`` is the composition of its quantizers. The plugin
fuses a homogeneous quantizer into its producer's result type; fusing the second quantizer of a chain into
the first (a node that is itself removed) once dropped it from the firmware silently. Every chain below is
checked with homogeneous (layer-wise) and heterogeneous (per-element) bits in every position, with rounding and
overflow modes drawn from every pair, on Vivado, Vitis, Catapult and Quartus, io_parallel and io_stream.

One model holds many chains as separate outputs (one compile checks them all); CI runs one seed per backend and
io type pair of ``CI_COMBOS``, ``-m slow`` runs six seeds on all eight, so that every (rounding, overflow) mode
appears in every position.
"""

import itertools
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from HGQ.proxy import FixedPointQuantizer  # noqa: E402
from hgq_hls4ml.testing import compare  # noqa: E402

ROUNDING = ('TRN', 'RND', 'RND_CONV', 'TRN_ZERO', 'RND_ZERO', 'RND_MIN_INF', 'RND_INF')
OVERFLOW = ('WRAP', 'SAT', 'SAT_SYM', 'SAT_ZERO', 'WRAP_SM')
AC_BACKENDS = ('Catapult', 'Quartus')
BACKENDS = ('Vivado', 'Vitis') + AC_BACKENDS
IO_TYPES = ('io_parallel', 'io_stream')
WIDTH = 6  # elements per chain

# (homogeneous flags of the quantizers, what stands between the first and the second)
CHAINS = [
    (flags, between) for flags in itertools.product((True, False), repeat=2) for between in (None, 'relu', 'reshape')
]
CHAINS += [(flags, None) for flags in itertools.product((True, False), repeat=3)]


def _modes(rng, backend: str) -> tuple[str, str]:
    sats = OVERFLOW if backend not in AC_BACKENDS else OVERFLOW[:-1]  # ac_fixed has no sign-magnitude wrap
    return str(rng.choice(ROUNDING)), str(rng.choice(sats))


def _quantizer(rng, homogeneous: bool, backend: str, name: str) -> FixedPointQuantizer:
    rnd, sat = _modes(rng, backend)
    shape = (1, WIDTH)
    if homogeneous:
        k, b, i = int(rng.integers(0, 2)), int(rng.integers(2, 9)), int(rng.integers(-1, 4))
        k, b, i = (np.full(shape, v) for v in (k, b, i))
    else:
        k = np.full(shape, int(rng.integers(0, 2)))
        b = rng.integers(2, 9, shape)
        i = rng.integers(-1, 4, shape)
        b[0, 0] = 0  # one pruned element: always 0
    return FixedPointQuantizer(k, b, i, rnd, sat, name=name)


def _grid_dense(rng, n: int, x, name: str):
    layer = keras.layers.Dense(n, name=name)
    y = layer(x)
    layer.set_weights([np.round(rng.normal(size=layer.kernel.shape) * 8) / 8,
                       np.round(rng.normal(size=layer.bias.shape) * 16) / 16])
    return y


def _chain(rng, h, flags, between, backend: str, tag: str):
    for n, homogeneous in enumerate(flags):
        if n == 1 and between == 'relu':
            h = keras.layers.ReLU(name=f'{tag}_relu')(h)
        elif n == 1 and between == 'reshape':
            h = keras.layers.Reshape((WIDTH // 2, 2), name=f'{tag}_reshape')(h)
            h = keras.layers.Reshape((WIDTH,), name=f'{tag}_flat')(h)
        h = _quantizer(rng, homogeneous, backend, f'{tag}_q{n + 1}')(h)
    return h


FAN_OUT = 7  # hls4ml's io_stream clones a tensor for at most 7 consumers


def chain_model(seed: int, backend: str) -> keras.Model:
    """One input, quantized; one Dense producer per chain (its only consumer is the chain's first quantizer),
    fed through a few trunk layers; every chain ends in a model output."""
    rng = np.random.default_rng(seed)
    inp = keras.Input((8,), name='x')
    h = FixedPointQuantizer(1, 9, 4, 'TRN', 'SAT', name='q_in')(inp)
    n_trunks = -(-len(CHAINS) // FAN_OUT)
    trunks = [FixedPointQuantizer(1, 10, 5, 'TRN', 'WRAP', name=f'trunk{t}_q')(_grid_dense(rng, 8, h, f'trunk{t}'))
              for t in range(n_trunks)]
    outs = [_chain(rng, _grid_dense(rng, WIDTH, trunks[j // FAN_OUT], f'c{j}_dense'), flags, between, backend, f'c{j}')
            for j, (flags, between) in enumerate(CHAINS)]
    return keras.Model(inp, outs)


def input_chain_model(seed: int, backend: str, flags) -> keras.Model:
    """A chain reading the model input directly (the first quantizer becomes the input type)."""
    rng = np.random.default_rng(seed)
    inp = keras.Input((WIDTH,), name='x')
    h = _chain(rng, inp, flags, None, backend, 'in')
    return keras.Model(inp, _grid_dense(rng, 4, h, 'dense'))


def data(seed: int, n: int = 400, shape=(8,)) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    x = rng.normal(0, 3, (n,) + shape)
    x[: n // 4] *= 8  # far out of every range: overflow modes decide
    x[n // 4: n // 2] = np.round(x[n // 4: n // 2] * 8) / 8  # ties for the rounding modes
    return x.astype(np.float32)


CI_COMBOS = [('Vivado', 'io_parallel'), ('Vitis', 'io_stream'), ('Catapult', 'io_stream'), ('Quartus', 'io_parallel')]


def _params(seeds):
    for backend, io_type in itertools.product(BACKENDS, IO_TYPES):
        for seed in seeds:
            ci = seed == seeds[0] and (backend, io_type) in CI_COMBOS
            yield pytest.param(backend, io_type, seed, marks=[] if ci else [pytest.mark.slow],
                               id=f'{backend}-{io_type}-{seed}')


@pytest.mark.parametrize('backend,io_type,seed', list(_params([0, 1, 2, 3, 4, 5])))
def test_chains_after_a_layer(backend, io_type, seed, tmp_path):
    proxy = chain_model(seed + 17 * BACKENDS.index(backend), backend)
    rep = compare(proxy, data(seed), io_type, backend, str(tmp_path / 'prj'))
    assert rep.exact, rep


@pytest.mark.parametrize('flags', [(True, True), (True, True, True), (True, False), (False, True)],
                         ids=lambda f: '-'.join('hom' if x else 'het' for x in f))
@pytest.mark.parametrize('io_type', IO_TYPES)
def test_chain_on_the_model_input(flags, io_type, tmp_path):
    seed = len(flags) + 2 * sum(flags) + 7 * IO_TYPES.index(io_type)
    backend = BACKENDS[seed % len(BACKENDS)]
    proxy = input_chain_model(seed, backend, flags)
    rep = compare(proxy, data(seed, shape=(WIDTH,)), io_type, backend, str(tmp_path / 'prj'))
    assert rep.exact, (seed, backend, rep)


def test_layerwise_chain_keeps_both_casts_in_the_firmware(tmp_path):
    """The reported case: a fine then a coarse layer-wise quantizer; the second must appear as a cast."""
    inp = keras.Input((8,), name='x')
    h = FixedPointQuantizer(1, 9, 4, 'TRN', 'SAT', name='q_in')(inp)
    rng = np.random.default_rng(0)
    h = _grid_dense(rng, 4, h, 'dense')
    h = FixedPointQuantizer(1, 6, 2, 'RND_CONV', 'SAT_SYM', name='fine')(h)
    h = FixedPointQuantizer(0, 5, 3, 'TRN', 'SAT', name='coarse')(h)
    proxy = keras.Model(inp, _grid_dense(rng, 3, h, 'out'))
    rep = compare(proxy, data(0), 'io_parallel', 'Vivado', str(tmp_path / 'prj'))
    assert rep.exact, rep
    firmware = (tmp_path / 'prj' / 'firmware' / 'myproject.cpp').read_text()
    assert 'coarse' in firmware  # the second quantizer is a real cast node, not fused into a removed one


def test_cast_widens_a_source_whose_msb_is_below_the_rounding_bit():
    """``ap_fixed<2, 3, AP_RND>`` of an ``ap_ufixed<6, 0>`` reads source bit 6 (beyond its MSB: the C simulation
    aborts); the generated cast widens the source to 2 integer bits first, which keeps every value."""
    from hgq_hls4ml.codegen import cast_body, widened_source

    assert widened_source((0, 6, 0), 2, 3, 'Vivado') == 'ap_ufixed<8, 2, AP_TRN, AP_WRAP>'
    assert widened_source((1, 9, 4), 2, 3, 'Vivado') is None  # bit 5 of 9: no widening
    assert widened_source((0, 6, 0), 8, 3, 'Vivado') is None  # no rounding at all
    assert widened_source((1, 4, -2), 2, 3, 'Catapult') == 'ac_fixed<8, 2, true, AC_TRN, AC_WRAP>'
    body = cast_body((np.array([1]), np.array([2]), np.array([3])), 'RND', 'SAT', 'io_parallel', 'Vivado',
                     src=(0, 6, 0))
    assert 'ap_fixed<2, 3, AP_RND, AP_SAT>(ap_ufixed<8, 2, AP_TRN, AP_WRAP>(data[j]))' in body
