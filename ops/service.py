"""The live service's HTTP side (SPEC §9): health, readiness, Prometheus metrics, status, and
the calendar reload.

========================  =====================================================================
``GET /``                 a status page (HTML, no external assets) refreshing itself from /status
``GET /healthz``          200 while the process serves (liveness)
``GET /readyz``           200 once today's session is loaded and the provider is connected, 503
                          (with the reasons) otherwise — "between sessions (next: DAY)" while a
                          service that keeps running waits for its next day — and after the run
                          has ended
``GET /metrics``          Prometheus text: bars received/appended/stored/dropped (by reason),
                          bars filled, lag per symbol, quality per symbol and interval, gaps
                          open/filled/abandoned, provider connected and reconnects, end-to-end
                          bar latency histogram, actor restarts, messages and mailbox sizes,
                          process memory
``GET /status``           JSON snapshot of the session, the provider and the actors
``POST /calendar/reload`` re-read the trading calendar (same as SIGHUP)
========================  =====================================================================

The server is the standard library's threading HTTP server on its own daemon thread; every
request asks the engine with a bounded timeout, so a busy engine answers 503, never hangs it.
What it lets in — tokens, ``Host`` names, bodies, connections — is :mod:`ops.http_guard`.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar

import pykka
import structlog
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from actors.supervisor import ActorStatus
from actors.system import MarketSessionSystem
from domain.session.status import LiveStatus
from ops.html_report.status_page import STATUS_PAGE
from ops.http_guard import BACKLOG, HttpGuard

__all__ = ["SNAPSHOT_SECONDS", "LiveService", "SharedAnswer"]

SNAPSHOT_SECONDS = 0.2
"""How long the endpoints share one snapshot of the engine (and ``/metrics`` one rendering)."""

T = TypeVar("T")

log = structlog.get_logger("marketsession.service")

_COUNTERS = {  # live_status() counter → (metric, help)
    "received": ("marketsession_bars_received", "Bars delivered by the provider"),
    "appended": ("marketsession_bars_appended", "Bars appended to the session (streamed, resumed, filled)"),
    "stored": ("marketsession_bars_stored", "Bars written to the store as they arrived"),
    "dropped": ("marketsession_bars_dropped", "Bars refused (outside the session, duplicate, invalid …)"),
    "filled_bars": ("marketsession_bars_filled", "Missing bars recovered by the gap filler"),
    "derived": ("marketsession_bars_derived", "Derived bars built"),
    "resumed": ("marketsession_bars_resumed", "Bars of today read back from the store at (re)start"),
    "gaps_filled": ("marketsession_gaps_filled", "Gaps of the streamed interval filled"),
    "gaps_abandoned": ("marketsession_gaps_abandoned", "Gaps abandoned after max_retries fetches"),
    "gap_fetches": ("marketsession_gap_fetches", "Gap-filler fetch attempts"),
    "gap_fetch_errors": ("marketsession_gap_fetch_errors", "Gap-filler fetch attempts that failed"),
    "reconnects": ("marketsession_provider_reconnects", "Provider reconnects"),
    "outages": ("marketsession_provider_outages", "Provider stream outages reported"),
    "store_errors": ("marketsession_store_write_errors", "Store writes that failed (kept and retried)"),
    "stalls": ("marketsession_provider_stalls", "Streams found mute by the feed watchdog (each reconnected)"),
    "quotes_received": ("marketsession_quotes_received", "Quotes delivered by the provider"),
    "quotes_filled": (
        "marketsession_quotes_filled",
        "Quote seconds the stream missed, recovered by fetching",
    ),
    "quote_fetches": ("marketsession_quote_fetches", "Quote windows fetched again (answered)"),
    "quote_fetch_errors": ("marketsession_quote_fetch_errors", "Quote window fetches that failed"),
}


def _quote_metrics(symbols: dict[str, Any]) -> Iterator[Metric]:
    """Per symbol streaming quotes: coverage, the book's age, crossed and locked seconds, spread."""
    families = {
        "coverage": GaugeMetricFamily(
            "marketsession_quote_coverage_percent",
            "Two-sided, fresh quote seconds of the session so far",
            labels=["symbol"],
        ),
        "age_seconds": GaugeMetricFamily(
            "marketsession_quote_age_seconds", "Seconds since the book last changed", labels=["symbol"]
        ),
        "crossed": GaugeMetricFamily(
            "marketsession_quote_crossed_seconds", "Seconds the book was crossed", labels=["symbol"]
        ),
        "locked": GaugeMetricFamily(
            "marketsession_quote_locked_seconds", "Seconds the book was locked", labels=["symbol"]
        ),
        "spread": GaugeMetricFamily(
            "marketsession_quote_spread_median_bps",
            "Median spread in basis points of the mid",
            labels=["symbol"],
        ),
    }
    for symbol, info in symbols.items():
        quotes = info.get("quotes")
        if not quotes:
            continue
        values = {
            "coverage": quotes["coverage"],
            "age_seconds": quotes["age_seconds"],
            "crossed": quotes["crossed"]["seconds"],
            "locked": quotes["locked"]["seconds"],
            "spread": quotes["spread_bps"]["median"],
        }
        for key, value in values.items():
            if value is not None:
                families[key].add_metric([symbol], value)
    yield from families.values()


