"""Webhooks and plugins over HTTP: for administrators only, plan first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.conftest import Api
from xrm_core import XRM, hookimpl
from xrm_core.api.app import create_app
from xrm_core.plugins import make_plugin_manager
from xrm_core.settings import Settings

URL = "http://127.0.0.1:9/hook"


@pytest.fixture
def hooks(api: Api) -> Api:
    api.xrm.metadata.define({"x-xrm": {"name": "contact"}, "properties": {"n": {"type": "string"}}})
    return api


def test_webhooks_are_created_shown_changed_and_deleted(hooks: Api) -> None:
    headers = hooks.headers()
    body = {"name": "crm_sync", "url": URL, "events": ["contact.*"], "entity": "contact"}

    created = hooks.client.post("/api/v1/webhooks", json=body, headers=headers)
    assert created.status_code == 201
    assert created.headers["location"] == "/api/v1/webhooks/crm_sync"
    assert created.json()["secret"].startswith("whsec_")  # shown this once
    shown = hooks.client.get("/api/v1/webhooks/crm_sync", headers=headers).json()
    assert "secret" not in shown and shown["events"] == ["contact.*"] and shown["version"] == 1

    changed = hooks.client.patch(
        "/api/v1/webhooks/crm_sync", json={"active": False, "entity": None}, headers=headers
    )
    assert changed.status_code == 200
    assert (changed.json()["active"], changed.json()["entity"], changed.json()["url"]) == (
        False,
        None,
        URL,
    )
    rotated = hooks.client.patch(
        "/api/v1/webhooks/crm_sync", json={"rotate_secret": True}, headers=headers
    )
    assert rotated.json()["secret"] != created.json()["secret"]
    listed = hooks.client.get("/api/v1/webhooks", headers=headers).json()["items"]
    assert [h["name"] for h in listed] == ["crm_sync"]

    deleted = hooks.client.delete("/api/v1/webhooks/crm_sync", headers=headers)
    assert deleted.status_code == 204
    gone = hooks.client.get("/api/v1/webhooks/crm_sync", headers=headers)
    assert gone.status_code == 404 and gone.json()["code"] == "webhook_not_found"


def test_deliveries_are_listed_and_replayed(hooks: Api) -> None:
    headers = hooks.headers()
    hooks.client.post(
        "/api/v1/webhooks",
        json={"name": "sync", "url": URL, "events": "contact.created"},
        headers=headers,
    )
    hooks.xrm.records("contact").create({"n": "Ada"})

    pending = hooks.client.get("/api/v1/webhooks/sync/deliveries?status=pending", headers=headers)
    (delivery,) = pending.json()["items"]
    assert delivery["event_name"] == "contact.created" and delivery["attempts"] == 0
    assert hooks.client.get("/api/v1/webhooks/sync/attempts", headers=headers).json()["items"] == []
    replayed = hooks.client.post("/api/v1/webhooks/sync/replay", json={}, headers=headers)
    assert replayed.json() == {"replayed": 0}  # nothing is dead
    bad_status = hooks.client.get("/api/v1/webhooks/sync/deliveries?status=lost", headers=headers)
    assert bad_status.status_code == 400 and bad_status.json()["errors"][0]["pointer"] == "/status"


def test_invalid_webhooks_get_every_problem_with_a_pointer(hooks: Api) -> None:
    body = {"name": "Bad Name", "url": "ftp://x", "events": [], "entity": "nothing"}

    response = hooks.client.post("/api/v1/webhooks", json=body, headers=hooks.headers())
    missing = hooks.client.post("/api/v1/webhooks", json={"name": "x"}, headers=hooks.headers())
    extra = hooks.client.post(
        "/api/v1/webhooks", json={**body, "colour": "red"}, headers=hooks.headers()
    )
    bad_flag = hooks.client.patch(
        "/api/v1/webhooks/any", json={"rotate_secret": "yes"}, headers=hooks.headers()
    )

    assert response.status_code == 422 and response.json()["code"] == "invalid_webhook"
    assert {e["pointer"] for e in response.json()["errors"]} >= {
        "/name",
        "/url",
        "/events",
        "/entity",
    }
    assert missing.status_code == 422
    assert {e["pointer"] for e in missing.json()["errors"]} == {"/url", "/events"}
    assert extra.json()["errors"] == [{"pointer": "/colour", "detail": "unknown member"}]
    assert (
        bad_flag.status_code == 422 and bad_flag.json()["errors"][0]["pointer"] == "/rotate_secret"
    )
    assert hooks.xrm.webhooks.list() == []


def test_webhooks_are_for_administrators_only(hooks: Api) -> None:
    clerk = hooks.headers(hooks.clerk_token)
    hooks.xrm.webhooks.create("sync", URL, ["contact.*"])
    calls = [
        ("GET", "/api/v1/webhooks", None),
        ("POST", "/api/v1/webhooks", {"name": "mine", "url": URL, "events": ["*"]}),
        ("GET", "/api/v1/webhooks/sync", None),
        ("PATCH", "/api/v1/webhooks/sync", {"active": False}),
        ("DELETE", "/api/v1/webhooks/sync", None),
        ("POST", "/api/v1/webhooks/sync/replay", None),
        ("GET", "/api/v1/webhooks/sync/deliveries", None),
    ]
    for method, url, body in calls:
        response = hooks.client.request(method, url, json=body, headers=clerk)
        assert response.status_code == 403, (method, url)
        assert response.json()["code"] == "access_denied"
    assert [h.name for h in hooks.xrm.webhooks.list()] == ["sync"]
    assert hooks.xrm.webhooks.get("sync").active


# -- plugins ------------------------------------------------------------------------------


class Notes:
    """A small plugin with an entity of its own."""

    @hookimpl
    def xrm_manifest(self) -> dict[str, Any]:
        return {"name": "notes", "version": "1.0.0", "description": "Notes on anything"}

    @hookimpl
    def xrm_entity_schemas(self) -> list[dict[str, Any]]:
        return [{"x-xrm": {"name": "note"}, "properties": {"text": {"type": "string"}}}]


@pytest.fixture
def plugins(db_url: str, tmp_path: Path) -> Iterator[Api]:
    pm = make_plugin_manager(load_entrypoints=False, plugins=[Notes()])
    xrm = XRM.from_url(db_url, export_dir=tmp_path / "exports", plugins=pm)
    system = xrm.as_system("tests")
    system.security.install()
    admin = system.security.create_user("admin", roles=["System Administrator"])
    clerk = system.security.create_user("clerk", roles=["Basic User"])
    tokens = [system.auth.create_token(u, name="tests").token for u in (admin, clerk)]
    app = create_app(xrm, settings=Settings(database_url=db_url))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, system, *tokens)


def test_plugins_are_listed_planned_installed_and_uninstalled(plugins: Api) -> None:
    headers = plugins.headers()

    listed = plugins.client.get("/api/v1/plugins", headers=headers).json()["items"]
    notes = next(p for p in listed if p["name"] == "notes")
    assert (notes["available_version"], notes["installed_version"]) == ("1.0.0", None)
    plan = plugins.client.get("/api/v1/plugins/notes/plan?operation=install", headers=headers)
    assert plan.status_code == 200 and plan.json()["applied"] is False
    assert any(s["entity"] == "note" for s in plan.json()["steps"])
    assert not plugins.xrm.metadata.exists("note")

    installed = plugins.client.post("/api/v1/plugins/notes/install", headers=headers)
    assert installed.status_code == 200 and installed.json()["applied"] is True
    assert plugins.xrm.metadata.owner("note") == "notes"
    plugins.xrm.records("note").create({"text": "keep me"})
    disabled = plugins.client.post("/api/v1/plugins/notes/disable", headers=headers)
    assert disabled.json() == {"name": "notes", "enabled": False}
    assert plugins.xrm.plugins.installed()["notes"].enabled is False
    plugins.client.post("/api/v1/plugins/notes/enable", headers=headers)
    assert plugins.xrm.plugins.installed()["notes"].enabled is True

    no_choice = plugins.client.post("/api/v1/plugins/notes/uninstall", json={}, headers=headers)
    assert no_choice.status_code == 422 and no_choice.json()["errors"][0]["pointer"] == "/data"
    unconfirmed = plugins.client.post(
        "/api/v1/plugins/notes/uninstall", json={"data": "drop"}, headers=headers
    )
    assert unconfirmed.status_code == 409
    assert unconfirmed.json()["plan"]["operation"] == "uninstall"
    assert plugins.xrm.metadata.exists("note")
    dropped = plugins.client.post(
        "/api/v1/plugins/notes/uninstall", json={"data": "drop", "confirm": True}, headers=headers
    )
    assert dropped.status_code == 200 and not plugins.xrm.metadata.exists("note")


def test_uninstalling_can_keep_the_data(plugins: Api) -> None:
    headers = plugins.headers()
    plugins.client.post("/api/v1/plugins/notes/install", headers=headers)
    planned = plugins.client.get(
        "/api/v1/plugins/notes/plan?operation=uninstall&data=keep", headers=headers
    )
    assert planned.json()["safety"] != "destructive"

    kept = plugins.client.post(
        "/api/v1/plugins/notes/uninstall", json={"data": "keep"}, headers=headers
    )

    assert kept.status_code == 200
    assert plugins.xrm.metadata.owner("note") == "custom"


def test_plugin_errors_are_problems(plugins: Api) -> None:
    headers = plugins.headers()

    unknown = plugins.client.post("/api/v1/plugins/nothing/install", headers=headers)
    not_installed = plugins.client.post("/api/v1/plugins/notes/upgrade", headers=headers)
    bad_operation = plugins.client.get("/api/v1/plugins/notes/plan?operation=fly", headers=headers)

    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_plugin"
    assert not_installed.status_code == 409 and not_installed.json()["code"] == "plugin_state"
    assert bad_operation.status_code == 400
    assert bad_operation.json()["errors"][0]["pointer"] == "/operation"


def test_plugins_are_managed_by_administrators_only(plugins: Api) -> None:
    clerk = plugins.headers(plugins.clerk_token)
    for method, url, body in [
        ("GET", "/api/v1/plugins/notes/plan", None),
        ("POST", "/api/v1/plugins/notes/install", None),
        ("POST", "/api/v1/plugins/notes/upgrade", {"confirm": True}),
        ("POST", "/api/v1/plugins/notes/uninstall", {"data": "keep"}),
        ("POST", "/api/v1/plugins/notes/disable", None),
    ]:
        response = plugins.client.request(method, url, json=body, headers=clerk)
        assert response.status_code == 403, url
        assert response.json()["code"] == "access_denied"
    assert not plugins.xrm.metadata.exists("note")
