"""Words for people (descriptions, labels): a change of them is a safe step, stored, no DDL."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from xrm_core import XRM, Safety


def car() -> dict[str, Any]:
    return {
        "x-xrm": {
            "name": "car",
            "relationships": [
                {
                    "name": "drivers",
                    "target": "car",
                    "attributes": {"since": {"type": "string", "description": "when"}},
                }
            ],
        },
        "description": "Cars of the fleet",
        "properties": {"make": {"type": "string", "description": "Who built it"}},
    }


def edit(path: str, value: str) -> Callable[[dict[str, Any]], None]:
    """Set the key at ``path`` (``/``-separated; digits index lists) of a document,
    making the objects on the way that are missing."""
    *parents, last = path.strip("/").split("/")

    def change(doc: dict[str, Any]) -> None:
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        node[last] = value

    return change


@pytest.mark.parametrize(
    ("path", "step"),
    [
        ("/properties/make/description", "change field car.make: description"),
        ("/properties/make/title", "change field car.make: label"),
        ("/properties/make/x-xrm/label", "change field car.make: label"),
        ("/description", "change 'car': description"),
        ("/x-xrm/description", "change 'car': x-xrm.description"),
        ("/x-xrm/plural", "change 'car': plural"),
        ("/x-xrm/relationships/0/label", "change label of relationship car.drivers"),
        (
            "/x-xrm/relationships/0/attributes/since/description",
            "change attribute car.drivers.since: description",
        ),
    ],
)
def test_a_change_of_words_is_a_safe_step_that_is_stored_and_audited(
    xrm: XRM, ddl: list[str], path: str, step: str
) -> None:
    xrm.metadata.define(car())
    edited = car()
    edit(path, "Edited in the designer")(edited)
    ddl.clear()

    plan = xrm.metadata.define(edited)

    assert str(plan) == f"[safe] {step}"
    assert ddl == []
    assert xrm.metadata.entity_version("car") == 2
    assert xrm.metadata.plan(edited).is_empty
    stored = copy.deepcopy(dict(xrm.metadata.get("car").schema))
    edit(path, "Edited in the designer")(stored)  # the stored document already says so
    assert stored == xrm.metadata.get("car").schema
    latest, first = xrm.audit_log.for_definition("car")
    assert (latest.operation, first.operation) == ("define", "define")
    assert latest.changes["definition"]["new"] == stored


def test_anything_else_the_document_now_says_is_stored_too(xrm: XRM, ddl: list[str]) -> None:
    xrm.metadata.define(car())
    spelled_out = car()
    spelled_out["x-xrm"]["audit"] = True  # the default, written out: nothing else changes
    ddl.clear()

    plan = xrm.metadata.define(spelled_out)

    assert [(s.action, s.safety) for s in plan.steps] == [("change_entity", Safety.SAFE)]
    assert ddl == []
    assert xrm.metadata.get("car").schema["x-xrm"]["audit"] is True
    assert xrm.metadata.plan(spelled_out).is_empty
