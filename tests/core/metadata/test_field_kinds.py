"""Every field kind becomes a real, typed column that stores and returns its values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from xrm_core import XRM
from xrm_core.metadata.definition import SYSTEM_COLUMNS, Kind

if TYPE_CHECKING:
    from tests.core.metadata.conftest import DatabaseView

TAG = {"x-xrm": {"name": "tag"}, "properties": {"label": {"type": "string"}}}

# One field per kind, declared with x-xrm.kind, and a value to write for it.
EXPLICIT: dict[str, tuple[dict[str, Any], Any]] = {
    "string": ({"x-xrm": {"kind": "string"}}, "Ada Lovelace"),
    "text": ({"x-xrm": {"kind": "text"}}, "a long note\nover two lines " * 40),
    "integer": ({"x-xrm": {"kind": "integer"}}, 2**53 + 1),
    "decimal": ({"x-xrm": {"kind": "decimal"}}, Decimal("1234.567891")),
    "money": ({"x-xrm": {"kind": "money"}}, Decimal("19.99")),
    "boolean": ({"x-xrm": {"kind": "boolean"}}, True),
    "date": ({"x-xrm": {"kind": "date"}}, dt.date(2024, 2, 29)),
    "datetime": ({"x-xrm": {"kind": "datetime"}}, dt.datetime(2024, 3, 4, 5, 6, 7, 123456, dt.UTC)),
    "email": ({"x-xrm": {"kind": "email"}}, "ada@example.org"),
    "phone": ({"x-xrm": {"kind": "phone"}}, "+44 20 7946 0000"),
    "url": ({"x-xrm": {"kind": "url"}}, "https://example.org/path?q=1"),
    "choice": ({"x-xrm": {"kind": "choice"}, "enum": ["red", "green"]}, "green"),
    "multi_choice": (
        {"x-xrm": {"kind": "multi_choice"}, "items": {"enum": ["a", "b", "c"]}},
        ["c", "a"],
    ),
    "json": ({"x-xrm": {"kind": "json"}}, {"nested": [1, 2.5, None, {"ok": True}], "s": "é"}),
}


def test_every_kind_is_covered_by_this_suite() -> None:
    covered = {*EXPLICIT, "lookup", "polymorphic_lookup"}
    assert covered == {k.value for k in Kind}


@pytest.mark.parametrize("kind", sorted(EXPLICIT))
def test_a_field_of_each_kind_stores_and_returns_its_value(xrm: XRM, kind: str) -> None:
    prop, value = EXPLICIT[kind]
    xrm.metadata.define({"x-xrm": {"name": "sample"}, "properties": {"value": prop}})
    records = xrm.records("sample")

    created = records.create({"value": value})

    assert records.get(created["id"])["value"] == value
    assert xrm.metadata.get("sample").field("value").kind == Kind(kind)


def test_a_lookup_stores_the_id_of_a_record_of_its_target(xrm: XRM, database: DatabaseView) -> None:
    xrm.metadata.define(
        [
            TAG,
            {
                "x-xrm": {"name": "note"},
                "properties": {"tag": {"x-xrm": {"kind": "lookup", "target": "tag"}}},
            },
        ]
    )
    tag = xrm.records("tag").create({"label": "hot"})

    note = xrm.records("note").create({"tag": str(tag["id"])})

    assert xrm.records("note").get(note["id"])["tag"] == tag["id"]
    assert database.foreign_keys("note") == {("tag", "tag", "id")}


def test_a_polymorphic_lookup_stores_the_entity_and_id_it_points_at(
    xrm: XRM, database: DatabaseView
) -> None:
    xrm.metadata.define(
        [
            TAG,
            {"x-xrm": {"name": "topic"}, "properties": {"title": {"type": "string"}}},
            {
                "x-xrm": {"name": "note"},
                "properties": {
                    "regarding": {
                        "x-xrm": {"kind": "polymorphic_lookup", "targets": ["tag", "topic"]}
                    }
                },
            },
        ]
    )
    topic = xrm.records("topic").create({"title": "Parking"})

    note = xrm.records("note").create({"regarding": {"entity": "topic", "id": str(topic["id"])}})

    assert xrm.records("note").get(note["id"])["regarding"] == {
        "entity": "topic",
        "id": topic["id"],
    }
    assert {"regarding_entity", "regarding_id"} <= set(database.columns("note"))


def test_a_datetime_with_an_offset_reads_back_as_the_same_instant_in_utc(xrm: XRM) -> None:
    xrm.metadata.define({"x-xrm": {"name": "event"}, "properties": {"at": {"format": "date-time"}}})
    paris = dt.timezone(dt.timedelta(hours=2))

    created = xrm.records("event").create({"at": "2024-06-01T10:00:00+02:00"})

    stored = xrm.records("event").get(created["id"])["at"]
    assert stored == dt.datetime(2024, 6, 1, 10, tzinfo=paris)
    assert stored.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("prop", "kind"),
    [
        ({"type": "string"}, Kind.STRING),
        ({"type": "integer"}, Kind.INTEGER),
        ({"type": "number"}, Kind.DECIMAL),
        ({"type": "boolean"}, Kind.BOOLEAN),
        ({"type": "object"}, Kind.JSON),
        ({"type": "string", "format": "date"}, Kind.DATE),
        ({"type": "string", "format": "date-time"}, Kind.DATETIME),
        ({"type": "string", "format": "email"}, Kind.EMAIL),
        ({"type": "string", "format": "uri"}, Kind.URL),
        ({"enum": ["low", "high"]}, Kind.CHOICE),
        ({"type": "array", "items": {"enum": ["x", "y"]}}, Kind.MULTI_CHOICE),
    ],
    ids=lambda v: v.value if isinstance(v, Kind) else "",
)
def test_the_kind_is_inferred_from_plain_json_schema(
    sqlite_url: str, prop: dict[str, Any], kind: Kind
) -> None:
    xrm = XRM.from_url(sqlite_url).as_system("tests")
    try:
        xrm.metadata.define({"x-xrm": {"name": "sample"}, "properties": {"value": prop}})

        stored = xrm.metadata.get("sample")
        assert stored.field("value").kind is kind
        assert stored.schema["properties"]["value"]["x-xrm"]["kind"] == kind.value
    finally:
        xrm.close()


def test_the_stored_definition_is_normalized(xrm: XRM) -> None:
    xrm.metadata.define(
        {
            "x-xrm": {"name": "parking_violation", "alternate_keys": [{"fields": ["plate"]}]},
            "properties": {
                "plate": {"type": "string"},
                "fine": {"x-xrm": {"kind": "money"}},
                "status": {"enum": ["open", "paid"]},
                "issued": {"format": "date"},
            },
        }
    )

    doc = xrm.metadata.get("parking_violation").schema

    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["type"] == "object"
    assert doc["additionalProperties"] is False
    assert doc["title"] == "Parking violation"
    assert doc["x-xrm"]["ownership"] == "user"
    assert doc["x-xrm"]["alternate_keys"] == [{"name": "ak_plate", "fields": ["plate"]}]
    props = doc["properties"]
    assert props["plate"] == {"type": "string", "title": "Plate", "x-xrm": {"kind": "string"}}
    assert props["fine"]["type"] == "number"
    assert props["fine"]["x-xrm"] == {"kind": "money", "precision": 19, "scale": 2}
    assert props["status"] == {
        "enum": ["open", "paid"],
        "type": "string",
        "title": "Status",
        "x-xrm": {"kind": "choice"},
    }
    assert props["issued"]["type"] == "string"
    assert props["issued"]["x-xrm"]["kind"] == "date"


def test_one_dict_used_for_two_properties_gives_each_its_own_title(xrm: XRM) -> None:
    measure = {"type": "number"}
    xrm.metadata.define(
        {"x-xrm": {"name": "box"}, "properties": {"weight": measure, "height": measure}}
    )

    box = xrm.metadata.get("box")
    assert [(f.name, f.label) for f in box.fields] == [("weight", "Weight"), ("height", "Height")]
    assert box.schema["properties"]["height"]["title"] == "Height"
    assert measure == {"type": "number"}  # the caller's dict is left as it was


def test_a_default_index_name_over_long_fields_stays_a_valid_name(xrm: XRM) -> None:
    long_a, long_b = "a" * 30, "b" * 30
    schema = {
        "x-xrm": {"name": "sample", "alternate_keys": [{"fields": [long_a, long_b]}]},
        "properties": {long_a: {"type": "string"}, long_b: {"type": "string"}},
    }
    xrm.metadata.define(schema)

    (key,) = xrm.metadata.get("sample").alternate_keys
    assert len(key.name) <= 40
    assert key.name.startswith("ak_aaa")
    assert xrm.metadata.plan(dict(xrm.metadata.get("sample").schema)).is_empty


def test_defining_the_normalized_document_again_changes_nothing(xrm: XRM) -> None:
    xrm.metadata.define(
        {"x-xrm": {"name": "sample"}, "properties": {"n": {"type": "number"}, "e": {"enum": ["a"]}}}
    )
    normalized = dict(xrm.metadata.get("sample").schema)

    assert xrm.metadata.plan(normalized).is_empty
    assert xrm.metadata.define(normalized).is_empty


# The SQL type each system column has, as the database reports it.
SYSTEM_TYPES = {
    "sqlite": {
        "id": "CHAR(32)",
        "created_at": "DATETIME",
        "created_by": "CHAR(32)",
        "updated_at": "DATETIME",
        "updated_by": "CHAR(32)",
        "owner_id": "CHAR(32)",
        "owner_type": "VARCHAR(16)",
        "business_unit_id": "CHAR(32)",
        "version": "INTEGER",
    },
    "postgresql": {
        "id": "UUID",
        "created_at": "TIMESTAMP WITH TIME ZONE",
        "created_by": "UUID",
        "updated_at": "TIMESTAMP WITH TIME ZONE",
        "updated_by": "UUID",
        "owner_id": "UUID",
        "owner_type": "VARCHAR(16)",
        "business_unit_id": "UUID",
        "version": "INTEGER",
    },
}


def test_every_table_has_the_system_columns_with_their_types(
    xrm: XRM, database: DatabaseView
) -> None:
    xrm.metadata.define({"x-xrm": {"name": "sample"}, "properties": {"n": {"type": "integer"}}})
    dialect = xrm.db.engine.dialect

    columns = database.columns("sample")

    assert list(columns) == [*SYSTEM_COLUMNS, "n"]
    types = {name: columns[name].compile(dialect) for name in SYSTEM_COLUMNS}
    assert types == SYSTEM_TYPES[xrm.db.dialect]
    required = {n for n, nullable in database.nullable("sample").items() if not nullable}
    assert required == {"id", "created_at", "updated_at", "version"}


def test_a_new_record_gets_its_system_values(xrm: XRM) -> None:
    xrm.metadata.define({"x-xrm": {"name": "sample"}, "properties": {"n": {"type": "integer"}}})
    before = dt.datetime.now(dt.UTC)

    first = xrm.records("sample").create({"n": 1})
    second = xrm.records("sample").create({"n": 2})

    assert first["id"].version == 7
    assert first["id"] < second["id"]  # time-ordered
    assert first["version"] == 1
    assert before <= first["created_at"] == first["updated_at"] <= second["created_at"]


@pytest.mark.parametrize(
    ("kind", "sql"),
    [
        ("string", {"sqlite": "VARCHAR", "postgresql": "VARCHAR"}),
        ("text", {"sqlite": "TEXT", "postgresql": "TEXT"}),
        ("integer", {"sqlite": "BIGINT", "postgresql": "BIGINT"}),
        ("decimal", {"sqlite": "NUMERIC(24, 6)", "postgresql": "NUMERIC(24, 6)"}),
        ("money", {"sqlite": "NUMERIC(19, 2)", "postgresql": "NUMERIC(19, 2)"}),
        ("boolean", {"sqlite": "BOOLEAN", "postgresql": "BOOLEAN"}),
        ("date", {"sqlite": "DATE", "postgresql": "DATE"}),
        ("datetime", {"sqlite": "DATETIME", "postgresql": "TIMESTAMP WITH TIME ZONE"}),
        ("json", {"sqlite": "JSON", "postgresql": "JSONB"}),
    ],
)
def test_each_kind_gets_a_typed_column(
    xrm: XRM, database: DatabaseView, kind: str, sql: dict[str, str]
) -> None:
    xrm.metadata.define(
        {"x-xrm": {"name": "sample"}, "properties": {"v": {"x-xrm": {"kind": kind}}}}
    )

    column = database.columns("sample")["v"]

    assert column.compile(xrm.db.engine.dialect) == sql[xrm.db.dialect]


def test_decimal_precision_and_scale_shape_the_column(xrm: XRM, database: DatabaseView) -> None:
    xrm.metadata.define(
        {
            "x-xrm": {"name": "sample"},
            "properties": {"rate": {"x-xrm": {"kind": "decimal", "precision": 7, "scale": 4}}},
        }
    )
    created = xrm.records("sample").create({"rate": "3.1416"})

    assert database.columns("sample")["rate"].compile(xrm.db.engine.dialect) == "NUMERIC(7, 4)"
    assert xrm.records("sample").get(created["id"])["rate"] == Decimal("3.1416")
