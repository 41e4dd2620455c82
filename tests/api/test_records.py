"""The record endpoints over HTTP: what an integrator relies on, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.api.conftest import Api


def _titles(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["title"] for r in response.json()["items"]]


def test_create_answers_201_with_location_and_etag_and_the_record_reads_back(crm: Api) -> None:
    created = crm.client.post(
        "/api/v1/deal", json={"title": "Desk", "amount": "99.5"}, headers=crm.headers()
    )

    assert created.status_code == 201
    record = created.json()
    assert record["amount"] == "99.50"  # decimals as strings: no cent lost to a double
    assert created.headers["etag"] == 'W/"1"'
    assert created.headers["location"] == f"/api/v1/deal/{record['id']}"
    read = crm.client.get(created.headers["location"], headers=crm.headers())
    assert read.json() == record and read.headers["etag"] == 'W/"1"'


def test_the_short_filter_form_and_the_json_form_ask_the_same(crm: Api) -> None:
    short = {"where.stage": "won", "where.amount[ge]": "1000", "order": "-amount"}
    as_json = {"filter": json.dumps({"stage": "won", "amount": {"ge": 1000}}), "order": "-amount"}

    assert _titles(crm.client.get("/api/v1/deal", params=short, headers=crm.headers())) == [
        "Shelves"
    ]
    assert _titles(crm.client.get("/api/v1/deal", params=as_json, headers=crm.headers())) == [
        "Shelves"
    ]
    listed = {"where.stage[in]": "new,lost", "where.account.name[starts_with]": "ac"}
    assert _titles(crm.client.get("/api/v1/deal", params=listed, headers=crm.headers())) == [
        "Signs"
    ]
    both = {"filter": json.dumps({"stage": "won"}), "where.amount[lt]": "1000"}
    assert _titles(crm.client.get("/api/v1/deal", params=both, headers=crm.headers())) == ["Tills"]


def test_pages_follow_the_cursor_with_fields_expand_and_count(crm: Api) -> None:
    params = {"order": "title", "limit": "2", "count": "true", "fields": "title,account"}
    params["expand"] = "account"
    first = crm.client.get("/api/v1/deal", params=params, headers=crm.headers()).json()

    assert [r["title"] for r in first["items"]] == ["Shelves", "Signs"]
    assert first["total"] == 3 and first["omitted"] == []
    assert set(first["items"][0]) == {"id", "title", "account"}
    assert first["items"][0]["account"]["name"] == "Acme"
    rest = crm.client.get(
        "/api/v1/deal", params={**params, "cursor": first["next_cursor"]}, headers=crm.headers()
    ).json()
    assert [r["title"] for r in rest["items"]] == ["Tills"] and rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "pointer"),
    [
        ({"filter": json.dumps({"amount": {"starts_with": "1"}})}, "/filter/amount/starts_with"),
        ({"filter": "{not json"}, "/filter"),
        ({"where.colour": "red"}, "/filter/colour"),
        ({"where.amount[bigger]": "1"}, "/where.amount[bigger]"),
        ({"where.amount[is_null]": "maybe"}, "/where.amount[is_null]"),
        ({"limit": "0"}, "/limit"),
        ({"count": "yes"}, "/count"),
        ({"stage": "won"}, "/stage"),  # a typo must not silently list everything
        ({"order": "nowhere"}, "/order/0"),
    ],
)
def test_a_bad_query_is_a_400_problem_pointing_at_it(
    crm: Api, params: dict[str, str], pointer: str
) -> None:
    response = crm.client.get("/api/v1/deal", params=params, headers=crm.headers())

    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "invalid_query"
    assert pointer in [e["pointer"] for e in body["errors"]]


def test_a_parameter_given_twice_is_refused(crm: Api) -> None:
    response = crm.client.get("/api/v1/deal?limit=1&limit=2", headers=crm.headers())
    assert response.status_code == 400 and response.json()["errors"][0]["pointer"] == "/limit"


def test_unknown_entities_ids_and_reserved_segments_are_404_problems(crm: Api) -> None:
    unknown = crm.client.get("/api/v1/spaceship", headers=crm.headers())
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_entity"
    for path in ("/api/v1/deal/not-an-id", f"/api/v1/deal/{uuid.uuid4()}"):
        missing = crm.client.get(path, headers=crm.headers())
        assert missing.status_code == 404 and missing.json()["code"] == "record_not_found"
    # /api/v1/audit/... belongs to the audit endpoints, never to an entity called "audit".
    reserved = crm.client.get(f"/api/v1/audit/{uuid.uuid4()}", headers=crm.headers())
    assert reserved.json()["code"] != "unknown_entity"


def test_no_token_no_records(crm: Api) -> None:
    response = crm.client.get("/api/v1/deal")
    assert response.status_code == 401 and "Shelves" not in response.text


def test_patch_with_a_stale_etag_is_412_and_changes_nothing(crm: Api) -> None:
    deal = crm.client.post("/api/v1/deal", json={"title": "Desk"}, headers=crm.headers())
    path, etag = deal.headers["location"], deal.headers["etag"]
    changed = crm.client.patch(
        path, json={"stage": "won"}, headers={**crm.headers(), "If-Match": etag}
    )
    assert changed.status_code == 200 and changed.headers["etag"] == 'W/"2"'

    stale = crm.client.patch(
        path, json={"stage": "lost"}, headers={**crm.headers(), "If-Match": etag}
    )

    assert stale.status_code == 412 and stale.json()["code"] == "version_conflict"
    assert crm.client.get(path, headers=crm.headers()).json()["stage"] == "won"
    unconditional = crm.client.patch(path, json={"stage": "lost"}, headers=crm.headers())
    assert unconditional.status_code == 200 and unconditional.json()["version"] == 3


@pytest.mark.parametrize("header", ['"x"', 'W/"0"', "3", 'W/"99999999999"'])
def test_an_if_match_that_is_no_etag_of_ours_is_refused(crm: Api, header: str) -> None:
    deal = crm.client.post("/api/v1/deal", json={"title": "Desk"}, headers=crm.headers())
    response = crm.client.patch(
        deal.headers["location"], json={"title": "X"}, headers={**crm.headers(), "If-Match": header}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/if_version"


def test_bad_bodies_are_4xx_with_pointers(crm: Api) -> None:
    headers = {**crm.headers(), "Content-Type": "application/json"}
    not_json = crm.client.post("/api/v1/deal", content=b"{oops", headers=headers)
    assert not_json.status_code == 400 and not_json.json()["code"] == "invalid_json"
    a_list = crm.client.post("/api/v1/deal", json=[{"title": "x"}], headers=crm.headers())
    assert a_list.status_code == 422
    invalid = crm.client.post(
        "/api/v1/deal", json={"title": "x" * 51, "stage": "maybe"}, headers=crm.headers()
    )
    assert invalid.status_code == 422
    assert {e["pointer"] for e in invalid.json()["errors"]} == {"/title", "/stage"}
    assert crm.xrm.records("deal").count() == 3


def test_delete_reports_what_it_removed_and_a_dry_run_only_counts(crm: Api) -> None:
    deal = crm.client.post("/api/v1/deal", json={"title": "Desk"}, headers=crm.headers())
    path = deal.headers["location"]

    dry = crm.client.delete(path, params={"dry_run": "true"}, headers=crm.headers())
    assert dry.json() == {"deleted": {"deal": 1}, "cleared": {}, "unlinked": {}, "dry_run": True}
    stale = crm.client.delete(path, headers={**crm.headers(), "If-Match": 'W/"7"'})
    assert stale.status_code == 412
    done = crm.client.delete(path, headers={**crm.headers(), "If-Match": 'W/"1"'})
    assert done.status_code == 200 and done.json()["deleted"] == {"deal": 1}
    assert crm.client.get(path, headers=crm.headers()).status_code == 404


def test_a_restricted_delete_is_a_409(crm: Api) -> None:
    (acme,) = crm.xrm.records("account").query().records
    response = crm.client.delete(f"/api/v1/account/{acme['id']}", headers=crm.headers())
    assert response.status_code == 409 and response.json()["code"] == "delete_restricted"


def test_bulk_atomic_writes_nothing_on_a_bad_row_and_points_at_it(crm: Api) -> None:
    rows = [{"title": "A"}, {"title": "B", "stage": "maybe"}]
    response = crm.client.post(
        "/api/v1/deal/$bulk", json={"operation": "create", "rows": rows}, headers=crm.headers()
    )

    assert response.status_code == 422 and response.json()["code"] == "bulk_failed"
    assert [e["pointer"] for e in response.json()["errors"]] == ["/rows/1/stage"]
    assert crm.xrm.records("deal").count() == 3


def test_bulk_per_row_reports_each_row_and_upsert_matches_by_key(crm: Api) -> None:
    rows = [{"title": "A"}, {"title": "B", "stage": "maybe"}]
    body = {"operation": "create", "mode": "per_row", "rows": rows}
    result = crm.client.post("/api/v1/deal/$bulk", json=body, headers=crm.headers()).json()
    assert (result["succeeded"], result["failed"]) == (1, 1)
    assert result["rows"][0]["created"] and result["rows"][0]["record"]["title"] == "A"
    assert result["rows"][1]["error"]["errors"][0]["pointer"] == "/stage"

    upsert = {
        "operation": "upsert",
        "key": "by_number",
        "rows": [{"number": "A-1", "name": "Acme Ltd"}, {"number": "B-2", "name": "Bolt"}],
    }
    result = crm.client.post("/api/v1/account/$bulk", json=upsert, headers=crm.headers()).json()
    assert [(r["created"], r["record"]["name"]) for r in result["rows"]] == [
        (False, "Acme Ltd"),
        (True, "Bolt"),
    ]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"operation": "merge", "rows": []}, "/operation"),
        ({"operation": "create", "rows": {}}, "/rows"),
        ({"operation": "upsert", "rows": []}, "/key"),
        ({"operation": "create", "rows": [], "key": "by_number"}, "/key"),
        ({"operation": "create", "rows": [], "mode": "some"}, "/mode"),
    ],
)
def test_a_bad_bulk_request_is_a_422(crm: Api, body: dict[str, Any], pointer: str) -> None:
    response = crm.client.post("/api/v1/deal/$bulk", json=body, headers=crm.headers())
    assert response.status_code == 422
    assert pointer in [e["pointer"] for e in response.json()["errors"]]


def test_aggregate_groups_and_measures(crm: Api) -> None:
    params = {"group_by": "stage", "measure.total": "sum:amount", "measure.deals": "count"}
    response = crm.client.get("/api/v1/deal/$aggregate", params=params, headers=crm.headers())

    assert response.json()["items"] == [
        {"stage": "new", "total": "3000.00", "deals": 1},
        {"stage": "won", "total": "2000.00", "deals": 2},
    ]
    filtered = crm.client.get(
        "/api/v1/deal/$aggregate", params={"where.stage": "won"}, headers=crm.headers()
    )
    assert filtered.json()["items"] == [{"count": 2}]
    bad = crm.client.get(
        "/api/v1/deal/$aggregate", params={"measure.x": "median:amount"}, headers=crm.headers()
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["pointer"] == "/measures/x"


def test_links_are_made_listed_and_removed(crm: Api) -> None:
    (deal, *_) = crm.xrm.records("deal").query(order=["title"]).records
    (acme,) = crm.xrm.records("account").query().records
    path = f"/api/v1/deal/{deal['id']}/links/partners"

    made = crm.client.post(
        path,
        json={"target_id": str(acme["id"]), "attributes": {"weight": 3}},
        headers=crm.headers(),
    )
    assert made.status_code == 200 and made.json()["weight"] == 3
    listed = crm.client.get(path, headers=crm.headers()).json()["items"]
    assert [(link["target_id"], link["weight"]) for link in listed] == [(str(acme["id"]), 3)]
    gone = crm.client.delete(f"{path}/{acme['id']}", headers=crm.headers())
    assert gone.status_code == 204
    again = crm.client.delete(f"{path}/{acme['id']}", headers=crm.headers())
    assert again.status_code == 404
    bad = crm.client.post(path, json={"attributes": [], "extra": 1}, headers=crm.headers())
    assert bad.status_code == 422
    assert {e["pointer"] for e in bad.json()["errors"]} == {"/target_id", "/attributes", "/extra"}


def test_field_security_leaves_secured_fields_out_and_says_so(crm: Api) -> None:
    clerk = crm.headers(crm.clerk_token)
    created = crm.client.post("/api/v1/account", json={"name": "Mine"}, headers=clerk)
    assert created.status_code == 201 and "credit_limit" not in created.json()

    page = crm.client.get("/api/v1/account", headers=clerk).json()

    assert [r["name"] for r in page["items"]] == ["Mine"]  # own records only
    assert page["omitted"] == ["credit_limit"]
    refused = crm.client.patch(created.headers["location"], json={"credit_limit": 5}, headers=clerk)
    assert refused.status_code == 403 and refused.json()["errors"][0]["pointer"] == "/credit_limit"


def test_collection_paths_are_never_read_as_record_ids(crm: Api) -> None:
    headers = crm.headers()

    aggregate = crm.client.get("/api/v1/deal/$aggregate?group_by=stage", headers=headers)
    bulk_by_get = crm.client.get("/api/v1/deal/$bulk", headers=headers)
    patch_aggregate = crm.client.patch("/api/v1/deal/$aggregate", json={}, headers=headers)

    assert aggregate.status_code == 200 and len(aggregate.json()["items"]) == 2
    assert bulk_by_get.status_code == 405 and bulk_by_get.headers["allow"] == "POST"
    assert patch_aggregate.status_code == 405
    assert patch_aggregate.json()["code"] == "method_not_allowed"
