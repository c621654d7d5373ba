"""The ``replay`` provider: stored bars of past days served as a live feed (SPEC §8).

The bars of each source day are shifted so that its regular open falls on its target day's
regular open (today's, by default; over several days, :mod:`ops.providers.replay_days` says
which stored day lands on which trading day), then delivered on the provider's clock — a
:class:`~domain.providers.ScaledClock` that starts at a chosen time of the target day and runs
``speed`` times faster than the wall clock. A bar is delivered when the clock reaches its end
(a start-stamped 09:30 bar at 09:31), all symbols of a minute in one batch. Bars whose delivery
time had passed when the stream started are not sent (a real feed does not replay history on
subscribe): they are what the gap filler fetches.

``fetch_bars`` answers what a real provider would have had: every shifted bar that has ended
by the clock's now, dropped or not — so gap filling can be exercised end to end.

Quotes (the stored rows of the source day, shifted alike) stream the same way when asked for:
a row is delivered once the clock has passed its second, all symbols of a second in one
batch, with the same faults as bars (drawn from a generator of their own, so a replay's bar
faults are the same with or without quotes); ``fetch_quotes`` answers every row whose second
has ended.

Faults (:class:`ReplayFaults`, from ``--fault`` specs, resolved on every day served): drop a
fraction or a time range of bars from the stream; deliver late (held back to the next batch) or
twice; lag every delivery; disconnect for a while (bars due meanwhile are lost; the outage is
reported on reconnect; a span may run overnight, into the next day); go mute while connected
(nothing sent until the span ends or :meth:`ReplayProvider.reconnect` is called, which reports
the outage); fail the next K fetches. Random choices come from a seeded generator, so a run is
repeatable.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as time_of_day
from operator import attrgetter
from typing import Any

import structlog

from actors.timer import ManualTime, WallTime
from domain.bars import Bar, datetime_to_ts
from domain.calendar.trading_calendar import TradingCalendar
from domain.config import SessionConfig
from domain.errors import CalendarError, ProviderError, ProviderUnavailable
from domain.intervals import Interval
from domain.providers import ConnectionState, QuietHours, ScaledClock, StreamSink
from domain.quotes import Quote
from domain.session.windows import DayHours
from ops.faults import ProviderFaults
from ops.providers.replay_days import (
    FixedReplayDay,
    ReplayDay,
    ReplayDays,
    StoredReplayDays,
    resolve_faults,
    stored_source_days,
    trading_hours,
)

__all__ = ["ReplayFaults", "ReplayProvider", "replay_from_store"]

log = structlog.get_logger("marketsession.replay")


@dataclass(frozen=True, slots=True)
class ReplayFaults:
    """Stream faults of a replay; times are UTC epoch seconds of the target day."""

    drop_fraction: float = 0.0
    drop_ranges: tuple[tuple[int, int], ...] = ()
    late_fraction: float = 0.0
    duplicate_fraction: float = 0.0
    lag_seconds: float = 0.0
    disconnects: tuple[tuple[int, int], ...] = ()
    """``(start_ts, end_ts)`` spans during which the stream is down."""
    mutes: tuple[tuple[int, int], ...] = ()
    """``(start_ts, end_ts)`` spans during which the stream stays connected but sends nothing
    (a mute socket), ended early by :meth:`ReplayProvider.reconnect`."""
    fetch_failures: int = 0
    seed: int = 0


class ReplayProvider:
    """See the module docstring. ``bars``: the shifted bars, any order, one interval; ``quotes``:
    the shifted quote rows, any order."""

    name = "replay"

    def __init__(
        self,
        bars: Sequence[Bar] = (),
        *,
        clock: ScaledClock,
        faults: ReplayFaults | None = None,
        time: WallTime | ManualTime | None = None,
        quotes: Sequence[Quote] = (),
        days: ReplayDays | None = None,
    ) -> None:
        self._clock = clock
        self._time = time or WallTime()
        self._wake = threading.Condition()
        self._time.attach(self._wake)
        self.waiting_for: float | None = None
        """The clock time the stream waits for (None while it sends, or once it is done)."""
        if days is None:  # bars given as they are: one span, its faults
            ordered = sorted(bars, key=lambda b: (b.ts, b.symbol))
            rows = sorted(quotes, key=lambda q: (q.ts, q.symbol, q.event_us))
            days = FixedReplayDay(ReplayDay(None, None, ordered, rows, faults or ReplayFaults()))
        self.days = days
        first = next(days.days_from(clock.now().timestamp()), None)
        self.faults = (first.faults if first is not None else None) or ReplayFaults()
        """The faults of the first day served."""
        intervals = {bar.interval for bar in first.bars} if first is not None else set()
        if len(intervals) > 1:
            raise ValueError(f"a replay serves one interval, got {sorted(intervals)}")
        self.interval = Interval.parse(intervals.pop() if intervals else "1m")
        self._held: list[ReplayDay] = [first] if first is not None else []  # what fetches answer from
        self._state = ConnectionState.DISCONNECTED
        self._stop = threading.Event()
        self._reconnect = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._fetch_failures_left = self.faults.fetch_failures
        faulted = ("sent", "dropped", "late", "duplicated", "lost_disconnected", "lost_muted")
        self.stats = dict.fromkeys((*faulted, *(f"quotes_{k}" for k in faulted), "fetches", "days"), 0)
        """What the stream did (``sent`` counts deliveries, duplicates included; ``quotes_…``
        the same of quotes; ``days`` the days it has begun)."""
        self.day: date | None = None
        """The target day being streamed."""
        self.dropped: list[Bar] = []
        """The bars the faults kept from the stream (of the day being streamed)."""
        self.dropped_quotes: list[Quote] = []
        """The quotes the faults kept from the stream (of the day being streamed)."""

    def last_day(self) -> date | None:
        """The last trading day this replay serves (the engine's run ends after it)."""
        return self.days.last_day()

    @property
    def state(self) -> ConnectionState:
        return self._state

    def clock(self) -> ScaledClock:
        return self._clock

    # ------------------------------------------------------------------ history

    def fetch_bars(self, symbols: Sequence[str], interval: str, start_ts: int, end_ts: int) -> list[Bar]:
        with self._lock:
            self.stats["fetches"] += 1
            if self._fetch_failures_left > 0:
                self._fetch_failures_left -= 1
                raise ProviderUnavailable("replay fault: the provider did not answer this fetch")
        if Interval.parse(interval) != self.interval:
            return []
        wanted = set(symbols)
        horizon = datetime_to_ts(self._clock.now()) - self.interval.seconds
        return sorted(
            (
                b
                for day in tuple(self._held)
                for b in day.bars
                if b.symbol in wanted and start_ts <= b.ts < end_ts and b.ts <= horizon
            ),
            key=lambda b: (b.symbol, b.ts),
        )

    def fetch_quotes(self, symbols: Sequence[str], start_ts: int, end_ts: int) -> list[Quote]:
        with self._lock:
            self.stats["fetches"] += 1
            if self._fetch_failures_left > 0:
                self._fetch_failures_left -= 1
                raise ProviderUnavailable("replay fault: the provider did not answer this fetch")
        wanted = set(symbols)
        horizon = datetime_to_ts(self._clock.now()) - 1
        return sorted(
            (
                q
                for day in tuple(self._held)
                for q in day.quotes
                if q.symbol in wanted and start_ts <= q.ts < end_ts and q.ts <= horizon
            ),
            key=lambda q: (q.symbol, q.event_us),
        )

    # ------------------------------------------------------------------ stream

    def start_stream(self, symbols: Sequence[str], sink: StreamSink, quotes: Sequence[str] = ()) -> None:
        if self._thread is not None:
            raise RuntimeError("the replay stream is already running")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(set(symbols), set(quotes), sink), name="marketsession-replay", daemon=True
        )
        self._thread.start()

    def reconnect(self, reason: str) -> None:
        """Drop the connection and connect again (the feed watchdog found the stream mute): a
        mute span ends, and what it kept from the stream is reported as an outage."""
        log.warning("replay_reconnect_asked", reason=reason)
        self._reconnect.set()
        with self._wake:
            self._wake.notify_all()

    def stop_stream(self, timeout: float) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        self._state = ConnectionState.CLOSED

    def _set_state(self, sink: StreamSink, state: ConnectionState, detail: str | None = None) -> None:
        self._state = state
        sink.state(state, detail)

    def caught_up(self) -> bool:
        """Whether the stream has sent everything due by the clock (or has ended)."""
        waiting, thread = self.waiting_for, self._thread
        return (
            thread is None
            or not thread.is_alive()
            or (waiting is not None and waiting > self._clock.now().timestamp())
        )

    def _wait_until(self, ts: float) -> bool:
        """Wait (interruptibly) until the clock reads ``ts``; False when stopped."""
        try:
            while not self._stop.is_set():
                with self._wake:  # read the clock under the lock an advance notifies: no lost wake-up
                    ahead = ts - self._clock.now().timestamp()
                    if ahead <= 0:
                        return True
                    self.waiting_for = ts
                    if not self._stop.is_set():
                        self._time.wait(self._wake, min(self._clock.wall_seconds(ahead), 1.0))
            return False
        finally:
            self.waiting_for = None

    def _begin(self, day: ReplayDay) -> None:
        """A day starts streaming: fetches answer from it and the day before."""
        with self._lock:
            if self._held and self._held[-1].target == day.target:
                self._held[-1] = day
            else:
                self._held = [*self._held[-1:], day]
                if self.stats["days"]:
                    self.dropped.clear()
                    self.dropped_quotes.clear()
        self.day = day.target
        self.stats["days"] += 1
        if day.target is not None:
            log.info("replay_day", day=day.target.isoformat(), source=str(day.source), bars=len(day.bars))

    def _run(self, symbols: set[str], quoted: set[str], sink: StreamSink) -> None:
        self._set_state(sink, ConnectionState.CONNECTING)
        self._set_state(sink, ConnectionState.CONNECTED)
        start = self._clock.now().timestamp()
        held: tuple[list[Any], list[Any]] = ([], [])  # late or duplicated items, sent with the next batch
        deliver = (sink.bars, sink.quotes)
        prefix = ("", "quotes_")
        kept = (self.dropped, self.dropped_quotes)
        spans: list[tuple[int, int]] = []  # disconnects still ahead (a day's may reach into the next)
        mutes: list[tuple[int, int]] = []
        mute: tuple[int, int] | None = None
        down: tuple[int, int] | None = None
        lost: list[int] = []  # starts of the bars lost while down
        seconds = self.interval.seconds

        def reconnect(down: tuple[int, int]) -> bool:
            if not self._wait_until(down[1]):
                return False
            self._set_state(sink, ConnectionState.CONNECTED, "replay: reconnected")
            if lost:  # the bars that were due while down
                sink.outage(lost[0], lost[-1] + seconds)
            else:
                sink.outage(down[0] - down[0] % seconds, down[1] - down[1] % seconds)
            lost.clear()
            return True

        def flush() -> None:
            for kind in (0, 1):
                if held[kind] and not self._stop.is_set():
                    self.stats[f"{prefix[kind]}sent"] += len(held[kind])
                    deliver[kind](held[kind][:])
                    held[kind].clear()

        try:
            for day in self.days.days_from(start):
                if self._stop.is_set():
                    return
                self._begin(day)
                faults = day.faults or ReplayFaults()
                rngs = (random.Random(faults.seed), random.Random(faults.seed + 1))  # bars', quotes'
                spans = sorted([*spans, *(span for span in faults.disconnects if span[1] > start)])
                mutes = sorted([*mutes, *(span for span in faults.mutes if span[1] > start)])
                events = _events(day, symbols, quoted, seconds)
                for end, kind, ts, items in events:
                    due = end + faults.lag_seconds
                    if due < start:
                        continue  # already past when the stream started
                    if down is None and spans and spans[0][0] <= due:
                        down = spans.pop(0)
                        if not self._wait_until(down[0]):
                            return
                        self._set_state(sink, ConnectionState.RECONNECTING, "replay fault: disconnected")
                    if down is not None and due >= down[1]:
                        if not reconnect(down):
                            return
                        down = None
                    if not self._wait_until(due):
                        return
                    if mute is None and mutes and mutes[0][0] <= due:
                        mute = mutes.pop(0)
                    if self._reconnect.is_set():  # asked to reconnect: a mute socket is replaced
                        self._reconnect.clear()
                        self._set_state(sink, ConnectionState.RECONNECTING, "replay: reconnect asked")
                        self._set_state(sink, ConnectionState.CONNECTED, "replay: reconnected")
                        if mute is not None:
                            now = int(self._clock.now().timestamp())
                            sink.outage(mute[0] - mute[0] % seconds, now - now % seconds)
                            mute = None
                    if mute is not None and due >= mute[1]:
                        mute = None
                    stat, rng = prefix[kind], rngs[kind]
                    if mute is not None:
                        self.stats[f"{stat}lost_muted"] += len(items)
                        kept[kind].extend(items)
                        continue
                    if down is not None:
                        self.stats[f"{stat}lost_disconnected"] += len(items)
                        kept[kind].extend(items)
                        if kind == 0:
                            lost.append(ts)
                        continue
                    out = held[kind][:]
                    held[kind].clear()
                    for item in items:
                        if rng.random() < faults.drop_fraction or any(
                            a <= item.ts < b for a, b in faults.drop_ranges
                        ):
                            self.stats[f"{stat}dropped"] += 1
                            kept[kind].append(item)
                        elif rng.random() < faults.late_fraction:
                            self.stats[f"{stat}late"] += 1
                            held[kind].append(item)
                        else:
                            out.append(item)
                            if rng.random() < faults.duplicate_fraction:
                                self.stats[f"{stat}duplicated"] += 1
                                held[kind].append(item)
                    if out:
                        self.stats[f"{stat}sent"] += len(out)
                        deliver[kind](out)
                if down is None:
                    flush()  # what was held back arrives before the day ends
            if down is not None and not reconnect(down):  # down past the last bar
                return
            flush()
        except Exception as error:  # a sink that raises must not kill the feed silently
            log.error("replay_stream_failed", error=f"{type(error).__name__}: {error}")
            self._set_state(sink, ConnectionState.FAILED, f"{type(error).__name__}: {error}")
            return
        log.info("replay_stream_done", **self.stats)


