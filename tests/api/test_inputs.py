"""One reading of input for every endpoint: the same parameter or body means the same thing.

Query parameters that are not valid are 400 problems pointing at the parameter;
bodies that parse but are not what the endpoint takes are 422 problems pointing
into the body — on record routes and everywhere else alike (docs/rest-api.md).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.requests import Request
from starlette.routing import Route

from tests.api.conftest import ENTITIES, Api, make_api
from xrm_core.api.app import ROUTE_MODULES, me
from xrm_core.api.endpoint import endpoint
from xrm_core.api.problems import from_error
from xrm_core.errors import ConfirmationRequired, TooManyAttempts


@pytest.mark.parametrize("raw", ["1", "0", "TRUE", "yes", ""])
def test_a_boolean_parameter_is_true_or_false_on_every_endpoint(crm: Api, raw: str) -> None:
    headers = crm.headers()
    deal = crm.xrm.records("deal").query(limit=1).records[0]
    answers = {
        "/count": crm.client.get(f"/api/v1/deal?count={raw}", headers=headers),
        "/dry_run": crm.client.delete(f"/api/v1/deal/{deal['id']}?dry_run={raw}", headers=headers),
        "/confirm": crm.client.delete(
            f"/api/v1/metadata/entities/deal?confirm={raw}", headers=headers
        ),
    }

    for at, answer in answers.items():
        assert answer.status_code == 400, at
        assert answer.json()["code"] == "invalid_query"
        assert answer.json()["errors"] == [
            {"pointer": at, "detail": f"must be true or false, not {raw!r}"}
        ]
    assert crm.xrm.records("deal").count() == 3 and crm.xrm.metadata.exists("deal")


@pytest.mark.parametrize("raw", ["+5", " 5", "5.0", "\u0665", "1_0", "0"])
def test_a_number_parameter_is_plain_digits_in_range_on_every_endpoint(crm: Api, raw: str) -> None:
    deal = crm.xrm.records("deal").query(limit=1).records[0]
    urls = [f"/api/v1/deal?limit={raw}", f"/api/v1/deal/{deal['id']}/audit?limit={raw}"]

    for url in urls:
        answer = crm.client.get(url, headers=crm.headers())
        assert answer.status_code == 400, url
        (problem,) = answer.json()["errors"]
        assert problem["pointer"] == "/limit"
        assert problem["detail"].startswith("must be a whole number from 1 to ")


def _bodies(crm: Api) -> dict[str, tuple[str, str]]:
    deal = crm.xrm.records("deal").query(limit=1).records[0]
    one = f"/api/v1/deal/{deal['id']}"
    return {
        "create": ("POST", "/api/v1/deal"),
        "update": ("PATCH", one),
        "bulk": ("POST", "/api/v1/deal/$bulk"),
        "link": ("POST", f"{one}/links/partners"),
        "metadata": ("POST", "/api/v1/metadata/apply"),
        "webhook": ("POST", "/api/v1/webhooks"),
        "export": ("POST", "/api/v1/exports/deal"),
    }


@pytest.mark.parametrize("body", [["a"], "text", 3, True])
def test_a_body_that_is_no_object_is_the_same_422_everywhere(crm: Api, body: Any) -> None:
    for name, (method, url) in _bodies(crm).items():
        answer = crm.client.request(method, url, json=body, headers=crm.headers())
        assert answer.status_code == 422, name
        assert answer.json()["code"] == "invalid_request", name
        assert [e["pointer"] for e in answer.json()["errors"]] == [""], name
    assert crm.xrm.records("deal").count() == 3
    assert not crm.xrm.records("deal").query(filter={"title": "a"}).records


@pytest.mark.parametrize(
    ("body", "pointers"),
    [
        ({"rows": []}, {"/operation"}),
        ({"operation": "fly", "rows": []}, {"/operation"}),
        ({"operation": "create", "rows": [], "colour": "red"}, {"/colour"}),
        ({"operation": "upsert", "rows": []}, {"/key"}),
        ({"operation": "create", "rows": [], "key": "by_number"}, {"/key"}),
    ],
)
def test_a_bulk_request_not_shaped_as_one_is_422_invalid_request(
    crm: Api, body: dict[str, Any], pointers: set[str]
) -> None:
    answer = crm.client.post("/api/v1/deal/$bulk", json=body, headers=crm.headers())

    assert answer.status_code == 422 and answer.json()["code"] == "invalid_request"
    assert {e["pointer"] for e in answer.json()["errors"]} == pointers


@pytest.mark.parametrize("target", [42, None, ["x"], {"id": "x"}])
def test_a_link_target_that_is_no_string_is_a_422_at_target_id(crm: Api, target: Any) -> None:
    deal = crm.xrm.records("deal").query(limit=1).records[0]
    path = f"/api/v1/deal/{deal['id']}/links/partners"

    answer = crm.client.post(path, json={"target_id": target}, headers=crm.headers())

    assert answer.status_code == 422 and answer.json()["code"] == "invalid_request"
    assert answer.json()["errors"] == [
        {"pointer": "/target_id", "detail": "must be a record id (a string)"}
    ]
    assert crm.client.get(path, headers=crm.headers()).json()["items"] == []


def _request(path: str = "/api/v1/somewhere") -> Request:
    return Request(
        {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}
    )


@pytest.mark.parametrize(
    ("retry_after", "header"),
    [(30, "30"), (2.2, "3"), (0, "1"), ("soon", None), (float("nan"), None), (None, None)],
)
def test_retry_after_is_whole_seconds_and_an_odd_value_does_not_break_the_answer(
    retry_after: Any, header: str | None
) -> None:
    error = TooManyAttempts("too many failed logins", details={"retry_after": retry_after})

    answer = from_error(_request(), error)

    assert answer.status_code == 429
    assert answer.headers.get("retry-after") == header


def test_extras_join_a_problem_but_never_replace_its_members() -> None:
    error = ConfirmationRequired("the plan drops data", details={"plan": {"steps": []}})

    answer = from_error(_request(), error, plan={"steps": []}, code="forged", status=200)

    assert answer.status_code == 409
    body = answer.body.decode()
    assert '"code":"confirmation_required"' in body and '"plan":{"steps":[]}' in body
    assert '"status":409' in body and "forged" not in body


# -- query parameters an endpoint does not take ------------------------------------


def _api_routes() -> list[tuple[str, Route]]:
    """Every (method, route) of the API, as mounted under ``/api``."""
    routes = [r for m in ROUTE_MODULES for r in importlib.import_module(m).routes()]
    routes.append(Route("/v1/me", endpoint(me), methods=["GET"]))
    found = [(m, r) for r in routes if isinstance(r, Route) for m in sorted(r.methods or ())]
    return [(method, route) for method, route in found if method != "HEAD"]


def _concrete(template: str) -> str:
    """A path of the route: the crm fixture's deals and partners, any other id ``x1``."""
    path = template.replace("{entity:xrm_entity}", "deal").replace("{relationship}", "partners")
    return re.sub(r"\{[^}]+\}", "x1", path)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, dict[str, Any]]]:
    """The crm API (SQLite: parameters are read before any query) and its OpenAPI document."""
    where = tmp_path_factory.mktemp("parameters")
    for api in make_api(f"sqlite:///{where}/xrm.db", where):
        api.xrm.metadata.define(ENTITIES)
        document = api.client.get("/api/openapi.json", headers=api.headers()).json()
        yield api, document


