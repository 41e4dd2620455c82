"""Dropping entities, and entities that refer to each other."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from xrm_core import XRM, ConfirmationRequired, DefinitionError, UnknownEntity
from xrm_core.metadata.plan import Safety

if TYPE_CHECKING:
    from tests.core.metadata.conftest import DatabaseView

ACCOUNT = {
    "x-xrm": {"name": "account"},
    "properties": {
        "name": {"type": "string"},
        "primary_contact": {"x-xrm": {"kind": "lookup", "target": "contact"}},
    },
}
CONTACT = {
    "x-xrm": {"name": "contact"},
    "properties": {
        "name": {"type": "string"},
        "account": {"x-xrm": {"kind": "lookup", "target": "account"}},
    },
}
TAG = {"x-xrm": {"name": "tag"}, "properties": {"label": {"type": "string"}}}


def read_jsonl(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_two_entities_that_refer_to_each_other_are_defined_together(
    xrm: XRM, database: DatabaseView
) -> None:
    plan = xrm.metadata.define([ACCOUNT, CONTACT])

    assert [s.action for s in plan.steps] == ["create_entity", "create_entity"]
    assert database.foreign_keys("account") == {("primary_contact", "contact", "id")}
    assert database.foreign_keys("contact") == {("account", "account", "id")}


def test_records_of_entities_that_refer_to_each_other_point_both_ways(xrm: XRM) -> None:
    xrm.metadata.define([ACCOUNT, CONTACT])
    accounts, contacts = xrm.records("account"), xrm.records("contact")

    acme = accounts.create({"name": "Acme"})
    ada = contacts.create({"name": "Ada", "account": acme["id"]})
    accounts.update(acme["id"], {"primary_contact": ada["id"]})

    assert accounts.get(acme["id"])["primary_contact"] == ada["id"]
    assert contacts.get(ada["id"])["account"] == acme["id"]
    expanded = contacts.get(ada["id"], expand=["account"])
    assert expanded["account"]["primary_contact"] == ada["id"]


def test_entities_that_refer_to_each_other_survive_a_restart(db_url: str, tmp_path: Path) -> None:
    first = XRM.from_url(db_url, export_dir=tmp_path).as_system("tests")
    first.metadata.define([ACCOUNT, CONTACT])
    first.close()

    second = XRM.from_url(db_url, export_dir=tmp_path).as_system("tests")
    try:
        acme = second.records("account").create({"name": "Acme"})
        ada = second.records("contact").create({"name": "Ada", "account": acme["id"]})
        second.records("account").update(acme["id"], {"primary_contact": ada["id"]})
        assert second.records("account").get(acme["id"])["primary_contact"] == ada["id"]
    finally:
        second.close()


def test_a_lookup_to_an_entity_defined_later_is_refused(xrm: XRM) -> None:
    with pytest.raises(DefinitionError) as error:
        xrm.metadata.define(ACCOUNT)

    assert [(p.pointer, p.message) for p in error.value.problems] == [
        ("/properties/primary_contact/x-xrm/target", "lookup to unknown entity 'contact'")
    ]


def test_dropping_an_entity_needs_confirmation(xrm: XRM, database: DatabaseView) -> None:
    xrm.metadata.define(TAG)
    xrm.records("tag").create({"label": "hot"})

    with pytest.raises(ConfirmationRequired) as error:
        xrm.metadata.drop("tag")

    assert [p.pointer for p in error.value.problems] == ["/tag"]
    assert "tag" in database.tables()
    assert xrm.records("tag").count() == 1


def test_plan_drop_is_a_dry_run(xrm: XRM, database: DatabaseView) -> None:
    xrm.metadata.define(TAG)

    plan = xrm.metadata.plan_drop("tag")

    assert [(s.action, s.safety) for s in plan.steps] == [("drop_entity", Safety.DESTRUCTIVE)]
    assert not plan.applied
    assert "tag" in database.tables()
    assert xrm.metadata.exists("tag")


def test_a_confirmed_drop_exports_the_records_and_removes_the_table(
    xrm: XRM, database: DatabaseView, tmp_path: Path
) -> None:
    xrm.metadata.define(TAG)
    hot = xrm.records("tag").create({"label": "hot"})
    cold = xrm.records("tag").create({"label": "cold"})

    plan = xrm.metadata.drop("tag", confirm=True)

    assert plan.applied
    assert "tag" not in database.tables()
    assert not xrm.metadata.exists("tag")
    with pytest.raises(UnknownEntity):
        xrm.metadata.get("tag")
    with pytest.raises(UnknownEntity):
        xrm.records("tag")
    (export,) = plan.exports
    assert Path(export).parent == tmp_path / "exports"
    rows = read_jsonl(export)
    assert sorted((r["id"], r["label"], r["version"]) for r in rows) == sorted(
        [(str(hot["id"]), "hot", 1), (str(cold["id"]), "cold", 1)]
    )


def test_an_entity_a_lookup_points_at_cannot_be_dropped(xrm: XRM, database: DatabaseView) -> None:
    xrm.metadata.define([ACCOUNT, CONTACT])

    with pytest.raises(DefinitionError) as error:
        xrm.metadata.drop("contact", confirm=True)
    with pytest.raises(DefinitionError):
        xrm.metadata.plan_drop("contact")

    assert [p.pointer for p in error.value.problems] == ["/account/primary_contact"]
    assert "still referred to" in error.value.message
    assert {"account", "contact"} <= database.tables()


def test_an_entity_a_polymorphic_lookup_or_relationship_points_at_cannot_be_dropped(
    xrm: XRM,
) -> None:
    xrm.metadata.define(
        [
            TAG,
            {
                "x-xrm": {"name": "note", "relationships": [{"name": "tags", "target": "tag"}]},
                "properties": {
                    "about": {"x-xrm": {"kind": "polymorphic_lookup", "targets": ["tag"]}}
                },
            },
        ]
    )

    with pytest.raises(DefinitionError) as error:
        xrm.metadata.drop("tag", confirm=True)

    assert sorted(p.pointer for p in error.value.problems) == ["/note/about", "/note/tags"]


def test_once_the_lookup_is_removed_the_entity_can_be_dropped(
    xrm: XRM, database: DatabaseView
) -> None:
    xrm.metadata.define([ACCOUNT, CONTACT])
    account_alone = {
        "x-xrm": {"name": "account"},
        "properties": {"name": {"type": "string"}},
    }
    xrm.metadata.define(account_alone, confirm=True)

    xrm.metadata.drop("contact", confirm=True)

    assert "contact" not in database.tables()
    assert database.foreign_keys("account") == set()


def test_an_entity_that_refers_to_itself_can_be_dropped(xrm: XRM, database: DatabaseView) -> None:
    xrm.metadata.define(
        {
            "x-xrm": {"name": "employee"},
            "properties": {"manager": {"x-xrm": {"kind": "lookup", "target": "employee"}}},
        }
    )
    boss = xrm.records("employee").create({})
    xrm.records("employee").create({"manager": boss["id"]})

    plan = xrm.metadata.drop("employee", confirm=True)

    assert "employee" not in database.tables()
    assert len(read_jsonl(plan.exports[0])) == 2


def test_dropping_an_entity_drops_and_exports_its_links(xrm: XRM, database: DatabaseView) -> None:
    xrm.metadata.define(
        [
            TAG,
            {
                "x-xrm": {"name": "note", "relationships": [{"name": "tags", "target": "tag"}]},
                "properties": {},
            },
        ]
    )
    note = xrm.records("note").create({})
    hot = xrm.records("tag").create({"label": "hot"})
    xrm.records("note").link(note["id"], "tags", hot["id"])

    plan = xrm.metadata.drop("note", confirm=True)

    assert not {"note", "note__tags"} & database.tables()
    records, links = plan.exports
    assert [r["id"] for r in read_jsonl(records)] == [str(note["id"])]
    assert [(r["source_id"], r["target_id"]) for r in read_jsonl(links)] == [
        (str(note["id"]), str(hot["id"]))
    ]
    xrm.metadata.drop("tag", confirm=True)
    assert "tag" not in database.tables()


def test_dropping_an_unknown_entity_is_a_clear_error(xrm: XRM) -> None:
    with pytest.raises(UnknownEntity) as error:
        xrm.metadata.drop("ghost", confirm=True)

    assert error.value.code == "unknown_entity"
