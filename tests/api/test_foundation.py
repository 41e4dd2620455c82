"""What every API request gets: authentication, problem details, request ids, limits."""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import Api, make_api
from xrm_core import XRM


def test_health_needs_no_token_and_reveals_no_data(api: Api) -> None:
    response = api.client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_no_token_is_a_401_problem_with_a_bearer_challenge(api: Api) -> None:
    response = api.client.get("/api/v1/me")

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["code"] == "authentication_failed" and body["status"] == 401
    assert body["type"] == "urn:xrm:problem:authentication_failed"
    assert "Authorization: Bearer" in body["detail"]


def test_a_bad_token_is_refused(api: Api) -> None:
    for token in ("xrm_nonsense", "x" * 5000, "Basic abc"):
        response = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert "Traceback" not in response.text


def test_a_token_acts_as_its_user_and_the_request_id_comes_back(api: Api) -> None:
    response = api.client.get(
        "/api/v1/me", headers={**api.headers(api.clerk_token), "X-Request-Id": "req-42"}
    )

    assert response.status_code == 200
    assert response.json()["username"] == "clerk"
    assert response.headers["x-request-id"] == "req-42"
    fresh = api.client.get("/api/v1/me", headers=api.headers())
    assert fresh.json()["username"] == "admin"
    assert fresh.headers["x-request-id"] not in ("", "req-42")


def test_unknown_routes_and_methods_are_problems(api: Api) -> None:
    missing = api.client.get("/api/v1/nowhere/at/all", headers=api.headers())
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "not_found"
    wrong = api.client.delete("/api/v1/me", headers=api.headers())
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"


def test_too_many_requests_get_429_with_retry_after(db_url: str, tmp_path: Path) -> None:
    for api in make_api(db_url, tmp_path, rate_limit=60, rate_burst=3):
        codes = [api.client.get("/api/v1/me", headers=api.headers()).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = api.client.get("/api/v1/me", headers=api.headers())
        assert limited.headers["retry-after"] == "1"
        assert limited.json()["code"] == "rate_limited"
        graphql = api.client.post(
            "/graphql", json={"query": "{ __typename }"}, headers=api.headers()
        )
        assert graphql.status_code == 429 and graphql.headers["retry-after"] == "1"
        # Another client has its own allowance.
        assert api.client.get("/api/v1/me", headers=api.headers(api.clerk_token)).status_code == 200


def test_the_servers_address_says_where_the_apis_are(api: Api) -> None:
    page = api.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for link in ("/api/v1/", "/api/openapi.json", "/graphql", "Authorization: Bearer"):
        assert link in page.text


def test_a_wrong_method_says_which_are_allowed(api: Api) -> None:
    response = api.client.delete("/api/v1/me", headers=api.headers())
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD"}


def test_an_entity_another_process_defines_is_served_within_a_second(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    assert api.client.get("/api/v1/ticket", headers=api.headers()).status_code == 404
    other = XRM.from_url(db_url, export_dir=tmp_path / "other").as_system("another process")
    other.metadata.define({"x-xrm": {"name": "ticket"}, "properties": {"t": {"type": "string"}}})
    other.close()

    api.client.app.state.metadata_checked_at = float("-inf")  # as if a second had passed
    response = api.client.get("/api/v1/ticket", headers=api.headers())

    assert response.status_code == 200 and response.json()["items"] == []


def test_me_answers_even_when_ones_roles_do_not_let_one_read_users(api: Api) -> None:
    users = api.xrm.records("user")
    (admin,) = users.query(filter={"username": "admin"}).records
    role = api.xrm.security.role_id("System Administrator")
    users.unlink(admin["id"], "roles", role)

    response = api.client.get("/api/v1/me", headers=api.headers())

    assert response.status_code == 200 and response.json()["username"] == "admin"
