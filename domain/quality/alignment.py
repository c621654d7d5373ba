"""Alignment (SPEC §7): whether bars' time stamps fit the trading sessions they claim, and by how
much they are off when they do not.

The commonest real defect of market data is a clock error, not a missing bar: local time stored
as UTC, a time zone applied twice, a bar's end stored as its start. Such a day imports cleanly
and is then scored as if it were right — the pre-market scored as the session. This check looks
at what the calendar and the market's own rhythm say:

- **coverage**: the share of the regular session's windows that hold a bar;
- **volume**: the share of the volume traded inside the regular session;
- **the opening auction**: the bar at the open is the largest of its neighbourhood and well
  above the session's mean; likewise (weighted half) the last bar before the close;
- **bars outside** every session's extended hours, or in a midday break: a penalty.

It scores the stamps as they are and as they would be shifted by every candidate offset — whole
and half hours from −11:30 to +12:00, and one interval either way (the end-versus-start label error) —
and keeps the offset that fits best. The stamps are *misaligned* only when that offset beats
the stamps as they are by :data:`MARGIN`; *undetermined* when no candidate puts enough bars in a
regular session to judge. ``offset_seconds`` says how *late* the stamps are: +14,400 means
"4 hours late", corrected by shifting them by −4:00.

Daily bars carry no time of day; :func:`check_daily_alignment` checks their dates against the
trading days instead (a date one day off lands bars on weekends and holidays).

Cost: one pass of a few numpy operations over the bars per candidate (51 for minute bars); the
stamps as they are are scored first, and a day that fits them well (full coverage, nothing
outside, a clear opening print) is not searched further.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.bars import Bar, daily_date
from domain.calendar.trading_calendar import TradingCalendar
from domain.errors import CalendarError
from domain.intervals import Interval
from domain.session.windows import DayHours, SessionWindows

__all__ = [
    "MARGIN",
    "Alignment",
    "AlignmentStatus",
    "check_alignment",
    "check_bars",
    "check_daily_alignment",
    "format_offset",
    "parse_offset",
]

MARGIN = 0.5
"""How much better (in score points, see the module docstring) an offset must fit than the stamps
as they are before they are called misaligned. A wrong offset of an hour or more costs a liquid
day 1.5–3 points; one interval (an end label) about 1."""
MIN_BARS = 30
"""Fewer regular-session bars than this (or than half a session's windows, for long intervals)
under every candidate: too thin to judge."""
_MAX_OFFSET = 12 * 3600
_HALF_HOUR = 1800
_OUTSIDE_WEIGHT = 3.0
_CLOSING_WEIGHT = 0.5
_EDGE_BEFORE = 2  # the opening bar must beat the 2 bars before it and the 2 after it
_EDGE_AFTER = 2
_CLOSE_BEFORE = 3  # the closing bar must beat the 3 bars before it
_FITS_AS_STAMPED = (0.98, 0.5)  # coverage and opening-print strength that need no search
_WHOLE_SESSION = 0.8  # coverage under the best offset that makes extended-hours bars a session
_LABEL_SESSIONS = 3  # sessions it takes for a missing bar on the open to count as evidence

Array = npt.NDArray[Any]


class AlignmentStatus(StrEnum):
    ALIGNED = "aligned"
    MISALIGNED = "misaligned"
    UNDETERMINED = "undetermined"


@dataclass(frozen=True, slots=True)
class Alignment:
    """The verdict on one symbol's bars (a day, or a file's days)."""

    status: AlignmentStatus
    offset_seconds: int
    """How late the stamps are (0 unless misaligned); the fix shifts them by the negative."""
    confidence: float
    """0–1: how clearly the verdict's offset beats the next best fit."""
    evidence: tuple[str, ...]
    interval_seconds: int = 60

    @property
    def is_label_error(self) -> bool:
        """Off by exactly one bar of an intraday interval: bar ends stamped as starts (or back)."""
        return (
            self.status is AlignmentStatus.MISALIGNED
            and self.interval_seconds < 86_400
            and abs(self.offset_seconds) == self.interval_seconds
        )

    @property
    def fix(self) -> str:
        """The ``data import`` option that corrects the stamps ("" when none is needed)."""
        if self.status is not AlignmentStatus.MISALIGNED:
            return ""
        if self.is_label_error:
            return "--label end" if self.offset_seconds > 0 else "--label start"
        return f"--shift {format_offset(-self.offset_seconds)}"

    def describe(self) -> str:
        """One line: the verdict, its offset and confidence, and its evidence."""
        evidence = "; ".join(self.evidence)
        if self.status is AlignmentStatus.MISALIGNED:
            late = "late" if self.offset_seconds > 0 else "early"
            head = (
                f"time stamps look {format_offset(abs(self.offset_seconds))} {late} "
                f"(confidence {self.confidence:.2f})"
            )
        else:
            head = f"time stamps {self.status.value} (confidence {self.confidence:.2f})"
        return f"{head}: {evidence}" if evidence else head

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "offset": format_offset(self.offset_seconds),
            "offset_seconds": self.offset_seconds,
            "confidence": round(self.confidence, 3),
            "evidence": list(self.evidence),
            "fix": self.fix,
        }


