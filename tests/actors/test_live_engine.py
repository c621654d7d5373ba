"""The engine in live mode (``MarketSessionSystem`` with a provider): whole replayed sessions with
dropped, missing, late, duplicated and pre-market bars, gap filling and abandonment, resuming
from the store, supervised crashes, a provider that fails, stop, a calendar reload, and Alpaca's
protocol end to end against a fake Alpaca on local sockets (SPEC §5, §8, §10).

The replay's clock, its stream and the engine's timer run on a ``ManualTime`` that a
``TimeDriver`` moves on as fast as the engine keeps up (after each step the replay has sent what
is due and the coordinator has taken it), so a session takes seconds whatever the load. The
provider is given complete synthetic days (every regular-session minute), already at the target
day's timestamps. Every wait is bounded; nothing sleeps.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pykka
import pytest
from support.engine import Recorder
from support.fake_alpaca import FakeAlpaca
from support.fake_schwab import FakeSchwab
from support.live import (
    FailingProvider,
    HeldClock,
    TimeDriver,
    day_hours,
    live_config,
    minute_bars,
    ny,
    ny_ts,
    wait_until,
)
from support.stores import real_minute_bars, seed

from actors.system import MarketSessionSystem
from actors.timer import ManualTime
from domain.bars import Bar
from domain.calendar.model import CalendarException
from domain.clock import SimulatedClock
from domain.config import SessionConfig
from domain.errors import ProviderSubscriptionError
from domain.messages.events import (
    ActorRestarted,
    BarsAppended,
    GapAbandoned,
    GapFilled,
    ProviderConnection,
    ProviderStalled,
    RunCompleted,
    WarningRaised,
)
from domain.providers import Backoff, ScaledClock
from domain.quality.gaps import GapStatus
from domain.quotes import Quote
from domain.report import RunReport
from domain.session.windows import DayHours
from domain.store import Store
from ops.faults import parse_faults
from ops.providers.alpaca import AlpacaProvider
from ops.providers.replay import ReplayFaults, ReplayProvider
from ops.providers.schwab import SchwabProvider
from ops.providers.schwab_auth import TokenStore
from ops.providers.schwab_auth import login as schwab_login

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 60.0
WAIT = 10.0
SPEED = 5000.0
SYMBOLS = ("AAPL", "RIVN")
FULL_DAY = date(2026, 11, 24)  # a regular day: 09:30–16:00, 390 minutes
EARLY_CLOSE = date(2025, 7, 3)  # 09:30–13:00 New York, 210 minutes


# ----------------------------------------------------------------------------------- fixtures


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """An SQLite file with the US_EQUITY calendar 2024–2026 and no bars."""
    seed(sqlite_store)
    return sqlite_store


class Live:
    """One live engine on a replay of ``bars`` from ``start``, on a time the test's driver moves."""

    def __init__(
        self,
        store: Store,
        bars: list[Bar],
        start: datetime,
        *,
        config: SessionConfig | None = None,
        speed: float = SPEED,
        stream_faults: ReplayFaults | None = None,
        quotes: Sequence[Quote] = (),
        **options: Any,
    ) -> None:
        self.time = ManualTime()
        self.clock = ScaledClock(start, speed, self.time.now)
        self.provider = ReplayProvider(
            bars, clock=self.clock, faults=stream_faults, time=self.time, quotes=quotes
        )
        self.recorder = Recorder()
        self.engine = MarketSessionSystem(
            config or live_config(), store, provider=self.provider, time=self.time, **options
        )
        self.engine.subscribe(self.recorder)
        self.driver = TimeDriver(self.time, self.provider, self.engine, step=20 / speed)

    def start(self) -> MarketSessionSystem:
        self.engine.start()
        self.driver.start()
        return self.engine

    def run(self) -> RunReport:
        self.start()
        return self.wait()

    def wait(self) -> RunReport:
        """The report, once the recorder has every event of the run (delivery is asynchronous)."""
        report = self.engine.wait(RUN_TIMEOUT)
        assert self.recorder.wait_count(RunCompleted, 1, WAIT), "RunCompleted never reached the recorder"
        return report

    def appended(self) -> list[Bar]:
        return [bar for event in self.recorder.of(BarsAppended) for bar in event.bars]


@pytest.fixture
def live(store: Store) -> Iterator[list[Live]]:
    """Makes :class:`Live` engines; each is shut down (bounded) after the test."""
    made: list[Live] = []
    yield made
    for item in made:
        item.driver.stop()
        item.engine.shutdown()


def make(made: list[Live], *args: Any, **kwargs: Any) -> Live:
    item = Live(*args, **kwargs)
    made.append(item)
    return item


def session_bars_of(hours: DayHours, symbols: tuple[str, ...] = SYMBOLS) -> list[Bar]:
    return minute_bars(symbols, hours.open_ts, hours.close_ts)


def stored(store: Store, symbol: str, interval: str, hours: DayHours) -> list[Bar]:
    return store.replayed.read(symbol, interval, hours.open_ts, hours.close_ts)


def stored_between(store: Store, start_ts: int, end_ts: int, symbol: str = "AAPL") -> list[Bar]:
    return store.replayed.read(symbol, "1m", start_ts, end_ts)


def minutes_of(gaps: list[Any], interval: str = "1m") -> set[tuple[str, int]]:
    """Every (symbol, minute) covered by the ``gap`` of these events."""
    return {
        (e.gap.symbol, ts)
        for e in gaps
        if e.gap.interval == interval
        for ts in range(e.gap.start_ts, e.gap.end_ts, 60)
    }


