"""Schwab Trader API market data (SPEC §8): price history over REST, minute bars and level-one
quotes over the streamer. Tokens come from :class:`~ops.providers.schwab_auth.TokenStore`.

History — ``GET {api_url}/marketdata/v1/pricehistory`` for one symbol a request, with
``periodType=day``, ``frequencyType=minute`` (or ``daily``), ``frequency``, ``startDate`` and
``endDate`` in epoch milliseconds and ``needExtendedHoursData`` always set; the answer is
``{"symbol", "empty", "candles": [{"open", "high", "low", "close", "volume", "datetime"}]}`` with
``datetime`` the bar's start in epoch ms. Schwab keeps 1-minute bars for about
:data:`MINUTE_REACH_DAYS` days: asking further back is a clear error, not an empty answer. 401
refreshes the token once; 429 waits ``Retry-After``. ``GET /marketdata/v1/quotes`` (when quotes
are streamed) gives each symbol's current book at subscription: the level-one state the first
deltas merge onto. Schwab has no quote history:
``fetch_quotes`` answers nothing, so live quotes the stream dropped stay missing (the closing
minute fetches of the engine find nothing to add).

Streamer — ``GET {api_url}/trader/v1/userPreference`` gives ``streamerInfo`` (socket URL,
customer id, correlation id, channel, function id). On the socket::

    client  {"requests": [{"service": "ADMIN", "command": "LOGIN", "requestid": 0, …,
                           "parameters": {"Authorization": TOKEN, …}}]}
    server  {"response": [{"service": "ADMIN", "command": "LOGIN", "content": {"code": 0, …}}]}
    client  SUBS CHART_EQUITY (keys, fields 0-8) [and LEVELONE_EQUITIES]
    server  {"data": [{"service": "CHART_EQUITY", "content": [{"key": "AAPL", "1": …}]}]}
    server  {"notify": [{"heartbeat": "…"}]}

``CHART_EQUITY`` fields as the live service sends them — which is not the published table:
1 sequence, 2 open, 3 high, 4 low, 5 close, 6 volume, 7 chart time (ms, the bar's start), 8 chart
day. A message whose fields do not fit that order (a non-integral sequence, a bar that breaks the
bar rules) is counted as malformed and logged, never delivered. ``LEVELONE_EQUITIES`` sends
deltas: each is merged onto the symbol's last full state (1 bid, 2 ask, 4 bid size, 5 ask size,
6 ask venue, 7 bid venue, 34 quote time in ms; sizes in round lots of 100). Response codes: 3
(login denied), 12 (closed: one streamer per user), 19 (symbol limit) are final; 30 (stop
streaming) and a dropped connection reconnect with backoff, resubscribe, and report the minutes
lost as an outage. ``reconnect`` (the engine's feed watchdog) cuts a mute socket at once.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import structlog
from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from actors.wall_clock import WallClock
from domain.bars import Bar, bar_violation, daily_ts
from domain.clock import Clock
from domain.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNotSupported,
    ProviderProtocolError,
    ProviderRateLimited,
    ProviderUnavailable,
)
from domain.intervals import Interval
from domain.providers import Backoff, ConnectionState, StreamSink
from domain.quotes import Quote, quote_violation, shares
from ops.providers.schwab_auth import TokenStore
from ops.providers.streaming import ReconnectingStream, StreamError, StreamRun

__all__ = ["MINUTE_REACH_DAYS", "SchwabProvider"]

log = structlog.get_logger(__name__)

NEW_YORK = ZoneInfo("America/New_York")
MINUTE_REACH_DAYS = 48
"""How far back Schwab keeps 1-minute price history (days)."""
LOT = 100
MINUTE_FREQUENCIES = (1, 5, 10, 15, 30)
FATAL_CODES = {3: "login denied", 12: "connection closed: one streamer per user", 19: "symbol limit reached"}
STOP_STREAMING = 30
MAX_RATE_LIMIT_RETRIES = 3
_CHART_FIELDS = "0,1,2,3,4,5,6,7,8"
_DEFAULT_BACKOFF = Backoff()
_QUOTE_FIELDS = "0,1,2,4,5,6,7,34"


class SchwabProvider(ReconnectingStream):
    """Schwab market data behind :class:`domain.providers.MarketDataProvider`."""

    name = "schwab"

    def __init__(
        self,
        tokens: TokenStore,
        *,
        api_url: str = "https://api.schwabapi.com",
        clock: Clock | None = None,
        backoff: Backoff = _DEFAULT_BACKOFF,
        request_timeout: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        self._tokens = tokens
        self._api_url = api_url.rstrip("/")
        self._clock: Clock = clock or WallClock()
        self._backoff = backoff
        self._timeout = request_timeout
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._state = ConnectionState.DISCONNECTED
        self._run: StreamRun | None = None
        self._thread: threading.Thread | None = None
        self.stats: dict[str, int] = dict.fromkeys(
            ("messages", "bars", "quotes", "heartbeats", "reconnects", "malformed", "rate_limited"), 0
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, **kwargs: Any) -> SchwabProvider:
        """A provider keyed by ``SCHWAB_CLIENT_ID``/``SCHWAB_CLIENT_SECRET`` with its tokens in
        ``SCHWAB_TOKEN_FILE`` (default ``~/.config/marketsession/schwab-token.json``);
        ``SCHWAB_API_URL`` overrides the endpoint."""
        keys = []
        for variable in ("SCHWAB_CLIENT_ID", "SCHWAB_CLIENT_SECRET"):
            value = environ.get(variable, "").strip()
            if not value:
                raise ProviderAuthError(
                    f"{variable} is not set: the schwab provider needs the app's key and secret"
                )
            keys.append(value)
        api_url = environ.get("SCHWAB_API_URL", "").strip() or "https://api.schwabapi.com"
        path = environ.get("SCHWAB_TOKEN_FILE", "").strip() or default_token_file()
        tokens = TokenStore(path, client_id=keys[0], client_secret=keys[1], auth_url=api_url)
        return cls(tokens, api_url=api_url, **kwargs)

    def check_login(self) -> None:
        """Raise :class:`ProviderAuthError` (what to do) unless a valid access token can be had."""
        self._tokens.access_token()

    @property
    def state(self) -> ConnectionState:
        return self._state

    def clock(self) -> Clock:
        return self._clock

    # -- history (REST) -------------------------------------------------------------------------

    def fetch_bars(self, symbols: Sequence[str], interval: str, start_ts: int, end_ts: int) -> list[Bar]:
        parsed = Interval.parse(interval)
        if parsed.is_daily:
            frequency_type, frequency = "daily", 1
        elif parsed.seconds % 60 == 0 and parsed.seconds // 60 in MINUTE_FREQUENCIES:
            frequency_type, frequency = "minute", parsed.seconds // 60
        else:
            raise ProviderNotSupported(
                f"schwab cannot serve bars of {interval!r}: 1, 5, 10, 15, 30 minutes or 1 day"
            )
        now = int(self._clock.now().timestamp())
        if frequency_type == "minute" and frequency == 1 and start_ts < now - MINUTE_REACH_DAYS * 86_400:
            reach = datetime.fromtimestamp(now - MINUTE_REACH_DAYS * 86_400, UTC).date().isoformat()
            asked = datetime.fromtimestamp(start_ts, UTC).date().isoformat()
            raise ProviderNotSupported(
                f"schwab keeps 1-minute bars for about {MINUTE_REACH_DAYS} days (from {reach}); "
                f"asked from {asked}: import older minutes from files"
            )
        bars: list[Bar] = []
        for symbol in sorted(set(symbols)):
            params = {
                "symbol": symbol,
                "periodType": "day" if frequency_type == "minute" else "year",
                "frequencyType": frequency_type,
                "frequency": str(frequency),
                "startDate": str(start_ts * 1000),
                "endDate": str(end_ts * 1000),
                "needExtendedHoursData": "true",
            }
            payload = self._get("/marketdata/v1/pricehistory", params)
            bars.extend(_candles(payload, symbol, parsed, start_ts, end_ts))
        return sorted(bars, key=lambda bar: (bar.symbol, bar.ts))

    def fetch_quotes(self, symbols: Sequence[str], start_ts: int, end_ts: int) -> list[Quote]:
        """Schwab keeps no quote history: nothing (see the module docstring)."""
        return []

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        refreshed = False
        rate_limited = 0
        while True:
            headers = {"Authorization": f"Bearer {self._tokens.access_token()}", "Accept": "application/json"}
            try:
                response = httpx.get(
                    self._api_url + path, params=params, headers=headers, timeout=self._timeout
                )
            except httpx.TransportError as exc:
                raise ProviderUnavailable(
                    f"schwab at {self._api_url} did not answer GET {path}: {exc}"
                ) from exc
            if response.status_code == 401 and not refreshed:  # expired early: refresh once
                refreshed = True
                self._tokens.invalidate()
                continue
            if response.status_code == 429:
                self.stats["rate_limited"] += 1
                wait = _retry_after(response)
                if rate_limited >= MAX_RATE_LIMIT_RETRIES:
                    raise ProviderRateLimited(f"schwab rate limit: HTTP 429 on GET {path}", retry_after=wait)
                rate_limited += 1
                time.sleep(min(60.0, wait if wait is not None else 1.0))
                continue
            if response.status_code in (401, 403):
                raise ProviderAuthError(
                    f"schwab refused GET {path} (HTTP {response.status_code}): {response.text[:200]}"
                )
            if response.status_code >= 500:
                raise ProviderUnavailable(f"schwab answered HTTP {response.status_code} to GET {path}")
            if response.status_code != 200:
                raise ProviderError(
                    f"schwab answered HTTP {response.status_code} to GET {path}: {response.text[:200]}"
                )
            try:
                return response.json()
            except ValueError as exc:
                raise ProviderProtocolError(f"schwab returned malformed JSON for GET {path}: {exc}") from exc

    # -- live (streamer) ------------------------------------------------------------------------

    def start_stream(self, symbols: Sequence[str], sink: StreamSink, quotes: Sequence[str] = ()) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError("the schwab stream is already running: stop_stream() first")
            run = StreamRun(sorted(set(symbols)), sink, sorted(set(quotes)))
            self._run = run
            self._thread = threading.Thread(
                target=self._stream, args=(run,), name="schwab-stream", daemon=True
            )
            self._thread.start()

    def stop_stream(self, timeout: float) -> None:
        with self._lock:
            run, thread = self._run, self._thread
            self._run = self._thread = None
        if run is not None:
            with run.lock:
                run.stop.set()
                ws = run.ws
            if ws is not None:
                with suppress(OSError):
                    ws.socket.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout)
        self._state = ConnectionState.CLOSED
        if run is not None:
            run.sink.state(ConnectionState.CLOSED, None)

    def _connection(self, run: StreamRun) -> None:
        preferences = self._get("/trader/v1/userPreference")
        try:
            info = preferences["streamerInfo"][0]
            url = info["streamerSocketUrl"]
        except (KeyError, IndexError, TypeError):
            raise ProviderProtocolError(
                f"schwab userPreference has no streamerInfo: {str(preferences)[:200]}"
            ) from None
        try:
            with connect(url, open_timeout=self._timeout, close_timeout=self._timeout) as ws:
                with run.lock:
                    if run.stop.is_set():
                        return
                    run.ws = ws
                try:
                    self._converse(run, ws, info)
                finally:
                    with run.lock:
                        run.ws = None
        except (WebSocketException, OSError) as exc:
            raise StreamError(f"{type(exc).__name__}: {exc}") from exc

    def _converse(self, run: StreamRun, ws: ClientConnection, info: Mapping[str, Any]) -> None:
        ids = {
            "SchwabClientCustomerId": info.get("schwabClientCustomerId"),
            "SchwabClientCorrelId": info.get("schwabClientCorrelId"),
        }
        login = {
            "service": "ADMIN", "command": "LOGIN", "requestid": 0, **ids,
            "parameters": {
                "Authorization": self._tokens.access_token(),
                "SchwabClientChannel": info.get("schwabClientChannel"),
                "SchwabClientFunctionId": info.get("schwabClientFunctionId"),
            },
        }  # fmt: skip
        ws.send(json.dumps({"requests": [login]}))
        logged_in = False
        while True:
            try:
                raw = ws.recv(timeout=None if logged_in else self._timeout)
            except TimeoutError:
                raise StreamError(f"no LOGIN answer within {self._timeout}s") from None
            self.stats["messages"] += 1
            try:
                message = json.loads(raw)
            except ValueError:
                self._malformed(raw, "not JSON")
                continue
            if not isinstance(message, dict):
                self._malformed(raw, "not a JSON object")
                continue
            for entry in message.get("response", []) + message.get("notify", []):
                code = _code(entry)
                if "heartbeat" in entry:
                    self.stats["heartbeats"] += 1
                elif code in FATAL_CODES:
                    raise StreamError(f"schwab streamer code {code}: {FATAL_CODES[code]}", fatal=True)
                elif code == STOP_STREAMING:
                    raise StreamError("schwab streamer code 30: stop streaming")
                elif entry.get("command") == "LOGIN" and code == 0 and not logged_in:
                    logged_in = True
                    self._subscribe(run, ws, ids)
                elif code not in (None, 0):
                    log.warning("schwab_streamer_code", code=code, entry=str(entry)[:200])
            for data in message.get("data", []):
                self._data(run, data)

    def _subscribe(self, run: StreamRun, ws: ClientConnection, ids: Mapping[str, Any]) -> None:
        requests = [
            {"service": "CHART_EQUITY", "command": "SUBS", "requestid": 1, **ids,
             "parameters": {"keys": ",".join(run.symbols), "fields": _CHART_FIELDS}},
        ]  # fmt: skip
        if run.quotes:
            self._seed_books(run)
            requests.append(
                {"service": "LEVELONE_EQUITIES", "command": "SUBS", "requestid": 2, **ids,
                 "parameters": {"keys": ",".join(run.quotes), "fields": _QUOTE_FIELDS}}
            )  # fmt: skip
        ws.send(json.dumps({"requests": requests}))
        self._connected(run)

    def _seed_books(self, run: StreamRun) -> None:
        """The current book of each quote symbol from ``/marketdata/v1/quotes`` (sizes in lots,
        as the streamer's): the state the first level-one deltas merge onto, delivered as the
        first quotes. A failed snapshot only leaves the state to the deltas."""
        try:
            payload = self._get("/marketdata/v1/quotes", {"symbols": ",".join(run.quotes), "fields": "quote"})
        except ProviderError as error:
            log.warning("schwab_quote_snapshot_failed", error=str(error))
            return
        received = int(time.time() * 1_000_000)
        quotes = []
        for symbol in run.quotes:
            entry = payload.get(symbol) if isinstance(payload, dict) else None
            quote = entry.get("quote") if isinstance(entry, dict) else None
            if not isinstance(quote, dict):
                continue
            fields = {"1": "bidPrice", "2": "askPrice", "4": "bidSize", "5": "askSize", "6": "askMICId",
                      "7": "bidMICId", "34": "quoteTime"}  # fmt: skip
            state = {"key": symbol} | {key: quote[name] for key, name in fields.items() if name in quote}
            seeded = _merge_quote(run.books, state, None, received)
            if seeded is not None and quote_violation(seeded) is None:
                quotes.append(seeded)
        if quotes:
            self._deliver_quotes(run, quotes)

    def _data(self, run: StreamRun, data: Any) -> None:
        service = data.get("service") if isinstance(data, dict) else None
        content = data.get("content", []) if isinstance(data, dict) else []
        if service == "CHART_EQUITY":
            bars = []
            for item in content:
                try:
                    bars.append(_chart_bar(item))
                except ValueError as exc:
                    self._malformed(item, f"CHART_EQUITY fields not as the live service sends them: {exc}")
            if bars:
                self._deliver_bars(run, bars)
        elif service == "LEVELONE_EQUITIES":
            quotes = []
            received = int(time.time() * 1_000_000)
            for item in content:
                quote = _merge_quote(run.books, item, data.get("timestamp"), received)
                if quote is not None and quote_violation(quote) is None:
                    quotes.append(quote)
            if quotes:
                self._deliver_quotes(run, quotes)


def default_token_file() -> str:
    return str(Path.home() / ".config" / "marketsession" / "schwab-token.json")


def _code(entry: Any) -> int | None:
    content = entry.get("content") if isinstance(entry, dict) else None
    code = content.get("code") if isinstance(content, dict) else None
    return code if isinstance(code, int) else None


def _retry_after(response: httpx.Response) -> float | None:
    with suppress(TypeError, ValueError):
        return max(0.0, float(response.headers.get("Retry-After")))
    return None


def _candles(payload: Any, symbol: str, interval: Interval, start_ts: int, end_ts: int) -> list[Bar]:
    if not isinstance(payload, dict) or not isinstance(payload.get("candles", []), list):
        raise ProviderProtocolError(f"schwab pricehistory of {symbol} is not an object with 'candles'")
    bars = []
    for candle in payload.get("candles", []):
        try:
            values = [float(candle[k]) for k in ("open", "high", "low", "close", "volume")]
            stamp = int(candle["datetime"]) // 1000
        except (KeyError, TypeError, ValueError):
            raise ProviderProtocolError(
                f"schwab candle of {symbol} lacks a field: {str(candle)[:200]}"
            ) from None
        reason = bar_violation(*values)
        if reason is not None:
            raise ProviderProtocolError(f"schwab candle of {symbol} at {stamp}: {reason}")
        ts = daily_ts(datetime.fromtimestamp(stamp, NEW_YORK).date()) if interval.is_daily else stamp
        if start_ts <= ts < end_ts:
            bars.append(Bar(symbol, str(interval), ts, *values))
    return bars


def _chart_bar(item: Any) -> Bar:
    """A CHART_EQUITY item in the live field order (the module docstring); ValueError if not."""
    if not isinstance(item, dict) or not isinstance(item.get("key"), str):
        raise ValueError("no key")
    sequence = item.get("1")
    if not isinstance(sequence, int) or isinstance(sequence, bool):
        raise ValueError(f"field 1 (sequence) is {sequence!r}, not an integer")
    values = []
    for key in ("2", "3", "4", "5", "6"):
        value = item.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"field {key} is {value!r}")
        values.append(float(value))
    reason = bar_violation(*values)
    if reason is not None:
        raise ValueError(reason)
    stamp = item.get("7")
    if not isinstance(stamp, int) or stamp % 60_000:
        raise ValueError(f"field 7 (chart time) {stamp!r} is not a minute start in ms")
    return Bar(item["key"], "1m", stamp // 1000, *values)


def _merge_quote(
    books: dict[str, dict[str, Any]], item: Any, timestamp: Any, received_us: int
) -> Quote | None:
    """Merge a LEVELONE delta onto the symbol's last full state; the book as a quote (or None)."""
    if not isinstance(item, dict) or not isinstance(item.get("key"), str):
        return None
    book = books.setdefault(item["key"], {})
    book.update({k: v for k, v in item.items() if k != "key"})
    bid, ask = book.get("1"), book.get("2")
    if not isinstance(bid, int | float) or not isinstance(ask, int | float):
        return None
    moment = book.get("34", timestamp)
    if not isinstance(moment, int):
        return None
    bid_size, ask_size = (shares(float(book.get(k, 0)), LOT) for k in ("4", "5"))
    return Quote(
        item["key"], moment * 1000, float(bid) or None, bid_size, float(ask) or None, ask_size,
        _venue(book.get("7")), _venue(book.get("6")), None, received_us,
    )  # fmt: skip


def _venue(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
