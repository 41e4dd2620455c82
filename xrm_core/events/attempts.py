"""The delivery log: one row per attempt a worker made to deliver an event.

A worker writes the row when it claims a delivery (the attempt's number,
itself, the time) and fills in the outcome when the handler returns or
raises: ``delivered`` or ``failed``, how long it took, the HTTP status of a
webhook, the error. A row left without an outcome is an attempt whose worker
stopped in the middle (killed, or the machine lost); the delivery is made
again once that worker's lease expires, as a new attempt.

Handlers say more than "it worked" through :class:`Receipt` (returned) and
:class:`DeliveryFailed` (raised); webhooks use both for the status code.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.storage.driver_rows import bind_processor
from xrm_core.storage.tables import core_metadata
from xrm_core.storage.types import UTCDateTime

Outcome = Literal["delivered", "failed"]

attempt_table = sa.Table(
    "xrm_delivery_attempt",
    core_metadata,
    sa.Column(
        "delivery_id",
        sa.Uuid,
        sa.ForeignKey("xrm_delivery.id", name="fk_xrm_delivery_attempt", ondelete="CASCADE"),
        primary_key=True,
    ),
    # 1, 2, ... for each attempt at this delivery, across replays.
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("worker", sa.String(200), nullable=False),
    # When the handler was called (until then: when the worker claimed it).
    sa.Column("started_at", UTCDateTime, nullable=False),
    # NULL until the attempt ends; still NULL if its worker died during it.
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("duration", sa.Float, nullable=True),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)


@dataclass(frozen=True)
class Receipt:
    """What a handler may return to have its outcome described in the delivery log."""

    #: The HTTP status the receiver answered, for a webhook.
    status_code: int | None = None


class DeliveryFailed(Exception):
    """Raised by a handler whose delivery failed, with what the log should keep.

    The message is kept as the attempt's error as it is (other exceptions are
    kept as ``Type: message``); ``status_code`` is the receiver's HTTP status.
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class Attempt:
    """One try at delivering one event to one subscriber."""

    delivery_id: uuid.UUID
    event_id: uuid.UUID
    subscriber: str
    #: 1 for the first attempt at the delivery, counting on across replays.
    number: int
    #: The worker that made it (``host:pid`` for ``xrm worker``).
    worker: str
    started_at: dt.datetime
    #: None: the worker stopped during the attempt (or is still at it).
    outcome: Outcome | None
    #: Seconds the handler took.
    duration: float | None
    status_code: int | None
    error: str | None


class Ended(NamedTuple):
    """How an attempt ended, for :meth:`AttemptLog.end` (a tuple: one per delivery made)."""

    delivery_id: uuid.UUID
    number: int
    #: When the handler was called.
    started_at: dt.datetime
    outcome: Outcome
    duration: float
    status_code: int | None = None
    error: str | None = None


class AttemptLog:
    """Writes the delivery log a worker's batch at a time, straight to the driver.

    A worker opens an attempt per delivery it claims and ends them together
    when it records the outcomes; going through SQLAlchemy's executemany, the
    two cost more than the whole claim-deliver-record round of a batch
    (docs/benchmarks.md). Values go through the columns' bind processors, as
    :mod:`xrm_core.storage.driver_rows` does, so they read back through the table.
    """

    def __init__(self, dialect: sa.Dialect) -> None:
        a = attempt_table
        self.uuid = bind_processor(a.c.delivery_id, dialect)
        self.time = bind_processor(a.c.started_at, dialect)
        # psycopg takes a whole column as one array: one statement, one round
        # trip for the batch, where an executemany is a statement a row.
        self.arrays = dialect.name == "postgresql" and dialect.driver == "psycopg"
        if self.arrays:
            self.opening = (
                f"INSERT INTO {a.name} (delivery_id, number, worker, started_at) "
                "SELECT v.delivery_id, v.number, %s, %s "
                "FROM unnest(%s::uuid[], %s::integer[]) AS v(delivery_id, number)"
            )
            self.ending = (
                f"UPDATE {a.name} AS a SET started_at = v.started_at, outcome = v.outcome, "
                "duration = v.duration, status_code = v.status_code, error = v.error "
                "FROM unnest(%s::timestamptz[], %s::varchar[], %s::float8[], %s::integer[], "
                "%s::text[], %s::uuid[], %s::integer[]) "
                "AS v(started_at, outcome, duration, status_code, error, delivery_id, number) "
                "WHERE a.delivery_id = v.delivery_id AND a.number = v.number"
            )
        else:
            # SQLite runs in-process: an executemany costs about what one statement would.
            m = "?" if dialect.paramstyle == "qmark" else "%s"
            self.opening = (
                f"INSERT INTO {a.name} (delivery_id, number, worker, started_at) "
                f"VALUES ({m}, {m}, {m}, {m})"
            )
            self.ending = (
                f"UPDATE {a.name} SET started_at = {m}, outcome = {m}, duration = {m}, "
                f"status_code = {m}, error = {m} WHERE delivery_id = {m} AND number = {m}"
            )

    def begin(
        self,
        conn: Connection,
        attempts: Sequence[tuple[uuid.UUID, int]],
        worker: str,
        now: dt.datetime,
    ) -> None:
        """Open attempt ``number`` of each ``(delivery_id, number)``, by ``worker``, at ``now``."""
        if not attempts:
            return
        at, pid = self.time(now), self.uuid
        if self.arrays:
            ids = [pid(i) for i, _ in attempts]
            self._run(conn, self.opening, [worker, at, ids, [n for _, n in attempts]])
        else:
            self._run(conn, self.opening, [(pid(i), n, worker, at) for i, n in attempts])

    def end(self, conn: Connection, ended: Sequence[Ended]) -> None:
        """Write the outcome of each attempt in ``ended``."""
        if not ended:
            return
        pid, ptime = self.uuid, self.time
        # SET's values, then WHERE's.
        rows = [
            (
                ptime(e.started_at),
                e.outcome,
                e.duration,
                e.status_code,
                e.error,
                pid(e.delivery_id),
                e.number,
            )
            for e in ended
        ]
        if self.arrays:  # one array per column
            self._run(conn, self.ending, [list(column) for column in zip(*rows, strict=True)])
        else:
            self._run(conn, self.ending, rows)

    def _run(self, conn: Connection, statement: str, params: Sequence[Any]) -> None:
        """One statement with arrays, or one executemany of ``params`` rows."""
        driver = conn.connection.driver_connection
        if driver is None:
            raise RuntimeError("writing the delivery log needs an open database connection")
        # In the transaction SQLAlchemy has open on ``conn``, as DriverInsert writes.
        cursor = driver.cursor()
        try:
            if self.arrays:
                # Binary: arrays of UUIDs and times are dumped without escaping text.
                cursor.execute(statement, params, binary=True)
            else:
                cursor.executemany(statement, params)
        finally:
            cursor.close()


__all__ = [
    "Attempt",
    "AttemptLog",
    "DeliveryFailed",
    "Ended",
    "Outcome",
    "Receipt",
    "attempt_table",
]
