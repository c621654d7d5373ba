"""What a live session adds to the :class:`~actors.session_coordinator.SessionCoordinator`
(SPEC §5, §8): the provider's deliveries and their storage, gap fills, the provider's state,
planning the next trading day on the provider's clock, and the service's status.

- **Planning.** Today if its close (plus grace) is still ahead, else the next trading day; the
  day is loaded at its pre-market open (a timer wakes the coordinator). A service restarted after
  the close of a day it was running (its bars are in the store, it has no summary) closes that
  day first: what it missed is filled, and the summary written. A run that keeps running ends
  after its provider's last day (a replay's; a real provider has none).
- **The calendar reloaded**: a closure of today ends the session; an earlier close of today cuts
  the running day to the new hours; a closure of a coming day re-plans a waiting service.
- **Deliveries.** Every :class:`~domain.messages.commands.LiveBars` (told from the provider's
  thread) is sorted by the :class:`~domain.session.live_day.LiveDay`, handed to the
  :class:`~actors.bar_writer.BarWriter` (the store is the live checkpoint: a restart reads the day
  back), appended to the session and published at once.
- **Quotes.** Every :class:`~domain.messages.commands.LiveQuotes` is checked (the quote rules),
  kept per second in the session data (the last by event time), written and published
  (``quotes_appended``). The stream carries no sequence numbers, so a dropped quote cannot be
  seen on the wire: every minute that closes is fetched again, seconds later (``FillQuotes``,
  one window per symbol; after a restart, the day so far), and what the fetch holds that the
  stream did not takes the path of a delivery — counted as ``quotes_filled``.
- **Gaps.** Gap changes of the streamed interval go to the GapFiller (``TrackGaps``); its fills
  (``FillBars``) take the path of a delivery; at the close it drains the day (bounded).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from actors.bar_writer import BarsWritten, BuildBlocks, Flush, StoreDown, WriteBars, WriteQuotes
from actors.handle import Handle
from actors.pacing import BeginDay
from domain.bars import Bar, bar_violation
from domain.messages.commands import (
    DayBars,
    DayOpened,
    DrainGaps,
    FillBars,
    FillQuotes,
    GapAttempted,
    GapsDrained,
    LiveBars,
    LiveQuotes,
    OpenDay,
    ProviderOutage,
    ProviderStateChanged,
    QuotesFetched,
    ReloadCalendar,
)
from domain.messages.events import (
    BarsAppended,
    GapAbandoned,
    ProviderConnection,
    ProviderStalled,
    QuotesAppended,
)
from domain.providers import ConnectionState
from domain.quality.gaps import Gap, GapStatus
from domain.quotes import Quote, quote_violation
from domain.report import DaySummaries
from domain.session.latency import LatencyStats
from domain.session.lifecycle import LifecycleState
from domain.session.status import Latency, LiveStatus, SymbolStatus
from domain.session.watchdog import FeedWatchdog
from domain.session.windows import DayHours

__all__ = ["LiveFeed"]

log = structlog.get_logger("marketsession.live")

State = LifecycleState

QUOTE_SETTLE_SECONDS = 5
"""A minute's quotes are fetched again this many clock seconds after it closed: the stream's own
last quotes of the minute land first, and a fill counts only what the stream did not deliver."""


@dataclass(slots=True)
class _DrainTimeout:
    day: date


class LiveFeed:
    """The live half of the session coordinator (a mixin: it works on the coordinator's state)."""

    _day: Any
    _summaries: DaySummaries
    _closing: str | None

    def __init__(
        self: Any,
        *,
        gap_filler: Handle | None,
        writer: Handle | None,
        keep_running: bool,
        reconnect: Callable[[str], None] | None = None,
        last_day: Callable[[], date | None] | None = None,
    ) -> None:
        self._gap_filler, self._writer, self._keep_running = gap_filler, writer, keep_running
        self._reconnect = reconnect
        self._last_day = last_day  # the provider's last day (a replay's), read when planning
        watch = self.config.session_data_config.watchdog
        self._watchdog = FeedWatchdog(
            {
                "bars": self.pacing.watch_limit(watch.bars_after_seconds),
                "quotes": self.pacing.watch_limit(
                    watch.quotes_after_seconds if self.config.wants_quotes else 0
                ),
            }
        )
        self.provider_state = ConnectionState.DISCONNECTED.value
        self.provider_detail: str | None = None
        self.latency = LatencyStats()
        self.counters: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self._unstored: dict[int, WriteBars | WriteQuotes] = {}  # batches not yet written
        self._quote_windows: dict[tuple[str, int], Gap] = {}  # asked of the GapFiller, not answered
        self._quotes_asked: tuple[date, int] | None = None  # the day and end of the windows asked
        self._day_quotes_filled = 0
        self._batch = 0
        self._store_down = False
        self._opened: DayOpened | None = None  # a day opened to see whether it resumes
        self._planned: date | None = None

    def _on_live_message(self: Any, message: Any) -> Any:
        match message:
            case LiveBars(bars=bars, updated=updated, received=received):
                self._on_bars(bars, updated=updated, received=received)
            case LiveQuotes(quotes=quotes):
                self._on_quotes(quotes)
            case QuotesFetched():
                self._on_quotes_fetched(message)
            case FillBars():
                self._on_fill(message)
            case GapAttempted():
                self._on_attempt(message)
            case GapsDrained(day=day) | _DrainTimeout(day=day):
                if self._closing == "draining" and self._day is not None and self._day.hours.day == day:
                    if isinstance(message, _DrainTimeout):
                        self._warn("gap filling did not finish by the drain deadline; closing the day")
                    self._close_quality()
            case BarsWritten(batches=batches):
                for batch in batches:
                    entry = self._unstored.pop(batch, None)
                    if isinstance(entry, WriteBars) and not entry.filled:
                        self.counters["stored"] += len(entry.bars)
                    elif isinstance(entry, WriteQuotes):
                        self.counters["quotes_stored"] += len(entry.quotes)
                self._store_down = False
            case StoreDown(error=error):
                self.counters["store_errors"] += 1
                if not self._store_down:
                    self._store_down = True
                    self._warn(
                        f"the store is unavailable ({error}); bars are kept and written when it is back"
                    )
            case ProviderStateChanged():
                self._on_provider_state(message)
            case ProviderOutage(start_ts=start, end_ts=end):
                self.counters["outages"] += 1
                self._warn(f"provider stream down {self._hhmm(start)}–{self._hhmm(end)}")
            case ReloadCalendar():
                return self._on_reload_calendar()
            case _:
                raise TypeError(f"SessionCoordinator does not handle {type(message).__name__}")
        return None

    # ------------------------------------------------------------------ status

    def live_status(self: Any) -> LiveStatus:
        """Today's live session (``/status``, ``/metrics``)."""
        day = self._day
        now = self.pacing.now_ts()
        base = str(self._base)
        symbols: dict[str, SymbolStatus] = {}
        rules = self.config.session_data_config.quotes if self.config.wants_quotes else None
        for symbol in self._symbols:
            newest = day.newest_ts.get(symbol) if day is not None else None
            quotes = None
            if rules is not None and day is not None and now > day.hours.open_ts:
                quotes = self.data.quote_quality(
                    symbol, day.hours.open_ts, min(now, day.hours.close_ts), rules
                )
            symbols[symbol] = SymbolStatus(
                quality={i: self.data.quality(symbol, i) for i in self._intervals},
                bars={i: len(self.data.session_bars(symbol, i) or ()) for i in self._intervals},
                open_gaps=sum(g.status is GapStatus.OPEN for g in self.data.gaps(symbol, base)),
                newest_bar_ts=newest,
                lag_seconds=None if newest is None else max(0, now - (newest + self._base.seconds)),
                quotes=None if quotes is None else quotes.to_json(),
            )
        return LiveStatus(
            session=self.config.session_name,
            state=str(self.lifecycle.state),
            day=None if day is None else day.hours.day.isoformat(),
            open_ts=None if day is None else day.hours.open_ts,
            close_ts=None if day is None else day.hours.close_ts,
            now_ts=now,
            clock_speed=self.speed,
            loaded=day is not None,
            provider_state=self.provider_state,
            provider_detail=self.provider_detail,
            counters=dict(self.counters),
            refused=dict(self.refused),
            latency=Latency(
                count=self.latency.count,
                sum=self.latency.total,
                p50=self.latency.quantile(0.5),
                p99=self.latency.quantile(0.99),
                buckets=tuple(self.latency.cumulative()),
            ),
            symbols=symbols,
            days_done=tuple(d.isoformat() for d in self._summaries.dates),
            next_day=None if day is not None or self._planned is None else self._planned.isoformat(),
            stalled=tuple(stall.describe() for stall in self._watchdog.stalled),
            warnings=tuple((self._run_warnings + self._day_warnings)[-20:]),
        )

    # ------------------------------------------------------------------ planning and loading

    def _check_live_config(self: Any) -> None:
        if self.config.base_interval is None:
            raise ValueError("a live session streams bars: session_data_config.streams has no bar interval")
        if self.config.wants_ticks:
            self._warn("ticks: requested in streams, but no provider adapter streams ticks yet; not streamed")

    def _plan_live_day(self: Any) -> None:
        """Today if its close (plus grace) is still ahead, else the next trading day; loaded at
        its pre-market open (now if that has passed)."""
        if self.lifecycle.is_terminal:
            return
        now = self.pacing.now_ts()
        local = self.pacing.clock.now().astimezone(ZoneInfo(self._timezone)).date()
        day = self._tm.get_first_trading_date(local)
        hours = DayHours.from_session(self._tm.get_trading_session(day))
        done = day in self._summaries.dates
        end_ts = hours.span(self._extended)[1]
        if not done and now >= self.pacing.closes_at(end_ts) and self._resumable(day):
            self._begin_day(day)  # restarted after the close: fill what was missed, close the day
            return
        if done or now >= self.pacing.closes_at(end_ts):
            day = self._tm.get_next_trading_date(max(day, local))
            hours = DayHours.from_session(self._tm.get_trading_session(day))
        last = self._last_day() if self._last_day is not None else None
        if last is not None and day > last:
            log.info("provider_days_over", last=last.isoformat())
            self._complete()  # the provider serves no later day
            return
        self._planned = day
        self._plan += 1
        wait = self.pacing.wall_seconds(hours.read_start_ts - now)
        if wait > 0:
            log.info("waiting_for_session", day=day.isoformat(), wall_seconds=round(wait, 3))
            self._timer.send_after(wait, self.actor_ref, BeginDay(day, self._plan))
        else:
            self._begin_day(day)

    def _resumable(self: Any, day: date) -> bool:
        """Whether a day that has closed was running before this start: its bars are in the store
        and it has no summary yet (a service restarted after the close)."""
        if self.lifecycle.state is not State.CREATED:
            return False
        self._opened = self._loader.ask(OpenDay(day), timeout=self._ask_timeout)
        return any(len(cols) for cols in self._opened.bars.columns)

    def _take_opened(self, day: date) -> DayOpened | None:
        opened, self._opened = self._opened, None
        return opened if opened is not None and opened.bars.day == day else None

    def _resume_from_store(self: Any, stored: DayBars) -> None:
        """What was received before a restart is in the store: it enters the session again."""
        resumed = [bar for cols in stored.columns for bar in cols.bars()]
        if resumed:
            admitted = self._day.admit(resumed)
            self._append(admitted.session)
            self.counters["resumed"] += len(admitted.session)
            log.info("resumed_from_store", day=stored.day.isoformat(), bars=len(admitted.session))
        quotes = self.data.add_quotes(q for cols in stored.quotes for q in cols.quotes())
        self.counters["quotes_resumed"] += len(quotes)

    def _on_reload_calendar(self: Any) -> str:
        """Re-read the calendar (the TimeManager's cache is already cleared): a closure of the
        running day ends it; a waiting service re-plans its next day."""
        day = self._day
        if self.lifecycle.is_terminal:
            return "the run has ended: nothing to re-plan"
        if day is None:
            self._plan_live_day()
            return f"next session: {self._planned.isoformat() if self._planned else 'none'}"
        name = day.hours.day
        session = self._tm.get_trading_session(name)
        if session is None or not session.is_trading_day:
            why = getattr(session, "holiday_name", None) or "closed"
            self._warn(f"{name.isoformat()} is now closed in the calendar ({why}): the session ends now")
            if self._closing is None:
                self._end_day(early=True)
            return f"{name.isoformat()} closed: session ended"
        hours = DayHours.from_session(session)
        if hours == day.hours:
            return f"no change to {name.isoformat()}"
        old, new = self._hhmm(day.hours.close_ts), self._hhmm(hours.close_ts)
        if self._extended or hours.close_ts >= day.hours.close_ts or self._closing is not None:
            self._warn(
                f"{name.isoformat()}: the calendar changed today's hours (close {old} → {new}); "
                "the running session keeps its hours"
            )
            return "today's hours changed: applies from the next session"
        day.close_early(hours)  # the day now ends at the new close (after its grace)
        self._warn(
            f"{name.isoformat()}: the calendar closes today early, at {new} (was {old}); "
            "the session ends then"
        )
        return f"{name.isoformat()}: closes early at {new}"

    # ------------------------------------------------------------------ deliveries

    def _on_bars(self: Any, bars: Sequence[Bar], *, updated: bool, received: float) -> None:
        day = self._day
        self.counters["received"] += len(bars)
        if day is None:  # between sessions: stored, and read back when the next day loads
            base = str(self._base)
            valid = [
                b for b in bars
                if b.symbol in self._symbols and b.interval == base
                and bar_violation(b.open, b.high, b.low, b.close, b.volume) is None
            ]  # fmt: skip
            if valid:
                self._persist(valid, updated=updated)
            if len(valid) < len(bars):
                self.counters["dropped"] += len(bars) - len(valid)
                self.refused["invalid or unsubscribed between sessions"] += len(bars) - len(valid)
            return
        if bars:
            self._watchdog.delivered("bars", self.pacing.now_ts())
        before = Counter(day.refused)
        admitted = day.admit(bars, updated=updated)
        if admitted.stored:
            self._persist(admitted.stored, updated=updated)
        if admitted.refused:
            self.refused.update(day.refused - before)
            self.counters["dropped"] += admitted.refused
        if updated:
            self.counters["updated"] += len(admitted.session)
        else:
            self._day_streamed += len(admitted.session)
        self._append(admitted.session, received=received)

    def _persist(self: Any, bars: Sequence[Bar], *, updated: bool, filled: bool = False) -> None:
        """Hand ``bars`` to the BarWriter (``upsert`` for updated bars, else ``insert_missing``:
        a bar delivered twice changes nothing); kept here until written, and handed again to a
        restarted writer."""
        self._batch += 1
        self._write(WriteBars(self._batch, tuple(bars), updated, filled))

    def _persist_quotes(self: Any, quotes: Sequence[Quote], *, filled: bool = False) -> None:
        """Hand ``quotes`` to the BarWriter, as :meth:`_persist` does bars."""
        self._batch += 1
        self._write(WriteQuotes(self._batch, tuple(quotes), filled))

    def _write(self: Any, batch: WriteBars | WriteQuotes) -> None:
        self._unstored[batch.batch] = batch
        self._writer.tell(batch)

    # ------------------------------------------------------------------ quotes

    def _valid_quotes(self: Any, quotes: Sequence[Quote], symbols: Any) -> list[Quote]:
        """The quotes of ``symbols`` that keep the quote rules; the others counted as refused."""
        valid = [q for q in quotes if q.symbol in symbols and quote_violation(q) is None]
        if len(valid) < len(quotes):
            self.counters["quotes_dropped"] += len(quotes) - len(valid)
            self.refused["invalid or unsubscribed quote"] += len(quotes) - len(valid)
        return valid

    def _on_quotes(self: Any, quotes: Sequence[Quote]) -> None:
        self.counters["quotes_received"] += len(quotes)
        valid = self._valid_quotes(quotes, self._symbols if self.config.wants_quotes else ())
        day = self._day
        if day is None:  # between sessions: stored, and read back when the next day loads
            if valid:
                self._persist_quotes(valid)
            return
        if quotes:
            self._watchdog.delivered("quotes", self.pacing.now_ts())
        self._take_quotes(valid)

    def _take_quotes(self: Any, quotes: Sequence[Quote], *, filled: bool = False) -> int:
        """Quotes of today into the session: those that became their second's last are stored
        and published; how many."""
        changed = self.data.add_quotes(quotes)
        if changed:
            self._persist_quotes(changed, filled=filled)
            self._publish(
                QuotesAppended(self._day.hours.day, self._step, self.pacing.now_ts(), tuple(changed))
            )
        return len(changed)

    def _watch(self: Any, now: int) -> None:
        """The feed watchdog at a live step: a stream kind mute for its limit during the regular
        session is reported (event, warning, counter) and the provider told to reconnect."""
        if self.provider_state != ConnectionState.CONNECTED.value:
            return  # reconnecting already: silence is expected
        for stall in self._watchdog.check(now):
            self.counters["stalls"] += 1
            self._publish(ProviderStalled(stall.kind, stall.since_ts, now))
            self._warn(f"provider stalled: {stall.describe()}; reconnecting")
            if self._reconnect is not None:
                self._reconnect(f"stalled: {stall.describe()}")

    def _fill_quotes(self: Any, until: int) -> None:
        """Ask the GapFiller for the quotes of the minutes closed :data:`QUOTE_SETTLE_SECONDS`
        before ``until`` not asked for yet (one window per symbol); the first ask of a day covers
        the day so far."""
        day = self._day
        if day is None or self._gap_filler is None or not self.config.wants_quotes:
            return
        name = day.hours.day
        start = (
            self._quotes_asked[1] if self._quotes_asked and self._quotes_asked[0] == name else day.start_ts
        )
        settled = until - QUOTE_SETTLE_SECONDS
        end = min(settled - settled % 60, day.end_ts)
        if end <= start:
            return
        self._quotes_asked = (name, end)
        windows = tuple(Gap(symbol, "quotes", start, end, end - start) for symbol in self._symbols)
        self._quote_windows.update(((w.symbol, w.start_ts), w) for w in windows)
        self._gap_filler.tell(FillQuotes(name, windows))

    def _on_quotes_fetched(self: Any, message: QuotesFetched) -> None:
        window = message.window
        self._quote_windows.pop((window.symbol, window.start_ts), None)
        self.counters["quote_fetches"] += 1
        day = self._day
        if day is None or message.day != day.hours.day:
            return
        filled = self._take_quotes(self._valid_quotes(message.quotes, (window.symbol,)), filled=True)
        self.counters["quotes_filled"] += filled
        self._day_quotes_filled += filled

    def _on_quote_attempt(self: Any, message: GapAttempted) -> None:
        window = message.gap
        if message.error:
            self.counters["quote_fetch_errors"] += 1
        if window.status is GapStatus.ABANDONED:
            self._quote_windows.pop((window.symbol, window.start_ts), None)
            self.counters["quote_windows_abandoned"] += 1
            self._warn(
                f"{window.symbol} quotes {self._hhmm(window.start_ts)}–{self._hhmm(window.end_ts)}: "
                f"not fetched after {window.retry_count} tries; what the stream dropped there stays missing",
                day=message.day,
            )

    def _append(self: Any, bars: Sequence[Bar], *, received: float | None = None) -> None:
        if not bars:
            return
        self.data.append_session_bars(bars)
        self.counters["appended"] += len(bars)
        self._bars_streamed += len(bars)
        self._unscored.extend(bars)
        self._step += 1
        self._publish(BarsAppended(self._day.hours.day, self._step, self.pacing.now_ts(), tuple(bars)))
        if received is not None:
            self.latency.record(time.monotonic() - received, len(bars))

    def _on_fill(self: Any, message: FillBars) -> None:
        day = self._day
        if day is None or message.day != day.hours.day:
            return
        before = day.session_count
        admitted = day.admit(message.bars)
        if admitted.stored:
            self._persist(admitted.stored, updated=False, filled=True)
        self.counters["filled_bars"] += day.session_count - before
        self._append(admitted.session)
        derived = day.advance(self.pacing.now_ts())
        if derived:
            self.data.append_session_bars(derived)
            self.counters["derived"] += len(derived)
            self._unscored.extend(derived)
        self._score(self._scored_ts)

    # ------------------------------------------------------------------ gaps and the provider

    def _on_attempt(self: Any, message: GapAttempted) -> None:
        day = self._day
        if day is None or message.day != day.hours.day:
            return
        gap = message.gap
        if gap.interval == "quotes":
            self._on_quote_attempt(message)
            return
        self.counters["gap_fetches"] += gap.status is not GapStatus.ABANDONED
        if message.error:
            self.counters["gap_fetch_errors"] += 1
        known = self.data.gaps(gap.symbol, gap.interval)
        if any(g.start_ts == gap.start_ts for g in known):  # the session data's copy shows the attempt
            self.data.set_gaps(
                gap.symbol, gap.interval, [gap if g.start_ts == gap.start_ts else g for g in known]
            )
        if gap.status is GapStatus.ABANDONED:
            self.counters["gaps_abandoned"] += 1
            self._publish(GapAbandoned(message.day, gap))
            self._warn(
                f"{gap.symbol} {gap.interval}: gap {self._hhmm(gap.start_ts)}–{self._hhmm(gap.end_ts)} "
                f"abandoned after {gap.retry_count} fetches",
                day=message.day,
            )

    def _on_provider_state(self: Any, message: ProviderStateChanged) -> None:
        self.provider_state, self.provider_detail = message.state, message.detail
        if message.state == ConnectionState.RECONNECTING:
            self.counters["reconnects"] += 1
        self._publish(ProviderConnection(message.state, message.detail))
        if message.state == ConnectionState.FAILED:
            raise RuntimeError(f"the market-data provider failed: {message.detail or 'no detail'}")

    def _drain(self: Any) -> None:
        """Scored up to the close: the GapFiller fetches what is still missing (bounded)."""
        if self._gap_filler is None or self._ended_early:
            self._close_quality()
            return
        day = self._day.hours.day
        self._closing = "draining"
        self._fill_quotes(self._day.end_ts + QUOTE_SETTLE_SECONDS)
        self._gap_filler.tell(DrainGaps(day))
        gf = self.config.session_data_config.gap_filler
        bound = (gf.max_retries + 1) * gf.retry_interval_seconds / self.speed + self._ask_timeout
        self._timer.send_after(bound, self.actor_ref, _DrainTimeout(day))

    def _on_live_child_restarted(self: Any, name: str) -> None:
        if name == "bar_writer":  # hand the new one every batch not yet written
            for batch in self._unstored.values():
                self._writer.tell(batch)
        elif name == "gap_filler":  # it has its gaps from the quality, its quote windows from here
            if self._quote_windows and self._day is not None:
                self._gap_filler.tell(FillQuotes(self._day.hours.day, tuple(self._quote_windows.values())))
            if self._closing == "draining":
                self._gap_filler.tell(DrainGaps(self._day.hours.day))

    def _day_stored(self: Any) -> None:
        """A live day closed: the writer builds the column blocks of what it stored."""
        if self._writer is not None:
            self._writer.tell(BuildBlocks(self._symbols, str(self._base)))

    def _flush_writes(self: Any) -> None:
        """At the end of the run: one last try of what the store has not taken; the rest is lost."""
        if not self._unstored:
            return
        try:
            left = set(self._writer.ask(Flush(), timeout=self._ask_timeout))
        except Exception:  # the writer is gone: nothing more gets written
            left = set(self._unstored)
        lost = sum(len(b.bars) for n, b in self._unstored.items() if n in left and isinstance(b, WriteBars))
        if lost:
            self._warn(f"{lost} received bar(s) could not be stored: the store stayed unavailable")
        lost = sum(
            len(b.quotes) for n, b in self._unstored.items() if n in left and isinstance(b, WriteQuotes)
        )
        if lost:
            self._warn(f"{lost} received quote(s) could not be stored: the store stayed unavailable")

    def _hhmm(self: Any, ts: int) -> str:
        return datetime.fromtimestamp(ts, UTC).astimezone(ZoneInfo(self._timezone)).strftime("%H:%M")
