"""The run report: per session day and symbol, what was streamed, scored and computed.

:class:`DaySummary` is built at each close (and published with ``SessionEnded``);
:class:`RunReport` gathers the days at the end of a run. ``to_json`` gives the JSON shape the
CLI writes (keys documented in the README). Times are ISO 8601 in the exchange's timezone.

Determinism (SPEC §10): everything except ``timings`` and ``restarts`` is a function of the
config and the store; :meth:`RunReport.comparable` is the report without them, for comparing
two runs (one with injected crashes, say).
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
import textwrap
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import IO, Any, Literal, overload
from zoneinfo import ZoneInfo

from domain.calendar.model import SessionType
from domain.config import QuotesConfig, SessionConfig
from domain.history.indicators import IndicatorResult, IndicatorValue, MinuteValues
from domain.history.series import HistoricalData
from domain.quality.alignment import Alignment, AlignmentStatus
from domain.quality.book import IntervalQuality
from domain.quality.gaps import Gap
from domain.quality.quotes import QuoteQuality
from domain.session.data import SessionData, SessionMetrics
from domain.session.windows import DayHours, DaySegment

__all__ = [
    "DaySummaries",
    "DaySummary",
    "HistoricalSummary",
    "IntervalSummary",
    "RunReport",
    "RunStatus",
    "SymbolDay",
    "run_report",
    "summarise_day",
    "warning_symbol",
]

RunStatus = Literal["completed", "stopped", "failed"]
_DAYS = "\u0000days\u0000"  # where write_json puts the days


def _iso(ts: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, UTC).astimezone(zone).isoformat()


@dataclass(frozen=True, slots=True)
class IntervalSummary:
    """One symbol and session interval at the close."""

    bars: int
    quality: float
    expected: int
    gaps: tuple[Gap, ...] = ()
    filled_gaps: int = 0

    @classmethod
    def of(cls, bars: int, result: IntervalQuality | None) -> IntervalSummary:
        if result is None:
            return cls(bars, 100.0, 0)
        return cls(bars, result.score.quality, result.score.expected, result.gaps, len(result.filled))

    def to_json(self, zone: ZoneInfo) -> dict[str, Any]:
        return {
            "bars": self.bars,
            "quality": self.quality,
            "expected": self.expected,
            "gaps": [
                {
                    "start": _iso(gap.start_ts, zone),
                    "end": _iso(gap.end_ts, zone),
                    "bar_count": gap.bar_count,
                    "status": str(gap.status),
                    "retry_count": gap.retry_count,
                }
                for gap in self.gaps
            ],
            "filled_gaps": self.filled_gaps,
        }


@dataclass(frozen=True, slots=True)
class HistoricalSummary:
    """One symbol and historical interval as loaded before the session."""

    bars: int
    quality: float | None
    days: tuple[date, ...]
    days_with_bars: int
    derived_days: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "bars": self.bars,
            "quality": self.quality,
            "start_date": self.days[0].isoformat() if self.days else None,
            "end_date": self.days[-1].isoformat() if self.days else None,
            "days": len(self.days),
            "days_with_bars": self.days_with_bars,
            "derived_days": self.derived_days,
        }


@dataclass(frozen=True, slots=True)
class SymbolDay:
    session: Mapping[str, IntervalSummary]
    historical: Mapping[str, HistoricalSummary]
    indicators: Mapping[str, IndicatorResult]
    metrics: SessionMetrics | None
    alignment: Alignment | None = None
    """Whether the day's stamps fit its session (None without bars or for daily bars)."""
    extended: Mapping[str, Mapping[str, IntervalSummary]] = field(default_factory=dict)
    """With extended hours: per session (``pre_market``, ``post_market``), the base interval's."""
    quotes: QuoteQuality | None = None
    """The regular session's quote quality (a session streaming quotes that held some)."""
    quote_bars: Mapping[str, int] = field(default_factory=dict)
    """Quote bars built per interval (the config's ``quotes.bars``)."""

    def indicator_value(self, name: str) -> IndicatorValue:
        result = self.indicators.get(name)
        return None if result is None else result.value

    def to_json(self, zone: ZoneInfo) -> dict[str, Any]:
        metrics = self.metrics
        quotes = (
            {} if self.quotes is None else {"quotes": self.quotes.to_json() | {"bars": dict(self.quote_bars)}}
        )
        return {
            "session": {interval: s.to_json(zone) for interval, s in self.session.items()},
            "extended_hours": {
                session: {interval: s.to_json(zone) for interval, s in by_interval.items()}
                for session, by_interval in self.extended.items()
            },
            "alignment": None if self.alignment is None else self.alignment.as_dict(),
            "historical": {interval: h.to_json() for interval, h in self.historical.items()},
            "indicators": {
                name: (list(r.value) if isinstance(r.value, MinuteValues) else r.value)
                for name, r in self.indicators.items()
            },
            "metrics": {
                "volume": 0.0 if metrics is None else metrics.volume,
                "high": None if metrics is None else metrics.high,
                "low": None if metrics is None else metrics.low,
                "last_update": None if metrics is None else _iso(metrics.last_update_ts, zone),
            },
        } | quotes


