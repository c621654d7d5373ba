"""The ``replay`` provider (SPEC §8): stored bars served as a live feed on a fast provider clock.

The stream is half an hour of the real AAPL and RIVN minutes of 2025-07-02 at their true time (the
files are stamped 4 hours late): 12:00–12:30 UTC, 08:00–08:30 New York, in the pre-market, where
RIVN is sparse (30 AAPL bars and 21 RIVN bars, so some minutes hold one symbol only), played on a
:class:`ScaledClock` 15 000 times faster than the wall clock (the half hour takes an eighth of
a second) and recorded by a sink that notes the provider clock at each delivery. Faults (drop, drop span,
disconnect, late, duplicate, lag, failing fetches) are checked bar by bar. ``replay_from_store``
is checked on a real SQLite store: the shift of a summer day onto a winter day, the clock start,
the default source day, and the errors when there is nothing to replay; and over several days:
source days played in order on the target calendar's trading days (its holiday, weekend and
early close), a closure patched in mid-run, a restart mid-week, and the overnight outage.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support.live import RecordingSink
from support.stores import real_minute_bars, seed

from domain.bars import Bar
from domain.calendar.model import CalendarException
from domain.calendar.trading_calendar import TradingCalendar
from domain.config import SessionConfig
from domain.errors import ProviderError, ProviderUnavailable
from domain.intervals import Interval
from domain.providers import ConnectionState, ScaledClock
from domain.session.windows import DayHours
from domain.store import Store, open_store
from ops.faults import ProviderFaults
from ops.providers.replay import ReplayFaults, ReplayProvider, replay_from_store
from ops.soak import complete_session_bars

NY = ZoneInfo("America/New_York")
SPEED = 15000.0
CONNECTING, CONNECTED = ConnectionState.CONNECTING, ConnectionState.CONNECTED
RECONNECTING, CLOSED, FAILED = ConnectionState.RECONNECTING, ConnectionState.CLOSED, ConnectionState.FAILED


def utc(hour: int, minute: int = 0, second: int = 0, *, day: date = date(2025, 7, 2)) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC).timestamp())


def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


FIRST, END = utc(12), utc(12, 30)  # the regular session holds every minute of both symbols


@pytest.fixture(scope="module")
def day() -> list[Bar]:
    """The stream: real bars of [12:00, 12:30) UTC, in (time, symbol) order."""
    bars = [b for s in ("AAPL", "RIVN") for b in real_minute_bars(s) if FIRST <= b.ts < END]
    return sorted(bars, key=lambda b: (b.ts, b.symbol))


def keys(bars: Sequence[Bar]) -> list[tuple[str, int]]:
    return sorted((b.symbol, b.ts) for b in bars)


class SteppingWall:
    """A wall clock for a ScaledClock that moves ``step`` seconds at every reading: the provider's
    clock then advances the same amount per reading, whatever the machine's load."""

    def __init__(self, step: float) -> None:
        self.step = step
        self._at = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            value = self._at
            self._at += self.step
            return value


class ManualWall:
    """A wall clock that moves only when the test sets ``at``."""

    def __init__(self) -> None:
        self.at = 0.0

    def __call__(self) -> float:
        return self.at


class WallFromStreamStart:
    """``time.monotonic`` standing still until the stream reads its start: the ScaledClock's
    origin is the first reading, the stream's start the second, so the stream starts exactly at
    the clock's start however long its thread took to run."""

    def __init__(self) -> None:
        self._readings = 0
        self._origin = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self._readings += 1
            if self._readings <= 2:
                self._origin = time.monotonic()
                return 0.0
            return time.monotonic() - self._origin


@pytest.fixture
def make() -> Iterator[Callable[..., ReplayProvider]]:
    """Replay providers on a clock 15 000x faster than the wall clock (from the stream's start),
    starting a minute before the first bar; every stream is stopped afterwards."""
    made: list[ReplayProvider] = []

    def factory(
        bars: Sequence[Bar],
        *,
        start: int = FIRST - 60,
        speed: float = SPEED,
        elapsed: Callable[[], float] | None = None,
        **faults: Any,
    ) -> ReplayProvider:
        clock = ScaledClock(at(start), speed, elapsed or WallFromStreamStart())
        provider = ReplayProvider(bars, clock=clock, faults=ReplayFaults(**faults) if faults else None)
        made.append(provider)
        return provider

    yield factory
    for provider in made:
        provider.stop_stream(5.0)


