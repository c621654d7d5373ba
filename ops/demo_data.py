"""Deterministic synthetic bars for demos and tests (``marketsession data demo``).

For every trading day of the calendar in ``[start, end]`` and every symbol, one 1m bar per
minute of the regular session (early closes and midday breaks respected), with:

- prices: a per-minute random walk of log-returns (per-symbol daily volatility of 1.2–3.5 %,
  higher near the open and the close) bridged from the day's anchor price towards the next
  day's, so closes flow into the next opens with a small overnight gap. Per-symbol start prices
  lie between 10 and 500; prices are in cents and every bar satisfies the bar rules of SPEC §7;
- volume: a U-shaped intraday profile (heavy at the open, a smaller bump into the close) times a
  per-symbol average and log-normal noise;
- gaps: about 0.5 % of minutes are missing, mostly single minutes, sometimes runs of 2–3.

Determinism: the same seed, symbols and dates always give the same bars. Every (seed, symbol,
day) has its own random generator, seeded from a stable hash (BLAKE2b, not Python's salted
``hash()``), and a day's anchor price is a function of (seed, symbol, date) alone. So the bars
of a symbol do not depend on the order or the set of the other symbols, nor on the range
requested: demo data for July 1–3 and for July 2–5 agree on July 2–3, and writing overlapping
ranges (upserts) never rewrites a bar with different values.

Intervals other than 1m are aggregated from the same 1m bars as SPEC §7 derives them: windows
anchored at the regular open, timestamp = window start, a window with no bar is missing; ``1d``
gives one bar per session day keyed by its date at midnight UTC.

Quotes (:func:`generate_demo_quotes`) follow the 1m bars: a few top-of-book updates a minute (one
at its first second, one at its last), their mid walking from the bar's open to its close
inside its range, bid and ask on whole cents around it (so bid ≤ the trade price ≤ ask at every
update, and the minute's last quote brackets its close), the spread wider near the open and the
close, sizes in round lots. Now and then the book goes stale for one to four minutes (no update:
the close may then lie outside it) or prints crossed by a cent for a second (within the 1 %
tolerance). Deterministic like the bars, per (seed, symbol, minute).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from domain.bars import Bar, daily_ts
from domain.calendar.model import TradingSession
from domain.calendar.trading_calendar import TradingCalendar
from domain.intervals import Interval
from domain.quotes import Quote
from domain.store import Store

__all__ = ["generate_demo_bars", "generate_demo_quotes", "write_demo_data", "write_demo_quotes"]

_WRITE_BATCH = 50_000
_GAP_START_PROBABILITY = 0.0036  # x mean run length 1.4 -> about 0.5 % of minutes missing
_GAP_LENGTHS = (1, 1, 1, 1, 1, 1, 1, 2, 2, 3)  # 70 % single minutes, 20 % pairs, 10 % triples
_OVERNIGHT_GAP_SIGMA = 0.004
_ANCHOR_NOISE_SIGMA = 0.006
_ANCHOR_WAVES = ((11.0, 0.02), (47.0, 0.05), (173.0, 0.10), (613.0, 0.20))  # (period days, amplitude)
_MINUTES_PER_FULL_DAY = 390


@dataclass(frozen=True, slots=True)
class _Profile:
    """What makes one symbol look like itself: price level, volatility, volume, price waves."""

    symbol: str
    log_base_price: float
    daily_volatility: float
    minute_volume: float
    phases: tuple[float, ...]


def generate_demo_bars(
    calendar: TradingCalendar,
    symbols: Iterable[str],
    start: date,
    end: date,
    seed: int = 0,
    interval: str = "1m",
) -> Iterator[Bar]:
    """Synthetic bars for ``symbols`` on the trading days in ``[start, end]``, day by day.

    Symbols are upper-cased, de-duplicated and emitted in sorted order within each day; bars of
    one symbol and day come in time order. Raises ``ValueError`` for an invalid or sub-minute
    interval, :class:`domain.errors.CalendarError` for dates the calendar does not cover.
    """
    step = Interval.parse(interval)
    if step.is_seconds:
        raise ValueError(f"demo bars are built from 1m bars; {step} is shorter than a minute")
    names = sorted({name.strip().upper() for name in symbols if name.strip()})
    if not names:
        return
    profiles = {name: _profile(name, seed) for name in names}
    for day in calendar.get_trading_dates_in_range(start, end):
        session = calendar.get_trading_session(day)
        minutes = _session_minutes(session)
        if not minutes:
            continue
        for name in names:
            minute_bars = _day_bars(profiles[name], seed, day, minutes)
            if step.seconds == 60:
                yield from minute_bars
            else:
                yield from _aggregate(minute_bars, step, minutes[0], day)


def write_demo_data(
    store: Store,
    calendar: TradingCalendar,
    symbols: Iterable[str],
    start: date,
    end: date,
    seed: int = 0,
    interval: str = "1m",
) -> int:
    """Write the demo bars of :func:`generate_demo_bars` in batches; return how many were new.

    Bars already in the store are kept (real data is never overwritten by synthetic data), so a
    rerun with the same arguments changes nothing. Each batch is one transaction, so memory
    stays bounded for long ranges.
    """
    written = 0
    symbols = list(symbols)
    bars = generate_demo_bars(calendar, symbols, start, end, seed=seed, interval=interval)
    while batch := list(itertools.islice(bars, _WRITE_BATCH)):
        written += store.bars.insert_missing(batch, source="demo", received_at=int(time.time()))
    store.bars.reindex(symbols, interval)  # the replay reads the new days fast
    return written


_STALE_PROBABILITY = 0.003  # a minute starts a stale run of 1-4 minutes
_CROSSED_PROBABILITY = 0.002  # a minute holds one crossed print
_VENUES = ("Q", "P", "N", "Z", "V", "K")


def generate_demo_quotes(bars: Iterable[Bar], open_ts: int, close_ts: int, seed: int = 0) -> Iterator[Quote]:
    """Top-of-book quotes consistent with the 1m ``bars`` of one session ``[open_ts, close_ts)``
    (any symbols, in time order per symbol); see the module docstring."""
    stale: dict[str, int] = {}
    for bar in bars:
        if bar.interval != "1m":
            continue
        rng = random.Random(_stable_seed("quotes", seed, bar.symbol, bar.ts))
        if stale.get(bar.symbol, 0) > 0:
            stale[bar.symbol] -= 1
            continue
        if rng.random() < _STALE_PROBABILITY:
            stale[bar.symbol] = rng.randint(1, 4)
            continue
        after_open, before_close = (bar.ts - open_ts) / 60, (close_ts - bar.ts) / 60 - 1
        spread_bps = 2.0 + 6.0 * (_stable_seed("spread", seed, bar.symbol) % 100) / 100
        wide = 1.0 + 2.5 * math.exp(-after_open / 10) + 1.5 * math.exp(-before_close / 8)
        seconds = sorted({0, 59, *rng.sample(range(1, 59), rng.randint(1, 6))})
        crossed_at = rng.choice(seconds[1:-1] or [59]) if rng.random() < _CROSSED_PROBABILITY else None
        for i, second in enumerate(seconds):
            share = i / (len(seconds) - 1)
            price = min(max(bar.open + (bar.close - bar.open) * share, bar.low), bar.high)
            half = max(0.01, price * spread_bps * wide / 2e4)
            bid = math.floor((price - half) * 100) / 100
            ask = math.ceil((price + half) * 100) / 100
            if second == crossed_at:
                bid, ask = ask + 0.01, ask
            yield Quote(
                bar.symbol, (bar.ts + second) * 1_000_000 + rng.randrange(1_000_000),
                max(bid, 0.01), 100.0 * rng.randint(1, 20), ask, 100.0 * rng.randint(1, 20),
                rng.choice(_VENUES), rng.choice(_VENUES), None,
            )  # fmt: skip


def write_demo_quotes(
    store: Store,
    calendar: TradingCalendar,
    symbols: Iterable[str],
    start: date,
    end: date,
    seed: int = 0,
) -> int:
    """Write the demo quotes of the demo 1m bars of ``[start, end]``; return the rows written.
    A symbol's day that already holds quotes is kept as it is (real quotes are never overwritten)."""
    written = 0
    for session in calendar.get_trading_sessions(calendar.get_trading_dates_in_range(start, end)):
        minutes = _session_minutes(session)
        if not minutes:
            continue
        for symbol in sorted({s.upper() for s in symbols}):
            if store.quotes.read(symbol, minutes[0], minutes[-1] + 60):
                continue
            bars = generate_demo_bars(calendar, [symbol], session.date, session.date, seed=seed)
            quotes = generate_demo_quotes(bars, minutes[0], minutes[-1] + 60, seed)
            written += store.quotes.write(quotes, source="demo", received_at=int(time.time()))
    store.quotes.reindex(sorted({s.upper() for s in symbols}))  # the replay reads the new days fast
    return written


