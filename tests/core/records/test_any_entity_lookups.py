"""Polymorphic lookups to any entity (``"targets": "*"``), on SQLite and PostgreSQL.

A write checks that the entity exists and that the caller may read the record;
a record delete applies the field's delete behaviour; dropping an entity is not
held back by such a lookup and clears its references to the dropped records.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from xrm_core import (
    XRM,
    BrokenReference,
    DefinitionError,
    DeleteRestricted,
    RecordValidationError,
)
from xrm_core.metadata.plan import Safety

PROJECT = {"x-xrm": {"name": "project"}, "properties": {"name": {"type": "string"}}}
TASK = {"x-xrm": {"name": "task"}, "properties": {"name": {"type": "string"}}}


def note(on_delete: str = "cascade", name: str = "note") -> dict[str, Any]:
    about = {"x-xrm": {"kind": "polymorphic_lookup", "targets": "*", "on_delete": on_delete}}
    return {"x-xrm": {"name": name}, "properties": {"text": {"type": "string"}, "about": about}}


def about(entity: str, record: dict[str, Any]) -> dict[str, Any]:
    return {"entity": entity, "id": record["id"]}


@pytest.fixture
def crm(xrm: XRM) -> XRM:
    xrm.metadata.define([PROJECT, note()])
    return xrm


def test_any_entity_lookup_points_at_records_of_entities_defined_before_and_after(
    crm: XRM,
) -> None:
    project = crm.records("project").create({"name": "Apollo"})
    crm.metadata.define(TASK)  # after the lookup; the field is not changed
    task = crm.records("task").create({"name": "Launch"})
    notes = crm.records("note")

    first = notes.create({"text": "kick-off", "about": about("project", project)})
    second = notes.create({"text": "go", "about": {"entity": "task", "id": str(task["id"])}})

    assert notes.get(first["id"])["about"] == about("project", project)
    assert notes.get(second["id"])["about"] == about("task", task)
    found = notes.query(filter={"about.entity": "task"}, fields=["text"])
    assert [n["text"] for n in found] == ["go"]
    lookup = crm.metadata.get("note").field("about")
    assert lookup.any_entity and lookup.refers_to("task") and lookup.refers_to("user")


def test_an_unknown_entity_a_bad_name_or_a_missing_record_is_refused(crm: XRM) -> None:
    notes = crm.records("note")
    project = crm.records("project").create({"name": "Apollo"})

    with pytest.raises(BrokenReference) as unknown:
        notes.create({"text": "x", "about": {"entity": "planet", "id": project["id"]}})
    with pytest.raises(RecordValidationError) as bad:
        notes.create({"text": "x", "about": {"entity": "Not a name", "id": project["id"]}})
    with pytest.raises(BrokenReference) as missing:
        notes.create({"text": "x", "about": {"entity": "project", "id": uuid.uuid4()}})

    assert [(p.pointer, p.message) for p in unknown.value.problems] == [
        ("/about/entity", "no entity called 'planet'")
    ]
    assert [p.pointer for p in bad.value.problems] == ["/about/entity"]
    assert [p.pointer for p in missing.value.problems] == ["/about/id"]
    assert notes.count() == 0


def test_a_caller_may_point_only_at_records_they_may_read(crm: XRM) -> None:
    crm.security.install()
    cells = [(e, p, "own") for e in ("note", "project") for p in ("create", "read")]
    crm.security.create_role("Own notes", cells)
    ann = crm.as_user(crm.security.create_user("ann", roles=["Own notes"]))
    bob = crm.as_user(crm.security.create_user("bob", roles=["Own notes"]))
    theirs = bob.records("project").create({"name": "Bob's"})
    mine = ann.records("project").create({"name": "Ann's"})

    ann.records("note").create({"text": "ok", "about": about("project", mine)})
    with pytest.raises(BrokenReference) as refused:
        ann.records("note").create({"text": "no", "about": about("project", theirs)})

    assert [p.pointer for p in refused.value.problems] == ["/about/id"]


@pytest.mark.parametrize(
    ("on_delete", "notes_left", "about_left"),
    [("cascade", 0, None), ("set_null", 1, None), ("restrict", 1, "project")],
)
def test_a_record_delete_applies_the_fields_delete_behaviour(
    xrm: XRM, on_delete: str, notes_left: int, about_left: str | None
) -> None:
    xrm.metadata.define([PROJECT, TASK, note(on_delete)])
    project = xrm.records("project").create({"name": "Apollo"})
    task = xrm.records("task").create({"name": "Launch"})
    kept = xrm.records("note").create({"text": "task", "about": about("task", task)})
    xrm.records("note").create({"text": "project", "about": about("project", project)})

    if on_delete == "restrict":
        with pytest.raises(DeleteRestricted):
            xrm.records("project").delete(project["id"])
    else:
        xrm.records("project").delete(project["id"])

    left = {n["text"]: n["about"] for n in xrm.records("note").query()}
    assert left.pop("task") == about("task", task)  # a record of another entity is untouched
    assert xrm.records("note").get(kept["id"])["version"] == 1
    assert len(left) == notes_left
    assert [v and v["entity"] for v in left.values()] == ([about_left] if notes_left else [])


@pytest.mark.parametrize("on_delete", ["cascade", "restrict"])
def test_dropping_an_entity_clears_the_references_to_its_records(xrm: XRM, on_delete: str) -> None:
    xrm.metadata.define([PROJECT, TASK, note(on_delete), note(on_delete, "memo")])
    task = xrm.records("task").create({"name": "Launch"})
    project = xrm.records("project").create({"name": "Apollo"})
    on_task = xrm.records("note").create({"text": "a", "about": about("task", task)})
    on_project = xrm.records("note").create({"text": "b", "about": about("project", project)})

    plan = xrm.metadata.plan_drop("task")
    applied = xrm.metadata.drop("task", confirm=True)

    clears = [s for s in plan.steps if s.action == "clear_references"]
    assert [(s.details["entity"], s.details["records"], s.safety) for s in clears] == [
        ("memo", 0, Safety.SAFE),
        ("note", 1, Safety.DESTRUCTIVE),
    ]
    assert "clear note.about where it points at a task record (1 record(s))" in str(plan)
    cleared = xrm.records("note").get(on_task["id"])
    assert (cleared["about"], cleared["version"]) == (None, 2)
    assert xrm.records("note").get(on_project["id"]) == on_project
    export = next(p for p in applied.exports if "note.about" in p)
    rows = [json.loads(line) for line in Path(export).read_text().splitlines()]
    assert rows == [
        {
            "entity": "note",
            "id": str(on_task["id"]),
            "field": "about",
            "value": {"entity": "task", "id": str(task["id"])},
        }
    ]


def test_an_entity_with_an_any_entity_lookup_can_be_dropped_itself(crm: XRM) -> None:
    project = crm.records("project").create({"name": "Apollo"})
    crm.records("note").create({"text": "a", "about": about("project", project)})

    crm.metadata.drop("note", confirm=True)
    crm.metadata.drop("project", confirm=True)

    assert not crm.metadata.exists("note") and not crm.metadata.exists("project")


def test_listed_targets_widen_to_any_entity_safely_but_never_narrow(crm: XRM) -> None:
    crm.metadata.define(TASK)
    listed = note()
    listed["properties"]["about"]["x-xrm"]["targets"] = ["project"]
    crm.metadata.define({**listed, "x-xrm": {"name": "log"}})
    project = crm.records("project").create({"name": "Apollo"})
    log = crm.records("log").create({"text": "a", "about": about("project", project)})

    plan = crm.metadata.define({**note(), "x-xrm": {"name": "log"}})

    assert [(s.action, s.safety) for s in plan.steps] == [("change_field", Safety.SAFE)]
    assert crm.records("log").get(log["id"])["about"] == about("project", project)
    task = crm.records("task").create({"name": "Launch"})
    crm.records("log").create({"text": "b", "about": about("task", task)})
    with pytest.raises(DefinitionError, match=r"cannot change the target of lookup log\.about"):
        crm.metadata.define({**listed, "x-xrm": {"name": "log"}})


def test_targets_other_than_a_list_or_star_are_refused(xrm: XRM) -> None:
    bad = note()
    bad["properties"]["about"]["x-xrm"]["targets"] = "all"

    with pytest.raises(DefinitionError) as refused:
        xrm.metadata.define(bad)

    assert [(p.pointer, p.message) for p in refused.value.problems] == [
        (
            "/properties/about/x-xrm/targets",
            "'all': targets are a list of entities, or \"*\" for any",
        )
    ]
