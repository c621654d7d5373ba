"""The whole engine (``MarketSessionSystem``) on real stores: days, lifecycle, prefetch, real data,
determinism, subscribers (gating or not, callables and actors), pacing, pause/resume/stop,
missing data, an unseeded calendar and a clean shutdown (SPEC §5–§7, §9).

Every wait is bounded; nothing sleeps. The demo store is built once (calendar 2023–2026 and
the example's demo bars) and copied into each test's own SQLite file.
"""

from __future__ import annotations

import csv
import itertools
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import pykka
import pytest
from support.engine import (
    NY,
    HostActor,
    Recorder,
    config_variant,
    example_dict,
)
from support.stores import real_file, seed

from actors.system import MarketSessionSystem
from actors.timer import ManualTime
from domain.calendar.model import SessionType
from domain.calendar.trading_calendar import TradingCalendar
from domain.columns import BarColumns
from domain.config import SessionConfig
from domain.messages.events import (
    BarsAppended,
    DerivedBarsBuilt,
    LifecycleChanged,
    QualityUpdated,
    QuotesAppended,
    RunCompleted,
    SessionEnded,
    SessionStarted,
    WarningRaised,
)
from domain.quality.quotes import score_quotes
from domain.report import RunReport
from domain.session.lifecycle import LifecycleState
from domain.store import Store
from ops.bar_files.importer import import_bar_file

RUN_TIMEOUT = 60.0
WAIT = 10.0
EXAMPLE_DAYS = ["2025-07-02", "2025-07-03", "2025-07-07"]
NO_HISTORY: dict[str, Any] = {}


# ----------------------------------------------------------------------------------- fixtures


def one_day(**changes: Any) -> SessionConfig:
    """2025-07-02 only, streams 1m and 5m, no historical data (a quick session)."""
    options: dict[str, Any] = {
        "start": "2025-07-02",
        "end": "2025-07-02",
        "streams": ["1m", "5m"],
        "historical": NO_HISTORY,
    }
    options.update(changes)
    return config_variant(**options)


def ny_ts(day: date, hour: int, minute: int = 0) -> int:
    return int(datetime.combine(day, clock(hour, minute), tzinfo=NY).timestamp())


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).astimezone(NY).isoformat()


# ------------------------------------------------------------------------ days and lifecycle


def test_example_window_runs_july_2_then_the_early_close_of_july_3_then_july_7(demo_store: Store) -> None:
    recorder = Recorder()
    engine = MarketSessionSystem(config_variant(), demo_store, speed=0)
    engine.subscribe(recorder)
    report = engine.run(RUN_TIMEOUT)

    assert report.status == "completed", report.error
    data = report.to_json()
    assert [d["date"] for d in data["days"]] == EXAMPLE_DAYS
    assert [e.day.isoformat() for e in recorder.of(SessionStarted)] == EXAMPLE_DAYS
    assert [e.day.isoformat() for e in recorder.of(SessionEnded)] == EXAMPLE_DAYS
    july_3 = data["days"][1]
    assert july_3["is_early_close"] is True
    assert july_3["regular_open"] == "2025-07-03T09:30:00-04:00"
    assert july_3["regular_close"] == "2025-07-03T13:00:00-04:00"
    assert [d["is_early_close"] for d in data["days"]] == [False, True, False]
    closes = [d["regular_close"][11:] for d in data["days"]]
    assert closes == ["16:00:00-04:00", "13:00:00-04:00", "16:00:00-04:00"]
    # nothing after the early close enters the session of July 3, and July 3 expects 210 minutes
    close_3 = ny_ts(date(2025, 7, 3), 13)
    bars_3 = [b for e in recorder.of(BarsAppended) if e.day == date(2025, 7, 3) for b in e.bars]
    assert bars_3 and max(b.ts for b in bars_3) < close_3
    assert {s["session"]["1m"]["expected"] for s in july_3["symbols"].values()} == {210}

    changes = recorder.of(LifecycleChanged)
    assert changes[0].from_state is LifecycleState.CREATED
    assert [str(c.to_state) for c in changes] == [
        *(["loading", "ready", "streaming", "session_ended"] * 3),
        "completed",
    ]
    assert [c.day.isoformat() for c in changes if c.to_state is LifecycleState.SESSION_ENDED] == EXAMPLE_DAYS
    assert [type(e) for e in recorder.events].count(RunCompleted) == 1
    assert isinstance(recorder.events[-1], RunCompleted) and recorder.events[-1].report == report