def stream(provider: ReplayProvider, symbols: Sequence[str] = ("AAPL", "RIVN")) -> RecordingSink:
    sink = RecordingSink(provider.clock())
    provider.start_stream(symbols, sink)
    return sink


def wait_all_handled(sink: RecordingSink, provider: ReplayProvider, total: int) -> None:
    """Until every bar was either delivered or kept from the stream by a fault."""
    sink.wait_for(lambda: len(sink.delivered()) + len(provider.dropped) >= total, f"{total} bars handled")


# ------------------------------------------------------------------------ the stream


def test_every_bar_is_delivered_once_after_its_end_with_all_symbols_of_a_minute_together(
    make: Callable[..., ReplayProvider], day: list[Bar]
) -> None:
    provider = make(day)
    sink = stream(provider)

    sink.wait_for(lambda: len(sink.delivered()) >= len(day), "every bar")

    assert keys(sink.delivered()) == keys(day)
    assert len(sink.delivered()) == len(day) == 51
    batches = sink.batches()
    assert [batch[0].ts for batch, _ in batches] == sorted({b.ts for b in day}), (
        "one batch per minute, in order"
    )
    for batch, now in batches:
        assert list(batch) == [b for b in day if b.ts == batch[0].ts], "a minute's bars come together"
        assert now >= batch[0].ts + 60, f"bar of {at(batch[0].ts):%H:%M} delivered before its end"
    assert sink.states() == [CONNECTING, CONNECTED]
    assert provider.state == CONNECTED
    assert sink.outages() == []
    assert provider.stats["sent"] == 51
    assert provider.dropped == []


def test_the_stream_carries_only_the_subscribed_symbols(
    make: Callable[..., ReplayProvider], day: list[Bar]
) -> None:
    provider = make(day)
    sink = stream(provider, ["RIVN"])
    rivn = [b for b in day if b.symbol == "RIVN"]

    sink.wait_for(lambda: len(sink.delivered()) >= len(rivn), "RIVN's bars")
    sink.wait_for(lambda: provider.clock().now().timestamp() > END + 120, "the end of the half hour")

    assert sink.delivered() == rivn
    assert provider.stats["sent"] == 21


def test_a_stream_cannot_be_started_twice(make: Callable[..., ReplayProvider], day: list[Bar]) -> None:
    provider = make(day)
    stream(provider)

    with pytest.raises(RuntimeError, match="already running"):
        provider.start_stream(["AAPL"], RecordingSink())


def test_bars_already_past_when_the_stream_starts_are_not_sent(
    make: Callable[..., ReplayProvider], day: list[Bar]
) -> None:
    """A real feed does not replay history on subscribe: those bars are the gap filler's."""
    # 10 clock seconds per reading: the stream reads its start once, at 12:15:10
    provider = make(day, start=utc(12, 15), speed=1e6, elapsed=SteppingWall(1e-5))
    sink = stream(provider)
    later = [b for b in day if b.ts >= utc(12, 15)]

    sink.wait_for(lambda: len(sink.delivered()) >= len(later), "the bars after the start")

    assert keys(sink.delivered()) == keys(later)
    past = [b for b in day if b.ts < utc(12, 15)]
    assert keys(provider.fetch_bars(["AAPL", "RIVN"], "1m", FIRST, utc(12, 15))) == keys(past)


def test_a_seeded_drop_fraction_drops_a_repeatable_set_and_lists_it(
    make: Callable[..., ReplayProvider], day: list[Bar]
) -> None:
    runs = []
    for _ in range(2):
        provider = make(day, drop_fraction=0.3, seed=11)
        sink = stream(provider)
        wait_all_handled(sink, provider, len(day))
        runs.append((keys(provider.dropped), keys(sink.delivered()), dict(provider.stats)))

    (dropped, delivered, stats), again = runs[0], runs[1]
    assert again[:2] == (dropped, delivered), "the same seed drops the same bars"
    assert 0 < len(dropped) < len(day)
    assert not set(dropped) & set(delivered)
    assert sorted(dropped + delivered) == keys(day)
    assert stats["dropped"] == len(dropped)
    assert stats["sent"] == len(delivered)

    other = make(day, drop_fraction=0.3, seed=12)
    sink = stream(other)
    wait_all_handled(sink, other, len(day))
    assert keys(other.dropped) != dropped, "another seed, another set"


