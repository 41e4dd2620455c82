"""Metadata over HTTP: reading definitions, planning and applying changes, dropping."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api

ACCOUNT: dict[str, Any] = {
    "x-xrm": {"name": "account"},
    "properties": {"name": {"type": "string"}, "rating": {"type": "integer"}},
}
V1 = "/api/v1/metadata"


def define(api: Api, *docs: dict[str, Any]) -> None:
    api.xrm.metadata.define(list(docs))


def test_definitions_are_readable_by_any_user_with_owner_and_version(api: Api) -> None:
    define(api, ACCOUNT)
    clerk = api.headers(api.clerk_token)

    listed = api.client.get(f"{V1}/entities", headers=clerk)
    one = api.client.get(f"{V1}/entities/account", headers=clerk)

    assert listed.status_code == 200
    account = next(e for e in listed.json()["items"] if e["name"] == "account")
    assert account == {
        "name": "account",
        "label": "Account",
        "plural": account["plural"],
        "ownership": "user",
        "owner": "custom",
        "version": 1,
    }
    assert one.status_code == 200 and one.headers["etag"] == 'W/"1"'
    assert one.json()["definition"]["properties"]["rating"]["type"] == "integer"
    assert one.json()["actions"] == []
    missing = api.client.get(f"{V1}/entities/nothing", headers=clerk)
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_entity"


def test_plan_is_a_dry_run_and_apply_changes_the_schema(api: Api) -> None:
    body = {"definitions": [ACCOUNT]}

    planned = api.client.post(f"{V1}/plan", json=body, headers=api.headers())
    assert planned.status_code == 200
    assert planned.json()["applied"] is False
    assert [s["action"] for s in planned.json()["steps"]] == ["create_entity"]
    assert not api.xrm.metadata.exists("account")

    applied = api.client.post(f"{V1}/apply", json=body, headers=api.headers())
    assert applied.status_code == 200 and applied.json()["applied"] is True
    assert api.xrm.metadata.exists("account")
    assert api.xrm.metadata.owner("account") == "custom"


def test_changing_metadata_needs_a_customizer(api: Api) -> None:
    clerk = api.headers(api.clerk_token)
    for path in ("plan", "apply"):
        refused = api.client.post(f"{V1}/{path}", json={"definitions": ACCOUNT}, headers=clerk)
        assert refused.status_code == 403, path
        assert refused.json()["code"] == "access_denied"
    assert not api.xrm.metadata.exists("account")
    define(api, ACCOUNT)
    dropped = api.client.delete(f"{V1}/entities/account?confirm=true", headers=clerk)
    assert dropped.status_code == 403 and api.xrm.metadata.exists("account")


def test_a_customizer_who_is_not_an_administrator_may_change_metadata(api: Api) -> None:
    system = api.xrm
    system.security.create_role("Designer", customize=True)
    user = system.security.create_user("designer", roles=["Designer"])
    token = system.auth.create_token(user, name="tests").token

    response = api.client.post(
        f"{V1}/apply", json={"definitions": ACCOUNT}, headers=api.headers(token)
    )

    assert response.status_code == 200 and api.xrm.metadata.exists("account")


def test_invalid_definitions_point_into_the_request_body(api: Api) -> None:
    bad = {"x-xrm": {"name": "Bad Name"}, "properties": {"n": {"type": "strin"}}}

    one = api.client.post(f"{V1}/apply", json={"definitions": bad}, headers=api.headers())
    several = api.client.post(
        f"{V1}/plan", json={"definitions": [ACCOUNT, bad]}, headers=api.headers()
    )

    assert one.status_code == 422
    assert one.headers["content-type"] == "application/problem+json"
    assert one.json()["code"] == "invalid_definition"
    pointers = {e["pointer"] for e in one.json()["errors"]}
    assert "/definitions/x-xrm/name" in pointers
    assert any(p.startswith("/definitions/properties/n") for p in pointers)
    assert {e["pointer"] for e in several.json()["errors"]} >= {"/definitions/1/x-xrm/name"}
    assert not api.xrm.metadata.exists("account")


def test_malformed_bodies_are_422_with_pointers(api: Api) -> None:
    cases = [
        ([ACCOUNT], ""),
        ({}, "/definitions"),
        ({"definitions": "account"}, "/definitions"),
        ({"definitions": ACCOUNT, "confirm": "yes"}, "/confirm"),
        ({"definitions": ACCOUNT, "renames": {"account": ["a"]}}, "/renames/account"),
        ({"definitions": ACCOUNT, "extra": 1}, "/extra"),
    ]
    for body, where in cases:
        response = api.client.post(f"{V1}/apply", json=body, headers=api.headers())
        assert response.status_code == 422, body
        assert response.json()["code"] == "invalid_request"
        assert response.json()["errors"][0]["pointer"] == where, body
    assert not api.xrm.metadata.exists("account")


def test_a_plan_that_drops_data_needs_confirmation_and_409_carries_the_plan(api: Api) -> None:
    define(api, ACCOUNT)
    api.xrm.records("account").create({"name": "Acme", "rating": 3})
    without_rating = {"x-xrm": {"name": "account"}, "properties": {"name": {"type": "string"}}}

    refused = api.client.post(
        f"{V1}/apply", json={"definitions": without_rating}, headers=api.headers()
    )
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["code"] == "confirmation_required"
    assert problem["plan"]["safety"] == "destructive"
    assert [s["action"] for s in problem["plan"]["steps"]] == ["remove_field"]
    assert "rating" in api.xrm.metadata.get("account").field_names

    confirmed = api.client.post(
        f"{V1}/apply", json={"definitions": without_rating, "confirm": True}, headers=api.headers()
    )
    assert confirmed.status_code == 200 and confirmed.json()["applied"] is True
    assert "rating" not in api.xrm.metadata.get("account").field_names


def test_renames_keep_values(api: Api) -> None:
    define(api, ACCOUNT)
    acme = api.xrm.records("account").create({"name": "Acme", "rating": 3})
    renamed = {
        "x-xrm": {"name": "account"},
        "properties": {"name": {"type": "string"}, "score": {"type": "integer"}},
    }
    body = {"definitions": renamed, "renames": {"account": {"rating": "score"}}}

    response = api.client.post(f"{V1}/apply", json=body, headers=api.headers())

    assert response.status_code == 200
    assert api.xrm.records("account").get(acme["id"])["score"] == 3


def test_dropping_an_entity_shows_the_plan_then_drops_with_confirm(api: Api) -> None:
    define(api, ACCOUNT)

    refused = api.client.delete(f"{V1}/entities/account", headers=api.headers())
    assert refused.status_code == 409
    assert refused.json()["plan"]["steps"][0]["action"] == "drop_entity"
    assert api.xrm.metadata.exists("account")

    dropped = api.client.delete(f"{V1}/entities/account?confirm=true", headers=api.headers())
    assert dropped.status_code == 200 and dropped.json()["applied"] is True
    assert not api.xrm.metadata.exists("account")
    bad = api.client.delete(f"{V1}/entities/account?confirm=maybe", headers=api.headers())
    assert bad.status_code == 400 and bad.json()["errors"][0]["pointer"] == "/confirm"


def test_reserved_api_segments_cannot_be_entity_names(api: Api) -> None:
    for name in ("metadata", "plugins", "webhooks", "imports", "exports", "audit", "me"):
        doc = {"x-xrm": {"name": name}, "properties": {"title": {"type": "string"}}}
        response = api.client.post(f"{V1}/apply", json={"definitions": doc}, headers=api.headers())
        assert response.status_code == 422, name
        (error,) = response.json()["errors"]
        assert error["pointer"] == "/definitions/x-xrm/name"
        assert "reserved" in error["detail"] and f"/api/v1/{name}" in error["detail"]
        assert not api.xrm.metadata.exists(name)
