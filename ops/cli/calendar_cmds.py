"""``marketsession calendar …``: seed, import, patch and query trading calendars."""

from __future__ import annotations

import json
import time as wall
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from domain.calendar.model import CalendarException, TradingSession
from domain.errors import CalendarError
from ops.calendars.seed import GROUPS, seed_group
from ops.cli.app import CliState, cli

_GROUP = click.option(
    "--group",
    "group",
    default="US_EQUITY",
    show_default=True,
    help=f"Exchange group ({', '.join(tuple(GROUPS))}, …).",
)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


class _Date(click.ParamType[date]):
    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date (YYYY-MM-DD)", param, ctx)


class _HourMinute(click.ParamType[time]):
    name = "HH:MM"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> time:
        try:
            return time.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a time (HH:MM)", param, ctx)


DATE = _Date()


@cli.group()
def calendar() -> None:
    """Trading calendars: seed, import, patch, show and query."""


@calendar.command()
@click.option("--start-year", type=int, required=True)
@click.option("--end-year", type=int, required=True)
@click.option(
    "--group",
    "groups",
    multiple=True,
    type=click.Choice(tuple(GROUPS)),
    help="Group(s) to seed; default all known groups.",
)
@click.pass_obj
def seed(state: CliState, start_year: int, end_year: int, groups: tuple[str, ...]) -> None:
    """Seed calendars from exchange_calendars for a range of years (widens what is seeded)."""
    store = state.store()
    for group in groups or tuple(GROUPS):
        started = wall.perf_counter()
        result = seed_group(store.calendar, group, start_year, end_year, datetime.now(UTC))
        click.echo(
            f"{group}: {result.first_date}..{result.last_date}, {result.trading_days} trading days, "
            f"{result.closures} closures, {result.early_closes} early closes, "
            f"{result.late_opens} late opens, "
            f"{result.hours_versions} hours version(s) ({wall.perf_counter() - started:.2f}s)"
        )


@calendar.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@_GROUP
@click.option("--dry-run", is_flag=True, help="Show what would change, write nothing.")
@click.pass_obj
def import_(state: CliState, path: str, group: str, dry_run: bool) -> None:
    """Import a CSV or JSON holiday list (closures, early closes, late opens)."""
    from ops.calendars.holiday_files import read_holiday_file

    exceptions = read_holiday_file(path, group)
    store = state.store()
    _require_covered(store.calendar, exceptions)
    for exception in exceptions:
        click.echo(f"{'would set' if dry_run else 'set'} {_describe(exception)}")
    if dry_run:
        click.echo(f"dry run: {len(exceptions)} day(s) would be written")
        return
    store.calendar.upsert_exceptions(exceptions, datetime.now(UTC))
    click.echo(f"imported {len(exceptions)} day(s) from {path}")


@calendar.command()
@click.argument("day", type=DATE)
@_GROUP
@click.option("--closed", "closed_name", metavar="NAME", help="Close the market all day.")
@click.option("--early-close", nargs=2, type=(_HourMinute(), str), metavar="HH:MM NAME", help="Close early.")
@click.option("--remove", is_flag=True, help="Remove the day's exception (back to standard hours).")
@click.option("--notes", default=None, help="Free text kept with the change.")
@click.pass_obj
def patch(
    state: CliState,
    day: date,
    group: str,
    closed_name: str | None,
    early_close: tuple[time, str] | None,
    remove: bool,
    notes: str | None,
) -> None:
    """Add, change or remove one day (an unscheduled closure, an early close)."""
    chosen = sum(bool(x) for x in (closed_name, early_close, remove))
    if chosen != 1:
        raise click.UsageError("give exactly one of --closed NAME, --early-close HH:MM NAME, --remove")
    store = state.store()
    if remove:
        removed = store.calendar.remove_exception(group, day)
        click.echo(f"{group} {day}: {'exception removed' if removed else 'no exception to remove'}")
        return
    if closed_name is not None:
        exception = CalendarException(day, group, closed_name, True, notes=notes, source="manual")
    else:
        assert early_close is not None
        exception = CalendarException(
            day, group, early_close[1], False, early_close_time=early_close[0], notes=notes, source="manual"
        )
    _require_covered(store.calendar, [exception])
    store.calendar.upsert_exceptions([exception], datetime.now(UTC))
    click.echo(f"set {_describe(exception)}")


@calendar.command()
@click.argument("day", type=DATE)
@_GROUP
@_JSON
@click.pass_obj
def session(state: CliState, day: date, group: str, as_json: bool) -> None:
    """One day's trading session."""
    result = state.calendar(group).get_trading_session(day)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    _print_sessions([result])


