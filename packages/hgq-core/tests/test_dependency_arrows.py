"""hgq-core never imports the hls4ml plugin by name: `HGQ.proxy.init_all` reaches it through the ``hls4ml.backends``
entry point, the one hls4ml itself calls."""

import ast
from pathlib import Path
from types import SimpleNamespace

import HGQ
import HGQ.proxy

SRC = Path(HGQ.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_hgq_core_does_not_import_the_plugin():
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob('*.py')
                 if any(m.split('.')[0] == 'hgq_hls4ml' for m in _imported_modules(p))]
    assert not offenders


def test_init_all_goes_through_the_entry_point(monkeypatch):
    calls = []

    class EntryPoints:
        def select(self, group, name):
            assert (group, name) == HGQ.proxy.HLS4ML_ENTRY_POINT
            return [SimpleNamespace(value='fake:register', load=lambda: lambda: calls.append(1) or True)]

    monkeypatch.setattr(HGQ.proxy, 'entry_points', EntryPoints)
    assert HGQ.proxy.init_all() == ['hls4ml'] and calls == [1]