@dataclass(frozen=True, slots=True)
class DaySummary:
    """One session day at its close."""

    hours: DayHours
    timezone: str
    symbols: Mapping[str, SymbolDay]
    bars_streamed: int
    bars_derived: int
    refused: Mapping[str, int] = field(default_factory=dict)
    """Stored bars of the day that did not enter the session, by reason (extended hours …)."""
    warnings: tuple[str, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict, compare=False)
    ended_early: bool = False
    """The day ended before its close: the run was stopped, or (live) the calendar closed it."""
    extended: tuple[DaySegment, ...] = ()
    """The pre- and post-market sessions scored (extended hours), in time order."""
    quotes_streamed: int = 0
    """Quote rows the clock released (a backtest), or the session held at its close (live)."""
    quotes_filled: int = 0
    """Live: quote seconds the stream missed that fetching the closed minutes again recovered."""

    @property
    def day(self) -> date:
        return self.hours.day

    def to_json(self) -> dict[str, Any]:
        zone = ZoneInfo(self.timezone)
        return {
            "date": self.day.isoformat(),
            "regular_open": _iso(self.hours.open_ts, zone),
            "regular_close": _iso(self.hours.close_ts, zone),
            "is_early_close": self.hours.is_early_close,
            "extended_hours": {
                str(s.session): {"open": _iso(s.open_ts, zone), "close": _iso(s.close_ts, zone)}
                for s in self.extended
            },
            "ended_early": self.ended_early,
            "bars_streamed": self.bars_streamed,
            "bars_derived": self.bars_derived,
            "quotes_streamed": self.quotes_streamed,
            "quotes_filled": self.quotes_filled,
            "bars_not_in_session": dict(sorted(self.refused.items())),
            "symbols": {symbol: day.to_json(zone) for symbol, day in self.symbols.items()},
            "warnings": list(self.warnings),
        }


