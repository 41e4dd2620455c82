"""Inputs the property tests found crashing or slipping through, each refused clearly now."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import pytest

from xrm_core import XRM, DefinitionError, DuplicateRecord
from xrm_core.metadata.validation import check
from xrm_core.storage.tables import core_metadata

if TYPE_CHECKING:
    from tests.core.metadata.conftest import DatabaseView


def entity(name: str = "sample", xrm: dict[str, Any] | None = None, **props: Any) -> dict[str, Any]:
    return {
        "x-xrm": {"name": name, **(xrm or {})},
        "properties": props or {"label": {"type": "string"}},
    }


STRING = {"type": "string"}


def refused(xrm: XRM, docs: Any, **options: Any) -> list[tuple[str, str]]:
    """Define ``docs``, expecting a DefinitionError; return its problems."""
    with pytest.raises(DefinitionError) as error:
        xrm.metadata.define(docs, **options)
    return [(p.pointer, p.message) for p in error.value.problems]


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({**entity(), "required": [["label"]]}, "/required/0"),
        ({**entity(), "required": True}, "/required"),
        (entity(xrm={"relationships": True}), "/x-xrm/relationships"),
        (entity(xrm={"relationships": [{"name": [], "target": {}}]}), "/x-xrm/relationships/0"),
        (entity(xrm={"indexes": [{"fields": [[]]}]}), "/x-xrm/indexes/0/fields/0"),
        (entity(xrm={"alternate_keys": 5}), "/x-xrm/alternate_keys"),
        (entity(f={"type": "string", "x-xrm": ["unique"]}), "/properties/f/x-xrm"),
        (entity(f={"x-xrm": {"kind": "lookup", "target": []}}), "/properties/f/x-xrm/target"),
        (entity(f={"x-xrm": {"kind": "polymorphic_lookup", "targets": True}}), "/properties/f"),
        (entity(f={"type": "number", "x-xrm": {"scale": 2, "precision": None}}), "/properties/f"),
        (entity(f={"type": "integer", "minimum": None, "default": 1}), "/properties/f/minimum"),
        (entity(f={"type": "string", "pattern": "(", "default": "x"}), "/properties/f/pattern"),
        (
            entity(xrm={"relationships": [{"name": "r", "target": "sample", "attributes": 1}]}),
            "/x-xrm/relationships/0/attributes",
        ),
    ],
)
def test_wrongly_typed_parts_are_reported_not_crashed_on(doc: dict[str, Any], where: str) -> None:
    problems = check(doc, ())

    assert any(p.pointer.startswith(where) for p in problems), problems


@pytest.mark.parametrize("given", [None, 5, "sample", [None], [{"x-xrm": [], "properties": {}}]])
def test_a_definition_that_is_no_object_is_refused(xrm: XRM, given: Any) -> None:
    assert refused(xrm, given)


def test_a_document_nested_too_deep_is_refused_without_recursing(xrm: XRM) -> None:
    deep = functools.reduce(lambda value, _: {"a": value}, range(5000), {})

    problems = refused(xrm, entity(data={"type": "object", "default": deep}))

    assert [m for _, m in problems] == ["nested more than 32 levels deep"]
    assert problems[0][0].startswith("/properties/data/default/a/a")


def test_a_precision_below_the_default_scale_is_refused(xrm: XRM) -> None:
    problems = refused(xrm, entity(ratio={"type": "number", "x-xrm": {"precision": 1}}))

    assert problems == [
        ("/properties/ratio/x-xrm/precision", "scale (6) cannot exceed precision (1)")
    ]


def test_a_name_ending_with_a_newline_is_not_snake_case(xrm: XRM) -> None:
    problems = refused(xrm, entity("sample\n", **{"label\n": STRING}))

    assert [p for p, _ in problems] == ["/properties/label\n", "/x-xrm/name"]


def test_multi_choice_values_must_be_text(xrm: XRM) -> None:
    topics = {"type": "array", "items": {"enum": [[], "b"]}}

    assert refused(xrm, entity(topics=topics))[0][0] == "/properties/topics/items/enum/0"


@pytest.mark.parametrize("name", ["xmin", "ctid", "tableoid"])
def test_fields_cannot_take_the_hidden_columns_of_postgresql(xrm: XRM, name: str) -> None:
    tags = [{"name": "tags", "target": "sample", "attributes": {name: {"type": "integer"}}}]

    problems = refused(xrm, entity(xrm={"relationships": tags}, **{name: STRING}))

    assert [p for p, _ in problems] == [
        f"/properties/{name}",
        f"/x-xrm/relationships/0/attributes/{name}",
    ]


def test_entity_names_starting_with_sqlite_are_reserved(xrm: XRM) -> None:
    problems = refused(xrm, entity("sqlite_stat"))

    assert problems == [
        (
            "/x-xrm/name",
            "bad name 'sqlite_stat': names starting with 'xrm_' or 'sqlite_' are reserved",
        )
    ]


def test_an_index_may_not_take_the_database_name_of_another_entitys_table(
    xrm: XRM, database: DatabaseView
) -> None:
    xrm.metadata.define(entity("sample_tags"))
    before = database.snapshot()

    problems = refused(xrm, entity(xrm={"indexes": [{"name": "tags", "fields": ["label"]}]}))

    assert problems == [
        (
            "/x-xrm/indexes/0",
            "its database name 'sample_tags' is already taken by entity 'sample_tags'",
        )
    ]
    assert database.snapshot() == before


def test_indexes_of_two_entities_defined_together_may_not_share_a_database_name(
    xrm: XRM, database: DatabaseView
) -> None:
    first = entity("sample", xrm={"indexes": [{"name": "b_ix_z", "fields": ["z"]}]}, z=STRING)
    second = entity("sample_b", z={"type": "string", "x-xrm": {"indexed": True}})

    problems = refused(xrm, [first, second])

    assert problems == [
        ("/1/properties/z", "its database name 'sample_b_ix_z' is already taken by entity 'sample'")
    ]
    assert database.tables() == set(core_metadata.tables)


def test_an_index_may_not_take_the_name_of_its_own_primary_key(xrm: XRM) -> None:
    problems = refused(xrm, entity(xrm={"indexes": [{"name": "pkey", "fields": ["label"]}]}))

    assert problems == [
        ("/x-xrm/indexes/0", "its database name 'sample_pkey' is already taken by entity 'sample'")
    ]


def test_a_field_cannot_be_renamed_onto_a_field_that_stays(
    xrm: XRM, database: DatabaseView
) -> None:
    xrm.metadata.define(entity(first=STRING, second=STRING))
    before = database.snapshot()

    problems = refused(xrm, entity(first=STRING), renames={"sample": {"second": "first"}})

    assert problems == [("/renames/second", "'first' is already a field: remove it first")]
    assert database.snapshot() == before


def test_two_fields_cannot_be_renamed_to_one_name(xrm: XRM) -> None:
    xrm.metadata.define(entity(first=STRING, second=STRING))

    problems = refused(
        xrm, entity(both=STRING), renames={"sample": {"first": "both", "second": "both"}}
    )

    assert [m for _, m in problems] == ["several fields are renamed to 'both'"] * 2


def test_a_field_can_be_renamed_and_converted_in_one_change(xrm: XRM) -> None:
    xrm.metadata.define(entity(seats=STRING))
    car = xrm.records("sample").create({"seats": "5"})

    plan = xrm.metadata.define(
        entity(seat_count={"type": "integer"}), renames={"sample": {"seats": "seat_count"}}
    )

    assert [s.action for s in plan.steps] == ["rename_field", "convert_field"]
    assert xrm.records("sample").get(car["id"])["seat_count"] == 5


def test_a_conversion_that_would_make_unique_values_collide_is_refused_beforehand(
    xrm: XRM, database: DatabaseView
) -> None:
    unique = {"x-xrm": {"unique": True}}
    xrm.metadata.define(entity(code={"type": "string", **unique}))
    for code in ("12", "012"):
        xrm.records("sample").create({"code": code})
    before = database.snapshot()

    with pytest.raises(DuplicateRecord) as error:
        xrm.metadata.define(entity(code={"type": "integer", **unique}), confirm=True)

    assert [p.pointer for p in error.value.problems] == ["/properties/code"]
    assert database.snapshot() == before


def test_a_plan_problem_points_into_the_right_one_of_several_documents(xrm: XRM) -> None:
    xrm.metadata.define(entity())

    problems = refused(xrm, [entity("other"), entity(xrm={"ownership": "organization"})])

    assert problems == [("/1/x-xrm/ownership", "ownership cannot change once defined")]


def test_link_attributes_cannot_be_unique_or_indexed(xrm: XRM) -> None:
    weight = {"type": "integer", "x-xrm": {"unique": True, "indexed": True}}
    tags = [{"name": "tags", "target": "sample", "attributes": {"weight": weight}}]

    problems = refused(xrm, entity(xrm={"relationships": tags}))

    assert problems == [
        (
            "/x-xrm/relationships/0/attributes/weight/x-xrm/indexed",
            "link attributes cannot be indexed",
        ),
        (
            "/x-xrm/relationships/0/attributes/weight/x-xrm/unique",
            "link attributes cannot be unique",
        ),
    ]


@pytest.mark.parametrize(
    ("field", "where", "says"),
    [
        (
            {"type": "string", "pattern": "^(?=A)[A-Z]+$"},
            "/properties/f",
            "its rules cannot be applied: look-around, including look-ahead and look-behind, "
            "is not supported",
        ),
        (
            {"type": "string", "pattern": "(a)\\1"},
            "/properties/f",
            "its rules cannot be applied: backreferences are not supported",
        ),
        (
            {"type": "integer", "maximum": 9.5},
            "/properties/f",
            "its rules cannot be applied: ValueError: 'le' must be coercible to an integer",
        ),
        (
            {"type": "integer", "default": 10**20},
            "/properties/f/default",
            "default is not valid: Input should be less than or equal to 9223372036854775807",
        ),
        (
            {"x-xrm": {"kind": "money"}, "default": 1.234},
            "/properties/f/default",
            "default is not valid: Decimal input should have no more than 2 decimal places",
        ),
        (
            {"type": "string", "maxLength": 10**30},
            "/properties/f/maxLength",
            "1000000000000000000000000000000 is greater than the maximum of 1073741823",
        ),
    ],
)
def test_rules_that_records_could_never_be_checked_against_are_refused(
    xrm: XRM, field: dict[str, Any], where: str, says: str
) -> None:
    assert refused(xrm, entity(f=field)) == [(where, says)]


def test_a_renamed_field_made_unique_is_measured_for_duplicates_first(
    xrm: XRM, database: DatabaseView
) -> None:
    xrm.metadata.define(entity(code=STRING))
    for _ in range(2):
        xrm.records("sample").create({"code": "12"})
    before = database.snapshot()

    with pytest.raises(DuplicateRecord) as error:
        xrm.metadata.define(
            entity(reference={"type": "string", "x-xrm": {"unique": True}}),
            renames={"sample": {"code": "reference"}},
        )

    assert [p.pointer for p in error.value.problems] == ["/properties/reference"]
    assert database.snapshot() == before


def test_converting_a_unique_field_keeps_what_converts_even_if_the_rest_looked_alike(
    xrm: XRM,
) -> None:
    # SQLite's table copy used to cast "12" and "012" alike (to 12) under the unique index.
    xrm.metadata.define(entity(code={"type": "string", "x-xrm": {"unique": True}}))
    for code in ("12", "012", "2024-01-05"):
        xrm.records("sample").create({"code": code})

    xrm.metadata.define(entity(code={"format": "date", "x-xrm": {"unique": True}}), confirm=True)

    codes = [str(r["code"]) for r in xrm.records("sample").query()]
    assert sorted(codes) == ["2024-01-05", "None", "None"]