# ------------------------------------------------------------------------------------ internals
def _stable_seed(*parts: object) -> int:
    """A 64-bit seed from ``parts`` that is the same in every process and Python version."""
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _profile(symbol: str, seed: int) -> _Profile:
    rng = random.Random(_stable_seed("profile", seed, symbol))
    return _Profile(
        symbol=symbol,
        log_base_price=rng.uniform(math.log(10.0), math.log(500.0)),
        daily_volatility=rng.uniform(0.012, 0.035),
        minute_volume=math.exp(rng.uniform(math.log(2_000.0), math.log(150_000.0))),
        phases=tuple(rng.uniform(0.0, 2 * math.pi) for _ in _ANCHOR_WAVES),
    )


def _log_anchor(profile: _Profile, seed: int, ordinal: int) -> float:
    """Log price at the open of the day ``ordinal``: slow waves plus a little daily noise."""
    waves = sum(
        amplitude * math.sin(2 * math.pi * ordinal / period + phase)
        for (period, amplitude), phase in zip(_ANCHOR_WAVES, profile.phases, strict=True)
    )
    noise = random.Random(_stable_seed("anchor", seed, profile.symbol, ordinal)).gauss(0.0, 1.0)
    return profile.log_base_price + waves + _ANCHOR_NOISE_SIGMA * noise