def test_a_window_starting_on_a_weekend_starts_on_the_next_trading_day(demo_store: Store) -> None:
    recorder = Recorder()
    config = config_variant(start="2025-07-05", end="2025-07-08", historical=NO_HISTORY)
    engine = MarketSessionSystem(config, demo_store, speed=0)
    engine.subscribe(recorder, events=[SessionStarted])
    report = engine.run(RUN_TIMEOUT)

    assert report.status == "completed", report.error
    assert [d.day for d in report.days] == [date(2025, 7, 7), date(2025, 7, 8)]
    assert [e.day for e in recorder.of(SessionStarted)] == [date(2025, 7, 7), date(2025, 7, 8)]


# ------------------------------------------------------------------------------------ prefetch


def _session_day_reads(store: Store, config: SessionConfig) -> tuple[RunReport, Counter[tuple[str, str]]]:
    """Run ``config`` at speed 0, counting the store reads of each session day's stored bars
    (the whole extended-hours day of one symbol: pre-market open to post-market close) at the
    bar repository, which every read of the engine goes through."""
    calendar = TradingCalendar(store.calendar)
    ranges = {}
    for text in EXAMPLE_DAYS:
        session = calendar.get_trading_session(date.fromisoformat(text))
        assert session.pre_market_open is not None and session.post_market_close is not None
        ranges[(int(session.pre_market_open.timestamp()), int(session.post_market_close.timestamp()))] = text
    reads: Counter[tuple[str, str]] = Counter()
    lock = threading.Lock()
    bar_reads = store.bars
    read_columns = bar_reads.read_columns

    def counting(symbols: Sequence[str], interval: str, start_ts: int, end_ts: int) -> list[BarColumns]:
        day = ranges.get((start_ts, end_ts))
        if day is not None:
            with lock:
                reads.update((symbol, day) for symbol in symbols)
        return read_columns(symbols, interval, start_ts, end_ts)

    bar_reads.read_columns = counting  # type: ignore[method-assign]  # every store read goes through it
    try:
        report = MarketSessionSystem(config, store, speed=0).run(RUN_TIMEOUT)
    finally:
        del bar_reads.read_columns
    return report, reads


def test_prefetch_one_or_three_days_gives_the_same_report_and_reads_each_session_day_once(
    demo_store: Store,
) -> None:
    one, reads_one = _session_day_reads(demo_store, config_variant(prefetch_days=1))
    three, reads_three = _session_day_reads(demo_store, config_variant(prefetch_days=3))

    assert one.status == three.status == "completed", (one.error, three.error)
    assert one.comparable() == three.comparable()
    every_day_once = Counter({(symbol, day): 1 for symbol in ("RIVN", "AAPL") for day in EXAMPLE_DAYS})
    assert reads_one == every_day_once
    assert reads_three == every_day_once


# ----------------------------------------------------------------------------------- real data


LATE = timedelta(hours=4)  # the real minute files are stamped 4 hours late (see their README)


def _without(source: Path, target: Path, dropped: set[int]) -> Path:
    """A copy of a real minute dump without the rows whose true start (stamp less 4 h) is dropped."""
    with source.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [
            r
            for r in reader
            if int((datetime.fromisoformat(r["timestamp"]) - LATE).timestamp()) not in dropped
        ]
        fields = list(reader.fieldnames or ())
    with target.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(rows)
    return target


def _csv_day(path: Path, day: date) -> tuple[dict[int, tuple[float, ...]], int]:
    """From a UTC minute dump stamped 4 hours late: the bars of ``day``'s regular session
    [09:30, 16:00) ET by true start timestamp, and how many rows of that day's extended hours
    [04:00, 20:00) ET lie outside it."""
    regular: dict[int, tuple[float, ...]] = {}
    outside = 0
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            moment = (datetime.fromisoformat(row["timestamp_utc"]) - LATE).astimezone(NY)
            if moment.date() != day or not clock(4) <= moment.time() < clock(20):
                continue
            values = tuple(float(row[k]) for k in ("open", "high", "low", "close", "volume"))
            if clock(9, 30) <= moment.time() < clock(16):
                regular[int(moment.timestamp())] = values
            else:
                outside += 1
    return regular, outside


def _expected_interval(present: set[int], open_ts: int, minutes: int, count: int) -> dict[str, Any]:
    """Bars, quality and gaps of an interval of ``minutes`` over ``count`` windows from the
    open, when a window counts as present iff all its 1m bars are in ``present``."""
    have = [all(open_ts + (k * minutes + m) * 60 in present for m in range(minutes)) for k in range(count)]
    gaps: list[dict[str, Any]] = []
    k = 0
    while k < count:
        if have[k]:
            k += 1
            continue
        run_start = k
        while k < count and not have[k]:
            k += 1
        gaps.append(
            {
                "start": iso(open_ts + run_start * minutes * 60),
                "end": iso(open_ts + k * minutes * 60),
                "bar_count": k - run_start,
            }
        )
    bars = sum(have)
    return {"bars": bars, "expected": count, "quality": min(100.0, 100.0 * bars / count), "gaps": gaps}


