"""The read path of the record service: pages, single records, counts, aggregates.

Every statement joins a permission predicate of the caller (``RecordService._access``).
Page and get statements are cached per definition version by the shape of the
query and of that predicate, whose values are bound at execution.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from xrm_core.errors import AccessDenied, Problem, QueryError, RecordNotFound, shown
from xrm_core.ids import as_uuid
from xrm_core.records._arguments import listed
from xrm_core.records._shape import Shape
from xrm_core.records.aggregates import aggregate_query
from xrm_core.records.query import SYSTEM_FIELDS, QueryBuilder, decode_cursor, encode_cursor
from xrm_core.records.results import Page, Record
from xrm_core.security.predicates import Access

if TYPE_CHECKING:
    from xrm_core.records.service import RecordService

MAX_LIMIT = 1000
#: Ids bound per ``IN (...)`` list: SQLite before 3.32 allows only 999 bound
#: parameters in a statement.
_CHUNK = 500
_STATEMENT_CACHE = 256


def get(
    service: RecordService,
    record_id: uuid.UUID | str,
    fields: Sequence[str] | None,
    expand: Sequence[str] | None,
) -> Record:
    """See :meth:`RecordService.get`."""
    rid = as_uuid(record_id)
    selected = _selected(service, fields, expand)
    allowed = service._access("read")
    statement = _get_statement(service, allowed)
    with service.db.transaction(write=False) as conn:
        result = conn.execute(statement, {"id": rid, **allowed.params})
        row = result.first()
        if row is None:
            raise RecordNotFound(f"no {service.entity} with id {rid}", details={"id": str(rid)})
        # Rows as tuples: a mapping per row costs a tenth of a read by id.
        shape = service.metadata.derived(service.entity, "shape", Shape.of)
        record = service._hide(shape.reader(list(result.keys()))(row))
        if expand:
            _expand(service, conn, [record], list(enumerate(listed(expand, "/expand"))))
    return _pick(record, selected)


def page(
    service: RecordService,
    *,
    filter: Any,
    order: Sequence[str] | None,
    limit: int,
    cursor: str | None,
    fields: Sequence[str] | None,
    expand: Sequence[str] | None,
    count: bool,
) -> Page:
    """See :meth:`RecordService.query`."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise QueryError(
            "the query is not valid",
            [Problem("/limit", f"limit must be a whole number from 1 to {MAX_LIMIT}")],
        )
    order = list(listed(order, "/order"))
    selected = _selected(service, fields, expand)
    # Check the query and collect its values without building SQL; a
    # statement built for a query of the same shape is reused.
    checked = service._builder()
    checked.check(filter)
    keys = checked.order(order)
    after = decode_cursor(cursor, order, keys) if cursor is not None else None
    if after is not None:
        checked.check_after(keys, after)
    allowed = service._access("read")
    scopes = (allowed.key, *checked.scope_keys)
    key = (tuple(checked.shape), tuple(order), limit, scopes)
    cacheable = all(k is not None for k in (allowed.key, *(k for _, k in checked.scope_keys)))
    statement, sort_keys = _page_statement(
        service, key if cacheable else None, filter, order, after, limit, allowed
    )
    shape = service.metadata.derived(service.entity, "shape", Shape.of)
    hidden = service._hidden()
    params = {**checked.params, **checked.scope_params, **allowed.params}
    with service.db.transaction(write=False) as conn:
        result = conn.execute(statement, params)
        names = list(result.keys())
        rows = result.all()
        more = len(rows) > limit
        rows = rows[:limit]
        read = shape.reader(names)
        records = [read(row) for row in rows]
        if hidden:
            records = [service._hide(r, hidden) for r in records]
        if expand:
            _expand(service, conn, records, list(enumerate(listed(expand, "/expand"))))
        total = service.count(filter=filter) if count else None
    next_cursor = None
    if more:
        positions = [names.index(k) for k in sort_keys]
        next_cursor = encode_cursor(order, [rows[-1][p] for p in positions])
    if selected is not None:
        records = [_pick(r, selected) for r in records]
    omitted = hidden if selected is None else hidden & set(selected)
    return Page(records, next_cursor, total, tuple(sorted(omitted)))


