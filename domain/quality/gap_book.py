"""Which gaps the GapFiller fetches, when, and when it gives up (SPEC §8).

:class:`GapBook` holds the open gaps of the day as the QualityCalculator reports them (its
``opened``/``closed`` diffs). A new gap is due at once; after each fetch it is due again
``retry_interval`` clock seconds later; when ``max_retries`` fetches have not filled it, it is
abandoned at its next due time (so the last fetch's bars have that long to land).

A gap that shrinks or splits (a fetch filled part of it) arrives as a closed value and one or
more opened values; each new piece inherits the attempts and the due time of the gap it came
from, so partial fills do not reset the retry budget. A gap that *grew* (more minutes went
missing) is a new fetch target with a fresh budget, as the quality tracker counts it.

The gaps themselves carry their attempts (``retry_count``, ``last_retry_ts``: the
QualityCalculator records each fetch on its tracked gap), so a restarted GapFiller, handed the
open gaps again by the QualityCalculator, continues where the last one was: a gap already
fetched is due ``retry_interval`` after its last fetch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from domain.quality.gaps import Gap, GapStatus

__all__ = ["GapBook", "GapEntry"]

_Key = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class GapEntry:
    gap: Gap
    due_ts: int


def _key(gap: Gap) -> _Key:
    return (gap.symbol, gap.interval, gap.start_ts)


class GapBook:
    """Open gaps, their attempts and due times; see the module docstring."""

    def __init__(self, max_retries: int, retry_interval: int) -> None:
        if max_retries < 1 or retry_interval < 1:
            raise ValueError(f"max_retries and retry_interval must be >= 1: {max_retries}, {retry_interval}")
        self.max_retries = max_retries
        self.retry_interval = retry_interval
        self._entries: dict[_Key, GapEntry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def gaps(self) -> tuple[Gap, ...]:
        return tuple(entry.gap for entry in self._entries.values())

    def track(self, opened: tuple[Gap, ...], closed: tuple[Gap, ...], now_ts: int) -> None:
        """Apply one gap diff: ``closed`` values leave the book, ``opened`` values enter it."""
        departed: list[GapEntry] = []
        for gap in closed:
            entry = self._entries.pop(_key(gap), None)
            if entry is not None:
                departed.append(entry)
        for gap in opened:
            if gap.status is not GapStatus.OPEN:
                continue
            parent = next(  # a piece of a gap that shrank or split (a grown gap starts afresh)
                (e for e in departed if e.gap.start_ts <= gap.start_ts and gap.end_ts <= e.gap.end_ts), None
            )
            known = self._entries.get(_key(gap))
            if parent is not None:
                retries = max(parent.gap.retry_count, gap.retry_count)
                entry = GapEntry(
                    replace(gap, retry_count=retries, last_retry_ts=parent.gap.last_retry_ts), parent.due_ts
                )
            elif known is not None:
                entry = GapEntry(
                    replace(gap, retry_count=known.gap.retry_count, last_retry_ts=known.gap.last_retry_ts),
                    known.due_ts,
                )
            else:  # new to this book; a gap fetched before (by a restarted filler) keeps its pace
                due = now_ts if gap.last_retry_ts is None else gap.last_retry_ts + self.retry_interval
                entry = GapEntry(gap, due)
            self._entries[_key(gap)] = entry

    def due(self, now_ts: int) -> tuple[list[Gap], list[Gap]]:
        """``(to_fetch, abandoned)`` at ``now_ts``: the abandoned gaps leave the book."""
        fetch: list[Gap] = []
        abandoned: list[Gap] = []
        for key, entry in list(self._entries.items()):
            if entry.due_ts > now_ts:
                continue
            if entry.gap.retry_count >= self.max_retries:
                del self._entries[key]
                abandoned.append(replace(entry.gap, status=GapStatus.ABANDONED))
            else:
                fetch.append(entry.gap)
        return fetch, abandoned

    def attempted(self, gap: Gap, now_ts: int) -> Gap | None:
        """Count one fetch of ``gap`` at ``now_ts``; its new value (``None`` if it left the book)."""
        entry = self._entries.get(_key(gap))
        if entry is None:
            return None
        counted = replace(entry.gap, retry_count=entry.gap.retry_count + 1, last_retry_ts=now_ts)
        self._entries[_key(gap)] = GapEntry(counted, now_ts + self.retry_interval)
        return counted

    def postpone(self, gap: Gap, due_ts: int) -> None:
        """Fetch ``gap`` no earlier than ``due_ts`` (a rate limit's ``Retry-After``)."""
        entry = self._entries.get(_key(gap))
        if entry is not None and due_ts > entry.due_ts:
            self._entries[_key(gap)] = GapEntry(entry.gap, due_ts)

    def next_due(self) -> int | None:
        return min((entry.due_ts for entry in self._entries.values()), default=None)

    def clear(self) -> None:
        self._entries.clear()
