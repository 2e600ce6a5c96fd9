"""The package version, in a module of its own so that any module can name it without
importing the package's public API (`elmo_keras/__init__.py` imports every model)."""

__version__ = "0.1.0"
