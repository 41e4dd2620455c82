"""The OpenAPI 3.1 document: valid, generated from live metadata, per caller."""

from __future__ import annotations

import sys
from typing import Any

import pydantic
import pytest
from openapi_spec_validator import validate

from tests.api.conftest import Api
from xrm_core.api.openapi import Spec, build_document
from xrm_core.plugins import Action

DEAL: dict[str, Any] = {
    "x-xrm": {
        "name": "deal",
        "relationships": [
            {"name": "partners", "target": "deal", "attributes": {"weight": {"type": "integer"}}}
        ],
    },
    "properties": {
        "title": {"type": "string", "maxLength": 50},
        "amount": {"x-xrm": {"kind": "money"}},
        "stage": {"enum": ["new", "won"]},
        "closed_at": {"type": "string", "format": "date-time"},
        "parent": {"x-xrm": {"kind": "lookup", "target": "deal"}},
    },
    "required": ["title"],
}


def _document(api: Api, token: str | None = None) -> dict[str, Any]:
    response = api.client.get("/api/openapi.json", headers=api.headers(token))
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def test_the_document_is_valid_openapi_3_1_with_a_schema_per_entity(api: Api) -> None:
    api.xrm.metadata.define(DEAL)

    document = _document(api)

    validate(document)  # raises on any fault
    assert document["openapi"].startswith("3.1")
    deal = document["components"]["schemas"]["deal"]["properties"]
    assert deal["amount"]["anyOf"][0] == {
        "type": "string",
        "format": "decimal",
        "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
    }
    assert deal["stage"]["anyOf"][0] == {"type": "string", "enum": ["new", "won"]}
    assert deal["closed_at"]["anyOf"][0] == {"type": "string", "format": "date-time"}
    assert deal["id"] == {"type": "string", "format": "uuid"}
    new = document["components"]["schemas"]["deal.create"]
    assert new["required"] == ["title"] and new["properties"]["title"]["maxLength"] == 50
    assert new["properties"]["parent"]["anyOf"][0]["format"] == "uuid"
    for path in ("/api/v1/deal", "/api/v1/deal/{id}", "/api/v1/deal/$bulk"):
        assert path in document["paths"]
    assert "/api/v1/deal/{id}/links/partners/{target_id}" in document["paths"]
    listing = {p["name"] for p in document["paths"]["/api/v1/deal"]["get"]["parameters"]}
    assert {"filter", "where.stage", "order", "limit", "cursor", "count"} <= listing
    created = document["paths"]["/api/v1/deal"]["post"]["responses"]
    assert {"Location", "ETag"} <= set(created["201"]["headers"])
    assert created["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/problem"
    }


def test_an_entity_defined_after_a_request_is_in_the_next_document(api: Api) -> None:
    before = _document(api)
    assert "/api/v1/deal" not in before["paths"]

    api.xrm.metadata.define(DEAL)

    after = _document(api)
    assert "/api/v1/deal" in after["paths"] and "deal" in after["components"]["schemas"]


def test_the_document_needs_a_token(api: Api) -> None:
    response = api.client.get("/api/openapi.json")
    assert response.status_code == 401


def test_a_user_sees_only_entities_they_may_read(api: Api) -> None:
    ledger = {"x-xrm": {"name": "ledger", "ownership": "organization"}, "properties": {}}
    api.xrm.metadata.define([DEAL, ledger])

    clerk = _document(api, api.clerk_token)
    admin = _document(api)

    # A Basic User reads their own deals; an organization-owned ledger needs organization scope.
    assert "/api/v1/deal" in clerk["paths"] and "/api/v1/ledger" not in clerk["paths"]
    assert "/api/v1/ledger" in admin["paths"]
    validate(clerk)


class Reason(pydantic.BaseModel):
    """A nested model: its schema lands in ``$defs``."""

    text: str


class WinInput(pydantic.BaseModel):
    reason: Reason
    discount: int = 0


class WinOutput(pydantic.BaseModel):
    won: bool


def test_actions_input_and_output_schemas_are_components(api: Api) -> None:
    api.xrm.metadata.define(DEAL)
    api.xrm.actions.register(
        Action("deal", "win", WinInput, WinOutput, lambda ctx, rid, data: WinOutput(won=True))
    )

    document = _document(api)

    validate(document)
    schemas = document["components"]["schemas"]
    assert schemas["action.deal.win.input"]["properties"]["reason"] == {
        "$ref": "#/components/schemas/action.deal.win.input.Reason"
    }
    assert schemas["action.deal.win.input.Reason"]["required"] == ["text"]
    assert schemas["action.deal.win.output"]["properties"]["won"]["type"] == "boolean"


def openapi_paths(spec: Spec) -> dict[str, dict[str, Any]]:
    """A module contributing a path, as an API module does."""
    return {
        "/api/v1/me": {"get": {"responses": {"200": {"description": "again"}}}},
        "/api/v1/ping": {
            "get": spec.operation("Ping", spec.problems(), operation_id="ping", tags=["tests"])
        },
    }


def test_modules_contribute_paths_and_a_clash_is_refused(api: Api) -> None:
    this = sys.modules[__name__].__name__
    document = build_document(api.xrm, ("xrm_core.api.records", this))
    assert "/api/v1/ping" in document["paths"]
    with pytest.raises(ValueError, match="a second time"):
        build_document(api.xrm, ("xrm_core.api.openapi", this))
