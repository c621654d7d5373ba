"""What the live service's HTTP side lets in (``serve``; ``ops/service.py`` applies it).

A service left running on a server is reachable by more than its operator: any web page open in
the operator's browser can send it requests, and any client can hold its connections. So:

- **a token for every mutating endpoint** (``POST``): ``Authorization: Bearer TOKEN``, the token
  from ``--token-file`` or ``MARKETSESSION_SERVICE_TOKEN``, compared in constant time. Without a
  configured token, ``POST`` is refused and SIGHUP stays the local way to reload the calendar;
- **only its own names in ``Host``**: the bound address, ``localhost`` and the loopback addresses
  when it listens on one, and the names given with ``--allow-host`` — a page of another site that
  a DNS rebinding points at the service carries that site's name and is refused;
- **only JSON bodies, within** :data:`MAX_BODY` bytes: a larger ``Content-Length`` is answered 413
  without reading it, another content type 415; a body that is not read (a ``GET`` with one)
  closes the connection, so it is never taken for a second request;
- **bounded connections**: at most :data:`MAX_CONNECTIONS` at once (beyond that a connection is
  answered 503 and closed, without a thread), each request read within :data:`READ_SECONDS`, an
  idle connection closed after as long, a listen backlog of :data:`BACKLOG`;
- **bounded answers**: an endpoint waits at most :data:`ANSWER_SECONDS` for the engine, then
  answers 503 saying so.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from domain.errors import ServiceError

__all__ = [
    "ANSWER_SECONDS",
    "BACKLOG",
    "MAX_BODY",
    "MAX_CONNECTIONS",
    "READ_SECONDS",
    "TOKEN_ENV",
    "HttpGuard",
    "load_token",
]

MAX_BODY = 4096
MAX_CONNECTIONS = 64
READ_SECONDS = 5.0
ANSWER_SECONDS = 2.0
BACKLOG = 128
TOKEN_ENV = "MARKETSESSION_SERVICE_TOKEN"
_LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def load_token(token_file: str | None, environ: Mapping[str, str]) -> str | None:
    """The service token: the first line of ``token_file``, else ``$MARKETSESSION_SERVICE_TOKEN``,
    else None; :class:`ServiceError` for a file that cannot be read or a token under 16 characters."""
    token = environ.get(TOKEN_ENV)
    if token_file is not None:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip().splitlines()[0]
        except (OSError, UnicodeDecodeError, IndexError) as error:
            raise ServiceError(f"cannot read the service token from {token_file}: {error}") from None
    if token is not None and len(token.strip()) < 16:
        raise ServiceError("the service token must be at least 16 characters")
    return None if token is None else token.strip()


@dataclass(frozen=True, slots=True)
class HttpGuard:
    """The rules above for a service bound to ``host``."""

    host: str
    token: str | None = None
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)
    max_body: int = MAX_BODY
    max_connections: int = MAX_CONNECTIONS
    read_seconds: float = READ_SECONDS
    answer_seconds: float = ANSWER_SECONDS

    @classmethod
    def of(cls, host: str, token: str | None, allow_hosts: Iterable[str] = ()) -> HttpGuard:
        names = {host.lower(), *(name.lower() for name in allow_hosts)}
        if _is_loopback(host) or host in ("0.0.0.0", "::"):  # all addresses: the local names too
            names |= _LOCAL_NAMES
        return cls(host, token, frozenset(names))

    def host_allowed(self, header: str | None) -> bool:
        """Whether a request's ``Host`` names this service (a request without one is not a
        browser's: browsers always send it)."""
        if header is None:
            return True
        name = header.strip().lower()
        if name.startswith("["):  # [::1]:8080
            name = name[1 : name.find("]")] if "]" in name else name
        elif name.count(":") == 1:
            name = name.rsplit(":", 1)[0]
        return name in self.allowed_hosts

    def authorised(self, header: str | None) -> bool:
        """Whether ``Authorization`` carries the token (never, without a configured token)."""
        if self.token is None or header is None or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header.removeprefix("Bearer ").strip().encode(), self.token.encode())


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower() == "localhost"
