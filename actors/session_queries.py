"""The queries both session coordinators answer about the session data they own (proxy calls of
the embedding API: ``engine.snapshot(…)``, ``engine.session_bars(…)`` …)."""

from __future__ import annotations

from domain.bars import Bar
from domain.intervals import Interval
from domain.quality import Gap
from domain.session_data import SessionData, SymbolSnapshot

__all__ = ["SessionQueries"]


class SessionQueries:
    """Mixin of a coordinator actor that keeps its :class:`SessionData` in ``self.data``."""

    data: SessionData

    def snapshot(self, symbol: str) -> SymbolSnapshot:
        return self.data.snapshot(symbol)

    def session_bars(
        self, symbol: str, interval: str, start_ts: int | None = None, end_ts: int | None = None
    ) -> tuple[Bar, ...]:
        """Session bars of today in ``[start_ts, end_ts)`` (all by default), copied as values."""
        series = self.data.session_bars(symbol, str(Interval.parse(interval)))
        if series is None:
            return ()
        lo = -(2**62) if start_ts is None else start_ts
        hi = 2**62 if end_ts is None else end_ts
        return tuple(series.slice_by_time(lo, hi))

    def historical_bars(self, symbol: str, interval: str) -> tuple[Bar, ...]:
        series = self.data.historical(symbol, str(Interval.parse(interval)))
        return () if series is None else tuple(series)

    def quality(self, symbol: str, interval: str) -> float | None:
        return self.data.quality(symbol, str(Interval.parse(interval)))

    def gaps(self, symbol: str, interval: str) -> tuple[Gap, ...]:
        return self.data.gaps(symbol, str(Interval.parse(interval)))
