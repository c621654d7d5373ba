"""A live engine that keeps running across days (SPEC §5, §8, §9): the day rolls at each close,
the service is "between sessions" while it waits, a calendar patch made mid-week applies without
a restart, and the run ends after the provider's last day.

The replay serves four complete synthetic days (every regular-session minute of two symbols,
already at their target days' timestamps): Tuesday 2026-11-24, Wednesday 11-25, Friday 11-27
(the early close after Thanksgiving) and Monday 11-30. The provider's clock and the engine's
timer run on a ``ManualTime`` that a ``TimeDriver`` moves on as fast as the engine keeps up.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from support.engine import Recorder
from support.live import TimeDriver, day_hours, live_config, minute_bars, ny, wait_until
from support.stores import seed

from actors.system import MarketSessionSystem
from actors.timer import ManualTime
from domain.calendar.model import CalendarException
from domain.messages.events import RunCompleted, SessionEnded, WarningRaised
from domain.providers import ScaledClock
from domain.session.status import LiveStatus
from domain.store import Store
from ops.providers.replay import ReplayProvider
from ops.providers.replay_days import ReplayDay

SPEED = 5000.0
DAYS = (date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 27), date(2026, 11, 30))
SYMBOLS = ("AAPL", "RIVN")


@dataclass
class ListedDays:
    """The provider's days, as given (a calendar patch does not change what it sends)."""

    days: list[ReplayDay]

    def days_from(self, ts: float) -> Iterator[ReplayDay]:
        yield from self.days

    def last_day(self) -> date | None:
        return self.days[-1].target


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    seed(sqlite_store)
    return sqlite_store


def test_a_service_that_keeps_running_rolls_the_day_applies_a_mid_week_patch_and_ends_after_the_last_day(
    store: Store,
) -> None:
    hours = {day: day_hours(store, day) for day in DAYS}
    days = [
        ReplayDay(
            day, None, sorted(minute_bars(SYMBOLS, h.open_ts, h.close_ts), key=lambda b: (b.ts, b.symbol))
        )
        for day, h in hours.items()
    ]
    manual = ManualTime()
    clock = ScaledClock(ny(DAYS[0], 9, 25).astimezone(UTC), SPEED, manual.now)
    provider = ReplayProvider(clock=clock, time=manual, days=ListedDays(days))
    engine = MarketSessionSystem(
        live_config(SYMBOLS), store, provider=provider, time=manual, keep_running=True
    )
    recorder = Recorder()
    engine.subscribe(recorder)
    between: list[LiveStatus] = []

    def on_day_ended(event: Any) -> None:  # what /readyz and /status read once a day has closed
        if isinstance(event, SessionEnded) and not between:
            between.append(engine.live_status(timeout=5.0))

    engine.subscribe(on_day_ended, [SessionEnded])
    driver = TimeDriver(manual, provider, engine, step=20 / SPEED)
    try:
        engine.start()
        driver.start()
        # mid-week, during Wednesday's session: today closes at 14:00, Friday does not open
        assert wait_until(lambda: engine.now() >= ny(DAYS[1], 11), 60.0), "Wednesday 11:00 never came"
        store.calendar.upsert_exceptions(
            [
                CalendarException(
                    DAYS[1], "US_EQUITY", "Early close (test)", False, early_close_time=time(14)
                ),
                CalendarException(DAYS[2], "US_EQUITY", "Closed (test)", True),
            ],
            datetime.now(UTC),
        )
        answer = engine.reload_calendar()
        report = engine.wait(120.0)
        assert recorder.wait_count(RunCompleted, 1, 10.0)
    finally:
        driver.stop()
        engine.shutdown()

    assert answer == "2026-11-25: closes early at 14:00"
    assert report.status == "completed", report.error
    assert [d.day for d in report.days] == [DAYS[0], DAYS[1], DAYS[3]], (
        "Friday closed, the run ends after Monday"
    )
    tuesday, wednesday, monday = report.days
    for day, minutes in ((tuesday, 390), (wednesday, 270), (monday, 390)):
        for symbol in SYMBOLS:
            minute = day.symbols[symbol].session["1m"]
            assert (minute.bars, minute.quality, minute.gaps) == (minutes, 100.0, ()), (day.day, symbol)
    # Wednesday ran to its new close: its hours are the patched ones
    assert wednesday.hours.close_ts == ny(DAYS[1], 14).timestamp() and not wednesday.ended_early
    warnings = [e.message for e in recorder.of(WarningRaised)]
    assert (
        "2026-11-25: the calendar closes today early, at 14:00 (was 16:00); the session ends then" in warnings
    )
    # between sessions: nothing loaded, the next day named (what /readyz says)
    assert between and not between[0].loaded and between[0].next_day == "2026-11-25"
    assert between[0].days_done == ("2026-11-24",)
    # Friday's bars came all the same (the provider did not know): stored, kept out of every session
    friday = hours[DAYS[2]]
    assert len(store.replayed.read("AAPL", "1m", friday.open_ts, friday.close_ts)) == 210  # its 13:00 close
