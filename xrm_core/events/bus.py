"""The event bus: who subscribes to what, and running a stage's subscribers in order."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from xrm_core.context import correlated
from xrm_core.errors import XRMError
from xrm_core.events.model import MAX_DEPTH, Chain, Event, Proposal, Stage, Subscriber

#: The owner of the core's own subscribers: they run even when handlers are bypassed.
CORE_OWNER = "core"


class EventLoop(XRMError):
    """Handlers kept raising events: too deep, or the same event for the same record again."""

    code = "event_loop"


class EventBus:
    """Subscribers by stage; matching is cached per event name and entity."""

    def __init__(self) -> None:
        self._subscribers: dict[str, Subscriber] = {}
        self._matching: dict[tuple[Stage, str, str | None], list[Subscriber]] = {}
        self._lock = threading.Lock()
        self._chain: ContextVar[Chain | None] = ContextVar(f"xrm_chain_{id(self)}", default=None)

    # -- subscribing -----------------------------------------------------

    def subscribe(self, subscriber: Subscriber) -> None:
        """Add a subscriber; its name must be new."""
        with self._lock:
            if subscriber.name in self._subscribers:
                raise ValueError(f"a subscriber called {subscriber.name!r} exists already")
            self._subscribers[subscriber.name] = subscriber
            self._matching.clear()

    def replace(self, subscriber: Subscriber) -> None:
        """Put ``subscriber`` in place of the one of the same name, or add it.

        One step, so that a write running meanwhile sees the old subscriber or
        the new one, never neither (webhooks change this way).
        """
        with self._lock:
            self._subscribers[subscriber.name] = subscriber
            self._matching.clear()

    def unsubscribe(self, name: str) -> None:
        """Remove the subscriber called ``name`` (nothing if there is none)."""
        with self._lock:
            self._subscribers.pop(name, None)
            self._matching.clear()

    def subscribers(self, stage: Stage, name: str, entity: str | None) -> list[Subscriber]:
        """The subscribers of ``stage`` for an event, in the order they run."""
        key = (stage, name, entity)
        found = self._matching.get(key)
        if found is None:
            # Under the lock: a list built while another thread (un)subscribes
            # would otherwise be cached after that change cleared the cache.
            with self._lock:
                found = sorted(
                    (
                        s
                        for s in self._subscribers.values()
                        if s.stage == stage and s.matches(name, entity)
                    ),
                    key=lambda s: (s.order, s.name),
                )
                self._matching[key] = found
        return found

    def running(
        self, stage: Stage, name: str, entity: str | None, *, bypass: bool = False
    ) -> list[Subscriber]:
        """:meth:`subscribers`, or with ``bypass`` only the core's own (see docs/events.md)."""
        found = self.subscribers(stage, name, entity)
        if bypass and found:
            return [s for s in found if s.owner == CORE_OWNER]
        return found

    def of_stage(self, stage: Stage) -> list[Subscriber]:
        """Every subscriber of ``stage``, by name."""
        return sorted(
            (s for s in self._subscribers.values() if s.stage == stage), key=lambda s: s.name
        )

    def listens(self, name: str, entity: str | None, *, bypass: bool = False) -> bool:
        """True when any stage after validation wants events called ``name``.

        With ``bypass``, ``before`` and ``after`` count only the core's own subscribers.
        """
        return bool(self.subscribers("committed", name, entity)) or any(
            self.running(stage, name, entity, bypass=bypass) for stage in ("before", "after")
        )

    # -- running ---------------------------------------------------------

    @property
    def depth(self) -> int:
        """How deep in handlers this context is (0: not in a handler)."""
        chain = self._chain.get()
        return 0 if chain is None else chain.depth

    def validate(self, proposal: Proposal, *, bypass: bool = False) -> None:
        """Run ``validate`` subscribers (only the core's with ``bypass``); they may change
        ``proposal.data`` or raise."""
        name = f"{proposal.entity}.{'created' if proposal.operation == 'create' else 'updated'}"
        subscribers = self.running("validate", name, proposal.entity, bypass=bypass)
        if not subscribers:
            return
        with self._handling(proposal.entity, proposal.record_id, f"{name}:validate"):
            for subscriber in subscribers:
                subscriber.handler(proposal)

    def run(self, stage: Stage, event: Event, *, bypass: bool = False) -> None:
        """Run the ``before`` or ``after`` subscribers of ``event`` (only the core's with
        ``bypass``); an error propagates."""
        subscribers = [
            s
            for s in self.running(stage, event.name, event.entity, bypass=bypass)
            if s.wants(event.changed)
        ]
        if not subscribers:
            return
        with self._handling(event.entity, event.record_id, f"{event.name}:{stage}"):
            for subscriber in subscribers:
                subscriber.handler(event)

    def deliver(self, subscriber: Subscriber, event: Event) -> object:
        """Call a ``committed`` handler for ``event``, as if one level below it; its result.

        The outbox delivers after the transaction, in another context, so the
        chain the event came from is gone; its depth is restored so that handlers
        which keep changing what they react to stop at the same limit.
        """
        outer = Chain([(None, None, f"(outbox, depth {n})") for n in range(event.depth)])
        token = self._chain.set(outer)
        try:
            with (
                correlated(event.correlation_id or None),
                self._handling(event.entity, event.record_id, f"{event.name}:committed"),
            ):
                return subscriber.handler(event)
        finally:
            self._chain.reset(token)

    @contextmanager
    def _handling(
        self, entity: str | None, record_id: uuid.UUID | None, name: str
    ) -> Iterator[None]:
        chain = self._chain.get()
        links = [] if chain is None else chain.links
        link = (entity, record_id, name)
        if link in links:
            path = " -> ".join(f"{n} {e or ''} {i or ''}".strip() for e, i, n in [*links, link])
            raise EventLoop(
                f"event loop: {name} for the same record again ({path})",
                details={"chain": [n for _, _, n in [*links, link]]},
            )
        if len(links) >= MAX_DEPTH:
            raise EventLoop(
                f"event handlers nested {MAX_DEPTH} deep (last: {name}); is a handler "
                "changing records whose handlers change records back?",
                details={"chain": [n for _, _, n in [*links, link]]},
            )
        token = self._chain.set(Chain([*links, link]))
        try:
            yield
        finally:
            self._chain.reset(token)
