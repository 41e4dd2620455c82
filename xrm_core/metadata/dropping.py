"""Dropping entities: what may hold a drop back, and what a drop does to others' records.

Several entities can be dropped together (a plugin's, which may refer to one
another in a cycle: a lead converts to an opportunity that remembers its lead).
A lookup of an entity left behind that names a dropped one as its target holds
the drop back. A lookup to any entity (``"targets": "*"``) does not: where it
points at a dropped record it is cleared, in the same transaction, so no
reference outlives the records it pointed at.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.errors import DefinitionError, Problem, pointer
from xrm_core.metadata.definition import EntityDefinition, FieldDefinition
from xrm_core.metadata.plan import Safety, Step
from xrm_core.storage.ddl import Catalog


def check_not_referenced(entities: Iterable[EntityDefinition], names: Collection[str]) -> None:
    """Raise :class:`DefinitionError` when an entity not in ``names`` names one as its target."""
    problems = []
    for other in entities:
        if other.name in names:
            continue
        for f in other.fields:
            if not f.any_entity and any(f.refers_to(n) for n in names):
                problems.append(Problem(pointer(other.name, f.name), "refers to it"))
        for r in other.relationships:
            if r.target in names:
                problems.append(Problem(pointer(other.name, r.name), "links to it"))
    if problems:
        which = ", ".join(repr(n) for n in names)
        raise DefinitionError(
            f"entity {which} is still referred to; remove those fields first", problems
        )


def reference_steps(conn: Connection, catalog: Catalog, names: Collection[str]) -> list[Step]:
    """One ``clear_references`` step per dropped entity and lookup to any entity left behind.

    Each step counts the records whose lookup points at a record of the entity.
    """
    steps = []
    for entity in names:
        for other, f in _any_entity_lookups(catalog, names):
            table = catalog.table(other.name)
            count = conn.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c[f.columns[0]] == entity)
            ).scalar_one()
            steps.append(
                Step(
                    "clear_references",
                    entity,
                    Safety.DESTRUCTIVE if count else Safety.SAFE,
                    f"clear {other.name}.{f.name} where it points at a {entity} record "
                    f"({count} record(s))",
                    details={"entity": other.name, "field": f.name, "records": count},
                )
            )
    return steps


def clear_references(
    conn: Connection, catalog: Catalog, names: Collection[str], actor: uuid.UUID | None
) -> None:
    """Set to null every lookup to any entity that points at a record of ``names``.

    Each record changed gets a new version (a client holding the old one must
    reload it). The references were exported first, one row each, whether or not
    the dropped records were (see :func:`~xrm_core.metadata.impact.export_losses`):
    that export, not the audit log, is the record of what was cleared.
    """
    for other, f in _any_entity_lookups(catalog, names):
        table = catalog.table(other.name)
        conn.execute(
            table.update()
            .where(table.c[f.columns[0]].in_(list(names)))
            .values(
                {
                    **dict.fromkeys(f.columns),
                    "version": table.c.version + 1,
                    "updated_at": dt.datetime.now(dt.UTC),
                    "updated_by": actor,
                }
            )
        )


def drop_foreign_keys(conn: Connection, catalog: Catalog, names: Collection[str]) -> None:
    """Drop the foreign keys between the tables of ``names`` (PostgreSQL), so that
    entities referring to one another in a cycle can be dropped one after the other.

    SQLite checks foreign keys only once the schema transaction ends.
    """
    if conn.dialect.name == "sqlite":
        return
    # Lookups only: a link table goes first with its entity, which the drop
    # order puts before the entity it links to.
    for name in names:
        table = catalog.table(name)
        for fk in table.foreign_key_constraints:
            if fk.referred_table.name in names and fk.referred_table is not table:
                conn.execute(sa.schema.DropConstraint(fk))


def _any_entity_lookups(
    catalog: Catalog, names: Collection[str]
) -> list[tuple[EntityDefinition, FieldDefinition]]:
    """Lookups to any entity of the entities left behind, by entity name."""
    return [
        (other, f)
        for other in sorted(catalog.definitions.values(), key=lambda d: d.name)
        if other.name not in names  # the dropped entities' own lookups go with them
        for f in other.fields
        if f.any_entity
    ]
