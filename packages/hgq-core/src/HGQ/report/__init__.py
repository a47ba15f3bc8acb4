"""Reports of trained HGQ models: per-layer EBOPs and bitwidths (`layer_summary`), Pareto-front helpers, the
versions used, PNG figures (matplotlib, the optional extra ``hgq-core[report]``) and one self-contained HTML page.

The numbers need only numpy and Keras; the figures import matplotlib when drawn (`plots.MissingDependency`, an
ImportError naming the extra, when it is not installed). `HGQ` itself never imports this package.
"""

from __future__ import annotations

from .pages import REPORT_HTML, write_demo_report, write_model_report
from .plots import MissingDependency, require_matplotlib
from .summary import LayerBits, choose, json_ready, layer_bits, layer_summary, non_dominated, versions

__all__ = [
    'REPORT_HTML',
    'LayerBits',
    'MissingDependency',
    'choose',
    'json_ready',
    'layer_bits',
    'layer_summary',
    'non_dominated',
    'require_matplotlib',
    'versions',
    'write_demo_report',
    'write_model_report',
]
