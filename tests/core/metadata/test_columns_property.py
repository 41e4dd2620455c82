"""Property: whatever sequence of field changes is applied, the table matches the definition."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xrm_core import XRM
from xrm_core.metadata.definition import SYSTEM_COLUMNS, EntityDefinition

if TYPE_CHECKING:
    from tests.core.metadata.conftest import DatabaseView

# Each name always has the same kind, so a sequence of definitions is a sequence of
# fields added and removed (and made unique or not).
POOL: dict[str, dict[str, Any]] = {
    "label": {"type": "string"},
    "size": {"type": "integer"},
    "price": {"x-xrm": {"kind": "money"}},
    "day": {"format": "date"},
    "data": {"x-xrm": {"kind": "json"}},
    "parent": {"x-xrm": {"kind": "lookup", "target": "SELF"}},
    "about": {"x-xrm": {"kind": "polymorphic_lookup", "targets": ["SELF"]}},
}
SAMPLE = {"label": "x", "size": 3, "price": "1.50", "day": "2024-01-01", "data": {"k": 1}}
_names = itertools.count()


def shape(entity: str, fields: frozenset[str], unique: bool) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for name in sorted(fields):
        prop = {k: dict(v) if isinstance(v, dict) else v for k, v in POOL[name].items()}
        xrm = prop.get("x-xrm", {})
        if "target" in xrm:
            xrm["target"] = entity
        if "targets" in xrm:
            xrm["targets"] = [entity]
        if name == "label" and unique:
            prop["x-xrm"] = {"unique": True}
        props[name] = prop
    return {"x-xrm": {"name": entity}, "properties": props}


def expected_columns(definition: EntityDefinition) -> set[str]:
    return {*SYSTEM_COLUMNS, *(c for f in definition.fields for c in f.columns)}


def expected_indexes(definition: EntityDefinition) -> set[tuple[tuple[str, ...], bool]]:
    found = set()
    for index in definition.all_indexes():
        if index.name.startswith("xrm_"):
            continue  # the permission indexes, which DatabaseView leaves out too
        columns = tuple(c for name in index.fields for c in definition.field(name).columns)
        found.add((columns, index.unique))
    return found


steps = st.lists(
    st.tuples(st.frozensets(st.sampled_from(sorted(POOL))), st.booleans()),
    min_size=1,
    max_size=5,
)


@settings(
    max_examples=25,
    deadline=None,
    # One database per test, one entity per example: the fixture is not reset on purpose.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(sequence=steps)
def test_the_table_always_has_the_columns_and_indexes_of_the_definition(
    xrm: XRM, database: DatabaseView, sequence: list[tuple[frozenset[str], bool]]
) -> None:
    entity = f"sample_{next(_names)}"
    for i, (fields, unique) in enumerate(sequence):
        xrm.metadata.define(shape(entity, fields, unique), confirm=True)
        values = {k: v for k, v in SAMPLE.items() if k in fields}
        if "label" in fields:
            values["label"] = f"label {i}"  # distinct, so the field can become unique
        xrm.records(entity).create(values)

        definition = xrm.metadata.get(entity)
        assert set(database.columns(entity)) == expected_columns(definition)
        assert {(i.columns, i.unique) for i in database.indexes(entity)} == expected_indexes(
            definition
        )
        assert database.foreign_keys(entity) == {
            (f.name, entity, "id") for f in definition.fields if f.kind == "lookup"
        }
        assert xrm.records(entity).count() == i + 1
    xrm.metadata.drop(entity, confirm=True)
