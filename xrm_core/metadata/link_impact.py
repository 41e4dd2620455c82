"""What changing a relationship's attributes does to the links already stored.

The link-table side of :mod:`xrm_core.metadata.impact`: an attribute's
conversion is measured (how many values it would lose) before it is shown or
applied, the values a conversion loses or a removal drops are exported, and the
converted values are written back once the column has its new type. A link is
known by its ``(source_id, target_id)`` pair. Everything is read through the
catalog of the definitions in force, where a relationship the same plan renames
still has its old name (``details["from"]``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.metadata.definition import EntityDefinition, FieldDefinition, ManyToMany
from xrm_core.metadata.models import convert_value
from xrm_core.metadata.plan import LOSSY_NOTE, Plan, Safety, Step
from xrm_core.storage.ddl import Catalog

Rows = list[dict[str, Any]]

#: Attribute steps whose values may be lost, and so are exported first.
LOSSY = frozenset({"convert_attribute", "remove_attribute"})


def conversion(
    conn: Connection, catalog: Catalog, step: Step, wanted: EntityDefinition
) -> tuple[Rows, Rows]:
    """Converted values (``{"_source", "_target", "_value"}``) and lost ones
    (``{"source_id", "target_id", "value"}``) of the attribute a step converts."""
    table, old = _stored(catalog, step)
    new = _attribute(wanted.relationship(str(step.field)), step.details["attribute"])
    column = table.c[old.name]
    kept: Rows = []
    lost: Rows = []
    query = sa.select(table.c.source_id, table.c.target_id, column).where(column.is_not(None))
    for source, target, stored in conn.execute(query):
        ok, value = convert_value(stored, old, new)
        kept.append({"_source": source, "_target": target, "_value": value})
        if not ok:
            lost.append({"source_id": source, "target_id": target, "value": stored})
    return kept, lost


def measured(conn: Connection, catalog: Catalog, step: Step, wanted: EntityDefinition) -> Step:
    """A ``convert_attribute`` step with what the data says, as for a field's conversion:
    losing a value is destructive, converting every one keeps the classification."""
    lost = len(conversion(conn, catalog, step, wanted)[1])
    kept = Safety.SAFE if step.safety is Safety.SAFE else Safety.BREAKING
    description = step.description if lost else step.description.removesuffix(LOSSY_NOTE)
    return replace(
        step,
        safety=Safety.DESTRUCTIVE if lost else kept,
        description=description,
        details={**step.details, "values_lost": lost},
    )


def losses(
    conn: Connection, catalog: Catalog, step: Step, new: Mapping[str, EntityDefinition]
) -> Iterator[tuple[str, Rows]]:
    """``(part, rows)`` for the values a ``LOSSY`` step drops (part: ``relationship.attribute``)."""
    part = f"{step.field}.{step.details['attribute']}"
    if step.action == "convert_attribute":
        yield part, conversion(conn, catalog, step, new[step.entity])[1]
    elif step.action == "remove_attribute":
        table, old = _stored(catalog, step)
        column = table.c[old.name]
        query = sa.select(table.c.source_id, table.c.target_id, column)
        yield part, [dict(r) for r in conn.execute(query.where(column.is_not(None))).mappings()]


def conversions(
    conn: Connection, catalog: Catalog, plan: Plan, new: Mapping[str, EntityDefinition]
) -> list[tuple[Step, Rows]]:
    """Every attribute conversion's new values, read before the plan changes the tables."""
    return [
        (s, conversion(conn, catalog, s, new[s.entity])[0])
        for s in plan.steps
        if s.action == "convert_attribute"
    ]


def write(conn: Connection, catalog: Catalog, converted: Sequence[tuple[Step, Rows]]) -> None:
    """Write converted values into the changed link tables (``catalog``: the new one)."""
    for step, values in converted:
        if not values:
            continue
        table = catalog.link_tables[step.entity, str(step.field)]
        conn.execute(
            table.update()
            .where(
                table.c.source_id == sa.bindparam("_source"),
                table.c.target_id == sa.bindparam("_target"),
            )
            .values({step.details["attribute"]: sa.bindparam("_value")}),
            values,
        )


def _stored(catalog: Catalog, step: Step) -> tuple[sa.Table, FieldDefinition]:
    """The link table a step's attribute is stored in now, and the attribute as it is."""
    name = step.details.get("from", step.field)
    rel = catalog.definitions[step.entity].relationship(str(name))
    return catalog.link_tables[step.entity, rel.name], _attribute(rel, step.details["attribute"])


def _attribute(rel: ManyToMany, name: str) -> FieldDefinition:
    return next(a for a in rel.attributes if a.name == name)
