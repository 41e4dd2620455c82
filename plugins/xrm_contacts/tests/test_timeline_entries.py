"""Activities on any record's timeline (``xrm_timeline_entries``), and contacts' title fields."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from xrm_core import XRM, hookimpl
from xrm_core.plugins import make_plugin_manager

from xrm_contacts import hooks


def test_activities_regarding_a_record_join_its_timeline_newest_first(xrm: XRM) -> None:
    acme = xrm.records("account").create({"name": "Acme"})
    call = xrm.records("activity").create(
        {"subject": "Call", "kind": "call", "regarding": {"entity": "account", "id": acme["id"]}}
    )
    xrm.records("account").update(acme["id"], {"city": "Paris"})

    entries = xrm.timeline("account", acme["id"])

    assert [(e.source, e.kind, e.title) for e in entries] == [
        ("audit", "update", "changed city"),
        ("activity", "call", "Call"),
        ("audit", "create", "created"),
    ]
    assert (entries[1].entity, entries[1].record_id, entries[1].text) == (
        "activity",
        call["id"],
        "open",
    )


def test_a_user_sees_only_the_activities_their_roles_let_them_read(xrm: XRM) -> None:
    acme = xrm.records("account").create({"name": "Acme"})
    regarding = {"entity": "account", "id": acme["id"]}
    xrm.records("activity").create({"subject": "Secret call", "regarding": regarding})
    xrm.security.create_role("Account readers", [("account", "read", "organization")])
    reader = xrm.security.create_user("reader", roles=["Account readers"])
    xrm.security.create_role(
        "Activity readers",
        [("account", "read", "organization"), ("activity", "read", "organization")],
    )
    both = xrm.security.create_user("both", roles=["Activity readers"])

    seen_by_reader = xrm.as_user(reader).timeline("account", acme["id"])
    seen_by_both = xrm.as_user(both).timeline("account", acme["id"])

    assert [e.source for e in seen_by_reader] == ["audit"]
    assert [e.title for e in seen_by_both if e.source == "activity"] == ["Secret call"]


class ContactsWithoutTitles:
    """contacts 1.1.0 as first released: the same entities without ``x-xrm.title_field``."""

    @hookimpl
    def xrm_manifest(self) -> dict[str, Any]:
        return {"name": "contacts", "version": "1.1.0"}

    @hookimpl
    def xrm_entity_schemas(self) -> list[dict[str, Any]]:
        docs = copy.deepcopy(hooks.xrm_entity_schemas())
        for doc in docs:
            del doc["x-xrm"]["title_field"]
        return docs


def test_a_database_without_title_fields_gets_them_by_a_safe_upgrade(
    db_url: str, tmp_path: Path
) -> None:
    def open_xrm(plugin: object) -> XRM:
        pm = make_plugin_manager(load_entrypoints=False, plugins=[plugin])
        return XRM.from_url(db_url, export_dir=tmp_path / "x", plugins=pm).as_system("tests")

    old = open_xrm(ContactsWithoutTitles())
    old.security.install()
    old.plugins.install("contacts")
    assert old.metadata.get("contact").title_fields == ()
    old.close()

    new = open_xrm(hooks)
    try:
        plan = new.plugins.upgrade("contacts")
        assert str(plan).splitlines() == [
            "upgrade contacts 1.1.0 -> 1.1.0",
            "  [safe] contacts: name 'account' records by: name",
            "  [safe] contacts: name 'contact' records by: first_name, last_name",
            "  [safe] contacts: name 'activity' records by: subject",
        ]
        assert new.metadata.get("contact").title_fields == ("first_name", "last_name")
    finally:
        new.close()