QUIET_MARGIN_SECONDS = 1800
"""How long before the open and after the close a replay's clock still runs at its speed (the
close's grace and the gap filler's drain happen there)."""


def _events(
    day: ReplayDay, symbols: set[str], quoted: set[str], seconds: int
) -> list[tuple[int, int, int, list[Any]]]:
    """A day's deliveries in time order, as ``(end, kind, start, items)``: a bar batch (kind 0)
    ends with its interval, quotes (kind 1) with their second."""
    bars = [bar for bar in day.bars if bar.symbol in symbols]
    quotes = [quote for quote in day.quotes if quote.symbol in quoted]
    events: list[tuple[int, int, int, list[Any]]] = [
        (ts + seconds, 0, ts, list(group)) for ts, group in itertools.groupby(bars, key=attrgetter("ts"))
    ]
    events.extend((ts + 1, 1, ts, list(g)) for ts, g in itertools.groupby(quotes, key=attrgetter("ts")))
    events.sort(key=lambda event: event[:2])
    return events


def replay_clock(
    start: datetime, speed: float, origin: float | None = None, quiet: QuietHours | None = None
) -> ScaledClock:
    """The replay's clock: ``start`` now, or at the Unix time ``origin`` (a session timeline
    that a restarted process rejoins where a real feed's clock would be); ``quiet``: its nights
    and weekends run faster still."""
    if origin is None:
        return ScaledClock(start.astimezone(UTC), speed, time.monotonic, quiet=quiet)
    return ScaledClock(start.astimezone(UTC), speed, time.time, origin, quiet=quiet)


