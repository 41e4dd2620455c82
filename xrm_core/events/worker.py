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
transactions, so the log costs no transaction of its own. Every step works on
the whole batch at once (a statement for the claim, one for the leases, one
per table for the outcomes), with statements built once per worker.

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from xrm_core.events.attempts import AttemptLog, DeliveryFailed, Ended, Receipt, attempt_table
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
        self._sql = _Statements(db.engine.dialect, name, batch)
        self._log = AttemptLog(db.engine.dialect)

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
        with self.db.transaction() as conn:
            rows = conn.execute(self._sql.claim, {"now": now, "names": names}).all()
            if not rows:
                return []
            ids = [r.id for r in rows]
            conn.execute(self._sql.lease, {"ids": ids, "until": until})
            # Each claim opens the next attempt of the delivery log.
            self._log.begin(conn, [(r.id, r.tried + 1) for r in rows], self.name, now)
        return [
            Claim(r.id, r.event_id, r.subscriber, r.attempts, r.payload, until, r.tried + 1)
            for r in rows
        ]

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
                started = self.clock()
                if started >= claim.leased_until:
                    expired.append(claim)
                    continue
                began = time.monotonic()
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
                    ended = Ended(
                        claim.delivery_id, claim.attempt, started, "delivered", took, status
                    )
                    done.append((claim, ended))
                    delivered += 1
                    if time.monotonic() - flushed >= FLUSH:
                        self._delivered(done)
                        done, flushed = [], time.monotonic()
        finally:
            self._delivered(done)
            self._record(forgotten=expired)
        return delivered

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        delay = min(self.base_backoff * 2.0 ** min(attempts - 1, 60), self.max_backoff)
        return delay * random.uniform(0.5, 1.0) if self.jitter else delay

    # -- outcomes --------------------------------------------------------

    def _record(
        self,
        update: sa.Update | None = None,
        claims: Sequence[Claim] = (),
        values: Mapping[str, Any] | None = None,
        *,
        ended: Sequence[Ended] = (),
        forgotten: Sequence[Claim] = (),
    ) -> None:
        """In one transaction: ``update`` with ``values`` on the ``claims`` still leased to
        this worker, the outcomes of ``ended`` attempts, and no attempt for ``forgotten``."""
        if not (claims or ended or forgotten):
            return
        with self.db.transaction() as conn:
            if update is not None:
                for until, ids in _by_lease(claims):
                    conn.execute(update, {**(values or {}), "ids": ids, "until": until})
            # The attempt happened even if the lease is another worker's by now.
            self._log.end(conn, ended)
            if forgotten:
                rows = [{"b_delivery": c.delivery_id, "b_number": c.attempt} for c in forgotten]
                conn.execute(_FORGET_ATTEMPT, rows)

    def _delivered(self, done: Sequence[_Tried]) -> None:
        claims = [claim for claim, _ in done]
        ended = [ended for _, ended in done]
        self._record(self._sql.delivered, claims, {"at": self.clock()}, ended=ended)

    def _failed(self, tried: _Tried, *, final: bool = False) -> None:
        claim, ended = tried
        attempts = claim.attempts + 1
        dead = final or attempts >= self.max_attempts
        now = self.clock()
        values = {
            "status": "dead" if dead else "pending",
            "attempts": attempts,
            "next": now if dead else now + dt.timedelta(seconds=self.backoff(attempts)),
            "error": ended.error,
        }
        self._record(self._sql.failed, [claim], values, ended=[ended])
        level = logging.ERROR if dead else logging.WARNING
        log.log(
            level,
            "delivery %s to %s failed (attempt %d%s): %s",
            claim.delivery_id,
            claim.subscriber,
            attempts,
            ", now dead" if dead else "",
            ended.error,
        )

    def _release(self, claims: Sequence[Claim]) -> None:
        """Hand claims not started back at once, leaving no attempt in the log."""
        self._record(self._sql.release, claims, forgotten=claims)


#: A claim and how its attempt ended.
_Tried = tuple[Claim, Ended]


