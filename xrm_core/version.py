"""The core's version: what plugins' manifests name in their ``core`` range."""

__version__ = "0.1.0"
