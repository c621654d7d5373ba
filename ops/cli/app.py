"""Root command: global options (``--db``, logging), error handling and exit codes.

Exit codes: 0 ok, 2 bad input (config, file, date, URL, usage), 1 runtime failure (store
unreachable, unexpected error, a run that did not complete), 3 a backtest that completed but in
which a symbol had no session bar at all (the store lacks its data). Errors are one readable
line on stderr, never a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import faulthandler
import math
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from domain.errors import (
    BarImportError,
    CalendarError,
    ConfigError,
    FaultError,
    MarketSessionError,
    ProviderError,
    ProviderUnavailable,
    QuoteImportError,
    StoreError,
    StoreUnavailable,
    Violation,
)

if TYPE_CHECKING:  # imported where used: `marketsession --help` loads none of them
    from domain.calendar.trading_calendar import TradingCalendar
    from domain.config import SessionConfig
    from domain.store import Store

EXIT_OK, EXIT_RUNTIME, EXIT_BAD_INPUT, EXIT_NO_DATA = 0, 1, 2, 3
OPEN_RETRIES = 2


@dataclass
class CliState:
    """What every subcommand gets: the resolved store URL and, once opened, the store."""

    db_url: str
    debug: bool = False
    _store: Store | None = field(default=None, repr=False)

    def store(self) -> Store:
        """The store, opened on first use. A server that cannot be reached is tried again
        :data:`OPEN_RETRIES` times (0.5 s, then 1 s apart) before the outage is reported."""
        from domain.store import open_store

        if self._store is None:
            for attempt in range(OPEN_RETRIES + 1):
                try:
                    self._store = open_store(self.db_url)
                    break
                except StoreUnavailable:
                    if attempt == OPEN_RETRIES:
                        raise
                    threading.Event().wait(0.5 * 2**attempt)  # a bounded pause before trying again
        assert self._store is not None
        return self._store

    def calendar(self, exchange_group: str = "US_EQUITY") -> TradingCalendar:
        from domain.calendar.trading_calendar import TradingCalendar

        return TradingCalendar(self.store().calendar, exchange_group)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


_WRONG_MODE = {
    "backtest": "`run` executes backtest sessions; this config is a live session",
    "live": "`serve` runs live sessions; this config is a backtest (use `run`)",
}


def load_config(path: str, mode: str) -> SessionConfig:
    """The session config at ``path``, refused unless its mode is ``mode`` (backtest or live)."""
    from domain.config import SessionConfig

    config = SessionConfig.from_file(path)
    if config.mode != mode:
        raise ConfigError([Violation("mode", _WRONG_MODE[mode])], path)
    return config


def writable(path: Path, option: str, what: str) -> Path:
    """``path`` once ``what`` can be written there (checked before the work, not after it)."""
    from ops.run_output import check_report_path

    try:
        check_report_path(path)
    except OSError as error:
        raise click.BadParameter(
            f"cannot write {what} to {path}: {error.strerror or error}", param_hint=f"'{option}'"
        ) from None
    return path


def exit_code_for(error: MarketSessionError) -> int:
    if isinstance(error, StoreUnavailable | ProviderUnavailable):
        return EXIT_RUNTIME
    # a provider error that is not an outage: not supported, refused credentials, nothing to replay
    bad_input = (
        ProviderError
        | ConfigError
        | CalendarError
        | BarImportError
        | QuoteImportError
        | StoreError
        | FaultError
    )
    return EXIT_BAD_INPUT if isinstance(error, bad_input) else EXIT_RUNTIME


def report_error(error: MarketSessionError) -> None:
    click.echo(f"error: {error}", err=True)
    if isinstance(error, ConfigError):
        return  # its message already lists every violation
    for violation in error.violations[:50]:
        click.echo(f"  {violation}", err=True)
    if len(error.violations) > 50:
        click.echo(f"  … and {len(error.violations) - 50} more", err=True)


class FiniteFloat(click.FloatRange):
    """A float option within a range that refuses ``nan`` and the infinities."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class _Root(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:  # one line, as every other bad input
            command = error.ctx.command_path if error.ctx is not None else "marketsession"
            click.echo(f"error: {error.format_message()} (see `{command} --help`)", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as error:
            state = ctx.find_object(CliState)
            if state is not None and state.debug:
                raise
            if isinstance(error, MarketSessionError):  # the store's driver errors arrive as StoreError
                report_error(error)
                ctx.exit(exit_code_for(error))
            # a bug or an unexpected environment: one line, exit 1
            click.echo(
                f"error: unexpected {type(error).__name__}: {error} (rerun with --debug for details)",
                err=True,
            )
            ctx.exit(EXIT_RUNTIME)
        finally:
            state = ctx.find_object(CliState)
            if state is not None:
                state.close()


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db",
    metavar="URL",
    help="Store URL (sqlite:///PATH or postgresql://…); default $MARKETSESSION_DB, else sqlite:///marketsession.db.",
)
@click.option(
    "--log-level", default=None, help="Log level (DEBUG, INFO, WARNING, ERROR) [WARNING; serve: INFO]."
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    default="auto",
    show_default=True,
    help="auto: console on a terminal, JSON otherwise (serve: always JSON).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(package_name="marketsession")
@click.pass_context
def cli(ctx: click.Context, db: str | None, log_level: str | None, log_format: str, debug: bool) -> None:
    """marketsession: market-data sessions over a trading calendar."""
    from domain.store import resolve_db_url
    from ops.logging import configure_logging

    serving = ctx.invoked_subcommand == "serve"  # a service logs structured JSON, INFO and up
    configure_logging(
        log_level or ("INFO" if serving else "WARNING"),
        "json" if serving and log_format == "auto" else log_format,
    )
    ctx.obj = CliState(db_url=resolve_db_url(db, os.environ), debug=debug)


def commands() -> click.Group:
    """The root command with every subcommand registered."""
    from ops.cli import (  # noqa: F401  (each module registers its commands)
        calendar_cmds,
        chaos_cmds,
        config_cmds,
        data_cmds,
        run_cmds,
        schwab_cmds,
        serve_cmds,
        store_cmds,
    )

    return cli


def main() -> None:
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 PID`: every thread's stack on stderr, the run goes on
        faulthandler.register(signal.SIGUSR1, all_threads=True)

    sys.exit(commands().main(prog_name="marketsession", standalone_mode=True))