@calendar.command()
@click.argument("start", type=DATE)
@click.argument("end", type=DATE)
@_GROUP
@_JSON
@click.pass_obj
def days(state: CliState, start: date, end: date, group: str, as_json: bool) -> None:
    """Trading dates from START to END, inclusive."""
    dates = state.calendar(group).get_trading_dates_in_range(start, end)
    if as_json:
        click.echo(json.dumps([d.isoformat() for d in dates]))
    else:
        for day in dates:
            click.echo(day.isoformat())


_N = click.option("--n", "n", type=int, default=1, show_default=True, help="How many trading days.")


@calendar.command("next")
@click.argument("day", type=DATE)
@_N
@_GROUP
@_JSON
@click.pass_obj
def next_(state: CliState, day: date, n: int, group: str, as_json: bool) -> None:
    """The n-th trading date after DAY (exclusive)."""
    _echo_date(state.calendar(group).get_next_trading_date(day, n), as_json)


@calendar.command()
@click.argument("day", type=DATE)
@_N
@_GROUP
@_JSON
@click.pass_obj
def prev(state: CliState, day: date, n: int, group: str, as_json: bool) -> None:
    """The n-th trading date before DAY (exclusive)."""
    _echo_date(state.calendar(group).get_previous_trading_date(day, n), as_json)


@calendar.command()
@click.argument("day", type=DATE)
@_GROUP
@_JSON
@click.pass_obj
def first(state: CliState, day: date, group: str, as_json: bool) -> None:
    """DAY itself if it trades, else the next trading date (inclusive)."""
    _echo_date(state.calendar(group).get_first_trading_date(day), as_json)


def _echo_date(day: date, as_json: bool) -> None:
    click.echo(json.dumps(day.isoformat()) if as_json else day.isoformat())


@calendar.command()
@click.option("--start", type=DATE, help="First day (default: Monday of this week).")
@click.option("--end", type=DATE, help="Last day (default: start + 6 days).")
@_GROUP
@_JSON
@click.pass_obj
def show(state: CliState, start: date | None, end: date | None, group: str, as_json: bool) -> None:
    """Every day of a range with its hours (default: this week)."""
    cal = state.calendar(group)
    today = datetime.now(cal.timezone()).date()  # the exchange's today, not UTC's
    start = start or today - timedelta(days=today.weekday())
    end = end or start + timedelta(days=6)
    if end < start:
        raise CalendarError(f"end {end} is before start {start}")
    if (end - start).days > 366:
        raise CalendarError("show at most one year at a time")
    sessions = [cal.get_trading_session(start + timedelta(days=i)) for i in range((end - start).days + 1)]
    if as_json:
        click.echo(json.dumps([s.to_json() for s in sessions], indent=2))
    else:
        _print_sessions(sessions)


def _print_sessions(sessions: list[TradingSession]) -> None:
    table = Table(title=f"{sessions[0].exchange_group} ({sessions[0].timezone})")
    for column in ("date", "day", "status", "pre-market", "regular", "post-market", "note"):
        table.add_column(column)

    def span(a: datetime | None, b: datetime | None) -> str:
        return f"{a:%H:%M}–{b:%H:%M}" if a and b else "—"

    for s in sessions:
        status = "closed" if not s.is_trading_day else "early close" if s.is_early_close else "open"
        regular = span(s.regular_open, s.regular_close)
        if s.break_start and s.break_end:
            regular += f" (break {s.break_start:%H:%M}–{s.break_end:%H:%M})"
        table.add_row(
            s.date.isoformat(),
            f"{s.date:%a}",
            status,
            span(s.pre_market_open, s.pre_market_close),
            regular,
            span(s.post_market_open, s.post_market_close),
            s.holiday_name or ("weekend" if not s.is_trading_day else ""),
        )
    Console(width=120, markup=False).print(table)


def _describe(exception: CalendarException) -> str:
    if exception.is_closed:
        what = "closed"
    elif exception.early_close_time is not None:
        what = f"early close {exception.early_close_time:%H:%M}"
    else:
        what = f"late open {exception.late_open_time:%H:%M}"
    return f"{exception.exchange_group} {exception.date}: {what} ({exception.name})"


def _require_covered(source: Any, exceptions: list[CalendarException]) -> None:
    """Refuse days outside a group's seeded range (they would silently never apply)."""
    bad = []
    for group in {e.exchange_group for e in exceptions}:
        coverage = source.load_coverage(group)
        if coverage is None:
            raise CalendarError(
                f"exchange group {group!r} is not seeded: run `marketsession calendar seed` first"
            )
        bad += [e for e in exceptions if e.exchange_group == group and e.date not in coverage]
    if bad:
        shown = ", ".join(f"{e.exchange_group} {e.date}" for e in bad[:5])
        raise CalendarError(f"{len(bad)} day(s) outside the seeded calendar: {shown}; seed those years first")
