"""What every API request gets: authentication, problem details, request ids, limits."""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import Api, make_api


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
        # Another client has its own allowance.
        assert api.client.get("/api/v1/me", headers=api.headers(api.clerk_token)).status_code == 200
