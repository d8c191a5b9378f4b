"""The ``perfkit`` command line: a thin layer over the Python API (one module per verb)."""

from perfkit.cli.app import app, main

__all__ = ["app", "main"]
