"""The ``marketsession`` command line. ``main`` is the console script; ``commands()`` the root
command with its subcommands (for click's ``CliRunner``)."""

from ops.cli.app import cli, commands, main

__all__ = ["cli", "commands", "main"]
