"""pytest plugin for running the ```python blocks of README.md, docs/*.md and packages/*/README.md.

The collector is pytest-markdown-docs (``pytest --markdown-docs``): it parses the pages with markdown-it (the
CommonMark parser), makes every ```python / ```py block one test, and reads options from the fence's info string:

- ```python notest       the block is not run (say why in the text around it);
- ```python continuation the block continues the previous one of the same page (same names);
- ```python fixture:NAME the block gets the pytest fixture NAME (defined here);
- ```python runner:fresh_python  the block runs as a script in a new Python interpreter (defined here), for
  blocks that must come first in a process: setting `KERAS_BACKEND`, `XLA_FLAGS` or TensorFlow's devices.

This plugin (loaded with ``-p tests.docs.markdown_plugin``) adds what the pages need:

- every block runs in a fresh temporary folder as its working directory, so that ``output_dir='prj'``,
  ``model.save(...)`` and the like write nothing into the repository;
- blocks are assigned to the environment their page names. A block with one of the QKeras fixtures runs in the
  QKeras tox environments (``--docs-env qkeras``): ``fixture:needs_qkeras`` with either QKeras,
  ``fixture:needs_qkeras_09`` only with QKeras 0.9 (tf_keras), ``fixture:needs_qkeras_v3`` only with qkeras-v3.
  Every other block runs in ``tox -e docs`` (``--docs-env hgq``, the default). Blocks of the other environment
  are deselected;
- ``fixture:hgq1_model_file`` puts a model saved by the real HGQ1 0.2.6 (the 8-input ``dense_mlp.h5`` of
  packages/hgq-core/tests/fixtures/hgq1) into the working directory as ``old_hgq1_model.h5``.

Warnings are shown, not turned into errors (the repository's pytest.ini makes them errors for the test suites):
a block is what a user types, and a third-party deprecation warning does not make it wrong.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_markdown_docs._runners import DefaultRunner, register_runner

ROOT = Path(__file__).resolve().parents[2]
HGQ1_MODEL = ROOT / 'packages' / 'hgq-core' / 'tests' / 'fixtures' / 'hgq1' / 'dense_mlp.h5'
FRESH_PYTHON_TIMEOUT_S = 900
QKERAS_FIXTURES = {'needs_qkeras': None, 'needs_qkeras_09': 'qkeras-0.9', 'needs_qkeras_v3': 'qkeras-v3'}


def pytest_addoption(parser):
    parser.addoption('--docs-env', choices=('hgq', 'qkeras'), default='hgq',
                     help='which documentation blocks to run: hgq (default) or those with a QKeras fixture')


def _installed_qkeras() -> str | None:
    try:
        from hgq_qkeras.environment import qkeras_flavour  # imports no TensorFlow
    except ImportError:
        return None
    return qkeras_flavour()


def _runs_here(fixtures: set[str], env: str, flavour: str | None) -> bool:
    wanted = [QKERAS_FIXTURES[name] for name in fixtures if name in QKERAS_FIXTURES]
    if not wanted:
        return env == 'hgq'
    return env == 'qkeras' and flavour is not None and all(w is None or w == flavour for w in wanted)


def pytest_collection_modifyitems(config, items):
    env = config.getoption('--docs-env')
    flavour = _installed_qkeras() if env == 'qkeras' else None
    if env == 'qkeras' and flavour is None:
        raise pytest.UsageError('--docs-env qkeras needs hgq-qkeras-bridge and QKeras (qkeras or qkeras-v3)')
    keep, drop = [], []
    for item in items:
        definition = getattr(item, 'test_definition', None)
        if definition is None:  # not a markdown block
            keep.append(item)
            continue
        (keep if _runs_here(set(definition.fixture_names), env, flavour) else drop).append(item)
        item.add_marker(pytest.mark.filterwarnings('default'))
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def _block_in_temporary_folder(request, tmp_path, monkeypatch):
    if getattr(request.node, 'test_definition', None) is not None:
        monkeypatch.chdir(tmp_path)


@pytest.fixture
def needs_qkeras():
    """Marks a block for the QKeras environments (either QKeras)."""


@pytest.fixture
def needs_qkeras_09():
    """Marks a block for the QKeras 0.9 environment."""


@pytest.fixture
def needs_qkeras_v3():
    """Marks a block for the qkeras-v3 environment."""


@pytest.fixture
def hgq1_model_file(tmp_path):
    """A model saved by HGQ1 0.2.6 (``dense_mlp.h5``: 8 inputs, 5 outputs) as ./old_hgq1_model.h5."""
    shutil.copy(HGQ1_MODEL, tmp_path / 'old_hgq1_model.h5')


class BlockFailed(AssertionError):
    """A block run by `fresh_python` exited with a non-zero status."""


@register_runner()
class fresh_python(DefaultRunner):  # noqa: N801 -- the name is what the fence says: ```python runner:fresh_python
    """Runs the block as `python block.py` in the current (temporary) folder, in a new interpreter."""

    def runtest(self, test, args, *, asyncio_runner=None):
        script = Path('block.py')
        script.write_text(test.source)
        env = {**os.environ, 'PYTHONPATH': os.pathsep.join(p for p in sys.path if p)}
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                             timeout=FRESH_PYTHON_TIMEOUT_S)
        sys.stdout.write(out.stdout)
        if out.returncode != 0:
            raise BlockFailed(f'{test.source_path}:{test.start_line + 1}: the block exited with status '
                              f'{out.returncode}\n{out.stderr[-6000:]}')

    def repr_failure(self, test, excinfo, style=None):
        if isinstance(excinfo.value, BlockFailed):
            return str(excinfo.value)
        return super().repr_failure(test, excinfo, style)
