"""The live service is safe to leave running (``ops/http_guard.py``): tried with the very requests
a hostile web page or client sends, over real sockets on 127.0.0.1, against the service's HTTP
side with a stand-in engine (these requests never reach the engine)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pykka
import pytest

from domain.errors import ServiceError
from ops.http_guard import HttpGuard, load_token
from ops.service import SNAPSHOT_SECONDS, LiveService, SharedAnswer

TOKEN = "a-token-of-twenty-six-chars"


@pytest.fixture
def reloads() -> list[str]:
    return []


def start(reloads: list[str], **guard: Any) -> LiveService:
    engine = SimpleNamespace(
        live_status=lambda timeout=None: None, stats=dict, provider=None, done=False, report=None
    )
    rules = HttpGuard.of("127.0.0.1", guard.pop("token", TOKEN), guard.pop("allow_hosts", ()))
    rules = HttpGuard(**{**{f: getattr(rules, f) for f in HttpGuard.__dataclass_fields__}, **guard})

    def reload_calendar() -> str:
        reloads.append("reloaded")
        return "no change"

    return LiveService(engine, host="127.0.0.1", port=0, reload_calendar=reload_calendar, guard=rules).start()  # type: ignore[arg-type]


@pytest.fixture
def service(reloads: list[str]) -> Iterator[LiveService]:
    running = start(reloads, read_seconds=0.5)
    yield running
    running.close()


def exchange(service: LiveService, raw: bytes, *, wait: float = 10.0) -> bytes:
    """Send ``raw`` and read until the service closes the connection (bounded by ``wait``)."""
    with socket.create_connection(service.address, timeout=wait) as conn:
        conn.sendall(raw)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def request(
    method: str, path: str, host: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body and "Content-Length" not in (headers or {}):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def here(service: LiveService) -> str:
    return f"127.0.0.1:{service.address[1]}"


def test_a_web_page_of_another_site_cannot_reload_the_calendar(
    service: LiveService, reloads: list[str]
) -> None:
    hostile = {"Origin": "https://evil.example", "Content-Type": "text/plain"}
    answer = exchange(service, request("POST", "/calendar/reload", "evil.example", hostile, b"x=1"))
    assert status_of(answer) == 421  # DNS rebinding: another site's name
    answer = exchange(service, request("POST", "/calendar/reload", here(service), hostile, b"x=1"))
    assert status_of(answer) == 401 and b"Bearer" in answer  # no credentials
    signed = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"}
    assert (
        status_of(exchange(service, request("POST", "/calendar/reload", here(service), signed, b"x=1")))
        == 415
    )
    wrong = {"Authorization": "Bearer not-the-token-at-all", "Content-Type": "application/json"}
    assert (
        status_of(exchange(service, request("POST", "/calendar/reload", here(service), wrong, b"{}"))) == 401
    )
    assert reloads == []
    good = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    answer = exchange(service, request("POST", "/calendar/reload", here(service), good, b"{}"))
    assert status_of(answer) == 200 and reloads == ["reloaded"]


def test_without_a_token_post_is_refused_and_says_how_to_reload(reloads: list[str]) -> None:
    running = start(reloads, token=None)
    try:
        good = {"Authorization": "Bearer anything-at-all-here", "Content-Type": "application/json"}
        answer = exchange(running, request("POST", "/calendar/reload", here(running), good, b"{}"))
        assert status_of(answer) == 401 and b"SIGHUP" in answer and reloads == []
    finally:
        running.close()


def test_a_huge_content_length_is_answered_without_being_read(service: LiveService) -> None:
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "application/json",
        "Content-Length": str(10**12),
    }
    answer = exchange(service, request("POST", "/calendar/reload", here(service), headers))
    assert status_of(answer) == 413 and b"Connection: close" in answer


def test_a_body_that_is_itself_a_request_gets_no_second_response(service: LiveService) -> None:
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    raw = request("GET", "/healthz", here(service), {"Content-Length": str(len(smuggled))}).replace(
        b"Connection: close\r\n", b""
    )
    answer = exchange(service, raw + smuggled)
    assert answer.count(b"HTTP/1.1 ") == 1 and b"Connection: close" in answer


def test_a_garbage_request_line_does_not_hold_a_thread(service: LiveService) -> None:
    assert exchange(service, b"\x16\x03\x01 garbage with no end of line") == b""  # closed after read_seconds
    assert status_of(exchange(service, request("GET", "/healthz", here(service)))) == 200


def test_a_flood_of_idle_connections_leaves_healthz_answering(service: LiveService) -> None:
    idle = [socket.create_connection(service.address, timeout=10) for _ in range(40)]
    try:
        assert status_of(exchange(service, request("GET", "/healthz", here(service)))) == 200
    finally:
        for conn in idle:
            conn.close()


def test_connections_beyond_the_cap_are_refused_at_once(reloads: list[str]) -> None:
    running = start(reloads, max_connections=3, read_seconds=30.0)
    idle = [socket.create_connection(running.address, timeout=10) for _ in range(3)]
    try:
        answer = exchange(running, request("GET", "/healthz", here(running)))
        assert status_of(answer) == 503 and b"too many open connections" in answer
    finally:
        for conn in idle:
            conn.close()
        running.close()


def test_a_client_that_hangs_up_leaves_no_traceback(
    service: LiveService, capfd: pytest.CaptureFixture[str]
) -> None:
    with socket.create_connection(service.address, timeout=10) as conn:
        conn.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and gone before the blank line
    try:  # what the server meets when it writes to a peer that is gone
        raise ConnectionResetError(104, "Connection reset by peer")
    except ConnectionResetError:
        service._server.handle_error(None, ("127.0.0.1", 40000))
    assert status_of(exchange(service, request("GET", "/healthz", here(service)))) == 200
    assert "Traceback" not in capfd.readouterr().err


def test_a_busy_engine_makes_status_and_readyz_answer_503_within_the_bound(reloads: list[str]) -> None:
    """While the coordinator waits on a locked store, an endpoint asks it with the guard's bound
    and answers 503 saying so (here the stand-in answers every bounded ask with pykka's timeout)."""
    asked: list[float | None] = []

    def live_status(timeout: float | None = None) -> Any:
        asked.append(timeout)
        raise pykka.Timeout(f"{timeout} seconds")

    running = start(reloads, answer_seconds=0.25)
    running.engine.live_status = live_status  # type: ignore[method-assign]
    try:
        for path in ("/status", "/readyz"):
            answer = exchange(running, request("GET", path, here(running)))
            assert status_of(answer) == 503 and b"did not answer within 0.25s" in answer, answer
        metrics = exchange(running, request("GET", "/metrics", here(running)))
        assert (
            status_of(metrics) == 200 and b"process_" in metrics
        )  # the process's own, without the session's
        assert asked and set(asked) == {0.25} and len(asked) <= 3  # bounded asks, shared when close together
    finally:
        running.close()


def test_requests_close_together_share_one_answer_and_one_failure() -> None:
    """Fifty clients at once cost the engine one ask: an answer (or the failure to get one) is
    shared for SNAPSHOT_SECONDS, then asked for again."""
    now = [100.0]
    shared: SharedAnswer[int] = SharedAnswer(SNAPSHOT_SECONDS, clock=lambda: now[0])
    made: list[int] = []

    def make() -> int:
        made.append(len(made))
        if len(made) == 2:
            raise pykka.Timeout("busy")
        return len(made)

    assert [shared.get(make) for _ in range(50)] == [1] * 50 and made == [0]
    now[0] += SNAPSHOT_SECONDS
    for _ in range(3):
        with pytest.raises(pykka.Timeout):
            shared.get(make)
    assert made == [0, 1]
    now[0] += SNAPSHOT_SECONDS
    assert shared.get(make) == 3


# ------------------------------------------------------------------ the rules themselves


def test_host_names_the_service_answers_to() -> None:
    local = HttpGuard.of("127.0.0.1", None)
    assert all(local.host_allowed(h) for h in ("127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST"))
    assert not any(
        local.host_allowed(h) for h in ("evil.example", "evil.example:8080", "127.0.0.1.evil.example")
    )
    assert local.host_allowed(None)  # not a browser's request
    served = HttpGuard.of("0.0.0.0", None, ["serve", "md.example.com"])
    assert served.host_allowed("serve:8080") and served.host_allowed("md.example.com")
    assert not served.host_allowed("other.example.com")


def test_tokens_compare_whole_and_come_from_a_file_or_the_environment(tmp_path: Any) -> None:
    guard = HttpGuard.of("127.0.0.1", TOKEN)
    assert guard.authorised(f"Bearer {TOKEN}")
    assert not any(guard.authorised(h) for h in (None, TOKEN, f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}"))
    assert not HttpGuard.of("127.0.0.1", None).authorised(f"Bearer {TOKEN}")
    path = tmp_path / "token"
    path.write_text(f"{TOKEN}\n")
    assert load_token(str(path), {"MARKETSESSION_SERVICE_TOKEN": "x" * 20}) == TOKEN
    assert load_token(None, {"MARKETSESSION_SERVICE_TOKEN": "y" * 20}) == "y" * 20
    assert load_token(None, {}) is None
    with pytest.raises(ServiceError, match="at least 16"):
        load_token(None, {"MARKETSESSION_SERVICE_TOKEN": "short"})
    with pytest.raises(ServiceError, match="cannot read the service token"):
        load_token(str(tmp_path / "none"), {})
