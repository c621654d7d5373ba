"""Read-only columns of one symbol's bars: how a day of bars travels between actors.

A :class:`BarColumns` holds one symbol and interval as six read-only ``memoryview`` columns
(``ts`` as signed 64-bit ints, prices and volume as doubles), sorted by ``ts`` and unique. It is
built once — by the loader from database rows, or from :class:`~domain.bars.Bar` values — and
never changes afterwards: the views are read-only, so the same columns can be handed to several
actors without copying and without anyone being able to write into them. Slicing a column is
O(1); ``sum``/``max``/``min`` over a slice run in C. :class:`~domain.bars.Bar` values are built
only when asked for (:meth:`BarColumns.bars`).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Literal

import numpy as np

from domain.bars import Bar

__all__ = ["BarColumns"]


def _frozen(column: array[int] | array[float]) -> memoryview:
    return memoryview(column).toreadonly()


def frozen_view(column: np.ndarray[Any, Any], code: Literal["q", "d"]) -> memoryview:
    """A read-only view, in ``array`` format ``code`` (int64 or double), of a numpy column
    (copied first only if it is not contiguous and of that type already)."""
    dtype = np.int64 if code == "q" else np.float64
    contiguous = np.ascontiguousarray(column, dtype=dtype)
    return memoryview(contiguous.data.cast("B").cast(code).toreadonly())


@dataclass(frozen=True, slots=True, eq=False)
class BarColumns:
    """One symbol and interval, columnar and read-only; see the module docstring."""

    symbol: str
    interval: str
    ts: memoryview
    open: memoryview
    high: memoryview
    low: memoryview
    close: memoryview
    volume: memoryview

    @classmethod
    def from_rows(cls, symbol: str, interval: str, rows: Sequence[Sequence[float]]) -> BarColumns:
        """From ``(ts, open, high, low, close, volume)`` rows sorted by ``ts`` and unique in it
        (what an ``ORDER BY ts`` read of the store's primary key gives)."""
        columns = [array("q", map(itemgetter(0), rows))]
        columns.extend(array("d", map(itemgetter(i), rows)) for i in range(1, 6))
        return cls(symbol, interval, *(_frozen(column) for column in columns))

    @classmethod
    def from_bars(cls, symbol: str, interval: str, bars: Iterable[Bar]) -> BarColumns:
        """From bars of this symbol and interval in any order; a repeated ``ts`` keeps the first
        (a repeat changes nothing, as everywhere in the engine)."""
        first: dict[int, Bar] = {}
        for bar in bars:
            if bar.symbol != symbol or bar.interval != interval:
                raise ValueError(f"bar {bar.symbol} {bar.interval} does not belong to {symbol} {interval}")
            first.setdefault(bar.ts, bar)
        return cls.from_rows(symbol, interval, [first[ts][2:] for ts in sorted(first)])

    @classmethod
    def concat(cls, symbol: str, interval: str, parts: Sequence[BarColumns]) -> BarColumns:
        """One columns object of ``parts`` in order (they must be in time order, without
        overlap); a single part is returned as it is, nothing copied."""
        if len(parts) == 1:
            return parts[0]
        columns = [array(code) for code in "qddddd"]
        for n, column in enumerate(columns):  # one copy of the bytes per column, however many parts
            column.frombytes(b"".join(part.columns()[n].tobytes() for part in parts))
        return cls(symbol, interval, *(_frozen(column) for column in columns))

    @classmethod
    def from_arrays(cls, symbol: str, interval: str, *arrays: np.ndarray[Any, Any]) -> BarColumns:
        """From six numpy arrays ``(ts, open, high, low, close, volume)`` sorted by ``ts`` and
        unique in it (computed columns: derived bars); the columns are views of the arrays."""
        ts, *values = arrays
        columns = [frozen_view(ts, "q")]
        columns.extend(frozen_view(v, "d") for v in values)
        return cls(symbol, interval, *columns)

    def arrays(self) -> tuple[np.ndarray[Any, Any], ...]:
        """``(ts, open, high, low, close, volume)`` as read-only numpy views (nothing copied)."""
        if not len(self):
            return (np.empty(0, np.int64), *(np.empty(0) for _ in range(5)))
        ts = np.frombuffer(self.ts, dtype=np.int64)
        return (ts, *(np.frombuffer(column, dtype=np.float64) for column in self.columns()[1:]))

    def to_block(self) -> bytes:
        """The six columns packed one after the other (``ts`` as int64, then the doubles, in the
        machine's byte order): what the store keeps per symbol, interval and day beside the rows."""
        return b"".join(column.tobytes() for column in self.columns())

    @classmethod
    def from_block(cls, symbol: str, interval: str, count: int, block: bytes) -> BarColumns:
        """The columns of a :meth:`to_block` of ``count`` bars, as views of ``block`` (no copy)."""
        if len(block) != 48 * count:
            raise ValueError(f"a block of {count} bars holds {48 * count} bytes, got {len(block)}")
        raw = memoryview(block)
        values: Any = raw[8 * count :].cast("d")  # one cast for the five value columns, then slices
        o, h, lo, c = (values[count * i : count * (i + 1)] for i in range(4))
        return cls(symbol, interval, raw[: 8 * count].cast("q"), o, h, lo, c, values[4 * count :])

    def columns(self) -> tuple[memoryview, ...]:
        """``(ts, open, high, low, close, volume)``."""
        return (self.ts, self.open, self.high, self.low, self.close, self.volume)

    def __len__(self) -> int:
        return len(self.ts)

    def __repr__(self) -> str:
        return f"BarColumns({self.symbol} {self.interval}, {len(self)} bars)"

    def bars(self, start: int = 0, stop: int | None = None) -> list[Bar]:
        """Positions ``[start, stop)`` as :class:`Bar` values."""
        stop = len(self) if stop is None else stop
        symbol, interval = self.symbol, self.interval
        if stop - start <= 8:  # a clock step's worth: index directly, no column slices
            ts, o, h, lo, c, v = self.ts, self.open, self.high, self.low, self.close, self.volume
            return [Bar(symbol, interval, ts[i], o[i], h[i], lo[i], c[i], v[i]) for i in range(start, stop)]
        rows = zip(*(column[start:stop] for column in self.columns()), strict=True)
        return [Bar(symbol, interval, *row) for row in rows]

    def take(self, positions: Sequence[int]) -> BarColumns:
        """New columns holding only ``positions`` (in the order given)."""
        columns = self.columns()
        return BarColumns.from_rows(self.symbol, self.interval, [[c[i] for c in columns] for i in positions])

    def window(self, start: int, stop: int) -> BarColumns:
        """Positions ``[start, stop)`` as columns sharing this memory (nothing is copied)."""
        return BarColumns(self.symbol, self.interval, *(column[start:stop] for column in self.columns()))
