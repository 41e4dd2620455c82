"""The record service: the single path for reading and writing records.

Every interface (Python, REST, GraphQL, CLI, admin UI, plugins) calls this
class, so validation, reference checks and concurrency control happen here
once. Later layers hook in at the marked seams: permissions in
:meth:`RecordService._scope` (a WHERE predicate joined into every read) and
before each write; events and audit around the writes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.audit.log import AuditWriter
from xrm_core.errors import (
    AccessDenied,
    BrokenReference,
    Problem,
    QueryError,
    RecordNotFound,
    RecordValidationError,
    VersionConflict,
    pointer,
)
from xrm_core.ids import new_id
from xrm_core.metadata.definition import (
    SYSTEM_COLUMNS,
    EntityDefinition,
    Kind,
    ManyToMany,
    Ownership,
)
from xrm_core.metadata.models import InvalidRecord, link_validator
from xrm_core.metadata.service import MetadataService
from xrm_core.records._bulk import Bulk, columns_of
from xrm_core.records._delete import DeleteWalk
from xrm_core.records._restore import RestoreReport, restore
from xrm_core.records._text import shown
from xrm_core.records.aggregates import aggregate_query
from xrm_core.records.query import SYSTEM_FIELDS, QueryBuilder, decode_cursor, encode_cursor
from xrm_core.records.results import BulkMode, BulkResult, DeleteReport, Page, Record
from xrm_core.security.caller import Caller
from xrm_core.security.predicates import Access
from xrm_core.security.principal import Scope
from xrm_core.security.service import CORE_ENTITIES, SecurityService
from xrm_core.security.tables import SHARE_PRIVILEGES, share_table
from xrm_core.storage.database import Database
from xrm_core.storage.errors import translate_integrity_error

MAX_LIMIT = 1000
MAX_VERSION = 2**31 - 1
_CHUNK = 500
_STATEMENT_CACHE = 256
_OWNER_TYPES = ("user", "team")


@dataclass(frozen=True)
class _Shape:
    """How rows of one definition version become records, and records rows."""

    system: tuple[str, ...]
    fields: tuple[str, ...]
    polymorphic: tuple[tuple[str, str, str], ...]  # (field, entity column, id column)
    empty: Mapping[str, None]  # every field column, empty: the base of a new row

    @classmethod
    def of(cls, definition: EntityDefinition) -> _Shape:
        poly: tuple[tuple[str, str, str], ...] = tuple(
            (f.name, f.columns[0], f.columns[1])
            for f in definition.fields
            if f.kind is Kind.POLYMORPHIC_LOOKUP
        )
        columns = [c for f in definition.fields for c in f.columns]
        return cls(tuple(SYSTEM_FIELDS), definition.field_names, poly, dict.fromkeys(columns))

    @property
    def keys(self) -> tuple[str, ...]:
        """Record keys in table column order (system columns, then fields)."""
        return (*self.system, *self.fields)

    def reader(self, columns: Sequence[str]) -> Callable[[Sequence[Any]], Record]:
        """Turns result rows with these ``columns`` into records."""
        keys = self.keys
        if not self.polymorphic and tuple(columns[: len(keys)]) == keys:
            # Columns and record keys are the same: one dict per row, nothing else.
            # (Extra sort-key columns may follow; zip stops before them.)
            return lambda row: dict(zip(keys, row))  # noqa: B905
        names = list(columns)
        return lambda row: self.record(dict(zip(names, row, strict=True)))

    def record(self, row: Mapping[Any, Any]) -> Record:
        """A record from a row of the entity's table (keyed by column)."""
        if not self.polymorphic:
            return {k: row[k] for k in (*self.system, *self.fields)}
        record = {k: row[k] for k in self.system}
        poly = {name: (e, i) for name, e, i in self.polymorphic}
        for name in self.fields:
            if name in poly:
                entity, rid = row[poly[name][0]], row[poly[name][1]]
                record[name] = None if rid is None else {"entity": entity, "id": rid}
            else:
                record[name] = row[name]
        return record


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
    ) -> None:
        self.db = db
        self.metadata = metadata
        self.entity = entity
        self.caller = caller
        self.security = security
        self.audit = audit
        metadata.get(entity)  # raises UnknownEntity now rather than at first use

    def _service(self, entity: str) -> RecordService:
        """The service of another entity, for the same caller."""
        return RecordService(
            self.db,
            self.metadata,
            entity,
            caller=self.caller,
            security=self.security,
            audit=self.audit,
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
        rid = _as_uuid(record_id)
        selected = self._selected(fields, expand)
        allowed = self._access("read")
        statement = self._get_statement(allowed)
        with self.db.transaction(write=False) as conn:
            row = conn.execute(statement, {"id": rid, **allowed.params}).mappings().first()
            if row is None:
                raise RecordNotFound(f"no {self.entity} with id {rid}", details={"id": str(rid)})
            record = self._hide(self.to_record(row))
            if expand:
                self._expand(conn, [record], list(enumerate(_listed(expand, "/expand"))))
        return _pick(record, selected)

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
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
            raise QueryError(
                "the query is not valid",
                [Problem("/limit", f"limit must be a whole number from 1 to {MAX_LIMIT}")],
            )
        order = list(_listed(order, "/order"))
        selected = self._selected(fields, expand)
        # Check the query and collect its values without building SQL; a
        # statement built for a query of the same shape is reused.
        checked = self._builder()
        checked.check(filter)
        keys = checked.order(order)
        after = decode_cursor(cursor, order, keys) if cursor is not None else None
        if after is not None:
            checked.check_after(keys, after)
        allowed = self._access("read")
        scopes = (allowed.key, *checked.scope_keys)
        key = (tuple(checked.shape), tuple(order), limit, scopes)
        cacheable = all(k is not None for k in (allowed.key, *(k for _, k in checked.scope_keys)))
        statement, sort_keys = self._page_statement(
            key if cacheable else None, filter, order, after, limit, allowed
        )
        shape = self.metadata.derived(self.entity, "shape", _Shape.of)
        hidden = self._hidden()
        params = {**checked.params, **checked.scope_params, **allowed.params}
        with self.db.transaction(write=False) as conn:
            result = conn.execute(statement, params)
            names = list(result.keys())
            rows = result.all()
            more = len(rows) > limit
            rows = rows[:limit]
            read = shape.reader(names)
            records = [read(row) for row in rows]
            if hidden:
                records = [self._hide(r, hidden) for r in records]
            if expand:
                self._expand(conn, records, list(enumerate(_listed(expand, "/expand"))))
            total = self.count(filter=filter) if count else None
        next_cursor = None
        if more:
            positions = [names.index(k) for k in sort_keys]
            next_cursor = encode_cursor(order, [rows[-1][p] for p in positions])
        if selected is not None:
            records = [_pick(r, selected) for r in records]
        omitted = hidden if selected is None else hidden & set(selected)
        return Page(records, next_cursor, total, tuple(sorted(omitted)))

    def count(self, *, filter: Any = None) -> int:
        """How many records match ``filter``."""
        builder = self._builder()
        where = builder.where(filter)
        with self.db.transaction(write=False) as conn:
            return self._count(conn, builder, where)

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
        if measures is not None and not isinstance(measures, Mapping):
            raise QueryError(
                "the aggregate is not valid",
                [Problem("/measures", "measures are an object: {name: 'sum:field', ...}")],
            )
        builder = self._builder()
        where = builder.where(filter)
        allowed = self._access("read")
        if allowed.where is not None:
            where = allowed.where if where is None else sa.and_(where, allowed.where)
        groups = list(_listed(group_by, "/group_by"))
        query, names = aggregate_query(builder, groups, dict(measures or {}), where)
        with self.db.transaction(write=False) as conn:
            try:
                rows = conn.execute(query, {**builder.scope_params, **allowed.params}).all()
            except sa.exc.OperationalError as exc:
                # SQLite adds integers in 64 bits and refuses a larger sum
                # (PostgreSQL sums them exactly); a read spoils no transaction there.
                if "integer overflow" not in str(exc.orig):
                    raise
                raise QueryError(
                    "the aggregate is not valid",
                    [Problem("/measures", "a sum is too large for SQLite's 64-bit integers")],
                ) from None
            return [dict(zip(names, row, strict=True)) for row in rows]

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
        rid = _as_uuid(record_id)
        _check_version(if_version)
        report = DeleteReport(dry_run=dry_run)
        with self.db.transaction() as conn:
            savepoint = conn.begin_nested()
            try:
                self._current_version(conn, rid, if_version)
                self.authorize(conn, [rid], "delete")
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
        return bulk.run(_rows(rows), mode, bulk.create)

    def update_many(
        self, rows: Iterable[Mapping[str, Any]], *, mode: BulkMode = "atomic"
    ) -> BulkResult:
        """Update many records; each row holds ``id``, optionally ``version``, and changes."""
        bulk = Bulk(self)
        return bulk.run(_rows(rows), mode, bulk.update)

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
        rows = _rows(rows)
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
        rel = self._relationship(relationship)
        values = self._validate(
            lambda: link_validator(rel.attributes).validate_create(attributes or {})
        )
        columns: dict[str, Any] = {}
        for f in rel.attributes:
            columns.update(columns_of(f, values.get(f.name)))
        source, target = _as_uuid(record_id), _as_uuid(target_id, "/target_id")
        link = self.metadata.catalog.link_tables[self.entity, relationship]
        match = (link.c.source_id == source, link.c.target_id == target)
        with self.db.transaction() as conn:
            self._require(conn, self.entity, [source], "/id")
            self._require(conn, rel.target, [target], "/target_id")
            self.authorize(conn, [source], "update")
            self._security_changed(conn)
            if columns:
                found = conn.execute(link.update().where(*match).values(**columns)).rowcount
            else:
                found = len(conn.execute(sa.select(link.c.source_id).where(*match)).all())
            if not found:
                conn.execute(
                    link.insert().values(
                        source_id=source, target_id=target, created_at=_now(), **columns
                    )
                )
            return dict(conn.execute(sa.select(link).where(*match)).mappings().one())

    def unlink(
        self, record_id: uuid.UUID | str, relationship: str, target_id: uuid.UUID | str
    ) -> bool:
        """Remove a link; True when there was one."""
        self._relationship(relationship)
        link = self.metadata.catalog.link_tables[self.entity, relationship]
        with self.db.transaction() as conn:
            self.authorize(conn, [_as_uuid(record_id)], "update")
            self._security_changed(conn)
            done = conn.execute(
                link.delete().where(
                    link.c.source_id == _as_uuid(record_id),
                    link.c.target_id == _as_uuid(target_id, "/target_id"),
                )
            )
            return bool(done.rowcount)

    def links(self, record_id: uuid.UUID | str, relationship: str) -> list[Record]:
        """The links of a record through ``relationship``, oldest first."""
        self._relationship(relationship)
        link = self.metadata.catalog.link_tables[self.entity, relationship]
        rid = _as_uuid(record_id)
        with self.db.transaction(write=False) as conn:
            self.authorize(conn, [rid], "read")
            rows = conn.execute(
                sa.select(link)
                .where(link.c.source_id == rid)
                .order_by(link.c.created_at, link.c.target_id)
            ).mappings()
            return [dict(r) for r in rows]

    # -- ownership and sharing -------------------------------------------

    def assign(
        self, record_id: uuid.UUID | str, owner_id: uuid.UUID | str, owner_type: str = "user"
    ) -> Record:
        """Give a record to another owner (a user or a team); it moves to their business unit."""
        rid = _as_uuid(record_id)
        owner = _as_uuid(owner_id, "/owner_id")
        self._require_owned()
        with self.db.transaction() as conn:
            self.authorize(conn, [rid], "assign")
            unit = self._owner_unit(conn, owner_type, owner)
            self.security.check_owner_change(self.caller, self.definition, owner, unit)
            before = self._row(conn, rid)
            if before is None:
                raise RecordNotFound(f"no {self.entity} with id {rid}", details={"id": str(rid)})
            table = self.table()
            row = (
                conn.execute(
                    table.update()
                    .where(table.c.id == rid)
                    .values(
                        owner_id=owner,
                        owner_type=owner_type,
                        business_unit_id=unit,
                        version=table.c.version + 1,
                        updated_at=_now(),
                        updated_by=self.caller.user_id,
                    )
                    .returning(*table.c)
                )
                .mappings()
                .one()
            )
            after = self.to_record(row)
            self._audit(conn, "assign", [(rid, before, after)])
        return self._hide(after)

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
        rid = _as_uuid(record_id)
        principal = _as_uuid(principal_id, "/principal_id")
        self._require_owned()
        wanted = _share_privileges(privileges)
        with self.db.transaction() as conn:
            self.authorize(conn, [rid], "share")
            for privilege in wanted:
                self.authorize(conn, [rid], privilege)
            self._owner_unit(conn, principal_type, principal, "/principal_id")
            match = (
                share_table.c.entity == self.entity,
                share_table.c.record_id == rid,
                share_table.c.principal_id == principal,
            )
            before = conn.execute(sa.select(share_table).where(*match)).mappings().first()
            conn.execute(share_table.delete().where(*match))
            values = {
                "entity": self.entity,
                "record_id": rid,
                "principal_id": principal,
                "principal_type": principal_type,
                **{f"can_{p}": p in wanted for p in SHARE_PRIVILEGES},
                "created_at": _now(),
                "created_by": self.caller.user_id,
            }
            conn.execute(share_table.insert().values(**values))
            after = _share_record(values)
            self._audit(conn, "share", [(rid, _share_record(before) if before else None, after)])
        return after

    def unshare(self, record_id: uuid.UUID | str, principal_id: uuid.UUID | str) -> bool:
        """Stop sharing a record with a user or team; True when it was shared."""
        rid = _as_uuid(record_id)
        principal = _as_uuid(principal_id, "/principal_id")
        with self.db.transaction() as conn:
            self.authorize(conn, [rid], "share")
            match = (
                share_table.c.entity == self.entity,
                share_table.c.record_id == rid,
                share_table.c.principal_id == principal,
            )
            before = conn.execute(sa.select(share_table).where(*match)).mappings().first()
            if before is None:
                return False
            conn.execute(share_table.delete().where(*match))
            self._audit(conn, "unshare", [(rid, _share_record(before), None)])
        return True

    def shares(self, record_id: uuid.UUID | str) -> list[dict[str, Any]]:
        """Who a record is shared with, and with which privileges."""
        rid = _as_uuid(record_id)
        with self.db.transaction(write=False) as conn:
            self.authorize(conn, [rid], "read")
            rows = conn.execute(
                sa.select(share_table)
                .where(share_table.c.entity == self.entity, share_table.c.record_id == rid)
                .order_by(share_table.c.created_at, share_table.c.principal_id)
            ).mappings()
            return [_share_record(r) for r in rows]

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

    def authorize(self, conn: Connection, ids: Sequence[uuid.UUID], privilege: str) -> None:
        """Refuse unless the caller may ``privilege`` every record of ``ids``.

        A record the caller cannot even read is reported as not found, so
        that ids say nothing about records one may not see.
        """
        allowed = self._access(privilege)
        if allowed.everything:
            return
        denied = self._outside(conn, ids, allowed)
        if not denied:
            return
        readable = allowed if privilege == "read" else self._access("read")
        unseen = self._outside(conn, denied, readable)
        first = denied[0]
        if first in unseen:
            raise RecordNotFound(f"no {self.entity} with id {first}", details={"id": str(first)})
        raise AccessDenied(
            f"you do not have the {privilege} privilege on {self.entity} {first}",
            [Problem("/id", f"no {privilege} privilege on this record")],
            {"entity": self.entity, "id": str(first), "privilege": privilege},
        )

    def _outside(
        self, conn: Connection, ids: Sequence[uuid.UUID], allowed: Access
    ) -> list[uuid.UUID]:
        if allowed.everything:
            return []
        table = self.table()
        inside: set[uuid.UUID] = set()
        for start in range(0, len(ids), _CHUNK):
            part = list(ids[start : start + _CHUNK])
            query = sa.select(table.c.id).where(table.c.id.in_(part))
            if allowed.where is not None:
                query = query.where(allowed.where)
            inside.update(conn.execute(query, allowed.params).scalars())
        return [i for i in ids if i not in inside]

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
            values.update(self._owner_of(owner))
        return values

    def _owner_of(self, given: Mapping[str, Any]) -> dict[str, Any]:
        if self.definition.ownership is Ownership.ORGANIZATION:
            raise RecordValidationError(
                f"{self.entity!r} records are organization-owned and have no owner",
                [Problem("/owner_id", "not allowed")],
            )
        owner_type = given.get("owner_type", "user")
        if owner_type not in _OWNER_TYPES:
            raise RecordValidationError(
                "an owner is a user or a team", [Problem("/owner_type", "must be user or team")]
            )
        try:
            owner = uuid.UUID(str(given.get("owner_id")))
        except ValueError:
            raise RecordValidationError(
                "an owner is given by its id", [Problem("/owner_id", "not a valid id")]
            ) from None
        return {"owner_id": owner, "owner_type": owner_type}

    def _owner_unit(
        self, conn: Connection, kind: str, owner: uuid.UUID, at: str = "/owner_id"
    ) -> uuid.UUID | None:
        if kind not in _OWNER_TYPES:
            raise RecordValidationError(
                "an owner is a user or a team", [Problem(at, "must be a user or a team")]
            )
        units = self.security.owner_units(conn, [(kind, owner)])
        if owner not in units:
            raise RecordNotFound(f"no {kind} with id {owner}", [Problem(at, f"no such {kind}")])
        return units[owner]

    def _fill_owners(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Fill who created the rows and who owns them; the owner's unit comes with it."""
        user = self.caller.user_id
        owners: set[tuple[str, uuid.UUID]] = set()
        owned = self.definition.ownership is Ownership.USER
        for row in rows:
            if row["created_by"] is None:
                row["created_by"] = user
            row["updated_by"] = user
            if not owned:
                continue
            if row["owner_id"] is None and user is not None:
                row["owner_id"], row["owner_type"] = user, "user"
            if row["owner_id"] is not None:
                owners.add((row["owner_type"] or "user", row["owner_id"]))
        if not owners:
            return
        units = self.security.owner_units(conn, owners)
        for row in rows:
            owner = row["owner_id"]
            if owner is None:
                continue
            if owner not in units:
                raise BrokenReference(
                    f"no {row['owner_type']} with id {owner} to own the record",
                    [Problem("/owner_id", "no such user or team")],
                )
            row["owner_type"] = row["owner_type"] or "user"
            row["business_unit_id"] = units[owner]

    def _require_owned(self) -> None:
        if self.definition.ownership is Ownership.ORGANIZATION:
            raise RecordValidationError(
                f"{self.entity!r} records are organization-owned: they have no owner "
                "and are not shared",
                [Problem("", "organization-owned entity")],
            )

    def _audit(
        self,
        conn: Connection,
        operation: str,
        changes: Sequence[tuple[uuid.UUID, Mapping[str, Any] | None, Mapping[str, Any] | None]],
    ) -> None:
        if self.audit is not None and changes:
            self.audit.write(conn, self.caller, self.definition, operation, changes)

    def _security_changed(self, conn: Connection) -> None:
        if self.entity in CORE_ENTITIES:
            self.security.changed(conn)

    def _delete_walk(self, conn: Connection, report: DeleteReport) -> DeleteWalk:
        return DeleteWalk(conn, self.metadata, report, audit=self.audit, caller=self.caller)

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
        return self.metadata.derived(self.entity, "shape", _Shape.of).record(row)

    def row_as_record(self) -> Callable[[dict[str, Any]], Record]:
        """Turns rows made by :meth:`new_rows` into records, reusing them where it can.

        Without polymorphic lookups a new row already is the record (same keys,
        same order); bulk creates then build no second dict per record.
        """
        shape = self.metadata.derived(self.entity, "shape", _Shape.of)
        hidden = self._hidden()
        if hidden:
            return lambda row: self._hide(shape.record(row), hidden)
        if shape.polymorphic:
            return shape.record
        return lambda row: row

    def new_rows(self, validated: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Table rows for validated new records: system columns filled in."""
        shape = self.metadata.derived(self.entity, "shape", _Shape.of)
        now = _now()
        system = dict.fromkeys(SYSTEM_COLUMNS) | {
            "created_at": now,
            "updated_at": now,
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
        """Insert table rows at once, owners filled in and checked, then audited.

        A refused row raises the core's error.
        """
        self._fill_owners(conn, rows)
        self.security.check_create(conn, self.caller, self.definition, rows)
        if self.entity in CORE_ENTITIES:
            for row in rows:
                self.security.check_core_record(conn, self.entity, row)
        try:
            with conn.begin_nested():
                conn.execute(self.table().insert(), rows)
        except sa.exc.IntegrityError as exc:
            raise translate_integrity_error(exc, self.definition) from None
        if self.audit is not None and self.definition.audited:
            as_record = self.row_as_record()
            self._audit(conn, operation, [(r["id"], None, as_record(r)) for r in rows])
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
        rid = _as_uuid(record_id)
        _check_version(if_version, version_at)
        if isinstance(changes, Mapping):
            self.security.check_fields(self.caller, self.definition, changes, "update")
        values = validate(changes)
        self._check_references(conn, values)
        self.authorize(conn, [rid], "update")
        audited = self.audit is not None and self.definition.audited
        core = self.entity in CORE_ENTITIES
        before = self._row(conn, rid) if audited or core else None
        if core and before is not None:
            self.security.check_core_record(conn, self.entity, {**before, **values})
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
                updated_at=_now(),
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
        if before is not None:
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
            for rid in self._missing(conn, entity, ids):
                for n, at in ids[rid]:
                    broken[n].append(Problem(at, f"no {entity} with id {rid}"))
        return broken

    # -- internals -------------------------------------------------------

    def _page_statement(
        self,
        key: tuple[Any, ...] | None,
        filter: Any,
        order: list[str],
        after: Any,
        limit: int,
        allowed: Access,
    ) -> tuple[sa.Select[Any], list[str]]:
        """The SELECT of a page and the result columns holding its sort values.

        Cached per definition version by the query's shape and the shape of the
        caller's permission predicate (whose values are bound at execution);
        a predicate with values of its own (a plugin rule) is never cached.
        """
        cache: dict[tuple[Any, ...], tuple[sa.Select[Any], list[str]]]
        cache = self.metadata.derived(self.entity, "pages", lambda _: {})
        found = cache.get(key) if key is not None else None
        if found is not None:
            return found
        builder = self._builder()
        where = builder.where(filter)
        keys = builder.order(order)
        table = self.table()
        query = sa.select(table).select_from(builder.from_clause())
        conditions = [c for c in (where, allowed.where) if c is not None]
        if after is not None:
            conditions.append(builder.after(keys, after))
        # Sort values of the table's own columns are read from the row; only
        # values reached through a join need columns of their own.
        sort_keys = []
        for i, (resolved, _) in enumerate(keys):
            column = resolved.column
            if isinstance(column, sa.Column) and column.table is table:
                sort_keys.append(column.key)
            else:
                sort_keys.append(f"_k{i}")
                query = query.add_columns(column.label(f"_k{i}"))
        query = query.where(*conditions).order_by(*builder.order_by(keys)).limit(limit + 1)
        if key is None:
            return query, sort_keys
        if len(cache) >= _STATEMENT_CACHE:
            cache.clear()
        cache[key] = (query, sort_keys)
        return query, sort_keys

    def _get_statement(self, allowed: Access) -> sa.Select[Any]:
        def build() -> sa.Select[Any]:
            table = self.table()
            query = sa.select(table).where(table.c.id == sa.bindparam("id"))
            return query if allowed.where is None else query.where(allowed.where)

        if allowed.key is None:
            return build()
        cache: dict[tuple[Any, ...], sa.Select[Any]]
        cache = self.metadata.derived(self.entity, "gets", lambda _: {})
        found = cache.get(allowed.key)
        if found is None:
            found = cache[allowed.key] = build()
        return found

    def _count(
        self, conn: Connection, builder: QueryBuilder, where: sa.ColumnElement[bool] | None
    ) -> int:
        allowed = self._access("read")
        query = sa.select(sa.func.count()).select_from(builder.from_clause())
        conditions = [c for c in (where, allowed.where) if c is not None]
        params = {**builder.scope_params, **allowed.params}
        return int(conn.execute(query.where(*conditions), params).scalar_one())

    def _selected(
        self, fields: Sequence[str] | None, expand: Sequence[str] | None
    ) -> list[str] | None:
        """The keys a caller asked for: ``id``, the fields, and what it expands."""
        if fields is None:
            return None
        names = _listed(fields, "/fields")
        hidden = self._hidden()
        for i, name in enumerate(names):
            if not isinstance(name, str) or (
                name not in SYSTEM_FIELDS and not self.definition.has_field(name)
            ):
                raise QueryError(
                    "the query is not valid",
                    [Problem(f"/fields/{i}", f"unknown field {shown(name)} of {self.entity!r}")],
                )
            if name in hidden:
                raise AccessDenied(
                    f"you may not read the secured field {name!r} of {self.entity!r}",
                    [Problem(f"/fields/{i}", "secured: no permission to read")],
                )
        heads = [p.partition(".")[0] for p in _listed(expand, "/expand") if isinstance(p, str)]
        return list(dict.fromkeys(["id", *names, *heads]))

    def _expand(
        self, conn: Connection, records: list[Record], paths: list[tuple[int, str]]
    ) -> None:
        """Replace lookup ids by the records they point at; ``paths`` keep their index."""
        nested: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for i, path in paths:
            head, _, rest = path.partition(".") if isinstance(path, str) else ("", "", "")
            definition = self.definition
            if not definition.has_field(head) or not definition.field(head).is_reference:
                raise QueryError(
                    "the query is not valid",
                    [Problem(f"/expand/{i}", f"{shown(path)} is not a lookup of {self.entity!r}")],
                )
            nested[head].extend([(i, rest)] if rest else [])
        for name, deeper in nested.items():
            self._expand_field(conn, records, name, deeper)

    def _expand_field(
        self, conn: Connection, records: list[Record], name: str, deeper: list[tuple[int, str]]
    ) -> None:
        f = self.definition.field(name)
        wanted: dict[str, set[uuid.UUID]] = defaultdict(set)
        for record in records:
            value = record.get(name)
            if isinstance(value, uuid.UUID) and f.target:
                wanted[f.target].add(value)
            elif isinstance(value, Mapping):
                wanted[value["entity"]].add(value["id"])
        found: dict[uuid.UUID, Record] = {}
        for entity, ids in wanted.items():
            service = self._service(entity)
            related = service._fetch(conn, ids)
            if deeper:
                service._expand(conn, related, deeper)
            found.update((r["id"], r) for r in related)
        for record in records:
            value = record.get(name)
            key = value["id"] if isinstance(value, Mapping) else value
            if key is not None:
                record[name] = found.get(key)

    def _fetch(self, conn: Connection, ids: Iterable[uuid.UUID]) -> list[Record]:
        table = self.table()
        id_list = list(ids)
        records: list[Record] = []
        allowed = self._access("read")
        hidden = self._hidden()
        for start in range(0, len(id_list), _CHUNK):
            query = sa.select(table).where(table.c.id.in_(id_list[start : start + _CHUNK]))
            if allowed.where is not None:
                query = query.where(allowed.where)
            rows = conn.execute(query, allowed.params).mappings()
            records.extend(self._hide(self.to_record(r), hidden) for r in rows)
        return records

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
        id_list = list(ids)
        found: set[uuid.UUID] = set()
        for start in range(0, len(id_list), _CHUNK):
            part = id_list[start : start + _CHUNK]
            query = sa.select(table.c.id).where(table.c.id.in_(part))
            if allowed.where is not None:
                query = query.where(allowed.where)
            found.update(conn.execute(query, allowed.params).scalars())
        return [i for i in id_list if i not in found]

    def _relationship(self, name: str) -> ManyToMany:
        try:
            return self.definition.relationship(name)
        except KeyError:
            raise QueryError(
                f"{self.entity!r} has no many-to-many relationship {shown(name)}",
                [Problem("/relationship", f"unknown relationship {shown(name)}")],
            ) from None


def _listed(value: Any, at: str) -> list[Any]:
    """A list argument (order, fields, expand, group_by); a bare string is a mistake."""
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise QueryError("the query is not valid", [Problem(at, "must be a list")])
    return list(value)


def _rows(rows: Any) -> list[Any]:
    """The rows of a bulk call: any iterable but text or a single object."""
    if isinstance(rows, str | bytes | Mapping) or not isinstance(rows, Iterable):
        raise RecordValidationError(
            "bulk rows are a list of records", [Problem("", "must be a list of objects")]
        )
    return list(rows)


def _share_privileges(privileges: Any) -> list[str]:
    if isinstance(privileges, str) or not isinstance(privileges, Sequence) or not privileges:
        raise RecordValidationError(
            "share privileges are a non-empty list",
            [Problem("/privileges", f"choose among {', '.join(SHARE_PRIVILEGES)}")],
        )
    unknown = [p for p in privileges if p not in SHARE_PRIVILEGES]
    if unknown:
        raise RecordValidationError(
            f"a share grants only {', '.join(SHARE_PRIVILEGES)}",
            [Problem("/privileges", f"unknown privilege {shown(p)}") for p in unknown],
        )
    return list(dict.fromkeys(privileges))


def _share_record(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "principal_type": row["principal_type"],
        "principal_id": row["principal_id"],
        "privileges": [p for p in SHARE_PRIVILEGES if row[f"can_{p}"]],
    }


def _pick(record: Record, selected: list[str] | None) -> Record:
    return record if selected is None else {k: record[k] for k in selected}


def _as_uuid(value: uuid.UUID | str, at: str = "/id") -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        # No record can have such an id: "not found" is what the caller needs to hear.
        raise RecordNotFound(
            f"{shown(value)} is not a record id", [Problem(at, "not a valid id")]
        ) from None


def _check_version(value: object, at: str = "/if_version") -> None:
    # bool is an int to Python, but never a version.
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise RecordValidationError(
            f"a version is a whole number, not {shown(value)}", [Problem(at, "must be an integer")]
        )
    # Versions start at 1 and the column is a 32-bit INTEGER: a larger number
    # would fail inside the driver rather than simply match no record.
    if value is not None and not 1 <= value <= MAX_VERSION:
        raise RecordValidationError(
            f"a version is a whole number from 1 to {MAX_VERSION}, not {shown(value)}",
            [Problem(at, f"must be from 1 to {MAX_VERSION}")],
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
