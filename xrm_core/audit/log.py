"""The audit log: who changed what, when, and what it was before.

Every write of the record service (create, update, delete, assign, share,
unshare, restore) and every metadata change adds rows to ``xrm_audit`` in the
same transaction as the change itself, so an entry exists exactly when the
change does: a rolled-back write (or a dry-run delete) leaves none.

One row per record and operation. ``changes`` is kept as JSON of two maps,
``{"old": {key: value}, "new": {key: value}}``, and read back as
:attr:`AuditEntry.changes`, ``{key: {"old": value, "new": value}}``. Writing
is one statement per call (COPY on PostgreSQL) for any number of records:
bulk writes call it once per chunk, so it is built to cost little per row.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from uuid_utils import uuid7

from xrm_core.audit.values import AuditShape, Stored, decoders, documents, dumps, expand
from xrm_core.context import correlation_id
from xrm_core.errors import Problem, QueryError
from xrm_core.ids import new_id
from xrm_core.metadata.definition import EntityDefinition
from xrm_core.metadata.service import MetadataService
from xrm_core.security.caller import BYPASS_MARK, Caller
from xrm_core.storage.database import Database
from xrm_core.storage.driver_rows import DriverInsert, bind_processor
from xrm_core.storage.tables import core_metadata
from xrm_core.storage.types import DocumentType, UTCDateTime

#: Record operations the log knows.
RECORD_OPERATIONS = frozenset(
    {"create", "update", "delete", "assign", "share", "unshare", "restore"}
)
#: Metadata operations the log knows.
METADATA_OPERATIONS = frozenset({"define", "drop"})
MAX_LIMIT = 1000
#: Longest correlation id kept; an interface may pass a longer request id.
MAX_CORRELATION = 64

audit_table = sa.Table(
    "xrm_audit",
    core_metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("at", UTCDateTime, nullable=False),
    # NULL for the system context, whose reason says why it acted.
    sa.Column("actor_id", sa.Uuid, nullable=True),
    sa.Column("actor_type", sa.String(16), nullable=False),
    sa.Column("reason", sa.String, nullable=True),
    sa.Column("correlation_id", sa.String(MAX_CORRELATION), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    # NULL for a change of the entity's definition.
    sa.Column("record_id", sa.Uuid, nullable=True),
    sa.Column("operation", sa.String(16), nullable=False),
    # Plain JSON, not JSONB: cheaper to write, and it keeps fields in their order.
    sa.Column("changes", DocumentType, nullable=False),
    # The id ends each index so that newest-first pages are read straight from it.
    sa.Index("ix_xrm_audit_record", "entity", "record_id", "at", "id"),
    sa.Index("ix_xrm_audit_actor", "actor_id", "at", "id"),
    sa.Index("ix_xrm_audit_correlation", "correlation_id"),
    # A period of the whole log (search, bypassed): newest first, a page at a time.
    sa.Index("ix_xrm_audit_at", "at", "id"),
)

#: (record id, before, after) for each record of one write.
RecordChange = tuple[uuid.UUID, Mapping[str, Any] | None, Mapping[str, Any] | None]


class AuditWriter(Protocol):
    """Where writers report each change: :class:`AuditLog` is the one in use."""

    def write(
        self,
        conn: Connection,
        caller: Caller,
        definition: EntityDefinition,
        operation: str,
        changes: Sequence[RecordChange],
    ) -> None:
        """Record ``(record id, before, after)`` of each record ``operation`` changed."""


@dataclass(frozen=True)
class AuditEntry:
    """One audited change of one record (or of an entity's definition).

    ``changes`` maps each key (a field, an owner key, ``share``, ``definition``)
    to ``{"old": value, "new": value}``, with values read back as Python values
    where the entity's definition in force says how.
    """

    id: uuid.UUID
    at: dt.datetime
    actor_id: uuid.UUID | None
    actor_type: str
    reason: str | None
    correlation_id: str
    entity: str
    record_id: uuid.UUID | None
    operation: str
    changes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def bypassed_handlers(self) -> bool:
        """True for a change made while plugins' handlers were bypassed (see docs/events.md)."""
        return self.reason is not None and self.reason.startswith(BYPASS_MARK)

    @property
    def cursor(self) -> str:
        """Pass as ``cursor`` to get the entries after this one (older, in newest-first lists)."""
        text = json.dumps([self.at.isoformat(), str(self.id)])
        return base64.urlsafe_b64encode(text.encode()).decode()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AuditLog:
    """Writes and reads the audit log; no permission checks (see :class:`AuditView`)."""

    def __init__(
        self,
        db: Database,
        metadata: MetadataService,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.db = db
        self.metadata = metadata
        self.clock = clock
        self._rows = _RowWriter(db.engine.dialect)

    # -- writing ---------------------------------------------------------

    def write(
        self,
        conn: Connection,
        caller: Caller,
        definition: EntityDefinition,
        operation: str,
        changes: Sequence[RecordChange],
    ) -> None:
        """Record ``operation`` on each ``(record_id, before, after)`` of ``changes``.

        ``before`` and ``after`` are records as the record service returns them.
        Nothing is written when the entity is not audited; fields that are not
        audited are left out, and so is an update or assign that changed no
        audited value. Raises ValueError for an unknown operation.
        """
        if operation not in RECORD_OPERATIONS:
            raise ValueError(f"unknown audit operation {operation!r}")
        if not definition.audited or not changes:
            return
        shape = self._shape(definition)
        made: list[tuple[uuid.UUID, Stored | None]]
        if operation in ("create", "restore"):
            made = [(rid, shape.created(after or {})) for rid, _, after in changes]
        elif operation in ("update", "assign"):
            made = [
                (rid, shape.updated(before or {}, after or {})) for rid, before, after in changes
            ]
        elif operation == "delete":
            made = [(rid, shape.deleted(before or {})) for rid, before, _ in changes]
        else:
            made = [(rid, documents("share", before, after)) for rid, before, after in changes]
        rows = [(rid, stored) for rid, stored in made if stored is not None]
        if rows:
            self._rows.put(conn, self._common(caller, definition.name, operation), rows)

    def metadata_change(
        self,
        conn: Connection,
        caller: Caller | None,
        entity: str,
        operation: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> None:
        """Record that ``entity``'s definition was defined (created or changed) or dropped.

        ``before`` and ``after`` are the JSON definition documents (None for
        none); a ``caller`` of None is the system, with no reason given (the
        metadata service's own callers). Fits ``MetadataService.recorders``.
        Raises ValueError for an operation other than ``define`` or ``drop``.
        """
        if operation not in METADATA_OPERATIONS:
            raise ValueError(f"unknown metadata audit operation {operation!r}")
        common = self._common(caller, entity, operation)
        self._rows.put(conn, common, [(None, documents("definition", before, after))])

    # -- reading ---------------------------------------------------------

    def for_record(
        self,
        entity: str,
        record_id: uuid.UUID | str,
        *,
        limit: int = 100,
        cursor: str | None = None,
    ) -> list[AuditEntry]:
        """Entries of one record, newest first.

        For the next page, pass the last entry's :attr:`~AuditEntry.cursor` as ``cursor``.
        """
        t = audit_table
        rid = _as_uuid(record_id, "/record_id")
        return self._page([t.c.entity == entity, t.c.record_id == rid], limit, cursor)

    def for_definition(
        self, entity: str, *, limit: int = 100, cursor: str | None = None
    ) -> list[AuditEntry]:
        """Changes of ``entity``'s definition (``define``, ``drop``), newest first."""
        t = audit_table
        return self._page([t.c.entity == entity, t.c.record_id.is_(None)], limit, cursor)

    def by_user(
        self,
        user_id: uuid.UUID | str,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> list[AuditEntry]:
        """What one user did, newest first; ``since`` inclusive, ``until`` exclusive."""
        t = audit_table
        conditions = [t.c.actor_id == _as_uuid(user_id, "/user_id")]
        if since is not None:
            conditions.append(t.c.at >= _aware(since, "/since"))
        if until is not None:
            conditions.append(t.c.at < _aware(until, "/until"))
        return self._page(conditions, limit, cursor)

    def bypassed(
        self,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> list[AuditEntry]:
        """Changes made while plugins' handlers were bypassed, newest first.

        ``since`` inclusive, ``until`` exclusive; reads the period newest first
        (the reason is not indexed), which suits an auditor's question.
        """
        t = audit_table
        conditions = [t.c.reason.startswith(BYPASS_MARK, autoescape=True)]
        if since is not None:
            conditions.append(t.c.at >= _aware(since, "/since"))
        if until is not None:
            conditions.append(t.c.at < _aware(until, "/until"))
        return self._page(conditions, limit, cursor)

    def search(
        self,
        *,
        entity: str | None = None,
        record_id: uuid.UUID | str | None = None,
        actor_id: uuid.UUID | str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> list[AuditEntry]:
        """Entries matching every filter given, newest first (the admin UI's audit log).

        ``since`` inclusive, ``until`` exclusive; an ``until`` not after ``since``
        is a :class:`~xrm_core.errors.QueryError`. Without an entity or an actor,
        the log is read newest first from its index on the time, the period
        narrowing it.
        """
        t = audit_table
        conditions: list[sa.ColumnElement[bool]] = []
        if entity is not None:
            conditions.append(t.c.entity == entity)
        if record_id is not None:
            conditions.append(t.c.record_id == _as_uuid(record_id, "/record_id"))
        if actor_id is not None:
            conditions.append(t.c.actor_id == _as_uuid(actor_id, "/actor_id"))
        start = None if since is None else _aware(since, "/since")
        end = None if until is None else _aware(until, "/until")
        if start is not None and end is not None and end <= start:
            raise QueryError(
                "the audit query is not valid", [Problem("/until", "must be later than since")]
            )
        if start is not None:
            conditions.append(t.c.at >= start)
        if end is not None:
            conditions.append(t.c.at < end)
        return self._page(conditions, limit, cursor)

    def by_correlation(self, correlation_id: str) -> list[AuditEntry]:
        """Everything one unit of work (a request, a command, an import) did, oldest first."""
        t = audit_table
        query = sa.select(t).where(t.c.correlation_id == correlation_id).order_by(t.c.at, t.c.id)
        with self.db.transaction(write=False) as conn:
            rows = conn.execute(query).mappings().all()
        return self._entries(rows)

    def deleted_image(
        self, conn: Connection, entity: str, record_id: uuid.UUID
    ) -> dict[str, Any] | None:
        """The record as it was when last deleted (fields and system keys), or None.

        Values are read back with the definition in force; a field dropped
        since is still there, for the caller to leave out.
        """
        t = audit_table
        query = (
            sa.select(t.c.changes)
            .where(t.c.entity == entity, t.c.record_id == record_id, t.c.operation == "delete")
            .order_by(t.c.at.desc(), t.c.id.desc())
            .limit(1)
        )
        stored = conn.execute(query).scalar()
        if stored is None:
            return None
        changes = expand(stored, decoders(self._definition(entity)))
        return {key: change["old"] for key, change in changes.items()}

    # -- internals -------------------------------------------------------

    def _shape(self, definition: EntityDefinition) -> AuditShape:
        if self.metadata.exists(definition.name):
            current = self.metadata.get(definition.name)
            if current is definition or current == definition:
                return self.metadata.derived(definition.name, "audit", AuditShape.of)
        return AuditShape.of(definition)

    def _common(self, caller: Caller | None, entity: str, operation: str) -> dict[str, Any]:
        correlation = correlation_id() or str(new_id())
        system = caller is None or caller.is_system
        return {
            "at": self.clock(),
            "actor_id": None if caller is None else caller.user_id,
            "actor_type": "system" if system else "user",
            "reason": None if caller is None else caller.audit_reason,
            "correlation_id": correlation[:MAX_CORRELATION],
            "entity": entity,
            "operation": operation,
        }

    def _definition(self, entity: str) -> EntityDefinition | None:
        return self.metadata.get(entity) if self.metadata.exists(entity) else None

    def _page(
        self, conditions: list[sa.ColumnElement[bool]], limit: int, cursor: str | None
    ) -> list[AuditEntry]:
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
            raise QueryError(
                "the audit query is not valid",
                [Problem("/limit", f"limit must be a whole number from 1 to {MAX_LIMIT}")],
            )
        t = audit_table
        if cursor is not None:
            at, last = _decode_cursor(cursor)
            conditions = [
                *conditions,
                sa.or_(t.c.at < at, sa.and_(t.c.at == at, t.c.id < last)),
            ]
        query = sa.select(t).where(*conditions).order_by(t.c.at.desc(), t.c.id.desc())
        with self.db.transaction(write=False) as conn:
            rows = conn.execute(query.limit(limit)).mappings().all()
        return self._entries(rows)

    def _entries(self, rows: Sequence[Mapping[Any, Any]]) -> list[AuditEntry]:
        found: dict[str, dict[str, Callable[[Any], Any]]] = {}
        entries = []
        for r in rows:
            entity = r["entity"]
            if r["record_id"] is None:
                changes = expand(r["changes"], {})  # a definition document is JSON
            else:
                if entity not in found:
                    found[entity] = decoders(self._definition(entity))
                changes = expand(r["changes"], found[entity])
            entries.append(
                AuditEntry(
                    id=r["id"],
                    at=r["at"],
                    actor_id=r["actor_id"],
                    actor_type=r["actor_type"],
                    reason=r["reason"],
                    correlation_id=r["correlation_id"],
                    entity=entity,
                    record_id=r["record_id"],
                    operation=r["operation"],
                    changes=changes,
                )
            )
        return entries


#: Column order of the rows :class:`_RowWriter` sends: what varies by row, then the rest.
_ROW_COLUMNS = ("id", "record_id", "changes")
_COMMON_COLUMNS = (
    "at",
    "actor_id",
    "actor_type",
    "reason",
    "correlation_id",
    "entity",
    "operation",
)


class _RowWriter:
    """Audit rows straight to the driver (:mod:`xrm_core.storage.driver_rows`).

    The values of a call go through their column's bind processor once,
    ``changes`` through :func:`dumps`.
    """

    def __init__(self, dialect: sa.Dialect) -> None:
        self.record_id = bind_processor(audit_table.c.record_id, dialect)
        self.common = [(c, bind_processor(audit_table.c[c], dialect)) for c in _COMMON_COLUMNS]
        self.insert = DriverInsert(audit_table, (*_ROW_COLUMNS, *_COMMON_COLUMNS), dialect)

    def put(
        self,
        conn: Connection,
        common: Mapping[str, Any],
        rows: Sequence[tuple[uuid.UUID | None, Stored]],
    ) -> None:
        """Insert one row per ``(record id, stored changes)``, with the ``common`` values."""
        fixed = tuple(process(common[c]) for c, process in self.common)
        prid = self.record_id
        # The ids are new_id()'s UUIDv7 as text, which both databases take for
        # their column (32 hex digits is how SQLAlchemy keeps a UUID on SQLite);
        # making a uuid.UUID first costs four times as much.
        values = [(uuid7().hex, prid(rid), dumps(stored), *fixed) for rid, stored in rows]
        self.insert.write(conn, values)


def _decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        at, last = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        moment = dt.datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("a cursor's time has a zone")
        return moment, uuid.UUID(last)
    except (ValueError, TypeError, binascii.Error, AttributeError):
        raise QueryError(
            "the audit query is not valid",
            [Problem("/cursor", "not a cursor of an audit entry")],
        ) from None


def _as_uuid(value: uuid.UUID | str, at: str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise QueryError("the audit query is not valid", [Problem(at, "not a valid id")]) from None


def _aware(value: dt.datetime, at: str) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise QueryError("the audit query is not valid", [Problem(at, "must be a datetime")])
    # A time without a zone is taken as UTC, as everywhere in the core.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
