"""The record service: the single path for reading and writing records.

Every interface (Python, REST, GraphQL, CLI, admin UI, plugins) calls this
class, so validation, reference checks and concurrency control happen here
once. Later layers hook in at the marked seams: permissions in
:meth:`RecordService._scope` (a WHERE predicate) and :meth:`_check_write`,
events and audit around :meth:`_write`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.errors import (
    BrokenReference,
    BulkError,
    DeleteRestricted,
    Problem,
    QueryError,
    RecordNotFound,
    RecordValidationError,
    VersionConflict,
    XRMError,
    pointer,
)
from xrm_core.ids import new_id
from xrm_core.metadata.definition import EntityDefinition, FieldDefinition, Kind, OnDelete
from xrm_core.metadata.models import InvalidRecord, link_validator
from xrm_core.metadata.service import MetadataService
from xrm_core.records.aggregates import aggregate_query
from xrm_core.records.query import (
    SYSTEM_FIELDS,
    QueryBuilder,
    decode_cursor,
    encode_cursor,
)
from xrm_core.storage.database import Database
from xrm_core.storage.errors import translate_integrity_error

Record = dict[str, Any]
BulkMode = Literal["atomic", "per_row"]
MAX_LIMIT = 1000
_CHUNK = 500


@dataclass(frozen=True)
class Page:
    """One page of a query: records, the cursor of the next page, and the total if asked."""

    records: list[Record]
    next_cursor: str | None = None
    total: int | None = None

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


@dataclass(frozen=True)
class RowResult:
    """The outcome of one row of a bulk operation."""

    index: int
    ok: bool
    record: Record | None = None
    error: XRMError | None = None
    created: bool = False


@dataclass(frozen=True)
class BulkResult:
    """Per-row outcomes of a bulk operation, in input order."""

    rows: list[RowResult]

    @property
    def succeeded(self) -> list[RowResult]:
        """Rows written."""
        return [r for r in self.rows if r.ok]

    @property
    def failed(self) -> list[RowResult]:
        """Rows refused, each with its error."""
        return [r for r in self.rows if not r.ok]


@dataclass
class DeleteReport:
    """What a delete removed (or, in a dry run, would remove)."""

    deleted: dict[str, int] = field(default_factory=dict)
    cleared: dict[str, int] = field(default_factory=dict)
    unlinked: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False


_Row = tuple[int, Mapping[str, Any]]
_Chunk = Callable[[Connection, list[_Row]], list[RowResult]]


class _RowFailed(Exception):
    """Internal: one row of a bulk operation failed with ``error``."""

    def __init__(self, index: int, error: XRMError) -> None:
        super().__init__(error.message)
        self.index = index
        self.error = error


class RecordService:
    """Records of one entity."""

    def __init__(self, db: Database, metadata: MetadataService, entity: str) -> None:
        self.db = db
        self.metadata = metadata
        self.entity = entity
        metadata.get(entity)  # raises UnknownEntity now rather than at first use

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
        selected = self._selected(fields)
        with self.db.transaction(write=False) as conn:
            row = conn.execute(self._get_statement(), {"id": rid}).mappings().first()
            if row is None:
                raise RecordNotFound(f"no {self.entity} with id {rid}", details={"id": str(rid)})
            record = self._to_record(row, selected)
            if expand:
                self._expand(conn, [record], expand)
        return record

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
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise QueryError(
                "the query is not valid",
                [Problem("/limit", f"limit must be between 1 and {MAX_LIMIT}")],
            )
        order = list(order or [])
        builder = QueryBuilder(self.metadata.catalog, self.entity)
        where = builder.where(filter)
        keys = builder.order(order)
        selected = self._selected(fields)
        query = sa.select(self._table()).select_from(builder.from_clause())
        conditions = [c for c in (where, self._scope()) if c is not None]
        if cursor is not None:
            conditions.append(builder.after(keys, decode_cursor(cursor, order, keys)))
        query = query.where(*conditions).order_by(*builder.order_by(keys))
        sort_columns = [r.column.label(f"_k{i}") for i, (r, _) in enumerate(keys)]
        query = query.add_columns(*sort_columns).limit(limit + 1)
        with self.db.transaction(write=False) as conn:
            rows = conn.execute(query).mappings().all()
            more = len(rows) > limit
            rows = rows[:limit]
            records = [self._to_record(r, selected) for r in rows]
            if expand:
                self._expand(conn, records, expand)
            total = self._count(conn, builder, where) if count else None
        next_cursor = None
        if more:
            last = rows[-1]
            next_cursor = encode_cursor(order, [last[f"_k{i}"] for i in range(len(keys))])
        return Page(records, next_cursor, total)

    def count(self, *, filter: Any = None) -> int:
        """How many records match ``filter``."""
        builder = QueryBuilder(self.metadata.catalog, self.entity)
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
        builder = QueryBuilder(self.metadata.catalog, self.entity)
        where = builder.where(filter)
        scope = self._scope()
        if scope is not None:
            where = scope if where is None else sa.and_(where, scope)
        query, names = aggregate_query(builder, list(group_by), dict(measures or {}), where)
        with self.db.transaction(write=False) as conn:
            return [dict(zip(names, row, strict=True)) for row in conn.execute(query)]

    # -- writing ---------------------------------------------------------

    def create(self, data: Mapping[str, Any]) -> Record:
        """Validate and store a new record; return it as stored."""
        values = self._validate(lambda: self.metadata.validator(self.entity).validate_create(data))
        with self.db.transaction() as conn:
            self._check_references(conn, values)
            row = self._new_row(values, _now())
            self._insert(conn, [row])
        return self._to_record(row, None)

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
        rid = _as_uuid(record_id)
        _check_version(if_version)
        values = self._validate(
            lambda: self.metadata.validator(self.entity).validate_patch(changes)
        )
        with self.db.transaction() as conn:
            self._check_references(conn, values)
            return self._update(conn, rid, values, if_version)

    def delete(
        self, record_id: uuid.UUID | str, *, if_version: int | None = None, dry_run: bool = False
    ) -> DeleteReport:
        """Delete a record, applying each relationship's delete behaviour.

        With ``dry_run`` nothing changes and the report counts what would.
        Raises :class:`DeleteRestricted` when a restrict relationship has records.
        """
        rid = _as_uuid(record_id)
        _check_version(if_version)
        report = DeleteReport(dry_run=dry_run)
        with self.db.transaction() as conn:
            savepoint = conn.begin_nested()
            try:
                self._current_version(conn, rid, if_version)
                self._delete_tree(conn, self.definition, [rid], report, set())
            except BaseException:
                savepoint.rollback()
                raise
            if dry_run:
                savepoint.rollback()
            else:
                savepoint.commit()
        return report

    # -- bulk ------------------------------------------------------------

    def create_many(
        self, rows: Iterable[Mapping[str, Any]], *, mode: BulkMode = "atomic"
    ) -> BulkResult:
        """Create many records. ``atomic``: all or nothing (raises :class:`BulkError`);
        ``per_row``: write what is valid and report each row's outcome."""
        return self._bulk(list(rows), mode, self._create_chunk)

    def update_many(
        self, rows: Iterable[Mapping[str, Any]], *, mode: BulkMode = "atomic"
    ) -> BulkResult:
        """Update many records; each row holds ``id``, optionally ``version``, and changes."""
        return self._bulk(list(rows), mode, self._update_chunk)

    def upsert_many(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        key: str | Sequence[str],
        mode: BulkMode = "atomic",
    ) -> BulkResult:
        """Create or update by an alternate key (its name, or its fields).

        A row whose key matches a record updates it with the fields given;
        any other row creates a record.
        """
        fields = self._alternate_key(key)

        def chunk(conn: Connection, part: list[tuple[int, Mapping[str, Any]]]) -> list[RowResult]:
            return self._upsert_chunk(conn, part, fields)

        return self._bulk(list(rows), mode, chunk)

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
            columns.update(_columns(f, values.get(f.name)))
        source, target = _as_uuid(record_id), _as_uuid(target_id, "/target_id")
        link = self.metadata.catalog.link_tables[self.entity, relationship]
        match = (link.c.source_id == source, link.c.target_id == target)
        with self.db.transaction() as conn:
            self._require(conn, self.entity, [source], "/id")
            self._require(conn, rel.target, [target], "/target_id")
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
        with self.db.transaction(write=False) as conn:
            rows = conn.execute(
                sa.select(link)
                .where(link.c.source_id == _as_uuid(record_id))
                .order_by(link.c.created_at, link.c.target_id)
            ).mappings()
            return [dict(r) for r in rows]

    # -- seams for security ----------------------------------------------

    def _scope(self) -> sa.ColumnElement[bool] | None:
        """The read predicate of the current caller (permissions plug in here)."""
        return None

    # -- internals: reading ----------------------------------------------

    def _table(self) -> sa.Table:
        return self.metadata.catalog.table(self.entity)

    def _get_statement(self) -> sa.Select[Any]:
        table = self._table()
        return sa.select(table).where(table.c.id == sa.bindparam("id"))

    def _count(
        self, conn: Connection, builder: QueryBuilder, where: sa.ColumnElement[bool] | None
    ) -> int:
        query = sa.select(sa.func.count()).select_from(builder.from_clause())
        conditions = [c for c in (where, self._scope()) if c is not None]
        return int(conn.execute(query.where(*conditions)).scalar_one())

    def _selected(self, fields: Sequence[str] | None) -> list[str] | None:
        if fields is None:
            return None
        for i, name in enumerate(fields):
            if name not in SYSTEM_FIELDS and not self.definition.has_field(name):
                raise QueryError(
                    "the query is not valid",
                    [Problem(f"/fields/{i}", f"unknown field {name!r} of {self.entity!r}")],
                )
        return ["id", *(f for f in fields if f != "id")]

    def _to_record(self, row: Mapping[Any, Any], selected: list[str] | None) -> Record:
        record: Record = {}
        for name in SYSTEM_FIELDS:
            record[name] = row[name]
        for f in self.definition.fields:
            if f.kind is Kind.POLYMORPHIC_LOOKUP:
                entity, rid = row[f.columns[0]], row[f.columns[1]]
                record[f.name] = None if rid is None else {"entity": entity, "id": rid}
            else:
                record[f.name] = row[f.name]
        if selected is not None:
            return {k: record[k] for k in selected}
        return record

    def _expand(self, conn: Connection, records: list[Record], paths: Sequence[str]) -> None:
        nested: dict[str, list[str]] = defaultdict(list)
        for i, path in enumerate(paths):
            head, _, rest = path.partition(".")
            if not self.definition.has_field(head) or not self.definition.field(head).is_reference:
                raise QueryError(
                    "the query is not valid",
                    [Problem(f"/expand/{i}", f"{head!r} is not a lookup of {self.entity!r}")],
                )
            nested[head].extend([rest] if rest else [])
        for name, deeper in nested.items():
            self._expand_field(conn, records, self.definition.field(name), deeper)

    def _expand_field(
        self, conn: Connection, records: list[Record], f: FieldDefinition, deeper: list[str]
    ) -> None:
        wanted: dict[str, set[uuid.UUID]] = defaultdict(set)
        for record in records:
            value = record.get(f.name)
            if isinstance(value, uuid.UUID) and f.target:
                wanted[f.target].add(value)
            elif isinstance(value, Mapping):
                wanted[value["entity"]].add(value["id"])
        found: dict[uuid.UUID, Record] = {}
        for entity, ids in wanted.items():
            service = RecordService(self.db, self.metadata, entity)
            related = service._fetch(conn, ids)
            if deeper:
                service._expand(conn, related, deeper)
            found.update((r["id"], r) for r in related)
        for record in records:
            value = record.get(f.name)
            key = value["id"] if isinstance(value, Mapping) else value
            if key is not None:
                record[f.name] = found.get(key)

    def _fetch(self, conn: Connection, ids: Iterable[uuid.UUID]) -> list[Record]:
        table = self._table()
        id_list = list(ids)
        rows: list[sa.RowMapping] = []
        for start in range(0, len(id_list), _CHUNK):
            part = id_list[start : start + _CHUNK]
            query = sa.select(table).where(table.c.id.in_(part))
            scope = self._scope()
            if scope is not None:
                query = query.where(scope)
            rows.extend(conn.execute(query).mappings().all())
        return [self._to_record(r, None) for r in rows]

    # -- internals: writing ----------------------------------------------

    def _validate(self, run: Any) -> dict[str, Any]:
        try:
            return run()  # type: ignore[no-any-return]
        except InvalidRecord as exc:
            raise RecordValidationError(
                f"the {self.entity} record is not valid", exc.problems
            ) from None

    def _new_row(self, values: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
        row = {
            "id": values.get("id") or new_id(),
            "created_at": now,
            "created_by": None,
            "updated_at": now,
            "updated_by": None,
            "owner_id": None,
            "owner_type": None,
            "business_unit_id": None,
            "version": 1,
        }
        for f in self.definition.fields:
            row.update(_columns(f, values.get(f.name)))
        return row

    def _insert(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        try:
            with conn.begin_nested():
                conn.execute(self._table().insert(), rows)
        except sa.exc.IntegrityError as exc:
            raise translate_integrity_error(exc, self.definition) from None

    def _update(
        self,
        conn: Connection,
        rid: uuid.UUID,
        values: Mapping[str, Any],
        if_version: int | None,
        *,
        savepoint: bool = True,
    ) -> Record:
        """Apply validated ``values``; ``savepoint=False`` when the caller already holds one."""
        table = self._table()
        changes: dict[str, Any] = {}
        for f in self.definition.fields:
            if f.name in values:
                changes.update(_columns(f, values[f.name]))
        statement = (
            table.update()
            .where(table.c.id == rid)
            .values(**changes, version=table.c.version + 1, updated_at=_now())
            .returning(*table.c)
        )
        if if_version is not None:
            statement = statement.where(table.c.version == if_version)
        try:
            # On PostgreSQL a refused statement spoils the transaction up to the
            # last savepoint: this one keeps the caller's unit of work usable.
            with conn.begin_nested() if savepoint else nullcontext():
                row = conn.execute(statement).mappings().first()
        except sa.exc.IntegrityError as exc:
            raise translate_integrity_error(exc, self.definition) from None
        if row is None:
            self._current_version(conn, rid, if_version)
            raise AssertionError("unreachable: the version check raises")  # pragma: no cover
        return self._to_record(row, None)

    def _current_version(self, conn: Connection, rid: uuid.UUID, expected: int | None) -> int:
        table = self._table()
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
        broken = self._broken_references(conn, [values])
        if broken:
            raise BrokenReference("a lookup points at a record that does not exist", broken[0])

    def _broken_references(
        self, conn: Connection, rows: Sequence[Mapping[str, Any]]
    ) -> dict[int, list[Problem]]:
        """The lookups that point at no record, by row: one query per target entity."""
        references = [f for f in self.definition.fields if f.is_reference]
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

    def _require(self, conn: Connection, entity: str, ids: list[uuid.UUID], at: str) -> None:
        missing = self._missing(conn, entity, ids)
        if missing:
            raise RecordNotFound(
                f"no {entity} with id {missing[0]}", [Problem(at, f"no {entity} with that id")]
            )

    def _missing(self, conn: Connection, entity: str, ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
        table = self.metadata.catalog.table(entity)
        id_list = list(ids)
        found: set[uuid.UUID] = set()
        for start in range(0, len(id_list), _CHUNK):
            part = id_list[start : start + _CHUNK]
            found.update(conn.execute(sa.select(table.c.id).where(table.c.id.in_(part))).scalars())
        return [i for i in id_list if i not in found]

    def _delete_tree(
        self,
        conn: Connection,
        definition: EntityDefinition,
        ids: list[uuid.UUID],
        report: DeleteReport,
        seen: set[tuple[str, uuid.UUID]],
    ) -> None:
        """Delete ``ids`` after applying the delete behaviour of everything referring to them.

        ``seen`` holds every record this delete has reached; those still in the
        database are on their way out further up the walk (a cycle, a record
        that is its own parent).
        """
        ids = [i for i in ids if (definition.name, i) not in seen]
        seen.update((definition.name, i) for i in ids)
        # Chunks keep every IN list well under the databases' bound-parameter limits.
        for start in range(0, len(ids), _CHUNK):
            self._delete_part(conn, definition, ids[start : start + _CHUNK], report, seen)

    def _delete_part(
        self,
        conn: Connection,
        definition: EntityDefinition,
        ids: list[uuid.UUID],
        report: DeleteReport,
        seen: set[tuple[str, uuid.UUID]],
    ) -> None:
        catalog = self.metadata.catalog
        for other in self.metadata.entities():
            for f in other.fields:
                if f.refers_to(definition.name):
                    self._apply_on_delete(conn, other, f, definition.name, ids, report, seen)
            for rel in other.relationships:
                link = catalog.link_tables[other.name, rel.name]
                ends = [link.c.source_id] if other.name == definition.name else []
                ends += [link.c.target_id] if rel.target == definition.name else []
                for end in ends:
                    done = conn.execute(link.delete().where(end.in_(ids)))
                    if done.rowcount:
                        key = link.name
                        report.unlinked[key] = report.unlinked.get(key, 0) + done.rowcount
        table = catalog.table(definition.name)
        done = conn.execute(table.delete().where(table.c.id.in_(ids)))
        report.deleted[definition.name] = report.deleted.get(definition.name, 0) + done.rowcount

    def _apply_on_delete(
        self,
        conn: Connection,
        other: EntityDefinition,
        f: FieldDefinition,
        entity: str,
        ids: list[uuid.UUID],
        report: DeleteReport,
        seen: set[tuple[str, uuid.UUID]],
    ) -> None:
        table = self.metadata.catalog.table(other.name)
        if f.kind is Kind.POLYMORPHIC_LOOKUP:
            entity_col, id_col = (table.c[c] for c in f.columns)
            match = sa.and_(entity_col == entity, id_col.in_(ids))
        else:
            match = table.c[f.name].in_(ids)
        cleared = {c: None for c in f.columns}
        referring = list(conn.execute(sa.select(table.c.id).where(match)).scalars())
        leaving = [r for r in referring if (other.name, r) in seen]
        if leaving:
            # Records this delete removes anyway neither block it nor count as
            # cleared; their reference goes first so the foreign key lets the
            # record they point at go before them.
            conn.execute(table.update().where(match, table.c.id.in_(leaving)).values(**cleared))
            referring = [r for r in referring if (other.name, r) not in seen]
        if not referring:
            return
        if f.on_delete is OnDelete.RESTRICT:
            raise DeleteRestricted(
                f"cannot delete: {len(referring)} {other.name} record(s) refer to it "
                f"through {other.name}.{f.name}",
                [Problem(pointer(other.name, f.name), f"{len(referring)} record(s) refer to it")],
                {"entity": other.name, "field": f.name, "count": len(referring)},
            )
        if f.on_delete is OnDelete.CASCADE:
            self._delete_tree(conn, other, referring, report, seen)
            return
        conn.execute(
            table.update()
            .where(match)
            .values(**cleared, version=table.c.version + 1, updated_at=_now())
        )
        key = f"{other.name}.{f.name}"
        report.cleared[key] = report.cleared.get(key, 0) + len(referring)

    # -- internals: bulk -------------------------------------------------

    def _bulk(self, rows: list[Mapping[str, Any]], mode: BulkMode, chunk: _Chunk) -> BulkResult:
        if mode not in ("atomic", "per_row"):
            raise ValueError(f"unknown bulk mode {mode!r}: use 'atomic' or 'per_row'")
        results: list[RowResult] = []
        # The savepoint takes back the rows written so far when an atomic bulk
        # fails inside a caller's unit of work that goes on.
        with self.db.transaction() as conn, conn.begin_nested():
            for start in range(0, len(rows), _CHUNK):
                part = list(enumerate(rows[start : start + _CHUNK], start))
                results.extend(self._run_chunk(conn, part, chunk))
            failed = [r for r in results if not r.ok]
            if failed and mode == "atomic":
                raise BulkError(
                    f"{len(failed)} of {len(rows)} rows failed; nothing was written",
                    [
                        Problem(pointer(r.index) + p.pointer, p.message)
                        for r in failed
                        if r.error is not None
                        for p in (r.error.problems or (Problem("", r.error.message),))
                    ],
                    {"failed_rows": [r.index for r in failed]},
                )
        return BulkResult(results)

    def _run_chunk(self, conn: Connection, part: list[_Row], chunk: _Chunk) -> list[RowResult]:
        """Run the chunk at once; if the database refuses it, row by row to find out which.

        A chunk reports the rows it can judge itself (validation, references)
        as failed results; an error raised means a row the database refused.
        """
        try:
            with conn.begin_nested():
                return chunk(conn, part)
        except _RowFailed as failed:
            if len(part) == 1:
                return [RowResult(failed.index, False, error=failed.error)]
        except XRMError as exc:
            if len(part) == 1:
                return [RowResult(part[0][0], False, error=exc)]
        results = []
        for item in part:
            results.extend(self._run_chunk(conn, [item], chunk))
        return results

    def _invalid(self, exc: InvalidRecord) -> RecordValidationError:
        return RecordValidationError(f"the {self.entity} record is not valid", exc.problems)

    def _create_chunk(self, conn: Connection, part: Sequence[_Row]) -> list[RowResult]:
        validator = self.metadata.validator(self.entity)
        failed: list[RowResult] = []
        valid: list[tuple[int, dict[str, Any]]] = []
        for index, data in part:
            try:
                valid.append((index, validator.validate_create(data)))
            except InvalidRecord as exc:
                failed.append(RowResult(index, False, error=self._invalid(exc)))
        broken = self._broken_references(conn, [values for _, values in valid])
        if broken:
            message = "a lookup points at a record that does not exist"
            failed.extend(
                RowResult(valid[n][0], False, error=BrokenReference(message, problems))
                for n, problems in broken.items()
            )
            valid = [item for n, item in enumerate(valid) if n not in broken]
        now = _now()
        rows = [self._new_row(values, now) for _, values in valid]
        if rows:
            self._insert(conn, rows)
        results = [
            RowResult(i, True, self._to_record(row, None), created=True)
            for (i, _), row in zip(valid, rows, strict=True)
        ]
        if failed:
            results = sorted([*results, *failed], key=lambda r: r.index)
        return results

    def _update_chunk(self, conn: Connection, part: Sequence[_Row]) -> list[RowResult]:
        validator = self.metadata.validator(self.entity)
        results = []
        for index, data in part:
            try:
                if not isinstance(data, Mapping):
                    raise RecordValidationError(
                        f"the {self.entity} change is not valid",
                        [Problem("", "must be an object of id, version and changes")],
                    )
                if data.get("id") is None:
                    raise RecordValidationError(
                        f"the {self.entity} change is not valid", [Problem("/id", "is required")]
                    )
                rid = _as_uuid(data["id"])
                _check_version(data.get("version"), "/version")
                changes = {k: v for k, v in data.items() if k not in ("id", "version")}
                try:
                    values = validator.validate_patch(changes)
                except InvalidRecord as exc:
                    raise self._invalid(exc) from None
                self._check_references(conn, values)
                record = self._update(conn, rid, values, data.get("version"), savepoint=False)
            except XRMError as exc:
                raise _RowFailed(index, exc) from None
            results.append(RowResult(index, True, record))
        return results

    def _upsert_chunk(
        self, conn: Connection, part: Sequence[_Row], key: tuple[str, ...]
    ) -> list[RowResult]:
        validator = self.metadata.validator(self.entity)
        results: list[RowResult] = []
        keyed: list[tuple[int, Mapping[str, Any], tuple[Any, ...] | None]] = []
        for index, data in part:
            if not isinstance(data, Mapping):
                keyed.append((index, data, None))  # refused by validation, with its pointer
                continue
            missing = [k for k in key if data.get(k) is None]
            if missing:
                error = RecordValidationError(
                    "an upsert row needs every field of its key",
                    [Problem(pointer(k), "is required to match records") for k in missing],
                )
                results.append(RowResult(index, False, error=error))
                continue
            # Keys are compared as the database returns them: "2024-01-02" is a date.
            try:
                normal = validator.validate_patch({k: data[k] for k in key})
            except InvalidRecord:
                keyed.append((index, data, None))  # the create reports the bad value
                continue
            keyed.append((index, data, self._key_values(normal, key)))
        existing = self._find_by_key(conn, [k for _, _, k in keyed if k is not None], key)
        # Rows apply in input order: a key repeated in the batch creates the
        # record on its first row and updates it on the later ones.
        creates: list[_Row] = []
        updates: list[tuple[int, Mapping[str, Any], tuple[Any, ...]]] = []
        new_keys: set[tuple[Any, ...]] = set()
        for index, data, values in keyed:
            if values is not None and (values in existing or values in new_keys):
                updates.append((index, data, values))
            else:
                creates.append((index, data))
                if values is not None:
                    new_keys.add(values)
        if creates:
            created = self._create_chunk(conn, creates)
            results += created
            for r in created:
                if r.record is not None:
                    existing[self._key_values(r.record, key)] = r.record["id"]
        retry = [(i, d) for i, d, values in updates if values not in existing]
        if retry:  # their key's first row failed; the next one tries to create it
            results += self._upsert_chunk(conn, retry, key)
        changes = [(i, {**d, "id": existing[v]}) for i, d, v in updates if v in existing]
        if changes:
            results += self._update_chunk(conn, changes)
        return sorted(results, key=lambda r: r.index)

    def _key_columns(self, key: tuple[str, ...]) -> list[str]:
        return [c for name in key for c in self.definition.field(name).columns]

    def _key_values(self, values: Mapping[str, Any], key: tuple[str, ...]) -> tuple[Any, ...]:
        columns: dict[str, Any] = {}
        for name in key:
            columns.update(_columns(self.definition.field(name), values[name]))
        return tuple(columns[c] for c in self._key_columns(key))

    def _find_by_key(
        self, conn: Connection, keys: list[tuple[Any, ...]], key: tuple[str, ...]
    ) -> dict[tuple[Any, ...], uuid.UUID]:
        if not keys:
            return {}
        table = self._table()
        columns = [table.c[c] for c in self._key_columns(key)]
        unique = list(dict.fromkeys(keys))
        match = (
            sa.tuple_(*columns).in_(unique)
            if len(columns) > 1
            else columns[0].in_([k[0] for k in unique])
        )
        found = conn.execute(sa.select(table.c.id, *columns).where(match))
        return {tuple(r[1:]): r[0] for r in found}

    def _alternate_key(self, key: str | Sequence[str]) -> tuple[str, ...]:
        """The fields of the unique key called ``key`` or made of the fields ``key``."""
        wanted = sorted([key] if isinstance(key, str) else key)
        unique = [index for index in self.definition.all_indexes() if index.unique]
        for index in unique:
            if index.name == key or sorted(index.fields) == wanted:
                return index.fields
        names = [k.name for k in self.definition.alternate_keys]
        names += [f.name for f in self.definition.fields if f.unique]
        raise QueryError(
            f"{key!r} is not an alternate key of {self.entity!r}",
            [Problem("/key", f"use one of {names}" if names else "the entity has no unique key")],
        )

    def _relationship(self, name: str) -> Any:
        try:
            return self.definition.relationship(name)
        except KeyError:
            raise QueryError(
                f"{self.entity!r} has no many-to-many relationship {name!r}",
                [Problem("/relationship", f"unknown relationship {name!r}")],
            ) from None


def _columns(f: FieldDefinition, value: Any) -> dict[str, Any]:
    if f.kind is Kind.POLYMORPHIC_LOOKUP:
        entity_col, id_col = f.columns
        if value is None:
            return {entity_col: None, id_col: None}
        return {entity_col: value["entity"], id_col: value["id"]}
    return {f.name: value}


def _as_uuid(value: uuid.UUID | str, at: str = "/id") -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        # No record can have such an id: "not found" is what the caller needs to hear.
        raise RecordNotFound(
            f"{value!r} is not a record id", [Problem(at, "not a valid id")]
        ) from None


def _check_version(value: object, at: str = "/if_version") -> None:
    # bool is an int to Python, but never a version.
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise RecordValidationError(
            f"a version is a whole number, not {value!r}", [Problem(at, "must be an integer")]
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