def quotes_of(bars: list[Bar]) -> list[Quote]:
    """A book every 5 seconds of each bar's minute, changing each time, a cent either side of the
    close at the minute's last quote (so every close lies inside the quote at its bar's end)."""
    out = []
    for bar in bars:
        for k in range(12):
            mid = bar.open + (bar.close - bar.open) * k / 11
            bid, ask = round(mid - 0.01, 2), round(mid + 0.01, 2)
            out.append(Quote(bar.symbol, (bar.ts + 5 * k) * 1_000_000 + 250, bid, 100.0 + k, ask, 200.0))
    return out


# ------------------------------------------------------------------------- a whole session


def test_a_full_session_with_dropped_bars_fills_every_gap_and_ends_at_full_quality(
    store: Store, live: list[Live]
) -> None:
    hours = day_hours(store, FULL_DAY)
    bars = session_bars_of(hours)
    run = make(live, store, bars, ny(FULL_DAY, 9, 29), stream_faults=ReplayFaults(drop_fraction=0.1, seed=3))

    report = run.run()
    status = run.engine.live_status()

    assert report.status == "completed", report.error
    assert report.mode == "live"
    dropped = run.provider.dropped
    assert dropped, "seed 3 drops nothing: the test would check nothing"
    assert len(report.days) == 1 and report.days[0].day == FULL_DAY
    assert not report.days[0].ended_early
    for symbol in SYMBOLS:
        in_store = stored(store, symbol, "1m", hours)
        assert [b.ts for b in in_store] == list(range(hours.open_ts, hours.close_ts, 60))
        assert in_store == [b for b in bars if b.symbol == symbol]  # the provider's values, not others
        session = report.days[0].symbols[symbol].session
        assert session["1m"].quality == 100.0 and session["1m"].bars == 390 == session["1m"].expected
        assert session["5m"].quality == 100.0 and session["5m"].bars == 78
        assert all(g.status is GapStatus.FILLED for g in session["1m"].gaps)
    assert {(b.symbol, b.ts) for b in dropped} <= minutes_of(run.recorder.of(GapFilled))
    assert run.recorder.of(GapAbandoned) == []
    assert status.counters["filled_bars"] == len(dropped)
    assert status.counters["received"] == len(bars) - len(dropped)
    assert status.counters.get("gaps_abandoned", 0) == 0
    assert report.warnings == ()
    sources = {(s.symbol, s.source): s.count for s in store.replayed.sources()}
    for symbol in SYMBOLS:
        filled = sum(1 for b in dropped if b.symbol == symbol)
        assert sources[(symbol, "replay:gap_fill")] == filled, "a fetched bar says it was filled"
        assert sources[(symbol, "replay")] == 390 - filled
    assert store.bars.count() == 0, "a replay never writes to the data"


def test_a_second_replay_of_the_same_day_streams_it_again(store: Store, live: list[Live]) -> None:
    hours = day_hours(store, FULL_DAY)
    bars = session_bars_of(hours)
    first = make(live, store, bars, ny(FULL_DAY, 9, 29)).run()
    second = make(live, store, bars, ny(FULL_DAY, 9, 29)).run()
    assert first.status == second.status == "completed", (first.error, second.error)
    assert first.bars_streamed == second.bars_streamed == len(bars)
    for symbol in SYMBOLS:
        assert second.days[0].symbols[symbol].session["1m"].bars == 390
        assert len(stored(store, symbol, "1m", hours)) == 390, "every bar stored once"


def test_a_live_day_with_extended_hours_streams_and_fills_the_pre_and_post_market_too(
    store: Store, live: list[Live]
) -> None:
    """04:00 to 20:00 of one symbol with a tenth of the minutes dropped: the day loads before the
    pre-market, streams it, and the GapFiller fills the gaps of all three sessions."""
    hours = day_hours(store, FULL_DAY)
    assert hours.pre_open_ts is not None and hours.post_close_ts is not None
    bars = minute_bars(("AAPL",), hours.pre_open_ts, hours.post_close_ts)
    config = live_config(("AAPL",), ("1m", "5m"), extended_hours=True)
    run = make(
        live, store, bars, ny(FULL_DAY, 3, 59), config=config,
        stream_faults=ReplayFaults(drop_fraction=0.1, seed=3),
    )  # fmt: skip

    report = run.run()

    assert report.status == "completed", report.error
    dropped = run.provider.dropped
    pre_dropped = [b for b in dropped if b.ts < hours.open_ts]
    post_dropped = [b for b in dropped if b.ts >= hours.close_ts]
    assert pre_dropped and post_dropped, "seed 3 drops nothing outside the regular session"
    (day,) = report.days
    summary = day.symbols["AAPL"]
    for name, expected in (("pre_market", 330), ("post_market", 240)):
        extended = summary.extended[name]["1m"]
        assert (extended.bars, extended.expected, extended.quality) == (expected, expected, 100.0), name
        assert extended.gaps == () and extended.filled_gaps > 0, name
    assert summary.session["1m"].bars == 390 and summary.session["1m"].quality == 100.0
    assert summary.session["5m"].bars == 78
    appended = run.appended()
    assert {b.ts for b in appended} | {b.ts for b in dropped} == {b.ts for b in bars}
    assert {(b.symbol, b.ts) for b in pre_dropped + post_dropped} <= minutes_of(run.recorder.of(GapFilled))
    assert [b.ts for b in stored_between(store, hours.pre_open_ts, hours.post_close_ts)] == [
        b.ts for b in bars
    ]
    assert day.refused == {}


