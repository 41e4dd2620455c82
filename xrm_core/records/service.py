"""The record service: the single path for reading and writing records.

Every interface (Python, REST, GraphQL, CLI, admin UI, plugins) calls this
class, so validation, reference checks and concurrency control happen here
once. Later layers hook in at the marked seams: permissions in
:meth:`RecordService._access` (a WHERE predicate joined into every read) and
before each write; events and audit around the writes.

This module holds the public methods and the write seams; the read path is in
``_reading``, owners and shares in ``_ownership``, many-to-many links in
``_links``, bulk writes in ``_bulk``, the delete walk in ``_delete``.
"""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.audit.log import AuditWriter, RecordChange
from xrm_core.errors import (
    AccessDenied,
    BrokenReference,
    Problem,
    RecordNotFound,
    RecordValidationError,
    VersionConflict,
    pointer,
)
from xrm_core.events.bus import EventBus
from xrm_core.ids import as_uuid, new_id
from xrm_core.metadata.definition import SYSTEM_COLUMNS, EntityDefinition, Kind
from xrm_core.metadata.models import InvalidRecord
from xrm_core.metadata.service import MetadataService
from xrm_core.records import _links, _ownership, _reading
from xrm_core.records._arguments import MAX_VERSION as MAX_VERSION
from xrm_core.records._arguments import bulk_rows, check_version, now
from xrm_core.records._bulk import Bulk, columns_of
from xrm_core.records._changes import ChangeLog, OutboxWriter
from xrm_core.records._delete import DeleteWalk
from xrm_core.records._reading import MAX_LIMIT as MAX_LIMIT
from xrm_core.records._restore import RestoreReport, restore
from xrm_core.records._shape import Shape
from xrm_core.records.query import QueryBuilder
from xrm_core.records.results import BulkMode, BulkResult, DeleteReport, Page, Record
from xrm_core.security.caller import Caller
from xrm_core.security.predicates import Access
from xrm_core.security.principal import Scope
from xrm_core.security.service import CORE_ENTITIES, SecurityService
from xrm_core.storage.database import Database
from xrm_core.storage.errors import translate_integrity_error


