"""Demo data, and contacts through REST, GraphQL and the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from starlette.testclient import TestClient
from xrm_core import XRM
from xrm_core.api.app import create_app
from xrm_core.cli import main
from xrm_core.plugins import start
from xrm_core.settings import Settings

from xrm_contacts import hooks


def _snapshot(xrm: XRM) -> list[Any]:
    contacts = xrm.records("contact").query(order=["email"], limit=500, expand=["account"])
    return [(c["email"], c["last_name"], c["account"]["name"], c["birthday"]) for c in contacts]


def test_demo_data_is_sized_deterministic_owned_by_three_users_and_added_once(
    xrm: XRM, tmp_path: Path
) -> None:
    hooks.xrm_demo_data(xrm, size=6)
    hooks.xrm_demo_data(xrm, size=6)  # the data is there: nothing added

    counts = [xrm.records(e).count() for e in ("account", "contact", "activity")]
    assert counts == [6, 24, 18]
    owners = {r["owner_id"] for r in xrm.records("contact").query(limit=100)}
    units = xrm.records("business_unit").query(filter={"name": {"in": ["North", "South"]}})
    assert len(owners) == 3 and len(units) == 2
    users = xrm.records("user").query(filter={"username": {"in": ["alice", "bob", "carol"]}})
    assert {u["id"] for u in users} == owners
    other_url = f"sqlite:///{tmp_path}/other.db"
    other = XRM.from_url(other_url, export_dir=tmp_path, plugins=xrm.plugin_manager)
    fresh = other.as_system("tests")
    fresh.security.install()
    fresh.plugins.install("contacts")
    start(fresh, fresh.plugin_manager)
    hooks.xrm_demo_data(fresh, size=6)
    assert _snapshot(fresh) == _snapshot(xrm)
    other.close()


def test_contacts_are_served_over_rest_with_their_actions(xrm: XRM, db_url: str) -> None:
    admin = xrm.security.create_user("admin", roles=["System Administrator"])
    token = xrm.auth.create_token(admin, name="tests").token
    app = create_app(xrm, settings=Settings(database_url=db_url), start_plugins=False)
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        spec = client.get("/api/openapi.json", headers=headers).json()
        assert {"/api/v1/contact", "/api/v1/account/{id}/actions/merge"} <= set(spec["paths"])
        ada = client.post(
            "/api/v1/contact",
            json={"last_name": "Lovelace", "email": "ada@x.test"},
            headers=headers,
        )
        again = client.post(
            "/api/v1/contact", json={"last_name": "King", "email": "ada@x.test"}, headers=headers
        )
        rid = ada.json()["id"]
        history = client.post(f"/api/v1/contact/{rid}/actions/timeline", json={}, headers=headers)
    assert ada.status_code == 201
    assert again.status_code == 409
    assert again.json()["code"] == "duplicate_record"
    assert again.json()["errors"][0]["detail"] == f"contact {rid} 'Lovelace': same email"
    assert [i["summary"] for i in history.json()["items"]] == ["created"]


def test_contacts_are_served_over_graphql(xrm: XRM, db_url: str) -> None:
    admin = xrm.security.create_user("admin", roles=["System Administrator"])
    token = xrm.auth.create_token(admin, name="tests").token
    acme = xrm.records("account").create({"name": "Acme"})
    ada = xrm.records("contact").create({"last_name": "Lovelace", "account": acme["id"]})
    app = create_app(xrm, settings=Settings(database_url=db_url), start_plugins=False)
    query = "{ contactList { nodes { last_name account { name } } } }"
    timeline = f'mutation {{ contactTimeline(id: "{ada["id"]}", input: {{limit: 5}}) }}'
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {token}"}
        listed = client.post("/graphql", json={"query": query}, headers=headers).json()
        history = client.post("/graphql", json={"query": timeline}, headers=headers).json()
    assert listed["data"]["contactList"]["nodes"] == [
        {"last_name": "Lovelace", "account": {"name": "Acme"}}
    ]
    assert [i["kind"] for i in history["data"]["contactTimeline"]["items"]] == ["create"]


def test_xrm_demo_installs_contacts_and_fills_it(sqlite_url: str, monkeypatch: Any) -> None:
    monkeypatch.setenv("XRM_LOAD_PLUGINS", "contacts")
    result = CliRunner().invoke(main, ["demo", "--db", sqlite_url, "--size", "4"])
    assert result.exit_code == 0, result.output
    assert "Installed plugin contacts" in result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines() if line.strip()}
    assert (rows["account"][-1], rows["contact"][-1], rows["activity"][-1]) == ("4", "16", "12")
    again = CliRunner().invoke(main, ["demo", "--db", sqlite_url, "--size", "4"])
    assert "Installed plugin" not in again.output and " 16" in again.output
    listed = CliRunner().invoke(main, ["action", "list", "--db", sqlite_url, "--json"])
    names = {a["name"] for a in json.loads(listed.output)}
    assert {"contact.merge", "account.find_duplicates", "activity.timeline"} <= names