def count(service: RecordService, filter: Any) -> int:
    """See :meth:`RecordService.count`."""
    builder = service._builder()
    where = builder.where(filter)
    with service.db.transaction(write=False) as conn:
        return _count(service, conn, builder, where)


def aggregate(
    service: RecordService,
    group_by: Sequence[str],
    measures: Mapping[str, Any] | None,
    filter: Any,
) -> list[Record]:
    """See :meth:`RecordService.aggregate`."""
    if measures is not None and not isinstance(measures, Mapping):
        raise QueryError(
            "the aggregate is not valid",
            [Problem("/measures", "measures are an object: {name: 'sum:field', ...}")],
        )
    builder = service._builder()
    where = builder.where(filter)
    allowed = service._access("read")
    if allowed.where is not None:
        where = allowed.where if where is None else sa.and_(where, allowed.where)
    groups = list(listed(group_by, "/group_by"))
    query, names = aggregate_query(builder, groups, dict(measures or {}), where)
    with service.db.transaction(write=False) as conn:
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


def _page_statement(
    service: RecordService,
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
    cache = service.metadata.derived(service.entity, "pages", lambda _: {})
    found = cache.get(key) if key is not None else None
    if found is not None:
        return found
    builder = service._builder()
    where = builder.where(filter)
    keys = builder.order(order)
    table = service.table()
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


def _get_statement(service: RecordService, allowed: Access) -> sa.Select[Any]:
    def build() -> sa.Select[Any]:
        table = service.table()
        query = sa.select(table).where(table.c.id == sa.bindparam("id"))
        return query if allowed.where is None else query.where(allowed.where)

    return _cached(service, "gets", allowed, build)


def _cached(
    service: RecordService, kind: str, allowed: Access, build: Callable[[], sa.Select[Any]]
) -> sa.Select[Any]:
    """``build()``, kept per definition version and shape of the caller's predicate."""
    if allowed.key is None:
        return build()
    cache: dict[tuple[Any, ...], sa.Select[Any]]
    cache = service.metadata.derived(service.entity, kind, lambda _: {})
    found = cache.get(allowed.key)
    if found is None:
        found = cache[allowed.key] = build()
    return found


def _count(
    service: RecordService,
    conn: Connection,
    builder: QueryBuilder,
    where: sa.ColumnElement[bool] | None,
) -> int:
    allowed = service._access("read")
    query = sa.select(sa.func.count()).select_from(builder.from_clause())
    conditions = [c for c in (where, allowed.where) if c is not None]
    params = {**builder.scope_params, **allowed.params}
    return int(conn.execute(query.where(*conditions), params).scalar_one())


def _selected(
    service: RecordService, fields: Sequence[str] | None, expand: Sequence[str] | None
) -> list[str] | None:
    """The keys a caller asked for: ``id``, the fields, and what it expands."""
    if fields is None:
        return None
    names = listed(fields, "/fields")
    hidden = service._hidden()
    for i, name in enumerate(names):
        if not isinstance(name, str) or (
            name not in SYSTEM_FIELDS and not service.definition.has_field(name)
        ):
            raise QueryError(
                "the query is not valid",
                [Problem(f"/fields/{i}", f"unknown field {shown(name)} of {service.entity!r}")],
            )
        if name in hidden:
            raise AccessDenied(
                f"you may not read the secured field {name!r} of {service.entity!r}",
                [Problem(f"/fields/{i}", "secured: no permission to read")],
            )
    heads = [p.partition(".")[0] for p in listed(expand, "/expand") if isinstance(p, str)]
    return list(dict.fromkeys(["id", *names, *heads]))


def _expand(
    service: RecordService, conn: Connection, records: list[Record], paths: list[tuple[int, str]]
) -> None:
    """Replace lookup ids by the records they point at; ``paths`` keep their index."""
    nested: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for i, path in paths:
        head, _, rest = path.partition(".") if isinstance(path, str) else ("", "", "")
        definition = service.definition
        if not definition.has_field(head) or not definition.field(head).is_reference:
            raise QueryError(
                "the query is not valid",
                [Problem(f"/expand/{i}", f"{shown(path)} is not a lookup of {service.entity!r}")],
            )
        nested[head].extend([(i, rest)] if rest else [])
    for name, deeper in nested.items():
        _expand_field(service, conn, records, name, deeper)


def _expand_field(
    service: RecordService,
    conn: Connection,
    records: list[Record],
    name: str,
    deeper: list[tuple[int, str]],
) -> None:
    f = service.definition.field(name)
    wanted: dict[str, set[uuid.UUID]] = defaultdict(set)
    for record in records:
        value = record.get(name)
        if isinstance(value, uuid.UUID) and f.target:
            wanted[f.target].add(value)
        elif isinstance(value, Mapping):
            wanted[value["entity"]].add(value["id"])
    found: dict[uuid.UUID, Record] = {}
    for entity, ids in wanted.items():
        # The related records are read as their own entity's service reads them,
        # for the same caller: its permissions and secured fields apply.
        related_service = service._service(entity)
        related = _fetch(related_service, conn, ids)
        if deeper:
            _expand(related_service, conn, related, deeper)
        found.update((r["id"], r) for r in related)
    for record in records:
        value = record.get(name)
        key = value["id"] if isinstance(value, Mapping) else value
        if key is not None:
            record[name] = found.get(key)


def _fetch(service: RecordService, conn: Connection, ids: Iterable[uuid.UUID]) -> list[Record]:
    id_list = list(ids)
    records: list[Record] = []
    allowed = service._access("read")
    hidden = service._hidden()
    statement = _ids_statement(service, allowed)
    shape = service.metadata.derived(service.entity, "shape", Shape.of)
    for start in range(0, len(id_list), _CHUNK):
        params = {_IDS: id_list[start : start + _CHUNK], **allowed.params}
        result = conn.execute(statement, params)
        read = shape.reader(list(result.keys()))
        rows = result.all()  # iterating would fetch the rows one by one
        records.extend(service._hide(read(row), hidden) for row in rows)
    return records


#: The name the ids of :func:`_ids_statement` are bound as.
_IDS = "xrm_ids"


def _ids_statement(service: RecordService, allowed: Access) -> sa.Select[Any]:
    """The records whose id is one of a list bound as ``xrm_ids``, cached as gets are.

    On PostgreSQL the list is one array (``id = ANY(:xrm_ids)``): the SQL text is
    the same for any number of ids, so psycopg converts it once. An ``IN`` list
    is a new text for each number of ids, and over 4 KB (about 60 ids) psycopg
    converts it anew every time: with 100 lookups, a quarter of a page's time.
    """

    def build() -> sa.Select[Any]:
        table = service.table()
        column = table.c.id
        if service.db.dialect == "postgresql":
            ids = sa.bindparam(_IDS, type_=postgresql.ARRAY(column.type))
            query = sa.select(table).where(column == sa.any_(ids))
        else:
            query = sa.select(table).where(column.in_(sa.bindparam(_IDS, expanding=True)))
        return query if allowed.where is None else query.where(allowed.where)

    return _cached(service, "by_ids", allowed, build)


def absent(
    conn: Connection, table: sa.Table, ids: Iterable[uuid.UUID], allowed: Access
) -> list[uuid.UUID]:
    """The ``ids`` (in their order) with no row in ``table`` that ``allowed`` lets in."""
    id_list = list(ids)
    found: set[uuid.UUID] = set()
    for start in range(0, len(id_list), _CHUNK):
        part = id_list[start : start + _CHUNK]
        query = sa.select(table.c.id).where(table.c.id.in_(part))
        if allowed.where is not None:
            query = query.where(allowed.where)
        found.update(conn.execute(query, allowed.params).scalars())
    return [i for i in id_list if i not in found]


def _pick(record: Record, selected: list[str] | None) -> Record:
    return record if selected is None else {k: record[k] for k in selected}
