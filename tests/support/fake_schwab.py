"""A fake Schwab Trader API on 127.0.0.1: real sockets, Schwab's protocol as captured.

REST (``http.server``): ``POST /v1/oauth/token`` (HTTP Basic with the app's key and secret;
``authorization_code`` and ``refresh_token`` grants; an expired refresh token answers 400
``invalid_grant``), ``GET /trader/v1/userPreference`` (``streamerInfo``) and
``GET /marketdata/v1/pricehistory`` (one symbol, epoch-ms ``startDate``/``endDate``,
``needExtendedHoursData`` required), all with ``Authorization: Bearer`` — a token the fake did
not issue, or one it was told to expire, answers 401. 429 with ``Retry-After`` when told to.

Streamer (``websockets``): ``ADMIN LOGIN`` checks the token (code 3 when refused), then ``SUBS``
of ``CHART_EQUITY`` and ``LEVELONE_EQUITIES`` answer code 0. The test pushes bars (in the field
order the live service sends, or the published table's, to check a swap is caught), level-one
deltas, heartbeats, codes (12, 30), silence (``mute``), or an abrupt drop.
"""

from __future__ import annotations

import base64
import functools
import json
import secrets
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from domain.bars import Bar


@dataclass(eq=False)
class _Session:
    logged_in: bool = False
    subscribed: dict[str, set[str]] = field(default_factory=dict)


