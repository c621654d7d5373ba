"""Historical indicators (SPEC §6): computed per symbol before every session, from bars strictly
before the session day.

The days an indicator covers come from :func:`domain.calendar.trading_days.period_days`; this module
only does the arithmetic over the bars it is given:

- ``trailing_average`` daily: mean of ``field`` over the period days' daily bars;
- ``trailing_average`` minute: a list with one value per trading minute of the session day's
  regular session, the midday break excluded (index ``i`` = each day's ``i``-th trading minute,
  0 = the open; on a 09:00–15:30 day with a 11:30–12:30 break that is 330 values, index 149 is
  11:29 and index 150 is 12:30), each the mean of that minute's ``field`` across the period
  days that have the bar;
- ``trailing_max`` / ``trailing_min``: max / min of ``field`` over the period days' daily bars.

Not enough data is never a 0.0 placeholder (SPEC §6). The rules:

- Daily granularity (all three types): the value is ``None`` when *any* period day lacks its
  daily bar, or when the period holds no trading day; ``missing_days`` lists those days and the
  warning names the symbol, the indicator and the days. A partial period would silently bias
  a 52-week high or a 10-day average, so none is computed over "the days available".
- Minute granularity: each minute averages the days that have that minute's bar ("only days
  that have the bar"); a minute no day has is ``None``. Period days without a single minute
  bar are listed in ``missing_days`` with a warning, but the list is still computed. The value
  is ``None`` only when no period day has any regular-session minute bar.

Daily bars are matched to days by their ``ts`` (the session date at 00:00 UTC); if two bars
fall on one day the later in the input wins. Minute bars are placed by their day's open and
midday break (``session_breaks``; a day without one trades straight through): bars inside the
break, before the open, or at trading minute ``session_minutes`` or later are ignored, as are
bars of days outside the period. Days with and without a break, or with different breaks,
line up trading minute by trading minute. Deriving missing daily bars from 1m bars (SPEC §6)
is the loader's job, before it calls this module.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import overload

from domain.bars import Bar, daily_date
from domain.config import BarField, IndicatorConfig

__all__ = [
    "IndicatorResult",
    "IndicatorValue",
    "MinuteValues",
    "compute_indicator",
    "compute_indicators",
    "describe_days",
]


class MinuteValues(Sequence[float | None]):
    """A minute indicator's value: one number per trading minute, ``None`` where no period day has
    the minute. Kept as one array of doubles (NaN for ``None``): 8 bytes a minute where a list
    holds a float object and a pointer (about 3 kB instead of 12.5 kB for a US day, kept per
    symbol and day in the report). Reads like that list, and is equal to it."""

    __slots__ = ("_values",)

    def __init__(self, values: Iterable[float | None]) -> None:
        self._values = array("d", (math.nan if v is None else v for v in values))

    def __len__(self) -> int:
        return len(self._values)

    @overload
    def __getitem__(self, index: int) -> float | None: ...
    @overload
    def __getitem__(self, index: slice) -> list[float | None]: ...
    def __getitem__(self, index: int | slice) -> float | list[float | None] | None:
        if isinstance(index, slice):
            return list(MinuteValues(self._values[index]))
        value = self._values[index]
        return None if math.isnan(value) else value

    def __iter__(self) -> Iterator[float | None]:
        return (None if math.isnan(v) else v for v in self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MinuteValues | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to a list, which is not hashable

    def __repr__(self) -> str:
        return f"MinuteValues({list(self)!r})"


IndicatorValue = float | MinuteValues | None
"""A daily indicator's number, a minute indicator's :class:`MinuteValues` (one per trading
minute), or None (not enough data)."""


@dataclass(frozen=True, slots=True)
class IndicatorResult:
    """One indicator of one symbol for one session day."""

    name: str
    value: IndicatorValue
    missing_days: list[date]
    """Period days without data (daily: no daily bar; minute: no regular-session minute bar)."""
    warning: str | None
    """Set whenever a period day is missing or the value is None; names symbol, indicator, days."""


def compute_indicator(
    name: str,
    config: IndicatorConfig,
    daily_bars: Sequence[Bar],
    minute_bars_by_day: Mapping[date, Sequence[Bar]],
    days: Sequence[date],
    session_opens: Mapping[date, int],
    *,
    symbol: str,
    session_minutes: int | None = None,
    session_breaks: Mapping[date, tuple[int, int]] | None = None,
) -> IndicatorResult:
    """Compute indicator ``name`` of ``symbol`` over the period ``days`` (oldest first).

    ``daily_bars`` are the symbol's daily bars (extra days are ignored); ``minute_bars_by_day``
    its 1m bars per day and ``session_opens`` each day's regular open in UTC epoch seconds (both
    used by minute granularity only). ``session_minutes`` is the length of the list of a minute
    indicator: the regular-session trading minutes of the session day, the break excluded (390
    on a full NYSE day, 210 on an early close, 330 on a 09:00–15:30 Tokyo day); required for
    minute granularity. ``session_breaks`` holds each day's midday break ``(start, end)`` in UTC
    epoch seconds; days not in it (or ``None``) have no break.
    """
    if config.granularity == "minute":
        if session_minutes is None or session_minutes < 1:
            raise ValueError(f"indicator {name!r}: minute granularity needs session_minutes >= 1")
        return _minute_average(
            name,
            config,
            minute_bars_by_day,
            days,
            session_opens,
            session_breaks or {},
            symbol,
            session_minutes,
        )
    return _daily(name, config, daily_bars, days, symbol)


def compute_indicators(
    symbol: str,
    indicators: Mapping[str, IndicatorConfig],
    days_by_name: Mapping[str, Sequence[date]],
    daily_bars: Sequence[Bar],
    minute_bars_by_day: Mapping[date, Sequence[Bar]],
    session_opens: Mapping[date, int],
    session_minutes: int | None = None,
    session_breaks: Mapping[date, tuple[int, int]] | None = None,
) -> dict[str, IndicatorResult]:
    """Every configured indicator of one symbol, keyed by name (``days_by_name`` per indicator)."""
    return {
        name: compute_indicator(
            name,
            config,
            daily_bars,
            minute_bars_by_day,
            days_by_name[name],
            session_opens,
            symbol=symbol,
            session_minutes=session_minutes,
            session_breaks=session_breaks,
        )
        for name, config in indicators.items()
    }


def _daily(
    name: str, config: IndicatorConfig, daily_bars: Sequence[Bar], days: Sequence[date], symbol: str
) -> IndicatorResult:
    if not days:
        return IndicatorResult(name, None, [], _no_days(symbol, name, config))
    wanted = set(days)
    by_day = {day: bar for bar in daily_bars if (day := daily_date(bar.ts)) in wanted}
    missing = [day for day in days if day not in by_day]
    if missing:
        warning = (
            f"{_subject(symbol, name, config)}: not enough data, value is None — no daily bar for "
            f"{len(missing)} of {len(days)} period day(s): {describe_days(missing, days)}"
        )
        return IndicatorResult(name, None, missing, warning)
    values = [_field(by_day[day], config.field) for day in days]
    value: float
    if config.type == "trailing_max":
        value = max(values)
    elif config.type == "trailing_min":
        value = min(values)
    else:
        value = math.fsum(values) / len(values)
    return IndicatorResult(name, value, [], None)


def _minute_average(
    name: str,
    config: IndicatorConfig,
    minute_bars_by_day: Mapping[date, Sequence[Bar]],
    days: Sequence[date],
    session_opens: Mapping[date, int],
    session_breaks: Mapping[date, tuple[int, int]],
    symbol: str,
    session_minutes: int,
) -> IndicatorResult:
    if not days:
        return IndicatorResult(name, None, [], _no_days(symbol, name, config))
    sums = [0.0] * session_minutes
    counts = [0] * session_minutes
    missing: list[date] = []
    for day in days:
        bars = minute_bars_by_day.get(day, ())
        by_minute: dict[int, float] = {}
        if bars:
            opened = session_opens.get(day)
            if opened is None:
                raise ValueError(f"indicator {name!r}: no regular open given for {day.isoformat()}")
            pause = _break_offsets(name, day, opened, session_breaks.get(day))
            for bar in bars:
                minute = _trading_minute(bar.ts - opened, pause)
                if minute is not None and minute < session_minutes:
                    by_minute[minute] = _field(bar, config.field)  # a duplicate: last wins
        if not by_minute:
            missing.append(day)
            continue
        for minute, amount in by_minute.items():
            sums[minute] += amount
            counts[minute] += 1
    subject = _subject(symbol, name, config)
    if len(missing) == len(days):
        empty = (
            f"{subject}: not enough data, value is None — no minute bars on any of the "
            f"{len(days)} period day(s): {describe_days(missing, days)}"
        )
        return IndicatorResult(name, None, missing, empty)
    value = MinuteValues(total / count if count else None for total, count in zip(sums, counts, strict=True))
    warning: str | None = None
    if missing:
        warning = (
            f"{subject}: no minute bars for {len(missing)} of {len(days)} period day(s): "
            f"{describe_days(missing, days)}; each minute averages the days that have its bar"
        )
    return IndicatorResult(name, value, missing, warning)


def _break_offsets(
    name: str, day: date, opened: int, pause: tuple[int, int] | None
) -> tuple[int, int] | None:
    """A day's break as seconds after its open, ``[start, end)``; ``ValueError`` if malformed."""
    if pause is None:
        return None
    start, end = pause[0] - opened, pause[1] - opened
    if not 0 < start < end:
        raise ValueError(
            f"indicator {name!r}: the break of {day.isoformat()} must start after the open and "
            f"end after it starts, got [{pause[0]}, {pause[1]}) with the open at {opened}"
        )
    return start, end


