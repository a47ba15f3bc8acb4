__version__ = '1.0.0.dev0'
version_tuple = (1, 0, 0, 'dev0')
version = __version__
__version_tuple__ = version_tuple
