"""Alpaca market data v2 (SPEC §8, §12): history over REST, live minute bars and quotes over a
websocket.

History — ``GET {data_url}/v2/stocks/bars`` with ``symbols`` (comma-separated), ``timeframe``
(``5Min``, ``1Hour``, ``1Day``…), ``start`` and ``end`` (RFC 3339; Alpaca's ``end`` is
inclusive, so we ask up to ``end_ts - 1``), ``limit``, ``feed``, ``adjustment`` and
``page_token``; the key pair goes in the ``APCA-API-KEY-ID``/``APCA-API-SECRET-KEY`` headers.
The answer is ``{"bars": {symbol: [{"t", "o", "h", "l", "c", "v", "n", "vw"}]},
"next_page_token": str | null}``; pages are followed until the token is null. 429 waits
``Retry-After`` (else ``X-RateLimit-Reset``, else backoff) up to ``max_rate_limit_retries``
times; 401/403 mean bad keys; connection errors and 5xx are retried with backoff (tenacity).
Day bars are stamped at midnight New York time by Alpaca and re-keyed here to
:func:`domain.bars.daily_ts` of that date.

Quotes — ``GET {data_url}/v2/stocks/quotes`` with ``symbols``, ``start``, ``end`` (to the
microsecond before ``end_ts``), ``limit``, ``feed``, ``sort=asc`` and ``page_token``; the answer
is ``{"quotes": {symbol: [{"t", "bx", "bp", "bs", "ax", "ap", "as", "c", "z"}]},
"next_page_token"}``, paged like bars. ``t`` is RFC 3339 with nanoseconds (kept to the
microsecond), sizes are round lots (×100 shares), a price of 0 is a missing side, ``c`` a list
of condition codes. A quote that breaks the quote rules (:func:`domain.quotes.quote_violation`)
is left out and counted (``stats["invalid_quotes"]``): crossed prints happen on real feeds.

Live — a websocket on ``{stream_url}/v2/{feed}``; every server message is a JSON array::

    server  [{"T": "success", "msg": "connected"}]
    client  {"action": "auth", "key": …, "secret": …}
    server  [{"T": "success", "msg": "authenticated"}]   or  [{"T": "error", "code": 402, …}]
    client  {"action": "subscribe", "bars": [...], "updatedBars": [...], "quotes": [...]}
    server  [{"T": "subscription", "bars": [...], "updatedBars": [...], "quotes": [...], …}]
    server  [{"T": "b", "S": "AAPL", "t": …, "o": …, "h": …, "l": …, "c": …, "v": …}, …]
    server  [{"T": "u", …}]        a correction of a minute bar already delivered
    server  [{"T": "q", "S": "AAPL", "t": …, "bx", "bp", "bs", "ax", "ap", "as", "c", "z"}, …]

The IEX feed streams quotes of at most :data:`IEX_QUOTE_SYMBOLS` symbols (a free account's
limit): asking for more is refused at ``start_stream`` with the count, before connecting.

The stream runs on a daemon thread: it reports CONNECTED once the subscription is confirmed;
``reconnect`` (the engine's feed watchdog, for a socket that stays open but went mute) cuts
the connection, and the usual reconnect follows;
after a disconnect (or a retryable error: 406, 500…) it reports RECONNECTING, waits
``Backoff.delay(attempt)`` on an event that ``stop_stream`` sets, reconnects, resubscribes
and reports the minutes possibly lost with ``sink.outage``. 402 (auth failed), 405 (symbol
limit) and 409 (insufficient subscription) are final: FAILED, and the thread ends.

Payloads are checked field by field rather than through a Pydantic model: a page holds up to
10 000 bars, and an error must name the symbol and timestamp it found.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from websockets.exceptions import InvalidStatus, InvalidURI, WebSocketException
from websockets.sync.client import ClientConnection, connect

from actors.wall_clock import WallClock
from domain.bars import Bar, bar_violation, daily_ts, ts_to_datetime
from domain.clock import Clock
from domain.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNotSupported,
    ProviderProtocolError,
    ProviderRateLimited,
    ProviderSubscriptionError,
    ProviderUnavailable,
)
from domain.intervals import MINUTE, Interval
from domain.providers import Backoff, ConnectionState, StreamSink
from domain.quotes import Quote, iso_us, quote_violation, shares
from ops.providers.streaming import ReconnectingStream, StreamError, StreamRun

__all__ = ["AlpacaProvider", "alpaca_timeframe"]

log = structlog.get_logger(__name__)

NEW_YORK = ZoneInfo("America/New_York")
BARS_PATH = "/v2/stocks/bars"
QUOTES_PATH = "/v2/stocks/quotes"
LOT = 100
"""Shares per round lot: Alpaca's quote sizes are in round lots."""
IEX_QUOTE_SYMBOLS = 30
"""Symbols whose quotes the IEX feed streams on one connection."""
PAGE_LIMIT = 10_000
"""Alpaca's maximum ``limit`` per page."""
MAX_RATE_LIMIT_WAIT = 60.0
REST_ATTEMPTS = 4
"""Attempts of one REST request when the connection fails or the server answers 5xx."""
PING_INTERVAL = 20.0
PING_TIMEOUT = 20.0
FATAL_STREAM_ERRORS = {402: "auth failed", 405: "symbol limit exceeded", 409: "insufficient subscription"}
"""Stream errors that no reconnect can fix; every other error code is retried with backoff."""

