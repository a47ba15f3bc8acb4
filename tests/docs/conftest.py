"""The checks of what the documentation promises (install commands resolve, wheels install) are slow and need the
network: they run in their tox environments (`tox -e docs`, `tox -e wheels`), which set HGQ_DOCS_CHECKS=1, and are
left out of the cross-package run (`pytest tests`). The python blocks of the pages run through
`tests/docs/markdown_plugin.py`, see there."""

import os

if os.environ.get('HGQ_DOCS_CHECKS') != '1':
    collect_ignore_glob = ['test_*.py']
