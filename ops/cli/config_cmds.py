"""``marketsession validate CONFIG``: check a session config against SPEC §3."""

from __future__ import annotations

import click

from domain.errors import ConfigError
from ops.cli.app import EXIT_BAD_INPUT, cli


@cli.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
def validate(config_path: str) -> None:
    """Validate CONFIG: exit 0 if valid, else exit 2 with one `path: message` line per violation."""
    from domain.config import SessionConfig

    try:
        config = SessionConfig.from_file(config_path)
    except ConfigError as error:
        for violation in error.violations:
            click.echo(str(violation), err=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    click.echo(
        f"{config_path}: valid ({config.mode} session {config.session_name!r}, "
        f"{len(config.session_data_config.symbols)} symbols)"
    )
