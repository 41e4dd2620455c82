"""Many-to-many links between records, with the attributes a relationship gives them.

A link belongs to its source record: making or removing one is an update of
the source, and listing them needs the source to be readable.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from xrm_core.errors import Problem, QueryError, shown
from xrm_core.ids import as_uuid
from xrm_core.metadata.definition import ManyToMany
from xrm_core.metadata.models import link_validator
from xrm_core.records._arguments import now
from xrm_core.records._bulk import columns_of
from xrm_core.records._reading import _CHUNK
from xrm_core.records.results import Record

if TYPE_CHECKING:
    from xrm_core.records.service import RecordService


def link(
    service: RecordService,
    record_id: uuid.UUID | str,
    relationship: str,
    target_id: uuid.UUID | str,
    attributes: Mapping[str, Any] | None,
) -> Record:
    """See :meth:`RecordService.link`."""
    rel = _relationship(service, relationship)
    values = service._validate(
        lambda: link_validator(rel.attributes).validate_create(attributes or {})
    )
    columns: dict[str, Any] = {}
    for f in rel.attributes:
        columns.update(columns_of(f, values.get(f.name)))
    source, target = as_uuid(record_id), as_uuid(target_id, "/target_id")
    table = service.metadata.catalog.link_tables[service.entity, relationship]
    match = (table.c.source_id == source, table.c.target_id == target)
    with service.db.transaction() as conn:
        service._require(conn, service.entity, [source], "/id")
        service._require(conn, rel.target, [target], "/target_id")
        service.authorize(conn, [source], "update")
        service._security_changed(conn)
        if columns:
            found = conn.execute(table.update().where(*match).values(**columns)).rowcount
        else:
            found = len(conn.execute(sa.select(table.c.source_id).where(*match)).all())
        if not found:
            conn.execute(
                table.insert().values(
                    source_id=source, target_id=target, created_at=now(), **columns
                )
            )
        return dict(conn.execute(sa.select(table).where(*match)).mappings().one())


def unlink(
    service: RecordService,
    record_id: uuid.UUID | str,
    relationship: str,
    target_id: uuid.UUID | str,
) -> bool:
    """See :meth:`RecordService.unlink`."""
    _relationship(service, relationship)
    table = service.metadata.catalog.link_tables[service.entity, relationship]
    source, target = as_uuid(record_id), as_uuid(target_id, "/target_id")
    with service.db.transaction() as conn:
        service.authorize(conn, [source], "update")
        done = conn.execute(
            table.delete().where(table.c.source_id == source, table.c.target_id == target)
        )
        if done.rowcount:
            service._security_changed(conn)
        return bool(done.rowcount)


def links(service: RecordService, record_id: uuid.UUID | str, relationship: str) -> list[Record]:
    """See :meth:`RecordService.links`."""
    _relationship(service, relationship)
    table = service.metadata.catalog.link_tables[service.entity, relationship]
    rid = as_uuid(record_id)
    with service.db.transaction(write=False) as conn:
        service.authorize(conn, [rid], "read")
        rows = conn.execute(
            sa.select(table)
            .where(table.c.source_id == rid)
            .order_by(table.c.created_at, table.c.target_id)
        ).mappings()
        return [dict(r) for r in rows]


def _relationship(service: RecordService, name: str) -> ManyToMany:
    try:
        return service.definition.relationship(name)
    except KeyError:
        raise QueryError(
            f"{service.entity!r} has no many-to-many relationship {shown(name)}",
            [Problem("/relationship", f"unknown relationship {shown(name)}")],
        ) from None


def links_of(
    service: RecordService, record_ids: Iterable[uuid.UUID | str], relationship: str, by: str
) -> dict[uuid.UUID, list[Record]]:
    """See :meth:`RecordService.links_of`."""
    _relationship(service, relationship)
    if by not in ("source", "target"):
        raise QueryError("the query is not valid", [Problem("/by", "by is 'source' or 'target'")])
    table = service.metadata.catalog.link_tables[service.entity, relationship]
    ids = [as_uuid(rid, f"/record_ids/{n}") for n, rid in enumerate(record_ids)]
    key = table.c.source_id if by == "source" else table.c.target_id
    source = service.table()
    allowed = service._access("read")
    found: dict[uuid.UUID, list[Record]] = {rid: [] for rid in ids}
    with service.db.transaction(write=False) as conn:
        for start in range(0, len(ids), _CHUNK):
            query = sa.select(table).where(key.in_(ids[start : start + _CHUNK]))
            if allowed.where is not None:
                # A link belongs to its source: one the caller cannot read is left out.
                query = query.join(source, source.c.id == table.c.source_id).where(allowed.where)
            query = query.order_by(table.c.created_at, table.c.source_id, table.c.target_id)
            for row in conn.execute(query, allowed.params).mappings():
                found[row[key.key]].append(dict(row))
    return found