def _failure(claim: Claim, started: dt.datetime, took: float, exc: Exception) -> _Tried:
    if isinstance(exc, DeliveryFailed):  # its message is written for the log
        status, error = exc.status_code, str(exc)
    else:
        status, error = None, f"{type(exc).__name__}: {exc}"
    ended = Ended(
        claim.delivery_id, claim.attempt, started, "failed", took, status, error[:MAX_ERROR]
    )
    return claim, ended


def _by_lease(claims: Sequence[Claim]) -> Iterator[tuple[dt.datetime, list[uuid.UUID]]]:
    """The claims' delivery ids by lease (the claims of one round share theirs)."""
    by_lease: dict[dt.datetime, list[uuid.UUID]] = {}
    for claim in claims:
        by_lease.setdefault(claim.leased_until, []).append(claim.delivery_id)
    return iter(by_lease.items())


class _Statements:
    """A worker's statements, built once: SQLAlchemy caches their compiled form."""

    def __init__(self, dialect: sa.Dialect, name: str, batch: int) -> None:
        d, e, a = delivery_table, event_table, attempt_table
        now = sa.bindparam("now", type_=d.c.next_attempt_at.type)
        # The last attempt's number (the log counts on across replays and
        # attempts cut short), looked up by the attempt table's primary key.
        last = sa.select(sa.func.coalesce(sa.func.max(a.c.number), 0))
        tried = last.where(a.c.delivery_id == d.c.id).scalar_subquery()
        claim = (
            sa.select(
                d.c.id,
                d.c.event_id,
                d.c.subscriber,
                d.c.attempts,
                e.c.payload,
                tried.label("tried"),
            )
            .join(e, e.c.id == d.c.event_id)
            .where(
                d.c.status == "pending",
                d.c.next_attempt_at <= now,
                d.c.subscriber.in_(sa.bindparam("names", expanding=True)),
                sa.or_(d.c.leased_until.is_(None), d.c.leased_until <= now),
            )
            .order_by(d.c.next_attempt_at, d.c.id)
            .limit(batch)
        )
        if dialect.name == "postgresql":
            claim = claim.with_for_update(skip_locked=True, of=d)
        self.claim = claim
        ids = sa.bindparam("ids", expanding=True, type_=d.c.id.type)
        until = sa.bindparam("until", type_=d.c.leased_until.type)
        self.lease = sa.update(d).where(d.c.id.in_(ids)).values(leased_until=until, leased_by=name)
        # Only while each lease is still this worker's: a worker that comes back
        # after its lease expired must not overwrite what another one recorded.
        # Every change of status clears the lease, so a lease still held means
        # pending; saying so would make SQLite search the due index (everything
        # pending) instead of the ids.
        mine = sa.update(d).where(d.c.id.in_(ids), d.c.leased_by == name, d.c.leased_until == until)
        free = {"leased_until": None, "leased_by": None}
        self.release = mine.values(free)
        self.delivered = mine.values(
            status="delivered",
            attempts=d.c.attempts + 1,
            delivered_at=sa.bindparam("at", type_=d.c.delivered_at.type),
            **free,
        )
        self.failed = mine.values(
            status=sa.bindparam("status", type_=d.c.status.type),
            attempts=sa.bindparam("attempts", type_=d.c.attempts.type),
            next_attempt_at=sa.bindparam("next", type_=d.c.next_attempt_at.type),
            last_error=sa.bindparam("error", type_=d.c.last_error.type),
            **free,
        )


_a = attempt_table
_FORGET_ATTEMPT = sa.delete(_a).where(
    _a.c.delivery_id == sa.bindparam("b_delivery"),
    _a.c.number == sa.bindparam("b_number"),
    _a.c.outcome.is_(None),
)


def _committed(bus: EventBus) -> dict[str, Subscriber]:
    """The bus's ``committed`` subscribers that have something to deliver, by name."""
    return {s.name: s for s in bus.of_stage("committed") if s.handler is not feed_only}


__all__ = ["Claim", "Worker"]