def format_offset(seconds: int) -> str:
    """``14400`` → ``"+4:00"``, ``-1800`` → ``"-0:30"``, ``60`` → ``"+0:01"``, ``0`` → ``"0:00"``."""
    sign = "" if seconds == 0 else ("+" if seconds > 0 else "-")
    minutes = abs(seconds) // 60
    return f"{sign}{minutes // 60}:{minutes % 60:02d}"


def parse_offset(text: str) -> int:
    """``"-4"``, ``"+4:00"``, ``"-0:30"``, ``"5:30"`` → seconds; ``ValueError`` naming the form.
    At most 24 hours either way."""
    body = text.strip()
    sign = -1 if body.startswith("-") else 1
    hours_text, _, minutes_text = body[1:].partition(":") if body[:1] in "+-" else body.partition(":")
    try:
        if not hours_text.isdigit() or (minutes_text and not minutes_text.isdigit()):
            raise ValueError
        hours, minutes = int(hours_text), int(minutes_text or 0)
    except ValueError:
        raise ValueError(f"invalid offset {text!r}: expected ±H or ±H:MM (e.g. -4, +5:30)") from None
    if minutes >= 60 or hours * 60 + minutes > 24 * 60:
        raise ValueError(f"invalid offset {text!r}: at most 24:00 either way, minutes below 60")
    return sign * (hours * 3600 + minutes * 60)


@dataclass(frozen=True, slots=True)
class _Days:
    """The sessions as columns, sorted by read start (pre-market open, else the open)."""

    hours: tuple[DayHours, ...]
    start: Array
    end: Array
    open: Array
    close: Array
    break_start: Array  # == break_end (an empty range) on a day without a break
    break_end: Array
    last_start: Array  # the start of the last regular window
    expected: Array  # expected regular windows

    @classmethod
    def of(cls, hours: Sequence[DayHours], step: int) -> _Days:
        ordered = tuple(sorted(hours, key=lambda h: h.read_start_ts))
        windows = [
            SessionWindows(h.open_ts, h.close_ts, step, h.break_start_ts, h.break_end_ts) for h in ordered
        ]

        def column(values: Sequence[int]) -> Array:
            return np.asarray(values, dtype=np.int64)

        return cls(
            ordered,
            column([h.read_start_ts for h in ordered]),
            column([h.read_end_ts for h in ordered]),
            column([h.open_ts for h in ordered]),
            column([h.close_ts for h in ordered]),
            column([h.open_ts if h.break_start_ts is None else h.break_start_ts for h in ordered]),
            column([h.open_ts if h.break_end_ts is None else h.break_end_ts for h in ordered]),
            column([w.start(w.count - 1) for w in windows]),
            column([w.expected_in(0, w.count) for w in windows]),
        )


@dataclass(frozen=True, slots=True)
class _Fit:
    offset: int
    regular: int  # bars on a regular window
    expected: int  # regular windows of the sessions holding any of them
    outside: int  # bars outside every session's hours, or in a break
    volume_share: float
    opening: float  # 0–1, mean over the sessions
    open_ratio: float  # the bar at the open / the session's mean volume, mean over the sessions
    closing: float
    opening_print: tuple[int, float] | None  # (stamp, volume) at the open of the fullest session
    largest: tuple[int, float] | None  # (stamp, volume) of the largest bar in any session's hours

    @property
    def coverage(self) -> float:
        return self.regular / self.expected if self.expected else 0.0

    def score(self, bars: int) -> float:
        return (
            self.coverage
            + self.volume_share
            + self.opening
            + _CLOSING_WEIGHT * self.closing
            - _OUTSIDE_WEIGHT * self.outside / max(bars, 1)
        )


