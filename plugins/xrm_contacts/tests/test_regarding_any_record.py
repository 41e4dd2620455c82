"""activity.regarding points at any record of any entity (contacts 1.1), on both databases.

A database that installed contacts 1.0 (regarding accounts and contacts only)
upgrades to it. (Uninstalling a plugin whose records activities regard: the
sales plugin's tests.)
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from xrm_core import XRM, RecordValidationError, hookimpl
from xrm_core.cli import main
from xrm_core.plugins import make_plugin_manager, start

from xrm_contacts import hooks, timeline

PROJECT = {"x-xrm": {"name": "project"}, "properties": {"name": {"type": "string"}}}


class ContactsOneZero:
    """contacts as 1.0.0 shipped it: ``regarding`` listed account and contact."""

    @hookimpl
    def xrm_manifest(self) -> dict[str, Any]:
        return {"name": "contacts", "version": "1.0.0"}

    @hookimpl
    def xrm_entity_schemas(self) -> list[dict[str, Any]]:
        docs = copy.deepcopy(hooks.xrm_entity_schemas())
        activity = next(d for d in docs if d["x-xrm"]["name"] == "activity")
        activity["properties"]["regarding"]["x-xrm"]["targets"] = ["account", "contact"]
        return docs


def open_xrm(db_url: str, tmp_path: Path, plugin: object) -> XRM:
    pm = make_plugin_manager(load_entrypoints=False, plugins=[plugin])
    return XRM.from_url(db_url, export_dir=tmp_path / "exports", plugins=pm).as_system("tests")


def test_a_database_with_contacts_1_0_upgrades_to_regarding_any_record(
    db_url: str, tmp_path: Path
) -> None:
    old = open_xrm(db_url, tmp_path, ContactsOneZero())
    old.security.install()
    old.plugins.install("contacts")
    old.metadata.define(PROJECT)
    acme = old.records("account").create({"name": "Acme"})
    apollo = old.records("project").create({"name": "Apollo"})
    visit = old.records("activity").create(
        {"subject": "Visit", "regarding": {"entity": "account", "id": acme["id"]}}
    )
    with pytest.raises(RecordValidationError):
        old.records("activity").create(
            {"subject": "Kick-off", "regarding": {"entity": "project", "id": apollo["id"]}}
        )
    old.close()

    new = open_xrm(db_url, tmp_path, hooks)
    try:
        plan = new.plugins.plan_upgrade("contacts")
        assert str(plan).splitlines() == [
            "upgrade contacts 1.0.0 -> 1.1.0",
            "  [safe] contacts: change field activity.regarding: targets, any_entity",
        ]
        new.plugins.upgrade("contacts")
        start(new, new.plugin_manager)

        kickoff = new.records("activity").create(
            {"subject": "Kick-off", "regarding": {"entity": "project", "id": apollo["id"]}}
        )
        assert new.records("activity").get(visit["id"]) == visit
        assert new.plugins.installed()["contacts"].version == "1.1.0"
        items = timeline(new, "project", apollo["id"])
        assert [(i.source, i.id) for i in items if i.source == "activity"] == [
            ("activity", kickoff["id"])
        ]
    finally:
        new.close()


def test_xrm_demo_upgrades_an_older_contacts_before_filling_it(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = open_xrm(sqlite_url, tmp_path, ContactsOneZero())
    old.security.install()
    old.plugins.install("contacts")
    old.close()
    monkeypatch.setenv("XRM_LOAD_PLUGINS", "contacts")

    result = CliRunner().invoke(main, ["demo", "--db", sqlite_url, "--size", "2"])

    assert result.exit_code == 0, result.output
    assert "Upgraded plugin contacts to 1.1.0." in result.output
