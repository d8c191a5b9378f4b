"""The ``perfkit`` command line: a thin layer over the Python API of perfkit/api.py, one
module per verb. The entry point is :func:`perfkit.cli.app.main`."""
