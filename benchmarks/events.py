"""The events suite: the event pipeline per record change, and outbox delivery.

Two things are measured, on the same database in the same run:

- **a record change** (``records(e).update(id, {...})``, one transaction each)
  with 0, 1 and 10 no-op subscribers, against the very same change with the
  pipeline off: a record service with no event bus and no outbox, so that no
  stage runs and nothing is enqueued (the seam ``ChangeLog`` leaves when it
  has no bus). Both sides write the audit log, as every audited entity does.
  Subscribers are measured in two kinds: ``after`` (synchronous, in the
  transaction) and ``committed`` (an event row and one delivery row each, in
  the transaction, for the worker);
- **outbox delivery**: events/s that :class:`~xrm_core.events.worker.Worker`
  delivers to a no-op ``committed`` subscriber, against a hand-written loop
  doing the same SQL work with SQLAlchemy Core: claim a batch (``FOR UPDATE
  SKIP LOCKED`` on PostgreSQL) and lease it, decode each payload and call the
  handler, mark the batch delivered.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from benchmarks import data
from benchmarks.results import Result, paired_medians
from xrm_core import XRM, Subscriber
from xrm_core.audit import audit_table
from xrm_core.events.model import Stage
from xrm_core.events.outbox import delivery_table, event_table
from xrm_core.events.worker import Worker
from xrm_core.records.service import RecordService
from xrm_core.storage.tables import core_metadata

ENTITY = data.ENTITY
#: Deliveries claimed at once, by both sides: ``xrm worker``'s default.
BATCH = 100


@dataclass(frozen=True)
class Sizes:
    """How much work each benchmark does, and how many times it is timed."""

    #: Records in the table; each change updates one of the first ``changes``.
    records: int
    changes: int
    change_repeats: int
    #: Events waiting in the outbox for each timed delivery run.
    events: int
    delivery_repeats: int


FULL = Sizes(10_000, 2_000, 5, 20_000, 5)
SMOKE = Sizes(100, 20, 1, 100, 1)


@dataclass(frozen=True)
class Pipeline:
    """One pipeline benchmark: how many no-op subscribers of which stage, and its floor."""

    bench: str
    stage: Stage
    subscribers: int
    #: ratio = ours / pipeline off, as a throughput.
    target: float


PIPELINES = (
    # Nobody listens: the pipeline must cost nothing measurable.
    Pipeline("pipeline_0", "after", 0, 0.95),
    Pipeline("pipeline_1_after", "after", 1, 0.9),
    Pipeline("pipeline_10_after", "after", 10, 0.75),
    # Each change also writes an event row and a delivery row per subscriber.
    Pipeline("pipeline_1_committed", "committed", 1, 0.8),
    Pipeline("pipeline_10_committed", "committed", 10, 0.6),
)
#: The worker against the hand-written loop (events/s).
DELIVERY_TARGET = 0.5


class Bench:
    """One database prepared for the suite: the benchmark entity, filled, with its outbox."""

    def __init__(self, xrm: XRM, label: str, progress: Callable[[str], None]) -> None:
        self.xrm = xrm
        self.label = label
        self.progress = progress
        self.engine: Engine = xrm.db.engine
        self.postgresql = xrm.db.dialect == "postgresql"
        xrm.metadata.define(data.SCHEMA)
        self.table = xrm.metadata.catalog.table(ENTITY)
        self.runs = 0  # makes every change change something

    def run(self, sizes: Sizes) -> Iterator[Result]:
        """Every benchmark, in order."""
        self.progress(f"{self.label}: {sizes.records:,} records to change (not timed)")
        self.xrm.records(ENTITY).create_many(data.records(sizes.records))
        ids = self._ids(sizes.changes)
        for pipeline in PIPELINES:
            yield self.record_change(sizes, pipeline, ids)
        yield self.delivery(sizes)

    # -- benchmarks ------------------------------------------------------

    def record_change(self, sizes: Sizes, pipeline: Pipeline, ids: list[Any]) -> Result:
        """Changes/s: updates with ``pipeline``'s subscribers, against the pipeline off."""
        k, n = sizes.changes, pipeline.subscribers
        self.progress(f"{self.label}: {pipeline.bench}, {k:,} changes x{sizes.change_repeats}")
        calls = [0]

        def handler(_event: object) -> None:
            calls[0] += 1

        names = [f"bench_{pipeline.stage}_{i}" for i in range(n)]
        for name in names:
            self.xrm.events.subscribe(Subscriber(name, pipeline.stage, f"{ENTITY}.*", handler))
        try:
            ours = self._changes(ids, lambda: self.xrm.records(ENTITY))
            off = self._changes(ids, self._pipeline_off)
            # Once each, untimed: the subscribers ran (or were enqueued) once per change.
            self._empty_logs()
            ours()
            done = calls[0] if pipeline.stage == "after" else self._count(delivery_table)
            if done != k * n:
                raise RuntimeError(f"{pipeline.bench}: {done} deliveries or calls, not {k * n}")
            off()
            ours_s, off_s = paired_medians(
                ours, off, sizes.change_repeats, before_each=lambda _: self._empty_logs()
            )
        finally:
            for name in names:
                self.xrm.events.unsubscribe(name)
        return Result(
            bench=pipeline.bench,
            db=self.label,
            ours=k / ours_s,
            raw=k / off_s,
            unit="changes/s",
            higher_is_better=True,
            target=pipeline.target,
            size=k,
            extra={"subscribers": n, "stage": pipeline.stage},
        )

    def delivery(self, sizes: Sizes) -> Result:
        """Events/s: the worker emptying the outbox, against the same SQL by hand."""
        m = sizes.events
        self.progress(f"{self.label}: outbox delivery of {m:,} events x{sizes.delivery_repeats}")
        delivered = [0]

        def handler(_event: object) -> None:
            delivered[0] += 1

        name = "bench_delivery"
        self.xrm.events.subscribe(Subscriber(name, "committed", f"{ENTITY}.*", handler))
        try:
            self._empty_logs()
            self.xrm.records(ENTITY).create_many(data.records(m, seed=5))  # m events waiting
            worker = Worker(self.xrm.db, self.xrm.events, name="bench-worker", batch=BATCH)

            def ours() -> None:
                while worker.run_once():
                    pass

            raw = _HandWrittenWorker(self.engine, self.postgresql, name, handler)
            for side, run in (("ours", ours), ("raw", raw.run)):
                self._pending(side)
                delivered[0] = 0
                run()
                if delivered[0] != m or self._delivered() != m:
                    raise RuntimeError(f"delivery: {side} delivered {delivered[0]}, not {m}")
            ours_s, raw_s = paired_medians(
                ours, raw.run, sizes.delivery_repeats, before_each=self._pending
            )
        finally:
            self.xrm.events.unsubscribe(name)
        return Result(
            bench="outbox_delivery",
            db=self.label,
            ours=m / ours_s,
            raw=m / raw_s,
            unit="events/s",
            higher_is_better=True,
            target=DELIVERY_TARGET,
            size=m,
            extra={"batch": BATCH, "delivered": m},
        )

    # -- the two sides of a change ---------------------------------------

    def _changes(self, ids: list[Any], service: Callable[[], RecordService]) -> Callable[[], None]:
        """One timed run: each of ``ids`` updated once, one transaction each."""

        def run() -> None:
            self.runs += 1
            records = service()
            for i, rid in enumerate(ids):
                records.update(rid, {"subject": f"Ticket {i}, run {self.runs}"})

        return run

    def _pipeline_off(self) -> RecordService:
        """The record service with no event bus and no outbox: no stage runs."""
        xrm = self.xrm
        if xrm.caller is None:
            raise RuntimeError("the suite runs in the system context")
        return RecordService(
            xrm.db,
            xrm.metadata_service,
            ENTITY,
            caller=xrm.caller,
            security=xrm.security_service,
            audit=xrm.audit_log,
        )

    # -- preparing data (never timed) -------------------------------------

    def _empty_logs(self) -> None:
        """Empty the audit log and the outbox, then settle, before a timed run."""
        tables = _log_tables()
        with self.engine.begin() as conn:
            if self.postgresql:
                conn.execute(sa.text(f"TRUNCATE {', '.join(t.name for t in tables)}"))
            else:
                for table in tables:
                    conn.execute(table.delete())
        self._settle()

    def _pending(self, _side: str) -> None:
        """Every delivery pending again, as when enqueued; then settle."""
        d = delivery_table
        # Each keeps the due time it was enqueued with (one per chunk of a bulk
        # write): one shared time would make every claim sort all that is left.
        again = {
            "status": "pending",
            "attempts": 0,
            "leased_until": None,
            "leased_by": None,
            "last_error": None,
            "delivered_at": None,
        }
        with self.engine.begin() as conn:
            conn.execute(sa.update(d).values(again))
        if self.postgresql:  # the update left a dead row per delivery
            with self.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.execute(sa.text("VACUUM ANALYZE xrm_delivery"))
        self._settle()

    def _settle(self) -> None:
        # As in the core suite: each timed run starts from a clean write-ahead log.
        with self.engine.connect() as conn:
            if self.postgresql:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("CHECKPOINT"))
            else:
                conn.connection.driver_connection.execute(  # type: ignore[union-attr]
                    "PRAGMA wal_checkpoint(TRUNCATE)"
                )

    def _ids(self, k: int) -> list[Any]:
        with self.engine.begin() as conn:
            query = sa.select(self.table.c.id).order_by(self.table.c.id).limit(k)
            return list(conn.execute(query).scalars())

    def _count(self, table: sa.Table) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

    def _delivered(self) -> int:
        d = delivery_table
        query = sa.select(sa.func.count()).where(d.c.status == "delivered")
        with self.engine.begin() as conn:
            return int(conn.execute(query).scalar_one())


