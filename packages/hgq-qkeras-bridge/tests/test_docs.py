"""The examples in docs/coming-from-qkeras.md run (each in a fresh interpreter, as a user would run them)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / 'docs' / 'coming-from-qkeras.md'


def _example(flavour: str) -> str:
    # [^\n]*: the info string (the docs collector's options)
    blocks = re.findall(r'```python[^\n]*\n(.*?)```', DOC.read_text(), flags=re.S)
    for block in blocks:
        if block.startswith(f'# example: {flavour}'):
            return block
    raise AssertionError(f'no example for {flavour} in {DOC}')


def test_docs_example_runs(flavour, tmp_path):
    pytest.importorskip('hls4ml')
    if not DOC.exists():
        pytest.skip(f'{DOC} not found (package tested outside the repository)')
    env = {k: v for k, v in os.environ.items() if k != 'TF_USE_LEGACY_KERAS'}
    out = subprocess.run([sys.executable, '-c', _example(flavour)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert '==' in out.stdout.splitlines()[-1]