def check_alignment(
    ts: Sequence[int] | Array,
    volume: Sequence[float] | Array,
    interval_seconds: int,
    hours: Sequence[DayHours],
) -> Alignment:
    """The verdict on one symbol's intraday bars (start stamps ``ts``, sorted or not, and their
    ``volume``) against the trading sessions ``hours`` around them (every trading day the bars or
    their shifts may reach: include the day before and after). See the module docstring."""
    stamps = np.asarray(ts, dtype=np.int64)
    volumes = np.asarray(volume, dtype=np.float64)
    step = interval_seconds
    if not len(hours) or not len(stamps):
        return Alignment(AlignmentStatus.UNDETERMINED, 0, 0.0, ("no bars or no trading session",), step)
    days = _Days.of(hours, step)
    as_stamped = _fit(stamps, volumes, days, step, 0)
    bars = len(stamps)
    if (
        as_stamped.regular >= min(MIN_BARS, int(days.expected.max()) // 2)
        and as_stamped.outside == 0
        and as_stamped.coverage >= _FITS_AS_STAMPED[0]
        and as_stamped.opening >= _FITS_AS_STAMPED[1]
    ):
        return Alignment(
            AlignmentStatus.ALIGNED,
            0,
            1.0,
            (f"{_coverage_text(as_stamped)} as stamped, with the opening print on the open",),
            step,
        )
    fits = [as_stamped] + [_fit(stamps, volumes, days, step, o) for o in _candidates(step) if o]
    fits.sort(key=lambda f: -f.score(bars))
    best = fits[0]
    enough = min(MIN_BARS, int(days.expected.max()) // 2)
    if best.regular < enough:
        return _undetermined(f"too few bars to judge: at most {best.regular} in a regular session", step)
    if as_stamped.regular < enough and not as_stamped.outside and best.coverage < _WHOLE_SESSION:
        # sparse extended hours alone (a day whose session is not stored) say nothing of the
        # clock; a whole session's worth of bars stamped in them does
        return _undetermined(
            f"only {as_stamped.regular} bars in the regular session, none outside the hours", step
        )
    margin = best.score(bars) - as_stamped.score(bars)
    if best.offset == 0 or margin < MARGIN or not _label_evidence(best, as_stamped, step):
        others = max((f.score(bars) for f in fits if f.offset != 0), default=0.0)
        confidence = _confidence(as_stamped.score(bars) - others)
        evidence = [f"{_coverage_text(as_stamped)} as stamped"]
        if best.offset != 0 and margin < MARGIN:
            evidence.append(f"a shift of {format_offset(-best.offset)} fits only {margin:.2f} better")
        elif best.offset != 0:
            evidence.append(
                f"a shift of {format_offset(-best.offset)} fits {margin:.2f} better, but the bars around "
                "the open do not show the opening print one interval off"
            )
        return Alignment(AlignmentStatus.ALIGNED, 0, confidence, tuple(evidence), step)
    return Alignment(
        AlignmentStatus.MISALIGNED,
        best.offset,
        _confidence(margin),
        tuple(_evidence(as_stamped, best, days, step, bars)),
        step,
    )


def check_bars(bars: Sequence[Bar], interval: Interval, calendar: TradingCalendar) -> Alignment:
    """The verdict on one symbol's bars of one interval (a file's, a store's range) against the
    calendar's sessions from the day before the first bar to the day after the last; undetermined
    when the calendar does not cover those days."""
    if not bars:
        return Alignment(AlignmentStatus.UNDETERMINED, 0, 0.0, ("no bars",), interval.seconds)
    if interval.is_daily:
        days = [daily_date(bar.ts) for bar in bars]
        try:
            return check_daily_alignment(days, calendar.is_trading_day)
        except CalendarError as exc:
            return _not_covered(exc, interval)
    zone = calendar.timezone()
    first = datetime.fromtimestamp(min(bar.ts for bar in bars), zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(max(bar.ts for bar in bars), zone).date() + timedelta(days=1)
    try:
        trading = calendar.get_trading_dates_in_range(first, last)
        hours = [DayHours.from_session(session) for session in calendar.get_trading_sessions(trading)]
    except CalendarError as exc:
        return _not_covered(exc, interval)
    return check_alignment([bar.ts for bar in bars], [bar.volume for bar in bars], interval.seconds, hours)


def _not_covered(error: CalendarError, interval: Interval) -> Alignment:
    return Alignment(AlignmentStatus.UNDETERMINED, 0, 0.0, (f"not checked: {error}",), interval.seconds)


def check_daily_alignment(days: Sequence[date], is_trading_day: Callable[[date], bool]) -> Alignment:
    """The verdict on daily bars' session dates: the share that falls on trading days as they
    are and one day either way; misaligned when a shifted date fits clearly better."""
    if len(days) < MIN_BARS:
        return Alignment(
            AlignmentStatus.UNDETERMINED, 0, 0.0, (f"too few daily bars to judge: {len(days)}",), 86_400
        )
    share = {
        shift: sum(map(is_trading_day, (d - timedelta(days=shift) for d in days))) / len(days)
        for shift in (0, 1, -1)
    }
    best = max(share, key=lambda s: (share[s], s == 0))
    text = f"{share[0]:.1%} of {len(days)} dates are trading days as stamped"
    if best == 0 or share[best] - share[0] < 0.05:
        confidence = min(1.0, 5 * (share[0] - max(share[1], share[-1])))
        return Alignment(AlignmentStatus.ALIGNED, 0, max(0.0, confidence), (text,), 86_400)
    return Alignment(
        AlignmentStatus.MISALIGNED,
        best * 86_400,
        min(1.0, 5 * (share[best] - share[0])),
        (text, f"{share[best]:.1%} shifted by {format_offset(-best * 86_400)}"),
        86_400,
    )


def _candidates(step: int) -> list[int]:
    # −12:00 is left out: it lands a day's bars on the next day's session exactly as +12:00 lands
    # them on the previous one, and only one of the two can be reported
    offsets = set(range(-_MAX_OFFSET + _HALF_HOUR, _MAX_OFFSET + 1, _HALF_HOUR))
    if step < _HALF_HOUR:
        offsets |= {step, -step}
    return sorted(offsets, key=lambda o: (abs(o), o))


def _fit(ts: Array, volume: Array, days: _Days, step: int, offset: int) -> _Fit:
    t = ts - offset
    count = len(days.hours)
    day = np.searchsorted(days.start, t, side="right") - 1
    known = day >= 0
    day = np.where(known, day, 0)
    rel = t - days.open[day]
    inside = known & (t < days.end[day]) & ~((t >= days.break_start[day]) & (t < days.break_end[day]))
    regular = inside & (rel >= 0) & (t < days.close[day]) & (rel % step == 0)
    regular_day = day[regular]
    per_day = np.bincount(regular_day, minlength=count)
    volume_per_day = np.bincount(regular_day, weights=volume[regular], minlength=count)
    total = float(volume.sum())
    judged = per_day >= np.maximum(1, days.expected // 20)  # a stray bar or two does not make a day
    mean = np.divide(volume_per_day, per_day, out=np.zeros(count), where=judged)
    opening, open_ratio = _edge(
        t, volume, day, inside, days.open, mean, judged, -_EDGE_BEFORE, _EDGE_AFTER, step
    )
    closing, _ = _edge(t, volume, day, inside, days.last_start, mean, judged, -_CLOSE_BEFORE, 0, step)
    opening_print = largest = None
    if inside.any():
        index = int(np.flatnonzero(inside)[np.argmax(volume[inside])])
        largest = (int(ts[index]), float(volume[index]))
    if regular.any():
        at_open = np.flatnonzero(regular & (rel == 0) & (day == int(np.argmax(per_day))))
        if len(at_open):
            opening_print = (int(ts[at_open[0]]), float(volume[at_open[0]]))
    return _Fit(
        offset=offset,
        regular=int(per_day.sum()),
        expected=int(days.expected[judged].sum()),
        outside=int(len(t) - inside.sum()),
        volume_share=float(volume_per_day.sum()) / total if total > 0 else 0.0,
        opening=opening,
        open_ratio=open_ratio,
        closing=closing,
        opening_print=opening_print,
        largest=largest,
    )


def _edge(
    t: Array,
    volume: Array,
    day: Array,
    inside: Array,
    anchor: Array,
    mean: Array,
    judged: Array,
    before: int,
    after: int,
    step: int,
) -> tuple[float, float]:
    """Mean over the judged sessions of how clearly the bar at ``anchor`` is an auction print —
    log2(its volume / the session's mean) / 2, at most 1, times the square of its share of the
    largest bar within ``before``/``after`` windows of it (when one is larger) — and of its
    volume / the session's mean (infinite where no bar is on the anchor)."""
    count = len(anchor)
    if not judged.any():
        return 0.0, 0.0
    k = (t - anchor[day]) // step
    near = inside & (k >= before) & (k <= after)
    at = near & (k == 0) & ((t - anchor[day]) % step == 0)
    print_volume = np.zeros(count)
    print_volume[day[at]] = volume[at]
    neighbours = np.zeros(count)
    others = near & ~at
    np.maximum.at(neighbours, day[others], volume[others])
    ratio = np.divide(print_volume, mean, out=np.zeros(count), where=mean > 0)
    strength = np.clip(np.log2(np.maximum(ratio, 1e-12)) / 2, 0.0, 1.0)
    beats = np.divide(print_volume, neighbours, out=np.ones(count), where=neighbours > 0)
    present = np.zeros(count, dtype=bool)
    present[day[at]] = True
    # no bar on the anchor counts as a small one over several sessions (a file of end labels has
    # no pre-open minute), as no evidence on fewer (a day may just miss its first bar)
    if judged.sum() < _LABEL_SESSIONS:
        ratio[~present] = np.inf
    return float((strength * np.minimum(beats, 1.0) ** 2)[judged].mean()), float(ratio[judged].mean())


def _undetermined(reason: str, step: int) -> Alignment:
    return Alignment(AlignmentStatus.UNDETERMINED, 0, 0.0, (reason,), step)


def _label_evidence(best: _Fit, as_stamped: _Fit, step: int) -> bool:
    """Whether a one-interval offset has the evidence it needs (any other offset: True). Days
    whose second minute outtrades the first are common, so one interval late needs the bar on
    the open to trade below the session's mean as stamped (it is the pre-open minute), and one
    interval early needs the print as stamped to be on the bar before the open."""
    if best.offset == step:
        return as_stamped.open_ratio < 1.0
    if best.offset == -step:
        return as_stamped.opening < 0.25 and best.opening >= 0.5
    return True


def _confidence(margin: float) -> float:
    """A score margin as 0–1: 0 at no margin, 0.5 at :data:`MARGIN`·2, near 1 from 3 points."""
    return max(0.0, min(1.0, 1.0 - math.exp(-margin / (2 * MARGIN) * math.log(2))))


def _coverage_text(fit: _Fit) -> str:
    return f"the regular session holds {fit.regular} of {fit.expected} bars"


def _evidence(as_stamped: _Fit, best: _Fit, days: _Days, step: int, bars: int) -> list[str]:
    unit = "minute" if step == 60 else "bar"
    out: list[str] = []
    if abs(best.offset) == step:
        where = "after" if best.offset > 0 else "before"
        out.append(f"the opening print is stamped one {unit} {where} the open")
    elif best.opening_print is not None:
        stamped, volume = best.opening_print
        where = "after" if best.offset > 0 else "before"
        largest = ", the largest of the day" if as_stamped.largest == (stamped, volume) else ""
        out.append(
            f"the opening print ({volume:,.0f}{largest}) is stamped "
            f"{format_offset(abs(best.offset))[1:]} {where} the open"
        )
    if as_stamped.outside:
        out.append(f"{as_stamped.outside} of {bars} bars lie outside every session's hours")
    out.append(
        f"shifted by {format_offset(-best.offset)} {_coverage_text(best)} "
        f"(as stamped {as_stamped.regular} of {as_stamped.expected})"
    )
    return out