def test_real_aapl_and_rivn_minutes_stream_only_regular_hours_and_score_like_the_csv(
    sqlite_store: Store, tmp_path: Path
) -> None:
    seed(sqlite_store, "US_EQUITY", start_year=2025, end_year=2025)
    session_day = date(2025, 7, 2)
    # shifted back, both files hold every regular minute: these rows are left out so that the
    # session has gaps to score (AAPL 10:02-10:03, RIVN the last minute, a gap ending at the close)
    dropped = {
        "AAPL": {ny_ts(session_day, 10, 2), ny_ts(session_day, 10, 3)},
        "RIVN": {ny_ts(session_day, 15, 59)},
    }
    expected_bars: dict[str, dict[int, tuple[float, ...]]] = {}
    outside_total = 0
    for symbol in ("AAPL", "RIVN"):
        name = f"{symbol}_2025-07-02_1m.csv"
        path = _without(real_file(name), tmp_path / name, dropped[symbol])
        import_bar_file(sqlite_store, path, symbol, "1m", "America/New_York", shift_seconds=-4 * 3600)
        expected_bars[symbol], outside = _csv_day(path, session_day)
        outside_total += outside
    open_ts = ny_ts(session_day, 9, 30)
    close_ts = ny_ts(session_day, 16)
    assert [len(expected_bars[s]) for s in ("AAPL", "RIVN")] == [390 - 2, 390 - 1]
    assert outside_total == 249 + 128  # the pre-market rows (July 1's post-market is another day)

    recorder = Recorder()
    engine = MarketSessionSystem(one_day(symbols=["AAPL", "RIVN"]), sqlite_store, speed=0)
    engine.subscribe(recorder, events=[BarsAppended, DerivedBarsBuilt])
    report = engine.run(RUN_TIMEOUT)

    assert report.status == "completed", report.error
    data = report.to_json()
    day = data["days"][0]
    assert sum(day["bars_not_in_session"].values()) == outside_total
    assert day["bars_streamed"] == sum(len(bars) for bars in expected_bars.values())

    streamed = [bar for e in recorder.of(BarsAppended) for bar in e.bars]
    assert all(open_ts <= bar.ts < close_ts for bar in streamed)
    for symbol, bars in expected_bars.items():
        assert {
            bar.ts: (bar.open, bar.high, bar.low, bar.close, bar.volume)
            for bar in streamed
            if bar.symbol == symbol
        } == bars
        session = day["symbols"][symbol]["session"]
        for interval, minutes, count in (("1m", 1, 390), ("5m", 5, 78)):
            want = _expected_interval(set(bars), open_ts, minutes, count)
            got = session[interval]
            assert (got["bars"], got["expected"]) == (want["bars"], want["expected"]), (symbol, interval)
            assert got["quality"] == pytest.approx(want["quality"], abs=1e-9), (symbol, interval)
            assert [{k: g[k] for k in ("start", "end", "bar_count")} for g in got["gaps"]] == want["gaps"]

    # the derived 5m bars aggregate exactly the 1m bars of their windows
    derived = [bar for e in recorder.of(DerivedBarsBuilt) for bar in e.bars]
    for bar in derived:
        minutes = [expected_bars[bar.symbol][bar.ts + 60 * m] for m in range(5)]
        assert (bar.open, bar.high, bar.low, bar.close) == (
            minutes[0][0],
            max(m[1] for m in minutes),
            min(m[2] for m in minutes),
            minutes[-1][3],
        )
        assert bar.volume == pytest.approx(sum(m[4] for m in minutes))
    assert (
        len(derived) == sum(day["symbols"][s]["session"]["5m"]["bars"] for s in expected_bars) == 2 * 78 - 2
    )


