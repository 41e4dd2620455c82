"""``x-xrm.title_field``: the fields naming a record, checked, planned, kept through renames."""

from __future__ import annotations

from typing import Any

import pytest

from xrm_core import XRM, DefinitionError, Safety


def car(title: Any = None, **properties: Any) -> dict[str, Any]:
    """A car entity with ``title`` as its title field (left out when None)."""
    props = {
        "make": {"type": "string"},
        "model": {"type": "string"},
        "seats": {"type": "integer"},
        **properties,
    }
    xrm: dict[str, Any] = {"name": "car"}
    if title is not None:
        xrm["title_field"] = title
    return {"x-xrm": xrm, "properties": {k: v for k, v in props.items() if v is not None}}


def test_a_title_field_is_one_text_field_or_several(xrm: XRM) -> None:
    xrm.metadata.define(car(["make", "model"]))
    assert xrm.metadata.get("car").title_fields == ("make", "model")
    assert xrm.metadata.get("car").schema["x-xrm"]["title_field"] == ["make", "model"]


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("seats", "title field 'seats' is of kind 'integer'; a title is made of text fields"),
        ("colour", "title field 'colour' is not a field of this entity"),
        ([], "must not be empty"),
        (["make", "make"], "has non-unique elements"),
        (7, "is not of type 'string', 'array'"),
    ],
)
def test_a_title_field_that_names_no_text_field_is_refused(
    xrm: XRM, title: Any, message: str
) -> None:
    with pytest.raises(DefinitionError) as raised:
        xrm.metadata.define(car(title))
    (problem,) = raised.value.problems
    assert problem.pointer == "/x-xrm/title_field"
    assert message in problem.message
    assert not xrm.metadata.exists("car")


def test_changing_the_title_field_is_a_safe_step_without_ddl(xrm: XRM, ddl: list[str]) -> None:
    xrm.metadata.define(car())
    ddl.clear()

    plan = xrm.metadata.define(car("model"))

    assert [(s.action, s.safety) for s in plan.steps] == [("change_entity", Safety.SAFE)]
    assert str(plan) == "[safe] name 'car' records by: model"
    assert ddl == []
    assert xrm.metadata.get("car").title_fields == ("model",)
    assert xrm.metadata.entity_version("car") == 2
    assert xrm.metadata.plan(car("model")).is_empty
    xrm.metadata.define(car("model", colour={"type": "string"}))
    assert ddl  # (a new field does reach the database)


def test_a_renamed_title_field_stays_the_title(xrm: XRM) -> None:
    xrm.metadata.define(car(["make", "model"]))
    # The document still says "make": the rename carries the title along.
    renamed = car(["make", "model"], make=None, brand={"type": "string"})

    plan = xrm.metadata.define(renamed, renames={"car": {"make": "brand"}})

    assert [s.action for s in plan.steps] == ["rename_field"]
    assert xrm.metadata.get("car").title_fields == ("brand", "model")


def test_removing_the_title_field_needs_another_title(xrm: XRM) -> None:
    xrm.metadata.define(car("make"))

    with pytest.raises(DefinitionError) as raised:
        xrm.metadata.define(car("make", make=None), confirm=True)

    (problem,) = raised.value.problems
    assert problem.pointer == "/x-xrm/title_field"
    assert "change title_field too" in problem.message
    assert xrm.metadata.get("car").has_field("make")
    plan = xrm.metadata.define(car("model", make=None), confirm=True)
    assert {s.action for s in plan.steps} == {"remove_field", "change_entity"}
