"""The clock steps of a session day (SPEC §5), part of the
:class:`~actors.session_coordinator.SessionCoordinator`: moving the day's source to the pacing's
clock, appending and publishing what it releases, waiting for gating subscribers, and scoring.

At speed 0 without gating subscribers, steps follow each other in one handler for as long as the
mailbox stays empty (at most :data:`MAX_RUN` of them), so a pause, a stop or a query still lands
between two steps while a replay does not pay one message round trip per step. The
QualityCalculator is sent one :class:`~domain.messages.commands.ScoreStep` for the steps taken
since the last one: every step when someone listens to quality or gap events (or the replay is
paced, or live), else when a run of steps ends for a message, at the close, and at least every
:data:`SCORE_EVERY` steps. A speed-0 replay waits for its answer before the next step: the two
actors take turns instead of fighting for the GIL.
"""

from __future__ import annotations

from typing import Any

from actors.pacing import DataDriven, Step
from domain.bars import Bar
from domain.calendar.model import SessionType
from domain.messages.commands import AckTimeout, QualityScored, ScoreStep, StepAcknowledged
from domain.messages.events import (
    BarsAppended,
    DerivedBarsBuilt,
    GapDetected,
    GapFilled,
    QualityUpdated,
    QuotesAppended,
)
from domain.quality.gaps import Gap, GapStatus
from domain.session.lifecycle import LifecycleState
from domain.session.replay_day import SessionDay

__all__ = ["MAX_RUN", "SCORE_EVERY", "ClockSteps"]

State = LifecycleState

MAX_RUN = 1024
"""Most speed-0 clock steps taken in one handler (fewer when a message is waiting)."""
SCORE_EVERY = 64
"""At speed 0 the QualityCalculator scores at least every this many steps (and at the close)."""
_QUALITY_EVENTS = (QualityUpdated.kind, GapDetected.kind, GapFilled.kind)


