"""The ``hashbank`` command line: one module per command group."""

from node.cli.main import main

__all__ = ["main"]
