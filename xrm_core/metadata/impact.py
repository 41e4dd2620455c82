"""What a plan does to the records already stored.

Before a plan is shown or applied, the data is looked at: how many values a
conversion would lose, how many duplicates a new unique key would meet. Before
it is applied, every value it drops is exported to a JSON Lines file.
Everything here reads through the ``catalog`` of the definitions in force.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic_core import to_jsonable_python
from sqlalchemy.engine import Connection

from xrm_core.errors import DuplicateRecord, Problem, pointer
from xrm_core.metadata import link_impact
from xrm_core.metadata.definition import EntityDefinition
from xrm_core.metadata.models import convert_value
from xrm_core.metadata.plan import DATA_ACTIONS, LOSSY_NOTE, Plan, Safety, Step
from xrm_core.storage.ddl import Catalog

Rows = list[dict[str, Any]]


def measure(
    conn: Connection, catalog: Catalog, steps: Iterable[Step], wanted: Iterable[EntityDefinition]
) -> list[Step]:
    """The steps with what the data says: values a conversion loses, duplicates a key meets."""
    by_name = {d.name: d for d in wanted}
    steps = list(steps)
    # A renamed field still has its old column name until the plan is applied.
    renamed = {
        (s.entity, str(s.field)): s.details["from"] for s in steps if s.action == "rename_field"
    }
    measured = []
    for step in steps:
        if step.action == "convert_field" and step.field is not None:
            # The data decides: losing a value is destructive, converting every
            # value is breaking (callers see a new type) unless only the digits
            # widened, whatever the matrix guessed.
            converted, lost_rows = conversion(conn, catalog, step, by_name[step.entity])
            lost = len(lost_rows)
            kept = Safety.SAFE if step.safety is Safety.SAFE else Safety.BREAKING
            safety = Safety.DESTRUCTIVE if lost else kept
            description = step.description if lost else step.description.removesuffix(LOSSY_NOTE)
            details = {**step.details, "values_lost": lost}
            key = _unique_key(by_name[step.entity], step.field)
            if key is not None:
                # Values that differed may convert to the same one ("12" and "012" to 12).
                counts = Counter(
                    _hashable(r["_value"]) for r in converted if r["_value"] is not None
                )
                details |= {"index": key, "duplicates": sum(1 for n in counts.values() if n > 1)}
            step = replace(step, safety=safety, description=description, details=details)
        elif step.action == "convert_attribute":
            step = link_impact.measured(conn, catalog, step, by_name[step.entity])
        elif step.action == "add_index":
            wanted_entity = by_name[step.entity]
            old_names = {f: renamed.get((step.entity, f), f) for f in wanted_entity.field_names}
            found = duplicates(conn, catalog, wanted_entity, step.details["index"], old_names)
            if found is not None:
                step = replace(step, details={**step.details, "duplicates": found})
        measured.append(step)
    return measured


def _unique_key(definition: EntityDefinition, field: str) -> str | None:
    """The name of the unique index on ``field`` alone, if there is one."""
    found = (i for i in definition.all_indexes() if i.unique and i.fields == (field,))
    return next((i.name for i in found), None)


def _hashable(value: Any) -> Any:
    return json.dumps(to_jsonable_python(value), sort_keys=True)


def duplicates(
    conn: Connection,
    catalog: Catalog,
    wanted: EntityDefinition,
    name: str,
    old_names: Mapping[str, str] | None = None,
) -> int | None:
    """How many values a new unique index would find on several records (None: n/a).

    ``old_names`` maps fields renamed by the same plan to the names they still
    have in the table.
    """
    index = next((i for i in wanted.all_indexes() if i.name == name), None)
    if index is None or not index.unique or wanted.name not in catalog.tables:
        return None
    table = catalog.table(wanted.name)
    old_names = old_names or {}
    names = [
        old_names.get(c, c)
        for f in index.fields
        for c in (wanted.field(f).columns if wanted.has_field(f) else (f,))
    ]
    if any(n not in table.c for n in names):
        return None  # a column added by this plan holds nothing to compare yet
    columns = [table.c[n] for n in names]
    groups = (
        sa.select(*columns)
        .where(*(c.is_not(None) for c in columns))
        .group_by(*columns)
        .having(sa.func.count() > 1)
        .subquery()
    )
    return int(conn.execute(sa.select(sa.func.count()).select_from(groups)).scalar_one())


def refuse_duplicates(plan: Plan, wanted: Sequence[EntityDefinition]) -> None:
    """Raise :class:`DuplicateRecord` when a new unique key meets duplicate values.

    Each problem points into the definition that declares the key (prefixed
    with its position when several were given, as definition problems are).
    """
    order = [d.name for d in wanted]
    problems = []
    for step in plan.steps:
        count = step.details.get("duplicates")
        if count:
            where = index_pointer(wanted[order.index(step.entity)], step.details["index"])
            prefix = pointer(order.index(step.entity)) if len(order) > 1 else ""
            problems.append(
                Problem(
                    prefix + where,
                    f"{count} value(s) would be held by more than one {step.entity}; "
                    "make them unique first",
                )
            )
    if problems:
        raise DuplicateRecord(
            "some values of a unique key would be held by more than one record",
            problems,
            {"plan": plan.to_dict()},
        )


def index_pointer(definition: EntityDefinition, name: str) -> str:
    """Where the index called ``name`` is declared in the definition's document."""
    xrm = definition.schema.get("x-xrm", {})
    for key in ("alternate_keys", "indexes"):
        for i, declared in enumerate(xrm.get(key, [])):
            if declared.get("name") == name:
                return pointer("x-xrm", key, i)
    # A field's own index: uq_<field> or ix_<field>.
    return pointer("properties", name[3:])