class _EngineCollector(Collector):
    """Reads the engine's state at scrape time (no metric is kept twice)."""

    def __init__(self, status: Callable[[], LiveStatus], stats: Callable[[], dict[str, ActorStatus]]):
        self._status = status
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        try:
            status = self._status().to_json()
        except Exception as error:  # the scrape still answers, saying the engine did not
            log.warning("metrics_status_failed", error=f"{type(error).__name__}: {error}")
            status = None
        yield GaugeMetricFamily(
            "marketsession_up", "1 when the engine answered this scrape", int(status is not None)
        )
        if status is not None:
            yield from self._session_metrics(status)
        yield from self._actor_metrics()

    def _session_metrics(self, status: dict[str, Any]) -> Iterator[Metric]:
        counters = status["counters"]
        for key, (name, help_text) in _COUNTERS.items():
            yield CounterMetricFamily(name, help_text, counters.get(key, 0))
        refused = CounterMetricFamily(
            "marketsession_bars_refused", "Bars refused, by reason", labels=["reason"]
        )
        for reason, count in sorted(status["refused"].items()):
            refused.add_metric([reason], count)
        yield refused
        lag = GaugeMetricFamily(
            "marketsession_lag_seconds", "Session clock minus the end of the newest bar", labels=["symbol"]
        )
        quality = GaugeMetricFamily(
            "marketsession_quality_percent", "Session quality", labels=["symbol", "interval"]
        )
        gaps = GaugeMetricFamily(
            "marketsession_gaps_open", "Open gaps of the streamed interval", labels=["symbol"]
        )
        for symbol, info in status["symbols"].items():
            if info["lag_seconds"] is not None:
                lag.add_metric([symbol], info["lag_seconds"])
            for interval, value in info["quality"].items():
                if value is not None:
                    quality.add_metric([symbol, interval], value)
            gaps.add_metric([symbol], info["open_gaps"])
        yield lag
        yield quality
        yield gaps
        yield from _quote_metrics(status["symbols"])
        yield GaugeMetricFamily(
            "marketsession_provider_stalled",
            "1 when the feed watchdog finds a stream mute now",
            int(bool(status["stalled"])),
        )
        yield GaugeMetricFamily(
            "marketsession_provider_connected",
            "1 when the provider stream is up",
            int(status["provider"]["state"] == "connected"),
        )
        state = GaugeMetricFamily(
            "marketsession_session_state", "The session's lifecycle state", labels=["state"]
        )
        state.add_metric([status["state"]], 1)
        yield state
        latency = status["latency"]
        histogram = HistogramMetricFamily(
            "marketsession_bar_latency_seconds", "Provider hand-over to event published, per bar"
        )
        # the JSON spells the last bound "+Inf" already (as Prometheus does)
        buckets = [
            (bound if isinstance(bound, str) else repr(bound), count) for bound, count in latency["buckets"]
        ]
        histogram.add_metric([], buckets, latency["sum"])
        yield histogram

    def _actor_metrics(self) -> Iterator[Metric]:
        restarts = CounterMetricFamily(
            "marketsession_actor_restarts", "Supervised restarts", labels=["actor"]
        )
        messages = CounterMetricFamily("marketsession_actor_messages", "Messages handled", labels=["actor"])
        mailbox = GaugeMetricFamily("marketsession_actor_mailbox_size", "Messages waiting", labels=["actor"])
        for actor, stats in sorted(self._stats().items()):
            restarts.add_metric([actor], stats.restarts)
            messages.add_metric([actor], stats.messages)
            mailbox.add_metric([actor], stats.mailbox)
        yield restarts
        yield messages
        yield mailbox