def test_a_drop_span_drops_every_bar_starting_in_it(
    make: Callable[..., ReplayProvider], day: list[Bar]
) -> None:
    provider = make(day, drop_ranges=((utc(12, 10), utc(12, 15)),))
    sink = stream(provider)

    wait_all_handled(sink, provider, len(day))

    inside = [b for b in day if utc(12, 10) <= b.ts < utc(12, 15)]
    assert keys(provider.dropped) == keys(inside)
    assert keys(sink.delivered()) == keys([b for b in day if b not in inside])
    assert provider.stats["dropped"] == len(inside) == 7
    assert sink.states() == [CONNECTING, CONNECTED], "a drop is not a disconnect"


def test_a_disconnect_loses_the_bars_due_meanwhile_and_reports_one_outage_on_reconnect(
    make: Callable[..., ReplayProvider], day: list[Bar]
) -> None:
    down, up = utc(12, 10), utc(12, 15)
    provider = make(day, disconnects=((down, up),))
    sink = stream(provider)

    wait_all_handled(sink, provider, len(day))

    due_while_down = [b for b in day if down <= b.ts + 60 < up]
    assert keys(provider.dropped) == keys(due_while_down)
    assert provider.stats["lost_disconnected"] == len(due_while_down)
    assert keys(sink.delivered()) == keys([b for b in day if b not in due_while_down])
    assert sink.states() == [CONNECTING, CONNECTED, RECONNECTING, CONNECTED]
    assert sink.outages() == [(down - 60, up - 60)]  # the starts of the bars that were due while down
    kinds = [e[0] if e[0] != "bars" else ("bars", e[1][0].ts >= up - 60) for e in sink.events]
    outage = kinds.index("outage")
    assert ("bars", True) not in kinds[:outage], "nothing due after the outage is sent before it is reported"
    assert ("bars", False) not in kinds[outage:]
    details = [e[2] for e in sink.events if e[0] == "state" and e[1] == RECONNECTING]
    assert details and "disconnect" in (details[0] or "")


def test_every_bar_lost_to_a_disconnect_lies_inside_the_reported_outage(
    make: Callable[..., ReplayProvider], day: list[Bar]
) -> None:
    provider = make(day, disconnects=((utc(12, 10), utc(12, 15)),))
    sink = stream(provider)
    wait_all_handled(sink, provider, len(day))
    sink.wait_for(lambda: bool(sink.outages()), "the outage")

    [(start, end)] = sink.outages()
    outside = [f"{b.symbol} {at(b.ts):%H:%M}" for b in provider.dropped if not start <= b.ts < end]
    assert outside == []


def test_late_bars_are_held_back_to_the_next_delivery_and_nothing_is_lost(
    make: Callable[..., ReplayProvider], day: list[Bar]
) -> None:
    provider = make(day, late_fraction=0.3, seed=3)
    sink = stream(provider)

    sink.wait_for(lambda: len(sink.delivered()) >= len(day), "every bar")

    delivered = sink.delivered()
    assert keys(delivered) == keys(day)
    assert len(delivered) == len(day), "late is not twice"
    assert 0 < provider.stats["late"] < len(day)
    assert provider.stats["sent"] == len(day)
    on_time = [b for batch, _ in sink.batches() for b in batch if b.ts == max(x.ts for x in batch)]
    assert len(on_time) < len(day), "some bars come with a later minute's bars"
    for batch, now in sink.batches():
        assert all(now >= b.ts + 60 for b in batch), "late, never early"


def test_when_every_bar_is_late_each_minute_comes_with_the_next_one(
    make: Callable[..., ReplayProvider], day: list[Bar]
) -> None:
    provider = make(day, late_fraction=1.0)
    sink = stream(provider)

    sink.wait_for(lambda: len(sink.delivered()) >= len(day), "every bar")

    minutes = sorted({b.ts for b in day})
    batches = sink.batches()
    assert [list(batch) for batch, _ in batches] == [[b for b in day if b.ts == ts] for ts in minutes]
    for (batch, now), following in zip(batches, minutes[1:], strict=False):
        assert now >= following + 60, f"{at(batch[0].ts):%H:%M} came before {at(following):%H:%M} ended"
    assert provider.stats["late"] == len(day)


def test_duplicated_bars_are_delivered_twice_in_two_deliveries(
    make: Callable[..., ReplayProvider], day: list[Bar]
) -> None:
    provider = make(day, duplicate_fraction=0.3, seed=5)
    sink = stream(provider)

    sink.wait_for(
        lambda: len(sink.delivered()) >= len(day) + provider.stats["duplicated"] > len(day),
        "every bar and its copies",
    )

    counts = Counter((b.symbol, b.ts) for b in sink.delivered())
    twice = [key for key, n in counts.items() if n == 2]
    assert sorted(counts) == keys(day)
    assert set(counts.values()) == {1, 2}
    assert len(twice) == provider.stats["duplicated"]
    assert provider.stats["sent"] == len(day) + len(twice)
    for key in twice:
        holding = [
            i for i, (batch, _) in enumerate(sink.batches()) if key in {(b.symbol, b.ts) for b in batch}
        ]
        assert len(holding) == 2, f"{key} twice in one delivery"


