"""The feed watchdog (SPEC §8): a live stream that stays "connected" but delivers nothing.

A socket can go mute without closing: the provider still says connected, nothing arrives, and
without a watchdog nothing would ever reconnect it. :class:`FeedWatchdog` watches each stream
kind on its own (``bars``, ``quotes``), on the session clock and during the regular session only
(before the open and after the close silence is normal). A kind is **stalled** when nothing of
it arrived, from any symbol, for its limit of session seconds: one quiet symbol is not a stall,
a whole feed that says nothing is. A limit of 0 leaves that kind unwatched.

:meth:`FeedWatchdog.check` returns the stalls to act on (reconnect): a kind is reported when it
stalls, and again while it stays mute — one limit later, then two, four and at most
:data:`MAX_BACKOFF` limits apart — so a reconnect that did not help is tried again, and a feed
that stays silent for hours (a halted symbol, a source day shorter than its target) is retried
fifteen times in three hours, not every minute. A delivery of the kind ends its stall.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["MAX_BACKOFF", "FeedWatchdog", "Stall"]

MAX_BACKOFF = 16
"""The most limits between two reports of one stall."""


@dataclass(frozen=True, slots=True)
class Stall:
    """``kind`` has delivered nothing since ``since_ts`` (its last delivery, or the open)."""

    kind: str
    since_ts: int
    now_ts: int

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.since_ts, UTC).strftime("%H:%M:%SZ")
        return f"no {self.kind} for {self.now_ts - self.since_ts}s of session time (since {since})"


class FeedWatchdog:
    """See the module docstring. ``limits``: seconds of silence per kind (0: not watched)."""

    __slots__ = ("_checked", "_close_ts", "_last", "_limits", "_open_ts", "_reports", "_stalled")

    def __init__(self, limits: Mapping[str, int]) -> None:
        self._limits = {kind: seconds for kind, seconds in limits.items() if seconds > 0}
        self._open_ts = self._close_ts = 0
        self._last: dict[str, int] = {}  # kind -> newest delivery (session clock)
        self._checked: dict[str, int] = {}  # kind -> when a stall was last reported
        self._reports: dict[str, int] = {}  # kind -> reports of its stall so far
        self._stalled: dict[str, Stall] = {}

    def begin_day(self, open_ts: int, close_ts: int) -> None:
        """Watch the regular session ``[open_ts, close_ts)``; yesterday's state is dropped."""
        self._open_ts, self._close_ts = open_ts, close_ts
        self._last.clear()
        self._checked.clear()
        self._reports.clear()
        self._stalled.clear()

    def delivered(self, kind: str, now_ts: int) -> None:
        """Something of ``kind`` arrived at ``now_ts``: its stall, if any, is over."""
        self._last[kind] = max(now_ts, self._last.get(kind, now_ts))
        self._checked.pop(kind, None)
        self._reports.pop(kind, None)
        self._stalled.pop(kind, None)

    def check(self, now_ts: int) -> list[Stall]:
        """The kinds that stalled by ``now_ts`` (or stayed mute another limit since reported)."""
        if not self._open_ts <= now_ts < self._close_ts:
            return []
        out = []
        for kind, limit in self._limits.items():
            since = max(self._last.get(kind, self._open_ts), self._open_ts)
            reference = max(since, self._checked.get(kind, since))
            reports = self._reports.get(kind, 0)
            wait = limit * min(2 ** max(reports - 1, 0), MAX_BACKOFF)
            if now_ts - reference >= wait:
                stall = Stall(kind, since, now_ts)
                self._checked[kind] = now_ts
                self._reports[kind] = reports + 1
                self._stalled[kind] = stall
                out.append(stall)
        return out

    @property
    def stalled(self) -> tuple[Stall, ...]:
        """The kinds stalled now (reported, and nothing of them arrived since)."""
        return tuple(self._stalled.values())
