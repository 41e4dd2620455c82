"""Bad definitions are refused with every problem listed, located, in plain words."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from xrm_core import XRM, DefinitionError
from xrm_core.errors import Problem
from xrm_core.metadata.validation import check

if TYPE_CHECKING:
    from tests.core.metadata.conftest import DatabaseView


def entity(name: str = "sample", xrm: dict[str, Any] | None = None, **props: Any) -> dict[str, Any]:
    """A definition with the given fields (a string field when none is given)."""
    return {
        "x-xrm": {"name": name, **(xrm or {})},
        "properties": props or {"label": {"type": "string"}},
    }


def problems(doc: Any, known: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    return [(p.pointer, p.message) for p in check(doc, known)]


def test_a_good_definition_has_no_problems() -> None:
    doc = entity(parent={"x-xrm": {"kind": "lookup", "target": "sample"}})

    assert check(doc, ()) == []


@pytest.mark.parametrize(
    ("doc", "where", "says"),
    [
        (
            entity(f={"x-xrm": {"kind": "licence"}}),
            "/properties/f/x-xrm/kind",
            "unknown kind 'licence'; the kinds are: string, text, integer",
        ),
        (entity("ParkingViolation"), "/x-xrm/name", "bad name 'ParkingViolation': use lower"),
        (entity("1st_entity"), "/x-xrm/name", "bad name '1st_entity': use lower snake_case"),
        (entity("a" * 41), "/x-xrm/name", f"name '{'a' * 41}' is too long (at most 40)"),
        (entity("xrm_user"), "/x-xrm/name", "bad name 'xrm_user': names starting with 'xrm_'"),
        (entity("contact__tags"), "/x-xrm/name", "'__' is reserved for many-to-many link tables"),
        (
            entity(firstName={"type": "string"}),
            "/properties/firstName",
            "bad name 'firstName': use lower snake_case",
        ),
        (entity(**{"2nd": {"type": "string"}}), "/properties/2nd", "bad name '2nd'"),
        (
            entity(**{"f" * 41: {"type": "string"}}),
            f"/properties/{'f' * 41}",
            "is too long (at most 40)",
        ),
        (
            entity(version={"type": "integer"}),
            "/properties/version",
            "field 'version' clashes with the system column of that name",
        ),
        (
            entity(created_at={"format": "date-time"}),
            "/properties/created_at",
            "clashes with the system column",
        ),
        (
            entity(owner={"x-xrm": {"kind": "lookup", "target": "driver"}}),
            "/properties/owner/x-xrm/target",
            "lookup to unknown entity 'driver'",
        ),
        (
            entity(owner={"x-xrm": {"kind": "lookup"}}),
            "/properties/owner/x-xrm",
            "a lookup needs x-xrm.target: the entity it points at",
        ),
        (
            entity(about={"x-xrm": {"kind": "polymorphic_lookup"}}),
            "/properties/about/x-xrm",
            "a polymorphic lookup needs x-xrm.targets",
        ),
        (
            entity(about={"x-xrm": {"kind": "polymorphic_lookup", "targets": []}}),
            "/properties/about/x-xrm/targets",
            "must not be empty",
        ),
        (
            entity(status={"x-xrm": {"kind": "choice"}}),
            "/properties/status/enum",
            "a choice field needs enum: its list of values",
        ),
        (
            entity(tags={"x-xrm": {"kind": "multi_choice"}}),
            "/properties/tags/items",
            "a multi_choice field needs items.enum",
        ),
        (
            entity(xrm={"indexes": [{"fields": ["colour"]}]}),
            "/x-xrm/indexes/0/fields/0",
            "index on unknown field 'colour'",
        ),
        (
            entity(xrm={"alternate_keys": [{"fields": ["label", "colour"]}]}),
            "/x-xrm/alternate_keys/0/fields/1",
            "index on unknown field 'colour'",
        ),
        (
            entity(
                xrm={
                    "alternate_keys": [{"name": "by_label", "fields": ["label"]}],
                    "indexes": [{"name": "by_label", "fields": ["label"]}],
                }
            ),
            "/x-xrm/indexes/0/name",
            "another index is already called 'by_label'",
        ),
        (
            entity(
                xrm={"indexes": [{"name": "uq_code", "fields": ["label"]}]},
                label={"type": "string"},
                code={"type": "string", "x-xrm": {"unique": True}},
            ),
            "/x-xrm/indexes/0/name",
            "another index is already called 'uq_code'",
        ),
        (entity(xrm={"colour": "red"}), "/x-xrm/colour", "unknown key 'colour'"),
        (
            entity(label={"type": "string", "colour": "red"}),
            "/properties/label/colour",
            "unknown key 'colour'",
        ),
        (
            entity(label={"type": "string", "x-xrm": {"kind": "string", "size": 3}}),
            "/properties/label/x-xrm/size",
            "unknown key 'size'",
        ),
        (
            entity(n={"type": "string", "x-xrm": {"kind": "integer"}}),
            "/properties/n/type",
            "type 'string' does not fit kind 'integer'",
        ),
        (
            entity(n={"type": "integer", "default": "seven"}),
            "/properties/n/default",
            "default is not valid: 'seven' is not of type 'integer'",
        ),
        (
            entity(s={"enum": ["open", "paid"], "default": "lost"}),
            "/properties/s/default",
            "default is not valid: 'lost' is not one of ['open', 'paid']",
        ),
        (
            entity(plate={"type": "string", "pattern": "[A-Z"}),
            "/properties/plate/pattern",
            "pattern is not a valid regular expression: unterminated character set",
        ),
        (
            entity(n={"type": "integer", "maxLength": 3}),
            "/properties/n/maxLength",
            "maxLength applies to text kinds, not 'integer'",
        ),
        (
            entity(note={"x-xrm": {"kind": "text", "unique": True}}),
            "/properties/note/x-xrm/unique",
            "a text field cannot be unique",
        ),
        (
            {**entity(), "required": ["colour"]},
            "/required/0",
            "required field 'colour' is not defined",
        ),
        (
            entity(xrm={"relationships": [{"name": "label", "target": "sample"}]}),
            "/x-xrm/relationships/0/name",
            "relationship name 'label' is already used by a field or relationship",
        ),
        (
            entity(xrm={"relationships": [{"name": "tags", "target": "tag"}]}),
            "/x-xrm/relationships/0/target",
            "relationship to unknown entity 'tag'",
        ),
    ],
)
def test_each_fault_is_reported_where_it_is(doc: dict[str, Any], where: str, says: str) -> None:
    found = problems(doc)

    assert [p for p, _ in found] == [where], found
    assert says in found[0][1]


def test_an_index_declared_like_a_fields_own_index_is_no_clash() -> None:
    doc = entity(
        xrm={"indexes": [{"fields": ["status"]}]},
        status={"type": "string", "x-xrm": {"indexed": True}},
    )

    assert problems(doc) == []


def test_a_relationship_name_used_twice_is_reported_on_the_second() -> None:
    doc = entity(
        xrm={
            "relationships": [
                {"name": "tags", "target": "sample"},
                {"name": "tags", "target": "sample"},
            ]
        }
    )

    assert problems(doc) == [
        (
            "/x-xrm/relationships/1/name",
            "relationship name 'tags' is already used by a field or relationship",
        )
    ]


def test_a_link_table_name_longer_than_postgresql_allows_is_refused() -> None:
    name = "a" * 40
    doc = entity(name, xrm={"relationships": [{"name": "b" * 22, "target": name}]})
    fits = entity(name, xrm={"relationships": [{"name": "b" * 21, "target": name}]})

    assert [p for p, _ in problems(doc)] == ["/x-xrm/relationships/0/name"]
    assert problems(fits) == []


def test_three_different_faults_are_all_reported() -> None:
    doc = {
        "x-xrm": {"name": "Parking"},
        "properties": {
            "version": {"type": "integer"},
            "plate": {"x-xrm": {"kind": "licence"}},
            "owner": {"x-xrm": {"kind": "lookup", "target": "driver"}},
        },
    }

    assert [p for p, _ in problems(doc)] == [
        "/properties/owner/x-xrm/target",
        "/properties/plate/x-xrm/kind",
        "/properties/version",
        "/x-xrm/name",
    ]


def test_several_unknown_keys_in_one_object_are_each_reported() -> None:
    doc = {**entity(), "colour": "red", "size": 3}

    assert problems(doc) == [("/colour", "unknown key 'colour'"), ("/size", "unknown key 'size'")]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ([], [("", "an entity definition must be a JSON object")]),
        ({"x-xrm": {"name": "a"}}, [("", "missing required key 'properties'")]),
        ({"x-xrm": {}, "properties": {}}, [("/x-xrm", "missing required key 'name'")]),
    ],
)
def test_a_document_that_is_not_a_definition_is_refused(
    doc: Any, expected: list[tuple[str, str]]
) -> None:
    assert problems(doc) == expected


def test_a_lookup_may_point_at_a_known_entity_or_its_own() -> None:
    doc = entity(
        "employee",
        manager={"x-xrm": {"kind": "lookup", "target": "employee"}},
        team={"x-xrm": {"kind": "lookup", "target": "team"}},
    )

    assert problems(doc, known=("team",)) == []


BROKEN = {
    "x-xrm": {"name": "violation"},
    "properties": {
        "plate": {"type": "string"},
        "version": {"type": "integer"},
        "driver": {"x-xrm": {"kind": "lookup", "target": "driver"}},
    },
}


def test_define_refuses_a_bad_definition_and_creates_nothing(
    xrm: XRM, database: DatabaseView
) -> None:
    tables_before = database.tables()

    with pytest.raises(DefinitionError) as error:
        xrm.metadata.define(BROKEN)

    assert error.value.code == "invalid_definition"
    assert [p.pointer for p in error.value.problems] == [
        "/properties/driver/x-xrm/target",
        "/properties/version",
    ]
    assert database.tables() == tables_before
    assert database.metadata_rows("violation") == 0
    assert not xrm.metadata.exists("violation")


def test_one_bad_definition_in_a_batch_stops_the_whole_batch(
    xrm: XRM, database: DatabaseView
) -> None:
    good = entity("driver")

    with pytest.raises(DefinitionError) as error:
        xrm.metadata.define([good, BROKEN])

    # Each problem says which document of the batch it is in.
    assert [p.pointer for p in error.value.problems] == ["/1/properties/version"]
    assert "driver" not in database.tables()
    assert database.metadata_rows("driver") == 0


def test_plan_refuses_a_bad_definition_too(xrm: XRM) -> None:
    with pytest.raises(DefinitionError) as error:
        xrm.metadata.plan(BROKEN)

    clash = "field 'version' clashes with the system column of that name"
    assert Problem("/properties/version", clash) in error.value.problems


def test_the_same_entity_twice_in_one_batch_is_refused(xrm: XRM) -> None:
    with pytest.raises(DefinitionError) as error:
        xrm.metadata.define([entity("driver"), entity("driver")])

    assert [p.message for p in error.value.problems] == ["entity 'driver' is defined twice"]


def test_the_error_reads_well_as_text_and_as_json(xrm: XRM) -> None:
    with pytest.raises(DefinitionError) as error:
        xrm.metadata.define(entity(version={"type": "integer"}))

    assert str(error.value) == (
        "the entity definition is not valid\n"
        "  /properties/version: field 'version' clashes with the system column of that name"
    )
    assert error.value.to_dict()["problems"] == [
        {
            "pointer": "/properties/version",
            "message": "field 'version' clashes with the system column of that name",
        }
    ]
