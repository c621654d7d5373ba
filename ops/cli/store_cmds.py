"""``marketsession init``: create or upgrade the store."""

from __future__ import annotations

import click

from ops.cli.app import CliState, cli


@cli.command()
@click.pass_obj
def init(state: CliState) -> None:
    """Create the store, or upgrade an existing one to this release's schema."""
    from domain.store import init_store
    from domain.store.database import display_url

    before, after = init_store(state.db_url)
    shown = display_url(state.db_url)
    if before == after:
        click.echo(f"store {shown} is up to date (schema {after})")
    else:
        click.echo(f"store {shown} {'created' if before is None else 'upgraded'} at schema {after}")