def test_lag_delays_every_delivery_on_the_provider_clock(
    make: Callable[..., ReplayProvider], day: list[Bar]
) -> None:
    provider = make(day, lag_seconds=120.0)
    sink = stream(provider)

    sink.wait_for(lambda: len(sink.delivered()) >= len(day), "every bar")

    assert keys(sink.delivered()) == keys(day)
    for batch, now in sink.batches():
        assert now >= batch[0].ts + 60 + 120


def test_a_sink_that_raises_fails_the_stream_saying_why(
    make: Callable[..., ReplayProvider], day: list[Bar]
) -> None:
    class Broken(RecordingSink):
        def bars(self, bars: Sequence[Bar], *, updated: bool = False) -> None:
            raise KeyError("sink is broken")

    provider = make(day)
    sink = Broken()
    provider.start_stream(["AAPL"], sink)

    sink.wait_for(lambda: FAILED in sink.states(), "FAILED")

    assert provider.state == FAILED
    detail = next(e[2] for e in sink.events if e[0] == "state" and e[1] == FAILED)
    assert "KeyError" in detail and "sink is broken" in detail


def test_stop_stream_ends_the_thread_and_closes(make: Callable[..., ReplayProvider], day: list[Bar]) -> None:
    provider = make(day, elapsed=ManualWall())  # the clock stands still: the first bar never ends
    before = set(threading.enumerate())
    sink = stream(provider)
    sink.wait_for(lambda: CONNECTED in sink.states(), "CONNECTED")
    [thread] = [t for t in threading.enumerate() if t not in before and t.name == "marketsession-replay"]

    provider.stop_stream(5.0)

    assert not thread.is_alive()
    assert provider.state == CLOSED
    assert sink.delivered() == []


def test_nothing_is_delivered_after_stop_stream(make: Callable[..., ReplayProvider], day: list[Bar]) -> None:
    wall = ManualWall()
    provider = make(day, elapsed=wall)
    sink = stream(provider)
    wall.at = 150 / SPEED  # the clock passes the end of the first minute (only), and stays there
    sink.wait_for(lambda: len(sink.delivered()) > 0, "the first minute")

    provider.stop_stream(5.0)
    seen = list(sink.events)
    wall.at = 1.0  # four hours of the clock later
    threading.Event().wait(0.05)

    assert sink.events == seen
    assert sink.delivered() == [b for b in day if b.ts == FIRST]
    assert provider.state == CLOSED


def test_stop_stream_without_a_stream_just_closes(
    make: Callable[..., ReplayProvider], day: list[Bar]
) -> None:
    provider = make(day)
    assert provider.state == ConnectionState.DISCONNECTED

    provider.stop_stream(1.0)
    provider.stop_stream(1.0)

    assert provider.state == CLOSED


def test_a_replay_serves_one_interval(day: list[Bar]) -> None:
    five = Bar("AAPL", "5m", FIRST, 1.0, 1.0, 1.0, 1.0, 1.0)

    with pytest.raises(ValueError, match="one interval"):
        ReplayProvider([*day, five], clock=ScaledClock(at(FIRST), 1.0, ManualWall()))


# ------------------------------------------------------------------------ fetching history


def test_a_fetch_returns_the_bars_ended_by_the_clock_sorted_by_symbol_and_time(
    make: Callable[..., ReplayProvider], day: list[Bar]
) -> None:
    provider = make(day, start=utc(12, 10), elapsed=ManualWall())

    got = provider.fetch_bars(["RIVN", "AAPL"], "1m", 0, 2**40)

    ended = [b for b in day if b.ts + 60 <= utc(12, 10)]
    assert got == sorted(ended, key=lambda b: (b.symbol, b.ts))
    assert max(b.ts for b in got) == utc(12, 9), "the bar ending exactly now is included"
    assert provider.stats["fetches"] == 1


