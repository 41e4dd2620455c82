"""Changing a field's kind follows the compatibility matrix; lost values are exported."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from xrm_core import XRM, ConfirmationRequired, DefinitionError
from xrm_core.metadata.plan import Safety

if TYPE_CHECKING:
    from tests.core.metadata.conftest import DatabaseView


def reading(prop: dict[str, Any]) -> dict[str, Any]:
    """A ``reading`` entity whose ``value`` field is ``prop``."""
    return {
        "x-xrm": {"name": "reading"},
        "properties": {"label": {"type": "string"}, "value": prop},
    }


def with_values(xrm: XRM, prop: dict[str, Any], values: list[Any]) -> list[Any]:
    """Define ``reading`` with ``prop`` and store one record per value; return the ids."""
    xrm.metadata.define(reading(prop))
    records = xrm.records("reading")
    return [records.create({"label": str(i), "value": v})["id"] for i, v in enumerate(values)]


def stored(xrm: XRM, ids: list[Any]) -> list[Any]:
    records = xrm.records("reading")
    return [records.get(i)["value"] for i in ids]


def exported(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.mark.parametrize(
    ("old", "new", "before", "after"),
    [
        ({"type": "integer"}, {"type": "number"}, [1, -7, None], [Decimal(1), Decimal(-7), None]),
        ({"type": "integer"}, {"x-xrm": {"kind": "money"}}, [12], [Decimal("12.00")]),
        ({"type": "integer"}, {"type": "string"}, [1, -7, None], ["1", "-7", None]),
        ({"type": "number"}, {"type": "string"}, [Decimal("2.5")], ["2.500000"]),
        ({"enum": ["a", "b"]}, {"type": "string"}, ["a", "b"], ["a", "b"]),
        ({"type": "string"}, {"x-xrm": {"kind": "text"}}, ["long"], ["long"]),
        ({"format": "email"}, {"type": "string"}, ["a@b.org"], ["a@b.org"]),
        (
            {"format": "date"},
            {"format": "date-time"},
            ["2024-01-02"],
            [dt.datetime(2024, 1, 2, tzinfo=dt.UTC)],
        ),
        ({"enum": ["a", "b"]}, {"type": "array", "items": {"enum": ["a", "b"]}}, ["a"], [["a"]]),
        ({"type": "integer"}, {"type": "object"}, [3], [3]),
    ],
    ids=[
        "integer-decimal",
        "integer-money",
        "integer-string",
        "decimal-string",
        "choice-string",
        "string-text",
        "email-string",
        "date-datetime",
        "choice-multi_choice",
        "integer-json",
    ],
)
def test_a_lossless_conversion_keeps_every_value_without_confirmation(
    xrm: XRM, old: dict[str, Any], new: dict[str, Any], before: list[Any], after: list[Any]
) -> None:
    ids = with_values(xrm, old, before)

    plan = xrm.metadata.define(reading(new))

    (step,) = [s for s in plan.steps if s.action == "convert_field"]
    assert step.safety is Safety.BREAKING
    assert step.details["values_lost"] == 0
    assert plan.exports == ()
    assert stored(xrm, ids) == after


def test_more_digits_for_a_decimal_is_safe_and_keeps_every_value(xrm: XRM) -> None:
    ids = with_values(
        xrm, {"x-xrm": {"kind": "decimal", "precision": 10, "scale": 2}}, [Decimal("12.34")]
    )

    plan = xrm.metadata.define(reading({"x-xrm": {"kind": "decimal", "precision": 12, "scale": 4}}))

    assert str(plan) == "[safe] convert field reading.value from decimal(10,2) to decimal(12,4)"
    assert stored(xrm, ids) == [Decimal("12.34")]


def test_string_to_integer_where_every_value_parses_converts_them(xrm: XRM) -> None:
    ids = with_values(xrm, {"type": "string"}, ["5", " 12 ", "-3", None])

    plan = xrm.metadata.define(reading({"type": "integer"}))

    assert str(plan) == "[breaking] convert field reading.value from string to integer"
    assert stored(xrm, ids) == [5, 12, -3, None]


def test_string_to_integer_where_some_values_do_not_parse_is_destructive(
    xrm: XRM, database: DatabaseView
) -> None:
    with_values(xrm, {"type": "string"}, ["5", "five", "2.5", None])
    rows = database.rows("reading")

    plan = xrm.metadata.plan(reading({"type": "integer"}))
    with pytest.raises(ConfirmationRequired) as error:
        xrm.metadata.define(reading({"type": "integer"}))

    assert str(plan) == (
        "[destructive] convert field reading.value from string to integer"
        " (values that cannot be converted are dropped)"
    )
    (step,) = plan.steps
    assert step.details["values_lost"] == 2
    assert [p.pointer for p in error.value.problems] == ["/reading/value"]
    assert xrm.metadata.get("reading").field("value").kind == "string"
    assert database.rows("reading") == rows


def test_a_confirmed_lossy_conversion_exports_the_lost_values_and_converts_the_rest(
    xrm: XRM, tmp_path: Path
) -> None:
    ids = with_values(xrm, {"type": "string"}, ["5", "five", "2.5", None])

    plan = xrm.metadata.define(reading({"type": "integer"}), confirm=True)

    assert stored(xrm, ids) == [5, None, None, None]
    (export,) = plan.exports
    assert Path(export).parent == tmp_path / "exports"
    assert sorted(exported(export), key=lambda r: r["value"]) == [
        {"id": str(ids[2]), "value": "2.5"},
        {"id": str(ids[1]), "value": "five"},
    ]
    assert xrm.records("reading").create({"value": 7})["value"] == 7


def test_datetime_to_date_drops_the_values_that_have_a_time_of_day(xrm: XRM) -> None:
    midnight = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    afternoon = dt.datetime(2024, 5, 2, 15, 30, tzinfo=dt.UTC)
    ids = with_values(xrm, {"format": "date-time"}, [midnight, afternoon])

    plan = xrm.metadata.plan(reading({"format": "date"}))
    assert plan.safety is Safety.DESTRUCTIVE
    applied = xrm.metadata.define(reading({"format": "date"}), confirm=True)

    assert stored(xrm, ids) == [dt.date(2024, 5, 1), None]
    (row,) = exported(applied.exports[0])
    assert row["id"] == str(ids[1])
    assert dt.datetime.fromisoformat(row["value"]) == afternoon


@pytest.mark.parametrize(
    ("old", "new", "before", "after"),
    [
        ({"type": "number"}, {"type": "integer"}, [Decimal(3), Decimal("2.5")], [3, None]),
        ({"type": "string"}, {"enum": ["a", "b"]}, ["a", "z"], ["a", None]),
        ({"type": "string"}, {"type": "boolean"}, ["true", "maybe"], [True, None]),
        (
            {"type": "array", "items": {"enum": ["a", "b"]}},
            {"enum": ["a", "b"]},
            [["a"], ["a", "b"]],
            ["a", None],
        ),
        (
            {"x-xrm": {"kind": "decimal", "precision": 12, "scale": 4}},
            {"x-xrm": {"kind": "decimal", "precision": 12, "scale": 2}},
            [Decimal("1.25"), Decimal("1.2345")],
            [Decimal("1.25"), None],
        ),
    ],
    ids=["decimal-integer", "string-choice", "string-boolean", "multi-choice", "narrower-scale"],
)
def test_a_lossy_conversion_keeps_what_converts_and_loses_the_rest(
    xrm: XRM, old: dict[str, Any], new: dict[str, Any], before: list[Any], after: list[Any]
) -> None:
    ids = with_values(xrm, old, before)

    plan = xrm.metadata.define(reading(new), confirm=True)

    assert plan.safety is Safety.DESTRUCTIVE
    assert stored(xrm, ids) == after
    assert [r["id"] for r in exported(plan.exports[0])] == [str(ids[1])]


def test_a_conversion_on_an_empty_table_loses_nothing(xrm: XRM) -> None:
    with_values(xrm, {"type": "string"}, [])

    plan = xrm.metadata.define(reading({"type": "integer"}))

    assert plan.safety is Safety.BREAKING
    assert plan.exports == ()


def test_a_converted_column_has_the_new_type(xrm: XRM, database: DatabaseView) -> None:
    with_values(xrm, {"type": "string"}, ["1"])

    xrm.metadata.define(reading({"type": "integer"}))

    column = database.columns("reading")["value"]
    assert column.compile(xrm.db.engine.dialect) == "BIGINT"


TARGET = {"x-xrm": {"name": "target"}, "properties": {"label": {"type": "string"}}}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"x-xrm": {"kind": "lookup", "target": "target"}}, {"type": "string"}),
        ({"type": "string"}, {"x-xrm": {"kind": "lookup", "target": "target"}}),
        (
            {"x-xrm": {"kind": "lookup", "target": "target"}},
            {"x-xrm": {"kind": "polymorphic_lookup", "targets": ["target"]}},
        ),
        (
            {"x-xrm": {"kind": "lookup", "target": "target"}},
            {"x-xrm": {"kind": "lookup", "target": "reading"}},
        ),
        (
            {"x-xrm": {"kind": "polymorphic_lookup", "targets": ["target", "reading"]}},
            {"x-xrm": {"kind": "polymorphic_lookup", "targets": ["target"]}},
        ),
        (
            {"x-xrm": {"kind": "polymorphic_lookup", "targets": "*"}},
            {"x-xrm": {"kind": "polymorphic_lookup", "targets": ["target"]}},
        ),
    ],
    ids=[
        "lookup-string",
        "string-lookup",
        "lookup-polymorphic",
        "retarget",
        "fewer-targets",
        "any-to-listed",
    ],
)
def test_lookups_cannot_change_kind_or_target(
    xrm: XRM, database: DatabaseView, old: dict[str, Any], new: dict[str, Any]
) -> None:
    xrm.metadata.define([TARGET, reading(old)])
    definition = xrm.metadata.get("reading")
    columns = database.columns("reading")

    with pytest.raises(DefinitionError) as error:
        xrm.metadata.define(reading(new), confirm=True)

    assert error.value.problems[0].pointer.startswith("/properties/value")
    assert xrm.metadata.get("reading") == definition
    assert list(database.columns("reading")) == list(columns)


def test_fields_of_the_same_name_in_two_entities_convert_separately(xrm: XRM) -> None:
    def other(prop: dict[str, Any]) -> dict[str, Any]:
        return {**reading(prop), "x-xrm": {"name": "other"}}

    ids = with_values(xrm, {"type": "string"}, ["1", "2"])
    xrm.metadata.define(other({"type": "string"}))
    other_id = xrm.records("other").create({"value": "30"})["id"]

    xrm.metadata.define([reading({"type": "integer"}), other({"type": "integer"})])

    assert stored(xrm, ids) == [1, 2]
    assert xrm.records("other").get(other_id)["value"] == 30