def _log_tables() -> list[sa.Table]:
    """The audit log, the outbox and every core table hanging off them, children first."""
    chosen = {audit_table, event_table}
    for table in core_metadata.sorted_tables:  # parents before children
        if any(fk.column.table in chosen for fk in table.foreign_keys):
            chosen.add(table)
    return [t for t in reversed(core_metadata.sorted_tables) if t in chosen]


class _HandWrittenWorker:
    """What a worker does, written by hand: claim and lease a batch, deliver, mark it done.

    The statements are built once, as in the other suites; payloads are
    decoded with ``json.loads`` and handed to the handler as they are.
    """

    def __init__(
        self, engine: Engine, postgresql: bool, subscriber: str, handler: Callable[[Any], None]
    ) -> None:
        self.engine = engine
        self.handler = handler
        d, e = delivery_table, event_table
        now = sa.bindparam("now", type_=d.c.next_attempt_at.type)
        claim = (
            sa.select(d.c.id, e.c.payload)
            .join(e, e.c.id == d.c.event_id)
            .where(
                d.c.status == "pending",
                d.c.next_attempt_at <= now,
                d.c.subscriber == subscriber,
                sa.or_(d.c.leased_until.is_(None), d.c.leased_until <= now),
            )
            .order_by(d.c.next_attempt_at, d.c.id)
            .limit(BATCH)
        )
        self.claim = claim.with_for_update(skip_locked=True, of=d) if postgresql else claim
        ids = sa.bindparam("ids", expanding=True, type_=d.c.id.type)
        self.lease = (
            sa.update(d)
            .where(d.c.id.in_(ids))
            .values(
                leased_until=sa.bindparam("until", type_=d.c.leased_until.type),
                leased_by="raw-worker",
            )
        )
        self.done = (
            sa.update(d)
            .where(d.c.id.in_(ids), d.c.leased_by == "raw-worker")
            .values(
                status="delivered",
                attempts=d.c.attempts + 1,
                delivered_at=sa.bindparam("at", type_=d.c.delivered_at.type),
                leased_until=None,
                leased_by=None,
            )
        )

    def run(self) -> None:
        """Deliver until nothing is due."""
        while True:
            now = dt.datetime.now(dt.UTC)
            with self.engine.begin() as conn:
                rows = conn.execute(self.claim, {"now": now}).all()
                if not rows:
                    return
                ids = [r.id for r in rows]
                conn.execute(self.lease, {"ids": ids, "until": now + dt.timedelta(seconds=30)})
            for row in rows:
                self.handler(json.loads(row.payload))
            with self.engine.begin() as conn:
                conn.execute(self.done, {"ids": ids, "at": dt.datetime.now(dt.UTC)})