def test_bars_the_provider_never_has_are_abandoned_after_max_retries_fetches(
    store: Store, live: list[Live]
) -> None:
    hours = day_hours(store, EARLY_CLOSE)
    missing = {("AAPL", ny_ts(EARLY_CLOSE, 10, m)) for m in range(3)} | {("RIVN", ny_ts(EARLY_CLOSE, 11, 15))}
    bars = [b for b in session_bars_of(hours) if (b.symbol, b.ts) not in missing]
    run = make(live, store, bars, ny(EARLY_CLOSE, 9, 29), config=live_config(max_retries=3))

    report = run.run()

    assert report.status == "completed", report.error
    abandoned = run.recorder.of(GapAbandoned)
    assert minutes_of(abandoned) == missing
    assert all(e.gap.retry_count == 3 and e.gap.status is GapStatus.ABANDONED for e in abandoned)
    assert run.recorder.of(GapFilled) == []
    day = report.to_json()["days"][0]
    aapl, rivn = day["symbols"]["AAPL"]["session"], day["symbols"]["RIVN"]["session"]
    assert [
        (g["start"][11:16], g["end"][11:16], g["status"], g["retry_count"]) for g in aapl["1m"]["gaps"]
    ] == [("10:00", "10:03", "abandoned", 3)]
    assert [
        (g["start"][11:16], g["bar_count"], g["status"], g["retry_count"]) for g in rivn["1m"]["gaps"]
    ] == [("11:15", 1, "abandoned", 3)]
    assert aapl["1m"]["bars"] == 207 and rivn["1m"]["bars"] == 209
    assert aapl["1m"]["quality"] < 100.0 and rivn["1m"]["quality"] < 100.0
    assert aapl["5m"]["quality"] < 100.0 and rivn["5m"]["quality"] < 100.0
    assert any("abandoned after 3 fetches" in w and "10:00" in w for w in report.warnings), report.warnings
    assert any("abandoned" in e.message for e in run.recorder.of(WarningRaised))
    assert run.provider.stats["fetches"] >= 2 * 3  # max_retries fetches of each gap at least
    assert run.engine.live_status().counters["gaps_abandoned"] == len(abandoned) == 2


def test_gap_fetches_counts_the_fetches_the_provider_answered(store: Store, live: list[Live]) -> None:
    hours = day_hours(store, EARLY_CLOSE)
    missing = ny_ts(EARLY_CLOSE, 9, 31)
    bars = [b for b in session_bars_of(hours, ("AAPL",)) if b.ts != missing]
    config = live_config(("AAPL",), max_retries=1)
    run = make(live, store, bars, ny(EARLY_CLOSE, 9, 29), config=config, speed=2000.0)
    run.start()
    assert run.recorder.wait_count(GapAbandoned, 1, WAIT), "the gap was never abandoned"
    counters = run.engine.live_status().counters
    run.engine.stop("seen enough", timeout=10)

    assert run.provider.stats["fetches"] == 1
    assert counters["gap_fetches"] == run.provider.stats["fetches"]


def test_pre_market_duplicate_and_late_bars(store: Store, live: list[Live]) -> None:
    """Pre-market bars are stored but kept out of the session; duplicates are stored and counted
    once; late bars take their place in time order."""
    hours = day_hours(store, EARLY_CLOSE)
    pre = minute_bars(SYMBOLS, ny_ts(EARLY_CLOSE, 9, 0), hours.open_ts, price=40.0)
    regular = session_bars_of(hours)
    faults = ReplayFaults(duplicate_fraction=0.2, late_fraction=0.2, seed=11)
    run = make(live, store, pre + regular, ny(EARLY_CLOSE, 8, 59), stream_faults=faults, speed=4000.0)
    run.start()

    # during the run: the session's bars are in strictly increasing time order despite late bars
    assert run.recorder.wait_for(
        lambda events: sum(len(e.bars) for e in events if isinstance(e, BarsAppended)) >= 200, WAIT
    ), "the session never reached 200 bars"
    mid = run.engine.session_bars("AAPL", "1m")
    assert len(mid) >= 50
    assert all(a.ts < b.ts for a, b in itertools.pairwise(mid)), "session bars out of order"
    assert set(mid) <= set(regular)

    report = run.wait()
    status = run.engine.live_status()

    assert report.status == "completed", report.error
    stats = run.provider.stats
    assert stats["late"] > 0 and stats["duplicated"] > 0, stats
    refused = status.refused
    assert refused["outside regular session"] >= len(pre) == 60
    # each delivery refused once: a duplicate of a session bar as "duplicate", of a pre-market
    # bar as "outside regular session" again (see test_a_duplicated_pre_market_bar_is_counted_once)
    assert refused["outside regular session"] + refused["duplicate"] == len(pre) + stats["duplicated"]
    assert dict(report.days[0].refused) == refused
    for symbol in SYMBOLS:
        assert store.replayed.read(symbol, "1m", ny_ts(EARLY_CLOSE, 9, 0), hours.open_ts) == [
            b for b in pre if b.symbol == symbol
        ]
        assert stored(store, symbol, "1m", hours) == [b for b in regular if b.symbol == symbol]
        session = report.days[0].symbols[symbol].session
        assert session["1m"].bars == 210 and session["1m"].quality == 100.0
        assert session["5m"].bars == 42 and session["5m"].quality == 100.0
    assert store.replayed.count(interval="1m") == len(pre) + len(regular)  # nothing stored twice
    assert store.bars.count() == 0, "the replay's bars are kept apart from the data"
    appended = run.appended()
    assert len(appended) == len({(b.symbol, b.ts) for b in appended}) == len(regular)
    assert all(b.ts >= hours.open_ts for b in appended)
    # a late bar comes with the next minute's delivery: one step holds two minutes of a symbol
    assert any(len([b for b in e.bars if b.symbol == "AAPL"]) > 1 for e in run.recorder.of(BarsAppended)), (
        "no late bar reached the session"
    )