def test_a_fetch_filters_symbols_and_the_half_open_range(
    make: Callable[..., ReplayProvider], day: list[Bar]
) -> None:
    provider = make(day, start=END + 60, elapsed=ManualWall())

    got = provider.fetch_bars(["RIVN"], "1m", utc(12, 3), utc(12, 7))

    assert got == [b for b in day if b.symbol == "RIVN" and utc(12, 3) <= b.ts < utc(12, 7)]
    assert provider.fetch_bars(["MSFT"], "1m", 0, 2**40) == []
    assert provider.fetch_bars(["AAPL"], "1m", utc(12, 7), utc(12, 7)) == []


def test_a_fetch_of_another_interval_is_empty_and_an_equal_spelling_is_not(
    make: Callable[..., ReplayProvider], day: list[Bar]
) -> None:
    provider = make(day, start=END + 60, elapsed=ManualWall())

    assert provider.fetch_bars(["AAPL", "RIVN"], "5m", 0, 2**40) == []
    assert provider.fetch_bars(["AAPL", "RIVN"], "1d", 0, 2**40) == []
    assert len(provider.fetch_bars(["AAPL", "RIVN"], "60s", 0, 2**40)) == len(day)


def test_a_fetch_returns_the_bars_the_stream_dropped(
    make: Callable[..., ReplayProvider], day: list[Bar]
) -> None:
    provider = make(day, drop_fraction=1.0)
    sink = stream(provider)
    sink.wait_for(lambda: len(provider.dropped) >= len(day), "every bar dropped")

    got = provider.fetch_bars(["AAPL", "RIVN"], "1m", FIRST, END)

    assert sink.delivered() == []
    assert keys(got) == keys(provider.dropped) == keys(day)


def test_the_next_k_fetches_fail_as_unavailable_then_fetches_answer(
    make: Callable[..., ReplayProvider], day: list[Bar]
) -> None:
    provider = make(day, start=END, elapsed=ManualWall(), fetch_failures=2)

    for _ in range(2):
        with pytest.raises(ProviderUnavailable, match="did not answer"):
            provider.fetch_bars(["AAPL"], "1m", FIRST, END)
    got = provider.fetch_bars(["AAPL"], "1m", FIRST, END)

    assert got == [b for b in day if b.symbol == "AAPL"]
    assert provider.stats["fetches"] == 3


# ------------------------------------------------------------------------ replay_from_store

SOURCE, TARGET = date(2025, 7, 2), date(2026, 11, 25)
SHIFT = utc(14, 30, day=TARGET) - utc(13, 30, day=SOURCE)
"""2025-07-02 opens 09:30 EDT (13:30Z), 2026-11-25 opens 09:30 EST (14:30Z)."""

CONFIG = {
    "session_name": "replay test",
    "exchange_group": "US_EQUITY",
    "asset_class": "EQUITY",
    "mode": "live",
    "session_data_config": {
        "symbols": ["AAPL", "RIVN"],
        "streams": ["1m", "5m"],
        "historical": {"enable_quality": True, "data": []},
        "gap_filler": {"max_retries": 3, "retry_interval_seconds": 60, "enable_session_quality": True},
    },
    "trading_config": {
        "max_buying_power": 100000.0,
        "max_per_trade": 10000.0,
        "max_per_symbol": 20000.0,
        "max_open_positions": 5,
    },
    "api_config": {"data_api": "replay", "trade_api": "paper"},
}


@pytest.fixture(scope="module")
def config() -> SessionConfig:
    return SessionConfig.from_dict(CONFIG)


@pytest.fixture(scope="module")
def stored_day() -> list[Bar]:
    """What a replay of 2025-07-02 holds: its stored bars from the pre-market open to the
    post-market close (08:00Z to 00:00Z), shifted onto 2026-11-25."""
    bars = [b for s in ("AAPL", "RIVN") for b in real_minute_bars(s)]
    return [b._replace(ts=b.ts + SHIFT) for b in bars if utc(8) <= b.ts < utc(0, day=date(2025, 7, 3))]


@pytest.fixture(scope="module")
def calendar_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file with the US_EQUITY calendar 2025–2026 and no bars (copied per store)."""
    path = tmp_path_factory.mktemp("replay") / "calendar.db"
    store = open_store(f"sqlite:///{path}")
    try:
        seed(store, start_year=2025)
    finally:
        store.close()
    return path


def copy_store(calendar_file: Path, path: Path, *bars: list[Bar]) -> Store:
    shutil.copy(calendar_file, path)
    store = open_store(f"sqlite:///{path}")
    for group in bars:
        store.bars.insert_missing(group)
    return store


@pytest.fixture(scope="module")
def store(calendar_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The calendar and the real AAPL and RIVN minutes of 2025-07-02."""
    opened = copy_store(
        calendar_file, tmp_path_factory.mktemp("replay") / "store.db", real_minute_bars("AAPL")
    )
    opened.bars.insert_missing(real_minute_bars("RIVN"))
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def fresh(calendar_file: Path, tmp_path: Path) -> Iterator[Callable[..., Store]]:
    opened: list[Store] = []

    def factory(*bars: list[Bar]) -> Store:
        opened.append(copy_store(calendar_file, tmp_path / f"store{len(opened)}.db", *bars))
        return opened[-1]

    yield factory
    for store in opened:
        store.close()


