"""``xrm worker``: delivering ``committed`` events from the outbox, at least once.

A worker claims due deliveries in one short transaction — ``SELECT ... FOR
UPDATE SKIP LOCKED`` on PostgreSQL, so that workers never wait for each other
nor take the same rows; on SQLite the claim is a write transaction, and
writers take turns — and leases them for a while. It calls the handlers
outside any transaction, then records the outcomes in short transactions:
delivered (quick successes together, at least every :data:`FLUSH` seconds), or
failed and due again after an exponential backoff, or dead after too many
attempts (:meth:`~xrm_core.events.outbox.Outbox.replay` brings it back).

Each attempt is a row of the delivery log (:mod:`xrm_core.events.attempts`),
written with the claim and completed with the outcome in the same
transactions, so the log costs no transaction of its own.

A worker that dies mid-delivery leaves its lease behind (and an attempt
without an outcome); once the lease expires, another worker delivers the
event again. Handlers must therefore tolerate a second delivery of the same
event: they dedupe by ``event.id``.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from xrm_core.events.attempts import DeliveryFailed, Outcome, Receipt, attempt_table
from xrm_core.events.bus import EventBus, EventLoop
from xrm_core.events.model import Event, Subscriber
from xrm_core.events.outbox import delivery_table, event_table, feed_only
from xrm_core.storage.database import Database

log = logging.getLogger(__name__)

#: Longest ``last_error`` kept.
MAX_ERROR = 2000
#: Successes are recorded together, at least this often (seconds): one transaction
#: for many quick deliveries, while a worker that dies repeats at most this much work.
FLUSH = 0.1


@dataclass(frozen=True)
class Claim:
    """A delivery a worker holds until ``leased_until``."""

    delivery_id: uuid.UUID
    event_id: uuid.UUID
    subscriber: str
    #: Attempts made before this one.
    attempts: int
    payload: str
    leased_until: dt.datetime
    #: This attempt's number in the delivery log.
    attempt: int = 1


@dataclass(frozen=True)
class _Tried:
    """An attempt that ended, as the delivery log keeps it."""

    claim: Claim
    started_at: dt.datetime
    duration: float
    outcome: Outcome
    status_code: int | None = None
    error: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "b_delivery": self.claim.delivery_id,
            "b_number": self.claim.attempt,
            "b_started": self.started_at,
            "b_outcome": self.outcome,
            "b_duration": self.duration,
            "b_status": self.status_code,
            "b_error": self.error,
        }


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Worker:
    """Delivers due outbox deliveries to this process's ``committed`` subscribers.

    ``name`` identifies the worker in leases (make it unique: host and pid).
    Each round claims up to ``batch`` deliveries for ``lease`` seconds; a
    failed delivery is tried again after ``backoff * 2 ** (attempts - 1)``
    seconds, at most ``max_backoff``, shortened by up to half at random
    unless ``jitter`` is off, and is dead after ``max_attempts``. Deliveries
    to a subscriber this process does not have are left for a process that
    does. ``refresh`` is called before each claim, to pick up subscribers
    that live in the database (webhooks) and changed in another process.
    Raises ValueError for settings out of range.
    """

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        name: str,
        batch: int = 100,
        lease: float = 30.0,
        max_attempts: int = 10,
        backoff: float = 1.0,
        max_backoff: float = 3600.0,
        jitter: bool = True,
        clock: Callable[[], dt.datetime] = _utcnow,
        refresh: Callable[[], object] | None = None,
    ) -> None:
        if not name or len(name) > 200:
            raise ValueError("a worker needs a name of 1 to 200 characters")
        if batch < 1 or max_attempts < 1:
            raise ValueError("batch and max_attempts must be at least 1")
        if lease <= 0 or backoff < 0 or max_backoff < 0:
            raise ValueError("lease must be positive, backoffs not negative")
        self.db = db
        self.bus = bus
        self.name = name
        self.batch = batch
        self.lease = dt.timedelta(seconds=lease)
        self.max_attempts = max_attempts
        self.base_backoff = backoff
        self.max_backoff = max_backoff
        self.jitter = jitter
        self.clock = clock
        self.refresh = refresh

    @property
    def subscribers(self) -> list[str]:
        """The names of the subscribers this worker delivers to (this process's bus)."""
        if self.refresh is not None:
            self.refresh()
        return sorted(_committed(self.bus))

    # -- rounds ----------------------------------------------------------

    def run_once(self, stop: threading.Event | None = None) -> int:
        """Claim what is due and deliver it; the number delivered."""
        return self.deliver(self.claim(), stop)

    def run(self, stop: threading.Event, poll: float = 1.0) -> int:
        """Deliver until ``stop`` is set, waiting ``poll`` seconds when idle; the number delivered.

        Setting ``stop`` lets the delivery under way finish and hands the rest
        of the round back at once. A database that cannot be reached is tried
        again at the next poll.
        """
        total = 0
        while not stop.is_set():
            try:
                claims = self.claim()
                total += self.deliver(claims, stop)
            except sa.exc.OperationalError:
                log.exception("worker %s: the database is not answering", self.name)
                claims = []
            if len(claims) < self.batch:
                stop.wait(poll)
        return total

    # -- the two halves of a round ---------------------------------------

    def claim(self) -> list[Claim]:
        """Lease up to ``batch`` due deliveries to this worker's subscribers, oldest first."""
        if self.db.in_transaction:
            raise RuntimeError("a worker claims in a transaction of its own, not inside one")
        names = self.subscribers
        if not names:
            return []
        now = self.clock()
        until = now + self.lease
        d, e = delivery_table, event_table
        query = (
            sa.select(d.c.id, d.c.event_id, d.c.subscriber, d.c.attempts, e.c.payload)
            .join(e, e.c.id == d.c.event_id)
            .where(
                d.c.status == "pending",
                d.c.next_attempt_at <= now,
                d.c.subscriber.in_(names),
                sa.or_(d.c.leased_until.is_(None), d.c.leased_until <= now),
            )
            .order_by(d.c.next_attempt_at, d.c.id)
            .limit(self.batch)
        )
        if self.db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, of=d)
        with self.db.transaction() as conn:
            rows = conn.execute(query).all()
            if not rows:
                return []
            ids = [r.id for r in rows]
            leased = sa.update(d).where(d.c.id.in_(ids))
            conn.execute(leased.values(leased_until=until, leased_by=self.name))
            numbers = self._begin_attempts(conn, ids, now)
        return [
            Claim(r.id, r.event_id, r.subscriber, r.attempts, r.payload, until, numbers[r.id])
            for r in rows
        ]

    def _begin_attempts(
        self, conn: sa.Connection, ids: list[uuid.UUID], now: dt.datetime
    ) -> dict[uuid.UUID, int]:
        """Write an attempt without an outcome for each claimed delivery; their numbers."""
        a = attempt_table
        last = sa.select(a.c.delivery_id, sa.func.max(a.c.number)).where(a.c.delivery_id.in_(ids))
        tried = {i: n for i, n in conn.execute(last.group_by(a.c.delivery_id))}
        numbers = {i: tried.get(i, 0) + 1 for i in ids}
        conn.execute(
            sa.insert(a),
            [
                {"delivery_id": i, "number": n, "worker": self.name, "started_at": now}
                for i, n in numbers.items()
            ],
        )
        return numbers

    def deliver(self, claims: Sequence[Claim], stop: threading.Event | None = None) -> int:
        """Call each claim's subscriber and record the outcome; the number delivered.

        A claim whose lease ran out is not started (another worker may have it
        by now); once ``stop`` is set, the claims not started are released.
        Successes are recorded together, at least every ``FLUSH`` seconds.
        """
        subscribers = _committed(self.bus)
        events: dict[uuid.UUID, Event] = {}
        done: list[_Tried] = []  # delivered, not recorded yet
        expired: list[Claim] = []  # not started: the lease ran out first
        delivered = 0
        flushed = time.monotonic()
        try:
            for n, claim in enumerate(claims):
                if stop is not None and stop.is_set():
                    self._release(claims[n:])
                    break
                subscriber = subscribers.get(claim.subscriber)
                if subscriber is None:  # unsubscribed since the claim
                    self._release([claim])
                    continue
                if self.clock() >= claim.leased_until:
                    expired.append(claim)
                    continue
                started, began = self.clock(), time.monotonic()
                try:
                    event = events.get(claim.event_id)
                    if event is None:
                        event = events[claim.event_id] = Event.model_validate_json(claim.payload)
                    result = self.bus.deliver(subscriber, event)
                except Exception as exc:
                    tried = _failure(claim, started, time.monotonic() - began, exc)
                    # Waiting will not break a loop: dead at once.
                    self._failed(tried, final=isinstance(exc, EventLoop))
                else:
                    status = result.status_code if isinstance(result, Receipt) else None
                    took = time.monotonic() - began
                    done.append(_Tried(claim, started, took, "delivered", status))
                    delivered += 1
                    if time.monotonic() - flushed >= FLUSH:
                        self._delivered(done)
                        done, flushed = [], time.monotonic()
        finally:
            self._delivered(done)
            self._record([], {}, forgotten=expired)
        return delivered

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        delay = min(self.base_backoff * 2.0 ** min(attempts - 1, 60), self.max_backoff)
        return delay * random.uniform(0.5, 1.0) if self.jitter else delay

    # -- outcomes --------------------------------------------------------

    def _mine(self, claims: Sequence[Claim]) -> list[sa.Update]:
        # Only while each lease is still this worker's: a worker that comes back
        # after its lease expired must not overwrite what another one recorded.
        d = delivery_table
        by_lease: dict[dt.datetime, list[uuid.UUID]] = {}
        for claim in claims:
            by_lease.setdefault(claim.leased_until, []).append(claim.delivery_id)
        return [
            sa.update(d).where(
                d.c.id.in_(ids),
                d.c.status == "pending",
                d.c.leased_by == self.name,
                d.c.leased_until == until,
            )
            for until, ids in by_lease.items()
        ]

    def _record(
        self,
        claims: Sequence[Claim],
        values: Mapping[str, Any],
        *,
        ended: Sequence[_Tried] = (),
        forgotten: Sequence[Claim] = (),
    ) -> None:
        """In one transaction: ``values`` on the deliveries still leased to this worker,
        the outcomes of ``ended`` attempts, and no attempt for ``forgotten`` claims."""
        if not (claims or ended or forgotten):
            return
        with self.db.transaction() as conn:
            for statement in self._mine(claims):
                conn.execute(statement.values(values))
            # The attempt happened even if the lease is another worker's by now.
            if ended:
                conn.execute(_END_ATTEMPT, [t.row() for t in ended])
            if forgotten:
                rows = [{"b_delivery": c.delivery_id, "b_number": c.attempt} for c in forgotten]
                conn.execute(_FORGET_ATTEMPT, rows)

    def _delivered(self, done: Sequence[_Tried]) -> None:
        values = {
            "status": "delivered",
            "attempts": delivery_table.c.attempts + 1,
            "delivered_at": self.clock(),
            "leased_until": None,
            "leased_by": None,
        }
        self._record([t.claim for t in done], values, ended=done)

    def _failed(self, tried: _Tried, *, final: bool = False) -> None:
        claim = tried.claim
        attempts = claim.attempts + 1
        dead = final or attempts >= self.max_attempts
        now = self.clock()
        values = {
            "status": "dead" if dead else "pending",
            "attempts": attempts,
            "next_attempt_at": now if dead else now + dt.timedelta(seconds=self.backoff(attempts)),
            "last_error": tried.error,
            "leased_until": None,
            "leased_by": None,
        }
        self._record([claim], values, ended=[tried])
        level = logging.ERROR if dead else logging.WARNING
        log.log(
            level,
            "delivery %s to %s failed (attempt %d%s): %s",
            claim.delivery_id,
            claim.subscriber,
            attempts,
            ", now dead" if dead else "",
            tried.error,
        )

    def _release(self, claims: Sequence[Claim]) -> None:
        """Hand claims not started back at once, leaving no attempt in the log."""
        self._record(claims, {"leased_until": None, "leased_by": None}, forgotten=claims)


