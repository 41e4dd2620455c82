"""``xrm serve`` as a user runs it: a real uvicorn process on a loopback port."""

from __future__ import annotations

import httpx2 as httpx
import pytest


@pytest.mark.slow
def test_xrm_serve_answers_over_http_with_the_demo_token(served: tuple[str, str]) -> None:
    base, token = served
    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/health").json()["status"] == "ok"
        assert client.get("/api/v1/me").status_code == 401
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["username"] == "demo"
