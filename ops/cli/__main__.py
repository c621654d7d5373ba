"""``python -m ops.cli`` runs the CLI."""

from ops.cli.app import main

main()