def test_with_extended_hours_the_pre_market_streams_from_0400_and_is_scored_on_its_own(
    sqlite_store: Store,
) -> None:
    """The real day, shifted back: its 249 (AAPL) and 128 (RIVN) pre-market minutes reach the
    subscriber as they end, the pre-market and post-market are scored apart from the regular
    session (which stays 390 of 390), and derived bars stay those of the regular session."""
    seed(sqlite_store, "US_EQUITY", start_year=2025, end_year=2025)
    session_day = date(2025, 7, 2)
    pre_open, open_ts, close_ts, post_close = (
        ny_ts(session_day, 4), ny_ts(session_day, 9, 30), ny_ts(session_day, 16), ny_ts(session_day, 20),
    )  # fmt: skip
    pre_market: dict[str, set[int]] = {}
    for symbol in ("AAPL", "RIVN"):
        path = real_file(f"{symbol}_2025-07-02_1m.csv")
        import_bar_file(sqlite_store, path, symbol, "1m", "America/New_York", shift_seconds=-4 * 3600)
        pre_market[symbol] = {b.ts for b in sqlite_store.bars.read(symbol, "1m", pre_open, open_ts)}
    assert [len(pre_market[s]) for s in ("AAPL", "RIVN")] == [249, 128]
    data = one_day(symbols=["AAPL", "RIVN"], streams=["1m", "5m", "1d"]).to_dict()
    data["session_data_config"]["extended_hours"] = True
    recorder = Recorder()
    engine = MarketSessionSystem(SessionConfig.from_dict(data), sqlite_store, speed=0)
    engine.subscribe(recorder, events=[BarsAppended, DerivedBarsBuilt, QualityUpdated, SessionStarted])
    report = engine.run(RUN_TIMEOUT)

    assert report.status == "completed", report.error
    (started,) = recorder.of(SessionStarted)
    steps = recorder.of(BarsAppended)
    assert all(bar.ts + 60 <= step.now_ts for step in steps for bar in step.bars), "look-ahead"
    streamed = [bar for step in steps for bar in step.bars]
    assert streamed[0].ts == min(min(ts) for ts in pre_market.values())
    for symbol, minutes in pre_market.items():
        assert {b.ts for b in streamed if b.symbol == symbol and b.ts < open_ts} == minutes
    assert all(pre_open <= b.ts < post_close for b in streamed)
    derived = [bar for e in recorder.of(DerivedBarsBuilt) for bar in e.bars]
    assert all(open_ts <= b.ts < close_ts for b in derived if b.interval == "5m")
    sessions = {score.session for e in recorder.of(QualityUpdated) for score in e.scores}
    assert sessions == {SessionType.PRE_MARKET, SessionType.REGULAR, SessionType.POST_MARKET}

    (day,) = report.days
    assert [str(s.session) for s in day.extended] == ["pre_market", "post_market"]
    assert day.bars_streamed == 2 * 390 + 249 + 128
    assert day.refused == {}, "every bar read for the day (04:00-20:00) enters its session"
    for symbol, minutes in pre_market.items():
        summary = day.symbols[symbol]
        regular = summary.session["1m"]
        assert (regular.bars, regular.expected, regular.quality) == (390, 390, 100.0)
        assert summary.session["5m"].bars == 78 and summary.session["1d"].bars == 1
        pre = summary.extended["pre_market"]["1m"]
        assert (pre.bars, pre.expected) == (len(minutes), 330)
        assert pre.quality == pytest.approx(100 * len(minutes) / 330)
        assert sum(g.bar_count for g in pre.gaps) == 330 - len(minutes)
        post = summary.extended["post_market"]["1m"]
        assert (post.bars, post.expected, [g.bar_count for g in post.gaps]) == (0, 240, [240])
        assert summary.metrics is not None and summary.metrics.volume == sum(
            b.volume for b in sqlite_store.bars.read(symbol, "1m", pre_open, post_close)
        ), "the day's volume is the session's: extended hours included"
    json_day = report.to_json()["days"][0]
    assert json_day["extended_hours"] == {
        "pre_market": {"open": iso(pre_open), "close": iso(open_ts)},
        "post_market": {"open": iso(close_ts), "close": iso(post_close)},
    }
    assert set(json_day["symbols"]["AAPL"]["extended_hours"]) == {"pre_market", "post_market"}
    assert started.day == session_day


# --------------------------------------------------------------------------------- determinism


def test_two_runs_of_the_same_demo_backtest_give_the_same_report(demo_store: Store) -> None:
    first = MarketSessionSystem(config_variant(), demo_store, speed=0).run(RUN_TIMEOUT)
    second = MarketSessionSystem(config_variant(), demo_store, speed=0).run(RUN_TIMEOUT)

    assert first.status == "completed", first.error
    assert first.bars_streamed > 0
    assert first.comparable() == second.comparable()
    assert first.to_json()["timings"]["ack_timeouts"] == 0


# --------------------------------------------------------------------------------- subscribers


def test_a_gating_subscriber_sees_every_step_in_order_and_the_clock_waits_for_it(demo_store: Store) -> None:
    engine = MarketSessionSystem(
        config_variant(historical=NO_HISTORY, streams=["1m"]), demo_store, speed=0, gating_timeout=10.0
    )
    seen: list[tuple[int, int, int]] = []

    def strategy(event: Any) -> None:  # runs while the engine waits for its acknowledgement
        progress = engine.progress()
        seen.append((event.step, progress.steps, len(event.bars)))

    engine.subscribe(strategy, events=[BarsAppended], gating=True, name="strategy")
    report = engine.run(RUN_TIMEOUT)

    assert report.status == "completed", report.error
    steps = [step for step, _, _ in seen]
    assert steps == list(range(1, len(seen) + 1))  # every step, once, in order, across all three days
    assert all(step == engine_step for step, engine_step, _ in seen)  # the engine had not moved on
    assert sum(bars for _, _, bars in seen) == report.bars_streamed
    assert report.timings["ack_timeouts"] == 0