class ClockSteps:
    """The coordinator's clock steps (a mixin: it works on the coordinator's state)."""

    _silent_until: int | None
    _unscored: list[Bar]

    @property
    def _fast(self: Any) -> bool:
        """Steps follow each other at once: a replay at speed 0, or one replaying silently."""
        return isinstance(self.pacing, DataDriven) or (
            self._silent_until is not None and not self.pacing.live
        )

    def _schedule_next(self: Any) -> None:
        if self.lifecycle.state not in (State.STREAMING, State.READY) or self._closing in (
            "draining",
            "ending",
        ):
            return
        if self._fast:
            if not self._awaiting and not self._scoring:
                self.actor_ref.tell(Step(self._generation))  # a silent replay runs at speed 0
            return
        self.pacing.schedule(self.actor_ref, self._generation)

    def _on_step(self: Any) -> None:
        """Take clock steps: one, or a run of them at speed 0 (see the module docstring)."""
        if self.lifecycle.is_terminal or self._closing in ("draining", "ending"):
            return
        if self._awaiting:
            self._step_due = True  # a paced tick while a gating subscriber is still busy
            return
        self._step_due = False
        day, bus, data = self._day, self._bus, self.data
        hours = day.hours
        name, live = hours.day, self.pacing.live
        publish_bars, publish_derived = bus.wants(BarsAppended.kind), bus.wants(DerivedBarsBuilt.kind)
        publish_quotes = bus.wants(QuotesAppended.kind)
        gating = () if live else bus.gating()
        fast = self._fast
        # quality and gap events are published as the steps happen: score every step then
        per_step = not fast or any(bus.wants(kind) for kind in _QUALITY_EVENTS)
        inbox = self.actor_inbox
        replay = isinstance(day, SessionDay)
        steps = 0
        for _ in range(MAX_RUN):
            steps += 1
            now = day.next_clock() if fast else self.pacing.next_clock(day)
            if self.lifecycle.state is State.READY and now >= day.start_ts:
                self._open_session()  # a live day streams from the open (extended hours: the pre-market's)
            step = day.release(now)
            if self._silent_until is not None and step.now_ts > self._silent_until:
                self._silent_until = None  # past the last step published before the restart
            derived = step.derived
            if derived:
                if not replay:  # a replay's derived bars are in the day's columns already
                    data.append_session_bars(derived)
                    self._unscored.extend(derived)
                self._bars_derived += len(derived)
            quotes = step.quotes
            if step.windows or derived or quotes:
                self._step += 1
            if quotes and publish_quotes and self._silent_until is None:
                self._publish(QuotesAppended(name, self._step, step.now_ts, quotes))
            if step.windows and (publish_bars or gating) and self._silent_until is None:
                self._publish(BarsAppended(name, self._step, step.now_ts, step.bars))
                if gating:
                    self._await_acks(gating)
                    break
            if derived and publish_derived:
                self._publish(DerivedBarsBuilt(name, self._step, step.now_ts, derived))
            if per_step or day.now_ts >= day.end_ts or not inbox.empty():
                break
        if replay:
            for interval, until in day.released.items():
                self._horizons[interval].ts = until
            self._quote_horizon.ts = day.quotes_until
            released = day.released_count()
            self._bars_streamed += released - self._released
            self._day_streamed += released - self._released
            self._released = released
        self._unscored_steps += steps
        now = day.now_ts
        self.pacing.moved(now)
        if self._on_published is not None:
            self._on_published(name, now)
        if self.supervision is not None and self.supervision.faults is not None:
            self.supervision.faults.clock(now)
        if (
            self._closing is None
            and now >= self.pacing.closes_at(day.end_ts)
            and self.lifecycle.state is State.STREAMING
        ):
            self._end_day()
            return
        if self._closing is None and (
            live or per_step or self._unscored_steps >= SCORE_EVERY or not inbox.empty()
        ):
            self._score(self.pacing.score_until(now, day.end_ts))
        if live and self._closing is None:
            self._fill_quotes(now)  # the quotes of the minutes that closed, fetched again
            self._watch(now)
        self._schedule_next()

    def _score(self: Any, until: int, *, force: bool = False) -> None:
        """Tell the QualityCalculator what the day released since the last score, up to ``until``."""
        day = self._day
        if not force and not self._unscored and until <= self._scored_ts and self._unscored_steps == 0:
            return
        released = day.released if isinstance(day, SessionDay) else None
        base_text = str(self._base)
        bars = tuple(b for b in self._unscored if b.interval == base_text)
        derived = tuple(b for b in self._unscored if b.interval != base_text)
        self._unscored, self._unscored_steps = [], 0
        self._scored_ts = max(self._scored_ts, until)
        self._quality.tell(ScoreStep(day.hours.day, self._scored_ts, bars, derived, released))
        self._scoring = not self.pacing.live

    def _on_quality(self: Any, message: QualityScored) -> None:
        day = self._day
        if day is None or message.day != day.hours.day:
            return  # a late reply about a day that has ended
        self._scoring = False
        for score in message.scores:
            if score.session is SessionType.REGULAR:  # the session data keeps the regular session's
                self.data.set_quality(score.symbol, score.interval, score.quality)
        changed: dict[tuple[str, str], dict[int, Gap]] = {}  # the session data's copy, changed

        def gaps_of(gap: Gap) -> dict[int, Gap]:
            key = (gap.symbol, gap.interval)
            if key not in changed:
                changed[key] = {g.start_ts: g for g in self.data.gaps(*key)}
            return changed[key]

        for gap in message.closed:
            gaps_of(gap).pop(gap.start_ts, None)
            if gap.status is GapStatus.FILLED:
                self._publish(GapFilled(message.day, gap))
                self.counters["gaps_filled"] += gap.interval == str(self._base)
        for gap in message.opened:
            gaps_of(gap)[gap.start_ts] = gap
            self._publish(GapDetected(message.day, gap))
        for (symbol, interval), gaps in changed.items():
            self.data.set_gaps(symbol, interval, sorted(gaps.values(), key=lambda g: g.start_ts))
        if message.scores:
            self._publish(QualityUpdated(message.day, message.now_ts, message.scores))
        if self._closing == "scoring" and message.now_ts >= day.end_ts:
            self._drain()
        elif self._closing is None and self._fast and not self._awaiting:
            self._schedule_next()

    # ------------------------------------------------------------------ gating subscribers

    def _await_acks(self: Any, gating: tuple[str, ...]) -> None:
        """Wait for every gating subscriber's acknowledgement of this step, at most the gating
        timeout. One watchdog timer stays armed while steps are acknowledged in time."""
        self._awaiting = set(gating)
        self._awaiting_since = self._timer.now()
        if not self._ack_armed:
            self._arm_watchdog(self._gating_timeout)

    def _arm_watchdog(self: Any, delay: float) -> None:
        self._ack_armed = True
        self._timer.send_after(delay, self.actor_ref, AckTimeout(self._step))

    def _on_ack(self: Any, message: StepAcknowledged) -> None:
        if message.step == self._step and self._awaiting:
            self._awaiting.discard(message.subscriber)
            if not self._awaiting:
                self._acks_done()

    def _on_ack_timeout(self: Any) -> None:
        self._ack_armed = False
        if not self._awaiting or self.lifecycle.is_terminal:
            return
        waited = self._timer.now() - self._awaiting_since
        if waited < self._gating_timeout:  # the watchdog of an earlier step: re-arm for this one
            self._arm_watchdog(self._gating_timeout - waited)
            return
        self._ack_timeouts += 1
        late = ", ".join(sorted(self._awaiting))
        self._warn(
            f"step {self._step}: no acknowledgement from {late} within {self._gating_timeout}s; went on"
        )
        self._awaiting.clear()
        self._acks_done()

    def _acks_done(self: Any) -> None:
        if self.lifecycle.state is not State.STREAMING:
            return
        if self._fast:
            if self._closing is None and not self._scoring and self.actor_inbox.empty():
                self._on_step()  # the next step at once: no message to itself in between
            else:
                self._schedule_next()  # after what is waiting (a pause lands between steps)
        elif self._step_due:
            self._on_step()
