"""What every websocket provider's stream does the same way (Alpaca, Schwab): one stream thread
that connects, converses until the connection ends, and reconnects with backoff until stopped
or failed; the minutes lost while down reported as an outage once it is back; deliveries that
never reach the sink after a stop; and :meth:`ReconnectingStream.reconnect`, which cuts a mute
socket at once (the engine's feed watchdog).

An adapter subclasses :class:`ReconnectingStream` and supplies :meth:`_connection` (one
connection, from the opening handshake until it ends: it raises :class:`StreamError`, with
``fatal`` when no reconnect can help) and calls :meth:`_connected` once subscribed.
"""

from __future__ import annotations

import random
import socket
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import structlog
from websockets.sync.client import ClientConnection

from domain.bars import Bar
from domain.clock import Clock
from domain.errors import ProviderAuthError, ProviderError
from domain.providers import Backoff, ConnectionState, StreamSink
from domain.quotes import Quote

__all__ = ["ReconnectingStream", "StreamError", "StreamRun"]

log = structlog.get_logger(__name__)


class StreamError(Exception):
    """The connection ended; ``fatal`` when reconnecting cannot help."""

    def __init__(self, detail: str, *, fatal: bool = False) -> None:
        super().__init__(detail)
        self.fatal = fatal


@dataclass(eq=False)
class StreamRun:
    """One ``start_stream`` … ``stop_stream`` life; ``lock`` orders sink calls against stop."""

    symbols: list[str]
    sink: StreamSink
    quotes: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ws: ClientConnection | None = None
    attempt: int = 0
    live: bool = False
    last_bar_ts: int | None = None
    outage_from: int | None = None
    books: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per symbol, the last full quote state (a feed that sends deltas)."""


class ReconnectingStream(ABC):
    """The stream thread and its reconnects; see the module docstring."""

    name: str
    stats: dict[str, int]
    _clock: Clock
    _backoff: Backoff
    _rng: random.Random
    _lock: threading.Lock
    _run: StreamRun | None
    _state: ConnectionState

    @abstractmethod
    def _connection(self, run: StreamRun) -> None:
        """One connection, from the opening handshake until it ends (raises :class:`StreamError`)
        or ``run.stop`` is set."""

    def _stream(self, run: StreamRun) -> None:
        """The stream thread: connect, converse, reconnect with backoff until stopped or failed."""
        try:
            self._report(run, ConnectionState.CONNECTING)
            while not run.stop.is_set():
                try:
                    self._connection(run)
                    detail = "connection closed"
                except StreamError as exc:
                    if run.stop.is_set():
                        break
                    if exc.fatal:
                        log.error("stream_failed", provider=self.name, detail=str(exc))
                        self._report(run, ConnectionState.FAILED, str(exc))
                        return
                    detail = str(exc)
                except ProviderAuthError as exc:  # credentials that no reconnect can mend
                    self._report(run, ConnectionState.FAILED, str(exc))
                    return
                except ProviderError as exc:  # a REST step of the connection failed: try again
                    detail = str(exc)
                if run.stop.is_set():
                    break
                if run.live:
                    run.live = False
                    run.outage_from = run.last_bar_ts + 60 if run.last_bar_ts is not None else self._minute()
                delay = self._backoff.delay(run.attempt, self._rng)
                run.attempt += 1
                self.stats["reconnects"] += 1
                log.warning(
                    "stream_disconnected", provider=self.name, detail=detail, retry_in=round(delay, 3)
                )
                self._report(run, ConnectionState.RECONNECTING, detail)
                if run.stop.wait(delay):
                    break
        except Exception as exc:  # a bug or a raising sink: say so instead of dying silently
            log.exception("stream_crashed", provider=self.name)
            self._report(run, ConnectionState.FAILED, f"stream thread crashed: {exc!r}")

    def reconnect(self, reason: str) -> None:
        """Cut the current connection (a mute socket may never close by itself, and a close
        handshake would wait on it); the stream thread reconnects and reports what was lost."""
        with self._lock:
            run = self._run
        ws = None if run is None else run.ws
        if ws is not None:
            log.warning("stream_reconnect_asked", provider=self.name, reason=reason)
            with suppress(OSError):
                ws.socket.shutdown(socket.SHUT_RDWR)

    def _connected(self, run: StreamRun) -> None:
        """Subscribed: CONNECTED, and the minutes lost since the connection dropped, if any."""
        run.attempt, run.live = 0, True
        log.info("stream_subscribed", provider=self.name, symbols=len(run.symbols))
        self._report(run, ConnectionState.CONNECTED)
        if run.outage_from is not None:
            start, end = run.outage_from, self._minute()
            run.outage_from = None
            if end > start:
                log.warning("stream_outage", provider=self.name, start=start, end=end)
                with run.lock:
                    if not run.stop.is_set():
                        run.sink.outage(start, end)

    def _deliver_bars(self, run: StreamRun, bars: Sequence[Bar], *, updated: bool = False) -> None:
        with run.lock:
            if run.stop.is_set():
                return
            run.sink.bars(bars, updated=updated)
        if updated:
            self.stats["updated_bars"] += len(bars)
            return
        self.stats["bars"] += len(bars)
        newest = max(bar.ts for bar in bars)
        run.last_bar_ts = newest if run.last_bar_ts is None else max(run.last_bar_ts, newest)

    def _deliver_quotes(self, run: StreamRun, quotes: Sequence[Quote]) -> None:
        with run.lock:
            if run.stop.is_set():
                return
            run.sink.quotes(quotes)
        self.stats["quotes"] += len(quotes)

    def _malformed(self, raw: Any, reason: str) -> None:
        self.stats["malformed"] += 1
        log.warning("stream_malformed_item", provider=self.name, reason=reason, item=str(raw)[:300])

    def _report(self, run: StreamRun, state: ConnectionState, detail: str | None = None) -> None:
        with run.lock:
            if run.stop.is_set():
                return
            self._state = state
            run.sink.state(state, detail)

    def _minute(self) -> int:
        now = int(self._clock.now().timestamp())
        return now - now % 60
