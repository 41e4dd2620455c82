"""Outbox rows straight to the driver: the events and deliveries of one write.

Private to :mod:`xrm_core.events.outbox` (see docs/decisions/0015 and 0029).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from uuid_utils import uuid7

from xrm_core.events.model import Event, Subscriber
from xrm_core.events.outbox import delivery_table, event_table, feed_only
from xrm_core.storage.driver_rows import DriverInsert, bind_processor

_EVENT_COLUMNS = (
    "id",
    "name",
    "entity",
    "record_id",
    "correlation_id",
    "occurred_at",
    "payload",
    "log_position",
)
#: Up to this many events (and deliveries), PostgreSQL takes a write's rows in
#: one statement: one round trip, where a COPY takes two and the log position
#: one more. Bulk writes' chunks go by COPY.
AT_ONCE_EVENTS, AT_ONCE_DELIVERIES = 50, 500
_DELIVERY_COLUMNS = ("id", "event_id", "subscriber", "status", "attempts", "next_attempt_at")


class RowWriter:
    """Events and deliveries straight to the driver (:mod:`xrm_core.storage.driver_rows`).

    A bulk write enqueues a chunk of 500 events at once; through SQLAlchemy's
    executemany that cost twice as much (30 against 14 µs an event on SQLite).
    A single change is one event: what it costs is statements, and on
    PostgreSQL round trips, so there the events and deliveries of a small
    write go in one statement with the log position computed in it.
    """

    def __init__(self, dialect: sa.Dialect) -> None:
        self.uuid = bind_processor(event_table.c.id, dialect)
        self.time = bind_processor(event_table.c.occurred_at, dialect)
        self.events = DriverInsert(event_table, _EVENT_COLUMNS, dialect)
        self.deliveries = DriverInsert(delivery_table, _DELIVERY_COLUMNS, dialect)
        self.one_statement = dialect.name == "postgresql" and dialect.paramstyle == "format"
        if dialect.name == "postgresql":
            # The writing transaction's id: the feed shows it once every older
            # transaction has finished, so none can commit behind a reader.
            self.position = "pg_current_xact_id()::text::bigint"
            self.step = 0
        else:
            # SQLite lets one writer at a time in, and this one already wrote the
            # change, so no other transaction can take a position before it commits.
            self.position = f"coalesce(max(log_position), 0) FROM {event_table.name}"
            self.step = 1

    def put(
        self,
        conn: Connection,
        chosen: Sequence[tuple[Event, Sequence[Subscriber]]],
        now: dt.datetime,
    ) -> None:
        """Insert each event and a pending delivery, due ``now``, per subscriber of it.

        Events take the log positions after the log's last, one apart, on
        SQLite; the transaction's id on PostgreSQL.
        """
        events, deliveries = self._rows(chosen)
        if (
            self.one_statement
            and len(events) <= AT_ONCE_EVENTS
            and len(deliveries) <= AT_ONCE_DELIVERIES
        ):
            self._put_at_once(conn, events, deliveries, now)
            return
        position, step = self._log_position(conn), self.step
        self.events.write(conn, [(*e, position + n * step) for n, e in enumerate(events, 1)])
        due = self.time(now)
        self.deliveries.write(conn, [(*d, "pending", 0, due) for d in deliveries])

    def _rows(
        self, chosen: Sequence[tuple[Event, Sequence[Subscriber]]]
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Events as ``_EVENT_COLUMNS`` but the position; deliveries' id, event and subscriber."""
        pid, ptime = self.uuid, self.time
        # The events of one write share their time: convert it once.
        last: tuple[dt.datetime | None, Any] = (None, None)
        events: list[tuple[Any, ...]] = []
        deliveries: list[tuple[Any, ...]] = []
        for event, subscribers in chosen:
            if last[0] is not event.occurred_at:
                last = (event.occurred_at, ptime(event.occurred_at))
            event_id = pid(event.id)
            events.append(
                (
                    event_id,
                    event.name,
                    event.entity,
                    pid(event.record_id),
                    event.correlation_id,
                    last[1],
                    event.model_dump_json(),
                )
            )
            # New ids as hex text, which both databases take for a UUID (as the audit log does).
            deliveries.extend(
                (uuid7().hex, event_id, s.name) for s in subscribers if s.handler is not feed_only
            )
        return events, deliveries

    def _log_position(self, conn: Connection) -> int:
        # Straight to the driver: through SQLAlchemy, this one query cost most
        # of what a committed subscriber added to a change.
        cursor = _cursor(conn)
        try:
            cursor.execute(f"SELECT {self.position}")
            return int(cursor.fetchone()[0])
        finally:
            cursor.close()

    def _put_at_once(
        self,
        conn: Connection,
        events: list[tuple[Any, ...]],
        deliveries: list[tuple[Any, ...]],
        now: dt.datetime,
    ) -> None:
        """Events and deliveries in one statement, the log position computed in it."""
        values = [v for row in events for v in row]
        if deliveries:
            values += [self.time(now), *(v for row in deliveries for v in row)]
        cursor = _cursor(conn)
        try:
            cursor.execute(_insert_at_once(len(events), len(deliveries)), values)
        finally:
            cursor.close()


def _cursor(conn: Connection) -> Any:
    """A cursor of the driver connection under ``conn``, in its open transaction."""
    driver = conn.connection.driver_connection
    if driver is None:
        raise RuntimeError("writing to the outbox needs an open database connection")
    return driver.cursor()


@functools.lru_cache(maxsize=64)
def _insert_at_once(events: int, deliveries: int) -> str:
    """PostgreSQL: the INSERT of ``events`` events and their ``deliveries``, as one statement.

    Parameters: each event's columns but the position, then (with deliveries)
    the time they are due and each delivery's id, event id and subscriber.
    """
    position = "pg_current_xact_id()::text::bigint"
    rows = ", ".join([f"(%s, %s, %s, %s, %s, %s, %s, {position})"] * events)
    logged = f"INSERT INTO {event_table.name} ({', '.join(_EVENT_COLUMNS)}) VALUES {rows}"
    if not deliveries:
        return logged
    # Foreign keys are checked at the end of the statement, when the events are there.
    due = "(SELECT at FROM due)"
    rows = ", ".join([f"(%s, %s, %s, 'pending', 0, {due})"] * deliveries)
    return (
        f"WITH logged AS ({logged}), due AS (SELECT %s::timestamptz AS at) "
        f"INSERT INTO {delivery_table.name} ({', '.join(_DELIVERY_COLUMNS)}) VALUES {rows}"
    )
