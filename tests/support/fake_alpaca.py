"""A fake Alpaca market data v2 server on 127.0.0.1: real sockets, Alpaca's protocol.

REST (``http.server`` on port 0) answers ``GET /v2/stocks/bars`` and ``GET /v2/stocks/quotes`` as
Alpaca does (quotes: nanosecond stamps, sizes in round lots, ``c`` a list; ``end`` inclusive to
the microsecond): the key pair in
``APCA-API-KEY-ID``/``APCA-API-SECRET-KEY`` (missing: 401, wrong: 403), parameters checked
(400 with ``{"code", "message"}``), ``end`` inclusive, bars ordered by symbol then time and
paged with an opaque ``next_page_token``, day bars stamped at midnight New York time, 429 with
``Retry-After`` and ``X-RateLimit-*`` headers when told to.

The websocket (``websockets`` sync server on port 0) serves ``/v2/{feed}``: ``connected`` on
open, ``auth`` (402 on bad keys, 403 when repeated, 404 when it does not come in time),
``subscribe``/``unsubscribe`` only once authenticated (401 otherwise), a ``subscription``
message listing every channel, then whatever the test pushes: bars (``"T": "b"``), updated
bars (``"T": "u"``), quotes (``"T": "q"``), errors, raw text, or an abrupt drop of every
connection.

Everything it receives is recorded (REST requests, websocket actions, connections) and
:meth:`FakeAlpaca.wait_until` waits on that record with a timeout.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from domain.bars import Bar, daily_date
from domain.quotes import Quote

NEW_YORK = ZoneInfo("America/New_York")
BARS_PATH = "/v2/stocks/bars"
QUOTES_PATH = "/v2/stocks/quotes"
FEEDS = frozenset({"iex", "sip", "delayed_sip", "otc", "boats", "overnight", "test"})
CHANNELS = (
    "trades",
    "quotes",
    "bars",
    "updatedBars",
    "dailyBars",
    "statuses",
    "lulds",
    "corrections",
    "cancelErrors",
)
_TIMEFRAME_UNITS = {"Min": 1, "T": 1, "Hour": 60, "H": 60}


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One REST request as the fake received it; header names lower-cased."""

    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass(eq=False)
class _Session:
    authenticated: bool = False
    channels: dict[str, set[str]] = field(default_factory=lambda: {name: set() for name in CHANNELS})

    def wants(self, channel: str, symbol: str) -> bool:
        subscribed = self.channels[channel]
        return symbol in subscribed or "*" in subscribed


@dataclass(frozen=True, slots=True)
class _Scripted:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class _BadRequest(Exception):
    pass


