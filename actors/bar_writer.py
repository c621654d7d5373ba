"""BarWriter: writes a live session's bars and quotes to the store on its own thread (SPEC §8).

The live coordinator tells it every delivery to keep (:class:`WriteBars`, numbered) and goes on
streaming; the writer answers each batch it has written with :class:`BarsWritten`. Writes are
idempotent (``insert_missing``, or ``upsert`` for updated bars), so a batch written twice changes
nothing; quotes (:class:`WriteQuotes`) go to the store's quote table by its one-row-per-second
rule, as idempotent. When the coordinator closes a day (:class:`BuildBlocks`) the writer, once every earlier
batch is written, builds the column blocks of the day's bars (the replay's fast read). During a
store outage the writer keeps the batches, in order, and tries again every
:data:`RETRY_SECONDS` (and at each new batch); it tells the coordinator the outage began
(:class:`StoreDown`, at each failed try). The coordinator keeps every batch until it is answered, so a
restarted writer is handed them again, and a killed process loses only what the store had not
taken yet — minutes that become gaps of the next start, fetched again from the provider.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from actors.handle import Handle
from actors.supervisor import EngineActor
from actors.timer import Timer
from domain.bars import Bar
from domain.errors import StoreError, StoreUnavailable
from domain.quotes import Quote

__all__ = [
    "RETRY_SECONDS",
    "AttachWriterTo",
    "BarWriter",
    "BarsWritten",
    "BuildBlocks",
    "Flush",
    "StoreDown",
    "WriteBars",
    "WriteQuotes",
]

log = structlog.get_logger("marketsession.writer")

RETRY_SECONDS = 0.5
"""Wall seconds between two tries of the same batch while the store is unavailable."""


class BarSink(Protocol):
    """Where bars are written (the store's bar repository)."""

    def insert_missing(self, bars: Sequence[Bar], *, source: str, received_at: int | None) -> int: ...

    def upsert(self, bars: Sequence[Bar], *, source: str, received_at: int | None) -> int: ...

    def reindex(self, symbols: Sequence[str] | None = None, interval: str | None = None) -> int: ...


@dataclass(frozen=True, slots=True)
class WriteBars:
    """tell: keep these bars (``updated``: replace what is stored)."""

    batch: int
    bars: tuple[Bar, ...]
    updated: bool = False
    filled: bool = False
    """Fetched by the GapFiller (their source is ``PROVIDER:gap_fill``)."""


class QuoteSink(Protocol):
    """Where quotes are written (the store's quote repository)."""

    def write(self, given: Iterable[Quote], *, source: str, received_at: int | None) -> int: ...

    def reindex(self, symbols: Sequence[str] | None = None) -> int: ...


@dataclass(frozen=True, slots=True)
class WriteQuotes:
    """tell: keep these quotes (numbered with the bar batches)."""

    batch: int
    quotes: tuple[Quote, ...]
    filled: bool = False
    """Fetched by the GapFiller (their source is ``PROVIDER:gap_fill``)."""


@dataclass(frozen=True, slots=True)
class BarsWritten:
    """BarWriter → coordinator: the batches written, in order."""

    batches: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StoreDown:
    """BarWriter → coordinator: a write failed for an outage; the batches are kept."""

    error: str


@dataclass(frozen=True, slots=True)
class BuildBlocks:
    """tell: a day closed: build the stale column blocks of these symbols at ``interval`` (after
    every batch told before; skipped while the store is down: the rows stay readable)."""

    symbols: tuple[str, ...]
    interval: str


@dataclass(frozen=True, slots=True)
class Flush:
    """ask → the numbers of the batches still not written after one more try."""


@dataclass(frozen=True, slots=True)
class AttachWriterTo:
    """Wiring: where :class:`BarsWritten` and :class:`StoreDown` go."""

    coordinator: Handle


class _Retry:
    __slots__ = ()


class BarWriter(EngineActor):
    actor_name = "bar_writer"

    def __init__(self, sink: BarSink, timer: Timer, source: str, quotes: QuoteSink | None = None) -> None:
        super().__init__()
        self._sink = sink
        self._quotes = quotes
        self._source = source
        self._timer = timer
        self._coordinator: Handle | None = None
        self._pending: list[WriteBars | WriteQuotes] = []
        self._down = False
        self._retry_armed = False

    def on_receive(self, message: Any) -> Any:
        match message:
            case WriteBars() | WriteQuotes():
                self._pending.append(message)
                self._write()
            case _Retry():
                self._retry_armed = False
                self._write()
            case Flush():
                self._write()
                return tuple(batch.batch for batch in self._pending)
            case BuildBlocks(symbols=symbols, interval=interval):
                self._write()
                if not self._pending:
                    self._build_blocks(symbols, interval)
            case AttachWriterTo(coordinator=coordinator):
                self._coordinator = coordinator
            case _:
                raise TypeError(f"BarWriter does not handle {type(message).__name__}")
        return None

    def _write(self) -> None:
        written: list[int] = []
        while self._pending:
            batch = self._pending[0]
            source = f"{self._source}:gap_fill" if batch.filled else self._source
            try:  # the repository raises the store's errors as StoreError / StoreUnavailable
                if isinstance(batch, WriteQuotes):
                    if self._quotes is not None:
                        self._quotes.write(batch.quotes, source=source, received_at=int(time.time()))
                else:
                    write = self._sink.upsert if batch.updated else self._sink.insert_missing
                    write(batch.bars, source=source, received_at=int(time.time()))
            except StoreUnavailable as error:
                self._down = True
                self._tell(StoreDown(str(error)))
                if not self._retry_armed:
                    self._retry_armed = True
                    self._timer.send_after(RETRY_SECONDS, self.actor_ref, _Retry())
                break
            self._pending.pop(0)
            written.append(batch.batch)
            if self._down:
                self._down = False
                log.warning("store_back", message="the store is back; kept bars written")
        if written:
            self._tell(BarsWritten(tuple(written)))

    def _build_blocks(self, symbols: tuple[str, ...], interval: str) -> None:
        try:
            built = self._sink.reindex(list(symbols), interval)
            if self._quotes is not None:
                built += self._quotes.reindex(list(symbols))
        except StoreError as error:  # an outage too: the day is read from its rows until a reindex
            log.warning("blocks_not_built", error=str(error))
            return
        log.info("blocks_built", blocks=built)

    def _tell(self, message: Any) -> None:
        if self._coordinator is not None:
            self._coordinator.tell(message)
