"""JSON typed into the admin UI nested beyond what a parser takes is a message, not a 500."""

from __future__ import annotations

from tests.admin_ui.conftest import Admin

DEEP = "[" * 5000


def test_a_deeply_nested_query_filter_is_said_not_a_crash(inprocess: Admin) -> None:
    inprocess.sign_in()
    response = inprocess.client.get("/admin/records/user", params={"q": DEEP})
    assert response.status_code == 422
    assert "not valid JSON" in response.text


def test_a_deeply_nested_draft_is_refused_not_a_crash(inprocess: Admin) -> None:
    inprocess.sign_in()
    data = {
        "csrf_token": inprocess.csrf("/admin/entities"),
        "schema": DEEP,
        "renames": "{}",
        "version": "0",
        "action": "apply",
    }
    response = inprocess.client.post("/admin/entities/gizmo/edit", data=data)
    assert response.status_code == 422
    assert "could not be read" in response.text
