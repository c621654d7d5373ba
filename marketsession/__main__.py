"""``python -m marketsession``: the command line."""

from ops.cli import main

main()
