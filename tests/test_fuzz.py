"""Fuzz test: seeded random HGQ models (`tests/random_models.py`) through the proxy to hls4ml's C simulation.

Each seed is one model (MLP, Conv1D/Conv2D stacks with pooling, branches joined by HAdd/PConcatenate, Signature
inputs, BatchNorm-fused layers, table and ReLU activations, quantizer chains), with random roundings, per-element
or layer-wise random bitwidths, pruned weights and random biases, on one backend (Vivado, Vitis, Catapult,
Quartus, cycling with the seed), one io type (cycling) and WRAP or SAT overflow. The property:

- H-model == proxy on the calibration data (after `trace_minmax`);
- C simulation == proxy, bit for bit, on the calibration data and on far-out-of-range data (calibration x 4
  plus values uniform in -256..256), converted with the useless default precision `fixed<1,0>`.

A model that the proxy conversion or the plugin refuses with a ValueError/NotImplementedError before writing
any firmware (padded pooling on io_stream, average pooling on Catapult/Quartus, a table larger than the limit)
passes as "refused". Seeds measured failing are in `KNOWN_FAILURES` (strict xfail, with the cause).

Running more:

    /work/venv/bin/pytest tests/test_fuzz.py -m 'not slow'   # CI: seeds 0..CI_SEEDS-1 (about 2 minutes on 2 cores)
    /work/venv/bin/pytest tests/test_fuzz.py -m slow         # seeds CI_SEEDS..CI_SEEDS+SLOW_SEEDS-1
    HGQ_FUZZ_SEEDS=1000-1099 /work/venv/bin/pytest tests/test_fuzz.py -m slow   # any other range
    HGQ_FUZZ_LOG=fuzz.jsonl ...                              # one JSON line per model (status, counts, features)

Reproducing a seed (a failure prints its seed and the model's description):

    /work/venv/bin/python -m tests.random_models describe 123     # the model
    /work/venv/bin/python -m tests.random_models run 123          # the check, one line
    /work/venv/bin/pytest "tests/test_fuzz.py::test_fuzz[123]"
"""

from __future__ import annotations

import dataclasses
import json
import os

import keras
import pytest

from .random_models import generate, run_case

CI_SEEDS = 16
SLOW_SEEDS = 240

# Catapult io_stream PConcatenate of 1D tensors (seeds 46, 150, 166, 182, 214, 246 failed before) is refused by the
# plugin (hgq_hls4ml.refusals): those seeds now pass as "refused".
# Seed 216 (the compiled H-model 13/6000 off its proxy) was fixed: at inference the quantizer returns its value
# itself, not x + (xq - x), which TensorFlow's graph optimizer re-associated with the next HAdd.
KNOWN_FAILURES: dict[int, str] = {}
"""Seeds measured failing (strict: a fix turns them into XPASS failures, so remove them here then)."""


def _range(spec: str) -> list[int]:
    out = []
    for part in spec.split(','):
        lo, _, hi = part.partition('-')
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def _param(seed: int, slow: bool):
    marks = [pytest.mark.slow] if slow else []
    if seed in KNOWN_FAILURES:
        marks.append(pytest.mark.xfail(reason=KNOWN_FAILURES[seed], strict=True))
    return pytest.param(seed, marks=marks, id=str(seed))


def _params():
    extra = os.environ.get('HGQ_FUZZ_SEEDS')
    if extra:
        for seed in _range(extra):
            yield _param(seed, slow=True)
        return
    for seed in range(CI_SEEDS):
        yield _param(seed, slow=False)
    for seed in range(CI_SEEDS, CI_SEEDS + SLOW_SEEDS):
        yield _param(seed, slow=True)


@pytest.mark.parametrize('seed', list(_params()))
def test_fuzz(seed, tmp_path):
    out = run_case(seed, str(tmp_path / 'hls_prj'))
    log = os.environ.get('HGQ_FUZZ_LOG')
    if log:
        with open(log, 'a') as f:
            f.write(json.dumps(dataclasses.asdict(out)) + '\n')
    if out.status in ('exact', 'refused'):
        return
    pytest.fail(f'{out.line()}\n{generate(seed).describe()}\n'
                f'reproduce: python -m tests.random_models run {seed}', pytrace=False)


def test_generator_is_reproducible():
    a, b = generate(7), generate(7)
    assert a.describe() == b.describe()
    wa = [keras.ops.convert_to_numpy(w) for w in a.model.weights]
    wb = [keras.ops.convert_to_numpy(w) for w in b.model.weights]
    assert len(wa) == len(wb) and all((x == y).all() for x, y in zip(wa, wb))