def test_a_gating_subscriber_that_blocks_holds_the_clock_until_it_returns(demo_store: Store) -> None:
    engine = MarketSessionSystem(one_day(), demo_store, speed=0, gating_timeout=10.0)
    reached, release = threading.Event(), threading.Event()

    def slow(event: Any) -> None:
        if event.step == 3:
            reached.set()
            release.wait(WAIT)

    engine.subscribe(slow, events=[BarsAppended], gating=True)
    engine.start()
    try:
        assert reached.wait(WAIT)
        held = engine.progress()
        assert held.steps == 3 and held.state == "streaming"
        threading.Event().wait(0.3)
        assert engine.progress() == held
        assert not engine.done
    finally:
        release.set()
    report = engine.wait(RUN_TIMEOUT)
    engine.shutdown()
    assert report.status == "completed", report.error
    assert report.timings["ack_timeouts"] == 0
    assert report.days[0].bars_streamed > held.bars_streamed


def test_a_gating_subscriber_that_misses_the_gating_timeout_is_skipped_with_a_warning(
    demo_store: Store,
) -> None:
    engine = MarketSessionSystem(one_day(), demo_store, speed=0, gating_timeout=0.5)
    release = threading.Event()
    blocked: list[int] = []

    def stuck(event: Any) -> None:
        if not blocked:
            blocked.append(event.step)
            release.wait(WAIT)  # until the engine has said it went on without us

    def on_warning(event: Any) -> None:
        if "stuck-subscriber" in event.message:
            release.set()

    engine.subscribe(stuck, events=[BarsAppended], gating=True, name="stuck-subscriber")
    warnings = Recorder(on_warning)
    engine.subscribe(warnings, events=[WarningRaised])
    reference = MarketSessionSystem(one_day(), demo_store, speed=0).run(RUN_TIMEOUT)
    started = time.monotonic()
    report = engine.run(RUN_TIMEOUT)

    assert release.is_set()
    assert report.status == "completed", report.error
    assert report.timings["ack_timeouts"] >= 1
    assert any("stuck-subscriber" in w for w in report.warnings)
    assert any("stuck-subscriber" in e.message for e in warnings.of(WarningRaised))
    assert report.comparable()["days"] == reference.comparable()["days"]
    assert time.monotonic() - started < WAIT  # it went on after the timeout, not after the block


def test_a_subscriber_that_raises_keeps_receiving_every_event_and_the_run_completes(
    demo_store: Store,
) -> None:
    calls: list[str] = []

    def broken(event: Any) -> None:
        calls.append(event.kind)
        raise RuntimeError(f"listener bug on {event.kind}")

    engine = MarketSessionSystem(one_day(), demo_store, speed=0)
    plain = engine.subscribe(broken, events=[BarsAppended, SessionEnded], name="broken-plain")
    recorder = Recorder()
    engine.subscribe(recorder, events=[BarsAppended, SessionEnded, RunCompleted])
    report = engine.run(RUN_TIMEOUT)

    assert report.status == "completed", report.error
    assert report.bars_streamed > 0
    assert [e.report for e in recorder.of(RunCompleted)] == [report]
    published = len(recorder.of(BarsAppended)) + len(recorder.of(SessionEnded))
    assert len(calls) == published, f"the raising subscriber got {len(calls)} of {published} events"
    assert plain.errors == published


def test_a_subscriber_calling_sys_exit_stops_neither_the_run_nor_the_hosts_actors(demo_store: Store) -> None:
    host = HostActor.start()
    try:

        def leaving(_event: Any) -> None:
            raise SystemExit(3)  # escaping an actor, pykka would stop every actor of the process

        engine = MarketSessionSystem(one_day(), demo_store, speed=0)
        quitter = engine.subscribe(leaving, events=[SessionEnded], name="sys-exit")
        report = engine.run(RUN_TIMEOUT)
        assert report.status == "completed", report.error
        assert quitter.errors == 1
        assert host.is_alive()
    finally:
        host.stop()


