"""The audit log and access explanations over HTTP, as each caller may read them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api


@pytest.fixture
def accounts(api: Api) -> Api:
    api.xrm.metadata.define(
        {
            "x-xrm": {"name": "account"},
            "properties": {"name": {"type": "string"}, "revenue": {"x-xrm": {"kind": "money"}}},
        }
    )
    return api


def clerk_id(api: Api) -> str:
    me = api.client.get("/api/v1/me", headers=api.headers(api.clerk_token))
    return str(me.json()["id"])


def clerk_account(api: Api) -> dict[str, Any]:
    return api.xrm.as_user(clerk_id(api)).records("account").create({"name": "Mine"})


def test_a_records_history_comes_newest_first_in_pages(accounts: Api) -> None:
    records = accounts.xrm.records("account")
    acme = records.create({"name": "Acme", "revenue": "12.50"})
    records.update(acme["id"], {"name": "Acme Ltd"})
    url = f"/api/v1/account/{acme['id']}/audit"

    first = accounts.client.get(url + "?limit=1", headers=accounts.headers())
    rest = accounts.client.get(
        url, params={"cursor": first.json()["next_cursor"]}, headers=accounts.headers()
    )

    assert first.status_code == 200
    (update,) = first.json()["items"]
    assert update["operation"] == "update"
    assert update["changes"] == {"name": {"old": "Acme", "new": "Acme Ltd"}}
    assert update["actor_type"] == "system" and update["record_id"] == str(acme["id"])
    (create,) = rest.json()["items"]
    assert create["operation"] == "create"
    assert create["changes"]["revenue"] == {"old": None, "new": "12.50"}  # decimals as text
    assert rest.json()["next_cursor"] is None


def test_a_record_the_caller_cannot_read_has_no_history_for_them(accounts: Api) -> None:
    acme = accounts.xrm.records("account").create({"name": "Acme"})
    mine = clerk_account(accounts)
    clerk = accounts.headers(accounts.clerk_token)

    refused = accounts.client.get(f"/api/v1/account/{acme['id']}/audit", headers=clerk)
    allowed = accounts.client.get(f"/api/v1/account/{mine['id']}/audit", headers=clerk)

    assert refused.status_code == 403 and refused.json()["code"] == "access_denied"
    assert allowed.status_code == 200 and len(allowed.json()["items"]) == 1


def test_what_a_user_did_is_for_administrators_and_that_user(accounts: Api) -> None:
    clerk_account(accounts)
    user = clerk_id(accounts)
    admin_id = accounts.client.get("/api/v1/me", headers=accounts.headers()).json()["id"]

    by_admin = accounts.client.get(f"/api/v1/audit/users/{user}", headers=accounts.headers())
    by_self = accounts.client.get(
        f"/api/v1/audit/users/{user}", headers=accounts.headers(accounts.clerk_token)
    )
    by_other = accounts.client.get(
        f"/api/v1/audit/users/{admin_id}", headers=accounts.headers(accounts.clerk_token)
    )

    assert [e["operation"] for e in by_admin.json()["items"]] == ["create"]
    assert by_self.json() == by_admin.json()
    assert by_other.status_code == 403


def test_time_windows_and_bad_parameters(accounts: Api) -> None:
    clerk_account(accounts)
    user = clerk_id(accounts)
    url = f"/api/v1/audit/users/{user}"

    future = accounts.client.get(url + "?since=2999-01-01T00:00:00Z", headers=accounts.headers())
    assert future.status_code == 200 and future.json()["items"] == []
    for query, pointer in [
        ("since=yesterday", "/since"),
        ("until=2024-01-01T00:00:00", "/until"),
        ("limit=0", "/limit"),
        ("limit=1001", "/limit"),
    ]:
        response = accounts.client.get(f"{url}?{query}", headers=accounts.headers())
        assert response.status_code == 400, query
        assert response.json()["errors"][0]["pointer"] == pointer
    bad_cursor = accounts.client.get(url + "?cursor=xyz", headers=accounts.headers())
    assert bad_cursor.status_code == 400
    assert bad_cursor.json()["errors"][0]["pointer"] == "/cursor"


def test_a_unit_of_work_and_bypassed_changes_are_for_administrators(accounts: Api) -> None:
    created = accounts.client.post(
        "/api/v1/metadata/apply",
        json={"definitions": {"x-xrm": {"name": "tag"}, "properties": {"n": {"type": "string"}}}},
        headers={**accounts.headers(), "X-Request-Id": "unit-42"},
    )
    assert created.status_code == 200
    clerk = accounts.headers(accounts.clerk_token)

    unit = accounts.client.get("/api/v1/audit/correlations/unit-42", headers=accounts.headers())
    assert [(e["entity"], e["operation"]) for e in unit.json()["items"]] == [("tag", "define")]
    assert (
        accounts.client.get("/api/v1/audit/correlations/unit-42", headers=clerk).status_code == 403
    )
    assert accounts.client.get("/api/v1/audit/bypassed", headers=accounts.headers()).json() == {
        "items": [],
        "next_cursor": None,
    }
    assert accounts.client.get("/api/v1/audit/bypassed", headers=clerk).status_code == 403
    definition = accounts.client.get("/api/v1/audit/definitions/tag", headers=clerk)
    assert [e["operation"] for e in definition.json()["items"]] == ["define"]


def test_explain_says_why_and_only_administrators_ask_about_others(accounts: Api) -> None:
    mine = clerk_account(accounts)
    user = clerk_id(accounts)
    url = f"/api/v1/account/{mine['id']}/explain"

    own = accounts.client.get(url, headers=accounts.headers(accounts.clerk_token))
    asked = accounts.client.get(
        url, params={"user": user, "privilege": "delete"}, headers=accounts.headers()
    )
    about_admin = accounts.client.get(
        url,
        params={"user": accounts.client.get("/api/v1/me", headers=accounts.headers()).json()["id"]},
        headers=accounts.headers(accounts.clerk_token),
    )
    bad = accounts.client.get(url + "?privilege=create", headers=accounts.headers())

    assert own.status_code == 200
    assert own.json()["granted"] is True and own.json()["privilege"] == "read"
    assert own.json()["reasons"][0]["kind"] == "role"
    assert own.json()["text"].startswith(f"read account {mine['id']}: granted")
    assert asked.json()["user_id"] == user and asked.json()["privilege"] == "delete"
    assert about_admin.status_code == 403
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/privilege"


def test_explain_hides_records_the_caller_cannot_read(accounts: Api) -> None:
    acme = accounts.xrm.records("account").create({"name": "Acme"})

    response = accounts.client.get(
        f"/api/v1/account/{acme['id']}/explain", headers=accounts.headers(accounts.clerk_token)
    )

    assert response.status_code == 404 and response.json()["code"] == "record_not_found"
