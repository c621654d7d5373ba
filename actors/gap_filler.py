"""GapFiller: fetches the missing bars of open gaps from the provider (SPEC §8; live mode with
``enable_session_quality`` only).

The QualityCalculator tells it every change of the gaps of the streamed interval
(:class:`~domain.messages.commands.TrackGaps`); :class:`~domain.quality.gap_book.GapBook` says which
gaps are due. For each due gap the filler asks the provider for ``[start, end)`` on its own thread —
streaming never waits for it — and tells the coordinator the bars
(:class:`~domain.messages.commands.FillBars`: merged in time order, stored, derived bars rebuilt,
re-scored) and the attempt (:class:`~domain.messages.commands.GapAttempted`), which it also records
on the QualityCalculator's gap (:class:`~domain.messages.commands.MarkGap`). A gap still open after
``max_retries`` fetches is abandoned (``GapAttempted`` with status ``abandoned``; the coordinator
publishes ``GapAbandoned``). A provider error is one failed attempt, never a crash; a rate limit
also pushes the next fetch back by the provider's ``Retry-After``.

Quote windows (:class:`~domain.messages.commands.FillQuotes`: a live session streaming quotes
asks for every closed minute and every outage) are fetched the same way, from their own
:class:`~domain.quality.gap_book.GapBook`: ``fetch_quotes`` per symbol and window, the quotes
told back (:class:`~domain.messages.commands.QuotesFetched`), the window done after one answer
and abandoned after ``max_retries`` failed ones. No quote is tracked by the QualityCalculator:
the coordinator keeps the windows not yet answered and hands them to a restarted GapFiller.

Gap state lives with the QualityCalculator: a restarted GapFiller is handed the open gaps again,
each with its fetches so far, and goes on from there. At the close the coordinator asks for a
drain (:class:`~domain.messages.commands.DrainGaps`);
:class:`~domain.messages.commands.GapsDrained` answers when no gap of the day is left to fetch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from typing import Any

import structlog

from actors.handle import Handle
from actors.quality_calculator import AttachCoordinator
from actors.supervisor import EngineActor
from actors.timer import Timer
from domain.bars import datetime_to_ts
from domain.clock import Clock
from domain.errors import ProviderError, ProviderRateLimited
from domain.messages.commands import (
    DrainGaps,
    FillBars,
    FillQuotes,
    GapAttempted,
    GapsDrained,
    MarkGap,
    QuotesFetched,
    TrackGaps,
)
from domain.providers import MarketDataProvider
from domain.quality.gap_book import GapBook
from domain.quality.gaps import Gap, GapStatus

__all__ = ["GapFiller"]

log = structlog.get_logger("marketsession.gap_filler")


class _Wake:
    """Private timer message: fetch what is due."""

    __slots__ = ()


class GapFiller(EngineActor):
    actor_name = "gap_filler"

    def __init__(
        self,
        provider: MarketDataProvider,
        *,
        clock: Clock,
        clock_speed: float,
        timer: Timer,
        max_retries: int,
        retry_interval: int,
        quality: Handle,
    ) -> None:
        super().__init__()
        self._provider = provider
        self._clock = clock
        self._speed = clock_speed
        self._timer = timer
        self._quality = quality
        self._book = GapBook(max_retries, retry_interval)
        self._quote_book = GapBook(max_retries, retry_interval)
        self._day: date | None = None
        self._coordinator: Any = None
        self._wake_at: int | None = None  # clock ts of the armed wake-up
        self._draining: date | None = None

    def on_receive(self, message: Any) -> Any:
        match message:
            case TrackGaps():
                self._track(message)
            case FillQuotes(day=day, windows=windows):
                self._new_day(day)
                self._quote_book.track(windows, (), self._now())
                self._fetch_due()
            case _Wake():
                self._wake_at = None
                self._fetch_due()
            case DrainGaps(day=day):
                self._draining = day
                self._check_drained()
            case AttachCoordinator(ref=ref):
                self._coordinator = ref
            case _:
                raise TypeError(f"GapFiller does not handle {type(message).__name__}")
        return None

    # ------------------------------------------------------------------ internals

    def _now(self) -> int:
        return datetime_to_ts(self._clock.now())

    def _new_day(self, day: date) -> None:
        if day != self._day:  # a new day: yesterday's gaps are no longer fetched
            self._book.clear()
            self._quote_book.clear()
            self._day = day

    def _track(self, message: TrackGaps) -> None:
        self._new_day(message.day)
        self._book.track(message.opened, message.closed, message.now_ts or self._now())
        self._arm()
        self._check_drained()

    def _fetch_due(self) -> None:
        day, now = self._day, self._now()
        self._fetch_book(self._book, day, now, self._fetch_bars, self._attempted)
        self._fetch_book(self._quote_book, day, now, self._fetch_quotes, self._quote_attempted)
        self._arm()
        self._check_drained()

    def _fetch_book(
        self,
        book: GapBook,
        day: date | None,
        now: int,
        fetch: Callable[[date, Gap], None],
        attempted: Callable[[date | None, Gap, str | None], None],
    ) -> None:
        """Fetch the due gaps of ``book`` (``fetch`` tells the coordinator what came), give up
        on those out of retries; each attempt goes to ``attempted``."""
        due, abandoned = book.due(now)
        for gap in abandoned:
            log.warning(
                "gap_abandoned", symbol=gap.symbol, interval=gap.interval, start_ts=gap.start_ts,
                end_ts=gap.end_ts, attempts=gap.retry_count,
            )  # fmt: skip
            attempted(day, gap, None)
        for gap in due:
            attempt = book.attempted(gap, now)
            if attempt is None or day is None:
                continue
            try:
                fetch(day, attempt)
            except ProviderError as error:
                cause = f"{type(error).__name__}: {error}"
                log.warning(
                    "gap_fetch_failed",
                    symbol=gap.symbol,
                    interval=gap.interval,
                    start_ts=gap.start_ts,
                    error=cause,
                )
                if isinstance(error, ProviderRateLimited) and error.retry_after:
                    book.postpone(attempt, now + math.ceil(error.retry_after * self._speed))
                attempted(day, attempt, cause)
                continue
            attempted(day, attempt, None)

    def _fetch_bars(self, day: date, gap: Gap) -> None:
        bars = self._provider.fetch_bars([gap.symbol], gap.interval, gap.start_ts, gap.end_ts)
        if bars:
            self._tell(FillBars(day, gap, tuple(bars)))

    def _fetch_quotes(self, day: date, window: Gap) -> None:
        quotes = self._provider.fetch_quotes([window.symbol], window.start_ts, window.end_ts)
        self._quote_book.track((), (window,), self._now())  # answered: done
        self._tell(QuotesFetched(day, window, tuple(quotes)))

    def _arm(self) -> None:
        """Arm one timer for the earliest due gap (wall delay = clock delay / speed)."""
        due = min(
            (d for d in (self._book.next_due(), self._quote_book.next_due()) if d is not None), default=None
        )
        if due is None or (self._wake_at is not None and self._wake_at <= due):
            return
        self._wake_at = due
        delay = max(0.0, (due - self._now()) / self._speed)
        self._timer.send_after(delay, self.actor_ref, _Wake())

    def _check_drained(self) -> None:
        # drained: no gap of the day left, or nothing tracked for that day
        if self._draining is not None and (
            self._draining != self._day or not (len(self._book) or len(self._quote_book))
        ):
            self._tell(GapsDrained(self._draining))
            self._draining = None

    def _tell(self, message: Any) -> None:
        if self._coordinator is not None:
            self._coordinator.tell(message)

    def _attempted(self, day: date | None, gap: Gap, error: str | None = None) -> None:
        """A fetch of ``gap`` (or giving it up): recorded on the QualityCalculator's gap, and told
        to the coordinator (events, counters, warnings)."""
        if day is None:
            return
        self._quality.tell(MarkGap(day, gap))
        self._tell(GapAttempted(day, gap, error))

    def _quote_attempted(self, day: date | None, window: Gap, error: str | None = None) -> None:
        """A failed fetch of a quote window, or giving it up, told to the coordinator (an answer
        is its :class:`QuotesFetched`; no quote window is tracked by the QualityCalculator)."""
        if day is not None and (error is not None or window.status is GapStatus.ABANDONED):
            self._tell(GapAttempted(day, window, error))