def everything(provider: ReplayProvider) -> list[Bar]:
    return provider.fetch_bars(["AAPL", "RIVN"], "1m", 0, 2**40)


def test_a_summer_day_is_shifted_so_its_open_falls_on_the_winter_days_open(
    store: Store, config: SessionConfig, stored_day: list[Bar]
) -> None:
    provider = replay_from_store(
        store, config, source_day=SOURCE, target_day=TARGET, start=time_of_day(20), speed=1.0
    )

    got = everything(provider)

    assert got == sorted(stored_day, key=lambda b: (b.symbol, b.ts))
    first_regular = next(b for b in got if b.symbol == "AAPL" and b.ts >= utc(14, 30, day=TARGET))
    assert first_regular.ts == utc(14, 30, day=TARGET)
    assert first_regular.close == next(b for b in real_minute_bars("AAPL") if b.ts == utc(13, 30)).close
    assert provider.interval == Interval.parse("1m")
    assert provider.faults == ReplayFaults()


@pytest.mark.parametrize("speed", [1.0, 600.0])
def test_start_sets_the_clock_at_that_exchange_time_of_the_target_day(
    store: Store, config: SessionConfig, speed: float
) -> None:
    provider = replay_from_store(
        store, config, source_day=SOURCE, target_day=TARGET, start=time_of_day(9, 29), speed=speed
    )

    clock = provider.clock()
    now = clock.now()
    start = datetime(2026, 11, 25, 9, 29, tzinfo=NY)
    assert start <= now < start + timedelta(hours=2)
    assert clock.speed == speed


def test_without_a_start_the_clock_starts_now_on_the_target_day(store: Store, config: SessionConfig) -> None:
    now = datetime(2026, 11, 25, 10, 15, tzinfo=NY)

    provider = replay_from_store(store, config, source_day=SOURCE, target_day=TARGET, now=now)

    assert now <= provider.clock().now() < now + timedelta(hours=1)


def test_without_a_start_a_replay_of_another_day_starts_at_its_pre_market_open(
    store: Store, config: SessionConfig
) -> None:
    provider = replay_from_store(
        store, config, source_day=SOURCE, target_day=TARGET, now=datetime(2026, 11, 24, 12, tzinfo=UTC)
    )

    start = datetime(2026, 11, 25, 4, tzinfo=NY)
    assert start <= provider.clock().now() < start + timedelta(hours=1)
    assert provider.clock().now().astimezone(UTC).hour in (9, 10), "04:00 EST is 09:00Z"


def test_the_default_target_is_the_first_trading_day_from_now(store: Store, config: SessionConfig) -> None:
    thanksgiving = datetime(2026, 11, 26, 12, tzinfo=NY)

    provider = replay_from_store(store, config, source_day=SOURCE, start=time_of_day(20), now=thanksgiving)

    friday = date(2026, 11, 27)
    assert provider.clock().now() >= datetime(2026, 11, 27, 20, tzinfo=NY)
    shift = utc(14, 30, day=friday) - utc(13, 30, day=SOURCE)
    assert everything(provider)[0].ts == min(b.ts for b in real_minute_bars("AAPL") if b.ts >= utc(8)) + shift


def test_the_default_source_is_the_latest_stored_day_before_the_target(
    store: Store, config: SessionConfig, stored_day: list[Bar]
) -> None:
    provider = replay_from_store(store, config, target_day=TARGET, start=time_of_day(20))

    assert keys(everything(provider)) == keys(stored_day)


def test_the_default_source_skips_bars_already_stored_for_the_target_day(
    fresh: Callable[..., Store], config: SessionConfig, stored_day: list[Bar]
) -> None:
    store = fresh(real_minute_bars("AAPL"), real_minute_bars("RIVN"), stored_day[:50])

    provider = replay_from_store(store, config, target_day=TARGET, start=time_of_day(20))

    assert keys(everything(provider)) == keys(stored_day)


