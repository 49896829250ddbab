"""The ``shoptag`` command line."""

from shoptag.cli.main import app, main, run

__all__ = ["app", "main", "run"]