class LiveService:
    """HTTP endpoints over a running engine; see the module docstring."""

    def __init__(
        self,
        engine: MarketSessionSystem,
        *,
        host: str,
        port: int,
        reload_calendar: Callable[[], str],
        guard: HttpGuard | None = None,
    ) -> None:
        self.engine = engine
        self.reload_calendar = reload_calendar
        self.guard = guard or HttpGuard.of(host, None)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_EngineCollector(self._live_status, engine.stats))
        self.registry.register(ProcessCollector(registry=None))
        self._server = _Server((host, port), _handler(self), self.guard.max_connections)
        self._thread: threading.Thread | None = None
        self._snapshot: SharedAnswer[LiveStatus] = SharedAnswer(SNAPSHOT_SECONDS)
        self._metrics: SharedAnswer[bytes] = SharedAnswer(SNAPSHOT_SECONDS)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> LiveService:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="marketsession-http",
            daemon=True,
        )  # fmt: skip
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)

    # ------------------------------------------------------------------ answers

    def status(self) -> dict[str, Any]:
        out = self._live_status().to_json()
        out["actors"] = {name: status.to_json() for name, status in self.engine.stats().items()}
        provider = self.engine.provider
        out["provider"] = {
            **out["provider"],
            "name": getattr(provider, "name", None),
            "stats": dict(getattr(provider, "stats", {})),
        }
        out["run_done"] = self.engine.done
        report = self.engine.report
        if report is not None:
            out["report"] = {"status": report.status, "error": report.error}
        return out

    def readiness(self) -> tuple[bool, list[str]]:
        if self.engine.done:
            report = self.engine.report
            return False, [f"the run has ended ({report.status if report else 'unknown'})"]
        status = self._live_status()
        reasons = []
        if not status.loaded and status.next_day is not None:  # healthy, waiting for the next day
            return False, [f"between sessions (next: {status.next_day})"]
        if not status.loaded:
            reasons.append(f"no session loaded (state {status.state})")
        if status.provider_state != "connected":
            reasons.append(f"provider {status.provider_state}")
        reasons.extend(f"provider stalled: {stall}" for stall in status.stalled)
        return not reasons, reasons

    def metrics(self) -> bytes:
        return self._metrics.get(lambda: generate_latest(self.registry))

    def _live_status(self) -> LiveStatus:
        """The engine's snapshot within the guard's answer bound: a coordinator that is busy
        (a store it waits on is locked, say) makes an endpoint answer 503 within it, not hang."""
        return self._snapshot.get(lambda: self.engine.live_status(timeout=self.guard.answer_seconds))