_DEFAULT_BACKOFF = Backoff()


def alpaca_timeframe(interval: str) -> str:
    """Alpaca's ``timeframe`` for an interval string: ``5m`` -> ``5Min``, ``60m`` -> ``1Hour``,
    ``1d`` -> ``1Day``; :class:`ProviderNotSupported` for what Alpaca cannot express."""
    try:
        parsed = Interval.parse(interval)
    except ValueError as exc:
        raise ProviderNotSupported(f"alpaca cannot serve bars of {interval!r}: {exc}") from exc
    if parsed.is_daily:
        return "1Day"
    minutes, seconds = divmod(parsed.seconds, 60)
    if seconds == 0 and minutes < 60:
        return f"{minutes}Min"
    if seconds == 0 and minutes % 60 == 0:
        return f"{minutes // 60}Hour"
    raise ProviderNotSupported(
        f"alpaca cannot serve bars of {interval!r}: its timeframes are 1-59 minutes, 1-23 hours or 1 day"
    )


class _BadItem(ValueError):
    """A bar item that breaks the protocol or the bar rules; the message says how."""


@dataclass(frozen=True, slots=True)
class _BarsQuery:
    symbols: frozenset[str]
    interval: Interval
    timeframe: str
    start_ts: int
    end_ts: int


class _Transient(Exception):
    """A REST failure worth retrying: no connection, a timeout, a 5xx."""


