"""The delete walk: each relationship's delete behaviour, applied children first."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.errors import DeleteRestricted, Problem, pointer
from xrm_core.metadata.definition import EntityDefinition, FieldDefinition, Kind, OnDelete
from xrm_core.metadata.service import MetadataService
from xrm_core.records.results import DeleteReport

#: Keeps every IN list well under the databases' bound-parameter limits.
CHUNK = 500


class DeleteWalk:
    """One delete: the records it has reached, and what it did to get there."""

    def __init__(self, conn: Connection, metadata: MetadataService, report: DeleteReport) -> None:
        self.conn = conn
        self.metadata = metadata
        self.report = report
        # Every record this delete has reached; those still in the database are
        # on their way out further up the walk (a cycle, a record its own parent).
        self.seen: set[tuple[str, uuid.UUID]] = set()

    def delete(self, definition: EntityDefinition, ids: list[uuid.UUID]) -> None:
        """Delete ``ids`` after applying the delete behaviour of what refers to them."""
        ids = [i for i in ids if (definition.name, i) not in self.seen]
        self.seen.update((definition.name, i) for i in ids)
        for start in range(0, len(ids), CHUNK):
            self._delete_part(definition, ids[start : start + CHUNK])

    def _delete_part(self, definition: EntityDefinition, ids: list[uuid.UUID]) -> None:
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
        done = self.conn.execute(table.delete().where(table.c.id.in_(ids)))
        self.report.add(self.report.deleted, definition.name, done.rowcount)

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
        self.conn.execute(
            table.update()
            .where(match)
            .values(**cleared, version=table.c.version + 1, updated_at=dt.datetime.now(dt.UTC))
        )
        self.report.add(self.report.cleared, f"{other.name}.{f.name}", len(referring))