def test_faults_are_resolved_on_the_target_day_in_exchange_time(store: Store, config: SessionConfig) -> None:
    faults = ProviderFaults(
        drop_fraction=0.1,
        drop_ranges=[(time_of_day(10), time_of_day(10, 15))],
        disconnects=[(time_of_day(11), 300)],
        fetch_failures=1,
    )

    provider = replay_from_store(
        store, config, source_day=SOURCE, target_day=TARGET, start=time_of_day(9), faults=faults, seed=9
    )

    assert provider.faults == ReplayFaults(
        drop_fraction=0.1,
        drop_ranges=((utc(15, day=TARGET), utc(15, 15, day=TARGET)),),
        disconnects=((utc(16, day=TARGET), utc(16, 5, day=TARGET)),),
        fetch_failures=1,
        seed=9,
    )
    with pytest.raises(ProviderUnavailable):
        provider.fetch_bars(["AAPL"], "1m", 0, 2**40)


def test_an_empty_store_has_nothing_to_replay(fresh: Callable[..., Store], config: SessionConfig) -> None:
    with pytest.raises(ProviderError, match="holds no 1m bars for AAPL, RIVN"):
        replay_from_store(fresh(), config, target_day=TARGET, start=time_of_day(9))


def test_bars_of_other_symbols_are_not_something_to_replay(
    fresh: Callable[..., Store], config: SessionConfig
) -> None:
    msft = [b._replace(symbol="MSFT") for b in real_minute_bars("AAPL")]

    with pytest.raises(ProviderError, match="holds no 1m bars"):
        replay_from_store(fresh(msft), config, target_day=TARGET, start=time_of_day(9))


@pytest.mark.parametrize(("source", "what"), [(date(2025, 7, 4), "holiday"), (date(2025, 7, 5), "Saturday")])
def test_a_source_day_that_does_not_trade_is_refused(
    store: Store, config: SessionConfig, source: date, what: str
) -> None:
    with pytest.raises(ProviderError, match=f"{source.isoformat()} is not a trading day of US_EQUITY"):
        replay_from_store(store, config, source_day=source, target_day=TARGET, start=time_of_day(9))


def test_a_trading_source_day_without_bars_is_refused_naming_it(store: Store, config: SessionConfig) -> None:
    with pytest.raises(ProviderError, match="no 1m bars stored for AAPL, RIVN on 2025-06-30"):
        replay_from_store(
            store, config, source_day=date(2025, 6, 30), target_day=TARGET, start=time_of_day(9)
        )
    # the files' first rows are July 1's post-market (AAPL 223, RIVN 99): that day has bars to replay,
    # all ended by 20:00
    july_1 = replay_from_store(
        store, config, source_day=date(2025, 7, 1), target_day=TARGET, start=time_of_day(20)
    )
    assert len(everything(july_1)) == 223 + 99


# ------------------------------------------------------------------ many days


def two_source_days(fresh: Callable[..., Store]) -> Store:
    """The real minutes of 2025-07-02 and, the day before, complete synthetic ones."""
    store = fresh(real_minute_bars("AAPL"), real_minute_bars("RIVN"))
    calendar = TradingCalendar(store.calendar, "US_EQUITY", "EQUITY")
    store.bars.insert_missing(
        complete_session_bars(
            ["AAPL", "RIVN"], DayHours.from_session(calendar.get_trading_session(date(2025, 7, 1)))
        )
    )
    return store


def three_days(store: Store, config: SessionConfig) -> ReplayProvider:
    """The two source days on the three trading days from 2026-11-25 (a Wednesday)."""
    return replay_from_store(
        store, config, source_day=date(2025, 7, 1), target_day=TARGET, days=3, start=time_of_day(9)
    )


def planned(provider: ReplayProvider, ts: float) -> list[tuple[str, str, int]]:
    return [(str(d.target), str(d.source), len(d.bars)) for d in provider.days.days_from(ts)]