class AlpacaProvider(ReconnectingStream):
    """Alpaca market data v2 behind :class:`domain.providers.MarketDataProvider`."""

    name = "alpaca"

    def __init__(
        self,
        key_id: str,
        secret_key: str,
        *,
        data_url: str = "https://data.alpaca.markets",
        stream_url: str = "wss://stream.data.alpaca.markets",
        feed: str = "iex",
        clock: Clock | None = None,
        backoff: Backoff = _DEFAULT_BACKOFF,
        request_timeout: float = 10.0,
        max_rate_limit_retries: int = 5,
        rng: random.Random | None = None,
    ) -> None:
        if not request_timeout > 0:
            raise ValueError(f"request_timeout must be > 0, got {request_timeout}")
        if max_rate_limit_retries < 0:
            raise ValueError(f"max_rate_limit_retries must be >= 0, got {max_rate_limit_retries}")
        self._key_id = key_id
        self._secret_key = secret_key
        self._data_url = data_url.rstrip("/")
        self._stream_url = f"{stream_url.rstrip('/')}/v2/{feed}"
        self._feed = feed
        self._clock: Clock = clock or WallClock()
        self._backoff = backoff
        self._request_timeout = request_timeout
        self._max_rate_limit_retries = max_rate_limit_retries
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._state = ConnectionState.DISCONNECTED
        self._run: StreamRun | None = None
        self._thread: threading.Thread | None = None
        # messages: websocket messages received; reconnects: reconnect attempts
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "messages",
                "bars",
                "updated_bars",
                "quotes",
                "invalid_quotes",
                "reconnects",
                "malformed",
                "rate_limited",
            ),
            0,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, **kwargs: Any) -> AlpacaProvider:
        """A provider keyed by ``APCA_API_KEY_ID``/``APCA_API_SECRET_KEY``; ``APCA_API_DATA_URL``,
        ``APCA_API_STREAM_URL`` and ``APCA_DATA_FEED`` override the defaults, ``kwargs`` all."""
        keys = []
        for variable in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY"):
            value = environ.get(variable, "").strip()
            if not value:
                raise ProviderAuthError(
                    f"{variable} is not set: the alpaca provider needs the key pair "
                    "APCA_API_KEY_ID and APCA_API_SECRET_KEY in the environment"
                )
            keys.append(value)
        for variable, option in (
            ("APCA_API_DATA_URL", "data_url"),
            ("APCA_API_STREAM_URL", "stream_url"),
            ("APCA_DATA_FEED", "feed"),
        ):
            if environ.get(variable, "").strip():
                kwargs.setdefault(option, environ[variable].strip())
        return cls(keys[0], keys[1], **kwargs)

    @property
    def state(self) -> ConnectionState:
        return self._state

    def clock(self) -> Clock:
        return self._clock

    # -- history (REST) -------------------------------------------------------------------------

    def fetch_bars(self, symbols: Sequence[str], interval: str, start_ts: int, end_ts: int) -> list[Bar]:
        """Bars of ``[start_ts, end_ts)`` sorted by (symbol, ts); raises ProviderError subtypes."""
        timeframe = alpaca_timeframe(interval)
        wanted = sorted(set(symbols))
        if not wanted or end_ts <= start_ts:
            return []
        query = _BarsQuery(frozenset(wanted), Interval.parse(interval), timeframe, start_ts, end_ts)
        params = {
            "symbols": ",".join(wanted),
            "timeframe": timeframe,
            "start": _rfc3339(start_ts),
            "end": _rfc3339(end_ts - 1),
            "limit": str(PAGE_LIMIT),
            "adjustment": "raw",
            "feed": self._feed,
        }
        bars: dict[tuple[str, int], Bar] = {}
        pages = self._pages(
            BARS_PATH, params, lambda payload, page: self._read_page(payload, query, page, bars)
        )
        log.info("alpaca_bars_fetched", symbols=len(wanted), interval=interval, pages=pages, bars=len(bars))
        return sorted(bars.values(), key=lambda bar: (bar.symbol, bar.ts))

    def fetch_quotes(self, symbols: Sequence[str], start_ts: int, end_ts: int) -> list[Quote]:
        """Quotes of the seconds ``[start_ts, end_ts)`` sorted by (symbol, time); raises
        ProviderError subtypes (the module docstring says what is asked and read)."""
        wanted = sorted(set(symbols))
        if not wanted or end_ts <= start_ts:
            return []
        params = {
            "symbols": ",".join(wanted),
            "start": _rfc3339(start_ts),
            "end": ts_to_datetime(end_ts - 1).strftime("%Y-%m-%dT%H:%M:%S.999999Z"),
            "limit": str(PAGE_LIMIT),
            "feed": self._feed,
            "sort": "asc",
        }
        quotes: list[Quote] = []
        received = int(self._clock.now().timestamp() * 1_000_000)

        def read(payload: Any, page: int) -> str | None:
            return self._read_quote_page(payload, frozenset(wanted), start_ts, end_ts, page, received, quotes)

        pages = self._pages(QUOTES_PATH, params, read)
        log.info("alpaca_quotes_fetched", symbols=len(wanted), pages=pages, quotes=len(quotes))
        return sorted(quotes, key=lambda quote: (quote.symbol, quote.event_us))

    def _pages(self, path: str, params: dict[str, str], read: Callable[[Any, int], str | None]) -> int:
        """GET ``path`` page by page until ``next_page_token`` is null; ``read`` checks and keeps
        each page and returns its token. The number of pages."""
        headers = {
            "APCA-API-KEY-ID": self._key_id,
            "APCA-API-SECRET-KEY": self._secret_key,
            "Accept": "application/json",
        }
        token: str | None = None
        with httpx.Client(headers=headers, timeout=self._request_timeout) as client:
            for page in itertools.count(1):
                payload = self._get_page(
                    client, path, params if token is None else {**params, "page_token": token}
                )
                next_token = read(payload, page)
                if next_token is None:
                    return page
                if next_token == token:
                    raise ProviderProtocolError(f"alpaca repeated next_page_token {token!r} (page {page})")
                token = next_token
        raise AssertionError("unreachable")

    def _get_page(self, client: httpx.Client, path: str, params: dict[str, str]) -> Any:
        rate_limited = 0
        while True:
            response = self._send(client, path, params)
            status = response.status_code
            if status == 429:
                self.stats["rate_limited"] += 1
                wait = self._rate_limit_wait(response)
                if rate_limited >= self._max_rate_limit_retries:
                    raise ProviderRateLimited(
                        f"alpaca rate limit: HTTP 429 on GET {path} after {rate_limited} retries",
                        retry_after=wait,
                    )
                delay = min(
                    MAX_RATE_LIMIT_WAIT, wait if wait is not None else self._backoff_delay(rate_limited)
                )
                rate_limited += 1
                log.warning("alpaca_rate_limited", retry=rate_limited, wait_seconds=round(delay, 3))
                time.sleep(delay)
                continue
            if status in (401, 403):
                message = _error_message(response)
                kind = ProviderSubscriptionError if "subscription" in message.lower() else ProviderAuthError
                raise kind(f"alpaca refused the request (HTTP {status}): {message}")
            if status != 200:
                raise ProviderError(
                    f"alpaca answered HTTP {status} to GET {path}: {_error_message(response)}"
                )
            try:
                return response.json()
            except ValueError as exc:
                raise ProviderProtocolError(f"alpaca returned malformed JSON for GET {path}: {exc}") from exc

    def _send(self, client: httpx.Client, path: str, params: dict[str, str]) -> httpx.Response:
        """One GET, retried with backoff on connection errors and 5xx (tenacity)."""
        url = self._data_url + path

        def attempt() -> httpx.Response:
            try:
                response = client.get(url, params=params)
            except httpx.TransportError as exc:
                raise _Transient(f"{type(exc).__name__}: {exc}") from exc
            if response.status_code >= 500:
                raise _Transient(f"HTTP {response.status_code}: {_error_message(response)}")
            return response

        retrying = Retrying(
            stop=stop_after_attempt(REST_ATTEMPTS),
            wait=lambda retry_state: self._backoff_delay(retry_state.attempt_number - 1),
            retry=retry_if_exception_type(_Transient),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Transient as exc:
            raise ProviderUnavailable(
                f"alpaca data API at {url} unavailable after {REST_ATTEMPTS} attempts: {exc}"
            ) from exc

    def _backoff_delay(self, attempt: int) -> float:
        return self._backoff.delay(attempt, self._rng)

    def _rate_limit_wait(self, response: httpx.Response) -> float | None:
        """Seconds to wait per ``Retry-After`` (seconds or HTTP date), else ``X-RateLimit-Reset``
        (epoch seconds, read against this provider's clock); ``None`` when neither says."""
        now = self._clock.now()
        retry_after = response.headers.get("Retry-After")
        if retry_after is not None:
            with suppress(ValueError):
                return max(0.0, float(retry_after))
            with suppress(TypeError, ValueError):
                return max(0.0, (parsedate_to_datetime(retry_after) - now).total_seconds())
        reset = response.headers.get("X-RateLimit-Reset")
        if reset is not None:
            with suppress(ValueError):
                return min(MAX_RATE_LIMIT_WAIT, max(0.0, float(reset) - now.timestamp()))
        return None

    def _read_page(
        self, payload: Any, query: _BarsQuery, page: int, into: dict[tuple[str, int], Bar]
    ) -> str | None:
        """Check one page and add its bars of ``[start_ts, end_ts)`` to ``into``; the next token."""
        token, by_symbol = _page(payload, "bars", page, query.symbols)
        for symbol, items in by_symbol:
            for item in items:
                stamp = item.get("t") if isinstance(item, dict) else None
                where = f"alpaca {query.timeframe} bar of {symbol} at {stamp} (page {page})"
                try:
                    raw_ts, bar = _parse_bar(item, symbol, query.interval)
                except _BadItem as exc:
                    raise ProviderProtocolError(f"{where}: {exc}") from None
                if not query.start_ts <= raw_ts < query.end_ts:
                    raise ProviderProtocolError(
                        f"{where}: outside the requested range "
                        f"[{_rfc3339(query.start_ts)}, {_rfc3339(query.end_ts)})"
                    )
                if not query.start_ts <= bar.ts < query.end_ts:
                    continue  # a day bar whose session date starts before start_ts
                if (symbol, bar.ts) in into:
                    raise ProviderProtocolError(f"{where}: a second bar for the same time")
                into[symbol, bar.ts] = bar
        return token

    def _read_quote_page(
        self,
        payload: Any,
        symbols: frozenset[str],
        start_ts: int,
        end_ts: int,
        page: int,
        received_us: int,
        into: list[Quote],
    ) -> str | None:
        """Check one quotes page and add its valid quotes to ``into``; the next token."""
        token, by_symbol = _page(payload, "quotes", page, symbols)
        for symbol, items in by_symbol:
            for item in items:
                stamp = item.get("t") if isinstance(item, dict) else None
                try:
                    quote = _parse_quote(item, symbol, received_us)
                except _BadItem as exc:
                    raise ProviderProtocolError(
                        f"alpaca quote of {symbol} at {stamp} (page {page}): {exc}"
                    ) from None
                if not start_ts <= quote.ts < end_ts:
                    raise ProviderProtocolError(
                        f"alpaca quote of {symbol} at {stamp} (page {page}): outside the requested range "
                        f"[{_rfc3339(start_ts)}, {_rfc3339(end_ts)})"
                    )
                if self._valid_quote(quote):
                    into.append(quote)
        return token

    def _valid_quote(self, quote: Quote) -> bool:
        reason = quote_violation(quote)
        if reason is not None:
            self.stats["invalid_quotes"] += 1
            log.warning("alpaca_quote_refused", symbol=quote.symbol, event_us=quote.event_us, reason=reason)
        return reason is None

    # -- live (websocket) -----------------------------------------------------------------------

    def start_stream(self, symbols: Sequence[str], sink: StreamSink, quotes: Sequence[str] = ()) -> None:
        """Start streaming minute bars of ``symbols`` (and quotes of ``quotes``) to ``sink`` on a
        daemon thread. :class:`ProviderSubscriptionError` for more quote symbols than the IEX
        feed streams."""
        quoted = sorted(set(quotes))
        if self._feed == "iex" and len(quoted) > IEX_QUOTE_SYMBOLS:
            raise ProviderSubscriptionError(
                f"alpaca's iex feed streams quotes of at most {IEX_QUOTE_SYMBOLS} symbols, "
                f"and {len(quoted)} were asked for: stream fewer, or use the sip feed (APCA_DATA_FEED=sip)"
            )
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError("the alpaca stream is already running: stop_stream() first")
            run = StreamRun(sorted(set(symbols)), sink, quoted)
            self._run = run
            self._thread = threading.Thread(
                target=self._stream, args=(run,), name="alpaca-stream", daemon=True
            )
            self._thread.start()

    def stop_stream(self, timeout: float) -> None:
        """Close the socket and join the stream thread within ``timeout`` seconds; state CLOSED."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            run, thread = self._run, self._thread
            self._run = self._thread = None
        if run is not None:
            with run.lock:  # after this, the stream thread calls the sink no more
                run.stop.set()
                ws = run.ws
            if ws is not None:
                ws.close_timeout = max(0.0, deadline - time.monotonic())
                try:
                    ws.close()
                except (WebSocketException, OSError) as exc:
                    log.warning("alpaca_stream_close_failed", error=repr(exc))
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("alpaca_stream_stop_timed_out", timeout=timeout)
        with self._lock:
            self._state = ConnectionState.CLOSED
        if run is not None:
            run.sink.state(ConnectionState.CLOSED, None)
        log.info("alpaca_stream_stopped", **self.stats)

    def _connection(self, run: StreamRun) -> None:
        """One connection, from the opening handshake until it ends (raises) or stop is set."""
        try:
            with connect(
                self._stream_url,
                open_timeout=self._request_timeout,
                close_timeout=self._request_timeout,
                ping_interval=PING_INTERVAL,
                ping_timeout=PING_TIMEOUT,
            ) as ws:
                with run.lock:
                    if run.stop.is_set():
                        return
                    run.ws = ws
                try:
                    self._converse(run, ws)
                finally:
                    with run.lock:
                        run.ws = None
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise StreamError(
                f"websocket upgrade refused with HTTP {status} at {self._stream_url}",
                fatal=status in (401, 403, 404),
            ) from exc
        except InvalidURI as exc:
            raise StreamError(f"invalid stream URL: {exc}", fatal=True) from exc
        except (WebSocketException, OSError) as exc:  # closed, reset, refused, timed out
            raise StreamError(f"{type(exc).__name__}: {exc}") from exc

    def _converse(self, run: StreamRun, ws: ClientConnection) -> None:
        """Handshake (connected -> auth -> subscribe), then deliver bars until the connection ends."""
        expecting: str | None = "connected"
        while True:
            try:
                raw = ws.recv(timeout=self._request_timeout if expecting else None)
            except TimeoutError:
                raise StreamError(f"no {expecting!r} message within {self._request_timeout}s") from None
            self.stats["messages"] += 1
            try:
                items = json.loads(raw)
            except ValueError:
                self._malformed(raw, "not JSON")
                continue
            if not isinstance(items, list):
                items = [items]
            # consecutive bars ("b"), updated bars ("u") or quotes ("q") go to the sink as one batch
            for batch_kind, group in itertools.groupby(items, key=_data_kind):
                if batch_kind is None:
                    for item in group:
                        expecting = self._control(run, ws, item, expecting)
                    continue
                if batch_kind == "q":
                    self._quote_items(run, group)
                    continue
                bars = []
                for item in group:
                    try:
                        bars.append(_parse_bar(item, None, MINUTE)[1])
                    except _BadItem as exc:
                        self._malformed(item, str(exc))
                if bars:
                    self._deliver_bars(run, bars, updated=batch_kind == "u")

    def _control(self, run: StreamRun, ws: ClientConnection, item: Any, expecting: str | None) -> str | None:
        """Act on a control message; what the handshake expects next (``None``: streaming)."""
        kind = item.get("T") if isinstance(item, dict) else None
        if kind == "error":
            code, message = item.get("code"), item.get("msg")
            raise StreamError(f"alpaca error {code}: {message}", fatal=code in FATAL_STREAM_ERRORS)
        if kind == "success" and item.get("msg") == "connected" and expecting == "connected":
            ws.send(json.dumps({"action": "auth", "key": self._key_id, "secret": self._secret_key}))
            return "authenticated"
        if kind == "success" and item.get("msg") == "authenticated" and expecting == "authenticated":
            subscribe = {"action": "subscribe", "bars": run.symbols, "updatedBars": run.symbols}
            ws.send(json.dumps(subscribe | ({"quotes": run.quotes} if run.quotes else {})))
            return "subscription"
        if kind == "subscription" and expecting == "subscription":
            missing = sorted(set(run.symbols) - set(item.get("bars") or ()))
            missing_quotes = sorted(set(run.quotes) - set(item.get("quotes") or ()))
            if missing or missing_quotes:
                log.warning("alpaca_subscription_incomplete", missing=missing, missing_quotes=missing_quotes)
            self._connected(run)
            return None
        if kind is None:
            self._malformed(item, "not a typed message")
        return expecting  # other types (trades, statuses…) are not ours to handle

    def _quote_items(self, run: StreamRun, items: Iterable[Any]) -> None:
        received = int(time.time() * 1_000_000)
        quotes = []
        for item in items:
            try:
                quote = _parse_quote(item, None, received)
            except _BadItem as exc:
                self._malformed(item, str(exc))
                continue
            if self._valid_quote(quote):
                quotes.append(quote)
        if quotes:
            self._deliver_quotes(run, quotes)


def _page(
    payload: Any, key: str, page: int, symbols: frozenset[str]
) -> tuple[str | None, list[tuple[str, list[Any]]]]:
    """A history page checked as far as its shape: its next token, and per requested symbol its
    list of items under ``key`` (``bars``, ``quotes``)."""
    if not isinstance(payload, dict):
        raise ProviderProtocolError(f"alpaca {key} page {page} is not a JSON object: {_clip(payload)}")
    token = payload.get("next_page_token")
    if token is not None and not isinstance(token, str):
        raise ProviderProtocolError(f"alpaca {key} page {page} has a non-string next_page_token {token!r}")
    by_symbol = {} if payload.get(key) is None else payload[key]
    if not isinstance(by_symbol, dict):
        raise ProviderProtocolError(f"alpaca {key} page {page}: '{key}' is not an object: {_clip(by_symbol)}")
    for symbol, items in by_symbol.items():
        if symbol not in symbols:
            raise ProviderProtocolError(f"alpaca {key} page {page} holds {symbol!r}, which was not requested")
        if not isinstance(items, list):
            raise ProviderProtocolError(f"alpaca {key} page {page}: {key} of {symbol} are not a list")
    return token or None, list(by_symbol.items())


def _data_kind(item: Any) -> str | None:
    """``"b"``, ``"u"`` or ``"q"`` for a bar, an updated bar or a quote item, else ``None``."""
    kind = item.get("T") if isinstance(item, dict) else None
    return kind if kind in ("b", "u", "q") else None


def _item_symbol(item: Any, symbol: str | None) -> str:
    """The symbol of a stream or history item: ``symbol`` if given, else its ``S``."""
    if not isinstance(item, dict):
        raise _BadItem(f"not a JSON object: {_clip(item)}")
    if symbol is None:
        symbol = item.get("S")
        if not isinstance(symbol, str) or not symbol:
            raise _BadItem("no symbol 'S'")
    return symbol


def _parse_quote(item: Any, symbol: str | None, received_us: int) -> Quote:
    """Our quote for one Alpaca quote item (symbol from ``S`` unless given): sizes from round
    lots to shares, a price of 0 as a missing side, the conditions joined with commas."""
    symbol = _item_symbol(item, symbol)
    stamp = item.get("t")
    try:
        event_us = iso_us(stamp) if isinstance(stamp, str) and "T" in stamp else None
    except ValueError:
        event_us = None
    if event_us is None:
        raise _BadItem(f"bad or missing timestamp 't': {stamp!r}")
    numbers = []
    for key in ("bp", "bs", "ap", "as"):
        value = item.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _BadItem(f"non-numeric {key!r}: {value!r}")
        numbers.append(float(value))
    bid, bid_size, ask, ask_size = numbers
    conditions = item.get("c")
    if isinstance(conditions, list):
        conditions = ",".join(str(c) for c in conditions) or None
    elif conditions is not None and not isinstance(conditions, str):
        raise _BadItem(f"conditions 'c' neither a list nor a string: {conditions!r}")
    venues = [v if isinstance(v, str) and v else None for v in (item.get("bx"), item.get("ax"))]
    return Quote(
        symbol,
        event_us,
        bid or None,
        shares(bid_size, LOT),
        ask or None,
        shares(ask_size, LOT),
        venues[0],
        venues[1],
        conditions,
        received_us,
    )


def _parse_bar(item: Any, symbol: str | None, interval: Interval) -> tuple[int, Bar]:
    """Alpaca's timestamp (epoch seconds) and our bar for one bar item; symbol from ``S`` unless
    given. Day bars are keyed by their New York date; intraday bars must be interval-aligned."""
    symbol = _item_symbol(item, symbol)
    stamp = item.get("t")
    moment = _parse_time(stamp) if isinstance(stamp, str) else None
    if moment is None:
        raise _BadItem(f"bad or missing timestamp 't': {stamp!r}")
    values = []
    for key in ("o", "h", "l", "c", "v"):
        value = item.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _BadItem(f"missing or non-numeric {key!r}: {value!r}")
        values.append(float(value))
    open_, high, low, close, volume = values
    violation = bar_violation(open_, high, low, close, volume)
    if violation is not None:
        raise _BadItem(f"{violation} (o={open_} h={high} l={low} c={close} v={volume})")
    raw_ts = int(moment.timestamp() // 1)
    if interval.is_daily:
        ts = daily_ts(moment.astimezone(NEW_YORK).date())
    else:
        ts = raw_ts
        if ts % interval.seconds:
            raise _BadItem(f"timestamp not aligned to a {interval} bar start")
    return raw_ts, Bar(symbol, str(interval), ts, open_, high, low, close, volume)


def _parse_time(text: str) -> datetime | None:
    """An RFC 3339 timestamp with its offset (``Z`` included); ``None`` if it is not one."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if "T" in text and moment.tzinfo is not None else None


def _rfc3339(ts: int) -> str:
    return ts_to_datetime(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error_message(response: httpx.Response) -> str:
    """Alpaca's ``{"message": …}`` (or ``{"code", "message"}``) error body, else the text."""
    try:
        body = response.json()
    except ValueError:
        return _clip(response.text) or response.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return _clip(body)


def _clip(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _log_retry(retry_state: RetryCallState) -> None:
    outcome = retry_state.outcome
    error = outcome.exception() if outcome is not None else None
    log.warning("alpaca_request_retry", attempt=retry_state.attempt_number, error=str(error))