def test_a_duplicated_pre_market_bar_is_counted_once(store: Store, live: list[Live]) -> None:
    hours = day_hours(store, EARLY_CLOSE)
    pre = minute_bars(("AAPL",), ny_ts(EARLY_CLOSE, 9, 0), hours.open_ts, price=40.0)
    regular = session_bars_of(hours, ("AAPL",))
    run = make(
        live, store, pre + regular, ny(EARLY_CLOSE, 8, 59), config=live_config(("AAPL",)),
        stream_faults=ReplayFaults(duplicate_fraction=1.0), speed=4000.0,
    )  # fmt: skip
    run.start()
    assert run.recorder.wait_for(
        lambda events: sum(len(e.bars) for e in events if isinstance(e, BarsAppended)) >= 5, WAIT
    ), "the session never started"  # the 09:29 bar's copy came with the 09:30 batch
    report = run.engine.stop("seen enough", timeout=10)

    assert report.status == "stopped", report.error
    assert store.replayed.count(interval="1m") >= len(pre) == 30
    assert report.days[0].refused["outside regular session"] == len(pre)


def test_a_stream_disconnect_is_reported_and_the_lost_minutes_are_filled(
    store: Store, live: list[Live]
) -> None:
    hours = day_hours(store, EARLY_CLOSE)
    regular = session_bars_of(hours)
    down = (ny_ts(EARLY_CLOSE, 10, 0), ny_ts(EARLY_CLOSE, 10, 5))
    run = make(live, store, regular, ny(EARLY_CLOSE, 9, 29), stream_faults=ReplayFaults(disconnects=(down,)))

    report = run.run()
    status = run.engine.live_status()

    assert report.status == "completed", report.error
    lost = run.provider.dropped
    assert run.provider.stats["lost_disconnected"] == len(lost) > 0
    assert {(b.symbol, b.ts) for b in lost} <= minutes_of(run.recorder.of(GapFilled))
    assert status.counters["filled_bars"] == len(lost)
    assert status.counters["outages"] == 1 and status.counters["reconnects"] == 1
    states = [e.state for e in run.recorder.of(ProviderConnection)]
    assert states.count("reconnecting") == 1 and states[states.index("reconnecting") + 1] == "connected", (
        states
    )
    # the outage named is the span of the bars lost: due 10:00–10:04, so started 09:59–10:03
    first, last = min(b.ts for b in lost), max(b.ts for b in lost) + 60
    assert (first, last) == (ny_ts(EARLY_CLOSE, 9, 59), ny_ts(EARLY_CLOSE, 10, 4))
    assert any("provider stream down 09:59–10:04" in w for w in report.warnings), report.warnings
    for symbol in SYMBOLS:
        assert stored(store, symbol, "1m", hours) == [b for b in regular if b.symbol == symbol]
        session = report.days[0].symbols[symbol].session
        assert session["1m"].quality == 100.0 and session["5m"].quality == 100.0


def test_a_restart_resumes_the_day_from_the_store_and_fetches_what_it_missed(
    store: Store, live: list[Live]
) -> None:
    hours = day_hours(store, EARLY_CLOSE)
    regular = session_bars_of(hours)
    before_crash = [b for b in regular if b.ts < ny_ts(EARLY_CLOSE, 10, 30)]  # 09:30–10:29
    store.replayed.upsert(before_crash, source="replay")
    run = make(live, store, regular, ny(EARLY_CLOSE, 10, 45))

    report = run.run()
    status = run.engine.live_status()

    assert report.status == "completed", report.error
    assert status.counters["resumed"] == len(before_crash) == 120
    # 10:30–10:43 were never streamed (their minute had passed when the stream started): fetched,
    # when the day opened or as gaps after it (which of the two depends on how long the load took)
    never_streamed = {
        (b.symbol, b.ts) for b in regular if ny_ts(EARLY_CLOSE, 10, 30) <= b.ts < ny_ts(EARLY_CLOSE, 10, 44)
    }
    assert status.counters["filled_bars"] >= len(never_streamed) == 28
    assert run.recorder.of(GapAbandoned) == []
    for symbol in SYMBOLS:
        assert stored(store, symbol, "1m", hours) == [b for b in regular if b.symbol == symbol]
        session = report.days[0].symbols[symbol].session
        assert session["1m"].bars == 210 and session["1m"].quality == 100.0
        assert session["5m"].bars == 42 and session["5m"].quality == 100.0
    resumed_events = [b for b in run.appended() if b.ts < ny_ts(EARLY_CLOSE, 10, 30)]
    assert sorted(resumed_events) == sorted(before_crash)  # the stored bars, published once


# ------------------------------------------------------------------------------- supervision


@pytest.mark.parametrize(
    "fault",
    [
        "crash:session_coordinator@40",
        "crash:quality_calculator@100",
        "crash:historical_loader@1",
        "crash:bar_writer@30",
    ],
)
def test_a_crash_during_the_session_still_completes_at_full_quality(
    store: Store, live: list[Live], fault: str
) -> None:
    hours = day_hours(store, EARLY_CLOSE)
    plan = parse_faults([fault], live=True)
    regular = session_bars_of(hours)
    run = make(
        live, store, regular, ny(EARLY_CLOSE, 9, 29), config=live_config(streams=("1m", "5m", "quotes")),
        quotes=quotes_of(regular), stream_faults=ReplayFaults(drop_fraction=0.05, seed=5), faults=plan,
    )  # fmt: skip
    report = run.run()

    actor = fault.split(":")[1].split("@")[0]
    assert plan.injected, f"{fault} was never due"
    assert report.status == "completed", report.error
    assert [e.actor for e in run.recorder.of(ActorRestarted)] == [actor]
    assert [entry.split(" ")[0] for entry in report.restarts] == [actor]
    assert run.engine.stats()[actor].restarts == 1
    if actor == "session_coordinator":  # the new one took the day up from the store
        assert run.engine.live_status().counters["resumed"] > 0
    for symbol in SYMBOLS:
        assert stored(store, symbol, "1m", hours) == [b for b in regular if b.symbol == symbol]
        session = report.days[0].symbols[symbol].session
        assert session["1m"].bars == 210 and session["1m"].quality == 100.0
        assert session["5m"].bars == 42 and session["5m"].quality == 100.0
        assert_every_quote(store, report, symbol, hours)