class RecordService:
    """Records of one entity, as seen and changed by one caller.

    Every read is filtered by what the caller may see (one SQL predicate);
    every write is checked before anything is written, then audited.
    """

    def __init__(
        self,
        db: Database,
        metadata: MetadataService,
        entity: str,
        *,
        caller: Caller,
        security: SecurityService,
        audit: AuditWriter | None = None,
        events: EventBus | None = None,
        outbox: OutboxWriter | None = None,
    ) -> None:
        self.db = db
        self.metadata = metadata
        self.entity = entity
        self.caller = caller
        self.security = security
        self.audit = audit
        self.events = events
        self.outbox = outbox
        #: Where writes report: event stages, the outbox and the audit log.
        self.changes = ChangeLog(caller, audit, events, outbox)
        metadata.get(entity)  # raises UnknownEntity now rather than at first use
        security.check_bypass(caller)  # however the caller was made, before any write

    def _service(self, entity: str) -> RecordService:
        """The service of another entity, for the same caller."""
        return RecordService(
            self.db,
            self.metadata,
            entity,
            caller=self.caller,
            security=self.security,
            audit=self.audit,
            events=self.events,
            outbox=self.outbox,
        )

    @property
    def definition(self) -> EntityDefinition:
        """The entity's definition in force (a service outlives definition changes)."""
        return self.metadata.get(self.entity)

    # -- reading ---------------------------------------------------------

    def get(
        self,
        record_id: uuid.UUID | str,
        *,
        fields: Sequence[str] | None = None,
        expand: Sequence[str] | None = None,
    ) -> Record:
        """The record with ``record_id``; raises :class:`RecordNotFound`."""
        return _reading.get(self, record_id, fields, expand)

    def query(
        self,
        *,
        filter: Any = None,
        order: Sequence[str] | None = None,
        limit: int = 50,
        cursor: str | None = None,
        fields: Sequence[str] | None = None,
        expand: Sequence[str] | None = None,
        count: bool = False,
    ) -> Page:
        """A page of records matching ``filter`` in ``order`` (see the query guide)."""
        return _reading.page(
            self,
            filter=filter,
            order=order,
            limit=limit,
            cursor=cursor,
            fields=fields,
            expand=expand,
            count=count,
        )

    def count(self, *, filter: Any = None) -> int:
        """How many records match ``filter``."""
        return _reading.count(self, filter)

    def aggregate(
        self,
        *,
        group_by: Sequence[str] = (),
        measures: Mapping[str, Any] | None = None,
        filter: Any = None,
    ) -> list[Record]:
        """Measures per group of records matching ``filter``.

        ``aggregate(group_by=["created_at:month"], measures={"total": "sum:amount"})``
        """
        return _reading.aggregate(self, group_by, measures, filter)

    # -- writing ---------------------------------------------------------

    def create(self, data: Mapping[str, Any]) -> Record:
        """Validate and store a new record; return it as stored.

        The caller owns it unless ``data`` names another owner (``owner_id``,
        and ``owner_type`` "user" or "team"), which the create scope must reach.
        """
        self.require_create()
        values = self.validate_new(data)
        with self.db.transaction() as conn:
            self._check_references(conn, values)
            (row,) = self.new_rows([values])
            self.insert(conn, [row])
        return self._hide(self.to_record(row))

    def update(
        self,
        record_id: uuid.UUID | str,
        changes: Mapping[str, Any],
        *,
        if_version: int | None = None,
    ) -> Record:
        """Change some fields; with ``if_version``, refuse if the record changed since.

        Raises :class:`VersionConflict` for a stale version, :class:`RecordNotFound`.
        """
        validator = self.metadata.validator(self.entity)
        with self.db.transaction() as conn:
            try:
                return self.apply_update(
                    conn, record_id, validator.validate_patch, changes, if_version, savepoint=True
                )
            except InvalidRecord as exc:
                raise self.invalid(exc) from None

    def delete(
        self, record_id: uuid.UUID | str, *, if_version: int | None = None, dry_run: bool = False
    ) -> DeleteReport:
        """Delete a record, applying each relationship's delete behaviour.

        With ``dry_run`` nothing changes and the report counts what would (the
        delete runs in a savepoint that is rolled back, so the counts are exact).
        Raises :class:`DeleteRestricted` when a restrict relationship has records.
        """
        rid = as_uuid(record_id)
        check_version(if_version)
        report = DeleteReport(dry_run=dry_run)
        with self.db.transaction() as conn:
            savepoint = conn.begin_nested()
            try:
                # Permission first: a version conflict would tell that the record exists.
                self.authorize(conn, [rid], "delete")
                self._current_version(conn, rid, if_version)
                if self.entity in CORE_ENTITIES:
                    self.security.check_core_delete(conn, self.entity, [rid])
                self._delete_walk(conn, report).delete(self.definition, [rid])
                if any(e in CORE_ENTITIES for e in report.deleted):
                    self.security.changed(conn)
            except BaseException:
                savepoint.rollback()
                raise
            if dry_run:
                savepoint.rollback()
            else:
                savepoint.commit()
        return report

    def restore(self, record_id: uuid.UUID | str) -> RestoreReport:
        """Bring back a deleted record as its delete left it in the audit log.

        Lookups whose record is gone come back empty and are named in the
        report. Raises :class:`RecordNotFound` when the record exists or no
        delete of it was audited, :class:`RecordValidationError` when it does
        not satisfy the definition as it is now; checked as a create.
        """
        return restore(self, record_id)

    # -- bulk ------------------------------------------------------------

    def create_many(
        self, rows: Iterable[Mapping[str, Any]], *, mode: BulkMode = "atomic"
    ) -> BulkResult:
        """Create many records. ``atomic``: all or nothing (raises :class:`BulkError`);
        ``per_row``: write what is valid and report each row's outcome."""
        self.require_create()
        bulk = Bulk(self)
        return bulk.run(bulk_rows(rows), mode, bulk.create)

    def update_many(
        self, rows: Iterable[Mapping[str, Any]], *, mode: BulkMode = "atomic"
    ) -> BulkResult:
        """Update many records; each row holds ``id``, optionally ``version``, and changes."""
        bulk = Bulk(self)
        return bulk.run(bulk_rows(rows), mode, bulk.update)

    def upsert_many(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        key: str | Sequence[str],
        mode: BulkMode = "atomic",
    ) -> BulkResult:
        """Create or update by an alternate key (its name, or its fields) or unique field.

        A row whose key matches a record updates it with the fields given;
        any other row creates a record.
        """
        bulk = Bulk(self)
        fields = bulk.alternate_key(key)
        rows = bulk_rows(rows)
        return bulk.run(rows, mode, lambda conn, part: bulk.upsert(conn, part, fields))

    # -- many-to-many ----------------------------------------------------

    def link(
        self,
        record_id: uuid.UUID | str,
        relationship: str,
        target_id: uuid.UUID | str,
        attributes: Mapping[str, Any] | None = None,
    ) -> Record:
        """Link two records through a many-to-many relationship; return the link as stored.

        Linking records already linked replaces the link's attributes, as if
        it were made anew (defaults applied), and keeps its ``created_at``.
        Raises :class:`RecordNotFound` when either record does not exist.
        """
        return _links.link(self, record_id, relationship, target_id, attributes)

    def unlink(
        self, record_id: uuid.UUID | str, relationship: str, target_id: uuid.UUID | str
    ) -> bool:
        """Remove a link; True when there was one."""
        return _links.unlink(self, record_id, relationship, target_id)

    def links(self, record_id: uuid.UUID | str, relationship: str) -> list[Record]:
        """The links of a record through ``relationship``, oldest first."""
        return _links.links(self, record_id, relationship)

    def links_of(
        self, record_ids: Iterable[uuid.UUID | str], relationship: str, *, by: str = "source"
    ) -> dict[uuid.UUID, list[Record]]:
        """The links of many records at once, by record id (one query per 500 ids).

        ``by="source"``: the links of records of this entity (as :meth:`links`);
        ``by="target"``: the links pointing at records of the relationship's
        target. Links whose source record the caller cannot read are left out
        (a link belongs to its source), and so an id gets an empty list.
        """
        return _links.links_of(self, record_ids, relationship, by)

    # -- ownership and sharing -------------------------------------------

    def assign(
        self, record_id: uuid.UUID | str, owner_id: uuid.UUID | str, owner_type: str = "user"
    ) -> Record:
        """Give a record to another owner (a user or a team); it moves to their business unit."""
        return _ownership.assign(self, record_id, owner_id, owner_type)

    def share(
        self,
        record_id: uuid.UUID | str,
        principal_id: uuid.UUID | str,
        principal_type: str = "user",
        privileges: Sequence[str] = ("read",),
    ) -> dict[str, Any]:
        """Share a record with a user or team; sharing again replaces the privileges.

        One may share only privileges one has on the record oneself.
        """
        return _ownership.share(self, record_id, principal_id, principal_type, privileges)

    def unshare(self, record_id: uuid.UUID | str, principal_id: uuid.UUID | str) -> bool:
        """Stop sharing a record with a user or team; True when it was shared."""
        return _ownership.unshare(self, record_id, principal_id)

    def shares(self, record_id: uuid.UUID | str) -> list[dict[str, Any]]:
        """Who a record is shared with, and with which privileges."""
        return _ownership.shares(self, record_id)

    # -- permissions -----------------------------------------------------

    def require_create(self) -> None:
        """Refuse at once when the caller may create no record of this entity at all."""
        if self.caller.is_system:
            return
        principal = self.security.principal(self.caller)
        if principal.administrator:
            return
        if not principal.active or principal.grant(self.entity, "create").scope is Scope.NONE:
            raise AccessDenied(
                f"you do not have the create privilege on {self.entity!r}",
                details={"entity": self.entity, "privilege": "create"},
            )

    def require_read(self) -> None:
        """Refuse at once when neither the caller's roles nor a plugin's rule grant reading
        this entity: a list would hold at most the records shared with them.

        Raises :class:`AccessDenied` (``details`` name the entity and privilege).
        """
        if self.caller.is_system:
            return
        principal = self.security.principal(self.caller)
        if principal.administrator:
            return
        granted = principal.active and principal.grant(self.entity, "read").scope is not Scope.NONE
        ruled = any(
            r.mode == "grant" and "read" in r.privileges for r in self.security.rules(self.entity)
        )
        if not (granted or ruled):
            raise AccessDenied(
                f"you do not have the read privilege on {self.entity!r}",
                details={"entity": self.entity, "privilege": "read"},
            )

    def authorize(self, conn: Connection, ids: Sequence[uuid.UUID], privilege: str) -> None:
        """Refuse unless the caller may ``privilege`` every record of ``ids``.

        A record the caller cannot even read is reported as not found, so
        that ids say nothing about records one may not see.
        """
        allowed = self._access(privilege)
        if allowed.everything:
            return
        denied = _reading.absent(conn, self.table(), ids, allowed)
        if not denied:
            return
        readable = allowed if privilege == "read" else self._access("read")
        # Asked even when every record is readable: an id may be of no record at all.
        unseen = _reading.absent(conn, self.table(), denied, readable)
        first = denied[0]
        if first in unseen:
            raise RecordNotFound(f"no {self.entity} with id {first}", details={"id": str(first)})
        raise AccessDenied(
            f"you do not have the {privilege} privilege on {self.entity} {first}",
            [Problem("/id", f"no {privilege} privilege on this record")],
            {"entity": self.entity, "id": str(first), "privilege": privilege},
        )

    def _access(self, privilege: str) -> Access:
        return self.security.access(self.caller, self.definition, privilege)

    def _hidden(self) -> frozenset[str]:
        return self.security.unreadable_fields(self.caller, self.entity)

    def _hide(self, record: Record, hidden: frozenset[str] | None = None) -> Record:
        hidden = self._hidden() if hidden is None else hidden
        if not hidden:
            return record
        return {k: v for k, v in record.items() if k not in hidden}

    def _builder(self) -> QueryBuilder:
        builder = QueryBuilder(self.metadata.catalog, self.entity)
        if not self.caller.is_system:
            caller, security = self.caller, self.security
            builder.hidden = lambda entity, name: name in security.unreadable_fields(caller, entity)
            builder.join_access = lambda definition, alias: security.access(
                caller, definition, "read", alias
            )
        return builder

    def validate_new(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """A new record's values, validated; ``owner_id`` / ``owner_type`` kept aside."""
        data = self.changes.propose(self.entity, "create", data)
        validator = self.metadata.validator(self.entity)
        owner: dict[str, Any] = {}
        if isinstance(data, Mapping):
            # Copied only when an owner is given: bulk creates call this per row.
            if "owner_id" in data or "owner_type" in data:
                owner = {k: data[k] for k in ("owner_id", "owner_type") if k in data}
                data = {k: v for k, v in data.items() if k not in owner}
            if not self.caller.is_system:
                self.security.check_fields(self.caller, self.definition, data, "create")
        values = self._validate(lambda: validator.validate_create(data))
        if owner:
            values.update(_ownership.owner_of(self, owner))
        return values

    def _audit(
        self,
        conn: Connection,
        operation: str,
        changes: Sequence[tuple[uuid.UUID, Mapping[str, Any] | None, Mapping[str, Any] | None]],
    ) -> None:
        self.changes.write(conn, self.caller, self.definition, operation, changes)

    def _security_changed(self, conn: Connection) -> None:
        if self.entity in CORE_ENTITIES:
            self.security.changed(conn)

    def _delete_walk(self, conn: Connection, report: DeleteReport) -> DeleteWalk:
        return DeleteWalk(conn, self.metadata, report, changes=self.changes)

    def _row(self, conn: Connection, rid: uuid.UUID) -> Record | None:
        """The record as stored, whoever asks (for the audit's before image)."""
        table = self.table()
        row = conn.execute(sa.select(table).where(table.c.id == rid)).mappings().first()
        return None if row is None else self.to_record(row)

    # -- shared with the bulk writer -------------------------------------

    def table(self) -> sa.Table:
        """The entity's table in the current catalog."""
        return self.metadata.catalog.table(self.entity)

    def to_record(self, row: Mapping[Any, Any]) -> Record:
        """A record from a row of the entity's table."""
        return self.metadata.derived(self.entity, "shape", Shape.of).record(row)

    def row_as_record(self) -> Callable[[dict[str, Any]], Record]:
        """Turns rows made by :meth:`new_rows` into records, reusing them where it can.

        Without polymorphic lookups a new row already is the record (same keys,
        same order); bulk creates then build no second dict per record.
        """
        shape = self.metadata.derived(self.entity, "shape", Shape.of)
        hidden = self._hidden()
        if hidden:
            return lambda row: self._hide(shape.record(row), hidden)
        if shape.polymorphic:
            return shape.record
        return lambda row: row

    def new_rows(self, validated: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Table rows for validated new records: system columns filled in."""
        shape = self.metadata.derived(self.entity, "shape", Shape.of)
        stamp = now()
        system = dict.fromkeys(SYSTEM_COLUMNS) | {
            "created_at": stamp,
            "updated_at": stamp,
            "version": 1,
        }
        base = {**system, **shape.empty}
        polymorphic = [f for f in self.definition.fields if f.kind is Kind.POLYMORPHIC_LOOKUP]
        rows = []
        for values in validated:
            row = {**base, **values}
            for f in polymorphic:
                row.update(columns_of(f, row.pop(f.name, None)))
            if row["id"] is None:
                row["id"] = new_id()
            rows.append(row)
        return rows

    def insert(
        self, conn: Connection, rows: list[dict[str, Any]], *, operation: str = "create"
    ) -> None:
        """Insert table rows at once: owners filled in and checked, handlers run, audited.

        A refused row raises the core's error.
        """
        _ownership.fill_owners(self, conn, rows)
        self.security.check_create(conn, self.caller, self.definition, rows)
        if self.entity in CORE_ENTITIES:
            for row in rows:
                self.security.check_core_record(conn, self.entity, row)
        made: list[RecordChange] = []
        if self.changes.wants(self.definition, operation):
            as_record = self.row_as_record()
            made = [(r["id"], None, as_record(r)) for r in rows]
            self.changes.before(conn, self.definition, operation, made)
        try:
            with conn.begin_nested():
                conn.execute(self.table().insert(), rows)
        except sa.exc.IntegrityError as exc:
            raise translate_integrity_error(exc, self.definition) from None
        self._audit(conn, operation, made)
        self._security_changed(conn)

    def apply_update(
        self,
        conn: Connection,
        record_id: Any,
        validate: Callable[[Mapping[str, Any]], dict[str, Any]],
        changes: Mapping[str, Any],
        if_version: Any,
        *,
        savepoint: bool = False,
        version_at: str = "/if_version",
    ) -> Record:
        """Validate ``changes`` and apply them to one record (raises ``InvalidRecord``).

        ``savepoint`` protects a caller's unit of work on PostgreSQL, where a
        refused statement spoils the transaction up to the last savepoint.
        """
        rid = as_uuid(record_id)
        check_version(if_version, version_at)
        changes = self.changes.propose(self.entity, "update", changes, rid)
        if isinstance(changes, Mapping):
            self.security.check_fields(self.caller, self.definition, changes, "update")
        values = validate(changes)
        self._check_references(conn, values)
        self.authorize(conn, [rid], "update")
        reported = self.changes.wants(self.definition, "update")
        core = self.entity in CORE_ENTITIES
        before = self._row(conn, rid) if reported or core else None
        if core and before is not None:
            self.security.check_core_record(conn, self.entity, {**before, **values}, before)
        if reported and before is not None:
            proposed = {**before, **values}
            self.changes.before(conn, self.definition, "update", [(rid, before, proposed)])
        table = self.table()
        columns: dict[str, Any] = {}
        for f in self.definition.fields:
            if f.name in values:
                columns.update(columns_of(f, values[f.name]))
        statement = (
            table.update()
            .where(table.c.id == rid)
            .values(
                **columns,
                version=table.c.version + 1,
                updated_at=now(),
                updated_by=self.caller.user_id,
            )
            .returning(*table.c)
        )
        if if_version is not None:
            statement = statement.where(table.c.version == if_version)
        try:
            if savepoint:
                with conn.begin_nested():
                    row = conn.execute(statement).mappings().first()
            else:
                row = conn.execute(statement).mappings().first()
        except sa.exc.IntegrityError as exc:
            raise translate_integrity_error(exc, self.definition) from None
        if row is None:
            self._current_version(conn, rid, if_version)
            raise AssertionError("unreachable: the version check raises")  # pragma: no cover
        after = self.to_record(row)
        if reported and before is not None:
            self._audit(conn, "update", [(rid, before, after)])
        self._security_changed(conn)
        return self._hide(after)

    def invalid(self, exc: InvalidRecord) -> RecordValidationError:
        """The core error for a record that failed validation."""
        return RecordValidationError(f"the {self.entity} record is not valid", exc.problems)

    def broken_references(
        self, conn: Connection, rows: Sequence[Mapping[str, Any]]
    ) -> dict[int, list[Problem]]:
        """The lookups that point at no record, by row: one query per target entity."""
        references = [f for f in self.definition.fields if f.is_reference]
        if not references:
            return {}
        wanted: dict[str, dict[uuid.UUID, list[tuple[int, str]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for n, values in enumerate(rows):
            for f in references:
                value = values.get(f.name)
                if value is None:
                    continue
                if f.kind is Kind.LOOKUP and f.target:
                    wanted[f.target][value].append((n, pointer(f.name)))
                else:
                    wanted[value["entity"]][value["id"]].append((n, pointer(f.name, "id")))
        broken: dict[int, list[Problem]] = defaultdict(list)
        for entity, ids in wanted.items():
            if not self.metadata.exists(entity):
                # Only a lookup to any entity accepts a name the validator cannot list.
                for n, at in itertools.chain.from_iterable(ids.values()):
                    where = at.removesuffix("/id") + "/entity"
                    broken[n].append(Problem(where, f"no entity called {entity!r}"))
                continue
            for rid in self._missing(conn, entity, ids):
                for n, at in ids[rid]:
                    broken[n].append(Problem(at, f"no {entity} with id {rid}"))
        return broken

    # -- internals -------------------------------------------------------

    def _validate(self, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            return run()
        except InvalidRecord as exc:
            raise self.invalid(exc) from None

    def _current_version(self, conn: Connection, rid: uuid.UUID, expected: int | None) -> int:
        table = self.table()
        current = conn.execute(sa.select(table.c.version).where(table.c.id == rid)).scalar()
        if current is None:
            raise RecordNotFound(f"no {self.entity} with id {rid}", details={"id": str(rid)})
        if expected is not None and current != expected:
            raise VersionConflict(
                f"{self.entity} {rid} was changed by someone else (version {current}, "
                f"you had {expected}); reload it and try again",
                details={"id": str(rid), "current_version": current, "your_version": expected},
            )
        return int(current)

    def _check_references(self, conn: Connection, values: Mapping[str, Any]) -> None:
        """Every lookup of one record points at an existing record."""
        broken = self.broken_references(conn, [values])
        if broken:
            raise BrokenReference("a lookup points at a record that does not exist", broken[0])

    def _require(self, conn: Connection, entity: str, ids: list[uuid.UUID], at: str) -> None:
        missing = self._missing(conn, entity, ids)
        if missing:
            raise RecordNotFound(
                f"no {entity} with id {missing[0]}", [Problem(at, f"no {entity} with that id")]
            )

    def _missing(self, conn: Connection, entity: str, ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
        """The ids with no record the caller can read (a lookup may point only at those)."""
        table = self.metadata.catalog.table(entity)
        allowed = self.security.access(self.caller, self.metadata.get(entity), "read")
        # Queried even when the caller may read everything: the ids may not exist.
        return _reading.absent(conn, table, ids, allowed)
