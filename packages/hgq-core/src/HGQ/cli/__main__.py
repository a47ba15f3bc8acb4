"""``python -m HGQ.cli``: the same as the ``hgq`` command."""

from . import main

raise SystemExit(main())