def test_a_gating_subscriber_that_raises_still_acknowledges_so_the_run_does_not_stall(
    demo_store: Store,
) -> None:
    def broken(event: Any) -> None:
        raise RuntimeError(f"listener bug on {event.kind}")

    engine = MarketSessionSystem(one_day(), demo_store, speed=0, gating_timeout=0.5)
    gating = engine.subscribe(broken, events=[BarsAppended], gating=True, name="broken-gating")
    engine.start()
    try:
        finished = engine.wait_done(5.0)  # a healthy one-day run takes well under a second
        progress = engine.progress()
    finally:
        report = engine.stop("test bound reached", timeout=WAIT)
        engine.shutdown()

    assert finished, (
        f"the run stalled after a gating subscriber raised: {progress.steps} steps in 5 s, "
        f"{report.timings['ack_timeouts']} acknowledgement timeouts"
    )
    assert report.status == "completed", report.error
    assert report.timings["ack_timeouts"] == 0  # a raising gating subscriber still acknowledges
    assert gating.errors == gating.delivered > 0


def test_pykka_actor_subscribers_receive_events_and_a_gating_actor_gates(demo_store: Store) -> None:
    listener = HostActor.start()
    gate = HostActor.start()
    recorder = Recorder()
    engine = MarketSessionSystem(one_day(), demo_store, speed=0)
    engine.subscribe(listener, events=[SessionStarted, SessionEnded, RunCompleted])
    engine.subscribe(gate, events=[BarsAppended], gating=True)
    engine.subscribe(recorder, events=[BarsAppended])
    report = engine.run(RUN_TIMEOUT)

    assert report.status == "completed", report.error
    received = listener.ask("received", timeout=WAIT)
    assert [type(m) for m in received] == [SessionStarted, SessionEnded, RunCompleted]
    assert received[1].summary == report.days[0]
    assert received[2].report == report
    gated = gate.ask("received", timeout=WAIT)
    assert [m.step for m in gated] == [e.step for e in recorder.of(BarsAppended)]
    assert [m.step for m in gated] == list(range(1, len(gated) + 1))
    assert report.timings["ack_timeouts"] == 0
    assert listener.is_alive() and gate.is_alive()  # the engine never stops a subscriber actor


# ---------------------------------------------------------------------- pacing, pause, resume, stop


def test_speed_60_paces_a_market_minute_per_second_and_pause_resume_stop_work(demo_store: Store) -> None:
    """On a time the test moves (ManualTime), a speed-60 replay takes exactly one step — one
    market minute — per second of that time, none while paused, and goes on after a resume."""
    recorder = Recorder()
    wall = ManualTime()
    engine = MarketSessionSystem(one_day(), demo_store, speed=60, time=wall)
    engine.subscribe(recorder, events=[BarsAppended, LifecycleChanged])
    engine.start()
    try:
        assert recorder.wait_for(
            lambda events: any(
                isinstance(e, LifecycleChanged) and e.to_state is LifecycleState.STREAMING for e in events
            ),
            timeout=WAIT,
        )
        engine.progress()  # an ask: answered once the coordinator has set the pace from time 0
        wall.advance(3.0)  # three steps are due, no fourth: nothing else moves the time
        assert recorder.wait_count(BarsAppended, 3, timeout=WAIT)
        steps = recorder.of(BarsAppended)
        assert engine.progress().steps == 3 == len(steps)
        assert [b.now_ts - a.now_ts for a, b in itertools.pairwise(steps)] == [60, 60]

        engine.pause()
        assert recorder.wait_for(
            lambda events: any(
                isinstance(e, LifecycleChanged) and e.to_state is LifecycleState.PAUSED for e in events
            ),
            timeout=WAIT,
        )
        assert engine.state() == "paused"
        paused = engine.progress()
        wall.advance(5.0)  # five seconds paused: the steps scheduled before the pause are void
        assert engine.progress() == paused
        assert engine.state() == "paused"

        engine.resume()
        assert recorder.wait_for(
            lambda events: any(
                isinstance(e, LifecycleChanged) and e.to_state is LifecycleState.STREAMING
                for e in events[-1:]
            ),
            timeout=WAIT,
        )
        engine.progress()  # answered once the coordinator has set the pace from the resume
        wall.advance(1.0)  # paced from the resume: one second, one step
        assert recorder.wait_count(BarsAppended, 4, timeout=WAIT)
        assert engine.state() == "streaming"
        assert recorder.of(BarsAppended)[-1].now_ts == paused.now_ts + 60

        report = engine.stop("enough pacing", timeout=WAIT)
    finally:
        engine.shutdown()

    assert report.status == "stopped"
    assert len(report.days) == 1 and report.days[0].ended_early
    day = report.to_json()["days"][0]
    assert day["ended_early"] is True
    assert 0 < day["bars_streamed"] < 2 * 390
    assert any("enough pacing" in w for w in report.warnings)
    states = [str(e.to_state) for e in recorder.of(LifecycleChanged)]
    assert states == ["loading", "ready", "streaming", "paused", "streaming", "stopping", "stopped"]


