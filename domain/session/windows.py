"""The geometry of a session day: :class:`DayHours` (a trading session in epoch seconds) and
:class:`SessionWindows` (the windows of one interval on it), shared by derived bars and quality."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from domain.bars import datetime_to_ts
from domain.calendar.model import TradingSession
from domain.intervals import Interval

__all__ = ["DayHours", "Refusal", "SessionWindows"]


class Refusal(StrEnum):
    """Why a bar does not enter the session: the one vocabulary of the replay and the live day,
    the keys of ``bars_not_in_session`` in the report (a bar rule it breaks is counted under the
    rule's own words, :func:`~domain.bars.bar_violation`)."""

    OUTSIDE_REGULAR_SESSION = "outside regular session"
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

    @classmethod
    def from_session(cls, session: TradingSession) -> DayHours:
        """The hours of a trading session; ``ValueError`` for a day that does not trade."""
        if not session.is_trading_day or session.regular_open is None or session.regular_close is None:
            raise ValueError(f"{session.date.isoformat()} is not a trading day of {session.exchange_group}")

        def ts(moment: object) -> int | None:
            return None if moment is None else datetime_to_ts(moment)  # type: ignore[arg-type]  # a session's times are datetimes

        return cls(
            day=session.date,
            open_ts=datetime_to_ts(session.regular_open),
            close_ts=datetime_to_ts(session.regular_close),
            is_early_close=session.is_early_close,
            break_start_ts=ts(session.break_start),
            break_end_ts=ts(session.break_end),
            pre_open_ts=ts(session.pre_market_open),
            post_close_ts=ts(session.post_market_close),
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
        return SessionWindows(
            self.open_ts, self.close_ts, interval.seconds, self.break_start_ts, self.break_end_ts
        )

    def regular_seconds(self) -> int:
        """Trading seconds of the regular session (the break excluded)."""
        total = self.close_ts - self.open_ts
        if self.break_start_ts is not None and self.break_end_ts is not None:
            total -= self.break_end_ts - self.break_start_ts
        return total