def _session_minutes(session: TradingSession) -> list[int]:
    """Start times (UTC epoch seconds) of the regular session's minutes, without any break."""
    if session.regular_open is None or session.regular_close is None:
        return []
    first, last = int(session.regular_open.timestamp()), int(session.regular_close.timestamp())
    if session.break_start is not None and session.break_end is not None:
        pause_from, pause_to = int(session.break_start.timestamp()), int(session.break_end.timestamp())
        return [ts for ts in range(first, last, 60) if not pause_from <= ts < pause_to]
    return list(range(first, last, 60))


def _day_bars(profile: _Profile, seed: int, day: date, minutes: list[int]) -> list[Bar]:
    """The 1m bars of one symbol on one day (with the day's gaps already removed)."""
    rng = random.Random(_stable_seed("day", seed, profile.symbol, day.isoformat()))
    gauss, uniform, lognorm = rng.gauss, rng.random, rng.lognormvariate
    count = len(minutes)
    sigma = profile.daily_volatility / math.sqrt(_MINUTES_PER_FULL_DAY)
    ordinal = day.toordinal()
    start_log = _log_anchor(profile, seed, ordinal)
    target_log = _log_anchor(profile, seed, ordinal + 1) + _OVERNIGHT_GAP_SIGMA * gauss(0.0, 1.0)

    # random walk of log prices, louder near the open and the close ...
    walk = [start_log]
    sigmas = []
    for k in range(count):
        from_close = count - 1 - k
        minute_sigma = sigma * (0.8 + 0.9 * math.exp(-k / 30) + 0.5 * math.exp(-from_close / 30))
        sigmas.append(minute_sigma)
        walk.append(walk[-1] + gauss(0.0, minute_sigma))
    # ... bridged so that the day ends near the next day's anchor (closes flow into opens)
    drift = walk[-1] - target_log
    path = [value - drift * k / count for k, value in enumerate(walk)]

    bars: list[Bar] = []
    symbol = profile.symbol
    previous_close = round(math.exp(path[0]), 2)
    missing = 0
    just_missed = False
    for k, ts in enumerate(minutes):
        open_ = previous_close
        close = round(math.exp(path[k + 1]), 2)
        wick = sigmas[k] * 0.6
        high = max(round(max(open_, close) * math.exp(abs(gauss(0.0, wick))), 2), open_, close)
        low = min(round(min(open_, close) * math.exp(-abs(gauss(0.0, wick))), 2), open_, close)
        from_close = count - 1 - k
        shape = 0.55 + 2.2 * math.exp(-k / 18) + 1.3 * math.exp(-from_close / 12)
        volume = float(max(1, round(profile.minute_volume * shape * lognorm(0.0, 0.45))))
        previous_close = close
        # gaps: a missing run of 1-3 minutes starts now and then, never two runs back to back
        if missing:
            missing -= 1
            just_missed = True
            continue
        if not just_missed and uniform() < _GAP_START_PROBABILITY:
            missing = _GAP_LENGTHS[int(uniform() * len(_GAP_LENGTHS))] - 1
            just_missed = True
            continue
        just_missed = False
        bars.append(Bar(symbol, "1m", ts, open_, high, max(low, 0.01), close, volume))
    return bars


def _aggregate(minute_bars: list[Bar], step: Interval, open_ts: int, day: date) -> Iterator[Bar]:
    """Windows of ``step`` anchored at the regular open (1d: the whole day at midnight UTC)."""

    def window_start(bar: Bar) -> int:
        return daily_ts(day) if step.is_daily else open_ts + (bar.ts - open_ts) // step.seconds * step.seconds

    for start, group in itertools.groupby(minute_bars, key=window_start):
        window = list(group)
        yield Bar(
            window[0].symbol,
            str(step),
            start,
            window[0].open,
            max(b.high for b in window),
            min(b.low for b in window),
            window[-1].close,
            sum(b.volume for b in window),
        )
