"""Plugins' actions over HTTP: record and collection actions, with the service's checks."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import BaseModel, Field

from tests.api.conftest import Api
from xrm_core import Action
from xrm_core.actions import ActionContext


class EscalateInput(BaseModel):
    reason: str = Field(min_length=3)


class EscalateOutput(BaseModel):
    priority: str
    escalations: int


class CountInput(BaseModel):
    priority: str = "high"


class CountOutput(BaseModel):
    count: int


def escalate(context: ActionContext, record_id: Any, data: EscalateInput) -> EscalateOutput:
    count = context.record()["escalations"] + 1
    context.records().update(record_id, {"priority": "high", "escalations": count})
    return EscalateOutput(priority="high", escalations=count)


def count(context: ActionContext, record_id: Any, data: CountInput) -> CountOutput:
    return CountOutput(count=context.records().count(filter={"priority": data.priority}))


def broken(context: ActionContext, record_id: Any, data: CountInput) -> dict[str, Any]:
    return {"count": "many"}


@pytest.fixture
def cases(api: Api) -> Api:
    api.xrm.metadata.define(
        {
            "x-xrm": {"name": "case"},
            "properties": {
                "title": {"type": "string"},
                "priority": {"enum": ["normal", "high"], "default": "normal"},
                "escalations": {"type": "integer", "default": 0},
            },
        }
    )
    actions = api.xrm.actions
    actions.register(
        Action("case", "escalate", EscalateInput, EscalateOutput, escalate, privilege="update")
    )
    actions.register(
        Action("case", "count", CountInput, CountOutput, count, privilege="read", on="collection")
    )
    actions.register(
        Action("case", "broken", CountInput, CountOutput, broken, privilege="read", on="collection")
    )
    return api


def test_a_record_action_runs_and_answers_its_output(cases: Api) -> None:
    case = cases.xrm.records("case").create({"title": "Printer on fire"})

    response = cases.client.post(
        f"/api/v1/case/{case['id']}/actions/escalate",
        json={"reason": "smoke seen"},
        headers=cases.headers(),
    )

    assert response.status_code == 200
    assert response.json() == {"priority": "high", "escalations": 1}
    assert cases.xrm.records("case").get(case["id"])["escalations"] == 1
    (entry, _) = cases.xrm.audit.for_record("case", case["id"])
    assert entry.correlation_id == response.headers["x-request-id"]


def test_a_collection_action_runs_without_a_record(cases: Api) -> None:
    cases.xrm.records("case").create({"title": "A", "priority": "high"})

    response = cases.client.post(
        "/api/v1/case/$actions/count", json={"priority": "high"}, headers=cases.headers()
    )
    empty_body = cases.client.post("/api/v1/case/$actions/count", headers=cases.headers())

    assert response.status_code == 200 and response.json() == {"count": 1}
    assert empty_body.json() == {"count": 1}


def test_bad_input_is_422_with_pointers_and_changes_nothing(cases: Api) -> None:
    case = cases.xrm.records("case").create({"title": "T"})
    url = f"/api/v1/case/{case['id']}/actions/escalate"

    short = cases.client.post(url, json={"reason": "?"}, headers=cases.headers())
    not_object = cases.client.post(url, json=["smoke"], headers=cases.headers())

    assert short.status_code == 422
    assert short.json()["code"] == "invalid_action_input"
    assert short.json()["errors"] == [
        {"pointer": "/reason", "detail": "String should have at least 3 characters"}
    ]
    assert not_object.status_code == 422 and not_object.json()["code"] == "invalid_request"
    assert cases.xrm.records("case").get(case["id"])["escalations"] == 0


def test_unknown_actions_and_records_are_404(cases: Api) -> None:
    case = cases.xrm.records("case").create({"title": "T"})
    headers = cases.headers()

    unknown = cases.client.post(
        f"/api/v1/case/{case['id']}/actions/escalte", json={}, headers=headers
    )
    no_record = cases.client.post(
        "/api/v1/case/00000000-0000-7000-8000-000000000000/actions/escalate",
        json={"reason": "smoke"},
        headers=headers,
    )
    bad_id = cases.client.post("/api/v1/case/nope/actions/escalate", json={}, headers=headers)

    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_action"
    assert "escalate" in unknown.json()["detail"]  # did you mean ...
    assert no_record.status_code == 404 and no_record.json()["code"] == "record_not_found"
    assert bad_id.status_code == 404 and bad_id.json()["errors"][0]["pointer"] == "/record_id"


def test_the_callers_permissions_apply(cases: Api) -> None:
    case = cases.xrm.records("case").create({"title": "Not the clerk's", "priority": "high"})
    clerk = cases.headers(cases.clerk_token)
    cases.xrm.security.create_role("Viewer", [("case", "read", "organization")])
    viewer = cases.xrm.security.create_user("viewer", roles=["Viewer"])
    reader = cases.headers(cases.xrm.auth.create_token(viewer, name="t").token)
    url = f"/api/v1/case/{case['id']}/actions/escalate"

    hidden = cases.client.post(url, json={"reason": "mine?"}, headers=clerk)
    read_only = cases.client.post(url, json={"reason": "may I?"}, headers=reader)
    counted = cases.client.post("/api/v1/case/$actions/count", json={}, headers=clerk)

    # The clerk (own scope) cannot read the case: for them it does not exist.
    assert hidden.status_code == 404 and hidden.json()["code"] == "record_not_found"
    # The viewer may read it but not update it.
    assert read_only.status_code == 403 and read_only.json()["code"] == "access_denied"
    # The handler reads as the clerk: the case is not among what they can count.
    assert counted.status_code == 200 and counted.json() == {"count": 0}
    assert cases.xrm.records("case").get(case["id"])["escalations"] == 0


def test_a_plugin_returning_a_bad_output_is_a_500_naming_it_without_a_trace(
    cases: Api, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="xrm.api"):
        response = cases.client.post(
            "/api/v1/case/$actions/broken", json={}, headers=cases.headers()
        )

    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "invalid_action_output"
    assert "case.broken" in body["detail"] and "bug of the plugin" in body["detail"]
    assert body["correlation_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    assert body["correlation_id"] in caplog.text


def test_the_openapi_document_has_each_action_with_its_models(cases: Api) -> None:
    document = cases.client.get("/api/openapi.json", headers=cases.headers()).json()

    record = document["paths"]["/api/v1/case/{id}/actions/escalate"]["post"]
    collection = document["paths"]["/api/v1/case/$actions/count"]["post"]
    schemas = document["components"]["schemas"]

    body_ref = record["requestBody"]["content"]["application/json"]["schema"]["anyOf"][0]["$ref"]
    assert schemas[body_ref.rsplit("/", 1)[1]]["properties"]["reason"]["minLength"] == 3
    assert "200" in record["responses"] and "422" in record["responses"]
    assert "parameters" not in collection
    for path in ("/api/v1/case/{id}/audit", "/api/v1/case/{id}/explain", "/api/v1/exports/case"):
        assert path in document["paths"]
    for path in (
        "/api/v1/metadata/apply",
        "/api/v1/imports",
        "/api/v1/webhooks",
        "/api/v1/plugins",
    ):
        assert path in document["paths"]