class FakeAlpaca:
    """Alpaca's REST and websocket market-data servers, local and scriptable.

    Use as a context manager; ``data_url`` and ``stream_url`` are what the adapter is given.
    """

    def __init__(
        self, key_id: str = "AKFAKE0000", secret: str = "fake-secret", *, auth_timeout: float = 10.0
    ) -> None:
        self.key_id = key_id
        self.secret = secret
        self.auth_timeout = auth_timeout
        self.page_size: int | None = None
        """At most this many bars per page, whatever ``limit`` asks (forces pagination)."""
        self.reject_auth = False
        self.muted = False
        """Send nothing to the connections open now (the sockets stay open): a mute feed."""
        self.subscribe_error: tuple[int, str] | None = None
        """Answer every subscribe with this error (e.g. ``(409, "insufficient subscription")``)."""
        self.requests: list[RecordedRequest] = []
        self.actions: list[dict[str, Any]] = []
        self.ws_paths: list[str] = []
        self._bars: dict[tuple[str, str], dict[int, Bar]] = {}
        self._quotes: dict[str, list[Quote]] = {}
        self._scripted: list[_Scripted] = []
        self._connection_limit_next = 0
        self._connections = 0
        self._sessions: dict[ServerConnection, _Session] = {}
        self._changed = threading.Condition()
        self._http: ThreadingHTTPServer | None = None
        self._ws: Server | None = None
        self._threads: list[threading.Thread] = []

    # -- life -------------------------------------------------------------------------------

    def __enter__(self) -> FakeAlpaca:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        handler = type("Handler", (_RestHandler,), {"fake": self})
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._http.daemon_threads = True
        self._ws = serve(self._ws_session, "127.0.0.1", 0, process_request=self._ws_route)
        rest = functools.partial(self._http.serve_forever, poll_interval=0.02)  # a quick shutdown
        for name, target in (("fake-alpaca-rest", rest), ("fake-alpaca-ws", self._ws.serve_forever)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        if self._ws is not None:
            self._ws.shutdown()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        for thread in self._threads:
            thread.join(10)
        self._threads.clear()

    @property
    def data_url(self) -> str:
        assert self._http is not None, "FakeAlpaca is not started"
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def stream_url(self) -> str:
        assert self._ws is not None, "FakeAlpaca is not started"
        return f"ws://127.0.0.1:{self._ws.socket.getsockname()[1]}"

    # -- data and scripts -------------------------------------------------------------------

    def add_bars(self, bars: Iterable[Bar]) -> None:
        """Bars the REST endpoint serves (``1d`` bars go out stamped at New York midnight)."""
        with self._changed:
            for bar in bars:
                self._bars.setdefault((bar.symbol, bar.interval), {})[bar.ts] = bar

    def add_quotes(self, quotes: Iterable[Quote]) -> None:
        """Quotes the REST endpoint serves (sizes in shares here; sent as round lots)."""
        with self._changed:
            for quote in quotes:
                self._quotes.setdefault(quote.symbol, []).append(quote)
            for rows in self._quotes.values():
                rows.sort(key=lambda q: q.event_us)

    def rate_limit_next(self, n: int, retry_after: str | None = "0") -> None:
        """The next ``n`` REST requests answer 429 (``Retry-After`` omitted when ``None``)."""
        headers = () if retry_after is None else (("Retry-After", retry_after),)
        body = json.dumps({"message": "too many requests."}).encode()
        self._script([_Scripted(429, body, headers)] * n)

    def fail_next(self, n: int, status: int = 503) -> None:
        """The next ``n`` REST requests answer ``status`` (a 5xx outage)."""
        self._script([_Scripted(status, json.dumps({"message": HTTPStatus(status).phrase}).encode())] * n)

    def respond_next(self, status: int, body: str | bytes) -> None:
        """The next REST request (after the key check) gets exactly this answer."""
        self._script([_Scripted(status, body.encode() if isinstance(body, str) else body)])

    def connection_limit_next(self, n: int) -> None:
        """The next ``n`` websocket connections answer their auth with 406 and are closed
        (``0`` lets connections through again)."""
        with self._changed:
            self._connection_limit_next = n

    def _script(self, answers: list[_Scripted]) -> None:
        with self._changed:
            self._scripted.extend(answers)

    # -- what the fake saw ------------------------------------------------------------------

    @property
    def connections(self) -> int:
        """Websocket connections accepted so far."""
        return self._connections

    @property
    def open_connections(self) -> int:
        """Websocket connections open now."""
        with self._changed:
            return len(self._sessions)

    def subscribes(self) -> list[dict[str, Any]]:
        with self._changed:
            return [action for action in self.actions if action.get("action") == "subscribe"]

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate()`` holds (checked whenever the fake records something)."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    # -- websocket pushes -------------------------------------------------------------------

    def push(self, bars: Iterable[Bar], *, updated: bool = False) -> int:
        """Send ``bars`` as one ``b`` (or ``u``) message to each subscriber; how many got it."""
        bars = list(bars)
        channel, kind = ("updatedBars", "u") if updated else ("bars", "b")
        sent = 0
        for connection, session in self._live_sessions():
            items = [
                {"T": kind, "S": bar.symbol, **_bar_fields(bar)}
                for bar in bars
                if session.wants(channel, bar.symbol)
            ]
            if items and _send(connection, json.dumps(items)):
                sent += 1
        return sent

    def push_quotes(self, quotes: Iterable[Quote]) -> int:
        """Send ``quotes`` as one message of ``q`` items to each subscriber; how many got it."""
        quotes = list(quotes)
        sent = 0
        for connection, session in self._live_sessions():
            items = [
                {"T": "q", "S": quote.symbol, **_quote_fields(quote)}
                for quote in quotes
                if session.wants("quotes", quote.symbol)
            ]
            if items and _send(connection, json.dumps(items)):
                sent += 1
        return sent

    def send_raw(self, text: str) -> int:
        """Send ``text`` as it is to every authenticated connection."""
        return sum(_send(connection, text) for connection, _ in self._live_sessions())

    def send_error(self, code: int, message: str, *, close: bool = False) -> int:
        """Send ``[{"T": "error", …}]`` to every connection, then close it if ``close``."""
        sent = 0
        for connection, _ in self._live_sessions(authenticated_only=False):
            sent += _send(connection, _error(code, message))
            if close:
                connection.close()
        return sent

    def drop_connections(self) -> int:
        """Cut every websocket connection abruptly: no close frame, the TCP connection shut."""
        dropped = 0
        for connection, _ in self._live_sessions(authenticated_only=False):
            try:
                connection.socket.shutdown(socket.SHUT_RDWR)
                dropped += 1
            except OSError:
                pass
        return dropped

    def _live_sessions(
        self, *, authenticated_only: bool = True
    ) -> Iterator[tuple[ServerConnection, _Session]]:
        with self._changed:
            sessions = [] if self.muted else list(self._sessions.items())
        return ((c, s) for c, s in sessions if s.authenticated or not authenticated_only)

    # -- websocket server -------------------------------------------------------------------

    def _ws_route(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        with self._changed:
            self.ws_paths.append(path)
            self._changed.notify_all()
        parts = path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "v2" or parts[1] not in FEEDS:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    def _ws_session(self, connection: ServerConnection) -> None:
        session = _Session()
        with self._changed:
            self._connections += 1
            self._sessions[connection] = session
            self._changed.notify_all()
        try:
            connection.send(json.dumps([{"T": "success", "msg": "connected"}]))
            while True:
                try:
                    raw = connection.recv(timeout=None if session.authenticated else self.auth_timeout)
                except TimeoutError:
                    connection.send(_error(404, "auth timeout"))
                    connection.close()
                    return
                self._ws_action(connection, session, raw)
        except ConnectionClosed:
            pass
        finally:
            with self._changed:
                self._sessions.pop(connection, None)
                self._changed.notify_all()

    def _ws_action(self, connection: ServerConnection, session: _Session, raw: str | bytes) -> None:
        try:
            action = json.loads(raw)
        except ValueError:
            action = None
        if not isinstance(action, dict):
            connection.send(_error(400, "invalid syntax"))
            return
        with self._changed:
            self.actions.append(action)
            self._changed.notify_all()
        match action.get("action"):
            case "auth":
                self._ws_auth(connection, session, action)
            case "subscribe" | "unsubscribe" if not session.authenticated:
                connection.send(_error(401, "not authenticated"))
            case "subscribe" if self.subscribe_error is not None:
                connection.send(_error(*self.subscribe_error))
                connection.close()
            case "subscribe" | "unsubscribe" as verb:
                for channel in CHANNELS:
                    symbols = action.get(channel) or []
                    if verb == "subscribe":
                        session.channels[channel].update(symbols)
                    else:
                        session.channels[channel].difference_update(symbols)
                message = {"T": "subscription", **{c: sorted(session.channels[c]) for c in CHANNELS}}
                connection.send(json.dumps([message]))
            case _:
                connection.send(_error(400, "invalid syntax"))

    def _ws_auth(self, connection: ServerConnection, session: _Session, action: dict[str, Any]) -> None:
        if session.authenticated:
            connection.send(_error(403, "already authenticated"))
            return
        if self.reject_auth or action.get("key") != self.key_id or action.get("secret") != self.secret:
            connection.send(_error(402, "auth failed"))
            connection.close()
            return
        with self._changed:
            limited = self._connection_limit_next > 0
            if limited:
                self._connection_limit_next -= 1
        if limited:
            connection.send(_error(406, "connection limit exceeded"))
            connection.close()
            return
        with self._changed:
            session.authenticated = True
            self._changed.notify_all()
        connection.send(json.dumps([{"T": "success", "msg": "authenticated"}]))

    # -- REST -------------------------------------------------------------------------------

    def _rest(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        headers = {name.lower(): value for name, value in handler.headers.items()}
        with self._changed:
            self.requests.append(RecordedRequest(url.path, params, headers))
            self._changed.notify_all()
        if url.path not in (BARS_PATH, QUOTES_PATH):
            _reply(handler, 404, {"message": "Not Found"})
            return
        key, secret = headers.get("apca-api-key-id"), headers.get("apca-api-secret-key")
        if not key or not secret:
            _reply(handler, 401, {"message": "unauthorized."})
            return
        if key != self.key_id or secret != self.secret:
            _reply(handler, 403, {"message": "forbidden."})
            return
        with self._changed:
            scripted = self._scripted.pop(0) if self._scripted else None
        if scripted is not None:
            _reply_raw(handler, scripted.status, scripted.body, scripted.headers)
            return
        try:
            body = self._bars_page(params) if url.path == BARS_PATH else self._quotes_page(params)
        except _BadRequest as exc:
            _reply(handler, 400, {"code": 40010001, "message": str(exc)})
            return
        _reply(handler, 200, body)

    def _bars_page(self, params: dict[str, str]) -> dict[str, Any]:
        symbols = sorted({s for s in params.get("symbols", "").split(",") if s})
        if not symbols:
            raise _BadRequest("symbols is required")
        interval = _interval(params.get("timeframe", ""))
        start = _moment(params, "start")
        end = _moment(params, "end")
        if params.get("feed", "sip") not in FEEDS:
            raise _BadRequest(f"invalid feed: {params['feed']}")
        if params.get("adjustment", "raw") not in ("raw", "split", "dividend", "all"):
            raise _BadRequest(f"invalid adjustment: {params['adjustment']}")
        offset, size = self._paging(params)
        matching: list[tuple[str, int, Bar]] = []
        with self._changed:
            for symbol in symbols:
                for bar in self._bars.get((symbol, interval), {}).values():
                    stamp = _alpaca_ts(bar)
                    if (start is None or stamp >= start) and (end is None or stamp <= end):  # end inclusive
                        matching.append((symbol, stamp, bar))
        matching.sort(key=lambda entry: (entry[0], entry[1]))
        page = matching[offset : offset + size]
        by_symbol: dict[str, list[dict[str, Any]]] = {}
        for symbol, _, bar in page:
            by_symbol.setdefault(symbol, []).append(_bar_fields(bar))
        more = offset + size < len(matching)
        token = base64.urlsafe_b64encode(f"offset:{offset + size}".encode()).decode() if more else None
        return {"bars": by_symbol, "next_page_token": token}

    def _paging(self, params: dict[str, str]) -> tuple[int, int]:
        """(offset, size) of the page asked for: ``limit`` checked, ``page_token`` decoded."""
        try:
            limit = int(params.get("limit", "1000"))
        except ValueError:
            raise _BadRequest("invalid limit") from None
        if not 1 <= limit <= 10_000:
            raise _BadRequest("invalid limit: must be between 1 and 10000")
        return _offset(params.get("page_token")), min(limit, self.page_size or limit)

    def _quotes_page(self, params: dict[str, str]) -> dict[str, Any]:
        symbols = sorted({s for s in params.get("symbols", "").split(",") if s})
        if not symbols:
            raise _BadRequest("symbols is required")
        start, end = _moment_us(params, "start"), _moment_us(params, "end")
        if params.get("feed", "sip") not in FEEDS:
            raise _BadRequest(f"invalid feed: {params['feed']}")
        if params.get("sort", "asc") not in ("asc", "desc"):
            raise _BadRequest(f"invalid sort: {params['sort']}")
        offset, size = self._paging(params)
        with self._changed:
            matching = [
                quote
                for symbol in symbols
                for quote in self._quotes.get(symbol, ())
                if (start is None or quote.event_us >= start) and (end is None or quote.event_us <= end)
            ]
        page = matching[offset : offset + size]
        by_symbol: dict[str, list[dict[str, Any]]] = {}
        for quote in page:
            by_symbol.setdefault(quote.symbol, []).append(_quote_fields(quote))
        more = offset + size < len(matching)
        token = base64.urlsafe_b64encode(f"offset:{offset + size}".encode()).decode() if more else None
        return {"quotes": by_symbol, "next_page_token": token}


class _RestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeAlpaca

    def do_GET(self) -> None:
        self.fake._rest(self)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the fake records instead
        pass


def _reply(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    _reply_raw(handler, status, json.dumps(body).encode(), ())


def _reply_raw(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: tuple[tuple[str, str], ...]
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json; charset=UTF-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("X-RateLimit-Limit", "200")
    handler.send_header("X-RateLimit-Remaining", "0" if status == 429 else "199")
    handler.send_header("X-RateLimit-Reset", str(int(datetime.now(UTC).timestamp()) + 1))
    for name, value in headers:
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def _send(connection: ServerConnection, text: str) -> bool:
    try:
        connection.send(text)
    except ConnectionClosed:
        return False
    return True


def _error(code: int, message: str) -> str:
    return json.dumps([{"T": "error", "code": code, "msg": message}])


def _alpaca_ts(bar: Bar) -> int:
    """Alpaca's stamp of a bar: its start, or New York midnight of a day bar's date."""
    if bar.interval != "1d":
        return bar.ts
    return int(datetime.combine(daily_date(bar.ts), time(0), NEW_YORK).timestamp())


def _bar_fields(bar: Bar) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(_alpaca_ts(bar), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    volume: float = int(bar.volume) if float(bar.volume).is_integer() else bar.volume
    return {
        "t": stamp,
        "o": bar.open,
        "h": bar.high,
        "l": bar.low,
        "c": bar.close,
        "v": volume,
        "n": max(1, int(bar.volume) // 100),
        "vw": round((bar.high + bar.low + bar.close) / 3, 4),
    }


def _quote_fields(quote: Quote) -> dict[str, Any]:
    """Alpaca's fields of a quote: a nanosecond stamp, prices (0 for a missing side), sizes in
    round lots, venues, conditions as a list, the tape."""
    seconds, micros = divmod(quote.event_us, 1_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{micros:06d}123Z"
    return {
        "t": stamp,
        "bx": quote.bid_venue or "",
        "bp": quote.bid_price or 0,
        "bs": quote.bid_size / 100,
        "ax": quote.ask_venue or "",
        "ap": quote.ask_price or 0,
        "as": quote.ask_size / 100,
        "c": [] if quote.conditions is None else quote.conditions.split(","),
        "z": "C",
    }


def _moment_us(params: dict[str, str], name: str) -> int | None:
    text = params.get(name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _BadRequest(f"invalid {name}: {text!r}") from None
    if moment.tzinfo is None:
        raise _BadRequest(f"invalid {name}: {text!r} has no time zone")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _interval(timeframe: str) -> str:
    """Our interval spelling of an Alpaca timeframe (``5Min`` -> ``5m``, ``1Day`` -> ``1d``)."""
    if timeframe in ("1Day", "1D"):
        return "1d"
    for unit, minutes in _TIMEFRAME_UNITS.items():
        count = timeframe.removesuffix(unit)
        if count != timeframe and count.isdigit():
            n = int(count)
            if (unit in ("Min", "T") and 1 <= n <= 59) or (unit in ("Hour", "H") and 1 <= n <= 23):
                return f"{n * minutes}m"
    raise _BadRequest(f"invalid timeframe: {timeframe!r}")


def _moment(params: dict[str, str], name: str) -> int | None:
    us = _moment_us(params, name)
    return None if us is None else us // 1_000_000


def _offset(token: str | None) -> int:
    if token is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _BadRequest("invalid page token") from None
    prefix, _, number = text.partition(":")
    if prefix != "offset" or not number.isdigit():
        raise _BadRequest("invalid page token")
    return int(number)