class SharedAnswer(Generic[T]):
    """A value (or the failure to get it) shared by every request within ``seconds``: fifty
    clients at once cost the engine one ask and the process one rendering."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._taken = -math.inf
        self._value: T | None = None
        self._error: Exception | None = None

    def get(self, make: Callable[[], T]) -> T:
        with self._lock:
            if self._clock() - self._taken >= self._seconds:
                try:
                    self._value, self._error = make(), None
                except Exception as error:
                    self._value, self._error = None, error
                self._taken = self._clock()
            if self._error is not None:
                raise self._error
            assert self._value is not None
            return self._value


class _Server(ThreadingHTTPServer):
    """A thread per connection, at most ``slots`` at once: beyond that a connection is answered
    503 and closed on the listening thread. A client that hangs up is one debug line, not a
    traceback on stderr."""

    daemon_threads = True
    request_queue_size = BACKLOG

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], slots: int) -> None:
        self._slots = threading.BoundedSemaphore(slots)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):  # a peer already gone needs no answer
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        with contextlib.suppress(Exception):  # a handler outliving its log stream stays quiet
            log.debug("http_client_error", client=client_address[0], error=f"{type(error).__name__}: {error}")


_STATUS_PAGE = STATUS_PAGE.encode()
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 38\r\n"
    b'Connection: close\r\n\r\n{"error": "too many open connections"}'
)


def _handler(service: LiveService) -> type[BaseHTTPRequestHandler]:
    guard = service.guard

    class Handler(BaseHTTPRequestHandler):
        server_version = "marketsession"
        protocol_version = "HTTP/1.1"
        timeout = guard.read_seconds  # a request line, headers or body that does not come: closed

        def _admitted(self) -> bool:
            """The ``Host`` check, and a body that will not be read closing the connection."""
            if self.headers.get("Content-Length", "0").strip() not in ("", "0") and self.command != "POST":
                self.close_connection = True  # its body is never taken for the next request
            if not guard.host_allowed(self.headers.get("Host")):
                self.close_connection = True
                self._json(
                    HTTPStatus.MISDIRECTED_REQUEST,
                    {"error": "this service does not answer to that host name"},
                )
                return False
            return True

        def do_GET(self) -> None:
            if not self._admitted():
                return
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._send(HTTPStatus.OK, _STATUS_PAGE, "text/html; charset=utf-8")
            elif path == "/healthz":
                self._json(HTTPStatus.OK, {"status": "alive"})
            elif path == "/readyz":
                self._guarded(self._ready)
            elif path == "/metrics":
                self._guarded(
                    lambda: self._send(HTTPStatus.OK, service.metrics(), "text/plain; version=0.0.4")
                )
            elif path == "/status":
                self._guarded(lambda: self._json(HTTPStatus.OK, service.status()))
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {path}"})

        def do_POST(self) -> None:
            if not self._admitted() or not self._body_accepted():
                return
            path = self.path.split("?", 1)[0]
            if path == "/calendar/reload":
                self._guarded(lambda: self._json(HTTPStatus.OK, {"reloaded": service.reload_calendar()}))
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: POST {path}"})

        def _body_accepted(self) -> bool:
            """A token, then a JSON body within the limit (read whole, so nothing is left over)."""
            if not guard.authorised(self.headers.get("Authorization")):
                self.close_connection = True
                why = (
                    "a POST needs Authorization: Bearer TOKEN"
                    if guard.token is not None
                    else "no service token is configured (--token-file or MARKETSESSION_SERVICE_TOKEN); "
                    "SIGHUP reloads the calendar locally"
                )
                self._json(HTTPStatus.UNAUTHORIZED, {"error": why})
                return False
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= guard.max_body:
                self.close_connection = True
                self._json(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    {"error": f"a body is at most {guard.max_body} bytes"},
                )
                return False
            body = self.rfile.read(length) if length else b""
            kind = self.headers.get("Content-Type", "application/json").split(";", 1)[0].strip().lower()
            if kind != "application/json":
                self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "bodies are application/json"})
                return False
            try:
                json.loads(body or b"{}")
            except ValueError:
                self._json(HTTPStatus.BAD_REQUEST, {"error": "the body is not JSON"})
                return False
            return True

        def _ready(self) -> None:
            ready, reasons = service.readiness()
            self._json(
                HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE,
                {"ready": ready, "reasons": reasons},
            )

        def _guarded(self, answer: Callable[[], None]) -> None:
            try:
                answer()
            except pykka.Timeout:
                busy = f"the engine did not answer within {guard.answer_seconds:g}s (busy; try again)"
                self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": busy})
            except Exception as error:  # the engine is restarting or gone: say so
                self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": f"{type(error).__name__}: {error}"})

        def _json(self, status: HTTPStatus, body: Any) -> None:
            self._send(status, json.dumps(body, default=str, allow_nan=False).encode(), "application/json")

        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http", request=self.requestline, client=self.client_address[0])

    return Handler