def replay_from_store(
    store: Any,
    config: SessionConfig,
    *,
    source_day: date | None = None,
    target_day: date | None = None,
    days: int = 1,
    start: time_of_day | None = None,
    origin: float | None = None,
    speed: float = 1.0,
    quiet_factor: float = 1.0,
    faults: ProviderFaults | None = None,
    seed: int = 0,
    now: datetime | None = None,
) -> ReplayProvider:
    """A replay of the stored base bars of ``days`` trading days (see
    :mod:`ops.providers.replay_days`): the stored days from ``source_day`` (default: the latest
    stored trading day before the target with bars for the config's symbols), on the ``days``
    trading days from ``target_day`` (default: today, or the next trading day), the clock reading
    ``start`` (exchange time; default: now) of the first target day at the Unix time ``origin``
    (default: now), running ``speed`` times faster than the wall clock — ``quiet_factor`` times
    faster still outside the trading days' sessions and :data:`QUIET_MARGIN_SECONDS` either side
    (:class:`~domain.providers.QuietHours`).
    The faults repeat on every day, each day drawing its own random choices.

    Raises :class:`~domain.errors.ProviderError` when there is nothing to replay.
    """
    if days < 1:
        raise ProviderError(f"replay: days must be at least 1, got {days}")

    def calendar() -> TradingCalendar:
        return TradingCalendar(store.calendar, config.exchange_group, config.asset_class)

    now_calendar = calendar()
    zone = now_calendar.timezone()
    moment = (now or datetime.now(UTC)).astimezone(zone)
    target = target_day or now_calendar.get_first_trading_date(moment.date())
    target_hours = trading_hours(now_calendar, target)
    base = str(config.base_interval or "1m")
    source = source_day
    if source is None:  # the exchange date of the newest stored base bar before the target
        latest = store.bars.latest_ts(config.symbols, base, before_ts=target_hours.read_start_ts)
        if latest is None:
            raise ProviderError(
                f"replay: the store holds no {base} bars for {', '.join(config.symbols)} before "
                f"{target.isoformat()} (marketsession data demo or data import writes some)"
            )
        source = datetime.fromtimestamp(latest, UTC).astimezone(zone).date()
    trading_hours(now_calendar, source)  # a closed source day is refused, not moved on
    sources = stored_source_days(store, now_calendar, config.symbols, base, source, days)
    if not sources or sources[0] != source:
        raise ProviderError(
            f"replay: no {base} bars stored for {', '.join(config.symbols)} on {source.isoformat()} "
            "(marketsession data demo or data import writes some)"
        )
    plan = StoredReplayDays(
        store, config.symbols, base, sources, target, days, calendar,
        faults=lambda day: resolve_faults(faults, ReplayFaults, day, zone, seed + (day - target).days),
        quotes=config.wants_quotes,
    )  # fmt: skip
    if start is None:
        clock_start = moment if moment.date() == target else datetime.combine(target, time_of_day(4), zone)
    else:
        clock_start = datetime.combine(target, start, zone)
    log.info(
        "replay_planned", sources=[d.isoformat() for d in sources], target=target.isoformat(),
        days=days, last=str(plan.last_day()), start=clock_start.isoformat(), speed=speed,
    )  # fmt: skip
    extended = config.session_data_config.extended_hours

    def active(day: date) -> tuple[float, float] | None:
        """A trading day's session (with extended hours, from the pre-market open to the
        post-market close) and half an hour either side, in the calendar as it reads now."""
        try:
            session = calendar().get_trading_session(day)
        except CalendarError:  # beyond the seeded years: nothing trades there
            return None
        if session is None or not session.is_trading_day:
            return None
        start, end = DayHours.from_session(session).span(extended)
        return start - QUIET_MARGIN_SECONDS, end + QUIET_MARGIN_SECONDS

    quiet = QuietHours(quiet_factor, active, zone) if quiet_factor != 1.0 else None
    return ReplayProvider(clock=replay_clock(clock_start, speed, origin, quiet), days=plan)