# ------------------------------------------------------------------------- bad data and calendars


def test_a_symbol_without_bars_is_scored_zero_with_a_warning_and_the_run_completes(demo_store: Store) -> None:
    config = config_variant(start="2025-07-02", end="2025-07-02", symbols=["AAPL", "NODATA"])
    recorder = Recorder()
    engine = MarketSessionSystem(config, demo_store, speed=0)
    engine.subscribe(recorder, events=[WarningRaised])
    report = engine.run(RUN_TIMEOUT)

    assert report.status == "completed", report.error
    day = report.to_json()["days"][0]
    missing = day["symbols"]["NODATA"]
    for interval in ("1m", "5m", "15m"):
        assert missing["session"][interval]["bars"] == 0
        assert missing["session"][interval]["quality"] == 0.0
    assert missing["session"]["1m"]["expected"] == 390
    assert [g["bar_count"] for g in missing["session"]["1m"]["gaps"]] == [390]
    assert all(value is None for value in missing["indicators"].values())  # never a 0.0 placeholder
    assert day["symbols"]["AAPL"]["session"]["1m"]["bars"] > 380
    session_warnings = [w for w in day["warnings"] if "NODATA" in w and "2025-07-02" in w]
    assert session_warnings
    assert any("NODATA" in e.message for e in recorder.of(WarningRaised))


def test_a_calendar_not_seeded_far_enough_back_fails_the_run_naming_the_range(
    sqlite_store: Store,
) -> None:
    seed(sqlite_store, "US_EQUITY", start_year=2025, end_year=2025)
    recorder = Recorder()
    engine = MarketSessionSystem(config_variant(), sqlite_store, speed=0)
    engine.subscribe(recorder, events=[LifecycleChanged])
    engine.start()
    try:
        report = engine.wait(WAIT)
        assert engine.state() == "failed"
    finally:
        engine.shutdown()

    assert report.status == "failed"
    assert report.error is not None
    assert "2025-01-01..2025-12-31" in report.error
    assert "2024-07-03" in report.error  # 52 weeks before 2025-07-02
    assert report.days == ()
    assert recorder.wait_for(
        lambda events: any(getattr(e, "to_state", None) is LifecycleState.FAILED for e in events), WAIT
    )


# ------------------------------------------------------------------------------------ shutdown


def test_after_run_no_engine_actor_or_timer_thread_is_left(demo_store: Store) -> None:
    engine = MarketSessionSystem(one_day(), demo_store, speed=0)
    engine.subscribe(Recorder())
    engine.subscribe(Recorder(), events=[BarsAppended], gating=True)
    report = engine.run(RUN_TIMEOUT)

    assert report.status == "completed", report.error
    assert pykka.ActorRegistry.get_all() == []
    assert not [t for t in threading.enumerate() if t.name == "marketsession-timer" and t.is_alive()]


def test_a_host_actor_survives_the_engine_completing_and_being_stopped(demo_store: Store) -> None:
    host = HostActor.start()

    completed = MarketSessionSystem(one_day(), demo_store, speed=0)
    completed.subscribe(host, events=[RunCompleted])
    report = completed.run(RUN_TIMEOUT)
    assert report.status == "completed", report.error
    assert completed.stop() == report  # stopping a finished engine changes nothing
    assert host.is_alive()
    assert pykka.ActorRegistry.get_all() == [host]

    recorder = Recorder()
    with MarketSessionSystem(one_day(), demo_store, speed=600) as paced:
        paced.subscribe(recorder, events=[BarsAppended])
        paced.subscribe(host, events=[RunCompleted])
        paced.start()
        assert recorder.wait_count(BarsAppended, 1, timeout=WAIT)
        stopped = paced.stop("host shuts the engine down", timeout=WAIT)
    assert stopped.status == "stopped"
    assert host.is_alive()
    assert pykka.ActorRegistry.get_all() == [host]
    received = host.ask("received", timeout=WAIT)
    assert [m.report.status for m in received] == ["completed", "stopped"]
    host.stop(timeout=WAIT)


