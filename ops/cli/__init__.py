"""The ``marketsession`` command line. ``main`` is the console script; ``commands()`` the root
command with its subcommands (for click's ``CliRunner``)."""

from ops.cli.app import cli, commands, main

commands()  # every subcommand registered on ``cli`` (the CLI reference of the docs reads it)

__all__ = ["cli", "commands", "main"]