def _trading_minute(offset: int, pause: tuple[int, int] | None) -> int | None:
    """The trading minute (0 = the open) of a bar ``offset`` seconds after its day's open, the
    break ``pause`` (offsets, or ``None``) excluded; ``None`` before the open or in the break."""
    if offset < 0:
        return None
    if pause is None or offset < pause[0]:
        return offset // 60
    if offset < pause[1]:
        return None
    return (offset - (pause[1] - pause[0])) // 60


def describe_days(missing: Sequence[date], days: Sequence[date]) -> str:
    """Missing days as runs of consecutive period days: ``2008-10-01..2008-10-03, 2008-10-07``.

    Runs follow ``days`` (the period's trading days), so a run spans weekends and holidays.
    """
    position = {day: index for index, day in enumerate(days)}
    runs: list[tuple[date, date]] = []
    previous: int | None = None
    for day in missing:
        index = position.get(day)
        if runs and index is not None and previous is not None and index == previous + 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
        previous = index
    return ", ".join(a.isoformat() if a == b else f"{a.isoformat()}..{b.isoformat()}" for a, b in runs)


def _subject(symbol: str, name: str, config: IndicatorConfig) -> str:
    extra = ", skip_early_close" if config.skip_early_close else ""
    return (
        f"{symbol}: indicator {name!r} ({config.type} {config.period} {config.field}, "
        f"{config.granularity}{extra})"
    )


def _no_days(symbol: str, name: str, config: IndicatorConfig) -> str:
    subject = _subject(symbol, name, config)
    return f"{subject}: not enough data, value is None — the period holds no trading day"


def _field(bar: Bar, field: BarField) -> float:
    value: float = getattr(bar, field)
    return value