@pytest.mark.parametrize(("method", "route"), _api_routes(), ids=lambda v: getattr(v, "path", v))
def test_every_endpoint_refuses_a_parameter_it_does_not_take_and_names_those_it_does(
    served: tuple[Api, dict[str, Any]], method: str, route: Route
) -> None:
    api, document = served
    path = _concrete(route.path)

    answer = api.client.request(method, f"/api{path}?colour=red", headers=api.headers())

    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_query"
    ((problem,),) = [answer.json()["errors"]]
    assert problem["pointer"] == "/colour"
    assert problem["detail"].startswith("is not a parameter of this endpoint")
    # What the refusal says the endpoint takes is what the OpenAPI document describes
    # (a family such as where.<field> told once, described field by field).
    told = ", ".join(re.findall(r"\(use (.*)\)", problem["detail"])).split(", ")
    families = tuple(n.partition("<")[0] for n in told if "<" in n)
    taken = {n for n in told if n and "<" not in n}
    for doc_path, operations in document["paths"].items():
        operation = operations.get(method.lower())
        if operation and route.path_regex.match(_concrete(doc_path.removeprefix("/api"))):
            parameters = operation.get("parameters", [])
            described = {p["name"] for p in parameters if p["in"] == "query"}
            assert {n for n in described if not n.startswith(families)} == taken, doc_path
