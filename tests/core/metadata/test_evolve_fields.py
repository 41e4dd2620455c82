"""Adding, renaming and removing fields: planned first, data kept or exported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from xrm_core import XRM, ConfirmationRequired, DefinitionError
from xrm_core.metadata.plan import Safety

if TYPE_CHECKING:
    from tests.core.metadata.conftest import DatabaseView


def vehicle(**props: Any) -> dict[str, Any]:
    """The vehicle entity with ``plate`` and the given fields."""
    return {
        "x-xrm": {"name": "vehicle"},
        "properties": {"plate": {"type": "string", "x-xrm": {"unique": True}}, **props},
    }


SEATS = {"type": "integer"}


@pytest.fixture
def cars(xrm: XRM) -> list[dict[str, Any]]:
    """Three vehicles, two with seats."""
    xrm.metadata.define(vehicle(seats=SEATS))
    records = xrm.records("vehicle")
    return [
        records.create({"plate": "XRM-1", "seats": 5}),
        records.create({"plate": "XRM-2", "seats": 2}),
        records.create({"plate": "XRM-3"}),
    ]


def values(xrm: XRM, field: str) -> dict[str, Any]:
    """Plate to ``field`` for every vehicle."""
    page = xrm.records("vehicle").query(order=["plate"], limit=100)
    return {r["plate"]: r.get(field) for r in page}


def test_adding_an_optional_field_is_safe_and_keeps_the_data(
    xrm: XRM, cars: list[dict[str, Any]], database: DatabaseView
) -> None:
    plan = xrm.metadata.define(vehicle(seats=SEATS, colour={"type": "string"}))

    assert [(s.action, s.field, s.safety) for s in plan.steps] == [
        ("add_field", "colour", Safety.SAFE)
    ]
    assert plan.applied
    assert values(xrm, "seats") == {"XRM-1": 5, "XRM-2": 2, "XRM-3": None}
    assert values(xrm, "colour") == {"XRM-1": None, "XRM-2": None, "XRM-3": None}
    assert "colour" in database.columns("vehicle")
    xrm.records("vehicle").update(cars[0]["id"], {"colour": "red"})
    assert values(xrm, "colour")["XRM-1"] == "red"


def test_adding_a_required_field_is_breaking(xrm: XRM, cars: list[dict[str, Any]]) -> None:
    schema = {**vehicle(seats=SEATS, vin={"type": "string"}), "required": ["vin"]}

    plan = xrm.metadata.plan(schema)

    assert [(s.action, s.safety) for s in plan.steps] == [("add_field", Safety.BREAKING)]


def test_a_default_applies_to_records_created_after_the_field_is_added(
    xrm: XRM, cars: list[dict[str, Any]]
) -> None:
    xrm.metadata.define(vehicle(seats=SEATS, wheels={"type": "integer", "default": 4}))

    new = xrm.records("vehicle").create({"plate": "XRM-4"})

    assert xrm.records("vehicle").get(new["id"])["wheels"] == 4
    assert xrm.records("vehicle").get(cars[0]["id"])["wheels"] is None


def filenode(xrm: XRM, table: str) -> int:
    with xrm.db.engine.connect() as conn:
        return int(
            conn.execute(sa.text("SELECT pg_relation_filenode(:t)"), {"t": table}).scalar_one()
        )


@pytest.mark.postgresql
@pytest.mark.parametrize(
    "field",
    [
        {"type": "string"},
        {"type": "integer", "default": 4},
        {"format": "date-time"},
        {"x-xrm": {"kind": "money"}},
        {"x-xrm": {"kind": "json"}},
        {"x-xrm": {"kind": "polymorphic_lookup", "targets": ["vehicle"]}},
        {"x-xrm": {"kind": "lookup", "target": "vehicle"}},
    ],
    ids=["string", "with_default", "datetime", "money", "json", "polymorphic", "lookup"],
)
def test_adding_a_nullable_field_never_rewrites_the_table_on_postgresql(
    postgres_xrm: XRM, field: dict[str, Any]
) -> None:
    xrm = postgres_xrm
    xrm.metadata.define(vehicle())
    xrm.records("vehicle").create_many([{"plate": f"P-{i}"} for i in range(50)])
    before = filenode(xrm, "vehicle")

    xrm.metadata.define(vehicle(added=field))

    assert filenode(xrm, "vehicle") == before
    assert xrm.records("vehicle").count() == 50


def test_a_rename_keeps_the_values(
    xrm: XRM, cars: list[dict[str, Any]], database: DatabaseView
) -> None:
    renamed = vehicle(seat_count=SEATS)

    plan = xrm.metadata.define(renamed, renames={"vehicle": {"seats": "seat_count"}})

    assert [(s.action, s.field, s.safety) for s in plan.steps] == [
        ("rename_field", "seat_count", Safety.BREAKING)
    ]
    assert values(xrm, "seat_count") == {"XRM-1": 5, "XRM-2": 2, "XRM-3": None}
    assert "seats" not in values(xrm, "seat_count")
    columns = set(database.columns("vehicle"))
    assert "seat_count" in columns
    assert "seats" not in columns


def test_a_rename_with_a_new_label_also_changes_the_label(
    xrm: XRM, cars: list[dict[str, Any]]
) -> None:
    renamed = vehicle(seat_count={**SEATS, "title": "Number of seats"})

    plan = xrm.metadata.define(renamed, renames={"vehicle": {"seats": "seat_count"}})

    assert [s.action for s in plan.steps] == ["rename_field", "change_field"]
    assert xrm.metadata.get("vehicle").field("seat_count").label == "Number of seats"


def test_a_renamed_unique_field_keeps_its_unique_index(
    xrm: XRM, cars: list[dict[str, Any]], database: DatabaseView
) -> None:
    xrm.metadata.define(
        {
            "x-xrm": {"name": "vehicle"},
            "properties": {
                "registration": {"type": "string", "x-xrm": {"unique": True}},
                "seats": SEATS,
            },
        },
        renames={"vehicle": {"plate": "registration"}},
    )

    assert ("registration",) in database.index_columns("vehicle", unique=True)
    assert [r["registration"] for r in xrm.records("vehicle").query(order=["registration"])] == [
        "XRM-1",
        "XRM-2",
        "XRM-3",
    ]


def test_a_renamed_lookup_keeps_its_values_and_foreign_key_and_frees_its_name(
    xrm: XRM, database: DatabaseView
) -> None:
    lookup = {"x-xrm": {"kind": "lookup", "target": "vehicle"}}
    xrm.metadata.define(vehicle(towed_by=lookup))
    truck = xrm.records("vehicle").create({"plate": "TRUCK"})
    car = xrm.records("vehicle").create({"plate": "CAR", "towed_by": truck["id"]})

    xrm.metadata.define(vehicle(tow=lookup), renames={"vehicle": {"towed_by": "tow"}})
    xrm.metadata.define(vehicle(tow=lookup, towed_by=lookup))

    assert xrm.records("vehicle").get(car["id"])["tow"] == truck["id"]
    assert database.foreign_keys("vehicle") == {
        ("tow", "vehicle", "id"),
        ("towed_by", "vehicle", "id"),
    }


@pytest.mark.parametrize(
    ("renames", "where"),
    [
        ({"wheels": "seat_count"}, "/renames/wheels"),
        ({"seats": "doors"}, "/renames/seats"),
    ],
)
def test_a_rename_that_does_not_fit_the_definitions_is_refused(
    xrm: XRM, cars: list[dict[str, Any]], renames: dict[str, str], where: str
) -> None:
    with pytest.raises(DefinitionError) as error:
        xrm.metadata.define(vehicle(seat_count=SEATS), renames={"vehicle": renames})

    assert [p.pointer for p in error.value.problems] == [where]
    assert xrm.metadata.get("vehicle").has_field("seats")


def test_without_a_rename_a_new_name_reads_as_remove_and_add(
    xrm: XRM, cars: list[dict[str, Any]]
) -> None:
    plan = xrm.metadata.plan(vehicle(seat_count=SEATS))

    assert sorted(s.action for s in plan.steps) == ["add_field", "remove_field"]
    assert plan.safety is Safety.DESTRUCTIVE


def test_removing_a_field_needs_confirmation_and_changes_nothing_without_it(
    xrm: XRM, cars: list[dict[str, Any]], database: DatabaseView
) -> None:
    definition = xrm.metadata.get("vehicle")

    with pytest.raises(ConfirmationRequired) as error:
        xrm.metadata.define(vehicle())

    assert error.value.code == "confirmation_required"
    assert [p.pointer for p in error.value.problems] == ["/vehicle/seats"]
    assert error.value.details["plan"]["safety"] == "destructive"
    assert xrm.metadata.get("vehicle") == definition
    assert "seats" in database.columns("vehicle")
    assert values(xrm, "seats") == {"XRM-1": 5, "XRM-2": 2, "XRM-3": None}
    assert xrm.metadata.entity_version("vehicle") == 1


def test_a_confirmed_removal_exports_the_values_first(
    xrm: XRM, cars: list[dict[str, Any]], database: DatabaseView, tmp_path: Path
) -> None:
    plan = xrm.metadata.define(vehicle(), confirm=True)

    assert "seats" not in database.columns("vehicle")
    assert not xrm.metadata.get("vehicle").has_field("seats")
    (export,) = plan.exports
    assert Path(export).parent == tmp_path / "exports"
    assert Path(export).suffix == ".jsonl"
    rows = [json.loads(line) for line in Path(export).read_text().splitlines()]
    assert sorted((r["id"], r["seats"]) for r in rows) == sorted(
        [(str(cars[0]["id"]), 5), (str(cars[1]["id"]), 2)]
    )
    assert values(xrm, "plate") == {"XRM-1": "XRM-1", "XRM-2": "XRM-2", "XRM-3": "XRM-3"}


def test_removing_a_field_nobody_filled_exports_nothing(xrm: XRM) -> None:
    xrm.metadata.define(vehicle(seats=SEATS))
    xrm.records("vehicle").create({"plate": "XRM-1"})

    plan = xrm.metadata.define(vehicle(), confirm=True)

    assert plan.exports == ()


def test_a_removed_polymorphic_lookup_exports_both_of_its_columns(
    xrm: XRM, database: DatabaseView
) -> None:
    about = {"x-xrm": {"kind": "polymorphic_lookup", "targets": ["vehicle"]}}
    xrm.metadata.define(vehicle(about=about))
    car = xrm.records("vehicle").create({"plate": "XRM-1"})
    xrm.records("vehicle").update(car["id"], {"about": {"entity": "vehicle", "id": car["id"]}})

    plan = xrm.metadata.define(vehicle(), confirm=True)

    rows = [json.loads(line) for line in Path(plan.exports[0]).read_text().splitlines()]
    assert rows == [{"id": str(car["id"]), "about_entity": "vehicle", "about_id": str(car["id"])}]
    assert not {"about_entity", "about_id"} & set(database.columns("vehicle"))


def test_plan_is_a_dry_run(xrm: XRM, cars: list[dict[str, Any]], database: DatabaseView) -> None:
    definition = xrm.metadata.get("vehicle")
    schema = dict(definition.schema)
    columns = database.columns("vehicle")
    rows = database.rows("vehicle")
    version = xrm.metadata.version

    plan = xrm.metadata.plan(vehicle(seat_count={"type": "string"}, colour={"type": "string"}))

    assert not plan.applied
    assert plan.safety is Safety.DESTRUCTIVE
    assert xrm.metadata.get("vehicle").schema == schema
    assert list(database.columns("vehicle")) == list(columns)
    assert database.rows("vehicle") == rows
    assert xrm.metadata.version == version
    assert len(xrm.metadata.history("vehicle")) == 1
    assert not (Path(xrm.metadata.export_dir)).exists()


def test_a_plan_reads_as_text_and_as_json(xrm: XRM, cars: list[dict[str, Any]]) -> None:
    plan = xrm.metadata.plan(vehicle(seats=SEATS, colour={"type": "string"}))

    assert str(plan) == "[safe] add field vehicle.colour"
    assert plan.to_dict() == {
        "safety": "safe",
        "applied": False,
        "exports": [],
        "steps": [
            {
                "action": "add_field",
                "entity": "vehicle",
                "field": "colour",
                "safety": "safe",
                "description": "add field vehicle.colour",
                "details": {},
            }
        ],
    }