def test_stored_days_are_played_in_order_on_the_trading_days_of_the_target_calendar(
    fresh: Callable[..., Store], config: SessionConfig
) -> None:
    """Thanksgiving (11-26) and the weekend have no bars; the early close (11-27, 13:00) keeps
    the source's minutes up to its post-market close (17:00); the source days cycle."""
    store = two_source_days(fresh)
    provider = three_days(store, config)

    assert provider.last_day() == date(2026, 11, 30)
    days = list(provider.days.days_from(0))
    assert [(d.target, d.source) for d in days] == [
        (date(2026, 11, 25), date(2025, 7, 1)),
        (date(2026, 11, 27), date(2025, 7, 2)),
        (date(2026, 11, 30), date(2025, 7, 1)),
    ]
    for day in (
        days[0],
        days[2],
    ):  # the synthetic day: every regular minute (and the real file's post-market)
        regular = [b for b in day.bars if utc(14, 30, day=day.target) <= b.ts < utc(21, day=day.target)]
        assert len(regular) == 2 * 390
    early = days[1]
    assert min(b.ts for b in early.bars) >= utc(9, day=early.target)  # 04:00 New York
    assert max(b.ts for b in early.bars) < utc(22, day=early.target)  # 17:00 New York, its post-market close
    open_bar = next(b for b in early.bars if b.symbol == "AAPL" and b.ts >= utc(14, 30, day=early.target))
    assert open_bar.ts == utc(14, 30, day=early.target)


def test_a_closure_patched_in_while_the_replay_runs_is_skipped_by_the_next_day_planned(
    fresh: Callable[..., Store], config: SessionConfig
) -> None:
    store = two_source_days(fresh)
    provider = three_days(store, config)
    days = provider.days.days_from(0)
    assert next(days).target == TARGET

    store.calendar.upsert_exceptions(
        [CalendarException(date(2026, 11, 27), "US_EQUITY", "Closed (test)", True, source="manual")],
        datetime.now(UTC),
    )

    assert [(d.target, d.source) for d in days] == [
        (date(2026, 11, 30), date(2025, 7, 2)),
        (date(2026, 12, 1), date(2025, 7, 1)),
    ]
    assert provider.last_day() == date(2026, 12, 1)


def test_a_replay_restarted_mid_week_plans_the_day_it_rejoins_with_the_same_source(
    fresh: Callable[..., Store], config: SessionConfig
) -> None:
    store = two_source_days(fresh)
    provider = three_days(store, config)
    full = planned(provider, 0)

    assert planned(provider, utc(17, day=date(2026, 11, 27))) == full[1:]  # 12:00 New York, the second day
    assert planned(provider, utc(3, day=date(2026, 11, 28))) == full[1:]  # that night: still its day
    assert planned(provider, utc(10, day=date(2026, 11, 30))) == full[2:]  # Monday 05:00


def test_a_stream_over_several_days_goes_down_overnight_and_reconnects_before_the_open(
    fresh: Callable[..., Store], config: SessionConfig
) -> None:
    """An outage 20:00-04:00 every night (the provider's maintenance window): down at 20:00,
    reconnected at 04:00, and reported; the next day streams from its first bar; a fetch sees
    the day before as well as today. The clock runs 15 000x, its night 100x faster still."""
    store = two_source_days(fresh)
    provider = replay_from_store(
        store, config, source_day=date(2025, 7, 1), target_day=TARGET, days=2, start=time_of_day(15, 55),
        speed=SPEED, quiet_factor=100.0, faults=ProviderFaults(disconnects=[(time_of_day(20), 8 * 3600)]),
    )  # fmt: skip
    second = date(2026, 11, 27)
    sink = stream(provider)
    sink.wait_for(lambda: provider.day == second and provider._thread is not None, "the second day begun")
    sink.wait_for(lambda: not provider._thread or not provider._thread.is_alive(), "both days sent")

    states = sink.states()
    assert "replay fault: disconnected" in sink.details(RECONNECTING)
    assert states[states.index(RECONNECTING) + 1] is CONNECTED
    # the first day's bars end at 20:00 (the real file's post-market): the minute due then is lost
    assert sink.outages() == [(utc(0, 59, day=date(2026, 11, 26)), utc(1, day=date(2026, 11, 26)))]
    assert provider.stats["lost_disconnected"] == 2  # its AAPL and RIVN bars
    kinds = [(e[0], e[1]) for e in sink.events if e[0] in ("state", "outage", "bars")]
    reconnected = kinds.index(("state", CONNECTED), kinds.index(("state", RECONNECTING)))
    next_day = next(
        i for i, e in enumerate(sink.events) if e[0] == "bars" and e[1][0].ts >= utc(9, day=second)
    )
    assert reconnected < next_day, "connected again before the next day's first bar"
    first_of_second = min(b.ts for b in sink.delivered() if b.ts >= utc(9, day=second))
    assert first_of_second == min(b.ts for b in list(provider.days.days_from(0))[1].bars)
    assert provider.stats["days"] == 2
    fetched = provider.fetch_bars(["AAPL"], "1m", utc(14, 30, day=TARGET), utc(15, day=second))
    assert {datetime.fromtimestamp(b.ts, NY).date() for b in fetched} == {TARGET, second}
