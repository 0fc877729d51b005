"""The version of keras-rnnx."""

__version__ = "0.1.0"
