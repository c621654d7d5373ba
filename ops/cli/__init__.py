"""The ``marketsession`` command line. ``main`` is the console script."""

from ops.cli.app import cli, main

__all__ = ["cli", "main"]