def test_a_backtest_streams_the_stored_quotes_through_the_clock_without_look_ahead(demo_store: Store) -> None:
    """The example streams ``quotes``: each day's stored rows of its session come out once, in
    ``quotes_appended`` events of the step whose clock has passed their second, in time order."""
    recorder = Recorder()
    config = config_variant()
    engine = MarketSessionSystem(config, demo_store, speed=0)
    engine.subscribe(recorder, events=["quotes_appended", "session_started"])
    report = engine.run(RUN_TIMEOUT)
    assert report.status == "completed", report.error
    events = recorder.of(QuotesAppended)
    assert events and all(q.ts < e.now_ts for e in events for q in e.quotes), "released once its second ended"
    assert all([q.event_us for q in e.quotes] == sorted(q.event_us for q in e.quotes) for e in events), (
        "in time order"
    )
    for started in recorder.of(SessionStarted):
        hours = started.hours
        stored = sum(len(demo_store.quotes.read(s, hours.open_ts, hours.close_ts)) for s in config.symbols)
        streamed = [q for e in events if e.day == started.day for q in e.quotes]
        assert len(streamed) == stored == len({(q.symbol, q.ts) for q in streamed}) > 0
        (summary,) = [d for d in report.days if d.day == started.day]
        assert summary.quotes_streamed == stored
    assert report.to_json()["totals"]["quotes_streamed"] == sum(len(e.quotes) for e in events)
    assert not any("quotes" in w for w in report.warnings), report.warnings


def test_the_snapshot_during_a_step_holds_the_latest_quote_released_and_none_later(demo_store: Store) -> None:
    engine = MarketSessionSystem(config_variant(), demo_store, speed=0)
    seen: list[tuple[int, Any]] = []

    def look(event: Any) -> None:  # a gating subscriber: the step waits while it asks
        if len(seen) < 40 and event.day == date(2025, 7, 2):
            seen.append((event.now_ts, engine.snapshot("AAPL").quote))

    engine.subscribe(look, events=["bars_appended"], gating=True, name="quote-looker")
    report = engine.run(RUN_TIMEOUT)
    assert report.status == "completed", report.error
    assert len(seen) == 40
    for now_ts, quote in seen:
        stored = demo_store.quotes.read("AAPL", now_ts - 3600, now_ts)  # rows whose second has ended
        assert quote == (stored[-1] if stored else None), now_ts


def test_a_backtest_scores_each_symbols_quotes_per_day_and_a_config_without_quotes_scores_none(
    demo_store: Store,
) -> None:
    """Quote quality per symbol and day, from the stored rows (the same as scoring them directly),
    equal across runs; a config that does not stream quotes keeps today's report."""
    config = config_variant()
    first, again = (MarketSessionSystem(config, demo_store, speed=0).run(RUN_TIMEOUT) for _ in range(2))
    assert first.status == "completed", first.error
    assert first.comparable() == again.comparable()
    for day in first.days:
        hours = day.hours
        for symbol, symbol_day in day.symbols.items():
            stored = demo_store.quotes.read_columns([symbol], hours.open_ts, hours.close_ts)[0]
            bars = demo_store.bars.read(symbol, "1m", hours.open_ts, hours.close_ts)
            expected = score_quotes(
                stored,
                hours.open_ts,
                hours.close_ts,
                bar_starts=[b.ts for b in bars],
                bar_closes=[b.close for b in bars],
            )
            assert symbol_day.quotes == expected, (day.day, symbol)
            assert symbol_day.quotes.seconds == hours.close_ts - hours.open_ts
            assert 90 <= symbol_day.quotes.coverage <= 100
    without = MarketSessionSystem(config_variant(streams=["1m", "5m"]), demo_store, speed=0).run(RUN_TIMEOUT)
    assert all("quotes" not in s for d in without.to_json()["days"] for s in d["symbols"].values())


def test_quote_bars_are_built_per_interval_when_asked_and_only_for_windows_the_clock_passed(
    demo_store: Store,
) -> None:
    data = example_dict()
    data["session_data_config"]["quotes"] = {"bars": ["1m", "5m"]}
    config = config_variant(base=data, end="2025-07-02")
    engine = MarketSessionSystem(config, demo_store, speed=0)
    seen: list[tuple[int, tuple[Any, ...]]] = []

    def look(event: Any) -> None:  # a gating subscriber: the step waits while it asks
        if len(seen) < 30:
            seen.append((event.now_ts, engine.quote_bars("AAPL", "5m")))

    engine.subscribe(look, events=["bars_appended"], gating=True, name="quote-bar-looker")
    report = engine.run(RUN_TIMEOUT)
    assert report.status == "completed", report.error
    assert len(report.days) == 1
    for symbol in config.symbols:
        counts = report.to_json()["days"][0]["symbols"][symbol]["quotes"]["bars"]
        assert counts == {"1m": 390, "5m": 78}  # the demo quotes book every minute from the open
    assert seen and all(b.ts + 300 <= now for now, bars in seen for b in bars), "no look-ahead"
    assert any(bars for _, bars in seen)
    assert all(b.bid is not None and b.bid[2] <= b.bid[1] for _, bars in seen for b in bars)