def assert_every_quote(store: Store, report: RunReport, symbol: str, hours: DayHours) -> None:
    """Every quote row of :func:`quotes_of` the day's bars is in the store and the day's quality."""
    quality = report.days[0].symbols[symbol].quotes
    seconds = hours.close_ts - hours.open_ts
    assert quality is not None and (quality.rows, quality.valid_seconds) == (12 * seconds // 60, seconds)
    assert store.replayed_quotes.count(symbol) == 12 * seconds // 60


def test_a_gap_filler_crash_still_completes_at_full_quality(store: Store, live: list[Live]) -> None:
    hours = day_hours(store, EARLY_CLOSE)
    plan = parse_faults(["crash:gap_filler@5"], live=True)
    regular = session_bars_of(hours)
    run = make(
        live, store, regular, ny(EARLY_CLOSE, 9, 29), config=live_config(streams=("1m", "5m", "quotes")),
        quotes=quotes_of(regular), stream_faults=ReplayFaults(drop_fraction=0.05, seed=5), ask_timeout=3.0,
        faults=plan,
    )  # fmt: skip
    report = run.run()

    assert plan.injected, "crash:gap_filler@5 was never due"
    assert [e.actor for e in run.recorder.of(ActorRestarted)] == ["gap_filler"]
    assert report.status == "completed", report.error
    for symbol in SYMBOLS:
        session = report.days[0].symbols[symbol].session
        assert session["1m"].quality == 100.0 and session["5m"].quality == 100.0
        assert_every_quote(store, report, symbol, hours)
    assert not any("drain deadline" in w for w in report.warnings), report.warnings


# ------------------------------------------------------------------------ provider failures


def test_a_provider_that_fails_for_good_fails_the_run_with_its_detail(store: Store) -> None:
    clock = HeldClock(ny(EARLY_CLOSE, 9, 29), SPEED)
    provider = FailingProvider(clock, "credentials refused: key AK123 is revoked")
    recorder = Recorder()
    engine = MarketSessionSystem(live_config(), store, provider=provider)
    engine.subscribe(recorder, events=[ProviderConnection, RunCompleted])
    try:
        engine.start()
        clock.release()
        report = engine.wait(RUN_TIMEOUT)
        assert recorder.wait_count(RunCompleted, 1, WAIT)
    finally:
        engine.shutdown()

    assert report.status == "failed"
    assert report.error is not None and "credentials refused: key AK123 is revoked" in report.error
    assert ("failed", "credentials refused: key AK123 is revoked") in [
        (e.state, e.detail) for e in recorder.of(ProviderConnection)
    ]


# ---------------------------------------------------------------------- stop, calendar reload


def test_stop_mid_session_ends_the_day_early_with_what_was_received_stored(
    store: Store, live: list[Live]
) -> None:
    hours = day_hours(store, EARLY_CLOSE)
    run = make(live, store, session_bars_of(hours), ny(EARLY_CLOSE, 9, 29), speed=1000.0)
    run.start()
    assert run.recorder.wait_for(
        lambda events: sum(len(e.bars) for e in events if isinstance(e, BarsAppended)) >= 40, WAIT
    ), "no bars streamed"
    assert run.engine.state() == "streaming"

    report = run.engine.stop("test stop", timeout=10)
    assert run.recorder.wait_count(RunCompleted, 1, WAIT)

    assert report.status == "stopped", report.error
    assert len(report.days) == 1 and report.days[0].ended_early is True
    assert report.to_json()["days"][0]["ended_early"] is True
    appended = run.appended()  # all published before the report: the coordinator has ended
    assert len(appended) >= 40
    assert len(appended) < 420, "the whole session ran before the stop took effect"
    for symbol in SYMBOLS:
        in_store = {b.ts: b for b in stored(store, symbol, "1m", hours)}
        mine = [b for b in appended if b.symbol == symbol]
        assert all(in_store.get(b.ts) == b for b in mine)
        assert report.days[0].symbols[symbol].session["1m"].bars == len(mine)


def test_reload_calendar_with_today_closed_ends_the_running_session_with_a_warning(
    store: Store, live: list[Live]
) -> None:
    hours = day_hours(store, EARLY_CLOSE)
    run = make(live, store, session_bars_of(hours), ny(EARLY_CLOSE, 9, 29), speed=1000.0)
    engine = run.start()
    assert run.recorder.wait_for(
        lambda events: sum(len(e.bars) for e in events if isinstance(e, BarsAppended)) >= 20, WAIT
    ), "no bars streamed"

    closure = CalendarException(EARLY_CLOSE, "US_EQUITY", "Test closure", is_closed=True, source="test")
    store.calendar.upsert_exceptions([closure], datetime(2025, 7, 3, 14, tzinfo=UTC))
    answer = engine.reload_calendar()
    report = run.wait()

    assert "closed" in answer and "2025-07-03" in answer
    assert report.status == "completed", report.error
    assert report.days[0].ended_early is True
    assert report.days[0].symbols["AAPL"].session["1m"].bars < 210
    warned = [e.message for e in run.recorder.of(WarningRaised)]
    assert any("2025-07-03" in w and "Test closure" in w and "closed" in w for w in warned), warned
    assert any("Test closure" in w for w in report.warnings), report.warnings


# ----------------------------------------------------------------------- Alpaca end to end


def real_bars(symbol: str, first: int, last: int) -> list[Bar]:
    """Real 1m bars of ``symbol`` on 2025-07-02 with ``first <= ts < last`` (at their true time)."""
    return [bar for bar in real_minute_bars(symbol) if first <= bar.ts < last]


REAL_DAY = date(2025, 7, 2)


def has_session_bars(engine: MarketSessionSystem, symbol: str, count: int) -> Callable[[], bool]:
    return lambda: len(engine.session_bars(symbol, "1m")) == count


def alpaca_engine(store: Store, fake: FakeAlpaca, clock: SimulatedClock) -> MarketSessionSystem:
    provider = AlpacaProvider(
        fake.key_id,
        fake.secret,
        data_url=fake.data_url,
        stream_url=fake.stream_url,
        feed="iex",
        clock=clock,
        backoff=Backoff(initial=0.01, cap=0.05),
        request_timeout=5.0,
    )
    return MarketSessionSystem(live_config(data_api="alpaca"), store, provider=provider, shutdown_timeout=5.0)


def test_alpaca_end_to_end_bars_updates_and_a_reconnect(store: Store) -> None:
    clock = SimulatedClock(ny(REAL_DAY, 9, 40))
    first, last = ny_ts(REAL_DAY, 9, 30), ny_ts(REAL_DAY, 9, 40)
    per_symbol = {s: real_bars(s, first, last) for s in SYMBOLS}
    assert all(len(b) == 10 for b in per_symbol.values()), "the true day has every minute of 09:30–09:40"
    bars = [b for s in SYMBOLS for b in per_symbol[s]]
    with FakeAlpaca() as fake:  # its REST has no bars: whatever reaches the store came by the stream
        engine = alpaca_engine(store, fake, clock)
        recorder = Recorder()
        engine.subscribe(recorder)
        try:
            engine.start()
            assert fake.wait_until(lambda: fake.open_connections == 1 and len(fake.subscribes()) == 1, WAIT)
            assert recorder.wait_for(
                lambda events: any(
                    isinstance(e, ProviderConnection) and e.state == "connected" for e in events
                ),
                WAIT,
            ), "the stream never reported connected"
            assert wait_until(lambda: engine.state() in ("ready", "streaming"), WAIT), engine.state()

            assert fake.push(bars) == 1
            for symbol in SYMBOLS:
                mine = per_symbol[symbol]
                assert wait_until(has_session_bars(engine, symbol, len(mine)), WAIT)
                assert list(engine.session_bars(symbol, "1m")) == mine
                # the BarWriter stores them off the coordinator's thread: soon, not at once
                assert wait_until(lambda s=symbol, m=mine: store.bars.read(s, "1m", first, last) == m, WAIT)
            assert engine.live_status().counters["received"] == len(bars)

            old = per_symbol["AAPL"][1]
            new = old._replace(high=old.high + 1.0, close=old.close + 0.5, volume=old.volume + 1000)
            assert fake.push([new], updated=True) == 1
            assert wait_until(
                lambda: store.bars.read(new.symbol, "1m", new.ts, new.ts + 60) == [new], WAIT
            ), "the updated bar did not replace the stored one"
            assert wait_until(lambda: new in engine.session_bars(new.symbol, "1m"), WAIT)
            assert engine.live_status().counters["updated"] == 1

            seen = len(recorder.events)
            assert fake.drop_connections() == 1
            assert recorder.wait_for(
                lambda events: (
                    [e.state for e in events[seen:] if isinstance(e, ProviderConnection)][:2]
                    == ["reconnecting", "connected"]
                ),
                WAIT,
            ), [e for e in recorder.events[seen:] if isinstance(e, ProviderConnection)]
            assert engine.live_status().counters["reconnects"] == 1

            report = engine.stop("test over", timeout=10)
        finally:
            engine.shutdown()
    assert report.status == "stopped", report.error
    sources = {s.source for s in store.bars.sources()}
    assert "alpaca" in sources and sources <= {"alpaca", "alpaca:gap_fill"}, sources
    assert store.replayed.count() == 0, "a real provider's bars are the data"
    assert store.bars.reindex() == 0, "the day's close built the column blocks of what was stored"
    assert store.bars.check_blocks() == []


def test_alpaca_refusing_the_credentials_fails_the_run_with_alpacas_answer(store: Store) -> None:
    with FakeAlpaca() as fake:
        fake.reject_auth = True
        engine = alpaca_engine(store, fake, SimulatedClock(ny(REAL_DAY, 9, 36)))
        try:
            engine.start()
            report = engine.wait(RUN_TIMEOUT)
        finally:
            engine.shutdown()
    assert report.status == "failed"
    assert report.error is not None and "auth failed" in report.error and "402" in report.error


# ------------------------------------------------------------------------------------ quotes


def test_quotes_dropped_from_the_stream_are_recovered_by_fetching_each_closed_minute_again(
    store: Store, live: list[Live]
) -> None:
    """``drop:5%`` (and late and duplicated quotes) on a quote stream: every quote row of the day
    ends in the session and the store, the dropped ones by the minute fetches, and the day's quote
    quality is that of the whole feed."""
    hours = day_hours(store, EARLY_CLOSE)
    bars = session_bars_of(hours)
    quotes = quotes_of(bars)
    faults = ReplayFaults(drop_fraction=0.05, late_fraction=0.02, duplicate_fraction=0.02, seed=5)
    config = live_config(streams=("1m", "5m", "quotes"))
    run = make(live, store, bars, ny(EARLY_CLOSE, 9, 29), config=config, quotes=quotes, stream_faults=faults)

    report = run.run()

    assert report.status == "completed", report.error
    dropped = run.provider.dropped_quotes
    assert len(dropped) > 0.03 * len(quotes), "seed 5 drops too few quotes: the test would check little"
    (day,) = report.days
    status = run.engine.live_status()
    assert day.quotes_filled == status.counters["quotes_filled"]
    # a late quote of a minute's last seconds arrives after that minute was fetched: filled first
    assert len(dropped) <= day.quotes_filled <= len(dropped) + run.provider.stats["quotes_late"]
    assert day.quotes_streamed == len(quotes)
    for symbol in SYMBOLS:
        mine = [q for q in quotes if q.symbol == symbol]
        in_store = store.replayed_quotes.read(symbol, hours.open_ts, hours.close_ts)
        assert [(q.event_us, q.bid_price, q.bid_size, q.ask_price) for q in in_store] == [
            (q.event_us, q.bid_price, q.bid_size, q.ask_price) for q in mine
        ]
        quality = day.symbols[symbol].quotes
        assert quality is not None
        assert (quality.rows, quality.valid_seconds, quality.seconds) == (len(mine), 12_600, 12_600)
        assert quality.closes_checked == 210 == quality.closes_inside
        assert day.symbols[symbol].session["1m"].quality == 100.0  # the dropped bars were filled too
    assert store.quotes.count() == 0, "a replay never writes to the data"
    assert store.replayed.count() == 2 * 210
    assert report.warnings == ()


def test_the_iex_feed_refuses_quotes_of_more_than_30_symbols_before_connecting(store: Store) -> None:
    symbols = [f"S{i:02d}" for i in range(31)]
    config = live_config(symbols, ("1m", "quotes"), data_api="alpaca")
    with FakeAlpaca() as fake:
        provider = AlpacaProvider(
            "key", "secret", data_url=fake.data_url, stream_url=fake.stream_url, feed="iex"
        )
        engine = MarketSessionSystem(config, store, provider=provider)
        with pytest.raises(ProviderSubscriptionError, match="at most 30 symbols, and 31 were asked for"):
            engine.start()
        assert fake.connections == 0
    assert pykka.ActorRegistry.get_all() == []


# ------------------------------------------------------------------------------ feed watchdog


@pytest.mark.parametrize(
    ("streams", "stalled", "after"), [(("1m", "5m"), "bars", 180), (("1m", "quotes"), "quotes", 60)]
)
def test_a_mute_stream_is_found_stalled_reconnected_and_what_it_kept_back_filled(
    store: Store, live: list[Live], streams: tuple[str, ...], stalled: str, after: int
) -> None:
    """The replay goes mute at 10:00 for an hour while it says connected: the watchdog finds the
    kind with the shorter limit stalled after that limit, the provider is told to reconnect (the
    mute ends, the outage is reported), and every bar and quote of the day is in the end."""
    hours = day_hours(store, EARLY_CLOSE)
    bars = session_bars_of(hours)
    quotes = quotes_of(bars) if "quotes" in streams else []
    mute_at = ny_ts(EARLY_CLOSE, 10, 0)
    run = make(
        live, store, bars, ny(EARLY_CLOSE, 9, 29), config=live_config(streams=streams), quotes=quotes,
        stream_faults=ReplayFaults(mutes=((mute_at, mute_at + 3_600),)),
    )  # fmt: skip

    report = run.run()

    assert report.status == "completed", report.error
    # the kind with the shorter limit stalls first; the other may stall too at its boundary when the
    # live steps (100 s of session clock apart at this speed) straddle the reconnect
    event = next(e for e in run.recorder.of(ProviderStalled) if e.stream == stalled)
    assert mute_at - 60 <= event.since_ts <= mute_at  # the last delivery before the mute
    # checked at the live steps: about 100 s of session clock apart at this speed, and on a loaded
    # machine a step may come a little later (the driver waits at most 0.2 s for the engine)
    assert after <= event.now_ts - event.since_ts <= after + 200
    states = [e.state for e in run.recorder.of(ProviderConnection)]
    assert states.count("reconnecting") == len(run.recorder.of(ProviderStalled)) and states[-1] == "connected"
    assert run.provider.stats["lost_muted"] > 0, "the mute kept nothing back: the test would check little"
    status = run.engine.live_status()
    assert status.counters["stalls"] == len(run.recorder.of(ProviderStalled)) and status.stalled == ()
    assert any(w.startswith("2025-07-03: provider stalled: no " + stalled) for w in report.warnings), (
        report.warnings
    )
    for symbol in SYMBOLS:
        assert stored(store, symbol, "1m", hours) == [b for b in bars if b.symbol == symbol]
        assert report.days[0].symbols[symbol].session["1m"].quality == 100.0
        if quotes:
            assert_every_quote(store, report, symbol, hours)


def test_silence_before_the_open_is_no_stall_and_a_feed_that_ends_mid_session_is(
    store: Store, live: list[Live]
) -> None:
    """Ten minutes of pre-market silence raise nothing; a feed whose bars end at 10:00 is found
    stalled from its last delivery (the 09:59 bar, delivered at 10:00)."""
    hours = day_hours(store, EARLY_CLOSE)
    bars = [b for b in session_bars_of(hours) if b.ts < hours.open_ts + 1_800]
    run = make(live, store, bars, ny(EARLY_CLOSE, 9, 20), config=live_config(max_retries=1))
    run.start()
    assert run.recorder.wait_count(ProviderStalled, 1, RUN_TIMEOUT), "30 minutes of regular-session silence"
    event = run.recorder.of(ProviderStalled)[0]
    assert event.since_ts == hours.open_ts + 1_800
    run.engine.stop("seen enough", timeout=10)


# ------------------------------------------------------------------------------------- schwab


def test_schwab_end_to_end_a_reconnect_with_an_expired_token_a_mute_socket_and_code_12(
    store: Store, tmp_path: Path
) -> None:
    """The engine on the Schwab adapter against the fake Schwab: bars and quotes stored as they
    come; the access token expires mid-session and the connection drops (the reconnect refreshes
    it); the socket goes mute (the watchdog reconnects it); then code 12 ends the run, with
    everything received stored."""
    clock = SimulatedClock(ny(REAL_DAY, 9, 40))
    first, last = ny_ts(REAL_DAY, 9, 30), ny_ts(REAL_DAY, 9, 40)
    bars = [b for s in SYMBOLS for b in real_bars(s, first, last)]
    with FakeSchwab() as fake:
        tokens = TokenStore(
            tmp_path / "token.json",
            client_id=fake.client_id,
            client_secret=fake.client_secret,
            auth_url=fake.api_url,
        )
        schwab_login(tokens, "https://127.0.0.1/?code=GOOD-CODE", "https://127.0.0.1")
        provider = SchwabProvider(
            tokens,
            api_url=fake.api_url,
            clock=clock,
            backoff=Backoff(initial=0.01, cap=0.05),
            request_timeout=5.0,
        )
        config = live_config(streams=("1m", "quotes"), data_api="schwab")
        engine = MarketSessionSystem(config, store, provider=provider, shutdown_timeout=5.0)
        recorder = Recorder()
        engine.subscribe(recorder)
        try:
            engine.start()
            assert fake.wait_until(lambda: fake.subscribed("LEVELONE_EQUITIES") == set(SYMBOLS), WAIT)
            assert wait_until(lambda: engine.state() in ("ready", "streaming"), WAIT), engine.state()
            assert fake.push_bars(bars) == 1
            quote_ms = (last - 1) * 1000
            deltas = [
                {"key": s, "1": 10.0 + i, "2": 10.02 + i, "4": 1, "5": 2, "34": quote_ms}
                for i, s in enumerate(SYMBOLS)
            ]
            assert fake.push_level_one(deltas) == 1
            assert wait_until(
                lambda: sum(len(store.bars.read(s, "1m", first, last)) for s in SYMBOLS) == len(bars), WAIT
            )
            assert wait_until(lambda: store.quotes.count() == 2, WAIT)

            fake.expire_access_tokens()  # mid-session; then the connection drops
            assert fake.drop_connections() == 1
            assert fake.wait_until(
                lambda: fake.connections == 2 and fake.subscribed("CHART_EQUITY") == set(SYMBOLS), WAIT
            )
            assert fake.refreshes == 1, "the reconnect refreshed the expired token"

            fake.muted = True  # connected, silent
            clock.set(ny(REAL_DAY, 9, 45))  # past the quotes' 60 s and the bars' 180 s of silence
            assert recorder.wait_count(ProviderStalled, 1, WAIT), "the watchdog never found the mute socket"
            assert fake.wait_until(lambda: fake.connections == 3, WAIT), "the watchdog did not reconnect"
            fake.muted = False

            assert fake.wait_until(lambda: fake.subscribed("CHART_EQUITY") == set(SYMBOLS), WAIT)
            fake.send_code(12, "another streamer connected for this user")
            report = engine.wait(RUN_TIMEOUT)
        finally:
            engine.shutdown()
    assert report.status == "failed"
    assert report.error is not None and "one streamer per user" in report.error
    for symbol in SYMBOLS:  # nothing received was lost
        assert store.bars.read(symbol, "1m", first, last) == real_bars(symbol, first, last)
    assert {q.symbol for q in store.quotes.read("AAPL", last - 10, last)} == {"AAPL"}


def test_alpaca_going_mute_is_found_by_the_watchdog_and_reconnected(store: Store) -> None:
    clock = SimulatedClock(ny(REAL_DAY, 9, 40))
    first, last = ny_ts(REAL_DAY, 9, 30), ny_ts(REAL_DAY, 9, 40)
    bars = [b for s in SYMBOLS for b in real_bars(s, first, last)]
    with FakeAlpaca() as fake:
        engine = alpaca_engine(store, fake, clock)
        recorder = Recorder()
        engine.subscribe(recorder)
        try:
            engine.start()
            assert fake.wait_until(lambda: fake.open_connections == 1 and len(fake.subscribes()) == 1, WAIT)
            assert wait_until(lambda: engine.state() in ("ready", "streaming"), WAIT), engine.state()
            assert fake.push(bars) == 1
            assert wait_until(
                lambda: sum(len(store.bars.read(s, "1m", first, last)) for s in SYMBOLS) == len(bars), WAIT
            )
            fake.muted = True  # the socket stays open, nothing comes
            clock.set(ny(REAL_DAY, 9, 44))  # past the bars' 180 s of silence
            assert recorder.wait_count(ProviderStalled, 1, WAIT), "the watchdog never found the mute socket"
            fake.muted = False
            assert fake.wait_until(lambda: fake.connections == 2 and len(fake.subscribes()) == 2, WAIT)
            assert recorder.wait_for(
                lambda events: (
                    [e.state for e in events if isinstance(e, ProviderConnection)][-2:]
                    == ["reconnecting", "connected"]
                ),
                WAIT,
            )
            report = engine.stop("test over", timeout=10)
        finally:
            engine.shutdown()
    assert report.status == "stopped", report.error
    assert any("provider stalled: no bars" in w for w in report.warnings), report.warnings
