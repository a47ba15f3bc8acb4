"""hgq-hls4ml-plugin: hls4ml support for HGQ proxy models.

Installed, the plugin registers itself when ``import hls4ml`` runs (entry point group ``hls4ml.backends``);
importing this package registers it as well. It brings its own IR layers for the proxy quantizers and
lookup tables, an exact precision propagation pass, and code generation for per-element quantizers on
io_parallel and io_stream.
"""

from ._version import __version__
from .plugin import is_registered, register

register()

__all__ = ['__version__', 'is_registered', 'register']