def conversion(
    conn: Connection, catalog: Catalog, step: Step, wanted: EntityDefinition
) -> tuple[Rows, Rows]:
    """Converted values (``{"_id", "_value"}``) and lost ones (``{"id", "value"}``) of a field."""
    if step.field is None:
        raise ValueError("a conversion step names its field")
    # A field renamed by the same plan is still under its old name in ``catalog``.
    old = catalog.definitions[step.entity].field(step.details.get("from", step.field))
    new = wanted.field(step.field)
    table = catalog.table(step.entity)
    column = table.c[old.name]
    kept: Rows = []
    lost: Rows = []
    for row in conn.execute(sa.select(table.c.id, column).where(column.is_not(None))):
        ok, value = convert_value(row[1], old, new)
        kept.append({"_id": row[0], "_value": value})
        if not ok:
            lost.append({"id": row[0], "value": row[1]})
    return kept, lost


def export_losses(
    conn: Connection,
    catalog: Catalog,
    plan: Plan,
    new: Mapping[str, EntityDefinition],
    export_dir: Path,
    *,
    records: bool = True,
) -> list[str]:
    """Write every value ``plan`` drops to JSON Lines files; return their paths.

    ``records=False`` leaves out what the plan's own entities lose (a caller
    exported those itself) but still writes the references a drop clears in
    the records of other entities: no one else keeps them.
    """
    exports = []
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    for step in plan.steps:
        if not records and step.action not in DATA_ACTIONS:
            continue
        for part, rows in _losses(conn, catalog, step, new):
            if rows:
                name = f"{stamp}-{step.entity}-{part}-{step.action}.jsonl"
                exports.append(str(_write_jsonl(export_dir / name, rows)))
    return exports


def _losses(
    conn: Connection, catalog: Catalog, step: Step, new: Mapping[str, EntityDefinition]
) -> Iterator[tuple[str, Rows]]:
    """``(part, rows)`` for each set of values ``step`` drops."""
    if step.action == "convert_field" and step.field is not None:
        yield step.field, conversion(conn, catalog, step, new[step.entity])[1]
    elif step.action == "remove_field" and step.field is not None:
        table = catalog.table(step.entity)
        field = catalog.definitions[step.entity].field(step.field)
        columns = [table.c[c] for c in field.columns]
        query = sa.select(table.c.id, *columns).where(sa.or_(*(c.is_not(None) for c in columns)))
        yield step.field, _rows(conn, query)
    elif step.action == "drop_entity":
        yield "all", _rows(conn, sa.select(catalog.table(step.entity)))
        # The entity's own many-to-many links go with it.
        for (entity, relationship), link in catalog.link_tables.items():
            if entity == step.entity:
                yield relationship, _rows(conn, sa.select(link))
    elif step.action == "clear_references":
        yield f"{step.details['entity']}.{step.details['field']}", _references(conn, catalog, step)
    elif step.action == "remove_relationship" and step.field is not None:
        yield step.field, _rows(conn, sa.select(catalog.link_tables[step.entity, step.field]))
    elif step.action in link_impact.LOSSY:
        yield from link_impact.losses(conn, catalog, step, new)


def _references(conn: Connection, catalog: Catalog, step: Step) -> Rows:
    """The references a ``clear_references`` step clears, one row each:
    ``{"entity", "id", "field", "value": {"entity", "id"}}`` (the referring record)."""
    other = catalog.definitions[step.details["entity"]]
    f = other.field(step.details["field"])
    table = catalog.table(other.name)
    entity_column, id_column = table.c[f.columns[0]], table.c[f.columns[1]]
    query = (
        sa.select(table.c.id, entity_column, id_column)
        .where(entity_column == step.entity)
        .order_by(table.c.id)
    )
    return [
        {
            "entity": other.name,
            "id": row[0],
            "field": f.name,
            "value": {"entity": row[1], "id": row[2]},
        }
        for row in conn.execute(query)
    ]


def _rows(conn: Connection, query: sa.Select[Any]) -> Rows:
    return [dict(r) for r in conn.execute(query).mappings()]


def _write_jsonl(path: Path, rows: Rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(to_jsonable_python(row), sort_keys=True) + "\n")
    return path