class FakeSchwab:
    """Schwab's OAuth, market-data REST and streamer, local and scriptable (a context manager)."""

    def __init__(self, client_id: str = "APPKEY", client_secret: str = "app-secret") -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.valid_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.refreshes = 0
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.actions: list[dict[str, Any]] = []
        self.muted = False
        self.refuse_login = False
        self.snapshot: dict[str, dict[str, Any]] = {}
        """Per symbol, the ``quote`` object ``/marketdata/v1/quotes`` answers (sizes in lots)."""
        """The streamer answers LOGIN with code 3 (REST still takes the token)."""
        self._bars: dict[str, list[Bar]] = {}
        self._rate_limit_next = 0
        self._sessions: dict[ServerConnection, _Session] = {}
        self._connections = 0
        self._changed = threading.Condition()
        self._http: ThreadingHTTPServer | None = None
        self._ws: Server | None = None
        self._threads: list[threading.Thread] = []

    # -- life -------------------------------------------------------------------------------

    def __enter__(self) -> FakeSchwab:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._http.daemon_threads = True
        self._ws = serve(self._ws_session, "127.0.0.1", 0)
        rest = functools.partial(self._http.serve_forever, poll_interval=0.02)
        for target in (rest, self._ws.serve_forever):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._ws is not None and self._http is not None
        self._ws.shutdown()
        self._http.shutdown()
        self._http.server_close()
        for thread in self._threads:
            thread.join(10)

    @property
    def api_url(self) -> str:
        assert self._http is not None
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def stream_url(self) -> str:
        assert self._ws is not None
        return f"ws://127.0.0.1:{self._ws.socket.getsockname()[1]}/ws"

    # -- tokens -----------------------------------------------------------------------------

    def issue(self) -> dict[str, Any]:
        """A fresh token pair, as the token endpoint answers it."""
        access, refresh = secrets.token_hex(8), secrets.token_hex(8)
        with self._changed:
            self.valid_tokens.add(access)
            self.refresh_tokens.add(refresh)
        return {"access_token": access, "refresh_token": refresh, "expires_in": 1800, "token_type": "Bearer"}

    def expire_access_tokens(self) -> None:
        with self._changed:
            self.valid_tokens.clear()

    def expire_refresh_tokens(self) -> None:
        with self._changed:
            self.refresh_tokens.clear()

    # -- data -------------------------------------------------------------------------------

    def add_bars(self, bars: Iterable[Bar]) -> None:
        with self._changed:
            for bar in bars:
                self._bars.setdefault(bar.symbol, []).append(bar)

    def rate_limit_next(self, n: int) -> None:
        self._rate_limit_next = n

    # -- streamer pushes --------------------------------------------------------------------

    def push_bars(self, bars: Iterable[Bar], *, published_order: bool = False) -> int:
        """One CHART_EQUITY message per connection (the live field order, or the published one)."""
        content = []
        for k, bar in enumerate(bars):
            values = (bar.open, bar.high, bar.low, bar.close, bar.volume)
            if published_order:  # 1-5 prices and volume, 6 the sequence
                fields = {
                    "1": values[0],
                    "2": values[1],
                    "3": values[2],
                    "4": values[3],
                    "5": values[4],
                    "6": k,
                }
            else:  # as captured: 1 the sequence, 2-6 prices and volume
                fields = {
                    "1": k,
                    "2": values[0],
                    "3": values[1],
                    "4": values[2],
                    "5": values[3],
                    "6": values[4],
                }
            content.append({"key": bar.symbol, **fields, "7": bar.ts * 1000, "8": bar.ts // 86_400})
        return self._send_data("CHART_EQUITY", content)

    def push_level_one(self, deltas: list[dict[str, Any]]) -> int:
        return self._send_data("LEVELONE_EQUITIES", deltas)

    def heartbeat(self) -> int:
        return self._broadcast({"notify": [{"heartbeat": "1751463000000"}]})

    def send_code(self, code: int, message: str) -> int:
        return self._broadcast({"notify": [{"service": "ADMIN", "content": {"code": code, "msg": message}}]})

    def drop_connections(self) -> int:
        dropped = 0
        for connection in list(self._sessions):
            try:
                connection.socket.shutdown(socket.SHUT_RDWR)
                dropped += 1
            except OSError:
                pass
        return dropped

    @property
    def connections(self) -> int:
        return self._connections

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def subscribed(self, service: str) -> set[str]:
        with self._changed:
            return set().union(*(s.subscribed.get(service, set()) for s in self._sessions.values()))

    def _send_data(self, service: str, content: list[dict[str, Any]]) -> int:
        return self._broadcast(
            {
                "data": [
                    {"service": service, "timestamp": 1751463000000, "command": "SUBS", "content": content}
                ]
            }
        )

    def _broadcast(self, message: dict[str, Any]) -> int:
        if self.muted:
            return 0
        sent = 0
        for connection, session in list(self._sessions.items()):
            if session.logged_in:
                try:
                    connection.send(json.dumps(message))
                    sent += 1
                except ConnectionClosed:
                    pass
        return sent

    # -- streamer ---------------------------------------------------------------------------

    def _ws_session(self, connection: ServerConnection) -> None:
        session = _Session()
        with self._changed:
            self._connections += 1
            self._sessions[connection] = session
            self._changed.notify_all()
        try:
            for raw in connection:
                message = json.loads(raw)
                for request in message.get("requests", []):
                    with self._changed:
                        self.actions.append(request)
                        self._changed.notify_all()
                    self._ws_request(connection, session, request)
        except ConnectionClosed:
            pass
        finally:
            with self._changed:
                self._sessions.pop(connection, None)
                self._changed.notify_all()

    def _ws_request(self, connection: ServerConnection, session: _Session, request: dict[str, Any]) -> None:
        service, command = request.get("service"), request.get("command")
        if service == "ADMIN" and command == "LOGIN":
            token = request.get("parameters", {}).get("Authorization")
            ok = token in self.valid_tokens and not self.refuse_login
            code, msg = (0, "server is alive") if ok else (3, "Login denied")
            connection.send(
                json.dumps(
                    {
                        "response": [
                            {
                                "service": "ADMIN",
                                "command": "LOGIN",
                                "requestid": request.get("requestid"),
                                "content": {"code": code, "msg": msg},
                            }
                        ]
                    }
                )
            )
            with self._changed:
                session.logged_in = ok
                self._changed.notify_all()
            return
        if not session.logged_in:
            connection.send(
                json.dumps(
                    {
                        "response": [
                            {
                                "service": service,
                                "command": command,
                                "content": {"code": 2, "msg": "not logged in"},
                            }
                        ]
                    }
                )
            )
            return
        if command == "SUBS":
            keys = set(str(request.get("parameters", {}).get("keys", "")).split(","))
            with self._changed:
                session.subscribed[str(service)] = keys
                self._changed.notify_all()
            connection.send(
                json.dumps(
                    {
                        "response": [
                            {
                                "service": service,
                                "command": "SUBS",
                                "requestid": request.get("requestid"),
                                "content": {"code": 0, "msg": "SUBS command succeeded"},
                            }
                        ]
                    }
                )
            )

    # -- REST -------------------------------------------------------------------------------

    def _rest(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        params = dict(parse_qsl(url.query))
        body = (
            handler.rfile.read(int(handler.headers.get("Content-Length") or 0)).decode()
            if method == "POST"
            else ""
        )
        with self._changed:
            self.requests.append((method, url.path, params))
            self._changed.notify_all()
        if method == "POST" and url.path == "/v1/oauth/token":
            self._token(handler, dict(parse_qsl(body)))
            return
        auth = handler.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.valid_tokens:
            _reply(handler, 401, {"message": "Unauthorized"})
            return
        if self._rate_limit_next > 0:
            self._rate_limit_next -= 1
            _reply(handler, 429, {"message": "Too many requests"}, (("Retry-After", "0"),))
            return
        if url.path == "/trader/v1/userPreference":
            info = {
                "streamerSocketUrl": self.stream_url,
                "schwabClientCustomerId": "CUST",
                "schwabClientCorrelId": "CORREL",
                "schwabClientChannel": "N9",
                "schwabClientFunctionId": "APIAPP",
            }
            _reply(handler, 200, {"accounts": [], "streamerInfo": [info], "offers": []})
        elif url.path == "/marketdata/v1/quotes":
            wanted = [s for s in params.get("symbols", "").split(",") if s]
            _reply(handler, 200, {s: {"symbol": s, "quoteType": "NBBO", "quote": self.snapshot[s]}
                                  for s in wanted if s in self.snapshot})  # fmt: skip
        elif url.path == "/marketdata/v1/pricehistory":
            if "needExtendedHoursData" not in params:
                _reply(handler, 400, {"message": "needExtendedHoursData is required by this fake"})
                return
            symbol = params.get("symbol", "")
            start, end = int(params["startDate"]) // 1000, int(params["endDate"]) // 1000
            candles = [
                {"open": b.open, "high": b.high, "low": b.low, "close": b.close, "volume": b.volume,
                 "datetime": b.ts * 1000}
                for b in self._bars.get(symbol, []) if start <= b.ts <= end
            ]  # fmt: skip
            _reply(handler, 200, {"symbol": symbol, "empty": not candles, "candles": candles})
        else:
            _reply(handler, 404, {"message": "Not Found"})

    def _token(self, handler: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if handler.headers.get("Authorization") != f"Basic {basic}":
            _reply(handler, 401, {"error": "invalid_client"})
            return
        grant = form.get("grant_type")
        if grant == "authorization_code" and form.get("code") == "GOOD-CODE":
            _reply(handler, 200, self.issue())
        elif grant == "refresh_token" and form.get("refresh_token") in self.refresh_tokens:
            self.refreshes += 1
            access = secrets.token_hex(8)
            with self._changed:
                self.valid_tokens.add(access)
            _reply(
                handler,
                200,
                {"access_token": access, "refresh_token": form["refresh_token"], "expires_in": 1800},
            )
        else:
            _reply(
                handler,
                400,
                {"error": "invalid_grant", "error_description": "refresh token invalid or expired"},
            )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeSchwab

    def do_GET(self) -> None:
        self.fake._rest(self, "GET")

    def do_POST(self) -> None:
        self.fake._rest(self, "POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _reply(
    handler: BaseHTTPRequestHandler, status: int, body: Any, headers: tuple[tuple[str, str], ...] = ()
) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for name, value in headers:
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)
