"""The geometry of a session day: :class:`DayHours` (a trading day's hours in epoch seconds), its
:class:`DaySegment` sessions (pre-market, regular, post-market), :class:`SessionWindows` (the
windows of one interval on one of them) and :class:`DayGrid` (the base windows of every session a
day scores), shared by the replay and the live day, derived bars and quality."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

import numpy as np

from domain.bars import datetime_to_ts
from domain.calendar.model import SessionType, TradingSession
from domain.intervals import Interval

__all__ = ["DayGrid", "DayHours", "DaySegment", "Refusal", "SessionWindows"]


class Refusal(StrEnum):
    """Why a bar does not enter the session: the one vocabulary of the replay and the live day,
    the keys of ``bars_not_in_session`` in the report (a bar rule it breaks is counted under the
    rule's own words, :func:`~domain.bars.bar_violation`)."""

    OUTSIDE_REGULAR_SESSION = "outside regular session"
    OUTSIDE_TRADING_HOURS = "outside trading hours"
    """Not in any session the day scores (with extended hours: before the pre-market, after the
    post-market, or between a pre-market that closes early and the open)."""
    IN_MIDDAY_BREAK = "in midday break"
    OFF_THE_GRID = "off the window grid"
    DUPLICATE = "duplicate"
    UNSUBSCRIBED_SYMBOL = "unsubscribed symbol"
    NOT_THE_STREAMED_INTERVAL = "not the streamed interval"
    NOT_TODAY = "not today"


@dataclass(frozen=True, slots=True)
class SessionWindows:
    """The windows of one interval on one session day: ``[open + k·seconds, …)``, cut at close.

    Indices run from 0 to :attr:`count` − 1. Windows lying wholly inside the midday break
    (``break_start_ts``/``break_end_ts``, both or neither) are *not expected*: they hold no
    trading time. All times are UTC epoch seconds.
    """

    open_ts: int
    close_ts: int
    seconds: int
    break_start_ts: int | None = None
    break_end_ts: int | None = None
    count: int = field(init=False)
    _skip_first: int = field(init=False, repr=False)  # break-only windows: [_skip_first, _skip_end)
    _skip_end: int = field(init=False, repr=False)
    _cut_index: int = field(init=False, repr=False)  # the window whose trading time ends at the break

    def __post_init__(self) -> None:
        if self.seconds <= 0:
            raise ValueError(f"window length must be positive, got {self.seconds} s")
        if not self.open_ts < self.close_ts:
            raise ValueError(f"session open {self.open_ts} is not before close {self.close_ts}")
        count = -(-(self.close_ts - self.open_ts) // self.seconds)
        skip_first = skip_end = 0
        cut = -1
        if (self.break_start_ts is None) != (self.break_end_ts is None):
            raise ValueError("a midday break needs both start and end")
        if self.break_start_ts is not None and self.break_end_ts is not None:
            start, end = self.break_start_ts, self.break_end_ts
            if not self.open_ts < start < end < self.close_ts:
                raise ValueError(
                    f"break [{start}, {end}) must lie inside the session ({self.open_ts}, {self.close_ts})"
                )
            skip_first = -(-(start - self.open_ts) // self.seconds)
            skip_end = max(skip_first, (end - self.open_ts) // self.seconds)
            if (start - self.open_ts) % self.seconds:
                k = (start - self.open_ts) // self.seconds
                if min(self.open_ts + (k + 1) * self.seconds, self.close_ts) <= end:
                    cut = k
        object.__setattr__(self, "count", count)
        object.__setattr__(self, "_skip_first", skip_first)
        object.__setattr__(self, "_skip_end", skip_end)
        object.__setattr__(self, "_cut_index", cut)

    def start(self, k: int) -> int:
        """Start (timestamp) of window ``k``."""
        return self.open_ts + k * self.seconds

    def end(self, k: int) -> int:
        """End of window ``k``'s trading time: cut at the close, or at the break it runs into."""
        if k == self._cut_index and self.break_start_ts is not None:
            return self.break_start_ts
        return min(self.open_ts + (k + 1) * self.seconds, self.close_ts)

    @property
    def break_windows(self) -> tuple[int, int]:
        """The indices ``[first, end)`` of the windows wholly inside the break (empty without)."""
        return self._skip_first, self._skip_end

    def is_expected(self, k: int) -> bool:
        """Whether window ``k`` holds trading time (is not wholly inside the break)."""
        return 0 <= k < self.count and not self._skip_first <= k < self._skip_end

    def index(self, ts: int) -> int | None:
        """The expected window starting at ``ts``, or ``None`` (outside, off the grid, in the break)."""
        if not self.open_ts <= ts < self.close_ts:
            return None
        k, rest = divmod(ts - self.open_ts, self.seconds)
        if rest or self._skip_first <= k < self._skip_end:
            return None
        return k

    def refusal(self, ts: int) -> str | None:
        """Why ``ts`` starts no expected window (a counted reason), or ``None`` if it does."""
        if not self.open_ts <= ts < self.close_ts:
            return Refusal.OUTSIDE_REGULAR_SESSION
        k, rest = divmod(ts - self.open_ts, self.seconds)
        if self._skip_first <= k < self._skip_end:
            return Refusal.IN_MIDDAY_BREAK
        if rest:
            return Refusal.OFF_THE_GRID
        return None

    def expected_in(self, lo: int, hi: int) -> int:
        """Number of expected windows with index in ``[lo, hi)``."""
        lo, hi = max(lo, 0), min(hi, self.count)
        if hi <= lo:
            return 0
        overlap = max(0, min(hi, self._skip_end) - max(lo, self._skip_first))
        return hi - lo - overlap

    def ended(self, now_ts: int) -> int:
        """How many windows (a prefix of the indices) have ended by ``min(now_ts, close)``."""
        horizon = min(now_ts, self.close_ts)
        if horizon >= self.close_ts:
            return self.count
        if horizon <= self.open_ts:
            return 0
        n = (horizon - self.open_ts) // self.seconds
        if n == self._cut_index and self.break_start_ts is not None and horizon >= self.break_start_ts:
            n += 1
        return n

    def previous_expected(self, k: int) -> int:
        """The expected window before ``k`` (−1 if none), skipping the break."""
        k -= 1
        return self._skip_first - 1 if self._skip_first <= k < self._skip_end else k

    def next_expected(self, k: int) -> int:
        """The expected window after ``k`` (``count`` if none), skipping the break."""
        k += 1
        return self._skip_end if self._skip_first <= k < self._skip_end else k


@dataclass(frozen=True, slots=True)
class DayHours:
    """The regular session of one trading day in UTC epoch seconds (break: both or neither)."""

    day: date
    open_ts: int
    close_ts: int
    is_early_close: bool = False
    break_start_ts: int | None = None
    break_end_ts: int | None = None
    pre_open_ts: int | None = None
    post_close_ts: int | None = None
    pre_close_ts: int | None = None
    """The pre-market's close when it is before the regular open (else the open)."""

    @classmethod
    def from_session(cls, session: TradingSession) -> DayHours:
        """The hours of a trading session; ``ValueError`` for a day that does not trade."""
        if not session.is_trading_day or session.regular_open is None or session.regular_close is None:
            raise ValueError(f"{session.date.isoformat()} is not a trading day of {session.exchange_group}")

        def ts(moment: object) -> int | None:
            return None if moment is None else datetime_to_ts(moment)  # type: ignore[arg-type]  # a session's times are datetimes

        open_ts, pre_close = datetime_to_ts(session.regular_open), ts(session.pre_market_close)

        return cls(
            day=session.date,
            open_ts=open_ts,
            close_ts=datetime_to_ts(session.regular_close),
            is_early_close=session.is_early_close,
            break_start_ts=ts(session.break_start),
            break_end_ts=ts(session.break_end),
            pre_open_ts=ts(session.pre_market_open),
            post_close_ts=ts(session.post_market_close),
            pre_close_ts=pre_close if pre_close is not None and pre_close < open_ts else None,
        )

    @property
    def read_start_ts(self) -> int:
        """Where a day's stored bars start: the pre-market open, else the regular open."""
        return self.open_ts if self.pre_open_ts is None else min(self.pre_open_ts, self.open_ts)

    @property
    def read_end_ts(self) -> int:
        """Where a day's stored bars end: the post-market close, else the regular close."""
        return self.close_ts if self.post_close_ts is None else max(self.post_close_ts, self.close_ts)

    def windows(self, interval: Interval) -> SessionWindows:
        """The windows of ``interval`` on the regular session."""
        return SessionWindows(
            self.open_ts, self.close_ts, interval.seconds, self.break_start_ts, self.break_end_ts
        )

    def segments(self, extended: bool = False) -> tuple[DaySegment, ...]:
        """The sessions a day scores, in time order: the regular one; with ``extended`` also the
        pre-market ``[pre-market open, open)`` and the post-market ``[close, post-market close)``
        where the calendar has them."""
        regular = DaySegment(
            SessionType.REGULAR, self.open_ts, self.close_ts, self.break_start_ts, self.break_end_ts
        )
        if not extended:
            return (regular,)
        segments = []
        if self.pre_open_ts is not None:
            pre_close = self.open_ts if self.pre_close_ts is None else min(self.pre_close_ts, self.open_ts)
            if self.pre_open_ts < pre_close:
                segments.append(DaySegment(SessionType.PRE_MARKET, self.pre_open_ts, pre_close))
        segments.append(regular)
        if self.post_close_ts is not None and self.post_close_ts > self.close_ts:
            segments.append(DaySegment(SessionType.POST_MARKET, self.close_ts, self.post_close_ts))
        return tuple(segments)

    def span(self, extended: bool = False) -> tuple[int, int]:
        """Where the scored day starts and ends: the regular open and close, or with ``extended``
        the pre-market open and the post-market close (where the calendar has them)."""
        segments = self.segments(extended)
        return segments[0].open_ts, segments[-1].close_ts

    def regular_seconds(self) -> int:
        """Trading seconds of the regular session (the break excluded)."""
        total = self.close_ts - self.open_ts
        if self.break_start_ts is not None and self.break_end_ts is not None:
            total -= self.break_end_ts - self.break_start_ts
        return total


@dataclass(frozen=True, slots=True)
class DaySegment:
    """One session of a trading day, scored on its own: the regular session (with its midday
    break, if any), or the pre-market or post-market one (SPEC §11 extended hours)."""

    session: SessionType
    open_ts: int
    close_ts: int
    break_start_ts: int | None = None
    break_end_ts: int | None = None

    def windows(self, interval: Interval) -> SessionWindows:
        """The windows of ``interval`` on this session, from its own open."""
        return SessionWindows(
            self.open_ts, self.close_ts, interval.seconds, self.break_start_ts, self.break_end_ts
        )


class DayGrid:
    """The base windows of every session a day scores (:meth:`DayHours.segments`): one
    :class:`SessionWindows` per session, each on the grid of its own open. Which bars enter the
    day (:meth:`refusal`), in which session (:meth:`locate`), and when a bar has ended (:meth:`end`)."""

    __slots__ = ("_opens", "end_ts", "outside", "segments", "start_ts", "windows")

    def __init__(self, hours: DayHours, base: Interval, extended: bool = False) -> None:
        self.segments = hours.segments(extended)
        self.windows = tuple(segment.windows(base) for segment in self.segments)
        self.start_ts, self.end_ts = self.segments[0].open_ts, self.segments[-1].close_ts
        self._opens = [segment.open_ts for segment in self.segments]
        self.outside = (
            Refusal.OUTSIDE_REGULAR_SESSION if len(self.segments) == 1 else Refusal.OUTSIDE_TRADING_HOURS
        )
        """Why a bar outside every session does not enter the day."""

    def locate(self, ts: int) -> int | None:
        """The position in :attr:`segments` of the session holding ``ts``, or ``None``."""
        i = bisect_right(self._opens, ts) - 1
        return i if i >= 0 and ts < self.segments[i].close_ts else None

    def refusal(self, ts: int) -> str | None:
        """Why a bar starting at ``ts`` does not enter the day (a counted reason), or ``None``."""
        i = self.locate(ts)
        return self.outside if i is None else self.windows[i].refusal(ts)

    def ends(self, starts: np.ndarray[Any, Any]) -> list[int]:
        """:meth:`end` of every window start in ``starts`` (int64, each one that enters the day),
        in vectorised passes."""
        out = np.empty(len(starts), dtype=np.int64)
        segment = np.searchsorted(np.asarray(self._opens), starts, side="right") - 1
        for i, windows in enumerate(self.windows):
            inside = segment == i
            k = (starts[inside] - windows.open_ts) // windows.seconds
            ends = np.minimum(windows.open_ts + (k + 1) * windows.seconds, windows.close_ts)
            if windows.break_start_ts is not None:
                ends[k == windows._cut_index] = windows.break_start_ts
            out[inside] = ends
        ends_list: list[int] = out.tolist()
        return ends_list

    def end(self, ts: int) -> int:
        """When the window starting at ``ts`` (one that enters the day) ends."""
        i = self.locate(ts)
        assert i is not None, f"{ts} is in no session of the day"
        windows = self.windows[i]
        return windows.end((ts - windows.open_ts) // windows.seconds)
