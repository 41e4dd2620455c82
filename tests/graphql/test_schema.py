"""The schema: made from live metadata, cached by version, introspectable, well named."""

from __future__ import annotations

from typing import Any

from graphql import build_client_schema, get_introspection_query

from tests.graphql.conftest import Api
from xrm_core.graphql import build_schema


def test_the_introspection_query_of_a_standard_client_works(api: Api) -> None:
    answer = api.post(get_introspection_query(descriptions=True))
    assert "errors" not in answer
    schema = build_client_schema(answer["data"])
    contact = schema.type_map["Contact"]
    assert {"id", "name", "salary", "account", "tags"} <= set(contact.fields)  # type: ignore[attr-defined]
    assert str(contact.fields["salary"].type) == "Decimal"  # type: ignore[attr-defined]
    assert str(schema.type_map["Account"].fields["contactListByAccount"].type) == "[Contact!]!"  # type: ignore[attr-defined]
    industry = schema.type_map["Account_Industry_Choice"]
    assert list(industry.values) == ["retail", "food", "tech"]  # type: ignore[attr-defined]
    # gql fetches the schema the same way and validates queries against it.
    assert api.execute("{ metadataVersion }")["metadataVersion"] >= 1


def test_the_schema_is_cached_and_rebuilt_only_when_metadata_changes(api: Api) -> None:
    cache = api.endpoint.schemas
    api.post("{ tagList { nodes { label } } }")
    first = cache.get(api.xrm)
    api.post("{ tagList { nodes { label } } }", token=api.clerk_token)
    assert cache.get(api.xrm) is first and cache.builds == 1

    api.xrm.metadata.define(
        {"x-xrm": {"name": "invoice"}, "properties": {"number": {"type": "string"}}}
    )
    api.xrm.records("invoice").create({"number": "INV-1"})
    got = api.execute("{ invoiceList { nodes { number } } }")
    assert got == {"invoiceList": {"nodes": [{"number": "INV-1"}]}}
    assert cache.builds == 2 and cache.get(api.xrm) is not first


def test_names_never_collide_whatever_entities_are_called(api: Api) -> None:
    api.xrm.metadata.define(
        [
            {"x-xrm": {"name": "work"}, "properties": {"title": {"type": "string"}}},
            {
                "x-xrm": {"name": "work_order"},
                "properties": {
                    "class": {"type": "string"},
                    "status": {"enum": ["in progress", "done"]},
                    "step": {"enum": ["name", "value", "mro"]},
                    "work": {"x-xrm": {"kind": "lookup", "target": "work"}},
                },
            },
            {"x-xrm": {"name": "date"}, "properties": {"day": {"type": "string"}}},
            {"x-xrm": {"name": "item_2"}, "properties": {"n": {"type": "integer"}}},
            {"x-xrm": {"name": "item2"}, "properties": {"n": {"type": "integer"}}},
        ]
    )
    sdl = str(build_schema(api.xrm))
    for name in ("type Work ", "type WorkOrder ", "input Work_Order ", "type Date_Record "):
        assert name in sdl
    assert "type Item_2 " in sdl and "type Item2 " in sdl
    # Choices that cannot all be enum values make a String field.
    assert "  status: String\n" in sdl and "  step: String\n" in sdl
    made = api.execute(
        'mutation { createWorkOrder(data: {class: "A", status: "in progress"}) { class status } }'
    )
    assert made == {"createWorkOrder": {"class": "A", "status": "in progress"}}
    found = api.execute('{ work_orderList(filter: {class: {eq: "A"}}) { nodes { class } } }')
    assert found == {"work_orderList": {"nodes": [{"class": "A"}]}}


def test_requests_without_a_valid_token_or_query_are_refused(api: Api) -> None:
    bare = api.client.post("/graphql", json={"query": "{ metadataVersion }"})
    assert bare.status_code == 401 and "Bearer" in bare.headers["www-authenticate"]
    assert bare.json()["errors"][0]["extensions"]["code"] == "authentication_failed"
    wrong = api.client.post(
        "/graphql", json={"query": "{ tagList { nodes { id } } }"}, headers=_bearer("nope")
    )
    assert wrong.status_code == 401
    garbled = api.client.post("/graphql", content=b"{", headers=_bearer(api.admin_token))
    assert garbled.status_code == 400 and garbled.json()["errors"][0]["extensions"]["code"] == (
        "invalid_json"
    )
    syntax = api.post("{ tagList { nodes { ")
    assert syntax["errors"][0]["extensions"]["code"] == "invalid_graphql"
    unknown = api.post("{ nothing }")
    assert unknown["errors"][0]["extensions"]["code"] == "invalid_graphql"
    by_get = api.client.get(
        "/graphql",
        params={"query": 'mutation { createTag(data: {label: "x"}) { id } }'},
        headers=_bearer(api.admin_token),
    )
    assert by_get.status_code == 405 and api.xrm.records("tag").count() == 0
    read = api.client.get(
        "/graphql",
        params={"query": "{ tagList { nodes { id } } }"},
        headers=_bearer(api.admin_token),
    )
    assert read.status_code == 200 and read.json()["data"] == {"tagList": {"nodes": []}}


def _bearer(token: str) -> dict[str, Any]:
    return {"Authorization": f"Bearer {token}"}
