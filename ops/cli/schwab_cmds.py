"""``marketsession schwab login``: the Schwab OAuth2 sign-in that makes the token file.

Print the authorization URL, let the user sign in and approve the app in a browser, read back
the URL Schwab redirected to (pasted), and exchange its code for the first tokens. The app's
key and secret come from ``SCHWAB_CLIENT_ID`` / ``SCHWAB_CLIENT_SECRET``; the file is
``SCHWAB_TOKEN_FILE`` (default ``~/.config/marketsession/schwab-token.json``). A login is good
for about 7 days of refreshes (``ops/RUNBOOK.md``).
"""

from __future__ import annotations

import os

import click

from domain.errors import ProviderError
from ops.cli.app import EXIT_BAD_INPUT, cli


@cli.group()
def schwab() -> None:
    """The Schwab provider's sign-in."""


@schwab.command()
@click.option(
    "--redirect-uri", default="https://127.0.0.1", show_default=True,
    help="The callback URL registered with the Schwab app.",
)  # fmt: skip
def login(redirect_uri: str) -> None:
    """Sign in to Schwab and write the token file (the URL to open is printed; paste the URL the
    browser was sent to after approving)."""
    from ops.providers.schwab import default_token_file
    from ops.providers.schwab_auth import TokenStore, authorize_url
    from ops.providers.schwab_auth import login as exchange

    client_id, secret = (os.environ.get(v, "").strip() for v in ("SCHWAB_CLIENT_ID", "SCHWAB_CLIENT_SECRET"))
    if not client_id or not secret:
        click.echo(
            "error: SCHWAB_CLIENT_ID and SCHWAB_CLIENT_SECRET must be set (the app's key and secret)",
            err=True,
        )
        raise SystemExit(EXIT_BAD_INPUT)
    api_url = os.environ.get("SCHWAB_API_URL", "").strip() or "https://api.schwabapi.com"
    path = os.environ.get("SCHWAB_TOKEN_FILE", "").strip() or default_token_file()
    store = TokenStore(path, client_id=client_id, client_secret=secret, auth_url=api_url)
    click.echo("Open this URL, sign in and approve the app:")
    click.echo(f"  {authorize_url(api_url, client_id, redirect_uri)}")
    pasted = click.prompt("Paste the URL your browser was sent to", prompt_suffix=": ")
    try:
        exchange(store, pasted, redirect_uri)
    except ProviderError as error:
        click.echo(f"error: {error}", err=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    click.echo(f"signed in: tokens written to {store.path} (refreshes for about 7 days)")
