"""Schwab OAuth2 (Trader API): the token file, its refresh, and the first login.

Schwab's access token lives 30 minutes, its refresh token about 7 days. The token file (JSON)
keeps both, with ``expires_at`` (the access token's end, epoch seconds) and
``refresh_created_at`` (when the refresh token was issued: a new one comes only from a login).

- :meth:`TokenStore.access_token` returns a token valid for at least :data:`REFRESH_MARGIN`
  seconds, refreshing it first (``POST {auth_url}/v1/oauth/token``,
  ``grant_type=refresh_token``, the client id and secret as HTTP Basic) — under an exclusive
  lock on ``FILE.lock``, re-reading the file inside the lock: two processes never both refresh
  (the second refresh would revoke the first's token).
- A refresh token older than :data:`REFRESH_LIFETIME`, or one Schwab refuses
  (``invalid_grant``), raises :class:`~domain.errors.ProviderAuthError` saying to run
  ``marketsession schwab login``.
- :func:`authorize_url` and :func:`login` are the authorization-code bootstrap: open the URL,
  sign in, paste the URL Schwab redirected to; its ``code`` is exchanged for the first tokens.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from domain.errors import ProviderAuthError, ProviderError, ProviderUnavailable

__all__ = ["REFRESH_LIFETIME", "REFRESH_MARGIN", "TokenStore", "authorize_url", "login"]

REFRESH_MARGIN = 300
"""Seconds of validity an access token must have left, else it is refreshed first."""
REFRESH_LIFETIME = 7 * 86_400
"""How long Schwab honours a refresh token (then only a new login helps)."""
_LOGIN_HINT = "run `marketsession schwab login` to sign in again"


def authorize_url(auth_url: str, client_id: str, redirect_uri: str) -> str:
    """Where a user signs in to grant access (the authorization-code flow's first step)."""
    query = urlencode({"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code"})
    return f"{auth_url.rstrip('/')}/v1/oauth/authorize?{query}"


class TokenStore:
    """The token file of one Schwab app; see the module docstring. ``clock`` gives epoch seconds."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        client_id: str,
        client_secret: str,
        auth_url: str = "https://api.schwabapi.com",
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self._client_id, self._client_secret = client_id, client_secret
        self._token_url = f"{auth_url.rstrip('/')}/v1/oauth/token"
        self._timeout = timeout
        self._clock = clock
        self.refreshes = 0

    def access_token(self) -> str:
        """A token valid for at least :data:`REFRESH_MARGIN` seconds (refreshed under the lock)."""
        tokens = self._read()
        if tokens["expires_at"] - self._clock() > REFRESH_MARGIN:
            return str(tokens["access_token"])
        with self._locked():
            tokens = self._read()  # another process may have refreshed while this one waited
            if tokens["expires_at"] - self._clock() > REFRESH_MARGIN:
                return str(tokens["access_token"])
            if self._clock() - tokens["refresh_created_at"] >= REFRESH_LIFETIME:
                raise ProviderAuthError(
                    f"the Schwab refresh token in {self.path} is older than 7 days and has expired: "
                    + _LOGIN_HINT
                )
            answer = self._post({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
            self.refreshes += 1
            return self._save(answer, refresh_created_at=tokens["refresh_created_at"])

    def invalidate(self) -> None:
        """The access token was refused (HTTP 401): the next :meth:`access_token` refreshes."""
        with self._locked():
            tokens = self._read()
            tokens["expires_at"] = 0
            self._write(tokens)

    def exchange_code(self, code: str, redirect_uri: str) -> None:
        """The first tokens, from an authorization code (:func:`login`)."""
        with self._locked():
            answer = self._post(
                {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
            )
            self._save(answer, refresh_created_at=self._clock())

    # ------------------------------------------------------------------ internals

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ProviderAuthError(f"no Schwab token file at {self.path}: {_LOGIN_HINT}") from None
        except (OSError, ValueError) as exc:
            raise ProviderAuthError(
                f"the Schwab token file {self.path} cannot be read ({exc}): {_LOGIN_HINT}"
            ) from None
        keys = ("access_token", "refresh_token", "expires_at", "refresh_created_at")
        if not isinstance(data, dict) or any(key not in data for key in keys):
            raise ProviderAuthError(
                f"the Schwab token file {self.path} lacks {', '.join(keys)}: {_LOGIN_HINT}"
            )
        return data

    def _save(self, answer: dict[str, Any], *, refresh_created_at: float) -> str:
        try:
            access, refresh, lifetime = (
                answer["access_token"],
                answer["refresh_token"],
                float(answer["expires_in"]),
            )
        except (KeyError, TypeError, ValueError):
            raise ProviderError(
                f"Schwab's token answer lacks access_token, refresh_token or expires_in: {answer}"
            ) from None
        tokens = {
            "access_token": access,
            "refresh_token": refresh,
            "expires_at": self._clock() + lifetime,
            "refresh_created_at": refresh_created_at,  # a refresh keeps the login's 7-day clock
        }
        self._write(tokens)
        return str(access)

    def _write(self, tokens: dict[str, Any]) -> None:
        """Whole or not at all, readable by the owner only."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(tokens, out)
        partial.replace(self.path)

    def _locked(self) -> Any:
        return _FileLock(self.path.with_name(self.path.name + ".lock"))

    def _post(self, form: dict[str, str]) -> dict[str, Any]:
        basic = base64.b64encode(f"{self._client_id}:{self._client_secret}".encode()).decode()
        try:
            response = httpx.post(
                self._token_url, data=form, headers={"Authorization": f"Basic {basic}"}, timeout=self._timeout
            )
        except httpx.TransportError as exc:
            raise ProviderUnavailable(
                f"Schwab's token endpoint {self._token_url} did not answer: {exc}"
            ) from exc
        if response.status_code in (400, 401) and "invalid" in response.text.lower():
            raise ProviderAuthError(
                f"Schwab refused the token request ({response.status_code} {response.text[:200]}): "
                + _LOGIN_HINT
            )
        if response.status_code != 200:
            raise ProviderError(
                f"Schwab's token endpoint answered HTTP {response.status_code}: {response.text[:200]}"
            )
        try:
            body = response.json()
        except ValueError:
            raise ProviderError(f"Schwab's token endpoint answered no JSON: {response.text[:200]}") from None
        if not isinstance(body, dict):
            raise ProviderError(f"Schwab's token endpoint answered {body!r}")
        return body


class _FileLock:
    """An exclusive ``flock`` on a lock file beside the token file, held for a ``with`` block."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def __enter__(self) -> _FileLock:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def login(store: TokenStore, callback_url: str, redirect_uri: str) -> None:
    """Exchange the ``code`` of the URL Schwab redirected to after sign-in for the first tokens."""
    query = parse_qs(urlsplit(callback_url.strip()).query)
    codes = query.get("code")
    if not codes:
        raise ProviderAuthError(f"the pasted URL has no 'code' parameter: {callback_url.strip()[:200]}")
    store.exchange_code(codes[0], redirect_uri)
