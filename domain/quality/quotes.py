"""Quote quality (SPEC §12): how good one symbol's top of book was over a session, second by second.

The store keeps one quote row per symbol and second (:mod:`domain.quotes`), the book as it stood
at the end of that second, and no row while the book did not change. So the book *during*
second ``s`` is the latest row with ``ts <= s``, and its **age** is ``s - ts`` of that row: the
seconds since the book last changed. Every second of the scored span (the regular session up to
the session clock) is in exactly one state, the first that applies:

``no quote``   no row yet this session;
``halted``     the book's conditions hold one of the configured halt codes;
``one-sided``  a bid or an ask is missing;
``crossed``    bid above ask (within the import tolerance: beyond it a quote is refused);
``locked``     bid equal to ask;
``stale``      two-sided and uncrossed, but older than ``stale_after`` seconds;
``valid``      two-sided, bid below ask, fresh.

**Two-sided coverage** is the share of the span's seconds that are ``valid``. Crossed and locked
time is counted in seconds and in episodes (runs of consecutive seconds). Spread statistics
(median, 95th percentile and maximum, in basis points of the mid) are time-weighted over the
fresh, uncrossed two-sided seconds (``valid`` and fresh ``locked``, at 0 bps). A 1m bar's close is
checked against the book at the bar's end (the row of its last second or before): the share of
checked closes inside ``[bid, ask]``, of the bars whose end has a two-sided book.

:func:`score_quotes` is a pure function of the rows, the span and the bars: the same at the
close of a replay and of a live session, and for a snapshot taken mid-session (``until_ts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from domain.quotes import QuoteColumns

__all__ = [
    "DEFAULT_HALT_CONDITIONS",
    "DEFAULT_STALE_AFTER",
    "QuoteQuality",
    "QuoteSeriesAudit",
    "score_quotes",
]

DEFAULT_STALE_AFTER = 60
"""Seconds a two-sided book may stand unchanged before it counts as stale."""

DEFAULT_HALT_CONDITIONS = ("H", "D", "I", "J", "K", "M", "P", "Q", "V")
"""Quote conditions read as a halted book: ``H`` (halt, as in Nasdaq's UTP feed) and the CQS
codes of the halt reasons (news dissemination or pending, order imbalance, related security,
additional information, in view of common). A source with other codes configures its own."""

_NONE, _HALTED, _ONE_SIDED, _CROSSED, _LOCKED, _STALE, _VALID = range(7)


@dataclass(frozen=True, slots=True)
class QuoteQuality:
    """One symbol's quote quality over a span of session seconds; see the module docstring."""

    seconds: int
    """Seconds scored (the regular session up to the clock)."""
    rows: int
    """Quote rows in the span (book changes, at most one a second)."""
    valid_seconds: int
    no_quote_seconds: int
    halted_seconds: int
    one_sided_seconds: int
    crossed_seconds: int
    crossed_count: int
    locked_seconds: int
    locked_count: int
    stale_seconds: int
    stale_count: int
    max_age_seconds: int | None
    """The oldest the book got while there was one (None: no quote in the span)."""
    age_seconds: int | None
    """The book's age at the span's end: the staleness now (None: no quote yet)."""
    spread_median_bps: float | None
    spread_p95_bps: float | None
    spread_max_bps: float | None
    closes_checked: int
    closes_inside: int

    @property
    def coverage(self) -> float:
        """Two-sided coverage, in percent of the seconds scored (100 for an empty span)."""
        return 100.0 if self.seconds == 0 else round(100.0 * self.valid_seconds / self.seconds, 2)

    @property
    def closes_inside_share(self) -> float | None:
        """Percent of checked 1m closes inside the quote at the bar's end (None: none checked)."""
        if self.closes_checked == 0:
            return None
        return round(100.0 * self.closes_inside / self.closes_checked, 2)

    def to_json(self) -> dict[str, Any]:
        return {
            "coverage": self.coverage,
            "seconds": self.seconds,
            "rows": self.rows,
            "valid_seconds": self.valid_seconds,
            "no_quote_seconds": self.no_quote_seconds,
            "halted_seconds": self.halted_seconds,
            "one_sided_seconds": self.one_sided_seconds,
            "crossed": {"count": self.crossed_count, "seconds": self.crossed_seconds},
            "locked": {"count": self.locked_count, "seconds": self.locked_seconds},
            "stale": {"count": self.stale_count, "seconds": self.stale_seconds},
            "max_age_seconds": self.max_age_seconds,
            "age_seconds": self.age_seconds,
            "spread_bps": {
                "median": self.spread_median_bps,
                "p95": self.spread_p95_bps,
                "max": self.spread_max_bps,
            },
            "closes_inside": {
                "checked": self.closes_checked,
                "inside": self.closes_inside,
                "share": self.closes_inside_share,
            },
        }


def score_quotes(
    cols: QuoteColumns,
    open_ts: int,
    until_ts: int,
    *,
    stale_after: int = DEFAULT_STALE_AFTER,
    halt_conditions: Sequence[str] = DEFAULT_HALT_CONDITIONS,
    bar_starts: Sequence[int] | np.ndarray[Any, Any] = (),
    bar_closes: Sequence[float] | np.ndarray[Any, Any] = (),
) -> QuoteQuality:
    """The quality of ``cols`` (one symbol's rows, sorted by second) over the seconds
    ``[open_ts, until_ts)``; ``bar_starts``/``bar_closes`` are the symbol's 1m bars (start
    second, close), of which those ending by ``until_ts`` are checked."""
    span = max(0, until_ts - open_ts)
    ts = np.frombuffer(cols.ts, dtype=np.int64)
    seconds = np.arange(open_ts, open_ts + span, dtype=np.int64)
    row = np.searchsorted(ts, seconds, side="right") - 1  # the book of each second: latest ts <= s
    first_in_span = int(np.searchsorted(ts, open_ts, side="left"))
    rows = int(np.searchsorted(ts, until_ts, side="left")) - first_in_span
    has = row >= 0
    at = np.where(has, row, 0)
    bid = np.frombuffer(cols.bid, dtype=np.float64)
    ask = np.frombuffer(cols.ask, dtype=np.float64)
    b, a = (bid[at], ask[at]) if len(ts) else (np.full(span, np.nan), np.full(span, np.nan))
    age = seconds - (ts[at] if len(ts) else seconds)
    conditions = [labels[2] for labels in cols.labels]
    verdict = {text: _halted(text, halt_conditions) for text in set(conditions)}  # few distinct values
    halted_rows = np.fromiter((verdict[text] for text in conditions), dtype=bool, count=len(conditions))
    halted = has & (halted_rows[at] if len(ts) else False)
    two_sided = ~(np.isnan(b) | np.isnan(a))
    state = np.full(span, _VALID, dtype=np.int8)
    state[two_sided & (age > stale_after)] = _STALE
    state[two_sided & (b == a)] = _LOCKED
    state[two_sided & (b > a)] = _CROSSED
    state[~two_sided] = _ONE_SIDED
    state[halted] = _HALTED
    state[~has] = _NONE

    fresh = two_sided & (b <= a) & (age <= stale_after) & has & ~halted
    spread = ((a - b) / ((a + b) / 2.0) * 1e4)[fresh]
    median, p95, top = (
        (float(np.round(v, 3)) for v in (np.median(spread), np.percentile(spread, 95), spread.max()))
        if spread.size
        else (None, None, None)
    )
    checked, inside = _closes_inside(
        ts, bid, ask, np.asarray(bar_starts, np.int64), bar_closes, open_ts, until_ts
    )
    quoted_age = age[has]
    return QuoteQuality(
        seconds=span,
        rows=rows,
        valid_seconds=int(np.count_nonzero(state == _VALID)),
        no_quote_seconds=int(np.count_nonzero(state == _NONE)),
        halted_seconds=int(np.count_nonzero(state == _HALTED)),
        one_sided_seconds=int(np.count_nonzero(state == _ONE_SIDED)),
        crossed_seconds=int(np.count_nonzero(state == _CROSSED)),
        crossed_count=_runs(state == _CROSSED),
        locked_seconds=int(np.count_nonzero(state == _LOCKED)),
        locked_count=_runs(state == _LOCKED),
        stale_seconds=int(np.count_nonzero(state == _STALE)),
        stale_count=_runs(state == _STALE),
        max_age_seconds=int(quoted_age.max()) if quoted_age.size else None,
        age_seconds=int(quoted_age[-1]) if quoted_age.size and has[-1] else None,
        spread_median_bps=median,
        spread_p95_bps=p95,
        spread_max_bps=top,
        closes_checked=checked,
        closes_inside=inside,
    )


@dataclass(slots=True)
class QuoteSeriesAudit:
    """The trading days of one symbol's stored quotes (``data audit``), summed: coverage over
    all their seconds, crossed, locked and stale time, the closes inside, and the worst day."""

    symbol: str
    days: int = 0
    seconds: int = 0
    valid_seconds: int = 0
    crossed_count: int = 0
    crossed_seconds: int = 0
    locked_count: int = 0
    locked_seconds: int = 0
    stale_seconds: int = 0
    one_sided_seconds: int = 0
    halted_seconds: int = 0
    no_quote_seconds: int = 0
    closes_checked: int = 0
    closes_inside: int = 0
    spread_medians: list[float] = field(default_factory=list)
    worst: tuple[date, float] | None = None
    """The day of lowest coverage, and that coverage."""

    def add(self, day: date, q: QuoteQuality) -> None:
        self.days += 1
        self.seconds += q.seconds
        self.valid_seconds += q.valid_seconds
        self.crossed_count += q.crossed_count
        self.crossed_seconds += q.crossed_seconds
        self.locked_count += q.locked_count
        self.locked_seconds += q.locked_seconds
        self.stale_seconds += q.stale_seconds
        self.one_sided_seconds += q.one_sided_seconds
        self.halted_seconds += q.halted_seconds
        self.no_quote_seconds += q.no_quote_seconds
        self.closes_checked += q.closes_checked
        self.closes_inside += q.closes_inside
        if q.spread_median_bps is not None:
            self.spread_medians.append(q.spread_median_bps)
        if self.worst is None or q.coverage < self.worst[1]:
            self.worst = (day, q.coverage)

    @property
    def coverage(self) -> float | None:
        return None if not self.seconds else round(100.0 * self.valid_seconds / self.seconds, 2)

    @property
    def spread_median_bps(self) -> float | None:
        """The median of the days' median spreads."""
        return float(np.median(self.spread_medians)) if self.spread_medians else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "days": self.days,
            "coverage": self.coverage,
            "seconds": self.seconds,
            "crossed": {"count": self.crossed_count, "seconds": self.crossed_seconds},
            "locked": {"count": self.locked_count, "seconds": self.locked_seconds},
            "stale_seconds": self.stale_seconds,
            "one_sided_seconds": self.one_sided_seconds,
            "halted_seconds": self.halted_seconds,
            "no_quote_seconds": self.no_quote_seconds,
            "spread_median_bps": self.spread_median_bps,
            "closes_inside": {"checked": self.closes_checked, "inside": self.closes_inside},
            "worst_day": None
            if self.worst is None
            else {"date": self.worst[0].isoformat(), "coverage": self.worst[1]},
        }


