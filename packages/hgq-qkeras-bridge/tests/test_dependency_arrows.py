"""The bridge's runtime never imports the hls4ml plugin: its C-simulation counts (`hgq_qkeras.exactness`, optional
extra ``[hls4ml]``) call hls4ml, which loads the plugin through its entry point."""

import ast
from pathlib import Path

import hgq_qkeras

SRC = Path(hgq_qkeras.__file__).parent


def test_bridge_does_not_import_the_plugin():
    offenders = []
    for path in SRC.rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ''] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f'{path.name}:{node.lineno}' for m in mods if m.split('.')[0] == 'hgq_hls4ml']
    assert not offenders