class _SpillFile:
    """An anonymous temporary file of pickled day summaries (gone when the last holder drops it).
    Positional reads and writes (no shared file position): one writer appends while a snapshot
    is read from another thread."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="marketsession-days-")  # noqa: SIM115 - kept open while read
        self._end = 0
        weakref.finalize(self, self._file.close)  # closed (and so deleted) with the last reader

    def write(self, summary: DaySummary) -> tuple[int, int]:
        blob = pickle.dumps(summary, protocol=pickle.HIGHEST_PROTOCOL)
        offset = self._end
        written = os.pwrite(self._file.fileno(), blob, offset)
        if written != len(blob):
            raise OSError(f"day summary spill: wrote {written} of {len(blob)} bytes")
        self._end += len(blob)
        return offset, len(blob)

    def read(self, offset: int, size: int) -> DaySummary:
        summary: DaySummary = pickle.loads(os.pread(self._file.fileno(), size, offset))
        return summary


class DaySummaries(Sequence[DaySummary]):
    """The day summaries of a run, in day order, in bounded memory however long the run: the
    newest are kept as objects up to ``held`` symbol-days (:attr:`HELD` by default; a live
    service keeps one day); beyond that the oldest are pickled to an anonymous temporary file and
    read back one at a time when asked for (a report, an export). One writer appends (the
    coordinator); :meth:`snapshot` is a frozen view of what is there now (for a checkpoint or the
    report), which later appends do not change."""

    HELD = 4_000
    """Symbol-days kept as objects (about 26 MB at 6.5 kB each); the rest is on disk."""

    __slots__ = ("_held", "_held_size", "_limit", "_spill", "_spilled", "dates")

    def __init__(self, summaries: Sequence[DaySummary] = (), *, held: int | None = None) -> None:
        self._limit = self.HELD if held is None else held
        self._spill: _SpillFile | None = None
        self._spilled: list[tuple[int, int]] = []  # (offset, size) of the oldest days, on disk
        self._held: list[DaySummary] = []
        self._held_size = 0
        self.dates: list[date] = []
        """The session date of every day, in order (without reading any summary back)."""
        for summary in summaries:
            self.append(summary)

    def append(self, summary: DaySummary) -> None:
        self._held.append(summary)
        self._held_size += max(1, len(summary.symbols))
        self.dates.append(summary.day)
        while self._held_size > self._limit and len(self._held) > 1:
            oldest = self._held.pop(0)
            self._held_size -= max(1, len(oldest.symbols))
            if self._spill is None:
                self._spill = _SpillFile()
            self._spilled.append(self._spill.write(oldest))

    @classmethod
    def resume(cls, days: Sequence[DaySummary]) -> DaySummaries:
        """Summaries to append to, starting with ``days`` (a checkpoint's snapshot: shared, not copied)."""
        return days.snapshot() if isinstance(days, DaySummaries) else cls(days)

    def snapshot(self) -> DaySummaries:
        """A view of the days appended so far (sharing the file; nothing is copied but the index)."""
        view = DaySummaries(held=self._limit)
        view._spill, view._spilled, view._held = self._spill, list(self._spilled), list(self._held)
        view._held_size, view.dates = self._held_size, list(self.dates)
        return view

    def __len__(self) -> int:
        return len(self._spilled) + len(self._held)

    @overload
    def __getitem__(self, index: int) -> DaySummary: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[DaySummary, ...]: ...
    def __getitem__(self, index: int | slice) -> DaySummary | tuple[DaySummary, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("day index out of range")
        if index >= len(self._spilled):
            return self._held[index - len(self._spilled)]
        assert self._spill is not None
        return self._spill.read(*self._spilled[index])

    def __iter__(self) -> Iterator[DaySummary]:
        for i in range(len(self)):
            yield self[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or len(other) != len(self):
            return False
        return all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # a mutable sequence

    def __repr__(self) -> str:
        return f"DaySummaries({len(self)} days, {len(self._spilled)} on disk)"


@dataclass(frozen=True, slots=True)
class RunReport:
    """A whole run; see the module docstring."""

    session_name: str
    mode: str
    exchange_group: str
    status: RunStatus
    days: Sequence[DaySummary]
    """In day order (a long run's :class:`DaySummaries`: read back from disk as they are asked for)."""
    warnings: tuple[str, ...] = ()
    error: str | None = None
    timings: Mapping[str, Any] = field(default_factory=dict, compare=False)
    streams: Sequence[str] = ()
    symbols: Sequence[str] = ()
    start_date: date | None = None
    end_date: date | None = None
    speed_multiplier: float | None = None
    restarts: tuple[str, ...] = field(default=(), compare=False)
    """Supervised restarts during the run (``actor #incarnation: cause``)."""

    @property
    def bars_streamed(self) -> int:
        return sum(day.bars_streamed for day in self.days)

    @property
    def bars_derived(self) -> int:
        return sum(day.bars_derived for day in self.days)

    @property
    def quotes_streamed(self) -> int:
        return sum(day.quotes_streamed for day in self.days)

    def totals(self) -> dict[str, int]:
        """The report's ``totals``, in one pass over the days (a long run's are read back from disk)."""
        out = {"trading_days": 0, "bars_streamed": 0, "bars_derived": 0, "quotes_streamed": 0}
        for day in self.days:
            out["trading_days"] += 1
            out["bars_streamed"] += day.bars_streamed
            out["bars_derived"] += day.bars_derived
            out["quotes_streamed"] += day.quotes_streamed
        return out

    def symbols_without_bars(self) -> tuple[str, ...]:
        """The symbols that had no session bar on any day of the run (none when no day ran)."""
        return tuple(
            symbol
            for symbol in self.symbols
            if self.days
            and not any(
                summary.bars
                for day in self.days
                if symbol in day.symbols
                for summary in day.symbols[symbol].session.values()
            )
        )

    def to_json(self, *, days: bool = True) -> dict[str, Any]:
        """The JSON shape; with ``days=False`` the ``days`` list is left empty (see :meth:`write_json`)."""
        return {
            "session_name": self.session_name,
            "mode": self.mode,
            "exchange_group": self.exchange_group,
            "status": self.status,
            "error": self.error,
            "start_date": None if self.start_date is None else self.start_date.isoformat(),
            "end_date": None if self.end_date is None else self.end_date.isoformat(),
            "speed_multiplier": self.speed_multiplier,
            "symbols": list(self.symbols),
            "streams": list(self.streams),
            "days": [day.to_json() for day in self.days] if days else [],
            "totals": self.totals(),
            "timings": dict(self.timings),
            "restarts": list(self.restarts),
            "warnings": list(self.warnings),
        }

    def write_json(self, out: IO[str]) -> None:
        """Write ``json.dumps(self.to_json(), indent=2)``, one day at a time (a long run's report
        is never whole in memory)."""
        text = json.dumps(self.to_json(days=False) | {"days": _DAYS}, indent=2)
        head, tail = text.split(json.dumps(_DAYS), 1)
        out.write(head)
        out.write("[")
        for i, day in enumerate(self.days):
            out.write(",\n" if i else "\n")
            out.write(textwrap.indent(json.dumps(day.to_json(), indent=2), "    "))
        out.write("\n  ]" if self.days else "]")
        out.write(tail)

    def comparable(self) -> dict[str, Any]:
        """The JSON report without ``timings`` and ``restarts``: equal for two runs of the same
        backtest, with or without supervised restarts (SPEC §10)."""
        data = self.to_json()
        del data["timings"]
        del data["restarts"]
        return data


def warning_symbol(warning: str, symbols: Sequence[str]) -> str | None:
    """The symbol a day's warning is about (it starts with ``SYMBOL`` and a space or a colon), or
    None for a warning about the whole day."""
    head = warning.split(" ", 1)[0].removesuffix(":")
    return head if head in symbols else None


def _by_symbol(warnings: Sequence[str], symbols: Sequence[str]) -> tuple[str, ...]:
    """A day's warnings in report order: those about the whole day first, then each symbol's in
    the config's symbol order, each group in the order its warnings arose (so that a symbol's
    problems read together, and a run split by symbol reports them in the same order)."""
    rank = {symbol: i for i, symbol in enumerate(symbols)}

    def key(warning: str) -> int:
        symbol = warning_symbol(warning, symbols)
        return -1 if symbol is None else rank[symbol]

    return tuple(sorted(warnings, key=key))


def summarise_day(
    *,
    hours: DayHours,
    timezone: str,
    symbols: tuple[str, ...],
    intervals: tuple[str, ...],
    data: SessionData,
    historical: HistoricalData | None,
    historical_quality: dict[tuple[str, str], float | None],
    results: dict[tuple[str, str], IntervalQuality],
    bars_streamed: int,
    bars_derived: int,
    refused: dict[str, int],
    warnings: tuple[str, ...],
    timings: dict[str, float],
    early: bool,
    alignment: Mapping[str, Alignment],
    segments: Sequence[DaySegment] = (),
    extended: Mapping[tuple[str, str, SessionType], IntervalQuality] | None = None,
    quotes_streamed: int = 0,
    quotes_filled: int = 0,
    quote_rules: QuotesConfig | None = None,
    scored_until: int | None = None,
) -> DaySummary:
    """The :class:`DaySummary` of a session day that has just closed (backtest and live); a
    symbol whose stamps look misaligned adds a warning with the verdict. ``segments`` are the
    sessions the day scored (the regular one by default) and ``extended`` the results of the
    others, keyed by (symbol, interval, session). With ``quote_rules`` (a session streaming
    quotes) each symbol's quote quality is scored over the regular session up to
    ``scored_until`` (the close by default)."""
    segments = tuple(segments) or hours.segments()
    quotes_until = hours.close_ts if scored_until is None else min(hours.close_ts, scored_until)
    others = tuple(s for s in segments if s.session is not SessionType.REGULAR)
    extended = extended or {}
    split = {interval for _, interval, _ in extended}  # the base: its bars lie in several sessions

    def bars_in(symbol: str, interval: str, segment: DaySegment | None = None) -> int:
        series = data.session_bars(symbol, interval)
        if series is None:
            return 0
        if interval not in split:
            return len(series)
        span = (hours.open_ts, hours.close_ts) if segment is None else (segment.open_ts, segment.close_ts)
        return series.count_between(*span)

    per_symbol: dict[str, SymbolDay] = {}
    for symbol in symbols:
        session = {
            interval: IntervalSummary.of(bars_in(symbol, interval), results.get((symbol, interval)))
            for interval in intervals
        }
        outside = {
            str(segment.session): {
                interval: IntervalSummary.of(bars_in(symbol, interval, segment), result)
                for (sym, interval, scored), result in extended.items()
                if sym == symbol and scored is segment.session
            }
            for segment in others
        }
        hist: dict[str, HistoricalSummary] = {}
        if historical is not None:
            for (sym, interval), entry in historical.series.items():
                if sym == symbol:
                    hist[interval] = HistoricalSummary(
                        entry.bar_count,
                        historical_quality.get((sym, interval)),
                        entry.days,
                        len(entry.day_ranges),
                        len(entry.derived_days),
                    )
        per_symbol[symbol] = SymbolDay(
            session=session,
            historical=hist,
            indicators=dict(historical.indicators.get(symbol, {})) if historical is not None else {},
            metrics=data.metrics(symbol),
            alignment=alignment.get(symbol),
            extended=outside,
            quotes=None
            if quote_rules is None
            else data.quote_quality(symbol, hours.open_ts, quotes_until, quote_rules),
            quote_bars={
                str(i): len(data.quote_bars(symbol, str(i), hours.open_ts, quotes_until))
                for i in (quote_rules.bars if quote_rules is not None else ())
            },
        )
    misaligned = tuple(
        f"{symbol}: {verdict.describe()}"
        for symbol, verdict in alignment.items()
        if verdict.status is AlignmentStatus.MISALIGNED
    )
    return DaySummary(
        hours=hours,
        timezone=timezone,
        symbols=per_symbol,
        bars_streamed=bars_streamed,
        bars_derived=bars_derived,
        refused=refused,
        warnings=_by_symbol(warnings + misaligned, symbols),
        timings=timings,
        ended_early=early,
        extended=others,
        quotes_streamed=quotes_streamed,
        quotes_filled=quotes_filled,
    )


def run_report(
    config: SessionConfig,
    status: RunStatus,
    summaries: Sequence[DaySummary],
    run_warnings: list[str] | tuple[str, ...],
    error: str | None,
    timings: dict[str, Any],
    speed: float,
) -> RunReport:
    """The report of a run that ends now with ``status`` (also built by the engine when its
    coordinator cannot be restarted)."""
    warnings = list(run_warnings)
    for summary in summaries:
        warnings.extend(f"{summary.day.isoformat()}: {w}" for w in summary.warnings if w)
    backtest = config.backtest_config
    return RunReport(
        session_name=config.session_name,
        mode=config.mode,
        exchange_group=config.exchange_group,
        status=status,
        days=summaries.snapshot() if isinstance(summaries, DaySummaries) else tuple(summaries),
        warnings=tuple(warnings),
        error=error,
        timings=timings,
        streams=tuple(config.session_data_config.streams),
        symbols=config.symbols,
        start_date=None if backtest is None else backtest.start_date,
        end_date=None if backtest is None else backtest.end_date,
        speed_multiplier=speed,
    )