def _halted(conditions: str | None, codes: Sequence[str]) -> bool:
    return conditions is not None and any(code.strip() in codes for code in conditions.split(","))


def _runs(mask: np.ndarray[Any, Any]) -> int:
    """How many runs of consecutive True values ``mask`` holds."""
    if not mask.size:
        return 0
    return int(mask[0]) + int(np.count_nonzero(mask[1:] & ~mask[:-1]))


def _closes_inside(
    ts: np.ndarray[Any, Any],
    bid: np.ndarray[Any, Any],
    ask: np.ndarray[Any, Any],
    starts: np.ndarray[Any, Any],
    closes: Sequence[float] | np.ndarray[Any, Any],
    open_ts: int,
    until_ts: int,
) -> tuple[int, int]:
    """(checked, inside): the 1m bars of the span ended by ``until_ts`` whose end has a two-sided
    book, and of those the closes within ``[bid, ask]``."""
    close = np.asarray(closes, dtype=np.float64)
    keep = (starts >= open_ts) & (starts + 60 <= until_ts)
    starts, close = starts[keep], close[keep]
    if not starts.size or not ts.size:
        return 0, 0
    row = np.searchsorted(ts, starts + 59, side="right") - 1  # the book at the bar's last second
    has = row >= 0
    b, a = bid[np.where(has, row, 0)], ask[np.where(has, row, 0)]
    two_sided = has & ~(np.isnan(b) | np.isnan(a))
    inside = two_sided & (b <= close) & (close <= a)
    return int(np.count_nonzero(two_sided)), int(np.count_nonzero(inside))
