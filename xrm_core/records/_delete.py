"""The delete walk: each relationship's delete behaviour, applied children first.

When the audit log or event handlers want them, every record the walk deletes
is read first (one SELECT per chunk, before anything of the walk touches it),
handed to ``before`` handlers, and logged as ``delete``
with its whole image, which is what a restore rebuilds it from; each lookup
a ``set_null`` relationship clears is logged as an ``update`` of that field.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.audit.log import RecordChange
from xrm_core.errors import DeleteRestricted, Problem, pointer
from xrm_core.metadata.definition import (
    SYSTEM_COLUMNS,
    EntityDefinition,
    FieldDefinition,
    Kind,
    OnDelete,
)
from xrm_core.metadata.service import MetadataService
from xrm_core.records._changes import ChangeLog
from xrm_core.records.results import DeleteReport

#: Keeps every IN list well under the databases' bound-parameter limits.
CHUNK = 500


class DeleteWalk:
    """One delete: the records it has reached, and what it did to get there."""

    def __init__(
        self,
        conn: Connection,
        metadata: MetadataService,
        report: DeleteReport,
        *,
        changes: ChangeLog | None = None,
    ) -> None:
        """``changes`` is where the walk reports what it changes (handlers, audit)."""
        self.conn = conn
        self.metadata = metadata
        self.report = report
        self.changes = changes
        # Every record this delete has reached; those still in the database are
        # on their way out further up the walk (a cycle, a record its own parent).
        self.seen: set[tuple[str, uuid.UUID]] = set()

    def delete(self, definition: EntityDefinition, ids: list[uuid.UUID]) -> None:
        """Delete ``ids`` after applying the delete behaviour of what refers to them."""
        ids = [i for i in ids if (definition.name, i) not in self.seen]
        self.seen.update((definition.name, i) for i in ids)
        parts = [ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK)]
        # Images are read before any part is walked: a cascade from one part can
        # clear a reference held by a record of a later part before it goes.
        images = [self._images(definition, part) for part in parts]
        for part, image in zip(parts, images, strict=True):
            self._delete_part(definition, part, image)

    def _images(self, definition: EntityDefinition, ids: list[uuid.UUID]) -> list[RecordChange]:
        """``(id, record, None)`` of each record of ``ids``, for the audit log."""
        if self.changes is None or not self.changes.wants(definition, "delete"):
            return []
        table = self.metadata.catalog.table(definition.name)
        rows = self.conn.execute(sa.select(table).where(table.c.id.in_(ids))).mappings()
        return [(r["id"], _record(definition, r), None) for r in rows]

    def _delete_part(
        self, definition: EntityDefinition, ids: list[uuid.UUID], images: list[RecordChange]
    ) -> None:
        catalog = self.metadata.catalog
        for other in self.metadata.entities():
            for f in other.fields:
                if f.refers_to(definition.name):
                    self._referring(other, f, definition.name, ids)
            for rel in other.relationships:
                link = catalog.link_tables[other.name, rel.name]
                ends = [link.c.source_id] if other.name == definition.name else []
                ends += [link.c.target_id] if rel.target == definition.name else []
                for end in ends:
                    done = self.conn.execute(link.delete().where(end.in_(ids)))
                    self.report.add(self.report.unlinked, link.name, done.rowcount)
        table = catalog.table(definition.name)
        if self.changes is not None and images:
            self.changes.before(self.conn, definition, "delete", images)
        done = self.conn.execute(table.delete().where(table.c.id.in_(ids)))
        self.report.add(self.report.deleted, definition.name, done.rowcount)
        if self.changes is not None and images:
            self.changes.write(self.conn, self.changes.caller, definition, "delete", images)

    def _referring(
        self, other: EntityDefinition, f: FieldDefinition, entity: str, ids: list[uuid.UUID]
    ) -> None:
        """Apply ``other.f``'s delete behaviour to the records pointing at ``ids``."""
        table = self.metadata.catalog.table(other.name)
        if f.kind is Kind.POLYMORPHIC_LOOKUP:
            entity_col, id_col = (table.c[c] for c in f.columns)
            match = sa.and_(entity_col == entity, id_col.in_(ids))
        else:
            match = table.c[f.name].in_(ids)
        cleared = {c: None for c in f.columns}
        audited = self.changes is not None and self.changes.wants(other, "update")
        # The old value of each referring record, when the clear is to be logged.
        old: dict[uuid.UUID, Any] = {}
        if audited:
            found = self.conn.execute(sa.select(table.c.id, *table.c[*f.columns]).where(match))
            old = {r[0]: _value(f, r[1:]) for r in found}
            referring = list(old)
        else:
            referring = list(self.conn.execute(sa.select(table.c.id).where(match)).scalars())
        leaving = [r for r in referring if (other.name, r) in self.seen]
        if leaving:
            # Records this delete removes anyway neither block it nor count as
            # cleared; their reference goes first so the foreign key lets the
            # record they point at go before them.
            self.conn.execute(
                table.update().where(match, table.c.id.in_(leaving)).values(**cleared)
            )
            referring = [r for r in referring if (other.name, r) not in self.seen]
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
            self.delete(other, referring)
            return
        stamp: dict[str, Any] = {"updated_at": dt.datetime.now(dt.UTC)}
        if self.changes is not None:
            stamp["updated_by"] = self.changes.caller.user_id
        self.conn.execute(
            table.update().where(match).values(**cleared, version=table.c.version + 1, **stamp)
        )
        self.report.add(self.report.cleared, f"{other.name}.{f.name}", len(referring))
        if audited and self.changes is not None:
            changes = [(r, {f.name: old[r]}, {f.name: None}) for r in referring]
            self.changes.write(self.conn, self.changes.caller, other, "update", changes)


def _value(f: FieldDefinition, columns: tuple[Any, ...]) -> Any:
    """A field's value from its columns (a polymorphic lookup has two)."""
    if f.kind is Kind.POLYMORPHIC_LOOKUP:
        entity, rid = columns
        return None if rid is None else {"entity": entity, "id": rid}
    return columns[0]


def _record(definition: EntityDefinition, row: Mapping[Any, Any]) -> dict[str, Any]:
    """A record, as the record service returns it, from a row of its table."""
    record = {k: row[k] for k in SYSTEM_COLUMNS}
    for f in definition.fields:
        record[f.name] = _value(f, tuple(row[c] for c in f.columns))
    return record
