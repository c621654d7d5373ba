"""Event subscribers: callables or pykka actors, gating or not.

:class:`EventBus` keeps the subscriptions; :meth:`EventBus.publish` ``tell``s each matching
subscription's delivery actor, so publishing never blocks the engine. One
:class:`_Delivery` actor per subscription hands events to its target in order:

- a **callable** is called with the event on the delivery actor's thread;
- a **pykka actor** receives the event as a message — ``tell`` when not gating, ``ask``
  (bounded by the subscription's timeout) when gating, so "handled" means its ``on_receive``
  returned.

A **gating** subscription acknowledges each :class:`~domain.messages.events.BarsAppended` step
once its target has handled it; a speed-0 replay takes its next step only when every gating
subscription has acknowledged (or the coordinator's ack timeout passes). A subscriber that
raises is logged and counted, and still acknowledges: a broken listener never stalls the run.
Even ``SystemExit`` is caught there: escaping an actor, pykka would stop every actor of the
process, the host application's included.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pykka
import structlog

from domain.messages.commands import StepAcknowledged
from domain.messages.events import BarsAppended, Event

__all__ = ["EventBus", "Subscription"]

log = structlog.get_logger("marketsession.subscribers")

Target = Callable[[Event], Any] | pykka.ActorRef[Any]


@dataclass(eq=False)
class Subscription:
    """One subscriber: what it receives and whether the replay waits for it."""

    id: str
    kinds: frozenset[str] | None
    gating: bool
    timeout: float
    delivery: pykka.ActorRef[Any] = field(init=False, repr=False)  # set by EventBus.subscribe
    errors: int = 0
    delivered: int = 0

    def wants(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds


class _Delivery(pykka.ThreadingActor):
    use_daemon_thread = True

    def __init__(self, subscription: Subscription, target: Target) -> None:
        super().__init__()
        self._subscription = subscription
        self._target = target
        self.ack_to: pykka.ActorRef[Any] | None = None

    def on_receive(self, message: Any) -> Any:
        match message:
            case _AckTo(ref=ref):
                self.ack_to = ref
            case Event():
                self._deliver(message)
            case _:
                raise TypeError(f"a subscriber's delivery does not handle {type(message).__name__}")
        return None

    def _deliver(self, message: Event) -> None:
        subscription = self._subscription
        try:
            target = self._target
            if isinstance(target, pykka.ActorRef):
                if subscription.gating:
                    target.ask(message, timeout=subscription.timeout)
                else:
                    target.tell(message)
            else:
                target(message)
        except BaseException as error:  # a listener's bug must not stop the engine;
            # SystemExit included: escaping an actor, pykka would stop *every* actor of the process
            subscription.errors += 1
            log.warning(
                "subscriber_failed", subscriber=subscription.id, event_kind=message.kind, error=repr(error)
            )
        finally:
            subscription.delivered += 1
            if subscription.gating and isinstance(message, BarsAppended) and self.ack_to is not None:
                self.ack_to.tell(StepAcknowledged(subscription.id, message.step))


@dataclass(frozen=True)
class _AckTo:
    ref: pykka.ActorRef[Any]


class EventBus:
    """The subscriptions of one engine; thread-safe to subscribe to while the engine runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: tuple[Subscription, ...] = ()
        self._by_kind: dict[str, tuple[Subscription, ...]] = {}
        self._ids = itertools.count(1)
        self._ack_to: pykka.ActorRef[Any] | None = None

    def subscribe(
        self,
        target: Target,
        events: Iterable[str | type[Event]] | None = None,
        *,
        gating: bool = False,
        timeout: float = 10.0,
        name: str | None = None,
    ) -> Subscription:
        """Deliver events (all, or those whose ``kind`` or class is in ``events``) to ``target``."""
        if not (callable(target) or isinstance(target, pykka.ActorRef)):
            raise TypeError(f"a subscriber is a callable or a pykka ActorRef, got {type(target).__name__}")
        kinds = None if events is None else frozenset(e if isinstance(e, str) else e.kind for e in events)
        if gating and kinds is not None and BarsAppended.kind not in kinds:
            raise ValueError("a gating subscriber must receive bars_appended events (it acknowledges them)")
        sub_id = name or f"subscriber-{next(self._ids)}"
        subscription = Subscription(sub_id, kinds, gating, timeout)
        delivery = subscription.delivery = _Delivery.start(subscription, target)
        with self._lock:
            if self._ack_to is not None:
                delivery.tell(_AckTo(self._ack_to))
            self._subscriptions = (*self._subscriptions, subscription)
            self._by_kind = {}
        return subscription

    def acknowledge_to(self, ref: pykka.ActorRef[Any]) -> None:
        """Where gating deliveries send their :class:`StepAcknowledged` (the coordinator)."""
        with self._lock:
            self._ack_to = ref
            for subscription in self._subscriptions:
                subscription.delivery.tell(_AckTo(ref))

    def subscribers(self, kind: str) -> tuple[Subscription, ...]:
        cached = self._by_kind.get(kind)
        if cached is None:
            with self._lock:
                cached = tuple(s for s in self._subscriptions if s.wants(kind))
                self._by_kind[kind] = cached
        return cached

    def gating(self) -> tuple[str, ...]:
        return tuple(s.id for s in self._subscriptions if s.gating)

    def wants(self, kind: str) -> bool:
        return bool(self.subscribers(kind))

    def publish(self, event: Event) -> None:
        for subscription in self.subscribers(event.kind):
            try:
                subscription.delivery.tell(event)
            except pykka.ActorDeadError:
                subscription.errors += 1

    def close(self, timeout: float = 5.0) -> None:
        """Stop every delivery actor, letting each finish what it was handed (bounded)."""
        with self._lock:
            subscriptions, self._subscriptions, self._by_kind = self._subscriptions, (), {}
        for subscription in subscriptions:
            try:
                subscription.delivery.stop(block=True, timeout=timeout)
            except pykka.Timeout:
                log.warning("subscriber_stop_timed_out", timeout=timeout)