def _failure(claim: Claim, started: dt.datetime, took: float, exc: Exception) -> _Tried:
    if isinstance(exc, DeliveryFailed):  # its message is written for the log
        return _Tried(claim, started, took, "failed", exc.status_code, str(exc)[:MAX_ERROR])
    return _Tried(claim, started, took, "failed", None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR])


_a = attempt_table
_END_ATTEMPT = (
    sa.update(_a)
    .where(_a.c.delivery_id == sa.bindparam("b_delivery"), _a.c.number == sa.bindparam("b_number"))
    .values(
        started_at=sa.bindparam("b_started"),
        outcome=sa.bindparam("b_outcome"),
        duration=sa.bindparam("b_duration"),
        status_code=sa.bindparam("b_status"),
        error=sa.bindparam("b_error"),
    )
)
_FORGET_ATTEMPT = sa.delete(_a).where(
    _a.c.delivery_id == sa.bindparam("b_delivery"),
    _a.c.number == sa.bindparam("b_number"),
    _a.c.outcome.is_(None),
)


def _committed(bus: EventBus) -> dict[str, Subscriber]:
    """The bus's ``committed`` subscribers that have something to deliver, by name."""
    return {s.name: s for s in bus.of_stage("committed") if s.handler is not feed_only}


__all__ = ["Claim", "Worker"]
