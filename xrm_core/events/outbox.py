"""The transactional outbox: ``committed`` events kept with the change that raised them.

A write calls :meth:`Outbox.enqueue` in its own transaction, so an event is in
the log exactly when its change is committed: a rolled-back write leaves
nothing to deliver. Two tables:

``xrm_event``
    the event log: one row per event some ``committed`` subscriber wanted,
    with the whole :class:`~xrm_core.events.model.Event` as JSON.
``xrm_delivery``
    one row per event and subscriber: ``pending`` until a worker
    (:class:`~xrm_core.events.worker.Worker`, ``xrm worker``) delivers it,
    then ``delivered``, or ``dead`` after too many failures.
``xrm_delivery_attempt``
    the delivery log: one row per attempt (:mod:`xrm_core.events.attempts`).

The change feed (:meth:`Outbox.feed`) reads the log in commit order from a
cursor. Ids are time-ordered but are made before commit, so a transaction that
commits late can hold an older id than events already read; the log therefore
orders by a *log position* taken under the write lock on SQLite (writers take
turns) and by transaction id on PostgreSQL, where the feed shows a transaction
only once every older one has finished (see docs/decisions/0015).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.errors import InvalidDeclaration, Problem, QueryError
from xrm_core.events.attempts import Attempt, attempt_table
from xrm_core.events.bus import EventBus
from xrm_core.events.model import Event, Subscriber
from xrm_core.storage.database import Database
from xrm_core.storage.tables import core_metadata
from xrm_core.storage.types import UTCDateTime

if TYPE_CHECKING:
    from xrm_core.events._outbox_rows import RowWriter

Status = Literal["pending", "delivered", "dead"]
STATUSES: tuple[Status, ...] = get_args(Status)
#: The most events or deliveries one read returns.
MAX_LIMIT = 1000

event_table = sa.Table(
    "xrm_event",
    core_metadata,
    # The event's own id: what handlers and webhook receivers dedupe by.
    sa.Column("id", sa.Uuid, primary_key=True),
    # Commit order (see the module docstring); not unique on PostgreSQL.
    sa.Column("log_position", sa.BigInteger, nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("entity", sa.String(64), nullable=True),
    sa.Column("record_id", sa.Uuid, nullable=True),
    sa.Column("correlation_id", sa.String, nullable=False),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    # Event.model_dump_json(): written and read back without a JSON round trip.
    sa.Column("payload", sa.Text, nullable=False),
    sa.Index("ix_xrm_event_log", "log_position", "id"),
)

delivery_table = sa.Table(
    "xrm_delivery",
    core_metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "event_id",
        sa.Uuid,
        sa.ForeignKey("xrm_event.id", name="fk_xrm_delivery_event", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("subscriber", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    # Set while a worker holds the delivery; an expired lease is free to take.
    sa.Column("leased_until", UTCDateTime, nullable=True),
    sa.Column("leased_by", sa.String(200), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("delivered_at", UTCDateTime, nullable=True),
    # What workers look for: due pending deliveries, oldest first. With the id
    # last, the index holds the claim's order: a claim reads its batch and
    # stops, where sorting every due delivery cost it the whole backlog.
    sa.Index("ix_xrm_delivery_due", "status", "next_attempt_at", "id"),
    sa.Index("ux_xrm_delivery_event", "event_id", "subscriber", unique=True),
)


def feed_only(event: Event) -> None:
    """The handler of a subscriber that only keeps events in the log, for the change feed.

    The outbox writes matching events to ``xrm_event`` and no delivery for them;
    see :meth:`Outbox.follow`.
    """


@dataclass(frozen=True)
class Delivery:
    """One event on its way to one ``committed`` subscriber."""

    id: uuid.UUID
    event_id: uuid.UUID
    event_name: str
    subscriber: str
    status: Status
    #: Attempts made so far (the successful one included).
    attempts: int
    next_attempt_at: dt.datetime
    leased_until: dt.datetime | None
    leased_by: str | None
    #: ``Type: message`` of the last failure.
    last_error: str | None
    delivered_at: dt.datetime | None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Outbox:
    """Writes ``committed`` events to the outbox; reads the log and the deliveries."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self._writer: RowWriter | None = None

    # -- writing ---------------------------------------------------------

    def enqueue(self, conn: Connection, events: Sequence[Event]) -> None:
        """Keep ``events`` for their ``committed`` subscribers, in the caller's transaction.

        Each event matched by at least one ``committed`` subscriber (by name,
        entity and changed fields) is written to the log with one pending
        delivery per subscriber (none for :func:`feed_only` ones). Nothing is
        written when none matches. Bulk writes call this once per chunk: it
        makes one statement per table for the whole chunk.
        """
        chosen: list[tuple[Event, list[Subscriber]]] = []
        for event in events:
            subscribers = [
                s
                for s in self.bus.subscribers("committed", event.name, event.entity)
                if s.wants(event.changed)
            ]
            if subscribers:
                chosen.append((event, subscribers))
        if not chosen:
            return
        self._rows(conn).put(conn, chosen, self.clock())

    def _rows(self, conn: Connection) -> RowWriter:
        if self._writer is None:
            # Imported here: the writer module reads this one's tables.
            from xrm_core.events._outbox_rows import RowWriter

            self._writer = RowWriter(conn.dialect)
        return self._writer

    def follow(
        self, name: str, event: str = "*", *, entity: str | None = None, owner: str = "custom"
    ) -> Subscriber:
        """Keep events matching ``event`` (and ``entity``) in the log for :meth:`feed`.

        The log holds only events some ``committed`` subscriber wanted; a feed
        subscriber (handler :func:`feed_only`) makes sure the events an
        integration reads are there, with nothing to deliver. It must be
        subscribed in every process that writes (a plugin's ``xrm_subscribers``
        hook does that), and it covers changes from then on.
        """
        subscriber = Subscriber(name, "committed", event, feed_only, entity=entity, owner=owner)
        self.bus.subscribe(subscriber)
        return subscriber

    def replay(
        self, delivery_ids: Iterable[uuid.UUID] | None = None, *, subscriber: str | None = None
    ) -> int:
        """Put deliveries back to pending, due now with a fresh count of attempts.

        Without ``delivery_ids``, every dead delivery (of ``subscriber``, when
        given); with them, those deliveries if dead or delivered (delivered
        ones are delivered again). Returns how many were put back.
        """
        d = delivery_table
        conditions: list[sa.ColumnElement[bool]] = []
        if delivery_ids is None:
            conditions.append(d.c.status == "dead")
        else:
            conditions += [d.c.id.in_(list(delivery_ids)), d.c.status != "pending"]
        if subscriber is not None:
            conditions.append(d.c.subscriber == subscriber)
        again = {
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": self.clock(),
            "leased_until": None,
            "leased_by": None,
            "delivered_at": None,
        }
        with self.db.transaction() as conn:
            return conn.execute(sa.update(d).where(*conditions).values(again)).rowcount

    # -- reading ---------------------------------------------------------

    def feed(
        self, *, after: str | None = None, limit: int = 100, events: str = "*"
    ) -> tuple[list[Event], str | None]:
        """Events of the log in commit order, and the cursor to read on from.

        ``after`` is a cursor this method returned (None: from the start);
        ``events`` an event pattern (``contact.*``, ``*.created``). An empty
        list means nothing newer yet: keep the cursor and ask again later.
        The feed is the system's view: it applies no permissions, so images
        hold every field. Raises :class:`~xrm_core.errors.QueryError` for a
        bad cursor, pattern or limit.
        """
        _check_limit(limit)
        matcher = _matcher(events)
        e = event_table
        query = sa.select(e.c.log_position, e.c.id, e.c.name, e.c.payload)
        if after is not None:
            position, last = _decode_cursor(after)
            query = query.where(
                sa.or_(
                    e.c.log_position > position,
                    sa.and_(e.c.log_position == position, e.c.id > last),
                )
            )
        if events != "*":
            query = query.where(e.c.name.like(_like(events), escape="\\"))
        if self.db.dialect == "postgresql":
            # Only transactions older than every one still running: none of
            # those can still commit, so nothing appears behind the cursor.
            horizon = sa.func.pg_snapshot_xmin(sa.func.pg_current_snapshot())
            query = query.where(
                e.c.log_position < sa.cast(sa.cast(horizon, sa.Text), sa.BigInteger)
            )
        query = query.order_by(e.c.log_position, e.c.id).limit(limit)
        with self.db.transaction(write=False) as conn:
            rows = conn.execute(query).all()
        if not rows:
            return [], after
        # LIKE ignores case on SQLite; the pattern's own rule has the last word.
        found = [Event.model_validate_json(r.payload) for r in rows if matcher.matches(r.name)]
        return found, _encode_cursor(rows[-1].log_position, rows[-1].id)

    def deliveries(
        self,
        *,
        status: Status | None = None,
        subscriber: str | None = None,
        event_id: uuid.UUID | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """Deliveries, oldest first, narrowed by status, subscriber or event."""
        _check_limit(limit)
        if status is not None and status not in STATUSES:
            raise QueryError(
                "the outbox query is not valid",
                [Problem("/status", f"unknown status {status!r}; one of {', '.join(STATUSES)}")],
            )
        d, e = delivery_table, event_table
        query = sa.select(d, e.c.name.label("event_name")).join(e, e.c.id == d.c.event_id)
        if status is not None:
            query = query.where(d.c.status == status)
        if subscriber is not None:
            query = query.where(d.c.subscriber == subscriber)
        if event_id is not None:
            query = query.where(d.c.event_id == event_id)
        query = query.order_by(d.c.id).limit(limit)
        with self.db.transaction(write=False) as conn:
            rows = conn.execute(query).mappings().all()
        return [Delivery(**{f: r[f] for f in _DELIVERY_FIELDS}) for r in rows]

    def attempts(
        self,
        *,
        delivery_id: uuid.UUID | None = None,
        subscriber: str | None = None,
        event_id: uuid.UUID | None = None,
        limit: int = 100,
    ) -> list[Attempt]:
        """The delivery log of one delivery, subscriber or event.

        Deliveries oldest first, and each one's attempts by number (workers'
        clocks may disagree; the numbers do not).
        """
        _check_limit(limit)
        a, d = attempt_table, delivery_table
        query = sa.select(a, d.c.event_id, d.c.subscriber).join(d, d.c.id == a.c.delivery_id)
        if delivery_id is not None:
            query = query.where(a.c.delivery_id == delivery_id)
        if subscriber is not None:
            query = query.where(d.c.subscriber == subscriber)
        if event_id is not None:
            query = query.where(d.c.event_id == event_id)
        query = query.order_by(a.c.delivery_id, a.c.number).limit(limit)
        with self.db.transaction(write=False) as conn:
            rows = conn.execute(query).mappings().all()
        return [Attempt(**{f: r[f] for f in _ATTEMPT_FIELDS}) for r in rows]


_DELIVERY_FIELDS = tuple(Delivery.__dataclass_fields__)
_ATTEMPT_FIELDS = tuple(Attempt.__dataclass_fields__)


def _check_limit(limit: int) -> None:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise QueryError(
            "the outbox query is not valid",
            [Problem("/limit", f"limit must be a whole number from 1 to {MAX_LIMIT}")],
        )


def _matcher(pattern: str) -> Subscriber:
    try:
        return Subscriber("feed", "committed", pattern, feed_only)
    except InvalidDeclaration as exc:
        problems = [Problem("/events", p.message) for p in exc.problems]
        raise QueryError("the outbox query is not valid", problems) from None


def _like(pattern: str) -> str:
    """An event pattern as a LIKE pattern: ``*`` is whole segments, ``_`` is literal."""
    return "%".join(part.replace("_", "\\_") for part in pattern.split("*"))


_CURSOR = re.compile(r"(\d+)-([0-9a-f]{32})")


def _encode_cursor(position: int, event_id: uuid.UUID) -> str:
    return f"{position}-{event_id.hex}"


def _decode_cursor(cursor: str) -> tuple[int, uuid.UUID]:
    match = _CURSOR.fullmatch(cursor) if isinstance(cursor, str) else None
    if match is None:
        raise QueryError(
            "the outbox query is not valid",
            [Problem("/after", "not a cursor of the change feed")],
        )
    return int(match[1]), uuid.UUID(match[2])


__all__ = [
    "STATUSES",
    "Delivery",
    "Outbox",
    "Status",
    "delivery_table",
    "event_table",
    "feed_only",
]
